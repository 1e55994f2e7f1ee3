//! The control plane's plain HTTP endpoints, and GraphiQL served from the binary, against a
//! real server on a loopback port.

mod api_util;
mod util;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use api_util::{call, start, start_with};
use mockplane_controlplane::api::ApiLimits;
use mockplane_proto::report::report_service_client::ReportServiceClient;
use mockplane_proto::report::Report;
use mockplane_rules::{Format, RuleSet};

async fn get(url: &str) -> (u16, String, String) {
    let response = reqwest::get(url).await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn health_is_liveness_and_readiness_follows_the_check() {
    let ready = Arc::new(AtomicBool::new(false));
    let flag = ready.clone();
    let check =
        Arc::new(
            move || {
                if flag.load(Ordering::SeqCst) {
                    Ok(())
                } else {
                    Err("the store is not open".to_owned())
                }
            },
        );
    let s = start_with(ApiLimits::default(), Some(check)).await;
    assert_eq!(get(&format!("{}/healthz", s.url)).await.0, 200);
    let (status, _, body) = get(&format!("{}/readyz", s.url)).await;
    assert_eq!((status, body.as_str()), (503, "not ready: the store is not open\n"));
    ready.store(true, Ordering::SeqCst);
    let (status, _, body) = get(&format!("{}/readyz", s.url)).await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
}

/// The value of the sample `name` (with its labels) on a metrics page.
fn sample(page: &str, name: &str) -> Option<u64> {
    page.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_show_environments_nodes_and_graphql_outcomes() {
    let s = start().await;
    let rules = RuleSet::parse("rules:\n  - { id: a, match: { path: /a }, response: { body: x } }\n  - { id: b, match: { path: /b }, response: { body: y } }\n", Format::Yaml).unwrap();
    s.control.cache.set(util::ENV, rules.clone(), None).unwrap();
    s.control.cache.set(util::ENV, rules, None).unwrap();
    // A data plane on the same control plane's xDS port: it ACKs the version, then reports.
    let xds = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let xds_url = format!("http://{}", xds.local_addr().unwrap());
    let control = s.control.clone();
    tokio::spawn(async move { control.serve(xds, std::future::pending()).await });
    let mut stream = util::Stream::open(&xds_url, "dp-1", "").await;
    let push = stream.next().await;
    stream.ack(&push).await;
    util::until(&s.control, "dp-1", |n| n.acked_version.as_ref() == Some(&push.version_info)).await;
    let report = Report { node: Some(util::node("dp-1")), misses: 3, ..Default::default() };
    let mut reports = ReportServiceClient::connect(xds_url).await.unwrap();
    reports.stream_reports(tokio_stream::iter([report])).await.unwrap();
    call(&s, Some("viewer-key"), "{ counter }").await;
    call(&s, Some("viewer-key"), "{ counter }").await;
    call(&s, None, "{ counter }").await;
    call(&s, Some("viewer-key"), "mutation { bump }").await;

    let (status, content_type, page) = get(&format!("{}/metrics", s.url)).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    let expect = [
        ("mockplane_cp_environments", 1),
        ("mockplane_cp_environment_version{environment=\"shop/staging\"}", 2),
        ("mockplane_cp_environment_rules{environment=\"shop/staging\"}", 2),
        ("mockplane_cp_environment_nodes_current{environment=\"shop/staging\"}", 1),
        ("mockplane_cp_environment_misses_total{environment=\"shop/staging\"}", 3),
        ("mockplane_cp_nodes{state=\"connected\"}", 1),
        ("mockplane_cp_nodes{state=\"disconnected\"}", 0),
        ("mockplane_cp_acks_total", 1),
        ("mockplane_cp_nacks_total", 0),
        ("mockplane_cp_reports_total", 1),
        ("mockplane_cp_graphql_requests_total{outcome=\"ok\"}", 2),
        ("mockplane_cp_graphql_requests_total{outcome=\"unauthenticated\"}", 1),
        ("mockplane_cp_graphql_requests_total{outcome=\"forbidden\"}", 1),
        ("mockplane_cp_graphql_ws_open", 0),
    ];
    for (name, value) in expect {
        assert_eq!(sample(&page, name), Some(value), "{name} in\n{page}");
    }
    // Every sample follows its family's HELP and TYPE lines.
    let mut family = "";
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            family = rest.split(' ').next().unwrap();
        } else if !line.starts_with('#') {
            assert!(line.starts_with(family), "{line} outside its family {family}");
        }
    }
}

#[tokio::test]
async fn graphiql_and_every_asset_it_loads_are_served_from_the_binary() {
    let s = start().await;
    let response = reqwest::get(format!("{}/graphql", s.url)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.starts_with("default-src 'self'") && csp.contains("connect-src 'self'"), "{csp}");
    let page = response.text().await.unwrap();
    assert!(
        !page.contains("http:") && !page.contains("https:") && !page.contains("//"),
        "an external URL in\n{page}"
    );

    // Every src= and href= of the page, each served with its type.
    let mut loaded = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in page.split(attr).skip(1) {
            loaded.push(part.split('"').next().unwrap().to_owned());
        }
    }
    assert_eq!(loaded.len(), 5, "{loaded:?}");
    for path in &loaded {
        assert!(path.starts_with("/graphql/assets/"), "{path}");
        let (status, content_type, body) = get(&format!("{}{path}", s.url)).await;
        assert_eq!(status, 200, "{path}");
        let expected =
            if path.ends_with(".css") { "text/css; charset=utf-8" } else { "text/javascript; charset=utf-8" };
        assert_eq!(content_type, expected, "{path}");
        assert!(body.len() > 100, "{path}");
    }
    let (_, _, graphiql) = get(&format!("{}/graphql/assets/graphiql.min.js", s.url)).await;
    assert!(graphiql.contains("graphql-transport-ws"), "GraphiQL's bundle carries the graphql-ws client");
    let (_, _, script) = get(&format!("{}/graphql/assets/mockplane-graphiql.js", s.url)).await;
    assert!(script.contains("subscriptionUrl") && script.contains("/graphql/ws"), "{script}");
    for licence in ["LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom", "LICENSE.graphql-ws"] {
        let (status, content_type, body) = get(&format!("{}/graphql/assets/{licence}", s.url)).await;
        assert_eq!((status, content_type.as_str()), (200, "text/plain; charset=utf-8"), "{licence}");
        assert!(body.contains("MIT License") || body.contains("Permission is hereby granted"), "{licence}");
    }
    assert_eq!(get(&format!("{}/graphql/assets/secret.js", s.url)).await.0, 404);
}
