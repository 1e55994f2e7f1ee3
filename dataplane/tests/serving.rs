//! Every kind of rule, answered end to end over TCP, as a client sees it.

mod util;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use mockplane_dataplane::IoDriver;
use serde_json::json;
use util::{client, Conn, End, Server};

both_drivers!(
    path_kinds,
    header_query_cookie_matchers,
    body_matchers,
    graphql_matchers,
    templates,
    static_bodies,
    delays,
    fault_abort,
    fault_connection_reset,
    fault_empty_response,
    fault_malformed_chunk,
    fault_random_data,
    sequences_across_connections,
    scenario_transition_taken_once,
    times_under_concurrency,
    miss_body_names_the_closest_rules,
    head_requests,
    a_forward_to_a_name_that_does_not_resolve_answers_502,
);

fn path_kinds(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: template
    match: { method: GET, path: "/users/{id}" }
    response: { template: true, body: "user {{request.path.id}}" }
  - id: exact
    match: { method: GET, path: /users/me }
    response: { body: exact }
  - id: catch-all
    match: { path: "/files/{*rest}" }
    response: { template: true, body: "file {{request.path.rest}}" }
  - id: prefix
    match: { path: { prefix: /static/ } }
    response: { body: prefix }
  - id: regex
    match: { path: { regex: "/v[0-9]+/items" } }
    response: { body: regex }
"#,
    );
    let http = client();
    for (path, status, body) in [
        ("/users/me", 200, "exact"),
        ("/users/42", 200, "user 42"),
        ("/files/a/b.txt", 200, "file a/b.txt"),
        ("/static/css/site.css?v=3", 200, "prefix"),
        ("/v2/items", 200, "regex"),
        ("/v2/items/7", 404, ""),
        ("/users/42/orders", 404, ""),
        ("/nothing", 404, ""),
    ] {
        let r = http.get(server.url(path)).send().unwrap();
        assert_eq!(r.status().as_u16(), status, "GET {path}");
        let text = r.text().unwrap();
        if status == 200 {
            assert_eq!(text, body, "GET {path}");
        }
    }
}

fn header_query_cookie_matchers(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: header
    match: { path: /h, headers: { authorization: { regex: "Bearer .+" }, x-debug: { absent: true } } }
    response: { body: header }
  - id: query
    match: { path: /q, query: { status: available, page: { regex: "[0-9]+" } } }
    response: { body: query }
  - id: cookie
    match: { path: /c, cookies: { session: { present: true } } }
    response: { body: cookie }
"#,
    );
    let http = client();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut req = http.get(server.url(path));
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let r = req.send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    assert_eq!(get("/h", &[("Authorization", "Bearer abc")]), (200, "header".into()));
    assert_eq!(get("/h", &[("Authorization", "Basic abc")]).0, 404);
    assert_eq!(get("/h", &[("Authorization", "Bearer abc"), ("X-Debug", "1")]).0, 404);
    assert_eq!(get("/q?page=3&status=available", &[]), (200, "query".into()));
    assert_eq!(get("/q?status=available&page=three", &[]).0, 404);
    assert_eq!(get("/q?status=sold&page=3", &[]).0, 404);
    assert_eq!(get("/c", &[("Cookie", "theme=dark; session=\"xyz\"")]), (200, "cookie".into()));
    assert_eq!(get("/c", &[("Cookie", "theme=dark")]).0, 404);
}

