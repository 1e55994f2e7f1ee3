//! The proxy, against a real origin (`util::upstream`) over loopback: methods and both body
//! framings each way, large bodies streamed with flat memory, hop-by-hop fields, forwarding
//! headers and the rules' edits, connection reuse, each kind of upstream failure, and a swap of
//! the table under load. Every test runs on both drivers.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mockplane_dataplane::IoDriver;
use util::upstream::{byte_at, Origin};
use util::{Conn, Server};

fn rules(origin: &Origin, extra: &str) -> String {
    format!(
        r#"upstreams:
  origin: http://{}
rules:
  - id: mocked
    match: {{ method: GET, path: /mocked }}
    response: {{ body: from the mock }}
  - id: pass
    match: {{ path: {{ prefix: / }} }}
    priority: -1
    forward: {{ upstream: origin{extra} }}
"#,
        origin.addr
    )
}

/// The origin's echo of a request.
fn echo(r: &util::Response) -> serde_json::Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn echoed_header<'a>(echo: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echo["headers"]
        .as_array()
        .expect("headers")
        .iter()
        .filter(|h| h[0] == name)
        .map(|h| h[1].as_str().expect("a value"))
        .collect()
}

fn methods_and_request_bodies_reach_the_origin(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &rules(&origin, ""));
    let mut conn = Conn::open(server.addr());
    assert_eq!(conn.request(&util::get("/mocked")).text(), "from the mock", "a matching mock still answers");

    for method in ["GET", "DELETE", "OPTIONS", "PATCH"] {
        let e =
            echo(&conn.request(format!("{method} /things/1?x=y HTTP/1.1\r\nhost: shop\r\n\r\n").as_bytes()));
        assert_eq!((e["method"].as_str(), e["target"].as_str()), (Some(method), Some("/things/1?x=y")));
        assert_eq!(e["length"], 0);
    }
    let e = echo(&conn.request(b"POST /orders HTTP/1.1\r\nhost: shop\r\ncontent-length: 5\r\n\r\nhello"));
    assert_eq!((e["method"].as_str(), e["length"].as_u64()), (Some("POST"), Some(5)));
    assert_eq!(echoed_header(&e, "content-length"), ["5"]);
    let sum: u64 = b"hello world".iter().map(|&b| b as u64).sum();
    let e = echo(&conn.request(
        b"PUT /orders/7 HTTP/1.1\r\nhost: shop\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    ));
    assert_eq!(
        (e["length"].as_u64(), e["sum"].as_u64()),
        (Some(11), Some(sum)),
        "a chunked body arrives whole"
    );
    assert_eq!(echoed_header(&e, "transfer-encoding"), ["chunked"], "and is sent on chunked");

    // HEAD: no body, but the length the origin gave.
    conn.send(b"HEAD /bytes/1234 HTTP/1.1\r\nhost: shop\r\n\r\n");
    let r = conn.try_read_response(true).unwrap();
    assert_eq!((r.status, r.header("content-length")), (200, Some("1234")));
    // The connection is still in step after all of that.
    assert_eq!(conn.request(&util::get("/mocked")).text(), "from the mock");
    assert_eq!(
        origin.connections.load(Ordering::Relaxed),
        1,
        "one kept-alive upstream connection served them all"
    );
}

fn response_bodies_of_every_framing_come_back_whole(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &rules(&origin, ""));
    let mut conn = Conn::open(server.addr());
    for (path, n) in
        [("/bytes/0", 0), ("/bytes/100000", 100_000), ("/chunked/50000", 50_000), ("/chunked/0", 0)]
    {
        let r = conn.request(&util::get(path));
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body.len(), n, "{path}");
        assert!(r.body.iter().enumerate().all(|(i, &b)| b == byte_at(i as u64)), "{path}: the bytes");
    }
    // Close-delimited upstream answer: re-framed chunked for an HTTP/1.1 client, which keeps
    // its connection.
    let r = conn.request(&util::get("/close/30000"));
    assert_eq!((r.header("transfer-encoding"), r.body.len()), (Some("chunked"), 30_000));
    assert_eq!(conn.request(&util::get("/mocked")).text(), "from the mock");
    // An HTTP/1.0 client gets it delimited by the close.
    let mut old = Conn::open(server.addr());
    old.send(b"GET /chunked/20000 HTTP/1.0\r\n\r\n");
    let r = old.read_response();
    assert_eq!(
        (r.header("transfer-encoding"), r.header("connection"), r.body.len()),
        (None, Some("close"), 20_000)
    );
}

