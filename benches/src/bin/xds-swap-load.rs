//! A control plane that pushes a new version of a realistic rule set every INTERVAL_MS for
//! SECONDS, for measuring a data plane under load while its table is swapped
//! (benches/xds/swap-under-load.sh). INTERVAL_MS 0 pushes one version and no more: the
//! baseline. Prints how many versions were pushed and how many ACKs came back.
//!
//! `xds-swap-load ADDR RULES INTERVAL_MS SECONDS`

/// The allocator the `mockplane` binary ships with.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mockplane_controlplane::{ControlPlane, NodeEvent, SnapshotCache};
use mockplane_rules::model::RuleSet;

const ENV: &str = "bench/swap";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, rules, interval, seconds] = args.as_slice() else {
        eprintln!("usage: xds-swap-load ADDR RULES INTERVAL_MS SECONDS");
        std::process::exit(2);
    };
    let addr: std::net::SocketAddr = addr.parse().expect("ADDR is host:port");
    let rules: usize = rules.parse().expect("RULES is a number");
    let interval = Duration::from_millis(interval.parse().expect("INTERVAL_MS is a number"));
    let seconds = Duration::from_secs(seconds.parse().expect("SECONDS is a number"));

    // On this 2-core machine the control plane shares a core with wrk (the data plane has the
    // other); in production it runs elsewhere. Its validation and encoding yield every 100 µs,
    // as the data plane's own decoding and compiling do, so that wrk measures the data plane
    // taking the swaps rather than the control plane making them.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let cp = ControlPlane {
        cache: std::sync::Arc::new(SnapshotCache::paced(mockplane_dataplane::pace::pause)),
        ..ControlPlane::new()
    };
    let base = mockplane_benches::realistic_rule_set(rules, 42);
    // Every version is made before the control plane serves: copying the 1,000-rule model for each
    // one is the bench's doing, not a control plane's (which is handed the edited set), and on
    // wrk's core it would be measured as the data plane's latency.
    let count =
        if interval.is_zero() { 0 } else { (seconds.as_millis() / interval.as_millis()) as usize + 1 };
    let mut versions: Vec<RuleSet> = (1..=count).map(|n| version(&base, n)).collect();
    versions.reverse();
    cp.cache.set(ENV, version(&base, 0), None).expect("a valid rule set");
    let listener = runtime.block_on(tokio::net::TcpListener::bind(addr)).expect("bind");
    let server = cp.clone();
    runtime.spawn(async move { server.serve(listener, std::future::pending()).await });
    let mut events = cp.registry.subscribe();
    let acks = Arc::new(AtomicU64::new(0));
    let counted = acks.clone();
    runtime.spawn(async move {
        while let Ok(e) = events.recv().await {
            if matches!(e, NodeEvent::Acked { .. }) {
                counted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });

    let start = Instant::now();
    let mut pushed = 1;
    while start.elapsed() < seconds {
        if interval.is_zero() {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        std::thread::sleep(interval);
        let Some(next) = versions.pop() else { break };
        cp.cache.set(ENV, next, None).unwrap();
        pushed += 1;
    }
    std::thread::sleep(Duration::from_millis(300));
    println!("pushed {pushed} versions; {} ACKs seen", acks.load(Ordering::Relaxed));
    runtime.shutdown_background();
}

/// The base set, the rule wrk requests (`GET /hello`), and a rule whose body names the version.
fn version(base: &RuleSet, n: usize) -> RuleSet {
    let mut set = base.clone();
    set.rules.push(std::sync::Arc::new(mockplane_benches::get_rule("bench-hello", "/hello", "hi")));
    set.rules.push(std::sync::Arc::new(mockplane_benches::get_rule(
        "bench-version",
        "/version",
        &n.to_string(),
    )));
    set
}