fn body_matchers(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: equals
    match: { method: POST, path: /b, body: { equals: "hello" } }
    response: { body: equals }
  - id: contains
    match: { method: POST, path: /b, body: { contains: "needle" } }
    response: { body: contains }
  - id: regex
    match: { method: POST, path: /b, body: { regex: "[0-9]{3}-[0-9]{4}" } }
    response: { body: regex }
  - id: json
    match: { method: POST, path: /b, body: { json: { user: { id: 7 } }, ignore_extra_elements: true } }
    response: { body: json }
  - id: jsonpath
    match: { method: POST, path: /b, body: { jsonpath: "$.items[*].sku", matches: { regex: "SKU-[0-9]+" } } }
    response: { body: jsonpath }
"#,
    );
    let http = client();
    for (body, answer) in [
        ("hello", Some("equals")),
        ("a haystack with a needle in it", Some("contains")),
        ("555-1234", Some("regex")),
        (r#"{"trace":"t1","user":{"name":"x","id":7.0}}"#, Some("json")),
        (r#"{"items":[{"sku":"nope"},{"sku":"SKU-12"}]}"#, Some("jsonpath")),
        (r#"{"items":[{"sku":"nope"}]}"#, None),
        ("hello!", None),
    ] {
        let r = http.post(server.url("/b")).body(body).send().unwrap();
        match answer {
            Some(answer) => {
                assert_eq!(r.status().as_u16(), 200, "POST /b with {body:?}");
                assert_eq!(r.text().unwrap(), answer, "POST /b with {body:?}");
            }
            None => assert_eq!(r.status().as_u16(), 404, "POST /b with {body:?}"),
        }
    }
}

fn graphql_matchers(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: create-user
    match:
      path: /graphql
      graphql:
        operation: mutation
        name: CreateUser
        variables: { json: { input: { role: admin } }, ignore_extra_elements: true }
    response: { json: { data: { createUser: { id: u1 } } } }
  - id: me
    match: { path: /graphql, graphql: { operation: query, name: Me } }
    response: { json: { data: { me: { id: u0 } } } }
"#,
    );
    let http = client();
    let mutation = json!({
        "query": "mutation CreateUser($input: UserInput!) { createUser(input: $input) { id } }",
        "operationName": "CreateUser",
        "variables": { "input": { "role": "admin", "name": "Ann" } },
    });
    let r = http.post(server.url("/graphql")).json(&mutation).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<serde_json::Value>().unwrap(), json!({ "data": { "createUser": { "id": "u1" } } }));

    let not_admin = json!({
        "query": "mutation CreateUser($input: UserInput!) { createUser(input: $input) { id } }",
        "variables": { "input": { "role": "guest" } },
    });
    let r = http.post(server.url("/graphql")).json(&not_admin).send().unwrap();
    assert_eq!(r.status().as_u16(), 404);

    // A query by GET, in the query string.
    let r =
        http.get(server.url("/graphql?query=query%20Me%20%7B%20me%20%7B%20id%20%7D%20%7D")).send().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<serde_json::Value>().unwrap(), json!({ "data": { "me": { "id": "u0" } } }));
}

fn templates(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
variables:
  API_VERSION: "2024-06-01"
rules:
  - id: echo
    match: { method: POST, path: "/orders/{id}" }
    response:
      status: 201
      template: true
      headers: { x-api-version: "{{env.API_VERSION}}", x-trace: "{{request.headers.x-trace}}" }
      json:
        id: "{{request.path.id}}"
        q: "{{request.query.q}}"
        name: "{{jsonPath request.body '$.user.name'}}"
        missing: "{{jsonPath request.body '$.nope' default='none'}}"
        method: "{{request.method}}"
        hit: "{{counter}}"
"#,
    );
    let http = client();
    for hit in 1..=2 {
        let r = http
            .post(server.url("/orders/42?q=a%20b"))
            .header("X-Trace", "abc-123")
            .body(r#"{"user":{"name":"Ann"}}"#)
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 201);
        assert_eq!(r.headers()["x-api-version"], "2024-06-01");
        assert_eq!(r.headers()["x-trace"], "abc-123");
        assert_eq!(r.headers()["content-type"], "application/json");
        let body = r.json::<serde_json::Value>().unwrap();
        assert_eq!(
            body,
            json!({ "id": "42", "q": "a b", "name": "Ann", "missing": "none", "method": "POST", "hit": hit.to_string() })
        );
    }
}

