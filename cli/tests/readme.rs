//! The README's commands, run as the README says, on ephemeral ports instead of 8080, 9090 and
//! 9901:
//! - the main job, `mockplane up`, then exactly the `curl` lines of its block, run by `sh`
//!   with `KEY` set to the key `up` printed, each answer checked against the comment beside it,
//!   and the GraphiQL page it names;
//! - `mockplane dataplane --rules examples/petstore.yaml` (addresses read from its JSON log),
//!   then the requests its block shows, each checked against its comment; then SIGTERM, after
//!   which it stops cleanly, as docs/operations.md says.

mod up_util;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The README's block that starts with `cargo run --release -p mockplane -- {command}`: the
/// arguments after `--` and the `curl` lines, each split into the command and its comment.
fn readme_run_block(command: &str) -> (String, Vec<(String, String)>) {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let start = readme
        .find(&format!("cargo run --release -p mockplane -- {command}"))
        .unwrap_or_else(|| panic!("the README's {command:?} command"));
    let block = &readme[start..readme[start..].find("```").map_or(readme.len(), |end| start + end)];
    let mut lines = block.lines();
    let run = lines.next().expect("the run line");
    let args = run.strip_prefix("cargo run --release -p mockplane -- ").expect("cargo run").trim().to_owned();
    let curls = lines
        .filter(|l| l.starts_with("curl "))
        .map(|l| {
            let (command, comment) = l.rsplit_once(" # ").unwrap_or((l, ""));
            (command.trim().to_owned(), comment.trim().to_owned())
        })
        .collect();
    (args, curls)
}

/// A `mockplane` process, killed if the test ends without stopping it.
struct Mockplane {
    child: Child,
    log: Receiver<Value>,
}

impl Drop for Mockplane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Mockplane {
    fn start(args: &[&str]) -> Mockplane {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mockplane"))
            .args(args)
            .current_dir(repo())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mockplane");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, log) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let event = serde_json::from_str::<Value>(&line).unwrap_or_else(|e| {
                    panic!("--log-format json wrote a line that is not JSON ({e}): {line}")
                });
                if tx.send(event).is_err() {
                    break;
                }
            }
        });
        Mockplane { child, log }
    }

    /// The next log event whose message is `message`; panics after 60 s (a cold debug build
    /// on a busy machine can be slow to start).
    fn wait_for(&self, message: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left) {
                Ok(event) if event["fields"]["message"] == message => return event,
                Ok(_) => {}
                Err(e) => panic!("no log event {message:?}: {e}"),
            }
        }
    }
}

