use crate::{CompileOptions, RuleSet, RuleTable};

fn table(yaml: &str) -> Result<RuleTable, Vec<String>> {
    let set =
        RuleSet::from_yaml(yaml).map_err(|e| e.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>())?;
    RuleTable::compile(&set, &CompileOptions::default())
        .map_err(|e| e.errors.iter().map(|e| e.to_string()).collect())
}

fn policy(cors: &str) -> RuleTable {
    table(&format!("cors: {cors}\nrules: []\n")).unwrap_or_else(|e| panic!("cors: {cors} refused: {e:?}"))
}

fn refusal(cors: &str) -> Vec<String> {
    match table(&format!("cors: {cors}\nrules: []\n")) {
        Ok(_) => panic!("cors: {cors} was accepted"),
        Err(errors) => errors,
    }
}

fn headers(table: &RuleTable, origin: &str) -> String {
    let mut out = Vec::new();
    table.cors().expect("a cors block").write_headers(origin.as_bytes(), &mut out);
    String::from_utf8(out).unwrap()
}

fn preflight(table: &RuleTable, origin: &str, method: &str, asked: Option<&str>) -> String {
    let mut out = Vec::new();
    table.cors().expect("a cors block").write_preflight(
        origin.as_bytes(),
        method.as_bytes(),
        asked.map(str::as_bytes),
        &mut out,
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn an_empty_block_allows_any_origin_with_a_star_and_echoes_what_a_preflight_asks() {
    let t = policy("{}");
    let cors = t.cors().unwrap();
    assert!(cors.allows(b"https://anything.example"));
    assert!(cors.allows(b"null"));
    assert!(!cors.allows(b""), "an empty Origin is not a CORS request");
    assert_eq!(headers(&t, "https://a.test"), "access-control-allow-origin: *\r\n");
    assert_eq!(
        preflight(&t, "https://a.test", "PUT", Some("content-type, x-token")),
        "HTTP/1.1 204 No Content\r\n\
         access-control-allow-origin: *\r\n\
         vary: access-control-request-method, access-control-request-headers\r\n\
         access-control-allow-methods: PUT\r\n\
         access-control-allow-headers: content-type, x-token\r\n"
    );
    // No headers asked for: no allow-headers line.
    assert!(!preflight(&t, "https://a.test", "GET", None).contains("allow-headers"));
    assert!(!preflight(&t, "https://a.test", "GET", Some("")).contains("allow-headers"));
}

#[test]
fn listed_origins_are_echoed_with_vary_credentials_and_exposed_headers() {
    let t = policy(
        "{ allow_origins: [\"https://app.example.com\"], allow_methods: [GET, PATCH], \
         allow_headers: [Authorization, X-Token], expose_headers: [X-Request-Id, ETag], \
         allow_credentials: true, max_age: 600 }",
    );
    assert_eq!(
        headers(&t, "https://app.example.com"),
        "access-control-allow-origin: https://app.example.com\r\n\
         vary: origin\r\n\
         access-control-allow-credentials: true\r\n\
         access-control-expose-headers: x-request-id, etag\r\n"
    );
    assert_eq!(
        preflight(&t, "https://app.example.com", "DELETE", Some("x-other")),
        "HTTP/1.1 204 No Content\r\n\
         access-control-allow-origin: https://app.example.com\r\n\
         access-control-allow-credentials: true\r\n\
         access-control-allow-methods: GET, PATCH\r\n\
         access-control-allow-headers: authorization, x-token\r\n\
         access-control-max-age: 600\r\n\
         vary: origin\r\n",
        "fixed lists are sent as they are, whatever the preflight asks: the browser decides"
    );
}

#[test]
fn a_star_exposes_every_header_without_credentials() {
    let t = policy("{ expose_headers: [\"*\"] }");
    assert_eq!(
        headers(&t, "https://a.test"),
        "access-control-allow-origin: *\r\naccess-control-expose-headers: *\r\n"
    );
}

#[test]
fn an_empty_methods_or_headers_list_allows_only_the_safelisted_ones() {
    let t = policy("{ allow_methods: [], allow_headers: [] }");
    let answer = preflight(&t, "https://a.test", "PUT", Some("x-token"));
    assert!(!answer.contains("allow-methods") && !answer.contains("allow-headers"), "{answer}");
}

#[test]
fn origins_match_exactly_by_subdomain_or_by_port() {
    let t = policy(
        "{ allow_origins: [\"https://App.Example.com\", \"https://*.shop.test\", \"http://localhost:*\", \
         \"http://127.0.0.1:8080\", \"http://[::1]:3000\", \"null\"] }",
    );
    let cors = t.cors().unwrap();
    for yes in [
        "https://app.example.com",
        "HTTPS://APP.EXAMPLE.COM",
        "https://eu.shop.test",
        "https://a.b.shop.test",
        "http://localhost",
        "http://localhost:5173",
        "http://127.0.0.1:8080",
        "http://[::1]:3000",
        "null",
    ] {
        assert!(cors.allows(yes.as_bytes()), "{yes} is allowed");
    }
    for no in [
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://app.example.com.evil.test",
        "https://shop.test",
        "https://evilshop.test",
        "https://x_y.shop.test",
        "https://localhost:5173",
        "http://127.0.0.1",
        "http://127.0.0.1:80800",
        "http://[::1]",
        "app.example.com",
        "https://",
        "",
    ] {
        assert!(!cors.allows(no.as_bytes()), "{no} is not allowed");
    }
    // The request's own spelling is echoed.
    assert!(headers(&t, "HTTPS://APP.EXAMPLE.COM").starts_with("access-control-allow-origin: HTTPS://APP"));
    let no_null = policy("{ allow_origins: [\"https://a.test\"] }");
    assert!(!no_null.cors().unwrap().allows(b"null"));
}

#[test]
fn bad_blocks_are_refused_with_every_error_at_its_place() {
    assert_eq!(
        refusal(
            "{ allow_origins: [\"https://a.test/\", \"*\", \"a.test\", \"https://a.test:443\", \
             \"http://*\", \"https://a.*.test\", \"http://h:99999\", \"https://[::1\"], \
             allow_methods: [get, \"GET POST\", \"*\"], allow_headers: [\"x token\"], \
             expose_headers: [\"*\", x-a], max_age: 90000 }"
        ),
        [
            "cors.allow_origins[0]: an origin has no path, not even `/`: write \"https://a.test\"",
            "cors.allow_origins[1]: `*` allows every origin: list no others with it",
            "cors.allow_origins[2]: \"a.test\" is not an origin: write scheme://host[:port], such as https://app.example.com",
            "cors.allow_origins[3]: browsers leave the default port out of an origin: write \"https://a.test\"",
            "cors.allow_origins[4]: only a leading `*.` label of the host (https://*.example.com) or the whole port (http://localhost:*) can be a wildcard",
            "cors.allow_origins[5]: only a leading `*.` label of the host (https://*.example.com) or the whole port (http://localhost:*) can be a wildcard",
            "cors.allow_origins[6]: \"99999\" is not a port (1 to 65535, or `*` for any)",
            "cors.allow_origins[7]: \"https://[::1\" has an unclosed `[`",
            "cors.allow_methods[0]: methods are case-sensitive: did you mean GET?",
            "cors.allow_methods[1]: \"GET POST\" is not a valid method name",
            "cors.allow_methods[2]: `*` allows every method: list no others with it",
            "cors.allow_headers[0]: \"x token\" is not a valid header name",
            "cors.expose_headers[0]: `*` allows every header: list no others with it",
            "cors.max_age: 90000 s is more than browsers keep a preflight (at most 86400 s, 7200 in Chromium)",
        ]
    );
    assert_eq!(
        refusal("{ allow_origins: [] }"),
        ["cors.allow_origins: an empty list allows no origin: omit allow_origins for any origin, or remove the cors block"]
    );
}

#[test]
fn credentials_with_any_origin_or_a_star_exposure_are_refused() {
    let any = "cors.allow_credentials: browsers refuse credentials with any origin (`*`, the default of allow_origins): list the origins that may send them";
    assert_eq!(refusal("{ allow_credentials: true }"), [any]);
    assert_eq!(refusal("{ allow_origins: [\"*\"], allow_credentials: true }"), [any]);
    assert_eq!(
        refusal("{ allow_origins: [\"https://a.test\"], allow_credentials: true, expose_headers: [\"*\"] }"),
        ["cors.expose_headers[0]: with allow_credentials, browsers read `*` as a header named \"*\": list the headers to expose"]
    );
    // Echoed methods and headers work with credentials, and patterns are explicit enough.
    let t = policy("{ allow_origins: [\"http://localhost:*\"], allow_credentials: true }");
    assert!(preflight(&t, "http://localhost:3000", "PUT", Some("authorization")).contains(
        "access-control-allow-credentials: true\r\nvary: origin, access-control-request-method, access-control-request-headers\r\naccess-control-allow-methods: PUT\r\naccess-control-allow-headers: authorization\r\n"
    ));
}

#[test]
fn a_rule_setting_a_cors_header_itself_is_refused_only_beside_a_cors_block() {
    let rules = "rules:\n  - id: a\n    response: { headers: { Access-Control-Allow-Origin: \"*\" } }\n  - id: b\n    sequence: { responses: [ {}, { headers: { access-control-expose-headers: x } } ] }\n  - id: c\n    response: { headers: { access-control-max-age: \"5\", vary: origin } }\n";
    assert!(table(rules).is_ok(), "without a cors block a rule answers what it likes");
    assert_eq!(
        table(&format!("cors: {{}}\n{rules}")).err().unwrap(),
        [
            "rules[0].response.headers.Access-Control-Allow-Origin: the rule set's cors block adds this header to every answer, and browsers refuse two: remove it here",
            "rules[1].sequence.responses[1].headers.access-control-expose-headers: the rule set's cors block adds this header to every answer, and browsers refuse two: remove it here",
        ]
    );
}

#[test]
fn a_table_without_a_cors_block_has_no_policy() {
    assert!(table("rules: []\n").unwrap().cors().is_none());
}
