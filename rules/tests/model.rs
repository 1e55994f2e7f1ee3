//! Parts of the rule model a user relies on that `features.rs` does not pin: method lists and
//! wildcards, what the engine keeps of `name`, `tags` and the file's scope, every out-of-range
//! value it refuses (with the place it names), and `file:` bodies read once, at compile time.

mod common;

use mockplane_rules::{CompileOptions, RenderBuffers, Request, RequestContext, RuleSet, RuleTable};
use rand::rngs::SmallRng;
use rand::SeedableRng;

fn table_with(yaml: &str, options: &CompileOptions) -> RuleTable {
    let set = RuleSet::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    RuleTable::compile(&set, options).unwrap_or_else(|e| panic!("{e}"))
}

fn table(yaml: &str) -> RuleTable {
    table_with(yaml, &CompileOptions::default())
}

/// The id of the rule serving `method /`, if any.
fn rule_for(t: &RuleTable, method: &str, target: &str) -> Option<String> {
    let req = Request::new(method, target, &[], b"");
    let cx = RequestContext::new(&req);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut buffers = RenderBuffers::default();
    t.respond(&cx, common::now(), &mut rng, &mut buffers).map(|a| a.rule_id.to_owned())
}

/// The full text a client receives for `GET target`.
fn served(t: &RuleTable, target: &str) -> String {
    let req = Request::new("GET", target, &[], b"");
    let cx = RequestContext::new(&req);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut buffers = RenderBuffers::default();
    let answer = t.respond(&cx, common::now(), &mut rng, &mut buffers).expect("a rule matches");
    common::reply_text(answer.reply, &buffers)
}

