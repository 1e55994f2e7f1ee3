//! Compiling a new version while reusing the unchanged rules of the previous one
//! (`RuleCache`): the table must behave exactly as a fresh compile of the whole set would.
//! Keys are each rule's JSON here (a data plane uses the rule's encoded bytes).

mod common;

use mockplane_rules::model::Rule;
use mockplane_rules::{
    CompileOptions, RenderBuffers, Request, RequestContext, RuleCache, RuleSet, RuleSetError, RuleTable,
    StateStore,
};
use rand::rngs::SmallRng;
use rand::SeedableRng;

/// Compiles `set` through the cache, reusing from `previous`; also returns how many rules were
/// reused.
fn build(
    cache: &mut RuleCache<String>,
    previous: Option<&RuleTable>,
    set: &RuleSet,
    options: &CompileOptions,
) -> (Result<RuleTable, RuleSetError>, usize) {
    let mut build = cache.begin(set.clone(), previous, options);
    for rule in &set.rules {
        let key = serde_json::to_string(rule).unwrap();
        build.push(key, || Ok::<Rule, ()>(Rule::clone(rule))).unwrap();
    }
    let reused = build.reused();
    (build.finish(), reused)
}

fn set(yaml: &str) -> RuleSet {
    RuleSet::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"))
}

/// What a client would receive: rule id, index, and the bytes (or the fault or upstream).
fn serve(t: &RuleTable, method: &str, target: &str) -> Option<(String, usize, String)> {
    let req = Request::new(method, target, &[], b"").with_client_ip("10.1.2.3".parse().unwrap());
    let cx = RequestContext::new(&req);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut buffers = RenderBuffers::default();
    let answer = t.respond(&cx, common::now(), &mut rng, &mut buffers)?;
    let text = common::reply_text(answer.reply, &buffers);
    Some((answer.rule_id.to_owned(), answer.rule_index, text))
}

const BASE: &str = r#"
variables: { REGION: eu }
upstreams: { pay: "http://127.0.0.1:8081" }
rules:
  - id: hello
    match: { method: GET, path: /hello }
    response: { body: hi }
  - id: user
    match: { method: [GET, HEAD], path: "/users/{id}", headers: { x-t: { regex: "^a+$" } } }
    response: { status: 201, template: true, headers: { x-id: "{{request.path.id}}" }, body: "{{env.REGION}} {{request.path.id}}" }
  - id: user-any
    priority: -1
    match: { path: { prefix: /users/ } }
    response: { json: { ok: true } }
  - id: seq
    match: { path: /seq }
    sequence: { responses: [ { body: one }, { body: two }, { body: three } ] }
  - id: twice
    match: { path: /twice }
    times: 2
    response: { template: true, body: "n={{counter}}" }
  - id: flow-a
    match: { path: /flow }
    scenario: { name: checkout, state: Started, next: paid }
    response: { body: started }
  - id: flow-b
    match: { path: /flow }
    scenario: { name: checkout, state: paid }
    response: { body: paid }
  - id: pay
    match: { path: { prefix: /pay } }
    forward: { upstream: pay }
  - id: re
    match: { path: { regex: "^/r/[0-9]+$" } }
    response: { status: 404, body: gone, faults: [ { type: abort, status: 503, probability: 0.5 } ] }
  - id: off
    enabled: false
    match: { path: /off }
    response: { body: off }
"#;

const TARGETS: &[(&str, &str)] = &[
    ("GET", "/hello"),
    ("POST", "/hello"),
    ("GET", "/users/7"),
    ("HEAD", "/users/8"),
    ("DELETE", "/users/9"),
    ("GET", "/seq"),
    ("GET", "/seq"),
    ("GET", "/twice"),
    ("GET", "/flow"),
    ("GET", "/flow"),
    ("GET", "/pay/x"),
    ("GET", "/r/12"),
    ("GET", "/r/12"),
    ("GET", "/off"),
    ("GET", "/marker"),
    ("GET", "/nothing"),
];

fn with_marker(yaml: &str, body: &str, at_front: bool) -> RuleSet {
    let mut s = set(yaml);
    let marker = set(&format!(
        "rules:\n  - id: marker\n    match: {{ path: /marker }}\n    response: {{ body: {body:?} }}\n"
    ))
    .rules
    .remove(0);
    if at_front {
        s.rules.insert(0, marker);
    } else {
        s.rules.push(marker);
    }
    s
}

