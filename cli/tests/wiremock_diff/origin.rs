//! A tiny origin server for the corpus's stubs that forward (`proxyBaseUrl`): both WireMock and
//! mockplane forward to it, and what it saw comes back in the body.

use std::io::{Read, Write};

/// A tiny origin for the stubs that forward: answers every request `origin saw METHOD TARGET
/// via=X-VIA-STUB BODY` with an `X-Origin` header, one request a connection. Returns its URL.
pub fn start() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("an ephemeral port");
    let addr = listener.local_addr().expect("bound");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                // The head, then as much body as Content-Length says.
                let (head, body) = loop {
                    let Ok(n) = stream.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
                    let length = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
                        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    while raw.len() < end + 4 + length {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => raw.extend_from_slice(&buf[..n]),
                        }
                    }
                    break (head, String::from_utf8_lossy(&raw[end + 4..end + 4 + length]).into_owned());
                };
                let request_line = head.lines().next().unwrap_or_default();
                let mut parts = request_line.split(' ');
                let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
                let via = head
                    .lines()
                    .filter_map(|l| l.split_once(':'))
                    .find(|(n, _)| n.trim().eq_ignore_ascii_case("x-via-stub"))
                    .map_or("", |(_, v)| v.trim());
                let answer = format!("origin saw {method} {target} via={via} {body}");
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Origin: yes\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            });
        }
    });
    format!("http://{addr}")
}