fn static_bodies(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: json
    match: { path: /json }
    response: { status: 201, headers: { set-cookie: [a=1, b=2], x-one: "1" }, json: { ok: true, n: [1, 2.5], s: "é" } }
  - id: base64
    match: { path: /bin }
    response: { headers: { content-type: application/octet-stream }, base64: "AP8QIA==" }
  - id: text
    match: { path: /text }
    response: { body: "plain text\n" }
  - id: empty
    match: { path: /empty }
    response: { status: 204 }
"#,
    );
    let mut conn = Conn::open(server.addr());
    let r = conn.request(&util::get("/json"));
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.headers_named("set-cookie"), ["a=1", "b=2"]);
    assert_eq!(r.header("x-one"), Some("1"));
    assert_eq!(r.text(), r#"{"ok":true,"n":[1,2.5],"s":"é"}"#);
    assert_eq!(r.header("content-length"), Some(r.body.len().to_string().as_str()));

    let r = conn.request(&util::get("/bin"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/octet-stream"));
    assert_eq!(r.body, [0x00, 0xff, 0x10, 0x20]);
    assert_eq!(r.header("content-length"), Some("4"));

    let r = conn.request(&util::get("/text"));
    assert_eq!((r.status, r.text().as_str()), (200, "plain text\n"));

    let r = conn.request(&util::get("/empty"));
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    // The connection is still good after all of them.
    assert_eq!(conn.request(&util::get("/text")).status, 200);
}

/// What a busy 2-core CI machine may add to a rule's delay for a request on a warm loopback
/// connection. A delay applied twice, or read in the wrong unit, goes past it.
const DELAY_SLACK: Duration = Duration::from_millis(250);

fn delays(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: fixed
    match: { path: /fixed }
    response: { body: slow, delay: { fixed: 300 } }
  - id: uniform
    match: { path: /uniform }
    response: { body: slow, delay: { uniform: { min: 100, max: 150 } } }
  - id: fast
    match: { path: /fast }
    response: { body: fast }
  - id: delayed-abort
    match: { path: /abort }
    response: { body: never, delay: { fixed: 300 }, faults: [{ type: abort, status: 503 }] }
"#,
    );
    let http = client();
    // Connect first, so that the timings below are the answers', not a connection's.
    assert_eq!(http.get(server.url("/fast")).send().unwrap().text().unwrap(), "fast");
    // (path, shortest and longest delay in ms, status); the uniform one twice, for two draws.
    let timed = [
        ("/fixed", 300, 300, 200),
        ("/uniform", 100, 150, 200),
        ("/uniform", 100, 150, 200),
        ("/abort", 300, 300, 503),
    ];
    for (path, at_least, at_most, status) in timed {
        let t = Instant::now();
        let r = http.get(server.url(path)).send().unwrap();
        assert_eq!(r.status().as_u16(), status, "GET {path}");
        r.bytes().unwrap();
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(at_least), "GET {path} took {took:?}, less than its delay");
        let limit = Duration::from_millis(at_most) + DELAY_SLACK;
        assert!(took < limit, "GET {path} took {took:?}, more than its delay allows ({limit:?})");
    }
    // A delayed answer does not hold up other connections.
    let slow = {
        let url = server.url("/fixed");
        std::thread::spawn(move || client().get(url).send().unwrap().text().unwrap())
    };
    std::thread::sleep(Duration::from_millis(30));
    let t = Instant::now();
    assert_eq!(http.get(server.url("/fast")).send().unwrap().text().unwrap(), "fast");
    assert!(
        t.elapsed() < Duration::from_millis(150),
        "a fast request waited for a slow one: {:?}",
        t.elapsed()
    );
    assert_eq!(slow.join().unwrap(), "slow");
}

const FAULTS: &str = r#"
rules:
  - id: abort
    match: { path: /abort }
    response: { body: never, faults: [{ type: abort, status: 503 }] }
  - id: reset
    match: { path: /reset }
    response: { body: never, faults: [{ type: connection_reset }] }
  - id: empty
    match: { path: /empty }
    response: { body: never, faults: [{ type: empty_response }] }
  - id: chunk
    match: { path: /chunk }
    response: { body: never, faults: [{ type: malformed_chunk }] }
  - id: random
    match: { path: /random }
    response: { body: never, faults: [{ type: random_data }] }
  - id: ok
    match: { method: GET, path: /ok }
    response: { body: ok }
"#;

fn fault_abort(driver: IoDriver) {
    let server = Server::start(driver, FAULTS);
    let mut conn = Conn::open(server.addr());
    let r = conn.request(&util::get("/abort"));
    assert_eq!(r.status, 503);
    assert!(r.body.is_empty(), "an abort has an empty body, got {:?}", r.text());
    // An abort is an answer: the connection goes on.
    assert_eq!(conn.request(&util::get("/ok")).text(), "ok");
    let r = client().get(server.url("/abort")).send().unwrap();
    assert_eq!(r.status().as_u16(), 503);
}

fn fault_connection_reset(driver: IoDriver) {
    let server = Server::start(driver, FAULTS);
    let mut conn = Conn::open(server.addr());
    conn.send(&util::get("/reset"));
    let (bytes, end) = conn.read_to_end(Duration::from_secs(2));
    assert_eq!((util::show(&bytes).as_str(), end), ("", End::Reset), "the client should see a reset");
    assert!(client().get(server.url("/reset")).send().is_err(), "reqwest should fail on a reset");
    server.assert_serving("a connection_reset fault");
}

