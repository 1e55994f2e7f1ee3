//! `mockplane-loadtest compare` end to end, as a smoke run: the real mockplane data plane and
//! the real nginx (scripts/test installs it), started and pinned by the harness, loaded by the
//! real load generator, and the report it writes read back.

use std::path::PathBuf;
use std::process::Command;

/// The mockplane binary beside this package's (the workspace's target directory), built when a
/// lone `cargo test -p mockplane-loadtest` did not build it.
fn mockplane_binary() -> PathBuf {
    let loadtest = PathBuf::from(env!("CARGO_BIN_EXE_mockplane-loadtest"));
    let mockplane = loadtest.with_file_name("mockplane");
    if !mockplane.exists() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "mockplane", "--bin", "mockplane"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p mockplane failed");
    }
    mockplane
}

const SERVERS: [&str; 5] = [
    "nginx return 200",
    "nginx, 10k locations",
    "mockplane, 3 rules",
    "mockplane, 1k rules",
    "mockplane, 10k rules",
];
const SCENARIOS: [(&str, &str); 5] = [
    ("static", "static hit"),
    ("template", "templated hit"),
    ("miss", "miss (404)"),
    ("regex-header", "regex path + header hit"),
    ("table-10k", "hit in a 10k-rule table"),
];

/// The smoke run's arguments, as docs/benchmarks.md shows them.
const SMOKE: [&str; 8] =
    ["--quick", "--seconds", "0.5", "--rate", "1000", "--peers", "mockplane,nginx", "--out"];

#[test]
fn the_benchmarks_page_shows_the_smoke_run_this_test_makes() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/benchmarks.md")).expect("docs");
    let command = format!("mockplane-loadtest compare {}", SMOKE.join(" "));
    assert!(docs.contains(&command), "docs/benchmarks.md shows `{command}`");
}

#[test]
fn a_quick_compare_of_mockplane_and_nginx_writes_a_table_and_charts_with_every_server_and_scenario() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("report");
    let run = Command::new(env!("CARGO_BIN_EXE_mockplane-loadtest"))
        .arg("compare")
        .args(SMOKE)
        .arg(&out)
        .arg("--peers-dir")
        .arg(dir.path().join("peers"))
        .arg("--mockplane")
        .arg(mockplane_binary())
        .output()
        .expect("run mockplane-loadtest compare");
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "compare failed: {log}");
    assert!(log.starts_with("plan: 5 servers"), "the plan comes first: {log}");

    let table = std::fs::read_to_string(out.join("compare.md")).expect("compare.md");
    for (_, title) in SCENARIOS {
        assert!(table.contains(title), "the table names {title}: {table}");
    }
    // Every server's row holds a figure for every scenario it runs, in each table: CPU µs per
    // request (zero is possible: a short run on a busy machine can stay within one clock tick of
    // /proc's accounting), requests per second (never zero) and the open loop's latencies.
    let tables: Vec<&str> = table.split("**").collect();
    let table_after = |title: &str| {
        let at = tables
            .iter()
            .position(|t| t.starts_with(title))
            .unwrap_or_else(|| panic!("no {title} table: {table}"));
        tables[at + 1]
    };
    for server in SERVERS {
        let expected = match server {
            "nginx, 10k locations" => 1,
            "mockplane, 10k rules" => 5,
            _ => 4,
        };
        for (title, least) in [("Server CPU µs per request", 0.0), ("Requests per second", 1.0)] {
            let row = table_after(title)
                .lines()
                .find(|l| l.starts_with(&format!("| {server} |")))
                .unwrap_or_else(|| panic!("no row for {server} in {title}: {table}"));
            let figures: Vec<f64> =
                row.split('|').filter_map(|cell| cell.trim().replace(',', "").parse().ok()).collect();
            assert_eq!(figures.len(), expected, "{title}, {server}'s row: {row}");
            assert!(figures.iter().all(|f| *f >= least), "{title}, {server}'s row: {row}");
        }
        let latencies = table_after("Latency at").lines().find(|l| l.starts_with(&format!("| {server} |")));
        let cells = latencies.map(|row| row.matches(" / ").count()).unwrap_or(0);
        assert_eq!(cells, 2 * expected, "p50 / p99 / p99.9 of each scenario for {server}: {table}");
    }
    assert!(!table.contains("see note"), "every cell was measured: {table}");

    for (id, title) in SCENARIOS {
        for chart in ["cpu", "latency"] {
            let path = out.join(format!("{chart}-{id}.svg"));
            let svg = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(svg.starts_with("<svg"), "{} is an SVG", path.display());
            assert!(svg.contains(title), "{} names {title}", path.display());
            for server in SERVERS {
                let runs_it = match id {
                    "table-10k" => server.contains("10k"),
                    _ => server != "nginx, 10k locations",
                };
                assert_eq!(svg.contains(server), runs_it, "{} and {server}", path.display());
            }
            assert!(
                svg.split("<text").skip(1).any(|t| t.chars().any(|c| c.is_ascii_digit())),
                "numbers in {}",
                path.display()
            );
        }
    }
}
