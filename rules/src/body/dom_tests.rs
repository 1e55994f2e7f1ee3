//! The body's flat view against the `serde_json::Value` evaluation it replaces: on generated
//! bodies (duplicate keys, escapes, exponents, odd whitespace, truncated text) and generated
//! matchers, `matches` gives the verdict of evaluating on the parsed `Value`.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::request::{parse_json, Request};

/// The evaluation before the view: JSON operators on the body parsed into a `Value`.
fn reference(m: &BodyMatcher, body: &[u8]) -> bool {
    match &m.op {
        Op::Equals(s) => body == s.as_bytes(),
        Op::Contains { finder, .. } => finder.find(body).is_some(),
        Op::Regex { regex, .. } => regex.is_match(body),
        Op::Json { .. } | Op::JsonPath { .. } | Op::JsonSchema { .. } => {
            parse_json(body).is_some_and(|v| m.matches_value(&v))
        }
        Op::And(list) => list.iter().all(|m| reference(m, body)),
        Op::Or(list) => list.iter().any(|m| reference(m, body)),
        Op::Not(m) => !reference(m, body),
    }
}

const KEYS: &[&str] = &["a", "b", "id", "x y", "é"];
const STRINGS: &[&str] = &["", "a", "b", "7", "x\"y", "line\nbreak", "é", "true", "1"];
const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "1.0",
    "1.5",
    "-2",
    "7",
    "1e0",
    "10E-1",
    "123456789012345678901",
    "0.1000000000000000055",
];

/// A JSON document as text, written by hand so keys can repeat and whitespace can vary.
fn doc(depth: u32) -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        prop::sample::select(NUMBERS).prop_map(str::to_owned),
        prop::sample::select(STRINGS).prop_map(|s| serde_json::to_string(s).unwrap()),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    let ws = prop::sample::select(&["", " ", "\n\t"][..]);
    prop_oneof![
        2 => leaf,
        1 => (prop::collection::vec(doc(depth - 1), 0..4), ws.clone())
            .prop_map(|(items, ws)| format!("[{ws}{}]", items.join(&format!(",{ws}")))),
        3 => (prop::collection::vec((prop::sample::select(KEYS), doc(depth - 1)), 0..5), ws)
            .prop_map(|(members, ws)| {
                let members: Vec<String> =
                    members.iter().map(|(k, v)| format!("{}{ws}:{v}", serde_json::to_string(k).unwrap())).collect();
                format!("{{{ws}{}}}", members.join(","))
            }),
    ]
    .boxed()
}

/// A body: a document, sometimes cut short or followed by garbage.
fn body() -> impl Strategy<Value = Vec<u8>> {
    (doc(3), 0..10u8, any::<prop::sample::Index>()).prop_map(|(text, how, at)| {
        let mut bytes = text.into_bytes();
        match how {
            0 => bytes.truncate(at.index(bytes.len() + 1)),
            1 => bytes.extend_from_slice(b" x"),
            2 => bytes.extend_from_slice(b" \n"),
            _ => {}
        }
        bytes
    })
}

/// An expected value for `json`, from the same small vocabulary as the bodies.
fn expected(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(NUMBERS).prop_map(|n| serde_json::from_str(n).unwrap_or(json!(0))),
        prop::sample::select(STRINGS).prop_map(|s| json!(s)),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        2 => leaf,
        1 => prop::collection::vec(expected(depth - 1), 0..3).prop_map(Value::Array),
        2 => prop::collection::vec((prop::sample::select(KEYS), expected(depth - 1)), 0..3)
            .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
    ]
    .boxed()
}

const PATHS: &[&str] = &[
    "$", "$.a", "$.b", "$.a.b", "$.id", "$[0]", "$[1]", "$.a[0]", "$.b[1].a", "$..a", "$['x y']", "$.a[*]",
    "$[-1]",
];

