//! JSON equality under the `json` body matcher's options (see the `body` module docs), on a
//! parsed `Value`, on the body's flat view against a `Value`, or on two views: the expected
//! value compiled to a view, against the body's.

use serde_json::{Number, Value};

use super::dom::{Dom, Kind};

/// The `json` matcher's options.
#[derive(Clone, Copy)]
pub(super) struct Opts {
    pub(super) order: bool,
    pub(super) extra: bool,
}

/// Whether `actual` satisfies `expected` under the options (see the module docs).
pub(super) fn json_matches(expected: &Value, actual: &Value, o: Opts) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => numbers_equal(a, b),
        (Value::Object(e), Value::Object(a)) => {
            (o.extra || e.len() == a.len())
                && e.iter().all(|(k, ev)| a.get(k).is_some_and(|av| json_matches(ev, av, o)))
        }
        (Value::Array(e), Value::Array(a)) => arrays_match(e, a, o),
        (Value::Array(_) | Value::Object(_) | Value::Number(_), _) => false,
        (e, a) => e == a,
    }
}

fn arrays_match(e: &[Value], a: &[Value], o: Opts) -> bool {
    arrays_match_by(e.len(), a.len(), o, |i, j| json_matches(&e[i], &a[j], o))
}

/// Whether an array of `e` expected elements matches one of `a` actual ones, where
/// `fits(i, j)` says whether expected element `i` matches actual element `j`.
pub(super) fn arrays_match_by(e: usize, a: usize, o: Opts, fits: impl Fn(usize, usize) -> bool) -> bool {
    if if o.extra { e > a } else { e != a } {
        return false;
    }
    match (o.order, o.extra) {
        (false, false) => (0..e).all(|i| fits(i, i)),
        (false, true) => {
            // Subsequence: taking the earliest fitting element for each expected one is optimal,
            // since a later pick only leaves fewer candidates for the rest.
            let mut rest = 0..a;
            (0..e).all(|i| rest.by_ref().any(|j| fits(i, j)))
        }
        (true, _) => multiset_match(e, a, fits),
    }
}

/// [`json_matches`] on node `n` of a body's view instead of a `Value`.
pub(super) fn json_matches_dom(expected: &Value, dom: &Dom<'_>, n: usize, o: Opts) -> bool {
    match (expected, dom.node(n).kind) {
        (Value::Number(a), Kind::Int | Kind::Float) => dom.number(n).is_some_and(|b| numbers_equal(a, &b)),
        (Value::Object(e), Kind::Object) => {
            (o.extra || e.len() == dom.distinct_keys(n))
                && e.iter()
                    .all(|(k, ev)| dom.get(n, k.as_bytes()).is_some_and(|c| json_matches_dom(ev, dom, c, o)))
        }
        (Value::Array(e), Kind::Array) => {
            let a: smallvec::SmallVec<[usize; 16]> = dom.elements(n).collect();
            arrays_match_by(e.len(), a.len(), o, |i, j| json_matches_dom(&e[i], dom, a[j], o))
        }
        (Value::String(s), Kind::Str) => s.as_bytes() == dom.bytes(n),
        (Value::Bool(b), Kind::True | Kind::False) => *b == (dom.node(n).kind == Kind::True),
        (Value::Null, Kind::Null) => true,
        _ => false,
    }
}

/// [`json_matches`] with the expected value as a view too (see `Op::Json`): node `en` of
/// `expected` against node `n` of `dom`. Neither text has a backslash (the view covers
/// neither otherwise), so strings are equal exactly when their raw texts are.
pub(super) fn json_matches_views(expected: Dom<'_>, en: usize, dom: &Dom<'_>, n: usize, o: Opts) -> bool {
    let (ek, k) = (expected.node(en).kind, dom.node(n).kind);
    match (ek, k) {
        (Kind::Int | Kind::Float, Kind::Int | Kind::Float) => match (expected.number(en), dom.number(n)) {
            (Some(a), Some(b)) => numbers_equal(&a, &b),
            _ => false,
        },
        // The expected object came from a map: its keys are distinct.
        (Kind::Object, Kind::Object) => {
            (o.extra || expected.node(en).len as usize == dom.distinct_keys(n))
                && expected.members(en).all(|(key, ev)| {
                    dom.get(n, expected.bytes(key))
                        .is_some_and(|c| json_matches_views(expected, ev, dom, c, o))
                })
        }
        (Kind::Array, Kind::Array) => {
            let e: smallvec::SmallVec<[usize; 16]> = expected.elements(en).collect();
            let a: smallvec::SmallVec<[usize; 16]> = dom.elements(n).collect();
            arrays_match_by(e.len(), a.len(), o, |i, j| json_matches_views(expected, e[i], dom, a[j], o))
        }
        (Kind::Str, Kind::Str) => expected.bytes(en) == dom.bytes(n),
        (Kind::Null, Kind::Null) | (Kind::True, Kind::True) | (Kind::False, Kind::False) => true,
        _ => false,
    }
}

/// Whether every expected element can be paired with a distinct actual element that it matches
/// (a bipartite matching saturating `e`, found with augmenting paths).
///
/// Each expected element keeps at most `e.len()` candidates: if it has that many, whatever the
/// other `e.len() - 1` elements take, one of its candidates stays free, so nothing is lost, and
/// the work is bounded by the size of the rule rather than of the body.
fn multiset_match(n: usize, a: usize, fits: impl Fn(usize, usize) -> bool) -> bool {
    let mut candidates: Vec<Vec<usize>> = Vec::with_capacity(n);
    for i in 0..n {
        let c: Vec<usize> = (0..a).filter(|&j| fits(i, j)).take(n).collect();
        if c.is_empty() {
            return false;
        }
        candidates.push(c);
    }
    // owner[j]: the expected element currently paired with actual element j.
    let mut owner: Vec<Option<usize>> = vec![None; a];
    for i in 0..n {
        let mut seen = vec![false; a];
        if !augment(i, &candidates, &mut owner, &mut seen) {
            return false;
        }
    }
    true
}

fn augment(i: usize, candidates: &[Vec<usize>], owner: &mut [Option<usize>], seen: &mut [bool]) -> bool {
    for &j in &candidates[i] {
        if seen[j] {
            continue;
        }
        seen[j] = true;
        let free = match owner[j] {
            None => true,
            Some(k) => augment(k, candidates, owner, seen),
        };
        if free {
            owner[j] = Some(i);
            return true;
        }
    }
    false
}

/// Numeric equality across JSON number representations: integers exactly, an integral float
/// equal to an integer when it has the same value, other floats as `f64`.
pub(super) fn numbers_equal(a: &Number, b: &Number) -> bool {
    fn int(n: &Number) -> Option<i128> {
        n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from))
    }
    fn int_float(i: i128, f: f64) -> bool {
        // 2^127: beyond it no float converts to i128 exactly.
        f.fract() == 0.0 && f.abs() < 1.7014118346046923e38 && f as i128 == i
    }
    match (int(a), int(b)) {
        (Some(x), Some(y)) => x == y,
        (Some(x), None) => b.as_f64().is_some_and(|f| int_float(x, f)),
        (None, Some(y)) => a.as_f64().is_some_and(|f| int_float(y, f)),
        (None, None) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}
