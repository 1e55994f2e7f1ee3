//! Whatever the input, a rule set is either compiled or refused with errors that have places:
//! never a panic. Documents are generated from the model's own vocabulary, so they reach deep
//! into the validation code instead of failing at the first key.

use mockplane_rules::{CompileOptions, RuleSet, RuleTable};
use proptest::prelude::*;
use serde_json::{Map, Value};

const KEYS: &[&str] = &[
    "id",
    "name",
    "priority",
    "enabled",
    "tags",
    "match",
    "response",
    "sequence",
    "forward",
    "times",
    "scenario",
    "method",
    "host",
    "path",
    "query",
    "headers",
    "cookies",
    "body",
    "client_ip",
    "graphql",
    "exact",
    "prefix",
    "template",
    "regex",
    "equals",
    "contains",
    "present",
    "absent",
    "not",
    "case_insensitive",
    "json",
    "ignore_array_order",
    "ignore_extra_elements",
    "jsonpath",
    "matches",
    "and",
    "or",
    "operation",
    "variables",
    "status",
    "base64",
    "file",
    "delay",
    "faults",
    "fixed",
    "uniform",
    "normal",
    "lognormal",
    "step",
    "min",
    "max",
    "mean",
    "stddev",
    "median",
    "sigma",
    "base",
    "type",
    "probability",
    "mode",
    "responses",
    "upstream",
    "url",
    "state",
    "next",
    "x-token",
];

const STRINGS: &[&str] = &[
    "",
    "/",
    "/a/{id}",
    "/a/{*rest}",
    "/{",
    "(",
    "[a-",
    "$.a",
    "$[",
    "$..*",
    "{{request.path}}",
    "{{",
    "{{jsonPath request.body '$.x'}}",
    "{{now format='yyyy'}}",
    "GET",
    "get",
    "ANY",
    "*.x.com",
    "10.0.0.0/8",
    "::1/129",
    "abort",
    "connection_reset",
    "cycle",
    "query",
    "mutation",
    "http://h:1",
    "ftp://x",
    "AAEC",
    "%%%",
    "é",
    "\u{0}",
    "Started",
];

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop_oneof![Just(-1i64), Just(0), Just(1), Just(3), Just(200), Just(99999), any::<i64>()]
            .prop_map(Value::from),
        prop_oneof![Just(0.5f64), Just(-0.1), Just(1.5), Just(f64::MAX)].prop_map(Value::from),
        prop::sample::select(STRINGS).prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|kvs| {
                Value::Object(kvs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Map<_, _>>())
            }),
        ]
    })
}

const RULE_KEYS: &[&str] =
    &["name", "priority", "enabled", "match", "response", "sequence", "forward", "times", "scenario"];

/// A rule-shaped map: always an id, and some of the rule's own keys with arbitrary values, so
/// that most documents get past the structural checks into the compiler.
fn rule() -> impl Strategy<Value = Value> {
    (any::<u8>(), prop::collection::vec((prop::sample::select(RULE_KEYS), value()), 0..4)).prop_map(
        |(id, kvs)| {
            let mut map = Map::new();
            map.insert("id".into(), Value::from(format!("r{}", id % 4)));
            map.insert("response".into(), Value::Object(Map::new()));
            for (k, v) in kvs {
                map.insert(k.to_owned(), v);
            }
            Value::Object(map)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_document_is_compiled_or_refused_with_placed_errors(
        rules in prop::collection::vec(prop_oneof![1 => value(), 4 => rule()], 0..4)
    ) {
        let doc = serde_json::json!({ "rules": rules });
        match RuleSet::from_value(doc) {
            Ok(set) => {
                if let Err(e) = RuleTable::compile(&set, &CompileOptions::default()) {
                    prop_assert!(!e.errors.is_empty());
                    for err in &e.errors {
                        prop_assert!(!err.message.is_empty());
                        prop_assert!(err.path.starts_with("rules["), "compile error without a rule's place: {err}");
                    }
                }
            }
            Err(e) => prop_assert!(e.errors.iter().all(|err| err.path.starts_with("rules"))),
        }
    }
}
