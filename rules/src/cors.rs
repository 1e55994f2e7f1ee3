//! The rule set's `cors` block, compiled into a [`CorsPolicy`]: which origins are allowed, and
//! every header line prepared as bytes, so that a request from a browser costs a look at its
//! `Origin` and a few appends, and a request without one costs nothing.
//!
//! The semantics are the Fetch standard's CORS protocol, answered the way Envoy's CORS filter
//! answers it:
//! - a request is a CORS request when it has an `Origin` header; a *preflight* when it is also an
//!   `OPTIONS` with `Access-Control-Request-Method`. A preflight from an allowed origin is
//!   answered `204` by the policy, without rules; one from another origin is left to the rules,
//!   like any request (Envoy's default, `forward_not_matching_preflights`), and gets no CORS
//!   headers, so the browser refuses it;
//! - every other answer to an allowed origin carries `access-control-allow-origin`: `*` when any
//!   origin is allowed without credentials (the answer does not depend on the origin), else the
//!   request's own origin with `vary: origin`; then credentials and exposed headers;
//! - `*` for methods or headers echoes what the preflight asks for, which browsers accept with
//!   credentials too (a literal `*` they do not), and which covers `authorization`, which a
//!   literal `*` never does;
//! - credentials with any origin are refused at compile time rather than turned into an echo of
//!   every origin: browsers refuse `*` with credentials so that no site can read a user's
//!   authenticated answers, and a mockplane in front of a real service (`forward` rules) would
//!   give that protection away. Listing the origins (patterns included) is the explicit way.

use crate::error::{key_path, Errors, Place};
use crate::model::{Cors, Response, Rule};
use crate::response::is_token;

/// The longest `max_age` browsers honour, in seconds (Firefox; Chromium stops at 7200).
pub const MAX_AGE_LIMIT: u32 = 86_400;

/// A compiled CORS policy: see [`crate::RuleTable::cors`].
///
/// The data plane asks [`CorsPolicy::allows`] with a request's `Origin`, then appends
/// [`CorsPolicy::write_headers`] to the answer's head, or answers a preflight with
/// [`CorsPolicy::write_preflight`]. Nothing here allocates.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    origins: Origins,
    /// The lines of an actual answer, for any origin without credentials:
    /// `access-control-allow-origin: *` and the exposed headers.
    star: Box<[u8]>,
    /// The lines of an actual answer after the echoed origin (`\r\nvary: origin\r\n`,
    /// credentials, exposed headers).
    echo_tail: Box<[u8]>,
    /// A preflight answer's status line and the start of its allow-origin line: the whole line
    /// for `*`, up to the echoed origin otherwise.
    preflight_start: Box<[u8]>,
    /// A preflight's lines that do not depend on the request: credentials, fixed methods and
    /// headers, max-age, vary.
    preflight_fixed: Box<[u8]>,
    echo_methods: bool,
    echo_headers: bool,
}

#[derive(Debug, Clone)]
enum Origins {
    /// `*`: the answer says `*` and does not depend on the origin.
    Any,
    /// The request's origin is echoed when one of these allows it.
    Listed { null: bool, patterns: Vec<OriginPattern> },
}

/// `scheme://host[:port]` with an optional wildcard subdomain or port, lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OriginPattern {
    scheme: Box<str>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    Exact(Box<str>),
    /// `*.example.com`, held as `.example.com`: one or more labels before it.
    Subdomain(Box<str>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum PortPattern {
    /// No port: the scheme's default, which browsers leave out.
    Default,
    Exact(Box<str>),
    /// `:*`: any port, or none.
    Any,
}

/// A request's `Origin`, cut into its parts (not validated: it is only compared).
struct OriginParts<'a> {
    scheme: &'a [u8],
    host: &'a [u8],
    port: Option<&'a [u8]>,
}

fn split_origin(origin: &[u8]) -> Option<OriginParts<'_>> {
    let colon = memchr::memchr(b':', origin)?;
    let (scheme, rest) = (&origin[..colon], origin[colon + 1..].strip_prefix(b"//")?);
    let (host, port) = if rest.first() == Some(&b'[') {
        // An IPv6 literal: the port, if any, follows the closing bracket.
        let close = memchr::memchr(b']', rest)?;
        let after = &rest[close + 1..];
        let port = match after {
            [] => None,
            [b':', port @ ..] => Some(port),
            _ => return None,
        };
        (&rest[..=close], port)
    } else {
        match memchr::memrchr(b':', rest) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        }
    };
    (!scheme.is_empty() && !host.is_empty()).then_some(OriginParts { scheme, host, port })
}

