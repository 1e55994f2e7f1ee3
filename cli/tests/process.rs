//! The `mockplane` binary run as a process, as a user runs it: `validate` on good and bad files
//! (exit codes, the text), `dataplane --rules` on ephemeral ports answering over HTTP and
//! stopping on SIGTERM, the refusals of flags that cannot work, and logs without colour codes
//! when stderr is a pipe.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn mockplane() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mockplane"));
    // The tests read the logs at info; a user's RUST_LOG must not hide them.
    c.env_remove("RUST_LOG").env_remove("NO_COLOR");
    c
}

fn run(args: &[&str]) -> Output {
    mockplane().args(args).output().expect("mockplane runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

const HELLO: &str =
    "rules:\n  - id: hello\n    match: { method: GET, path: /hello }\n    response: { body: hi }\n";

/// A running `mockplane`, killed if a test fails before stopping it. Its stderr is read line by
/// line on a thread; `keep_log: false` closes the pipe after the admin listener is announced,
/// as a log reader that goes away would.
struct Proc {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Proc {
    fn spawn(args: &[&str], keep_log: bool) -> Proc {
        let mut child = mockplane().args(args).stderr(Stdio::piped()).spawn().expect("mockplane starts");
        let stderr = child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                let last = line.contains("admin endpoints serving");
                if tx.send(line).is_err() || (last && !keep_log) {
                    return; // drops the pipe's read end
                }
            }
        });
        Proc { child, lines }
    }

    /// The next log line containing `needle`, within 10 s.
    fn line_with(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line with {needle:?} within 10 s"),
            }
        }
    }

    /// Sends SIGTERM and waits (at most 10 s) for the process to exit.
    fn terminate(&mut self) -> ExitStatus {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid fits");
        // SAFETY: kill(2) with a pid this test spawned and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "mockplane did not stop within 10 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `field` in a JSON log line.
fn json_field(line: &str, field: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    v["fields"][field].as_str().unwrap_or_else(|| panic!("no {field} in {line}")).to_owned()
}

/// The value of `field=` in a human log line.
fn human_field(line: &str, field: &str) -> String {
    let start = line.find(&format!("{field}=")).unwrap_or_else(|| panic!("no {field}= in {line:?}"));
    line[start + field.len() + 1..].split_whitespace().next().unwrap().trim_matches('"').to_owned()
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap()
}

const EPHEMERAL: [&str; 7] =
    ["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "1", "--no-pin"];

#[test]
fn validate_counts_rules_in_words_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let one = write(dir.path(), "one.yaml", HELLO);
    let two =
        write(dir.path(), "two.yaml", &format!("{HELLO}  - {{ id: bye, response: {{ status: 410 }} }}\n"));
    for (file, says) in [(&one, "1 rule, valid"), (&two, "2 rules, valid")] {
        let out = run(&["validate", file]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(text(&out.stdout), format!("{file}: {says}\n"));
    }
}

#[test]
fn validate_lists_every_error_with_its_place_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.yaml",
        "rules:\n  - id: a\n    match: { path: { regex: \"(\" } }\n    response: { body: a }\n  - id: b\n    response: { status: 42 }\n",
    );
    let out = run(&["validate", &bad]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with(&format!("{bad}: rule set refused, 2 errors:\n")), "{err}");
    assert!(err.contains("  rules[0].match.path.regex: invalid regex"), "{err}");
    assert!(err.contains("  rules[1].response.status: must be 100..=599, got 42"), "{err}");
    assert!(out.stdout.is_empty());

    let missing = dir.path().join("missing.yaml").display().to_string();
    let out = run(&["validate", &missing]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with(&format!("cannot read {missing}: ")), "{out:?}");
}

#[test]
fn a_dataplane_serves_a_rules_file_on_ephemeral_ports_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "rules.yaml", HELLO);
    let mut args = vec!["--log-format", "json", "dataplane", "--rules", &rules];
    args.extend(EPHEMERAL);
    let mut dp = Proc::spawn(&args, true);
    let listen = json_field(&dp.line_with("data plane serving"), "listen");
    let admin = json_field(&dp.line_with("admin endpoints serving"), "admin");
    let r = http().get(format!("http://{listen}/hello")).send().unwrap();
    assert_eq!((r.status().as_u16(), r.text().unwrap().as_str()), (200, "hi"));
    let ready: serde_json::Value =
        http().get(format!("http://{admin}/readyz")).send().unwrap().json().unwrap();
    assert_eq!((ready["ready"].clone(), ready["version"].clone()), (true.into(), 1.into()));
    let status = dp.terminate();
    assert!(status.success(), "{status}");
    dp.line_with("stopped");
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes_and_a_vanished_reader_stops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "rules.yaml", HELLO);
    let mut args = vec!["dataplane", "--rules", &rules];
    args.extend(EPHEMERAL);
    // The log's reader goes away once the admin listener is announced.
    let mut dp = Proc::spawn(&args, false);
    let serving = dp.line_with("data plane serving");
    assert!(!serving.contains('\x1b'), "an escape code in a piped log: {serving:?}");
    assert!(serving.contains(" INFO ") && serving.contains("listen=127.0.0.1:"), "{serving}");
    let listen = human_field(&serving, "listen");
    dp.line_with("admin endpoints serving");
    std::thread::sleep(Duration::from_millis(100)); // the pipe is closed by now
                                                    // Serving, then shutting down, both log to the broken pipe: neither may kill or hang it.
    for _ in 0..3 {
        assert_eq!(http().get(format!("http://{listen}/hello")).send().unwrap().text().unwrap(), "hi");
    }
    let status = dp.terminate();
    assert!(status.success(), "{status}");
}

