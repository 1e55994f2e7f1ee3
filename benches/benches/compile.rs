//! Compiling realistic rule sets of 10,000 and 100,000 rules into a `RuleTable`, and the heap
//! the table keeps: this binary counts every allocation through a wrapper around the allocator
//! and prints, once per size, the bytes allocated minus freed across the compile
//! with the table kept alive (and the peak while compiling, and the rule model's own size),
//! for the realistic mix and, to show what the predicates and regexes add, for path-only rules
//! and for the realistic mix's path regexes alone. `compile/realistic_without_path_regexes`
//! shows what those 5% of the rules cost the compile.
//!
//! The allocator is mimalloc, the one the shipped `mockplane` binary uses (`cli/src/main.rs`),
//! so the times are those of the product. Compiling allocates a lot, and the system allocator
//! (glibc malloc) makes it about a third slower: `--features system-alloc` measures with it,
//! and docs/benchmarks.md gives both figures. Byte counts are the same under either.

#![deny(rust_2018_idioms)]

use std::alloc::{GlobalAlloc, Layout};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use mockplane_benches::{mix_of, path_only_rule_set, realistic_rule_set};
use mockplane_rules::model::{PathMatch, Rule};
use mockplane_rules::{CompileOptions, RuleSet, RuleTable};

/// The allocator underneath: mimalloc, as in the shipped binary; the system allocator with
/// `--features system-alloc`.
#[cfg(not(feature = "system-alloc"))]
static INNER: mimalloc::MiMalloc = mimalloc::MiMalloc;
#[cfg(feature = "system-alloc")]
static INNER: std::alloc::System = std::alloc::System;

/// [`INNER`], counting bytes allocated and freed and the peak of their difference
/// while [`COUNTING`] is on (off during the timed compiles, so they pay one relaxed load).
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
/// Bytes allocated minus bytes freed while counting.
static LIVE: AtomicI64 = AtomicI64::new(0);
/// The highest `LIVE` seen since it was last reset.
static PEAK: AtomicI64 = AtomicI64::new(0);

fn allocated(size: usize) {
    if COUNTING.load(Relaxed) {
        let live = LIVE.fetch_add(size as i64, Relaxed) + size as i64;
        PEAK.fetch_max(live, Relaxed);
    }
}

fn freed(size: usize) {
    if COUNTING.load(Relaxed) {
        LIVE.fetch_sub(size as i64, Relaxed);
    }
}

// SAFETY: every call is forwarded to `INNER` unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        let p = unsafe { INNER.alloc(layout) };
        if !p.is_null() {
            allocated(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { INNER.alloc_zeroed(layout) };
        if !p.is_null() {
            allocated(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, that is from `INNER`, with `layout`.
        unsafe { INNER.dealloc(ptr, layout) };
        freed(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` is the caller's to check.
        let p = unsafe { INNER.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            freed(layout.size());
            allocated(new_size);
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated and not yet freed while counting.
fn live() -> i64 {
    LIVE.load(Relaxed)
}

fn mib(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn is_path_regex(rule: &Rule) -> bool {
    matches!(&rule.matcher.path, Some(PathMatch::Explicit(spec)) if spec.regex.is_some())
}

/// The path-regex rules (5%) of `realistic_rule_set(n, seed)`.
fn path_regex_rules_only(n: usize, seed: u64) -> RuleSet {
    let mut set = realistic_rule_set(n, seed);
    set.rules.retain(|rule| is_path_regex(rule));
    set.rules.shrink_to_fit();
    set
}

/// The rules of `realistic_rule_set(n, seed)` but its path regexes.
fn without_path_regexes(n: usize, seed: u64) -> RuleSet {
    let mut set = realistic_rule_set(n, seed);
    set.rules.retain(|r| !is_path_regex(r));
    set.rules.shrink_to_fit();
    set
}

/// Prints what a table of the rules made by `generate(n, 42)` keeps on the heap. Everything
/// allocated and freed in here is counted, so the figures are exact: the table's bytes are
/// those allocated minus those freed across the compile, with the table still alive.
fn report_memory(label: &str, n: usize, generate: fn(usize, u64) -> RuleSet) {
    // Only this thread allocates while counting: criterion has not started any other.
    COUNTING.store(true, Relaxed);
    let before_model = live();
    let set = generate(n, 42);
    let model = live() - before_model;
    let before = live();
    PEAK.store(before, Relaxed);
    let table = RuleTable::compile(&set, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let kept = live() - before;
    let peak = PEAK.load(Relaxed) - before;
    drop(black_box(table));
    let leaked = live() - before;
    COUNTING.store(false, Relaxed);
    let rules = set.rules.len().max(1) as i64;
    eprintln!(
        "memory: {} {label} rules: table {kept} B = {:.1} MiB = {} B/rule; peak while compiling +{peak} B = {:.1} MiB; \
         left after dropping the table {leaked} B; the rule model itself {model} B = {:.1} MiB = {} B/rule; {:?}",
        set.rules.len(),
        mib(kept),
        kept / rules,
        mib(peak),
        mib(model),
        model / rules,
        mix_of(&set),
    );
}

fn bench_compile(group: &mut BenchmarkGroup<'_, WallTime>, id: BenchmarkId, set: &RuleSet) {
    group.bench_function(id, |b| {
        b.iter_with_large_drop(|| {
            RuleTable::compile(black_box(set), &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"))
        })
    });
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.sample_size(10).sampling_mode(SamplingMode::Flat).warm_up_time(Duration::from_secs(1));
    for (n, seconds) in [(10_000, 3), (100_000, 12)] {
        report_memory("realistic", n, realistic_rule_set);
        report_memory("path-only", n, path_only_rule_set);
        if n == 10_000 {
            report_memory("realistic path-regex", n, path_regex_rules_only);
        }
        let set = realistic_rule_set(n, 42);
        group.throughput(Throughput::Elements(n as u64)).measurement_time(Duration::from_secs(seconds));
        bench_compile(&mut group, BenchmarkId::new("realistic", n), &set);
        if n == 10_000 {
            // What the 5% path regexes cost: the same set without them.
            let set = without_path_regexes(n, 42);
            group.throughput(Throughput::Elements(set.rules.len() as u64));
            bench_compile(&mut group, BenchmarkId::new("realistic_without_path_regexes", n), &set);
        }
    }
    group.finish();
}

criterion_group!(benches, compile);
criterion_main!(benches);
