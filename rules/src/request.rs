//! The view of an HTTP request that matching and rendering read, and its lazily derived parts.
//!
//! [`Request`] borrows everything from the caller's buffers (the data plane's read buffer), so
//! building one costs nothing. [`RequestContext`] adds what some rules need and most don't (decoded
//! query parameters, cookies, the body parsed as JSON, the GraphQL operation): each is computed at
//! most once per request, and only when a candidate rule asks for it.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::IpAddr;

use smallvec::SmallVec;

use crate::graphql::GraphqlRequest;

/// One request header as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name, in any case.
    pub name: &'a str,
    /// The raw value bytes.
    pub value: &'a [u8],
}

/// A borrowed HTTP request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST`, … (case-sensitive, as HTTP says).
    pub method: &'a str,
    /// The path, without the query string, as sent (not percent-decoded).
    pub path: &'a str,
    /// The raw query string after `?`, without it; empty when there is none.
    pub query: &'a str,
    /// The headers, in arrival order.
    pub headers: &'a [Header<'a>],
    /// The body (already de-chunked).
    pub body: &'a [u8],
    /// The peer address, when known.
    pub client_ip: Option<IpAddr>,
}

impl<'a> Request<'a> {
    /// A request from a method and a request target (`/path?query`, or the absolute form
    /// `http://host/path?query`, whose scheme and authority are dropped).
    pub fn new(method: &'a str, target: &'a str, headers: &'a [Header<'a>], body: &'a [u8]) -> Self {
        let (path, query) = split_target(target);
        Request { method, path, query, headers, body, client_ip: None }
    }

    /// The same request with a client address.
    pub fn with_client_ip(mut self, ip: IpAddr) -> Self {
        self.client_ip = Some(ip);
        self
    }

    /// Values of the header `name` (case-insensitive), in order.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + Clone + 's {
        self.header_values_by_bytes(name.as_bytes())
    }

    /// Values of the header whose name is `name`'s bytes (case-insensitive), in order.
    pub fn header_values_by_bytes<'s>(
        &'s self,
        name: &'s [u8],
    ) -> impl Iterator<Item = &'a [u8]> + Clone + 's {
        self.headers.iter().filter(move |h| h.name.as_bytes().eq_ignore_ascii_case(name)).map(|h| h.value)
    }

    /// The first value of the header `name` as text, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.header_values(name).next().and_then(|v| std::str::from_utf8(v).ok())
    }
}

/// Splits a request target into path and raw query. The absolute form's scheme and authority
/// are dropped; a fragment (never sent by conforming clients) is dropped too.
pub fn split_target(target: &str) -> (&str, &str) {
    let mut rest = target;
    // The origin form (`/path`) is nearly every request: the absolute form is looked for only
    // when the target does not start with `/`.
    let absolute = if rest.starts_with('/') {
        None
    } else {
        rest.strip_prefix("http://").or_else(|| rest.strip_prefix("https://"))
    };
    if let Some(after_scheme) = absolute {
        rest = match after_scheme.find('/') {
            Some(i) => &after_scheme[i..],
            None => match after_scheme.find('?') {
                Some(i) => &after_scheme[i..],
                None => "/",
            },
        };
    }
    // One pass finds the query and the fragment (a fragment is never sent by conforming
    // clients, but its `?` would not start a query).
    match crate::bytes::find_either(rest.as_bytes(), b'?', b'#') {
        None => (rest, ""),
        Some(i) if rest.as_bytes()[i] == b'#' => (nonempty(&rest[..i]), ""),
        Some(i) => {
            let query = &rest[i + 1..];
            let query = match crate::bytes::find_either(query.as_bytes(), b'#', b'#') {
                Some(j) => &query[..j],
                None => query,
            };
            (nonempty(&rest[..i]), query)
        }
    }
}

/// An empty path means the root.
fn nonempty(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// Decoded query pairs, inline for the usual handful.
type QueryPairs<'r> = SmallVec<[(Cow<'r, str>, Cow<'r, str>); 4]>;

/// A request plus the parts derived from it on demand. One per request; not shared.
pub struct RequestContext<'r> {
    /// The request.
    pub req: &'r Request<'r>,
    host: OnceCell<Option<&'r str>>,
    query: OnceCell<QueryPairs<'r>>,
    cookies: OnceCell<SmallVec<[(&'r str, &'r str); 4]>>,
    form: OnceCell<QueryPairs<'r>>,
    json: OnceCell<Option<serde_json::Value>>,
    dom: OnceCell<Option<crate::body::dom::Parsed<'r>>>,
    pub(crate) graphql: OnceCell<Option<GraphqlRequest>>,
    /// Selection only looks: no budget, scenario or hit counter is claimed (see [`Self::peek`]).
    pub(crate) peek: bool,
}

