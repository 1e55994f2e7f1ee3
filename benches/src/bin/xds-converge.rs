//! How long a new rule set takes to reach every data plane: the time from "new snapshot set"
//! on the control plane (validation and encoding included) to "every data plane has ACKed it",
//! over real gRPC on loopback.
//!
//! `xds-converge [RULES] [PLANES] [MODE] [ROUNDS]` (defaults 1000 10 real 50), MODE one of:
//! - `real`: full data planes (monoio workers and the xDS client thread) in this process; each
//!   decodes, compiles, swaps, then ACKs;
//! - `sim`: simulated data planes, one tonic stream each, that ACK each version as soon as it
//!   has arrived whole: the control plane's fan-out alone. On a 2-core machine, 100 data planes
//!   decoding and compiling in turn measure the machine; spread over 100 machines, each does
//!   that work in parallel, after the fan-out;
//! - `sim-decode`: simulated data planes that also decode the resource into the rule model;
//! - `sim-compile`: simulated data planes that decode and compile before they ACK;
//! - `sim-remote`: as `sim`, but the simulated data planes run in a child process (this binary
//!   run as `xds-converge clients URL PLANES`), so this process holds only the control plane and
//!   the memory figure is the control plane's own.
//!
//! Prints one markdown table row: rules, planes, mode, rounds, the median and p99 of the time to
//! set and of the time until the last ACK, then the growth of this process's resident memory
//! from before the first data plane connects to once all have ACKed, per data plane (in the
//! `sim` modes but `sim-remote`, this process holds both ends of every stream: the control
//! plane's share and a minimal tonic client's), and in `sim-remote` also this process's peak
//! resident memory (VmHWM) over the whole run, per data plane: what a fan-out of a version to
//! every stream at once costs the control plane. Loopback only; it stops by itself.
//!
//! Like `mockplane up`, it raises its limit of open files to the hard limit (each simulated
//! data plane costs this process two descriptors) and listens with the control plane's accept
//! queue ([`mockplane_controlplane::server::bind`]).

/// The allocator the `mockplane` binary ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mockplane_controlplane::{ControlPlane, NodeEvent, MAX_PUSH_BYTES};
use mockplane_dataplane::{DataPlaneConfig, IoDriver, SnapshotStore, XdsClientConfig};
use mockplane_proto::convert::rule_set_from_any;
use mockplane_proto::discovery::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use mockplane_proto::discovery::DiscoveryRequest;
use mockplane_proto::node::Node;
use mockplane_proto::RULE_SET_TYPE_URL;
use mockplane_rules::model::RuleSet;
use mockplane_rules::{CompileOptions, RuleTable};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

