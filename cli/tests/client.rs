//! The CLI client's commands run as processes, as a pipeline runs them, against a real
//! `mockplane up` (configured by MOCKPLANE_URL and MOCKPLANE_API_KEY): what each prints, what
//! it changes (seen on the data plane), and the exit codes a script branches on (0 done, 1
//! refused or invalid, 2 usage, 3 unreachable).

mod up_util;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use up_util::{get, mockplane, text, until_answers, Cli, Up};

const KEY: &str = "a-key-for-the-cli-tests-0123";

fn stderr(out: &Output) -> String {
    text(&out.stderr)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

const HELLO: &str = "rules:\n  - id: hello\n    match: { path: /hello }\n    response: { body: hi }\n";

#[test]
fn a_pipeline_applies_diffs_inspects_verifies_rolls_back_and_exports_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(&dir.path().join("data"), &["--api-key", KEY]);
    let cli = Cli::new(&up, KEY);
    let mocks = up.url("mocks");

    let projects = cli.ok(&["get", "projects"]);
    assert!(projects.starts_with("NAME") && projects.contains("default"), "{projects}");
    let envs: serde_json::Value =
        serde_json::from_str(&cli.ok(&["get", "environments", "-o", "json"])).unwrap();
    assert_eq!(envs[0]["path"], "default/default");

    let hello = write(dir.path(), "hello.yaml", HELLO);
    let diff = cli.ok(&["diff", "-f", &hello, "--env", "default/default", "--merge"]);
    assert!(diff.contains("+++ ") && diff.contains("rule hello") && diff.contains("+  body: hi"), "{diff}");
    // A dry run stores nothing: the demo's catch-all still answers.
    let dry = cli.ok(&["apply", "-f", &hello, "--env", "default/default", "--merge", "--dry-run"]);
    assert!(dry.contains("dry run") && dry.contains("create hello"), "{dry}");
    assert_eq!(get(&format!("{mocks}/hello")).0, 404);
    assert!(!cli.ok(&["get", "rules", "--env", "default/default"]).contains("hello"));

    let applied = cli.ok(&["apply", "-f", &hello, "--env", "default/default", "--merge"]);
    assert!(
        applied.contains("version 2 pushed") && applied.contains("created hello (revision 1)"),
        "{applied}"
    );
    until_answers(&format!("{mocks}/hello"), "hi");
    let rules = cli.ok(&["get", "rules", "--env", "default/default"]);
    assert!(rules.lines().any(|l| l.starts_with("hello ") && l.contains("true")), "{rules}");
    assert_eq!(
        cli.ok(&["diff", "-f", &hello, "--env", "default/default", "--merge"]).trim(),
        "default/default: no difference"
    );

    // A file `mockplane validate` refuses: the same text, exit 1, nothing sent.
    let bad = write(
        dir.path(),
        "bad.yaml",
        "rules:\n  - id: x\n    match: { path: /x }\n    response: { status: 999 }\n",
    );
    let refused = cli.run(&["apply", "-f", &bad, "--env", "default/default"]);
    let validate = mockplane().args(["validate", &bad]).output().unwrap();
    assert_eq!((refused.status.code(), stderr(&refused)), (Some(1), stderr(&validate)));
    // One the control plane refuses (it cannot read files): every problem at its place in the file.
    let file = write(
        dir.path(),
        "file.yaml",
        "rules:\n  - id: f\n    match: { path: /f }\n    response: { file: hello.yaml }\n",
    );
    let refused = cli.run(&["apply", "-f", &file, "--env", "default/default", "--merge"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused)
            .contains("rules[0].response.file: a rule kept by the control plane cannot read a file"),
        "{}",
        stderr(&refused)
    );

    let explained = cli.ok(&["explain", "--env", "default/default", "GET", "/hello"]);
    assert_eq!(explained.lines().next(), Some("GET /hello: answered by the rule hello"), "{explained}");

    // A request with a header, counted by verify (and not with another header).
    let client = reqwest::blocking::Client::builder().no_proxy().build().unwrap();
    client.get(format!("{mocks}/hello")).header("x-run", "42").send().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cli.ok(&["verify", "--env", "default/default", "GET", "/hello", "-H", "x-run: 42"]).trim() != "1" {
        assert!(Instant::now() < deadline, "verify never counted the request");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        cli.ok(&["verify", "--env", "default/default", "GET", "/hello", "-H", "x-run: 7"]).trim(),
        "0"
    );
    let requests = cli.ok(&["get", "requests", "--env", "default/default"]);
    assert!(
        requests.lines().any(|l| l.contains("GET") && l.contains("/hello") && l.contains("200")),
        "{requests}"
    );
    let nodes = cli.ok(&["get", "nodes"]);
    assert!(
        nodes.lines().any(|l| l.starts_with("local ") && l.contains("default/default") && l.contains("true")),
        "{nodes}"
    );

    // Change it, then roll it back.
    let changed = write(dir.path(), "changed.yaml", &HELLO.replace("body: hi", "body: changed"));
    cli.ok(&["apply", "-f", &changed, "--env", "default/default", "--merge"]);
    until_answers(&format!("{mocks}/hello"), "changed");
    let back = cli.ok(&["rollback", "hello", "--to", "1", "--env", "default/default"]);
    assert!(back.contains("hello is revision 1 again, as revision 3"), "{back}");
    until_answers(&format!("{mocks}/hello"), "hi");

    // Export, import into another environment, export again: the same environment.
    let exported = cli.ok(&["export", "--env", "default/default"]);
    assert!(exported.contains("id: hello") && exported.contains("STORE_NAME"), "{exported}");
    let created: serde_json::Value = client
        .post(up.url("GraphQL admin API"))
        .bearer_auth(KEY)
        .json(&serde_json::json!({"query": "mutation { createEnvironment(input: {project: \"default\", name: \"copy\"}) { environment { path } } }"}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(created["data"]["createEnvironment"]["environment"]["path"], "default/copy", "{created}");
    let file = write(dir.path(), "export.yaml", &exported);
    cli.ok(&["import", &file, "--env", "default/copy"]);
    let again = cli.ok(&["export", "--env", "default/copy"]);
    assert_eq!(again.replace("environment: copy", "environment: default"), exported);
    let as_json: serde_json::Value =
        serde_json::from_str(&cli.ok(&["export", "--env", "default/copy", "-o", "json"])).unwrap();
    assert_eq!(as_json["rules"].as_array().map(Vec::len), Some(exported.matches("\n- id: ").count()));

    up.stop();
}

#[test]
fn exit_codes_tell_refused_from_usage_from_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(&dir.path().join("data"), &["--api-key", KEY]);
    let cli = Cli::new(&up, KEY);
    // Refused: an unknown environment, a wrong key.
    let out = cli.run(&["get", "rules", "--env", "nope/nothing"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("NOT_FOUND") && stderr(&out).contains("nope/nothing"), "{}", stderr(&out));
    let out = mockplane()
        .args(["get", "projects", "--url", &cli.url, "--api-key", "not-a-key-of-this-store"])
        .env_remove("MOCKPLANE_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("UNAUTHENTICATED"), "{}", stderr(&out));
    // Usage: a missing argument.
    assert_eq!(cli.run(&["apply", "--env", "default/default"]).status.code(), Some(2));
    // Unreachable: nothing listens.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let out = mockplane()
        .args(["get", "projects"])
        .env("MOCKPLANE_URL", format!("http://{closed}"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("cannot reach the control plane"), "{}", stderr(&out));
    // A closed pipe ends the command quietly.
    let out = Command::new("sh")
        .args([
            "-c",
            &format!("{} get rules --env default/default | head -1", env!("CARGO_BIN_EXE_mockplane")),
        ])
        .env("MOCKPLANE_URL", &cli.url)
        .env("MOCKPLANE_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    up.stop();
}
