//! Upstreams and the `forward` action, compiled: what the data plane's proxy needs to send a
//! request on and its answer back, checked once here so the proxy never parses a setting per
//! request.
//!
//! An upstream is a [`Cluster`]: endpoints (an IP address used as is, or a DNS name the data
//! plane resolves off the request path), load balancing, timeouts and a connection limit. The
//! short form (`payments: http://payments:8080`) is a cluster of one endpoint with every
//! setting at its default. A rule naming an upstream shares the set's `Arc<Cluster>`, so a
//! request in flight keeps the cluster it started with across a swap of the table.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;

use crate::compile::Action;
use crate::error::{key_path, Errors, Place};
use crate::model::{HeaderEdits, LoadBalancing, Upstream, UpstreamTls};
use crate::response::roll_fault;
use crate::response::{compile_faults, is_token, CompiledFault, DelaySampler};
use crate::table::{fault_reply, Answer, Reply, RuleTable};

/// How long a new upstream connection may take, by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long an upstream may take to send its response head, by default (Envoy's route timeout).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The most connections open to one cluster at once, by default (Envoy's circuit breaker).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1024;

/// An upstream cluster, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// The name in `upstreams`, or the URL of a rule's `forward.url`.
    pub name: Box<str>,
    /// Where requests go, in the order given.
    pub endpoints: Vec<Endpoint>,
    /// How a request picks its endpoint.
    pub lb: LoadBalancing,
    /// How long a new connection may take.
    pub connect_timeout: Duration,
    /// How long the upstream may take to send its response head.
    pub request_timeout: Duration,
    /// The most connections open to the cluster at once, across the data plane.
    pub max_connections: u32,
    /// Prepended to every forwarded path; empty, or `/…` without a trailing `/`.
    pub base_path: Box<str>,
    /// `(failures in a row, ejection time)`: passive outlier detection, when set.
    pub outlier: Option<(u32, Duration)>,
    /// How many more times a request that got no answer is sent (idempotent methods only).
    pub retries: u32,
    /// TLS to the endpoints (an `https://` URL, or the cluster's `tls`); `None`: plain HTTP.
    pub tls: Option<Arc<ClusterTls>>,
}

/// How the data plane's TLS client connects to a cluster, compiled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClusterTls {
    /// The certificate authorities to trust (DER), read from `ca_file`; `None`: the built-in
    /// web roots.
    pub ca_certs: Option<Vec<Box<[u8]>>>,
    /// The name the certificate must hold, sent as SNI; `None`: each endpoint's host.
    pub server_name: Option<Box<str>>,
}

/// The largest `ca_file` read (a bundle of every public root is ~250 KiB).
const MAX_CA_FILE: u64 = 4 << 20;

/// One endpoint: a host (IP literal or DNS name, IPv6 without brackets) and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// An IP address or a DNS name.
    pub host: Box<str>,
    /// The TCP port.
    pub port: u16,
}

