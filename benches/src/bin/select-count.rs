//! A deterministic harness for instruction counts of `RuleTable::select`: builds a realistic
//! table and its requests, then selects for each request in turn inside `run_selects`, so that
//! `valgrind --tool=callgrind --toggle-collect=select_count::run_selects` counts only selection.
//! On a machine where timings swing by 30% between runs, counts are what repeat.
//!
//! `select-count [RULES] [SELECTS] [realistic|path-only] [KIND]` (defaults 10000, 100000,
//! realistic, every kind); KIND keeps only requests of one kind: exact, template, prefix,
//! regex, json_body, miss or other. `NREQ=N` cycles through N distinct requests instead of
//! 16,384: with fewer, the table's lines the requests touch stay in cache, which shows how much
//! of a figure is cache misses (at 10k rules: ~97 ns with 256, ~180 with 16,384). `PERKIND=1`
//! times each select and reports the time by kind of request (see `per_kind`).
//! `DROPKINDS=regex,prefix` leaves those kinds out of the mix: what they cost the others.

use mockplane_benches::{path_only_rule_set, realistic_rule_set, requests_for, PackedRequests};
use mockplane_rules::{CompileOptions, RuleTable};

#[inline(never)]
fn run_selects(table: &RuleTable, requests: &PackedRequests, count: usize) -> usize {
    let mut hits = 0;
    for i in 0..count {
        hits += requests.with_request(i % requests.len(), |cx| usize::from(table.select(cx).is_some()));
    }
    hits
}

#[inline(never)]
fn warm_up(table: &RuleTable, requests: &PackedRequests) {
    for i in 0..requests.len() {
        requests.with_request(i, |cx| std::hint::black_box(table.select(cx).is_some()));
    }
}

/// Times each select on its own and sums the times by kind of request: what each kind costs
/// amid the others (its code and data cold, as they are in a mix), which a run of one kind
/// alone does not show. Each figure includes reading the clock twice (~20 ns here).
fn per_kind(table: &RuleTable, requests: &PackedRequests, kinds: &[&'static str], count: usize) {
    let mut by_kind: std::collections::BTreeMap<&str, (u128, u64)> = Default::default();
    for i in 0..count {
        let j = i % requests.len();
        let started = std::time::Instant::now();
        requests.with_request(j, |cx| std::hint::black_box(table.select(cx).is_some()));
        let ns = started.elapsed().as_nanos();
        let (total, n) = by_kind.entry(kinds[j]).or_default();
        *total += ns;
        *n += 1;
    }
    for (kind, (total, n)) in &by_kind {
        let (total, n) = (*total as f64, *n as f64);
        println!(
            "{kind:10} {n:8} selects {:7.1} ns each, {:5.1} ns of the mean",
            total / n,
            total / count as f64
        );
    }
    let all: u128 = by_kind.values().map(|(total, _)| total).sum();
    println!("all {:.1} ns per select", all as f64 / count as f64);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rules: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let count: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let set = match args.next().as_deref() {
        Some("path-only") => path_only_rule_set(rules, 42),
        _ => realistic_rule_set(rules, 42),
    };
    let table = RuleTable::compile(&set, &CompileOptions::default()).expect("generated rules compile");
    let n_req: usize = std::env::var("NREQ").ok().and_then(|v| v.parse().ok()).unwrap_or(16_384);
    let mut requests = requests_for(&set, n_req, 7);
    if let Some(kind) = args.next() {
        requests.retain(|r| r.kind() == kind);
        assert!(!requests.is_empty(), "no requests of kind {kind}");
    }
    if let Ok(dropped) = std::env::var("DROPKINDS") {
        requests.retain(|r| !dropped.split(',').any(|kind| kind == r.kind()));
        assert!(!requests.is_empty(), "every request dropped");
    }
    let kinds: Vec<&'static str> = requests.iter().map(|r| r.kind()).collect();
    let requests = PackedRequests::new(&requests);
    // Steady state: lazy DFAs and regex caches are built on first use; do that uncounted.
    warm_up(&table, &requests);
    if std::env::var("PERKIND").is_ok() {
        per_kind(&table, &requests, &kinds, count);
        return;
    }
    let started = std::time::Instant::now();
    let hits = run_selects(&table, &requests, count);
    let ns = started.elapsed().as_nanos() as f64 / count as f64;
    // The time is for A/B runs of a change (alternate the binaries); criterion has the figures.
    println!("{rules} rules, {count} selects, {hits} hits, {ns:.1} ns per select");
}
