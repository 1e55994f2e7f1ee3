//! Body matching: compiling a [`BodyMatch`] into a [`BodyMatcher`] and evaluating it against a
//! request body or a JSON value.
//!
//! # Operators
//!
//! A matcher sets exactly one operator among `equals`, `contains`, `regex`, `json`, `jsonpath`,
//! `and`, `or`, `not`. `ignore_array_order` and `ignore_extra_elements` are allowed only with
//! `json`, `matches` only with `jsonpath`; `and` and `or` need at least one matcher. Compiling
//! reports every problem it finds, each at its place (`rules[2].match.body.and[1].regex`), and
//! never panics.
//!
//! - `equals` / `contains` / `regex`, against the request body, look at the raw body bytes, so
//!   they work on bodies that are not UTF-8. `contains ""` always holds. Regexes are anchored at
//!   both ends (compiled as `^(?:…)$`), like every regex of the model; write `(?s).*needle.*` to
//!   search anywhere. Unicode mode stays on (`.` and `\w` mean characters), so `.` does not match
//!   bytes that are not UTF-8; write `(?-u:.)` for "any byte". A pattern whose compiled form would
//!   exceed 1 MiB is refused. Regex errors are reported on one line.
//! - Against a JSON value (a node selected by `jsonpath`, GraphQL variables), those three look
//!   at the value's text: a string by its contents, anything else by its compact JSON text
//!   (`42`, `true`, `null`, `{"a":1}`).
//! - `json`: the body parsed as JSON equals the given value; a body that is not JSON never
//!   matches. Numbers compare by value (`1` equals `1.0`; large integers exactly), objects by
//!   their key sets regardless of order, strings, booleans and null as themselves.
//!   - `ignore_extra_elements`: at every level, objects may have keys beyond the expected ones,
//!     and arrays may have elements beyond the expected ones; the expected elements must appear
//!     in order as a subsequence.
//!   - `ignore_array_order`: arrays compare as multisets (each expected element is paired with
//!     a distinct actual element). With `ignore_extra_elements` too, the expected elements form
//!     a sub-multiset of the actual ones. Pairing is a full bipartite matching, not a greedy
//!     first fit, so `[{"a":1}, {"a":1,"b":2}]` is found in `[{"a":1,"b":2}, {"a":1}]` even when
//!     extra elements are ignored.
//! - `jsonpath`: an RFC 9535 JSONPath, parsed when compiling. Without `matches` it holds when it
//!   selects at least one node of the JSON body; with `matches` (any body matcher, evaluated
//!   against values) when at least one selected node satisfies it. A body that is not JSON
//!   never matches.
//! - `and` / `or` / `not`: every / at least one / not the nested matcher(s). Against a body that
//!   is not JSON, a `json` or `jsonpath` inside `not` is false, so the `not` holds.
//!
//! The body is parsed at most once per request: JSON operators read
//! [`RequestContext::body_json`], which caches the parse. Inside `and` / `or`, the matchers that
//! read only the raw bytes are evaluated first, so the body is not parsed when they decide.

use std::borrow::Cow;
use std::fmt::Write as _;

use memchr::memmem;
use regex::bytes::Regex;
use serde_json::{Number, Value};
use serde_json_path::JsonPath;

use crate::error::Errors;
use crate::model::BodyMatch;
use crate::request::RequestContext;

/// The most characters of a literal quoted in a description.
const DESCRIBE_MAX: usize = 120;

const OPERATORS: &str = "equals, contains, regex, json, jsonpath, and, or, not";

/// A compiled, validated [`BodyMatch`].
#[derive(Debug, Clone)]
pub(crate) struct BodyMatcher {
    op: Op,
    /// Whether evaluation may need the body parsed as JSON, worked out when compiling.
    json: bool,
}

