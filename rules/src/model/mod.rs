//! The rule model: what users write in YAML or JSON, as plain serde types.
//!
//! Every type here denies unknown fields, so a typo (`stauts: 200`) is an error with its place
//! rather than a silently ignored key. Shapes that accept a short form (a plain string for a path
//! or a header value) say so on the type. Semantic checks (regexes compile, ranges hold, ids are
//! unique) live in [`crate::validate`], not here.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod forward;
mod request;
mod response;

pub use forward::*;
pub use request::*;
pub use response::*;

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
