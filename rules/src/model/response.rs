//! What a rule answers: status, headers, body, templating, delays, faults and sequences.

use serde::{Deserialize, Serialize};

use super::*;

/// What to answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// HTTP status, 100..=599. Default 200.
    #[serde(default = "ok")]
    pub status: u16,
    /// The reason phrase sent after the status (`HTTP/1.1 200 Fine`, WireMock's
    /// `statusMessage`); absent: the standard one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Header name → one value or a list of values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, HeaderValues>,
    /// Body as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Body as JSON (serialized compactly; sets `Content-Type: application/json` unless given).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present_json")]
    pub json: Option<serde_json::Value>,
    /// Body as base64-encoded bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base64: Option<String>,
    /// Body read from this file when the rules are compiled (relative to the rules file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Treat the body and header values as templates (`{{request.path}}`): `true`, or
    /// `wiremock` for WireMock's rendering (see [`Templating`]).
    #[serde(default, skip_serializing_if = "Templating::is_off")]
    pub template: Templating,
    /// Wait before answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Faults, each with its probability; at most one fires per request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
    /// Send the body in pieces spread over time, after `delay` (WireMock's
    /// `chunkedDribbleDelay`): a slow network or a streaming upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunked_dribble: Option<ChunkedDribble>,
}

/// The body sent as `chunks` chunks (chunked encoding), one every `total_ms / chunks` ms, so
/// the last arrives `total_ms` after the head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkedDribble {
    /// How many chunks, at least 1 (a body shorter than this is sent a byte a chunk).
    pub chunks: u32,
    /// Over how many ms, at most an hour.
    pub total_ms: u64,
}

fn ok() -> u16 {
    200
}

impl Default for Response {
    fn default() -> Self {
        Response {
            status: 200,
            reason: None,
            headers: BTreeMap::new(),
            body: None,
            json: None,
            base64: None,
            file: None,
            template: Templating::Off,
            delay: None,
            faults: Vec::new(),
            chunked_dribble: None,
        }
    }
}

/// Whether a response is a template, and how `{{ }}` renders: `false`, `true` or `wiremock`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Templating {
    /// Not a template (`template: false`, the default): `{{` is plain text.
    #[default]
    Off,
    /// A template, rendered as Handlebars does (`template: true`): `{{x}}` HTML-escapes.
    Handlebars,
    /// A template rendered as WireMock does (`template: wiremock`, what the WireMock importer
    /// writes): `{{x}}` does not escape, and `jsonPath` prints an object as Jackson's pretty
    /// JSON. Everything else is the same as `true`.
    WireMock,
}

impl Templating {
    /// Whether the body and header values are templates at all.
    pub fn is_on(self) -> bool {
        self != Templating::Off
    }

    fn is_off(&self) -> bool {
        *self == Templating::Off
    }
}

impl From<bool> for Templating {
    fn from(on: bool) -> Self {
        if on {
            Templating::Handlebars
        } else {
            Templating::Off
        }
    }
}

impl Serialize for Templating {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Templating::Off => s.serialize_bool(false),
            Templating::Handlebars => s.serialize_bool(true),
            Templating::WireMock => s.serialize_str("wiremock"),
        }
    }
}

/// One header value or several (sent as repeated header lines).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum HeaderValues {
    /// `Content-Type: text/plain`.
    One(String),
    /// `Set-Cookie: [a=1, b=2]`.
    Many(Vec<String>),
}

impl HeaderValues {
    /// The values, in order.
    pub fn as_slice(&self) -> &[String] {
        match self {
            HeaderValues::One(v) => std::slice::from_ref(v),
            HeaderValues::Many(v) => v,
        }
    }
}

/// A delay distribution, in milliseconds. Exactly one field must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Delay {
    /// Always this many ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<u64>,
    /// Uniform in `[min, max]` ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uniform: Option<UniformDelay>,
    /// Normal with `mean` and `stddev` ms, clamped at 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normal: Option<NormalDelay>,
    /// Log-normal with `median` ms and shape `sigma`: a long tail, like real services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lognormal: Option<LognormalDelay>,
    /// `base + n * step` ms, n the number of earlier hits of the rule, up to `max`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepDelay>,
}

/// Uniform delay bounds in ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UniformDelay {
    /// Lower bound, ms.
    pub min: u64,
    /// Upper bound, ms.
    pub max: u64,
}

/// Normal delay parameters in ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalDelay {
    /// Mean, ms.
    pub mean: f64,
    /// Standard deviation, ms.
    pub stddev: f64,
}

/// Log-normal delay parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LognormalDelay {
    /// Median, ms.
    pub median: f64,
    /// Shape (standard deviation of the underlying normal).
    pub sigma: f64,
}

/// Step delay parameters in ms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDelay {
    /// Delay of the first hit, ms.
    pub base: u64,
    /// Added per earlier hit, ms.
    pub step: u64,
    /// Upper limit, ms.
    pub max: u64,
}

/// A fault injected instead of (or into) the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// What goes wrong.
    #[serde(rename = "type")]
    pub kind: FaultKind,
    /// Chance in `[0, 1]` that this fault fires on a request. Default 1.
    #[serde(default = "one")]
    pub probability: f64,
    /// For `abort`: the status to answer with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

fn one() -> f64 {
    1.0
}

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with `status` and an empty body instead of the response.
    Abort,
    /// Reset the connection (RST) without answering.
    ConnectionReset,
    /// Close the connection without answering.
    EmptyResponse,
    /// Send a chunked response whose chunk framing is broken.
    MalformedChunk,
    /// Send random bytes, then close.
    RandomData,
}

/// Responses served in turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sequence {
    /// What happens after the last response.
    #[serde(default)]
    pub mode: SequenceMode,
    /// The responses, in order; at least one.
    pub responses: Vec<Response>,
}

/// What a sequence does once every response has been served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SequenceMode {
    /// Keep serving the last response.
    #[default]
    StayOnLast,
    /// Start again from the first.
    Cycle,
}
