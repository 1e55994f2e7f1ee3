//! The control plane end to end, as a team uses it: `mockplane up` and a separate `mockplane
//! dataplane` process, driven through the GraphQL API by a real HTTP client and watched by a
//! real WebSocket client (`graphql-transport-ws`). A project, an environment and a rule made
//! by GraphQL reach the data plane within a second; the subscriptions see the change, the data
//! plane's ACK and the request it served; `verify` counts that request; an update and a
//! rollback change the answer and bring it back; `resetScenarios` returns a scenario to its
//! start on the data plane; the data plane keeps serving while the control plane is away and
//! catches up when it returns, with everything still in the store.

mod up_util;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::stream::MaybeTlsStream;
use tokio_tungstenite::tungstenite::{Message, WebSocket};
use up_util::{get, DataPlane, Up};

const KEY: &str = "an-operator-chosen-admin-key";

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap()
}

/// A GraphQL call that must succeed: its `data`.
fn graphql(api: &str, query: &str, variables: Value) -> Value {
    up_util::graphql(api, KEY, query, variables)
}

/// A free loopback port (for a listener that must come back on the same address).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Polls `url` until it answers `body`, for at most `within`; how long it took.
fn until_answers(url: &str, body: &str, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if let Ok(r) = client().get(url).send() {
            if r.text().is_ok_and(|t| t == body) {
                return start.elapsed();
            }
        }
        assert!(start.elapsed() < within, "{url} did not answer {body:?} within {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `graphql-transport-ws` connection with the admin key.
struct Subscriber(WebSocket<MaybeTlsStream<TcpStream>>);

impl Subscriber {
    fn connect(api: &str) -> Subscriber {
        let mut request =
            format!("{}/ws", api.replacen("http://", "ws://", 1)).into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (socket, _) = tokio_tungstenite::tungstenite::connect(request).expect("the WebSocket opens");
        if let MaybeTlsStream::Plain(tcp) = socket.get_ref() {
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        let mut s = Subscriber(socket);
        s.send(json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {KEY}")}}));
        assert_eq!(s.next()["type"], "connection_ack");
        s
    }

    fn send(&mut self, message: Value) {
        self.0.send(Message::text(message.to_string())).unwrap();
    }

    fn subscribe(&mut self, id: &str, query: &str) {
        self.send(json!({"id": id, "type": "subscribe", "payload": {"query": query}}));
    }

    /// The next message (within 10 s).
    fn next(&mut self) -> Value {
        loop {
            match self.0.read().expect("a message within 10 s") {
                Message::Text(t) => return serde_json::from_str(&t).unwrap(),
                Message::Ping(_) | Message::Pong(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// The data of subscription `id`'s first event that `done` accepts; other messages before
    /// it are skipped.
    fn until(&mut self, id: &str, mut done: impl FnMut(&Value) -> bool) -> Value {
        loop {
            let m = self.next();
            assert_ne!(m["type"], "error", "{m}");
            if m["id"] == id && m["type"] == "next" {
                let data = m["payload"]["data"].clone();
                if done(&data) {
                    return data;
                }
            }
        }
    }
}

#[test]
fn a_rule_made_by_graphql_serves_within_a_second_and_survives_the_control_plane_going_away() {
    let dir = tempfile::tempdir().unwrap();
    let (xds_port, api_port) = (free_port(), free_port());
    let xds_listen = format!("127.0.0.1:{xds_port}");
    let api_listen = format!("127.0.0.1:{api_port}");
    let args = ["--api-key", KEY, "--xds-listen", &xds_listen, "--api-listen", &api_listen];
    let up = Up::start(&dir.path().join("data"), &args);
    let api = up.url("GraphQL admin API");
    let xds = up.url("xDS");
    assert_eq!(api, format!("http://{api_listen}/graphql"));

    graphql(&api, r#"mutation { createProject(input: {name: "shop"}) { name } }"#, json!({}));
    graphql(
        &api,
        r#"mutation { createEnvironment(input: {project: "shop", name: "staging"}) { environment { path } } }"#,
        json!({}),
    );
    let dp = DataPlane::start(&xds, "shop/staging", &dir.path().join("dp"));

    let mut events = Subscriber::connect(&api);
    events.subscribe("rules", r#"subscription { ruleEvents(environment: "shop/staging") { kind action actor change { xdsVersion } changed { id } } }"#);
    events.subscribe(
        "nodes",
        r#"subscription { nodeEvents(environment: "shop/staging") { kind node version } }"#,
    );
    std::thread::sleep(Duration::from_millis(200)); // the subscriptions in place

    let created = graphql(
        &api,
        "mutation($rule: JSON!) { createRule(input: {environment: \"shop/staging\", rule: $rule}) { change { xdsVersion } } }",
        json!({"rule": {"id": "hello", "match": {"path": "/hello"}, "response": {"body": "hi"}}}),
    );
    let version = created["createRule"]["change"]["xdsVersion"].as_str().unwrap().to_owned();
    let took = until_answers(&format!("{}/hello", dp.listen), "hi", Duration::from_secs(1));
    eprintln!("createRule → served in {took:?}");

    let event = events.until("rules", |_| true)["ruleEvents"].clone();
    assert_eq!(event["kind"], "CHANGED");
    assert_eq!(event["action"], "createRule");
    assert_eq!(event["actor"], "admin", "the bootstrap key's name");
    assert_eq!(event["changed"], json!([{"id": "hello"}]));
    assert_eq!(event["change"]["xdsVersion"], version.as_str());
    let acked = events.until("nodes", |d| {
        d["nodeEvents"]["kind"] == "ACKED" && d["nodeEvents"]["version"] == version.as_str()
    });
    assert!(acked["nodeEvents"]["node"].as_str().is_some_and(|n| !n.is_empty()), "{acked}");

    let nodes = graphql(
        &api,
        r#"{ nodes(environment: "shop/staging") { connected ackedVersion driver } }"#,
        json!({}),
    );
    assert_eq!(nodes["nodes"][0]["ackedVersion"], version.as_str());
    assert_eq!(nodes["nodes"][0]["connected"], true);

    // The request the data plane served reaches the live tail, with its headers and client;
    // `verify` counts it, and only it.
    events.subscribe(
        "requests",
        r#"subscription { requestEvents(environment: "shop/staging", filter: {pathPrefix: "/hello"}) {
            kind request { method path status ruleId clientIp headers { name value } } } }"#,
    );
    std::thread::sleep(Duration::from_millis(200));
    let served = client().get(format!("{}/hello", dp.listen)).header("x-test", "e2e").send().unwrap();
    assert_eq!(served.text().unwrap(), "hi");
    let tailed = events.until("requests", |d| {
        d["requestEvents"]["request"]["headers"]
            .as_array()
            .is_some_and(|h| h.iter().any(|h| h["name"] == "x-test"))
    });
    let request = &tailed["requestEvents"]["request"];
    assert_eq!(
        (request["method"].as_str(), request["status"].as_i64()),
        (Some("GET"), Some(200)),
        "{request}"
    );
    assert_eq!(
        (request["ruleId"].as_str(), request["clientIp"].as_str()),
        (Some("hello"), Some("127.0.0.1"))
    );
    let verify = r#"query($p: JSON!) { verify(environment: "shop/staging", pattern: $p) { count } }"#;
    let count =
        |pattern: Value| graphql(&api, verify, json!({"p": pattern}))["verify"]["count"].as_i64().unwrap();
    assert_eq!(count(json!({"method": "GET", "path": "/hello", "headers": {"x-test": "e2e"}})), 1);
    assert_eq!(count(json!({"method": "GET", "path": "/hello", "headers": {"x-test": "other"}})), 0);
    assert_eq!(count(json!({"method": "POST", "path": "/hello"})), 0);
    // The figures count it too, per rule and per data plane, with its latency.
    let metrics = graphql(
        &api,
        r#"{ metrics(environment: "shop/staging") { hits rules { rule hits } nodes { node hits latency { count p99Us } } } }"#,
        json!({}),
    )["metrics"]
        .clone();
    assert!(
        metrics["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["rule"] == "hello" && r["hits"].as_i64() > Some(0)),
        "{metrics}"
    );
    let node = &metrics["nodes"][0];
    assert!(node["hits"].as_i64() > Some(0) && node["latency"]["count"].as_i64() > Some(0), "{metrics}");
    assert!(node["latency"]["p99Us"].as_i64().is_some(), "{metrics}");
    events.subscribe(
        "metrics",
        r#"subscription { metricUpdates(environment: "shop/staging", intervalMs: 250) { hits } }"#,
    );
    let live = events.until("metrics", |_| true);
    assert_eq!(live["metricUpdates"]["hits"], metrics["hits"], "the live figures start where the query is");
    // A journal reset empties what `requests` and `verify` see, everywhere.
    graphql(
        &api,
        r#"mutation { resetJournal(input: {environment: "shop/staging"}) { change { xdsVersion } } }"#,
        json!({}),
    );
    assert_eq!(count(json!({"method": "GET", "path": "/hello", "headers": {"x-test": "e2e"}})), 0);
    let listed = graphql(&api, r#"{ requests(environment: "shop/staging") { target } }"#, json!({}));
    assert_eq!(listed["requests"], json!([]), "{listed}");

    graphql(
        &api,
        r#"mutation { updateRule(input: {environment: "shop/staging", id: "hello", rule: {match: {path: "/hello"}, response: {body: "changed"}}}) { rule { revision } } }"#,
        json!({}),
    );
    until_answers(&format!("{}/hello", dp.listen), "changed", Duration::from_secs(1));
    graphql(
        &api,
        r#"mutation { rollbackRule(input: {environment: "shop/staging", id: "hello", revision: 1}) { rule { revision } } }"#,
        json!({}),
    );
    until_answers(&format!("{}/hello", dp.listen), "hi", Duration::from_secs(1));

    // A scenario moved on by a request, then reset by GraphQL on the data plane.
    let door = "rules:\n  - id: door-closed\n    match: { method: GET, path: /door }\n    scenario: { name: door, state: Started }\n    response: { body: closed }\n  - id: open-door\n    match: { method: POST, path: /door }\n    scenario: { name: door, next: Open }\n    response: { body: opened }\n  - id: door-open\n    match: { method: GET, path: /door }\n    scenario: { name: door, state: Open }\n    response: { body: open }\n";
    graphql(
        &api,
        r#"mutation($text: String!) { applyRules(input: {environment: "shop/staging", text: $text, mode: MERGE}) { change { xdsVersion } } }"#,
        json!({"text": door}),
    );
    until_answers(&format!("{}/door", dp.listen), "closed", Duration::from_secs(1));
    assert_eq!(client().post(format!("{}/door", dp.listen)).send().unwrap().text().unwrap(), "opened");
    assert_eq!(get(&format!("{}/door", dp.listen)), (200, "open".to_owned()));
    let reset = graphql(
        &api,
        r#"mutation { resetScenarios(input: {environment: "shop/staging"}) { change { xdsVersion } } }"#,
        json!({}),
    );
    assert!(reset["resetScenarios"]["change"]["xdsVersion"].as_str().is_some(), "{reset}");
    until_answers(&format!("{}/door", dp.listen), "closed", Duration::from_secs(1));

    // The control plane goes away: the data plane keeps serving what it has.
    drop(events);
    up.stop();
    assert_eq!(get(&format!("{}/hello", dp.listen)), (200, "hi".to_owned()));

    // It comes back on the same addresses with everything in its store; the data plane
    // reconnects and takes the next change.
    let up = Up::start(&dir.path().join("data"), &args);
    assert_eq!(up.key(), None);
    let rule = graphql(&api, r#"{ rule(environment: "shop/staging", id: "hello") { revision } }"#, json!({}));
    assert_eq!(rule["rule"]["revision"], 3);
    graphql(
        &api,
        r#"mutation { updateRule(input: {environment: "shop/staging", id: "hello", rule: {match: {path: "/hello"}, response: {body: "after the restart"}}}) { rule { revision } } }"#,
        json!({}),
    );
    until_answers(&format!("{}/hello", dp.listen), "after the restart", Duration::from_secs(15));
    up.stop();
}
