//! Compiled responses: pre-serialized bytes for static ones, parsed templates for the rest, and
//! the delay and fault each carries.
//!
//! A static response is serialized once, at compile time, into one buffer (status line, headers,
//! `content-length`, blank line, body): serving it is a single write of borrowed bytes. A
//! templated response keeps its static head prefix serialized and renders only what varies.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use rand::{Rng, RngCore};
use rand_distr::{Distribution, LogNormal, Normal};

use crate::error::{Errors, Place};
use crate::model::{ChunkedDribble, Delay, Fault, FaultKind, Response, Templating};
use crate::template::{Dialect, RenderContext, Template};

mod path_params;
pub(crate) use path_params::PathScope;

/// The longest delay a rule may ask for: one hour. Anything longer is a typo.
pub(crate) const MAX_DELAY_MS: u64 = 3_600_000;
/// The largest body a `file` reference may bring in.
pub(crate) const MAX_FILE_BODY: u64 = 64 << 20;

/// A response serialized at compile time.
#[derive(Debug, Clone)]
pub struct StaticResponse {
    bytes: Box<[u8]>,
    head_len: usize,
    status: u16,
}

impl StaticResponse {
    fn new(status: u16, head: &[u8], body: &[u8]) -> Self {
        let mut bytes = Vec::with_capacity(head.len() + 2 + body.len());
        bytes.extend_from_slice(head);
        bytes.extend_from_slice(b"\r\n");
        bytes.extend_from_slice(body);
        StaticResponse { bytes: bytes.into_boxed_slice(), head_len: head.len(), status }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The status line and header lines, each ending in CRLF, without the blank line, so the
    /// server can append its own headers (`date`, `connection`).
    pub fn head(&self) -> &[u8] {
        &self.bytes[..self.head_len]
    }

    /// The blank line and the body: what follows the head on the wire.
    pub fn tail(&self) -> &[u8] {
        &self.bytes[self.head_len..]
    }

    /// The body alone.
    pub fn body(&self) -> &[u8] {
        &self.bytes[self.head_len + 2..]
    }

    /// The whole response, ready to write.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// Per-worker buffers a templated response is rendered into. Reused across requests, so
/// rendering allocates only while the buffers grow to their working size.
#[derive(Debug, Default)]
pub struct RenderBuffers {
    /// Status line and header lines (CRLF-terminated), without the blank line.
    pub head: Vec<u8>,
    /// The body.
    pub body: Vec<u8>,
}

#[derive(Debug, Clone)]
enum Body {
    Bytes(Box<[u8]>),
    Template(Template),
}

/// A response ready to serve.
#[derive(Debug, Clone)]
pub(crate) struct CompiledResponse {
    pub(crate) status: u16,
    /// Set when nothing varies per request.
    pub(crate) fixed: Option<StaticResponse>,
    /// Status line and static headers, serialized; templated ones follow.
    head_prefix: Box<[u8]>,
    templated_headers: Vec<(Box<str>, Template)>,
    body: Body,
    pub(crate) delay: Option<DelaySampler>,
    pub(crate) faults: Vec<CompiledFault>,
    pub(crate) uses_counter: bool,
    pub(crate) dribble: Option<Dribble>,
}

/// How a body is dribbled (`chunked_dribble`), checked: at least one chunk, at most an hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dribble {
    /// The number of chunks the body is cut into (fewer when the body has fewer bytes).
    pub chunks: u32,
    /// The time from the head to the last chunk.
    pub total: Duration,
}

impl Dribble {
    fn compile(spec: &ChunkedDribble, path: &Place<'_>, errors: &mut Errors) -> Option<Self> {
        let before = errors.len();
        if spec.chunks == 0 {
            errors.push(format!("{path}.chunks"), "must be at least 1");
        }
        if spec.total_ms > MAX_DELAY_MS {
            errors.push(format!("{path}.total_ms"), format!("at most {MAX_DELAY_MS} ms (one hour)"));
        }
        (errors.len() == before)
            .then(|| Dribble { chunks: spec.chunks, total: Duration::from_millis(spec.total_ms) })
    }
}

/// What the compiler needs from the rule set to compile a response.
pub(crate) struct ResponseEnv<'a> {
    pub(crate) variables: &'a BTreeMap<String, String>,
    pub(crate) base_dir: Option<&'a Path>,
    /// What the rule's path captures, for `{{request.path.NAME}}`.
    pub(crate) path: PathScope<'a>,
}

