//! `--from openapi` through the binary, as a user runs it: `mockplane validate` lists what was
//! not imported, `mockplane import` converts a document into an environment of a real
//! `mockplane up` (answers seen on its data plane), and `mockplane dataplane --openapi` serves
//! one directly, with request validation.

mod up_util;

use std::time::{Duration, Instant};

use up_util::{get, text, until_answers, Cli, DataPlane, Up};

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

/// `apply --from` converts as `import --from` does, says the same, fails the same, and keeps
/// `apply`'s `--dry-run` and `--merge`; `diff --from` compares what it would apply.
#[test]
fn apply_from_openapi_says_and_exits_as_import_does_and_can_merge() {
    let dir = tempfile::tempdir().expect("a folder");
    let up = Up::start(&dir.path().join("data"), &["--api-key", KEY]);
    let cli = Cli::new(&up, KEY);
    cli.environments("shop", &["a", "b"]);
    let callbacks = data("callback-example-3.0.yaml");

    let dry = cli.run(&["apply", "-f", &callbacks, "--from", "openapi", "--env", "shop/a", "--dry-run"]);
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry.stderr));
    let said = text(&dry.stdout);
    assert!(
        said.starts_with(&format!(
            "{callbacks}: read as openapi, 2 rules\nshop/a: dry run, nothing stored or pushed; the apply would:\n  create "
        )),
        "{said}"
    );
    assert!(
        !cli.ok(&["get", "rules", "--env", "shop/a"]).contains("POST /streams"),
        "a dry run stores nothing"
    );

    // `diff --from` shows the converted rules against those in force (none yet), as `apply`
    // would make them, and what was not imported.
    let diff = cli.run(&["diff", "-f", &callbacks, "--from", "openapi", "--env", "shop/a"]);
    assert_eq!(diff.status.code(), Some(0), "{}", text(&diff.stderr));
    let shown = text(&diff.stdout);
    assert!(shown.contains(&format!("--- /dev/null\n+++ {callbacks} (file) rule ")), "{shown}");
    assert!(shown.contains("+  path: /streams"), "{shown}");
    assert!(text(&diff.stderr).contains("paths./streams.post.callbacks.onData: "), "{}", text(&diff.stderr));

    let applied = cli.run(&["apply", "-f", &callbacks, "--from", "openapi", "--env", "shop/a"]);
    let after = cli.ok(&["diff", "-f", &callbacks, "--from", "openapi", "--env", "shop/a"]);
    assert_eq!(after, "shop/a: no difference\n");
    let imported = cli.run(&["import", &callbacks, "--from", "openapi", "--env", "shop/b"]);
    assert_eq!((applied.status.code(), imported.status.code()), (Some(0), Some(0)));
    // The same lines but for the environment and its xDS version (a hash of what it holds).
    let unversioned = |out: &[u8]| {
        let out = text(out).replace("shop/a", "shop/b");
        let at = out.find(" pushed (").expect("a version pushed") + " pushed (".len();
        let end = out[at..].find(')').expect("closed") + at;
        format!("{}{}", &out[..at], &out[end..])
    };
    assert_eq!(unversioned(&applied.stdout), unversioned(&imported.stdout));
    assert!(text(&applied.stdout).contains("  created "), "{}", text(&applied.stdout));
    assert_eq!(text(&applied.stderr), text(&imported.stderr));
    assert!(
        text(&applied.stderr).contains("paths./streams.post.callbacks.onData: "),
        "{}",
        text(&applied.stderr)
    );

    // The same refusals, with the same exit codes: a file that is not OpenAPI (1), a converter
    // option without its format (1), a format that does not exist (2, usage).
    let readme = data("README.md");
    for (args, code) in [
        (vec![readme.as_str(), "--from", "openapi"], 1),
        (vec![callbacks.as_str(), "--validate"], 1),
        (vec![callbacks.as_str(), "--from", "swagger"], 2),
    ] {
        let apply = cli.run(&[&["apply", "--env", "shop/a", "-f"], &args[..]].concat());
        let import = cli.run(&[&["import", "--env", "shop/a"], &args[..]].concat());
        assert_eq!((apply.status.code(), import.status.code()), (Some(code), Some(code)), "{args:?}");
        if code == 1 {
            assert_eq!(text(&apply.stderr), text(&import.stderr), "{args:?}");
        }
    }

    // --merge keeps the rules in force: the served environment answers both.
    let hello = dir.path().join("hello.yaml");
    std::fs::write(
        &hello,
        "rules:\n  - id: hello\n    match: { path: /hello }\n    response: { body: hi }\n",
    )
    .expect("write");
    cli.ok(&["apply", "-f", hello.to_str().expect("UTF-8"), "--env", "default/default"]);
    let petstore = data("petstore-expanded-3.0.yaml");
    let merged =
        cli.ok(&["apply", "-f", &petstore, "--from", "openapi", "--env", "default/default", "--merge"]);
    assert!(merged.contains("  created findPets (revision 1)\n") && !merged.contains("deleted"), "{merged}");
    let mocks = up.url("mocks");
    until_answers(&format!("{mocks}/pets/7"), r#"{"name":"string","tag":"string","id":0}"#);
    assert_eq!(get(&format!("{mocks}/hello")), (200, "hi".to_owned()));
    up.stop();
}