#[derive(Debug, Clone)]
enum Op {
    Equals(String),
    Contains { needle: String, finder: Box<memmem::Finder<'static>> },
    Regex { source: String, regex: Regex },
    Json { expected: Value, ignore_order: bool, ignore_extra: bool },
    JsonPath { source: String, path: JsonPath, sub: Option<Box<BodyMatcher>> },
    And(Vec<BodyMatcher>),
    Or(Vec<BodyMatcher>),
    Not(Box<BodyMatcher>),
}

impl BodyMatcher {
    /// Validates and compiles. On any problem, pushes errors (with their place, e.g.
    /// `rules[2].match.body.and[1].regex`) and returns `None`. Every problem is reported, nested
    /// ones included.
    pub(crate) fn compile(spec: &BodyMatch, path: &str, errors: &mut Errors) -> Option<BodyMatcher> {
        let before = errors.len();

        let mut found: Vec<&str> = Vec::new();
        if spec.equals.is_some() {
            found.push("equals");
        }
        if spec.contains.is_some() {
            found.push("contains");
        }
        if spec.regex.is_some() {
            found.push("regex");
        }
        if spec.json.is_some() {
            found.push("json");
        }
        if spec.jsonpath.is_some() {
            found.push("jsonpath");
        }
        if spec.and.is_some() {
            found.push("and");
        }
        if spec.or.is_some() {
            found.push("or");
        }
        if spec.not.is_some() {
            found.push("not");
        }
        if found.len() != 1 {
            let found = if found.is_empty() { "none".to_owned() } else { found.join(", ") };
            errors.push(path, format!("set exactly one of {OPERATORS} (found: {found})"));
        }
        if spec.json.is_none() {
            if spec.ignore_array_order {
                errors.push(format!("{path}.ignore_array_order"), "only allowed with json");
            }
            if spec.ignore_extra_elements {
                errors.push(format!("{path}.ignore_extra_elements"), "only allowed with json");
            }
        }

        // Each operator present is checked, even when too many are set, so that one pass shows
        // every problem.
        let mut ops: Vec<Op> = Vec::with_capacity(1);
        if let Some(s) = &spec.equals {
            ops.push(Op::Equals(s.clone()));
        }
        if let Some(s) = &spec.contains {
            let finder = Box::new(memmem::Finder::new(s.as_bytes()).into_owned());
            ops.push(Op::Contains { needle: s.clone(), finder });
        }
        if let Some(s) = &spec.regex {
            match compile_regex(s) {
                Ok(regex) => ops.push(Op::Regex { source: s.clone(), regex }),
                Err(e) => errors.push(format!("{path}.regex"), e),
            }
        }
        if let Some(v) = &spec.json {
            ops.push(Op::Json {
                expected: v.clone(),
                ignore_order: spec.ignore_array_order,
                ignore_extra: spec.ignore_extra_elements,
            });
        }
        let sub = match &spec.matches {
            Some(m) => {
                if spec.jsonpath.is_none() {
                    errors.push(format!("{path}.matches"), "only allowed with jsonpath");
                }
                BodyMatcher::compile(m, &format!("{path}.matches"), errors).map(Box::new)
            }
            None => None,
        };
        if let Some(s) = &spec.jsonpath {
            match JsonPath::parse(s) {
                Ok(p) => ops.push(Op::JsonPath { source: s.clone(), path: p, sub }),
                Err(e) => errors.push(format!("{path}.jsonpath"), format!("invalid JSONPath: {e}")),
            }
        }
        if let Some(list) = &spec.and {
            if list.is_empty() {
                errors.push(format!("{path}.and"), "needs at least one matcher");
            }
            let subs = compile_list(list, &format!("{path}.and"), errors);
            ops.push(Op::And(subs));
        }
        if let Some(list) = &spec.or {
            if list.is_empty() {
                errors.push(format!("{path}.or"), "needs at least one matcher");
            }
            let subs = compile_list(list, &format!("{path}.or"), errors);
            ops.push(Op::Or(subs));
        }
        if let Some(inner) = &spec.not {
            if let Some(m) = BodyMatcher::compile(inner, &format!("{path}.not"), errors) {
                ops.push(Op::Not(Box::new(m)));
            }
        }

        if errors.len() != before || ops.len() != 1 {
            return None;
        }
        let op = ops.pop()?;
        let json = match &op {
            Op::Equals(_) | Op::Contains { .. } | Op::Regex { .. } => false,
            Op::Json { .. } | Op::JsonPath { .. } => true,
            Op::And(list) | Op::Or(list) => list.iter().any(BodyMatcher::needs_json),
            Op::Not(m) => m.needs_json(),
        };
        Some(BodyMatcher { op, json })
    }

    /// Whether the request body satisfies this matcher.
    pub(crate) fn matches(&self, cx: &RequestContext<'_>) -> bool {
        let body = cx.req.body;
        match &self.op {
            Op::Equals(s) => body == s.as_bytes(),
            Op::Contains { finder, .. } => finder.find(body).is_some(),
            Op::Regex { regex, .. } => regex.is_match(body),
            Op::Json { .. } | Op::JsonPath { .. } => cx.body_json().is_some_and(|v| self.matches_value(v)),
            // Matchers that read only the raw bytes go first, so that when they decide, the body
            // is never parsed.
            Op::And(list) => {
                list.iter().filter(|m| !m.needs_json()).all(|m| m.matches(cx))
                    && list.iter().filter(|m| m.needs_json()).all(|m| m.matches(cx))
            }
            Op::Or(list) => {
                list.iter().filter(|m| !m.needs_json()).any(|m| m.matches(cx))
                    || list.iter().filter(|m| m.needs_json()).any(|m| m.matches(cx))
            }
            Op::Not(m) => !m.matches(cx),
        }
    }

