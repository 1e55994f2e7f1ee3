//! `--from openapi` through the binary, as a user runs it: `mockplane validate` lists what was
//! not imported, `mockplane import` converts a document into an environment of a real
//! `mockplane up` (answers seen on its data plane), and `mockplane dataplane --openapi` serves
//! one directly, with request validation.

mod up_util;

use std::time::{Duration, Instant};

use up_util::{get, Cli, DataPlane, Up};

const KEY: &str = "a-key-for-the-openapi-tests-01";

fn data(name: &str) -> String {
    format!("{}/../import/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn mockplane(args: &[&str]) -> std::process::Output {
    up_util::mockplane().args(args).output().expect("mockplane runs")
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().expect("a client")
}

#[test]
fn validate_from_openapi_counts_rules_and_lists_what_was_not_imported() {
    let petstore = data("petstore-expanded-3.0.yaml");
    let out = mockplane(&["validate", "--from", "openapi", &petstore]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{petstore}: 8 rules, valid once converted from openapi\n")
    );
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));

    // docs/import.md shows this run.
    let callbacks = data("callback-example-3.0.yaml");
    let out = mockplane(&["validate", "--from", "openapi", &callbacks]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{callbacks}: 2 rules, valid once converted from openapi\n")
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "{callbacks}: 1 item not imported as written:\n  paths./streams.post.callbacks.onData: callbacks are requests the API makes, not ones it answers\n"
        )
    );

    let out = mockplane(&["validate", "--from", "openapi", &data("README.md")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("README.md (openapi): "), "{out:?}");
}

#[test]
fn import_from_openapi_serves_the_document_in_an_environment() {
    let dir = tempfile::tempdir().expect("a folder");
    let up = Up::start(&dir.path().join("data"), &["--api-key", KEY]);
    let mocks = up.url("mocks");
    let petstore = data("petstore-expanded-3.0.yaml");
    let out = Cli::new(&up, KEY).run(&[
        "import",
        "--from",
        "openapi",
        "--validate",
        &petstore,
        "--env",
        "default/default",
    ]);
    assert!(out.status.success(), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("created findPets (revision 1)"), "{said}");

    // The demo rules answer /pets too: wait for the imported ones, which validate `limit`.
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(&format!("{mocks}/pets?limit=lots")).0 != 400 {
        assert!(Instant::now() < deadline, "the imported rules never answered");
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, body) = get(&format!("{mocks}/pets/7"));
    assert_eq!(status, 200);
    let pet: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(pet, serde_json::json!({"name": "string", "tag": "string", "id": 0}));
    // The problem document docs/import.md shows.
    let (status, body) = get(&format!("{mocks}/pets?limit=lots"));
    assert_eq!(status, 400, "{body}");
    let doc = std::fs::read_to_string(format!("{}/../docs/import.md", env!("CARGO_MANIFEST_DIR")))
        .expect("the doc");
    assert!(doc.contains(&format!("$ curl -s 'localhost:9090/pets?limit=lots'\n{body}\n")), "{body}");
    up.stop();
}

#[test]
fn dataplane_openapi_serves_a_document_with_validation() {
    let tictactoe = data("tictactoe-3.1.yaml");
    let mut dp = DataPlane::spawn(&["--openapi", &tictactoe, "--openapi-validate", "--no-pin"]);
    dp.until_logged(&["serving", "tictactoe-3.1.yaml"]);
    let base = &dp.listen;
    let http = http();
    let r = http.get(format!("{base}/board/1/3")).send().expect("an answer");
    assert_eq!((r.status().as_u16(), r.text().expect("text")), (200, "\".\"".to_owned()));
    let r = http.get(format!("{base}/board/1/4")).send().expect("an answer");
    assert_eq!(r.status().as_u16(), 400, "column 4 is past the maximum of 3");
    let r = http.put(format!("{base}/board/1/1")).header("content-type", "application/json").body("\"Z\"");
    let r = r.send().expect("an answer");
    assert_eq!(r.status().as_u16(), 422, "Z is not a mark");
}