impl Endpoint {
    /// The IP address, when the host is one (no resolution needed).
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.host.parse().ok()
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Header edits, compiled: names lowercased, removals first, then additions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompiledHeaderEdits {
    /// Lowercased names removed.
    pub remove: Vec<Box<str>>,
    /// `name: value\r\n` lines appended, prepared once.
    pub add: Box<[u8]>,
}

impl CompiledHeaderEdits {
    /// Whether `name` (any case) is one of the removed names.
    pub fn removes(&self, name: &str) -> bool {
        self.remove.iter().any(|r| r.eq_ignore_ascii_case(name))
    }
}

/// Where a `forward` rule sends traffic, and how the request and answer are edited.
#[derive(Debug, Clone)]
pub struct ForwardTarget {
    /// The upstream's name, when the rule named one.
    pub upstream: Option<String>,
    /// The base URL requests go to, as written (the short form or `forward.url`), or the
    /// cluster's name.
    pub url: String,
    /// The cluster, shared by every rule naming it.
    pub cluster: Arc<Cluster>,
    /// The `Host` sent upstream; `None` keeps the client's.
    pub host: Option<Box<str>>,
    /// `(from, to)`: a path starting with `from` has it replaced by `to`.
    pub rewrite_prefix: Option<(Box<str>, Box<str>)>,
    /// Edits to the request sent upstream.
    pub request_headers: CompiledHeaderEdits,
    /// Edits to the answer sent back.
    pub response_headers: CompiledHeaderEdits,
    pub(crate) delay: Option<DelaySampler>,
    /// The share of requests that get `delay`.
    pub(crate) delay_probability: f64,
    pub(crate) response_delay: Option<DelaySampler>,
    /// `Some(max delay)` when requests may ask for faults by header.
    pub header_faults: Option<Duration>,
    pub(crate) faults: Vec<CompiledFault>,
}

impl ForwardTarget {
    /// How long to hold the upstream's answer head before sending it on, if at all.
    pub fn response_delay(&self, rng: &mut dyn rand::RngCore) -> Option<Duration> {
        self.response_delay.as_ref().map(|d| d.sample(0, rng))
    }
}

/// Compiles the set's `upstreams`, each error at its place (`upstreams.orders.endpoints[1]`).
pub(crate) fn compile_upstreams(
    upstreams: &BTreeMap<String, Upstream>,
    base_dir: Option<&Path>,
    errors: &mut Errors,
) -> BTreeMap<String, Arc<Cluster>> {
    let mut out = BTreeMap::new();
    for (name, upstream) in upstreams {
        let place = key_path("upstreams", name);
        let place = Place::Root(&place);
        if let Some(cluster) = compile_upstream(name, upstream, &place, base_dir, errors) {
            out.insert(name.clone(), Arc::new(cluster));
        }
    }
    out
}

fn compile_upstream(
    name: &str,
    upstream: &Upstream,
    place: &Place<'_>,
    base_dir: Option<&Path>,
    errors: &mut Errors,
) -> Option<Cluster> {
    match upstream {
        Upstream::Url(url) => match parse_url(url) {
            Ok(cluster) => Some(Cluster { name: name.into(), ..cluster }),
            Err(e) => {
                errors.push(place, e);
                None
            }
        },
        Upstream::Cluster(c) => {
            let before = errors.len();
            let at = place.field("endpoints");
            if c.endpoints.is_empty() {
                errors.push(at, "a cluster needs at least one endpoint (host:port)");
            }
            let endpoints: Vec<Endpoint> = c
                .endpoints
                .iter()
                .enumerate()
                .filter_map(|(i, e)| match parse_host_port(e) {
                    Ok(endpoint) => Some(endpoint),
                    Err(message) => {
                        errors.push(at.index(i), message);
                        None
                    }
                })
                .collect();
            let millis = |v: Option<u64>, field: &str, default: Duration, errors: &mut Errors| match v {
                None => default,
                Some(0) => {
                    errors.push(place.field(field), "must be at least 1 ms");
                    default
                }
                Some(ms) if ms > 3_600_000 => {
                    errors.push(place.field(field), format!("{ms} ms is more than an hour"));
                    default
                }
                Some(ms) => Duration::from_millis(ms),
            };
            let connect_timeout =
                millis(c.connect_timeout_ms, "connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT, errors);
            let request_timeout =
                millis(c.request_timeout_ms, "request_timeout_ms", DEFAULT_REQUEST_TIMEOUT, errors);
            let max_connections = match c.max_connections {
                Some(0) => {
                    errors.push(place.field("max_connections"), "must be at least 1");
                    1
                }
                Some(n) => n,
                None => DEFAULT_MAX_CONNECTIONS,
            };
            let base_path = match &c.base_path {
                None => "".into(),
                Some(p) => match check_base_path(p) {
                    Ok(p) => p,
                    Err(e) => {
                        errors.push(place.field("base_path"), e);
                        "".into()
                    }
                },
            };
            let outlier = c.outlier_detection.as_ref().map(|o| {
                let at = place.field("outlier_detection");
                if o.consecutive_failures == 0 {
                    errors.push(at.field("consecutive_failures"), "must be at least 1");
                }
                if o.ejection_ms == 0 || o.ejection_ms > 3_600_000 {
                    errors.push(
                        at.field("ejection_ms"),
                        format!("must be 1..=3600000 ms, got {}", o.ejection_ms),
                    );
                }
                (o.consecutive_failures, Duration::from_millis(o.ejection_ms))
            });
            let retries = match c.retries {
                Some(n) if n > 5 => {
                    errors.push(place.field("retries"), format!("at most 5, got {n}"));
                    0
                }
                n => n.unwrap_or(0),
            };
            let tls = c.tls.as_ref().map(|t| Arc::new(compile_tls(t, &place.field("tls"), base_dir, errors)));
            (errors.len() == before).then(|| Cluster {
                name: name.into(),
                endpoints,
                lb: c.lb,
                connect_timeout,
                request_timeout,
                max_connections,
                base_path,
                outlier,
                retries,
                tls,
            })
        }
    }
}

/// A cluster's `tls`: its `ca_file` read and its certificates decoded now, so that a bad file
/// is an error with its place rather than a failed handshake later.
fn compile_tls(
    t: &UpstreamTls,
    place: &Place<'_>,
    base_dir: Option<&Path>,
    errors: &mut Errors,
) -> ClusterTls {
    use rustls_pki_types::pem::PemObject;
    // The PEM text, what to call it in an error, and where it was written.
    let pem: Option<(Vec<u8>, String, Place<'_>)> = match (&t.ca_file, &t.ca_pem) {
        (Some(_), Some(_)) => {
            errors.push(place, "set at most one of ca_file and ca_pem");
            None
        }
        (None, Some(pem)) => Some((pem.clone().into_bytes(), "ca_pem".to_owned(), place.field("ca_pem"))),
        (Some(file), None) => {
            let at = place.field("ca_file");
            let full = match base_dir {
                Some(dir) => dir.join(file),
                None => Path::new(file).to_path_buf(),
            };
            let read = std::fs::metadata(&full).and_then(|m| {
                if !m.is_file() {
                    Err(std::io::Error::other("not a regular file"))
                } else if m.len() > MAX_CA_FILE {
                    Err(std::io::Error::other(format!("larger than {} MiB", MAX_CA_FILE >> 20)))
                } else {
                    std::fs::read(&full)
                }
            });
            match read {
                Ok(pem) => Some((pem, full.display().to_string(), at)),
                Err(e) => {
                    errors.push(at, format!("cannot read {}: {e}", full.display()));
                    None
                }
            }
        }
        (None, None) => None,
    };
    let ca_certs = pem.and_then(|(pem, what, at)| {
        let certs: Result<Vec<Box<[u8]>>, _> = rustls_pki_types::CertificateDer::pem_slice_iter(&pem)
            .map(|c| c.map(|c| c.as_ref().into()))
            .collect();
        match certs {
            Ok(certs) if !certs.is_empty() => Some(certs),
            Ok(_) => {
                errors.push(at, format!("{what} holds no PEM certificate (BEGIN CERTIFICATE)"));
                None
            }
            Err(e) => {
                errors.push(at, format!("{what} is not valid PEM: {e}"));
                None
            }
        }
    });
    let server_name =
        t.server_name.as_ref().and_then(|name| match rustls_pki_types::ServerName::try_from(name.as_str()) {
            Ok(_) => Some(name.as_str().into()),
            Err(_) => {
                errors
                    .push(place.field("server_name"), format!("{name:?} is not a DNS name or an IP address"));
                None
            }
        });
    ClusterTls { ca_certs, server_name }
}

/// `host:port`, `[v6]:port`: a port is required (a cluster has no scheme to default it from).
fn parse_host_port(s: &str) -> Result<Endpoint, String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, port) = rest.split_once("]:").ok_or_else(|| format!("{s:?} is not [ipv6]:port"))?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{s:?}: {host:?} is not an IPv6 address"));
        }
        (host, port)
    } else {
        s.rsplit_once(':').ok_or_else(|| format!("{s:?} is not host:port (the port is required)"))?
    };
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ => return Err(format!("{s:?} has an invalid port {port:?} (1..=65535)")),
    };
    if !valid_host(host) {
        return Err(format!("{s:?} has no valid host (an IP address or a DNS name)"));
    }
    Ok(Endpoint { host: host.into(), port })
}

