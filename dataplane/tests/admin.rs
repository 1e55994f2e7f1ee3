//! The admin endpoints (`/healthz`, `/readyz`, `/metrics`, `/config`, `/journal`) and
//! graceful shutdown.

mod util;

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mockplane_dataplane::IoDriver;
use serde_json::json;
use util::{metric, poll_until, Conn, End, Server};

both_drivers!(
    healthz,
    readyz_follows_the_rules,
    metrics_count_requests,
    metrics_name_the_driver_and_version,
    config_shows_the_rules_in_force,
    journal_filters,
    journal_lists_newest_first,
    journal_and_latency_include_delays,
    journal_can_be_turned_off,
    admin_head_requests_have_no_body,
    admin_requests_split_across_reads,
    graceful_shutdown,
);

const RULES: &str = r#"
rules:
  - id: hello
    match: { method: GET, path: /hello }
    response: { body: hi }
  - id: created
    match: { method: POST, path: "/items/{id}" }
    response: { status: 201, json: { ok: true } }
  - id: broken
    match: { path: /broken }
    response: { faults: [{ type: abort, status: 500 }] }
  - id: reset
    match: { path: /reset }
    response: { faults: [{ type: connection_reset }] }
  - id: slow
    match: { path: /slow }
    response: { body: "slow answer", delay: { fixed: 500 } }
  - id: delayed
    match: { path: /delayed }
    response: { body: "delayed", delay: { fixed: 200 } }
"#;

fn healthz(driver: IoDriver) {
    let server = Server::start_with(driver, None, |_| {});
    let r = server.admin_get("/healthz");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
    let r = server.admin_get("/nope");
    assert_eq!(r.status, 404);
    assert!(r.json()["endpoints"].as_array().is_some_and(|e| e.len() == 5));
    let r =
        Conn::open(server.admin()).request(b"POST /healthz HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n");
    assert_eq!(r.status, 405);
}

fn readyz_follows_the_rules(driver: IoDriver) {
    let server = Server::start_with(driver, None, |_| {});
    let r = server.admin_get("/readyz");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["ready"], false);
    // Traffic gets a clear 503 meanwhile, and /config has nothing to show.
    let r = server.get("/hello");
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"], "no rules loaded yet");
    assert_eq!(server.admin_get("/config").status, 503);
    assert_eq!(metric(&server.metrics(), "mockplane_config_version"), Some(0.0));

    let version = server.install(RULES);
    assert_eq!(version, 1);
    let r = server.admin_get("/readyz");
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(
        (body["ready"].clone(), body["version"].clone(), body["rules"].clone()),
        (json!(true), json!(1), json!(6))
    );
    assert_eq!(server.get("/hello").text(), "hi");
}