fn fault_empty_response(driver: IoDriver) {
    let server = Server::start(driver, FAULTS);
    let mut conn = Conn::open(server.addr());
    conn.send(&util::get("/empty"));
    let (bytes, end) = conn.read_to_end(Duration::from_secs(2));
    assert_eq!(
        (util::show(&bytes).as_str(), end),
        ("", End::Eof),
        "the client should see a close with no bytes"
    );
    assert!(client().get(server.url("/empty")).send().is_err());
    server.assert_serving("an empty_response fault");
}

fn fault_malformed_chunk(driver: IoDriver) {
    let server = Server::start(driver, FAULTS);
    // reqwest gets the head, then fails decoding the chunked body.
    let result = client().get(server.url("/chunk")).send().and_then(|r| r.bytes());
    assert!(result.is_err(), "reqwest decoded a malformed chunked body: {result:?}");
    // On a raw socket: a chunked 200 whose framing breaks.
    let mut conn = Conn::open(server.addr());
    conn.send(&util::get("/chunk"));
    let err = conn.try_read_response(false).expect_err("a malformed chunked body parsed");
    assert!(err.contains("chunk size"), "unexpected error: {err}");
    server.assert_serving("a malformed_chunk fault");
}

fn fault_random_data(driver: IoDriver) {
    let server = Server::start(driver, FAULTS);
    let mut conn = Conn::open(server.addr());
    conn.send(&util::get("/random"));
    let (bytes, end) = conn.read_to_end(Duration::from_secs(2));
    assert_eq!(end, End::Eof, "random data ends with a close");
    assert!((64..=1024).contains(&bytes.len()), "got {} random bytes", bytes.len());
    assert!(!bytes.starts_with(b"HTTP/"), "random data looks like a response: {}", util::show(&bytes));
    assert!(client().get(server.url("/random")).send().is_err());
    server.assert_serving("a random_data fault");
}

fn sequences_across_connections(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: job
    match: { method: GET, path: "/jobs/{id}" }
    sequence:
      responses:
        - { json: { state: queued } }
        - { json: { state: running } }
        - { status: 201, json: { state: done } }
  - id: light
    match: { method: GET, path: /light }
    sequence:
      mode: cycle
      responses: [{ body: red }, { body: green }]
"#,
    );
    // Each request on a new connection, so both workers take turns serving the rule.
    let states: Vec<(u16, String)> = (0..5)
        .map(|i| {
            let r = server.get(&format!("/jobs/{i}"));
            (r.status, r.json()["state"].as_str().unwrap().to_owned())
        })
        .collect();
    let want: Vec<(u16, String)> =
        [(200, "queued"), (200, "running"), (201, "done"), (201, "done"), (201, "done")]
            .into_iter()
            .map(|(s, b)| (s, b.to_owned()))
            .collect();
    assert_eq!(states, want);
    let lights: Vec<String> = (0..5).map(|_| server.get("/light").text()).collect();
    assert_eq!(lights, ["red", "green", "red", "green", "red"]);
}