/// An IP address, or a DNS name of letters, digits, `-`, `_` and dots.
fn valid_host(host: &str) -> bool {
    host.parse::<std::net::IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            }))
}

fn check_base_path(p: &str) -> Result<Box<str>, String> {
    if !p.starts_with('/') || p.bytes().any(|b| b <= b' ' || b == b'?' || b == b'#' || b >= 0x7f) {
        return Err(format!("{p:?} must start with / and hold no spaces, ? or #"));
    }
    Ok(p.trim_end_matches('/').into())
}

/// A base URL, `http(s)://host[:port][/base/path]`, as a one-endpoint cluster.
pub(crate) fn parse_url(url: &str) -> Result<Cluster, String> {
    let (rest, tls) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (rest, false),
        (_, Some(rest)) => (rest, true),
        _ => return Err(format!("{url:?} must start with http:// or https://")),
    };
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let default_port = if tls { 443 } else { 80 };
    let endpoint = if authority.ends_with(']') || !authority.contains(':') {
        let host = authority.trim_start_matches('[').trim_end_matches(']');
        if !valid_host(host) {
            return Err(format!("{url:?} has no valid host"));
        }
        Endpoint { host: host.into(), port: default_port }
    } else {
        parse_host_port(authority).map_err(|_| {
            let port = authority.rsplit_once(':').map_or("", |(_, p)| p);
            match authority.rsplit_once(':') {
                Some((h, _)) if valid_host(h.trim_start_matches('[').trim_end_matches(']')) => {
                    format!("{url:?} has an invalid port {port:?}")
                }
                _ => format!("{url:?} has no valid host"),
            }
        })?
    };
    let base_path = match path {
        "" | "/" => "".into(),
        p => check_base_path(p).map_err(|e| format!("{url:?}: the base path {e}"))?,
    };
    Ok(Cluster {
        name: url.into(),
        endpoints: vec![endpoint],
        lb: LoadBalancing::RoundRobin,
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        request_timeout: DEFAULT_REQUEST_TIMEOUT,
        max_connections: DEFAULT_MAX_CONNECTIONS,
        base_path,
        outlier: None,
        retries: 0,
        tls: tls.then(Arc::default),
    })
}

