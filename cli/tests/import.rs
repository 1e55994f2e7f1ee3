//! `mockplane export` and `mockplane import` as a pipeline runs them, against a real
//! `mockplane up` and real data planes: the versioned export round-trips to an identical
//! environment that answers the same; an export of an unknown version, and a 1.0 export with
//! an error, are refused with nothing stored; a 1.0 export imports with its script matcher
//! reported; and the commands docs/import.md shows run as written.

mod up_util;

use std::path::{Path, PathBuf};
use std::process::Command;

use up_util::{send, text, until_answers, Cli, DataPlane, Up};

const KEY: &str = "a-key-for-the-import-tests-0123";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example_1_0() -> PathBuf {
    repo().join("import/tests/data/legacy-1.0.json")
}

const RULES: &str = r#"variables:
  GREETING: hello
upstreams:
  backend: http://127.0.0.1:9
unmatched:
  forward: { upstream: backend }
cors: { allow_origins: ["https://app.test"] }
scenarios:
  checkout: { initial: Paid }
rules:
  - id: greet
    match: { method: GET, path: "/greet/{name}" }
    response: { template: true, body: "{{env.GREETING}} {{request.path.name}}" }
  - id: status-paid
    match: { path: /status }
    scenario: { name: checkout, state: Paid }
    response: { body: Paid }
  - id: status
    match: { path: /status }
    response: { body: Started }
  - id: refund
    match: { method: POST, path: /refund }
    scenario: { name: checkout, state: Paid, next: Started }
    response: { body: refunded }
"#;

#[test]
fn an_export_imported_into_another_environment_is_the_same_environment_and_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(&dir.path().join("data"), &["--api-key", KEY]);
    let cli = Cli::new(&up, KEY);
    cli.environments("shop", &["staging", "copy"]);
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).unwrap();
    cli.ok(&["apply", "-f", rules.to_str().unwrap(), "--env", "shop/staging"]);

    let exported = cli.ok(&["export", "--env", "shop/staging"]);
    assert!(
        exported.starts_with("format: mockplane/v1\nproject: shop\nenvironment: staging\n"),
        "{exported}"
    );
    assert!(exported.contains("scenarios:\n  checkout:\n    initial: Paid\n"), "{exported}");
    let file = dir.path().join("staging.yaml");
    std::fs::write(&file, &exported).unwrap();
    let imported = cli.ok(&["import", file.to_str().unwrap(), "--env", "shop/copy"]);
    assert!(
        imported.contains("shop/copy: version") && imported.contains("created greet (revision 1)"),
        "{imported}"
    );
    let again = cli.ok(&["export", "--env", "shop/copy"]);
    assert_eq!(again.replace("environment: copy\n", "environment: staging\n"), exported);
    let json = cli.ok(&["export", "--env", "shop/copy", "-o", "json"]);
    assert!(json.starts_with("{\n  \"format\": \"mockplane/v1\",\n"), "{json}");

    // A data plane on each: the same answers, the scenario starting in its declared state.
    let xds = up.url("xDS");
    let staging = DataPlane::start(&xds, "shop/staging", &dir.path().join("dp-staging"));
    let copy = DataPlane::start(&xds, "shop/copy", &dir.path().join("dp-copy"));
    for dp in [&staging, &copy] {
        until_answers(&format!("{}/greet/ada", dp.listen), "hello ada");
        assert_eq!(send("GET", &format!("{}/status", dp.listen)), (200, "Paid".to_owned()));
        assert_eq!(send("POST", &format!("{}/refund", dp.listen)), (200, "refunded".to_owned()));
        assert_eq!(send("GET", &format!("{}/status", dp.listen)), (200, "Started".to_owned()));
        // Unmatched requests go to the upstream, which is not there.
        assert_eq!(send("GET", &format!("{}/elsewhere", dp.listen)).0, 502);
    }
    drop((staging, copy));
    up.stop();
}

