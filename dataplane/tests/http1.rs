//! HTTP/1.1 connection behaviour over raw sockets: keep-alive, pipelining, chunked request
//! bodies, `Expect: 100-continue`, HTTP/1.0, `Connection: close`, and the `date` header.

mod util;

use std::time::{Duration, SystemTime};

use mockplane_dataplane::IoDriver;
use util::{Conn, End, Response, Server};

both_drivers!(
    keep_alive_reuses_one_connection,
    pipelined_requests_answered_in_order,
    pipelined_batch_split_across_writes,
    chunked_request_bodies,
    expect_100_continue,
    http10_closes_unless_keep_alive,
    connection_close,
    date_header_on_every_answer,
    date_header_on_refusals,
);

const RULES: &str = r#"
variables:
  V: "v1"
rules:
  - id: a
    match: { method: [GET, HEAD], path: /a }
    response: { body: alpha }
  - id: b
    match: { method: GET, path: /b }
    response: { json: { b: true } }
  - id: tpl
    match: { method: GET, path: "/t/{id}" }
    response: { template: true, body: "t{{request.path.id}} {{env.V}}" }
  - id: echo
    match: { method: POST, path: /echo }
    response: { template: true, body: "{{{request.body}}}" }
  - id: hello-world
    match: { method: POST, path: /hw, body: { equals: "hello world" } }
    response: { status: 201, body: matched }
  - id: slow
    match: { method: GET, path: /slow }
    response: { body: slow, delay: { fixed: 100 } }
  - id: abort
    match: { path: /abort }
    response: { faults: [{ type: abort, status: 503 }] }
  - id: fwd
    match: { path: /fwd }
    forward: { url: "http://upstream.invalid" }
  - id: ok
    match: { method: GET, path: /ok }
    response: { body: ok }
"#;

fn keep_alive_reuses_one_connection(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.addr());
    for i in 0..200 {
        let (path, body) = match i % 3 {
            0 => ("/a".to_owned(), "alpha".to_owned()),
            1 => (format!("/t/{i}"), format!("t{i} v1")),
            _ => ("/echo".to_owned(), format!("body {i}")),
        };
        let request = if path == "/echo" {
            format!("POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n{body}", body.len())
        } else {
            format!("GET {path} HTTP/1.1\r\nhost: t\r\n\r\n")
        };
        let r = conn.request(request.as_bytes());
        assert_eq!((r.status, r.text()), (200, body), "request {i} on the one connection");
        assert_eq!(r.header("connection"), None, "an HTTP/1.1 keep-alive answer needs no connection header");
    }
    let accepted = util::metric(&server.metrics(), "mockplane_connections_accepted_total");
    assert_eq!(accepted, Some(1.0), "200 keep-alive requests should take one connection");
}

fn pipelined_requests_answered_in_order(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.addr());
    let batch = concat!(
        "GET /a HTTP/1.1\r\nhost: t\r\n\r\n",
        "GET /t/7 HTTP/1.1\r\nhost: t\r\n\r\n",
        "HEAD /a HTTP/1.1\r\nhost: t\r\n\r\n",
        "POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 11\r\n\r\nhello there",
        "GET /slow HTTP/1.1\r\nhost: t\r\n\r\n",
        "GET /missing HTTP/1.1\r\nhost: t\r\n\r\n",
        "POST /hw HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        "GET /b HTTP/1.1\r\nhost: t\r\n\r\n",
    );
    conn.send(batch.as_bytes());
    let mut got: Vec<(u16, String)> = Vec::new();
    for i in 0..8 {
        let r = conn.try_read_response(i == 2).unwrap_or_else(|e| panic!("answer {i}: {e}; so far {got:?}"));
        got.push((r.status, r.text()));
    }
    let want: Vec<(u16, String)> = [
        (200, "alpha"),
        (200, "t7 v1"),
        (200, ""),
        (200, "hello there"),
        (200, "slow"),
        (404, ""),
        (201, "matched"),
        (200, r#"{"b":true}"#),
    ]
    .into_iter()
    .map(|(s, b)| (s, b.to_owned()))
    .collect();
    // The 404's body is the miss explanation: compare its status only.
    got[5].1.clear();
    assert_eq!(got, want);
    // Nothing more, and the connection is still open.
    let (rest, end) = conn.read_to_end(Duration::from_millis(100));
    assert_eq!((util::show(&rest).as_str(), end), ("", End::Open));
    assert_eq!(conn.request(&util::get("/a")).text(), "alpha");
}

