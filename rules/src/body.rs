//! Body matching: compiling a [`BodyMatch`] into a [`BodyMatcher`] and evaluating it against a
//! request body or a JSON value.
//!
//! # Operators
//!
//! A matcher sets exactly one operator among `equals`, `contains`, `regex`, `json`, `jsonpath`,
//! `json_schema`, `and`, `or`, `not`. `ignore_array_order` and `ignore_extra_elements` are allowed only with
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
//! - `json_schema`: the body is JSON and valid against the schema, compiled once when loading
//!   ([`crate::schema`]: offline, `$ref`s only inside the schema). An invalid schema is an error
//!   at `….json_schema`, with the place inside the schema.
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
use serde_json::Value;
use serde_json_path::JsonPath;

use self::dom::{Dom, Kind, Owned};
use self::json_eq::{json_matches, json_matches_dom, json_matches_views, Opts};
use crate::error::{Errors, Place};
use crate::model::BodyMatch;
use crate::request::RequestContext;
use crate::schema::Schema;
use crate::value::ShortBytes;

/// The most characters of a literal quoted in a description.
const DESCRIBE_MAX: usize = 120;

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
    Contains {
        needle: String,
        finder: Box<memmem::Finder<'static>>,
    },
    Regex {
        source: String,
        regex: Regex,
    },
    /// `flat`: `expected` as the body view would see it, when the view covers its text
    /// (the usual case): compared with a body's view node by node, and read from two blocks
    /// instead of a map, its keys and its strings one pointer after another.
    Json {
        expected: Value,
        flat: Option<Owned>,
        ignore_order: bool,
        ignore_extra: bool,
    },
    /// `simple`: the path's steps when it is only member names and indexes (`$.a.b[0]`), which
    /// are evaluated on the body's [`dom`] view; any other path needs a `Value`.
    JsonPath {
        source: String,
        path: JsonPath,
        simple: Option<SimplePath>,
        sub: Option<Box<BodyMatcher>>,
    },
    JsonSchema {
        source: Value,
        schema: Schema,
    },
    And(Vec<BodyMatcher>),
    Or(Vec<BodyMatcher>),
    Not(Box<BodyMatcher>),
}