#[test]
fn the_readme_quick_start_answers_as_its_comments_say() {
    let (args, curls) = readme_run_block("up");
    assert_eq!(args, "up", "the README's main job changed; update this test");
    let dir = tempfile::tempdir().unwrap();
    let up = up_util::Up::start(dir.path(), &[]);
    let key = up.key().expect("the first start prints a key");
    let mocks = up.url("mocks").trim_start_matches("http://").to_owned();
    let api = up.url("GraphQL admin API");
    let api_host = api.trim_start_matches("http://").trim_end_matches("/graphql").to_owned();
    let run = |command: &str| {
        let command = command.replace("localhost:9090", &mocks).replace("localhost:8080", &api_host);
        let out = Command::new("sh").args(["-c", &command]).env("KEY", &key).output().expect("sh runs curl");
        assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let commands: Vec<&str> = curls.iter().map(|(c, _)| c.split_whitespace().nth(2).unwrap_or("")).collect();
    assert_eq!(
        commands,
        ["localhost:9090/pets/42", "localhost:9090/hello", "localhost:8080/graphql", "localhost:9090/hello"],
        "the README's requests changed; update this test"
    );
    // `{…}, from the templated rule get-pet`: the JSON before the comma is the answer.
    let (body, from) = curls[0].1.rsplit_once(", ").expect("a body, then its rule");
    assert_eq!((run(&curls[0].0).as_str(), from), (body, "from the templated rule get-pet"));
    // `404 from the demo's catch-all rule: {…}`
    let (said, body) = curls[1].1.split_once(": ").expect("a body in the comment");
    assert_eq!(said, "404 from the demo's catch-all rule");
    assert_eq!(run(&curls[1].0), body);
    // The mutation answers what its comment shows; then the data plane answers the new rule.
    assert_eq!(run(&curls[2].0), curls[2].1);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let answer = run(&curls[3].0);
        if answer == curls[3].1 {
            break;
        }
        assert!(Instant::now() < deadline, "the new rule never served: {answer}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The GraphiQL page the README sends a browser to.
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    assert!(readme.contains("Open **http://localhost:8080/graphql** in a browser for\nGraphiQL"));
    let (status, page) = up_util::get(&api);
    assert_eq!(status, 200);
    assert!(page.contains("GraphiQL"), "{page}");
    up.stop();
}

#[test]
fn the_readme_dataplane_block_answers_as_its_comments_say() {
    let (args, curls) = readme_run_block("dataplane");
    assert_eq!(
        args, "dataplane --rules examples/petstore.yaml",
        "the README's main job changed; update this test"
    );
    let mut argv: Vec<&str> = vec!["--log-format", "json"];
    argv.extend(args.split_whitespace());
    argv.extend(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "2", "--no-pin"]);
    let mp = Mockplane::start(&argv);

    // Every event has the fields docs/operations.md names for --log-format json.
    let serving = mp.wait_for("data plane serving");
    for field in ["timestamp", "level", "fields", "target"] {
        assert!(serving.get(field).is_some(), "no {field} in {serving}");
    }
    let listen = serving["fields"]["listen"].as_str().expect("the listen address").to_owned();
    let admin = mp.wait_for("admin endpoints serving")["fields"]["admin"].as_str().expect("admin").to_owned();
    let http =
        reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap();
    let url = |curl: &str| {
        let target = curl.split(' ').find(|t| t.starts_with("localhost:")).expect("a URL");
        format!("http://{}", target.replace("localhost:9090", &listen).replace("localhost:9901", &admin))
    };

    let commands: Vec<&str> = curls.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(
        commands,
        [
            "curl -i localhost:9090/pets",
            "curl -s localhost:9090/nope",
            "curl -si -X OPTIONS localhost:9090/pets -H 'origin: http://localhost:5173' -H 'access-control-request-method: POST'",
            "curl -s localhost:9901/metrics"
        ],
        "the README's requests changed; update this test"
    );

    // `curl -i localhost:9090/pets  # 200, x-total-count: 3 and the three pets, from the rule list-pets`
    assert_eq!(curls[0].1, "200, x-total-count: 3 and the three pets, from the rule list-pets");
    let pets = http.get(url(&curls[0].0)).send().unwrap();
    assert_eq!(pets.status().as_u16(), 200);
    assert_eq!(pets.headers()["x-total-count"], "3");
    assert_eq!(pets.headers()["content-type"], "application/json");
    let pets: Value = pets.json().unwrap();
    let names: Vec<&str> = pets.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Rex", "Tom", "Polly"]);

    // `curl -s localhost:9090/nope  # 404 from the catch-all rule not-found: {…}`: the body
    // printed in the comment is the body served.
    let (said, body) = curls[1].1.split_once(": ").expect("a body in the comment");
    assert_eq!(said, "404 from the catch-all rule not-found");
    let nope = http.get(url(&curls[1].0)).send().unwrap();
    assert_eq!(nope.status().as_u16(), 404);
    assert_eq!(nope.text().unwrap(), body);

    // The preflight: answered by the cors block, without a rule.
    assert_eq!(curls[2].1, "204 and access-control-allow-origin: *, from the cors block");
    let preflight = http
        .request(reqwest::Method::OPTIONS, url(&curls[2].0))
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .send()
        .unwrap();
    assert_eq!(preflight.status().as_u16(), 204);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");

    // `curl -s localhost:9901/metrics  # Prometheus text; also /healthz /readyz /config /journal`
    assert_eq!(curls[3].1, "Prometheus text; also /healthz /readyz /config /journal");
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let text = http.get(url(&curls[3].0)).send().unwrap().text().unwrap();
        // The rules that answered the two requests above, once the workers have published.
        if text.contains("mockplane_requests_total{rule=\"list-pets\",status=\"2xx\"} 1")
            && text.contains("mockplane_requests_total{rule=\"not-found\",status=\"4xx\"} 1")
        {
            break text;
        }
        assert!(Instant::now() < deadline, "the two requests never showed in /metrics:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(metrics.contains("# TYPE mockplane_requests_total counter"), "{metrics}");
    // /readyz answers what docs/operations.md shows for this very command.
    let ops = std::fs::read_to_string(repo().join("docs/operations.md")).expect("docs/operations.md");
    let readyz_section = ops.split("### GET /readyz").nth(1).expect("the /readyz section");
    let shown = readyz_section
        .split("```json\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the /readyz example");
    let shown: Value = serde_json::from_str(shown).expect("the /readyz example is JSON");
    let readyz: Value = http.get(format!("http://{admin}/readyz")).send().unwrap().json().unwrap();
    assert_eq!(readyz, shown, "docs/operations.md's /readyz example is stale");
    for endpoint in ["/healthz", "/config", "/journal"] {
        let r = http.get(format!("http://{admin}{endpoint}")).send().unwrap();
        assert_eq!(r.status().as_u16(), 200, "GET {endpoint}");
    }

    // SIGTERM: a graceful stop, exit status 0.
    let pid = mp.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().expect("kill").success());
    mp.wait_for("stopped");
    let mut mp = mp;
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = mp.child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "mockplane did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "mockplane exited with {status} after SIGTERM");
}