impl OriginPattern {
    fn matches(&self, o: &OriginParts<'_>) -> bool {
        let port = match (&self.port, o.port) {
            (PortPattern::Default, None) | (PortPattern::Any, _) => true,
            (PortPattern::Exact(p), Some(q)) => p.as_bytes() == q,
            _ => false,
        };
        port && o.scheme.eq_ignore_ascii_case(self.scheme.as_bytes())
            && match &self.host {
                HostPattern::Exact(h) => o.host.eq_ignore_ascii_case(h.as_bytes()),
                HostPattern::Subdomain(suffix) => {
                    let (host, suffix) = (o.host, suffix.as_bytes());
                    // The labels the wildcard stands for are plain host characters: the origin
                    // is echoed into the answer.
                    host.len() > suffix.len()
                        && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
                        && host[..host.len() - suffix.len()]
                            .iter()
                            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'.')
                }
            }
    }
}

impl CorsPolicy {
    /// Whether a request whose `Origin` header is `origin` gets CORS headers (and its
    /// preflights an answer).
    #[inline]
    pub fn allows(&self, origin: &[u8]) -> bool {
        match &self.origins {
            Origins::Any => !origin.is_empty(),
            Origins::Listed { null, patterns } => {
                if origin == b"null" {
                    return *null;
                }
                match split_origin(origin) {
                    Some(parts) => patterns.iter().any(|p| p.matches(&parts)),
                    None => false,
                }
            }
        }
    }

    /// Whether answers to allowed origins echo the origin (and so vary by it), rather than `*`.
    pub fn echoes_origin(&self) -> bool {
        matches!(self.origins, Origins::Listed { .. })
    }

    /// Appends the CORS header lines of an answer (not a preflight's) to a request from
    /// `origin`, which [`CorsPolicy::allows`].
    #[inline]
    pub fn write_headers(&self, origin: &[u8], out: &mut Vec<u8>) {
        match self.origins {
            Origins::Any => out.extend_from_slice(&self.star),
            Origins::Listed { .. } => {
                out.extend_from_slice(b"access-control-allow-origin: ");
                out.extend_from_slice(origin);
                out.extend_from_slice(&self.echo_tail);
            }
        }
    }

    /// Appends the answer to a preflight from `origin` (which [`CorsPolicy::allows`]) asking
    /// for `method` and `headers` (its `Access-Control-Request-*` values): the `204` status
    /// line and the CORS header lines, without the blank line that ends the head, so that the
    /// server can add its own (`date`, `connection`). It has no body and no `content-length`.
    pub fn write_preflight(&self, origin: &[u8], method: &[u8], headers: Option<&[u8]>, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.preflight_start);
        if self.echoes_origin() {
            out.extend_from_slice(origin);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(&self.preflight_fixed);
        if self.echo_methods {
            push_line(out, "access-control-allow-methods", method);
        }
        if let Some(headers) = headers.filter(|h| self.echo_headers && !h.is_empty()) {
            push_line(out, "access-control-allow-headers", headers);
        }
    }

