//! Upstreams and `forward` settings: what compiles into the clusters the proxy uses, and every
//! mistake refused at its place (docs/rules.md, "upstreams" and "forward").

use std::time::Duration;

use mockplane_rules::model::LoadBalancing;
use mockplane_rules::{CompileOptions, RuleSet, RuleTable};

fn compile(yaml: &str) -> Result<RuleTable, Vec<String>> {
    let set =
        RuleSet::from_yaml(yaml).map_err(|e| e.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    RuleTable::compile(&set, &CompileOptions::default())
        .map_err(|e| e.errors.iter().map(|e| e.to_string()).collect())
}

#[test]
fn the_short_form_and_a_cluster_compile_to_clusters() {
    let table = compile(
        "upstreams:\n  legacy: http://legacy.internal:8080/base/\n  orders:\n    endpoints: [\"10.0.0.7:8080\", \"orders-2.internal:9090\"]\n    lb: least_request\n    connect_timeout_ms: 250\n    request_timeout_ms: 2000\n    max_connections: 200\nrules:\n  - { id: o, forward: { upstream: orders } }\n",
    )
    .unwrap();
    let legacy = &table.upstreams()["legacy"];
    assert_eq!(legacy.endpoints[0].to_string(), "legacy.internal:8080");
    assert_eq!(
        (&*legacy.base_path, legacy.lb, legacy.max_connections),
        ("/base", LoadBalancing::RoundRobin, 1024)
    );
    let orders = &table.upstreams()["orders"];
    let endpoints: Vec<String> = orders.endpoints.iter().map(ToString::to_string).collect();
    assert_eq!(endpoints, ["10.0.0.7:8080", "orders-2.internal:9090"]);
    assert_eq!(orders.lb, LoadBalancing::LeastRequest);
    assert_eq!(
        (orders.connect_timeout, orders.request_timeout, orders.max_connections),
        (Duration::from_millis(250), Duration::from_secs(2), 200)
    );
}

#[test]
fn every_mistake_in_an_upstream_or_a_forward_is_refused_at_its_place() {
    let errors = compile(
        r#"upstreams:
  bad-url: ftp://x
  orders:
    endpoints: ["10.0.0.7:8080", "orders", "x:0"]
    connect_timeout_ms: 0
    max_connections: 0
  empty: { endpoints: [] }
rules:
  - id: a
    forward: { upstream: nowhere }
  - id: b
    forward:
      upstream: orders
      rewrite_prefix: { from: api, to: /v2 }
      request_headers: { add: { "bad name": x, connection: close }, remove: ["a b"] }
  - id: c
    forward: { url: "http://h:70000" }
"#,
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            r#"upstreams.bad-url: "ftp://x" must start with http:// or https://"#,
            "upstreams.empty.endpoints: a cluster needs at least one endpoint (host:port)",
            r#"upstreams.orders.endpoints[1]: "orders" is not host:port (the port is required)"#,
            r#"upstreams.orders.endpoints[2]: "x:0" has an invalid port "0" (1..=65535)"#,
            "upstreams.orders.connect_timeout_ms: must be at least 1 ms",
            "upstreams.orders.max_connections: must be at least 1",
            r#"rules[0].forward.upstream: no upstream named "nowhere" (known: bad-url, empty, orders)"#,
            "rules[1].forward.upstream: upstreams.orders is refused (see its errors)",
            r#"rules[1].forward.rewrite_prefix.from: "api" must start with / and hold no spaces"#,
            r#"rules[1].forward.request_headers.add["bad name"]: a header name is a token (letters, digits, !#$%&'*+-.^_`|~)"#,
            "rules[1].forward.request_headers.add.connection: connection is set by the proxy itself and cannot be added",
            r#"rules[1].forward.request_headers.remove[0]: "a b" is not a header name"#,
            r#"rules[2].forward.url: "http://h:70000" has an invalid port "70000""#,
        ]
    );
}

#[test]
fn a_cluster_with_a_mistaken_field_is_refused_by_its_shape_with_the_place() {
    let errors = compile("upstreams:\n  orders: { endpoint: [\"a:1\"] }\nrules: []\n").unwrap_err();
    assert_eq!(
        errors,
        [
            "upstreams.orders.endpoint: unknown field `endpoint`, expected one of `endpoints`, `lb`, `connect_timeout_ms`, `request_timeout_ms`, `max_connections`, `base_path`, `outlier_detection`, `retries`",
            "upstreams.orders: missing field `endpoints`",
        ]
    );
}

#[test]
fn fault_settings_of_a_forward_are_checked() {
    let errors = compile(
        "upstreams: { u: \"http://u:1\" }\nunmatched:\n  forward: { upstream: u, delay_probability: 1.5, header_faults: { max_delay_ms: 99999999 } }\nrules:\n  - { id: a, forward: { upstream: u, response_delay: { fixed: 1, uniform: { min: 1, max: 2 } } } }\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "unmatched.forward.delay_probability: must be within 0..=1, got 1.5",
            "unmatched.forward.header_faults.max_delay_ms: 99999999 ms is more than an hour",
            "rules[0].forward.response_delay: set exactly one of fixed, uniform, normal, lognormal, step (found: fixed, uniform)",
        ]
    );
}

#[test]
fn outlier_detection_and_retries_are_checked() {
    let errors = compile(
        "upstreams:\n  u:\n    endpoints: [\"u:1\"]\n    outlier_detection: { consecutive_failures: 0, ejection_ms: 0 }\n    retries: 9\nrules: []\n",
    )
    .unwrap_err();
    assert_eq!(
        errors,
        [
            "upstreams.u.outlier_detection.consecutive_failures: must be at least 1",
            "upstreams.u.outlier_detection.ejection_ms: must be 1..=3600000 ms, got 0",
            "upstreams.u.retries: at most 5, got 9",
        ]
    );
}
