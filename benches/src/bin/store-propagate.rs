//! How long a one-rule edit takes end to end through the control plane's service: from
//! `updateRule` (validate against the rules in force, commit to the SQLite store, publish) to
//! every data plane having ACKed the new version, over real gRPC on loopback with real data
//! planes (monoio workers and their xDS client threads) in this process.
//!
//! `store-propagate [RULES] [PLANES] [ROUNDS]` (defaults 1000 2 50). Each round edits the next
//! rule's response (a header carrying the round), waits for every ACK, then pauses 20 ms.
//! Prints one markdown table row: rules, planes, rounds, then the median and p90 of the time
//! `update_rule` takes (validation, store commit, publish) and of the time until the last ACK.
//! Loopback only; it stops by itself.

/// The allocator the `mockplane` binary ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mockplane_controlplane::service::{ApplyMode, Service};
use mockplane_controlplane::store::Store;
use mockplane_controlplane::{NodeEvent, SnapshotCache};
use mockplane_dataplane::{DataPlaneConfig, IoDriver, SnapshotStore, XdsClientConfig};
use mockplane_rules::model::Rule;

const ENV: &str = "bench/propagate";

fn main() {
    let mut args = std::env::args().skip(1);
    let rules: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let planes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let service = runtime.block_on(async {
        let store = Store::open_sqlite(&dir.path().join("mockplane.db")).await.expect("the store opens");
        let service = Service::new(store, Arc::new(SnapshotCache::new()));
        service.create_project("bench", "bench", "").await.unwrap();
        service.create_environment("bench", "bench", "propagate", "").await.unwrap();
        let set = mockplane_benches::realistic_rule_set(rules, 42);
        service
            .apply_rules("bench", ENV, set, ApplyMode::Replace)
            .await
            .expect("the generated rules are valid");
        service
    });
    let cp = service.control_plane(Default::default());
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = cp.clone();
    runtime.spawn(async move { server.serve(listener, std::future::pending()).await });

    let data_planes: Vec<_> = (0..planes)
        .map(|i| {
            let mut xds = XdsClientConfig::new(url.clone(), ENV, format!("dp-{i}"));
            xds.backoff_initial = Duration::from_millis(20);
            let config = DataPlaneConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                admin: "127.0.0.1:0".parse().unwrap(),
                workers: 1,
                pin_workers: false,
                io_driver: IoDriver::Auto,
                journal_capacity: 0,
                xds: Some(xds),
                ..DataPlaneConfig::default()
            };
            mockplane_dataplane::start(config, SnapshotStore::new()).expect("a data plane starts")
        })
        .collect();
    let first = cp.cache.get(ENV).unwrap().version_info.clone();
    let start = Instant::now();
    loop {
        let nodes = cp.registry.nodes_in(ENV);
        if nodes.len() == planes && nodes.iter().all(|n| n.acked_version.as_deref() == Some(first.as_str())) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "the data planes never took the first version");
        std::thread::sleep(Duration::from_millis(10));
    }

    let ids: Vec<String> = cp.cache.get(ENV).unwrap().rules.rules.iter().map(|r| r.id.clone()).collect();
    let mut update_us = Vec::with_capacity(rounds);
    let mut acked_us = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let id = &ids[(round * 7919) % ids.len()];
        let current = cp.cache.get(ENV).unwrap();
        let mut rule: Rule = Rule::clone(current.rules.rules.iter().find(|r| &r.id == id).unwrap());
        let response = rule.response.get_or_insert_with(Default::default);
        response
            .headers
            .insert("x-round".into(), mockplane_rules::model::HeaderValues::One(round.to_string()));
        let mut events = cp.registry.subscribe();
        let t0 = Instant::now();
        let change =
            runtime.block_on(service.update_rule("bench", ENV, id, rule)).expect("the edit is valid");
        update_us.push(t0.elapsed().as_micros() as u64);
        let target = change.version_info;
        let done = runtime.block_on(async {
            let mut acked = HashSet::new();
            let deadline = tokio::time::sleep(Duration::from_secs(60));
            tokio::pin!(deadline);
            while acked.len() < planes {
                tokio::select! {
                    _ = &mut deadline => return false,
                    e = events.recv() => match e {
                        Ok(NodeEvent::Acked { id, version }) if version == target => { acked.insert(id); }
                        Ok(_) => {}
                        Err(e) => panic!("missed registry events: {e}"),
                    },
                }
            }
            true
        });
        assert!(done, "round {round}: not every data plane ACKed within 60 s");
        acked_us.push(t0.elapsed().as_micros() as u64);
        std::thread::sleep(Duration::from_millis(20));
    }
    let ms = |v: &mut Vec<u64>, q: f64| {
        v.sort_unstable();
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    };
    println!(
        "| {rules} | {planes} | {rounds} | {:.1} | {:.1} | {:.1} | {:.1} |",
        ms(&mut update_us, 0.5),
        ms(&mut update_us, 0.9),
        ms(&mut acked_us, 0.5),
        ms(&mut acked_us, 0.9),
    );
    for dp in data_planes {
        dp.shutdown();
    }
    runtime.shutdown_background();
}
