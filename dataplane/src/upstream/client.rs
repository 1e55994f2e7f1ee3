//! The HTTP/1.1 client side of the codec: an upstream's response head, parsed with httparse,
//! and how its body is framed (RFC 9112 §6.3). Pure and synchronous, like the server codec: the
//! forward action reads the bytes and calls this.

use smallvec::SmallVec;

use crate::codec::HeaderSpan;

/// The most header fields an upstream's response head may have.
pub(crate) const MAX_RESPONSE_HEADERS: usize = 100;

/// How the body of an upstream's response is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFraming {
    /// No body: a response to `HEAD`, a 1xx, 204 or 304.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the upstream closes the connection.
    Close,
}

/// A parsed response head, as offsets into the buffer it was read into.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    /// Bytes of the status line, the fields and the blank line.
    pub(crate) head_len: usize,
    pub(crate) status: u16,
    /// `(start, end)` of the reason phrase.
    pub(crate) reason: (usize, usize),
    pub(crate) headers: SmallVec<[HeaderSpan; 16]>,
    pub(crate) framing: ResponseFraming,
    /// The upstream keeps the connection open after this response.
    pub(crate) keep_alive: bool,
}

/// Why an upstream's response could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Malformed {
    #[error("the response head is not valid HTTP/1.1: {0}")]
    Parse(&'static str),
    #[error("the response head is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the response has an invalid Content-Length")]
    BadLength,
    #[error("the response has a Transfer-Encoding other than chunked")]
    BadTransferEncoding,
}

/// Parses the response head at the start of `buf`: `Ok(None)` when it is not complete yet.
/// `head_request`: the request was a `HEAD`, so the response has no body whatever it says.
pub(crate) fn parse_response_head(
    buf: &[u8],
    head_request: bool,
    max_head: usize,
) -> Result<Option<ResponseHead>, Malformed> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut response = httparse::Response::new(&mut fields);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > max_head => return Err(Malformed::TooLarge(max_head)),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Malformed::Parse(parse_error(e))),
    };
    let status = response.code.ok_or(Malformed::Parse("no status"))?;
    let minor_version = response.version.unwrap_or(1);
    let base = buf.as_ptr() as usize;
    let span = |s: &[u8]| {
        let start = s.as_ptr() as usize - base;
        (start, start + s.len())
    };
    let reason = response.reason.map_or((0, 0), |r| span(r.as_bytes()));
    let mut headers = SmallVec::new();
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut close = minor_version == 0;
    for h in response.headers.iter() {
        let (ns, ne) = span(h.name.as_bytes());
        let (vs, ve) = span(h.value);
        headers.push(HeaderSpan { name: (ns as u32, ne as u32), value: (vs as u32, ve as u32) });
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value).ok().map(str::trim).and_then(|v| v.parse::<u64>().ok());
            match (v, length) {
                (Some(v), None) => length = Some(v),
                (Some(v), Some(l)) if v == l => {}
                _ => return Err(Malformed::BadLength),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let v = std::str::from_utf8(h.value).unwrap_or("");
            // Only `chunked` as the final coding can be decoded here; a body this proxy cannot
            // frame is refused rather than passed on wrongly.
            if v.trim().eq_ignore_ascii_case("chunked") {
                chunked = true;
            } else {
                return Err(Malformed::BadTransferEncoding);
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            for token in h.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                if token.eq_ignore_ascii_case(b"close") {
                    close = true;
                } else if token.eq_ignore_ascii_case(b"keep-alive") && minor_version == 0 {
                    close = false;
                }
            }
        }
    }
    let framing = if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        ResponseFraming::None
    } else if chunked {
        // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length.
        ResponseFraming::Chunked
    } else if let Some(len) = length {
        ResponseFraming::Length(len)
    } else {
        ResponseFraming::Close
    };
    let keep_alive = !close && framing != ResponseFraming::Close;
    Ok(Some(ResponseHead { head_len, status, reason, headers, framing, keep_alive }))
}

fn parse_error(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status",
        httparse::Error::Token => "invalid token",
        httparse::Error::TooManyHeaders => "too many header fields",
        httparse::Error::Version => "invalid HTTP version",
    }
}

pub(crate) use mockplane_rules::forward::is_hop_by_hop;

/// Whether `name` is listed in one of the `Connection` field values among `headers`.
pub(crate) fn named_by_connection(buf: &[u8], headers: &[HeaderSpan], name: &str) -> bool {
    headers.iter().filter(|h| h.name(buf).eq_ignore_ascii_case("connection")).any(|h| {
        h.value(buf)
            .split(|&b| b == b',')
            .any(|token| token.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ResponseHead {
        parse_response_head(text.as_bytes(), false, 64 * 1024).unwrap().unwrap()
    }

    #[test]
    fn framing_follows_rfc_9112() {
        assert_eq!(
            parse("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello").framing,
            ResponseFraming::Length(5)
        );
        let chunked = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n");
        assert_eq!(chunked.framing, ResponseFraming::Chunked);
        let close = parse("HTTP/1.1 200 OK\r\n\r\nuntil the end");
        assert_eq!((close.framing, close.keep_alive), (ResponseFraming::Close, false));
        assert_eq!(parse("HTTP/1.1 204 No Content\r\n\r\n").framing, ResponseFraming::None);
        assert_eq!(
            parse("HTTP/1.1 304 Not Modified\r\ncontent-length: 9\r\n\r\n").framing,
            ResponseFraming::None
        );
        let head = parse_response_head(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true, 1024)
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, ResponseFraming::None);
        assert!(!parse("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").keep_alive);
        assert!(!parse("HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n").keep_alive);
        assert!(parse("HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n").keep_alive);
    }

    #[test]
    fn what_cannot_be_framed_is_refused() {
        let bad = |t: &str| parse_response_head(t.as_bytes(), false, 1024).unwrap_err();
        assert_eq!(
            bad("HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\n"),
            Malformed::BadLength
        );
        assert_eq!(bad("HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n"), Malformed::BadLength);
        assert_eq!(bad("HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n"), Malformed::BadTransferEncoding);
        assert!(matches!(bad("SSH-2.0-OpenSSH\r\n\r\n"), Malformed::Parse(_)));
        assert_eq!(
            parse_response_head(&[b'x'; 10], false, 5).unwrap_err(),
            Malformed::Parse("invalid HTTP version")
        );
        assert!(parse_response_head(b"HTTP/1.1 200 OK\r\n", false, 1024).unwrap().is_none());
    }

    #[test]
    fn connection_names_its_hop_by_hop_fields() {
        let text = b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nx-secret: 1\r\n\r\n";
        let head = parse_response_head(text, false, 1024).unwrap().unwrap();
        assert!(named_by_connection(text, &head.headers, "x-secret"));
        assert!(!named_by_connection(text, &head.headers, "x-other"));
        assert!(is_hop_by_hop("Transfer-Encoding") && !is_hop_by_hop("x-forwarded-for"));
    }
}
