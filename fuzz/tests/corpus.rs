//! Replays every saved input of every target (`corpus/<target>/*`) through its target on the
//! stable toolchain: CI catches a regression in any parser without running a fuzzer. A target
//! with no saved inputs fails, so a corpus cannot go missing unnoticed.

use std::path::Path;
use std::time::{Duration, Instant};

/// An input slower than this in a debug build fails the replay: the fuzzers' own limit
/// (`-timeout=10`, release). The slowest kept input, a case-insensitive regex of 3 KB, takes
/// 0.7 s to compile in the fuzzer's build and 2.4 s in debug; an exponential regression would
/// take far longer.
const SLOW: Duration = Duration::from_secs(10);

/// The replay's stack. The fuzzers run release builds on the 8 MiB main thread; a debug build's
/// frames are several times larger, and a test thread has 2 MiB: compiling a regex of a hundred
/// nested repetitions (which the fuzzer keeps) overflowed it in debug only.
const STACK: usize = 32 << 20;

fn replay(name: &'static str) {
    let replay = std::thread::Builder::new().stack_size(STACK).spawn(move || replay_on_this_thread(name));
    if let Err(panic) = replay.expect("a thread for the replay").join() {
        std::panic::resume_unwind(panic);
    }
}

fn replay_on_this_thread(name: &str) {
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