const ENV: &str = "bench/converge";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Real,
    Sim,
    SimDecode,
    SimCompile,
    SimRemote,
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("clients") {
        return clients_process();
    }
    let mut args = std::env::args().skip(1);
    let rules: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let planes: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let mode = match args.next().as_deref() {
        None | Some("real") => Mode::Real,
        Some("sim") => Mode::Sim,
        Some("sim-decode") => Mode::SimDecode,
        Some("sim-compile") => Mode::SimCompile,
        Some("sim-remote") => Mode::SimRemote,
        Some(other) => {
            eprintln!("unknown mode {other:?}: real, sim, sim-decode, sim-compile or sim-remote");
            std::process::exit(2);
        }
    };
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(50);

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let cp = ControlPlane::new();
    let base = mockplane_benches::realistic_rule_set(rules, 42);
    let version = |round: usize| mockplane_benches::with_round_marker(&base, round);
    breakdown(&version(0));
    cp.cache.set(ENV, version(0), None).expect("the generated rule set is valid");
    if let Err(e) = mockplane_controlplane::server::raise_open_file_limit() {
        eprintln!("cannot raise the limit of open files: {e}");
    }
    let listener =
        runtime.block_on(mockplane_controlplane::server::bind("127.0.0.1:0".parse().unwrap())).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = cp.clone();
    runtime.spawn(async move { server.serve(listener, std::future::pending()).await });

    let rss_before = resident_bytes();
    let mut real = Vec::new();
    // The child's stdin is a pipe it reads until end of file: when this process ends, however
    // it ends, the child ends too.
    let mut child = (mode == Mode::SimRemote).then(|| {
        std::process::Command::new(std::env::current_exe().expect("this binary's path"))
            .args(["clients", &url, &planes.to_string()])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("the simulated data planes' process starts")
    });
    for i in 0..planes {
        let id = format!("dp-{i}");
        match mode {
            Mode::Real => {
                let mut xds = XdsClientConfig::new(url.clone(), ENV, id);
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
                real.push(
                    mockplane_dataplane::start(config, SnapshotStore::new()).expect("a data plane starts"),
                );
            }
            Mode::Sim | Mode::SimDecode | Mode::SimCompile => {
                runtime.spawn(simulated_plane(url.clone(), id, mode));
            }
            Mode::SimRemote => {}
        }
    }
    let first = cp.cache.get(ENV).unwrap().version_info.clone();
    let start = Instant::now();
    let mut told = Instant::now();
    while !cp.state_all_acked(planes, &first) {
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "the data planes never converged on the first version"
        );
        if told.elapsed() > Duration::from_secs(10) {
            let nodes = cp.registry.nodes_in(ENV);
            let acked = nodes.iter().filter(|n| n.acked_version.as_deref() == Some(first.as_str())).count();
            let sent = nodes.iter().filter(|n| n.sent_version.as_deref() == Some(first.as_str())).count();
            let connected = nodes.iter().filter(|n| n.connected).count();
            eprintln!(
                "{:.0} s: {} data planes known, {connected} connected, {sent} sent the first version, {acked} have it",
                start.elapsed().as_secs_f64(),
                nodes.len()
            );
            told = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let rss_per_plane = resident_bytes().saturating_sub(rss_before) as f64 / planes as f64;

    let mut set_us = Vec::with_capacity(rounds);
    let mut converge_us = Vec::with_capacity(rounds);
    for round in 1..=rounds {
        let next = version(round);
        let mut events = cp.registry.subscribe();
        let t0 = Instant::now();
        let snapshot = cp.cache.set(ENV, next, None).unwrap();
        set_us.push(t0.elapsed().as_micros() as u64);
        let target = snapshot.version_info.clone();
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
        converge_us.push(t0.elapsed().as_micros() as u64);
        std::thread::sleep(Duration::from_millis(20));
    }
    let ms = |v: &mut Vec<u64>, q: f64| {
        v.sort_unstable();
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    };
    let mode_name = match mode {
        Mode::Real => "real",
        Mode::Sim => "sim (receive)",
        Mode::SimDecode => "sim (receive+decode)",
        Mode::SimCompile => "sim (receive+decode+compile)",
        Mode::SimRemote => "sim (receive, other process)",
    };
    let peak = if mode == Mode::SimRemote {
        format!(" {:.0} |", peak_resident_bytes().saturating_sub(rss_before) as f64 / planes as f64 / 1024.0)
    } else {
        String::new()
    };
    println!(
        "| {rules} | {planes} | {mode_name} | {rounds} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |{peak}",
        ms(&mut set_us, 0.5),
        ms(&mut set_us, 0.99),
        ms(&mut converge_us, 0.5),
        ms(&mut converge_us, 0.99),
        rss_per_plane / 1024.0,
    );
    if let Some(child) = child.as_mut() {
        drop(child.stdin.take());
        let _ = child.wait();
    }
    for dp in real {
        dp.shutdown();
    }
    runtime.shutdown_background();
}

/// This process's resident memory, from /proc/self/statm (0 where there is none).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// This process's peak resident memory (VmHWM in /proc/self/status; 0 where there is none).
fn peak_resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    kib * 1024
}

