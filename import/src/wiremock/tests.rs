//! The converter field by field, and the imported rules answering as WireMock would.

use mockplane_rules::model::{FaultKind, HeaderValues, PathMatch, Templating, UrlMatch};
use mockplane_rules::{CompileOptions, Header, Request, RequestContext, RuleTable};
use serde_json::json;

use super::*;

fn import(stubs: Value) -> Imported {
    import_value(json!({ "mappings": stubs }), None, &Options::default()).expect("imports")
}

fn one(stub: Value) -> Rule {
    let imported = import(json!([stub]));
    assert_eq!(imported.unsupported, [], "nothing unsupported");
    Arc::unwrap_or_clone(imported.set.rules[0].clone())
}

fn places(imported: &Imported) -> Vec<String> {
    imported.unsupported.iter().map(|u| u.place.clone()).collect()
}

fn select(set: &RuleSet, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Option<String> {
    let table = RuleTable::compile(set, &CompileOptions::default()).expect("compiles");
    let headers: Vec<Header<'_>> =
        headers.iter().map(|(k, v)| Header { name: k, value: v.as_bytes() }).collect();
    let req = Request::new(method, target, &headers, body.as_bytes());
    let cx = RequestContext::new(&req);
    table.select(&cx).map(|s| s.rule_id().to_owned())
}

#[test]
fn url_forms_become_url_and_path_predicates() {
    let r = one(json!({"request": {"url": "/a?b=1"}, "response": {}}));
    assert_eq!(r.matcher.url, Some(UrlMatch { exact: Some("/a?b=1".into()), regex: None }));
    let r = one(json!({"request": {"urlPattern": "/a.*"}, "response": {}}));
    assert_eq!(r.matcher.url.and_then(|u| u.regex).as_deref(), Some("/a.*"));
    let r = one(json!({"request": {"urlPath": "/a/{b}"}, "response": {}}));
    assert!(
        matches!(r.matcher.path, Some(PathMatch::Explicit(ref p)) if p.exact.as_deref() == Some("/a/{b}"))
    );
    let r = one(json!({"request": {"urlPathPattern": "/a/[0-9]+"}, "response": {}}));
    assert!(
        matches!(r.matcher.path, Some(PathMatch::Explicit(ref p)) if p.regex.as_deref() == Some("/a/[0-9]+"))
    );
    let r = one(json!({"request": {"urlPathTemplate": "/u/{id}"}, "response": {}}));
    assert!(
        matches!(r.matcher.path, Some(PathMatch::Explicit(ref p)) if p.template.as_deref() == Some("/u/{id}"))
    );
}

#[test]
fn path_parameters_constrain_the_template_and_keep_its_captures() {
    let imported = import(json!([{
        "request": {"urlPathTemplate": "/users/{id}/orders/{order}",
                    "pathParameters": {"id": {"equalTo": "7"}, "order": {"matches": "o-[0-9]+"}}},
        "response": {"body": "{{request.path.order}}", "transformers": ["response-template"]}
    }]));
    assert_eq!(imported.unsupported, []);
    assert!(select(&imported.set, "GET", "/users/7/orders/o-12?x=1", &[], "").is_some());
    assert!(select(&imported.set, "GET", "/users/8/orders/o-12", &[], "").is_none());
    assert!(select(&imported.set, "GET", "/users/7/orders/x", &[], "").is_none());
}

#[test]
fn methods_and_any() {
    assert_eq!(one(json!({"request": {"method": "ANY"}, "response": {}})).matcher.method, None);
    let r = one(json!({"request": {"method": "PUT"}, "response": {}}));
    assert_eq!(r.matcher.method, Some(mockplane_rules::model::MethodMatch::One("PUT".into())));
}

#[test]
fn string_patterns_map_to_value_matchers() {
    let imported = import(json!([{
        "request": {
            "headers": {
                "Accept": {"contains": "json"},
                "X-Ci": {"equalTo": "abc", "caseInsensitive": true},
                "X-Gone": {"absent": true},
                "X-Not": {"doesNotMatch": "[0-9]+"},
                "X-Both": {"and": [{"contains": "a"}, {"doesNotContain": "z"}]},
                "X-Either": {"or": [{"equalTo": "x"}, {"matches": "y+"}]},
                "X-Neg": {"not": {"equalTo": "no"}}
            },
            "queryParameters": {"tag": {"hasExactly": [{"equalTo": "a"}, {"equalTo": "b"}]},
                                "id": {"includes": [{"equalTo": "1"}]}},
            "cookies": {"session": {"matches": "s-.*"}},
            "formParameters": {"user": {"equalTo": "alice"}}
        },
        "response": {}
    }]));
    assert_eq!(imported.unsupported, []);
    let set = &imported.set;
    let headers = [
        ("accept", "application/json"),
        ("x-ci", "ABC"),
        ("x-not", "abc"),
        ("x-both", "ab"),
        ("x-either", "yyy"),
        ("x-neg", "yes"),
        ("cookie", "session=s-1"),
        ("content-type", "application/x-www-form-urlencoded"),
    ];
    let target = "/?tag=b&tag=a&id=2&id=1";
    assert!(select(set, "POST", target, &headers, "user=alice").is_some());
    assert!(select(set, "POST", "/?tag=a&id=1", &headers, "user=alice").is_none(), "hasExactly");
    let mut gone = headers.to_vec();
    gone.push(("x-gone", "1"));
    assert!(select(set, "POST", target, &gone, "user=alice").is_none(), "absent");
    assert!(select(set, "POST", target, &headers, "user=bob").is_none(), "form");
}

#[test]
fn basic_auth_becomes_an_authorization_header() {
    let r =
        one(json!({"request": {"basicAuthCredentials": {"username": "u", "password": "p"}}, "response": {}}));
    let set = RuleSet { rules: vec![Arc::new(r)], ..RuleSet::default() };
    let auth = |value: &str| select(&set, "GET", "/", &[("Authorization", value)], "").is_some();
    assert!(auth("Basic dTpw"));
    assert!(auth("basic dTpw"), "WireMock takes the scheme in any case");
    assert!(!auth("Basic dTpx"));
}

#[test]
fn jsonpath_absent_holds_where_wiremock_sees_no_value() {
    let imported = import(json!([{"request": {"method": "POST", "bodyPatterns": [
        {"matchesJsonPath": {"expression": "$.debug", "absent": true}}]}, "response": {}}]));
    assert_eq!(imported.unsupported, []);
    let set = &imported.set;
    let post = |body: &str| select(set, "POST", "/", &[], body).is_some();
    assert!(post(r#"{"tags": ["a"]}"#), "no such member");
    assert!(post(r#"{"debug": null}"#), "null is no value to WireMock");
    assert!(post(r#"{"debug": []}"#), "nor is an empty list");
    assert!(!post(r#"{"debug": true}"#));
    assert!(!post(r#"{"debug": ""}"#));
    assert!(!post("not json"), "WireMock does not match a body that is not JSON");
}

#[test]
fn body_equal_to_empty_never_matches_and_is_reported() {
    let imported = import(json!([{"request": {"method": "POST", "bodyPatterns": [{"equalTo": ""}]},
                                  "response": {}}]));
    assert_eq!(places(&imported), ["mappings[0].request.bodyPatterns[0].equalTo"]);
    assert_eq!(imported.set.rules.len(), 1, "imported, as WireMock loads it");
    assert!(select(&imported.set, "POST", "/", &[], "").is_none(), "WireMock sees no body");
    assert!(select(&imported.set, "POST", "/", &[], "x").is_none());
}

#[test]
fn chunked_dribble_delay_becomes_chunked_dribble() {
    let r = one(json!({"request": {}, "response": {
        "body": "abc", "chunkedDribbleDelay": {"numberOfChunks": 3, "totalDuration": 300}}}));
    let d = r.response.expect("a response").chunked_dribble.expect("dribbled");
    assert_eq!((d.chunks, d.total_ms), (3, 300));
    let imported = import(json!([{"request": {}, "response": {
        "chunkedDribbleDelay": {"numberOfChunks": 0, "totalDuration": 300}}}]));
    assert_eq!(imported.set.rules.len(), 0);
    assert_eq!(
        imported.unsupported[0].to_string(),
        "mappings[0].response.chunkedDribbleDelay.numberOfChunks: must be at least 1 (stub not imported)"
    );
}

#[test]
fn body_patterns_map_to_body_matchers() {
    let imported = import(json!([{
        "request": {"method": "POST", "bodyPatterns": [
            {"equalToJson": "{\"a\": [1, 2], \"b\": {}}", "ignoreArrayOrder": true, "ignoreExtraElements": true},
            {"matchesJsonPath": "$.a"},
            {"matchesJsonPath": {"expression": "$.name", "contains": "li"}},
            {"contains": "name"},
            {"doesNotContain": "secret"},
            {"matches": "(?s).*ali.*"}
        ]},
        "response": {}
    }]));
    assert_eq!(imported.unsupported, []);
    let set = &imported.set;
    assert!(select(set, "POST", "/", &[], r#"{"a":[2,1,3],"b":{"x":1},"name":"alice"}"#).is_some());
    assert!(select(set, "POST", "/", &[], r#"{"a":[2,1],"b":{},"name":"alice","secret":1}"#).is_none());
    assert!(select(set, "POST", "/", &[], r#"{"a":[2],"b":{},"name":"alice"}"#).is_none());
    let eq = one(json!({"request": {"bodyPatterns": [{"equalTo": "hi"}]}, "response": {}}));
    assert_eq!(eq.matcher.body.and_then(|b| b.equals).as_deref(), Some("hi"));
}

#[test]
fn matches_json_schema_validates_the_body_in_the_draft_named() {
    let imported = import(json!([{
        "request": {"method": "POST", "bodyPatterns": [{
            "matchesJsonSchema": "{\"type\": \"object\", \"required\": [\"id\"], \"properties\": {\"id\": {\"type\": \"integer\"}}}",
            "schemaVersion": "V7"}]},
        "response": {}
    }]));
    assert_eq!(imported.unsupported, []);
    let schema =
        imported.set.rules[0].matcher.body.as_ref().and_then(|b| b.json_schema.clone()).expect("a schema");
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert!(select(&imported.set, "POST", "/", &[], r#"{"id": 3}"#).is_some());
    assert!(select(&imported.set, "POST", "/", &[], r#"{"id": "x"}"#).is_none());
    assert!(select(&imported.set, "POST", "/", &[], r#"{}"#).is_none());
}

#[test]
fn unmappable_request_parts_skip_the_stub_with_their_place() {
    let imported = import(json!([
        {"request": {"bodyPatterns": [{"matchesXPath": "/a"}]}, "response": {}},
        {"request": {"customMatcher": {"name": "x"}}, "response": {}},
        {"request": {"headers": {"d": {"before": "now"}}}, "response": {}},
        {"request": {"urlPath": "/ok"}, "response": {}}
    ]));
    assert_eq!(imported.set.rules.len(), 1);
    assert_eq!(
        places(&imported),
        [
            "mappings[0].request.bodyPatterns[0].matchesXPath",
            "mappings[1].request.customMatcher",
            "mappings[2].request.headers.d.before",
        ]
    );
    assert!(imported.unsupported[0].message.ends_with("(stub not imported)"));
}

#[test]
fn stubs_the_engine_refuses_are_reported_and_the_rest_kept() {
    let imported = import(json!([
        {"request": {"urlPathPattern": "/(?=x)"}, "response": {}},
        {"request": {"urlPath": "/ok"}, "response": {}}
    ]));
    assert_eq!(imported.set.rules.len(), 1);
    assert_eq!(places(&imported), ["mappings[0]"]);
    assert!(imported.unsupported[0].message.contains("match.path"), "{}", imported.unsupported[0]);
}

#[test]
fn priority_then_the_latest_stub_wins_as_in_wiremock() {
    let imported = import(json!([
        {"name": "specific-early", "request": {"urlPath": "/users/me"}, "response": {"body": "a"}},
        {"name": "broad-late", "request": {"urlPathPattern": "/users/.*"}, "response": {"body": "b"}},
        {"name": "urgent", "priority": 1, "request": {"urlPathPattern": "/users/.*"}, "response": {}},
        {"name": "low", "priority": 9, "request": {"urlPath": "/other"}, "response": {}},
        {"name": "default", "request": {"urlPath": "/other"}, "response": {}}
    ]));
    let set = &imported.set;
    assert_eq!(select(set, "GET", "/users/me", &[], "").as_deref(), Some("urgent"));
    let without_urgent =
        RuleSet { rules: set.rules.iter().filter(|r| r.id != "urgent").cloned().collect(), ..set.clone() };
    // mockplane alone would prefer the exact path; WireMock prefers the stub added last.
    assert_eq!(select(&without_urgent, "GET", "/users/me", &[], "").as_deref(), Some("broad-late"));
    assert_eq!(select(set, "GET", "/other", &[], "").as_deref(), Some("default"), "5 beats 9");
}

#[test]
fn responses_map_status_headers_bodies_delays_and_faults() {
    let r = one(json!({"request": {}, "response": {"status": 299, "statusMessage": "Fine Indeed"}}));
    assert_eq!(r.response.and_then(|r| r.reason).as_deref(), Some("Fine Indeed"));
    let r = one(json!({"request": {}, "response": {
        "status": 201, "headers": {"X-A": "1", "Set-Cookie": ["a=1", "b=2"]},
        "jsonBody": {"b": 1, "a": [true]}, "fixedDelayMilliseconds": 30}}));
    let resp = r.response.expect("a response");
    assert_eq!(resp.status, 201);
    assert_eq!(resp.body.as_deref(), Some(r#"{"b":1,"a":[true]}"#));
    assert_eq!(resp.headers["Set-Cookie"], HeaderValues::Many(vec!["a=1".into(), "b=2".into()]));
    assert_eq!(resp.delay.and_then(|d| d.fixed), Some(30));
    let r = one(
        json!({"request": {}, "response": {"base64Body": "aGk=", "delayDistribution": {"type": "lognormal", "median": 80, "sigma": 0.4}}}),
    );
    let resp = r.response.expect("a response");
    assert_eq!(resp.base64.as_deref(), Some("aGk="));
    assert_eq!(resp.delay.and_then(|d| d.lognormal).map(|l| l.median), Some(80.0));
    let r = one(
        json!({"request": {}, "response": {"delayDistribution": {"type": "uniform", "lower": 5, "upper": 9}}}),
    );
    assert_eq!(
        r.response.and_then(|r| r.delay).and_then(|d| d.uniform).map(|u| (u.min, u.max)),
        Some((5, 9))
    );
    for (wm, ours) in [
        ("EMPTY_RESPONSE", FaultKind::EmptyResponse),
        ("MALFORMED_RESPONSE_CHUNK", FaultKind::MalformedChunk),
        ("RANDOM_DATA_THEN_CLOSE", FaultKind::RandomData),
        ("CONNECTION_RESET_BY_PEER", FaultKind::ConnectionReset),
    ] {
        let r = one(json!({"request": {}, "response": {"fault": wm}}));
        assert_eq!(r.response.expect("a response").faults[0].kind, ours);
    }
    let t = one(
        json!({"request": {}, "response": {"body": "{{request.path}}", "transformers": ["response-template"]}}),
    );
    assert_eq!(t.response.expect("a response").template, Templating::WireMock);
}

#[test]
fn unmappable_response_parts_are_reported_and_the_stub_kept() {
    let imported = import(json!([{"request": {}, "response": {
        "status": 200, "transformers": ["my-extension"], "headers": {"Content-Length": "3"}, "body": "hey"}}]));
    assert_eq!(imported.set.rules.len(), 1);
    assert_eq!(
        places(&imported),
        ["mappings[0].response.headers.Content-Length", "mappings[0].response.transformers[0]",]
    );
}

#[test]
fn global_templating_templates_every_response() {
    let options = Options { global_templating: true };
    let imported =
        import_value(json!({"request": {}, "response": {"body": "{{request.method}}"}}), None, &options)
            .expect("imports");
    assert_eq!(imported.set.rules[0].response.as_ref().expect("a response").template, Templating::WireMock);
}

#[test]
fn proxy_stubs_forward_to_an_upstream() {
    let imported = import(json!([{"request": {"urlPathPattern": "/api/.*"}, "response": {
        "proxyBaseUrl": "http://127.0.0.1:9000", "additionalProxyRequestHeaders": {"X-From": "mock"}}}]));
    assert_eq!(imported.unsupported, []);
    let f = imported.set.rules[0].forward.clone().expect("a forward");
    assert_eq!(f.upstream.as_deref(), Some("wiremock-proxy-1"));
    assert_eq!(f.host.as_deref(), Some("127.0.0.1:9000"));
    assert_eq!(f.request_headers.expect("edits").add["X-From"], "mock");
    assert!(imported.set.upstreams.contains_key("wiremock-proxy-1"));
}

#[test]
fn scenarios_keep_wiremock_state_names() {
    let r =
        one(json!({"scenarioName": "cart", "requiredScenarioState": "Started", "newScenarioState": "Full",
                       "request": {}, "response": {}}));
    let s = r.scenario.expect("a scenario");
    assert_eq!(
        (s.name.as_str(), s.state.as_deref(), s.next.as_deref()),
        ("cart", Some("Started"), Some("Full"))
    );
    assert!(one(json!({"scenarioName": "cart", "request": {}, "response": {}})).scenario.is_none());
}

#[test]
fn folders_read_mappings_and_files() {
    let root = std::env::temp_dir().join(format!("mockplane-wm-{}", std::process::id()));
    std::fs::create_dir_all(root.join("mappings/sub")).expect("mkdir");
    std::fs::create_dir_all(root.join("__files")).expect("mkdir");
    std::fs::write(root.join("__files/hello.txt"), "hello from a file").expect("write");
    std::fs::write(
        root.join("mappings/a.json"),
        r#"{"request": {"urlPath": "/f"}, "response": {"bodyFileName": "hello.txt"}}"#,
    )
    .expect("write");
    std::fs::write(
        root.join("mappings/sub/b.json"),
        r#"{"mappings": [{"request": {"urlPath": "/x"}, "response": {"bodyFileName": "missing.txt"}}]}"#,
    )
    .expect("write");
    let imported = import_path(&root, &Options::default()).expect("imports");
    assert_eq!(imported.set.rules.len(), 1);
    assert_eq!(
        imported.set.rules[0].response.as_ref().and_then(|r| r.body.as_deref()),
        Some("hello from a file")
    );
    assert_eq!(places(&imported), ["sub/b.json: mappings[0].response.bodyFileName"]);
    let single = import_path(&root.join("mappings/a.json"), &Options::default()).expect("imports");
    assert_eq!(single.set.rules.len(), 1, "a single file finds ../__files");
    std::fs::remove_dir_all(&root).expect("clean up");
}

#[test]
fn broken_sources_are_errors() {
    assert!(matches!(import_str("{", None, &Options::default()), Err(ImportError::Invalid { .. })));
    let err = import_str(r#"{"mappings": {}}"#, None, &Options::default()).unwrap_err();
    assert_eq!(err.to_string(), "mappings: must be a list of stubs");
    let err = import_str(r#"{"mappings": [{"response": {}}]}"#, None, &Options::default()).unwrap_err();
    assert_eq!(err.to_string(), "mappings[0].request: a stub needs a request object");
}

#[test]
fn export_gives_back_what_was_imported() {
    let stubs = json!([
        {"name": "a", "priority": 3, "request": {"method": "GET", "urlPath": "/a", "headers": {"X": {"contains": "y"}},
          "queryParameters": {"q": {"hasExactly": [{"equalTo": "1"}]}}},
         "response": {"status": 201, "body": "hi", "headers": {"X-A": "1"}, "fixedDelayMilliseconds": 5,
                      "chunkedDribbleDelay": {"numberOfChunks": 2, "totalDuration": 40}}},
        {"name": "b", "request": {"method": "POST", "url": "/b?x=1",
          "bodyPatterns": [{"equalToJson": {"a": 1}, "ignoreExtraElements": true}, {"matchesJsonPath": "$.a"}]},
         "response": {"fault": "EMPTY_RESPONSE"}, "scenarioName": "s", "requiredScenarioState": "Started", "newScenarioState": "Next"}
    ]);
    let imported = import(stubs.clone());
    let (exported, unsupported) = export(&imported.set);
    assert_eq!(unsupported, []);
    let again = import_value(exported.clone(), None, &Options::default()).expect("imports");
    assert_eq!(again.unsupported, []);
    assert_eq!(export(&again.set).0, exported, "exporting the re-import gives the same stubs");
    for rule in &imported.set.rules {
        let back = again.set.rules.iter().find(|r| r.id == rule.id).expect("the rule is back");
        assert_eq!(Rule { priority: 0, ..(**back).clone() }, Rule { priority: 0, ..(**rule).clone() });
        assert_eq!(back.priority.div_euclid(PRIORITY_BLOCK), rule.priority.div_euclid(PRIORITY_BLOCK));
    }
}

#[test]
fn export_reports_rules_without_a_wiremock_form() {
    let set = RuleSet::from_yaml(
        r#"
rules:
  - id: seq
    sequence: { responses: [{}] }
  - id: budget
    times: 2
    response: {}
  - id: ok
    match: { path: /ok }
    response: { json: { a: 1 } }
"#,
    )
    .expect("parses");
    let (exported, unsupported) = export(&set);
    let at: Vec<&str> = unsupported.iter().map(|u| u.place.as_str()).collect();
    assert_eq!(at, ["rules[0].sequence", "rules[1].times"]);
    assert_eq!(exported["mappings"][0]["response"]["headers"]["Content-Type"], "application/json");
}
