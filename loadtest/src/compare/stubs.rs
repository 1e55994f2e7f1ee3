//! Equivalent stubs for every peer, each in the form its users write them: nginx locations,
//! Envoy routes with `direct_response`, WireMock mapping JSON, MockServer expectations (sent to
//! `PUT /mockserver/expectation`) and a mockplane rules file.
//!
//! Every peer answers the scenarios' requests (scenario.rs) with the same status and body. A
//! peer that cannot express a scenario says so in [`supports`], and the report shows "n/a"
//! rather than a stand-in that does something else. `filler` adds that many exact-path rules
//! (`GET /filler/N` → `{"n":N}`), after the scenario stubs.

use serde_json::{json, Value};

use super::peer::Kind;
use super::scenario::{filler_body, filler_path, Scenario, STATIC_BODY, TENANT_BODY};

/// Whether `kind` can express `scenario` with its own configuration.
pub fn supports(kind: Kind, scenario: Scenario) -> bool {
    match (kind, scenario) {
        // Envoy's `direct_response` body is a fixed string: no substitution from the request.
        (Kind::Envoy, Scenario::Template) => false,
        _ => true,
    }
}

/// nginx, one worker, no logs: exact locations, a regex location whose named capture the body
/// interpolates, and an explicit 404 for everything else (without it nginx would look for a file).
pub fn nginx_conf(port: u16, dir: &str, filler: usize) -> String {
    let mut locations = String::new();
    locations.push_str(&format!("    location = /static {{ return 200 '{STATIC_BODY}'; }}\n"));
    locations.push_str("    location ~ ^/users/(?<id>[^/]+)$ { return 200 '{\"id\":\"$id\"}'; }\n");
    locations.push_str(&format!(
        "    location ~ ^/orders/[0-9]+$ {{ if ($http_x_tenant = \"acme\") {{ return 200 '{TENANT_BODY}'; }} return 404; }}\n"
    ));
    for n in 0..filler {
        locations.push_str(&format!(
            "    location = {} {{ return 200 '{}'; }}\n",
            filler_path(n),
            filler_body(n)
        ));
    }
    format!(
        "worker_processes 1;\ndaemon off;\npid {dir}/nginx.pid;\nerror_log {dir}/error.log warn;\n\
         events {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 1000000;\n  default_type application/json;\n\
         \x20 client_body_temp_path {dir}/tmp;\n\
         \x20 server {{\n    listen 127.0.0.1:{port};\n{locations}    location / {{ return 404; }}\n  }}\n}}\n"
    )
}

