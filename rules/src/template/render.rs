//! Rendering: evaluates resolved expressions straight into the output buffer.

use std::fmt::{self, Write as _};

use rand::Rng;
use serde_json::Value;

use super::{Expr, JsonPathExpr, NowExpr, NowFormat, RandomKind, RenderContext};

/// Where an expression writes: the output buffer, HTML-escaped or raw.
pub(super) struct Sink<'o> {
    pub(super) out: &'o mut Vec<u8>,
    pub(super) escape: bool,
}

impl Sink<'_> {
    #[inline]
    fn push(&mut self, bytes: &[u8]) {
        if self.escape {
            escape_into(self.out, bytes);
        } else {
            self.out.extend_from_slice(bytes);
        }
    }
}

impl fmt::Write for Sink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

impl std::io::Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Appends `bytes` HTML-escaped exactly as Handlebars does: `& < > " ' ` =`.
pub(super) fn escape_into(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let replacement: &[u8] = match b {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'"' => b"&quot;",
            b'\'' => b"&#x27;",
            b'`' => b"&#x60;",
            b'=' => b"&#x3D;",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(replacement);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// Writes the value of `expr`. Missing values write nothing.
pub(super) fn eval(expr: &Expr, cx: &mut RenderContext<'_, '_>, sink: &mut Sink<'_>) {
    let request = cx.request;
    let req = request.req;
    match expr {
        Expr::Method => sink.push(req.method.as_bytes()),
        Expr::Url => {
            sink.push(req.path.as_bytes());
            if !req.query.is_empty() {
                sink.push(b"?");
                sink.push(req.query.as_bytes());
            }
        }
        Expr::Path => sink.push(req.path.as_bytes()),
        Expr::PathSegment(n) => {
            if let Some(seg) = req.path.split('/').filter(|s| !s.is_empty()).nth(*n) {
                sink.push(seg.as_bytes());
            }
        }
        Expr::PathParam(name) => {
            if let Some((_, value)) = cx.path_params.iter().find(|(k, _)| *k == &**name) {
                sink.push(value.as_bytes());
            }
        }
        Expr::Query(name, n) => {
            if let Some(value) = request.query_values(name).nth(*n) {
                sink.push(value.as_bytes());
            }
        }
        Expr::Header(name, n) => {
            if let Some(value) = req.header_values(name).nth(*n) {
                sink.push(value);
            }
        }
        Expr::Cookie(name, n) => {
            if let Some(value) = request.cookie_values(name).nth(*n) {
                sink.push(value.as_bytes());
            }
        }
        Expr::Body => sink.push(req.body),
        Expr::Host => {
            if let Some(host) = request.host() {
                sink.push(host.as_bytes());
            }
        }
        Expr::ClientIp => {
            if let Some(ip) = req.client_ip {
                let _ = write!(sink, "{ip}");
            }
        }
        Expr::Env(name) => {
            if let Some(value) = cx.env.get(&**name) {
                sink.push(value.as_bytes());
            }
        }
        Expr::Counter => {
            let _ = write!(sink, "{}", cx.counter);
        }
        Expr::Literal(text) => sink.push(text.as_bytes()),
        Expr::JsonPath(j) => json_path(j, cx, sink),
        Expr::Now(n) => now(n, cx, sink),
        Expr::RandomValue { length, kind, uppercase } => random_value(*length, *kind, *uppercase, cx, sink),
        Expr::RandomInt { lower, upper } => {
            let n: i64 = cx.rng.random_range(*lower..*upper);
            let _ = write!(sink, "{n}");
        }
        Expr::Uuid { uppercase } => uuid(*uppercase, cx, sink),
    }
}

fn json_path(j: &JsonPathExpr, cx: &mut RenderContext<'_, '_>, sink: &mut Sink<'_>) {
    let request = cx.request;
    let owned: Option<Value>;
    let doc = match &j.source {
        Expr::Body => request.body_json(),
        source => {
            let mut text = Vec::new();
            eval(source, cx, &mut Sink { out: &mut text, escape: false });
            owned = serde_json::from_slice(&text).ok();
            owned.as_ref()
        }
    };
    let nodes = doc.map(|doc| j.path.query(doc));
    match nodes.as_ref().map(|n| n.len()).unwrap_or(0) {
        0 => {
            if let Some(default) = &j.default {
                eval(default, cx, sink);
            }
        }
        1 => {
            let node = nodes.as_ref().and_then(|n| n.first()).unwrap_or(&Value::Null);
            match (&j.default, node) {
                (Some(default), Value::Null) => eval(default, cx, sink),
                _ => write_node(node, sink),
            }
        }
        _ => {
            sink.push(b"[");
            for (i, node) in nodes.iter().flat_map(|n| n.iter()).enumerate() {
                if i > 0 {
                    sink.push(b",");
                }
                let _ = serde_json::to_writer(&mut *sink, node);
            }
            sink.push(b"]");
        }
    }
}

/// A string node as its text, anything else as compact JSON.
fn write_node(node: &Value, sink: &mut Sink<'_>) {
    match node {
        Value::String(s) => sink.push(s.as_bytes()),
        other => {
            let _ = serde_json::to_writer(&mut *sink, other);
        }
    }
}

fn now(n: &NowExpr, cx: &RenderContext<'_, '_>, sink: &mut Sink<'_>) {
    let Some(t) = cx.now.checked_add_signed(n.offset) else { return };
    match &n.format {
        NowFormat::Epoch => {
            let _ = write!(sink, "{}", t.timestamp_millis());
        }
        NowFormat::Unix => {
            let _ = write!(sink, "{}", t.timestamp());
        }
        NowFormat::Items(items) => {
            let start = sink.out.len();
            if t.format_with_items(items.iter()).write_to(sink).is_err() {
                sink.out.truncate(start);
            }
        }
    }
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ALPHABETIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const NUMERIC: &[u8] = b"0123456789";
const HEXADECIMAL: &[u8] = b"ABCDEF0123456789";

fn random_value(
    length: usize,
    kind: RandomKind,
    uppercase: bool,
    cx: &mut RenderContext<'_, '_>,
    sink: &mut Sink<'_>,
) {
    let charset: &[u8] = match kind {
        RandomKind::Alphanumeric => ALPHANUMERIC,
        RandomKind::Alphabetic => ALPHABETIC,
        RandomKind::Numeric => NUMERIC,
        RandomKind::Hexadecimal => HEXADECIMAL,
        // Printable ASCII without space, 33..=126, as WireMock.
        RandomKind::AlphanumericAndSymbols => &[],
        RandomKind::Uuid => return uuid(uppercase, cx, sink),
    };
    let mut chunk = [0u8; 64];
    let mut left = length;
    while left > 0 {
        let n = left.min(chunk.len());
        for slot in &mut chunk[..n] {
            let c = if charset.is_empty() {
                cx.rng.random_range(33u8..=126)
            } else {
                charset[cx.rng.random_range(0..charset.len())]
            };
            // WireMock lower-cases unless `uppercase=true`.
            *slot = if uppercase { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
        }
        sink.push(&chunk[..n]);
        left -= n;
    }
}

fn uuid(uppercase: bool, cx: &mut RenderContext<'_, '_>, sink: &mut Sink<'_>) {
    let mut bytes = [0u8; 16];
    cx.rng.fill_bytes(&mut bytes);
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = if uppercase {
        id.hyphenated().encode_upper(&mut buf)
    } else {
        id.hyphenated().encode_lower(&mut buf)
    };
    sink.push(text.as_bytes());
}