impl<'r> RequestContext<'r> {
    /// A context over `req`; nothing is computed yet.
    pub fn new(req: &'r Request<'r>) -> Self {
        RequestContext {
            req,
            host: OnceCell::new(),
            query: OnceCell::new(),
            cookies: OnceCell::new(),
            form: OnceCell::new(),
            json: OnceCell::new(),
            dom: OnceCell::new(),
            graphql: OnceCell::new(),
            peek: false,
        }
    }

    /// A context whose selection claims nothing: the rule it yields is the one a real
    /// selection would yield now, with hit number 0. The data plane peeks to learn whether a
    /// request is forwarded before it reads the body.
    pub fn peek(mut self) -> Self {
        self.peek = true;
        self
    }

    /// The host from the `Host` header, without its port (brackets kept off IPv6 literals).
    pub fn host(&self) -> Option<&'r str> {
        *self.host.get_or_init(|| self.req.header("host").map(strip_port))
    }

    /// Decoded query parameters, in order (`a=1&a=2` gives two pairs).
    pub fn query_pairs(&self) -> &[(Cow<'r, str>, Cow<'r, str>)] {
        self.query.get_or_init(|| form_urlencoded::parse(self.req.query.as_bytes()).collect())
    }

    /// Values of the query parameter `name`, decoded, in order.
    pub fn query_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + Clone + 's {
        self.query_pairs().iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// Decoded form parameters of an `application/x-www-form-urlencoded` body, in order; none
    /// for a body of any other type (as WireMock reads them).
    pub fn form_pairs(&self) -> &[(Cow<'r, str>, Cow<'r, str>)] {
        self.form.get_or_init(|| {
            let is_form = self.req.header_values("content-type").next().is_some_and(|v| {
                let kind = v.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
                kind.eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
            });
            match is_form {
                true => form_urlencoded::parse(self.req.body).collect(),
                false => SmallVec::new(),
            }
        })
    }

    /// Values of the form parameter `name`, decoded, in order.
    pub fn form_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + Clone + 's {
        self.form_pairs().iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_ref())
    }

    /// Cookies from every `Cookie` header, in order.
    pub fn cookie_pairs(&self) -> &[(&'r str, &'r str)] {
        self.cookies.get_or_init(|| {
            let mut out = SmallVec::new();
            for value in self.req.header_values("cookie") {
                let Ok(text) = std::str::from_utf8(value) else { continue };
                for part in text.split(';') {
                    let part = part.trim();
                    if part.is_empty() {
                        continue;
                    }
                    let (k, v) = part.split_once('=').unwrap_or((part, ""));
                    let v = v.trim();
                    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
                    out.push((k.trim(), v));
                }
            }
            out
        })
    }

    /// Values of the cookie `name`, in order.
    pub fn cookie_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'r str> + Clone + 's {
        self.cookie_pairs().iter().filter(move |(k, _)| *k == name).map(|(_, v)| *v)
    }

    /// The body as text, when it is valid UTF-8.
    pub fn body_str(&self) -> Option<&'r str> {
        std::str::from_utf8(self.req.body).ok()
    }

    /// The body parsed as JSON (once); `None` when it is not JSON.
    pub fn body_json(&self) -> Option<&serde_json::Value> {
        self.json
            .get_or_init(|| {
                #[cfg(test)]
                parse_counts::count(|c| c.full += 1);
                parse_json(self.req.body)
            })
            .as_ref()
    }
}

impl<'r> RequestContext<'r> {
    /// The body's flat view for the JSON body matchers (once); `None` when the view does not
    /// cover it (escapes, exponents, deep nesting, not JSON), and [`Self::body_json`] decides.
    pub(crate) fn body_dom(&self) -> Option<crate::body::dom::Dom<'_>> {
        self.dom
            .get_or_init(|| {
                #[cfg(test)]
                parse_counts::count(|c| c.view += 1);
                crate::body::dom::parse(self.req.body)
            })
            .as_ref()
            .map(|p| p.view())
    }
}

/// How many times this thread parsed a request body, by kind: tests check that a body is
/// parsed once per request, and only when a candidate rule needs it.
#[cfg(test)]
pub(crate) mod parse_counts {
    use std::cell::Cell;

    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub(crate) struct ParseCounts {
        /// Into the flat view, for the `json` and `jsonpath` matchers.
        pub(crate) view: u32,
        /// Into a `serde_json::Value` (bodies the view leaves, GraphQL, templates).
        pub(crate) full: u32,
    }

    thread_local! {
        static COUNTS: Cell<ParseCounts> = const { Cell::new(ParseCounts { view: 0, full: 0 }) };
    }

    pub(crate) fn count(f: impl FnOnce(&mut ParseCounts)) {
        let mut c = COUNTS.get();
        f(&mut c);
        COUNTS.set(c);
    }

