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
            "upstreams.orders.endpoint: unknown field `endpoint`, expected one of `endpoints`, `lb`, `connect_timeout_ms`, `request_timeout_ms`, `max_connections`, `base_path`, `outlier_detection`, `retries`, `tls`",
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

#[test]
fn tls_settings_read_the_ca_file_or_inline_pem_and_every_mistake_is_refused_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    // Compiling checks the PEM framing and its base64, not the certificate inside (the data
    // plane's TLS client does, when it is built): a truncated one will do here.
    let pem = "-----BEGIN CERTIFICATE-----\nMIIBeDCCAR2gAwIBAgIUJ7uxk2pnIQTMwyrxvoeoGP6Wc2EwCgYIKoZIzj0EAwIw\nETEPMA0GA1UEAwwGdGVzdGNhMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAw\nMFowETEPMA0GA1UEAwwGdGVzdGNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END CERTIFICATE-----\n";
    std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
    std::fs::write(dir.path().join("not-pem.txt"), "just text\n").unwrap();
    let options = CompileOptions { base_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let compile_in = |yaml: &str| {
        let set = RuleSet::from_yaml(yaml).unwrap();
        RuleTable::compile(&set, &options)
            .map_err(|e| e.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>())
    };
    let table = compile_in(
        "upstreams:\n  secure:\n    endpoints: [\"10.0.0.7:8443\"]\n    tls: { ca_file: ca.pem, server_name: api.internal }\n  web: https://api.example.com\n  plain: http://api.example.com\nrules: []\n",
    )
    .unwrap();
    let secure = table.upstreams()["secure"].tls.as_ref().expect("TLS");
    assert_eq!(
        secure.ca_certs.as_ref().map(Vec::len),
        Some(1),
        "the one certificate, read relative to the rules"
    );
    assert_eq!(secure.server_name.as_deref(), Some("api.internal"));
    let web = table.upstreams()["web"].tls.as_ref().expect("an https URL speaks TLS");
    assert_eq!(
        (web.ca_certs.is_none(), web.server_name.is_none()),
        (true, true),
        "the web roots and the host"
    );
    assert!(table.upstreams()["plain"].tls.is_none());

    // The same PEM written in the rules.
    let inline = format!(
        "upstreams:\n  secure:\n    endpoints: [\"10.0.0.7:8443\"]\n    tls:\n      ca_pem: |\n{}rules: []\n",
        pem.lines().map(|l| format!("        {l}\n")).collect::<String>()
    );
    let table = compile_in(&inline).unwrap();
    let inline_certs =
        table.upstreams()["secure"].tls.as_ref().and_then(|t| t.ca_certs.as_ref()).map(Vec::len);
    assert_eq!(inline_certs, Some(1));

    let errors = compile_in(
        r#"upstreams:
  both: { endpoints: ["a:1"], tls: { ca_file: ca.pem, ca_pem: "-----BEGIN CERTIFICATE-----" } }
  inline: { endpoints: ["a:1"], tls: { ca_pem: "no pem here" } }
  missing: { endpoints: ["a:1"], tls: { ca_file: nowhere.pem } }
  text: { endpoints: ["a:1"], tls: { ca_file: not-pem.txt } }
  name: { endpoints: ["a:1"], tls: { server_name: "not a name" } }
rules: []
"#,
    )
    .unwrap_err();
    let missing = dir.path().join("nowhere.pem");
    let text = dir.path().join("not-pem.txt");
    assert_eq!(
        errors,
        [
            "upstreams.both.tls: set at most one of ca_file and ca_pem".to_owned(),
            "upstreams.inline.tls.ca_pem: ca_pem holds no PEM certificate (BEGIN CERTIFICATE)".to_owned(),
            format!(
                "upstreams.missing.tls.ca_file: cannot read {}: No such file or directory (os error 2)",
                missing.display()
            ),
            r#"upstreams.name.tls.server_name: "not a name" is not a DNS name or an IP address"#.to_owned(),
            format!(
                "upstreams.text.tls.ca_file: {} holds no PEM certificate (BEGIN CERTIFICATE)",
                text.display()
            ),
        ]
    );
}
