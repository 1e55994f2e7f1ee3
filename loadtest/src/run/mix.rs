//! The requests a run sends: one from the command line (`-m`, `-H`, `-d`) or a weighted mix
//! from a YAML or JSON file. Each is serialized into its wire bytes once, before the run; the
//! order in which they go out is a fixed smooth weighted round robin, so that over every cycle
//! of `sum(weights)` requests each is sent exactly `weight` times.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use thiserror::Error;

/// A mix file that cannot be used, with the place of what is wrong.
#[derive(Debug, Error)]
pub enum MixError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}: {place}: {message}")]
    Invalid { path: String, place: String, message: String },
}

/// A mix file: `requests:` and a list of entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MixFile {
    requests: Vec<MixEntry>,
}

/// One entry of a mix file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MixEntry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default = "default_method")]
    method: String,
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default = "default_weight")]
    weight: u32,
}

fn default_method() -> String {
    "GET".into()
}

fn default_weight() -> u32 {
    1
}

/// One request as the command line or a mix file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSpec {
    pub name: String,
    pub method: String,
    /// Path and query, starting with `/`.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub weight: u32,
}

/// A request ready to send: its bytes and whether its response has no body (HEAD).
#[derive(Debug, Clone)]
pub struct Prepared {
    pub wire: Vec<u8>,
    pub head: bool,
}

/// The requests of a run and the order in which they go out.
#[derive(Debug, Clone)]
pub struct Mix {
    pub specs: Vec<RequestSpec>,
    pub prepared: Vec<Prepared>,
    /// Indices into `prepared`, one cycle of the weighted order.
    pub order: Vec<u32>,
}

/// The largest sum of weights: the order table holds one entry per unit of weight.
pub const MAX_TOTAL_WEIGHT: u64 = 1_000_000;

/// Reads a mix file (YAML, or JSON when its name ends in `.json`).
pub fn read_mix_file(path: &Path) -> Result<Vec<RequestSpec>, MixError> {
    let shown = path.display().to_string();
    let text =
        std::fs::read_to_string(path).map_err(|source| MixError::Read { path: shown.clone(), source })?;
    let invalid = |place: String, message: String| MixError::Invalid { path: shown.clone(), place, message };
    let file: MixFile = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
        let mut de = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut de)
            .map_err(|e| invalid(place_of(e.path()), e.inner().to_string()))?
    } else {
        let de = serde_yaml_ng::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(de)
            .map_err(|e| invalid(place_of(e.path()), e.inner().to_string()))?
    };
    if file.requests.is_empty() {
        return Err(invalid("requests".into(), "the mix has no requests".into()));
    }
    let specs = file
        .requests
        .into_iter()
        .map(|e| RequestSpec {
            name: e.name.unwrap_or_else(|| format!("{} {}", e.method, e.path)),
            method: e.method,
            path: e.path,
            headers: e.headers.into_iter().collect(),
            body: e.body,
            weight: e.weight,
        })
        .collect::<Vec<_>>();
    for (i, spec) in specs.iter().enumerate() {
        validate(spec).map_err(|(field, message)| invalid(format!("requests[{i}].{field}"), message))?;
    }
    Ok(specs)
}

/// Where in the file an error is; the document itself when serde_path_to_error has no path.
fn place_of(path: &serde_path_to_error::Path) -> String {
    let p = path.to_string();
    if p == "." {
        "(top)".into()
    } else {
        p
    }
}

/// Checks one request; on error, the field at fault and what is wrong with it.
pub fn validate(spec: &RequestSpec) -> Result<(), (&'static str, String)> {
    let token = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !token(&spec.method) {
        return Err(("method", format!("{:?} is not an HTTP method", spec.method)));
    }
    if !spec.path.starts_with('/') || spec.path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err((
            "path",
            format!("{:?} must start with / and hold no spaces or control characters", spec.path),
        ));
    }
    for (name, value) in &spec.headers {
        if !token(name) {
            return Err(("headers", format!("{name:?} is not a header name")));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(("headers", format!("the value of {name:?} holds a line break")));
        }
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(("headers", format!("{name:?} is set from the body; leave it out")));
        }
    }
    if spec.weight == 0 {
        return Err(("weight", "must be at least 1".into()));
    }
    Ok(())
}