    /// Whether a JSON value (a node selected by a JSONPath, GraphQL variables) satisfies this
    /// matcher. `equals`, `contains` and `regex` look at a string's contents, and at the compact
    /// JSON text of anything else.
    pub(crate) fn matches_value(&self, v: &Value) -> bool {
        match &self.op {
            Op::Equals(s) => value_text(v) == s.as_str(),
            Op::Contains { finder, .. } => finder.find(value_text(v).as_bytes()).is_some(),
            Op::Regex { regex, .. } => regex.is_match(value_text(v).as_bytes()),
            Op::Json { expected, ignore_order, ignore_extra } => {
                json_matches(expected, v, Opts { order: *ignore_order, extra: *ignore_extra })
            }
            Op::JsonPath { path, sub, .. } => {
                let nodes = path.query(v);
                match sub {
                    None => !nodes.is_empty(),
                    Some(m) => nodes.iter().any(|n| m.matches_value(n)),
                }
            }
            Op::And(list) => list.iter().all(|m| m.matches_value(v)),
            Op::Or(list) => list.iter().any(|m| m.matches_value(v)),
            Op::Not(m) => !m.matches_value(v),
        }
    }

    /// True when evaluating against a request may need the body parsed as JSON.
    pub(crate) fn needs_json(&self) -> bool {
        self.json
    }

    /// One line saying what the body must be: `body contains "abc"`,
    /// `body at $.user.id equals "7"`.
    pub(crate) fn describe(&self) -> String {
        format!("body {}", self.predicate())
    }

    /// What this matcher requires of its subject, without naming the subject: `contains "abc"`,
    /// `at $.user.id equals "7"`. Used for bodies and for GraphQL variables.
    pub(crate) fn predicate(&self) -> String {
        let mut out = String::new();
        self.write_predicate(&mut out, false);
        out
    }

    fn write_predicate(&self, out: &mut String, nested: bool) {
        match &self.op {
            Op::Equals(s) => {
                let _ = write!(out, "equals {}", quoted(s));
            }
            Op::Contains { needle, .. } => {
                let _ = write!(out, "contains {}", quoted(needle));
            }
            Op::Regex { source, .. } => {
                let _ = write!(out, "matches regex {}", quoted(source));
            }
            Op::Json { expected, ignore_order, ignore_extra } => {
                let text = serde_json::to_string(expected).unwrap_or_default();
                let _ = write!(out, "is JSON {}", truncated(&text));
                match (ignore_order, ignore_extra) {
                    (true, true) => out.push_str(" (ignoring array order and extra elements)"),
                    (true, false) => out.push_str(" (ignoring array order)"),
                    (false, true) => out.push_str(" (ignoring extra elements)"),
                    (false, false) => {}
                }
            }
            Op::JsonPath { source, sub, .. } => match sub {
                None => {
                    let _ = write!(out, "has a value at {}", truncated(source));
                }
                Some(m) => {
                    let _ = write!(out, "at {} ", truncated(source));
                    m.write_predicate(out, true);
                }
            },
            Op::And(list) | Op::Or(list) => {
                let joiner = if matches!(self.op, Op::And(_)) { " and " } else { " or " };
                let paren = nested && list.len() > 1;
                if paren {
                    out.push('(');
                }
                for (i, m) in list.iter().enumerate() {
                    if i > 0 {
                        out.push_str(joiner);
                    }
                    m.write_predicate(out, true);
                }
                if paren {
                    out.push(')');
                }
            }
            Op::Not(m) => {
                out.push_str("not ");
                m.write_predicate(out, true);
            }
        }
    }
}

fn compile_list(list: &[BodyMatch], path: &str, errors: &mut Errors) -> Vec<BodyMatcher> {
    list.iter()
        .enumerate()
        .filter_map(|(i, m)| BodyMatcher::compile(m, &format!("{path}[{i}]"), errors))
        .collect()
}

/// Compiles a model regex: anchored at both ends, size-limited, checked on its own first so
/// an error points into what the user wrote and `a)|(b` cannot escape the anchors.
fn compile_regex(pattern: &str) -> Result<Regex, String> {
    crate::value::anchored_regex(pattern, false)
}

/// A value's text: a string's contents, anything else as compact JSON.
fn value_text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s.as_str()),
        other => Cow::Owned(serde_json::to_string(other).unwrap_or_default()),
    }
}

fn truncated(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(DESCRIBE_MAX) {
        Some((i, _)) => Cow::Owned(format!("{}…", &s[..i])),
        None => Cow::Borrowed(s),
    }
}

fn quoted(s: &str) -> String {
    match s.char_indices().nth(DESCRIBE_MAX) {
        Some((i, _)) => format!("{:?}…", &s[..i]),
        None => format!("{s:?}"),
    }
}

