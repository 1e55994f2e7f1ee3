//! Forwarding to real upstreams: the forward action, upstream clusters and their policies.

use serde::{Deserialize, Serialize};

use super::*;

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
    /// Speak TLS to the endpoints (https). Absent: plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<UpstreamTls>,
}

/// How the data plane's TLS client checks an upstream (docs/rules.md, "upstreams"). `tls: {}`
/// trusts the built-in web roots and expects the endpoint's host name in the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTls {
    /// A PEM file of the certificate authorities to trust instead of the built-in web roots
    /// (Mozilla's); relative to the rules file, read when the rules are compiled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// The same, written in the rules (PEM text): it travels with them over xDS, so data planes
    /// need no file of their own. At most one of `ca_file` and `ca_pem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
    /// The name the certificate must hold, also sent as SNI. Default: the endpoint's host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
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
