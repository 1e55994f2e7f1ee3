//! The rule model: what users write in YAML or JSON, as plain serde types.
//!
//! Every type here denies unknown fields, so a typo (`stauts: 200`) is an error with its place
//! rather than a silently ignored key. Shapes that accept a short form (a plain string for a path
//! or a header value) say so on the type. Semantic checks (regexes compile, ranges hold, ids are
//! unique) live in [`crate::validate`], not here.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// A whole rules file: the rules an environment serves, with their scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// The project these rules belong to (informational in file mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// The environment these rules serve; a data plane serves exactly one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Environment variables, readable from templates as `{{env.NAME}}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Named upstreams that `forward` actions may refer to: name → a base URL (the short
    /// form) or a cluster of endpoints.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, Upstream>,
    /// What requests no rule matches get. Absent: the 404 with near misses (mock mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmatched: Option<Unmatched>,
    /// Cross-origin resource sharing for browser front ends: preflights answered without a
    /// rule, and the CORS headers added to every answer. Absent: no CORS handling at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// Scenarios that do not start in `Started`: name → its settings. A scenario not listed
    /// starts in `Started`, as in WireMock.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scenarios: BTreeMap<String, Scenario>,
    /// The rules, in the order that breaks ties between equally specific rules. Shared: a
    /// version made by editing another (`Arc::make_mut` on the rules it changes) shares the
    /// rest, so comparing and freeing versions costs only what changed.
    #[serde(default)]
    pub rules: Vec<Arc<Rule>>,
}

/// The rule set's CORS policy (docs/rules.md, "cors"). Every field is optional: `cors: {}`
/// allows any origin, method and header, as Prism and Mockoon do for local development.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// `*` (any origin), exact origins (`https://app.example.com`, `null`), or origins with a
    /// wildcard subdomain or port (`https://*.example.com`, `http://localhost:*`). Absent: `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    /// Methods a preflight allows; `*` or absent: the method the preflight asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    /// Request headers a preflight allows; `*` or absent: the headers the preflight asks for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    /// Response headers the browser lets the page read beyond the safelisted ones; `*` for all
    /// (not with credentials).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// Whether the page may send cookies and read answers to credentialed requests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_credentials: bool,
    /// How long, in seconds, the browser may cache a preflight's answer (at most 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
}

/// One mock rule: when a request matches, what to answer (or where to forward it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Unique within the rule set; the key for counters, state and explanations.
    pub id: String,
    /// A human-friendly name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Higher wins. Default 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// Disabled rules are kept but never match.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// What a request must look like. An empty match matches every request.
    #[serde(rename = "match", default)]
    pub matcher: RequestMatch,
    /// A single response. Exactly one of `response`, `sequence` and `forward` is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// Responses served in turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Sequence>,
    /// Forward the request to an upstream instead of answering.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward: Option<Forward>,
    /// Serve this rule at most this many times, then let requests fall through to the next rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<u64>,
    /// WireMock-style scenario step: match only in a given state, move to another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioStep>,
    /// Checks the selected request must pass (parameters and body against JSON Schemas); a
    /// request that fails gets a 400 or 422 problem document instead of the rule's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validate: Option<RequestValidation>,
}

/// A rule's request validation, as OpenAPI describes an operation's input (docs/rules.md,
/// "validate"). Parameters are checked first (a failure answers 400), then the body (422).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RequestValidation {
    /// Path template parameters by name (the rule's `match.path` must be a template naming them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub path: BTreeMap<String, ValueCheck>,
    /// Query parameters by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, ValueCheck>,
    /// Headers by name (case-insensitive).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, ValueCheck>,
    /// Cookies by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cookies: BTreeMap<String, ValueCheck>,
    /// The body, read as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<ValueCheck>,
}

/// What one parameter (or the body) must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ValueCheck {
    /// The request must carry it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// A JSON Schema it must satisfy when present. A parameter's text is read as the schema's
    /// `type` says (`integer`, `number`, `boolean`, an `array` of those from repeated or
    /// comma-separated values), so `?limit=10` is the number 10.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present_json")]
    pub schema: Option<serde_json::Value>,
}

