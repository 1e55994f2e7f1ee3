use serde_json::json;

use super::*;
use crate::request::Request;

fn spec(v: Value) -> BodyMatch {
    serde_json::from_value(v).expect("valid BodyMatch")
}

fn compile(v: Value) -> BodyMatcher {
    let mut errors = Errors::default();
    let m = BodyMatcher::compile(&spec(v), &Place::Root("body"), &mut errors);
    assert!(errors.list.is_empty(), "{:?}", errors.list);
    m.expect("compiled")
}

/// The errors compiling `v` at `rules[0].match.body`, as `(place, message)`.
fn errors_of(v: Value) -> Vec<(String, String)> {
    let mut errors = Errors::default();
    let m = BodyMatcher::compile(&spec(v), &Place::Root("rules[0].match.body"), &mut errors);
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
    assert_eq!(d(json!({"json": 1, "ignore_array_order": true})), "body is JSON 1 (ignoring array order)");
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
            "set exactly one of equals, contains, regex, json, jsonpath, json_schema, and, or, not \
             (found: equals, regex)"
                .to_owned()
        )]
    );
    assert_eq!(
        errors_of(json!({})),
        [(
            "rules[0].match.body".to_owned(),
            "set exactly one of equals, contains, regex, json, jsonpath, json_schema, and, or, not \
             (found: none)"
                .to_owned()
        )]
    );
    let all = errors_of(json!({
        "equals": "", "contains": "", "regex": "", "json": null, "jsonpath": "$", "json_schema": true,
        "and": [{"equals": ""}], "or": [{"equals": ""}], "not": {"equals": ""}
    }));
    // `json: null` is present: it means the JSON value null.
    assert_eq!(all.len(), 1);
    assert!(all[0]
        .1
        .ends_with("(found: equals, contains, regex, json, jsonpath, json_schema, and, or, not)"));
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

#[test]
fn json_schema_holds_for_a_valid_json_body_only() {
    let m = compile(json!({"json_schema": {
        "type": "object", "required": ["name"],
        "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}
    }}));
    assert!(on_body(&m, br#"{"name":"rex","age":3}"#));
    assert!(!on_body(&m, br#"{"age":3}"#), "a required member is missing");
    assert!(!on_body(&m, br#"{"name":"rex","age":-1}"#), "below the minimum");
    assert!(!on_body(&m, b"name=rex"), "not JSON");
    assert!(m.matches_value(&json!({"name": "x"})));
    assert!(m.describe().starts_with("body is valid against the JSON Schema {"), "{}", m.describe());
}

#[test]
fn json_schema_follows_the_draft_the_schema_names() {
    // Draft 4's boolean `exclusiveMaximum` modifies `maximum`; in 2020-12 it would be an error.
    let m = compile(json!({"json_schema": {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "number", "maximum": 10, "exclusiveMaximum": true
    }}));
    assert!(on_body(&m, b"9.5"));
    assert!(!on_body(&m, b"10"));
}

#[test]
fn json_schema_inside_not_and_jsonpath() {
    let m = compile(json!({"jsonpath": "$.items[0]", "matches": {"json_schema": {"type": "integer"}}}));
    assert!(on_body(&m, br#"{"items":[1,"a"]}"#));
    assert!(!on_body(&m, br#"{"items":["a",1]}"#));
    let not = compile(json!({"not": {"json_schema": {"type": "array"}}}));
    assert!(not.matches_value(&json!({})));
    assert!(on_body(&not, b"not json"), "a body that is not JSON fails the schema, so `not` holds");
}

#[test]
fn json_schema_errors_name_their_place() {
    let errors = errors_of(json!({"json_schema": {"type": "whatever"}}));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "rules[0].match.body.json_schema");
    assert!(errors[0].1.contains("invalid JSON Schema at /type"), "{}", errors[0].1);
    let errors = errors_of(json!({"and": [{"json_schema": {"$ref": "other.json#/pet"}}]}));
    assert_eq!(errors[0].0, "rules[0].match.body.and[0].json_schema");
    assert!(errors[0].1.contains("never fetched"), "{}", errors[0].1);
    assert_eq!(places(json!({"json_schema": 3})), ["rules[0].match.body.json_schema"]);
}
