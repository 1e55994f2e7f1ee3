//! `mockplane-loadtest run` as a user runs it: the real binary against a real data plane on an
//! ephemeral loopback port, for about two seconds per mode (closed, open, pipelined, a weighted
//! mix), its JSON read back and checked against what the server itself counted; and the runs
//! it refuses or counts as errors (a remote target, a refused connection, a server too slow).

use std::io::{Read as _, Write as _};
use std::process::{Command, Output};

use mockplane_dataplane::{DataPlaneConfig, IoDriver, RunningDataPlane, SnapshotStore};
use serde_json::Value;

/// A data plane serving `yaml`, shut down on drop.
struct Server {
    dp: Option<RunningDataPlane>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(yaml: &str) -> Server {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let rules = dir.path().join("rules.yaml");
        std::fs::write(&rules, yaml).expect("write the rules");
        let config = DataPlaneConfig {
            rules: Some(rules),
            listen: "127.0.0.1:0".parse().expect("an address"),
            admin: "127.0.0.1:0".parse().expect("an address"),
            workers: 1,
            pin_workers: false,
            io_driver: IoDriver::Epoll,
            ..Default::default()
        };
        let dp = mockplane_dataplane::start(config, SnapshotStore::new()).expect("the data plane starts");
        Server { dp: Some(dp), _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.dp.as_ref().expect("running").listen_addr())
    }

    fn hits(&self, rule: &str) -> u64 {
        self.dp.as_ref().expect("running").stats().rule_hits(rule)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(dp) = self.dp.take() {
            dp.shutdown();
        }
    }
}

const HELLO: &str =
    "rules:\n  - id: hello\n    match: { method: GET, path: /hello }\n    response: { body: hi }\n";

fn loadtest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mockplane-loadtest"))
        .arg("run")
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Runs with `--output-format json`, expects success, and returns the report.
fn json_run(args: &[&str]) -> Value {
    let out = loadtest(&[args, &["--output-format", "json"]].concat());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not one JSON object ({e}): {stdout}"))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("no integer {key} in {v}"))
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("no number {key} in {v}"))
}

/// Every response a report counts is a clean 2xx, none failed, and the latency fields are in
/// order and agree with the histogram it carries.
fn assert_clean(r: &Value) {
    let requests = u(r, "requests");
    assert!(requests > 0, "no responses: {r}");
    assert_eq!(u(&r["status"], "2xx"), requests, "{r}");
    for kind in ["connect", "reset", "timeout", "parse"] {
        assert_eq!(u(&r["errors"], kind), 0, "{kind} errors: {r}");
    }
    let l = &r["latency_us"];
    let (p50, p90, p99, p999, max) = (u(l, "p50"), u(l, "p90"), u(l, "p99"), u(l, "p999"), u(l, "max"));
    assert!(p50 >= 1 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= max, "{l}");
    let h = mockplane_loadtest::run::decode_histogram(r["histogram"].as_str().expect("a histogram"))
        .expect("the histogram reads back");
    assert_eq!(h.len(), requests, "the histogram holds one latency per response");
    assert_eq!(h.value_at_quantile(0.99), p99);
    let spectrum =
        mockplane_loadtest::run::percentile_spectrum(r["histogram"].as_str().expect("a histogram"));
    assert_eq!(spectrum.last().map(|(p, _)| *p), Some(100.0));
}

#[test]
fn closed_loop_runs_for_its_duration_and_reports_every_key() {
    let server = Server::start(HELLO);
    let r = json_run(&[&server.url("/hello"), "-z", "2s", "-c", "4"]);
    assert_eq!(r["mode"], "closed");
    assert!(r["target_rps"].is_null(), "{r}");
    assert_eq!(u(&r, "late"), 0);
    let duration = f(&r, "duration_s");
    assert!((2.0..2.5).contains(&duration), "ran {duration} s for -z 2s");
    assert_clean(&r);
    let rps = f(&r, "rps");
    assert!((rps - u(&r, "requests") as f64 / duration).abs() < 1.0, "{r}");
    for key in ["1xx", "3xx", "4xx", "5xx"] {
        assert_eq!(u(&r["status"], key), 0, "{r}");
    }
    // The server answered at least what the report counts (and the few still in flight).
    let hits = server.hits("hello");
    assert!(hits >= u(&r, "requests") && hits <= u(&r, "requests") + 4, "server {hits}, report {r}");
}