/// The errors compiling (or reading) `yaml` yields, as `(place, message)`; empty when it compiles.
fn refusal_with(yaml: &str, options: &CompileOptions) -> Vec<(String, String)> {
    let result = RuleSet::from_yaml(yaml).and_then(|set| RuleTable::compile(&set, options).map(drop));
    match result {
        Ok(()) => vec![],
        Err(e) => e.errors.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

fn refusal(yaml: &str) -> Vec<(String, String)> {
    refusal_with(yaml, &CompileOptions::default())
}

/// Asserts that `yaml` is refused with exactly one error, at `place`, whose message contains
/// every one of `phrases`.
#[track_caller]
fn assert_refused(yaml: &str, place: &str, phrases: &[&str]) {
    let errs = refusal(yaml);
    assert_eq!(errs.len(), 1, "expected one error at {place} for\n{yaml}\ngot {errs:#?}");
    let (path, message) = &errs[0];
    assert_eq!(path, place, "{message}\nfor\n{yaml}");
    for phrase in phrases {
        assert!(message.contains(phrase), "{place}: {message:?} lacks {phrase:?}\nfor\n{yaml}");
    }
}

#[track_caller]
fn assert_accepted(yaml: &str) {
    let errs = refusal(yaml);
    assert!(errs.is_empty(), "expected\n{yaml}\nto compile, got {errs:#?}");
}

/// One rule answering with `response`, a YAML flow map.
fn response_rule(response: &str) -> String {
    format!("rules:\n  - {{ id: r, response: {response} }}\n")
}

// ---------------------------------------------------------------------------------------------
// 1. Methods

#[test]
fn any_and_star_match_every_method_and_a_list_only_its_own() {
    let t = table(
        r#"
rules:
  - { id: any,  match: { method: ANY, path: /any }, response: {} }
  - { id: star, match: { method: "*", path: /star }, response: {} }
  - { id: none, match: { path: /none }, response: {} }
  - { id: list, match: { method: [GET, DELETE, PURGE], path: /list }, response: {} }
  - { id: one,  match: { method: PURGE, path: /one }, response: {} }
  - { id: any-in-list, match: { method: [GET, ANY], path: /any-in-list }, response: {} }
"#,
    );
    let every = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PURGE", "PROPFIND"];
    for (path, id) in [("/any", "any"), ("/star", "star"), ("/none", "none"), ("/any-in-list", "any-in-list")]
    {
        for m in every {
            assert_eq!(rule_for(&t, m, path).as_deref(), Some(id), "{m} {path}");
        }
    }
    for m in every {
        let expected = ["GET", "DELETE", "PURGE"].contains(&m).then_some("list");
        assert_eq!(rule_for(&t, m, "/list").as_deref(), expected, "{m} /list");
        let expected = (m == "PURGE").then_some("one");
        assert_eq!(rule_for(&t, m, "/one").as_deref(), expected, "{m} /one");
    }
    assert_eq!(rule_for(&t, "purge", "/one"), None, "methods are case-sensitive");
    assert_eq!(rule_for(&t, "get", "/list"), None, "methods are case-sensitive");
}

#[test]
fn the_wildcards_are_exact_words_and_an_empty_list_is_refused() {
    assert_refused(
        "rules:\n  - { id: r, match: { method: any }, response: {} }\n",
        "rules[0].match.method",
        &["did you mean"],
    );
    assert_refused(
        "rules:\n  - { id: r, match: { method: [GET, get] }, response: {} }\n",
        "rules[0].match.method[1]",
        &["did you mean GET?"],
    );
    assert_refused(
        "rules:\n  - { id: r, match: { method: [] }, response: {} }\n",
        "rules[0].match.method",
        &["empty list"],
    );
}

// ---------------------------------------------------------------------------------------------
// 2. name, tags, project and environment

const SCOPED: &str = r#"
project: shop
environment: staging
rules:
  - id: tagged
    name: A tagged rule
    tags: [users, errors, "with space"]
    response: { body: tagged }
  - { id: bare, response: {} }
"#;

#[test]
fn name_and_tags_are_kept_and_survive_a_round_trip() {
    let set = RuleSet::from_yaml(SCOPED).unwrap_or_else(|e| panic!("{e}"));
    let tagged = &set.rules[0];
    assert_eq!(tagged.name.as_deref(), Some("A tagged rule"));
    assert_eq!(tagged.tags, ["users", "errors", "with space"]);
    assert_eq!(set.rules[1].name, None);
    assert!(set.rules[1].tags.is_empty());

    for text in [set.to_yaml(), set.to_json()] {
        let again = RuleSet::from_yaml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(again, set, "{text}");
        assert!(text.contains("A tagged rule") && text.contains("with space"), "{text}");
    }

    // They are labels only: the rule compiles and serves as without them.
    let t = RuleTable::compile(&set, &CompileOptions::default()).unwrap();
    assert_eq!(t.rule_ids().collect::<Vec<_>>(), ["tagged", "bare"]);
    assert_eq!(rule_for(&t, "GET", "/"), Some("tagged".into()));
}

#[test]
fn name_and_tags_of_the_wrong_type_are_refused_at_their_place() {
    let errs =
        refusal("rules:\n  - { id: a, name: [x], response: {} }\n  - { id: b, tags: t, response: {} }\n");
    let places: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(places, ["rules[0].name", "rules[1].tags"], "{errs:#?}");
}

#[test]
fn the_table_reports_the_scope_the_file_declared() {
    let set = RuleSet::from_yaml(SCOPED).unwrap();
    assert_eq!((set.project.as_deref(), set.environment.as_deref()), (Some("shop"), Some("staging")));
    assert_eq!(table(SCOPED).scope(), (Some("shop"), Some("staging")));
    assert_eq!(table("environment: prod\nrules: []\n").scope(), (None, Some("prod")));
    assert_eq!(table("project: p\n").scope(), (Some("p"), None));
    assert_eq!(table("rules: []\n").scope(), (None, None));
    assert_eq!(RuleTable::empty().scope(), (None, None));
}

// ---------------------------------------------------------------------------------------------
// 3. Out-of-range values

#[test]
fn fault_probabilities_must_lie_in_0_to_1() {
    assert_refused(
        &response_rule("{ faults: [ { type: connection_reset, probability: 1.5 } ] }"),
        "rules[0].response.faults[0].probability",
        &["must be within 0..=1", "got 1.5"],
    );
    assert_refused(
        &response_rule("{ faults: [ { type: empty_response, probability: 0.1 }, { type: random_data, probability: -0.1 } ] }"),
        "rules[0].response.faults[1].probability",
        &["must be within 0..=1", "got -0.1"],
    );
    // The bounds themselves are allowed.
    assert_accepted(&response_rule("{ faults: [ { type: connection_reset, probability: 0 } ] }"));
    assert_accepted(&response_rule("{ faults: [ { type: connection_reset, probability: 1 } ] }"));
}

#[test]
fn fault_probabilities_must_add_up_to_at_most_1() {
    assert_refused(
        &response_rule(
            "{ faults: [ { type: abort, status: 503, probability: 0.6 }, { type: connection_reset, probability: 0.6 } ] }",
        ),
        "rules[0].response.faults",
        &["add up to 1.2", "more than 1"],
    );
    // Exactly 1 in total is fine, even when the sum is not exact in binary.
    assert_accepted(&response_rule(
        "{ faults: [ { type: empty_response, probability: 0.7 }, { type: random_data, probability: 0.2 }, { type: malformed_chunk, probability: 0.1 } ] }",
    ));
    // The same checks on a forward action and inside a sequence, at their own places.
    assert_refused(
        "rules:\n  - { id: f, forward: { url: \"http://127.0.0.1:9\", faults: [ { type: connection_reset, probability: 2 } ] } }\n",
        "rules[0].forward.faults[0].probability",
        &["must be within 0..=1"],
    );
    assert_refused(
        "rules:\n  - id: s\n    sequence: { responses: [ {}, { faults: [ { type: connection_reset }, { type: empty_response } ] } ] }\n",
        "rules[0].sequence.responses[1].faults",
        &["add up to 2", "more than 1"],
    );
}

#[test]
fn an_abort_fault_needs_a_valid_status_and_only_it_takes_one() {
    assert_refused(
        &response_rule("{ faults: [ { type: abort } ] }"),
        "rules[0].response.faults[0]",
        &["needs a status"],
    );
    assert_refused(
        &response_rule("{ faults: [ { type: abort, status: 99 } ] }"),
        "rules[0].response.faults[0].status",
        &["must be 100..=599", "got 99"],
    );
    assert_refused(
        &response_rule("{ faults: [ { type: abort, status: 600 } ] }"),
        "rules[0].response.faults[0].status",
        &["must be 100..=599", "got 600"],
    );
    assert_refused(
        &response_rule("{ faults: [ { type: connection_reset, status: 503 } ] }"),
        "rules[0].response.faults[0].status",
        &["only an abort fault takes a status"],
    );
}

#[test]
fn a_delay_sets_exactly_one_form() {
    assert_refused(
        &response_rule("{ delay: { fixed: 10, uniform: { min: 1, max: 2 } } }"),
        "rules[0].response.delay",
        &["set exactly one of fixed, uniform, normal, lognormal, step", "(found: fixed, uniform)"],
    );
    assert_refused(
        &response_rule(
            "{ delay: { normal: { mean: 1, stddev: 1 }, step: { base: 1, step: 1, max: 2 }, fixed: 3 } }",
        ),
        "rules[0].response.delay",
        &["(found: fixed, normal, step)"],
    );
    assert_refused(&response_rule("{ delay: {} }"), "rules[0].response.delay", &["(found: none)"]);
}

#[test]
fn delay_parameters_out_of_range_are_refused_at_their_form() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("{ fixed: 3600001 }", "fixed", &["at most 3600000 ms", "got 3600001"]),
        ("{ uniform: { min: 5, max: 1 } }", "uniform", &["min <= max", "got min 5 max 1"]),
        ("{ uniform: { min: 0, max: 3600001 } }", "uniform", &["<= 3600000 ms", "max 3600001"]),
        ("{ normal: { mean: 100, stddev: -1 } }", "normal", &["0 <= mean, stddev", "got mean 100 stddev -1"]),
        ("{ normal: { mean: -5, stddev: 1 } }", "normal", &["0 <= mean, stddev", "got mean -5 stddev 1"]),
        ("{ normal: { mean: 3600001, stddev: 1 } }", "normal", &["<= 3600000 ms", "mean 3600001"]),
        ("{ normal: { mean: 1, stddev: 3600001 } }", "normal", &["<= 3600000 ms", "stddev 3600001"]),
        ("{ lognormal: { median: 0, sigma: 0.5 } }", "lognormal", &["0 < median", "got median 0 sigma 0.5"]),
        ("{ lognormal: { median: -1, sigma: 0.5 } }", "lognormal", &["0 < median", "got median -1"]),
        ("{ lognormal: { median: 3600001, sigma: 0.5 } }", "lognormal", &["median <= 3600000 ms"]),
        ("{ lognormal: { median: 100, sigma: -0.1 } }", "lognormal", &["0 <= sigma <= 10", "sigma -0.1"]),
        ("{ lognormal: { median: 100, sigma: 10.5 } }", "lognormal", &["0 <= sigma <= 10", "sigma 10.5"]),
        ("{ step: { base: 10, step: 1, max: 5 } }", "step", &["base <= max", "got base 10 max 5"]),
        ("{ step: { base: 0, step: 1, max: 3600001 } }", "step", &["<= 3600000 ms", "max 3600001"]),
    ];
    for (delay, form, phrases) in cases {
        assert_refused(
            &response_rule(&format!("{{ delay: {delay} }}")),
            &format!("rules[0].response.delay.{form}"),
            phrases,
        );
        // The same delay on a forward action is refused at the forward's place.
        assert_refused(
            &format!("rules:\n  - {{ id: f, forward: {{ url: \"http://127.0.0.1:9\", delay: {delay} }} }}\n"),
            &format!("rules[0].forward.delay.{form}"),
            phrases,
        );
    }
}