/// A tiny origin: answers every request on one connection with `origin saw PATH`.
fn origin() -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut have = Vec::new();
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => have.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = have.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&have[..end]).into_owned();
                        have.drain(..end + 4);
                        let path = head.split(' ').nth(1).unwrap_or("").to_owned();
                        let body = format!("origin saw {path}");
                        let answer =
                            format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

#[test]
fn the_one_flag_sidecar_mocks_what_the_rules_match_and_passes_the_rest_through() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "rules.yaml", HELLO);
    let upstream = origin().to_string();
    let mut args = vec!["--log-format", "json", "dataplane", "--rules", &rules, "--upstream", &upstream];
    args.extend(EPHEMERAL);
    let dp = Proc::spawn(&args, false);
    let listen = json_field(&dp.line_with("data plane serving"), "listen");
    let get = |path: &str| http().get(format!("http://{listen}{path}")).send().unwrap().text().unwrap();
    assert_eq!(get("/hello"), "hi", "the rule answers");
    assert_eq!(get("/anything/else?x=1"), "origin saw /anything/else?x=1", "the rest passes through");

    // Without a rules file: a pure pass-through proxy.
    let mut args = vec!["--log-format", "json", "dataplane", "--upstream", &upstream];
    args.extend(EPHEMERAL);
    let dp = Proc::spawn(&args, false);
    let listen = json_field(&dp.line_with("data plane serving"), "listen");
    let r = http().get(format!("http://{listen}/hello")).send().unwrap();
    assert_eq!(r.text().unwrap(), "origin saw /hello");

    // A URL works too; https:// speaks TLS (to this plain origin, which waits for a request
    // line that never comes: a handshake that times out).
    for (scheme, status, says) in
        [("http", 200, "origin saw /x"), ("https", 504, "TLS: the handshake timed out after 1000 ms")]
    {
        let url = format!("{scheme}://{upstream}");
        let mut args = vec!["--log-format", "json", "dataplane", "--upstream", &url];
        args.extend(EPHEMERAL);
        let dp = Proc::spawn(&args, false);
        let listen = json_field(&dp.line_with("data plane serving"), "listen");
        let r = http().get(format!("http://{listen}/x")).send().unwrap();
        assert_eq!(r.status().as_u16(), status, "{url}");
        let body = r.text().unwrap();
        assert!(body.contains(says), "{url}: {body}");
    }

    // A flag that names no endpoint is refused at start, with the place of the mistake.
    let mut args = vec!["dataplane", "--upstream", "nohost"];
    args.extend(EPHEMERAL);
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = text(&out.stderr);
    assert!(err.contains("upstreams.sidecar.endpoints[0]: \"nohost\" is not host:port"), "{err}");
}

#[test]
fn a_dataplane_without_a_source_or_with_flags_it_would_ignore_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "rules.yaml", HELLO);
    let state = dir.path().display().to_string();
    for (args, code, says) in [
        (
            vec!["dataplane"],
            2,
            "one of --rules FILE, --openapi FILE, --wiremock DIR or --control-plane URL (with --environment) is needed",
        ),
        (
            vec!["dataplane", "--rules", &rules, "--environment", "shop/staging"],
            2,
            "the argument '--rules <RULES>' cannot be used with '--environment <ENVIRONMENT>'",
        ),
        (
            vec!["dataplane", "--rules", &rules, "--state-dir", &state],
            2,
            "the argument '--rules <RULES>' cannot be used with '--state-dir <STATE_DIR>'",
        ),
        (vec!["dataplane", "--control-plane", "http://127.0.0.1:18000"], 2, "--environment <ENVIRONMENT>"),
        (
            vec!["dataplane", "--control-plane", "127.0.0.1:18000", "--environment", "shop/staging"],
            1,
            "--control-plane \"127.0.0.1:18000\": no scheme; write http://127.0.0.1:18000",
        ),
        (
            vec!["dataplane", "--control-plane", "http://127.0.0.1:18000", "--environment", "staging"],
            1,
            "--environment: environment \"staging\" is not of the form project/environment",
        ),
    ] {
        let mut all = args.clone();
        if code == 1 {
            all.extend(EPHEMERAL); // refused before binding anything, but never on a fixed port
        }
        let out = run(&all);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {out:?}");
        let err = text(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_forward_to_a_refused_upstream_answers_502_and_logs_the_upstream_the_endpoint_and_the_reason() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused = closed.local_addr().unwrap().to_string();
    drop(closed);
    let mut args = vec!["--log-format", "json", "dataplane", "--upstream", &refused];
    args.extend(EPHEMERAL);
    let dp = Proc::spawn(&args, true);
    let listen = json_field(&dp.line_with("data plane serving"), "listen");
    let r = http().get(format!("http://{listen}/orders/7")).send().unwrap();
    assert_eq!(r.status(), 502);
    // The SRE paged at night reads this line: which upstream, which endpoint, why, what status.
    let line = dp.line_with("forwarding failed");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v["level"], "WARN", "{line}");
    assert_eq!(v["fields"]["upstream"], "sidecar", "{line}");
    assert_eq!(v["fields"]["endpoint"], refused.as_str(), "{line}");
    assert_eq!(v["fields"]["status"], 502, "{line}");
    assert!(v["fields"]["reason"].as_str().is_some_and(|r| r.contains("connection refused")), "{line}");
}
