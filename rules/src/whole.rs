//! Whole-string matching of small regexes with a bare dense DFA.
//!
//! Every regex of the model is anchored at both ends (`^(?:…)$`), and the ones selection runs
//! per request (a header's format, what follows a path regex's literal) are tiny:
//! `tenant-[0-9]+-eu`, `[0-9]+/items`. The `regex` crate answers `is_match` on them through its
//! meta engine (a cache pool, a strategy, then a DFA search): a few hundred instructions over
//! code that, amid other requests, is cold. At 10k rules, running no path regex at all would
//! have saved ~7 ns a select, and no header regex another ~7 (select-count, pinned to one core).
//! Here the same pattern is compiled once more, at rule-set compile time, into a dense DFA from
//! `regex-automata` (the crate the `regex` engine is built on, already compiled in), and
//! matching walks it a byte at a time: a table lookup per byte, then the end-of-input
//! transition.
//!
//! Patterns the DFA cannot take (Unicode word boundaries) or that would make it large keep the
//! `regex` engine: [`WholeDfa::new`] gives `None`, and callers fall back.

use std::cell::RefCell;
use std::sync::Arc;

use regex_automata::dfa::{dense, Automaton, StartKind};
use regex_automata::util::primitives::StateID;
use regex_automata::util::{start, syntax};
use regex_automata::{Anchored, MatchKind};
use rustc_hash::FxHashMap;

/// The largest DFA built (and the most memory determinizing may use). The patterns this is
/// for take a few hundred bytes to a few KiB (`tenant-[0-9]+-(eu|us|ap)`: 2.4 KiB, 4.9 KiB
/// ignoring case); the cap bounds what a set of many distinct patterns adds to a table.
const DFA_LIMIT: usize = 16 << 10;

/// A dense DFA for one anchored pattern, with its start state. Cheap to clone (shared).
#[derive(Debug, Clone)]
pub(crate) struct WholeDfa {
    dfa: Arc<dense::DFA<Vec<u32>>>,
    start: StateID,
}

/// Key of a built DFA: the anchored pattern, whether it matches text (UTF-8) or bytes, and
/// whether it ignores case.
type Key = (Box<str>, bool, bool);

thread_local! {
    /// The DFAs built by the rule-set compile running on this thread (see
    /// `crate::value::RegexCacheScope`, which opens and closes it): rules repeat patterns.
    static BUILT: RefCell<Option<FxHashMap<Key, Option<WholeDfa>>>> = const { RefCell::new(None) };
}

/// Opens the cache of built DFAs for one compile; `false` if it was open already.
pub(crate) fn open_cache() -> bool {
    BUILT.with_borrow_mut(|c| {
        let fresh = c.is_none();
        c.get_or_insert_with(Default::default);
        fresh
    })
}

/// Closes the cache opened by [`open_cache`].
pub(crate) fn close_cache() {
    BUILT.with_borrow_mut(|c| *c = None);
}

impl WholeDfa {
    /// The DFA of `anchored`, a pattern as the `regex` crate compiled it (`^(?:…)$`, already
    /// validated), matching text (`utf8`, as `regex::Regex` does) or bytes (as
    /// `regex::bytes::Regex`), optionally ignoring case. `None` when the DFA cannot be built
    /// or would be large.
    pub(crate) fn new(anchored: &str, utf8: bool, case_insensitive: bool) -> Option<WholeDfa> {
        let key: Key = (anchored.into(), utf8, case_insensitive);
        if let Some(built) = BUILT.with_borrow(|c| c.as_ref().and_then(|c| c.get(&key).cloned())) {
            return built;
        }
        let built = Self::build(anchored, utf8, case_insensitive);
        BUILT.with_borrow_mut(|c| {
            if let Some(c) = c {
                c.insert(key, built.clone());
            }
        });
        built
    }