#[test]
fn delay_parameters_at_their_bounds_are_accepted() {
    for delay in [
        "{ fixed: 0 }",
        "{ fixed: 3600000 }",
        "{ uniform: { min: 7, max: 7 } }",
        "{ uniform: { min: 0, max: 3600000 } }",
        "{ normal: { mean: 0, stddev: 0 } }",
        "{ normal: { mean: 3600000, stddev: 3600000 } }",
        "{ lognormal: { median: 0.001, sigma: 0 } }",
        "{ lognormal: { median: 3600000, sigma: 10 } }",
        "{ step: { base: 5, step: 0, max: 5 } }",
        "{ step: { base: 0, step: 3600000, max: 3600000 } }",
    ] {
        assert_accepted(&response_rule(&format!("{{ delay: {delay} }}")));
    }
}

#[test]
fn status_must_be_100_to_599() {
    for status in [0, 99, 600, 1000] {
        assert_refused(
            &response_rule(&format!("{{ status: {status} }}")),
            "rules[0].response.status",
            &["must be 100..=599", &format!("got {status}")],
        );
    }
    assert_refused(
        "rules:\n  - id: s\n    sequence: { responses: [ { status: 200 }, { status: 1000 } ] }\n",
        "rules[0].sequence.responses[1].status",
        &["must be 100..=599", "got 1000"],
    );
    // Too large for the model's type: a shape error, still at its place.
    let errs = refusal(&response_rule("{ status: 70000 }"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].0, "rules[0].response.status", "{errs:#?}");

    let t = table("rules:\n  - { id: lo, match: { path: /lo }, response: { status: 100 } }\n  - { id: hi, match: { path: /hi }, response: { status: 599 } }\n");
    assert!(served(&t, "/lo").starts_with("HTTP/1.1 100 "), "{}", served(&t, "/lo"));
    assert!(served(&t, "/hi").starts_with("HTTP/1.1 599 "), "{}", served(&t, "/hi"));
}

