//! Durability: `mockplane up` killed with SIGKILL at random moments while a client creates
//! rules through its GraphQL API, then started again on the same store: every change the API
//! acknowledged is there, on SQLite (in --data-dir) and on PostgreSQL (the tests' own server,
//! controlplane/src/test_postgres.rs). A change in flight when the process died may or may not
//! be there; one acknowledged must be.

mod up_util;

#[path = "../../controlplane/src/test_postgres.rs"]
#[allow(dead_code)] // `run_sql` is for other tests
mod test_postgres;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use up_util::Up;

const KEY: &str = "an-operator-chosen-admin-key";
const ENV: &str = "dur/ability";
const ROUNDS: usize = 5;

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap()
}

/// A GraphQL call: its `data`, or why not (the process gone, or an error answered).
fn graphql(api: &str, query: &str, variables: Value) -> Result<Value, String> {
    let answer: Value = client()
        .post(api)
        .bearer_auth(KEY)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .and_then(|r| r.json())
        .map_err(|e| e.to_string())?;
    match answer.get("errors") {
        Some(errors) => Err(errors.to_string()),
        None => Ok(answer["data"].clone()),
    }
}

/// Every rule id of the environment, page by page.
fn rule_ids(api: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = graphql(
            api,
            "query($env: String!, $after: String) { rules(filter: {environment: $env}, first: 100, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }",
            json!({"env": ENV, "after": after}),
        )
        .expect("the rules are readable");
        let rules = &page["rules"];
        ids.extend(rules["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()));
        if rules["pageInfo"]["hasNextPage"] != true {
            return ids;
        }
        after = rules["pageInfo"]["endCursor"].clone();
    }
}

/// A small generator for the kill moments, seeded from the clock (the seed is printed).
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, low: u64, high: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        low + (self.0 >> 33) % (high - low)
    }
}

/// `ROUNDS` times: start `up` on `store_args`, create rules until it is killed at a random
/// moment, start it again and find every acknowledged rule. Returns (acknowledged, lost).
fn kill_loop(data_dir: &Path, store_args: &[&str], engine: &str) -> (usize, usize) {
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("{engine}: kill moments seeded with {seed}");
    let mut moments = Moments(seed);
    let args: Vec<&str> = [store_args, &["--api-key", KEY]].concat();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut next = 0usize;
    for round in 0..ROUNDS {
        let up = Up::start(data_dir, &args);
        let api = up.url("GraphQL admin API");
        if round == 0 {
            graphql(&api, r#"mutation { createProject(input: {name: "dur"}) { name } }"#, json!({})).unwrap();
            graphql(
                &api,
                r#"mutation { createEnvironment(input: {project: "dur", name: "ability"}) { environment { path } } }"#,
                json!({}),
            )
            .unwrap();
        }
        // Everything acknowledged before the last kill is here.
        let present = rule_ids(&api);
        let lost: Vec<String> =
            acknowledged.lock().unwrap().iter().filter(|id| !present.contains(id)).cloned().collect();
        assert!(lost.is_empty(), "{engine}, round {round}: acknowledged but lost: {lost:?}");

        let writer = {
            let (api, acknowledged) = (api.clone(), acknowledged.clone());
            let first = next;
            std::thread::spawn(move || {
                for n in first.. {
                    let id = format!("r{n}");
                    let created = graphql(
                        &api,
                        "mutation($env: String!, $rule: JSON!) { createRule(input: {environment: $env, rule: $rule}) { change { xdsVersion } } }",
                        json!({"env": ENV, "rule": {"id": id, "match": {"path": format!("/{id}")}, "response": {"body": id}}}),
                    );
                    match created {
                        Ok(_) => acknowledged.lock().unwrap().push(id),
                        Err(_) => return n + 1,
                    }
                }
                unreachable!("the writer stops when the process is killed")
            })
        };
        std::thread::sleep(Duration::from_millis(moments.next_ms(50, 400)));
        drop(up); // SIGKILL
        next = writer.join().expect("the writer ran");
    }
    let up = Up::start(data_dir, &args);
    let present = rule_ids(&up.url("GraphQL admin API"));
    let acknowledged = acknowledged.lock().unwrap();
    let lost = acknowledged.iter().filter(|id| !present.contains(id)).count();
    eprintln!(
        "{engine}: {ROUNDS} kills, {} changes acknowledged, {lost} lost, {} present",
        acknowledged.len(),
        present.len()
    );
    up.stop();
    (acknowledged.len(), lost)
}

#[test]
fn every_acknowledged_change_survives_sigkill_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (acknowledged, lost) = kill_loop(dir.path(), &[], "SQLite");
    assert!(acknowledged >= ROUNDS, "the client got changes through: {acknowledged}");
    assert_eq!(lost, 0);
}

#[test]
fn every_acknowledged_change_survives_sigkill_on_postgres() {
    let url = test_postgres::database();
    let dir = tempfile::tempdir().unwrap();
    let (acknowledged, lost) = kill_loop(dir.path(), &["--database-url", &url], "PostgreSQL");
    assert!(acknowledged >= ROUNDS, "the client got changes through: {acknowledged}");
    assert_eq!(lost, 0);
}
