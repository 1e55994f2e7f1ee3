//! A set of strings that answers "which of them start this path" in a probe or two: path
//! prefixes, and the literal starts of path regexes.
//!
//! Each member is filed under its *anchor*, the part up to and including its last `/`
//! (`/static/v3/` for `/static/v3/sho`), in a small open-addressed hash table. A member can only
//! start a path whose own prefix up to some `/` is that anchor, so a lookup walks the path's
//! slashes and probes the table with each prefix that ends at one, skipping the depths (counts
//! of `/`) at which no anchor exists; the members of an anchor found are then compared by their
//! tails. Real prefixes sit at two or three depths, so a lookup is one or two probes of a few
//! hundred bytes of table, instead of a binary search whose every step compares strings.
//!
//! An Aho-Corasick DFA answers the same question in one pass, but its transition table is
//! hundreds of bytes per state (about 1 MiB for 500 prefixes), a cache miss per byte of the
//! path once the table is cold.

use super::flat::hash_pieces;

/// One distinct anchor and its members.
#[derive(Debug, Clone, Copy)]
struct Group {
    anchor_start: u32,
    anchor_len: u32,
    /// A range of `PrefixSet::members`.
    members_start: u32,
    members_end: u32,
}

/// A member: what follows its anchor, and the id it reports.
#[derive(Debug, Clone, Copy)]
struct Member {
    tail_start: u32,
    tail_len: u32,
    id: u32,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    hash: u64,
    /// Index into `groups`; `EMPTY` when free.
    group: u32,
}

const EMPTY: u32 = u32::MAX;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct PrefixSet {
    slots: Box<[Slot]>,
    groups: Vec<Group>,
    members: Vec<Member>,
    text: Vec<u8>,
    /// Bit `d` set: some anchor holds `d` slashes (depths of 63 and more share bit 63).
    depths: u64,
    /// A one-word filter of the members' first path segments (bit `hash % 64` of each; all
    /// bits when some member could start a path whatever its first segment): most paths of
    /// an API are turned away at their second `/` without a probe.
    first_segments: u64,
    /// The distinct members, sorted: for [`Self::may_start`], at build time only.
    sorted: Vec<Box<str>>,
}

#[inline]
fn anchor_hash(anchor: &[u8]) -> u64 {
    hash_pieces([anchor])
}

/// The filter bit of a first path segment.
#[inline]
fn segment_bit(segment: &[u8]) -> u64 {
    1 << (hash_pieces([segment]) >> 58)
}

/// The filter bits a member needs: its first segment's, or all when it ends before its
/// second `/` (`/`, `/ap`) or does not start with one.
fn first_segment_bits(member: &str) -> u64 {
    match member.strip_prefix('/').and_then(|rest| rest.split_once('/')) {
        Some((first, _)) => segment_bit(first.as_bytes()),
        None => u64::MAX,
    }
}

fn depth_bit(anchor: &[u8]) -> u64 {
    let depth = anchor.iter().filter(|&&b| b == b'/').count();
    1 << depth.min(63)
}

