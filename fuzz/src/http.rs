//! The HTTP/1.1 request codec: pipelined request heads and their bodies, as a connection reads
//! them.
//!
//! Checks, beyond not panicking: a head that parses has consistent offsets (every span inside
//! the head, the `Host` span the one `Host` header, values trimmed, a target of a valid form);
//! every strict prefix of a complete head is "incomplete", never an error (a head split across
//! reads is not refused); the head alone parses to the same `Head`; tighter limits accept a
//! subset of what the defaults accept, with the same result; a chunked body decodes to the same
//! bytes, the same end and the same error however the input is split, and never past
//! `max_body`; every refusal carries a well-formed response.

use mockplane_dataplane::codec::{
    parse_head, BodyFraming, ChunkedDecoder, Decoded, Head, Limits, RequestError,
};

/// At most this many pipelined requests are read from one input.
const MAX_REQUESTS: usize = 16;

/// Limits small enough for the fuzzer to reach every size refusal.
const TIGHT: Limits = Limits { max_head: 512, max_headers: 8, max_body: 4096 };

/// The target: `data` as the bytes a client sent on one connection.
pub fn http(data: &[u8]) {
    let limits = Limits::default();
    let mut rest = data;
    for _ in 0..MAX_REQUESTS {
        match one_request(rest, &limits, crate::hash(rest)) {
            Some(used) => rest = &rest[used..],
            None => break,
        }
    }
    // Tighter limits accept a subset of the same heads.
    if let Ok(Some(tight)) = parse_head(data, &TIGHT) {
        assert_eq!(parse_head(data, &limits), Ok(Some(tight)), "a head within tight limits parses alike");
    }
    let _ = one_request(data, &TIGHT, crate::hash(data));
}

/// Reads one request (head and body) at the start of `buf`; the bytes it took when it is
/// complete, `None` when it is refused or incomplete.
fn one_request(buf: &[u8], limits: &Limits, seed: u64) -> Option<usize> {
    let head = match parse_head(buf, limits) {
        Err(e) => {
            check_refusal(&e);
            return None;
        }
        Ok(None) => {
            assert!(buf.len() < limits.max_head, "incomplete past max_head: {} bytes", buf.len());
            return None;
        }
        Ok(Some(head)) => head,
    };
    check_head(buf, &head, limits, seed);
    let body = &buf[head.head_len..];
    let used = match head.framing {
        BodyFraming::None => 0,
        BodyFraming::Length(n) => {
            assert!(n <= limits.max_body);
            if body.len() < n {
                return None;
            }
            n
        }
        BodyFraming::Chunked => chunked(body, limits, seed)?,
    };
    Some(head.head_len + used)
}

fn check_refusal(e: &RequestError) {
    let response = e.response();
    let status = format!("HTTP/1.1 {} ", e.status());
    assert!(response.starts_with(status.as_bytes()), "{e:?}: response of another status");
    assert!(response.windows(4).any(|w| w == b"\r\n\r\n"), "{e:?}: response without a blank line");
}