impl Mix {
    /// Serializes every request for `host` (the `host` header unless a request sets its own)
    /// and lays out the weighted order.
    pub fn prepare(specs: Vec<RequestSpec>, host: &str) -> Result<Mix, String> {
        let total: u64 = specs.iter().map(|s| u64::from(s.weight)).sum();
        if total > MAX_TOTAL_WEIGHT {
            return Err(format!("the weights add up to {total}, more than {MAX_TOTAL_WEIGHT}"));
        }
        let prepared =
            specs.iter().map(|s| Prepared { wire: serialize(s, host), head: s.method == "HEAD" }).collect();
        let order = weighted_order(&specs.iter().map(|s| s.weight).collect::<Vec<_>>());
        Ok(Mix { specs, prepared, order })
    }
}

fn serialize(spec: &RequestSpec, host: &str) -> Vec<u8> {
    let mut out = format!("{} {} HTTP/1.1\r\n", spec.method, spec.path);
    if !spec.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        out.push_str(&format!("host: {host}\r\n"));
    }
    for (name, value) in &spec.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = spec.body.as_deref().unwrap_or("");
    // A body, or a method whose requests carry one, says how long it is.
    if !body.is_empty() || matches!(spec.method.as_str(), "POST" | "PUT" | "PATCH") {
        out.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    out.push_str(body);
    out.into_bytes()
}

/// Smooth weighted round robin (nginx's): each request is spread evenly through the cycle
/// rather than sent in a run of `weight`.
fn weighted_order(weights: &[u32]) -> Vec<u32> {
    let total: i64 = weights.iter().map(|w| i64::from(*w)).sum();
    let mut current = vec![0i64; weights.len()];
    let mut order = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            current[i] += i64::from(*w);
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        order.push(u32::try_from(best).expect("fewer than 2^32 requests"));
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: &str, path: &str, weight: u32) -> RequestSpec {
        RequestSpec {
            name: path.into(),
            method: method.into(),
            path: path.into(),
            headers: vec![],
            body: None,
            weight,
        }
    }

    #[test]
    fn the_order_sends_each_request_as_often_as_its_weight_and_spreads_it() {
        let order = weighted_order(&[5, 1, 1]);
        assert_eq!(order.len(), 7);
        assert_eq!(order.iter().filter(|i| **i == 0).count(), 5);
        assert_eq!(order, vec![0, 0, 1, 0, 2, 0, 0]);
    }

    #[test]
    fn a_request_is_serialized_with_host_headers_and_length() {
        let mut s = spec("POST", "/a?b=1", 1);
        s.headers = vec![("x-k".into(), "v".into())];
        s.body = Some("{}".into());
        let mix = Mix::prepare(vec![s, spec("HEAD", "/h", 1)], "127.0.0.1:80").unwrap();
        assert_eq!(
            String::from_utf8(mix.prepared[0].wire.clone()).unwrap(),
            "POST /a?b=1 HTTP/1.1\r\nhost: 127.0.0.1:80\r\nx-k: v\r\ncontent-length: 2\r\n\r\n{}"
        );
        assert!(mix.prepared[1].head);
    }

    #[test]
    fn a_bad_mix_file_is_refused_with_the_place_at_fault() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            ("a.yaml", "requests:\n  - path: /a\n  - path: b\n", "requests[1].path"),
            ("b.yaml", "requests:\n  - path: /a\n    weight: 0\n", "requests[0].weight"),
            ("c.yaml", "requests:\n  - path: /a\n    wieght: 2\n", "requests[0]"),
            ("d.json", r#"{"requests": [{"path": "/a", "weight": "x"}]}"#, "requests[0].weight"),
            ("e.yaml", "requests: []\n", "requests"),
            (
                "f.yaml",
                "requests:\n  - path: /a\n    headers: { content-length: '3' }\n",
                "requests[0].headers",
            ),
        ];
        for (name, text, place) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            let err = read_mix_file(&path).expect_err(name).to_string();
            assert!(err.contains(&format!(": {place}")), "{name}: {err}");
        }
    }
}
