//! Replays every saved input of every target (`corpus/<target>/*`) through its target on the
//! stable toolchain: CI catches a regression in any parser without running a fuzzer. A target
//! with no saved inputs fails, so a corpus cannot go missing unnoticed.

use std::path::Path;
use std::time::{Duration, Instant};

/// An input slower than this, even in a debug build, is a finding (the fuzzers run with a
/// 10 s timeout on release builds; what they keep takes milliseconds).
const SLOW: Duration = Duration::from_secs(2);

fn replay(name: &str) {
    let target = mockplane_fuzz::TARGETS.iter().find(|(n, _)| *n == name).expect("a target of that name").1;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus").join(name);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a readable folder entry").path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{}: only {} inputs", dir.display(), files.len());
    for file in files {
        let data = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let start = Instant::now();
        let outcome = std::panic::catch_unwind(|| target(&data));
        assert!(outcome.is_ok(), "{} fails {name}", file.display());
        assert!(start.elapsed() < SLOW, "{} took {:?} in {name}", file.display(), start.elapsed());
    }
}

#[test]
fn http_corpus_replays() {
    replay("http");
}

#[test]
fn rules_corpus_replays() {
    replay("rules");
}

#[test]
fn template_corpus_replays() {
    replay("template");
}

#[test]
fn json_body_corpus_replays() {
    replay("json_body");
}

#[test]
fn xds_corpus_replays() {
    replay("xds");
}

#[test]
fn every_target_has_a_corpus_test() {
    let names: Vec<&str> = mockplane_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["http", "rules", "template", "json_body", "xds"]);
}
