//! Hostile clients over raw sockets: each request is answered with the right status (or a
//! close), and the server goes on answering normal requests.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mockplane_dataplane::IoDriver;
use util::{Conn, End, Server, OK_RULE};

both_drivers!(
    bad_request_lines,
    header_injection,
    framing_attacks,
    bad_chunked_bodies,
    other_http_versions,
    oversize_header_block,
    too_many_headers,
    slowloris_gets_408,
    idle_connections_are_closed,
    abrupt_disconnects,
    deeply_nested_bodies,
);

fn rules() -> String {
    format!(
        r#"
rules:
{OK_RULE}
  - id: echo
    match: {{ method: POST, path: /echo }}
    response: {{ template: true, body: "{{{{{{request.body}}}}}}" }}
"#
    )
}

/// Sends `request` on a new connection and checks that the answer is `status` with
/// `connection: close`, that the connection then closes, and that the server still serves.
fn refused(server: &Server, what: &str, request: &[u8], status: u16) {
    let mut conn = Conn::open(server.addr());
    conn.send(request);
    let r = conn.try_read_response(false).unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
    assert_eq!(r.status, status, "{what}: answered {:?} {:?}", r.status_line, r.text());
    assert_eq!(r.header("connection"), Some("close"), "{what}: a refusal closes the connection");
    let (_, end) = conn.read_to_end(Duration::from_secs(2));
    assert_ne!(end, End::Open, "{what}: the connection stayed open after a refusal");
    server.assert_serving(what);
}

fn bad_request_lines(driver: IoDriver) {
    let server = Server::start(driver, &rules());
    let cases: &[(&str, &[u8])] = &[
        ("a missing version", b"GET /ok\r\n\r\n"),
        ("a lone word", b"HELLO\r\n\r\n"),
        ("a space in the target", b"GET /o k HTTP/1.1\r\nhost: t\r\n\r\n"),
        ("a relative target", b"GET ok HTTP/1.1\r\nhost: t\r\n\r\n"),
        ("a non-ASCII target", "GET /é HTTP/1.1\r\nhost: t\r\n\r\n".as_bytes()),
        ("a control byte in the method", b"G\x01T /ok HTTP/1.1\r\nhost: t\r\n\r\n"),
        ("a TLS client hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"),
        ("no Host in HTTP/1.1", b"GET /ok HTTP/1.1\r\n\r\n"),
        ("two Host headers", b"GET /ok HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n"),
        ("a lower-case version", b"GET /ok http/1.1\r\nhost: t\r\n\r\n"),
    ];
    for (what, request) in cases {
        refused(&server, what, request, 400);
    }
}

fn header_injection(driver: IoDriver) {
    let server = Server::start(driver, &rules());
    let cases: &[(&str, &[u8])] = &[
        ("bare LF line endings", b"GET /ok HTTP/1.1\nhost: t\n\n"),
        ("a bare LF inside the head", b"GET /ok HTTP/1.1\r\nhost: t\nx-injected: 1\r\n\r\n"),
        ("a NUL in a header value", b"GET /ok HTTP/1.1\r\nhost: t\r\nx-a: a\0b\r\n\r\n"),
        ("a bare CR in a header value", b"GET /ok HTTP/1.1\r\nhost: t\r\nx-a: a\rb\r\n\r\n"),
        ("a space before the colon", b"GET /ok HTTP/1.1\r\nhost: t\r\ncontent-length : 5\r\n\r\nhello"),
        ("an obs-fold continuation", b"GET /ok HTTP/1.1\r\nhost: t\r\nx-a: b\r\n c\r\n\r\n"),
        ("a header without a colon", b"GET /ok HTTP/1.1\r\nhost: t\r\nx-a\r\n\r\n"),
    ];
    for (what, request) in cases {
        refused(&server, what, request, 400);
    }
}