#[derive(Clone, Copy)]
struct Opts {
    order: bool,
    extra: bool,
}

/// Whether `actual` satisfies `expected` under the options (see the module docs).
fn json_matches(expected: &Value, actual: &Value, o: Opts) -> bool {
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
    if if o.extra { e.len() > a.len() } else { e.len() != a.len() } {
        return false;
    }
    match (o.order, o.extra) {
        (false, false) => e.iter().zip(a).all(|(x, y)| json_matches(x, y, o)),
        (false, true) => {
            // Subsequence: taking the earliest fitting element for each expected one is optimal,
            // since a later pick only leaves fewer candidates for the rest.
            let mut rest = a.iter();
            e.iter().all(|x| rest.by_ref().any(|y| json_matches(x, y, o)))
        }
        (true, _) => multiset_match(e, a, o),
    }
}

/// Whether every expected element can be paired with a distinct actual element that it matches
/// (a bipartite matching saturating `e`, found with augmenting paths).
///
/// Each expected element keeps at most `e.len()` candidates: if it has that many, whatever the
/// other `e.len() - 1` elements take, one of its candidates stays free, so nothing is lost, and
/// the work is bounded by the size of the rule rather than of the body.
fn multiset_match(e: &[Value], a: &[Value], o: Opts) -> bool {
    let n = e.len();
    let mut candidates: Vec<Vec<usize>> = Vec::with_capacity(n);
    for x in e {
        let c: Vec<usize> =
            a.iter().enumerate().filter(|(_, y)| json_matches(x, y, o)).map(|(j, _)| j).take(n).collect();
        if c.is_empty() {
            return false;
        }
        candidates.push(c);
    }
    // owner[j]: the expected element currently paired with actual element j.
    let mut owner: Vec<Option<usize>> = vec![None; a.len()];
    for i in 0..n {
        let mut seen = vec![false; a.len()];
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
fn numbers_equal(a: &Number, b: &Number) -> bool {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::request::Request;

    fn spec(v: Value) -> BodyMatch {
        serde_json::from_value(v).expect("valid BodyMatch")
    }

    fn compile(v: Value) -> BodyMatcher {
        let mut errors = Errors::default();
        let m = BodyMatcher::compile(&spec(v), "body", &mut errors);
        assert!(errors.list.is_empty(), "{:?}", errors.list);
        m.expect("compiled")
    }

    /// The errors compiling `v` at `rules[0].match.body`, as `(place, message)`.
    fn errors_of(v: Value) -> Vec<(String, String)> {
        let mut errors = Errors::default();
        let m = BodyMatcher::compile(&spec(v), "rules[0].match.body", &mut errors);
        assert!(m.is_none(), "compiled despite errors");
        assert!(!errors.list.is_empty(), "returned None without errors");
        errors.list.into_iter().map(|e| (e.path, e.message)).collect()
    }

    fn places(v: Value) -> Vec<String> {
        errors_of(v).into_iter().map(|(p, _)| p).collect()
    }

    fn on_body(m: &BodyMatcher, body: &[u8]) -> bool {
        let req = Request::new("POST", "/", &[], body);
        let cx = RequestContext::new(&req);
        m.matches(&cx)
    }

    fn json_case(expected: Value, actual: Value, order: bool, extra: bool) -> bool {
        let m = compile(json!({
            "json": expected, "ignore_array_order": order, "ignore_extra_elements": extra
        }));
        let text = serde_json::to_vec(&actual).expect("serializable");
        let on_request = on_body(&m, &text);
        assert_eq!(on_request, m.matches_value(&actual), "body and value disagree");
        on_request
    }

    #[test]
    fn equals_compares_the_raw_body() {
        let m = compile(json!({"equals": "hello"}));
        assert!(on_body(&m, b"hello"));
        assert!(!on_body(&m, b"hello "));
        assert!(!on_body(&m, b"Hello"));
        assert!(!on_body(&m, b""));
        assert!(compile(json!({"equals": ""})).matches(&RequestContext::new(&Request::new(
            "GET",
            "/",
            &[],
            b""
        ))));
    }

    #[test]
    fn contains_searches_the_raw_body() {
        let m = compile(json!({"contains": "needle"}));
        assert!(on_body(&m, b"hay needle stack"));
        assert!(on_body(&m, b"needle"));
        assert!(!on_body(&m, b"hay needl stack"));
        assert!(on_body(&m, b"\xff\xfe needle \x00"));
        assert!(on_body(&compile(json!({"contains": ""})), b"anything"));
    }

    #[test]
    fn regex_is_anchored_at_both_ends() {
        let m = compile(json!({"regex": "ab+c"}));
        assert!(on_body(&m, b"abbbc"));
        assert!(!on_body(&m, b"xabc"));
        assert!(!on_body(&m, b"abcx"));
        let anywhere = compile(json!({"regex": "(?s).*needle.*"}));
        assert!(on_body(&anywhere, b"line one\nneedle\nline three"));
        assert!(!on_body(&anywhere, b"nothing here"));
        // An alternation cannot escape the anchors.
        let alt = compile(json!({"regex": "a|b"}));
        assert!(on_body(&alt, b"a"));
        assert!(!on_body(&alt, b"ab"));
    }

    #[test]
    fn non_utf8_bodies() {
        let body = b"\xff\x00binary\xfe";
        assert!(on_body(&compile(json!({"contains": "binary"})), body));
        assert!(!on_body(&compile(json!({"equals": "binary"})), body));
        // Unicode `.` does not match invalid bytes; `(?-u:.)` does.
        assert!(!on_body(&compile(json!({"regex": "(?s).*binary.*"})), body));
        assert!(on_body(&compile(json!({"regex": "(?s-u).*binary.*"})), body));
        assert!(!on_body(&compile(json!({"json": {"a": 1}})), body));
        assert!(!on_body(&compile(json!({"jsonpath": "$"})), body));
        assert!(on_body(&compile(json!({"not": {"json": {"a": 1}}})), body));
    }

    #[test]
    fn non_json_bodies_never_match_json_operators() {
        for body in [&b""[..], b"{not json", b"a=1&b=2", b"{\"a\":1"] {
            assert!(!on_body(&compile(json!({"json": {"a": 1}})), body));
            assert!(!on_body(&compile(json!({"jsonpath": "$.a"})), body));
            assert!(!on_body(&compile(json!({"jsonpath": "$", "matches": {"regex": ".*"}})), body));
        }
        // A scalar JSON body is JSON.
        assert!(on_body(&compile(json!({"json": 42})), b" 42 "));
        assert!(on_body(&compile(json!({"json": "x"})), b"\"x\""));
    }

    #[test]
    fn json_strict_equality() {
        let no = |e, a| json_case(e, a, false, false);
        assert!(no(json!({"a": 1, "b": [1, 2]}), json!({"b": [1, 2], "a": 1})));
        assert!(!no(json!({"a": 1}), json!({"a": 1, "b": 2})));
        assert!(!no(json!({"a": 1, "b": 2}), json!({"a": 1})));
        assert!(!no(json!([1, 2]), json!([2, 1])));
        assert!(!no(json!([1, 2]), json!([1, 2, 3])));
        assert!(!no(json!({"a": "1"}), json!({"a": 1})));
        // (`json: null` itself reads as "no json" in the model, so null is tested nested.)
        assert!(!no(json!([null]), json!([false])));
        assert!(no(json!([null, true, "s"]), json!([null, true, "s"])));
        assert!(!no(json!([true]), json!(["true"])));
        assert!(no(json!([{"id": 1, "tags": ["x"]}]), json!([{"tags": ["x"], "id": 1}])));
        assert!(!no(json!([{"id": 1}]), json!([{"id": 1, "extra": true}])));
    }

    #[test]
    fn json_numbers_compare_by_value() {
        let no = |e, a| json_case(e, a, false, false);
        assert!(no(json!(1), json!(1.0)));
        assert!(no(json!(1.0), json!(1)));
        assert!(no(json!({"n": -3}), json!({"n": -3.0})));
        assert!(no(json!(0.5), json!(0.5)));
        assert!(!no(json!(1), json!(1.5)));
        assert!(!no(json!(1), json!("1")));
        assert!(no(json!(u64::MAX), json!(u64::MAX)));
        assert!(!no(json!(u64::MAX), json!(i64::MIN)));
        // Exact for large integers: 2^53 + 1 is not the float 2^53.
        assert!(!no(json!(9_007_199_254_740_993_u64), json!(9_007_199_254_740_992.0)));
        assert!(no(json!(9_007_199_254_740_992_u64), json!(9_007_199_254_740_992.0)));
        // Parsed from text too.
        assert!(on_body(&compile(json!({"json": {"a": 1}})), br#"{"a": 1.0}"#));
        assert!(on_body(&compile(json!({"json": {"a": 100}})), br#"{"a": 1e2}"#));
    }

    #[test]
    fn json_ignoring_extra_elements() {
        let ex = |e, a| json_case(e, a, false, true);
        assert!(ex(json!({"a": 1}), json!({"a": 1, "b": 2})));
        assert!(ex(json!({"u": {"id": 7}}), json!({"u": {"id": 7, "name": "x"}, "z": 0})));
        assert!(!ex(json!({"a": 1, "c": 3}), json!({"a": 1, "b": 2})));
        assert!(ex(json!([1, 3]), json!([1, 2, 3, 4])));
        assert!(!ex(json!([3, 1]), json!([1, 2, 3, 4])), "order still matters");
        assert!(!ex(json!([1, 1]), json!([1, 2])));
        assert!(ex(json!([]), json!([5])));
        assert!(ex(json!([{"id": 2}]), json!([{"id": 1, "x": 0}, {"id": 2, "x": 1}])));
        assert!(!ex(json!([{"id": 2}, {"id": 1}]), json!([{"id": 1}, {"id": 2}])));
        assert!(!ex(json!({"a": [1]}), json!({"a": 1})));
    }

    #[test]
    fn json_ignoring_array_order() {
        let ord = |e, a| json_case(e, a, true, false);
        assert!(ord(json!([1, 2, 3]), json!([3, 1, 2])));
        assert!(ord(json!([1, 1, 2]), json!([1, 2, 1])));
        assert!(!ord(json!([1, 1, 2]), json!([1, 2, 2])), "multisets, not sets");
        assert!(!ord(json!([1, 2]), json!([1, 2, 3])));
        assert!(ord(json!({"a": [[1, 2], [3]]}), json!({"a": [[3], [2, 1]]})));
        assert!(ord(json!([{"id": 1}, {"id": 2}]), json!([{"id": 2}, {"id": 1}])));
        assert!(!ord(json!([{"id": 1}]), json!([{"id": 1, "x": 0}])), "objects stay strict");
        assert!(ord(json!([1, 2.0]), json!([2, 1.0])));
    }

    #[test]
    fn json_ignoring_order_and_extra_elements() {
        let both = |e, a| json_case(e, a, true, true);
        assert!(both(json!([3, 1]), json!([1, 2, 3])));
        assert!(!both(json!([1, 1]), json!([1, 2, 3])));
        assert!(both(json!([1, 1]), json!([1, 2, 1])));
        assert!(both(
            json!({"items": [{"sku": "b"}, {"sku": "a", "qty": 2}]}),
            json!({"items": [{"sku": "a", "qty": 2, "p": 9}, {"sku": "c"}, {"sku": "b"}], "t": 1})
        ));
        // A greedy first fit pairs {"a":1} with the first element, leaving nothing for
        // {"a":1,"b":2}; a full matching succeeds.
        assert!(both(json!([{"a": 1}, {"a": 1, "b": 2}]), json!([{"a": 1, "b": 2}, {"a": 1}])));
        assert!(both(json!([[1], [1, 2]]), json!([[1, 2, 3], [1, 5]]),));
        assert!(!both(json!([{"a": 1}, {"a": 1, "b": 2}]), json!([{"a": 1, "b": 2}, {"a": 2}])));
    }

    #[test]
    fn multiset_matching_needs_augmenting_paths() {
        // Each expected element keeps few candidates; the pairing must be rearranged.
        let e = json!([{"k": 1}, {"k": 1, "m": 1}, {"k": 1, "m": 1, "n": 1}]);
        let a = json!([{"k": 1, "m": 1, "n": 1}, {"k": 1, "m": 1, "n": 1, "z": 0}, {"k": 1, "m": 1}]);
        assert!(json_case(e.clone(), a, true, true));
        let a = json!([{"k": 1, "m": 1, "n": 1}, {"k": 1}, {"k": 1}]);
        assert!(!json_case(e, a, true, true));
        // Many candidates per element: the cut-off keeps results right.
        let many: Vec<Value> = (0..50).map(|i| json!({"v": 1, "i": i})).collect();
        assert!(json_case(json!([{"v": 1}, {"v": 1}, {"v": 1, "i": 49}]), Value::Array(many), true, true));
    }

    #[test]
    fn jsonpath_without_sub_matcher_needs_a_node() {
        let m = compile(json!({"jsonpath": "$.user.id"}));
        assert!(on_body(&m, br#"{"user": {"id": 7}}"#));
        assert!(on_body(&m, br#"{"user": {"id": null}}"#), "null is a node");
        assert!(!on_body(&m, br#"{"user": {"name": "x"}}"#));
        assert!(!on_body(&m, br#"[1, 2]"#));
        let filter = compile(json!({"jsonpath": "$.items[?@.price > 10]"}));
        assert!(filter.needs_json());
        assert!(on_body(&filter, br#"{"items": [{"price": 5}, {"price": 12}]}"#));
        assert!(!on_body(&filter, br#"{"items": [{"price": 5}]}"#));
    }

    #[test]
    fn jsonpath_with_sub_matcher_needs_a_satisfying_node() {
        let m = compile(json!({"jsonpath": "$.user.id", "matches": {"equals": "7"}}));
        assert!(on_body(&m, br#"{"user": {"id": "7"}}"#));
        assert!(on_body(&m, br#"{"user": {"id": 7}}"#), "numbers by their JSON text");
        assert!(!on_body(&m, br#"{"user": {"id": "8"}}"#));
        assert!(!on_body(&m, br#"{"user": {}}"#));

        let any = compile(json!({"jsonpath": "$.tags[*]", "matches": {"regex": "b.*"}}));
        assert!(on_body(&any, br#"{"tags": ["a", "bee", "c"]}"#));
        assert!(!on_body(&any, br#"{"tags": ["a", "c"]}"#));

        let obj = compile(json!({"jsonpath": "$.u", "matches": {"equals": "{\"a\":1,\"b\":[true,null]}"}}));
        assert!(on_body(&obj, br#"{"u": {"a": 1, "b": [true, null]}}"#));

        let nested_json = compile(json!({
            "jsonpath": "$.order",
            "matches": {"json": {"id": 1}, "ignore_extra_elements": true}
        }));
        assert!(on_body(&nested_json, br#"{"order": {"id": 1.0, "lines": []}}"#));
        assert!(!on_body(&nested_json, br#"{"order": {"id": 2}}"#));

        let deeper = compile(json!({
            "jsonpath": "$.a",
            "matches": {"jsonpath": "$.b", "matches": {"contains": "zz"}}
        }));
        assert!(on_body(&deeper, br#"{"a": {"b": "xzzy"}}"#));
        assert!(!on_body(&deeper, br#"{"a": {"b": "xy"}}"#));
    }

    #[test]
    fn text_operators_against_values() {
        let eq = compile(json!({"equals": "true"}));
        assert!(eq.matches_value(&json!(true)));
        assert!(eq.matches_value(&json!("true")));
        assert!(!eq.matches_value(&json!("\"true\"")));
        assert!(compile(json!({"equals": "null"})).matches_value(&Value::Null));
        assert!(compile(json!({"contains": "\"a\":1"})).matches_value(&json!({"a": 1})));
        assert!(compile(json!({"regex": "[0-9]+"})).matches_value(&json!(123)));
        assert!(!compile(json!({"regex": "[0-9]+"})).matches_value(&json!(1.5)));
    }

    #[test]
    fn and_or_not() {
        let m = compile(json!({"and": [
            {"contains": "a"},
            {"or": [{"contains": "b"}, {"not": {"contains": "c"}}]}
        ]}));
        assert!(on_body(&m, b"ab"));
        assert!(on_body(&m, b"a"));
        assert!(on_body(&m, b"abc"));
        assert!(!on_body(&m, b"ac"));
        assert!(!on_body(&m, b"b"));
        assert!(!m.needs_json());

        let not = compile(json!({"not": {"equals": "x"}}));
        assert!(on_body(&not, b"y"));
        assert!(!on_body(&not, b"x"));

        let mixed = compile(json!({"or": [{"equals": "plain"}, {"jsonpath": "$.ok"}]}));
        assert!(mixed.needs_json());
        assert!(on_body(&mixed, b"plain"));
        assert!(on_body(&mixed, br#"{"ok": false}"#));
        assert!(!on_body(&mixed, b"other"));

        let values = compile(json!({"and": [{"jsonpath": "$.a"}, {"not": {"jsonpath": "$.b"}}]}));
        assert!(values.matches_value(&json!({"a": 1})));
        assert!(!values.matches_value(&json!({"a": 1, "b": 2})));
    }

    #[test]
    fn needs_json() {
        assert!(!compile(json!({"equals": "x"})).needs_json());
        assert!(!compile(json!({"regex": "x"})).needs_json());
        assert!(compile(json!({"json": {}})).needs_json());
        assert!(compile(json!({"not": {"json": {}}})).needs_json());
        assert!(compile(json!({"and": [{"contains": "x"}, {"jsonpath": "$"}]})).needs_json());
    }

    #[test]
    fn descriptions() {
        let d = |v| compile(v).describe();
        assert_eq!(d(json!({"contains": "abc"})), r#"body contains "abc""#);
        assert_eq!(d(json!({"equals": "a\nb"})), r#"body equals "a\nb""#);
        assert_eq!(d(json!({"regex": "a.*"})), r#"body matches regex "a.*""#);
        assert_eq!(
            d(json!({"jsonpath": "$.user.id", "matches": {"equals": "7"}})),
            r#"body at $.user.id equals "7""#
        );
        assert_eq!(d(json!({"jsonpath": "$.a"})), "body has a value at $.a");
        assert_eq!(
            d(json!({"json": {"a": [1]}, "ignore_array_order": true, "ignore_extra_elements": true})),
            r#"body is JSON {"a":[1]} (ignoring array order and extra elements)"#
        );
        assert_eq!(
            d(json!({"json": 1, "ignore_array_order": true})),
            "body is JSON 1 (ignoring array order)"
        );
        assert_eq!(
            d(json!({"and": [{"contains": "a"}, {"not": {"or": [{"equals": "b"}, {"equals": "c"}]}}]})),
            r#"body contains "a" and not (equals "b" or equals "c")"#
        );
        let long = d(json!({"equals": "x".repeat(500)}));
        assert!(long.len() < 200 && long.ends_with('…'), "{long}");
        assert!(!long.contains('\n'));
    }

    #[test]
    fn exactly_one_operator() {
        assert_eq!(
            errors_of(json!({"equals": "a", "regex": "b"})),
            [(
                "rules[0].match.body".to_owned(),
                "set exactly one of equals, contains, regex, json, jsonpath, and, or, not \
                 (found: equals, regex)"
                    .to_owned()
            )]
        );
        assert_eq!(
            errors_of(json!({})),
            [(
                "rules[0].match.body".to_owned(),
                "set exactly one of equals, contains, regex, json, jsonpath, and, or, not \
                 (found: none)"
                    .to_owned()
            )]
        );
        let all = errors_of(json!({
            "equals": "", "contains": "", "regex": "", "json": null, "jsonpath": "$",
            "and": [{"equals": ""}], "or": [{"equals": ""}], "not": {"equals": ""}
        }));
        // `json: null` is present: it means the JSON value null.
        assert_eq!(all.len(), 1);
        assert!(all[0].1.ends_with("(found: equals, contains, regex, json, jsonpath, and, or, not)"));
    }

    #[test]
    fn options_need_their_operator() {
        assert_eq!(
            errors_of(json!({"equals": "a", "ignore_array_order": true, "ignore_extra_elements": true})),
            [
                ("rules[0].match.body.ignore_array_order".to_owned(), "only allowed with json".to_owned()),
                ("rules[0].match.body.ignore_extra_elements".to_owned(), "only allowed with json".to_owned()),
            ]
        );
        assert_eq!(
            errors_of(json!({"equals": "a", "matches": {"equals": "b"}})),
            [("rules[0].match.body.matches".to_owned(), "only allowed with jsonpath".to_owned())]
        );
        // Options with their operator are fine.
        compile(json!({"json": [], "ignore_array_order": true, "ignore_extra_elements": true}));
        compile(json!({"jsonpath": "$", "matches": {"equals": "b"}}));
    }

    #[test]
    fn invalid_regex_and_jsonpath() {
        let e = errors_of(json!({"regex": "a("}));
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, "rules[0].match.body.regex");
        assert!(e[0].1.starts_with("invalid regex: "), "{}", e[0].1);
        assert!(e[0].1.contains("unclosed group"), "{}", e[0].1);
        assert!(!e[0].1.contains('\n'), "one line: {}", e[0].1);

        // Balanced once wrapped, but not on its own: refused.
        assert_eq!(places(json!({"regex": "a)(?:b"})), ["rules[0].match.body.regex"]);

        let e = errors_of(json!({"regex": "(?:\\w{100}){100}"}));
        assert_eq!(e[0].0, "rules[0].match.body.regex");
        assert!(e[0].1.contains("size limit"), "{}", e[0].1);

        let e = errors_of(json!({"jsonpath": "$.[oops"}));
        assert_eq!(e[0].0, "rules[0].match.body.jsonpath");
        assert!(e[0].1.starts_with("invalid JSONPath: "), "{}", e[0].1);
        assert_eq!(places(json!({"jsonpath": "user.id"})), ["rules[0].match.body.jsonpath"]);
    }

    #[test]
    fn empty_and_or_are_refused() {
        assert_eq!(
            errors_of(json!({"and": []})),
            [("rules[0].match.body.and".to_owned(), "needs at least one matcher".to_owned())]
        );
        assert_eq!(places(json!({"or": []})), ["rules[0].match.body.or"]);
    }

    #[test]
    fn every_nested_error_is_reported_with_its_place() {
        let p = places(json!({"and": [
            {"contains": "fine"},
            {"regex": "("},
            {"or": [{"equals": "x", "contains": "y"}, {"not": {"jsonpath": "bad"}}]},
            {"jsonpath": "$.a", "matches": {"regex": "[", "ignore_extra_elements": true}},
            {"not": {}}
        ]}));
        assert_eq!(
            p,
            [
                "rules[0].match.body.and[1].regex",
                "rules[0].match.body.and[2].or[0]",
                "rules[0].match.body.and[2].or[1].not.jsonpath",
                "rules[0].match.body.and[3].matches.ignore_extra_elements",
                "rules[0].match.body.and[3].matches.regex",
                "rules[0].match.body.and[4].not",
            ]
        );
        // Problems in several operators of one matcher are all reported.
        assert_eq!(
            places(json!({"regex": ")", "jsonpath": "x", "or": []})),
            [
                "rules[0].match.body",
                "rules[0].match.body.regex",
                "rules[0].match.body.jsonpath",
                "rules[0].match.body.or",
            ]
        );
    }
}