fn check_head(buf: &[u8], head: &Head, limits: &Limits, seed: u64) {
    let len = head.head_len;
    assert!(len <= buf.len() && len <= limits.max_head, "head_len {len} past the buffer or max_head");
    assert!(buf[..len].ends_with(b"\r\n\r\n"), "a head ends with CRLF CRLF");
    let inside = |(start, end): (usize, usize)| start <= end && end <= len;

    assert!(inside(head.method) && inside(head.target), "request line spans outside the head");
    let method = head.method(buf);
    assert!(!method.is_empty() && method.bytes().all(is_tchar), "method {method:?} is not a token");
    let target = head.target(buf).as_bytes();
    assert!(!target.is_empty() && target.iter().all(|b| (0x21..=0x7e).contains(b)), "target bytes");
    assert!(
        target[0] == b'/'
            || (target == b"*" && method == "OPTIONS")
            || target.len() > 7 && target[..7].eq_ignore_ascii_case(b"http://")
            || target.len() > 8 && target[..8].eq_ignore_ascii_case(b"https://"),
        "target form {:?}",
        String::from_utf8_lossy(target)
    );
    assert!(head.minor_version <= 1);

    let mut hosts = 0;
    let wide = |(start, end): (u32, u32)| (start as usize, end as usize);
    for span in &head.headers {
        assert!(inside(wide(span.name)) && inside(wide(span.value)), "header spans outside the head");
        let name = span.name(buf);
        assert!(!name.is_empty() && name.bytes().all(is_tchar), "header name {name:?}");
        let value = span.value(buf);
        assert!(!value.contains(&b'\r') && !value.contains(&b'\n'), "line break in a header value");
        assert!(
            !value.starts_with(b" ")
                && !value.starts_with(b"\t")
                && !value.ends_with(b" ")
                && !value.ends_with(b"\t"),
            "header value not trimmed"
        );
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
            assert_eq!(head.host, Some(wide(span.value)), "the Host span is the Host header's value");
        }
    }
    assert!(hosts <= 1 && (hosts == 1) == head.host.is_some());
    assert!(head.minor_version == 0 || head.host.is_some(), "HTTP/1.1 without Host accepted");
    assert!(!head.expect_continue || head.minor_version == 1);
    if head.framing == BodyFraming::Chunked {
        assert!(head.minor_version == 1 && head.header(buf, "transfer-encoding").is_some());
    }
    if head.minor_version == 0 && head.header(buf, "connection").is_none() {
        assert!(!head.keep_alive, "HTTP/1.0 keeps the connection only when asked");
    }

    // The head alone is the same head, and every strict prefix of it is incomplete: a head
    // that arrives in pieces is read, not refused.
    assert_eq!(parse_head(&buf[..len], limits).as_ref(), Ok(&Some(head.clone())), "the head alone");
    let cuts = [len - 1, len / 2, (seed % len as u64) as usize];
    for cut in cuts {
        assert_eq!(parse_head(&buf[..cut], limits), Ok(None), "prefix of {cut} of a {len}-byte head");
    }
}

/// Decodes the chunked body at the start of `body` whole, then in pieces, and checks they agree;
/// the bytes it took when it is complete.
fn chunked(body: &[u8], limits: &Limits, seed: u64) -> Option<usize> {
    let (whole_out, whole) = decode_in_pieces(body, limits, body.len().max(1));
    for piece in [1, 2 + (seed % 13) as usize] {
        let (out, result) = decode_in_pieces(body, limits, piece);
        assert_eq!(result, whole, "the result depends on how the body was split ({piece}-byte pieces)");
        assert_eq!(out, whole_out, "the bytes depend on how the body was split ({piece}-byte pieces)");
    }
    assert!(whole_out.len() <= limits.max_body, "decoded {} bytes past max_body", whole_out.len());
    match whole {
        Ok(Decoded { consumed, done: true }) => Some(consumed),
        Ok(Decoded { consumed, done: false }) => {
            assert_eq!(consumed, body.len(), "an unfinished body consumes all of its input");
            None
        }
        Err(e) => {
            check_refusal(&e);
            None
        }
    }
}

/// Feeds `body` to a fresh decoder `piece` bytes at a time, as reads would deliver it; the
/// decoded bytes and the outcome with `consumed` counted from the start of `body`.
fn decode_in_pieces(body: &[u8], limits: &Limits, piece: usize) -> (Vec<u8>, Result<Decoded, RequestError>) {
    let mut decoder = ChunkedDecoder::with_limits(limits);
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let end = (at + piece).min(body.len());
        match decoder.decode(&body[at..end], &mut out) {
            Err(e) => {
                assert_eq!(decoder.decode(b"0\r\n\r\n", &mut Vec::new()), Err(e.clone()), "an error sticks");
                return (out, Err(e));
            }
            Ok(Decoded { consumed, done: true }) => {
                assert!(decoder.is_done());
                return (out, Ok(Decoded { consumed: at + consumed, done: true }));
            }
            Ok(Decoded { consumed, done: false }) => {
                assert_eq!(consumed, end - at, "an unfinished body consumes all of its input");
                at = end;
                if at == body.len() {
                    return (out, Ok(Decoded { consumed: at, done: false }));
                }
            }
        }
    }
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