/// A JSON field that is present reads as `Some`, even when it is `null`: `json: null` means
/// "the JSON value null", not "no JSON".
fn present_json<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// The predicates a request must satisfy. Every predicate present must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RequestMatch {
    /// `GET`, `[GET, HEAD]`, or `ANY` / `*`. Absent means any method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<MethodMatch>,
    /// `api.example.com` or `*.example.com` (the Host header, port ignored, case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The path, without the query string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathMatch>,
    /// Query parameters by name (case-sensitive names, percent-decoded values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, ValueMatch>,
    /// Headers by name (case-insensitive names, multi-valued).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, ValueMatch>,
    /// Cookies by name, from the `Cookie` header(s).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cookies: BTreeMap<String, ValueMatch>,
    /// The request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyMatch>,
    /// The client address must be one of these addresses or CIDR blocks (IPv4 or IPv6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<Vec<String>>,
    /// A GraphQL operation, in a POST JSON body or a GET `?query=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql: Option<GraphqlMatch>,
    /// The whole request target, path and query as sent (`/search?q=a`), exact or by regex:
    /// WireMock's `url` and `urlPattern`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<UrlMatch>,
    /// Form parameters of an `application/x-www-form-urlencoded` body, by name (case-sensitive
    /// names, percent-decoded values).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub form: BTreeMap<String, ValueMatch>,
}

/// How the whole request target (path and `?query`) is matched: exactly one field set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UrlMatch {
    /// The target equals this (`/search?q=a`: the query in the same order, not decoded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// The target matches this regex, anchored at both ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// One method, a list of methods, or any (`ANY` or `*`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum MethodMatch {
    /// A single method name, or `ANY` / `*`.
    One(String),
    /// Any of these methods.
    AnyOf(Vec<String>),
}

/// How the path is matched. A plain string is an exact path, or a template if it contains `{`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PathMatch {
    /// `/hello` (exact) or `/users/{id}` (template).
    Short(String),
    /// The explicit form, one of its fields set.
    Explicit(PathMatchSpec),
}

/// The explicit path forms: exactly one field must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PathMatchSpec {
    /// The path equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// The path starts with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Segments with named parameters: `/users/{id}`, `/files/{*rest}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// A regular expression, anchored at both ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// A matcher for a query parameter, header or cookie. A plain string means `equals`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum ValueMatch {
    /// Shorthand for `{ equals: "…" }`.
    Equals(String),
    /// The explicit form, one operator set.
    Spec(Box<ValueMatchSpec>),
}

/// The explicit value matcher: exactly one of `equals`, `contains`, `regex`, `present`, `absent`,
/// `not`, `and`, `or`, `has_exactly`, `includes` must be set. Against a multi-valued header or parameter, `equals`, `contains` and `regex`
/// hold when any value satisfies them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ValueMatchSpec {
    /// A value equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// A value contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// A value matches this regex (anchored at both ends).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// `present: true`: at least one value exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub present: Option<bool>,
    /// `absent: true`: no value exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<bool>,
    /// Holds when the inner matcher does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<ValueMatch>,
    /// Every inner matcher holds (each against all the values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<Vec<ValueMatch>>,
    /// At least one inner matcher holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or: Option<Vec<ValueMatch>>,
    /// The name occurs exactly as many times as there are matchers, and each matcher holds
    /// for one of its values (WireMock's `hasExactly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub has_exactly: Option<Vec<ValueMatch>>,
    /// The name occurs, and each matcher holds for one of its values (WireMock's `includes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Vec<ValueMatch>>,
    /// With `equals` or `contains`: compare ignoring ASCII case.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub case_insensitive: bool,
}

/// A matcher for the body (or, inside `jsonpath` and `graphql.variables`, for a JSON value).
/// Exactly one operator must be set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BodyMatch {
    /// The body equals this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// The body contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contains: Option<String>,
    /// The body matches this regex, anchored at both ends like every regex in the model
    /// (write `(?s).*needle.*` to search anywhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// The body is JSON equal to this value (see `ignore_array_order`, `ignore_extra_elements`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present_json")]
    pub json: Option<serde_json::Value>,
    /// With `json`: arrays compare as multisets.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_array_order: bool,
    /// With `json`: the body may have object members and array elements beyond those given.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_extra_elements: bool,
    /// A JSONPath (RFC 9535) that must select something in the JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonpath: Option<String>,
    /// The body is JSON valid against this JSON Schema (draft 4 to 2020-12, by its `$schema`).
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present_json")]
    pub json_schema: Option<serde_json::Value>,
    /// With `jsonpath`: one selected value must satisfy this matcher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<Box<BodyMatch>>,
    /// Every matcher holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<Vec<BodyMatch>>,
    /// At least one matcher holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub or: Option<Vec<BodyMatch>>,
    /// The matcher does not hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not: Option<Box<BodyMatch>>,
}

/// Matches a GraphQL request. All fields are optional; those present must hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct GraphqlMatch {
    /// `query`, `mutation` or `subscription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<GraphqlOperation>,
    /// The operation's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A JSON matcher applied to the `variables` object (`{}` when the request has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variables: Option<BodyMatch>,
}

