//! A rule's `validate` block and the `json_schema` body operator, served: requests sent over
//! HTTP to a real data plane get the rule's answer when they are valid, and a problem document
//! naming what is wrong when they are not.

mod util;

use mockplane_dataplane::IoDriver;
use serde_json::Value;
use util::{client, Server};

const RULES: &str = r#"
rules:
  - id: get-pet
    match: { method: GET, path: "/pets/{petId}" }
    validate:
      path: { petId: { schema: { type: integer, minimum: 1 } } }
      query: { fields: { schema: { type: array, items: { enum: [name, tag] } } } }
      headers: { x-api-key: { required: true } }
    response: { json: { id: 1, name: Rex } }
  - id: add-pet
    match: { method: POST, path: /pets }
    validate:
      body:
        required: true
        schema: { type: object, required: [name], properties: { name: { type: string }, age: { type: integer } } }
    response: { status: 201, json: { created: true } }
  - id: cats
    match: { method: POST, path: /animals, body: { json_schema: { properties: { kind: { const: cat } }, required: [kind] } } }
    response: { body: a cat }
  - id: other-animals
    match: { method: POST, path: /animals }
    response: { body: another animal }
"#;

fn send(r: reqwest::blocking::RequestBuilder) -> (u16, Option<String>, String) {
    let r = r.send().expect("an answer");
    let status = r.status().as_u16();
    let ctype = r.headers().get("content-type").map(|v| v.to_str().expect("ascii").to_owned());
    (status, ctype, r.text().expect("a body"))
}

fn problem(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn invalid_parameters_get_a_400_problem_document_and_valid_ones_the_answer() {
    let server = Server::start(IoDriver::Auto, RULES);
    let http = client();
    let get = |path: &str, key: bool| {
        let r = http.get(server.url(path));
        send(if key { r.header("x-api-key", "k") } else { r })
    };
    let (status, _, body) = get("/pets/7?fields=name,tag", true);
    assert_eq!((status, body.as_str()), (200, r#"{"id":1,"name":"Rex"}"#));

    let (status, ctype, body) = get("/pets/seven", true);
    assert_eq!((status, ctype.as_deref()), (400, Some("application/problem+json")));
    let doc = problem(&body);
    assert_eq!(doc["status"], 400);
    assert_eq!(doc["errors"][0]["in"], "path");
    assert_eq!(doc["errors"][0]["name"], "petId");
    assert!(doc["detail"].as_str().unwrap().contains("integer"), "{doc}");

    let doc = problem(&get("/pets/7", false).2);
    assert_eq!(
        doc["detail"],
        "header parameter \"x-api-key\": the header parameter \"x-api-key\" is required"
    );
    let doc = problem(&get("/pets/7?fields=name,age", true).2);
    assert_eq!(doc["errors"][0]["pointer"], "/1", "{doc}");
}

#[test]
fn an_invalid_body_gets_a_422_naming_the_pointer() {
    let server = Server::start(IoDriver::Auto, RULES);
    let http = client();
    let post = |body: &'static str| {
        send(http.post(server.url("/pets")).header("content-type", "application/json").body(body))
    };
    assert_eq!(post(r#"{"name":"Rex","age":3}"#).0, 201);
    let (status, ctype, body) = post(r#"{"name":"Rex","age":"three"}"#);
    assert_eq!((status, ctype.as_deref()), (422, Some("application/problem+json")));
    let doc = problem(&body);
    assert_eq!(doc["errors"][0]["pointer"], "/age");
    assert!(doc["detail"].as_str().unwrap().starts_with("body at /age: "), "{doc}");
    assert_eq!(problem(&post("").2)["detail"], "body: the request body is required");
}

#[test]
fn json_schema_chooses_between_rules() {
    let server = Server::start(IoDriver::Auto, RULES);
    let http = client();
    let post = |body: &'static str| send(http.post(server.url("/animals")).body(body)).2;
    assert_eq!(post(r#"{"kind":"cat","name":"Tom"}"#), "a cat");
    assert_eq!(post(r#"{"kind":"dog"}"#), "another animal");
    assert_eq!(post("kind=cat"), "another animal");
}

#[test]
fn a_bad_schema_is_refused_with_its_place() {
    let bad = "rules:\n  - { id: a, match: { path: /a, body: { json_schema: { type: nope } } }, response: {} }\n  - { id: b, match: { path: /b }, validate: { query: { q: { schema: { $ref: \"https://example.com/s.json\" } } } }, response: {} }\n";
    let set = mockplane_rules::RuleSet::from_yaml(bad).expect("the model reads");
    let err = mockplane_rules::validate(&set, &Default::default()).expect_err("refused").to_string();
    assert!(err.contains("rules[0].match.body.json_schema: invalid JSON Schema at /type"), "{err}");
    assert!(err.contains("rules[1].validate.query.q.schema: invalid JSON Schema"), "{err}");
    assert!(err.contains("never fetched"), "{err}");
}