impl PrefixSet {
    /// The set of `strings`; string `i` reports id `i`. Strings may repeat.
    pub(crate) fn new<S: AsRef<str>>(strings: &[S]) -> Self {
        let mut set = PrefixSet::default();
        // Members grouped by anchor, in the order anchors are first seen.
        let mut by_anchor: rustc_hash::FxHashMap<&str, Vec<(&str, u32)>> = Default::default();
        let mut anchors: Vec<&str> = Vec::new();
        for (id, s) in strings.iter().enumerate() {
            let s = s.as_ref();
            set.first_segments |= first_segment_bits(s);
            let cut = s.rfind('/').map_or(0, |i| i + 1);
            let (anchor, tail) = s.split_at(cut);
            by_anchor
                .entry(anchor)
                .or_insert_with(|| {
                    anchors.push(anchor);
                    Vec::new()
                })
                .push((tail, id as u32));
        }
        for anchor in anchors {
            let anchor_start = set.text.len() as u32;
            set.text.extend_from_slice(anchor.as_bytes());
            let members_start = set.members.len() as u32;
            for &(tail, id) in &by_anchor[anchor] {
                let tail_start = set.text.len() as u32;
                set.text.extend_from_slice(tail.as_bytes());
                set.members.push(Member { tail_start, tail_len: tail.len() as u32, id });
            }
            set.groups.push(Group {
                anchor_start,
                anchor_len: anchor.len() as u32,
                members_start,
                members_end: set.members.len() as u32,
            });
            set.depths |= depth_bit(anchor.as_bytes());
        }
        if !set.groups.is_empty() {
            let capacity = (set.groups.len() * 2).next_power_of_two();
            let mut slots = vec![Slot { hash: 0, group: EMPTY }; capacity];
            for (g, group) in set.groups.iter().enumerate() {
                let hash = anchor_hash(set.slice(group.anchor_start, group.anchor_len));
                let mut i = hash as usize & (capacity - 1);
                while slots[i].group != EMPTY {
                    i = (i + 1) & (capacity - 1);
                }
                slots[i] = Slot { hash, group: g as u32 };
            }
            set.slots = slots.into_boxed_slice();
        }
        let mut sorted: Vec<Box<str>> = strings.iter().map(|s| s.as_ref().into()).collect();
        sorted.sort_unstable();
        sorted.dedup();
        set.sorted = sorted;
        set
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    #[inline]
    fn slice(&self, start: u32, len: u32) -> &[u8] {
        &self.text[start as usize..(start + len) as usize]
    }

    /// The group whose anchor is `anchor`.
    #[inline]
    fn group(&self, anchor: &[u8]) -> Option<&Group> {
        let mask = self.slots.len() - 1;
        let hash = anchor_hash(anchor);
        let mut i = hash as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot.group == EMPTY {
                return None;
            }
            if slot.hash == hash {
                let g = &self.groups[slot.group as usize];
                if self.slice(g.anchor_start, g.anchor_len) == anchor {
                    return Some(g);
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Calls `found(id)` for every member that is a prefix of `path`, in no set order.
    #[inline]
    pub(crate) fn prefixes_of(&self, path: &str, mut found: impl FnMut(usize)) {
        if self.groups.is_empty() {
            return;
        }
        let path = path.as_bytes();
        let mut probe = |anchor_len: usize| {
            if let Some(g) = self.group(&path[..anchor_len]) {
                let rest = &path[anchor_len..];
                for m in &self.members[g.members_start as usize..g.members_end as usize] {
                    if rest.starts_with(self.slice(m.tail_start, m.tail_len)) {
                        found(m.id as usize);
                    }
                }
            }
        };
        if self.depths & 1 != 0 {
            probe(0);
        }
        let mut depth = 0usize;
        for (i, &b) in path.iter().enumerate() {
            if b == b'/' {
                depth += 1;
                // Past the first segment: only members that start with it can follow.
                if depth == 2 && self.first_segments & segment_bit(&path[1..i]) == 0 {
                    return;
                }
                if self.depths & (1 << depth.min(63)) != 0 {
                    probe(i + 1);
                }
                // No anchor this deep or deeper: nothing further can start the path.
                if depth < 63 && self.depths >> (depth + 1) == 0 {
                    return;
                }
            }
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
        let i = self.sorted.partition_point(|m| m.as_bytes() < known.as_bytes());
        i < self.sorted.len() && self.sorted[i].starts_with(known)
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
        let strings = ["/a", "/ab", "/abc/", "/b", "/", "/ab", "/abd", "/x/y", "rel", "/x/y/z/", "/x/y/"];
        let set = PrefixSet::new(&strings);
        for path in [
            "/",
            "/a",
            "/ab",
            "/abc",
            "/abc/",
            "/abc/d",
            "/abd",
            "/abe",
            "/b/c",
            "/c",
            "",
            "/x/",
            "/x/yz",
            "/x/y/z/w",
            "/x/y/z",
            "/x/y/",
            "relative",
            "re",
            "/x/y/z/w/v/u",
        ] {
            let expected: Vec<usize> = (0..strings.len()).filter(|&i| path.starts_with(strings[i])).collect();
            assert_eq!(of(&set, path), expected, "{path}");
        }
        assert!(set.may_start("/ab", false));
        assert!(!PrefixSet::new(&["/abc"]).may_start("/ab", false));
        assert!(PrefixSet::new(&["/abc"]).may_start("/ab", true));
        assert!(!PrefixSet::new(&["/abc"]).may_start("/b", true));
        assert!(PrefixSet::new::<&str>(&[]).is_empty());
    }

    proptest::proptest! {
        /// Over a tiny alphabet, so members, anchors and paths collide often.
        #[test]
        fn lookups_agree_with_starts_with(
            strings in proptest::collection::vec("[/ab]{0,6}", 0..12),
            paths in proptest::collection::vec("[/ab]{0,9}", 1..8),
        ) {
            let set = PrefixSet::new(&strings);
            for path in &paths {
                let expected: Vec<usize> = (0..strings.len()).filter(|&i| path.starts_with(&strings[i])).collect();
                proptest::prop_assert_eq!(of(&set, path), expected, "{}", path);
                for open in [false, true] {
                    let may = strings.iter().any(|s| path.starts_with(s.as_str()) || (open && s.starts_with(path.as_str())));
                    proptest::prop_assert_eq!(set.may_start(path, open), may, "{} open={}", path, open);
                }
            }
        }
    }
}
