//! docs/operations.md documents every flag of `mockplane dataplane`, and nothing else: the
//! flags its tables list are exactly those `mockplane dataplane --help` prints (besides
//! `--help` itself), so a flag added without a line in the doc, or removed with one left,
//! fails here.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// The long flags of the `| Flag | Default | Meaning |` tables: the first `--name` of each row.
fn documented_flags() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md"))
        .expect("docs/operations.md");
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `--"))
        .map(|rest| {
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
            format!("--{name}")
        })
        .collect()
}

/// The long flags `mockplane dataplane --help` lists, `--help` aside.
fn flags_in_help() -> BTreeSet<String> {
    let out =
        Command::new(env!("CARGO_BIN_EXE_mockplane")).args(["dataplane", "--help"]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let help = String::from_utf8(out.stdout).expect("UTF-8 help");
    help.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split([' ', ',', '=']).find(|w| w.starts_with("--")).map(str::to_owned))
        .filter(|f| f != "--help")
        .collect()
}

#[test]
fn every_dataplane_flag_is_documented_and_every_documented_flag_exists() {
    let (documented, real) = (documented_flags(), flags_in_help());
    assert!(real.len() >= 15, "the help parser found too few flags: {real:?}");
    let undocumented: Vec<_> = real.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&real).collect();
    assert!(undocumented.is_empty(), "flags missing from docs/operations.md: {undocumented:?}");
    assert!(stale.is_empty(), "docs/operations.md documents flags that do not exist: {stale:?}");
}

/// The client commands docs/cli.md's table lists are exactly the client commands of
/// `mockplane --help` (all but the servers, `validate` and `help`).
#[test]
fn every_client_command_is_documented_and_every_documented_command_exists() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/cli.md"))
        .expect("docs/cli.md");
    let documented: BTreeSet<String> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `mockplane "))
        .filter_map(|rest| rest.split([' ', '`']).next().map(str::to_owned))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_mockplane")).arg("--help").output().expect("run");
    let help = String::from_utf8(out.stdout).expect("UTF-8 help");
    let servers = ["up", "dataplane", "controlplane", "validate", "help"];
    let commands: BTreeSet<String> = help
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("a Commands section")
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| !servers.contains(c))
        .map(str::to_owned)
        .collect();
    assert_eq!(documented, commands, "docs/cli.md's table and `mockplane --help` differ");
}