impl BodyMatcher {
    /// Validates and compiles. On any problem, pushes errors (with their place, e.g.
    /// `rules[2].match.body.and[1].regex`) and returns `None`. Every problem is reported, nested
    /// ones included.
    pub(crate) fn compile(spec: &BodyMatch, path: &Place<'_>, errors: &mut Errors) -> Option<BodyMatcher> {
        let before = errors.len();

        errors.exactly_one(
            path,
            &[
                ("equals", spec.equals.is_some()),
                ("contains", spec.contains.is_some()),
                ("regex", spec.regex.is_some()),
                ("json", spec.json.is_some()),
                ("jsonpath", spec.jsonpath.is_some()),
                ("json_schema", spec.json_schema.is_some()),
                ("and", spec.and.is_some()),
                ("or", spec.or.is_some()),
                ("not", spec.not.is_some()),
            ],
        );
        if spec.json.is_none() {
            if spec.ignore_array_order {
                errors.push(path.field("ignore_array_order"), "only allowed with json");
            }
            if spec.ignore_extra_elements {
                errors.push(path.field("ignore_extra_elements"), "only allowed with json");
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
                Err(e) => errors.push(path.field("regex"), e),
            }
        }
        if let Some(v) = &spec.json {
            ops.push(Op::Json {
                expected: v.clone(),
                flat: serde_json::to_string(v).ok().and_then(Owned::new),
                ignore_order: spec.ignore_array_order,
                ignore_extra: spec.ignore_extra_elements,
            });
        }
        let sub = match &spec.matches {
            Some(m) => {
                if spec.jsonpath.is_none() {
                    errors.push(path.field("matches"), "only allowed with jsonpath");
                }
                BodyMatcher::compile(m, &path.field("matches"), errors).map(Box::new)
            }
            None => None,
        };
        if let Some(s) = &spec.jsonpath {
            match crate::jsonpath::parse(s) {
                Ok(p) => ops.push(Op::JsonPath { source: s.clone(), path: p, simple: simple_path(s), sub }),
                Err(e) => errors.push(path.field("jsonpath"), format!("invalid JSONPath: {e}")),
            }
        }
        if let Some(v) = &spec.json_schema {
            match Schema::compile(v) {
                Ok(schema) => ops.push(Op::JsonSchema { source: v.clone(), schema }),
                Err(e) => errors.push(path.field("json_schema"), e),
            }
        }
        if let Some(list) = &spec.and {
            if list.is_empty() {
                errors.push(path.field("and"), "needs at least one matcher");
            }
            let subs = compile_list(list, &path.field("and"), errors);
            ops.push(Op::And(subs));
        }
        if let Some(list) = &spec.or {
            if list.is_empty() {
                errors.push(path.field("or"), "needs at least one matcher");
            }
            let subs = compile_list(list, &path.field("or"), errors);
            ops.push(Op::Or(subs));
        }
        if let Some(inner) = &spec.not {
            if let Some(m) = BodyMatcher::compile(inner, &path.field("not"), errors) {
                ops.push(Op::Not(Box::new(m)));
            }
        }

        if errors.len() != before || ops.len() != 1 {
            return None;
        }
        let op = ops.pop()?;
        let json = match &op {
            Op::Equals(_) | Op::Contains { .. } | Op::Regex { .. } => false,
            Op::Json { .. } | Op::JsonPath { .. } | Op::JsonSchema { .. } => true,
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
            // A path that needs a `Value` reads the cached parse, so the body is parsed once.
            Op::JsonPath { simple: None, .. } | Op::JsonSchema { .. } => {
                cx.body_json().is_some_and(|v| self.matches_value(v))
            }
            Op::Json { .. } | Op::JsonPath { .. } => match cx.body_dom() {
                Some(dom) => self.matches_node(&dom, 0),
                None => cx.body_json().is_some_and(|v| self.matches_value(v)),
            },
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
            Op::Json { expected, ignore_order, ignore_extra, .. } => {
                json_matches(expected, v, Opts { order: *ignore_order, extra: *ignore_extra })
            }
            Op::JsonPath { path, sub, .. } => {
                let nodes = path.query(v);
                match sub {
                    None => !nodes.is_empty(),
                    Some(m) => nodes.iter().any(|n| m.matches_value(n)),
                }
            }
            Op::JsonSchema { schema, .. } => schema.is_valid(v),
            Op::And(list) => list.iter().all(|m| m.matches_value(v)),
            Op::Or(list) => list.iter().any(|m| m.matches_value(v)),
            Op::Not(m) => !m.matches_value(v),
        }
    }

    /// Whether node `n` of a body's [`dom`] view satisfies this matcher; the same verdict as
    /// [`BodyMatcher::matches_value`] on that node as a `Value`, which is built (from the node's
    /// own bytes) only where the view cannot answer: the text of a value that is not a string,
    /// a JSONPath beyond names and indexes.
    fn matches_node(&self, dom: &Dom<'_>, n: usize) -> bool {
        match &self.op {
            Op::Equals(_) | Op::Contains { .. } | Op::Regex { .. } if dom.node(n).kind != Kind::Str => {
                self.matches_node_as_value(dom, n)
            }
            Op::Equals(s) => dom.bytes(n) == s.as_bytes(),
            Op::Contains { finder, .. } => finder.find(dom.bytes(n)).is_some(),
            Op::Regex { regex, .. } => regex.is_match(dom.bytes(n)),
            Op::Json { expected, flat, ignore_order, ignore_extra } => {
                let o = Opts { order: *ignore_order, extra: *ignore_extra };
                match flat {
                    Some(flat) => json_matches_views(flat.view(), 0, dom, n, o),
                    None => json_matches_dom(expected, dom, n, o),
                }
            }
            Op::JsonPath { simple: Some(steps), sub, .. } => match walk(dom, n, steps) {
                None => false,
                Some(found) => sub.as_ref().is_none_or(|m| m.matches_node(dom, found)),
            },
            Op::JsonPath { simple: None, .. } | Op::JsonSchema { .. } => self.matches_node_as_value(dom, n),
            Op::And(list) => list.iter().all(|m| m.matches_node(dom, n)),
            Op::Or(list) => list.iter().any(|m| m.matches_node(dom, n)),
            Op::Not(m) => !m.matches_node(dom, n),
        }
    }

    fn matches_node_as_value(&self, dom: &Dom<'_>, n: usize) -> bool {
        crate::request::parse_json(dom.json_text(n).as_bytes()).is_some_and(|v| self.matches_value(&v))
    }

