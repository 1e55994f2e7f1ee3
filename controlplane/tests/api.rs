//! The GraphQL API over HTTP, against a real server on a loopback port: who may call what,
//! the error shape, the limits, and the plain endpoints.

mod api_util;

use api_util::{call, code, start, start_with};
use mockplane_controlplane::api::ApiLimits;

#[tokio::test]
async fn each_key_is_seen_with_its_name_and_role() {
    let s = start().await;
    for (key, name, role) in [("admin-key", "admin-bot", "ADMIN"), ("viewer-key", "viewer-bot", "VIEWER")] {
        let (status, body) = call(&s, Some(key), "{ whoami { keyName role } }").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["whoami"], serde_json::json!({ "keyName": name, "role": role }));
    }
}

#[tokio::test]
async fn a_call_without_a_valid_key_is_refused_and_changes_nothing() {
    let s = start().await;
    let client = reqwest::Client::new();
    let bump = serde_json::json!({ "query": "mutation { bump }" }).to_string();
    for authorization in [None, Some("editor-key"), Some("Basic ZWRpdG9yOmtleQ=="), Some("Bearer nope")] {
        let mut request = client.post(format!("{}/graphql", s.url)).body(bump.clone());
        if let Some(a) = authorization {
            request = request.header("authorization", a);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{authorization:?}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(code(&body), "UNAUTHENTICATED", "{body}");
        assert!(body["data"].is_null(), "{body}");
    }
    let (_, body) = call(&s, None, "{ whoami { keyName } }").await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");
    let (_, body) = call(&s, Some("nope"), "{ whoami { keyName } }").await;
    assert_eq!(body["errors"][0]["message"], "the API key is not valid (unknown or revoked)");
    assert_eq!(s.counter(), 0, "a refused mutation ran");
}

#[tokio::test]
async fn a_viewer_may_query_but_not_change() {
    let s = start().await;
    let (status, body) = call(&s, Some("viewer-key"), "{ counter }").await;
    assert_eq!((status, &body["data"]["counter"]), (200, &serde_json::json!(0)), "{body}");
    let (status, body) = call(&s, Some("viewer-key"), "mutation { bump }").await;
    assert_eq!((status, code(&body)), (403, "FORBIDDEN"), "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "`TestMutation.bump` needs the editor role; the API key \"viewer-bot\" has viewer"
    );
    assert_eq!(s.counter(), 0);
    let (status, body) = call(&s, Some("editor-key"), "mutation { bump }").await;
    assert_eq!((status, &body["data"]["bump"]), (200, &serde_json::json!(1)), "{body}");
}

#[tokio::test]
async fn a_mutation_mixing_allowed_and_forbidden_fields_runs_none_of_them() {
    let s = start().await;
    let mixed = r#"mutation { bump createApiKey(name: "ci") }"#;
    let (status, body) = call(&s, Some("editor-key"), mixed).await;
    assert_eq!((status, code(&body)), (403, "FORBIDDEN"), "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("`TestMutation.createApiKey` needs the admin role"));
    assert_eq!(s.counter(), 0, "bump ran before the forbidden field");
    // Hidden in a fragment, it is found all the same.
    let hidden = r#"mutation { bump ...K } fragment K on TestMutation { createApiKey(name: "ci") }"#;
    let (status, _) = call(&s, Some("editor-key"), hidden).await;
    assert_eq!((status, s.counter()), (403, 0));
    let (status, body) = call(&s, Some("admin-key"), mixed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], serde_json::json!({ "bump": 1, "createApiKey": "key for ci" }));
}

#[tokio::test]
async fn an_admin_only_query_field_is_refused_to_an_editor() {
    let s = start().await;
    let (status, body) = call(&s, Some("editor-key"), "{ counter auditLog }").await;
    assert_eq!((status, code(&body)), (403, "FORBIDDEN"), "{body}");
    let (status, body) = call(&s, Some("admin-key"), "{ auditLog }").await;
    assert_eq!((status, &body["data"]["auditLog"][0]), (200, &serde_json::json!("created")));
}

#[tokio::test]
async fn an_invalid_rule_set_is_refused_with_every_error_and_its_place() {
    let s = start().await;
    let yaml = "rules:\\n  - id: a\\n    match: { path: /a, method: FETCH }\\n  - id: a\\n    match: { path: /b }\\n";
    let (status, body) = call(&s, Some("viewer-key"), &format!("{{ checkRules(yaml: \"{yaml}\") }}")).await;
    assert_eq!((status, code(&body)), (200, "INVALID_INPUT"), "{body}");
    let errors = body["errors"][0]["extensions"]["errors"].as_array().unwrap();
    assert!(errors.len() >= 2, "{body}");
    let places: Vec<&str> = errors.iter().map(|e| e["place"].as_str().unwrap()).collect();
    assert!(places.iter().all(|p| p.starts_with("yaml.rules[")), "{places:?}");
    assert!(errors.iter().all(|e| !e["message"].as_str().unwrap().is_empty()));
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with(&format!("the input was refused, {} errors:", errors.len())), "{message}");
}