    fn build(anchored: &str, utf8: bool, case_insensitive: bool) -> Option<WholeDfa> {
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    // Every match, not leftmost-first: a whole-string match must not be pruned
                    // for a preferred alternative that stops short.
                    .match_kind(MatchKind::All)
                    .start_kind(StartKind::Anchored)
                    .dfa_size_limit(Some(DFA_LIMIT))
                    .determinize_size_limit(Some(DFA_LIMIT)),
            )
            .syntax(syntax::Config::new().utf8(utf8).case_insensitive(case_insensitive))
            .build(anchored)
            .ok()?;
        let start = dfa.start_state(&start::Config::new().anchored(Anchored::Yes)).ok()?;
        Some(WholeDfa { dfa: Arc::new(dfa), start })
    }

    /// Whether the pattern matches all of `hay`. The DFA is built with no quit bytes and
    /// without the Unicode word-boundary heuristic (such patterns fail to build), so it never
    /// gives up: every state is live, dead or matching.
    #[inline]
    pub(crate) fn is_match(&self, hay: &[u8]) -> bool {
        let dfa = &*self.dfa;
        let mut state = self.start;
        for &b in hay {
            state = dfa.next_state(state, b);
            if dfa.is_special_state(state) && dfa.is_dead_state(state) {
                return false;
            }
            debug_assert!(!dfa.is_quit_state(state), "built without quit bytes");
        }
        dfa.is_match_state(dfa.next_eoi_state(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DFA's verdict against the `regex` crate's, for text and for bytes regexes.
    fn agree(pattern: &str, case_insensitive: bool, inputs: &[&[u8]]) {
        let anchored = format!("^(?:{pattern})$");
        let bytes =
            regex::bytes::RegexBuilder::new(&anchored).case_insensitive(case_insensitive).build().unwrap();
        let dfa = WholeDfa::new(&anchored, false, case_insensitive).expect("a small pattern has a DFA");
        for input in inputs {
            assert_eq!(dfa.is_match(input), bytes.is_match(input), "/{pattern}/ on {input:?}");
        }
        if !case_insensitive {
            let text = regex::Regex::new(&anchored).unwrap();
            let dfa = WholeDfa::new(&anchored, true, false).expect("a small pattern has a DFA");
            for input in inputs {
                if let Ok(s) = std::str::from_utf8(input) {
                    assert_eq!(dfa.is_match(input), text.is_match(s), "/{pattern}/ on {s:?}");
                }
            }
        }
    }

    #[test]
    fn small_patterns_match_whole_strings_as_the_regex_crate_does() {
        let inputs: &[&[u8]] = &[
            b"",
            b"1",
            b"123",
            b"12a",
            b"a12",
            b"123/items",
            b"123/items/",
            b"123/itemsx",
            b"tenant-7-eu",
            b"tenant-77-eu",
            b"tenant--eu",
            b"tenant-7-us",
            b"TENANT-7-EU",
            b"x tenant-7-eu",
            b"tenant-7-eu\n",
            b"\xff",
            "é".as_bytes(),
            b"ab",
            b"abc",
            b"a",
        ];
        for pattern in [
            "[0-9]+",
            "[0-9]+/items",
            "tenant-[0-9]+-(eu|us|ap)",
            "a|ab",
            "(a|ab)(c|bcd)?",
            "",
            ".*",
            ".",
            "(?i)Tenant-[0-9]+-EU",
            "[^/]+",
            "a$|ab",
        ] {
            agree(pattern, false, inputs);
            agree(pattern, true, inputs);
        }
    }

    #[test]
    fn patterns_a_dfa_cannot_take_are_left_to_the_regex_crate() {
        // A Unicode word boundary needs look-around a DFA does not have.
        assert!(WholeDfa::new("^(?:\\bword\\b)$", true, false).is_none());
        // Unicode's `\w` makes a DFA past the size limit; the regex crate's lazy one copes.
        assert!(WholeDfa::new("^(?:\\w+)$", true, false).is_none());
    }
}
