//! `Upgrade` through the proxy (WebSocket's handshake, or any protocol switch): the upstream's
//! 101 reaches the client, then bytes go both ways through a tunnel until both sides are done;
//! a 101 nobody asked for is a broken upstream. Against a real origin (`util::upstream`) over
//! loopback, on both drivers.

mod util;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use mockplane_dataplane::IoDriver;
use util::upstream::Origin;
use util::{Conn, Server};

fn forwarding_everything(origin: &Origin) -> String {
    format!(
        "upstreams:\n  origin: http://{}\nrules:\n  - {{ id: pass, match: {{ path: {{ prefix: / }} }}, forward: {{ upstream: origin }} }}\n",
        origin.addr
    )
}

/// Reads from `s` until `wanted` has arrived (or panics after 5 s), returning all read.
fn read_until(s: &mut TcpStream, got: &mut Vec<u8>, wanted: &[u8]) -> String {
    let mut buf = [0u8; 4096];
    while !got.windows(wanted.len()).any(|w| w == wanted) {
        let n = s.read(&mut buf).expect("the tunnel answers within 5 s");
        assert!(
            n > 0,
            "closed before {:?} came: {:?}",
            String::from_utf8_lossy(wanted),
            String::from_utf8_lossy(got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(got).into_owned()
}

fn an_upgrade_becomes_a_tunnel_that_carries_bytes_both_ways_until_both_sides_close(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &forwarding_everything(&origin));
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The first bytes of the new protocol travel right behind the request head.
    s.write_all(
        b"GET /upgrade HTTP/1.1\r\nhost: chat.test\r\nconnection: keep-alive, Upgrade\r\nupgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nearly|",
    )
    .unwrap();
    let mut got = Vec::new();
    let text = read_until(&mut s, &mut got, b"hello from the origin\n");
    let (head, _) = text.split_once("\r\n\r\n").expect("a head");
    let lower = head.to_ascii_lowercase();
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    assert!(lower.contains("\r\nupgrade: websocket"), "the origin was asked for websocket: {head}");
    assert!(
        lower.contains("\r\nx-origin-saw-connection: upgrade"),
        "the origin saw connection: upgrade alone: {head}"
    );
    assert!(lower.contains("\r\nconnection: upgrade"), "{head}");
    assert!(lower.contains("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    assert!(!lower.contains("content-length") && !lower.contains("transfer-encoding"), "{head}");
    read_until(&mut s, &mut got, b"early|");
    for message in ["ping", "a longer message, twice over: a longer message"] {
        got.clear();
        s.write_all(message.as_bytes()).unwrap();
        read_until(&mut s, &mut got, message.as_bytes());
    }
    // The client finishes sending; the origin (an echo) then finishes too, and the tunnel ends.
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("the tunnel closes after both sides are done");
    assert!(rest.is_empty(), "{rest:?}");
    // The data plane goes on serving through the origin.
    let r = Conn::open(server.addr()).request(&util::get("/after"));
    assert_eq!(r.status, 200, "{}", r.text());
}

fn a_tunnel_silent_both_ways_for_the_idle_timeout_is_closed(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start_with(driver, Some(&forwarding_everything(&origin)), |c| {
        c.idle_timeout = Duration::from_millis(400);
    });
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /upgrade HTTP/1.1\r\nhost: t\r\nconnection: upgrade\r\nupgrade: x-custom\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    read_until(&mut s, &mut got, b"hello from the origin\n");
    // Traffic keeps it open past the timeout...
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(200));
        got.clear();
        s.write_all(b"tick").unwrap();
        read_until(&mut s, &mut got, b"tick");
    }
    // ...silence closes it.
    let began = std::time::Instant::now();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("closed by the data plane, not by the read timeout");
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
}

fn a_graceful_shutdown_closes_open_tunnels_at_once(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &forwarding_everything(&origin));
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /upgrade HTTP/1.1\r\nhost: t\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    read_until(&mut s, &mut got, b"hello from the origin\n");
    let began = std::time::Instant::now();
    server.shutdown();
    // The drain does not wait for the tunnel (its idle timeout is 60 s): it is closed.
    assert!(began.elapsed() < Duration::from_secs(3), "shutdown took {:?}", began.elapsed());
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{rest:?}");
}

fn a_switch_nobody_asked_for_is_a_broken_upstream(driver: IoDriver) {
    let origin = Origin::start();
    let server = Server::start(driver, &forwarding_everything(&origin));
    // `Upgrade` not listed in `Connection`: not a request to switch (RFC 9110 §7.8).
    let r =
        Conn::open(server.addr()).request(b"GET /upgrade HTTP/1.1\r\nhost: t\r\nupgrade: websocket\r\n\r\n");
    assert_eq!(r.status, 502, "{}", r.text());
    let j = r.json();
    assert!(
        j["reason"].as_str().unwrap().contains("switched protocols (101) for a request that did not ask"),
        "{j}"
    );
    assert_eq!(j["upstream"], "origin");
}

both_drivers!(
    an_upgrade_becomes_a_tunnel_that_carries_bytes_both_ways_until_both_sides_close,
    a_tunnel_silent_both_ways_for_the_idle_timeout_is_closed,
    a_switch_nobody_asked_for_is_a_broken_upstream,
    a_graceful_shutdown_closes_open_tunnels_at_once,
);
