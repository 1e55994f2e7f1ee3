//! A refused rule set lists every error found in one go: shape errors (unknown fields, wrong
//! types, unknown variants) do not hide the meaning errors of other rules, and one rule can
//! have several shape errors, each at its own place.

use mockplane_rules::load::MAX_SHAPE_ERRORS;
use mockplane_rules::{RuleSet, RuleSetError};

fn places(err: &RuleSetError) -> Vec<&str> {
    err.errors.iter().map(|e| e.path.as_str()).collect()
}

/// The message at `place`; panics with the whole refusal if there is none.
fn message_at<'a>(err: &'a RuleSetError, place: &str) -> &'a str {
    err.errors
        .iter()
        .find(|e| e.path == place)
        .map(|e| e.message.as_str())
        .unwrap_or_else(|| panic!("no error at {place}:\n{err}"))
}

fn rule_index(place: &str) -> Option<usize> {
    place.strip_prefix("rules[")?.split(']').next()?.parse().ok()
}

fn assert_in_rule_order(err: &RuleSetError) {
    let indexes: Vec<usize> = err.errors.iter().map(|e| rule_index(&e.path).map_or(0, |i| i + 1)).collect();
    assert!(indexes.windows(2).all(|w| w[0] <= w[1]), "errors out of order:\n{err}");
}

#[test]
fn a_wrong_type_in_one_rule_does_not_hide_a_bad_regex_in_another() {
    // The audit's p3.json.
    let err = RuleSet::from_json(
        r#"{"rules":[{"id":"a","match":{"path":{"regex":"("}},"response":{}},{"id":"b","response":{"status":"x"}}]}"#,
    )
    .unwrap_err();
    assert_eq!(places(&err), ["rules[0].match.path.regex", "rules[1].response.status"], "{err}");
    assert!(message_at(&err, "rules[0].match.path.regex").starts_with("invalid regex"), "{err}");
    assert_eq!(message_at(&err, "rules[1].response.status"), "invalid type: string \"x\", expected u16");
    assert!(err.to_string().starts_with("rule set refused, 2 errors:"), "{err}");
}

/// The audit's p1.yaml, with a fault type misspelled in rules[6].
const MANY: &str = r#"
rules:
  - { id: a, match: { path: "/files/{*rest}/x" }, response: {} }
  - { id: b, match: { path: "/a/{id}/{id}" }, response: {} }
  - { id: c, match: { path: "/a/{}" }, response: {} }
  - { id: d, response: { template: true, body: "{{jsonPath request.body '$['}}" } }
  - { id: e, match: { cookies: { s: { regex: "(" } }, query: { q: { regex: "[" } } }, response: {} }
  - { id: f, match: { client_ip: ["::1/129", "300.1.1.1", "fe80::/10"] }, response: {} }
  - { id: g, response: { status: 600, faults: [ { type: abrt, status: 200, probability: 1.5 } ] } }
  - { id: h, response: { faults: [ { type: empty_response, probability: 0.7 }, { type: random_data, probability: 0.6 } ] } }
  - { id: i, response: { delay: { lognormal: { median: 10, sigma: 11 } } } }
  - { id: j, response: { delay: { step: { base: 100, step: 10, max: 50 } } } }
  - { id: k, sequence: { responses: [] } }
  - { id: l, match: { headers: { x: { regex: "a", case_insensitive: true } } }, response: {} }
  - { id: m, match: { host: "bad host" }, response: {} }
  - { id: n, match: { path: "relative" }, response: {} }
  - { id: o, match: { path: { regex: "^/x$" } }, response: {} }
  - { id: p, response: { delay: { fixed: 1, uniform: { min: 1, max: 2 } } } }
  - { id: q, response: { body: x, json: 1 } }
  - { id: r, response: { base64: "!!!" } }
  - { id: s, response: { file: /nonexistent/zz } }
"#;

