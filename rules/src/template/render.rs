//! Rendering: evaluates resolved expressions straight into the output buffer.
//!
//! Plain expressions stream their text into the output ([`eval`]); helpers and blocks compute a
//! typed [`Val`] first ([`value`]). Blocks render their parts recursively with a [`Frame`] per
//! `#each` item or `#with` value, which `this`, `../` and `@index` read.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use rand::Rng;
use serde_json::Value;

use super::date::Zone;
use super::value::Val;
use super::{
    helpers, Block, BlockKind, DataField, Expr, Field, JsonPathExpr, NowExpr, NowFormat, Part, RandomKind,
};
use crate::request::RequestContext;

/// The read-only inputs of one render, lent to every call.
#[derive(Clone, Copy)]
pub(super) struct Inputs<'a, 'r> {
    pub(super) request: &'a RequestContext<'r>,
    pub(super) path_params: &'a [(&'a str, &'a str)],
    pub(super) env: &'a BTreeMap<String, String>,
    pub(super) now: DateTime<Utc>,
    pub(super) counter: u64,
}

/// What one render changes: the randomness it draws and the variables it assigns.
pub(super) struct State<'s> {
    pub(super) rng: &'s mut dyn rand::RngCore,
    pub(super) vars: Vec<Option<Val<'static>>>,
}

/// The value of an enclosing `#each` item or `#with`, innermost first.
pub(super) struct Frame<'x> {
    pub(super) this: Val<'x>,
    /// `@index`, `@key`, `@first`, `@last` when the frame is an `#each` item.
    pub(super) item: Option<Item<'x>>,
    pub(super) parent: Option<&'x Frame<'x>>,
}

pub(super) struct Item<'x> {
    pub(super) index: usize,
    /// The object key, for an `#each` over an object (the index otherwise).
    pub(super) key: Option<&'x str>,
    pub(super) last: bool,
}

/// Renders `parts` into `out`.
#[inline]
pub(super) fn parts(
    parts: &[Part],
    inputs: &Inputs<'_, '_>,
    state: &mut State<'_>,
    scope: Option<&Frame<'_>>,
    out: &mut Vec<u8>,
) {
    for part in parts {
        match part {
            Part::Text(text) => out.extend_from_slice(text.as_bytes()),
            Part::Expr { expr, escape } => {
                eval(expr, inputs, state, scope, &mut Sink { out, escape: *escape })
            }
            Part::Block(block) => self::block(block, inputs, state, scope, out),
        }
    }
}

#[inline(never)]
fn block(
    block: &Block,
    inputs: &Inputs<'_, '_>,
    state: &mut State<'_>,
    scope: Option<&Frame<'_>>,
    out: &mut Vec<u8>,
) {
    match &block.kind {
        BlockKind::If { cond, negate, include_zero } => {
            let truthy = value(cond, inputs, state, scope).truthy(*include_zero);
            let branch = if truthy != *negate { &block.body } else { &block.inverse };
            parts(branch, inputs, state, scope, out);
        }
        BlockKind::With(expr) => {
            let this = value(expr, inputs, state, scope);
            if this.truthy(false) {
                let frame = Frame { this, item: None, parent: scope };
                parts(&block.body, inputs, state, Some(&frame), out);
            } else {
                parts(&block.inverse, inputs, state, scope, out);
            }
        }
        BlockKind::Each(expr) => {
            let list = value(expr, inputs, state, scope);
            if !each(block, &list, inputs, state, scope, out) {
                parts(&block.inverse, inputs, state, scope, out);
            }
        }
        BlockKind::Transform(how) => {
            let mut text = Vec::new();
            parts(&block.body, inputs, state, scope, &mut text);
            let text = String::from_utf8_lossy(&text);
            out.extend_from_slice(helpers::transform(*how, &text).as_bytes());
        }
        BlockKind::Assign { slot, json } => {
            let mut text = Vec::new();
            parts(&block.body, inputs, state, scope, &mut text);
            let text = String::from_utf8_lossy(&text);
            let val = if *json { helpers::parse_json(&text) } else { Val::Str(Cow::Borrowed(text.trim())) };
            match slot {
                Some(slot) => helpers::assign(state, *slot, val),
                None => val.write(&mut Sink { out, escape: false }),
            }
        }
    }
}

