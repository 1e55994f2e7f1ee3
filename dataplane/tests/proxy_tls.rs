//! https upstreams: the proxy's TLS client against a real https origin (`util/tls_origin.rs`,
//! a certificate authority made for the run) over loopback, on both drivers: requests and
//! bodies through TLS with the right SNI and ALPN, connections kept alive, an `Upgrade`
//! tunnelled through TLS, and a certificate that is not trusted or not for the name is a 502
//! naming the TLS failure.

#[path = "util/tls_origin.rs"]
mod tls_origin;
mod util;

use std::sync::atomic::Ordering;

use mockplane_dataplane::IoDriver;
use tls_origin::TlsOrigin;
use util::{Conn, Server};

/// The CA's PEM in a file of its own, for `ca_file` (an absolute path: the rules file lives
/// elsewhere).
fn ca_file(origin: &TlsOrigin, dir: &tempfile::TempDir) -> String {
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, &origin.ca_pem).expect("write ca.pem");
    path.to_str().expect("UTF-8").to_owned()
}

fn an_https_upstream_is_reached_through_tls_with_its_name_and_kept_alive(driver: IoDriver) {
    let origin = TlsOrigin::start(&["localhost", "api.internal"]);
    let dir = tempfile::tempdir().expect("a folder");
    let ca = ca_file(&origin, &dir);
    let port = origin.addr.port();
    let pem: String = origin.ca_pem.lines().map(|l| format!("        {l}\n")).collect();
    let yaml = format!(
        r#"upstreams:
  named:
    endpoints: ["127.0.0.1:{port}"]
    tls: {{ ca_file: "{ca}", server_name: api.internal }}
  by_host:
    endpoints: ["localhost:{port}"]
    tls:
      ca_pem: |
{pem}rules:
  - {{ id: host, match: {{ path: {{ prefix: /by-host/ }} }}, forward: {{ upstream: by_host }} }}
  - {{ id: named, match: {{ path: {{ prefix: / }} }}, priority: -1, forward: {{ upstream: named }} }}
"#
    );
    let server = Server::start(driver, &yaml);
    let mut conn = Conn::open(server.addr());
    let r = conn.request(&util::get("/hello?x=1"));
    assert_eq!(r.status, 200, "{}", r.text());
    let echo = r.json();
    assert_eq!((echo["target"].as_str(), echo["sni"].as_str()), (Some("/hello?x=1"), Some("api.internal")));
    assert_eq!(echo["alpn"], "http/1.1", "HTTP/1.1 offered by ALPN: {echo}");

    let body = vec![b'x'; 300_000];
    let mut post =
        format!("POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: {}\r\n\r\n", body.len()).into_bytes();
    post.extend_from_slice(&body);
    let echo = conn.request(&post).json();
    assert_eq!((echo["method"].as_str(), echo["length"].as_u64()), (Some("POST"), Some(300_000)), "{echo}");
    for i in 0..5 {
        assert_eq!(conn.request(&util::get(&format!("/again/{i}"))).status, 200);
    }
    assert_eq!(
        origin.connections.load(Ordering::Relaxed),
        1,
        "one TLS connection, kept alive for 7 requests"
    );

    // Without `server_name`, the endpoint's host is the name checked and sent (and the CA
    // written in the rules, `ca_pem`, is trusted as a `ca_file` is).
    let echo = Conn::open(server.addr()).request(&util::get("/by-host/x")).json();
    assert_eq!(echo["sni"], "localhost", "{echo}");
}

fn an_upgrade_to_an_https_upstream_becomes_a_tunnel_through_tls(driver: IoDriver) {
    use std::io::{Read, Write};
    let origin = TlsOrigin::start(&["localhost"]);
    let dir = tempfile::tempdir().expect("a folder");
    let ca = ca_file(&origin, &dir);
    let yaml = format!(
        "upstreams:\n  secure: {{ endpoints: [\"localhost:{}\"], tls: {{ ca_file: \"{ca}\" }} }}\nrules:\n  - {{ id: pass, forward: {{ upstream: secure }} }}\n",
        origin.addr.port()
    );
    let server = Server::start(driver, &yaml);
    let mut s = std::net::TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /upgrade HTTP/1.1\r\nhost: t\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut read_until = |s: &mut std::net::TcpStream, got: &mut Vec<u8>, wanted: &[u8]| {
        while !got.windows(wanted.len()).any(|w| w == wanted) {
            let n = s.read(&mut buf).expect("an answer within 5 s");
            assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(got));
            got.extend_from_slice(&buf[..n]);
        }
    };
    read_until(&mut s, &mut got, b"hello over tls\n");
    assert!(got.starts_with(b"HTTP/1.1 101 "), "{:?}", String::from_utf8_lossy(&got));
    for message in [&b"ping"[..], &[7u8; 50_000][..]] {
        got.clear();
        s.write_all(message).unwrap();
        read_until(&mut s, &mut got, message);
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("the tunnel closes after both sides are done");
    assert!(rest.is_empty(), "{rest:?}");
}

fn a_certificate_not_trusted_or_not_for_the_name_is_a_502_naming_tls(driver: IoDriver) {
    let origin = TlsOrigin::start(&["localhost"]);
    let dir = tempfile::tempdir().expect("a folder");
    let ca = ca_file(&origin, &dir);
    let port = origin.addr.port();
    // PEM whose base64 holds no certificate: it compiles (the framing is right), and the TLS
    // client cannot be built from it.
    let broken = dir.path().join("broken.pem");
    std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n").unwrap();
    let broken = broken.to_str().unwrap();
    let yaml = format!(
        r#"upstreams:
  broken_ca:
    endpoints: ["127.0.0.1:{port}"]
    tls: {{ ca_file: "{broken}" }}
  web_roots:
    endpoints: ["127.0.0.1:{port}"]
    tls: {{ server_name: localhost }}
  wrong_name:
    endpoints: ["127.0.0.1:{port}"]
    tls: {{ ca_file: "{ca}", server_name: other.test }}
  short: https://127.0.0.1:{port}
rules:
  - {{ id: roots, match: {{ path: /roots }}, forward: {{ upstream: web_roots }} }}
  - {{ id: name, match: {{ path: /name }}, forward: {{ upstream: wrong_name }} }}
  - {{ id: short, match: {{ path: /short }}, forward: {{ upstream: short }} }}
  - {{ id: broken, match: {{ path: /broken }}, forward: {{ upstream: broken_ca }} }}
"#
    );
    let server = Server::start(driver, &yaml);
    for (path, upstream, why) in [
        ("/roots", "web_roots", "UnknownIssuer"),
        ("/name", "wrong_name", "not valid for name \"other.test\""),
        ("/short", "short", "UnknownIssuer"),
        ("/broken", "broken_ca", "certificate 1 of ca_file is not usable"),
    ] {
        let r = Conn::open(server.addr()).request(&util::get(path));
        assert_eq!(r.status, 502, "{path}: {}", r.text());
        let j = r.json();
        assert_eq!(j["upstream"], upstream, "{j}");
        let reason = j["reason"].as_str().expect("a reason");
        assert!(reason.starts_with("TLS: ") && reason.contains(why), "{path}: {reason}");
    }
    assert_eq!(origin.connections.load(Ordering::Relaxed), 0, "no handshake completed");
}

both_drivers!(
    an_https_upstream_is_reached_through_tls_with_its_name_and_kept_alive,
    an_upgrade_to_an_https_upstream_becomes_a_tunnel_through_tls,
    a_certificate_not_trusted_or_not_for_the_name_is_a_502_naming_tls,
);