fn hop_by_hop_fields_stay_and_forwarding_fields_are_set(driver: IoDriver) {
    let origin = Origin::start();
    let edits = r#", host: api.internal, rewrite_prefix: { from: /v1/, to: /v2/ },
              request_headers: { add: { x-added: yes }, remove: [x-drop] },
              response_headers: { add: { x-mock: proxied }, remove: [x-origin] }"#;
    let server = Server::start(driver, &rules(&origin, edits));
    let mut conn = Conn::open(server.addr());
    let r = conn.request(
        b"GET /v1/items HTTP/1.1\r\nhost: shop.test\r\nconnection: keep-alive, x-private\r\nx-private: 1\r\nkeep-alive: timeout=9\r\nte: trailers\r\nproxy-authorization: Basic eA==\r\nupgrade: websocket\r\nx-forwarded-for: 203.0.113.9\r\nx-forwarded-proto: https\r\nx-drop: 1\r\nx-kept: 2\r\n\r\n",
    );
    let e = echo(&r);
    assert_eq!(e["target"], "/v2/items", "the prefix is rewritten");
    for gone in ["connection", "x-private", "keep-alive", "te", "proxy-authorization", "upgrade", "x-drop"] {
        assert!(echoed_header(&e, gone).is_empty(), "{gone} must not reach the origin: {e}");
    }
    assert_eq!(echoed_header(&e, "host"), ["api.internal"]);
    assert_eq!(echoed_header(&e, "x-forwarded-for"), ["203.0.113.9, 127.0.0.1"]);
    assert_eq!(echoed_header(&e, "x-forwarded-proto"), ["http"]);
    assert_eq!((echoed_header(&e, "x-kept"), echoed_header(&e, "x-added")), (vec!["2"], vec!["yes"]));
    // The answer: the origin's hop-by-hop fields (and the one its Connection names) are dropped.
    for gone in ["x-hop", "keep-alive", "x-origin"] {
        assert_eq!(r.header(gone), None, "{gone} must not reach the client");
    }
    assert_eq!((r.header("x-mock"), r.header("connection")), (Some("proxied"), None));

    // Without a rewrite, the client's Host is kept.
    let server = Server::start(driver, &rules(&origin, ""));
    let e = echo(&Conn::open(server.addr()).request(b"GET /a HTTP/1.1\r\nhost: shop.test:8080\r\n\r\n"));
    assert_eq!(echoed_header(&e, "host"), ["shop.test:8080"]);
}

/// The data plane runs in this process: its peak RSS is this process's.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("a number")
}

const LARGE: u64 = 128 * 1024 * 1024;

fn large_bodies_stream_both_ways_with_flat_memory(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &rules(&origin, ""));
    let before = peak_rss_kib();

    // Up: a body larger than the data plane's max_body (10 MiB), sent with its length.
    let mut up = TcpStream::connect(server.addr()).unwrap();
    up.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(up, "POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {LARGE}\r\n\r\n").unwrap();
    let piece: Vec<u8> = (0..64 * 1024u64).map(byte_at).collect();
    let mut sent = 0;
    while sent < LARGE {
        up.write_all(&piece).unwrap();
        sent += piece.len() as u64;
    }
    let mut conn = Conn::from_stream(up);
    let e = echo(&conn.read_response());
    let sum = piece.iter().map(|&b| b as u64).sum::<u64>() * (LARGE / piece.len() as u64);
    assert_eq!((e["length"].as_u64(), e["sum"].as_u64()), (Some(LARGE), Some(sum)));

    // Down: as large an answer, read as it comes.
    let mut down = TcpStream::connect(server.addr()).unwrap();
    down.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(down, "GET /bytes/{LARGE} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = down.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert!(total > LARGE, "the whole body and its head came back ({total} bytes)");

    let grew_mib = (peak_rss_kib().saturating_sub(before)) / 1024;
    assert!(
        grew_mib < 64,
        "peak memory grew by {grew_mib} MiB moving 2 × 128 MiB: bodies were held, not streamed"
    );
}

