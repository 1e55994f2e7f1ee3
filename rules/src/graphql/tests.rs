use serde_json::json;

use super::*;
use crate::request::Request;

fn spec(v: Value) -> GraphqlMatch {
    serde_json::from_value(v).expect("valid GraphqlMatch")
}

fn compile(v: Value) -> GraphqlMatcher {
    let mut errors = Errors::default();
    let m = GraphqlMatcher::compile(&spec(v), &Place::Root("graphql"), &mut errors);
    assert!(errors.list.is_empty(), "{:?}", errors.list);
    m.expect("compiled")
}

fn errors_of(v: Value) -> Vec<(String, String)> {
    let mut errors = Errors::default();
    let m = GraphqlMatcher::compile(&spec(v), &Place::Root("rules[1].match.graphql"), &mut errors);
    assert!(m.is_none(), "compiled despite errors");
    errors.list.into_iter().map(|e| (e.path, e.message)).collect()
}

/// The GraphQL request of a POST with this JSON body.
fn post(body: Value) -> Option<GraphqlRequest> {
    let bytes = serde_json::to_vec(&body).expect("serializable");
    post_raw(&bytes)
}

fn post_raw(body: &[u8]) -> Option<GraphqlRequest> {
    let req = Request::new("POST", "/graphql", &[], body);
    let cx = RequestContext::new(&req);
    cx.graphql().cloned()
}

fn get(target: &str) -> Option<GraphqlRequest> {
    let req = Request::new("GET", target, &[], b"");
    let cx = RequestContext::new(&req);
    cx.graphql().cloned()
}

fn matches_post(m: &GraphqlMatcher, body: Value) -> bool {
    let bytes = serde_json::to_vec(&body).expect("serializable");
    let req = Request::new("POST", "/graphql", &[], &bytes);
    let cx = RequestContext::new(&req);
    m.matches(&cx)
}

const TWO_OPS: &str = "query GetUser($id: ID!) { user(id: $id) { name } } \
                       mutation CreateUser($name: String) { createUser(name: $name) { id } }";

#[test]
fn post_with_a_named_query() {
    let g = post(json!({"query": "query GetUser { user { id } }"})).expect("graphql");
    assert_eq!(g.operation(), GraphqlOperation::Query);
    assert_eq!(g.name(), Some("GetUser"));
    assert_eq!(g.variables(), &json!({}));
}

#[test]
fn anonymous_shorthand_is_a_query_without_name() {
    let g = post(json!({"query": "{ user { id } }", "operationName": null})).expect("graphql");
    assert_eq!(g.operation(), GraphqlOperation::Query);
    assert_eq!(g.name(), None);
    let g = post(json!({"query": "mutation { reset }"})).expect("graphql");
    assert_eq!((g.operation(), g.name()), (GraphqlOperation::Mutation, None));
    // An anonymous operation cannot be chosen by name.
    assert_eq!(post(json!({"query": "{ a }", "operationName": "A"})), None);
    // An empty name counts as absent.
    assert!(post(json!({"query": "{ a }", "operationName": ""})).is_some());
}

#[test]
fn mutations_and_subscriptions() {
    let g = post(json!({"query": "mutation Add { add }"})).expect("graphql");
    assert_eq!((g.operation(), g.name()), (GraphqlOperation::Mutation, Some("Add")));
    let g = post(json!({"query": "subscription OnAdd { added }"})).expect("graphql");
    assert_eq!(g.operation(), GraphqlOperation::Subscription);
}

#[test]
fn operation_name_selects_among_several() {
    let g = post(json!({"query": TWO_OPS, "operationName": "CreateUser"})).expect("graphql");
    assert_eq!((g.operation(), g.name()), (GraphqlOperation::Mutation, Some("CreateUser")));
    let g = post(json!({"query": TWO_OPS, "operationName": "GetUser"})).expect("graphql");
    assert_eq!((g.operation(), g.name()), (GraphqlOperation::Query, Some("GetUser")));
    // Ambiguous or unknown: not a GraphQL request.
    assert_eq!(post(json!({"query": TWO_OPS})), None);
    assert_eq!(post(json!({"query": TWO_OPS, "operationName": "Nope"})), None);
    // A single named operation is chosen without operationName.
    let g = post(json!({"query": "query Only { a }"})).expect("graphql");
    assert_eq!(g.name(), Some("Only"));
    // Fragments are not operations.
    let g = post(json!({"query": "fragment F on User { id } query Q { user { ...F } }"})).expect("graphql");
    assert_eq!(g.name(), Some("Q"));
}

