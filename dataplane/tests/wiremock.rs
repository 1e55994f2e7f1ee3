//! `--wiremock DIR` and `--wiremock-admin`: a WireMock mappings folder served by a real data
//! plane over TCP, reloaded when it changes, and WireMock's admin API driven as a client
//! library would drive it (plain HTTP, WireMock's JSON).

mod util;

use std::path::Path;
use std::time::Duration;

use mockplane_dataplane::wiremock::WireMockSource;
use mockplane_dataplane::IoDriver;
use serde_json::{json, Value};
use util::{client, poll_until, Server};

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    std::fs::write(path, text).expect("write");
}

fn serve(root: &Path, admin: bool) -> Server {
    let dir = root.to_owned();
    Server::start_with(IoDriver::Epoll, None, move |c| {
        c.wiremock = Some(WireMockSource { dir: Some(dir), options: Default::default() });
        c.wiremock_admin = admin;
    })
}

fn admin_call(s: &Server, method: &str, path: &str, body: Value) -> (u16, Value) {
    let url = format!("http://{}{path}", s.admin());
    let req = match method {
        "POST" => client().post(url),
        "PUT" => client().put(url),
        "DELETE" => client().delete(url),
        _ => client().get(url),
    };
    let resp = req.body(body.to_string()).send().expect("the admin listener answers");
    let status = resp.status().as_u16();
    let json = resp.headers().get("content-type").is_some_and(|t| t == "application/json");
    let text = resp.text().expect("a body");
    if text.is_empty() && !json {
        return (status, Value::Null);
    }
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

fn stubs_folder() -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("a temporary folder");
    write(
        &root.path().join("mappings/users.json"),
        r#"{"mappings": [
          {"name": "me-exact", "request": {"method": "GET", "urlPath": "/users/me"}, "response": {"body": "exact"}},
          {"name": "users-any", "request": {"method": "GET", "urlPathPattern": "/users/.*"}, "response": {"body": "pattern, added later"}},
          {"name": "search", "request": {"method": "GET", "url": "/search?q=a"},
           "response": {"status": 200, "statusMessage": "Found It", "jsonBody": {"hits": [1]}, "headers": {"X-Source": "wiremock"}}},
          {"name": "greet", "request": {"method": "GET", "urlPathTemplate": "/greet/{name}"},
           "response": {"body": "hello {{request.path.name}}", "transformers": ["response-template"]}},
          {"name": "logo", "request": {"method": "GET", "urlPath": "/logo"}, "response": {"bodyFileName": "logo.txt"}},
          {"name": "xml", "request": {"method": "POST", "urlPath": "/xml", "bodyPatterns": [{"matchesXPath": "/a"}]},
           "response": {"status": 500}}
        ]}"#,
    );
    write(
        &root.path().join("mappings/cart.json"),
        r#"{"mappings": [
          {"scenarioName": "cart", "requiredScenarioState": "Started", "request": {"method": "GET", "urlPath": "/cart"},
           "response": {"jsonBody": []}},
          {"scenarioName": "cart", "requiredScenarioState": "Started", "newScenarioState": "Full",
           "request": {"method": "POST", "urlPath": "/cart"}, "response": {"status": 201}},
          {"scenarioName": "cart", "requiredScenarioState": "Full", "request": {"method": "GET", "urlPath": "/cart"},
           "response": {"jsonBody": ["book"]}}
        ]}"#,
    );
    write(&root.path().join("__files/logo.txt"), "a logo from __files");
    root
}