fn upstream_failures_get_their_status_a_body_naming_the_upstream_and_the_reason(driver: IoDriver) {
    let origin = Origin::start();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let refused_at = closed.local_addr().unwrap();
    drop(closed);
    let yaml = format!(
        r#"upstreams:
  origin:
    endpoints: ["{origin}"]
    request_timeout_ms: 300
  down: http://{refused_at}
rules:
  - {{ id: down, match: {{ path: /down }}, forward: {{ upstream: down }} }}
  - {{ id: slow, match: {{ path: {{ prefix: / }} }}, priority: -1, forward: {{ upstream: origin }} }}
"#,
        origin = origin.addr
    );
    let server = Server::start(driver, &yaml);
    let failure = |path: &str, status: u16, reason: &str, upstream: &str| {
        let r = Conn::open(server.addr()).request(&util::get(path));
        assert_eq!(r.status, status, "{path}: {}", r.text());
        let j = r.json();
        assert_eq!(j["upstream"], upstream, "{path}: {j}");
        assert!(j["reason"].as_str().unwrap().contains(reason), "{path}: {j}");
        assert!(j["endpoint"].as_str().is_some_and(|e| e.contains("127.0.0.1:")), "{path}: {j}");
    };
    failure("/down", 502, "connection refused", "down");
    failure("/reset", 502, "closed the connection", "origin");
    failure("/garbage", 502, "not valid HTTP", "origin");
    failure("/slow/2000", 504, "no response head within 300 ms", "origin");
    // The data plane goes on serving through the origin after each.
    assert_eq!(echo(&Conn::open(server.addr()).request(&util::get("/fine")))["target"], "/fine");
}

fn the_connection_limit_answers_503(driver: IoDriver) {
    let origin = Origin::start();
    let yaml = format!(
        "upstreams:\n  origin: {{ endpoints: [\"{}\"], max_connections: 1 }}\nrules:\n  - {{ id: all, forward: {{ upstream: origin }} }}\n",
        origin.addr
    );
    let server = Server::start_with(driver, Some(&yaml), |c| c.workers = 1);
    let addr = server.addr();
    let slow = std::thread::spawn(move || Conn::open(addr).request(&util::get("/slow/800")).status);
    util::poll_until("the slow request reached the origin", Duration::from_secs(3), || {
        (origin.connections.load(Ordering::Relaxed) == 1).then_some(())
    });
    let r = Conn::open(server.addr()).request(&util::get("/other"));
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.json()["reason"].as_str().unwrap().contains("connection limit"), "{}", r.text());
    assert_eq!(slow.join().unwrap(), 200, "the request holding the connection is served");
    assert_eq!(Conn::open(server.addr()).request(&util::get("/after")).status, 200, "the slot is free again");
}

fn a_swap_under_load_loses_no_forwarded_request(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &rules(&origin, ""));
    let addr = server.addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                let mut served = 0;
                while !stop.load(Ordering::Relaxed) {
                    let r = conn.request(&util::get("/slow/5"));
                    assert_eq!(r.status, 200, "{}", r.text());
                    served += 1;
                }
                served
            })
        })
        .collect();
    for i in 0..10 {
        std::thread::sleep(Duration::from_millis(30));
        server.install(&rules(&origin, &format!(", request_headers: {{ add: {{ x-version: \"{i}\" }} }}")));
    }
    stop.store(true, Ordering::Relaxed);
    let served: u32 = clients.into_iter().map(|c| c.join().expect("no client saw a failure")).sum();
    assert!(served > 20, "the clients kept being served ({served})");
    let e = echo(&Conn::open(addr).request(&util::get("/last")));
    assert_eq!(echoed_header(&e, "x-version"), ["9"], "the last table is in force");
}

fn an_endpoint_named_by_dns_is_resolved_and_reached(driver: IoDriver) {
    let origin = Origin::start();
    let yaml = format!(
        "upstreams:\n  origin: {{ endpoints: [\"localhost:{}\"], lb: least_request }}\nrules:\n  - {{ id: all, forward: {{ upstream: origin }} }}\n",
        origin.addr.port()
    );
    let server = Server::start(driver, &yaml);
    for _ in 0..4 {
        // localhost may be ::1 as well, where the origin does not listen: the next address is tried.
        assert_eq!(echo(&Conn::open(server.addr()).request(&util::get("/by-name")))["target"], "/by-name");
    }
}

