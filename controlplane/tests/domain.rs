//! The admin API's domain end to end: the real schema over a real SQLite store, served on a
//! loopback port, called over HTTP (reqwest) and WebSocket (tokio-tungstenite) with the store's
//! own API keys. What a change stores is read back through the API; what it pushes is read from
//! the snapshot cache the xDS server sends from.

use std::sync::Arc;
use std::time::Duration;

use mockplane_controlplane::api::resolvers::{self, StoreKeys};
use mockplane_controlplane::api::{serve_api, Api, ApiLimits};
use mockplane_controlplane::service::Service;
use mockplane_controlplane::store::{Role, Store};
use mockplane_controlplane::SnapshotCache;
use serde_json::{json, Value};
use tokio_stream::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "admin-secret-key-0123456789";
const EDITOR: &str = "editor-secret-key-0123456789";
const VIEWER: &str = "viewer-secret-key-0123456789";

struct Server {
    url: String,
    ws_url: String,
    service: Service,
    _dir: tempfile::TempDir,
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("mockplane.db")).await.unwrap();
    for (name, role, key) in
        [("ops", Role::Admin, ADMIN), ("ci", Role::Editor, EDITOR), ("dash", Role::Viewer, VIEWER)]
    {
        store.import_api_key(name, role, key, "test").await.unwrap();
    }
    let service = Service::new(store.clone(), Arc::new(SnapshotCache::new()));
    let control = service.control_plane(Default::default());
    let limits = ApiLimits::default();
    let schema = resolvers::schema(resolvers::Domain::new(service.clone(), control.clone()), &limits);
    let api = Api::new(schema, Arc::new(StoreKeys(store)), control, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_api(listener, api, std::future::pending()));
    Server {
        url: format!("http://{addr}/graphql"),
        ws_url: format!("ws://{addr}/graphql/ws"),
        service,
        _dir: dir,
    }
}

/// A GraphQL call; the answer's JSON.
async fn call(s: &Server, key: Option<&str>, query: &str, variables: Value) -> Value {
    let mut request = reqwest::Client::new()
        .post(&s.url)
        .header("content-type", "application/json")
        .body(json!({ "query": query, "variables": variables }).to_string());
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    let text = request.send().await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A call that must succeed: its `data`.
async fn ok(s: &Server, key: &str, query: &str, variables: Value) -> Value {
    let answer = call(s, Some(key), query, variables).await;
    assert!(answer.get("errors").is_none(), "{query}\n→ {answer}");
    answer["data"].clone()
}

fn code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no error code in {answer}"))
}

/// Every `place` of an INVALID_INPUT answer.
fn places(answer: &Value) -> Vec<String> {
    answer["errors"][0]["extensions"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors list in {answer}"))
        .iter()
        .map(|e| e["place"].as_str().unwrap().to_owned())
        .collect()
}

const CREATE_RULE: &str = "mutation($env: String!, $rule: JSON!) {
  createRule(input: {environment: $env, rule: $rule}) { rule { id revision } change { version xdsVersion } }
}";

