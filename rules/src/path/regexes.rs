//! Path regexes reached through the literal each starts with (`/legacy/orders/` of
//! `/legacy/orders/[0-9]+`): only the regexes whose literal starts a path are candidates, and
//! selection runs their regexes lazily, in rank order, each distinct check at most once.
//!
//! Rule sets repeat regexes: a route family (`/legacy/{resource}/[0-9]+` for every resource,
//! `[0-9]+/{sub}` beside it) makes dozens of rules behind one literal whose tails are a handful
//! of patterns. Running every candidate's regex to collect the matching ones cost one lazy-DFA
//! search each (the meta engine's fixed cost, a few hundred instructions) for a winner that is
//! usually the first candidate to match. Here the candidates are sorted by rank first, and a
//! regex runs only when its rule is next in line and accepts the request's method; a `(literal
//! length, pattern)` pair already run for this request is answered from a memo.

use regex::Regex;
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use super::prefixes::PrefixSet;
use crate::whole::WholeDfa;

/// Candidates of the regex tier: `(rank, check)`, sorted by rank once collected.
pub(crate) type GatedCandidates = SmallVec<[(u32, u32); 16]>;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct RegexGate {
    /// The distinct literals; their ids index `by_literal`.
    literals: PrefixSet,
    /// By literal: `(rank, check)` of the regexes that start with it.
    by_literal: Vec<SmallVec<[(u32, u32); 2]>>,
    /// The distinct checks: the literal's length, the regex of what follows it, and that regex
    /// as a bare DFA when small (see `crate::whole`).
    checks: Vec<(u32, Regex, Option<WholeDfa>)>,
}

/// The answers of the checks already run for one request (the first 64 checks).
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CheckMemo {
    known: u64,
    matched: u64,
}

impl RegexGate {
    /// The gate over `regexes`: `(rank, literal, regex of what follows the literal)`, every
    /// literal non-empty.
    pub(crate) fn new(regexes: Vec<(u32, String, Regex)>) -> RegexGate {
        let mut literal_ids: FxHashMap<String, usize> = FxHashMap::default();
        let mut literals: Vec<String> = Vec::new();
        let mut by_literal: Vec<SmallVec<[(u32, u32); 2]>> = Vec::new();
        let mut check_ids: FxHashMap<(u32, String), u32> = FxHashMap::default();
        let mut checks: Vec<(u32, Regex, Option<WholeDfa>)> = Vec::new();
        for (rank, literal, regex) in regexes {
            let len = literal.len() as u32;
            let check = *check_ids.entry((len, regex.as_str().to_owned())).or_insert_with(|| {
                let whole = WholeDfa::new(regex.as_str(), true, false);
                checks.push((len, regex, whole));
                checks.len() as u32 - 1
            });
            let id = *literal_ids.entry(literal).or_insert_with_key(|literal| {
                literals.push(literal.clone());
                by_literal.push(SmallVec::new());
                literals.len() - 1
            });
            by_literal[id].push((rank, check));
        }
        // Given in rank order already; sorted so `candidates` may lend a list as it is.
        for list in &mut by_literal {
            list.sort_unstable();
        }
        RegexGate { literals: PrefixSet::new(&literals), by_literal, checks }
    }

    /// `(rank, check)` of every regex whose literal starts `path`, in rank order. Usually one
    /// literal starts the path, and its list (built in rank order) is lent as it is; only
    /// when several do are their lists merged into `spare`.
    #[inline]
    pub(crate) fn candidates<'a>(&'a self, path: &str, spare: &'a mut GatedCandidates) -> &'a [(u32, u32)] {
        let mut first: Option<usize> = None;
        let mut several = false;
        self.literals.prefixes_of(path, |id| {
            if let Some(one) = first.replace(id) {
                if !several {
                    spare.extend_from_slice(&self.by_literal[one]);
                    several = true;
                }
                spare.extend_from_slice(&self.by_literal[id]);
            }
        });
        match first {
            None => &[],
            Some(id) if !several => &self.by_literal[id],
            Some(_) => {
                spare.sort_unstable();
                spare
            }
        }
    }

