//! The predicates WireMock mappings need beyond path, query and headers: the whole `url`,
//! `form` parameters, and `and`/`or`/`has_exactly`/`includes` over a name's values.

use mockplane_rules::{CompileOptions, Header, Request, RequestContext, RuleSet, RuleTable};

fn table(yaml: &str) -> RuleTable {
    let set = RuleSet::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    RuleTable::compile(&set, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn refusal(yaml: &str) -> Vec<String> {
    let set = RuleSet::from_yaml(yaml).unwrap_or_else(|e| panic!("{e}"));
    match RuleTable::compile(&set, &CompileOptions::default()) {
        Ok(_) => vec![],
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

fn selected(
    t: &RuleTable,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<String> {
    let headers: Vec<Header<'_>> =
        headers.iter().map(|(k, v)| Header { name: k, value: v.as_bytes() }).collect();
    let req = Request::new(method, target, &headers, body.as_bytes());
    let cx = RequestContext::new(&req);
    t.select(&cx).map(|s| s.rule_id().to_owned())
}

#[test]
fn url_matches_the_whole_target_exactly_or_by_regex() {
    let t = table(
        r#"
rules:
  - id: exact
    match: { url: { exact: "/search?q=shoes&page=1" } }
    response: { body: exact }
  - id: pattern
    match: { url: { regex: "/items\\?id=[0-9]+" } }
    response: { body: pattern }
"#,
    );
    assert_eq!(selected(&t, "GET", "/search?q=shoes&page=1", &[], "").as_deref(), Some("exact"));
    assert_eq!(selected(&t, "GET", "/search?page=1&q=shoes", &[], ""), None);
    assert_eq!(selected(&t, "GET", "/search", &[], ""), None);
    assert_eq!(selected(&t, "GET", "/items?id=7", &[], "").as_deref(), Some("pattern"));
    assert_eq!(selected(&t, "GET", "/items?id=x", &[], ""), None);
}

#[test]
fn form_parameters_are_read_from_urlencoded_bodies_only() {
    let t = table(
        r#"
rules:
  - id: login
    match: { method: POST, form: { user: alice, remember: { absent: true } } }
    response: { status: 204 }
"#,
    );
    let form = [("content-type", "application/x-www-form-urlencoded; charset=utf-8")];
    assert_eq!(selected(&t, "POST", "/login", &form, "user=alice&x=1").as_deref(), Some("login"));
    assert_eq!(selected(&t, "POST", "/login", &form, "user=alic%65").as_deref(), Some("login"), "decoded");
    assert_eq!(selected(&t, "POST", "/login", &form, "user=alice&remember=on"), None);
    assert_eq!(selected(&t, "POST", "/login", &[("content-type", "text/plain")], "user=alice"), None);
}

#[test]
fn multi_valued_operators_see_every_value() {
    let t = table(
        r#"
rules:
  - id: exactly
    match: { query: { tag: { has_exactly: [a, { regex: "b[0-9]" }] } } }
    response: { body: exactly }
  - id: including
    match: { query: { tag: { includes: [a] } } }
    response: { body: including }
  - id: either
    match: { headers: { x-env: { or: [dev, { contains: test }] } } }
    response: { body: either }
  - id: both
    match: { headers: { x-both: { and: [{ contains: a }, { not: { contains: z } }] } } }
    response: { body: both }
"#,
    );
    assert_eq!(selected(&t, "GET", "/?tag=b1&tag=a", &[], "").as_deref(), Some("exactly"));
    assert_eq!(selected(&t, "GET", "/?tag=b1&tag=a&tag=c", &[], "").as_deref(), Some("including"));
    assert_eq!(selected(&t, "GET", "/?tag=c", &[], ""), None);
    assert_eq!(selected(&t, "GET", "/", &[("x-env", "my-test-1")], "").as_deref(), Some("either"));
    assert_eq!(selected(&t, "GET", "/", &[("x-both", "abc")], "").as_deref(), Some("both"));
    assert_eq!(selected(&t, "GET", "/", &[("x-both", "abz")], ""), None);
}

#[test]
fn a_reason_phrase_replaces_the_standard_one_and_must_stay_on_its_line() {
    let t = table("rules:\n  - id: r\n    response: { status: 299, reason: All Good }\n");
    let req = Request::new("GET", "/", &[], b"");
    let cx = RequestContext::new(&req);
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(1);
    let mut buffers = mockplane_rules::RenderBuffers::default();
    let answer =
        t.respond(&cx, std::time::SystemTime::UNIX_EPOCH, &mut rng, &mut buffers).expect("an answer");
    let mockplane_rules::Reply::Static(s) = answer.reply else { panic!("a static reply") };
    assert!(s.head().starts_with(b"HTTP/1.1 299 All Good\r\n"), "{:?}", String::from_utf8_lossy(s.head()));
    assert_eq!(
        refusal("rules:\n  - id: r\n    response: { reason: \"a\\r\\nx: y\" }\n"),
        ["rules[0].response.reason: a reason phrase is at most 256 bytes of visible characters, spaces and tabs"]
    );
}

#[test]
fn bad_url_form_and_lists_are_refused_with_their_place() {
    let errors = refusal(
        r#"
rules:
  - id: r
    match:
      url: { exact: "/a", regex: "/b" }
      form: { "": x }
      query: { t: { includes: [] } }
    response: {}
"#,
    );
    assert_eq!(
        errors,
        [
            "rules[0].match.query.t.includes: needs at least one matcher",
            "rules[0].match.url: set exactly one of exact, regex (found: exact, regex)",
            "rules[0].match.form[\"\"]: a name must not be empty",
        ]
    );
}