fn metrics_count_requests(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let http = util::client();
    for _ in 0..3 {
        assert_eq!(http.get(server.url("/hello")).send().unwrap().status().as_u16(), 200);
    }
    for id in 0..2 {
        let r = http.post(server.url(&format!("/items/{id}"))).send().unwrap();
        assert_eq!(r.status().as_u16(), 201);
    }
    assert_eq!(http.get(server.url("/broken")).send().unwrap().status().as_u16(), 500);
    // On a raw socket: a pooled client may retry a request whose connection was reset.
    let mut reset = Conn::open(server.addr());
    reset.send(&util::get("/reset"));
    assert_eq!(reset.read_to_end(Duration::from_secs(2)).1, End::Reset);
    for _ in 0..4 {
        assert_eq!(http.get(server.url("/missing")).send().unwrap().status().as_u16(), 404);
    }
    let text = poll_until("10 published requests", Duration::from_secs(2), || {
        let text = server.metrics();
        (metric(&text, "mockplane_request_duration_seconds_count") == Some(11.0)).then_some(text)
    });
    for (series, want) in [
        (r#"mockplane_requests_total{rule="hello",status="2xx"}"#, 3.0),
        (r#"mockplane_requests_total{rule="created",status="2xx"}"#, 2.0),
        (r#"mockplane_requests_total{rule="broken",status="5xx"}"#, 1.0),
        (r#"mockplane_requests_total{rule="reset",status="fault"}"#, 1.0),
        (r#"mockplane_requests_total{rule="",status="4xx"}"#, 4.0),
        ("mockplane_misses_total", 4.0),
    ] {
        assert_eq!(metric(&text, series), Some(want), "{series} in\n{text}");
    }
    assert!(text.contains("# TYPE mockplane_requests_total counter"));
    assert!(text.contains("# TYPE mockplane_request_duration_seconds histogram"));
    // The histogram's buckets are cumulative and end at the count.
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("mockplane_request_duration_seconds_bucket{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(buckets.len() >= 10, "too few buckets in\n{text}");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "buckets are not cumulative: {buckets:?}");
    assert_eq!(buckets.last(), Some(&11.0));
    assert_eq!(metric(&text, r#"mockplane_request_duration_seconds_bucket{le="+Inf"}"#), Some(11.0));
    assert!(metric(&text, "mockplane_request_duration_seconds_sum").is_some_and(|s| s > 0.0));
    // A refused request is counted as refused.
    let r = Conn::open(server.addr()).request(b"GET /hello HTTP/1.1\r\n\r\n");
    assert_eq!(r.status, 400);
    poll_until("the refusal to be counted", Duration::from_secs(2), || {
        (metric(&server.metrics(), "mockplane_refused_total") == Some(1.0)).then_some(())
    });
}

fn metrics_name_the_driver_and_version(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let name = match driver {
        IoDriver::Epoll => "epoll",
        _ => "io_uring",
    };
    assert_eq!(server.dp().driver().name(), name);
    let text = server.metrics();
    let info = text
        .lines()
        .find(|l| l.starts_with("mockplane_io_driver_info{"))
        .unwrap_or_else(|| panic!("no mockplane_io_driver_info in\n{text}"));
    assert!(info.starts_with(&format!("mockplane_io_driver_info{{driver=\"{name}\"")), "{info}");
    assert!(info.ends_with(" 1"), "{info}");
    assert_eq!(metric(&text, "mockplane_config_version"), Some(1.0));
    assert_eq!(metric(&text, "mockplane_rules"), Some(6.0));
    assert_eq!(metric(&text, "mockplane_workers"), Some(2.0));
    server.install(RULES);
    server.install(RULES);
    assert_eq!(metric(&server.metrics(), "mockplane_config_version"), Some(3.0));
}

fn config_shows_the_rules_in_force(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let config = server.admin_json("/config");
    assert_eq!(config["version"], 1);
    assert_eq!(config["source"], server.rules_path().display().to_string());
    assert!(config["loaded_at"].as_str().is_some_and(|t| t.len() >= 20), "{config}");
    let rules = config["rule_set"]["rules"].as_array().expect("rule_set.rules");
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["hello", "created", "broken", "reset", "slow", "delayed"]);
    assert_eq!(rules[0]["response"]["body"], "hi");

    server.install("rules:\n  - id: only\n    response: { body: x }\n");
    let config = server.admin_json("/config");
    assert_eq!(config["version"], 2);
    assert_eq!(config["source"], "test");
    assert_eq!(config["rule_set"]["rules"][0]["id"], "only");
}

fn journal_filters(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.addr());
    for _ in 0..3 {
        assert_eq!(conn.request(&util::get("/hello?x=1")).status, 200);
    }
    assert_eq!(conn.request(b"POST /items/7 HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n").status, 201);
    assert_eq!(conn.request(&util::get("/broken")).status, 500);
    assert_eq!(conn.request(&util::get("/nowhere")).status, 404);
    let mut reset = Conn::open(server.addr());
    reset.send(&util::get("/reset"));
    assert_eq!(reset.read_to_end(Duration::from_secs(2)).1, End::Reset);

    let all = poll_until("7 journal entries", Duration::from_secs(2), || {
        let entries = server.journal("");
        (entries.len() == 7).then_some(entries)
    });
    let first = all.iter().find(|e| e["rule"] == "created").expect("the POST in the journal");
    assert_eq!(first["method"], "POST");
    assert_eq!(first["target"], "/items/7");
    assert_eq!(first["status"], 201);
    assert!(first["worker"].as_u64().is_some_and(|w| w < 2));
    assert!(first["at_ms"].as_u64().is_some_and(|t| t > 1_600_000_000_000));

    let hello = server.journal("rule=hello");
    assert_eq!(hello.len(), 3);
    assert!(hello.iter().all(|e| e["target"] == "/hello?x=1" && e["status"] == 200));
    assert_eq!(server.journal("rule=hello&limit=2").len(), 2);
    assert_eq!(server.journal("path=/items/").len(), 1);
    let misses = server.journal("rule=-");
    assert_eq!(misses.len(), 1);
    assert_eq!((misses[0]["target"].clone(), misses[0]["rule"].clone()), (json!("/nowhere"), json!(null)));
    let errors = server.journal("status=500");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["rule"], "broken");
    assert_eq!(errors[0]["fault"], "abort", "an abort fault is journaled as one");
    assert_eq!(hello[0]["fault"], json!(null));
    let faults = server.journal("status=0");
    assert_eq!(faults.len(), 1);
    assert_eq!(
        (faults[0]["rule"].clone(), faults[0]["fault"].clone()),
        (json!("reset"), json!("connection_reset"))
    );
    assert_eq!(server.journal("rule=hello&status=404").len(), 0);
    // Bad filters are a 400 that says why.
    for query in ["status=abc", "limit=-1", "colour=red"] {
        let r = server.admin_get(&format!("/journal?{query}"));
        assert_eq!(r.status, 400, "/journal?{query}");
        assert!(r.json()["error"].is_string());
    }
}

fn journal_lists_newest_first(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.addr());
    // Five requests served one after the other, most likely within the same millisecond.
    let batch: String = (1..=5).map(|i| format!("GET /hello?n={i} HTTP/1.1\r\nhost: t\r\n\r\n")).collect();
    conn.send(batch.as_bytes());
    for _ in 0..5 {
        assert_eq!(conn.read_response().status, 200);
    }
    let entries = poll_until("5 journal entries", Duration::from_secs(2), || {
        let entries = server.journal("rule=hello");
        (entries.len() == 5).then_some(entries)
    });
    let targets: Vec<&str> = entries.iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!(targets, ["/hello?n=5", "/hello?n=4", "/hello?n=3", "/hello?n=2", "/hello?n=1"]);
    assert_eq!(
        server.journal("rule=hello&limit=1")[0]["target"],
        "/hello?n=5",
        "limit=1 is not the latest request"
    );
}

/// journal.rs documents `duration_us` as "delays included", and the histogram measures "time from a
/// complete request head to its answer": a 200 ms delay must show in both.
fn journal_and_latency_include_delays(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let t = Instant::now();
    assert_eq!(server.get("/delayed").text(), "delayed");
    assert!(t.elapsed() >= Duration::from_millis(200));
    let entry = poll_until("the delayed request in the journal", Duration::from_secs(2), || {
        server.journal("rule=delayed").into_iter().next()
    });
    let took = entry["duration_us"].as_u64().unwrap();
    assert!(took >= 200_000, "the journal says a request delayed 200 ms took {took} µs");
    let text = server.metrics();
    assert_eq!(
        metric(&text, r#"mockplane_request_duration_seconds_bucket{le="0.1"}"#),
        Some(0.0),
        "the 200 ms request was counted under 100 ms:\n{text}"
    );
}

fn journal_can_be_turned_off(driver: IoDriver) {
    let server = Server::start_with(driver, Some(RULES), |c| c.journal_capacity = 0);
    let mut conn = Conn::open(server.addr());
    for _ in 0..5 {
        assert_eq!(conn.request(&util::get("/hello")).status, 200);
    }
    // Counted, but not journaled.
    poll_until("5 counted requests", Duration::from_secs(2), || {
        let text = server.metrics();
        (metric(&text, r#"mockplane_requests_total{rule="hello",status="2xx"}"#) == Some(5.0)).then_some(())
    });
    assert_eq!(server.journal(""), Vec::<serde_json::Value>::new());
}

/// The admin listener answers HEAD (it accepts GET and HEAD), so a HEAD answer must carry no
/// body, or a keep-alive client reads the body as the start of the next answer.
fn admin_head_requests_have_no_body(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.admin());
    let head = conn.request(b"HEAD /healthz HTTP/1.1\r\nhost: t\r\n\r\n");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("3"));
    let r = conn.try_request(&util::get("/healthz")).expect("the answer after a HEAD");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
}

/// A request head that arrives in two pieces is still one request.
fn admin_requests_split_across_reads(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.admin());
    conn.send(b"GET /heal");
    std::thread::sleep(Duration::from_millis(50));
    conn.send(b"thz HTTP/1.1\r\nhost: t\r\n\r\n");
    let r = conn.try_read_response(false).expect("an answer to a head sent in two pieces");
    assert_eq!((r.status, r.text().as_str()), (200, "ok\n"));
}

fn graceful_shutdown(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let (addr, admin) = (server.addr(), server.admin());
    let finished = Arc::new(AtomicBool::new(false));
    let in_flight = {
        let finished = finished.clone();
        std::thread::spawn(move || {
            let mut conn = Conn::open(addr);
            let started = Instant::now();
            let r = conn.try_request(&util::get("/slow"));
            finished.store(true, Ordering::SeqCst);
            (r, started.elapsed())
        })
    };
    // Once its bytes are counted as received, the request is being served (its delay running).
    let request_len = util::get("/slow").len() as f64;
    poll_until("the slow request to be in flight", Duration::from_secs(2), || {
        let received = metric(&server.metrics(), "mockplane_received_bytes_total")?;
        (received >= request_len).then_some(())
    });
    assert!(!finished.load(Ordering::SeqCst), "the slow request finished before the shutdown began");
    let shutdown_began = Instant::now();
    server.shutdown();
    let (r, took) = in_flight.join().unwrap();
    let r = r.unwrap_or_else(|e| panic!("the request in flight lost its answer: {e}"));
    assert_eq!((r.status, r.text().as_str()), (200, "slow answer"));
    assert!(took >= Duration::from_millis(500), "{took:?}");
    assert!(
        shutdown_began.elapsed() < Duration::from_secs(2),
        "shutdown took {:?}",
        shutdown_began.elapsed()
    );
    // After shutdown, both ports refuse connections.
    for port in [addr, admin] {
        let refused = TcpStream::connect_timeout(&port, Duration::from_secs(1));
        assert!(
            refused.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused),
            "{port} after shutdown: {refused:?}"
        );
    }
}