#[test]
fn a_bad_fault_type_does_not_hide_the_other_rules_errors() {
    let err = RuleSet::from_yaml(MANY).unwrap_err();
    assert_eq!(
        places(&err),
        [
            "rules[0].match.path",
            "rules[1].match.path",
            "rules[2].match.path",
            "rules[3].response.body",
            "rules[4].match.query.q.regex",
            "rules[4].match.cookies.s.regex",
            "rules[5].match.client_ip[0]",
            "rules[5].match.client_ip[1]",
            "rules[6].response.faults[0].type",
            "rules[7].response.faults",
            "rules[8].response.delay.lognormal",
            "rules[9].response.delay.step",
            "rules[10].sequence.responses",
            "rules[11].match.headers.x.case_insensitive",
            "rules[12].match.host",
            "rules[13].match.path",
            "rules[15].response.delay",
            "rules[16].response",
            "rules[17].response.base64",
            "rules[18].response.file",
        ],
        "{err}"
    );
    assert!(
        message_at(&err, "rules[6].response.faults[0].type").starts_with("unknown variant `abrt`"),
        "{err}"
    );
    assert!(message_at(&err, "rules[3].response.body").contains("bad JSONPath"), "{err}");
    assert!(message_at(&err, "rules[18].response.file").starts_with("cannot read /nonexistent/zz"), "{err}");
    // The fault whose type was dropped is not also reported as missing its type.
    assert!(!err.to_string().contains("missing field"), "{err}");
    assert!(err.to_string().starts_with("rule set refused, 20 errors:"), "{err}");
}

#[test]
fn every_misspelled_field_of_a_rule_is_listed() {
    // The audit's p2.yaml.
    let err =
        RuleSet::from_yaml("rules:\n  - id: a\n    match: { pth: /a }\n    response: { stauts: 200 }\n")
            .unwrap_err();
    assert_eq!(places(&err), ["rules[0].match.pth", "rules[0].response.stauts"], "{err}");
    assert!(
        message_at(&err, "rules[0].match.pth").starts_with("unknown field `pth`, expected one of `method`")
    );
    assert!(
        message_at(&err, "rules[0].response.stauts").starts_with("unknown field `stauts`, expected one of")
    );
}

#[test]
fn unknown_fields_are_listed_at_every_level_with_wrong_types_and_variants() {
    let err = RuleSet::from_yaml(
        r#"
projct: shop
rules:
  - id: a
    nme: typo
    priority: high
    match:
      methd: GET
      headers: { x-token: { equal: abc }, "x y": { regx: a } }
      body: { and: [ { json: 1 }, { contians: b } ] }
    response:
      delay: { fixd: 10 }
      faults: [ { type: abort }, { type: abort, probabilty: 0.5 } ]
    sequence: { mode: loop, responses: [] }
  - id: b
    response: { body: fine }
"#,
    )
    .unwrap_err();
    assert_eq!(
        places(&err),
        [
            "projct",
            "rules[0].nme",
            "rules[0].priority",
            "rules[0].match.methd",
            "rules[0].match.headers.x-token.equal",
            "rules[0].match.headers[\"x y\"].regx",
            "rules[0].match.body.and[1].contians",
            "rules[0].response.delay.fixd",
            "rules[0].response.faults[1].probabilty",
            "rules[0].sequence.mode",
        ],
        "{err}"
    );
    assert!(message_at(&err, "projct").starts_with("unknown field `projct`"), "{err}");
    assert_eq!(message_at(&err, "rules[0].priority"), "invalid type: string \"high\", expected i32");
    assert!(message_at(&err, "rules[0].sequence.mode").starts_with("unknown variant `loop`"), "{err}");
}

#[test]
fn a_field_reported_missing_is_listed_once_and_only_when_it_is() {
    // A misspelled required field: the unknown one and the missing one are both real.
    let err =
        RuleSet::from_yaml("rules:\n  - { id: a, response: { faults: [ { typ: abort } ] } }\n").unwrap_err();
    assert_eq!(places(&err), ["rules[0].response.faults[0].typ", "rules[0].response.faults[0]"], "{err}");
    assert!(message_at(&err, "rules[0].response.faults[0]").starts_with("missing field `type`"), "{err}");
    // A required field of the wrong type is not reported missing as well.
    let err = RuleSet::from_yaml("rules:\n  - { id: 5, response: {}, nme: x }\n").unwrap_err();
    assert_eq!(places(&err), ["rules[0].id", "rules[0].nme"], "{err}");
    assert!(!err.to_string().contains("missing field"), "{err}");
}