#[tokio::test]
async fn every_error_carries_a_code() {
    let s = start().await;
    let cases = [
        ("{ find(name: \"shop\") }", 200, "NOT_FOUND"),
        ("{ counter", 400, "GRAPHQL_PARSE_FAILED"),
        ("{ counterz }", 400, "GRAPHQL_VALIDATION_FAILED"),
        ("{ nested(depth: 1) { level } }", 400, "GRAPHQL_VALIDATION_FAILED"),
    ];
    for (query, status, expected) in cases {
        let (got, body) = call(&s, Some("viewer-key"), query).await;
        assert_eq!((got, code(&body)), (status, expected), "{query}: {body}");
    }
    let response = reqwest::Client::new()
        .post(format!("{}/graphql", s.url))
        .header("authorization", "Bearer viewer-key")
        .body("query=%7B%20counter%20%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(code(&body), "BAD_REQUEST");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("must be a GraphQL request in JSON"));
}

fn nested(depth: usize) -> String {
    format!("{{ {}level{} }}", "nested { ".to_owned() + &"next { ".repeat(depth - 2), " }".repeat(depth - 1))
}

#[tokio::test]
async fn a_too_deep_or_too_complex_query_is_refused_before_it_runs() {
    let limits = ApiLimits { max_depth: 6, max_complexity: 20, ..ApiLimits::default() };
    let s = start_with(limits, None).await;
    let (status, body) = call(&s, Some("viewer-key"), &nested(6)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = call(&s, Some("viewer-key"), &nested(7)).await;
    assert_eq!((status, code(&body)), (400, "QUERY_TOO_DEEP"), "{body}");
    assert_eq!(body["errors"][0]["message"], "the query nests fields 7 levels deep; this API allows 6");
    // Far deeper than the parser's own bound: the same code, naming the limit.
    let (status, body) = call(&s, Some("viewer-key"), &nested(60)).await;
    assert_eq!((status, code(&body)), (400, "QUERY_TOO_DEEP"), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("allows 6"), "{body}");

    let wide = format!("{{ {} }}", (0..21).map(|i| format!("c{i}: counter")).collect::<Vec<_>>().join(" "));
    let (status, body) = call(&s, Some("viewer-key"), &wide).await;
    assert_eq!((status, code(&body)), (400, "QUERY_TOO_COMPLEX"), "{body}");
    assert_eq!(
        body["errors"][0]["message"],
        "the query's complexity is 21; this API allows 20 (each field counts 1, lists by their size)"
    );
    let (status, _) = call(&s, Some("editor-key"), "mutation { a: bump b: bump }").await;
    assert_eq!((status, s.counter()), (200, 2));
    let many =
        format!("mutation {{ {} }}", (0..21).map(|i| format!("b{i}: bump")).collect::<Vec<_>>().join(" "));
    let (status, _) = call(&s, Some("editor-key"), &many).await;
    assert_eq!((status, s.counter()), (400, 2), "a refused mutation ran");
}

#[tokio::test]
async fn graphiqls_introspection_query_passes_the_default_limits() {
    let s = start().await;
    let (status, body) = call(&s, Some("viewer-key"), INTROSPECTION).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(body["data"]["__schema"]["queryType"]["name"], "TestQuery");
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_before_it_is_read_whole() {
    let limits = ApiLimits { max_body_bytes: 1000, ..ApiLimits::default() };
    let s = start_with(limits, None).await;
    let padding = " ".repeat(1000);
    let query = format!("mutation {{ bump {padding}}}");
    let (status, body) = call(&s, Some("editor-key"), &query).await;
    assert_eq!((status, code(&body)), (413, "PAYLOAD_TOO_LARGE"), "{body}");
    assert_eq!(body["errors"][0]["message"], "the request body is over 1000 bytes, this API's limit");
    // Without a Content-Length (chunked), it is cut off as it arrives.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let head = "POST /graphql HTTP/1.1\r\nhost: x\r\nauthorization: Bearer editor-key\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let chunk = format!("{{\"query\": \"mutation {{ bump }}\", \"x\": \"{}\"}}", "y".repeat(1200));
    tcp.write_all(format!("{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len()).as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
    assert_eq!(s.counter(), 0);
}

/// graphql-js's `getIntrospectionQuery({ inputValueDeprecation: true, schemaDescription: true })`,
/// what GraphiQL 4 sends.
const INTROSPECTION: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}
"#;