#[test]
fn a_reused_rule_serves_exactly_what_a_fresh_compile_serves() {
    for at_front in [false, true] {
        let options = CompileOptions { state: StateStore::new(), ..Default::default() };
        let mut cache = RuleCache::new();
        let (v1, reused) = build(&mut cache, None, &with_marker(BASE, "one", !at_front), &options);
        let v1 = v1.unwrap();
        assert_eq!(reused, 0);
        // One rule edited and moved from one end to the other: every other rule moves one
        // position.
        let next = with_marker(BASE, "two", at_front);
        let (v2, reused) = build(&mut cache, Some(&v1), &next, &options);
        let v2 = v2.unwrap();
        assert_eq!(reused, next.rules.len() - 1, "every unchanged rule is reused");
        let fresh = RuleTable::compile(&next, &CompileOptions::default()).unwrap();
        assert_eq!(v2.rule_ids().collect::<Vec<_>>(), fresh.rule_ids().collect::<Vec<_>>());
        for (method, target) in TARGETS {
            assert_eq!(serve(&v2, method, target), serve(&fresh, method, target), "{method} {target}");
        }
        assert!(serve(&v2, "GET", "/marker").unwrap().2.ends_with("two"), "the edit is in force");
    }
}

#[test]
fn counters_budgets_and_scenarios_survive_a_version_that_reuses_them() {
    let options = CompileOptions { state: StateStore::new(), ..Default::default() };
    let mut cache = RuleCache::new();
    let v1 = build(&mut cache, None, &with_marker(BASE, "one", false), &options).0.unwrap();
    let body = |t: &RuleTable, target: &str| {
        serve(t, "GET", target).map(|s| s.2.rsplit('\n').next().unwrap().to_owned())
    };
    assert_eq!(body(&v1, "/seq").as_deref(), Some("one"));
    assert_eq!(body(&v1, "/twice").as_deref(), Some("n=1"));
    assert_eq!(body(&v1, "/flow").as_deref(), Some("started"));
    // The marker moves to the front: every kept rule changes position, not content.
    let (v2, reused) = build(&mut cache, Some(&v1), &with_marker(BASE, "two", true), &options);
    let v2 = v2.unwrap();
    assert_eq!(reused, 10);
    assert_eq!(body(&v2, "/seq").as_deref(), Some("two"), "the sequence goes on");
    assert_eq!(body(&v2, "/twice").as_deref(), Some("n=2"), "the counter goes on");
    assert_eq!(body(&v2, "/twice"), None, "the budget of 2 is spent across the swap");
    assert_eq!(body(&v2, "/flow").as_deref(), Some("paid"), "the scenario moved on");
    assert_eq!(body(&v1, "/seq").as_deref(), Some("three"), "the old table shares the same counters");

    // An edited rule starts over, as with a fresh compile.
    let edited = set(&BASE.replace("{ body: three }", "{ body: drei }"));
    let (v3, reused) = build(&mut cache, Some(&v2), &edited, &options);
    let v3 = v3.unwrap();
    assert_eq!(reused, 9);
    assert_eq!(body(&v3, "/seq").as_deref(), Some("one"));
    assert_eq!(body(&v3, "/twice"), None, "an unchanged rule keeps its spent budget");
    assert_eq!(options.state.scenario_state("checkout"), "paid");

    // A reset of the store reaches reused rules.
    options.state.reset();
    let (v4, reused) = build(&mut cache, Some(&v3), &edited, &options);
    assert_eq!(reused, edited.rules.len());
    let v4 = v4.unwrap();
    assert_eq!(body(&v4, "/twice").as_deref(), Some("n=1"));

    // Counters the store has let go of (another table compiled on it without the rule) are
    // not brought back by a reused rule: it starts over, as a fresh compile would.
    let mut without = edited.clone();
    without.rules.retain(|r| r.id != "twice");
    RuleTable::compile(&without, &options).unwrap();
    let (v5, reused) = build(&mut cache, Some(&v4), &edited, &options);
    assert_eq!(reused, edited.rules.len());
    assert_eq!(body(&v5.unwrap(), "/twice").as_deref(), Some("n=1"));
}

#[test]
fn changed_variables_or_upstreams_recompile_every_rule() {
    let options = CompileOptions { state: StateStore::new(), ..Default::default() };
    let mut cache = RuleCache::new();
    let v1 = build(&mut cache, None, &set(BASE), &options).0.unwrap();

    let moved = set(&BASE.replace("http://127.0.0.1:8081", "http://10.0.0.9:9000"));
    let (v2, reused) = build(&mut cache, Some(&v1), &moved, &options);
    assert_eq!(reused, 0);
    let v2 = v2.unwrap();
    assert_eq!(serve(&v2, "GET", "/pay/x").unwrap().2, "FORWARD http://10.0.0.9:9000");

    // Same rule bytes, but the variable a template uses is gone: refused as a fresh compile is.
    let gone = set(&BASE.replace("variables: { REGION: eu }", "variables: { OTHER: x }"));
    let (v3, reused) = build(&mut cache, Some(&v2), &gone, &options);
    assert_eq!(reused, 0);
    let expected = RuleTable::compile(&gone, &CompileOptions::default()).unwrap_err();
    assert_eq!(v3.unwrap_err(), expected);
    assert!(expected.to_string().contains("rules[1].response.body"), "{expected}");

    // The refused version changed nothing: the next one reuses from v2 again.
    let (v4, reused) = build(&mut cache, Some(&v2), &moved, &options);
    assert_eq!(reused, moved.rules.len());
    assert_eq!(serve(&v4.unwrap(), "GET", "/pay/x").unwrap().2, "FORWARD http://10.0.0.9:9000");
}