#[test]
fn duplicate_ids_count_the_rules_with_shape_errors() {
    let err = RuleSet::from_yaml(
        r#"
rules:
  - { id: a, response: { stauts: 200 } }
  - { id: a, response: {} }
  - { id: b, response: {} }
  - { id: b, response: { status: "x" } }
  - { id: 7, response: {} }
  - { id: 7, response: {} }
"#,
    )
    .unwrap_err();
    assert_eq!(
        places(&err),
        [
            "rules[0].response.stauts",
            "rules[1].id",
            "rules[3].response.status",
            "rules[3].id",
            "rules[4].id",
            "rules[5].id",
        ],
        "{err}"
    );
    assert_eq!(message_at(&err, "rules[1].id"), "duplicate id \"a\" (first used by rules[0])");
    assert_eq!(err.errors[3].message, "duplicate id \"b\" (first used by rules[2])");
    // Ids that cannot be read are not duplicates of each other.
    assert!(err.errors[4].message.starts_with("invalid type: integer `7`"), "{err}");
    assert!(err.errors[5].message.starts_with("invalid type: integer `7`"), "{err}");
}

#[test]
fn a_rule_lists_at_most_so_many_shape_errors() {
    let fields: String = (0..MAX_SHAPE_ERRORS + 5).map(|i| format!(", f{i}: 1")).collect();
    let err = RuleSet::from_yaml(&format!("rules:\n  - {{ id: a, response: {{}}{fields} }}\n")).unwrap_err();
    assert_eq!(err.errors.len(), MAX_SHAPE_ERRORS + 1, "{err}");
    assert!(err.errors[..MAX_SHAPE_ERRORS].iter().all(|e| e.message.starts_with("unknown field")), "{err}");
    let last = err.errors.last().unwrap();
    assert_eq!(last.path, "rules[0]");
    assert!(last.message.contains(&format!("only the first {MAX_SHAPE_ERRORS} are listed")), "{err}");
}

#[test]
fn top_level_shape_errors_do_not_hide_meaning_errors_unless_they_break_the_context() {
    // An unknown top-level field: the rules are still checked, with the declared variables.
    let err = RuleSet::from_yaml(
        r#"
environmnt: staging
variables: { V: "1" }
rules:
  - { id: a, response: { template: true, body: "{{env.V}} {{env.W}}" } }
  - { id: b, match: { path: { regex: "(" } }, response: {} }
  - { id: c, response: { stauts: 1 } }
"#,
    )
    .unwrap_err();
    assert_eq!(
        places(&err),
        ["environmnt", "rules[0].response.body", "rules[1].match.path.regex", "rules[2].response.stauts"],
        "{err}"
    );
    assert!(message_at(&err, "rules[0].response.body").contains('W'), "{err}");
    assert!(!message_at(&err, "rules[0].response.body").contains("`V`"), "{err}");
    // Broken variables: the rules' meaning is not checked against a half-read context.
    let err = RuleSet::from_yaml(
        "variables: { V: [1] }\nrules:\n  - { id: a, response: { template: true, body: \"{{env.V}}\" } }\n  - { id: b, response: { stauts: 1 } }\n",
    )
    .unwrap_err();
    assert_eq!(places(&err), ["variables.V", "rules[1].response.stauts"], "{err}");
}

#[test]
fn files_named_relative_to_the_rules_file_wait_for_a_clean_read() {
    // Where `file: body.json` is depends on the rules file's folder, unknown to `parse`.
    let err = RuleSet::from_yaml(
        r#"
rules:
  - { id: a, response: { file: does-not-exist.json } }
  - { id: b, sequence: { responses: [ { file: nor-this.json, template: true } ] } }
  - { id: c, response: { file: /nonexistent/absolute.json } }
  - { id: d, response: { file: x.json, body: "both" } }
  - { id: e, response: { stauts: 1 } }
"#,
    )
    .unwrap_err();
    assert_eq!(
        places(&err),
        ["rules[2].response.file", "rules[3].response", "rules[4].response.stauts"],
        "{err}"
    );
    assert!(message_at(&err, "rules[3].response").starts_with("set at most one of body"), "{err}");
}

