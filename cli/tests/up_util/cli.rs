//! The CLI client run as a process, as a pipeline runs it: `MOCKPLANE_URL` and
//! `MOCKPLANE_API_KEY` set for a `mockplane up`, its output and exit status returned.

use std::process::Output;
use std::time::{Duration, Instant};

/// `mockplane` client commands against one control plane.
pub struct Cli {
    /// The GraphQL admin API's URL.
    pub url: String,
    pub key: &'static str,
}

impl Cli {
    /// For the `mockplane up` whose key is `key`.
    pub fn new(up: &super::Up, key: &'static str) -> Cli {
        Cli { url: up.url("GraphQL admin API"), key }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        super::mockplane()
            .args(args)
            .env("MOCKPLANE_URL", &self.url)
            .env("MOCKPLANE_API_KEY", self.key)
            .output()
            .expect("mockplane runs")
    }

    /// Runs a command that must succeed; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {:?}\n{}", out.status, text(&out.stderr));
        text(&out.stdout)
    }

    /// A GraphQL call that must succeed: its `data`.
    pub fn graphql(&self, query: &str, variables: serde_json::Value) -> serde_json::Value {
        graphql(&self.url, self.key, query, variables)
    }

    /// Creates the project `project` and its environments `names`.
    pub fn environments(&self, project: &str, names: &[&str]) {
        let mut query = format!("mutation {{ createProject(input: {{name: \"{project}\"}}) {{ name }} ");
        for (i, name) in names.iter().enumerate() {
            query.push_str(&format!(
                "e{i}: createEnvironment(input: {{project: \"{project}\", name: \"{name}\"}}) {{ environment {{ path }} }} "
            ));
        }
        query.push('}');
        self.graphql(&query, serde_json::json!({}));
    }
}

/// A call to the GraphQL admin API at `api` with `key` that must succeed: its `data`.
pub fn graphql(api: &str, key: &str, query: &str, variables: serde_json::Value) -> serde_json::Value {
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client");
    let answer: serde_json::Value = client
        .post(api)
        .bearer_auth(key)
        .json(&serde_json::json!({"query": query, "variables": variables}))
        .send()
        .and_then(|r| r.json())
        .unwrap_or_else(|e| panic!("{query}\n→ {e}"));
    assert!(answer.get("errors").is_none(), "{query}\n→ {answer}");
    answer["data"].clone()
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Polls `GET url` (up to 10 s) until it answers `body`.
pub fn until_answers(url: &str, body: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = super::get(url);
        if got.1 == body {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never answered {body:?}; last {got:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
