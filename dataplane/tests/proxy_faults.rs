//! Faults on forwarded traffic (Envoy's fault filter is the model), against a real origin:
//! aborts and delays for a share of requests (counted over enough requests to hold within
//! statistical bounds), faults asked for by request headers when the route allows it, a
//! response-side delay, and the connection-level faults mocks have. Both drivers.

mod util;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use mockplane_dataplane::IoDriver;
use util::upstream::Origin;
use util::{Conn, End, Server};

fn forwarding(origin: &Origin, settings: &str) -> String {
    format!(
        "upstreams:\n  origin: http://{}\nrules:\n  - id: pass\n    forward: {{ upstream: origin, {settings} }}\n",
        origin.addr
    )
}

/// `n` draws at probability `p` land within this many of `n * p`: 4.5 standard deviations, so
/// a correct implementation fails about once in 150,000 runs.
fn bounds(n: u32, p: f64) -> std::ops::RangeInclusive<u32> {
    let mean = n as f64 * p;
    let spread = 4.5 * (n as f64 * p * (1.0 - p)).sqrt();
    ((mean - spread).floor().max(0.0) as u32)..=((mean + spread).ceil() as u32)
}

fn aborts_hit_their_share_and_never_reach_the_origin(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(
        driver,
        &forwarding(&origin, "faults: [{ type: abort, status: 503, probability: 0.3 }]"),
    );
    let mut conn = Conn::open(server.addr());
    let n = 400;
    let mut aborted = 0;
    for _ in 0..n {
        match conn.request(&util::get("/x")).status {
            503 => aborted += 1,
            200 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(bounds(n, 0.3).contains(&aborted), "{aborted} of {n} aborted, expected {:?}", bounds(n, 0.3));
    assert_eq!(
        origin.requests.load(Ordering::Relaxed),
        (n - aborted) as usize,
        "aborts never reach the origin"
    );
    let journal = server.journal("");
    assert!(
        journal.iter().any(|j| j["status"] == 503 && j["fault"] == "abort"),
        "the journal names the fault"
    );
}

fn delays_hit_their_share(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &forwarding(&origin, "delay: { fixed: 40 }, delay_probability: 0.5"));
    let mut conn = Conn::open(server.addr());
    let n = 60;
    let mut delayed = 0;
    for _ in 0..n {
        let began = Instant::now();
        assert_eq!(conn.request(&util::get("/x")).status, 200);
        if began.elapsed() >= Duration::from_millis(40) {
            delayed += 1;
        }
    }
    assert!(bounds(n, 0.5).contains(&delayed), "{delayed} of {n} delayed, expected {:?}", bounds(n, 0.5));
}

fn requests_ask_for_faults_by_header_only_where_the_route_allows_it(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &forwarding(&origin, "header_faults: { max_delay_ms: 150 }"));
    let mut conn = Conn::open(server.addr());
    let r = conn.request(b"GET /x HTTP/1.1\r\nhost: t\r\nx-mockplane-fault-abort: 429\r\n\r\n");
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.json()["reason"].as_str().unwrap().contains("x-mockplane-fault-abort"));
    assert_eq!(origin.requests.load(Ordering::Relaxed), 0, "an abort never reaches the origin");

    let began = Instant::now();
    let r = conn.request(b"GET /x HTTP/1.1\r\nhost: t\r\nx-mockplane-fault-delay-ms: 60000\r\n\r\n");
    let took = began.elapsed();
    assert_eq!(r.status, 200);
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(3),
        "capped at 150 ms: {took:?}"
    );
    let headers = r.json()["headers"].to_string();
    assert!(!headers.contains("x-mockplane-fault"), "fault headers are not forwarded: {headers}");

    // A route without header_faults ignores them (and does not forward them either).
    let server = Server::start(driver, &forwarding(&origin, "host: plain"));
    let r = Conn::open(server.addr())
        .request(b"GET /x HTTP/1.1\r\nhost: t\r\nx-mockplane-fault-abort: 429\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(!r.json()["headers"].to_string().contains("x-mockplane-fault"));
}

fn a_response_delay_holds_the_answer(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &forwarding(&origin, "response_delay: { fixed: 200 }"));
    let began = Instant::now();
    let r = Conn::open(server.addr()).request(&util::get("/x"));
    assert_eq!(r.status, 200);
    assert!(began.elapsed() >= Duration::from_millis(200), "{:?}", began.elapsed());
    assert_eq!(origin.requests.load(Ordering::Relaxed), 1);
}