#[test]
fn times_zero_is_refused_and_one_is_the_least() {
    assert_refused(
        "rules:\n  - { id: r, times: 0, response: {} }\n",
        "rules[0].times",
        &["must be at least 1", "disable the rule"],
    );
    let t = table("rules:\n  - { id: once, times: 1, response: {} }\n");
    assert_eq!(rule_for(&t, "GET", "/").as_deref(), Some("once"));
    assert_eq!(rule_for(&t, "GET", "/"), None);
    let errs = refusal("rules:\n  - { id: r, times: -1, response: {} }\n");
    assert_eq!(errs.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(), ["rules[0].times"], "{errs:#?}");
}

#[test]
fn every_out_of_range_value_in_one_file_is_listed_in_document_order() {
    let errs = refusal(
        r#"
rules:
  - { id: ok, response: {} }
  - id: bad
    times: 0
    response:
      status: 99
      delay: { normal: { mean: 10, stddev: -1 } }
      faults: [ { type: connection_reset, probability: 1.5 }, { type: empty_response, probability: -1 } ]
"#,
    );
    let places: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        places,
        [
            "rules[1].response.status",
            "rules[1].response.delay.normal",
            "rules[1].response.faults[0].probability",
            "rules[1].response.faults[1].probability",
            "rules[1].times",
        ],
        "{errs:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. file bodies

#[test]
fn a_missing_body_file_is_refused_with_the_rules_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("present.txt"), "here").unwrap();
    let options = CompileOptions { base_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let errs = refusal_with(
        r#"
rules:
  - { id: fine, match: { path: /a }, response: { file: present.txt } }
  - { id: missing, match: { path: /b }, response: { file: nope.txt } }
  - id: in-sequence
    sequence: { responses: [ { file: present.txt }, { file: sub/also-missing.json } ] }
"#,
        &options,
    );
    let places: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(places, ["rules[1].response.file", "rules[2].sequence.responses[1].file"], "{errs:#?}");
    // The message names the file where it was looked for: under base_dir, not the working directory.
    assert!(errs[0].1.starts_with("cannot read "), "{}", errs[0].1);
    assert!(errs[0].1.contains(&dir.path().join("nope.txt").display().to_string()), "{}", errs[0].1);
    assert!(errs[1].1.contains("also-missing.json"), "{}", errs[1].1);

    // Without base_dir, a relative name is not found next to some other rules file either.
    let errs = refusal("rules:\n  - { id: r, response: { file: mockplane-no-such-file.txt } }\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].0, "rules[0].response.file");
}

#[test]
fn a_directory_is_not_a_body_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("folder")).unwrap();
    let options = CompileOptions { base_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let errs = refusal_with("rules:\n  - { id: r, response: { file: folder } }\n", &options);
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].0, "rules[0].response.file");
}

