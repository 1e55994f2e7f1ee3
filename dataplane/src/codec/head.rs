//! Parsing the request head: request line, header fields, and the body framing they imply.

use smallvec::SmallVec;

use super::{Limits, RequestError, MAX_HEADERS_CAP};

/// How the body of a request is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body: neither `Content-Length` nor `Transfer-Encoding` (RFC 9112 §6.3 rule 7).
    None,
    /// Exactly this many bytes follow the head (already checked against
    /// [`Limits::max_body`]). `Length(0)` is a `Content-Length: 0` request.
    Length(usize),
    /// `Transfer-Encoding: chunked`: decode what follows the head with a
    /// [`ChunkedDecoder`](super::ChunkedDecoder).
    Chunked,
}

/// One header field, as offsets into the buffer the head was parsed from. Offsets are 32-bit
/// (a head is at most [`Limits::max_head`](super::Limits) bytes): a head's 16 inline fields
/// take 256 bytes instead of 512, in every connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderSpan {
    /// `(start, end)` of the field name.
    pub name: (u32, u32),
    /// `(start, end)` of the field value, without leading or trailing whitespace.
    pub value: (u32, u32),
}

impl HeaderSpan {
    /// The field name, as sent (compare it case-insensitively).
    pub fn name<'b>(&self, buf: &'b [u8]) -> &'b str {
        str_at(buf, widen(self.name))
    }

    /// The field value; it may hold obs-text bytes (0x80..=0xFF), so it is not a `str`.
    pub fn value<'b>(&self, buf: &'b [u8]) -> &'b [u8] {
        bytes_at(buf, widen(self.value))
    }
}

fn widen((start, end): (u32, u32)) -> (usize, usize) {
    (start as usize, end as usize)
}

/// `span` in 32 bits; a span beyond 4 GiB (a head is never that long) reads as empty.
fn narrow((start, end): (usize, usize)) -> (u32, u32) {
    match (u32::try_from(start), u32::try_from(end)) {
        (Ok(start), Ok(end)) => (start, end),
        _ => (0, 0),
    }
}

/// The parsed head of one request, as offsets into the buffer it was parsed from, so the
/// caller can keep reading into that buffer.
///
/// The accessors take that buffer (or any buffer with the same first [`Head::head_len`]
/// bytes); given another one they return garbage or empty strings but never panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the request line + headers + blank line (and any empty lines before the
    /// request line): the body, or the next pipelined request, starts here.
    pub head_len: usize,
    /// `(start, end)` of the method, a token.
    pub method: (usize, usize),
    /// `(start, end)` of the request target: origin-form (`/…`), absolute-form (`http://…`,
    /// `https://…`) or `*` (for `OPTIONS` only).
    pub target: (usize, usize),
    /// The minor HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Every header field, in order.
    pub headers: SmallVec<[HeaderSpan; 16]>,
    /// How the body is framed.
    pub framing: BodyFraming,
    /// Whether the connection stays open after the response: HTTP/1.1 defaults to true unless
    /// `Connection: close`; HTTP/1.0 defaults to false unless `Connection: keep-alive`.
    pub keep_alive: bool,
    /// `Expect: 100-continue` in an HTTP/1.1 request (ignored in HTTP/1.0, RFC 9110 §10.1.1).
    /// Set whatever the framing; the caller sends `100 Continue` only before reading a body.
    pub expect_continue: bool,
    /// `(start, end)` of the value of the one `Host` header, if there is one (there always is
    /// in HTTP/1.1).
    pub host: Option<(usize, usize)>,
}

impl Head {
    /// The method, such as `GET`.
    pub fn method<'b>(&self, buf: &'b [u8]) -> &'b str {
        str_at(buf, self.method)
    }

    /// The request target, such as `/path?query`.
    pub fn target<'b>(&self, buf: &'b [u8]) -> &'b str {
        str_at(buf, self.target)
    }

    /// The `Host` header value, if any.
    pub fn host<'b>(&self, buf: &'b [u8]) -> Option<&'b [u8]> {
        self.host.map(|span| bytes_at(buf, span))
    }

    /// Every header field as `(name, value)`, in order.
    pub fn headers<'h, 'b>(&'h self, buf: &'b [u8]) -> HeaderIter<'h, 'b> {
        HeaderIter { spans: self.headers.iter(), buf }
    }

    /// The value of the first header field named `name` (ASCII case-insensitive).
    pub fn header<'b>(&self, buf: &'b [u8], name: &str) -> Option<&'b [u8]> {
        self.headers(buf).find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v)
    }
}