fn connection_faults_break_the_client_connection_instead_of_forwarding(driver: IoDriver) {
    let origin = Origin::start();
    for (kind, check) in [
        ("empty_response", "closed with nothing"),
        ("connection_reset", "reset or closed with nothing"),
        ("malformed_chunk", "a broken chunk"),
    ] {
        let server = Server::start(driver, &forwarding(&origin, &format!("faults: [{{ type: {kind} }}]")));
        let mut conn = Conn::open(server.addr());
        conn.send(&util::get("/x"));
        let (bytes, end) = conn.read_to_end(Duration::from_secs(3));
        match kind {
            "malformed_chunk" => {
                assert!(util::show(&bytes).contains("ZZ-not-a-chunk-size"), "{kind}: {check}");
            }
            _ => {
                assert!(bytes.is_empty(), "{kind}: {check}: got {}", util::show(&bytes));
                assert!(matches!(end, End::Eof | End::Reset), "{kind}: {check}: {end:?}");
            }
        }
    }
    assert_eq!(origin.requests.load(Ordering::Relaxed), 0, "no fault reached the origin");
}

/// A loopback port where nothing listens: connections to it are refused.
fn refused_port() -> std::net::SocketAddr {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    closed.local_addr().unwrap()
}

fn a_failing_endpoint_is_ejected_for_a_while_then_tried_again(driver: IoDriver) {
    let origin = Origin::start();
    let yaml = format!(
        "upstreams:\n  two:\n    endpoints: [\"{}\", \"{}\"]\n    outlier_detection: {{ consecutive_failures: 2, ejection_ms: 600 }}\nrules:\n  - {{ id: all, forward: {{ upstream: two }} }}\n",
        refused_port(),
        origin.addr
    );
    // One worker: outlier detection is per core, and every connection lands on this one.
    let server = Server::start_with(driver, Some(&yaml), |c| c.workers = 1);
    let statuses = |n: usize| -> Vec<u16> {
        (0..n).map(|_| Conn::open(server.addr()).request(&util::get("/x")).status).collect()
    };
    // Round robin alternates until the dead endpoint fails twice; then only the origin serves.
    let first = statuses(10);
    assert_eq!(first.iter().filter(|&&s| s == 502).count(), 2, "{first:?}");
    assert!(first[4..].iter().all(|&s| s == 200), "ejected after two failures: {first:?}");
    // After the ejection it takes its turn again, and is ejected again.
    std::thread::sleep(Duration::from_millis(700));
    let again = statuses(6);
    assert_eq!(again.iter().filter(|&&s| s == 502).count(), 2, "{again:?}");
}

fn idempotent_requests_are_retried_on_the_next_endpoint_and_others_are_not(driver: IoDriver) {
    let origin = Origin::start();
    let yaml = format!(
        "upstreams:\n  two: {{ endpoints: [\"{}\", \"{}\"], retries: 1 }}\nrules:\n  - {{ id: all, forward: {{ upstream: two }} }}\n",
        refused_port(),
        origin.addr
    );
    let server = Server::start_with(driver, Some(&yaml), |c| c.workers = 1);
    for _ in 0..6 {
        assert_eq!(Conn::open(server.addr()).request(&util::get("/x")).status, 200, "a GET is retried");
    }
    let posts: Vec<u16> = (0..6)
        .map(|_| {
            Conn::open(server.addr())
                .request(b"POST /x HTTP/1.1\r\nhost: t\r\ncontent-length: 1\r\n\r\nx")
                .status
        })
        .collect();
    assert_eq!(posts.iter().filter(|&&s| s == 502).count(), 3, "a POST is sent once: {posts:?}");
}

fn a_connect_that_takes_too_long_answers_504(driver: IoDriver) {
    // A listener that never accepts, its queue filled: the kernel drops further SYNs, so a
    // connect neither succeeds nor is refused.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap().into()).unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let _queued: Vec<_> = (0..4)
        .filter_map(|_| {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
            s.set_nonblocking(true).ok()?;
            let _ = s.connect(&addr.into());
            Some(s)
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let yaml = format!(
        "upstreams:\n  stuck: {{ endpoints: [\"{addr}\"], connect_timeout_ms: 200 }}\nrules:\n  - {{ id: all, forward: {{ upstream: stuck }} }}\n"
    );
    let server = Server::start(driver, &yaml);
    let began = Instant::now();
    let r = Conn::open(server.addr()).request(&util::get("/x"));
    assert_eq!(r.status, 504, "{}", r.text());
    assert!(r.json()["reason"].as_str().unwrap().contains("connect timed out after 200 ms"), "{}", r.text());
    assert!(began.elapsed() >= Duration::from_millis(200));
}

both_drivers!(
    a_connect_that_takes_too_long_answers_504,
    a_failing_endpoint_is_ejected_for_a_while_then_tried_again,
    idempotent_requests_are_retried_on_the_next_endpoint_and_others_are_not,
    aborts_hit_their_share_and_never_reach_the_origin,
    delays_hit_their_share,
    requests_ask_for_faults_by_header_only_where_the_route_allows_it,
    a_response_delay_holds_the_answer,
    connection_faults_break_the_client_connection_instead_of_forwarding,
);