#[test]
fn a_device_is_not_a_body_file_and_is_not_read() {
    // `/dev/zero` has length 0 and never ends: reading it took all memory.
    let errs = refusal("rules:\n  - { id: r, response: { file: /dev/zero } }\n");
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!(errs[0].0, "rules[0].response.file");
    assert_eq!(errs[0].1, "cannot read /dev/zero: not a regular file");
}

#[test]
fn a_body_file_is_read_once_at_compile_time() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.json");
    let templated = dir.path().join("hello.txt");
    std::fs::write(&plain, r#"{"v":1}"#).unwrap();
    std::fs::write(&templated, "hello {{request.path}}").unwrap();
    let options = CompileOptions { base_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let t = table_with(
        r#"
rules:
  - { id: plain, match: { path: /plain }, response: { file: plain.json, headers: { content-type: application/json } } }
  - { id: templated, match: { path: /t }, response: { file: hello.txt, template: true } }
"#,
        &options,
    );
    let before_plain = served(&t, "/plain");
    let before_templated = served(&t, "/t");
    assert!(before_plain.ends_with("content-length: 7\r\n\r\n{\"v\":1}"), "{before_plain}");
    assert!(before_templated.ends_with("\r\n\r\nhello /t"), "{before_templated}");

    // Changed on disk (even growing): the table still serves what it read.
    std::fs::write(&plain, r#"{"v":2,"longer":true}"#).unwrap();
    std::fs::write(&templated, "bye {{request.method}}").unwrap();
    assert_eq!(served(&t, "/plain"), before_plain);
    assert_eq!(served(&t, "/t"), before_templated);

    // Deleted: still served.
    drop(dir);
    assert!(!plain.exists());
    assert_eq!(served(&t, "/plain"), before_plain);
    assert_eq!(served(&t, "/t"), before_templated);
}

/// The id of the rule serving `GET path` with this `Host` header.
fn rule_for_host(t: &RuleTable, host: &str, path: &str) -> Option<String> {
    let headers = [mockplane_rules::Header { name: "Host", value: host.as_bytes() }];
    let req = Request::new("GET", path, &headers, b"");
    let cx = RequestContext::new(&req);
    let mut rng = SmallRng::seed_from_u64(7);
    let mut buffers = RenderBuffers::default();
    t.respond(&cx, common::now(), &mut rng, &mut buffers).map(|a| a.rule_id.to_owned())
}

#[test]
fn many_virtual_hosts_on_one_path_each_get_their_own_rule() {
    let mut yaml = String::from("rules:\n");
    for i in 0..500 {
        yaml += &format!("  - {{ id: tenant-{i}, match: {{ host: Tenant-{i}.Example.com, path: /api/users }}, response: {{ body: t }} }}\n");
    }
    yaml +=
        "  - { id: wildcard, match: { host: '*.example.com', path: /api/users }, response: { body: w } }\n";
    yaml += "  - { id: template, match: { host: tenant-7.example.com, path: '/api/{what}' }, response: { body: x } }\n";
    yaml += "  - { id: anyone, match: { path: /api/users }, response: { body: a } }\n";
    yaml += "  - { id: boss, priority: 5, match: { host: tenant-9.example.com, path: { prefix: /api } }, response: { body: b } }\n";
    let t = table(&yaml);
    for i in [0, 1, 250, 499] {
        assert_eq!(
            rule_for_host(&t, &format!("tenant-{i}.example.com"), "/api/users").as_deref(),
            Some(&*format!("tenant-{i}"))
        );
    }
    // Host names are case-insensitive, and the port is not part of them.
    assert_eq!(rule_for_host(&t, "TENANT-3.example.COM:8443", "/api/users").as_deref(), Some("tenant-3"));
    // A host without exact rules of its own: the wildcard, then the rule for anyone.
    assert_eq!(rule_for_host(&t, "tenant-500.example.com", "/api/users").as_deref(), Some("wildcard"));
    assert_eq!(rule_for_host(&t, "example.org", "/api/users").as_deref(), Some("anyone"));
    // A host too long to lower on the stack still works.
    let long = format!("{}.ORG", "A".repeat(300));
    assert_eq!(rule_for_host(&t, &long, "/api/users").as_deref(), Some("anyone"));
    // Other kinds of path with a host keep their place in the order.
    assert_eq!(rule_for_host(&t, "tenant-7.example.com", "/api/orders").as_deref(), Some("template"));
    assert_eq!(rule_for_host(&t, "tenant-9.example.com", "/api/users").as_deref(), Some("boss"));
    assert_eq!(rule_for_host(&t, "tenant-8.example.com", "/api/orders"), None);
}

#[test]
fn a_wiremock_template_renders_unescaped_and_survives_a_round_trip() {
    let yaml = r#"
rules:
  - id: wm
    match: { path: /wm }
    response: { template: wiremock, body: "{{request.query.q}}" }
  - id: hb
    match: { path: /hb }
    response: { template: true, body: "{{request.query.q}}" }
"#;
    let set = RuleSet::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    for text in [set.to_yaml(), set.to_json()] {
        let again = RuleSet::from_yaml(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(again, set, "{text}");
        assert!(text.contains("wiremock"), "{text}");
    }
    let t = table(yaml);
    assert!(served(&t, "/wm?q=a%3Cb").ends_with("\r\n\r\na<b"), "{}", served(&t, "/wm?q=a%3Cb"));
    assert!(served(&t, "/hb?q=a%3Cb").ends_with("\r\n\r\na&lt;b"));
    assert_refused(
        "rules:\n  - { id: a, response: { template: handlebars, body: x } }\n",
        "rules[0].response.template",
        &["handlebars", "true, false or wiremock"],
    );
}
