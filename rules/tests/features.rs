//! What a user of the rules engine sees: a rules file in, the bytes of the answer out.

mod common;

use std::sync::Arc;

use mockplane_rules::model::FaultKind;
use mockplane_rules::{
    CompileOptions, Header, RenderBuffers, Reply, Request, RequestContext, RuleSet, RuleTable, StateStore,
};
use rand::rngs::SmallRng;
use rand::SeedableRng;

fn table(yaml: &str) -> RuleTable {
    table_with(yaml, &CompileOptions::default())
}

fn table_with(yaml: &str, options: &CompileOptions) -> RuleTable {
    let set = RuleSet::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    RuleTable::compile(&set, options).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(yaml: &str) -> Vec<String> {
    let set = match RuleSet::from_yaml(yaml) {
        Ok(set) => set,
        Err(e) => return e.errors.iter().map(ToString::to_string).collect(),
    };
    match RuleTable::compile(&set, &CompileOptions::default()) {
        Ok(_) => vec![],
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

/// What the client would receive, as text: `None` on a miss, `FAULT <kind>` for a fault.
struct Served {
    rule: String,
    text: String,
}

fn serve(t: &RuleTable, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Option<Served> {
    let headers: Vec<Header<'_>> =
        headers.iter().map(|(k, v)| Header { name: k, value: v.as_bytes() }).collect();
    let req =
        Request::new(method, target, &headers, body.as_bytes()).with_client_ip("10.1.2.3".parse().unwrap());
    let cx = RequestContext::new(&req);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut buffers = RenderBuffers::default();
    let answer = t.respond(&cx, common::now(), &mut rng, &mut buffers)?;
    let text = common::reply_text(answer.reply, &buffers);
    Some(Served { rule: answer.rule_id.to_owned(), text })
}

fn rule_for(t: &RuleTable, method: &str, target: &str) -> Option<String> {
    serve(t, method, target, &[], "").map(|s| s.rule)
}

fn body_of(s: &Served) -> &str {
    s.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn the_smallest_rules_file_answers_with_exact_bytes() {
    let t = table(
        "rules:\n  - id: hello\n    match: { method: GET, path: /hello }\n    response: { status: 200, body: \"hi\" }\n",
    );
    let s = serve(&t, "GET", "/hello", &[], "").unwrap();
    assert_eq!(s.rule, "hello");
    assert_eq!(s.text, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi");
    assert!(serve(&t, "POST", "/hello", &[], "").is_none());
    assert!(serve(&t, "GET", "/hello/", &[], "").is_none());
    assert!(serve(&t, "GET", "/hello?x=1", &[], "").is_some(), "the query is not part of the path");
}

#[test]
fn selection_order_is_priority_then_specificity_then_rule_order() {
    let t = table(
        r#"
rules:
  - { id: none,        response: {} }
  - { id: regex,       match: { path: { regex: "/users/.*" } }, response: {} }
  - { id: short,       match: { path: { prefix: /users } }, response: {} }
  - { id: long,        match: { path: { prefix: /users/4 } }, response: {} }
  - { id: one-literal, match: { path: "/{a}/{b}/x" }, response: {} }
  - { id: two-literal, match: { path: "/users/{id}/x" }, response: {} }
  - { id: exact,       match: { path: /users/42/x }, response: {} }
  - { id: exact-later, match: { path: /users/42/x }, response: {} }
"#,
    );
    assert_eq!(
        rule_for(&t, "GET", "/users/42/x").as_deref(),
        Some("exact"),
        "exact wins, first in file breaks ties"
    );
    assert_eq!(rule_for(&t, "GET", "/users/7/x").as_deref(), Some("two-literal"));
    assert_eq!(rule_for(&t, "GET", "/other/7/x").as_deref(), Some("one-literal"));
    assert_eq!(rule_for(&t, "GET", "/users/42").as_deref(), Some("long"));
    assert_eq!(rule_for(&t, "GET", "/users/7").as_deref(), Some("short"));
    assert_eq!(rule_for(&t, "GET", "/nothing").as_deref(), Some("none"));

    let t = table(
        r#"
rules:
  - { id: exact, match: { path: /a }, response: {} }
  - { id: anything-but-urgent, priority: 10, match: { headers: { x-urgent: "1" } }, response: {} }
  - { id: disabled, priority: 99, enabled: false, response: {} }
"#,
    );
    assert_eq!(serve(&t, "GET", "/a", &[("X-Urgent", "1")], "").unwrap().rule, "anything-but-urgent");
    assert_eq!(serve(&t, "GET", "/a", &[], "").unwrap().rule, "exact");
    assert!(serve(&t, "GET", "/b", &[], "").is_none(), "disabled rules never match");
}

#[test]
fn the_regex_automaton_keeps_each_rules_own_answer() {
    let t = table(
        r#"
rules:
  - { id: v1, match: { path: { regex: "/v1/.*" } }, response: {} }
  - { id: digits, match: { path: { regex: "/v[0-9]+/items" } }, response: {} }
  - { id: post-only, match: { method: POST, path: { regex: "/v2/.*" } }, response: {} }
"#,
    );
    assert_eq!(rule_for(&t, "GET", "/v1/items").as_deref(), Some("v1"));
    assert_eq!(rule_for(&t, "GET", "/v2/items").as_deref(), Some("digits"));
    assert_eq!(rule_for(&t, "POST", "/v2/other").as_deref(), Some("post-only"));
    assert_eq!(rule_for(&t, "GET", "/v2/other"), None);
    assert_eq!(rule_for(&t, "GET", "/x/v1/items"), None, "regexes are anchored");
}

#[test]
fn matchers_on_query_headers_cookies_client_ip_body_and_graphql() {
    let t = table(
        r#"
rules:
  - id: search
    match:
      path: /search
      query: { q: { contains: shoe }, page: { absent: true } }
      headers: { Accept: { regex: ".*json.*" } }
      cookies: { session: { present: true } }
      client_ip: [10.0.0.0/8, "::1"]
    response: { body: found }
  - id: order
    match:
      method: POST
      path: /orders
      body: { jsonpath: "$.items[?@.qty > 2]" }
    response: { body: bulk }
  - id: gql
    match:
      path: /graphql
      graphql: { operation: query, name: GetPet, variables: { json: { id: "7" } } }
    response: { json: { data: { pet: { id: "7" } } } }
"#,
    );
    let hit = serve(
        &t,
        "GET",
        "/search?q=red%20shoes",
        &[("accept", "application/json"), ("Cookie", "session=abc; theme=dark")],
        "",
    )
    .unwrap();
    assert_eq!(body_of(&hit), "found");
    assert!(serve(
        &t,
        "GET",
        "/search?q=red%20shoes&page=2",
        &[("accept", "application/json"), ("Cookie", "session=1")],
        ""
    )
    .is_none());
    assert!(
        serve(&t, "GET", "/search?q=shoe", &[("accept", "text/html"), ("Cookie", "session=1")], "").is_none()
    );
    assert!(serve(&t, "GET", "/search?q=shoe", &[("accept", "application/json")], "").is_none());

    let bulk = serve(&t, "POST", "/orders", &[], r#"{"items":[{"qty":1},{"qty":5}]}"#).unwrap();
    assert_eq!(body_of(&bulk), "bulk");
    assert!(serve(&t, "POST", "/orders", &[], r#"{"items":[{"qty":1}]}"#).is_none());
    assert!(serve(&t, "POST", "/orders", &[], "not json").is_none());

    let q = r#"{"query":"query GetPet($id: ID!) { pet(id: $id) { id } }","variables":{"id":"7"}}"#;
    let gql = serve(&t, "POST", "/graphql", &[("content-type", "application/json")], q).unwrap();
    assert_eq!(gql.rule, "gql");
    assert!(gql.text.contains("content-type: application/json\r\n"), "{}", gql.text);
    assert_eq!(body_of(&gql), r#"{"data":{"pet":{"id":"7"}}}"#);
    let other = r#"{"query":"query GetPet($id: ID!) { pet(id: $id) { id } }","variables":{"id":"8"}}"#;
    assert!(serve(&t, "POST", "/graphql", &[], other).is_none());
    let via_get = "/graphql?query=query%20GetPet%20%7B%20pet(id%3A%20%227%22)%20%7B%20id%20%7D%20%7D&variables=%7B%22id%22%3A%227%22%7D";
    assert_eq!(rule_for(&t, "GET", via_get).as_deref(), Some("gql"));
}

#[test]
fn templates_render_request_data_and_environment_variables() {
    let t = table(
        r#"
variables: { REGION: eu-west-1 }
rules:
  - id: user
    match: { path: "/users/{id}" }
    response:
      template: true
      headers: { X-User: "{{request.path.id}}", X-Static: plain }
      body: '{"id":"{{request.path.id}}","q":"{{request.query.q}}","region":"{{env.REGION}}","m":"{{request.method}}","n":{{counter}}}'
"#,
    );
    let s = serve(&t, "GET", "/users/42?q=hi", &[], "").unwrap();
    assert_eq!(body_of(&s), r#"{"id":"42","q":"hi","region":"eu-west-1","m":"GET","n":1}"#);
    assert!(s.text.contains("X-User: 42\r\n"), "{}", s.text);
    assert!(s.text.contains("X-Static: plain\r\n"));
    assert!(s.text.contains(&format!("content-length: {}\r\n", body_of(&s).len())));
    let s = serve(&t, "GET", "/users/43", &[], "").unwrap();
    assert!(body_of(&s).ends_with(r#""n":2}"#), "the per-rule counter counts: {}", body_of(&s));
}

#[test]
fn sequences_stay_on_the_last_response_or_cycle() {
    let t = table(
        r#"
rules:
  - id: stay
    match: { path: /stay }
    sequence: { responses: [ { body: one }, { body: two } ] }
  - id: cycle
    match: { path: /cycle }
    sequence: { mode: cycle, responses: [ { body: a }, { body: b }, { status: 503 } ] }
"#,
    );
    let stay: Vec<String> =
        (0..4).map(|_| body_of(&serve(&t, "GET", "/stay", &[], "").unwrap()).to_owned()).collect();
    assert_eq!(stay, ["one", "two", "two", "two"]);
    let cycle: Vec<String> = (0..5)
        .map(|_| serve(&t, "GET", "/cycle", &[], "").unwrap().text.lines().next().unwrap().to_owned() + "|")
        .collect();
    assert_eq!(cycle[2], "HTTP/1.1 503 Service Unavailable|");
    assert_eq!(cycle[3], cycle[0]);
    assert_eq!(cycle[4], cycle[1]);
}

#[test]
fn times_serves_n_requests_then_falls_through() {
    let t = table(
        r#"
rules:
  - { id: first-two, times: 2, match: { path: /x }, response: { body: limited } }
  - { id: fallback, response: { body: fallback } }
"#,
    );
    let rules: Vec<String> = (0..4).map(|_| rule_for(&t, "GET", "/x").unwrap()).collect();
    assert_eq!(rules, ["first-two", "first-two", "fallback", "fallback"]);
    t.state().reset();
    assert_eq!(rule_for(&t, "GET", "/x").as_deref(), Some("first-two"), "reset re-arms budgets");
}

const CHECKOUT: &str = r#"
rules:
  - id: pay
    match: { method: POST, path: /pay }
    scenario: { name: checkout, state: Started, next: Paid }
    response: { status: 201, body: paid }
  - id: already-paid
    match: { method: POST, path: /pay }
    scenario: { name: checkout, state: Paid }
    response: { status: 409, body: already paid }
  - id: status-paid
    match: { path: /status }
    scenario: { name: checkout, state: Paid }
    response: { body: Paid }
  - id: status
    match: { path: /status }
    response: { body: Started }
"#;

#[test]
fn scenarios_move_between_states() {
    let t = table(CHECKOUT);
    assert_eq!(body_of(&serve(&t, "GET", "/status", &[], "").unwrap()), "Started");
    assert_eq!(serve(&t, "POST", "/pay", &[], "").unwrap().rule, "pay");
    assert_eq!(body_of(&serve(&t, "GET", "/status", &[], "").unwrap()), "Paid");
    assert_eq!(serve(&t, "POST", "/pay", &[], "").unwrap().rule, "already-paid");
    assert_eq!(t.state().scenario_state("checkout"), "Paid");
    t.state().set_scenario_state("checkout", "Started");
    assert_eq!(serve(&t, "POST", "/pay", &[], "").unwrap().rule, "pay");
}

#[test]
fn exactly_one_of_many_concurrent_requests_takes_a_scenario_transition() {
    for _ in 0..20 {
        let t = Arc::new(table(CHECKOUT));
        let barrier = Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (t, barrier) = (t.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    serve(&t, "POST", "/pay", &[], "").unwrap().rule
                })
            })
            .collect();
        let rules: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(rules.iter().filter(|r| *r == "pay").count(), 1, "{rules:?}");
        assert_eq!(rules.iter().filter(|r| *r == "already-paid").count(), 7, "{rules:?}");
    }
}

#[test]
fn times_budgets_hold_under_concurrency() {
    let t =
        Arc::new(table("rules:\n  - { id: ten, times: 10, response: {} }\n  - { id: rest, response: {} }\n"));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let t = t.clone();
            std::thread::spawn(move || {
                (0..100).filter(|_| rule_for(&t, "GET", "/").as_deref() == Some("ten")).count()
            })
        })
        .collect();
    let served: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(served, 10);
}

#[test]
fn state_survives_a_recompile_when_the_rule_is_unchanged() {
    let state = StateStore::new();
    let options = CompileOptions { state: state.clone(), ..Default::default() };
    let v1 = "rules:\n  - id: s\n    sequence: { responses: [ {body: a}, {body: b}, {body: c} ] }\n";
    let t1 = table_with(v1, &options);
    assert_eq!(body_of(&serve(&t1, "GET", "/", &[], "").unwrap()), "a");
    let t2 =
        table_with(&format!("{v1}  - {{ id: other, match: {{ path: /o }}, response: {{}} }}\n"), &options);
    assert_eq!(
        body_of(&serve(&t2, "GET", "/", &[], "").unwrap()),
        "b",
        "same rule, same position in its sequence"
    );
    let changed = v1.replace("body: c", "body: C");
    let t3 = table_with(&changed, &options);
    assert_eq!(body_of(&serve(&t3, "GET", "/", &[], "").unwrap()), "a", "a changed rule starts over");
}

#[test]
fn faults_fire_with_their_probability() {
    let t = table(
        r#"
rules:
  - { id: reset, match: { path: /reset }, response: { faults: [ { type: connection_reset } ] } }
  - { id: abort, match: { path: /abort }, response: { body: ok, faults: [ { type: abort, status: 503 } ] } }
  - { id: never, match: { path: /never }, response: { body: ok, faults: [ { type: random_data, probability: 0 } ] } }
  - id: half
    match: { path: /half }
    response: { body: ok, faults: [ { type: empty_response, probability: 0.5 }, { type: malformed_chunk, probability: 0.25 } ] }
"#,
    );
    assert_eq!(serve(&t, "GET", "/reset", &[], "").unwrap().text, "FAULT ConnectionReset");
    assert_eq!(
        serve(&t, "GET", "/abort", &[], "").unwrap().text,
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
    );
    assert_eq!(body_of(&serve(&t, "GET", "/never", &[], "").unwrap()), "ok");
    // The answer names the fault it injected, an abort included (its reply is a plain response).
    let fault_of = |path: &str| {
        let req = Request::new("GET", path, &[], b"");
        let mut buffers = RenderBuffers::default();
        let mut rng = SmallRng::seed_from_u64(1);
        let cx = RequestContext::new(&req);
        let fault = t.respond(&cx, std::time::SystemTime::now(), &mut rng, &mut buffers).unwrap().fault;
        fault
    };
    assert_eq!(
        [fault_of("/abort"), fault_of("/reset"), fault_of("/never")],
        [Some(FaultKind::Abort), Some(FaultKind::ConnectionReset), None]
    );

    // Over many requests with one rng, the shares approach the probabilities.
    let req = Request::new("GET", "/half", &[], b"");
    let cx = RequestContext::new(&req);
    let mut rng = SmallRng::seed_from_u64(1);
    let mut buffers = RenderBuffers::default();
    let (mut empty, mut chunk, mut ok) = (0, 0, 0);
    for _ in 0..4000 {
        match t.respond(&cx, std::time::SystemTime::now(), &mut rng, &mut buffers).unwrap().reply {
            Reply::Fault(FaultKind::EmptyResponse) => empty += 1,
            Reply::Fault(FaultKind::MalformedChunk) => chunk += 1,
            Reply::Static(_) => ok += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!((1800..2200).contains(&empty), "{empty}");
    assert!((850..1150).contains(&chunk), "{chunk}");
    assert!((850..1150).contains(&ok), "{ok}");
}

#[test]
fn forward_rules_name_their_upstream() {
    let t = table(
        r#"
upstreams: { payments: "http://127.0.0.1:8081" }
rules:
  - { id: by-name, match: { path: { prefix: /pay } }, forward: { upstream: payments } }
  - { id: by-url, forward: { url: "http://127.0.0.1:9000/base" } }
"#,
    );
    assert_eq!(serve(&t, "GET", "/pay/1", &[], "").unwrap().text, "FORWARD http://127.0.0.1:8081");
    assert_eq!(serve(&t, "GET", "/x", &[], "").unwrap().text, "FORWARD http://127.0.0.1:9000/base");
}

#[test]
fn the_wiremock_dialect_sends_a_base64_body_as_is_and_still_renders_its_headers() {
    let t = table(
        r#"
rules:
  - id: bin
    match: { path: /bin }
    response: { template: wiremock, base64: "AAEC/w==", headers: { X-Path: "{{request.path}}" } }
"#,
    );
    let s = serve(&t, "GET", "/bin", &[], "").unwrap();
    assert!(s.text.contains("X-Path: /bin\r\n"), "{}", s.text);
    assert!(s.text.contains("content-length: 4\r\n"), "{}", s.text);
    assert_eq!(body_of(&s), "\0\u{1}\u{2}\u{fffd}", "the bytes as decoded, 0xff shown as U+FFFD");
    let refused = errors("rules:\n  - { id: bin, response: { template: true, base64: \"AAEC/w==\" } }\n");
    assert!(refused.iter().any(|e| e.contains("UTF-8")), "{refused:?}");
}

#[test]
fn response_bodies_in_every_form() {
    let dir = std::env::temp_dir().join(format!("mockplane-rules-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pet.json"), b"{\"name\":\"Rex\"}").unwrap();
    let options = CompileOptions { base_dir: Some(dir.clone()), ..Default::default() };
    let t = table_with(
        r#"
rules:
  - { id: text, match: { path: /text }, response: { body: "plain" } }
  - { id: json, match: { path: /json }, response: { json: { a: [1, 2] }, headers: { Set-Cookie: [a=1, b=2] } } }
  - { id: b64, match: { path: /b64 }, response: { base64: "AAEC/w==" } }
  - { id: file, match: { path: /file }, response: { file: pet.json, headers: { content-type: application/json } } }
"#,
        &options,
    );
    assert_eq!(body_of(&serve(&t, "GET", "/text", &[], "").unwrap()), "plain");
    let json = serve(&t, "GET", "/json", &[], "").unwrap();
    assert_eq!(body_of(&json), r#"{"a":[1,2]}"#);
    assert!(json.text.contains("Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"), "{}", json.text);
    assert!(json.text.contains("content-type: application/json\r\n"));
    let b64 = serve(&t, "GET", "/b64", &[], "").unwrap();
    assert!(b64.text.contains("content-length: 4\r\n"));
    assert_eq!(body_of(&serve(&t, "GET", "/file", &[], "").unwrap()), r#"{"name":"Rex"}"#);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_rule_set_is_refused_with_every_error_and_its_place() {
    let errs = errors(
        r#"
upstreams: { broken: "ftp://nope" }
rules:
  - { id: a, match: { path: { regex: "(unclosed" } }, response: {} }
  - { id: a, match: { path: "/users/{id" }, response: {} }
  - { id: c, match: { client_ip: [10.0.0.0/33] }, response: { status: 99 } }
  - { id: d, response: { template: true, body: "{{request.nope}}" } }
  - { id: e, match: { body: { jsonpath: "$[" } }, response: {} }
  - { id: f, response: { delay: { uniform: { min: 5, max: 1 } }, faults: [ { type: abort } ] } }
  - { id: g, forward: { upstream: missing } }
  - { id: h, response: {}, forward: { url: "http://x" } }
  - { id: i, match: { method: get, headers: { x: { regex: "[" } } }, response: {} }
  - { id: j, times: 0, response: { headers: { content-length: "3" } } }
"#,
    );
    let places: Vec<&str> = errs.iter().map(|e| e.split(": ").next().unwrap()).collect();
    for expected in [
        "rules[0].match.path.regex",
        "rules[1].id",
        "rules[1].match.path",
        "rules[2].match.client_ip[0]",
        "rules[2].response.status",
        "rules[3].response.body",
        "rules[4].match.body.jsonpath",
        "rules[5].response.delay.uniform",
        "rules[5].response.faults[0]",
        "rules[6].forward.upstream",
        "rules[7]",
        "rules[8].match.method",
        "rules[8].match.headers.x.regex",
        "rules[9].times",
        "rules[9].response.headers.content-length",
        "upstreams.broken",
    ] {
        assert!(places.contains(&expected), "missing {expected} in:\n{}", errs.join("\n"));
    }
    assert!(errs.iter().any(|e| e.contains("duplicate id \"a\" (first used by rules[0])")), "{errs:?}");
}

#[test]
fn explain_names_the_first_failed_predicate_and_ranks_near_misses() {
    let t = table(
        r#"
rules:
  - { id: wrong-method, match: { method: POST, path: /pets, headers: { x-key: abc } }, response: {} }
  - { id: wrong-header, match: { method: GET, path: /pets, headers: { x-key: abc } }, response: {} }
  - { id: far, match: { path: /owners }, response: {} }
"#,
    );
    let headers = [Header { name: "X-Key", value: b"xyz" }];
    let req = Request::new("GET", "/pets", &headers, b"");
    let cx = RequestContext::new(&req);
    let explanation = t.explain(&cx);
    assert_eq!(explanation.selected, None);
    let near = explanation.near_misses(3);
    assert_eq!(near[0].rule_id, "wrong-header");
    let failed = near[0].failed.as_ref().unwrap();
    assert_eq!(failed.predicate, "match.headers.x-key");
    assert_eq!(failed.expected, "equals \"abc\"");
    assert_eq!(failed.actual, "\"xyz\"");
    assert_eq!(near[1].rule_id, "wrong-method");
    assert_eq!(near[1].failed.as_ref().unwrap().predicate, "match.method");
    assert_eq!(near[2].rule_id, "far");

    // Explaining changes nothing: a `times: 1` rule stays available.
    let t = table("rules:\n  - { id: once, times: 1, response: {} }\n");
    let req = Request::new("GET", "/", &[], b"");
    let cx = RequestContext::new(&req);
    assert_eq!(t.explain(&cx).selected.as_deref(), Some("once"));
    assert_eq!(t.explain(&cx).selected.as_deref(), Some("once"));
    assert_eq!(rule_for(&t, "GET", "/").as_deref(), Some("once"));
    assert_eq!(t.explain(&cx).selected, None);
    assert_eq!(t.explain(&cx).rules[0].failed.as_ref().unwrap().predicate, "times");
}

#[test]
fn every_example_rule_set_compiles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()) else { continue };
        if !["yaml", "yml", "json"].contains(&ext) {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let format = mockplane_rules::Format::from_file_name(path.to_str().unwrap());
        let set = RuleSet::parse(&text, format).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let options = CompileOptions { base_dir: Some(dir.clone()), ..Default::default() };
        RuleTable::compile(&set, &options).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen >= 1, "no examples found in {}", dir.display());
}
