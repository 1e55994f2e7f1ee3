//! What a client learns from a 404, and what an operator learns from `POST /explain`: the
//! default 404 names the closest rules among those the path reaches, checks a bounded number of
//! them whatever the size of the table, and points to the full explanation when it has nothing
//! to say; `x-mockplane-explain: all` (unless turned off) and the admin endpoint check every rule.

mod util;

use mockplane_dataplane::IoDriver;
use serde_json::{json, Value};
use util::{client, Server};

both_drivers!(
    a_miss_names_rules_on_the_same_path_with_any_method,
    a_miss_names_rules_reached_by_template_and_prefix,
    a_path_no_rule_reaches_gets_a_hint_and_checks_nothing,
    a_crowded_path_checks_a_bounded_number_of_rules,
    the_explain_header_checks_every_rule,
    the_explain_header_can_be_turned_off,
    admin_explain_names_the_selected_rule_and_the_near_misses,
    admin_explain_refuses_bad_descriptions,
    journaled_misses_show_their_closest_rules_when_read,
);

/// `n` rules on distinct exact paths `/api/v1/items/{i}`, then `extra`.
fn many_items(n: usize, extra: &str) -> String {
    let mut yaml = String::from("rules:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - id: item-{i}\n    match: {{ method: GET, path: /api/v1/items/{i} }}\n    response: {{ body: item }}\n"
        ));
    }
    yaml.push_str(extra);
    yaml
}

fn miss(server: &Server, method: &str, path: &str, headers: &[(&str, &str)]) -> Value {
    let mut request = client().request(method.parse().unwrap(), server.url(path));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let r = request.send().unwrap();
    assert_eq!(r.status().as_u16(), 404, "{method} {path}");
    r.json().unwrap()
}

fn rule_ids(body: &Value) -> Vec<&str> {
    body["closest_rules"]
        .as_array()
        .expect("closest_rules")
        .iter()
        .map(|r| r["rule"].as_str().unwrap())
        .collect()
}

fn a_miss_names_rules_on_the_same_path_with_any_method(driver: IoDriver) {
    let server = Server::start(
        driver,
        &many_items(
            1000,
            r#"
  - id: delete-item
    match: { method: DELETE, path: /api/v1/items/42, headers: { x-admin: "yes" } }
    response: { status: 204 }
"#,
        ),
    );
    let body = miss(&server, "PUT", "/api/v1/items/42", &[]);
    assert_eq!(rule_ids(&body), ["item-42", "delete-item"], "{body:#}");
    assert_eq!(
        body["closest_rules"][0]["failed"],
        json!({ "predicate": "match.method", "expected": "method is GET", "actual": "PUT" })
    );
    assert_eq!(body["checked"], 2, "only the rules on this path are checked: {body:#}");
    assert!(body.get("hint").is_none(), "{body:#}");
}

fn a_miss_names_rules_reached_by_template_and_prefix(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: user
    match: { method: GET, path: "/users/{id}", query: { expand: { equals: "true" } } }
    response: { body: user }
  - id: static
    match: { method: GET, path: { prefix: /users/ }, headers: { accept: { contains: html } } }
    response: { body: static }
  - id: orders
    match: { method: GET, path: /orders }
    response: { body: orders }
"#,
    );
    let body = miss(&server, "GET", "/users/7?expand=false", &[]);
    assert_eq!(rule_ids(&body), ["user", "static"], "{body:#}");
    assert_eq!(body["closest_rules"][0]["failed"]["predicate"], "match.query.expand");
    assert_eq!(body["closest_rules"][1]["failed"]["predicate"], "match.headers.accept");
    assert_eq!(body["request"], json!({ "method": "GET", "path": "/users/7", "query": "expand=false" }));
}

fn a_path_no_rule_reaches_gets_a_hint_and_checks_nothing(driver: IoDriver) {
    let server = Server::start(driver, &many_items(1000, ""));
    let body = miss(&server, "GET", "/api/v1/itemz/4242", &[]);
    assert_eq!(rule_ids(&body), Vec::<&str>::new());
    assert_eq!(body["checked"], 0);
    let hint = body["hint"].as_str().expect("a hint");
    assert!(hint.contains("no rule's path matches") && hint.contains("x-mockplane-explain: all"), "{hint}");
}

fn a_crowded_path_checks_a_bounded_number_of_rules(driver: IoDriver) {
    let mut yaml = String::from("rules:\n");
    for i in 0..40 {
        yaml.push_str(&format!(
            "  - id: tenant-{i}\n    match: {{ path: /api, headers: {{ x-tenant: \"t{i}\" }} }}\n    response: {{ body: t }}\n"
        ));
    }
    let server = Server::start(driver, &yaml);
    let body = miss(&server, "GET", "/api", &[("x-tenant", "nobody")]);
    assert_eq!(body["checked"], mockplane_rules::NEAR_MISS_CHECKS);
    assert_eq!(rule_ids(&body), ["tenant-0", "tenant-1", "tenant-2"], "{body:#}");
    assert!(body["hint"].as_str().unwrap().contains("more rules match this path than a 404 checks"));
}