    /// Compiles the `cors` block; every problem is reported at its place under `cors`.
    pub(crate) fn compile(spec: &Cors, errors: &mut Errors) -> Option<CorsPolicy> {
        let before = errors.len();
        let root = Place::Root("cors");
        let origins = compile_origins(spec.allow_origins.as_deref(), &root.field("allow_origins"), errors);
        let methods =
            compile_list(spec.allow_methods.as_deref(), &root.field("allow_methods"), Kind::Method, errors);
        let headers =
            compile_list(spec.allow_headers.as_deref(), &root.field("allow_headers"), Kind::Header, errors);
        let expose =
            compile_list(Some(&spec.expose_headers), &root.field("expose_headers"), Kind::Header, errors);
        if spec.allow_credentials {
            if matches!(origins, Some(Origins::Any)) {
                errors.push(
                    root.field("allow_credentials"),
                    "browsers refuse credentials with any origin (`*`, the default of allow_origins): \
                     list the origins that may send them",
                );
            }
            if let Some(i) = spec.expose_headers.iter().position(|h| h == "*") {
                errors.push(
                    root.field("expose_headers").index(i),
                    "with allow_credentials, browsers read `*` as a header named \"*\": list the headers to expose",
                );
            }
        }
        if let Some(age) = spec.max_age.filter(|&a| a > MAX_AGE_LIMIT) {
            errors.push(
                root.field("max_age"),
                format!("{age} s is more than browsers keep a preflight (at most {MAX_AGE_LIMIT} s, 7200 in Chromium)"),
            );
        }
        if errors.len() > before {
            return None;
        }
        let (origins, methods, headers, expose) = (origins?, methods?, headers?, expose?);

        let mut credentials = Vec::new();
        if spec.allow_credentials {
            credentials.extend_from_slice(b"access-control-allow-credentials: true\r\n");
        }
        // Exposed headers are not asked for: `*` is sent as the wildcard it is (only without
        // credentials, checked above).
        let mut expose_line = Vec::new();
        match &expose {
            List::Echo => push_line(&mut expose_line, "access-control-expose-headers", b"*"),
            List::Fixed(names) if !names.is_empty() => {
                push_line(&mut expose_line, "access-control-expose-headers", names.join(", ").as_bytes())
            }
            List::Fixed(_) => {}
        }
        let echo = matches!(origins, Origins::Listed { .. });
        let star = [&b"access-control-allow-origin: *\r\n"[..], &expose_line].concat();
        let echo_tail = [&b"\r\nvary: origin\r\n"[..], &credentials, &expose_line].concat();

        let mut preflight_start = b"HTTP/1.1 204 No Content\r\n".to_vec();
        preflight_start.extend_from_slice(if echo {
            b"access-control-allow-origin: "
        } else {
            b"access-control-allow-origin: *\r\n"
        });
        let mut preflight_fixed = credentials;
        for (name, list) in
            [("access-control-allow-methods", &methods), ("access-control-allow-headers", &headers)]
        {
            if let List::Fixed(names) = list {
                if !names.is_empty() {
                    push_line(&mut preflight_fixed, name, names.join(", ").as_bytes());
                }
            }
        }
        if let Some(age) = spec.max_age {
            push_line(&mut preflight_fixed, "access-control-max-age", age.to_string().as_bytes());
        }
        // What the preflight's answer depends on, for caches between the browser and us.
        let vary: Vec<&str> = [
            (echo, "origin"),
            (matches!(methods, List::Echo), "access-control-request-method"),
            (matches!(headers, List::Echo), "access-control-request-headers"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
        if !vary.is_empty() {
            push_line(&mut preflight_fixed, "vary", vary.join(", ").as_bytes());
        }
        Some(CorsPolicy {
            origins,
            star: star.into(),
            echo_tail: echo_tail.into(),
            preflight_start: preflight_start.into(),
            preflight_fixed: preflight_fixed.into(),
            echo_methods: matches!(methods, List::Echo),
            echo_headers: matches!(headers, List::Echo),
        })
    }
}

fn push_line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

fn compile_origins(list: Option<&[String]>, place: &Place<'_>, errors: &mut Errors) -> Option<Origins> {
    let Some(list) = list else { return Some(Origins::Any) };
    if list.is_empty() {
        errors.push(
            place,
            "an empty list allows no origin: omit allow_origins for any origin, or remove the cors block",
        );
        return None;
    }
    if list.len() == 1 && list[0] == "*" {
        return Some(Origins::Any);
    }
    let before = errors.len();
    let (mut null, mut patterns) = (false, Vec::with_capacity(list.len()));
    for (i, origin) in list.iter().enumerate() {
        let place = place.index(i);
        if origin == "*" {
            errors.push(place, "`*` allows every origin: list no others with it");
        } else if origin == "null" {
            null = true;
        } else {
            match parse_pattern(origin) {
                Ok(p) => patterns.push(p),
                Err(message) => errors.push(place, message),
            }
        }
    }
    (errors.len() == before).then_some(Origins::Listed { null, patterns })
}

/// Reads `scheme://host[:port]`, where the host may start with a `*.` label and the port may
/// be `*`.
fn parse_pattern(origin: &str) -> Result<OriginPattern, String> {
    let example = "write scheme://host[:port], such as https://app.example.com";
    let Some((scheme, rest)) = origin.split_once("://") else {
        return Err(format!("{origin:?} is not an origin: {example}"));
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err(format!("{origin:?} does not start with a scheme: {example}"));
    }
    if let Some(slash) = rest.find('/') {
        return Err(format!(
            "an origin has no path, not even `/`: write {:?}",
            format!("{scheme}://{}", &rest[..slash])
        ));
    }
    let (host, port) = if rest.starts_with('[') {
        match rest.find(']') {
            Some(close) => match &rest[close + 1..] {
                "" => (&rest[..=close], None),
                after => match after.strip_prefix(':') {
                    Some(port) => (&rest[..=close], Some(port)),
                    None => return Err(format!("{origin:?} is not an origin: {example}")),
                },
            },
            None => return Err(format!("{origin:?} has an unclosed `[`")),
        }
    } else {
        match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        }
    };
    let wildcard = "only a leading `*.` label of the host (https://*.example.com) or the whole port \
                    (http://localhost:*) can be a wildcard";
    let host = match host.strip_prefix("*.") {
        Some(suffix) if suffix.contains('*') => return Err(wildcard.into()),
        Some(suffix) if valid_host(suffix) => {
            HostPattern::Subdomain(format!(".{}", suffix.to_ascii_lowercase()).into())
        }
        None if host.contains('*') => return Err(wildcard.into()),
        None if valid_host(host) => HostPattern::Exact(host.to_ascii_lowercase().into()),
        _ => return Err(format!("{host:?} is not a host name or address")),
    };
    let port = match port {
        None => PortPattern::Default,
        Some("*") => PortPattern::Any,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 && p.bytes().all(|b| b.is_ascii_digit()) && !p.starts_with('0') => {
                let default = match scheme.to_ascii_lowercase().as_str() {
                    "http" | "ws" => Some(80),
                    "https" | "wss" => Some(443),
                    _ => None,
                };
                if default == Some(n) {
                    let without = origin.strip_suffix(&format!(":{p}")).unwrap_or(origin);
                    return Err(format!(
                        "browsers leave the default port out of an origin: write {without:?}"
                    ));
                }
                PortPattern::Exact(p.into())
            }
            _ => return Err(format!("{p:?} is not a port (1 to 65535, or `*` for any)")),
        },
    };
    Ok(OriginPattern { scheme: scheme.to_ascii_lowercase().into(), host, port })
}

