//! The rule set's `cors` block, as a browser sees it over real HTTP: preflights answered
//! without a rule, CORS headers on every kind of answer, nothing changed for requests without
//! an `Origin`, and a swap that turns CORS off.

mod util;

use std::time::Duration;

use mockplane_dataplane::IoDriver;
use util::{poll_until, Conn, End, Response, Server};

both_drivers!(
    a_preflight_from_an_allowed_origin_is_answered_without_a_rule,
    a_disallowed_origin_gets_no_cors_headers_and_its_preflight_goes_to_the_rules,
    every_kind_of_answer_carries_the_headers_of_an_allowed_origin,
    any_origin_without_credentials_is_answered_with_a_star,
    a_request_without_origin_is_answered_byte_for_byte_as_without_cors,
    a_swap_that_removes_the_cors_block_turns_cors_off,
    the_demo_store_answers_a_browser_front_end,
);

const APP: &str = "http://localhost:5173";

/// Listed origins with credentials: answers echo the origin.
fn rules(cors: &str) -> String {
    format!(
        r#"
{cors}
rules:
  - id: static
    match: {{ method: [GET, HEAD], path: /pets }}
    response: {{ json: [ {{ id: 1 }} ], headers: {{ x-request-id: abc }} }}
  - id: templated
    match: {{ method: GET, path: "/pets/{{id}}" }}
    response: {{ template: true, json: {{ id: "{{{{request.path.id}}}}" }} }}
  - id: aborted
    match: {{ path: /broken }}
    response: {{ faults: [ {{ type: abort, status: 503 }} ] }}
  - id: forward
    match: {{ path: /upstream }}
    forward: {{ url: "http://127.0.0.1:9" }}
  - id: own-options
    match: {{ method: OPTIONS, path: /own }}
    response: {{ status: 200, body: from-the-rule }}
"#
    )
}

const LISTED: &str = r#"cors:
  allow_origins: ["http://localhost:*", "https://*.example.com"]
  allow_methods: [GET, POST, DELETE]
  expose_headers: [x-request-id]
  allow_credentials: true
  max_age: 600"#;

fn request(server: &Server, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut raw = format!("{method} {path} HTTP/1.1\r\nhost: test\r\n");
    for (name, value) in headers {
        raw += &format!("{name}: {value}\r\n");
    }
    raw += "\r\n";
    Conn::open(server.addr()).request(raw.as_bytes())
}

/// The response's CORS header lines (and `vary`), in order.
fn cors_lines(r: &Response) -> Vec<(String, String)> {
    r.headers
        .iter()
        .filter(|(name, _)| name.starts_with("access-control-") || name == "vary")
        .cloned()
        .collect()
}

fn lines(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
}

fn a_preflight_from_an_allowed_origin_is_answered_without_a_rule(driver: IoDriver) {
    let server = Server::start(driver, &rules(LISTED));
    let preflight = format!(
        "OPTIONS /pets/7 HTTP/1.1\r\nhost: test\r\norigin: {APP}\r\naccess-control-request-method: DELETE\r\naccess-control-request-headers: authorization, content-type\r\n\r\n"
    );
    let mut conn = Conn::open(server.addr());
    let r = conn.request(preflight.as_bytes());
    assert_eq!(r.status, 204, "{:?}", r.headers);
    assert_eq!(
        cors_lines(&r),
        lines(&[
            ("access-control-allow-origin", APP),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-methods", "GET, POST, DELETE"),
            ("access-control-max-age", "600"),
            ("vary", "origin, access-control-request-headers"),
            ("access-control-allow-headers", "authorization, content-type"),
        ])
    );
    assert!(r.header("content-length").is_none() && r.header("date").is_some(), "{:?}", r.headers);
    // The connection goes on, and a rule for OPTIONS is not asked: the policy answers.
    let r = conn.request(
        format!("OPTIONS /own HTTP/1.1\r\nhost: test\r\norigin: {APP}\r\naccess-control-request-method: GET\r\n\r\n")
            .as_bytes(),
    );
    assert_eq!((r.status, r.text().as_str()), (204, ""));
    // An OPTIONS without Access-Control-Request-Method is no preflight: the rule answers it.
    let r = conn.request(format!("OPTIONS /own HTTP/1.1\r\nhost: test\r\norigin: {APP}\r\n\r\n").as_bytes());
    assert_eq!((r.status, r.text().as_str()), (200, "from-the-rule"));
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));

    // Counted as preflights, not as misses; journaled as what they were.
    let metrics = poll_until("the counters to be published", Duration::from_secs(3), || {
        let m = server.metrics();
        (util::metric(&m, "mockplane_cors_preflights_total") == Some(2.0)).then_some(m)
    });
    assert_eq!(util::metric(&metrics, "mockplane_misses_total"), Some(0.0));
    let journal = server.journal("path=/pets/7");
    assert_eq!((journal[0]["method"].as_str(), journal[0]["status"].as_u64()), (Some("OPTIONS"), Some(204)));
}

