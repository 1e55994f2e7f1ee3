//! docs/loadtest.md, checked against the binary: every flag of `mockplane-loadtest run --help`
//! is in its table and every flag there exists; every `mockplane-loadtest run` command it shows
//! runs, against the pet store it names (examples/petstore.yaml on an ephemeral port instead of
//! 9090, `-z` cut to 500 ms and `-n` to 2,000 so the test stays short), with no errors; its mix
//! example is loadtest/examples/petstore-mix.yaml; and its JSON example has the keys a real report has.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use mockplane_dataplane::{DataPlaneConfig, IoDriver, SnapshotStore};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn doc() -> String {
    std::fs::read_to_string(repo().join("docs/loadtest.md")).expect("docs/loadtest.md")
}

/// The bodies of the doc's fenced blocks of `lang`.
fn blocks(doc: &str, lang: &str) -> Vec<String> {
    let fence = format!("```{lang}\n");
    doc.split(&fence).skip(1).map(|rest| rest.split("```").next().unwrap_or_default().to_owned()).collect()
}

#[test]
fn every_run_flag_is_documented_and_every_documented_flag_exists() {
    let documented: BTreeSet<String> = doc()
        .lines()
        .filter(|l| l.starts_with("| `-"))
        .flat_map(|l| {
            let first_cell = l.split('|').nth(1).unwrap_or_default().to_owned();
            first_cell.split('`').filter(|w| w.starts_with("--")).map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    let out =
        Command::new(env!("CARGO_BIN_EXE_mockplane-loadtest")).args(["run", "--help"]).output().expect("run");
    let help = String::from_utf8(out.stdout).expect("UTF-8 help");
    let real: BTreeSet<String> = help
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split([' ', ',', '=']).find(|w| w.starts_with("--")).map(str::to_owned))
        .filter(|f| f != "--help")
        .collect();
    assert!(real.len() >= 14, "the help parser found too few flags: {real:?}");
    assert_eq!(documented, real, "docs/loadtest.md's flag table and `run --help` differ");
}

/// `-z X` becomes `-z 500ms` and `-n X` becomes `-n 2000`.
fn shorten(command: &str) -> String {
    let mut words = command.split(' ');
    let mut out = Vec::new();
    while let Some(w) = words.next() {
        out.push(w);
        let short = match w {
            "-z" => "500ms",
            "-n" => "2000",
            _ => continue,
        };
        words.next();
        out.push(short);
    }
    out.join(" ")
}

#[test]
fn every_command_of_the_doc_runs_against_the_pet_store_without_errors() {
    let config = DataPlaneConfig {
        rules: Some(repo().join("examples/petstore.yaml")),
        listen: "127.0.0.1:0".parse().expect("an address"),
        admin: "127.0.0.1:0".parse().expect("an address"),
        workers: 1,
        pin_workers: false,
        io_driver: IoDriver::Epoll,
        ..Default::default()
    };
    let dp = mockplane_dataplane::start(config, SnapshotStore::new()).expect("the pet store starts");
    let addr = dp.listen_addr().to_string();
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_mockplane-loadtest")).parent().expect("a folder").to_owned();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let commands: Vec<String> = blocks(&doc(), "sh")
        .iter()
        .flat_map(|b| b.lines().map(str::to_owned).collect::<Vec<_>>())
        .filter(|l| l.starts_with("mockplane-loadtest run "))
        .collect();
    assert!(commands.len() >= 6, "too few commands found: {commands:?}");
    for command in commands {
        let run = shorten(&command.replace("127.0.0.1:9090", &addr));
        // Every run is read as JSON here; a text run is checked for its table's lines.
        let json = run.contains("--output-format json");
        let out = Command::new("sh")
            .arg("-c")
            .arg(&run)
            .current_dir(repo())
            .env("PATH", &path)
            .output()
            .expect("sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
        if json {
            let r: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{command}: {e}"));
            let errors: u64 =
                r["errors"].as_object().expect("errors").values().filter_map(Value::as_u64).sum();
            assert_eq!(errors, 0, "{command}: {r}");
            assert!(r["status"]["2xx"].as_u64().is_some_and(|n| n > 0), "{command}: {r}");
        } else {
            assert!(
                stdout.contains("errors       connect 0  reset 0  timeout 0  parse 0"),
                "{command}:\n{stdout}"
            );
            assert!(!stdout.contains("2xx 0 "), "{command}:\n{stdout}");
        }
    }
    dp.shutdown();
}

#[test]
fn the_mix_example_is_the_example_file() {
    let dir = tempfile::tempdir().expect("a folder");
    let from_doc = dir.path().join("doc-mix.yaml");
    // Fenced as `yml`: the docs' `yaml` blocks are rules files, compiled by
    // rules/tests/docs_examples.rs.
    let yaml = blocks(&doc(), "yml").into_iter().find(|b| b.starts_with("requests:")).expect("the mix block");
    std::fs::write(&from_doc, yaml).expect("write");
    use mockplane_loadtest::run::mix::read_mix_file;
    assert_eq!(
        read_mix_file(&from_doc).expect("the doc's mix reads"),
        read_mix_file(&repo().join("loadtest/examples/petstore-mix.yaml")).expect("the example reads")
    );
}

/// The keys of a JSON value, nested ones as `outer.inner`.
fn keys(v: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let Value::Object(map) = v {
        for (k, inner) in map {
            let name = format!("{prefix}{k}");
            keys(inner, &format!("{name}."), out);
            out.insert(name);
        }
    }
}

#[test]
fn the_json_example_has_the_keys_of_a_real_report() {
    let example: Value =
        serde_json::from_str(&blocks(&doc(), "json")[0]).expect("the doc's JSON example parses");
    let out = Command::new(env!("CARGO_BIN_EXE_mockplane-loadtest"))
        .args(["run", "http://127.0.0.1:1/", "-n", "1", "-c", "1", "--output-format", "json"])
        .output()
        .expect("run");
    let real: Value = serde_json::from_slice(&out.stdout).expect("a JSON report");
    let (mut a, mut b) = (BTreeSet::new(), BTreeSet::new());
    keys(&example, "", &mut a);
    keys(&real, "", &mut b);
    assert_eq!(a, b, "docs/loadtest.md's JSON example and a real report differ");
}
