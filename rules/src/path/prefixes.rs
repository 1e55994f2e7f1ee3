//! A set of strings that answers "which of them start this path" from one sorted array, small
//! enough to stay in cache: path prefixes, and the literal starts of path regexes.
//!
//! An Aho-Corasick DFA answers the same question in one pass, but its transition table is
//! hundreds of bytes per state (about 1 MiB for 500 prefixes), and each byte of the path is a
//! step to another state: a cache miss per byte once the table is cold. Here the strings sit
//! sorted in one arena (a few KiB); a binary search finds the greatest string not above the
//! path, and every string that starts the path is on that string's chain of parents (the
//! longest other member that is a prefix of it), because a member that is a prefix of the path
//! sorts between it and the path.

/// One distinct member.
#[derive(Debug, Clone, Copy)]
struct Item {
    start: u32,
    len: u32,
    /// The longest other member that is a prefix of this one (`NONE` if there is none).
    parent: u32,
    /// Its ids, a range of `PrefixSet::ids`.
    ids_start: u32,
    ids_end: u32,
}

const NONE: u32 = u32::MAX;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct PrefixSet {
    text: Vec<u8>,
    items: Vec<Item>,
    ids: Vec<u32>,
}

impl PrefixSet {
    /// The set of `strings`; string `i` reports id `i`. Strings may repeat.
    pub(crate) fn new<S: AsRef<str>>(strings: &[S]) -> Self {
        let mut order: Vec<u32> = (0..strings.len() as u32).collect();
        order.sort_by(|&a, &b| strings[a as usize].as_ref().cmp(strings[b as usize].as_ref()));
        let mut set = PrefixSet::default();
        // Members that are prefixes of the current one, shortest first.
        let mut stack: Vec<u32> = Vec::new();
        for (n, &i) in order.iter().enumerate() {
            let s = strings[i as usize].as_ref();
            if n > 0 && strings[order[n - 1] as usize].as_ref() == s {
                set.ids.push(i);
                set.items.last_mut().expect("a previous item").ids_end += 1;
                continue;
            }
            while let Some(&top) = stack.last() {
                if s.as_bytes().starts_with(set.bytes(top as usize)) {
                    break;
                }
                stack.pop();
            }
            let ids_start = set.ids.len() as u32;
            set.ids.push(i);
            set.items.push(Item {
                start: set.text.len() as u32,
                len: s.len() as u32,
                parent: stack.last().copied().unwrap_or(NONE),
                ids_start,
                ids_end: ids_start + 1,
            });
            set.text.extend_from_slice(s.as_bytes());
            stack.push(set.items.len() as u32 - 1);
        }
        set
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    #[inline]
    fn bytes(&self, i: usize) -> &[u8] {
        let it = &self.items[i];
        &self.text[it.start as usize..(it.start + it.len) as usize]
    }

    /// Calls `found(id)` for every member that is a prefix of `path`, longest first.
    #[inline]
    pub(crate) fn prefixes_of(&self, path: &str, mut found: impl FnMut(usize)) {
        let path = path.as_bytes();
        let after = self
            .items
            .partition_point(|it| &self.text[it.start as usize..(it.start + it.len) as usize] <= path);
        let Some(greatest) = after.checked_sub(1) else { return };
        let g = self.bytes(greatest);
        let common = g.iter().zip(path).take_while(|(a, b)| a == b).count();
        let mut i = greatest as u32;
        while i != NONE {
            let it = self.items[i as usize];
            if it.len as usize <= common {
                for &id in &self.ids[it.ids_start as usize..it.ids_end as usize] {
                    found(id as usize);
                }
            }
            i = it.parent;
        }
    }

    /// Whether a member is a prefix of `known`, or (when `open`: more may follow `known`) a
    /// member starts with `known`: whether a member may start some path that starts with
    /// `known`.
    pub(crate) fn may_start(&self, known: &str, open: bool) -> bool {
        let mut hit = false;
        self.prefixes_of(known, |_| hit = true);
        if hit || !open {
            return hit;
        }
        let i = self.items.partition_point(|it| {
            &self.text[it.start as usize..(it.start + it.len) as usize] < known.as_bytes()
        });
        i < self.items.len() && self.bytes(i).starts_with(known.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(set: &PrefixSet, path: &str) -> Vec<usize> {
        let mut out = Vec::new();
        set.prefixes_of(path, |id| out.push(id));
        out.sort_unstable();
        out
    }

    #[test]
    fn every_prefix_is_found_and_no_other() {
        let strings = ["/a", "/ab", "/abc/", "/b", "/", "/ab", "/abd", "/x/y"];
        let set = PrefixSet::new(&strings);
        for path in
            ["/", "/a", "/ab", "/abc", "/abc/", "/abc/d", "/abd", "/abe", "/b/c", "/c", "", "/x/", "/x/yz"]
        {
            let expected: Vec<usize> = (0..strings.len()).filter(|&i| path.starts_with(strings[i])).collect();
            assert_eq!(of(&set, path), expected, "{path}");
        }
        assert!(set.may_start("/ab", false));
        assert!(!PrefixSet::new(&["/abc"]).may_start("/ab", false));
        assert!(PrefixSet::new(&["/abc"]).may_start("/ab", true));
        assert!(!PrefixSet::new(&["/abc"]).may_start("/b", true));
        assert!(PrefixSet::new::<&str>(&[]).is_empty());
    }
}