#[test]
fn open_loop_sends_at_its_rate() {
    let server = Server::start(HELLO);
    let r = json_run(&[&server.url("/hello"), "-z", "2s", "-c", "4", "-q", "400"]);
    assert_eq!(r["mode"], "open");
    assert_eq!(f(&r, "target_rps"), 400.0);
    assert_clean(&r);
    // 800 scheduled in 2 s: all but the last few answered, none more.
    let requests = u(&r, "requests");
    assert!((700..=801).contains(&requests), "{requests} responses at 400/s for 2 s");
    assert!((350.0..=401.0).contains(&f(&r, "rps")), "{r}");
}

#[test]
fn open_loop_latency_counts_from_the_scheduled_time_when_the_server_falls_behind() {
    // One connection and a 50 ms answer: 20 answers a second against 100 scheduled. The
    // waiting requests are late, and their latency includes the wait (as wrk2 counts it),
    // where a closed loop would show 50 ms.
    let server = Server::start(
        "rules:\n  - id: slow\n    match: { path: /slow }\n    response: { body: zz, delay: { fixed: 50 } }\n",
    );
    let r = json_run(&[&server.url("/slow"), "-z", "2s", "-c", "1", "-q", "100"]);
    let requests = u(&r, "requests");
    assert!((20..=41).contains(&requests), "{requests} answers of 50 ms in 2 s");
    assert!(u(&r, "late") >= requests / 2, "{r}");
    assert!(u(&r["latency_us"], "max") >= 500_000, "the queue's wait is missing from {r}");
    assert_eq!(u(&r["errors"], "timeout"), 0);
}

#[test]
fn pipelined_requests_to_mockplane_are_all_answered() {
    let server = Server::start(HELLO);
    let r = json_run(&[&server.url("/hello"), "-z", "2s", "-c", "2", "--pipeline", "8"]);
    assert_eq!(u(&r, "pipeline"), 8);
    assert_clean(&r);
    let (requests, unfinished) = (u(&r, "requests"), u(&r, "unfinished"));
    assert!(unfinished <= 16, "at most 2 x 8 in flight: {r}");
    assert!(server.hits("hello") >= requests, "server {} report {r}", server.hits("hello"));
}

#[test]
fn pipelining_sends_the_whole_depth_before_the_first_answer() {
    // A plain TCP peer that answers only once 8 requests have arrived: without pipelining
    // the run would wait for an answer that never comes and time out.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("an address");
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("a connection");
        conn.set_read_timeout(Some(std::time::Duration::from_secs(5))).expect("a timeout");
        let mut seen = Vec::new();
        for _batch in 0..2 {
            while seen.windows(4).filter(|w| w == b"\r\n\r\n").count() < 8 {
                let mut buf = [0u8; 4096];
                let n = conn.read(&mut buf).expect("requests");
                assert!(n > 0, "the client closed before sending 8 requests");
                seen.extend_from_slice(&buf[..n]);
            }
            seen.clear();
            conn.write_all(&b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".repeat(8)).expect("answers");
        }
    });
    let r =
        json_run(&[&format!("http://{addr}/p"), "-n", "16", "-c", "1", "--pipeline", "8", "--timeout", "3s"]);
    peer.join().expect("the peer saw two batches of 8 requests");
    assert_eq!(u(&r["status"], "2xx"), 16, "{r}");
    assert_eq!(u(&r["errors"], "timeout"), 0, "{r}");
}