fn the_explain_header_checks_every_rule(driver: IoDriver) {
    let server = Server::start(
        driver,
        &many_items(
            200,
            r#"
  - id: close-one
    match: { method: GET, path: { prefix: /api/v1/itemz/ }, headers: { x-key: "k" } }
    response: { body: close }
"#,
        ),
    );
    // The prefix rule is reached by the index; every rule is only checked when asked.
    let asked = miss(&server, "GET", "/api/v1/itemz/4242", &[("x-mockplane-explain", "all")]);
    assert_eq!(asked["checked"], 201, "{asked:#}");
    let named = rule_ids(&asked);
    assert_eq!(named.len(), 10, "{asked:#}");
    assert_eq!(named[0], "close-one", "the rule whose path fits comes first: {asked:#}");
    assert_eq!(named[1], "item-0");
    assert_eq!(asked["closest_rules"][1]["failed"]["predicate"], "match.path");
    assert!(asked.get("hint").is_none());
    let default = miss(&server, "GET", "/api/v1/itemz/4242", &[]);
    assert_eq!(rule_ids(&default), ["close-one"]);
    assert_eq!(default["checked"], 1);
}

fn the_explain_header_can_be_turned_off(driver: IoDriver) {
    let server = Server::start_with(driver, Some(&many_items(50, "")), |c| c.explain_header = false);
    let body = miss(&server, "GET", "/nowhere", &[("x-mockplane-explain", "all")]);
    assert_eq!(body["checked"], 0, "the header is ignored: {body:#}");
    let hint = body["hint"].as_str().expect("a hint");
    assert!(!hint.contains("x-mockplane-explain"), "the hint does not offer what is turned off: {hint}");
}

fn admin_post(server: &Server, path: &str, body: &str) -> (u16, Value) {
    let r = client().post(format!("http://{}{path}", server.admin())).body(body.to_owned()).send().unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap())
}

fn admin_explain_names_the_selected_rule_and_the_near_misses(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: create
    match: { method: POST, path: /users, headers: { content-type: { contains: json } }, body: { jsonpath: "$.name" } }
    response: { status: 201 }
  - id: list
    match: { method: GET, path: /users }
    response: { json: [] }
  - id: once
    match: { method: GET, path: /once }
    times: 1
    response: { body: once }
"#,
    );
    let (status, answer) = admin_post(
        &server,
        "/explain",
        r#"{"method": "POST", "path": "/users?x=1", "headers": {"content-type": "application/json"}, "body": "{\"name\": \"ann\"}"}"#,
    );
    assert_eq!(status, 200, "{answer:#}");
    assert_eq!(answer["selected"], "create");
    assert_eq!(answer["checked"], 3);
    assert_eq!(answer["request"]["query"], "x=1");
    let near = answer["near_misses"].as_array().unwrap();
    assert_eq!(near[0]["rule_id"], "list", "{answer:#}");
    assert_eq!(near[0]["failed"]["predicate"], "match.method");
    assert!(answer.get("rules").is_none());

    let (_, answer) = admin_post(
        &server,
        "/explain",
        r#"{"path": "/users", "headers": [["content-type", "text/plain"]], "all": true, "limit": 1}"#,
    );
    assert_eq!(answer["selected"], "list");
    assert_eq!(answer["near_misses"].as_array().unwrap().len(), 1);
    let every: Vec<&str> =
        answer["rules"].as_array().unwrap().iter().map(|v| v["rule_id"].as_str().unwrap()).collect();
    assert_eq!(every, ["create", "list", "once"]);

    // Explaining changes nothing: the `times: 1` rule still serves once after being explained.
    for _ in 0..3 {
        let (_, a) = admin_post(&server, "/explain", r#"{"path": "/once"}"#);
        assert_eq!(a["selected"], "once");
    }
    assert_eq!(server.get("/once").status, 200);
    assert_eq!(server.get("/once").status, 404);
}

fn admin_explain_refuses_bad_descriptions(driver: IoDriver) {
    let server =
        Server::start(driver, "rules:\n  - id: ok\n    match: { path: /ok }\n    response: { body: ok }\n");
    for (body, says) in [
        ("not json", "must be JSON"),
        (r#"{"method": "GET"}"#, "missing field `path`"),
        (r#"{"path": "users"}"#, "path must start with '/'"),
        (r#"{"path": "/", "method": "G T"}"#, "method must be an HTTP token"),
        (r#"{"path": "/", "colour": "red"}"#, "unknown field `colour`"),
    ] {
        let (status, answer) = admin_post(&server, "/explain", body);
        assert_eq!(status, 400, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(says), "{body}: {error}");
    }
    let r = server.admin_get("/explain");
    assert_eq!(r.status, 405);
}

fn journaled_misses_show_their_closest_rules_when_read(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: get-user
    match: { method: GET, path: "/users/{id}" }
    response: { body: user }
"#,
    );
    assert_eq!(server.get("/users/1").status, 200);
    miss(&server, "DELETE", "/users/1", &[]);
    util::poll_until("both requests journaled", std::time::Duration::from_secs(3), || {
        (server.journal("").len() == 2).then_some(())
    });
    let answer = server.admin_json("/journal");
    let entries = answer["entries"].as_array().unwrap();
    let (missed, served) = (&entries[0], &entries[1]);
    assert_eq!((missed["status"].as_u64(), missed["method"].as_str()), (Some(404), Some("DELETE")));
    assert_eq!(
        missed["closest_rules"],
        json!([{ "rule": "get-user", "failed": { "predicate": "match.method", "expected": "method is GET", "actual": "DELETE" } }])
    );
    assert!(served.get("closest_rules").is_none(), "a hit has no near misses: {served}");
    assert!(answer["note"].as_str().unwrap().contains("computed when the journal is read"));

    // Computed when read: against the rules in force now, not those that refused the request.
    server.install(
        r#"
rules:
  - id: delete-user
    match: { method: DELETE, path: "/users/{id}", headers: { x-admin: "yes" } }
    response: { status: 204 }
"#,
    );
    let entries = server.journal("status=404");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["closest_rules"][0]["rule"], "delete-user");
    assert_eq!(entries[0]["closest_rules"][0]["failed"]["predicate"], "match.headers.x-admin");
}