    /// True when every operator reads the body as JSON (`json`, `jsonpath`, and `and` / `or` /
    /// `not` of those): on a JSON body the verdict is then [`BodyMatcher::matches_value`]'s on
    /// its parse. For the fuzz targets (`crate::fuzzing`).
    pub(crate) fn reads_json_only(&self) -> bool {
        match &self.op {
            Op::Equals(_) | Op::Contains { .. } | Op::Regex { .. } => false,
            Op::Json { .. } | Op::JsonPath { .. } | Op::JsonSchema { .. } => true,
            Op::And(list) | Op::Or(list) => list.iter().all(BodyMatcher::reads_json_only),
            Op::Not(m) => m.reads_json_only(),
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
            Op::Json { expected, ignore_order, ignore_extra, .. } => {
                let text = serde_json::to_string(expected).unwrap_or_default();
                let _ = write!(out, "is JSON {}", truncated(&text));
                match (ignore_order, ignore_extra) {
                    (true, true) => out.push_str(" (ignoring array order and extra elements)"),
                    (true, false) => out.push_str(" (ignoring array order)"),
                    (false, true) => out.push_str(" (ignoring extra elements)"),
                    (false, false) => {}
                }
            }
            Op::JsonSchema { source, .. } => {
                let text = serde_json::to_string(source).unwrap_or_default();
                let _ = write!(out, "is valid against the JSON Schema {}", truncated(&text));
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

fn compile_list(list: &[BodyMatch], path: &Place<'_>, errors: &mut Errors) -> Vec<BodyMatcher> {
    list.iter().enumerate().filter_map(|(i, m)| BodyMatcher::compile(m, &path.index(i), errors)).collect()
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

/// One step of a simple JSONPath. A name is kept inline when short, so that a rule's path
/// is read with its matcher, not behind pointers of its own.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Name(ShortBytes),
    Index(usize),
}

/// The steps of a simple JSONPath, inline for the usual one or two.
type SimplePath = smallvec::SmallVec<[Step; 2]>;

/// The steps of a JSONPath made only of member names (`.name`, ASCII) and non-negative
/// indexes (`[3]`), or `None` for any other path.
fn simple_path(source: &str) -> Option<SimplePath> {
    let mut rest = source.strip_prefix('$')?.as_bytes();
    let mut steps = SimplePath::new();
    while let Some((&first, tail)) = rest.split_first() {
        let taken = match first {
            b'.' => {
                let len = tail.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
                if len == 0 || tail[0].is_ascii_digit() {
                    return None;
                }
                steps.push(Step::Name(ShortBytes::from_slice(&tail[..len])));
                len
            }
            b'[' => {
                let len = tail.iter().take_while(|c| c.is_ascii_digit()).count();
                if len == 0 || (len > 1 && tail[0] == b'0') || tail.get(len) != Some(&b']') || len > 9 {
                    return None;
                }
                steps.push(Step::Index(std::str::from_utf8(&tail[..len]).ok()?.parse().ok()?));
                len + 1
            }
            _ => return None,
        };
        rest = &tail[taken..];
    }
    Some(steps)
}

/// The node a simple JSONPath selects from node `n`, if any.
fn walk(dom: &Dom<'_>, mut n: usize, steps: &[Step]) -> Option<usize> {
    for step in steps {
        n = match (step, dom.node(n).kind) {
            (Step::Name(name), Kind::Object) => dom.get(n, name)?,
            (Step::Index(i), Kind::Array) => dom.nth(n, *i)?,
            _ => return None,
        };
    }
    Some(n)
}

/// Whether the body view of `body`, when it covers it, reads what the full parse reads: `None`
/// when the view leaves the body to the full parse, `Some(false)` when the two disagree (or the
/// full parse refuses a body the view took). For the fuzz targets (`crate::fuzzing`).
pub(crate) fn view_agrees(body: &[u8]) -> Option<bool> {
    let parsed = dom::parse(body)?;
    let exact = Opts { order: false, extra: false };
    Some(crate::request::parse_json(body).is_some_and(|v| json_matches_dom(&v, &parsed.view(), 0, exact)))
}

pub(crate) mod dom;
mod json_eq;

#[cfg(test)]
mod dom_tests;
#[cfg(test)]
mod tests;