#[test]
fn a_server_that_closes_after_each_answer_costs_reconnects_not_errors() {
    let (url, peer) = closing_peer(5, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    let r = json_run(&[&url, "-n", "5", "-c", "1", "--timeout", "3s"]);
    peer.join().expect("the peer answered 5 connections");
    assert_eq!(u(&r["status"], "2xx"), 5, "{r}");
    assert_eq!(u(&r["errors"], "reset") + u(&r["errors"], "timeout"), 0, "{r}");
}

/// A plain TCP peer that takes `connections` connections, reads one request on each and then
/// sends `answer` (maybe nothing) and closes.
fn closing_peer(connections: usize, answer: &'static [u8]) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/x", listener.local_addr().expect("an address"));
    let peer = std::thread::spawn(move || {
        for _ in 0..connections {
            let (mut conn, _) = listener.accept().expect("a connection");
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).expect("a request");
            assert!(buf[..n].ends_with(b"\r\n\r\n"), "one whole request");
            conn.write_all(answer).expect("an answer");
        }
    });
    (url, peer)
}

#[test]
fn a_connection_closed_with_a_request_in_flight_counts_a_reset() {
    let (url, peer) = closing_peer(3, b"");
    let r = json_run(&[&url, "-n", "3", "-c", "1", "--timeout", "3s"]);
    peer.join().expect("the peer closed 3 connections");
    assert_eq!((u(&r["errors"], "reset"), u(&r, "requests"), u(&r, "unfinished")), (3, 0, 0), "{r}");
}

#[test]
fn an_answer_without_length_ends_when_the_connection_closes() {
    let (url, peer) = closing_peer(3, b"HTTP/1.1 200 OK\r\n\r\nuntil the end");
    let r = json_run(&[&url, "-n", "3", "-c", "1", "--timeout", "3s"]);
    peer.join().expect("the peer answered 3 connections");
    assert_eq!(u(&r["status"], "2xx"), 3, "{r}");
    assert_eq!(u(&r["errors"], "reset"), 0, "{r}");
}

#[test]
fn answers_that_exactly_fill_the_read_buffer_do_not_end_the_connection() {
    // 64-byte answers: 256 of them fill the 16 KiB read buffer exactly, and a read into a full
    // buffer would return 0, which is end-of-file.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/x", listener.local_addr().expect("an address"));
    let head = "HTTP/1.1 200 OK\r\ncontent-length: 25\r\n\r\n";
    let answer = format!("{head}{}", "a".repeat(64 - head.len()));
    assert_eq!((answer.len(), head.len()), (64, 39));
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("a connection");
        let (mut seen, mut answered) = (Vec::new(), 0);
        while answered < 600 {
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).expect("requests");
            assert!(n > 0, "the client closed its connection after {answered} answers");
            seen.extend_from_slice(&buf[..n]);
            while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                seen.drain(..end + 4);
                conn.write_all(answer.as_bytes()).expect("an answer");
                answered += 1;
            }
        }
    });
    let r = json_run(&[&url, "-n", "600", "-c", "1", "--timeout", "3s"]);
    peer.join().expect("the peer answered 600 requests on one connection");
    assert_clean(&r);
    assert_eq!(u(&r, "requests"), 600);
}

