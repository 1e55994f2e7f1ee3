use serde_json::{json, Value};

use super::*;

const EXAMPLE: &str = include_str!("../../tests/data/legacy-1.0.json");

fn doc(rules: Value) -> Value {
    json!({"version": "1.0", "data": {"project": "shop", "rules": rules}})
}

fn one_rule(rule: Value) -> Result<Converted, ImportError> {
    convert(&doc(json!([rule])), None)
}

fn error(result: Result<Converted, ImportError>) -> String {
    result.expect_err("refused").to_string()
}

/// The mockplane rule a 1.0 rule becomes, as JSON.
fn converted(rule: Value) -> Value {
    let c = one_rule(rule).unwrap_or_else(|e| panic!("{e}"));
    serde_json::to_value(&c.imported.set.rules[0]).expect("a rule serializes")
}

#[test]
fn the_example_export_becomes_the_staging_rules_with_the_script_rule_reported_and_disabled() {
    let c = convert_text(EXAMPLE, Some("staging")).unwrap_or_else(|e| panic!("{e}"));
    let expected = r#"project: shop
environment: staging
variables:
  REGION: eu-west-1
rules:
- id: list-users
  name: List users
  priority: 10
  tags:
  - users
  - read
  match:
    method: GET
    path: /users
    query:
      page: '1'
  response:
    status: 200
    headers:
      Content-Type: application/json
      X-Total-Count: '1'
    json:
    - id: 1
      name: Ada
- id: get-user
  match:
    method: GET
    path: /users/{id}
  response:
    status: 200
    headers:
      Content-Type: application/json
    body: '{"id": 1}'
    delay:
      fixed: 100
- id: search
  match:
    method:
    - GET
    - POST
    path:
      regex: /search/[a-z]+
    headers:
      Accept:
        regex: .*xml.*
  response:
    status: 200
    headers:
      Content-Type: application/xml
    body: <results/>
    delay:
      uniform:
        min: 20
        max: 80
- id: admin
  match:
    method: GET
    path:
      prefix: /admin/
    client_ip:
    - 10.0.0.0/8
    - 127.0.0.1
  response:
    status: 200
    headers:
      Content-Type: text/html; charset=utf-8
    body: <h1>Admin</h1>
    delay:
      normal:
        mean: 50.0
        stddev: 10.0
- id: vip-only
  enabled: false
  match:
    method: GET
    path: /vip
  response:
    status: 200
    headers:
      Content-Type: text/plain; charset=utf-8
    body: welcome
- id: slow-down
  priority: 5
  enabled: false
  tags:
  - chaos
  match:
    method: POST
    path: /orders
  response:
    status: 503
    headers:
      Content-Type: text/plain; charset=utf-8
    body: busy
    delay:
      step:
        base: 100
        step: 50
        max: 1000
"#;
    assert_eq!(c.imported.set.to_yaml(), expected);
    assert_eq!(c.origins, [0, 1, 2, 3, 4, 6], "the dev-only rule is left out");
    assert_eq!(
        c.imported.unsupported.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["data.rules[4].match: script matchers are not supported (mockplane has no scripting); the rule \"vip-only\" is imported disabled, with the rest of its match: rewrite the match and enable it"]
    );
    mockplane_rules::validate(&c.imported.set, &Default::default()).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn each_environment_gets_its_own_rules_and_variables_and_an_unnamed_one_is_asked_for() {
    let dev = convert_text(EXAMPLE, Some("dev")).unwrap().imported.set;
    let ids: Vec<&str> = dev.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["list-users", "get-user", "search", "vip-only", "logo", "slow-down"]);
    assert_eq!(dev.variables["REGION"], "local");
    assert_eq!(dev.rules[4].response.as_ref().and_then(|r| r.base64.as_deref()), Some("iVBORw0KGgo="));
    // By id as well as by name.
    assert_eq!(convert_text(EXAMPLE, Some("11")).unwrap().imported.set, dev);
    assert_eq!(
        error(convert_text(EXAMPLE, None)),
        "data.environments: the document has 2 environments (staging, dev): name the one to import with --env PROJECT/NAME"
    );
    assert_eq!(
        error(convert_text(EXAMPLE, Some("prod"))),
        "data.environments: the document has no environment \"prod\"; it has staging, dev: name one of them with --env PROJECT/NAME"
    );
    // One environment is the one imported, whatever the target is called.
    let single = json!({"version": "1.0", "data": {"environments": ["qa"], "rules": []}});
    assert_eq!(convert(&single, Some("copy")).unwrap().imported.set.environment.as_deref(), Some("qa"));
}

