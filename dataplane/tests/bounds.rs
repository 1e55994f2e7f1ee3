//! Every connection is bounded in time and memory, whatever the client does: one that stops
//! reading its answers loses its connection after the write timeout; a body trickled a byte at
//! a time is cut off at the body timeout, not kept alive by each byte; a body claimed but not
//! sent costs what arrived, not what was claimed. After each, the server still serves.

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use mockplane_dataplane::IoDriver;
use util::{Conn, End, Server};

both_drivers!(
    a_client_that_stops_reading_loses_its_connection_at_the_write_timeout,
    a_trickled_body_is_cut_off_at_the_body_timeout,
    a_trickled_chunked_body_is_cut_off_at_the_body_timeout,
    bodies_claimed_but_not_sent_cost_what_arrived,
);

fn rules() -> String {
    // Answers of 64 KiB: a few hundred of them fill any socket buffer.
    format!(
        r#"
rules:
  - id: ok
    match: {{ path: /ok }}
    response: {{ body: ok }}
  - id: big
    match: {{ path: /big }}
    response: {{ body: "{}" }}
  - id: echo
    match: {{ method: POST, path: /echo }}
    response: {{ template: true, body: "{{{{request.body}}}}" }}
"#,
        "x".repeat(64 * 1024)
    )
}

fn open_connections(server: &Server) -> f64 {
    util::metric(&server.metrics(), "mockplane_open_connections").expect("the open connections gauge")
}

fn a_client_that_stops_reading_loses_its_connection_at_the_write_timeout(driver: IoDriver) {
    let server = Server::start_with(driver, Some(&rules()), |c| c.write_timeout = Duration::from_secs(1));
    // A small receive buffer, and 500 pipelined requests for 64 KiB each (32 MB): the server's
    // writes block long before it has answered them all.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&server.addr().into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    stream.write_all(&b"GET /big HTTP/1.1\r\nhost: t\r\n\r\n".repeat(500)).unwrap();
    util::poll_until("the connection to be counted", Duration::from_secs(3), || {
        (open_connections(&server) == 1.0).then_some(())
    });
    // Never read: the server gives up on the write and closes the connection.
    util::poll_until("the stalled connection to be closed", Duration::from_secs(10), || {
        (open_connections(&server) == 0.0).then_some(())
    });
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "closed after {took:?}, before the write timeout");
    // What the client can still read ends: the connection is gone (reset or end of file).
    let mut conn = Conn::from_stream(stream);
    let (_, end) = conn.read_to_end(Duration::from_secs(10));
    assert_ne!(end, End::Open, "the connection is still open");
    server.assert_serving("a client that stopped reading");
}

/// Sends `head` then one byte of `body` every 100 ms, until the server answers or 5 s pass;
/// returns what the server sent and when it ended.
fn trickle(server: &Server, head: &[u8], body: &[u8]) -> (Vec<u8>, End, Duration) {
    let mut conn = Conn::open(server.addr());
    conn.send(head);
    let started = Instant::now();
    let mut sender = conn.stream.try_clone().unwrap();
    let body = body.to_vec();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = stop.clone();
    let trickler = std::thread::spawn(move || {
        for byte in body {
            if stopped.load(std::sync::atomic::Ordering::Relaxed) || sender.write_all(&[byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let (bytes, end) = conn.read_to_end(Duration::from_secs(5));
    let took = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = trickler.join();
    (bytes, end, took)
}

fn a_trickled_body_is_cut_off_at_the_body_timeout(driver: IoDriver) {
    let server = Server::start_with(driver, Some(&rules()), |c| c.body_timeout = Duration::from_secs(1));
    // 100 bytes at 10 a second would take 10 s; each byte arrives well within any per-read limit.
    let (bytes, end, took) =
        trickle(&server, b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\n", &[b'a'; 100]);
    let text = util::show(&bytes);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert_ne!(end, End::Open);
    assert!(took < Duration::from_secs(3), "cut off after {took:?}");
    server.assert_serving("a trickled body");
}

fn a_trickled_chunked_body_is_cut_off_at_the_body_timeout(driver: IoDriver) {
    let server = Server::start_with(driver, Some(&rules()), |c| c.body_timeout = Duration::from_secs(1));
    // One-byte chunks, one every 100 ms: `1\r\na\r\n` is 6 bytes, sent a byte at a time.
    let body = b"1\r\na\r\n".repeat(20);
    let (bytes, end, took) =
        trickle(&server, b"POST /echo HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n", &body);
    let text = util::show(&bytes);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
    assert_ne!(end, End::Open);
    assert!(took < Duration::from_secs(3), "cut off after {took:?}");
    server.assert_serving("a trickled chunked body");
}

/// This process's resident and virtual memory, in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/self/status"))
    };
    (field("VmRSS:"), field("VmSize:"))
}

fn bodies_claimed_but_not_sent_cost_what_arrived(driver: IoDriver) {
    let server = Server::start(driver, &rules());
    let (rss_before, virtual_before) = memory_kib();
    let mut conns: Vec<Conn> = (0..1000)
        .map(|_| {
            let mut conn = Conn::open(server.addr());
            conn.send(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 10485760\r\n\r\na");
            conn
        })
        .collect();
    util::poll_until("1000 connections open", Duration::from_secs(10), || {
        (open_connections(&server) == 1000.0).then_some(())
    });
    // Give the workers time to read every head and its byte.
    std::thread::sleep(Duration::from_millis(500));
    let (rss, virt) = memory_kib();
    // 1000 claims of 10 MiB would be 10 GiB reserved; what arrived fits in a buffer each.
    let (rss_grew, virtual_grew) = (rss.saturating_sub(rss_before), virt.saturating_sub(virtual_before));
    assert!(rss_grew < 40 * 1024, "resident memory grew by {rss_grew} KiB for 1000 connections");
    assert!(virtual_grew < 1024 * 1024, "virtual memory grew by {virtual_grew} KiB for 1000 connections");
    server.assert_serving("1000 connections waiting for bodies");
    // They can still send their bodies: one finishes its 10 MiB and is answered in full.
    let last = conns.last_mut().unwrap();
    last.send(&vec![b'b'; 10 * 1024 * 1024 - 1]);
    let r = last.read_response();
    assert_eq!((r.status, r.body.len()), (200, 10 * 1024 * 1024));
}
