//! Rule selection (`RuleTable::select`) and the full `respond` of a static hit, against tables
//! of 10 to 100,000 rules of the realistic mix, and of 100 and 100,000 path-only rules (the
//! 100,000-rule table must stay within 2x the time of the 100-rule one). Each iteration serves
//! the next of 16,384 pre-generated requests, so neither the caches nor the branch predictor
//! can settle on one request. Diagnostics beside the targets: the 100,000-rule realistic table
//! per kind of request, the 100,000-rule path-only table under the very requests of the
//! 100-rule bench (same work, bigger table), and the cost of the harness itself.

#![deny(rust_2018_idioms)]

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use mockplane_benches::{path_only_rule_set, realistic_rule_set, requests_for, OwnedRequest, PackedRequests};
use mockplane_rules::{CompileOptions, RenderBuffers, Reply, RuleSet, RuleTable};
use rand::rngs::SmallRng;
use rand::SeedableRng;

/// Requests per table, cycled through.
const REQUESTS: usize = 1 << 14;

fn compile(set: &RuleSet) -> RuleTable {
    RuleTable::compile(set, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> std::time::SystemTime {
    DateTime::<Utc>::from_timestamp(1_764_072_000, 0).expect("a valid time").into()
}

fn new_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group
}

/// The index of the next of `len` requests, round and round.
fn next(len: usize, i: &mut usize) -> usize {
    let r = *i;
    *i += 1;
    if *i == len {
        *i = 0;
    }
    r
}

/// Benches `select` over `requests`, cycling. They are lent from one packed buffer, in order,
/// as a server reads them (see `PackedRequests`).
fn bench_select(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: BenchmarkId,
    table: &RuleTable,
    requests: &[OwnedRequest],
) {
    assert!(!requests.is_empty(), "no requests to bench");
    let packed = PackedRequests::new(requests);
    group.bench_function(id, |b| {
        let mut i = 0;
        b.iter(|| {
            packed.with_request(next(packed.len(), &mut i), |cx| {
                black_box(table.select(black_box(cx)).map(|s| s.rule_index()))
            })
        })
    });
}

fn realistic(c: &mut Criterion) {
    let mut group = new_group(c, "realistic");
    for n in [10, 1_000, 10_000, 100_000] {
        let set = realistic_rule_set(n, 42);
        let table = compile(&set);
        let requests = requests_for(&set, REQUESTS, 7);
        drop(set);
        bench_select(&mut group, BenchmarkId::new("select", n), &table, &requests);
        if n == 10_000 {
            // Real mock traffic is skewed: a few endpoints take most requests. The same requests,
            // drawn with Zipf(1.0) popularity instead of in turn, show the cache-friendly case.
            let zipf = rand_distr::Zipf::new(requests.len() as f64, 1.0).expect("valid Zipf parameters");
            let mut rng = SmallRng::seed_from_u64(3);
            let skewed: Vec<OwnedRequest> = (0..REQUESTS)
                .map(|_| requests[rand_distr::Distribution::sample(&zipf, &mut rng) as usize - 1].clone())
                .collect();
            bench_select(&mut group, BenchmarkId::new("select_zipf", n), &table, &skewed);
        }

        if n == 100_000 {
            // Where the time goes: each kind of request on its own.
            for kind in ["exact", "template", "prefix", "regex", "json_body", "miss"] {
                let some: Vec<OwnedRequest> = requests.iter().filter(|r| r.kind() == kind).cloned().collect();
                bench_select(&mut group, BenchmarkId::new(format!("select_{kind}"), n), &table, &some);
            }
        }

        // The whole answer of a hit: select, then the static response's bytes.
        let hits: Vec<OwnedRequest> = requests.into_iter().filter(OwnedRequest::expect_hit).collect();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut buffers = RenderBuffers::default();
        let now = now();
        for r in &hits {
            r.with_request(|cx| {
                let answer = table.respond(cx, now, &mut rng, &mut buffers).expect("a hit");
                assert!(matches!(answer.reply, Reply::Static(_)), "every generated response is static");
            });
        }
        let hits = PackedRequests::new(&hits);
        group.bench_function(BenchmarkId::new("respond_static_hit", n), |b| {
            let mut i = 0;
            b.iter(|| {
                hits.with_request(next(hits.len(), &mut i), |cx| {
                    let answer = table.respond(black_box(cx), now, &mut rng, &mut buffers);
                    black_box(answer.map(|a| match a.reply {
                        Reply::Static(s) => s.bytes().len(),
                        _ => 0,
                    }))
                })
            })
        });
    }
    group.finish();
}

fn path_only(c: &mut Criterion) {
    let mut group = new_group(c, "path_only");
    let small = path_only_rule_set(100, 42);
    let small_requests = requests_for(&small, REQUESTS, 7);
    bench_select(&mut group, BenchmarkId::new("select", 100), &compile(&small), &small_requests);

    let large = path_only_rule_set(100_000, 42);
    let table = compile(&large);
    let requests = requests_for(&large, REQUESTS, 7);
    bench_select(&mut group, BenchmarkId::new("select", 100_000), &table, &requests);

    // The generator is sequential: the large set starts with the small one, so the small
    // bench's requests hit the same rules here. Same work per request, a bigger table.
    assert_eq!(large.rules[..100], small.rules[..]);
    bench_select(&mut group, BenchmarkId::new("select_requests_of_100", 100_000), &table, &small_requests);
    group.finish();

    // What every bench above pays besides the engine: the next request, lent as a context.
    let mut group = new_group(c, "harness");
    let packed = PackedRequests::new(&small_requests);
    group.bench_function("next_request_and_context", |b| {
        let mut i = 0;
        b.iter(|| packed.with_request(next(packed.len(), &mut i), |cx| black_box(cx.req.path.len())))
    });
    group.finish();
}

criterion_group!(benches, realistic, path_only);
criterion_main!(benches);
