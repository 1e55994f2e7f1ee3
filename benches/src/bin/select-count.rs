//! A deterministic harness for instruction counts of `RuleTable::select`: builds a realistic
//! table and its requests, then selects for each request in turn inside `run_selects`, so that
//! `valgrind --tool=callgrind --toggle-collect=select_count::run_selects` counts only selection.
//! On a machine where timings swing by 30% between runs, counts are what repeat.
//!
//! `select-count [RULES] [SELECTS] [realistic|path-only] [KIND]` (defaults 10000, 100000,
//! realistic, every kind); KIND keeps only requests of one kind: exact, template, prefix,
//! regex, json_body, miss or other. `NREQ=N` cycles through N distinct requests instead of
//! 16,384: with fewer, the table's lines the requests touch stay in cache, which shows how much
//! of a figure is cache misses (at 10k rules: ~97 ns with 256, ~180 with 16,384).

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
    let kinds: Vec<&'static str> = requests.iter().map(|r| r.kind()).collect();
    let requests = PackedRequests::new(&requests);
    if std::env::var("PERKIND").is_ok() {
        let mut acc: std::collections::BTreeMap<&str, (u128, u64)> = Default::default();
        for i in 0..count {
            let j = i % requests.len();
            let t0 = std::time::Instant::now();
            requests.with_request(j, |cx| std::hint::black_box(table.select(cx).is_some()));
            let dt = t0.elapsed().as_nanos();
            let e = acc.entry(kinds[j]).or_default();
            e.0 += dt;
            e.1 += 1;
        }
        let total: u128 = acc.values().map(|v| v.0).sum();
        for (k, (t, n)) in &acc {
            println!("{k:10} {n:8} {:7.1} ns  share of time {:.1} ns/select", *t as f64 / *n as f64, *t as f64 / count as f64);
        }
        println!("all {:.1} ns", total as f64 / count as f64);
        return;
    }
    // Steady state: lazy DFAs and regex caches are built on first use; do that uncounted.
    warm_up(&table, &requests);
    if let Some(batch) = std::env::var("HOTBATCH").ok().and_then(|v| v.parse::<usize>().ok()) {
        let mut timed = std::time::Duration::ZERO;
        let mut sum = 0u64;
        let mut hits = 0usize;
        let mut i = 0;
        while i < count {
            for j in i..i + batch {
                sum += requests.with_request(j % requests.len(), |cx| {
                    let r = cx.req;
                    let mut s = r.method.len() as u64 + r.path.bytes().chain(r.query.bytes()).map(u64::from).sum::<u64>();
                    for h in r.headers { s += h.name.bytes().map(u64::from).sum::<u64>() + h.value.iter().map(|&b| u64::from(b)).sum::<u64>(); }
                    s + r.body.iter().map(|&b| u64::from(b)).sum::<u64>()
                });
            }
            let t0 = std::time::Instant::now();
            for j in i..i + batch {
                hits += requests.with_request(j % requests.len(), |cx| usize::from(table.select(cx).is_some()));
            }
            timed += t0.elapsed();
            i += batch;
        }
        println!("{rules} rules, {count} selects, {hits} hits, {:.1} ns per select (hot batches of {batch}, {sum})", timed.as_nanos() as f64 / count as f64);
        return;
    }
    let started = std::time::Instant::now();
    let hits = run_selects(&table, &requests, count);
    let ns = started.elapsed().as_nanos() as f64 / count as f64;
    // The time is for A/B runs of a change (alternate the binaries); criterion has the figures.
    println!("{rules} rules, {count} selects, {hits} hits, {ns:.1} ns per select");
}