/// Renders the body once per item; false when there was none (the caller renders `{{else}}`).
fn each(
    block: &Block,
    list: &Val<'_>,
    inputs: &Inputs<'_, '_>,
    state: &mut State<'_>,
    scope: Option<&Frame<'_>>,
    out: &mut Vec<u8>,
) -> bool {
    if let Val::Json(json) = list {
        if let Value::Object(map) = &**json {
            let len = map.len();
            for (index, (key, v)) in map.iter().enumerate() {
                let item = Item { index, key: Some(key), last: index + 1 == len };
                let frame = Frame { this: Val::Json(Cow::Borrowed(v)), item: Some(item), parent: scope };
                parts(&block.body, inputs, state, Some(&frame), out);
            }
            return len > 0;
        }
    }
    let Some(items) = list.items() else { return false };
    let len = items.len();
    for (index, this) in items.into_iter().enumerate() {
        let item = Item { index, key: None, last: index + 1 == len };
        let frame = Frame { this, item: Some(item), parent: scope };
        parts(&block.body, inputs, state, Some(&frame), out);
    }
    len > 0
}

/// Where an expression writes: the output buffer, HTML-escaped or raw.
pub(super) struct Sink<'o> {
    pub(super) out: &'o mut Vec<u8>,
    pub(super) escape: bool,
}

impl Sink<'_> {
    #[inline]
    pub(super) fn push(&mut self, bytes: &[u8]) {
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
pub(super) fn eval(
    expr: &Expr,
    cx: &Inputs<'_, '_>,
    state: &mut State<'_>,
    scope: Option<&Frame<'_>>,
    sink: &mut Sink<'_>,
) {
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
        Expr::JsonPath(j) => json_path(j, cx, state, scope, sink),
        Expr::Now(n) => now(n, cx, sink),
        Expr::RandomValue { length, kind, uppercase } => {
            random_value(*length, *kind, *uppercase, state, sink)
        }
        Expr::RandomInt { lower, upper } => {
            let n: i64 = state.rng.random_range(*lower..*upper);
            let _ = write!(sink, "{n}");
        }
        Expr::Uuid { uppercase } => uuid(*uppercase, state, sink),
        Expr::AllValues(field, name) => {
            let first = match field {
                Field::Query => request.query_values(name).next().map(str::as_bytes),
                Field::Header => req.header_values(name).next(),
                Field::Cookie => request.cookie_values(name).next().map(str::as_bytes),
            };
            if let Some(first) = first {
                sink.push(first);
            }
        }
        Expr::Float(_, text) => sink.push(text.as_bytes()),
        Expr::Helper(_)
        | Expr::PathSegments
        | Expr::Int(_)
        | Expr::Bool(_)
        | Expr::Scoped(_)
        | Expr::Var { .. }
        | Expr::Data(_)
        | Expr::EachKey { .. } => write_value(expr, cx, state, scope, sink),
    }
}

/// Writes a helper's or a block path's typed value. Out of line: its locals (values, lists,
/// JSON) would otherwise enlarge the stack frame of every plain `{{request.path.id}}`.
#[inline(never)]
fn write_value(
    expr: &Expr,
    cx: &Inputs<'_, '_>,
    state: &mut State<'_>,
    scope: Option<&Frame<'_>>,
    sink: &mut Sink<'_>,
) {
    match expr {
        // Statements: they may assign a variable, which a value cannot.
        Expr::Helper(h) => match &**h {
            super::Helper::RegexExtract { value: source, regex, var: Some(slot), default } => {
                let text = value(source, cx, state, scope);
                if let Some(groups) = helpers::regex_groups(regex, &text.text()) {
                    helpers::assign(state, *slot, groups);
                } else {
                    helpers::no_match(regex, default.as_ref().map(|d| value(d, cx, state, scope)))
                        .write(sink);
                }
            }
            super::Helper::ParseJson { value: source, var: Some(slot) } => {
                let json = helpers::parse_json(&value(source, cx, state, scope).text());
                helpers::assign(state, *slot, json);
            }
            _ => value(expr, cx, state, scope).write(sink),
        },
        _ => value(expr, cx, state, scope).write(sink),
    }
}