/// A GraphQL operation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GraphqlOperation {
    /// `query { … }` or an anonymous `{ … }`.
    Query,
    /// `mutation { … }`.
    Mutation,
    /// `subscription { … }`.
    Subscription,
}

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

/// Forward the request to a real upstream (implemented by the data plane's proxy).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// A name from the rule set's `upstreams`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Or a base URL, `http://host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Delay added before forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Faults injected instead of forwarding.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<Fault>,
    /// The `Host` sent upstream. Absent: the client's own `Host` is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Replace this leading part of the path before forwarding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite_prefix: Option<PrefixRewrite>,
    /// Headers added to or removed from the request sent upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_headers: Option<HeaderEdits>,
    /// Headers added to or removed from the upstream's response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_headers: Option<HeaderEdits>,
    /// The share of requests in `[0, 1]` that get `delay`. Default 1 (every request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_probability: Option<f64>,
    /// Wait this long after the upstream's answer head arrives, before sending it on: the
    /// client's time to first byte grows, the upstream is not held longer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_delay: Option<Delay>,
    /// Let requests ask for faults with `x-mockplane-fault-abort: STATUS` and
    /// `x-mockplane-fault-delay-ms: MS` (at most `max_delay_ms`). Absent: those headers are
    /// ignored (and never forwarded either way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_faults: Option<HeaderFaults>,
}

/// Faults a request may ask for with headers, Envoy's fault filter style.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderFaults {
    /// The longest delay a request may ask for, ms (at most an hour).
    pub max_delay_ms: u64,
}

/// The default route: where requests no rule matches go (docs/rules.md, "unmatched").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unmatched {
    /// Forward them, as a `forward` rule would (sidecar mode).
    pub forward: Forward,
}

/// A path-prefix rewrite: a path starting with `from` has that part replaced by `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrefixRewrite {
    /// The leading part replaced; starts with `/`.
    pub from: String,
    /// What replaces it; starts with `/`.
    pub to: String,
}

/// Header edits applied to a forwarded message: removals first, then additions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct HeaderEdits {
    /// Header name → value, appended.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub add: BTreeMap<String, String>,
    /// Header names removed (case-insensitive).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
}

/// An upstream: a base URL (`http://host:port[/base]`, the short form) or a cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Upstream {
    /// `http://payments:8080`: one endpoint, every setting at its default.
    Url(String),
    /// Endpoints with load balancing, timeouts and a connection limit.
    Cluster(Box<UpstreamCluster>),
}

/// An upstream cluster: where requests go and how (docs/rules.md, "upstreams").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UpstreamCluster {
    /// `host:port` of each endpoint (at least one): an IP address is used as is, a DNS name is
    /// resolved off the request path and refreshed.
    pub endpoints: Vec<String>,
    /// How a request picks its endpoint.
    #[serde(default, skip_serializing_if = "LoadBalancing::is_default")]
    pub lb: LoadBalancing,
    /// How long a new connection may take, ms. Default 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout_ms: Option<u64>,
    /// How long the upstream may take to send its response head, ms. Default 15000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout_ms: Option<u64>,
    /// The most connections open to the cluster at once, across the data plane's cores.
    /// Default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Prepended to every forwarded path (`/api`). Default none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_path: Option<String>,
    /// Passive outlier detection: an endpoint failing this often in a row is left out for a
    /// while. Absent: every endpoint always takes its turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
    /// How many more times a request that got no answer (refused, reset, timed out) is sent,
    /// to the next endpoint; only idempotent methods, and only bodies read whole. Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
}

/// When an endpoint is left out (ejected), and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierDetection {
    /// Failures in a row (no answer, or a 5xx answer) that eject an endpoint.
    pub consecutive_failures: u32,
    /// How long an ejected endpoint is left out, ms; then it takes its turn again.
    pub ejection_ms: u64,
}

/// How a request picks an endpoint of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LoadBalancing {
    /// Each endpoint in turn.
    #[default]
    RoundRobin,
    /// The endpoint with the fewest requests in flight (of two picked at random, as Envoy does).
    LeastRequest,
}

impl LoadBalancing {
    fn is_default(&self) -> bool {
        *self == LoadBalancing::RoundRobin
    }
}

/// A scenario's settings, in the rule set's `scenarios` (docs/rules.md, "Scenarios").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The state the scenario starts in, and goes back to on a reset.
    pub initial: String,
}

/// A WireMock-style scenario step. A scenario starts in `Started`, or in the `initial` state
/// the rule set's `scenarios` gives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioStep {
    /// The scenario's name, shared by the rules that take part in it.
    pub name: String,
    /// The rule matches only while the scenario is in this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When the rule is served, the scenario moves to this state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The state every scenario starts in, as in WireMock.
pub const SCENARIO_STARTED: &str = "Started";