/// Envoy with one listener: routes in order, each a `direct_response`; a request no route
/// matches gets Envoy's own 404.
pub fn envoy_yaml(port: u16, filler: usize) -> String {
    let json_header =
        r#"response_headers_to_add: [{ header: { key: content-type, value: application/json } }]"#;
    let route = |matcher: String, body: &str| {
        format!(
            "              - match: {matcher}\n                direct_response: {{ status: 200, body: {{ inline_string: '{body}' }} }}\n                {json_header}\n"
        )
    };
    let mut routes = String::new();
    routes.push_str(&route(r#"{ path: "/static" }"#.into(), STATIC_BODY));
    routes.push_str(&route(
        r#"{ safe_regex: { regex: "/orders/[0-9]+" }, headers: [{ name: x-tenant, string_match: { exact: acme } }] }"#.into(),
        TENANT_BODY,
    ));
    for n in 0..filler {
        routes.push_str(&route(format!(r#"{{ path: "{}" }}"#, filler_path(n)), &filler_body(n)));
    }
    format!(
        r#"static_resources:
  listeners:
  - address: {{ socket_address: {{ address: 127.0.0.1, port_value: {port} }} }}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: compare
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
{routes}          http_filters:
          - name: envoy.filters.http.router
            typed_config: {{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }}
"#
    )
}

/// WireMock mappings (one file, `{"mappings": [...]}`), templating by the `response-template`
/// transformer as WireMock 3 enables it per stub.
pub fn wiremock_mappings(filler: usize) -> Value {
    let headers = json!({ "Content-Type": "application/json" });
    let mut mappings = vec![
        json!({ "request": { "method": "GET", "urlPath": "/static" },
                "response": { "status": 200, "body": STATIC_BODY, "headers": headers } }),
        json!({ "request": { "method": "GET", "urlPathPattern": "/users/[^/]+" },
                "response": { "status": 200, "body": "{\"id\":\"{{request.pathSegments.[1]}}\"}",
                              "headers": headers, "transformers": ["response-template"] } }),
        json!({ "request": { "method": "GET", "urlPathPattern": "/orders/[0-9]+",
                             "headers": { "x-tenant": { "equalTo": "acme" } } },
                "response": { "status": 200, "body": TENANT_BODY, "headers": headers } }),
    ];
    for n in 0..filler {
        mappings.push(json!({ "request": { "method": "GET", "urlPath": filler_path(n) },
                              "response": { "status": 200, "body": filler_body(n), "headers": headers } }));
    }
    json!({ "mappings": mappings })
}

/// MockServer expectations, one array for `PUT /mockserver/expectation`. The template is a
/// Mustache response template reading the path parameter the matcher names.
pub fn mockserver_expectations(filler: usize) -> Value {
    let headers = json!({ "Content-Type": ["application/json"] });
    let template = json!({ "statusCode": 200, "headers": headers, "body": "{\"id\":\"{{ request.pathParameters.id.0 }}\"}" });
    let mut expectations = vec![
        json!({ "httpRequest": { "method": "GET", "path": "/static" },
                "httpResponse": { "statusCode": 200, "headers": headers, "body": STATIC_BODY } }),
        json!({ "httpRequest": { "method": "GET", "path": "/users/{id}", "pathParameters": { "id": ["[^/]+"] } },
                "httpResponseTemplate": { "templateType": "MUSTACHE", "template": template.to_string() } }),
        json!({ "httpRequest": { "method": "GET", "path": "/orders/[0-9]+", "headers": { "x-tenant": ["acme"] } },
                "httpResponse": { "statusCode": 200, "headers": headers, "body": TENANT_BODY } }),
    ];
    for n in 0..filler {
        expectations.push(json!({ "httpRequest": { "method": "GET", "path": filler_path(n) },
                                  "httpResponse": { "statusCode": 200, "headers": headers, "body": filler_body(n) } }));
    }
    Value::Array(expectations)
}

/// A mockplane rules file (JSON), the scenario rules first.
pub fn mockplane_rules(filler: usize) -> Value {
    let mut rules = vec![
        json!({ "id": "static", "match": { "method": "GET", "path": "/static" },
                "response": { "status": 200, "json": { "ok": true } } }),
        json!({ "id": "template", "match": { "method": "GET", "path": "/users/{id}" },
                "response": { "status": 200, "template": true,
                              "headers": { "content-type": "application/json" },
                              "body": "{\"id\":\"{{request.path.id}}\"}" } }),
        json!({ "id": "regex-header",
                "match": { "method": "GET", "path": { "regex": "/orders/[0-9]+" }, "headers": { "x-tenant": "acme" } },
                "response": { "status": 200, "json": { "tenant": "acme" } } }),
    ];
    for n in 0..filler {
        rules
            .push(json!({ "id": format!("filler-{n}"), "match": { "method": "GET", "path": filler_path(n) },
                           "response": { "status": 200, "json": { "n": n } } }));
    }
    json!({ "rules": rules })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stub_set_holds_the_scenario_stubs_and_the_filler() {
        assert_eq!(wiremock_mappings(7)["mappings"].as_array().map(Vec::len), Some(10));
        assert_eq!(mockserver_expectations(7).as_array().map(Vec::len), Some(10));
        assert_eq!(mockplane_rules(7)["rules"].as_array().map(Vec::len), Some(10));
        assert_eq!(nginx_conf(1, "/d", 7).matches("location").count(), 11);
        assert_eq!(envoy_yaml(1, 7).matches("direct_response").count(), 9);
    }
}