/// The typed value of `expr`: borrowed from the request or an enclosing block where it can be.
#[inline(never)]
pub(super) fn value<'x>(
    expr: &'x Expr,
    cx: &Inputs<'x, '_>,
    state: &mut State<'_>,
    scope: Option<&'x Frame<'x>>,
) -> Val<'x> {
    let request = cx.request;
    let req = request.req;
    let text = |s: &'x str| Val::Str(Cow::Borrowed(s));
    let bytes = |b: &'x [u8]| Val::Str(String::from_utf8_lossy(b));
    let or_null = |v: Option<Val<'x>>| v.unwrap_or(Val::Null);
    match expr {
        Expr::Method => text(req.method),
        Expr::Path => text(req.path),
        Expr::PathSegment(n) => or_null(req.path.split('/').filter(|s| !s.is_empty()).nth(*n).map(text)),
        Expr::PathSegments => {
            Val::Strs(req.path.split('/').filter(|s| !s.is_empty()).map(Cow::Borrowed).collect())
        }
        Expr::PathParam(name) => {
            or_null(cx.path_params.iter().find(|(k, _)| *k == &**name).map(|(_, v)| text(v)))
        }
        Expr::Query(name, n) => {
            or_null(request.query_values(name).nth(*n).map(|v| Val::Str(Cow::Owned(v.to_string()))))
        }
        Expr::Header(name, n) => or_null(req.header_values(name).nth(*n).map(bytes)),
        Expr::Cookie(name, n) => or_null(request.cookie_values(name).nth(*n).map(text)),
        Expr::AllValues(field, name) => {
            let values: Vec<Cow<'x, str>> = match field {
                Field::Query => request.query_values(name).map(|v| Cow::Owned(v.to_string())).collect(),
                Field::Header => req.header_values(name).map(String::from_utf8_lossy).collect(),
                Field::Cookie => request.cookie_values(name).map(Cow::Borrowed).collect(),
            };
            if values.is_empty() {
                Val::Null
            } else {
                Val::Strs(values)
            }
        }
        Expr::Body => bytes(req.body),
        Expr::Host => or_null(request.host().map(text)),
        Expr::ClientIp => or_null(req.client_ip.map(|ip: IpAddr| Val::Str(Cow::Owned(ip.to_string())))),
        Expr::Env(name) => or_null(cx.env.get(&**name).map(|v| text(v))),
        Expr::Counter => Val::Int(i64::try_from(cx.counter).unwrap_or(i64::MAX)),
        Expr::Literal(s) => text(s),
        Expr::Int(i) => Val::Int(*i),
        Expr::Float(f, _) => Val::Float(*f),
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Now(n) => match n.offset.apply(cx.now) {
            Some(t) => Val::Date(t, Some(&n.format)),
            None => Val::Null,
        },
        Expr::RandomInt { lower, upper } => Val::Int(state.rng.random_range(*lower..*upper)),
        Expr::JsonPath(j) => json_path_value(j, cx, state, scope),
        Expr::Url | Expr::RandomValue { .. } | Expr::Uuid { .. } => {
            let mut out = Vec::new();
            eval(expr, cx, state, scope, &mut Sink { out: &mut out, escape: false });
            Val::Str(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
        }
        Expr::Scoped(path) => scoped(path, scope),
        // Owned: the variable may be assigned again while this value is in use.
        Expr::Var { slot, segs } => match state.vars.get(*slot).and_then(Option::as_ref) {
            Some(var) => var.get_path(segs).into_owned(),
            None => Val::Null,
        },
        Expr::Data(field) => data(*field, scope),
        Expr::EachKey { up } => {
            let mut frame = scope;
            for _ in 0..*up {
                frame = frame.and_then(|f| f.parent);
            }
            data(DataField::Key, frame)
        }
        Expr::Helper(h) => helpers::eval(h, cx, state, scope),
    }
}

/// Looks a `this`-relative path up in the enclosing blocks' values.
fn scoped<'x>(path: &'x super::ScopedPath, scope: Option<&'x Frame<'x>>) -> Val<'x> {
    let mut frame = scope;
    for _ in 0..path.up {
        frame = frame.and_then(|f| f.parent);
    }
    while let Some(f) = frame {
        let v = f.this.get_path(&path.segs);
        // A bare `name` missing here is looked up in the blocks around (Handlebars.java).
        if !matches!(v, Val::Null) || !path.fallback {
            return v;
        }
        frame = f.parent;
    }
    Val::Null
}

fn data<'x>(field: DataField, scope: Option<&'x Frame<'x>>) -> Val<'x> {
    let mut frame = scope;
    while let Some(f) = frame {
        if let Some(item) = &f.item {
            // Handlebars.java's spellings: `@first` is "first" or "", `@last` "last" or "".
            return match field {
                DataField::Index => Val::Int(item.index as i64),
                DataField::Key => match item.key {
                    Some(key) => Val::Str(Cow::Borrowed(key)),
                    None => Val::Int(item.index as i64),
                },
                DataField::First => Val::Str(Cow::Borrowed(if item.index == 0 { "first" } else { "" })),
                DataField::Last => Val::Str(Cow::Borrowed(if item.last { "last" } else { "" })),
            };
        }
        frame = f.parent;
    }
    Val::Null
}