#[test]
fn errors_stay_in_document_order_and_nothing_panics() {
    let mut text = String::from("variables: { \"bad name\": x }\nrules:\n");
    for i in 0..40 {
        match i % 5 {
            0 => text.push_str(&format!(
                "  - {{ id: r{i}, match: {{ path: {{ regex: \"(\" }} }}, response: {{}} }}\n"
            )),
            1 => text.push_str(&format!("  - {{ id: r{i}, response: {{ stauts: 1, body: [] }} }}\n")),
            2 => text.push_str("  - 42\n"),
            3 => text.push_str(&format!(
                "  - {{ id: r{i}, match: {{ client_ip: [\"1.2.3.4/40\"] }}, response: {{}} }}\n"
            )),
            _ => text
                .push_str("  - { id: [oops], match: { headers: { x: { not: { not: { equal: 1 } } } } } }\n"),
        }
    }
    let err = RuleSet::from_yaml(&text).unwrap_err();
    assert_in_rule_order(&err);
    assert_eq!(err.errors[0].path, "variables[\"bad name\"]", "{err}");
    for i in 0..40 {
        assert!(err.errors.iter().any(|e| rule_index(&e.path) == Some(i)), "no error for rules[{i}]:\n{err}");
    }
    assert_eq!(message_at(&err, "rules[1].response.body"), "invalid type: sequence, expected a string");
    assert!(message_at(&err, "rules[4].match.headers.x.not.not.equal").starts_with("unknown field `equal`"));
}

#[test]
fn the_shape_example_in_the_rules_reference_is_what_is_printed() {
    const DOC: &str = include_str!("../../docs/rules.md");
    let start = DOC.find("rule set refused, 8 errors:").expect("the shape example in docs/rules.md");
    let printed = DOC[start..].split("\n```").next().unwrap();
    let err = RuleSet::from_yaml(
        r#"
rules:
  - id: get-user
    match: { methd: GET, pth: /users/me }
    response: { status: 200 }
  - id: search
    priority: high
    match: { headers: { x-token: { equal: abc } } }
    response: { status: 200, delay: { fixd: 10 } }
  - id: pay
    match: { path: "/pay/{id" }
    response: { status: 700 }
  - id: get-user
    response: { status: 200 }
"#,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), printed);
}

#[test]
fn an_unquoted_brace_in_a_value_is_refused_with_a_hint_to_quote_it() {
    let refusal = |yaml: &str| RuleSet::from_yaml(yaml).expect_err("invalid YAML").to_string();
    // A template that starts with `{{` reads as a mapping whose key is a mapping.
    let err =
        refusal("rules:\n  - id: a\n    response:\n      template: true\n      body: {{request.body}}\n");
    assert!(err.contains("invalid YAML: rules[0].response.body: invalid type: map"), "{err}");
    assert!(
        err.ends_with(
            "; hint: quote values that start with '{' or contain '{{', e.g. path: \"/users/{id}\" \
             (line 5 has {{request.body}} unquoted)"
        ),
        "{err}"
    );
    // Inside a flow mapping, `{` in the middle of a header value ends the plain text.
    let err = refusal(
        "rules:\n  - id: a\n    match: { path: \"/pets/{id}\" }\n    response:\n      template: true\n      headers: { location: /pets/{{request.path.id}} }\n",
    );
    assert!(err.contains("did not find expected ',' or '}' at line 6"), "{err}");
    assert!(err.ends_with("(line 6 has /pets/{{request.path.id}} unquoted)"), "{err}");
    // Other YAML mistakes get no hint, even next to quoted braces.
    let err =
        refusal("rules:\n  - id: a\n    match: { path: \"/pets/{id}\" }\n    response: { body: \"x\"\n");
    assert!(err.contains("invalid YAML: did not find expected ',' or '}'"), "{err}");
    assert!(!err.contains("hint"), "{err}");
}