fn unmatched_requests_go_to_the_default_route_and_matched_ones_to_the_mock(driver: IoDriver) {
    let origin = Origin::start();
    let yaml = format!(
        "upstreams:\n  app: http://{}\nunmatched:\n  forward: {{ upstream: app, request_headers: {{ add: {{ x-route: default }} }} }}\nrules:\n  - {{ id: mocked, match: {{ path: /mocked }}, response: {{ body: mock }} }}\n",
        origin.addr
    );
    let server = Server::start(driver, &yaml);
    let mut conn = Conn::open(server.addr());
    assert_eq!(conn.request(&util::get("/mocked")).text(), "mock");
    let e = echo(&conn.request(&util::get("/not/a/rule")));
    assert_eq!((e["target"].as_str(), echoed_header(&e, "x-route")), (Some("/not/a/rule"), vec!["default"]));
    // A forwarded request is journaled once the answer has been relayed, which may be just
    // after the client has read it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut journal = server.journal("");
    while !journal.iter().any(|j| j["status"] == 200 && j["target"] == "/not/a/rule")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
        journal = server.journal("");
    }
    assert!(journal.iter().any(|j| j["status"] == 200 && j["target"] == "/not/a/rule"), "{journal:?}");
    // Without the block, a miss is the mock's 404.
    let server = Server::start(
        driver,
        "rules:\n  - { id: mocked, match: { path: /mocked }, response: { body: mock } }\n",
    );
    assert_eq!(Conn::open(server.addr()).request(&util::get("/not/a/rule")).status, 404);
}

fn a_forwarded_answer_carries_the_sets_cors_headers(driver: IoDriver) {
    let origin = Origin::start();
    let yaml = format!("cors: {{ allow_origins: [\"https://app.test\"] }}\n{}", rules(&origin, ""));
    let server = Server::start(driver, &yaml);
    let r =
        Conn::open(server.addr()).request(b"GET /x HTTP/1.1\r\nhost: t\r\norigin: https://app.test\r\n\r\n");
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, Some("https://app.test")));
    let r =
        Conn::open(server.addr()).request(b"GET /x HTTP/1.1\r\nhost: t\r\norigin: https://evil.test\r\n\r\n");
    assert_eq!((r.status, r.header("access-control-allow-origin")), (200, None));
}

fn trailer_fields_reach_a_chunked_client_and_not_an_http10_one(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &rules(&origin, ""));
    let raw = |request: &[u8]| {
        let mut s = TcpStream::connect(server.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        String::from_utf8(got).unwrap()
    };
    let got = raw(b"GET /trailers HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n");
    let (head, body) = got.split_once("\r\n\r\n").expect("a head");
    assert!(head.to_ascii_lowercase().contains("\r\ntrailer: x-checksum, x-more"), "{head}");
    assert_eq!(body, "5\r\nhello\r\n0\r\nx-checksum: abc123\r\nx-more: 1\r\n\r\n");
    // An HTTP/1.0 client gets the body until the close: no chunks, so no trailers.
    let got = raw(b"GET /trailers HTTP/1.0\r\nhost: t\r\n\r\n");
    let (head, body) = got.split_once("\r\n\r\n").expect("a head");
    assert!(!head.to_ascii_lowercase().contains("trailer"), "{head}");
    assert_eq!(body, "hello");
}

both_drivers!(
    trailer_fields_reach_a_chunked_client_and_not_an_http10_one,
    a_forwarded_answer_carries_the_sets_cors_headers,
    unmatched_requests_go_to_the_default_route_and_matched_ones_to_the_mock,
    an_endpoint_named_by_dns_is_resolved_and_reached,
    methods_and_request_bodies_reach_the_origin,
    response_bodies_of_every_framing_come_back_whole,
    hop_by_hop_fields_stay_and_forwarding_fields_are_set,
    large_bodies_stream_both_ways_with_flat_memory,
    upstream_failures_get_their_status_a_body_naming_the_upstream_and_the_reason,
    the_connection_limit_answers_503,
    a_swap_under_load_loses_no_forwarded_request,
);