#[test]
fn a_mappings_folder_answers_as_wiremock_would() {
    let root = stubs_folder();
    let s = serve(root.path(), false);
    // WireMock: equal priorities, so the stub added later wins, though the other path is exact.
    assert_eq!(s.get("/users/me").text(), "pattern, added later");
    let search = s.get("/search?q=a");
    assert_eq!((search.status, search.text().as_str()), (200, r#"{"hits":[1]}"#));
    assert_eq!(search.header("x-source"), Some("wiremock"));
    assert_eq!(search.status_line, "HTTP/1.1 200 Found It");
    assert_eq!(search.header("content-type"), None, "WireMock adds no content type to jsonBody");
    assert_eq!(s.get("/search?q=a&x=1").status, 404, "url is the exact target");
    assert_eq!(s.get("/greet/ada").text(), "hello ada");
    assert_eq!(s.get("/logo").text(), "a logo from __files");
    // The XPath stub was reported and left out, and the rest serves.
    let post = client().post(s.url("/xml")).body("<a/>").send().expect("answers");
    assert_eq!(post.status().as_u16(), 404);
    // The scenario moves from Started to Full on the POST.
    assert_eq!(s.get("/cart").text(), "[]");
    assert_eq!(client().post(s.url("/cart")).send().expect("answers").status().as_u16(), 201);
    assert_eq!(s.get("/cart").text(), r#"["book"]"#);
}

#[test]
fn an_edit_of_the_folder_is_served_without_a_restart() {
    let root = stubs_folder();
    let s = serve(root.path(), false);
    assert_eq!(s.get("/new").status, 404);
    write(
        &root.path().join("mappings/new.json"),
        r#"{"request": {"urlPath": "/new"}, "response": {"status": 202, "body": "new stub"}}"#,
    );
    poll_until("the new stub served", Duration::from_secs(5), || (s.get("/new").status == 202).then_some(()));
    write(&root.path().join("__files/logo.txt"), "an edited logo");
    poll_until("the edited file served", Duration::from_secs(5), || {
        (s.get("/logo").text() == "an edited logo").then_some(())
    });
}

#[test]
fn wiremock_admin_calls_add_stubs_count_requests_and_move_scenarios() {
    let root = stubs_folder();
    let s = serve(root.path(), true);

    let stub = json!({"request": {"method": "POST", "urlPath": "/orders",
                                  "bodyPatterns": [{"matchesJsonPath": "$.id"}]},
                      "response": {"status": 201, "jsonBody": {"created": true}}});
    let (status, added) = admin_call(&s, "POST", "/__admin/mappings", stub);
    assert_eq!(status, 201);
    let id = added["id"].as_str().expect("an id").to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let post = |body: &str| client().post(s.url("/orders")).body(body.to_owned()).send().expect("answers");
    assert_eq!(post(r#"{"id": 7}"#).status().as_u16(), 201);
    assert_eq!(post(r#"{"other": 7}"#).status().as_u16(), 404);

    let (status, count) =
        admin_call(&s, "POST", "/__admin/requests/count", json!({"method": "POST", "urlPath": "/orders"}));
    assert_eq!((status, count), (200, json!({"count": 2, "requestJournalDisabled": false})));
    let pattern = json!({"method": "POST", "url": "/orders", "bodyPatterns": [{"contains": "other"}]});
    let (_, found) = admin_call(&s, "POST", "/__admin/requests/find", pattern);
    assert_eq!(found["requestJournalDisabled"], false);
    let requests = found["requests"].as_array().expect("a list");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0]["method"].as_str(), requests[0]["body"].as_str()),
        (Some("POST"), Some(r#"{"other": 7}"#))
    );
    // WireMock's LoggedRequest fields, as its clients read them.
    let r = &requests[0];
    assert_eq!(
        (&r["scheme"], &r["host"], &r["port"], &r["protocol"]),
        (&json!("http"), &json!("127.0.0.1"), &json!(s.addr().port()), &json!("HTTP/1.1"))
    );
    assert_eq!((&r["queryParams"], &r["formParams"], &r["cookies"]), (&json!({}), &json!({}), &json!({})));
    let form = client()
        .post(s.url("/orders?q=1&q=2"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", "session=abc")
        .body("a=x+y")
        .send()
        .expect("answers");
    assert_eq!(form.status().as_u16(), 404);
    let (_, found) =
        admin_call(&s, "POST", "/__admin/requests/find", json!({"method": "POST", "url": "/orders?q=1&q=2"}));
    let r = &found["requests"][0];
    assert_eq!(r["queryParams"], json!({"q": {"key": "q", "values": ["1", "2"]}}));
    assert_eq!(r["formParams"], json!({"a": {"key": "a", "values": ["x y"]}}));
    assert_eq!(r["cookies"], json!({"session": "abc"}));

    let (_, listed) = admin_call(&s, "GET", "/__admin/mappings", json!({}));
    assert_eq!(listed["mappings"][0]["id"], id.as_str());
    let (status, one) = admin_call(&s, "GET", &format!("/__admin/mappings/{id}"), json!({}));
    assert_eq!((status, &one["id"]), (200, &json!(id)));
    let (_, second) =
        admin_call(&s, "POST", "/__admin/mappings", json!({"request": {"urlPath": "/gone"}, "response": {}}));
    let gone = second["id"].as_str().expect("an id").to_owned();
    assert_eq!(s.get("/gone").status, 200);
    let (status, _) = admin_call(&s, "DELETE", &format!("/__admin/mappings/{gone}"), json!({}));
    assert_eq!(status, 200);
    assert_eq!(s.get("/gone").status, 404);
    let (_, journal) = admin_call(&s, "GET", "/__admin/requests", json!({}));
    assert_eq!(journal["meta"]["total"], 5, "three orders, two /gone");
    // Newest first, as WireMock lists them: /gone after its stub was removed, then before.
    let matched: Vec<&Value> = (0..2).map(|i| &journal["requests"][i]["wasMatched"]).collect();
    assert_eq!(matched, [&json!(false), &json!(true)], "{journal}");

    // A stub with no equivalent is refused, with its place, and nothing changes.
    let (status, refused) = admin_call(
        &s,
        "POST",
        "/__admin/mappings",
        json!({"request": {"bodyPatterns": [{"equalToXml": "<a/>"}]}, "response": {}}),
    );
    assert_eq!(status, 422);
    assert!(
        refused["errors"][0]["title"].as_str().is_some_and(|t| t.contains("bodyPatterns[0].equalToXml")),
        "{refused}"
    );

    // Scenarios: put in a state, then reset.
    let (status, _) = admin_call(&s, "PUT", "/__admin/scenarios/cart/state", json!({"state": "Full"}));
    assert_eq!(status, 200);
    assert_eq!(s.get("/cart").text(), r#"["book"]"#);
    let (_, scenarios) = admin_call(&s, "GET", "/__admin/scenarios", json!({}));
    assert_eq!(scenarios["scenarios"][0], json!({"id": "cart", "name": "cart", "state": "Full"}));
    admin_call(&s, "POST", "/__admin/scenarios/reset", json!({}));
    assert_eq!(s.get("/cart").text(), "[]");

    // DELETE removes every stub; reset brings the folder's back, without the added one, and
    // empties the journal.
    let (status, _) = admin_call(&s, "DELETE", "/__admin/mappings", json!({}));
    assert_eq!(status, 200);
    assert_eq!(s.get("/logo").status, 404);
    // WireMock answers a reset with an empty body and no content type.
    assert_eq!(admin_call(&s, "POST", "/__admin/reset", json!({})), (200, Value::Null));
    assert_eq!(s.get("/logo").text(), "a logo from __files");
    assert_eq!(post(r#"{"id": 7}"#).status().as_u16(), 404);
    let (_, count) =
        admin_call(&s, "POST", "/__admin/requests/count", json!({"method": "ANY", "urlPattern": "/.*"}));
    assert_eq!(count["count"], 2, "only the two requests since the reset");
    let (status, _) = admin_call(&s, "DELETE", "/__admin/requests", json!({}));
    assert_eq!(status, 200);
    let (_, count) = admin_call(&s, "POST", "/__admin/requests/count", json!({"method": "ANY"}));
    assert_eq!(count["count"], 0, "the journal emptied");
}

#[test]
fn with_the_journal_off_counts_say_so_as_wiremock_does() {
    let root = stubs_folder();
    let dir = root.path().to_owned();
    let s = Server::start_with(IoDriver::Epoll, None, move |c| {
        c.wiremock = Some(WireMockSource { dir: Some(dir), options: Default::default() });
        c.wiremock_admin = true;
        c.journal_capacity = 0;
    });
    assert_eq!(s.get("/logo").status, 200);
    let (status, count) = admin_call(&s, "POST", "/__admin/requests/count", json!({"method": "ANY"}));
    assert_eq!((status, count), (200, json!({"count": -1, "requestJournalDisabled": true})));
    let (_, found) = admin_call(&s, "POST", "/__admin/requests/find", json!({"method": "ANY"}));
    assert_eq!(found, json!({"requests": [], "requestJournalDisabled": true}));
}