#[test]
fn a_duplicate_id_across_kept_and_new_rules_is_refused_as_in_a_fresh_compile() {
    let options = CompileOptions { state: StateStore::new(), ..Default::default() };
    let mut cache = RuleCache::new();
    let v1 = build(&mut cache, None, &set(BASE), &options).0.unwrap();
    let mut dup = set(BASE);
    let mut copy = dup.rules[3].clone();
    std::sync::Arc::make_mut(&mut copy).priority = 5;
    dup.rules.insert(1, copy);
    let (v2, reused) = build(&mut cache, Some(&v1), &dup, &options);
    assert_eq!(reused, 10);
    let e = v2.unwrap_err();
    assert_eq!(e, RuleTable::compile(&dup, &CompileOptions::default()).unwrap_err());
    assert_eq!(e.errors[0].to_string(), r#"rules[4].id: duplicate id "seq" (first used by rules[1])"#);
}

#[test]
fn a_bad_new_rule_is_refused_with_its_place() {
    let options = CompileOptions { state: StateStore::new(), ..Default::default() };
    let mut cache = RuleCache::new();
    let v1 = build(&mut cache, None, &set(BASE), &options).0.unwrap();
    let bad = set(&BASE.replace("\"^/r/[0-9]+$\"", "\"^/r/[0-9+$\""));
    let (v2, reused) = build(&mut cache, Some(&v1), &bad, &options);
    assert_eq!(reused, 9);
    let e = v2.unwrap_err();
    assert_eq!(e, RuleTable::compile(&bad, &CompileOptions::default()).unwrap_err());
    assert!(e.errors[0].to_string().starts_with("rules[8].match.path"), "{e}");
}

#[test]
fn nothing_is_reused_from_another_table_or_another_state_store() {
    let options = CompileOptions { state: StateStore::new(), ..Default::default() };
    let mut cache = RuleCache::new();
    let v1 = build(&mut cache, None, &set(BASE), &options).0.unwrap();
    let other = RuleTable::compile(&set(BASE), &options).unwrap();
    assert_eq!(build(&mut cache, Some(&other), &set(BASE), &options).1, 0, "not the cache's table");
    let mut cache = RuleCache::new();
    let v1b = build(&mut cache, Some(&v1), &set(BASE), &options).0.unwrap();
    let elsewhere = CompileOptions { state: StateStore::new(), ..Default::default() };
    assert_eq!(build(&mut cache, Some(&v1b), &set(BASE), &elsewhere).1, 0, "another store");
}

#[test]
fn a_rule_with_a_file_body_is_read_again_every_version() {
    let dir = std::env::temp_dir().join(format!("mockplane-reuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("b.txt"), "first").unwrap();
    let options =
        CompileOptions { base_dir: Some(dir.clone()), state: StateStore::new(), ..Default::default() };
    let yaml = "rules:\n  - { id: f, match: { path: /f }, response: { file: b.txt } }\n  - { id: g, match: { path: /g }, response: { body: g } }\n";
    let mut cache = RuleCache::new();
    let v1 = build(&mut cache, None, &set(yaml), &options).0.unwrap();
    assert!(serve(&v1, "GET", "/f").unwrap().2.ends_with("first"));
    std::fs::write(dir.join("b.txt"), "second").unwrap();
    let (v2, reused) = build(&mut cache, Some(&v1), &set(yaml), &options);
    assert_eq!(reused, 1, "only the rule without a file");
    assert!(serve(&v2.unwrap(), "GET", "/f").unwrap().2.ends_with("second"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `BASE` and a rule that competes with `re` by priority.
fn routing_base() -> String {
    format!("{BASE}  - id: any-r\n    priority: -2\n    match: {{ path: {{ prefix: /r/ }} }}\n    response: {{ body: any-r }}\n")
}

/// [`routing_base`] with one rule's YAML lines replaced: `from` → `to` (must occur once).
fn edited(from: &str, to: &str) -> RuleSet {
    let base = routing_base();
    assert_eq!(base.matches(from).count(), 1, "{from:?} occurs once");
    set(&base.replace(from, to))
}

#[test]
fn an_edit_that_changes_how_a_rule_is_found_is_served_as_a_fresh_compile_would() {
    // Each edit touches one rule in place: the version keeps every other rule, and the
    // selection order and path index must still follow the edit (they are shared with the
    // previous version only when no rule's part in them changed).
    let edits = [
        ("    response: { body: hi }", "    response: { body: hello }"),
        ("    priority: -2\n", "    priority: 1\n"),
        ("match: { method: GET, path: /hello }", "match: { method: POST, path: /hello }"),
        (", headers: { x-t: { regex: \"^a+$\" } } }", " }"),
        ("    enabled: false\n", "    enabled: true\n"),
        ("match: { method: GET, path: /hello }", "match: { method: GET, path: { prefix: /hello } }"),
        ("regex: \"^/r/[0-9]+$\"", "regex: \"^/r/[0-9]$\""),
        ("match: { path: /twice }", "match: { path: /twice2 }"),
    ];
    let targets = [TARGETS, &[("GET", "/hello/x"), ("GET", "/twice2")]].concat();
    for (from, to) in edits {
        let options = CompileOptions { state: StateStore::new(), ..Default::default() };
        let mut cache = RuleCache::new();
        let v1 = build(&mut cache, None, &set(&routing_base()), &options).0.unwrap();
        let next = edited(from, to);
        let (v2, reused) = build(&mut cache, Some(&v1), &next, &options);
        let v2 = v2.unwrap();
        assert_eq!(reused, next.rules.len() - 1, "{to:?}: the other rules are reused");
        // v1 itself is not served: its state (sequences, budgets) is v2's.
        let before = RuleTable::compile(&set(&routing_base()), &CompileOptions::default()).unwrap();
        let fresh = RuleTable::compile(&next, &CompileOptions::default()).unwrap();
        let mut differs = false;
        for (method, target) in &targets {
            let got = serve(&v2, method, target);
            differs |= got != serve(&before, method, target);
            assert_eq!(got, serve(&fresh, method, target), "{to:?}: {method} {target}");
        }
        assert!(differs, "{to:?}: the edit changes what some request gets");
    }
}

#[test]
fn a_version_that_only_changes_the_cors_block_reuses_every_rule_and_has_the_new_policy() {
    let options = CompileOptions { state: StateStore::new(), ..Default::default() };
    let mut cache = RuleCache::new();
    let v1 = build(&mut cache, None, &set(BASE), &options).0.unwrap();
    assert!(v1.cors().is_none());
    let origin = b"https://app.test";
    let header = |t: &RuleTable| {
        let mut out = Vec::new();
        let cors = t.cors().expect("a cors block");
        assert!(cors.allows(origin));
        cors.write_headers(origin, &mut out);
        String::from_utf8(out).unwrap()
    };

    let on = set(&format!("cors: {{}}\n{BASE}"));
    let (v2, reused) = build(&mut cache, Some(&v1), &on, &options);
    let v2 = v2.unwrap();
    assert_eq!(reused, on.rules.len(), "the rules did not change");
    assert_eq!(header(&v2), "access-control-allow-origin: *\r\n");

    let listed = set(&format!("cors: {{ allow_origins: [\"https://app.test\"] }}\n{BASE}"));
    let (v3, reused) = build(&mut cache, Some(&v2), &listed, &options);
    let v3 = v3.unwrap();
    assert_eq!(reused, listed.rules.len());
    assert_eq!(header(&v3), "access-control-allow-origin: https://app.test\r\nvary: origin\r\n");

    let (v4, _) = build(&mut cache, Some(&v3), &set(BASE), &options);
    assert!(v4.unwrap().cors().is_none(), "removing the block turns CORS off");
}

#[test]
fn a_reused_rule_that_sets_a_cors_header_is_refused_once_a_cors_block_appears() {
    let options = CompileOptions { state: StateStore::new(), ..Default::default() };
    let mut cache = RuleCache::new();
    let own = BASE.replace(
        "response: { body: hi }",
        "response: { body: hi, headers: { access-control-allow-origin: \"*\" } }",
    );
    let v1 = build(&mut cache, None, &set(&own), &options).0.unwrap();
    let with_cors = set(&format!("cors: {{}}\n{own}"));
    let (v2, reused) = build(&mut cache, Some(&v1), &with_cors, &options);
    assert_eq!(reused, with_cors.rules.len());
    let e = v2.unwrap_err();
    assert_eq!(e, RuleTable::compile(&with_cors, &CompileOptions::default()).unwrap_err());
    assert!(
        e.errors[0].to_string().starts_with("rules[0].response.headers.access-control-allow-origin: "),
        "{e}"
    );
}