pub(crate) fn compile_forward(
    f: &crate::model::Forward,
    path: &Place<'_>,
    upstreams: &BTreeMap<String, Arc<Cluster>>,
    known: &BTreeMap<String, Upstream>,
    errors: &mut Errors,
) -> Option<ForwardTarget> {
    let before = errors.len();
    let target = match (&f.upstream, &f.url) {
        (Some(name), None) => match (upstreams.get(name), known.get(name)) {
            (Some(cluster), Some(u)) => {
                let url = match u {
                    Upstream::Url(url) => url.clone(),
                    Upstream::Cluster(_) => name.clone(),
                };
                Some((url, cluster.clone()))
            }
            // Declared but refused: its own errors say why.
            (None, Some(_)) => {
                let declared = key_path("upstreams", name);
                errors.push(path.field("upstream"), format!("{declared} is refused (see its errors)"));
                None
            }
            _ => {
                let names: Vec<&str> = known.keys().map(String::as_str).collect();
                errors.push(
                    path.field("upstream"),
                    format!(
                        "no upstream named {name:?} (known: {})",
                        if names.is_empty() { "none".into() } else { names.join(", ") }
                    ),
                );
                None
            }
        },
        (None, Some(url)) => match parse_url(url) {
            Ok(cluster) => Some((url.clone(), Arc::new(cluster))),
            Err(e) => {
                errors.push(path.field("url"), e);
                None
            }
        },
        _ => {
            errors.push(path, "set exactly one of upstream, url");
            None
        }
    };
    let host = f.host.as_ref().map(|h| {
        if h.is_empty() || h.bytes().any(|b| b <= b' ' || b == 0x7f || b == b'/' || b == b'@') {
            errors.push(path.field("host"), format!("{h:?} is not a valid Host (host or host:port)"));
        }
        Box::<str>::from(h.as_str())
    });
    let rewrite_prefix = f.rewrite_prefix.as_ref().map(|r| {
        for (field, p) in [("from", &r.from), ("to", &r.to)] {
            if !p.starts_with('/') || p.bytes().any(|b| b <= b' ' || b >= 0x7f) {
                let place = path.field("rewrite_prefix");
                errors.push(place.field(field), format!("{p:?} must start with / and hold no spaces"));
            }
        }
        (Box::<str>::from(r.from.as_str()), Box::<str>::from(r.to.as_str()))
    });
    let request_headers = compile_edits(f.request_headers.as_ref(), &path.field("request_headers"), errors);
    let response_headers =
        compile_edits(f.response_headers.as_ref(), &path.field("response_headers"), errors);
    let delay = f.delay.as_ref().and_then(|d| DelaySampler::compile(d, &path.field("delay"), errors));
    let delay_probability = match f.delay_probability {
        None => 1.0,
        Some(p) if p.is_finite() && (0.0..=1.0).contains(&p) => p,
        Some(p) => {
            errors.push(path.field("delay_probability"), format!("must be within 0..=1, got {p}"));
            1.0
        }
    };
    let response_delay = f
        .response_delay
        .as_ref()
        .and_then(|d| DelaySampler::compile(d, &path.field("response_delay"), errors));
    let header_faults = f.header_faults.as_ref().map(|h| {
        if h.max_delay_ms > 3_600_000 {
            let place = path.field("header_faults");
            errors.push(place.field("max_delay_ms"), format!("{} ms is more than an hour", h.max_delay_ms));
        }
        Duration::from_millis(h.max_delay_ms)
    });
    let faults = if f.faults.is_empty() {
        Vec::new()
    } else {
        compile_faults(&f.faults, &path.field("faults"), errors)
    };
    let (url, cluster) = target?;
    (errors.len() == before).then(|| ForwardTarget {
        upstream: f.upstream.clone(),
        url,
        cluster,
        host,
        rewrite_prefix,
        request_headers,
        response_headers,
        delay,
        delay_probability,
        response_delay,
        header_faults,
        faults,
    })
}