#[test]
fn an_unknown_version_and_a_broken_1_0_export_are_refused_with_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(&dir.path().join("data"), &["--api-key", KEY]);
    let cli = Cli::new(&up, KEY);
    let before = cli.ok(&["export", "--env", "default/default"]);

    let future = dir.path().join("future.yaml");
    std::fs::write(&future, "format: mockplane/v7\nrules: []\nwidgets: {}\n").unwrap();
    let out = cli.run(&["import", future.to_str().unwrap(), "--env", "default/default"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "{}: rule set refused, 1 error:\n  format: \"mockplane/v7\" is not a format this build of mockplane reads (it reads mockplane/v1); a newer mockplane may\n",
            future.display()
        )
    );

    let broken = dir.path().join("broken.json");
    let example = std::fs::read_to_string(example_1_0()).unwrap();
    std::fs::write(&broken, example.replace("\"status_code\": 503", "\"status_code\": 99")).unwrap();
    let out = cli.run(&["import", broken.to_str().unwrap(), "--env", "default/staging"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        format!(
            "{} (mockplane-1.0, converted): rule set refused, 1 error:\n  data.rules[6].response.status: must be 100..=599, got 99\n",
            broken.display()
        )
    );
    // --from says what the file is: a rules file given as 1.0 is not read as one.
    let out =
        cli.run(&["import", future.to_str().unwrap(), "--from", "mockplane-1.0", "--env", "default/default"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("(mockplane-1.0): the document: not JSON"), "{}", text(&out.stderr));

    assert_eq!(cli.ok(&["export", "--env", "default/default"]), before, "nothing was stored");

    // A plain rules file, without `format`, imports as it always did.
    let plain = dir.path().join("plain.yaml");
    std::fs::write(
        &plain,
        "rules:\n  - id: hello\n    match: { path: /hello }\n    response: { body: hi }\n",
    )
    .unwrap();
    let imported = cli.ok(&["import", plain.to_str().unwrap(), "--env", "default/default"]);
    assert!(imported.contains("  created hello (revision 1)\n"), "{imported}");
    until_answers(&format!("{}/hello", up.url("mocks")), "hi");
    up.stop();
}

#[test]
fn a_1_0_export_imports_its_environment_with_the_script_matcher_reported() {
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(&dir.path().join("data"), &["--api-key", KEY]);
    let cli = Cli::new(&up, KEY);
    cli.environments("shop", &["dev"]);
    let file = example_1_0();
    let file = file.to_str().unwrap();

    let out = cli.run(&["import", file, "--env", "shop/dev"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with(&format!("{file}: read as mockplane-1.0, 6 rules\nshop/dev: version 1 pushed")),
        "{stdout}"
    );
    for id in ["list-users", "get-user", "search", "vip-only", "logo", "slow-down"] {
        assert!(stdout.contains(&format!("  created {id} (revision 1)\n")), "{id}: {stdout}");
    }
    assert_eq!(
        text(&out.stderr),
        format!(
            "{file}: 1 item not imported as written:\n  data.rules[4].match: script matchers are not supported (mockplane has no scripting); the rule \"vip-only\" is imported disabled, with the rest of its match: rewrite the match and enable it\n"
        )
    );

    let dp = DataPlane::start(&up.url("xDS"), "shop/dev", &dir.path().join("dp"));
    until_answers(&format!("{}/users?page=1", dp.listen), r#"[{"id":1,"name":"Ada"}]"#);
    assert_eq!(send("GET", &format!("{}/users/7", dp.listen)), (200, r#"{"id": 1}"#.to_owned()));
    assert_eq!(send("GET", &format!("{}/vip", dp.listen)).0, 404, "the script rule is disabled");
    assert_eq!(send("GET", &format!("{}/admin/panel", dp.listen)).0, 404, "a staging-only rule");
    let exported = cli.ok(&["export", "--env", "shop/dev"]);
    assert!(exported.contains("variables:\n  REGION: local\n"), "{exported}");
    drop(dp);
    up.stop();
}

/// The `mockplane …` lines of docs/import.md's ```sh blocks, in order.
fn doc_commands() -> Vec<String> {
    let doc = std::fs::read_to_string(repo().join("docs/import.md")).expect("docs/import.md");
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in doc.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh && l.starts_with("mockplane ") => {
                commands.push(l.split(" # ").next().unwrap_or(l).trim().to_owned())
            }
            _ => {}
        }
    }
    commands
}

#[test]
fn the_commands_docs_import_md_shows_run_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let up = Up::start(&dir.path().join("data"), &["--api-key", KEY]);
    let cli = Cli::new(&up, KEY);
    cli.environments("shop", &["staging", "copy"]);
    // The doc's paths are the repository's, and its output files land in the work directory.
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    std::os::unix::fs::symlink(repo().join("import"), work.join("import")).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_mockplane")).parent().unwrap().to_owned();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let commands = doc_commands();
    assert!(commands.len() >= 5, "{commands:?}");
    for command in &commands {
        let out = Command::new("sh")
            .args(["-c", command])
            .current_dir(&work)
            .env("PATH", &path)
            .env("MOCKPLANE_URL", &cli.url)
            .env("MOCKPLANE_API_KEY", KEY)
            .output()
            .unwrap();
        assert!(out.status.success(), "{command}: {:?}\n{}", out.status, text(&out.stderr));
    }
    let exported = std::fs::read_to_string(work.join("staging.yaml")).expect("the export the doc writes");
    assert!(exported.starts_with("format: mockplane/v1\n"), "{exported}");
    let staging = cli.ok(&["export", "--env", "shop/staging"]);
    assert!(staging.contains("- id: list-users\n"), "the 1.0 export was imported: {staging}");
    assert!(staging.contains("- id: findPets\n"), "apply --from openapi --merge added to it: {staging}");
    up.stop();
}
