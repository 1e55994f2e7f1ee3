//! Differential test against real WireMock (issue 17): the corpus in
//! `import/tests/wiremock_diff/` (stub mappings, `__files/`, and `requests.json`, an ordered list
//! of requests each naming what it exercises) is served by `mockplane dataplane --wiremock`, every
//! request is sent in order over TCP, and each answer is compared with the answer WireMock 3.13
//! gave to the same bytes, recorded in `expected.json` by `record.sh` (so CI needs no Java).
//!
//! Every case must agree, except those listed in `known_differences.json` with their reason;
//! a listed case that starts agreeing fails too, so the list stays true. The corpus runs twice:
//! as WireMock templates by default (per stub), and with every response a template
//! (`expected-global.json`, `known_differences_global.json`). The table of cases is
//! printed (see it with `--nocapture`). With `WIREMOCK_DIFF_RECORD=HOST:PORT` the same client
//! sends the corpus to a running WireMock instead and rewrites the mode's answers (`record.sh`
//! runs each mode's test alone, each against a fresh WireMock started in that mode); with
//! `WIREMOCK_DIFF_AGAINST=HOST:PORT` it compares that server instead of starting mockplane.

mod corpus;
mod origin;
mod wire;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How WireMock and mockplane template responses in a run, and the files of that run.
struct Mode {
    /// WireMock's answers to the corpus in this mode.
    expected: &'static str,
    /// The cases where mockplane answers differently in this mode, with the reasons.
    known: &'static str,
    /// Extra `mockplane dataplane` flags.
    flags: &'static [&'static str],
    /// What the figure says of the mode: `… agree with WireMock 3.13.2{suffix}`.
    suffix: &'static str,
}

/// Templating per stub (`transformers: ["response-template"]`), WireMock's default.
const LOCAL: Mode =
    Mode { expected: "expected.json", known: "known_differences.json", flags: &[], suffix: "" };

/// Every response a template: WireMock's `--global-response-templating`, mockplane's
/// `--global-templating`. Its known differences are those of [`LOCAL`] and its own.
const GLOBAL: Mode = Mode {
    expected: "expected-global.json",
    known: "known_differences_global.json",
    flags: &["--global-templating"],
    suffix: " with global templating",
};

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../import/tests/wiremock_diff")
}