/// Header names the proxy owns (RFC 9110 §7.6.1 hop-by-hop fields, and the framing it
/// rewrites): a rule may not add them.
const PROXY_OWNED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
];

fn compile_edits(edits: Option<&HeaderEdits>, path: &Place<'_>, errors: &mut Errors) -> CompiledHeaderEdits {
    let Some(edits) = edits else { return CompiledHeaderEdits::default() };
    let mut add = Vec::new();
    let at = path.field("add");
    for (name, value) in &edits.add {
        let place = at.key(name);
        if !is_token(name) {
            errors.push(place, "a header name is a token (letters, digits, !#$%&'*+-.^_`|~)");
        } else if PROXY_OWNED.contains(&name.to_ascii_lowercase().as_str()) {
            errors.push(place, format!("{name} is set by the proxy itself and cannot be added"));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            errors.push(place, "a header value holds no CR, LF or NUL");
        }
        add.extend_from_slice(name.to_ascii_lowercase().as_bytes());
        add.extend_from_slice(b": ");
        add.extend_from_slice(value.as_bytes());
        add.extend_from_slice(b"\r\n");
    }
    let at = path.field("remove");
    let remove = edits
        .remove
        .iter()
        .enumerate()
        .map(|(i, name)| {
            if !is_token(name) {
                errors.push(at.index(i), format!("{name:?} is not a header name"));
            }
            name.to_ascii_lowercase().into_boxed_str()
        })
        .collect();
    CompiledHeaderEdits { remove, add: add.into_boxed_slice() }
}

/// The table's forwarding side: the targets the data plane's proxy acts on, and what it must
/// know before it reads a request's body.
impl RuleTable {
    /// The forward target of the rule at `index`, when it forwards.
    pub fn forward_target(&self, index: usize) -> Option<&ForwardTarget> {
        match &self.rules.get(index)?.action {
            Action::Forward(f) => Some(f),
            _ => None,
        }
    }

