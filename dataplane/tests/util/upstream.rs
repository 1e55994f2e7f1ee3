//! A small real HTTP/1.1 origin for the proxy's tests: a thread per connection, keep-alive,
//! request bodies read by `Content-Length` or chunked (counted and summed, never kept, so a
//! gigabyte costs nothing), and a few paths that make it misbehave on purpose.
//!
//! | path                 | answer                                                           |
//! |----------------------|------------------------------------------------------------------|
//! | anything else        | 200, JSON: method, target, headers as received, body length and byte sum |
//! | `/bytes/N`           | 200 with N bytes, `Content-Length`                               |
//! | `/chunked/N`         | 200 with N bytes, chunked in pieces of at most 7,000             |
//! | `/close/N`           | 200 with N bytes, no length: ends when the connection closes     |
//! | `/slow/MS`           | waits MS milliseconds, then the echo                             |
//! | `/reset`             | resets the connection without answering                          |
//! | `/garbage`           | sends bytes that are not HTTP, then closes                        |
//! | `/status/CODE`       | CODE with an empty body                                          |
//! | `/trailers`          | 200, chunked `hello`, then the trailer fields `x-checksum: abc123` and `x-more: 1` |
//! | `/upgrade`           | 101 (asked or not) naming the `Upgrade` and `Connection` it got, a greeting line, then echoes bytes until end of stream |

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A running origin; stops accepting when dropped.
pub struct Origin {
    pub addr: SocketAddr,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    /// Requests answered so far.
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Origin {
    pub fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the origin");
        let addr = listener.local_addr().expect("its address");
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, r, s) = (connections.clone(), requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                c.fetch_add(1, Ordering::Relaxed);
                let r = r.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &r);
                });
            }
        });
        Origin { addr, connections, requests, stop }
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(stream: TcpStream, requests: &AtomicUsize) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    // The answer goes out in several writes: without this, Nagle and delayed ACKs add 40 ms.
    stream.set_nodelay(true)?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.trim_end().splitn(3, ' ');
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_owned(), v.trim().to_owned()));
            }
        }
        let header =
            |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone());
        let (mut length, mut sum) = (0u64, 0u64);
        let mut count = |bytes: &[u8]| {
            length += bytes.len() as u64;
            sum = bytes.iter().fold(sum, |s, &b| s.wrapping_add(b as u64));
        };
        let mut buf = vec![0u8; 64 * 1024];
        if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
            loop {
                let mut size = String::new();
                reader.read_line(&mut size)?;
                let n = u64::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(|_| std::io::Error::other("bad chunk size"))?;
                if n == 0 {
                    let mut end = String::new();
                    while reader.read_line(&mut end)? > 2 {
                        end.clear();
                    }
                    break;
                }
                let mut left = n;
                while left > 0 {
                    let take = left.min(buf.len() as u64) as usize;
                    reader.read_exact(&mut buf[..take])?;
                    count(&buf[..take]);
                    left -= take as u64;
                }
                let mut crlf = [0u8; 2];
                reader.read_exact(&mut crlf)?;
            }
        } else if let Some(n) = header("content-length").and_then(|v| v.parse::<u64>().ok()) {
            let mut left = n;
            while left > 0 {
                let take = left.min(buf.len() as u64) as usize;
                reader.read_exact(&mut buf[..take])?;
                count(&buf[..take]);
                left -= take as u64;
            }
        }
        requests.fetch_add(1, Ordering::Relaxed);
        let path = target.split('?').next().unwrap_or("").to_owned();
        let arg = |prefix: &str| path.strip_prefix(prefix).and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = arg("/bytes/") {
            write!(out, "HTTP/1.1 200 OK\r\ncontent-length: {n}\r\nx-origin: yes\r\n\r\n")?;
            send_bytes(&mut out, n, |out, piece| out.write_all(piece))?;
        } else if let Some(n) = arg("/chunked/") {
            write!(out, "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-origin: yes\r\n\r\n")?;
            send_bytes(&mut out, n, |out, piece| {
                write!(out, "{:x}\r\n", piece.len())?;
                out.write_all(piece)?;
                out.write_all(b"\r\n")
            })?;
            out.write_all(b"0\r\n\r\n")?;
        } else if let Some(n) = arg("/close/") {
            write!(out, "HTTP/1.1 200 OK\r\nconnection: close\r\nx-origin: yes\r\n\r\n")?;
            send_bytes(&mut out, n, |out, piece| out.write_all(piece))?;
            return Ok(());
        } else if path == "/reset" {
            socket2::SockRef::from(&out).set_linger(Some(Duration::ZERO))?;
            return Ok(());
        } else if path == "/garbage" {
            out.write_all(b"SSH-2.0-not-http\r\n\r\n")?;
            return Ok(());
        } else if path == "/trailers" {
            out.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum, x-more\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc123\r\nx-more: 1\r\n\r\n")?;
        } else if path == "/upgrade" {
            write!(
                out,
                "HTTP/1.1 101 Switching Protocols\r\nupgrade: {}\r\nconnection: upgrade\r\nx-origin-saw-connection: {}\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\nhello from the origin\n",
                header("upgrade").unwrap_or_else(|| "none".into()),
                header("connection").unwrap_or_default(),
            )?;
            out.flush()?;
            // The new protocol: an echo, until the other side has finished sending.
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                out.write_all(&buf[..n])?;
            }
        } else if let Some(code) = arg("/status/") {
            write!(out, "HTTP/1.1 {code} Whatever\r\ncontent-length: 0\r\n\r\n")?;
        } else {
            if let Some(ms) = arg("/slow/") {
                std::thread::sleep(Duration::from_millis(ms));
            }
            let body = serde_json::json!({
                "method": method,
                "target": target,
                "headers": headers.iter().map(|(n, v)| vec![n.to_ascii_lowercase(), v.clone()]).collect::<Vec<_>>(),
                "length": length,
                "sum": sum,
            })
            .to_string();
            write!(
                out,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: keep-alive, x-hop\r\nx-hop: secret\r\nkeep-alive: timeout=5\r\nx-origin: yes\r\n\r\n{body}",
                body.len()
            )?;
        }
        out.flush()?;
    }
}

/// The byte at position `i` of a generated body: tests check bodies against this.
pub fn byte_at(i: u64) -> u8 {
    (i % 251) as u8
}

fn send_bytes(
    out: &mut TcpStream,
    n: u64,
    mut piece: impl FnMut(&mut TcpStream, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut sent = 0u64;
    let mut buf = Vec::with_capacity(7000);
    while sent < n {
        buf.clear();
        let take = (n - sent).min(7000);
        buf.extend((sent..sent + take).map(byte_at));
        piece(out, &buf)?;
        sent += take;
    }
    Ok(())
}