#[test]
fn variables_in_post_bodies() {
    let g = post(json!({"query": "{ a }", "variables": {"id": "1", "n": 2}})).expect("graphql");
    assert_eq!(g.variables(), &json!({"id": "1", "n": 2}));
    let g = post(json!({"query": "{ a }", "variables": null})).expect("graphql");
    assert_eq!(g.variables(), &json!({}));
    let g = post(json!({"query": "{ a }", "variables": "{\"id\": 3}"})).expect("graphql");
    assert_eq!(g.variables(), &json!({"id": 3}));
    assert_eq!(post(json!({"query": "{ a }", "variables": [1]})), None);
    assert_eq!(post(json!({"query": "{ a }", "variables": "[1]"})), None);
}

#[test]
fn not_graphql() {
    assert_eq!(post(json!({"query": "query {"})), None, "does not parse");
    assert_eq!(post(json!({"query": "type T { a: Int }"})), None, "not executable");
    assert_eq!(post(json!({"query": ""})), None);
    assert_eq!(post(json!({"query": 5})), None);
    assert_eq!(post(json!({"q": "{ a }"})), None);
    assert_eq!(post(json!([{"query": "{ a }"}])), None, "batches are not handled");
    assert_eq!(post(json!({"query": "{ a }", "operationName": 3})), None);
    assert_eq!(post_raw(b"query { a }"), None, "raw documents are not JSON");
    assert_eq!(post_raw(b"\xff\xfe"), None);
    assert_eq!(post_raw(b""), None);
    assert_eq!(get("/graphql"), None);
    assert_eq!(get("/graphql?query=%7B"), None);
    let req = Request::new("PUT", "/graphql", &[], br#"{"query": "{ a }"}"#);
    assert!(RequestContext::new(&req).graphql().is_none());
}

#[test]
fn get_requests() {
    let g = get("/graphql?query=%7B%20me%20%7B%20id%20%7D%20%7D").expect("graphql");
    assert_eq!((g.operation(), g.name()), (GraphqlOperation::Query, None));
    assert_eq!(g.variables(), &json!({}));

    let target = format!(
        "/graphql?query={}&operationName=CreateUser&variables={}",
        urlencode(TWO_OPS),
        urlencode(r#"{"name":"Ann"}"#)
    );
    let g = get(&target).expect("graphql");
    assert_eq!((g.operation(), g.name()), (GraphqlOperation::Mutation, Some("CreateUser")));
    assert_eq!(g.variables(), &json!({"name": "Ann"}));

    assert!(get("/graphql?query=query+Q+%7B+a+%7D&variables=").is_some());
    assert_eq!(get("/graphql?query=%7Ba%7D&variables=%7Bbad"), None);
    assert_eq!(get("/graphql?query=%7Ba%7D&variables=5"), None);
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn parsed_once_and_cached() {
    let body = br#"{"query": "query A { a }"}"#;
    let req = Request::new("POST", "/", &[], body);
    let cx = RequestContext::new(&req);
    let first: *const GraphqlRequest = cx.graphql().expect("graphql");
    let second: *const GraphqlRequest = cx.graphql().expect("graphql");
    assert_eq!(first, second);
}

#[test]
fn matcher_operation_and_name() {
    let m = compile(json!({"operation": "mutation", "name": "CreateUser"}));
    assert!(matches_post(&m, json!({"query": TWO_OPS, "operationName": "CreateUser"})));
    assert!(!matches_post(&m, json!({"query": TWO_OPS, "operationName": "GetUser"})));
    assert!(!matches_post(&m, json!({"query": "mutation Other { x }"})));
    assert!(!matches_post(&m, json!({"query": "query CreateUser { x }"})));

    let q = compile(json!({"operation": "query"}));
    assert!(matches_post(&q, json!({"query": "{ x }"})));
    assert!(!matches_post(&q, json!({"query": "mutation { x }"})));
    assert!(!matches_post(&q, json!({"nothing": "here"})));

    // An anonymous operation has no name, so any `name` fails.
    let named = compile(json!({"name": "Q"}));
    assert!(!matches_post(&named, json!({"query": "{ x }"})));
    assert!(matches_post(&named, json!({"query": "query Q { x }"})));
}

#[test]
fn matcher_variables() {
    let m = compile(json!({"variables": {"json": {"id": "1"}, "ignore_extra_elements": true}}));
    assert!(matches_post(&m, json!({"query": "{ a }", "variables": {"id": "1", "x": 2}})));
    assert!(!matches_post(&m, json!({"query": "{ a }", "variables": {"id": 1}})));
    assert!(!matches_post(&m, json!({"query": "{ a }"})));

    let strict = compile(json!({"variables": {"json": {}}}));
    assert!(matches_post(&strict, json!({"query": "{ a }"})), "no variables is {{}}");
    assert!(!matches_post(&strict, json!({"query": "{ a }", "variables": {"a": 1}})));

    let path = compile(json!({
        "operation": "query",
        "variables": {"jsonpath": "$.filter.tags[*]", "matches": {"equals": "red"}}
    }));
    assert!(matches_post(
        &path,
        json!({"query": "query { a }", "variables": {"filter": {"tags": ["blue", "red"]}}})
    ));
    assert!(!matches_post(&path, json!({"query": "query { a }", "variables": {"filter": {}}})));

    let req_target = format!("/graphql?query=%7Ba%7D&variables={}", urlencode(r#"{"id":"1","page":2}"#));
    let req = Request::new("GET", &req_target, &[], b"");
    assert!(m.matches(&RequestContext::new(&req)));
}

#[test]
fn descriptions() {
    assert_eq!(
        compile(json!({"operation": "mutation", "name": "CreateUser"})).describe(),
        "graphql mutation named CreateUser"
    );
    assert_eq!(compile(json!({"name": "Q"})).describe(), "graphql operation named Q");
    assert_eq!(
        compile(json!({"operation": "query", "variables": {"jsonpath": "$.id", "matches": {"equals": "7"}}}))
            .describe(),
        r#"graphql query, variables at $.id equals "7""#
    );
}

#[test]
fn validation_errors() {
    assert_eq!(
        errors_of(json!({})),
        [("rules[1].match.graphql".to_owned(), "set at least one of operation, name, variables".to_owned())]
    );
    for bad in ["", "1abc", "get-user", "naïve", "a b"] {
        let e = errors_of(json!({"name": bad}));
        assert_eq!(e.len(), 1, "{bad:?}");
        assert_eq!(e[0].0, "rules[1].match.graphql.name");
        assert!(e[0].1.contains("not a GraphQL name"), "{}", e[0].1);
    }
    for good in ["_", "a", "GetUser_2", "__typename"] {
        compile(json!({"name": good}));
    }
    let e = errors_of(json!({"name": "bad-name", "variables": {"regex": "(", "contains": "x"}}));
    let places: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        places,
        [
            "rules[1].match.graphql.name",
            "rules[1].match.graphql.variables",
            "rules[1].match.graphql.variables.regex",
        ]
    );
    assert_eq!(errors_of(json!({"variables": {}}))[0].0, "rules[1].match.graphql.variables");
}

#[test]
fn hostile_nesting_is_refused_without_crashing() {
    let n = 100_000;
    let q = format!("{}{}", "{a".repeat(n), "}".repeat(n));
    assert_eq!(post(json!({"query": q})), None);
    let q = format!("{{a(x: {}1{})}}", "[".repeat(n), "]".repeat(n));
    assert_eq!(post(json!({"query": q})), None);
}
