//! The xDS link end to end: a real control plane (tonic server on loopback) and real data
//! planes (monoio workers, the xDS client thread), talking over TCP; requests go to the data
//! planes over HTTP with a real client. No part of either side is mocked.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use mockplane_controlplane::{ControlPlane, Limits};
use mockplane_dataplane::{DataPlaneConfig, IoDriver, RunningDataPlane, SnapshotStore, XdsClientConfig};
use mockplane_rules::{Format, RuleSet};

const ENV: &str = "shop/staging";

/// A rule set of `n` rules answering `GET /r{i}` with `body`.
fn rules(n: usize, body: &str) -> RuleSet {
    let mut text = String::from("rules:\n");
    for i in 0..n {
        text.push_str(&format!(
            "  - id: r{i}\n    match: {{ method: GET, path: /r{i} }}\n    response: {{ body: {body:?} }}\n"
        ));
    }
    RuleSet::parse(&text, Format::Yaml).unwrap()
}

/// A control plane on its own runtime, so that it can be killed like a crashed process.
struct Cp {
    state: ControlPlane,
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Cp {
    fn start(addr: SocketAddr) -> Cp {
        Cp::start_with(addr, Limits::default())
    }

    fn start_with(addr: SocketAddr, limits: Limits) -> Cp {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let state = ControlPlane::with_limits(limits);
        let listener = runtime.block_on(async {
            // A restarted control plane binds the port its predecessor had; give the kernel a
            // moment if it still holds it.
            for _ in 0..100 {
                match tokio::net::TcpListener::bind(addr).await {
                    Ok(l) => return l,
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
            panic!("cannot bind {addr}");
        });
        let addr = listener.local_addr().unwrap();
        let server = state.clone();
        runtime.spawn(async move { server.serve(listener, std::future::pending()).await });
        Cp { state, addr, runtime: Some(runtime) }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops at once: every connection is dropped, as when the process dies.
    fn kill(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    fn set(&self, rules: RuleSet) -> String {
        self.state.cache.set(ENV, rules, None).unwrap().version_info.clone()
    }
}

impl Drop for Cp {
    fn drop(&mut self) {
        self.kill();
    }
}

fn dataplane(url: &str, node: &str, state_dir: Option<&Path>, max_rules: usize) -> RunningDataPlane {
    dataplane_of(ENV, url, node, state_dir, max_rules)
}

fn dataplane_of(
    environment: &str,
    url: &str,
    node: &str,
    state_dir: Option<&Path>,
    max_rules: usize,
) -> RunningDataPlane {
    dataplane_with(environment, url, node, 1, |xds| {
        xds.state_dir = state_dir.map(Path::to_path_buf);
        xds.max_rules = max_rules;
    })
}

/// A data plane of `workers` workers, reporting every 100 ms unless `tweak` says otherwise.
fn dataplane_with(
    environment: &str,
    url: &str,
    node: &str,
    workers: usize,
    tweak: impl FnOnce(&mut XdsClientConfig),
) -> RunningDataPlane {
    let mut xds = XdsClientConfig::new(url, environment, node);
    xds.report_interval = Duration::from_millis(100);
    xds.backoff_initial = Duration::from_millis(50);
    xds.backoff_max = Duration::from_millis(200);
    tweak(&mut xds);
    let config = DataPlaneConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        workers,
        pin_workers: false,
        io_driver: IoDriver::Auto,
        xds: Some(xds),
        ..DataPlaneConfig::default()
    };
    mockplane_dataplane::start(config, SnapshotStore::new()).unwrap()
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().no_proxy().timeout(Duration::from_secs(5)).build().unwrap()
}

/// The status and body of `GET path` on the data plane's traffic port.
fn get(dp: &RunningDataPlane, path: &str) -> (u16, String) {
    let r = client().get(format!("http://{}{path}", dp.listen_addr())).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

fn readyz(dp: &RunningDataPlane) -> serde_json::Value {
    let r = client().get(format!("http://{}/readyz", dp.admin_addr())).send().unwrap();
    r.json().unwrap()
}

/// Polls `f` until it holds, for at most 10 s.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting until {what}");
}

fn all_acked(cp: &Cp, n: usize, version: &str) -> bool {
    let nodes = cp.state.registry.nodes_in(ENV);
    nodes.len() == n && nodes.iter().all(|n| n.connected && n.acked_version.as_deref() == Some(version))
}

#[test]
fn a_change_reaches_one_and_ten_data_planes_and_each_acks_it() {
    for n in [1, 10] {
        let cp = Cp::start("127.0.0.1:0".parse().unwrap());
        let v1 = cp.set(rules(3, "one"));
        let dps: Vec<_> = (0..n).map(|i| dataplane(&cp.url(), &format!("dp-{i}"), None, 0)).collect();
        eventually("every data plane ACKed v1", || all_acked(&cp, n, &v1));
        for dp in &dps {
            assert_eq!(get(dp, "/r2"), (200, "one".into()));
        }
        let v2 = cp.set(rules(3, "two"));
        eventually("every data plane ACKed v2", || all_acked(&cp, n, &v2));
        for dp in &dps {
            assert_eq!(get(dp, "/r2"), (200, "two".into()), "the new rules answer once ACKed");
            let ready = readyz(dp);
            assert_eq!(ready["version"], v2.as_str());
            assert_eq!(ready["stale"], false);
        }
        let node = cp.state.registry.node("dp-0").unwrap();
        assert_eq!(node.metadata.workers, Some(1));
        assert!(node.metadata.io_driver.is_some() && node.metadata.version.is_some());
        assert!(node.peer.unwrap().ip().is_loopback());
        for dp in dps {
            dp.shutdown();
        }
    }
}

#[test]
fn a_rule_set_a_data_plane_refuses_is_nacked_and_the_old_rules_keep_answering() {
    let cp = Cp::start("127.0.0.1:0".parse().unwrap());
    let v1 = cp.set(rules(2, "one"));
    let dp = dataplane(&cp.url(), "dp-small", None, 2);
    eventually("v1 ACKed", || all_acked(&cp, 1, &v1));
    let v2 = cp.set(rules(3, "two"));
    eventually("v2 NACKed", || cp.state.registry.node("dp-small").unwrap().last_nack.is_some());
    let node = cp.state.registry.node("dp-small").unwrap();
    let nack = node.last_nack.unwrap();
    assert_eq!(nack.version, v2);
    assert!(nack.error.contains("3 rules, more than this data plane's --max-rules 2"), "{}", nack.error);
    assert_eq!(node.acked_version.as_deref(), Some(v1.as_str()));
    assert_eq!(get(&dp, "/r1"), (200, "one".into()), "the old rules keep answering");
    assert_eq!(get(&dp, "/r2").0, 404);
    let ready = readyz(&dp);
    assert_eq!(ready["version"], v1.as_str());
    assert!(ready["control_plane"]["last_nack"].as_str().unwrap().contains("--max-rules 2"), "{ready}");
    // A version it can take is applied as usual, and clears the NACK.
    let v3 = cp.set(rules(1, "three"));
    eventually("v3 ACKed", || all_acked(&cp, 1, &v3));
    assert_eq!(cp.state.registry.node("dp-small").unwrap().last_nack, None);
    assert_eq!(get(&dp, "/r0"), (200, "three".into()));
    dp.shutdown();
}

#[test]
fn data_planes_keep_serving_without_the_control_plane_and_converge_when_it_returns() {
    let mut cp = Cp::start("127.0.0.1:0".parse().unwrap());
    let addr = cp.addr;
    let v1 = cp.set(rules(2, "one"));
    let dps: Vec<_> = (0..2).map(|i| dataplane(&cp.url(), &format!("dp-{i}"), None, 0)).collect();
    eventually("v1 ACKed", || all_acked(&cp, 2, &v1));

    cp.kill();
    for dp in &dps {
        eventually("the data plane notices", || readyz(dp)["stale"] == true);
        assert_eq!(get(dp, "/r1"), (200, "one".into()), "still serving without a control plane");
    }

    // A restarted control plane (empty memory, the same rules) on the same address.
    let cp = Cp::start(addr);
    assert_eq!(cp.set(rules(2, "one")), v1, "the same rules get the same version");
    eventually("both reconnected", || all_acked(&cp, 2, &v1));
    for dp in &dps {
        eventually("the data plane is current again", || readyz(dp)["stale"] == false);
    }
    // They were current: reconnecting caused no push.
    assert!(cp.state.registry.nodes_in(ENV).iter().all(|n| n.sent_version.is_none()));
    let v2 = cp.set(rules(2, "two"));
    eventually("v2 ACKed after the restart", || all_acked(&cp, 2, &v2));
    for dp in dps {
        assert_eq!(get(&dp, "/r1"), (200, "two".into()));
        dp.shutdown();
    }
}

#[test]
fn a_data_plane_restarted_without_a_control_plane_serves_its_persisted_snapshot() {
    let state = tempfile::tempdir().unwrap();
    let mut cp = Cp::start("127.0.0.1:0".parse().unwrap());
    let v1 = cp.set(rules(2, "persisted"));
    let dp = dataplane(&cp.url(), "dp-1", Some(state.path()), 0);
    eventually("v1 ACKed", || all_acked(&cp, 1, &v1));
    dp.shutdown();
    cp.kill();

    let dp = dataplane(&cp.url(), "dp-1", Some(state.path()), 0);
    let ready = readyz(&dp);
    assert_eq!(ready["ready"], true);
    // One version, the control plane's, as before the restart: not also a local count.
    assert_eq!(ready["version"], v1.as_str());
    assert_eq!(ready.get("config_version"), None, "{ready}");
    assert_eq!(ready["stale"], true);
    assert!(ready["source"].as_str().unwrap().contains("persisted snapshot"), "{ready}");
    assert_eq!(get(&dp, "/r1"), (200, "persisted".into()));
    dp.shutdown();
}

#[test]
fn hit_counts_reach_the_control_plane_summed_across_data_planes() {
    let cp = Cp::start("127.0.0.1:0".parse().unwrap());
    let v1 = cp.set(rules(2, "one"));
    let dps: Vec<_> = (0..2).map(|i| dataplane(&cp.url(), &format!("dp-{i}"), None, 0)).collect();
    eventually("v1 ACKed", || all_acked(&cp, 2, &v1));
    for (dp, n) in dps.iter().zip([3, 4]) {
        for _ in 0..n {
            assert_eq!(get(dp, "/r0").0, 200);
        }
    }
    assert_eq!(get(&dps[0], "/nothing").0, 404);
    eventually("7 hits of r0 reported", || cp.state.reports.hits(ENV, "r0") == 7);
    assert_eq!(cp.state.reports.hits_by_node(ENV, "r0")["dp-1"], 4);
    eventually("the miss reported", || cp.state.reports.misses(ENV) == 1);
    let journal = cp.state.reports.journal(ENV, 100);
    assert_eq!(journal.len(), 8);
    assert!(journal.iter().any(|(node, e)| node == "dp-0" && e.target == "/nothing" && e.status == 404));
    for dp in dps {
        dp.shutdown();
    }
}

#[test]
fn a_data_plane_the_control_plane_refuses_says_why_in_readyz() {
    let cp = Cp::start("127.0.0.1:0".parse().unwrap());
    cp.set(rules(1, "one"));
    let dp = dataplane_of("shop/prod", &cp.url(), "dp-typo", None, 0);
    let mut last = serde_json::Value::Null;
    eventually("/readyz names the refusal", || {
        last = readyz(&dp);
        last["control_plane"]["last_error"].as_str().is_some_and(|e| e.contains("refused"))
    });
    assert_eq!(last["ready"], false);
    assert_eq!(
        last["control_plane"]["last_error"],
        "the control plane refused this data plane (NotFound): environment \"shop/prod\" is not served \
         by this control plane (it serves: shop/staging)"
    );
    assert!(cp.state.registry.node("dp-typo").is_none());
    dp.shutdown();
}

#[test]
fn reports_the_control_plane_refuses_are_named_in_readyz_while_rules_keep_coming() {
    // Small enough that a report with a few journal entries is over it; an xDS request is not.
    let cp = Cp::start_with(
        "127.0.0.1:0".parse().unwrap(),
        Limits { max_message_bytes: 1024, ..Limits::default() },
    );
    let v1 = cp.set(rules(1, "one"));
    let dp = dataplane(&cp.url(), "dp-1", None, 0);
    eventually("v1 ACKed", || all_acked(&cp, 1, &v1));
    for _ in 0..10 {
        assert_eq!(get(&dp, &format!("/r0?{}", "x".repeat(200))).0, 200);
    }
    let mut last = serde_json::Value::Null;
    eventually("/readyz names the refused reports", || {
        last = readyz(&dp);
        !last["control_plane"]["last_report_error"].is_null()
    });
    let error = last["control_plane"]["last_report_error"].as_str().unwrap();
    assert!(error.starts_with("the control plane refused this data plane (OutOfRange)"), "{error}");
    assert!(error.contains("--max-message-bytes 1024"), "{error}");
    assert_eq!(cp.state.reports.hits(ENV, "r0"), 0);
    // The rules link is unaffected.
    let v2 = cp.set(rules(1, "two"));
    eventually("v2 ACKed", || all_acked(&cp, 1, &v2));
    assert_eq!(get(&dp, "/r0"), (200, "two".into()));
    dp.shutdown();
}

/// Bursts of pipelined requests are answered many to a millisecond, and reports (every 20 ms)
/// keep falling between two entries of the same millisecond: each entry still reaches the
/// control plane, once.
#[test]
fn journal_entries_sharing_a_millisecond_each_reach_the_control_plane_once() {
    use std::io::{Read, Write};
    const BURSTS: usize = 200;
    const PIPELINED: usize = 25;
    let cp = Cp::start("127.0.0.1:0".parse().unwrap());
    let v1 = cp.set(rules(1, "one"));
    let dp =
        dataplane_with(ENV, &cp.url(), "dp-burst", 2, |xds| xds.report_interval = Duration::from_millis(20));
    eventually("v1 ACKed", || all_acked(&cp, 1, &v1));
    let mut conns: Vec<std::net::TcpStream> =
        (0..2).map(|_| std::net::TcpStream::connect(dp.listen_addr()).unwrap()).collect();
    for burst in 0..BURSTS {
        let conn = &mut conns[burst % 2];
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let requests: String = (0..PIPELINED)
            .map(|i| format!("GET /r0?n={} HTTP/1.1\r\nhost: t\r\n\r\n", burst * PIPELINED + i))
            .collect();
        conn.write_all(requests.as_bytes()).unwrap();
        // Each answer ends with its body, `one`.
        let mut answers = Vec::new();
        while answers.windows(7).filter(|w| w == b"\r\n\r\none").count() < PIPELINED {
            let mut chunk = [0u8; 16 * 1024];
            let n = conn.read(&mut chunk).expect("the answers to a burst");
            assert!(n > 0, "the data plane closed the connection");
            answers.extend_from_slice(&chunk[..n]);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let total = BURSTS * PIPELINED;
    // The report that counts the last hit carries the last entries too; one that would repeat
    // an entry would come within a few intervals.
    eventually("every hit reported", || cp.state.reports.hits(ENV, "r0") == total as u64);
    std::thread::sleep(Duration::from_millis(100));
    let journal = cp.state.reports.journal(ENV, 10_000);
    let mut times = std::collections::HashMap::<u64, usize>::new();
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for (node, e) in &journal {
        assert_eq!(node, "dp-burst");
        *times.entry(e.at_ms).or_default() += 1;
        *seen.entry(e.target.clone()).or_default() += 1;
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(repeated.is_empty(), "reported more than once: {repeated:?}");
    assert_eq!(seen.len(), total, "{} of {total} requests reported", seen.len());
    assert!(
        times.values().any(|&n| n >= 5),
        "no millisecond held five requests: the bursts did not test what they should"
    );
    dp.shutdown();
}