/// The JSON a `jsonPath` queries: the request body's cached parse, JSON already (a variable, an
/// `#each` item), or text parsed now.
#[inline(never)]
fn json_path_value<'x>(
    j: &'x JsonPathExpr,
    cx: &Inputs<'x, '_>,
    state: &mut State<'_>,
    scope: Option<&'x Frame<'x>>,
) -> Val<'x> {
    let source = match &j.source {
        Expr::Body => match cx.request.body_json() {
            Some(doc) => Val::Json(Cow::Borrowed(doc)),
            None => Val::Null,
        },
        source => value(source, cx, state, scope),
    };
    // As WireMock: nothing found, or `null`, is the default or empty text.
    let found = match &source {
        // Borrowed from the request: the result can borrow too.
        Val::Json(Cow::Borrowed(doc)) => query(&j.path, doc).map(|v| match v {
            Cow::Borrowed(v) => Val::Json(Cow::Borrowed(v)),
            Cow::Owned(v) => Val::Json(Cow::Owned(v)),
        }),
        Val::Json(Cow::Owned(doc)) => query(&j.path, doc).map(|v| Val::Json(Cow::Owned(v.into_owned()))),
        Val::Null => None,
        other => serde_json::from_str::<Value>(&other.text())
            .ok()
            .and_then(|doc| query(&j.path, &doc).map(|v| Val::Json(Cow::Owned(v.into_owned())))),
    };
    match found {
        Some(v) => v,
        None => match &j.default {
            Some(default) => value(default, cx, state, scope),
            None => Val::Str(Cow::Borrowed("")),
        },
    }
}

/// The one node a JSONPath selects, or the list of several; `None` for none or `null`.
fn query<'d>(path: &serde_json_path::JsonPath, doc: &'d Value) -> Option<Cow<'d, Value>> {
    let nodes = path.query(doc);
    match nodes.len() {
        0 => None,
        1 => nodes.first().filter(|v| !v.is_null()).map(Cow::Borrowed),
        _ => Some(Cow::Owned(Value::Array(nodes.all().into_iter().cloned().collect()))),
    }
}

/// Writes a time in its `now` format (RFC 3339 with milliseconds by default).
pub(super) fn write_date(t: DateTime<Utc>, format: Option<&NowFormat>, sink: &mut Sink<'_>) {
    match format {
        Some(NowFormat::Epoch) => {
            let _ = write!(sink, "{}", t.timestamp_millis());
        }
        Some(NowFormat::Unix) => {
            let _ = write!(sink, "{}", t.timestamp());
        }
        Some(NowFormat::Items { items, zone }) => {
            let start = sink.out.len();
            let written = match zone {
                None => t.format_with_items(items.iter()).write_to(sink),
                Some(Zone::Named(tz)) => t.with_timezone(tz).format_with_items(items.iter()).write_to(sink),
                Some(Zone::Fixed(offset)) => {
                    t.with_timezone(offset).format_with_items(items.iter()).write_to(sink)
                }
            };
            if written.is_err() {
                sink.out.truncate(start);
            }
        }
        None => {
            let _ = write!(sink, "{}", t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        }
    }
}

fn json_path(
    j: &JsonPathExpr,
    cx: &Inputs<'_, '_>,
    state: &mut State<'_>,
    scope: Option<&Frame<'_>>,
    sink: &mut Sink<'_>,
) {
    let request = cx.request;
    let doc = match &j.source {
        Expr::Body => request.body_json(),
        _ => {
            return match json_path_value(j, cx, state, scope) {
                Val::Json(v) if j.pretty && v.is_object() => write_pretty(&v, sink),
                other => other.write(sink),
            }
        }
    };
    let nodes = doc.map(|doc| j.path.query(doc));
    match nodes.as_ref().map(|n| n.len()).unwrap_or(0) {
        0 => {
            if let Some(default) = &j.default {
                eval(default, cx, state, scope, sink);
            }
        }
        1 => {
            let node = nodes.as_ref().and_then(|n| n.first()).unwrap_or(&Value::Null);
            match (&j.default, node) {
                (Some(default), Value::Null) => eval(default, cx, state, scope, sink),
                (None, Value::Null) => {}
                (_, Value::Object(_)) if j.pretty => write_pretty(node, sink),
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

/// An object as WireMock prints a `jsonPath` result: Jackson's pretty JSON.
#[inline(never)]
fn write_pretty(node: &Value, sink: &mut Sink<'_>) {
    let mut text = Vec::new();
    super::jackson::write_pretty(&mut text, node, 0);
    sink.push(&text);
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

fn now(n: &NowExpr, cx: &Inputs<'_, '_>, sink: &mut Sink<'_>) {
    let Some(t) = n.offset.apply(cx.now) else { return };
    write_date(t, Some(&n.format), sink);
}

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ALPHABETIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const NUMERIC: &[u8] = b"0123456789";
const HEXADECIMAL: &[u8] = b"ABCDEF0123456789";

fn random_value(length: usize, kind: RandomKind, uppercase: bool, cx: &mut State<'_>, sink: &mut Sink<'_>) {
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

fn uuid(uppercase: bool, cx: &mut State<'_>, sink: &mut Sink<'_>) {
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