impl CompiledResponse {
    pub(crate) fn compile(
        spec: &Response,
        path: &Place<'_>,
        env: &ResponseEnv<'_>,
        errors: &mut Errors,
    ) -> Option<Self> {
        let before = errors.len();
        if !(100..=599).contains(&spec.status) {
            errors.push(format!("{path}.status"), format!("must be 100..=599, got {}", spec.status));
        }
        let body_bytes = body_bytes(spec, path, env, errors);
        let mut head_prefix = Vec::new();
        match &spec.reason {
            None => write_status_line(&mut head_prefix, spec.status),
            Some(reason) => {
                // RFC 9112: tabs, spaces, visible characters and obs-text; a CR or LF would
                // end the status line early.
                let ok = reason.len() <= 256
                    && reason.bytes().all(|b| b == b'\t' || b == b' ' || b >= 0x21 && b != 0x7f);
                if !ok {
                    errors.push(
                        format!("{path}.reason"),
                        "a reason phrase is at most 256 bytes of visible characters, spaces and tabs",
                    );
                }
                let _ = write!(head_prefix, "HTTP/1.1 {} {reason}\r\n", spec.status);
            }
        }
        let mut templated_headers = Vec::new();
        let mut uses_counter = false;
        let mut has_content_type = false;
        let headers_place = path.field("headers");
        for (name, values) in &spec.headers {
            let place = headers_place.key(name);
            if !is_token(name) {
                errors.push(place, "not a valid header name");
                continue;
            }
            let lower = name.to_ascii_lowercase();
            if lower == "content-length" || lower == "transfer-encoding" {
                errors.push(place, "is set by mockplane from the body; remove it");
                continue;
            }
            has_content_type |= lower == "content-type";
            for (i, value) in values.as_slice().iter().enumerate() {
                let indexed = place.index(i);
                let vplace = if values.as_slice().len() > 1 { &indexed } else { &place };
                if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
                    errors.push(vplace, "a header value must not contain CR, LF or NUL");
                    continue;
                }
                if spec.template.is_on() {
                    match parse_template(value, spec.template, vplace, env, errors) {
                        Some(t) => match t.as_literal() {
                            Some(text) => push_header(&mut head_prefix, name, text),
                            None => {
                                uses_counter |= t.uses_counter();
                                templated_headers.push((name.as_str().into(), t));
                            }
                        },
                        None => continue,
                    }
                } else {
                    push_header(&mut head_prefix, name, value);
                }
            }
        }
        if spec.json.is_some() && !has_content_type {
            push_header(&mut head_prefix, "content-type", "application/json");
        }
        // WireMock templates text bodies and files only: its binary `base64Body` is sent as is.
        let templated_body =
            spec.template.is_on() && !(spec.template == Templating::WireMock && spec.base64.is_some());
        let body = match body_bytes {
            Some(bytes) if templated_body => {
                let text = match String::from_utf8(bytes) {
                    Ok(text) => text,
                    Err(_) => {
                        errors.push(format!("{path}.template"), "a templated body must be UTF-8 text");
                        String::new()
                    }
                };
                match parse_template(&text, spec.template, &path.field("body"), env, errors) {
                    Some(t) if t.as_literal().is_some() => Body::Bytes(text.into_bytes().into()),
                    Some(t) => {
                        uses_counter |= t.uses_counter();
                        Body::Template(t)
                    }
                    None => Body::Bytes(Box::new([])),
                }
            }
            Some(bytes) => Body::Bytes(bytes.into()),
            None => Body::Bytes(Box::new([])),
        };
        let delay = spec.delay.as_ref().and_then(|d| DelaySampler::compile(d, &path.field("delay"), errors));
        let dribble = spec
            .chunked_dribble
            .as_ref()
            .and_then(|d| Dribble::compile(d, &path.field("chunked_dribble"), errors));
        let faults = if spec.faults.is_empty() {
            Vec::new()
        } else {
            compile_faults(&spec.faults, &path.field("faults"), errors)
        };
        if errors.len() > before {
            return None;
        }
        let (fixed, body, head_prefix) = match (body, templated_headers.is_empty()) {
            (Body::Bytes(bytes), true) => {
                // Served whole from `fixed`: the parts are not kept twice.
                let mut head = head_prefix;
                push_content_length(&mut head, bytes.len());
                (
                    Some(StaticResponse::new(spec.status, &head, &bytes)),
                    Body::Bytes(Box::new([])),
                    Box::default(),
                )
            }
            (body, _) => (None, body, head_prefix.into_boxed_slice()),
        };
        Some(CompiledResponse {
            status: spec.status,
            fixed,
            head_prefix,
            templated_headers,
            body,
            delay,
            faults,
            uses_counter,
            dribble,
        })
    }

    /// Renders a templated response into `out`. Static responses are served from `fixed`.
    pub(crate) fn render(&self, cx: &mut RenderContext<'_, '_>, out: &mut RenderBuffers) {
        out.head.clear();
        out.body.clear();
        match &self.body {
            Body::Bytes(bytes) => out.body.extend_from_slice(bytes),
            Body::Template(t) => t.render(cx, &mut out.body),
        }
        out.head.extend_from_slice(&self.head_prefix);
        for (name, value) in &self.templated_headers {
            out.head.extend_from_slice(name.as_bytes());
            out.head.extend_from_slice(b": ");
            let start = out.head.len();
            value.render(cx, &mut out.head);
            // A rendered value may carry request data: never let it break the header framing.
            for b in &mut out.head[start..] {
                if *b == b'\r' || *b == b'\n' || *b == 0 {
                    *b = b' ';
                }
            }
            out.head.extend_from_slice(b"\r\n");
        }
        push_content_length(&mut out.head, out.body.len());
    }
}

