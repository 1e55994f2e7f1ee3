use proptest::prelude::*;

use super::*;

type E = RequestError;

fn parse(input: &[u8]) -> Result<Option<Head>, RequestError> {
    parse_head(input, &Limits::default())
}

/// Parses a complete head, panicking if it is incomplete or refused.
fn head(input: &[u8]) -> Head {
    match parse(input) {
        Ok(Some(head)) => head,
        other => panic!("{:?}: expected a complete head, got {other:?}", String::from_utf8_lossy(input)),
    }
}

/// The error parsing `input` gives, panicking if it parses.
fn err(input: &[u8]) -> RequestError {
    match parse(input) {
        Err(e) => e,
        other => panic!("{:?}: expected an error, got {other:?}", String::from_utf8_lossy(input)),
    }
}

/// A GET request with `Host: a` and the given extra header lines.
fn get_with(headers: &str) -> Vec<u8> {
    format!("GET / HTTP/1.1\r\nHost: a\r\n{headers}\r\n").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// Errors and their responses

#[test]
fn responses_are_well_formed() {
    let all = [
        (E::HeadTooLarge, 431),
        (E::TooManyHeaders, 431),
        (E::Malformed("x"), 400),
        (E::BadContentLength, 400),
        (E::BodyTooLarge, 413),
        (E::UnsupportedTransferEncoding, 501),
        (E::BadChunk("x"), 400),
        (E::UnsupportedVersion, 505),
    ];
    for (e, status) in all {
        assert_eq!(e.status(), status, "{e:?}");
        let text = std::str::from_utf8(e.response()).unwrap();
        assert!(text.starts_with(&format!("HTTP/1.1 {status} ")), "{text}");
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let lines: Vec<&str> = head.split("\r\n").collect();
        assert_eq!(
            lines[1..],
            ["content-type: text/plain", &format!("content-length: {}", body.len()), "connection: close"]
        );
        assert!(body.ends_with('\n') && body.lines().count() == 1, "{body:?}");
        assert!(!e.to_string().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Request line

#[test]
fn parses_a_simple_request() {
    let buf = b"GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nX-Empty:\r\nX-Pad: \t v \t\r\n\r\n";
    let h = head(buf);
    assert_eq!(h.head_len, buf.len());
    assert_eq!(h.method(buf), "GET");
    assert_eq!(h.target(buf), "/a/b?c=d");
    assert_eq!(h.minor_version, 1);
    assert_eq!(h.framing, BodyFraming::None);
    assert!(h.keep_alive);
    assert!(!h.expect_continue);
    assert_eq!(h.host(buf), Some(&b"example.com"[..]));
    let headers: Vec<_> = h.headers(buf).collect();
    assert_eq!(headers, [("Host", &b"example.com"[..]), ("X-Empty", b""), ("X-Pad", b"v")]);
    assert_eq!(h.headers(buf).len(), 3);
    assert_eq!(h.header(buf, "x-pad"), Some(&b"v"[..]));
    assert_eq!(h.header(buf, "missing"), None);
    // Accessors given a foreign buffer do not panic.
    assert_eq!(h.method(b""), "");
    assert_eq!(h.headers(b"").next(), Some(("", &b""[..])));
}

#[test]
fn every_prefix_is_incomplete() {
    let buf = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n";
    for end in 0..buf.len() {
        assert_eq!(parse(&buf[..end]), Ok(None), "prefix of {end} bytes");
    }
    assert_eq!(head(buf).framing, BodyFraming::Length(3));
}

#[test]
fn empty_lines_before_the_request_line_are_skipped() {
    let buf = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let h = head(buf);
    assert_eq!(h.head_len, buf.len());
    assert_eq!(h.method(buf), "GET");
}

#[test]
fn methods_must_be_tokens() {
    for m in ["GET", "POST", "PATCH", "M-SEARCH", "X!#$%&'*+.^_`|~1"] {
        let buf = format!("{m} / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head(buf.as_bytes()).method(buf.as_bytes()), m);
    }
    for m in ["G@T", "GE(T", "G\"T", "G\x01T", "GÉT"] {
        let buf = format!("{m} / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(matches!(err(buf.as_bytes()), E::Malformed(_)), "{m}");
    }
}

#[test]
fn request_target_forms() {
    for (method, target) in [
        ("GET", "/"),
        ("GET", "/a%20b?x=1&y=%2F"),
        ("GET", "http://example.com/x"),
        ("GET", "HTTPS://example.com"),
        ("OPTIONS", "*"),
        ("OPTIONS", "/"),
    ] {
        let buf = format!("{method} {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head(buf.as_bytes()).target(buf.as_bytes()), target);
    }
    for (method, target) in [
        ("GET", "*"),
        ("GET", "a/b"),
        ("GET", "http://"),
        ("GET", "ftp://example.com/"),
        ("CONNECT", "example.com:443"),
        ("GET", "?x"),
    ] {
        let buf = format!("{method} {target} HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(err(buf.as_bytes()), E::Malformed("invalid request target"), "{method} {target}");
    }
    assert_eq!(
        err(b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"),
        E::Malformed("invalid byte in request target")
    );
}

#[test]
fn versions() {
    assert_eq!(head(b"GET / HTTP/1.0\r\n\r\n").minor_version, 0);
    assert_eq!(head(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").minor_version, 1);
    for buf in [
        &b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"[..],
        b"PRI * HTTP/2",
        b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
        b"GET / HTTP/3.0\r\n\r\n",
        b"GET / HTTP/0.9\r\n\r\n",
    ] {
        assert_eq!(err(buf), E::UnsupportedVersion, "{:?}", String::from_utf8_lossy(buf));
    }
    for buf in [&b"GET / HTTP/x.1\r\n\r\n"[..], b"GET / FOO/1.1\r\n\r\n", b"GET / http/1.1\r\n\r\n"] {
        assert_eq!(err(buf), E::Malformed("invalid HTTP version"), "{:?}", String::from_utf8_lossy(buf));
    }
    assert!(matches!(err(b"GET / HTTP/1.10\r\n\r\n"), E::Malformed(_)));
    assert!(matches!(err(b"GET /\r\n\r\n"), E::Malformed(_)));
}

// ---------------------------------------------------------------------------------------------
// Header fields

#[test]
fn header_syntax() {
    assert_eq!(err(&get_with("X-A : b\r\n")), E::Malformed("invalid header name"));
    assert_eq!(err(&get_with("X-A\t: b\r\n")), E::Malformed("invalid header name"));
    assert_eq!(err(&get_with("X-A: b\r\n c\r\n")), E::Malformed("invalid header name"), "obs-fold");
    assert_eq!(err(&get_with("X-A: b\r\n\tc\r\n")), E::Malformed("invalid header name"), "obs-fold");
    assert_eq!(err(&get_with("X-A: b\rc\r\n")), E::Malformed("invalid header value"));
    assert_eq!(err(&get_with("X-A: b\0c\r\n")), E::Malformed("invalid header value"));
    assert_eq!(err(&get_with(": b\r\n")), E::Malformed("invalid header name"));
    assert_eq!(err(&get_with("X-A: b\nX-B: c\r\n")), E::Malformed("bare LF line ending"));
    assert_eq!(err(b"GET / HTTP/1.1\nHost: a\r\n\r\n"), E::Malformed("bare LF line ending"));
    assert_eq!(err(b"GET / HTTP/1.1\r\nHost: a\r\n\n"), E::Malformed("bare LF line ending"));
    // obs-text in a value is allowed and kept as bytes.
    let buf = get_with("X-A: café\r\n");
    assert_eq!(head(&buf).header(&buf, "x-a"), Some("café".as_bytes()));
}

#[test]
fn host_rules() {
    assert_eq!(err(b"GET / HTTP/1.1\r\n\r\n"), E::Malformed("missing Host"));
    assert_eq!(err(&get_with("Host: b\r\n")), E::Malformed("more than one Host header"));
    assert_eq!(err(&get_with("host: a\r\n")), E::Malformed("more than one Host header"));
    let buf = b"GET / HTTP/1.0\r\n\r\n";
    assert_eq!(head(buf).host, None);
    let buf = b"GET / HTTP/1.1\r\nHost:\r\n\r\n";
    assert_eq!(head(buf).host(buf), Some(&b""[..]));
}

#[test]
fn too_many_headers() {
    let mut headers = String::new();
    for i in 0..99 {
        headers.push_str(&format!("X-{i}: v\r\n"));
    }
    assert_eq!(head(&get_with(&headers)).headers.len(), 100);
    headers.push_str("X-last: v\r\n");
    assert_eq!(err(&get_with(&headers)), E::TooManyHeaders);

    let limits = Limits { max_headers: 2, ..Limits::default() };
    assert!(parse_head(&get_with("A: b\r\n"), &limits).unwrap().is_some());
    assert_eq!(parse_head(&get_with("A: b\r\nC: d\r\n"), &limits), Err(E::TooManyHeaders));
    let limits = Limits { max_headers: 1000, ..Limits::default() };
    assert_eq!(parse_head(&get_with(&headers), &limits), Err(E::TooManyHeaders), "capped at 100");
}

#[test]
fn head_size_limit() {
    let limits = Limits { max_head: 64, ..Limits::default() };
    let exact = get_with(&format!("X: {}\r\n", "v".repeat(64 - 32)));
    assert_eq!(exact.len(), 64);
    assert!(parse_head(&exact, &limits).unwrap().is_some());
    // One byte more, complete or not: too large.
    let over = get_with(&format!("X: {}\r\n", "v".repeat(64 - 31)));
    assert_eq!(parse_head(&over, &limits), Err(E::HeadTooLarge));
    assert_eq!(parse_head(&over[..64], &limits), Err(E::HeadTooLarge));
    assert_eq!(parse_head(&over[..63], &limits), Ok(None));
    // A complete small head followed by lots of body is fine.
    let mut with_body = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n".to_vec();
    with_body.extend_from_slice(&[b'x'; 100]);
    let h = parse_head(&with_body, &limits).unwrap().unwrap();
    assert_eq!(h.framing, BodyFraming::Length(100));
}

// ---------------------------------------------------------------------------------------------
// Body framing

#[test]
fn content_length() {
    let framing = |headers: &str| parse(&get_with(headers)).map(|h| h.unwrap().framing);
    assert_eq!(framing("Content-Length: 5\r\n"), Ok(BodyFraming::Length(5)));
    assert_eq!(framing("content-length: 0\r\n"), Ok(BodyFraming::Length(0)));
    assert_eq!(framing("Content-Length: 007\r\n"), Ok(BodyFraming::Length(7)));
    assert_eq!(framing("Content-Length: 5, 5\r\n"), Ok(BodyFraming::Length(5)));
    assert_eq!(framing("Content-Length: 5\r\nContent-Length: 5,5\r\n"), Ok(BodyFraming::Length(5)));
    assert_eq!(framing(&format!("Content-Length: {}\r\n", 10 << 20)), Ok(BodyFraming::Length(10 << 20)));
    for bad in [
        "5, 6",
        "5,",
        ",5",
        "",
        "+5",
        "-1",
        "1e3",
        "0x5",
        "5 5",
        "5;",
        "٣",
        "99999999999999999999",
        "18446744073709551616",
    ] {
        assert_eq!(framing(&format!("Content-Length: {bad}\r\n")), Err(E::BadContentLength), "{bad:?}");
    }
    assert_eq!(framing("Content-Length: 5\r\nContent-Length: 6\r\n"), Err(E::BadContentLength));
    assert_eq!(framing(&format!("Content-Length: {}\r\n", (10 << 20) + 1)), Err(E::BodyTooLarge));
    assert_eq!(framing("Content-Length: 18446744073709551615\r\n"), Err(E::BodyTooLarge));
}

#[test]
fn transfer_encoding() {
    let framing = |headers: &str| parse(&get_with(headers)).map(|h| h.unwrap().framing);
    for ok in ["chunked", "Chunked", "CHUNKED", "  chunked  ", "\tchunked"] {
        assert_eq!(framing(&format!("Transfer-Encoding: {ok}\r\n")), Ok(BodyFraming::Chunked), "{ok:?}");
    }
    for bad in
        ["gzip, chunked", "chunked, gzip", "chunked, chunked", "identity", "xchunked", "chunked;q=1", ""]
    {
        assert_eq!(
            framing(&format!("Transfer-Encoding: {bad}\r\n")),
            Err(E::UnsupportedTransferEncoding),
            "{bad:?}"
        );
    }
    assert_eq!(
        framing("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        Err(E::UnsupportedTransferEncoding)
    );
    assert_eq!(
        framing("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"),
        Err(E::UnsupportedTransferEncoding)
    );
    let both = E::Malformed("both Content-Length and Transfer-Encoding");
    assert_eq!(framing("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), Err(both.clone()));
    assert_eq!(framing("Content-Length: 0\r\nTransfer-Encoding: chunked\r\n"), Err(both.clone()));
    assert_eq!(framing("Content-Length: 0\r\nTransfer-Encoding: gzip\r\n"), Err(both));
    assert_eq!(
        err(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        E::Malformed("Transfer-Encoding in an HTTP/1.0 request")
    );
    assert_eq!(head(b"POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi").framing, BodyFraming::Length(2));
}

#[test]
fn keep_alive() {
    let ka = |buf: &[u8]| head(buf).keep_alive;
    assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.0\r\nConnection: close\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n"));
    assert!(!ka(b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    assert!(ka(b"GET / HTTP/1.0\r\nConnection: foo ,  keep-alive \r\n\r\n"));
}

#[test]
fn expect_continue() {
    let ec = |buf: &[u8]| head(buf).expect_continue;
    assert!(ec(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
    assert!(ec(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nexpect: 100-Continue\r\n\r\n"));
    assert!(!ec(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"));
    assert!(!ec(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 200-ok\r\n\r\n"));
    assert!(!ec(b"POST / HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
}

#[test]
fn pipelined_requests() {
    let first = b"POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody";
    let second = b"GET /two HTTP/1.1\r\nHost: a\r\n\r\n";
    let third = b"GET /three HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let buf = [&first[..], second, third].concat();

    let h1 = head(&buf);
    assert_eq!(h1.target(&buf), "/one");
    assert_eq!(h1.head_len, first.len() - 4);
    let BodyFraming::Length(n) = h1.framing else { panic!("{:?}", h1.framing) };
    let rest = &buf[h1.head_len + n..];

    let h2 = head(rest);
    assert_eq!((h2.target(rest), h2.head_len, h2.keep_alive), ("/two", second.len(), true));
    let rest = &rest[h2.head_len..];
    let h3 = head(rest);
    assert_eq!((h3.target(rest), h3.head_len, h3.keep_alive), ("/three", third.len(), false));
    assert_eq!(parse(&rest[h3.head_len..]), Ok(None));
}

// ---------------------------------------------------------------------------------------------
// Smuggling and hostile inputs

#[test]
fn hostile_corpus() {
    let both = E::Malformed("both Content-Length and Transfer-Encoding");
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..101 {
        many.push_str(&format!("Host{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let big = get_with(&format!("X-Big: {}\r\n", "a".repeat(65 * 1024)));
    let cases: Vec<(&str, Vec<u8>, RequestError)> = vec![
        (
            "CL.TE",
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 13\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nSMUGGLED"
                .to_vec(),
            both.clone(),
        ),
        (
            "TE.CL",
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n"
                .to_vec(),
            both.clone(),
        ),
        ("TE: xchunked", get_with("Transfer-Encoding: xchunked\r\n"), E::UnsupportedTransferEncoding),
        ("TE: chunkedx", get_with("Transfer-Encoding: chunkedx\r\n"), E::UnsupportedTransferEncoding),
        ("TE: chunk ed", get_with("Transfer-Encoding: chunk ed\r\n"), E::UnsupportedTransferEncoding),
        ("TE: ' chunked' with CL", get_with("Transfer-Encoding:  chunked\r\nContent-Length: 4\r\n"), both.clone()),
        ("' Transfer-Encoding' line", get_with(" Transfer-Encoding: chunked\r\n"), E::Malformed("invalid header name")),
        ("TE via obs-fold", get_with("X: y\r\n Transfer-Encoding: chunked\r\n"), E::Malformed("invalid header name")),
        ("TE with space before colon", get_with("Transfer-Encoding : chunked\r\n"), E::Malformed("invalid header name")),
        ("TE with vertical tab", get_with("Transfer-Encoding: \x0bchunked\r\n"), E::Malformed("invalid header value")),
        ("TE split by bare CR", get_with("Transfer-Encoding:\rchunked\r\n"), E::Malformed("invalid header value")),
        ("TE twice", get_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"), E::UnsupportedTransferEncoding),
        ("TE in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec(), E::Malformed("Transfer-Encoding in an HTTP/1.0 request")),
        ("CL: +5", get_with("Content-Length: +5\r\n"), E::BadContentLength),
        ("CL: -1", get_with("Content-Length: -1\r\n"), E::BadContentLength),
        ("CL: 1e3", get_with("Content-Length: 1e3\r\n"), E::BadContentLength),
        ("CL: 0x10", get_with("Content-Length: 0x10\r\n"), E::BadContentLength),
        ("CL: 1_0", get_with("Content-Length: 1_0\r\n"), E::BadContentLength),
        ("CL overflow", get_with("Content-Length: 99999999999999999999\r\n"), E::BadContentLength),
        ("duplicate differing CL", get_with("Content-Length: 1\r\nContent-Length: 2\r\n"), E::BadContentLength),
        ("CL list differing", get_with("Content-Length: 1, 2\r\n"), E::BadContentLength),
        ("CL too large", get_with("Content-Length: 10485761\r\n"), E::BodyTooLarge),
        ("header injection via bare LF", get_with("X: a\nTransfer-Encoding: chunked\r\n"), E::Malformed("bare LF line ending")),
        ("request line ends in bare LF", b"GET / HTTP/1.1\nHost: a\n\n".to_vec(), E::Malformed("bare LF line ending")),
        ("NUL in header", get_with("X: a\0b\r\n"), E::Malformed("invalid header value")),
        ("NUL in name", get_with("X\0: a\r\n"), E::Malformed("invalid header name")),
        ("65 KiB header block", big, E::HeadTooLarge),
        ("101 headers", many.into_bytes(), E::TooManyHeaders),
        ("TLS client hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(), E::Malformed("invalid request line")),
        ("garbage request line", b"@@@@ garbage\r\n\r\n".to_vec(), E::Malformed("invalid request line")),
        ("double space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), E::Malformed("invalid request line")),
        ("tab delimiter", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), E::Malformed("invalid request line")),
        ("space in target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), E::Malformed("invalid HTTP version")),
        ("missing version", b"GET /\r\nHost: a\r\n\r\n".to_vec(), E::Malformed("invalid request line")),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), E::UnsupportedVersion),
        ("two Host headers", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(), E::Malformed("more than one Host header")),
        ("no Host", b"GET / HTTP/1.1\r\nX: a\r\n\r\n".to_vec(), E::Malformed("missing Host")),
        ("absolute-form without host", b"GET http:// HTTP/1.1\r\nHost: a\r\n\r\n".to_vec(), E::Malformed("invalid request target")),
    ];
    for (name, input, expected) in cases {
        assert_eq!(parse(&input), Err(expected), "{name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Chunked decoding

/// Decodes `input` in the pieces given by `splits` (ascending offsets), returning the body
/// and the total consumed, or the first error.
fn decode_split(input: &[u8], splits: &[usize], max_body: usize) -> Result<(Vec<u8>, usize, bool), E> {
    let mut dec = ChunkedDecoder::new(max_body);
    let mut out = Vec::new();
    let mut consumed = 0;
    let mut start = 0;
    for &end in splits.iter().chain(std::iter::once(&input.len())) {
        let piece = &input[start..end];
        let d = dec.decode(piece, &mut out)?;
        assert!(d.done || d.consumed == piece.len(), "not done but left input");
        consumed += d.consumed;
        start = end;
        if d.done {
            break;
        }
    }
    Ok((out, consumed, dec.is_done()))
}

fn decode_whole(input: &[u8]) -> Result<(Vec<u8>, usize, bool), E> {
    decode_split(input, &[], 1 << 20)
}

const CHUNKED_SAMPLES: &[(&[u8], &[u8])] = &[
    (b"5\r\nhello\r\n0\r\n\r\n", b"hello"),
    (b"0\r\n\r\n", b""),
    (b"000\r\n\r\n", b""),
    (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", b"hello world"),
    (b"A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n", b"0123456789abcdefghij"),
    (b"0000000000000003\r\nabc\r\n0\r\n\r\n", b"abc"),
    (b"3;name=value;q=\"a;b\"\r\nabc\r\n0;last\r\n\r\n", b"abc"),
    (b"3 ; ext\r\nabc\r\n0\t;x\r\n\r\n", b"abc"),
    (b"4\r\n\r\n\r\n\r\n0\r\n\r\n", b"\r\n\r\n"),
    (b"2\r\nhi\r\n0\r\nX-Trailer: one\r\nChecksum:abc \t\r\n\r\n", b"hi"),
    (b"1\r\n\xff\r\n0\r\nX: caf\xc3\xa9\r\n\r\n", b"\xff"),
];

#[test]
fn chunked_samples_whole_bytewise_and_split() {
    for &(input, body) in CHUNKED_SAMPLES {
        let name = String::from_utf8_lossy(input);
        let expected = Ok((body.to_vec(), input.len(), true));
        assert_eq!(decode_whole(input), expected, "{name}");
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(decode_split(input, &every, 1 << 20), expected, "{name} byte by byte");
        for i in 0..=input.len() {
            assert_eq!(decode_split(input, &[i], 1 << 20), expected, "{name} split at {i}");
            for j in i..=input.len() {
                assert_eq!(decode_split(input, &[i, j], 1 << 20), expected, "{name} split at {i}, {j}");
            }
        }
    }
}

#[test]
fn chunked_stops_at_the_end_of_the_body() {
    let input = b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    let mut dec = ChunkedDecoder::new(100);
    let mut out = Vec::new();
    assert_eq!(dec.decode(input, &mut out), Ok(Decoded { consumed: 13, done: true }));
    assert_eq!(out, b"abc");
    assert_eq!(dec.decode(b"more", &mut out), Ok(Decoded { consumed: 0, done: true }));
    assert_eq!(dec.decode(b"", &mut out), Ok(Decoded { consumed: 0, done: true }));
    assert_eq!(out, b"abc");

    let mut dec = ChunkedDecoder::new(100);
    assert_eq!(dec.decode(b"", &mut out), Ok(Decoded { consumed: 0, done: false }));
}

#[test]
fn chunked_errors() {
    let cases: &[(&[u8], RequestError)] = &[
        (b"+5\r\nhello\r\n0\r\n\r\n", E::BadChunk("invalid chunk size")),
        (b"-5\r\n", E::BadChunk("invalid chunk size")),
        (b"0x5\r\n", E::BadChunk("invalid chunk size")),
        (b"\r\n", E::BadChunk("invalid chunk size")),
        (b";ext\r\n", E::BadChunk("invalid chunk size")),
        (b" 5\r\n", E::BadChunk("invalid chunk size")),
        (b"g\r\n", E::BadChunk("invalid chunk size")),
        (b"5g\r\n", E::BadChunk("invalid chunk size")),
        (b"00000000000000005\r\n", E::BadChunk("chunk size has too many digits")),
        (b"5 \r\nhello\r\n0\r\n\r\n", E::BadChunk("whitespace after chunk size")),
        (b"5\nhello\r\n0\r\n\r\n", E::BadChunk("invalid chunk size")),
        (b"5\rhello", E::BadChunk("expected LF after chunk size")),
        (b"5;a\nhello", E::BadChunk("invalid byte in chunk extension")),
        (b"5;a\0\r\nhello", E::BadChunk("invalid byte in chunk extension")),
        (b"5\r\nhelloX\r\n0\r\n\r\n", E::BadChunk("missing CRLF after chunk data")),
        (b"5\r\nhello\n0\r\n\r\n", E::BadChunk("missing CRLF after chunk data")),
        (b"5\r\nhello\rX", E::BadChunk("missing CRLF after chunk data")),
        (b"3\r\nhello\r\n0\r\n\r\n", E::BadChunk("missing CRLF after chunk data")),
        (b"0\r\n \r\n\r\n", E::BadChunk("invalid trailer field")),
        (b"0\r\n:x\r\n\r\n", E::BadChunk("invalid trailer field")),
        (b"0\r\nX\r\n\r\n", E::BadChunk("invalid trailer field name")),
        (b"0\r\nX : y\r\n\r\n", E::BadChunk("invalid trailer field name")),
        (b"0\r\nX: a\0\r\n\r\n", E::BadChunk("invalid trailer field value")),
        (b"0\r\nX: a\n\r\n", E::BadChunk("invalid trailer field value")),
        (b"0\r\nX: a\r\n b\r\n\r\n", E::BadChunk("invalid trailer field")),
        (b"0\r\nX: a\rb", E::BadChunk("expected LF after trailer field")),
        (b"0\r\n\n", E::BadChunk("invalid trailer field")),
        (b"0\r\n\rX", E::BadChunk("expected LF after trailer section")),
        (b"0\n\n", E::BadChunk("invalid chunk size")),
    ];
    for (input, expected) in cases {
        let name = String::from_utf8_lossy(input);
        assert_eq!(decode_whole(input), Err(expected.clone()), "{name}");
        let every: Vec<usize> = (1..input.len()).collect();
        assert_eq!(decode_split(input, &every, 1 << 20), Err(expected.clone()), "{name} byte by byte");
    }
}

#[test]
fn chunked_errors_are_sticky() {
    let mut dec = ChunkedDecoder::new(100);
    let mut out = Vec::new();
    assert_eq!(dec.decode(b"zz", &mut out), Err(E::BadChunk("invalid chunk size")));
    assert_eq!(dec.decode(b"0\r\n\r\n", &mut out), Err(E::BadChunk("invalid chunk size")));
    assert!(!dec.is_done());
}

#[test]
fn chunked_size_limits() {
    // Exactly max_body across two chunks is fine; one more byte is refused at the size line,
    // before any of that chunk's data arrives.
    let input = b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    assert_eq!(decode_split(input, &[], 5), Ok((b"abcde".to_vec(), input.len(), true)));
    let mut dec = ChunkedDecoder::new(4);
    let mut out = Vec::new();
    assert_eq!(dec.decode(b"3\r\nabc\r\n2", &mut out), Err(E::BodyTooLarge));
    assert_eq!(out, b"abc");
    assert_eq!(decode_split(b"ffffffffffffffff\r\n", &[], usize::MAX), Ok((vec![], 18, false)));
    assert_eq!(decode_split(b"1\r\na\r\nffffffffffffffff\r\n", &[], usize::MAX), Err(E::BodyTooLarge));
    assert_eq!(decode_split(b"1\r\nx\r\n", &[], 0), Err(E::BodyTooLarge));
    assert_eq!(decode_split(b"0\r\n\r\n", &[], 0), Ok((vec![], 5, true)));
}

#[test]
fn kept_trailer_fields_come_back_whole_however_the_input_is_split() {
    let input = b"5\r\nhello\r\n0\r\nx-checksum: abc123\r\nx-more:\t1\r\n\r\nNEXT";
    let end = input.len() - 4;
    for split in 1..end {
        let mut dec = ChunkedDecoder::new(100).keep_trailers();
        let mut out = Vec::new();
        let first = dec.decode(&input[..split], &mut out).unwrap();
        let rest = dec.decode(&input[first.consumed..], &mut out).unwrap();
        assert!(rest.done && first.consumed + rest.consumed == end, "split at {split}");
        assert_eq!(out, b"hello");
        assert_eq!(dec.trailers(), b"x-checksum: abc123\r\nx-more:\t1\r\n", "split at {split}");
    }
    // Not kept unless asked; none when none came.
    let mut dec = ChunkedDecoder::new(100);
    dec.decode(input, &mut Vec::new()).unwrap();
    assert_eq!(dec.trailers(), b"");
    let mut dec = ChunkedDecoder::new(100).keep_trailers();
    assert!(dec.decode(b"0\r\n\r\n", &mut Vec::new()).unwrap().done);
    assert_eq!(dec.trailers(), b"");
}

#[test]
fn chunked_extension_and_trailer_caps() {
    // A slowloris extension is cut off at MAX_CHUNK_LINE, fed in one go or byte by byte.
    let mut line = b"5;".to_vec();
    line.resize(MAX_CHUNK_LINE, b'x');
    let mut dec = ChunkedDecoder::new(100);
    let mut out = Vec::new();
    assert_eq!(dec.decode(&line, &mut out), Ok(Decoded { consumed: MAX_CHUNK_LINE, done: false }));
    assert_eq!(dec.decode(b"\r\nhello\r\n0\r\n\r\n", &mut out), Ok(Decoded { consumed: 14, done: true }));
    assert_eq!(out, b"hello");
    let mut dec = ChunkedDecoder::new(100);
    for &b in &line {
        dec.decode(&[b], &mut out).unwrap();
    }
    assert_eq!(dec.decode(b"x", &mut out), Err(E::BadChunk("chunk size line too long")));

    // The trailer section (everything after the last chunk's line) is capped at max_head.
    let limits = Limits { max_head: 20, ..Limits::default() };
    let ok = b"0\r\nX: 1234567890123\r\n\r\n"; // trailer section of exactly 20 bytes
    let mut dec = ChunkedDecoder::with_limits(&limits);
    assert_eq!(dec.decode(ok, &mut out), Ok(Decoded { consumed: ok.len(), done: true }));
    let over = b"0\r\nX: 12345678901234\r\n\r\n";
    let mut dec = ChunkedDecoder::with_limits(&limits);
    assert_eq!(dec.decode(over, &mut out), Err(E::HeadTooLarge));
}

#[test]
fn chunked_big_chunk_is_copied_in_bulk() {
    let data = vec![b'z'; 100_000];
    let mut input = format!("{:x}\r\n", data.len()).into_bytes();
    input.extend_from_slice(&data);
    input.extend_from_slice(b"\r\n0\r\n\r\n");
    let splits: Vec<usize> = (1..input.len()).step_by(4093).collect();
    assert_eq!(decode_split(&input, &splits, data.len()), Ok((data, input.len(), true)));
}

// ---------------------------------------------------------------------------------------------
// Properties

/// Chunk-encodes `body` in pieces of the given sizes (cycled), with an extension on every
/// other chunk and an optional trailer.
fn encode_chunked(body: &[u8], sizes: &[usize], trailer: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].clamp(1, rest.len());
        let ext = if i % 2 == 1 { ";e=1" } else { "" };
        out.extend_from_slice(format!("{n:X}{ext}\r\n").as_bytes());
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\n");
    if trailer {
        out.extend_from_slice(b"X-Sum: 42\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

proptest! {
    #[test]
    fn parse_head_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Err(e) = parse(&bytes) {
            prop_assert!((400..600).contains(&e.status()));
        }
    }

    #[test]
    fn parse_head_never_panics_on_near_valid_input(
        prefix in prop::sample::select(vec![
            "GET / HTTP/1.1\r\n", "POST /x HTTP/1.0\r\n", "GET / HTTP/1.1\r\nHost: a\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ", "POST / HTTP/1.1\r\nTransfer-Encoding: ",
        ]),
        tail in proptest::collection::vec(
            prop::sample::select(b"\r\n :,;\t\0aAcC5-+HostContent-LengthTransfer-Encodingchunked".to_vec()), 0..200),
        max_head in 1usize..300,
        max_headers in 0usize..8,
    ) {
        let mut bytes = prefix.as_bytes().to_vec();
        bytes.extend_from_slice(&tail);
        let limits = Limits { max_head, max_headers, max_body: 100 };
        match parse_head(&bytes, &limits) {
            Err(e) => prop_assert!((400..600).contains(&e.status())),
            Ok(Some(head)) => {
                prop_assert!(head.head_len <= bytes.len().min(max_head));
                let _ = (head.method(&bytes), head.target(&bytes), head.headers(&bytes).count());
            }
            Ok(None) => prop_assert!(bytes.len() < max_head),
        }
    }

    #[test]
    fn decoder_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        split in 0usize..600,
        max_body in 0usize..64,
    ) {
        let split = split.min(bytes.len());
        let mut dec = ChunkedDecoder::with_limits(&Limits { max_head: 32, max_body, ..Limits::default() });
        let mut out = Vec::new();
        for piece in [&bytes[..split], &bytes[split..]] {
            match dec.decode(piece, &mut out) {
                Ok(d) => prop_assert!(d.consumed <= piece.len() && (d.done || d.consumed == piece.len())),
                Err(e) => {
                    prop_assert!((400..600).contains(&e.status()));
                    break;
                }
            }
        }
        prop_assert!(out.len() <= max_body);
    }

    #[test]
    fn decoder_round_trips_at_any_split(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        sizes in proptest::collection::vec(1usize..40, 1..5),
        trailer in any::<bool>(),
        mut splits in proptest::collection::vec(0usize..1000, 0..6),
    ) {
        let input = encode_chunked(&body, &sizes, trailer);
        for s in &mut splits {
            *s %= input.len() + 1;
        }
        splits.sort_unstable();
        prop_assert_eq!(decode_split(&input, &splits, body.len()), Ok((body.clone(), input.len(), true)));
        if !body.is_empty() {
            prop_assert_eq!(decode_split(&input, &splits, body.len() - 1), Err(E::BodyTooLarge));
        }
    }
}
