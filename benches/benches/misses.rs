//! The miss path: what a request that no rule serves costs the engine before its 404 is
//! written — `select` finding nothing, then `near_misses` finding the closest rules from the
//! path index and describing the few it keeps. Two kinds of miss, at 10,000 and 100,000 rules
//! of the realistic mix (the cost must not grow with the table):
//! - `near`: the generator's misses whose path some rule's path reaches (a method no rule on a
//!   known path accepts, a missing id under a template with other predicates): the 404 checks
//!   those rules and names the closest;
//! - `unknown_path`: the generator's misses that no rule's path reaches (`/api/v2/...`), and
//!   `/api/v1/itemz/{i}`: nothing to check.
//!
//! Beside them, `select` of the realistic hits on the same table, for the ratio.

#![deny(rust_2018_idioms)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mockplane_benches::{realistic_rule_set, requests_for, OwnedRequest, PackedRequests};
use mockplane_rules::{CompileOptions, RuleTable};

const REQUESTS: usize = 1 << 14;

fn misses(c: &mut Criterion) {
    let mut group = c.benchmark_group("misses");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for n in [10_000, 100_000] {
        let set = realistic_rule_set(n, 42);
        let table = RuleTable::compile(&set, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let requests = requests_for(&set, REQUESTS, 7);
        drop(set);
        let (hits, misses): (Vec<OwnedRequest>, Vec<OwnedRequest>) =
            requests.into_iter().partition(OwnedRequest::expect_hit);
        let reaches = |r: &OwnedRequest| {
            r.with_request(|cx| {
                assert!(table.select(cx).is_none(), "a generated miss was served: {}", cx.req.path);
                !table.near_misses(cx, 3).rules.is_empty()
            })
        };
        let (near, mut unknown): (Vec<OwnedRequest>, Vec<OwnedRequest>) =
            misses.into_iter().partition(reaches);
        unknown.extend((0..near.len()).map(|i| OwnedRequest::new("GET", &format!("/api/v1/itemz/{i}"))));
        assert!(near.len() > 100 && unknown.len() > 100, "{} near, {} unknown", near.len(), unknown.len());

        for (name, requests) in [("near", &near), ("unknown_path", &unknown)] {
            let packed = PackedRequests::new(requests);
            group.bench_function(BenchmarkId::new(format!("select_then_near_misses_{name}"), n), |b| {
                let mut i = 0;
                b.iter(|| {
                    packed.with_request(next(packed.len(), &mut i), |cx| {
                        let cx = black_box(cx);
                        match table.select(cx) {
                            Some(s) => s.rule_index(),
                            None => table.near_misses(cx, 3).rules.len(),
                        }
                    })
                })
            });
        }
        let packed = PackedRequests::new(&hits);
        group.bench_function(BenchmarkId::new("select_hit", n), |b| {
            let mut i = 0;
            b.iter(|| {
                packed.with_request(next(packed.len(), &mut i), |cx| {
                    black_box(table.select(black_box(cx)).map(|s| s.rule_index()))
                })
            })
        });
    }
    group.finish();
}

fn next(len: usize, i: &mut usize) -> usize {
    let r = *i;
    *i += 1;
    if *i == len {
        *i = 0;
    }
    r
}

criterion_group!(benches, misses);
criterion_main!(benches);