#[test]
fn the_delay_forms_whose_intent_is_clear_are_one_delay() {
    let fixed = json!({"fixed": 100});
    for delay in [
        json!(100),
        json!({"fixed": 100}),
        json!({"type": "fixed", "ms": 100}),
        json!({"type": "Fixed", "value": 100}),
    ] {
        let rule = converted(json!({"id": "d", "response": {"delay": delay}}));
        assert_eq!(rule["response"]["delay"], fixed, "{delay}");
    }
    let random = converted(json!({"id": "d", "response": {"delay": {"type": "random", "min": 1, "max": 9}}}));
    assert_eq!(random["response"]["delay"], json!({"uniform": {"min": 1, "max": 9}}));
}

#[test]
fn an_unknown_field_or_form_is_an_error_at_its_place() {
    assert_eq!(
        error(one_rule(json!({"id": "a", "respone": {}}))),
        "data.rules[0].respone: unknown field \"respone\", expected one of id, name, environment, environments, match, response, priority, enabled, tags, created_at, updated_at"
    );
    assert_eq!(
        error(one_rule(json!({"id": "a", "match": {"type": "glob"}}))),
        "data.rules[0].match.type: expected simple, regex or script, found \"glob\""
    );
    assert_eq!(
        error(one_rule(json!({"id": "a", "response": {"delay": {"type": "exponential", "mean": 3}}}))),
        "data.rules[0].response.delay.type: unknown delay \"exponential\", expected fixed, random, normal or step"
    );
    assert_eq!(
        error(one_rule(json!({"id": "a", "response": {"delay": {"random": 5}}}))),
        "data.rules[0].response.delay.random: expected a map with min, found 5"
    );
    assert_eq!(
        error(one_rule(json!({"id": "a", "response": {"content_type": "YAML"}}))),
        "data.rules[0].response.content_type: expected JSON, XML, HTML, Text, Binary or a media type (application/json), found \"YAML\""
    );
    assert_eq!(
        error(one_rule(json!({"id": "a", "environment": "prod"}))),
        "data.rules[0].environment: no environment \"prod\" in data.environments"
    );
    assert_eq!(
        error(convert(
            &json!({"version": "1.0", "data": {"rules": [{"id": "a", "response": {"status_code": "teapot"}}]}}),
            None
        )),
        "data.rules[0].response.status_code: expected an HTTP status, found \"teapot\""
    );
    assert_eq!(
        error(convert_text("{\"version\": \"1.0\",", None)).split(" (").next(),
        Some("the document: not JSON")
    );
}

#[test]
fn a_place_in_the_converted_set_names_the_rule_of_the_document() {
    let c = convert_text(EXAMPLE, Some("dev")).unwrap();
    assert_eq!(c.source_place("rules[4].response.base64"), "data.rules[5].response.base64");
    assert_eq!(c.source_place("variables.REGION"), "variables.REGION");
}

#[test]
fn a_document_is_detected_by_its_version_and_data() {
    assert!(is_legacy(&serde_json::from_str(EXAMPLE).unwrap()));
    assert!(!is_legacy(&json!({"version": "1.0", "rules": []})));
    assert!(!is_legacy(&json!({"format": "mockplane/v1", "rules": []})));
}