fn framing_attacks(driver: IoDriver) {
    let server = Server::start(driver, &rules());
    let cases: &[(&str, &[u8], u16)] = &[
        ("a Content-Length over 10 MiB", b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 10485761\r\n\r\n", 413),
        ("an overflowing Content-Length", b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 184467440737095516160\r\n\r\n", 400),
        (
            "two differing Content-Lengths",
            b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 3\r\ncontent-length: 5\r\n\r\nhello",
            400,
        ),
        ("a differing Content-Length list", b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 5, 3\r\n\r\nhello", 400),
        ("a negative Content-Length", b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: -1\r\n\r\n", 400),
        ("a signed Content-Length", b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: +5\r\n\r\nhello", 400),
        ("a hex Content-Length", b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 0x5\r\n\r\nhello", 400),
        (
            "both Content-Length and Transfer-Encoding",
            b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
        ),
        ("Transfer-Encoding: gzip", b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: gzip\r\n\r\n", 501),
        (
            "Transfer-Encoding: gzip, chunked",
            b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            "two Transfer-Encoding headers",
            b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        ("Transfer-Encoding in HTTP/1.0", b"POST /echo HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    ];
    for (what, request, status) in cases {
        refused(&server, what, request, *status);
    }
}

fn bad_chunked_bodies(driver: IoDriver) {
    let server = Server::start(driver, &rules());
    let head = "POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n";
    let cases: &[(&str, &str, u16)] = &[
        ("a non-hex chunk size", "zz\r\nhello\r\n0\r\n\r\n", 400),
        ("a negative chunk size", "-5\r\nhello\r\n0\r\n\r\n", 400),
        ("an empty chunk size", "\r\nhello\r\n0\r\n\r\n", 400),
        ("a chunk size of 17 digits", "00000000000000005\r\nhello\r\n0\r\n\r\n", 400),
        ("a chunk size with a 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", 400),
        ("chunk data longer than its size", "5\r\nhello world\r\n0\r\n\r\n", 400),
        ("a bare LF after the chunk size", "5\nhello\r\n0\r\n\r\n", 400),
        ("a chunk over the body limit", "ffffffff\r\n", 413),
    ];
    for (what, body, status) in cases {
        refused(&server, what, format!("{head}{body}").as_bytes(), *status);
    }
    // A good chunked body still works.
    let r = Conn::open(server.addr()).request(format!("{head}5\r\nhello\r\n0\r\n\r\n").as_bytes());
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
}

fn other_http_versions(driver: IoDriver) {
    let server = Server::start(driver, &rules());
    refused(&server, "the HTTP/2 connection preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505);
    refused(&server, "HTTP/2.0", b"GET /ok HTTP/2.0\r\nhost: t\r\n\r\n", 505);
    refused(&server, "HTTP/1.2", b"GET /ok HTTP/1.2\r\nhost: t\r\n\r\n", 505);
    refused(&server, "HTTP/3.0", b"GET /ok HTTP/3.0\r\nhost: t\r\n\r\n", 505);
}

fn oversize_header_block(driver: IoDriver) {
    let server = Server::start(driver, &rules());
    // One header line that takes the head past 64 KiB.
    let mut request = b"GET /ok HTTP/1.1\r\nhost: t\r\nx-big: ".to_vec();
    request.resize(request.len() + 70 * 1024, b'a');
    request.extend_from_slice(b"\r\n\r\n");
    refused(&server, "a 70 KiB header", &request, 431);
    // Many small lines past 64 KiB (under the header count limit).
    let mut request = b"GET /ok HTTP/1.1\r\nhost: t\r\n".to_vec();
    for i in 0..90 {
        request.extend_from_slice(format!("x-h{i}: {}\r\n", "b".repeat(800)).as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    assert!(request.len() > 64 * 1024);
    refused(&server, "90 headers of 800 bytes", &request, 431);
    // Just under the limit is fine.
    let mut request = b"GET /ok HTTP/1.1\r\nhost: t\r\nx-big: ".to_vec();
    request.resize(request.len() + 60 * 1024, b'a');
    request.extend_from_slice(b"\r\n\r\n");
    let r = Conn::open(server.addr()).request(&request);
    assert_eq!((r.status, r.text().as_str()), (200, "ok"), "a 60 KiB head");
}

fn too_many_headers(driver: IoDriver) {
    let server = Server::start(driver, &rules());
    let request = |n: usize| {
        let mut r = b"GET /ok HTTP/1.1\r\nhost: t\r\n".to_vec();
        for i in 1..n {
            r.extend_from_slice(format!("x-h{i}: v\r\n").as_bytes());
        }
        r.extend_from_slice(b"\r\n");
        r
    };
    // 100 header fields (Host included) are allowed, 101 are not.
    let r = Conn::open(server.addr()).request(&request(100));
    assert_eq!((r.status, r.text().as_str()), (200, "ok"), "100 headers");
    refused(&server, "101 headers", &request(101), 431);
    refused(&server, "1000 headers", &request(1000), 431);
}

fn slowloris_gets_408(driver: IoDriver) {
    let server = Server::start_with(driver, Some(&rules()), |c| c.header_timeout = Duration::from_secs(1));
    let mut conn = Conn::open(server.addr());
    let mut writer = conn.stream.try_clone().unwrap();
    let started = Instant::now();
    // Trickle a head byte by byte, never finishing it; stop when the server hangs up.
    let trickle = std::thread::spawn(move || {
        let head =
            b"GET /ok HTTP/1.1\r\nhost: t\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for b in head.iter().take(60) {
            if writer.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let (bytes, end) = conn.read_to_end(Duration::from_secs(3));
    let took = started.elapsed();
    trickle.join().unwrap();
    assert_ne!(end, End::Open, "a slowloris client was still connected after {took:?}");
    assert!(
        bytes.is_empty() || bytes.starts_with(b"HTTP/1.1 408 "),
        "expected a 408 or a close, got {:?}",
        util::show(&bytes)
    );
    assert!(took >= Duration::from_millis(900), "closed after {took:?}, before the 1 s header timeout");
    assert!(took <= Duration::from_millis(2000), "closed after {took:?}, long after the 1 s header timeout");
    server.assert_serving("a slowloris client");
}

fn idle_connections_are_closed(driver: IoDriver) {
    let server = Server::start_with(driver, Some(&rules()), |c| c.idle_timeout = Duration::from_millis(300));
    // After an answer, a keep-alive connection left idle is closed.
    let mut conn = Conn::open(server.addr());
    assert_eq!(conn.request(&util::get("/ok")).text(), "ok");
    let idle_from = Instant::now();
    let (bytes, end) = conn.read_to_end(Duration::from_secs(2));
    let took = idle_from.elapsed();
    assert_eq!(
        (util::show(&bytes).as_str(), end),
        ("", End::Eof),
        "an idle connection should be closed quietly"
    );
    assert!(
        (Duration::from_millis(250)..=Duration::from_millis(1000)).contains(&took),
        "an idle connection was closed after {took:?} with idle_timeout 300 ms"
    );
    // A connection that never sends anything is closed too.
    let mut silent = Conn::open(server.addr());
    let (bytes, end) = silent.read_to_end(Duration::from_secs(2));
    assert_eq!((util::show(&bytes).as_str(), end), ("", End::Eof));
    // A connection in use is not closed early: requests 200 ms apart keep it alive.
    let mut busy = Conn::open(server.addr());
    for _ in 0..4 {
        assert_eq!(busy.request(&util::get("/ok")).text(), "ok");
        std::thread::sleep(Duration::from_millis(200));
    }
    server.assert_serving("idle connections");
}

fn abrupt_disconnects(driver: IoDriver) {
    let server = Server::start(driver, &rules());
    let partials: [&[u8]; 5] = [
        b"GET /ok HTTP/1.1\r\nho",
        b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nonly a part",
        b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n10\r\nabc",
        b"POST /echo HTTP/1.1\r\nhost: t\r\nexpect: 100-continue\r\ncontent-length: 5\r\n\r\n",
        b"GET /ok HTTP/1.1\r\nhost: t\r\n\r\nGET /ok HTTP/1.1\r\nhost: t\r\n\r\nGET /o",
    ];
    for i in 0..200 {
        let mut stream = TcpStream::connect(server.addr()).unwrap();
        stream.write_all(partials[i % partials.len()]).unwrap();
        if i % 2 == 0 {
            // A reset rather than a close.
            socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)).unwrap();
        }
        drop(stream);
    }
    server.assert_serving("200 abrupt disconnects");
    // Every one of those connections was accepted, and is gone from the server's books. (Under
    // load some may still wait in the accept queue for a moment: poll for both at once.)
    util::poll_until("201 accepted connections, none left open", Duration::from_secs(3), || {
        let text = server.metrics();
        let accepted = util::metric(&text, "mockplane_connections_accepted_total")?;
        let open = util::metric(&text, "mockplane_open_connections")?;
        (accepted >= 201.0 && open == 0.0).then_some(())
    });
    server.assert_serving("200 abrupt disconnects, once they are all gone");
}

/// JSON bodies nested far deeper than any real one, sent to every matcher and template that
/// reads JSON: each gets an answer, and the worker that parsed it goes on serving (a stack
/// overflow would abort the whole process).
fn deeply_nested_bodies(driver: IoDriver) {
    let rules = format!(
        r#"
rules:
{OK_RULE}
  - id: descendant
    match: {{ method: POST, path: /jp, body: {{ jsonpath: "$..a" }} }}
    response: {{ body: jp }}
  - id: equality
    match: {{ method: POST, path: /eq, body: {{ json: {{ a: [1] }} }} }}
    response: {{ body: eq }}
  - id: graphql
    match: {{ method: POST, path: /graphql, graphql: {{ name: Q }} }}
    response: {{ body: gql }}
  - id: template
    match: {{ method: POST, path: /tpl }}
    response: {{ template: true, body: "[{{{{jsonPath request.body '$..a'}}}}]" }}
"#
    );
    let server = Server::start(driver, &rules);
    let deep = |n: usize, open: &str, leaf: &str, close: &str| {
        format!("{}{leaf}{}", open.repeat(n), close.repeat(n))
    };
    let post = |path: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let mut bodies = Vec::new();
    for n in [100, 1_000, 5_000, 200_000] {
        bodies.push((format!("{n} arrays"), deep(n, "[", "1", "]")));
        bodies.push((format!("{n} objects"), deep(n, r#"{"a":"#, "1", "}")));
    }
    for n in [5_000, 200_000] {
        let query = format!(r#"{{"query":"{}"}}"#, deep(n, "{a", "", "}"));
        bodies.push((format!("a GraphQL query {n} selections deep"), query));
    }
    for (what, body) in &bodies {
        for path in ["/jp", "/eq", "/graphql", "/tpl"] {
            let mut conn = Conn::open(server.addr());
            let r = conn
                .try_request(post(path, body).as_bytes())
                .unwrap_or_else(|e| panic!("{what} to {path}: no answer: {e}"));
            assert!(matches!(r.status, 200 | 404), "{what} to {path}: {}", r.status_line);
        }
        server.assert_serving(what);
    }
    // A body the parsers take: the descendant search finds the innermost `a`.
    let mut conn = Conn::open(server.addr());
    assert_eq!(conn.request(post("/jp", &deep(100, r#"{"a":"#, "1", "}")).as_bytes()).text(), "jp");
}
