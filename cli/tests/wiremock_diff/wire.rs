//! A deliberately plain HTTP/1.1 client: the corpus must reach both servers byte for byte as
//! written (header names in the case given, the query in the order given, a body with or
//! without `Content-Length: 0`), which a general-purpose client would normalise. One request a
//! connection, `Connection: close`, the answer read to the end.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One request as the corpus gives it.
pub struct Request {
    pub method: String,
    /// The request target: path and query, sent as is.
    pub target: String,
    /// Header names and values in order, names in the case to send.
    pub headers: Vec<(String, String)>,
    /// `None`: no body and no `Content-Length`; `Some("")`: `Content-Length: 0`.
    pub body: Option<Vec<u8>>,
}

/// An answer: the status line, the headers (names in lower case, in order) and the body, with
/// chunked transfer coding removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub reason: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    /// Every value of a header, in order.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n == name).map(|(_, v)| v.as_str()).collect()
    }
}

/// Sends `request` to `addr` and reads the whole answer (10 s at most).
pub fn send(addr: &str, request: &Request) -> Result<Answer, String> {
    let (raw, error) = exchange(addr, request)?;
    if let Some(e) = error {
        return Err(format!("read: {e}"));
    }
    parse(&raw, request.method == "HEAD")
}

/// What a client notices of an answer that may be a fault: a reset, a close without an
/// answer, bytes that are not HTTP, an answer, or an answer's head with a body that breaks off.
pub fn outcome(addr: &str, request: &Request) -> Result<String, String> {
    let (raw, error) = exchange(addr, request)?;
    Ok(match (raw.is_empty(), error) {
        (true, Some(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        (true, Some(e)) => format!("read error: {e}"),
        (true, None) => "closed without an answer".into(),
        _ if !raw.starts_with(b"HTTP/") => "bytes that are not HTTP".into(),
        _ => match parse(&raw, false) {
            // Without a length or chunks the body ends where the server closes: a client
            // takes whatever came as the body.
            Ok(a) if a.values("content-length").is_empty() && a.values("transfer-encoding").is_empty() => {
                format!("a {} head, then a body ended by the close", a.status)
            }
            Ok(a) => format!("a {} answer", a.status),
            Err(_) => {
                let line = raw.split(|b| *b == b'\r').next().unwrap_or_default();
                let line = String::from_utf8_lossy(line);
                let status = line.split(' ').nth(1).unwrap_or("unreadable");
                format!("a {status} head, then a broken body")
            }
        },
    })
}

/// Sends `request` and reads until the server closes: the bytes read, and the error that
/// ended the reading if it was not a clean close.
fn exchange(addr: &str, request: &Request) -> Result<(Vec<u8>, Option<std::io::Error>), String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let mut head = format!("{} {} HTTP/1.1\r\nHost: {addr}\r\n", request.method, request.target);
    for (name, value) in &request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = &request.body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(request.body.as_deref().unwrap_or_default());
    stream.write_all(&bytes).map_err(|e| format!("write: {e}"))?;
    let mut raw = Vec::new();
    let error = stream.read_to_end(&mut raw).err();
    Ok((raw, error))
}

fn parse(raw: &[u8], head_only: bool) -> Result<Answer, String> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| {
        format!("no end of headers in {} bytes: {:?}", raw.len(), String::from_utf8_lossy(raw))
    })?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| format!("head not UTF-8: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let (_version, code, reason) = (parts.next(), parts.next(), parts.next().unwrap_or_default());
    let status =
        code.and_then(|c| c.parse().ok()).ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let rest = &raw[end + 4..];
    let chunked = headers.iter().any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest)?
    } else {
        let length = headers.iter().find(|(n, _)| n == "content-length").and_then(|(_, v)| v.parse().ok());
        match length {
            Some(n) if n <= rest.len() => rest[..n].to_vec(),
            Some(n) => return Err(format!("body cut short: {} of {n} bytes", rest.len())),
            None => rest.to_vec(),
        }
    };
    Ok(Answer { status, reason: reason.to_owned(), headers, body })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").ok_or("a chunk size line without CRLF")?;
        let size_text = std::str::from_utf8(&rest[..eol]).map_err(|e| e.to_string())?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size_text, 16).map_err(|e| format!("chunk size {size_text:?}: {e}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(body);
        }
        if rest.len() < size + 2 {
            return Err(format!("chunk cut short: {} of {size} bytes", rest.len()));
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_answers_are_joined_and_lengths_respected() {
        let raw = b"HTTP/1.1 201 Made It\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let a = parse(raw, false).unwrap();
        assert_eq!((a.status, a.reason.as_str(), a.body.as_slice()), (201, "Made It", &b"abcde"[..]));
        assert_eq!(a.values("x-a"), ["1"]);
        let a = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", false).unwrap();
        assert_eq!(a.body, b"hi");
        assert!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", false).is_err());
    }
}