#[test]
fn a_mix_file_hits_each_rule_in_proportion_to_its_weight() {
    let server = Server::start(
        "rules:
  - id: a
    match: { method: GET, path: /a }
    response: { body: a }
  - id: b
    match: { method: POST, path: /b, headers: { x-k: v }, body: { json: { n: 1 } } }
    response: { status: 201, body: b }
",
    );
    let dir = tempfile::tempdir().expect("a folder");
    let mix = dir.path().join("mix.yaml");
    std::fs::write(
        &mix,
        "requests:\n  - { path: /a, weight: 3 }\n  - { name: create, method: POST, path: /b, headers: { x-k: v }, body: '{\"n\": 1}' }\n",
    )
    .expect("write the mix");
    let r = json_run(&[&server.url("/"), "--mix", &mix.display().to_string(), "-z", "2s", "-c", "4"]);
    assert_clean(&r);
    let (a, b) = (server.hits("a"), server.hits("b"));
    assert!(b > 50, "too few requests to judge: a {a}, b {b}");
    let ratio = a as f64 / b as f64;
    assert!((2.8..=3.2).contains(&ratio), "weights 3:1, the server saw a {a}, b {b}");
    assert_eq!(r["mix"][1]["name"], "create");
    assert_eq!(u(&r["mix"][0], "sent") + u(&r["mix"][1], "sent"), u(&r, "requests") + u(&r, "unfinished"));
}

#[test]
fn the_text_report_shows_throughput_percentiles_and_errors() {
    let server = Server::start(HELLO);
    let out = loadtest(&[&server.url("/hello"), "-n", "2000", "-c", "2"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["closed loop", "requests             2000", "req/s", "p99.9", "2xx 2000", "connect 0"] {
        assert!(text.contains(needle), "no {needle:?} in\n{text}");
    }
    assert!(
        out.stderr.is_empty(),
        "no progress line when stderr is not a terminal: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.hits("hello"), 2000, "-n 2000 sends exactly 2000");
}

#[test]
fn two_threads_send_exactly_the_requests_asked_for_between_them() {
    let server = Server::start(HELLO);
    let r = json_run(&[&server.url("/hello"), "-n", "3001", "-c", "5", "--threads", "2", "--pipeline", "4"]);
    assert_eq!((u(&r, "threads"), u(&r, "requests")), (2, 3001), "{r}");
    assert_clean(&r);
    assert_eq!(server.hits("hello"), 3001);
}

#[test]
fn a_remote_target_is_refused_without_allow_remote() {
    let out = loadtest(&["http://192.0.2.1:80/", "-n", "1"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("192.0.2.1") && err.contains("--allow-remote"), "{err}");
}

#[test]
fn a_refused_connection_counts_as_a_connect_error() {
    // A port that was just free: nothing listens there.
    let port =
        std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let r = json_run(&[&format!("http://127.0.0.1:{port}/"), "-n", "5", "-c", "1"]);
    assert_eq!(u(&r["errors"], "connect"), 5, "{r}");
    assert_eq!(u(&r, "requests"), 0);
}

#[test]
fn an_answer_slower_than_the_timeout_counts_as_a_timeout() {
    let server = Server::start(
        "rules:\n  - id: stuck\n    match: { path: /stuck }\n    response: { body: late, delay: { fixed: 5000 } }\n",
    );
    let r = json_run(&[&server.url("/stuck"), "-n", "2", "-c", "2", "--timeout", "300ms"]);
    assert_eq!(u(&r["errors"], "timeout"), 2, "{r}");
    assert_eq!(u(&r, "requests"), 0);
}

#[test]
fn bad_flags_and_mix_files_are_refused_naming_what_is_wrong() {
    let dir = tempfile::tempdir().expect("a folder");
    let mix = dir.path().join("mix.yaml");
    std::fs::write(&mix, "requests:\n  - { path: /a, weight: 0 }\n").expect("write");
    let cases: [(&[&str], &str); 5] = [
        (&["http://127.0.0.1:1/", "-c", "1"], "--duration"),
        (&["http://127.0.0.1:1/", "-z", "1s", "--mix", &mix.display().to_string()], "requests[0].weight"),
        (&["http://127.0.0.1:1/", "-z", "1s", "-H", "no-colon"], "--header \"no-colon\""),
        (&["https://127.0.0.1:1/", "-z", "1s"], "only http://"),
        (&["http://127.0.0.1:1/", "-z", "1s", "--threads", "2", "--pin", "1"], "--pin"),
    ];
    for (args, needle) in cases {
        let out = loadtest(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: no {needle:?} in {err}");
    }
}