async fn shop_staging(s: &Server) {
    ok(s, EDITOR, r#"mutation { createProject(input: {name: "shop"}) { name } }"#, json!({})).await;
    let env = ok(
        s,
        EDITOR,
        r#"mutation { createEnvironment(input: {project: "shop", name: "staging", variables: [{name: "region", value: "eu"}]}) {
            environment { path variables { name value } version } change { xdsVersion } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(env["createEnvironment"]["environment"]["path"], "shop/staging");
    assert_eq!(
        env["createEnvironment"]["environment"]["variables"],
        json!([{"name": "region", "value": "eu"}])
    );
}

fn hello(body: &str) -> Value {
    json!({"id": "hello", "match": {"path": "/hello"}, "response": {"body": body}})
}

/// The body the pushed version answers `/hello` with.
fn pushed_hello(s: &Server) -> (String, String) {
    let snapshot = s.service.cache().get("shop/staging").expect("a version in force");
    let rule = snapshot.rules.rules.iter().find(|r| r.id == "hello").expect("hello is pushed");
    let body = serde_json::to_value(&rule.response).unwrap()["body"].as_str().unwrap_or_default().to_owned();
    (snapshot.version_info.clone(), body)
}

#[tokio::test]
async fn a_rule_created_changed_and_rolled_back_is_pushed_at_each_version_with_its_author() {
    let s = start().await;
    shop_staging(&s).await;
    let created = ok(&s, EDITOR, CREATE_RULE, json!({"env": "shop/staging", "rule": hello("one")})).await;
    let version = created["createRule"]["change"]["xdsVersion"].as_str().unwrap().to_owned();
    assert_eq!(pushed_hello(&s), (version, "one".to_owned()));

    let updated = ok(
        &s,
        EDITOR,
        r#"mutation { updateRule(input: {environment: "shop/staging", id: "hello", rule: {match: {path: "/hello"}, response: {body: "two"}}}) {
            rule { revision } change { xdsVersion } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(updated["updateRule"]["rule"]["revision"], 2);
    assert_eq!(pushed_hello(&s).1, "two");

    let disabled = ok(
        &s,
        EDITOR,
        r#"mutation { disableRule(input: {environment: "shop/staging", id: "hello"}) { rule { enabled revision } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(disabled["disableRule"]["rule"], json!({"enabled": false, "revision": 3}));

    let back = ok(
        &s,
        ADMIN,
        r#"mutation { rollbackRule(input: {environment: "shop/staging", id: "hello", revision: 1}) {
            rule { revision enabled definition } change { xdsVersion } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(back["rollbackRule"]["rule"]["revision"], 4);
    assert_eq!(back["rollbackRule"]["rule"]["enabled"], true);
    assert_eq!(
        pushed_hello(&s),
        (back["rollbackRule"]["change"]["xdsVersion"].as_str().unwrap().to_owned(), "one".into())
    );

    let history = ok(
        &s,
        VIEWER,
        r#"{ ruleRevisions(environment: "shop/staging", id: "hello") { revision author deleted }
            auditLog(limit: 10) { action actor target } }"#,
        json!({}),
    )
    .await;
    let authors: Vec<(i64, &str)> = history["ruleRevisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["revision"].as_i64().unwrap(), r["author"].as_str().unwrap()))
        .collect();
    assert_eq!(authors, [(1, "ci"), (2, "ci"), (3, "ci"), (4, "ops")]);
    let actions: Vec<&str> =
        history["auditLog"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions[..4], ["rollbackRule", "disableRule", "updateRule", "createRule"]);
    assert_eq!(history["auditLog"][0]["actor"], "ops");
}

#[tokio::test]
async fn a_change_to_several_rules_is_one_version_and_invalid_sets_are_refused_whole() {
    let s = start().await;
    shop_staging(&s).await;
    let before = s.service.cache().get("shop/staging").unwrap().serial;
    let yaml = "rules:\n  - id: a\n    match: { path: /a }\n    response: { body: a }\n  - id: b\n    match: { path: /b }\n    response: { body: b }\n  - id: c\n    match: { path: /c }\n    response: { body: c }\n";
    let applied = ok(
        &s,
        EDITOR,
        "mutation($text: String!) { applyRules(input: {environment: \"shop/staging\", text: $text}) { changed { id } deleted change { version } } }",
        json!({"text": yaml}),
    )
    .await;
    assert_eq!(applied["applyRules"]["changed"].as_array().unwrap().len(), 3);
    let after = s.service.cache().get("shop/staging").unwrap();
    assert_eq!((after.serial, after.rules.rules.len()), (before + 1, 3), "three rules, one version");

    // Two bad rules in one set: both reported, with their places; nothing changes.
    let bad = json!({"rules": [
        {"id": "a", "match": {"path": "/a"}, "response": {"body": "A"}},
        {"id": "x", "match": {"path": "/x", "method": "GET", "regex": "("}, "response": {}},
        {"id": "y", "match": {"path": "/y"}, "response": {"status": 999}}
    ]});
    let refused = call(
        &s,
        Some(EDITOR),
        "mutation($set: JSON!) { applyRules(input: {environment: \"shop/staging\", ruleSet: $set, mode: MERGE}) { change { version } } }",
        json!({"set": bad}),
    )
    .await;
    assert_eq!(code(&refused), "INVALID_INPUT", "{refused}");
    let places = places(&refused);
    assert!(places.iter().any(|p| p.starts_with("input.ruleSet.rules[1]")), "{places:?}");
    assert!(places.iter().any(|p| p.starts_with("input.ruleSet.rules[2]")), "{places:?}");
    let now = s.service.cache().get("shop/staging").unwrap();
    assert_eq!(now.serial, after.serial, "nothing pushed");
    let rules = ok(
        &s,
        VIEWER,
        r#"{ rule(environment: "shop/staging", id: "a") { revision definition } }"#,
        json!({}),
    )
    .await;
    assert_eq!(rules["rule"]["revision"], 1, "nothing stored");

    // Merge keeps the others; replace deletes what the set leaves out.
    let merged = ok(
        &s,
        EDITOR,
        "mutation($set: JSON!) { applyRules(input: {environment: \"shop/staging\", ruleSet: $set, mode: MERGE}) { changed { id } deleted } }",
        json!({"set": {"rules": [{"id": "d", "match": {"path": "/d"}, "response": {"body": "d"}}]}}),
    )
    .await;
    assert_eq!(merged["applyRules"], json!({"changed": [{"id": "d"}], "deleted": []}));
    let replaced = ok(
        &s,
        EDITOR,
        "mutation($set: JSON!) { applyRules(input: {environment: \"shop/staging\", ruleSet: $set}) { deleted } }",
        json!({"set": {"rules": [{"id": "d", "match": {"path": "/d"}, "response": {"body": "d"}}]}}),
    )
    .await;
    assert_eq!(replaced["applyRules"]["deleted"], json!(["a", "b", "c"]));
}

#[tokio::test]
async fn every_kind_of_invalid_input_is_refused_with_a_code_and_nothing_is_stored() {
    let s = start().await;
    shop_staging(&s).await;
    ok(&s, EDITOR, CREATE_RULE, json!({"env": "shop/staging", "rule": hello("one")})).await;
    let audit_before = ok(&s, VIEWER, "{ auditLog(limit: 1000) { id } }", json!({})).await["auditLog"]
        .as_array()
        .unwrap()
        .len();
    let serial_before = s.service.cache().get("shop/staging").unwrap().serial;
    let cases: Vec<(&str, Value, &str, Option<&str>)> = vec![
        (
            CREATE_RULE,
            json!({"env": "shop/staging", "rule": {"id": "x", "match": {"path": "/x"}, "respond": {}}}),
            "INVALID_INPUT",
            Some("input.rule.respond"),
        ),
        (
            CREATE_RULE,
            json!({"env": "shop/staging", "rule": {"id": "x", "match": {"path": "/x"}, "response": {"status": 999}}}),
            "INVALID_INPUT",
            Some("input.rule.response.status"),
        ),
        (
            CREATE_RULE,
            json!({"env": "shop/staging", "rule": {"id": "x", "match": {"path": {"regex": "(("}}, "response": {}}}),
            "INVALID_INPUT",
            Some("input.rule.match.path.regex"),
        ),
        (CREATE_RULE, json!({"env": "shop/staging", "rule": hello("dup")}), "CONFLICT", None),
        (CREATE_RULE, json!({"env": "shop/nowhere", "rule": hello("x")}), "NOT_FOUND", None),
        (CREATE_RULE, json!({"env": "no-slash", "rule": hello("x")}), "INVALID_INPUT", None),
        (
            r#"mutation { updateRule(input: {environment: "shop/staging", id: "ghost", rule: {match: {path: "/g"}, response: {}}}) { rule { id } } }"#,
            json!({}),
            "NOT_FOUND",
            None,
        ),
        (
            r#"mutation { updateRule(input: {environment: "shop/staging", id: "hello", rule: {id: "other", match: {path: "/g"}, response: {}}}) { rule { id } } }"#,
            json!({}),
            "INVALID_INPUT",
            None,
        ),
        (
            r#"mutation { rollbackRule(input: {environment: "shop/staging", id: "hello", revision: 9}) { rule { id } } }"#,
            json!({}),
            "NOT_FOUND",
            None,
        ),
        (
            r#"mutation { applyRules(input: {environment: "shop/staging", text: "rules: [", ruleSet: {rules: []}}) { deleted } }"#,
            json!({}),
            "INVALID_INPUT",
            Some("input"),
        ),
        (
            r#"mutation { applyRules(input: {environment: "shop/staging", text: "rules: ["}) { deleted } }"#,
            json!({}),
            "INVALID_INPUT",
            None,
        ),
        (r#"mutation { createProject(input: {name: "shop"}) { name } }"#, json!({}), "CONFLICT", None),
        (
            r#"mutation { createProject(input: {name: "bad name!"}) { name } }"#,
            json!({}),
            "INVALID_INPUT",
            None,
        ),
        (
            r#"mutation { createEnvironment(input: {project: "nope", name: "x"}) { environment { path } } }"#,
            json!({}),
            "NOT_FOUND",
            None,
        ),
        (
            r#"mutation { updateEnvironment(input: {path: "shop/staging", variables: [{name: "a", value: "1"}, {name: "a", value: "2"}]}) { environment { path } } }"#,
            json!({}),
            "INVALID_INPUT",
            Some("input.variables[1].name"),
        ),
        (r#"{ rules(first: -1) { edges { cursor } } }"#, json!({}), "INVALID_INPUT", Some("first")),
        (r#"{ rules(after: "zz") { edges { cursor } } }"#, json!({}), "INVALID_INPUT", Some("after")),
    ];
    for (query, variables, expected, place) in cases {
        let answer = call(&s, Some(ADMIN), query, variables.clone()).await;
        assert_eq!(code(&answer), expected, "{query} {variables}\n→ {answer}");
        if let Some(place) = place {
            assert!(places(&answer).iter().any(|p| p == place), "{query}: {place} in {answer}");
        }
    }
    let audit_after = ok(&s, VIEWER, "{ auditLog(limit: 1000) { id } }", json!({})).await["auditLog"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(audit_after, audit_before, "no refused call left a trace");
    assert_eq!(s.service.cache().get("shop/staging").unwrap().serial, serial_before, "nothing pushed");
    assert_eq!(pushed_hello(&s).1, "one");
}

#[tokio::test]
async fn each_role_may_do_what_it_is_for_and_nothing_more() {
    let s = start().await;
    shop_staging(&s).await;
    // No key, an unknown key.
    for key in [None, Some("not-a-key-of-this-store")] {
        let answer = call(&s, key, "{ projects { name } }", json!({})).await;
        assert_eq!(code(&answer), "UNAUTHENTICATED", "{answer}");
    }
    // A viewer reads, and cannot change.
    ok(
        &s,
        VIEWER,
        "{ projects { name } environments { path } nodes { id } clusterInfo { environment } }",
        json!({}),
    )
    .await;
    let refused =
        call(&s, Some(VIEWER), CREATE_RULE, json!({"env": "shop/staging", "rule": hello("x")})).await;
    assert_eq!(code(&refused), "FORBIDDEN");
    assert!(s.service.cache().get("shop/staging").unwrap().rules.rules.is_empty(), "nothing pushed");
    // An editor changes rules, and cannot see or make keys.
    ok(&s, EDITOR, CREATE_RULE, json!({"env": "shop/staging", "rule": hello("x")})).await;
    for query in
        ["{ apiKeys { name } }", r#"mutation { createApiKey(input: {name: "x", role: ADMIN}) { secret } }"#]
    {
        assert_eq!(code(&call(&s, Some(EDITOR), query, json!({})).await), "FORBIDDEN", "{query}");
    }
    // An admin makes a key; it works with its role; revoked, it is refused.
    let made = ok(
        &s,
        ADMIN,
        r#"mutation { createApiKey(input: {name: "pipeline", role: EDITOR}) { secret apiKey { name role createdBy } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        made["createApiKey"]["apiKey"],
        json!({"name": "pipeline", "role": "EDITOR", "createdBy": "ops"})
    );
    let secret = made["createApiKey"]["secret"].as_str().unwrap().to_owned();
    let me = ok(&s, &secret, "{ whoami { keyName role } }", json!({})).await;
    assert_eq!(me["whoami"], json!({"keyName": "pipeline", "role": "EDITOR"}));
    let keys = ok(&s, ADMIN, "{ apiKeys { name revokedAt } }", json!({})).await;
    assert!(keys.to_string().contains("pipeline"), "{keys}");
    assert!(!keys.to_string().contains(&secret), "secrets are never shown again");
    ok(&s, ADMIN, r#"mutation { revokeApiKey(input: {name: "pipeline"}) { revokedAt } }"#, json!({})).await;
    assert_eq!(code(&call(&s, Some(&secret), "{ projects { name } }", json!({})).await), "UNAUTHENTICATED");
}

#[tokio::test]
async fn rules_are_paged_with_cursors_and_filtered_by_tag_enabled_and_project() {
    let s = start().await;
    shop_staging(&s).await;
    let rules: Vec<Value> = (0..25)
        .map(|i| {
            json!({"id": format!("r{i:02}"), "tags": [if i % 2 == 0 { "even" } else { "odd" }], "enabled": i % 5 != 0,
                   "match": {"path": format!("/r/{i}")}, "response": {"body": "x"}})
        })
        .collect();
    ok(
        &s,
        EDITOR,
        "mutation($set: JSON!) { applyRules(input: {environment: \"shop/staging\", ruleSet: $set}) { deleted } }",
        json!({"set": {"rules": rules}}),
    )
    .await;
    let page =
        "query($after: String, $filter: RuleFilter) { rules(first: 10, after: $after, filter: $filter) {
        edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage endCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let data =
            ok(&s, VIEWER, page, json!({"after": after, "filter": {"environment": "shop/staging"}})).await;
        let conn = &data["rules"];
        seen.extend(
            conn["edges"].as_array().unwrap().iter().map(|e| e["node"]["id"].as_str().unwrap().to_owned()),
        );
        if !conn["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    let all: Vec<String> = (0..25).map(|i| format!("r{i:02}")).collect();
    assert_eq!(seen, all, "every rule once, in order");

    let count = |filter: Value| {
        let s = &s;
        async move {
            let data = ok(
                s,
                VIEWER,
                "query($f: RuleFilter) { rules(first: 100, filter: $f) { edges { node { id } } } }",
                json!({"f": filter}),
            )
            .await;
            data["rules"]["edges"].as_array().unwrap().len()
        }
    };
    assert_eq!(count(json!({"tag": "even"})).await, 13);
    assert_eq!(count(json!({"enabled": false})).await, 5);
    assert_eq!(count(json!({"tag": "odd", "enabled": true})).await, 10);
    assert_eq!(count(json!({"project": "shop"})).await, 25);
    ok(&s, EDITOR, r#"mutation { createProject(input: {name: "other"}) { name } }"#, json!({})).await;
    assert_eq!(count(json!({"project": "other"})).await, 0);
}

#[tokio::test]
async fn explain_names_the_rule_that_answers_and_what_the_closest_others_lacked() {
    let s = start().await;
    shop_staging(&s).await;
    let token = json!({"id": "secret", "match": {"path": "/hello", "headers": {"x-token": "t0ps3cret"}}, "response": {"body": "s"}});
    ok(&s, EDITOR, CREATE_RULE, json!({"env": "shop/staging", "rule": token})).await;
    ok(&s, EDITOR, CREATE_RULE, json!({"env": "shop/staging", "rule": {"id": "post", "match": {"method": "POST", "path": "/hello"}, "response": {}}})).await;
    let q = "query($r: ExplainInput!) { explain(environment: \"shop/staging\", request: $r) {
        selected checked nearMisses { ruleId pathMatched failed { predicate expected actual } } } }";
    let hit = ok(
        &s,
        VIEWER,
        q,
        json!({"r": {"path": "/hello", "headers": [{"name": "x-token", "value": "t0ps3cret"}]}}),
    )
    .await;
    assert_eq!(hit["explain"]["selected"], "secret");
    let miss = ok(&s, VIEWER, q, json!({"r": {"path": "/hello"}})).await;
    assert_eq!(miss["explain"]["selected"], Value::Null);
    assert_eq!(miss["explain"]["checked"], 2);
    let near = &miss["explain"]["nearMisses"];
    assert_eq!(near[0]["ruleId"], "secret");
    assert_eq!(near[0]["failed"]["predicate"], "match.headers.x-token");
    assert_eq!(near[1]["failed"]["predicate"], "match.method");
    let bad = call(&s, Some(VIEWER), q, json!({"r": {"path": "hello"}})).await;
    assert_eq!((code(&bad), places(&bad)), ("INVALID_INPUT", vec!["request.path".to_owned()]));
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscribe(s: &Server, key: &str, query: &str) -> Socket {
    use async_graphql::futures_util::SinkExt;
    let mut request = s.ws_url.as_str().into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {key}")}});
    socket.send(Message::text(init.to_string())).await.unwrap();
    assert_eq!(next(&mut socket).await["type"], "connection_ack");
    let sub = json!({"id": "1", "type": "subscribe", "payload": {"query": query}});
    socket.send(Message::text(sub.to_string())).await.unwrap();
    socket
}

async fn next(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a message within 5 s")
            .expect("open")
            .expect("not an error");
        if let Message::Text(t) = message {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test]
async fn a_subscriber_sees_each_change_to_its_environment_and_no_other() {
    let s = start().await;
    shop_staging(&s).await;
    ok(
        &s,
        EDITOR,
        r#"mutation { createEnvironment(input: {project: "shop", name: "prod"}) { environment { path } } }"#,
        json!({}),
    )
    .await;
    let mut socket = subscribe(
        &s,
        VIEWER,
        r#"subscription { ruleEvents(environment: "shop/staging") { kind environment action actor change { xdsVersion } changed { id revision } deleted } }"#,
    )
    .await;
    // Give the subscription a moment to be in place before the changes it must see.
    tokio::time::sleep(Duration::from_millis(100)).await;
    ok(&s, EDITOR, CREATE_RULE, json!({"env": "shop/prod", "rule": hello("prod")})).await;
    let created = ok(&s, EDITOR, CREATE_RULE, json!({"env": "shop/staging", "rule": hello("staging")})).await;
    ok(
        &s,
        EDITOR,
        r#"mutation { deleteRule(input: {environment: "shop/staging", id: "hello"}) { id } }"#,
        json!({}),
    )
    .await;

    let first = next(&mut socket).await;
    assert_eq!(first["type"], "next", "{first}");
    let event = &first["payload"]["data"]["ruleEvents"];
    assert_eq!(event["kind"], "CHANGED");
    assert_eq!(event["environment"], "shop/staging", "prod's change is not sent: {event}");
    assert_eq!(event["action"], "createRule");
    assert_eq!(event["actor"], "ci");
    assert_eq!(event["changed"], json!([{"id": "hello", "revision": 1}]));
    assert_eq!(event["change"]["xdsVersion"], created["createRule"]["change"]["xdsVersion"]);
    let second = next(&mut socket).await;
    let event = &second["payload"]["data"]["ruleEvents"];
    assert_eq!((event["action"].as_str(), event["deleted"].clone()), (Some("deleteRule"), json!(["hello"])));
}

#[tokio::test]
async fn projects_and_environments_are_updated_and_deleted_with_what_they_hold() {
    let s = start().await;
    shop_staging(&s).await;
    ok(&s, EDITOR, CREATE_RULE, json!({"env": "shop/staging", "rule": hello("x")})).await;
    let updated = ok(
        &s,
        EDITOR,
        r#"mutation { updateProject(input: {name: "shop", description: "the web shop"}) { name description }
            updateEnvironment(input: {path: "shop/staging", description: "pre-production", variables: [{name: "region", value: "us"}]}) {
              environment { description variables { name value } } change { xdsVersion } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(updated["updateProject"], json!({"name": "shop", "description": "the web shop"}));
    let env = &updated["updateEnvironment"];
    assert_eq!(env["environment"]["description"], "pre-production");
    assert_eq!(env["environment"]["variables"], json!([{"name": "region", "value": "us"}]));
    let pushed = s.service.cache().get("shop/staging").unwrap();
    assert_eq!(env["change"]["xdsVersion"], pushed.version_info.as_str());
    assert_eq!(
        pushed.rules.variables.get("region").map(String::as_str),
        Some("us"),
        "the variables are pushed"
    );

    ok(
        &s,
        EDITOR,
        r#"mutation { createEnvironment(input: {project: "shop", name: "prod"}) { environment { path } } }"#,
        json!({}),
    )
    .await;
    let deleted =
        ok(&s, EDITOR, r#"mutation { deleteEnvironment(input: {path: "shop/prod"}) { path } }"#, json!({}))
            .await;
    assert_eq!(deleted["deleteEnvironment"]["path"], "shop/prod");
    assert!(s.service.cache().get("shop/prod").is_none(), "no longer served");
    let gone = ok(
        &s,
        VIEWER,
        r#"{ environment(path: "shop/prod") { path } environments(project: "shop") { path } }"#,
        json!({}),
    )
    .await;
    assert_eq!(gone, json!({"environment": null, "environments": [{"path": "shop/staging"}]}));

    let deleted = ok(
        &s,
        EDITOR,
        r#"mutation { deleteProject(input: {name: "shop"}) { project { name } deletedEnvironments } }"#,
        json!({}),
    )
    .await;
    assert_eq!(
        deleted["deleteProject"],
        json!({"project": {"name": "shop"}, "deletedEnvironments": ["shop/staging"]})
    );
    assert!(s.service.cache().get("shop/staging").is_none());
    let none = ok(
        &s,
        VIEWER,
        r#"{ projects { name } project(name: "shop") { name } rules { edges { cursor } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(none, json!({"projects": [], "project": null, "rules": {"edges": []}}));
}

#[tokio::test]
async fn traffic_queries_refuse_bad_filters_and_patterns_with_their_places_and_resets_are_editors_and_audited(
) {
    let s = start().await;
    shop_staging(&s).await;
    let cases = [
        (
            r#"{ requests(environment: "shop/staging", filter: {since: "yesterday"}) { target } }"#,
            "INVALID_INPUT",
            Some("filter.since"),
        ),
        (
            r#"{ requests(environment: "shop/staging", filter: {status: 70000}) { target } }"#,
            "INVALID_INPUT",
            Some("filter.status"),
        ),
        (r#"{ requests(environment: "shop/staging", limit: 0) { target } }"#, "INVALID_INPUT", Some("limit")),
        (r#"{ requests(environment: "shop/nowhere") { target } }"#, "NOT_FOUND", None),
        (
            r#"{ verify(environment: "shop/staging", pattern: {path: {regex: "(("}}) { count } }"#,
            "INVALID_INPUT",
            Some("pattern.path.regex"),
        ),
        (
            r#"{ verify(environment: "shop/staging", pattern: {paht: "/x"}) { count } }"#,
            "INVALID_INPUT",
            Some("pattern"),
        ),
        (r#"{ metrics(environment: "shop/nowhere") { hits } }"#, "NOT_FOUND", None),
        (
            r#"mutation { resetScenarios(input: {environment: "shop/nowhere"}) { change { version } } }"#,
            "NOT_FOUND",
            None,
        ),
    ];
    for (query, expected, place) in cases {
        let key = if query.starts_with("mutation") { EDITOR } else { VIEWER };
        let answer = call(&s, Some(key), query, json!({})).await;
        assert_eq!(code(&answer), expected, "{query}\n→ {answer}");
        if let Some(place) = place {
            assert!(places(&answer).iter().any(|p| p == place), "{query}: {place} in {answer}");
        }
    }
    // Nobody has reported: zeros, not errors.
    let metrics = ok(&s, VIEWER, r#"{ metrics(environment: "shop/staging") { requests hits misses rules { rule } nodes { node } latency { count p50Us } } }"#, json!({})).await;
    assert_eq!(
        metrics["metrics"],
        json!({"requests": 0, "hits": 0, "misses": 0, "rules": [], "nodes": [], "latency": {"count": 0, "p50Us": null}})
    );
    // A viewer may not reset; an editor may, and the reset is a version with an audit entry.
    let refused = call(
        &s,
        Some(VIEWER),
        r#"mutation { resetJournal(input: {environment: "shop/staging"}) { change { version } } }"#,
        json!({}),
    )
    .await;
    assert_eq!(code(&refused), "FORBIDDEN");
    let before = s.service.cache().get("shop/staging").unwrap();
    let reset = ok(&s, EDITOR, r#"mutation { resetScenarios(input: {environment: "shop/staging"}) { change { version xdsVersion } } }"#, json!({})).await;
    let after = s.service.cache().get("shop/staging").unwrap();
    assert_eq!(reset["resetScenarios"]["change"]["xdsVersion"], after.version_info.as_str());
    assert!(
        after.serial > before.serial && Arc::ptr_eq(&after.rules, &before.rules),
        "a new version of the same rules"
    );
    let audit = ok(&s, VIEWER, "{ auditLog(limit: 1) { action actor target } }", json!({})).await;
    assert_eq!(
        audit["auditLog"],
        json!([{"action": "resetScenarios", "actor": "ci", "target": "shop/staging"}])
    );
}