    /// Whether `check` matches `path`, whose start is the check's literal.
    #[inline]
    pub(crate) fn matches(&self, check: u32, path: &str, memo: &mut CheckMemo) -> bool {
        let bit = 1u64.checked_shl(check).unwrap_or(0);
        if memo.known & bit != 0 {
            return memo.matched & bit != 0;
        }
        let (literal, regex, whole) = &self.checks[check as usize];
        let rest = &path[*literal as usize..];
        let matched = whole.as_ref().map_or_else(|| regex.is_match(rest), |w| w.is_match(rest.as_bytes()));
        memo.known |= bit;
        if matched {
            memo.matched |= bit;
        }
        matched
    }

    /// Calls `found(rank)` for every regex that matches `path`, in no set order.
    pub(crate) fn matching(&self, path: &str, mut found: impl FnMut(u32)) {
        let mut memo = CheckMemo::default();
        self.literals.prefixes_of(path, |id| {
            for &(rank, check) in &self.by_literal[id] {
                if self.matches(check, path, &mut memo) {
                    found(rank);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(rules: &[(&str, &str)]) -> RegexGate {
        RegexGate::new(
            rules
                .iter()
                .enumerate()
                .map(|(rank, (literal, tail))| {
                    (rank as u32, literal.to_string(), Regex::new(&format!("^(?:{tail})$")).unwrap())
                })
                .collect(),
        )
    }

    fn matching(g: &RegexGate, path: &str) -> Vec<u32> {
        let mut out = Vec::new();
        g.matching(path, |r| out.push(r));
        out.sort_unstable();
        out
    }

    #[test]
    fn repeated_patterns_share_a_check_but_each_rule_is_a_candidate() {
        let g = gate(&[
            ("/legacy/orders/", "[0-9]+"),
            ("/legacy/users/", "[0-9]+"),
            ("/legacy/orders/", "[0-9]+/items"),
            ("/legacy/orders/", "[0-9]+"),
            ("/legacy/", "orders/[0-9]+"),
            ("/legacy/ord", "ers/[0-9]+"),
        ]);
        // Literal length and pattern make a check: `/legacy/orders/` and `/legacy/users/` differ
        // in length, so the same tail is two checks; the repeated rule shares one.
        assert_eq!(g.checks.len(), 5);
        assert_eq!(matching(&g, "/legacy/orders/12"), [0, 3, 4, 5]);
        assert_eq!(matching(&g, "/legacy/orders/12/items"), [2]);
        assert_eq!(matching(&g, "/legacy/users/7"), [1]);
        assert_eq!(matching(&g, "/legacy/orders/x"), Vec::<u32>::new());
        assert_eq!(matching(&g, "/other/orders/12"), Vec::<u32>::new());

        let mut spare = GatedCandidates::new();
        let ranks: Vec<u32> = g.candidates("/legacy/orders/12", &mut spare).iter().map(|c| c.0).collect();
        assert_eq!(ranks, [0, 2, 3, 4, 5], "every regex behind a literal of the path, in rank order");
        let mut spare = GatedCandidates::new();
        let ranks: Vec<u32> = g.candidates("/legacy/users/7", &mut spare).iter().map(|c| c.0).collect();
        assert_eq!(ranks, [1, 4], "one literal's list, and a shorter literal's");
        let mut spare = GatedCandidates::new();
        assert!(g.candidates("/other", &mut spare).is_empty());
    }

    #[test]
    fn the_memo_answers_a_check_already_run_as_it_was_answered() {
        let g = gate(&[("/a/", "[0-9]+"), ("/b/", "[0-9]+")]);
        // One check: both literals are 3 bytes long.
        assert_eq!(g.checks.len(), 1);
        let mut memo = CheckMemo::default();
        assert!(g.matches(0, "/a/12", &mut memo));
        assert!(g.matches(0, "/a/12", &mut memo));
        let mut memo = CheckMemo::default();
        assert!(!g.matches(0, "/a/x", &mut memo));
        assert!(!g.matches(0, "/a/x", &mut memo));
    }
}
