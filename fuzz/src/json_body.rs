//! The JSON body view, the full JSON parse of a body, the JSONPath parser and the body
//! matchers that read them (`match.body` with `json`, `jsonpath`, `and` / `or` / `not`).
//!
//! The input is a first line, a body matcher as JSON (`{"jsonpath": "$.a[?@.b > 1]"}`) or else
//! a JSONPath on its own, then the request body. Checks, beyond not panicking or hanging: the
//! flat body view, where it covers a body, reads what the full parse reads; a JSON body matches
//! a `json` matcher of itself under every option; a matcher that reads only JSON reaches the
//! same verdict on the request (view first, then the parse) as on the parsed value.

use mockplane_rules::fuzzing::{parse_json, parse_jsonpath, view_agrees, BodyMatcher};
use mockplane_rules::model::BodyMatch;

/// The target: `<matcher or JSONPath>\n<body>`.
pub fn json_body(data: &[u8]) {
    let (first, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    assert_ne!(view_agrees(body), Some(false), "the body view and the full parse disagree");
    let value = parse_json(body);
    if let Some(v) = &value {
        for (order, extra) in [(false, false), (true, false), (false, true), (true, true)] {
            let spec = BodyMatch {
                json: Some(v.clone()),
                ignore_array_order: order,
                ignore_extra_elements: extra,
                ..BodyMatch::default()
            };
            let m = BodyMatcher::compile(&spec).expect("a json matcher of any value compiles");
            assert!(m.matches_body(body), "a body does not match itself (order {order}, extra {extra})");
            assert!(m.matches_value(v), "a value does not match itself (order {order}, extra {extra})");
        }
    }

    let Ok(first) = std::str::from_utf8(first) else { return };
    let spec = match serde_json::from_str::<BodyMatch>(first) {
        Ok(spec) => spec,
        Err(_) => {
            let _ = parse_jsonpath(first);
            BodyMatch { jsonpath: Some(first.to_owned()), ..BodyMatch::default() }
        }
    };
    let m = match BodyMatcher::compile(&spec) {
        Ok(m) => m,
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without a reason");
            for e in &errors {
                assert!(e.path.starts_with("body") && !e.message.is_empty(), "{e:?}");
            }
            return;
        }
    };
    let on_body = m.matches_body(body);
    if let (true, Some(v)) = (m.reads_json_only(), &value) {
        assert_eq!(on_body, m.matches_value(v), "the verdict on the body and on its parse differ");
    }
}