/// A matcher specification.
fn matcher(depth: u32) -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        prop::sample::select(STRINGS).prop_map(|s| json!({ "equals": s })),
        prop::sample::select(STRINGS).prop_map(|s| json!({ "contains": s })),
        Just(json!({ "regex": "[0-9.]+" })),
        (expected(2), any::<bool>(), any::<bool>()).prop_map(
            |(v, order, extra)| json!({ "json": v, "ignore_array_order": order, "ignore_extra_elements": extra })
        ),
        prop::sample::select(PATHS).prop_map(|p| json!({ "jsonpath": p })),
    ];
    if depth == 0 {
        return leaf.boxed();
    }
    prop_oneof![
        3 => leaf,
        1 => (prop::sample::select(PATHS), matcher(depth - 1)).prop_map(|(p, m)| json!({ "jsonpath": p, "matches": m })),
        1 => prop::collection::vec(matcher(depth - 1), 1..3).prop_map(|l| json!({ "and": l })),
        1 => prop::collection::vec(matcher(depth - 1), 1..3).prop_map(|l| json!({ "or": l })),
        1 => matcher(depth - 1).prop_map(|m| json!({ "not": m })),
    ]
    .boxed()
}

proptest! {
    #[test]
    fn the_view_decides_as_the_value_does(spec in matcher(2), body in body()) {
        let spec: BodyMatch = serde_json::from_value(spec).expect("valid spec");
        let mut errors = Errors::default();
        let m = BodyMatcher::compile(&spec, &Place::Root("body"), &mut errors).expect("compiles");
        let req = Request::new("POST", "/", &[], &body);
        let cx = RequestContext::new(&req);
        prop_assert_eq!(
            m.matches(&cx),
            reference(&m, &body),
            "body {:?}, view {}",
            String::from_utf8_lossy(&body),
            dom::parse(&body).is_some()
        );
    }
}

#[test]
fn simple_paths_are_names_and_indexes() {
    assert_eq!(simple_path("$").map(|s| s.into_vec()), Some(vec![]));
    assert_eq!(
        simple_path("$.a_1[0][12]").map(|s| s.into_vec()),
        Some(vec![Step::Name(ShortBytes::from_slice(b"a_1")), Step::Index(0), Step::Index(12)])
    );
    for complex in ["$..a", "$.a[*]", "$[-1]", "$[01]", "$.1a", "$['a']", "$.a ", "a", "$.a[?@.b]", "$.é"] {
        assert_eq!(simple_path(complex), None, "{complex}");
    }
}

#[test]
fn the_view_covers_plain_bodies_and_leaves_the_rest() {
    assert!(dom::parse(br#"{"a": [1, 2.5, "x", true, null, {}], "b": {"c": -3}}"#).is_some());
    assert!(dom::parse("{\"é\": \"ü\"}".as_bytes()).is_some(), "UTF-8 in strings");
    for other in [
        &br#"{"a": "\n"}"#[..],
        br#"{"a": "\\"}"#,
        b"1e3",
        b"01",
        b"[1,]",
        b"",
        b"{} x",
        b"\xff",
        b"12345678901234567890",
        // Invalid UTF-8 inside a string, and a byte past ASCII outside one.
        b"{\"a\": \"\xff\"}",
        b"{\"\xc3\": 1}",
        b"[1, \xc3\xa9]",
    ] {
        assert!(dom::parse(other).is_none(), "{}", String::from_utf8_lossy(other));
    }
}

#[test]
fn repeated_keys_count_once_and_the_last_one_wins() {
    let cases = [
        (json!({"json": {"a": 1}}), &br#"{"a": 0, "a": 1}"#[..], true),
        (json!({"json": {"a": 0}}), br#"{"a": 0, "a": 1}"#, false),
        (json!({"json": {"a": 1, "b": 2}}), br#"{"a": 1, "b": 2, "a": 1}"#, true),
        (json!({"jsonpath": "$.a", "matches": {"equals": "y"}}), br#"{"a": "x", "a": "y"}"#, true),
        (json!({"jsonpath": "$.a", "matches": {"equals": "x"}}), br#"{"a": "x", "a": "y"}"#, false),
    ];
    for (spec, body, want) in cases {
        let spec: BodyMatch = serde_json::from_value(spec).expect("valid spec");
        let m = BodyMatcher::compile(&spec, &Place::Root("body"), &mut Errors::default()).expect("compiles");
        assert!(dom::parse(body).is_some());
        let req = Request::new("POST", "/", &[], body);
        assert_eq!(m.matches(&RequestContext::new(&req)), want, "{}", String::from_utf8_lossy(body));
        assert_eq!(reference(&m, body), want);
    }
}