fn pipelined_batch_split_across_writes(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.addr());
    let mut batch = Vec::new();
    for i in 0..100 {
        batch.extend_from_slice(format!("GET /t/{i} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes());
    }
    // Cut in the middle of requests, in three writes.
    let (first, rest) = batch.split_at(1000);
    let (second, third) = rest.split_at(7);
    conn.send(first);
    std::thread::sleep(Duration::from_millis(20));
    conn.send(second);
    std::thread::sleep(Duration::from_millis(20));
    conn.send(third);
    for i in 0..100 {
        let r = conn.read_response();
        assert_eq!((r.status, r.text()), (200, format!("t{i} v1")), "answer {i}");
    }
}

fn chunked_request_bodies(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.addr());
    // In one write, with a chunk extension and a trailer.
    let r = conn.request(
        b"POST /hw HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: 1\r\n\r\n",
    );
    assert_eq!((r.status, r.text().as_str()), (201, "matched"));
    // Trickled: the head, then each chunk in its own write, split inside the framing.
    conn.send(b"POST /hw HTTP/1.1\r\nhost: t\r\nTransfer-Encoding: Chunked\r\n\r\n");
    for piece in ["3\r\nhel\r", "\n8\r\nlo world", "\r\n0\r", "\n\r\n"] {
        std::thread::sleep(Duration::from_millis(15));
        conn.send(piece.as_bytes());
    }
    let r = conn.read_response();
    assert_eq!((r.status, r.text().as_str()), (201, "matched"));
    // The matcher sees the de-chunked body: a different body does not match.
    let r = conn.request(
        b"POST /hw HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(r.status, 404);
    // A template echoes the de-chunked body; a larger body in many chunks.
    let body: String = (0..2000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let mut request = b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    for piece in body.as_bytes().chunks(97) {
        request.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        request.extend_from_slice(piece);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let r = conn.request(&request);
    assert_eq!((r.status, r.text()), (200, body));
}

fn expect_100_continue(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.addr());
    // Content-Length: the client waits for 100 Continue before sending the body.
    conn.send(b"POST /hw HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 11\r\n\r\n");
    let interim = conn.read_response();
    assert_eq!(interim.status, 100, "expected 100 Continue first, got {}", interim.status_line);
    conn.send(b"hello world");
    let r = conn.read_response();
    assert_eq!((r.status, r.text().as_str()), (201, "matched"));
    // Chunked, same dance.
    conn.send(b"POST /hw HTTP/1.1\r\nhost: t\r\nExpect: 100-Continue\r\ntransfer-encoding: chunked\r\n\r\n");
    let interim = conn.read_response();
    assert_eq!(interim.status, 100, "expected 100 Continue first, got {}", interim.status_line);
    conn.send(b"b\r\nhello world\r\n0\r\n\r\n");
    let r = conn.read_response();
    assert_eq!((r.status, r.text().as_str()), (201, "matched"));
    // And the connection goes on.
    assert_eq!(conn.request(&util::get("/a")).text(), "alpha");
}

fn http10_closes_unless_keep_alive(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    // Plain HTTP/1.0: the answer, then a close.
    let mut conn = Conn::open(server.addr());
    let r = conn.request(b"GET /a HTTP/1.0\r\n\r\n");
    assert_eq!((r.status, r.text().as_str()), (200, "alpha"));
    assert_eq!(r.header("connection"), Some("close"));
    let (rest, end) = conn.read_to_end(Duration::from_secs(2));
    assert_eq!((util::show(&rest).as_str(), end), ("", End::Eof), "HTTP/1.0 without keep-alive should close");

    // HTTP/1.0 with keep-alive: the connection stays, and says so.
    let mut conn = Conn::open(server.addr());
    for path in ["/a", "/t/1", "/missing"] {
        let r = conn.request(format!("GET {path} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes());
        assert_eq!(r.header("connection"), Some("keep-alive"), "GET {path} over HTTP/1.0 keep-alive");
    }
    let r = conn.request(b"GET /a HTTP/1.0\r\nhost: t\r\n\r\n");
    assert_eq!(r.text(), "alpha");
    let (_, end) = conn.read_to_end(Duration::from_secs(2));
    assert_eq!(end, End::Eof);
}

fn connection_close(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    for path in ["/a", "/t/3", "/missing", "/abort", "/fwd"] {
        let mut conn = Conn::open(server.addr());
        // A second request pipelined after `Connection: close` is never answered.
        conn.send(format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").as_bytes());
        conn.send(&util::get("/b"));
        let r = conn.read_response();
        assert_eq!(r.header("connection"), Some("close"), "GET {path} with Connection: close");
        let (rest, end) = conn.read_to_end(Duration::from_secs(2));
        assert_eq!(util::show(&rest), "", "GET {path}: bytes after a Connection: close answer");
        assert_ne!(end, End::Open, "GET {path}: the connection stayed open after Connection: close");
    }
}

fn assert_fresh_date(r: &Response, what: &str) {
    let date = r.header("date").unwrap_or_else(|| panic!("{what}: no date header in {:?}", r.headers));
    let at = httpdate::parse_http_date(date).unwrap_or_else(|e| panic!("{what}: bad date {date:?}: {e}"));
    let skew = match SystemTime::now().duration_since(at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    assert!(skew < Duration::from_secs(5), "{what}: date {date:?} is {skew:?} off");
}

fn date_header_on_every_answer(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.addr());
    for path in ["/a", "/b", "/t/1", "/slow", "/missing", "/abort", "/fwd"] {
        let r = conn.request(&util::get(path));
        assert_fresh_date(&r, &format!("GET {path} ({})", r.status));
    }
    let r = conn.request(b"HEAD /a HTTP/1.1\r\nhost: t\r\n\r\n");
    assert_fresh_date(&r, "HEAD /a");
    let r = conn.request(
        b"POST /hw HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 11\r\n\r\nhello world",
    );
    assert_fresh_date(&r, "POST /hw");

    // Before any rules: a 503.
    let empty = Server::start_with(driver, None, |_| {});
    let r = empty.get("/a");
    assert_eq!(r.status, 503);
    assert_fresh_date(&r, "503 without rules");
}

/// RFC 9110 §6.6.1: an origin server with a clock MUST send `Date` in every 4xx response,
/// the ones the codec refuses requests with included.
fn date_header_on_refusals(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    for (request, status) in [
        (&b"GET /a HTTP/1.1\r\n\r\n"[..], 400),
        (b"GET /a HTTP/1.1\r\nhost: t\r\ncontent-length: 99999999999\r\n\r\n", 413),
        (b"GET /a HTTP/1.1\r\nhost: t\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n", 400),
    ] {
        let r = Conn::open(server.addr()).request(request);
        assert_eq!(r.status, status);
        assert_fresh_date(&r, &format!("the {status} refusal of {:?}", util::show(request)));
    }
}
