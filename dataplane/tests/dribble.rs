//! `chunked_dribble` over real TCP: the body arrives in the chunks the rule asks for, spread
//! over its time, while the worker goes on answering other connections.

mod util;

use std::io::Read as _;
use std::time::{Duration, Instant};

use mockplane_dataplane::IoDriver;
use util::{Conn, Server};

both_drivers!(chunks_arrive_spread_over_the_total_time, http10_and_head_and_keep_alive);

const RULES: &str = r#"
rules:
  - id: dribble
    match: { path: /dribble }
    response:
      headers: { x-kind: static }
      body: "dribbled in three chunks"
      chunked_dribble: { chunks: 3, total_ms: 300 }
  - id: templated
    match: { path: /templated }
    response:
      template: true
      body: "{{request.path}} in two"
      delay: { fixed: 100 }
      chunked_dribble: { chunks: 2, total_ms: 200 }
  - id: fast
    match: { path: /fast }
    response: { body: fast }
"#;

/// What a busy 2-core CI machine may add to the timings below.
const SLACK: Duration = Duration::from_millis(250);

/// One chunk of a chunked body and when the read that completed it returned.
struct Arrival {
    data: Vec<u8>,
    at: Duration,
}

/// Sends `request` and reads a chunked answer, noting when each chunk arrived: the head
/// (lower-cased) and the chunks, measured from the send.
fn timed_chunks(conn: &mut Conn, request: &[u8]) -> (String, Duration, Vec<Arrival>) {
    let start = Instant::now();
    conn.send(request);
    let mut buf = Vec::new();
    let mut read = |buf: &mut Vec<u8>| {
        let mut chunk = [0u8; 4096];
        let n = conn.stream.read(&mut chunk).expect("the answer goes on");
        assert!(n > 0, "closed early; got {}", String::from_utf8_lossy(buf));
        buf.extend_from_slice(&chunk[..n]);
        start.elapsed()
    };
    let find = |buf: &[u8], needle: &[u8]| buf.windows(needle.len()).position(|w| w == needle);
    let mut head_at = Duration::ZERO;
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        head_at = read(&mut buf);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    buf.drain(..head_end);
    let mut arrivals = Vec::new();
    let mut last = head_at;
    loop {
        let line = loop {
            if let Some(i) = find(&buf, b"\r\n") {
                break i;
            }
            last = read(&mut buf);
        };
        let size = usize::from_str_radix(std::str::from_utf8(&buf[..line]).expect("a size"), 16)
            .unwrap_or_else(|_| panic!("a chunk size, got {:?}", String::from_utf8_lossy(&buf)));
        while buf.len() < line + 2 + size + 2 {
            last = read(&mut buf);
        }
        let data = buf[line + 2..line + 2 + size].to_vec();
        assert_eq!(&buf[line + 2 + size..line + 4 + size], b"\r\n", "a chunk ends in CRLF");
        buf.drain(..line + 4 + size);
        if size == 0 {
            return (head, head_at, arrivals);
        }
        arrivals.push(Arrival { data, at: last });
    }
}

