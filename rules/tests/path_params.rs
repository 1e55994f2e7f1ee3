//! A template's `{{request.path.NAME}}` must name a parameter of its rule's path: a typo would
//! otherwise render as empty text on every request. These tests load rule sets the way
//! `mockplane validate` does and read the refusal a user would see.

use mockplane_rules::{
    CompileOptions, Header, RenderBuffers, Reply, Request, RequestContext, RuleSet, RuleTable,
};
use rand::rngs::SmallRng;
use rand::SeedableRng;

/// The errors of `yaml`, as `mockplane validate` lists them; empty when it is valid.
fn errors(yaml: &str) -> Vec<String> {
    let set = RuleSet::from_yaml(yaml).unwrap_or_else(|e| panic!("the test's YAML: {e}"));
    match RuleTable::compile(&set, &CompileOptions::default()) {
        Ok(_) => vec![],
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn a_template_naming_a_parameter_the_path_lacks_is_refused_with_its_place() {
    let errs = errors(
        r#"
rules:
  - { id: ok, match: { path: "/ok/{id}" }, response: { template: true, body: "{{request.path.id}}" } }
  - { id: ok2, match: { path: "/ok2/{id}" }, response: { body: "{{request.path.idd}} is text here" } }
  - id: typo
    match: { method: GET, path: "/users/{id}/files/{*rest}" }
    response:
      template: true
      body: '{"id": "{{request.path.idd}}"}'
"#,
    );
    assert_eq!(
        errs,
        [
            r#"rules[2].response.body: template error at line 1, column 24: `request.path.idd` names no parameter of the rule's path "/users/{id}/files/{*rest}" (its parameters: id, rest)"#
        ]
    );
}

#[test]
fn every_place_a_template_can_read_a_path_parameter_is_checked() {
    let errs = errors(
        r#"
rules:
  - id: header
    match: { path: { template: "/a/{x}" } }
    response: { template: true, headers: { x-id: ["{{request.path.x}}", "{{request.path.y}}"] } }
  - id: argument
    match: { path: "/b/{x}" }
    response: { template: true, body: "{{jsonPath request.body '$.a' default=request.path.z}}" }
  - id: sequence
    match: { path: "/c/{x}" }
    sequence: { responses: [ { body: plain }, { template: true, body: "{{request.path.[w]}}" } ] }
"#,
    );
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs[0].starts_with(
            "rules[0].response.headers.x-id[1]: template error at line 1, column 16: `request.path.y`"
        ),
        "{}",
        errs[0]
    );
    assert!(
        errs[1].starts_with("rules[1].response.body: template error at line 1, column 52: `request.path.z`"),
        "{}",
        errs[1]
    );
    assert!(
        errs[2].starts_with(
            "rules[2].sequence.responses[1].body: template error at line 1, column 16: `request.path.w`"
        ),
        "{}",
        errs[2]
    );
}

#[test]
fn without_a_path_template_there_are_no_parameters_to_read() {
    let errs = errors(
        r#"
rules:
  - { id: exact, match: { path: /users }, response: { template: true, body: "{{request.path.id}}" } }
  - { id: prefix, match: { path: { prefix: /users/ } }, response: { template: true, body: "{{request.path.id}}" } }
  - { id: regex, match: { path: { regex: "/users/[0-9]+" } }, response: { template: true, body: "{{request.path.id}}" } }
  - { id: none, response: { template: true, body: "{{request.path.id}}" } }
  - { id: segments, match: { path: /users/me }, response: { template: true, body: "{{request.path.[1]}} {{request.path}}" } }
"#,
    );
    assert_eq!(errs.len(), 4, "{errs:#?}");
    for (i, kind) in
        ["path equals \"/users\"", "path starts with \"/users/\"", "path matches /"].iter().enumerate()
    {
        let e = &errs[i];
        assert!(
            e.starts_with(&format!("rules[{i}].response.body: template error at line 1, column 16: ")),
            "{e}"
        );
        assert!(e.contains(&format!("but the rule's path is not a template ({kind}")), "{e}");
        assert!(e.contains("`request.path.[n]` for the n-th segment"), "{e}");
    }
    assert!(errs[3].starts_with("rules[3].response.body: template error at line 1, column 16: `request.path.id` reads a path parameter, but the rule has no `match.path`"), "{}", errs[3]);
}

#[test]
fn a_path_that_does_not_compile_is_reported_once_not_again_by_its_templates() {
    let errs = errors(
        r#"
rules:
  - { id: a, match: { path: "/users/{id" }, response: { template: true, body: "{{request.path.id}}" } }
"#,
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert!(errs[0].starts_with("rules[0].match.path: "), "{}", errs[0]);
}

#[test]
fn a_parameter_the_path_has_renders_what_the_request_sent() {
    let set = RuleSet::from_yaml(
        r#"
rules:
  - id: files
    match: { path: "/users/{id}/files/{*rest}" }
    response: { template: true, headers: { x-user: "{{request.path.id}}" }, body: "{{request.path.rest}}" }
"#,
    )
    .unwrap();
    let table = RuleTable::compile(&set, &CompileOptions::default()).unwrap();
    let headers: [Header<'_>; 0] = [];
    let req = Request::new("GET", "/users/42/files/a/b.txt", &headers, b"");
    let cx = RequestContext::new(&req);
    let mut buffers = RenderBuffers::default();
    let answer = table
        .respond(&cx, std::time::SystemTime::now(), &mut SmallRng::seed_from_u64(1), &mut buffers)
        .unwrap();
    assert!(matches!(answer.reply, Reply::Rendered { .. }), "a templated answer is rendered");
    let head = String::from_utf8_lossy(&buffers.head).into_owned();
    assert!(head.contains("x-user: 42\r\n"), "{head}");
    assert_eq!(buffers.body, b"a/b.txt");
}