fn parse_template(
    src: &str,
    templating: Templating,
    place: &Place<'_>,
    env: &ResponseEnv<'_>,
    errors: &mut Errors,
) -> Option<Template> {
    let dialect = match templating {
        Templating::WireMock => Dialect::WireMock,
        Templating::Handlebars | Templating::Off => Dialect::Handlebars,
    };
    match Template::parse_as(src, dialect) {
        Ok(t) => {
            let missing: Vec<String> =
                t.env_names().filter(|n| !env.variables.contains_key(*n)).map(str::to_owned).collect();
            let params_ok = path_params::check(&t, env.path, place, errors);
            if missing.is_empty() && params_ok {
                Some(t)
            } else {
                for name in missing {
                    errors.push(
                        place,
                        format!("template uses env.{name}, which is not among the rule set's variables"),
                    );
                }
                None
            }
        }
        Err(e) => {
            errors.push(place, format!("template error at {e}"));
            None
        }
    }
}

fn body_bytes(
    spec: &Response,
    path: &Place<'_>,
    env: &ResponseEnv<'_>,
    errors: &mut Errors,
) -> Option<Vec<u8>> {
    let set: Vec<&str> = [
        ("body", spec.body.is_some()),
        ("json", spec.json.is_some()),
        ("base64", spec.base64.is_some()),
        ("file", spec.file.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    if set.len() > 1 {
        errors.push(path, format!("set at most one of body, json, base64, file (found: {})", set.join(", ")));
        return None;
    }
    if let Some(text) = &spec.body {
        return Some(text.clone().into_bytes());
    }
    if let Some(json) = &spec.json {
        return Some(serde_json::to_vec(json).expect("a JSON value serializes"));
    }
    if let Some(b64) = &spec.base64 {
        return match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                errors.push(format!("{path}.base64"), format!("invalid base64: {e}"));
                None
            }
        };
    }
    if let Some(file) = &spec.file {
        let full = match env.base_dir {
            Some(dir) => dir.join(file),
            None => Path::new(file).to_path_buf(),
        };
        let read = std::fs::metadata(&full).and_then(|m| {
            // A device or a FIFO has no length to check (`/dev/zero` reads forever, a FIFO
            // blocks the compile): only a regular file is a body.
            if !m.is_file() {
                Err(std::io::Error::other("not a regular file"))
            } else if m.len() > MAX_FILE_BODY {
                Err(std::io::Error::other(format!("larger than {} MiB", MAX_FILE_BODY >> 20)))
            } else {
                std::fs::read(&full)
            }
        });
        return match read {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                errors.push(format!("{path}.file"), format!("cannot read {}: {e}", full.display()));
                None
            }
        };
    }
    None
}