/// A host name, IPv4 address, or bracketed IPv6 address.
fn valid_host(host: &str) -> bool {
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => !v6.is_empty() && v6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.'),
        None => {
            !host.is_empty()
                && !host.starts_with('.')
                && !host.ends_with('.')
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        }
    }
}

/// A list of methods or header names: `*` (or absent, for the preflight's lists) echoes the
/// request's (exposed headers: sends `*`), anything else is sent as written.
enum List {
    Echo,
    Fixed(Vec<String>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Method,
    Header,
}

fn compile_list(list: Option<&[String]>, place: &Place<'_>, kind: Kind, errors: &mut Errors) -> Option<List> {
    let Some(list) = list else { return Some(List::Echo) };
    if list.len() == 1 && list[0] == "*" {
        return Some(List::Echo);
    }
    let before = errors.len();
    let mut names = Vec::with_capacity(list.len());
    for (i, name) in list.iter().enumerate() {
        let place = place.index(i);
        if name == "*" {
            let what = if kind == Kind::Method { "method" } else { "header" };
            errors.push(place, format!("`*` allows every {what}: list no others with it"));
        } else if !is_token(name) {
            let what = if kind == Kind::Method { "method" } else { "header" };
            errors.push(place, format!("{name:?} is not a valid {what} name"));
        } else if kind == Kind::Method {
            let upper = name.to_ascii_uppercase();
            if *name != upper && crate::compile::method_bit(&upper) != 0 {
                // Browsers compare methods case-sensitively, after upper-casing the standard ones.
                errors.push(place, format!("methods are case-sensitive: did you mean {upper}?"));
            } else {
                names.push(name.clone());
            }
        } else {
            names.push(name.to_ascii_lowercase());
        }
    }
    (errors.len() == before).then_some(List::Fixed(names))
}

/// The names of the response headers a `cors` block adds to every answer: a rule that sets one
/// itself would send it twice, which browsers refuse.
const CORS_RESPONSE_HEADERS: [&str; 3] =
    ["access-control-allow-origin", "access-control-allow-credentials", "access-control-expose-headers"];

/// The place, within `rule`, of the first response header that a `cors` block also sets
/// (`response.headers.access-control-allow-origin`), if any.
pub(crate) fn own_cors_header(rule: &Rule) -> Option<Box<str>> {
    fn find(r: &Response) -> Option<&String> {
        r.headers.keys().find(|name| CORS_RESPONSE_HEADERS.iter().any(|c| name.eq_ignore_ascii_case(c)))
    }
    if let Some(name) = rule.response.as_ref().and_then(find) {
        return Some(key_path("response.headers", name).into());
    }
    let sequence = rule.sequence.as_ref()?;
    sequence.responses.iter().enumerate().find_map(|(i, r)| {
        find(r).map(|name| key_path(&format!("sequence.responses[{i}].headers"), name).into())
    })
}

/// What a rule that sets a CORS header itself is told when the rule set has a `cors` block.
pub(crate) const OWN_CORS_HEADER: &str =
    "the rule set's cors block adds this header to every answer, and browsers refuse two: remove it here";

#[cfg(test)]
mod tests;