    /// Where requests no rule matches are forwarded; `None` in mock mode (they get a 404).
    pub fn unmatched(&self) -> Option<&ForwardTarget> {
        self.unmatched.as_ref()
    }

    /// Whether some enabled rule matches on request bodies: a body must then be read before
    /// selection; otherwise selection needs only the head.
    pub fn reads_bodies(&self) -> bool {
        self.reads_bodies
    }

    /// Whether any request may be forwarded (a `forward` rule, or an unmatched route).
    pub fn forwards(&self) -> bool {
        self.forwards
    }

    /// The clusters of `forward.url` rules and of the unmatched route, which are not in
    /// [`Self::upstreams`] when given as a URL.
    pub fn forward_clusters(&self) -> impl Iterator<Item = &Arc<Cluster>> {
        self.rules
            .iter()
            .filter_map(|r| match &r.action {
                Action::Forward(f) if f.upstream.is_none() => Some(&f.cluster),
                _ => None,
            })
            .chain(self.unmatched.as_ref().filter(|f| f.upstream.is_none()).map(|f| &f.cluster))
    }

    /// The answer for a request no rule matched, when the set forwards those (`unmatched`):
    /// the route's delay and faults rolled as for a `forward` rule.
    pub fn answer_unmatched(&self, rng: &mut dyn RngCore) -> Option<Answer<'_>> {
        let f = self.unmatched.as_ref()?;
        let delay = forward_delay(f, 0, rng);
        let (reply, fault) = match roll_fault(&f.faults, rng) {
            Some(fault) => (fault_reply(fault), Some(fault.kind)),
            None => (Reply::Forward(f), None),
        };
        Some(Answer { rule_id: "", rule_index: usize::MAX, delay, reply, fault, dribble: None })
    }
}

/// A forward's delay, for the share of requests `delay_probability` says.
pub(crate) fn forward_delay(f: &ForwardTarget, hit: u64, rng: &mut dyn RngCore) -> Option<Duration> {
    let d = f.delay.as_ref()?;
    if f.delay_probability < 1.0 && rand::Rng::random::<f64>(rng) >= f.delay_probability {
        return None;
    }
    Some(d.sample(hit, rng))
}

/// Whether `name` is a hop-by-hop field (RFC 9110 §7.6.1) or one whose framing a proxy sets
/// itself: never copied from one side of a forwarded exchange to the other, nor into a rule
/// recorded from one.
pub fn is_hop_by_hop(name: &str) -> bool {
    const NAMES: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
    ];
    NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_one_endpoint_clusters() {
        let c = parse_url("http://payments:8080/api/").unwrap();
        assert_eq!(
            (&*c.endpoints[0].host, c.endpoints[0].port, &*c.base_path, c.tls.is_some()),
            ("payments", 8080, "/api", false)
        );
        let c = parse_url("https://api.example.com").unwrap();
        assert_eq!((c.endpoints[0].port, c.tls.as_deref()), (443, Some(&ClusterTls::default())));
        let c = parse_url("http://[::1]:9000").unwrap();
        assert_eq!((&*c.endpoints[0].host, c.endpoints[0].to_string()), ("::1", "[::1]:9000".into()));
        assert_eq!(parse_url("ftp://x").unwrap_err(), "\"ftp://x\" must start with http:// or https://");
        assert_eq!(parse_url("http://").unwrap_err(), "\"http://\" has no valid host");
        assert_eq!(
            parse_url("http://host:99999").unwrap_err(),
            "\"http://host:99999\" has an invalid port \"99999\""
        );
    }

    #[test]
    fn endpoints_need_a_host_and_a_port() {
        assert_eq!(parse_host_port("10.0.0.1:80").unwrap().ip(), Some([10, 0, 0, 1].into()));
        assert!(parse_host_port("orders.internal:8080").unwrap().ip().is_none());
        assert!(parse_host_port("[::1]:80").is_ok());
        for bad in ["orders", "orders:", "orders:0", ":80", "a b:80", "[::x]:80", "http://x:80"] {
            assert!(parse_host_port(bad).is_err(), "{bad}");
        }
    }
}
