//! The xDS wire form of a rule set: encoding on the control plane (once per version) and
//! decoding into the rule model on each data plane (once per version received), for 1k and 10k
//! realistic rules, with the allocator the `mockplane` binary ships (mimalloc): these paths are
//! bound by allocation, and glibc's malloc makes them about 1.5x slower.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mockplane_proto::convert::{rule_set_from_any, rule_set_to_any};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn wire(c: &mut Criterion) {
    let mut group = c.benchmark_group("wire");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for n in [1_000, 10_000] {
        let set = mockplane_benches::realistic_rule_set(n, 42);
        let any = rule_set_to_any(&set);
        eprintln!("{n} rules encode to {} bytes", any.value.len());
        group.bench_with_input(BenchmarkId::new("encode", n), &set, |b, set| b.iter(|| rule_set_to_any(set)));
        group.bench_with_input(BenchmarkId::new("decode", n), &any, |b, any| {
            b.iter(|| rule_set_from_any(any).expect("decodes"))
        });
    }
    group.finish();
}

criterion_group!(benches, wire);
criterion_main!(benches);