/// Iterator over the `(name, value)` header fields of a [`Head`], from [`Head::headers`].
#[derive(Debug, Clone)]
pub struct HeaderIter<'h, 'b> {
    spans: std::slice::Iter<'h, HeaderSpan>,
    buf: &'b [u8],
}

impl<'b> Iterator for HeaderIter<'_, 'b> {
    type Item = (&'b str, &'b [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        self.spans.next().map(|span| (span.name(self.buf), span.value(self.buf)))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl ExactSizeIterator for HeaderIter<'_, '_> {}

/// Parses the head at the start of `buf`.
///
/// `Ok(None)`: the head is incomplete, read more and call again with the grown buffer (but if
/// `buf.len() >= limits.max_head` already, that is [`RequestError::HeadTooLarge`]). `Ok(Some)`:
/// the head is complete and valid; its body (per [`Head::framing`]) or the next pipelined
/// request starts at [`Head::head_len`].
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, RequestError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let window = &buf[..buf.len().min(limits.max_head)];
    // Uninitialised slots: filling 100 empty headers on every call cost more than parsing a
    // typical request head.
    let mut storage = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS_CAP];
    let mut req = httparse::Request::new(&mut []);
    let parsed =
        req.parse_with_uninit_headers(window, &mut storage[..limits.max_headers.min(MAX_HEADERS_CAP)]);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= limits.max_head => {
            return Err(RequestError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(map_httparse_error(e, window)),
    };

    // httparse accepts a bare LF as a line ending; another parser might not see the same
    // lines, so refuse it.
    let head_bytes = &window[..head_len];
    if memchr::memchr_iter(b'\n', head_bytes).any(|i| i == 0 || head_bytes[i - 1] != b'\r') {
        return Err(RequestError::Malformed("bare LF line ending"));
    }

    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version) else {
        return Err(RequestError::Malformed("incomplete request line"));
    };
    check_target(method, target.as_bytes())?;

    let mut headers = SmallVec::with_capacity(req.headers.len());
    let mut content_length: Option<u64> = None;
    let mut te_count = 0usize;
    let mut te_chunked = false;
    let mut host = None;
    let mut conn_close = false;
    let mut conn_keep_alive = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = h.name;
        let value = trim_ows(h.value);
        let value_span = span(buf, value);
        headers.push(HeaderSpan { name: narrow(span(buf, name.as_bytes())), value: narrow(value_span) });
        if name.eq_ignore_ascii_case("content-length") {
            parse_content_length(value, &mut content_length)?;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            te_count += 1;
            te_chunked = te_count == 1 && trim_ows(value).eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case("host") {
            if host.is_some() {
                return Err(RequestError::Malformed("more than one Host header"));
            }
            host = Some(value_span);
        } else if name.eq_ignore_ascii_case("connection") {
            for option in value.split(|&b| b == b',').map(trim_ows) {
                conn_close |= option.eq_ignore_ascii_case(b"close");
                conn_keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue |= trim_ows(value).eq_ignore_ascii_case(b"100-continue");
        }
    }

    let framing = if te_count > 0 {
        if minor_version == 0 {
            return Err(RequestError::Malformed("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if content_length.is_some() {
            return Err(RequestError::Malformed("both Content-Length and Transfer-Encoding"));
        }
        if !te_chunked {
            return Err(RequestError::UnsupportedTransferEncoding);
        }
        BodyFraming::Chunked
    } else if let Some(len) = content_length {
        match usize::try_from(len) {
            Ok(len) if len <= limits.max_body => BodyFraming::Length(len),
            _ => return Err(RequestError::BodyTooLarge),
        }
    } else {
        BodyFraming::None
    };

    if minor_version == 1 && host.is_none() {
        return Err(RequestError::Malformed("missing Host"));
    }

    let keep_alive = !conn_close && (minor_version == 1 || conn_keep_alive);
    Ok(Some(Head {
        head_len,
        method: span(buf, method.as_bytes()),
        target: span(buf, target.as_bytes()),
        minor_version,
        headers,
        framing,
        keep_alive,
        expect_continue: expect_continue && minor_version == 1,
        host,
    }))
}

/// Checks the request target's form and bytes (httparse also lets 0x80..=0xFF through).
fn check_target(method: &str, target: &[u8]) -> Result<(), RequestError> {
    if !target.iter().all(|b| (0x21..=0x7e).contains(b)) {
        return Err(RequestError::Malformed("invalid byte in request target"));
    }
    let absolute =
        |scheme: &[u8]| target.len() > scheme.len() && target[..scheme.len()].eq_ignore_ascii_case(scheme);
    let ok = target.first() == Some(&b'/')
        || (target == b"*" && method == "OPTIONS")
        || absolute(b"http://")
        || absolute(b"https://");
    if ok {
        Ok(())
    } else {
        Err(RequestError::Malformed("invalid request target"))
    }
}

/// Folds one `Content-Length` field value (possibly a comma list) into `seen`: every value
/// must be plain decimal digits without overflow, and all of them equal.
fn parse_content_length(value: &[u8], seen: &mut Option<u64>) -> Result<(), RequestError> {
    for item in value.split(|&b| b == b',').map(trim_ows) {
        if item.is_empty() {
            return Err(RequestError::BadContentLength);
        }
        let mut n: u64 = 0;
        for &b in item {
            if !b.is_ascii_digit() {
                return Err(RequestError::BadContentLength);
            }
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(b - b'0')))
                .ok_or(RequestError::BadContentLength)?;
        }
        match *seen {
            Some(prev) if prev != n => return Err(RequestError::BadContentLength),
            _ => *seen = Some(n),
        }
    }
    Ok(())
}

fn map_httparse_error(e: httparse::Error, buf: &[u8]) -> RequestError {
    match e {
        httparse::Error::TooManyHeaders => RequestError::TooManyHeaders,
        httparse::Error::Version if is_other_http_version(buf) => RequestError::UnsupportedVersion,
        httparse::Error::Version => RequestError::Malformed("invalid HTTP version"),
        httparse::Error::HeaderName => RequestError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => RequestError::Malformed("invalid header value"),
        httparse::Error::NewLine => RequestError::Malformed("invalid line ending"),
        httparse::Error::Token => RequestError::Malformed("invalid request line"),
        httparse::Error::Status => RequestError::Malformed("invalid request line"),
    }
}

/// Whether the request line's version (possibly cut short) reads `HTTP/<digit>.<digit>`, a
/// well-formed version other than 1.0 and 1.1 (the one httparse refused).
fn is_other_http_version(buf: &[u8]) -> bool {
    let start = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let rest = &buf[start..];
    let line = &rest[..rest.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(rest.len())];
    let Some(version) = line.split(|&b| b == b' ').nth(2) else { return false };
    match version.strip_prefix(b"HTTP/") {
        Some([major]) | Some([major, b'.']) => major.is_ascii_digit(),
        Some([major, b'.', minor]) => major.is_ascii_digit() && minor.is_ascii_digit(),
        _ => false,
    }
}

/// Strips optional whitespace (SP / HTAB) from both ends.
fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// The `(start, end)` offsets of `part`, a sub-slice of `buf`.
fn span(buf: &[u8], part: &[u8]) -> (usize, usize) {
    let start = (part.as_ptr() as usize).wrapping_sub(buf.as_ptr() as usize);
    if start <= buf.len() && part.len() <= buf.len() - start {
        (start, start + part.len())
    } else {
        // Only reachable for an empty slice not pointing into `buf`.
        debug_assert!(part.is_empty(), "slice outside the parsed buffer");
        (0, 0)
    }
}

fn bytes_at(buf: &[u8], (start, end): (usize, usize)) -> &[u8] {
    buf.get(start..end).unwrap_or_default()
}

fn str_at(buf: &[u8], span: (usize, usize)) -> &str {
    std::str::from_utf8(bytes_at(buf, span)).unwrap_or_default()
}
