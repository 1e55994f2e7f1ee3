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
    journal_entries_keep_header_fields_a_body_prefix_and_the_client,
    journal_lists_newest_first,
    journal_limit_gives_the_newest_across_workers_in_order,
    reading_the_journal_and_metrics_in_a_tight_loop_never_stalls_serving,
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
    assert!(r.json()["endpoints"]
        .as_array()
        .is_some_and(|e| e.len() == 6 && e.contains(&"POST /explain".into())));
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
    assert!(first["seq"].as_u64().is_some_and(|s| (1..=7).contains(&s)), "{first}");

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

fn journal_entries_keep_header_fields_a_body_prefix_and_the_client(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.addr());
    let local = conn.stream.local_addr().unwrap();
    let body = format!("{{\"note\":\"{}\"}}", "é".repeat(200));
    let post = format!(
        "POST /items/7 HTTP/1.1\r\nHost: t\r\nX-Trace:  abc  \r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    assert_eq!(conn.request(post.as_bytes()).status, 201);
    // A chunked body is journaled de-chunked; a field too large to fit is left out.
    let chunked = format!(
        "POST /items/8 HTTP/1.1\r\nhost: t\r\nx-big: {}\r\ntransfer-encoding: chunked\r\nx-after: 1\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        "b".repeat(2000)
    );
    assert_eq!(conn.request(chunked.as_bytes()).status, 201);
    let entries = poll_until("both journaled", Duration::from_secs(2), || {
        let entries = server.journal("rule=created");
        (entries.len() == 2).then_some(entries)
    });
    let (second, first) = (&entries[0], &entries[1]);
    assert_eq!(
        first["headers"],
        json!([["Host", "t"], ["X-Trace", "abc"], ["content-length", body.len().to_string()]])
    );
    assert_eq!(first["headers_omitted"], 0);
    assert_eq!(
        (first["body_size"].as_u64(), first["body_truncated"].as_bool()),
        (Some(body.len() as u64), Some(true))
    );
    // 256 bytes, cut inside an `é`: the half character shows as one replacement character.
    let shown = first["body"].as_str().unwrap();
    assert!(shown.starts_with("{\"note\":\"éé") && shown.ends_with('\u{fffd}'), "{shown}");
    assert_eq!(first["client"], local.to_string());
    let names: Vec<&str> =
        second["headers"].as_array().unwrap().iter().map(|h| h[0].as_str().unwrap()).collect();
    assert_eq!(names, ["host", "transfer-encoding", "x-after"]);
    assert_eq!(second["headers_omitted"], 1);
    assert_eq!((second["body"].as_str(), second["body_size"].as_u64()), (Some("abcde"), Some(5)));
    assert_eq!(second["body_truncated"], false);
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

/// Each worker keeps its own journal; `/journal?limit=N` merges them into the newest N, in the
/// order the requests arrived, and shows a request as soon as it is answered.
fn journal_limit_gives_the_newest_across_workers_in_order(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    // One connection on each worker (the kernel spreads connections across their listeners).
    let mut on_worker: [Option<Conn>; 2] = [None, None];
    for probe in 0..64 {
        if on_worker.iter().all(Option::is_some) {
            break;
        }
        let mut conn = Conn::open(server.addr());
        let target = format!("/hello?probe={probe}");
        assert_eq!(conn.request(&util::get(&target)).status, 200);
        let newest = server.journal("limit=1");
        assert_eq!(newest[0]["target"], target.as_str(), "the answered request is not in the journal yet");
        let worker = newest[0]["worker"].as_u64().expect("a worker") as usize;
        on_worker[worker].get_or_insert(conn);
    }
    let [Some(mut first), Some(mut second)] = on_worker else {
        panic!("64 connections all went to the same worker")
    };
    for n in 1..=20 {
        let conn = if n % 3 == 0 { &mut second } else { &mut first };
        assert_eq!(conn.request(&util::get(&format!("/hello?n={n}"))).status, 200);
    }
    let newest = server.journal("limit=12");
    let targets: Vec<&str> = newest.iter().map(|e| e["target"].as_str().unwrap()).collect();
    let expected: Vec<String> = (9..=20).rev().map(|n| format!("/hello?n={n}")).collect();
    assert_eq!(targets, expected);
    for worker in 0..2 {
        let seqs: Vec<u64> =
            newest.iter().filter(|e| e["worker"] == worker).map(|e| e["seq"].as_u64().unwrap()).collect();
        assert!(seqs.len() >= 4, "worker {worker} has {seqs:?} of the newest 12");
        assert!(seqs.windows(2).all(|p| p[0] == p[1] + 1), "worker {worker}'s sequence numbers: {seqs:?}");
    }
}

/// Readers of `/journal` and `/metrics` never hold up a worker: four clients' load goes on
/// until both endpoints have been read many times over, and every request is counted and
/// journaled once.
fn reading_the_journal_and_metrics_in_a_tight_loop_never_stalls_serving(driver: IoDriver) {
    use std::sync::atomic::AtomicU64;
    const CLIENTS: usize = 4;
    const PIPELINED: usize = 10;
    // Enough to be sure the load overlapped the reads; the journal holds every request.
    const READS: u64 = 10;
    // The clients stop once the readers are done; this bounds them on a loaded machine, where
    // the readers are slow (a run beside a CI build needed more than 1,000). The journal holds
    // every request up to it (4 x 2,000 x 10).
    const MAX_BATCHES: usize = 2_000;
    let server = Server::start_with(driver, Some(RULES), |c| c.journal_capacity = 100_000);
    let stop = Arc::new(AtomicBool::new(false));
    let reads: Arc<[AtomicU64; 2]> = Arc::new(Default::default());
    let readers: Vec<_> = ["/journal?limit=1000", "/metrics"]
        .into_iter()
        .enumerate()
        .map(|(i, path)| {
            let (admin, stop, reads) = (server.admin(), stop.clone(), reads.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::open(admin);
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(conn.request(&util::get(path)).status, 200);
                    reads[i].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (addr, reads) = (server.addr(), reads.clone());
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let mut slowest = Duration::ZERO;
                let mut batches = 0;
                while batches < MAX_BATCHES && reads.iter().any(|r| r.load(Ordering::Relaxed) < READS) {
                    let began = Instant::now();
                    let requests: Vec<u8> = (0..PIPELINED)
                        .flat_map(|i| util::get(&format!("/hello?c={c}&i={}", batches * PIPELINED + i)))
                        .collect();
                    conn.send(&requests);
                    for _ in 0..PIPELINED {
                        assert_eq!(conn.read_response().status, 200);
                    }
                    slowest = slowest.max(began.elapsed());
                    batches += 1;
                }
                (batches, slowest)
            })
        })
        .collect();
    let done: Vec<(usize, Duration)> = clients.into_iter().map(|c| c.join().expect("a client")).collect();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("a reader");
    }
    let reads: Vec<u64> = reads.iter().map(|r| r.load(Ordering::Relaxed)).collect();
    assert!(reads.iter().all(|&n| n >= READS), "{MAX_BATCHES} batches each, and only {reads:?} reads");
    let slowest = done.iter().map(|d| d.1).max().unwrap();
    assert!(slowest < Duration::from_secs(5), "a batch of {PIPELINED} requests waited {slowest:?}");

    let total = done.iter().map(|d| d.0).sum::<usize>() * PIPELINED;
    let text = server.metrics();
    let counted = metric(&text, r#"mockplane_requests_total{rule="hello",status="2xx"}"#);
    assert_eq!(counted, Some(total as f64), "{text}");
    assert_eq!(metric(&text, "mockplane_request_duration_seconds_count"), Some(total as f64));
    let entries = server.journal("rule=hello&limit=100000");
    let names: std::collections::HashSet<(u64, u64)> =
        entries.iter().map(|e| (e["worker"].as_u64().unwrap(), e["seq"].as_u64().unwrap())).collect();
    let targets: std::collections::HashSet<&str> =
        entries.iter().map(|e| e["target"].as_str().unwrap()).collect();
    assert_eq!((entries.len(), names.len(), targets.len()), (total, total, total));
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
