//! docs/graphql.sdl is the schema's own (`UPDATE_SDL=1` rewrites it), and the examples of
//! docs/graphql.md work, as shown, against a real server.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::futures_util::SinkExt;
use mockplane_controlplane::api::resolvers::{self, StoreKeys};
use mockplane_controlplane::api::{schema, serve_api, Api, ApiLimits};
use mockplane_controlplane::service::Service;
use mockplane_controlplane::store::{Role as StoreRole, Store};
use mockplane_controlplane::SnapshotCache;
use tokio_stream::StreamExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

fn docs(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs").join(file)
}

#[test]
fn the_sdl_in_docs_is_the_schemas_own() {
    let sdl = schema::schema(&ApiLimits::default()).sdl();
    let path = docs("graphql.sdl");
    if std::env::var_os("UPDATE_SDL").is_some() {
        std::fs::write(&path, &sdl).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == sdl,
        "docs/graphql.sdl differs from the schema in the code; if the change is meant, rewrite it with\n  \
         UPDATE_SDL=1 cargo test -p mockplane-controlplane --test graphql_sdl\nthe schema now reads:\n{sdl}"
    );
}

/// The bootstrap admin key of the examples, named `admin` as `mockplane up` names it.
const KEY: &str = "mp_example_key_for_the_docs";

/// The admin API as `mockplane up` serves it (a fresh SQLite store), on a loopback port.
async fn serve() -> (std::net::SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(&dir.path().join("mockplane.db")).await.unwrap();
    store.import_api_key("admin", StoreRole::Admin, KEY, "bootstrap").await.unwrap();
    let service = Service::new(store.clone(), Arc::new(SnapshotCache::new()));
    let control = service.control_plane(Default::default());
    let limits = ApiLimits::default();
    let schema = resolvers::schema(resolvers::Domain::new(service, control.clone()), &limits);
    let api = Api::new(schema, Arc::new(StoreKeys(store)), control, limits);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_api(listener, api, std::future::pending()));
    (addr, dir)
}

