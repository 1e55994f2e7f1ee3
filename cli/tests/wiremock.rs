//! WireMock mappings through the binary, as docs/import.md shows them: `mockplane validate
//! --from wiremock`, `mockplane import --from wiremock` into a real `mockplane up`, and
//! `mockplane dataplane --wiremock DIR --wiremock-admin` serving a folder and taking stubs
//! over WireMock's admin API.

mod up_util;

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use up_util::{get, mockplane, Cli, DataPlane, Up};

const KEY: &str = "a-key-for-the-wiremock-tests-01";

/// A WireMock root: two stubs that import, one that cannot (XPath), a body file.
fn wiremock_root(dir: &Path) {
    std::fs::create_dir_all(dir.join("mappings")).expect("mkdir");
    std::fs::create_dir_all(dir.join("__files")).expect("mkdir");
    std::fs::write(
        dir.join("mappings/orders.json"),
        r#"{"mappings": [
          {"request": {"method": "GET", "urlPathTemplate": "/orders/{id}"},
           "response": {"status": 200, "jsonBody": {"id": "{{request.path.id}}"}, "transformers": ["response-template"]}},
          {"request": {"method": "POST", "urlPath": "/orders", "bodyPatterns": [{"matchesXPath": "//order"}]},
           "response": {"status": 201}}
        ]}"#,
    )
    .expect("write");
    std::fs::write(
        dir.join("mappings/terms.json"),
        r#"{"request": {"method": "GET", "url": "/terms"}, "response": {"bodyFileName": "terms.txt"}}"#,
    )
    .expect("write");
    std::fs::write(dir.join("__files/terms.txt"), "the terms").expect("write");
}

#[test]
fn validate_from_wiremock_lists_what_is_not_imported_with_its_place() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    wiremock_root(dir.path());
    let out = mockplane().args(["validate", "--from", "wiremock"]).arg(dir.path()).output().expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(": 2 rules, valid once converted from wiremock"), "{text}");
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(
        warnings.contains(
            ": 1 item not imported as written:\n  orders.json: mappings[1].request.bodyPatterns[0].matchesXPath: "
        ),
        "{warnings}"
    );
    let missing =
        mockplane().args(["validate", "--from", "wiremock", "/no/such/folder"]).output().expect("runs");
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot read /no/such/folder"));
}

#[test]
fn import_from_wiremock_serves_the_stubs_from_an_environment() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    wiremock_root(&dir.path().join("wiremock"));
    let up = Up::start(&dir.path().join("data"), &["--api-key", KEY]);
    let root = dir.path().join("wiremock");
    let root = root.to_str().expect("a UTF-8 path");
    let out = Cli::new(&up, KEY).run(&["import", "--from", "wiremock", root, "--env", "default/default"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("default/default: version"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("matchesXPath"), "the skipped stub is reported");
    let mocks = up.url("mocks");
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&format!("{mocks}/terms")).1 != "the terms" {
        assert!(Instant::now() < deadline, "the imported stubs never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(&format!("{mocks}/orders/o-1")), (200, r#"{"id":"o-1"}"#.to_owned()));
    // Rendered as WireMock renders it, unescaped, after the push to the data plane.
    assert_eq!(get(&format!("{mocks}/orders/o&1=2")), (200, r#"{"id":"o&1=2"}"#.to_owned()));

    // The same through GraphQL: `importWireMock` replaces the rules and lists what it left out.
    let query = r#"mutation($m: JSON!) { importWireMock(input: {environment: "default/default", mappings: $m}) {
        change { version } unsupported { place message } } }"#;
    let mappings = serde_json::json!({"mappings": [
        {"request": {"method": "GET", "urlPath": "/gql"}, "response": {"body": "from graphql",
         "chunkedDribbleDelay": {"numberOfChunks": 2, "totalDuration": 300}}},
        {"request": {"bodyPatterns": [{"equalToXml": "<a/>"}]}, "response": {}}
    ]});
    let answer = Cli::new(&up, KEY).graphql(query, serde_json::json!({"m": mappings}));
    let payload = &answer["importWireMock"];
    assert_eq!(
        payload["unsupported"][0]["place"], "mappings[1].request.bodyPatterns[0].equalToXml",
        "{answer}"
    );
    while get(&format!("{mocks}/gql")).1 != "from graphql" {
        assert!(Instant::now() < deadline + Duration::from_secs(10), "importWireMock's rules never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(get(&format!("{mocks}/terms")).0, 404, "the environment's rules were replaced");
    // The dribble came through the store and xDS: the body takes its 300 ms.
    let t = Instant::now();
    assert_eq!(get(&format!("{mocks}/gql")).1, "from graphql");
    assert!(t.elapsed() >= Duration::from_millis(290), "not dribbled: {:?}", t.elapsed());
}

#[test]
fn dataplane_wiremock_serves_a_folder_and_takes_stubs_over_the_admin_api() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    wiremock_root(dir.path());
    let dp =
        DataPlane::spawn(&[OsStr::new("--wiremock"), dir.path().as_os_str(), OsStr::new("--wiremock-admin")]);
    assert_eq!(get(&format!("{}/terms", dp.listen)), (200, "the terms".to_owned()));
    let client = reqwest::blocking::Client::builder().no_proxy().build().expect("a client");
    let added = client
        .post(format!("{}/__admin/mappings", dp.admin))
        .body(r#"{"request": {"method": "GET", "urlPath": "/ping"}, "response": {"body": "pong"}}"#)
        .send()
        .expect("answers");
    assert_eq!(added.status().as_u16(), 201);
    assert_eq!(get(&format!("{}/ping", dp.listen)), (200, "pong".to_owned()));
    let count: serde_json::Value = client
        .post(format!("{}/__admin/requests/count", dp.admin))
        .body(r#"{"method": "GET", "urlPath": "/ping"}"#)
        .send()
        .and_then(|r| r.json())
        .expect("a count");
    assert_eq!(count, serde_json::json!({"count": 1, "requestJournalDisabled": false}));
}