/// Runs `n` clients at once, each on its own connection, sending `request` at the same moment.
fn race(server: &Server, n: usize, request: &'static [u8]) -> Vec<(u16, String)> {
    let barrier = Arc::new(Barrier::new(n));
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let (barrier, addr) = (barrier.clone(), server.addr());
            std::thread::spawn(move || {
                let mut conn = Conn::open(addr);
                barrier.wait();
                let r = conn.request(request);
                (r.status, r.text())
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn scenario_transition_taken_once(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: cart-empty
    match: { method: GET, path: /cart }
    scenario: { name: cart, state: Started }
    response: { json: { items: [] } }
  - id: add-to-cart
    match: { method: POST, path: /cart/items }
    scenario: { name: cart, state: Started, next: HasItems }
    response: { status: 201, body: added }
  - id: add-again
    match: { method: POST, path: /cart/items }
    response: { status: 409, body: already }
  - id: cart-with-item
    match: { method: GET, path: /cart }
    scenario: { name: cart, state: HasItems }
    response: { json: { items: [{ sku: SKU-1 }] } }
"#,
    );
    assert_eq!(server.get("/cart").json(), json!({ "items": [] }));
    let answers = race(&server, 8, b"POST /cart/items HTTP/1.1\r\nhost: t\r\ncontent-length: 2\r\n\r\n{}");
    let added = answers.iter().filter(|a| **a == (201, "added".to_owned())).count();
    let already = answers.iter().filter(|a| **a == (409, "already".to_owned())).count();
    assert_eq!((added, already), (1, 7), "answers: {answers:?}");
    assert_eq!(server.get("/cart").json(), json!({ "items": [{ "sku": "SKU-1" }] }));
}

fn times_under_concurrency(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: first-logins
    times: 3
    match: { method: POST, path: /login }
    response: { status: 401, body: mfa }
  - id: login
    match: { method: POST, path: /login }
    response: { body: token }
"#,
    );
    let answers = race(&server, 8, b"POST /login HTTP/1.1\r\nhost: t\r\ncontent-length: 0\r\n\r\n");
    let mfa = answers.iter().filter(|a| **a == (401, "mfa".to_owned())).count();
    let token = answers.iter().filter(|a| **a == (200, "token".to_owned())).count();
    assert_eq!((mfa, token), (3, 5), "answers: {answers:?}");
}

fn miss_body_names_the_closest_rules(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: create-user
    match:
      method: POST
      path: /users
      headers: { content-type: { contains: application/json } }
    response: { status: 201 }
  - id: list-users
    match: { method: GET, path: /users }
    response: { json: [] }
  - id: elsewhere
    match: { method: POST, path: /orders }
    response: { status: 201 }
"#,
    );
    let r = client()
        .post(server.url("/users?page=2"))
        .header("content-type", "text/plain")
        .body("x")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["error"], "no rule matched");
    assert_eq!(body["request"], json!({ "method": "POST", "path": "/users", "query": "page=2" }));
    let closest = body["closest_rules"].as_array().expect("closest_rules");
    assert_eq!(closest[0]["rule"], "create-user", "{body:#}");
    assert_eq!(
        closest[0]["failed"],
        json!({ "predicate": "match.headers.content-type", "expected": "contains \"application/json\"", "actual": "\"text/plain\"" })
    );
    assert_eq!(closest[1]["rule"], "list-users", "{body:#}");
    assert_eq!(closest[1]["failed"]["predicate"], "match.method");
}

fn head_requests(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
rules:
  - id: page
    match: { method: [GET, HEAD], path: /page }
    response: { headers: { x-kind: static }, body: "hello world" }
  - id: rendered
    match: { path: "/r/{id}" }
    response: { template: true, body: "item {{request.path.id}}" }
"#,
    );
    let mut conn = Conn::open(server.addr());
    for path in ["/page", "/r/12345", "/missing"] {
        let got = conn.request(&util::get(path));
        // The 404 body names the method, which is one letter longer for HEAD.
        let len = if got.status == 404 { got.body.len() + 1 } else { got.body.len() };
        let head = conn.request(format!("HEAD {path} HTTP/1.1\r\nhost: t\r\n\r\n").as_bytes());
        assert_eq!(head.status, got.status, "HEAD {path}");
        assert_eq!(head.header("content-length"), Some(len.to_string().as_str()), "HEAD {path}");
        assert_eq!(head.header("content-type"), got.header("content-type"), "HEAD {path}");
    }
    assert_eq!(server.get("/r/12345").text(), "item 12345");
    // No body followed any HEAD answer: the connection is still in step.
    let r = conn.request(&util::get("/page"));
    assert_eq!((r.status, r.text().as_str(), r.header("x-kind")), (200, "hello world", Some("static")));
    let (rest, end) = conn.read_to_end(Duration::from_millis(100));
    assert_eq!((util::show(&rest).as_str(), end), ("", End::Open), "stray bytes after the answers");
}

fn a_forward_to_a_name_that_does_not_resolve_answers_502(driver: IoDriver) {
    let server = Server::start(
        driver,
        r#"
upstreams:
  payments: http://payments.internal:8080
rules:
  - id: payments
    match: { path: { prefix: /payments/ } }
    forward: { upstream: payments }
"#,
    );
    let r = client().get(server.url("/payments/1")).send().unwrap();
    assert_eq!(r.status().as_u16(), 502);
    assert_eq!(r.headers()["content-type"], "application/json");
    let body: serde_json::Value = r.json().unwrap();
    assert_eq!(body["rule"], "payments");
    assert_eq!(body["upstream"], "payments");
    assert_eq!(body["endpoint"], "payments.internal:8080");
    assert!(body["reason"].as_str().is_some_and(|e| e.contains("not resolved")), "{body}");
}