fn write_status_line(out: &mut Vec<u8>, status: u16) {
    let _ = write!(out, "HTTP/1.1 {status} {}\r\n", reason_phrase(status));
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn push_content_length(out: &mut Vec<u8>, len: usize) {
    let _ = write!(out, "content-length: {len}\r\n");
}

/// Whether `s` is an HTTP token (RFC 9110), as header names and methods must be.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The standard reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

/// A delay distribution, ready to sample.
#[derive(Debug, Clone)]
pub(crate) enum DelaySampler {
    Fixed(Duration),
    Uniform { min_ms: u64, max_ms: u64 },
    Normal(Normal<f64>),
    LogNormal(LogNormal<f64>),
    Step { base_ms: u64, step_ms: u64, max_ms: u64 },
}

impl DelaySampler {
    pub(crate) fn compile(spec: &Delay, path: &Place<'_>, errors: &mut Errors) -> Option<Self> {
        let one = errors.exactly_one(
            path,
            &[
                ("fixed", spec.fixed.is_some()),
                ("uniform", spec.uniform.is_some()),
                ("normal", spec.normal.is_some()),
                ("lognormal", spec.lognormal.is_some()),
                ("step", spec.step.is_some()),
            ],
        );
        if !one {
            return None;
        }
        let mut bad = |field: &str, msg: String| {
            errors.push(format!("{path}.{field}"), msg);
            None
        };
        let in_range = |ms: f64| ms.is_finite() && (0.0..=MAX_DELAY_MS as f64).contains(&ms);
        if let Some(ms) = spec.fixed {
            if ms > MAX_DELAY_MS {
                return bad("fixed", format!("must be at most {MAX_DELAY_MS} ms (one hour), got {ms}"));
            }
            return Some(DelaySampler::Fixed(Duration::from_millis(ms)));
        }
        if let Some(u) = &spec.uniform {
            if u.min > u.max || u.max > MAX_DELAY_MS {
                return bad(
                    "uniform",
                    format!("needs min <= max <= {MAX_DELAY_MS} ms, got min {} max {}", u.min, u.max),
                );
            }
            return Some(DelaySampler::Uniform { min_ms: u.min, max_ms: u.max });
        }
        if let Some(n) = &spec.normal {
            if !in_range(n.mean) || !in_range(n.stddev) {
                return bad(
                    "normal",
                    format!(
                        "needs 0 <= mean, stddev <= {MAX_DELAY_MS} ms, got mean {} stddev {}",
                        n.mean, n.stddev
                    ),
                );
            }
            let normal = Normal::new(n.mean, n.stddev).expect("parameters checked above");
            return Some(DelaySampler::Normal(normal));
        }
        if let Some(l) = &spec.lognormal {
            if !(l.median > 0.0
                && in_range(l.median)
                && l.sigma.is_finite()
                && (0.0..=10.0).contains(&l.sigma))
            {
                return bad(
                    "lognormal",
                    format!(
                        "needs 0 < median <= {MAX_DELAY_MS} ms and 0 <= sigma <= 10, got median {} sigma {}",
                        l.median, l.sigma
                    ),
                );
            }
            let dist = LogNormal::new(l.median.ln(), l.sigma).expect("parameters checked above");
            return Some(DelaySampler::LogNormal(dist));
        }
        let s = spec.step.as_ref().expect("exactly one form is set");
        if s.base > s.max || s.max > MAX_DELAY_MS {
            return bad(
                "step",
                format!("needs base <= max <= {MAX_DELAY_MS} ms, got base {} max {}", s.base, s.max),
            );
        }
        Some(DelaySampler::Step { base_ms: s.base, step_ms: s.step, max_ms: s.max })
    }

    /// A delay for the `hit`-th serving of the rule (1-based).
    pub(crate) fn sample(&self, hit: u64, rng: &mut dyn RngCore) -> Duration {
        let ms = |v: f64| Duration::from_micros((v.clamp(0.0, MAX_DELAY_MS as f64) * 1000.0) as u64);
        match self {
            DelaySampler::Fixed(d) => *d,
            DelaySampler::Uniform { min_ms, max_ms } => {
                Duration::from_millis(rng.random_range(*min_ms..=*max_ms))
            }
            DelaySampler::Normal(n) => ms(n.sample(rng)),
            DelaySampler::LogNormal(l) => ms(l.sample(rng)),
            DelaySampler::Step { base_ms, step_ms, max_ms } => {
                let n = hit.saturating_sub(1);
                Duration::from_millis(base_ms.saturating_add(n.saturating_mul(*step_ms)).min(*max_ms))
            }
        }
    }

    /// Whether sampling needs the rule's hit number.
    pub(crate) fn uses_hits(&self) -> bool {
        matches!(self, DelaySampler::Step { .. })
    }
}

/// A fault and the upper end of its slice of `[0, 1)`: one roll picks at most one fault.
#[derive(Debug, Clone)]
pub(crate) struct CompiledFault {
    pub(crate) kind: FaultKind,
    pub(crate) upto: f64,
    /// For `abort`: the response it answers with.
    pub(crate) abort: Option<StaticResponse>,
}

pub(crate) fn compile_faults(faults: &[Fault], path: &Place<'_>, errors: &mut Errors) -> Vec<CompiledFault> {
    let mut out = Vec::with_capacity(faults.len());
    let mut total = 0.0;
    for (i, f) in faults.iter().enumerate() {
        let place = path.index(i);
        if !(f.probability.is_finite() && (0.0..=1.0).contains(&f.probability)) {
            errors
                .push(format!("{place}.probability"), format!("must be within 0..=1, got {}", f.probability));
            continue;
        }
        let abort = match (f.kind, f.status) {
            (FaultKind::Abort, Some(status)) if (100..=599).contains(&status) => {
                let mut head = Vec::new();
                write_status_line(&mut head, status);
                push_content_length(&mut head, 0);
                Some(StaticResponse::new(status, &head, b""))
            }
            (FaultKind::Abort, Some(status)) => {
                errors.push(format!("{place}.status"), format!("must be 100..=599, got {status}"));
                continue;
            }
            (FaultKind::Abort, None) => {
                errors.push(place, "an abort fault needs a status, e.g. status: 503");
                continue;
            }
            (_, Some(_)) => {
                errors.push(format!("{place}.status"), "only an abort fault takes a status");
                continue;
            }
            (_, None) => None,
        };
        total += f.probability;
        out.push(CompiledFault { kind: f.kind, upto: total, abort });
    }
    if total > 1.0 + 1e-9 {
        errors.push(path, format!("the probabilities add up to {total}, more than 1"));
    }
    out
}

/// Rolls once and picks the fault that fires, if any.
pub(crate) fn roll_fault<'f>(
    faults: &'f [CompiledFault],
    rng: &mut dyn RngCore,
) -> Option<&'f CompiledFault> {
    if faults.is_empty() {
        return None;
    }
    let roll: f64 = rng.random();
    faults.iter().find(|f| roll < f.upto)
}