fn read(name: &str) -> String {
    let path = corpus_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `mockplane dataplane --wiremock DIR` on ephemeral ports, killed when dropped.
struct DataPlane {
    child: Child,
    listen: String,
    /// The admin listener, where `--wiremock-admin` answers WireMock's admin API.
    admin: String,
    /// What the converter reported as not imported, `place: message`, from the log.
    not_imported: Vec<String>,
}

impl DataPlane {
    fn start(source: &[&str]) -> DataPlane {
        let child = Command::new(env!("CARGO_BIN_EXE_mockplane"))
            .args(["--log-format", "json", "dataplane"])
            .args(source)
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--workers", "1", "--no-pin"])
            .env_remove("RUST_LOG")
            .stderr(Stdio::piped())
            .spawn()
            .expect("mockplane starts");
        // Owned by `dp` at once, so a panic below kills the process.
        let mut dp =
            DataPlane { child, listen: String::new(), admin: String::new(), not_imported: Vec::new() };
        let stderr = dp.child.stderr.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("the data plane did not start ({e}); its log: {seen:#?}"));
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            let message = v["fields"]["message"].as_str().unwrap_or_default();
            if let Some(why) = message.strip_prefix("not imported from WireMock: ") {
                dp.not_imported.push(format!("{}: {why}", v["fields"]["place"].as_str().unwrap_or_default()));
            }
            if message == "data plane serving" {
                dp.listen = v["fields"]["listen"].as_str().expect("a listen field").to_owned();
            }
            if message == "admin endpoints serving" {
                dp.admin = v["fields"]["admin"].as_str().expect("an admin field").to_owned();
                // Keep draining the log so the process never blocks on a full pipe.
                std::thread::spawn(move || while lines.recv().is_ok() {});
                return dp;
            }
            seen.push(line);
        }
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends the corpus to a running WireMock and writes what it answered to the mode's answers
/// file. Checks the corpus on the way: a case marked `miss` must be one WireMock did not match,
/// every other case one it did, no template may fail, and each fault must fire.
fn record(addr: &str, cases: &[corpus::Case], mode: &Mode) {
    let reset = wire::Request {
        method: "POST".into(),
        target: "/__admin/scenarios/reset".into(),
        headers: vec![],
        body: Some(Vec::new()),
    };
    let answer = wire::send(addr, &reset).unwrap_or_else(|e| panic!("WireMock at {addr}: {e}"));
    assert_eq!(answer.status, 200, "resetting WireMock's scenarios");
    let (mut records, mut wrong) = (Vec::new(), Vec::new());
    for case in cases {
        if case.fault {
            let outcome = wire::outcome(addr, &case.request).unwrap_or_else(|e| panic!("{}: {e}", case.name));
            if outcome.starts_with("a ") && outcome.ends_with(" answer") {
                wrong.push(format!("{}: the fault did not fire: {outcome}", case.name));
            }
            records.push(corpus::record_fault(case, &outcome));
            continue;
        }
        let answer = wire::send(addr, &case.request).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let body = String::from_utf8_lossy(&answer.body);
        // A HEAD answer has no body to say so: its 404 is the miss.
        let diagnosis = body.contains("Request was not matched") || case.request.method == "HEAD";
        let unmatched = answer.status == 404 && diagnosis;
        if unmatched != case.miss {
            wrong.push(format!(
                "{}: marked miss: {}, WireMock answered {} {body:?}",
                case.name, case.miss, answer.status
            ));
        }
        if answer.status == 500 && body.contains("Exception") {
            // A template WireMock cannot render: the stub is wrong, not a case to compare.
            let first = body.lines().find(|l| l.contains("Exception")).unwrap_or_default();
            wrong.push(format!("{}: WireMock failed with {}: {first}", case.name, answer.status));
        }
        if let Some(shape) = case.body_matches.as_ref().filter(|s| !s.is_match(&body)) {
            wrong.push(format!("{}: WireMock's body {body:?} does not match /{shape}/", case.name));
        }
        records.push(corpus::record(case, &answer));
    }
    assert!(
        wrong.is_empty(),
        "the corpus is wrong about WireMock, nothing recorded:\n  {}",
        wrong.join("\n  ")
    );
    let mut text = String::from("{\n  \"wiremock\": \"3.13.2\",\n  \"answers\": [\n");
    let lines: Vec<String> = records.iter().map(|r| format!("    {r}")).collect();
    text.push_str(&lines.join(",\n"));
    text.push_str("\n  ]\n}\n");
    std::fs::write(corpus_dir().join(mode.expected), text).expect("the answers are written");
    println!("recorded {} answers from WireMock at {addr}", records.len());
}

#[test]
fn mockplane_answers_the_wiremock_corpus_as_wiremock_does() {
    run(&LOCAL);
}

#[test]
fn with_global_templating_mockplane_answers_the_corpus_as_wiremock_does() {
    run(&GLOBAL);
}

fn run(mode: &Mode) {
    let mut cases = corpus::cases(&read("requests.json")).unwrap_or_else(|e| panic!("{e}"));
    // Stubs that forward (`proxyBaseUrl`) are added through the admin API with this origin.
    let origin = origin::start();
    for case in &mut cases {
        if let Some(body) = case.request.body.as_mut() {
            let text = String::from_utf8_lossy(body).replace("${ORIGIN}", &origin);
            *body = text.into_bytes();
        }
    }
    if let Ok(addr) = std::env::var("WIREMOCK_DIFF_RECORD") {
        return record(&addr, &cases, mode);
    }
    let (expected_file, known_file) = (mode.expected, mode.known);
    let expected: Value = serde_json::from_str(&read(expected_file)).expect("the answers are JSON");
    let answers = expected["answers"].as_array().expect("the answers file has answers");
    // Another mode's list adds to the default one: its differences are those of the mode alone.
    let mut known = serde_json::Map::new();
    for file in [LOCAL.known, known_file] {
        let list: Value = serde_json::from_str(&read(file)).expect("the known differences are JSON");
        let list = list.as_object().unwrap_or_else(|| panic!("{file} is not an object: case → reason"));
        known.extend(list.clone());
    }
    // Against another server (WireMock itself) mockplane's known differences do not apply.
    let against = std::env::var("WIREMOCK_DIFF_AGAINST").ok();
    if against.is_some() {
        known.clear();
    }
    let known = &known;
    for (name, reason) in known {
        assert!(cases.iter().any(|c| &c.name == name), "{known_file} lists {name:?}, not a case");
        assert!(
            reason.as_str().is_some_and(|r| !r.trim().is_empty()),
            "{known_file}: {name:?} has no reason"
        );
    }
    let names: Vec<&str> = answers.iter().map(|a| a["name"].as_str().unwrap_or_default()).collect();
    let case_names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, case_names, "{expected_file} does not hold the corpus's cases in order: run record.sh");

    // WIREMOCK_DIFF_AGAINST=HOST:PORT compares a server already running instead (WireMock
    // itself, to check that the corpus and the comparison are deterministic).
    let (dp, target, admin) = match against {
        Some(addr) => (None, addr.clone(), addr),
        None => {
            let mappings = corpus_dir().join("mappings").display().to_string();
            let mut args = vec!["--wiremock", &mappings, "--wiremock-admin"];
            args.extend(mode.flags);
            let dp = DataPlane::start(&args);
            let (listen, admin) = (dp.listen.clone(), dp.admin.clone());
            (Some(dp), listen, admin)
        }
    };
    for note in dp.iter().flat_map(|dp| &dp.not_imported) {
        println!("not imported: {note}");
    }
    let mut table = vec![format!("{:<44} {:<8} difference", "case", "agrees")];
    let (mut agree, mut unexpected, mut stale) = (0, Vec::new(), Vec::new());
    for (case, want) in cases.iter().zip(answers) {
        let to = if case.admin { &admin } else { &target };
        let diffs = match case.fault {
            true => match wire::outcome(to, &case.request) {
                Ok(got) => corpus::fault_differences(want, &got),
                Err(e) => vec![format!("no connection: {e}")],
            },
            false => match wire::send(to, &case.request) {
                Ok(got) => corpus::differences(case, want, &got),
                Err(e) => vec![format!("no answer: {e}")],
            },
        };
        let listed = known.contains_key(&case.name);
        let verdict = match (diffs.is_empty(), listed) {
            (true, false) => "yes",
            (true, true) => "yes (!)",
            (false, true) => "known",
            (false, false) => "NO",
        };
        if diffs.is_empty() {
            agree += 1;
        }
        table.push(format!("{:<44} {:<8} {}", case.name, verdict, diffs.join("; ")));
        match (diffs.is_empty(), listed) {
            (true, true) => stale.push(case.name.clone()),
            (false, false) => unexpected.push(format!("{}: {}", case.name, diffs.join("; "))),
            _ => {}
        }
    }
    let figure = format!("{agree} of {} cases agree with WireMock 3.13.2{}", cases.len(), mode.suffix);
    table.push(figure.clone());
    let table = table.join("\n");
    println!("{table}");
    assert!(
        unexpected.is_empty() && stale.is_empty(),
        "{table}\n\ndisagreements not in {known_file}:\n  {}\n\nlisted in {known_file} but agreeing now (remove them):\n  {}",
        unexpected.join("\n  "),
        stale.join("\n  "),
    );
    // docs/wiremock-compat.md states the figure and names every known difference: keep it true.
    // (Not when comparing another server.)
    if dp.is_some() {
        let doc_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/wiremock-compat.md");
        let doc = std::fs::read_to_string(&doc_path).expect("docs/wiremock-compat.md");
        let unnamed: Vec<&String> = known.keys().filter(|k| !doc.contains(&format!("`{k}`"))).collect();
        assert!(
            doc.contains(&format!("**{figure}.**")) && unnamed.is_empty(),
            "docs/wiremock-compat.md must say \"**{figure}.**\" and name every known difference; unnamed: {unnamed:?}"
        );
    }
}

/// `record.sh` is only run by hand (it needs Java): its syntax is checked here, and it must
/// name the tests that record, which a rename would otherwise leave it silently missing.
#[test]
fn record_sh_parses_and_runs_the_recording_tests() {
    let script = corpus_dir().join("record.sh");
    let out = Command::new("bash").arg("-n").arg(&script).output().expect("bash runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = read("record.sh");
    for test in [
        "mockplane_answers_the_wiremock_corpus_as_wiremock_does",
        "with_global_templating_mockplane_answers_the_corpus_as_wiremock_does",
    ] {
        assert!(text.contains(&format!("record {test}")), "record.sh does not record with {test}");
    }
}