    /// The counts since the last call, and a fresh start.
    pub(crate) fn take() -> ParseCounts {
        COUNTS.take()
    }
}

/// How deep a request body's arrays and objects may nest for the full parse. Building,
/// searching (`$..a`) and dropping a `Value` each recurse once per level; a body 5,000 levels
/// deep overflowed a worker's stack and aborted the data plane. serde_json's own default limit
/// is 128 too.
pub(crate) const MAX_JSON_DEPTH: usize = 128;

/// Parses JSON with serde_json, straight from the borrowed bytes. (simd-json, used before, was
/// no faster on bodies up to 2 KB and needed a copy: see docs/benchmarks.md, "simd-json or
/// serde_json".) A body nested deeper than [`MAX_JSON_DEPTH`] is treated as not JSON.
pub(crate) fn parse_json(bytes: &[u8]) -> Option<serde_json::Value> {
    if bytes.is_empty() || !nesting_within(bytes, MAX_JSON_DEPTH) {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    // serde_json's own limit refuses 128 levels; the scan above has bounded the depth already.
    de.disable_recursion_limit();
    let value = <serde_json::Value as serde::Deserialize>::deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(value)
}

/// Whether `json`'s arrays and objects nest at most `limit` deep, brackets inside strings
/// aside. Only bracket depth is checked; the parser judges the rest.
fn nesting_within(json: &[u8], limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

fn strip_port(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        // IPv6 literal: `[::1]:8080`.
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rfind(':') {
        Some(i) if host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &host[..i],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_split_into_path_and_query() {
        assert_eq!(split_target("/a/b?x=1&y"), ("/a/b", "x=1&y"));
        assert_eq!(split_target("/a"), ("/a", ""));
        assert_eq!(split_target("http://h:80/p?q=1"), ("/p", "q=1"));
        assert_eq!(split_target("http://h:80"), ("/", ""));
        assert_eq!(split_target("/p#frag"), ("/p", ""));
        assert_eq!(split_target("?x=1"), ("/", "x=1"));
    }

    #[test]
    fn derived_parts_are_decoded() {
        let headers = [
            Header { name: "Host", value: b"Api.Example.com:8443" },
            Header { name: "cookie", value: b"a=1; session=\"xyz\"" },
            Header { name: "Cookie", value: b"b=2" },
        ];
        let req = Request::new("GET", "/p?name=John%20Smith&tag=a&tag=b+c", &headers, b"");
        let cx = RequestContext::new(&req);
        assert_eq!(cx.host(), Some("Api.Example.com"));
        assert_eq!(cx.query_values("name").collect::<Vec<_>>(), ["John Smith"]);
        assert_eq!(cx.query_values("tag").collect::<Vec<_>>(), ["a", "b c"]);
        assert_eq!(cx.cookie_values("session").collect::<Vec<_>>(), ["xyz"]);
        assert_eq!(cx.cookie_values("b").collect::<Vec<_>>(), ["2"]);
        assert_eq!(strip_port("[::1]:80"), "::1");
    }

    #[test]
    fn floats_in_a_body_read_as_the_numbers_they_print() {
        // JavaScript and Rust print the shortest text that reads back as the same double, often
        // 17 digits; serde_json without `float_roundtrip` read some of these one ulp off.
        for i in 0..480 {
            let x = i as f64 * 0.37;
            let body = format!(r#"{{"score": {x}}}"#);
            assert_eq!(parse_json(body.as_bytes()).unwrap()["score"].as_f64(), Some(x), "{body}");
        }
    }

    #[test]
    fn bodies_nested_past_the_limit_are_not_json() {
        let deep = |n: usize| format!("{}1{}", "[{\"a\":".repeat(n), "}]".repeat(n));
        // Two levels per repetition.
        assert!(parse_json(deep(MAX_JSON_DEPTH / 2).as_bytes()).is_some());
        assert!(parse_json(deep(MAX_JSON_DEPTH / 2 + 1).as_bytes()).is_none());
        assert!(parse_json(deep(1_000_000).as_bytes()).is_none());
        // Brackets in strings, escaped quotes included, do not count.
        let quoted = format!(r#"{{"s": "\"{}"}}"#, "[".repeat(1_000));
        assert!(parse_json(quoted.as_bytes()).is_some(), "{quoted}");
    }

    #[test]
    fn body_json_is_parsed_once_and_tolerates_garbage() {
        let req = Request::new("POST", "/", &[], br#"{"a":[1,2]}"#);
        let cx = RequestContext::new(&req);
        assert_eq!(cx.body_json().unwrap()["a"][1], 2);
        let bad = Request::new("POST", "/", &[], b"{not json");
        assert!(RequestContext::new(&bad).body_json().is_none());
    }
}