/// Runs a `sh` block of the page against `addr`; its output.
async fn run_sh(command: &str, addr: std::net::SocketAddr) -> String {
    let command = command.replace("127.0.0.1:8080", &addr.to_string());
    let run = command.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh").arg("-c").arg(run).env("MOCKPLANE_API_KEY", KEY).output()
    })
    .await
    .unwrap()
    .expect("sh runs");
    assert!(output.status.success(), "{command}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// The fenced blocks of `doc` after the heading `heading`, in order, as (info string, text).
fn blocks(doc: &str, heading: &str) -> Vec<(String, String)> {
    let section = doc.split(heading).nth(1).unwrap_or_else(|| panic!("no {heading:?} in docs/graphql.md"));
    let section = section.split("\n#").next().unwrap_or_default();
    let mut out = Vec::new();
    let mut parts = section.split("```").skip(1);
    while let Some(block) = parts.next() {
        let (info, text) = block.split_once('\n').unwrap_or_default();
        out.push((info.trim().to_owned(), text.to_owned()));
        parts.next(); // the text between two blocks
    }
    out
}

#[tokio::test]
async fn the_curl_example_answers_as_shown() {
    let (addr, _store) = serve().await;
    let doc = std::fs::read_to_string(docs("graphql.md")).unwrap();
    let blocks = blocks(&doc, "### A query with curl");
    let [(sh, command), (json, shown)] = &blocks[..] else {
        panic!("expected a sh and a json block: {blocks:?}")
    };
    assert_eq!((sh.as_str(), json.as_str()), ("sh", "json"));
    assert_eq!(run_sh(command, addr).await, shown.trim());
}

#[tokio::test]
async fn the_step_by_step_examples_answer_as_shown_in_order() {
    let (addr, _store) = serve().await;
    let doc = std::fs::read_to_string(docs("graphql.md")).unwrap();
    let blocks = blocks(&doc, "### Rules, step by step");
    assert!(blocks.len() >= 10 && blocks.len().is_multiple_of(2), "sh and json blocks in pairs: {blocks:?}");
    for pair in blocks.chunks(2) {
        let [(sh, command), (json, shown)] = pair else { unreachable!() };
        assert_eq!((sh.as_str(), json.as_str()), ("sh", "json"), "{command}");
        assert_eq!(run_sh(command, addr).await, shown.trim(), "{command}");
    }
}

#[tokio::test]
async fn the_websocket_exchange_goes_as_shown() {
    let (addr, _store) = serve().await;
    let doc = std::fs::read_to_string(docs("graphql.md")).unwrap();
    let blocks = blocks(&doc, "### Over WebSocket");
    let [(text, transcript)] = &blocks[..] else { panic!("expected one text block: {blocks:?}") };
    assert_eq!(text, "text");
    let url = doc
        .split("ws://127.0.0.1:8080/graphql/ws")
        .nth(1)
        .map(|_| format!("ws://{addr}/graphql/ws"))
        .expect("the page names the WebSocket URL");
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    for line in transcript.lines() {
        let line = line.replace("$MOCKPLANE_API_KEY", KEY);
        if let Some(sent) = line.strip_prefix("> ") {
            socket.send(Message::text(sent)).await.unwrap();
        } else if let Some(expected) = line.strip_prefix("< ") {
            let got =
                tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
            let got: serde_json::Value = serde_json::from_str(got.to_text().unwrap()).unwrap();
            let expected: serde_json::Value = serde_json::from_str(expected).unwrap();
            assert_eq!(got, expected);
        } else {
            panic!("a transcript line starts with '> ' or '< ': {line:?}");
        }
    }
}

#[tokio::test]
async fn the_subscription_examples_are_accepted_and_the_first_one_streams_a_change() {
    let (addr, _store) = serve().await;
    let doc = std::fs::read_to_string(docs("graphql.md")).unwrap();
    let examples = blocks(&doc, "### Subscriptions");
    assert!(examples.len() >= 4 && examples.iter().all(|(info, _)| info == "graphql"), "{examples:?}");
    let setup = r#"curl -s http://127.0.0.1:8080/graphql -H "Authorization: Bearer $MOCKPLANE_API_KEY" -H 'Content-Type: application/json' -d '{"query": "mutation { createProject(input: {name: \"shop\"}) { name } createEnvironment(input: {project: \"shop\", name: \"staging\"}) { environment { path } } }"}'"#;
    assert!(run_sh(setup, addr).await.contains("shop/staging"));
    let mut request = format!("ws://{addr}/graphql/ws").into_client_request().unwrap();
    request.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init =
        serde_json::json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {KEY}")}});
    socket.send(Message::text(init.to_string())).await.unwrap();
    socket.next().await.unwrap().unwrap();
    for (i, (_, query)) in examples.iter().enumerate() {
        let subscribe =
            serde_json::json!({"id": i.to_string(), "type": "subscribe", "payload": {"query": query.trim()}});
        socket.send(Message::text(subscribe.to_string())).await.unwrap();
    }
    // A refused document is answered at once with an error; an accepted one streams events
    // (metricUpdates its first figures at once, the others when something happens).
    let create = r#"curl -s http://127.0.0.1:8080/graphql -H "Authorization: Bearer $MOCKPLANE_API_KEY" -H 'Content-Type: application/json' -d '{"query": "mutation { createRule(input: {environment: \"shop/staging\", rule: {id: \"hello\", match: {path: \"/hello\"}, response: {body: \"hi\"}}}) { rule { id } } }"}'"#;
    tokio::time::sleep(Duration::from_millis(300)).await;
    run_sh(create, addr).await;
    let event = loop {
        let message =
            tokio::time::timeout(Duration::from_secs(5), socket.next()).await.unwrap().unwrap().unwrap();
        let message: serde_json::Value = serde_json::from_str(message.to_text().unwrap()).unwrap();
        assert_eq!(message["type"], "next", "a subscription example was refused: {message}");
        assert!(message["payload"].get("errors").is_none(), "a subscription example failed: {message}");
        if message["id"] == "0" {
            break message;
        }
    };
    assert_eq!(event["id"], "0", "{event}");
    assert_eq!(
        event["payload"]["data"]["ruleEvents"]["changed"],
        serde_json::json!([{"id": "hello", "revision": 1}])
    );
}
