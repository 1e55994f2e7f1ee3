//! The rule set as a whole document: the `format` key of a versioned export, and the
//! `scenarios` block that gives a scenario another initial state than `Started`.

mod common;

use mockplane_rules::{
    CompileOptions, RenderBuffers, Request, RequestContext, RuleSet, RuleTable, StateStore,
};
use rand::rngs::SmallRng;
use rand::SeedableRng;

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

fn compile(yaml: &str, state: &StateStore) -> RuleTable {
    let set = RuleSet::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    let options = CompileOptions { state: state.clone(), ..Default::default() };
    RuleTable::compile(&set, &options).unwrap_or_else(|e| panic!("{e}"))
}

/// The body a request gets.
fn body(t: &RuleTable, method: &str, path: &str) -> String {
    let req = Request::new(method, path, &[], b"");
    let cx = RequestContext::new(&req);
    let mut buffers = RenderBuffers::default();
    let answer =
        t.respond(&cx, common::now(), &mut SmallRng::seed_from_u64(1), &mut buffers).expect("a rule");
    let text = common::reply_text(answer.reply, &buffers);
    text.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned()
}

const CHECKOUT: &str = r#"
scenarios:
  checkout: { initial: Paid }
rules:
  - id: pay
    match: { method: POST, path: /pay }
    scenario: { name: checkout, state: Started, next: Paid }
    response: { body: paid }
  - id: refund
    match: { method: POST, path: /refund }
    scenario: { name: checkout, state: Paid, next: Started }
    response: { body: refunded }
  - id: status-paid
    match: { path: /status }
    scenario: { name: checkout, state: Paid }
    response: { body: Paid }
  - id: status
    match: { path: /status }
    response: { body: Started }
"#;

#[test]
fn a_scenario_starts_in_its_declared_initial_state_and_a_reset_goes_back_there() {
    let state = StateStore::new();
    let t = compile(CHECKOUT, &state);
    assert_eq!(body(&t, "GET", "/status"), "Paid");
    assert_eq!(body(&t, "POST", "/refund"), "refunded");
    assert_eq!(body(&t, "GET", "/status"), "Started");
    state.reset();
    assert_eq!(body(&t, "GET", "/status"), "Paid");
}

#[test]
fn a_reload_keeps_a_scenario_s_state_unless_its_initial_state_changes() {
    let state = StateStore::new();
    let t = compile(CHECKOUT, &state);
    body(&t, "POST", "/refund");
    // The same rules again: the scenario stays where the requests took it.
    let t = compile(CHECKOUT, &state);
    assert_eq!(body(&t, "GET", "/status"), "Started");
    body(&t, "POST", "/pay");
    // Without the declaration the scenario starts in `Started`, and is put there.
    let plain = CHECKOUT.replace("scenarios:\n  checkout: { initial: Paid }\n", "");
    let t = compile(&plain, &state);
    assert_eq!(body(&t, "GET", "/status"), "Started");
    state.reset();
    assert_eq!(body(&t, "GET", "/status"), "Started");
}

#[test]
fn an_empty_scenario_name_or_initial_state_is_refused_at_its_place() {
    let yaml = "scenarios:\n  checkout: { initial: \" \" }\n  \"\": { initial: Paid }\nrules: []\n";
    assert_eq!(
        errors(yaml),
        [
            "scenarios[\"\"]: a scenario name must not be empty",
            "scenarios.checkout.initial: must not be empty"
        ]
    );
    assert_eq!(
        errors("scenarios:\n  checkout: { inital: Paid }\nrules: []\n"),
        [
            "scenarios.checkout.inital: unknown field `inital`, expected `initial`",
            "scenarios.checkout: missing field `initial`"
        ]
    );
}

#[test]
fn a_versioned_document_reads_as_its_rule_set_and_writes_back_the_same() {
    let set = RuleSet::from_yaml(CHECKOUT).unwrap();
    let yaml = set.to_document_yaml();
    assert!(yaml.starts_with("format: mockplane/v1\nscenarios:\n"), "{yaml}");
    assert_eq!(RuleSet::from_yaml(&yaml).unwrap(), set);
    let json = set.to_document_json();
    assert!(json.starts_with("{\n  \"format\": \"mockplane/v1\",\n"), "{json}");
    assert_eq!(RuleSet::from_json(&json).unwrap(), set);
}

#[test]
fn a_document_of_an_unknown_format_is_refused_naming_the_formats_this_build_reads() {
    // Only the format is reported, not the fields a later version might have added.
    assert_eq!(
        errors("format: mockplane/v2\nsomething_new: true\nrules: []\n"),
        ["format: \"mockplane/v2\" is not a format this build of mockplane reads (it reads mockplane/v1); a newer mockplane may"]
    );
    assert_eq!(
        errors("format: 1\nrules: []\n"),
        ["format: expected a format name such as \"mockplane/v1\", found a number"]
    );
}