fn chunks_arrive_spread_over_the_total_time(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    let mut conn = Conn::open(server.addr());
    // Warm the connection, so the timings are the answers'.
    assert_eq!(conn.request(b"GET /fast HTTP/1.1\r\nhost: x\r\n\r\n").text(), "fast");

    let (head, head_at, chunks) = timed_chunks(&mut conn, b"GET /dribble HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("transfer-encoding: chunked\r\n") && !head.contains("content-length"), "{head}");
    assert!(head.contains("x-kind: static\r\n"), "the rule's headers kept: {head}");
    let texts: Vec<String> = chunks.iter().map(|c| String::from_utf8_lossy(&c.data).into_owned()).collect();
    assert_eq!(texts, ["dribbled", " in thre", "e chunks"], "three even chunks");
    // One chunk every 100 ms, the head with the first (as WireMock sends them): the first
    // after about 100, the last after about 300.
    assert!(head_at >= Duration::from_millis(90), "the head comes with the first chunk: {head_at:?}");
    assert!(head_at < Duration::from_millis(100) + SLACK, "the head comes with the first chunk: {head_at:?}");
    let ms = |d: Duration| d.as_millis();
    assert!(chunks[0].at >= Duration::from_millis(90), "first chunk at {} ms", ms(chunks[0].at));
    assert!(chunks[2].at >= Duration::from_millis(290), "last chunk at {} ms", ms(chunks[2].at));
    assert!(chunks[2].at < Duration::from_millis(300) + SLACK, "last chunk at {} ms", ms(chunks[2].at));
    assert!(
        chunks[2].at - chunks[0].at >= Duration::from_millis(180),
        "spread over the time: {} to {} ms",
        ms(chunks[0].at),
        ms(chunks[2].at)
    );

    // A templated answer, after its delay: the first chunk (and the head) after 100 + 100 ms,
    // the last 100 ms later.
    let (head, head_at, chunks) = timed_chunks(&mut conn, b"GET /templated HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(head.contains("transfer-encoding: chunked\r\n"), "{head}");
    let body: Vec<u8> = chunks.iter().flat_map(|c| c.data.clone()).collect();
    assert_eq!((chunks.len(), String::from_utf8_lossy(&body).as_ref()), (2, "/templated in two"));
    assert!(head_at >= Duration::from_millis(190), "the delay comes first: head at {} ms", ms(head_at));
    assert!(chunks[1].at >= Duration::from_millis(290), "last chunk at {} ms", ms(chunks[1].at));

    // While one connection is dribbled to, the worker answers another at once.
    let slow = {
        let addr = server.addr();
        std::thread::spawn(move || {
            timed_chunks(&mut Conn::open(addr), b"GET /dribble HTTP/1.1\r\nhost: x\r\n\r\n").2.len()
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    assert_eq!(server.get("/fast").text(), "fast");
    assert!(t.elapsed() < Duration::from_millis(150), "a fast request waited: {:?}", t.elapsed());
    assert_eq!(slow.join().expect("the dribbled client"), 3);
    // The journal counts what the client waited: the dribble's time too.
    let entries = server.journal("rule=dribble");
    assert!(!entries.is_empty(), "journaled");
    for e in entries {
        assert!(e["duration_us"].as_u64() >= Some(300_000), "{e}");
    }
}

fn http10_and_head_and_keep_alive(driver: IoDriver) {
    let server = Server::start(driver, RULES);
    // HTTP/1.0 knows no chunks: the length is kept, the body still takes its time.
    let mut conn = Conn::open(server.addr());
    let t = Instant::now();
    let r = conn.request(b"GET /dribble HTTP/1.0\r\n\r\n");
    assert!(t.elapsed() >= Duration::from_millis(290), "took {:?}", t.elapsed());
    assert_eq!((r.header("content-length"), r.header("transfer-encoding")), (Some("24"), None));
    assert_eq!(r.text(), "dribbled in three chunks");

    // HEAD has no body to dribble, and answers at once.
    let mut conn = Conn::open(server.addr());
    let t = Instant::now();
    let r = conn.request(b"HEAD /dribble HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(r.status, 200);
    assert!(t.elapsed() < Duration::from_millis(150), "took {:?}", t.elapsed());

    // Two requests sent together on one connection: the dribbled answer, then the next.
    conn.send(b"GET /dribble HTTP/1.1\r\nhost: x\r\n\r\nGET /fast HTTP/1.1\r\nhost: x\r\n\r\n");
    let first = conn.read_response();
    assert_eq!(first.header("transfer-encoding"), Some("chunked"));
    assert_eq!(first.text(), "dribbled in three chunks");
    assert_eq!(conn.read_response().text(), "fast");
}