fn a_disallowed_origin_gets_no_cors_headers_and_its_preflight_goes_to_the_rules(driver: IoDriver) {
    let server = Server::start(driver, &rules(LISTED));
    for origin in ["https://evil.test", "https://example.com", "http://localhost.evil.test", "null"] {
        let asking = [("origin", origin), ("access-control-request-method", "DELETE")];
        // As Envoy does by default, the rules get it: no rule for OPTIONS /pets/7, so a 404.
        let r = request(&server, "OPTIONS", "/pets/7", &asking);
        assert_eq!(r.status, 404, "{origin}");
        assert_eq!(cors_lines(&r), [], "{origin}");
        let r = request(&server, "OPTIONS", "/own", &asking);
        assert_eq!((r.status, r.text().as_str()), (200, "from-the-rule"), "{origin}");
        assert_eq!(cors_lines(&r), [], "{origin}");
        let r = request(&server, "GET", "/pets", &[("origin", origin)]);
        assert_eq!(r.status, 200);
        assert_eq!(cors_lines(&r), [], "{origin}");
    }
}

fn every_kind_of_answer_carries_the_headers_of_an_allowed_origin(driver: IoDriver) {
    let server = Server::start(driver, &rules(LISTED));
    let origin = "https://shop.example.com";
    let expected = lines(&[
        ("access-control-allow-origin", origin),
        ("vary", "origin"),
        ("access-control-allow-credentials", "true"),
        ("access-control-expose-headers", "x-request-id"),
    ]);
    for (method, path, status, body) in [
        ("GET", "/pets", 200, Some(r#"[{"id":1}]"#)),
        ("HEAD", "/pets", 200, None),
        ("GET", "/pets/7", 200, Some(r#"{"id":"7"}"#)),
        ("GET", "/nothing/here", 404, None),
        ("POST", "/broken", 503, Some("")),
        ("GET", "/upstream", 502, None),
    ] {
        let r = request(&server, method, path, &[("origin", origin)]);
        assert_eq!(r.status, status, "{method} {path}");
        assert_eq!(cors_lines(&r), expected, "{method} {path}");
        if let Some(body) = body {
            assert_eq!(r.text(), body, "{method} {path}");
        }
    }
    // The server's own refusal of a request whose head it read carries them too.
    let mut conn = Conn::open(server.addr());
    conn.send(
        format!("POST /pets HTTP/1.1\r\nhost: test\r\norigin: {origin}\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n")
            .as_bytes(),
    );
    let r = conn.read_response();
    assert_eq!(r.status, 400);
    assert_eq!(cors_lines(&r), expected);
    assert!(r.header("date").is_some());
}

fn any_origin_without_credentials_is_answered_with_a_star(driver: IoDriver) {
    let server = Server::start(driver, &rules("cors: {}"));
    let r = request(&server, "GET", "/pets/9", &[("origin", "https://anywhere.test")]);
    assert_eq!(r.status, 200);
    assert_eq!(cors_lines(&r), lines(&[("access-control-allow-origin", "*")]));
    let r = request(
        &server,
        "OPTIONS",
        "/pets",
        &[
            ("origin", "https://anywhere.test"),
            ("access-control-request-method", "PATCH"),
            ("access-control-request-headers", "x-token"),
        ],
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        cors_lines(&r),
        lines(&[
            ("access-control-allow-origin", "*"),
            ("vary", "access-control-request-method, access-control-request-headers"),
            ("access-control-allow-methods", "PATCH"),
            ("access-control-allow-headers", "x-token"),
        ])
    );
}

/// Everything the server sends for `request` on a connection it then closes, with the `date`
/// line's value blanked (it changes every second).
fn raw_answer(server: &Server, request: &str) -> Vec<u8> {
    let mut conn = Conn::open(server.addr());
    conn.send(request.as_bytes());
    let (bytes, end) = conn.read_to_end(Duration::from_secs(3));
    assert_eq!(end, End::Eof, "{request:?}");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let start = text.find("\r\ndate: ").unwrap_or_else(|| panic!("no date line in {text:?}")) + 2;
    let end = start + text[start..].find("\r\n").expect("the date line ends");
    [&bytes[..start], b"date: -", &bytes[end..]].concat()
}

fn a_request_without_origin_is_answered_byte_for_byte_as_without_cors(driver: IoDriver) {
    let with = Server::start(driver, &rules(LISTED));
    let without = Server::start(driver, &rules(""));
    for (method, path, extra) in [
        ("GET", "/pets", ""),
        ("HEAD", "/pets", ""),
        ("GET", "/pets/3", ""),
        ("GET", "/missing", ""),
        ("POST", "/broken", ""),
        ("GET", "/upstream", ""),
        // Not a preflight without an Origin: the rules answer it.
        ("OPTIONS", "/pets", "access-control-request-method: GET\r\n"),
    ] {
        let request = format!("{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n{extra}\r\n");
        let a = raw_answer(&with, &request);
        assert_eq!(a, raw_answer(&without, &request), "{method} {path}: {}", String::from_utf8_lossy(&a));
        assert!(!String::from_utf8_lossy(&a).contains("access-control-"), "{method} {path}");
    }
}

fn a_swap_that_removes_the_cors_block_turns_cors_off(driver: IoDriver) {
    let server = Server::start(driver, &rules(LISTED));
    let origin = [("origin", APP)];
    let preflight = [("origin", APP), ("access-control-request-method", "GET")];
    assert_eq!(request(&server, "GET", "/pets", &origin).header("access-control-allow-origin"), Some(APP));
    assert_eq!(request(&server, "OPTIONS", "/pets", &preflight).status, 204);

    server.install(&rules(""));
    let r = request(&server, "GET", "/pets", &origin);
    assert_eq!((r.status, cors_lines(&r)), (200, vec![]));
    assert_eq!(request(&server, "OPTIONS", "/pets", &preflight).status, 404, "no rule answers it any more");

    // And on again, with another policy.
    server.install(&rules("cors: { allow_origins: [\"http://localhost:5173\"] }"));
    let r = request(&server, "GET", "/pets", &origin);
    assert_eq!(cors_lines(&r), lines(&[("access-control-allow-origin", APP), ("vary", "origin")]));
}

fn the_demo_store_answers_a_browser_front_end(driver: IoDriver) {
    let server = Server::start(driver, include_str!("../../examples/petstore.yaml"));
    let r = request(
        &server,
        "OPTIONS",
        "/pets",
        &[
            ("origin", APP),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
    );
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    let r = request(&server, "GET", "/pets", &[("origin", APP)]);
    assert_eq!(r.status, 200);
    assert_eq!(
        cors_lines(&r),
        lines(&[
            ("access-control-allow-origin", "*"),
            ("access-control-expose-headers", "x-total-count, location")
        ])
    );
}
