//! What one rule-set version costs a data plane (`dp`) or the control plane (`cp`), with one
//! rule changed per version as in `xds-converge` and `xds-swap-load`: for instruction counts
//! under callgrind, which are stable on a noisy machine where timings are not.
//!
//! `xds-apply MODE [RULES] [ROUNDS]` (defaults dp 1000 20); MODE `dp` (a data plane's apply),
//! `dp-full` (decoding and compiling every rule, as before `RuleCache`) or `cp`. Each round's
//! work runs inside a function named `*_round`, so that
//!
//! ```sh
//! valgrind --tool=callgrind --toggle-collect='*dp_round*' target/release/xds-apply dp 1000 20
//! ```
//!
//! counts exactly the rounds (divide by ROUNDS). It also prints the median wall time per round.
//! No persisting (fsync is I/O, not CPU); no network.

/// The allocator the `mockplane` binary ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use mockplane_controlplane::SnapshotCache;
use mockplane_dataplane::SnapshotStore;
use mockplane_proto::discovery::DiscoveryResponse;
use mockplane_rules::model::RuleSet;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "dp".into());
    let rules: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let base = mockplane_benches::realistic_rule_set(rules, 42);
    let mut times = Vec::with_capacity(rounds);
    match mode.as_str() {
        "dp" | "dp-full" => {
            let round = if mode == "dp" { dp_round } else { dp_full_round };
            let responses: Vec<DiscoveryResponse> = (0..=rounds)
                .map(|round| DiscoveryResponse {
                    version_info: format!("{round}"),
                    resources: vec![mockplane_proto::convert::rule_set_to_any(
                        &mockplane_benches::with_round_marker(&base, round),
                    )],
                    type_url: mockplane_proto::RULE_SET_TYPE_URL.into(),
                    nonce: format!("{round}"),
                    ..Default::default()
                })
                .collect();
            let store = SnapshotStore::new();
            // The first version, outside the rounds: nothing to reuse yet.
            store.install_resource(&responses[0].resources[0], 0, "bench".into(), None).unwrap();
            let mut stretches = Vec::with_capacity(rounds);
            for response in &responses[1..] {
                let t0 = Instant::now();
                mockplane_dataplane::pace::pause();
                mockplane_dataplane::pace::take_longest_stretch();
                round(&store, response);
                mockplane_dataplane::pace::pause();
                times.push(t0.elapsed());
                stretches.push(mockplane_dataplane::pace::take_longest_stretch());
            }
            stretches.sort();
            if let Some(median) = stretches.get(stretches.len() / 2) {
                eprintln!(
                    "{mode}: longest stretch between two pauses per version: median {:.3} ms, max {:.3} ms",
                    median.as_secs_f64() * 1000.0,
                    stretches.last().unwrap().as_secs_f64() * 1000.0
                );
            }
            store.reap();
        }
        "cp" => {
            let cache = SnapshotCache::new();
            cache.set("bench/apply", mockplane_benches::with_round_marker(&base, 0), None).unwrap();
            for round in 1..=rounds {
                let set = mockplane_benches::with_round_marker(&base, round);
                let t0 = Instant::now();
                cp_round(&cache, set);
                times.push(t0.elapsed());
            }
        }
        other => panic!("unknown mode {other:?}: dp, dp-full or cp"),
    }
    times.sort();
    if times.is_empty() {
        return;
    }
    eprintln!(
        "{mode}: {rules} rules, {rounds} rounds: median {:.3} ms per version",
        times[times.len() / 2].as_secs_f64() * 1000.0
    );
}

/// One version applied by a data plane, as its xDS client does (without persisting): only
/// the rules that changed are decoded and compiled.
#[inline(never)]
fn dp_round(store: &SnapshotStore, response: &DiscoveryResponse) {
    store
        .install_resource(&response.resources[0], 0, "bench".into(), Some(response.version_info.clone()))
        .unwrap();
    store.reap();
}

/// One version decoded and compiled whole (how data planes applied versions before
/// `RuleCache`).
#[inline(never)]
fn dp_full_round(store: &SnapshotStore, response: &DiscoveryResponse) {
    let rules = mockplane_proto::convert::rule_set_from_any_paced(
        &response.resources[0],
        Some(mockplane_dataplane::pace::pause),
    )
    .unwrap();
    store.install_versioned(rules, "bench".into(), None, Some(response.version_info.clone())).unwrap();
    store.reap();
}

/// One version set on the control plane (validated, encoded, hashed).
#[inline(never)]
fn cp_round(cache: &SnapshotCache, set: RuleSet) {
    cache.set("bench/apply", set, None).unwrap();
}
