//! `mockplane up --database-url postgres://…`, run as a process against a real PostgreSQL (the
//! tests' own server: controlplane/src/test_postgres.rs): the store is the database, not the
//! data folder, so a start on another folder finds everything; a server that cannot be
//! reached is refused at once, saying where and why; two `up` processes on one database are
//! two replicas, and a change through either one's GraphQL API is served by the other's data
//! plane within a second, also after that one was killed and restarted; replicas started at
//! the same moment on an empty database all come up, one of them having seeded it.

mod up_util;

#[path = "../../controlplane/src/test_postgres.rs"]
#[allow(dead_code)] // `run_sql` is for other tests
mod test_postgres;

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use up_util::{get, Up};

const KEY: &str = "an-operator-chosen-admin-key";

/// A GraphQL call through `up`'s API that must succeed: its `data`.
fn graphql(up: &Up, query: &str, variables: Value) -> Value {
    up_util::graphql(&up.url("GraphQL admin API"), KEY, query, variables)
}

/// Sets the body of the rule `hello` of default/default through `up`'s API.
fn set_hello(up: &Up, body: &str) {
    graphql(
        up,
        "mutation($set: JSON!) { applyRules(input: {environment: \"default/default\", ruleSet: $set, mode: MERGE}) { change { xdsVersion } } }",
        json!({"set": {"rules": [{"id": "hello", "match": {"path": "/hello"}, "response": {"body": body}}]}}),
    );
}

/// How long until `up`'s data plane answers `body` on /hello; fails past a second.
fn until_served(up: &Up, body: &str) -> Duration {
    let url = format!("{}/hello", up.url("mocks"));
    let started = Instant::now();
    loop {
        if get(&url) == (200, body.to_owned()) {
            return started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(1), "{url} did not answer {body:?} within 1 s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn the_store_lives_in_postgres_so_a_start_on_another_folder_finds_everything() {
    let url = test_postgres::database();
    let first = tempfile::tempdir().unwrap();
    let up = Up::start(first.path(), &["--database-url", &url]);
    assert!(up.key().is_some(), "a key on first start: {:?}", up.banner);
    let store = up.banner.iter().find(|l| l.trim_start().starts_with("store ")).unwrap();
    assert!(store.contains("postgres://postgres@127.0.0.1:"), "{store}");
    let (status, pets) = get(&format!("{}/pets", up.url("mocks")));
    assert_eq!((status, pets.contains("Rex")), (200, true), "{pets}");
    up.stop();
    assert!(!first.path().join("mockplane.db").exists(), "no SQLite file beside a PostgreSQL store");

    let second = tempfile::tempdir().unwrap();
    let again = Up::start(second.path(), &["--database-url", &url]);
    assert_eq!(again.key(), None, "the store already has a key: {:?}", again.banner);
    let (status, pets) = get(&format!("{}/pets", again.url("mocks")));
    assert_eq!((status, pets.contains("Rex")), (200, true));
    again.stop();
}

#[test]
fn an_unreachable_server_or_a_bad_url_is_refused_with_what_is_wrong() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    for (url, expected) in [
        (
            format!("postgres://mp:hunter2@127.0.0.1:{port}/mockplane"),
            "cannot connect to postgres://mp:***@127.0.0.1",
        ),
        ("mysql://db/mockplane".to_owned(), "scheme \"mysql\" is not supported"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_mockplane"))
            .args(["up", "--data-dir"])
            .arg(dir.path())
            .args(["--database-url", &url, "--api-listen", "127.0.0.1:0", "--xds-listen", "127.0.0.1:0"])
            .output()
            .expect("mockplane up runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}: {stderr}");
        assert!(stderr.contains("--database-url") && stderr.contains(expected), "{url}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
    }
}

#[test]
fn two_up_processes_on_one_database_serve_each_other_s_changes_within_a_second() {
    let url = test_postgres::database();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Up::start(dir_a.path(), &["--database-url", &url, "--api-key", KEY]);
    let b = Up::start(dir_b.path(), &["--database-url", &url]);
    assert_eq!(b.key(), None, "the second finds the first's store: {:?}", b.banner);

    // Changes through each replica, each served by the other's data plane.
    let changes: usize =
        std::env::var("MOCKPLANE_TEST_REPLICA_CHANGES").ok().and_then(|n| n.parse().ok()).unwrap_or(10);
    let mut took = Vec::with_capacity(changes);
    for i in 0..changes {
        let body = format!("change {i}");
        let (through, seen_by) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        set_hello(through, &body);
        took.push(until_served(seen_by, &body));
    }
    took.sort();
    eprintln!(
        "{changes} changes, through one replica until the other's data plane served them: p50 {:?}, p99 {:?}, max {:?}",
        took[took.len() / 2],
        took[(took.len() * 99).div_ceil(100) - 1],
        took[took.len() - 1]
    );

    // B killed; a change through A meanwhile; B restarted serves it.
    drop(b);
    set_hello(&a, "while B was away");
    let b = Up::start(dir_b.path(), &["--database-url", &url]);
    until_served(&b, "while B was away");
    set_hello(&b, "after B came back");
    until_served(&a, "after B came back");
    a.stop();
    b.stop();
}

#[test]
fn replicas_started_at_once_on_an_empty_database_all_come_up_and_serve_the_one_seed() {
    let url = test_postgres::database();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    // All three find the database empty at about the same moment and seed it.
    let ups: Vec<Up> = std::thread::scope(|s| {
        let started: Vec<_> = dirs
            .iter()
            .map(|dir| {
                let url = url.clone();
                s.spawn(move || Up::start(dir.path(), &["--database-url", &url, "--api-key", KEY]))
            })
            .collect();
        started.into_iter().map(|t| t.join().expect("every replica comes up")).collect()
    });
    for up in &ups {
        let (status, pets) = get(&format!("{}/pets", up.url("mocks")));
        assert_eq!((status, pets.contains("Rex")), (200, true), "{pets}");
        // The operator's key works on each, whichever replica stored it.
        let projects = graphql(up, "{ projects { name } }", json!({}));
        assert_eq!(projects["projects"], json!([{"name": "default"}]), "one project, seeded once");
    }
}