/// `xds-converge clients URL PLANES`: the simulated data planes of `sim-remote`, in a process
/// of their own, until stdin ends (the parent closes it, or dies).
fn clients_process() {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let (Some(url), Some(planes)) = (args.first(), args.get(1).and_then(|p| p.parse::<usize>().ok())) else {
        eprintln!("usage: xds-converge clients URL PLANES");
        std::process::exit(2);
    };
    if let Err(e) = mockplane_controlplane::server::raise_open_file_limit() {
        eprintln!("cannot raise the limit of open files: {e}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for i in 0..planes {
        runtime.spawn(simulated_plane(url.clone(), format!("dp-{i}"), Mode::Sim));
    }
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    runtime.shutdown_background();
}

/// What one data plane spends on a version, once, to stderr: the floor under convergence.
fn breakdown(set: &RuleSet) {
    let median = |f: &mut dyn FnMut()| {
        let mut t: Vec<f64> = (0..7)
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[3]
    };
    let any = mockplane_proto::convert::rule_set_to_any(set);
    let encode = median(&mut || drop(mockplane_proto::convert::rule_set_to_any(set)));
    let decode = median(&mut || drop(rule_set_from_any(&any).unwrap()));
    let compile = median(&mut || drop(RuleTable::compile(set, &CompileOptions::default()).unwrap()));
    eprintln!(
        "one version: {} bytes; encode {encode:.2} ms, decode+convert {decode:.2} ms, compile {compile:.2} ms (medians of 7)",
        any.value.len()
    );
}

trait AllAcked {
    fn state_all_acked(&self, planes: usize, version: &str) -> bool;
}

impl AllAcked for ControlPlane {
    fn state_all_acked(&self, planes: usize, version: &str) -> bool {
        let nodes = self.registry.nodes_in(ENV);
        nodes.len() == planes && nodes.iter().all(|n| n.acked_version.as_deref() == Some(version))
    }
}

/// A data plane reduced to its xDS stream: receive (maybe decode, maybe compile), then ACK.
async fn simulated_plane(url: String, id: String, mode: Mode) {
    // What it has, sent when it reconnects, as a data plane sends the version it serves.
    let mut has = String::new();
    // A data plane reconnects when its stream ends (the control plane closes a connection whose
    // keep-alive pings go unanswered: a client process starved by a thousand streams on two
    // cores may not answer in time). The reconnections are part of the time to converge.
    loop {
        stream_once(&url, &id, mode, &mut has).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One xDS stream of a simulated data plane, until it ends.
async fn stream_once(url: &str, id: &str, mode: Mode, has: &mut String) {
    // The same HTTP/2 windows as the data plane's client.
    let Ok(channel) = tonic::transport::Endpoint::from_shared(url.to_owned())
        .unwrap()
        .initial_stream_window_size(Some(16 << 20))
        .initial_connection_window_size(Some(16 << 20))
        .connect()
        .await
    else {
        return;
    };
    let mut client = AggregatedDiscoveryServiceClient::new(channel).max_decoding_message_size(MAX_PUSH_BYTES);
    let (tx, rx) = mpsc::channel(4);
    let node = Node { id: id.to_owned(), cluster: ENV.into(), ..Default::default() };
    let first = DiscoveryRequest {
        node: Some(node),
        version_info: has.clone(),
        type_url: RULE_SET_TYPE_URL.into(),
        ..Default::default()
    };
    tx.send(first).await.unwrap();
    let Ok(responses) = client.stream_aggregated_resources(ReceiverStream::new(rx)).await else {
        return;
    };
    let mut responses = responses.into_inner();
    while let Ok(Some(response)) = responses.message().await {
        if mode != Mode::Sim {
            let resource = response.resources[0].clone();
            // Decoding and compiling are CPU work: keep them off the runtime's threads.
            let ok = tokio::task::spawn_blocking(move || {
                rule_set_from_any(&resource).is_ok_and(|set| {
                    mode != Mode::SimCompile || RuleTable::compile(&set, &CompileOptions::default()).is_ok()
                })
            })
            .await
            .unwrap();
            assert!(ok, "a simulated data plane could not take a version");
        }
        has.clone_from(&response.version_info);
        let ack = DiscoveryRequest {
            version_info: response.version_info,
            type_url: RULE_SET_TYPE_URL.into(),
            response_nonce: response.nonce,
            ..Default::default()
        };
        if tx.send(ack).await.is_err() {
            return;
        }
    }
}
