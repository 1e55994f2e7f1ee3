//! Data planes given several control planes, run as processes as an operator runs them: two
//! `mockplane up` replicas on one real PostgreSQL (controlplane/src/test_postgres.rs) and three
//! `mockplane dataplane --control-plane A --control-plane B` (or `B,A`). A change through either
//! replica is served by every data plane; a replica killed with SIGKILL loses its data planes
//! to the other without a moment in which they stop serving the rules in force, and they take
//! the next change from it; the replica restarted on its address takes them back when the
//! other one is killed in turn.

mod up_util;

#[path = "../../controlplane/src/test_postgres.rs"]
#[allow(dead_code)] // `run_sql` is for other tests
mod test_postgres;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use up_util::{get, Up};

const KEY: &str = "an-operator-chosen-admin-key";

/// How long a change may take to reach every data plane, and a data plane to fail over: a few
/// seconds (a change takes well under one; the margin is for a loaded 2-core machine).
const WITHIN: Duration = Duration::from_secs(5);

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap()
}

/// Sets the body of the rule `hello` of default/default through a replica's API.
fn set_hello(up: &Up, body: &str) {
    let answer: Value = http()
        .post(up.url("GraphQL admin API"))
        .bearer_auth(KEY)
        .json(&json!({
            "query": "mutation($set: JSON!) { applyRules(input: {environment: \"default/default\", ruleSet: $set, mode: MERGE}) { change { xdsVersion } } }",
            "variables": {"set": {"rules": [{"id": "hello", "match": {"path": "/hello"}, "response": {"body": body}}]}},
        }))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(answer.get("errors").is_none(), "{answer}");
}

/// A running `mockplane dataplane`, killed if the test fails before it ends.
struct Dataplane {
    child: Child,
    listen: String,
    admin: String,
}

impl Dataplane {
    fn start(id: &str, control_planes: &[&str]) -> Dataplane {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mockplane"));
        command.env_remove("RUST_LOG").args(["--log-format", "json", "dataplane"]);
        for url in control_planes {
            command.args(["--control-plane", url]);
        }
        let mut child = command
            .args(["--environment", "default/default", "--node-id", id])
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "1", "--no-pin"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("mockplane dataplane starts");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Read to the end, so that the data plane never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let field = |needle: &str, name: &str| {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                let line = lines.recv_timeout(left).unwrap_or_else(|e| panic!("{id}: no {needle:?} ({e})"));
                if line.contains(needle) {
                    let v: Value = serde_json::from_str(&line).unwrap();
                    return v["fields"][name].as_str().unwrap().to_owned();
                }
            }
        };
        let listen = field("data plane serving", "listen");
        let admin = field("admin endpoints serving", "admin");
        Dataplane { child, listen, admin }
    }

    fn hello(&self) -> (u16, String) {
        get(&format!("http://{}/hello", self.listen))
    }

    /// The control plane it is connected to, if it is.
    fn connected_to(&self) -> Option<String> {
        let ready: Value =
            http().get(format!("http://{}/readyz", self.admin)).send().unwrap().json().unwrap();
        let link = &ready["control_plane"];
        (link["connected"] == true).then(|| link["url"].as_str().unwrap().to_owned())
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until every data plane answers `body` on /hello; fails past [`WITHIN`].
fn until_all_serve(dataplanes: &[Dataplane], body: &str) {
    let started = Instant::now();
    for dp in dataplanes {
        while dp.hello() != (200, body.to_owned()) {
            assert!(started.elapsed() < WITHIN, "{} did not answer {body:?} within {WITHIN:?}", dp.listen);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Waits until every data plane is connected to `url`, checking meanwhile that each keeps
/// answering `body` (the rules in force) on every request; fails past [`WITHIN`].
fn until_all_connected_to(dataplanes: &[Dataplane], url: &str, body: &str) {
    let started = Instant::now();
    loop {
        for dp in dataplanes {
            assert_eq!(
                dp.hello(),
                (200, body.to_owned()),
                "{} stopped serving the rules in force",
                dp.listen
            );
        }
        if dataplanes.iter().all(|dp| dp.connected_to().as_deref() == Some(url)) {
            return;
        }
        assert!(started.elapsed() < WITHIN, "the data planes did not move to {url} within {WITHIN:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A loopback address nothing listens on now, for a replica that must come back on it.
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[test]
fn data_planes_fail_over_between_replicas_without_a_gap_and_take_every_change() {
    let database = test_postgres::database();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let xds_a = free_address();
    let start_a =
        || Up::start(dir_a.path(), &["--database-url", &database, "--api-key", KEY, "--xds-listen", &xds_a]);
    let mut a = start_a();
    let mut b = Up::start(dir_b.path(), &["--database-url", &database]);
    let (url_a, url_b) = (a.url("xDS"), b.url("xDS"));
    assert_eq!(url_a, format!("http://{xds_a}"));

    // Two data planes start on A, one on B; each is given both, as a list or flag by flag.
    let both_ab = format!("{url_a},{url_b}");
    let dataplanes = [
        Dataplane::start("dp-0", &[&both_ab]),
        Dataplane::start("dp-1", &[&url_b, &url_a]),
        Dataplane::start("dp-2", &[&url_a, &url_b]),
    ];

    // A change through each replica reaches every data plane.
    set_hello(&a, "through A");
    until_all_serve(&dataplanes, "through A");
    set_hello(&b, "through B");
    until_all_serve(&dataplanes, "through B");
    assert_eq!(
        dataplanes.iter().map(Dataplane::connected_to).collect::<Vec<_>>(),
        [Some(url_a.clone()), Some(url_b.clone()), Some(url_a.clone())]
    );

    // A killed: its data planes move to B, serving "through B" all along, and take B's next change.
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    until_all_connected_to(&dataplanes, &url_b, "through B");
    set_hello(&b, "after A was killed");
    until_all_serve(&dataplanes, "after A was killed");

    // A back on its address, B killed: every data plane moves to A and takes its change.
    drop(a);
    let a = start_a();
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    until_all_connected_to(&dataplanes, &url_a, "after A was killed");
    set_hello(&a, "after B was killed");
    until_all_serve(&dataplanes, "after B was killed");
    a.stop();
}

#[test]
fn every_control_plane_url_is_checked_at_start_and_a_bad_one_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_mockplane"))
        .args(["dataplane", "--control-plane", "http://127.0.0.1:18000,127.0.0.1:18001"])
        .args(["--environment", "shop/staging", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
        .output()
        .expect("mockplane runs");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--control-plane \"127.0.0.1:18001\": no scheme; write http://127.0.0.1:18001"),
        "{err}"
    );
}
