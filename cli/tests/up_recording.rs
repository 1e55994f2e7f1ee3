//! Recording through the control plane, end to end: `mockplane up`, a separate data plane in
//! sidecar mode in front of an origin of the test's own, and GraphQL. `startRecording` with a
//! filter reaches the data plane; the exchanges it forwards that pass the filter come back as
//! disabled rules tagged `recorded`; after `stopRecording`, enabled, they answer the same
//! requests as the origin did (status, body, the origin's own header) with the origin gone.

mod up_util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use up_util::{DataPlane, Up};

const KEY: &str = "a-key-for-the-recording-test";

/// An HTTP/1.1 origin answering from a fixed list of paths, one request per connection.
struct Origin {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Origin {
    fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    return; // the listener closes: the origin is gone
                }
                if let Ok(stream) = stream {
                    std::thread::spawn(move || serve(stream));
                }
            }
        });
        Origin { port, stop }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
    }
}

fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = match path {
        "/api/items/1" => ("200 OK", r#"{"id":1,"name":"lamp"}"#),
        "/api/health" => ("200 OK", "ok"),
        _ => ("404 Not Found", "no such thing"),
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\nx-origin: real\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes());
}

fn graphql(api: &str, query: &str, variables: Value) -> Value {
    up_util::graphql(api, KEY, query, variables)
}

/// Waits until every data plane of `environment` has ACKed `version`.
fn until_acked(api: &str, environment: &str, version: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let nodes = graphql(
            api,
            "query($e: String) { nodes(environment: $e) { ackedVersion } }",
            json!({"e": environment}),
        );
        let nodes = nodes["nodes"].as_array().cloned().unwrap_or_default();
        if !nodes.is_empty() && nodes.iter().all(|n| n["ackedVersion"] == version) {
            return;
        }
        assert!(Instant::now() < deadline, "{version} never ACKed: {nodes:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn get(url: &str) -> (u16, Option<String>, String) {
    let r = reqwest::blocking::Client::builder().no_proxy().build().unwrap().get(url).send().unwrap();
    let header = r.headers().get("x-origin").map(|v| v.to_str().unwrap().to_owned());
    (r.status().as_u16(), header, r.text().unwrap())
}

#[test]
fn forwarded_exchanges_recorded_by_graphql_answer_the_same_once_enabled_with_the_origin_gone() {
    let dir = tempfile::tempdir().unwrap();
    let origin = Origin::start();
    let up = Up::start(&dir.path().join("data"), &["--api-key", KEY]);
    let api = up.url("GraphQL admin API");
    graphql(
        &api,
        r#"mutation { createProject(input: {name: "shop"}) { name } createEnvironment(input: {project: "shop", name: "staging"}) { environment { path } } }"#,
        json!({}),
    );
    let sidecar = format!(
        "upstreams:\n  app: http://127.0.0.1:{}\nunmatched:\n  forward: {{ upstream: app }}\nrules: []\n",
        origin.port
    );
    graphql(
        &api,
        r#"mutation($t: String!) { applyRules(input: {environment: "shop/staging", text: $t}) { change { version } } }"#,
        json!({"t": sidecar}),
    );
    let dp = DataPlane::start(&up.url("xDS"), "shop/staging", &dir.path().join("dp"));

    let started = graphql(
        &api,
        r#"mutation { startRecording(input: {environment: "shop/staging", methods: ["GET"], pathPrefix: "/api/"}) { change { xdsVersion } } }"#,
        json!({}),
    );
    until_acked(&api, "shop/staging", started["startRecording"]["change"]["xdsVersion"].as_str().unwrap());

    let live: Vec<(u16, Option<String>, String)> =
        ["/api/items/1", "/api/health"].iter().map(|p| get(&format!("{}{p}", dp.listen))).collect();
    assert_eq!(
        live[0],
        (200, Some("real".into()), r#"{"id":1,"name":"lamp"}"#.into()),
        "forwarded to the origin"
    );
    assert_eq!(get(&format!("{}/other", dp.listen)).0, 404, "the origin's own 404, forwarded, not recorded");

    // The recorded rules arrive, disabled and tagged.
    let recorded = "{ rules(filter: {environment: \"shop/staging\", tag: \"recorded\"}) { edges { node { id enabled definition } } } }";
    let deadline = Instant::now() + Duration::from_secs(10);
    let rules = loop {
        let rules =
            graphql(&api, recorded, json!({}))["rules"]["edges"].as_array().cloned().unwrap_or_default();
        if rules.len() >= 2 {
            break rules;
        }
        assert!(Instant::now() < deadline, "the exchanges were never recorded: {rules:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(rules.len(), 2, "only GET /api/…: {rules:?}");
    assert!(rules.iter().all(|r| r["node"]["enabled"] == false), "{rules:?}");
    let stopped = graphql(
        &api,
        r#"mutation { stopRecording(input: {environment: "shop/staging"}) { change { xdsVersion } } }"#,
        json!({}),
    );
    assert!(stopped["stopRecording"]["change"]["xdsVersion"].is_string());

    // Enabled, with the origin gone, they answer as it did.
    for r in &rules {
        let id = r["node"]["id"].as_str().unwrap();
        graphql(&api, "mutation($id: String!) { enableRule(input: {environment: \"shop/staging\", id: $id}) { rule { enabled } } }", json!({"id": id}));
    }
    origin.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let replayed: Vec<(u16, Option<String>, String)> =
            ["/api/items/1", "/api/health"].iter().map(|p| get(&format!("{}{p}", dp.listen))).collect();
        if replayed == live {
            break;
        }
        assert!(Instant::now() < deadline, "replayed {replayed:?}, recorded {live:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    up.stop();
}
