//! What the data planes carry for the control plane's `requests`, `verify` and resets, end to
//! end: a real control plane (tonic on loopback) and real data planes (monoio workers, the xDS
//! client thread), with requests sent over HTTP by a real client. Nothing is mocked.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use mockplane_controlplane::{ControlPlane, RequestFilter, Reset};
use mockplane_dataplane::{DataPlaneConfig, IoDriver, RunningDataPlane, SnapshotStore, XdsClientConfig};
use mockplane_rules::model::RequestMatch;
use mockplane_rules::{Format, RuleSet};

const ENV: &str = "shop/staging";

const RULES: &str = r#"
rules:
  - id: order
    match:
      method: POST
      path: /orders
      headers: { x-team: red }
      body: { json: { sku: a-1 }, ignore_extra_elements: true }
    response: { status: 201, body: created }
  - id: flow-start
    match: { method: GET, path: /flow }
    scenario: { name: checkout, state: Started, next: paid }
    response: { body: start }
  - id: flow-paid
    match: { method: GET, path: /flow }
    scenario: { name: checkout, state: paid }
    response: { body: paid }
  - id: counter
    match: { method: GET, path: /count }
    sequence: { responses: [ { body: first }, { body: second } ] }
"#;

fn rules(extra: &str) -> RuleSet {
    RuleSet::parse(&format!("{RULES}{extra}"), Format::Yaml).unwrap()
}

/// A control plane on its own runtime (or on the test's, when `None`).
struct Cp {
    state: ControlPlane,
    addr: SocketAddr,
    _runtime: Option<tokio::runtime::Runtime>,
}

impl Cp {
    fn start() -> Cp {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let state = ControlPlane::new();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        let server = state.clone();
        runtime.spawn(async move { server.serve(listener, std::future::pending()).await });
        Cp { state, addr, _runtime: Some(runtime) }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn set(&self, rules: RuleSet) -> String {
        self.state.cache.set(ENV, rules, None).unwrap().version_info.clone()
    }

    /// Waits until the `n` data planes of the environment have ACKed `version`.
    fn acked(&self, n: usize, version: &str) {
        eventually(&format!("{n} data planes ACKed {version}"), || {
            let nodes = self.state.registry.nodes_in(ENV);
            nodes.len() == n
                && nodes.iter().all(|n| n.connected && n.acked_version.as_deref() == Some(version))
        });
    }
}

fn dataplane(cp: &Cp, node: &str, state_dir: Option<&Path>) -> RunningDataPlane {
    let mut xds = XdsClientConfig::new(cp.url(), ENV, node);
    xds.report_interval = Duration::from_millis(50);
    xds.backoff_initial = Duration::from_millis(50);
    xds.backoff_max = Duration::from_millis(200);
    xds.state_dir = state_dir.map(Path::to_path_buf);
    let config = DataPlaneConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        workers: 2,
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

fn get(dp: &RunningDataPlane, path: &str) -> (u16, String) {
    let r = client().get(format!("http://{}{path}", dp.listen_addr())).send().unwrap();
    (r.status().as_u16(), r.text().unwrap())
}

/// `POST /orders` with `x-team: team` and `body`; the status.
fn order(dp: &RunningDataPlane, team: &str, body: &str) -> u16 {
    let r = client()
        .post(format!("http://{}/orders", dp.listen_addr()))
        .header("x-team", team)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .unwrap();
    r.status().as_u16()
}

/// The data plane's own `/journal` entries.
fn journal(dp: &RunningDataPlane) -> Vec<serde_json::Value> {
    let r = client().get(format!("http://{}/journal?limit=1000", dp.admin_addr())).send().unwrap();
    let body: serde_json::Value = r.json().unwrap();
    body["entries"].as_array().unwrap().clone()
}

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

/// The `match` of the rule `id` in [`RULES`].
fn match_of(id: &str) -> RequestMatch {
    rules("").rules.iter().find(|r| r.id == id).unwrap().matcher.clone()
}

fn held(cp: &Cp) -> usize {
    cp.state.reports.entries(ENV).len()
}

#[test]
fn requests_carry_headers_body_and_client_and_verify_counts_what_the_rule_matched() {
    let cp = Cp::start();
    let v1 = cp.set(rules(""));
    let dps = [dataplane(&cp, "dp-0", None), dataplane(&cp, "dp-1", None)];
    cp.acked(2, &v1);
    let long = format!(r#"{{"sku":"a-1","note":"{}"}}"#, "n".repeat(400));
    for dp in &dps {
        assert_eq!(order(dp, "red", r#"{"sku":"a-1","qty":2}"#), 201, "the rule answers");
        assert_eq!(order(dp, "blue", r#"{"sku":"a-1"}"#), 404, "another team: no rule");
        assert_eq!(order(dp, "red", r#"{"sku":"b-2"}"#), 404, "another body: no rule");
        assert_eq!(order(dp, "red", &long), 201, "a long body: the rule answers");
    }
    eventually("eight orders reported", || held(&cp) == 8);

    // What `requests` gives: headers, a body prefix that says when it was cut, the client.
    let filter = RequestFilter { rule: Some("order".into()), ..Default::default() };
    let created = cp.state.reports.requests(ENV, &filter, 10);
    assert_eq!(created.len(), 4);
    let mut nodes: Vec<&str> = created.iter().map(|r| r.node.as_str()).collect();
    nodes.sort();
    assert_eq!(nodes, ["dp-0", "dp-0", "dp-1", "dp-1"]);
    for r in &created {
        let headers: Vec<(&str, &[u8])> = r.headers().collect();
        assert!(headers.contains(&("x-team", &b"red"[..])), "{headers:?}");
        assert!(headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("host")), "{headers:?}");
        assert_eq!(r.client_ip(), Some("127.0.0.1".parse().unwrap()));
        assert_ne!(r.entry.client_port, 0);
        assert_eq!((r.entry.status, r.path()), (201, "/orders"));
    }
    let cut: Vec<_> = created.iter().filter(|r| r.body_truncated()).collect();
    assert_eq!(cut.len(), 2);
    assert_eq!(cut[0].entry.body.as_slice(), &long.as_bytes()[..256]);
    assert_eq!(cut[0].entry.body_size, long.len() as u64);
    let misses =
        cp.state.reports.requests(ENV, &RequestFilter { status: Some(404), ..Default::default() }, 10);
    assert_eq!(misses.len(), 4);

    // The figures per node: requests, hits, misses, and latency percentiles from each data
    // plane's own histogram.
    let metrics = cp.state.reports.metrics(ENV);
    assert_eq!((metrics.requests, metrics.hits, metrics.misses), (8, 4, 4));
    assert_eq!(metrics.nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(), ["dp-0", "dp-1"]);
    for node in &metrics.nodes {
        assert_eq!((node.requests, node.hits, node.misses, node.latency.count), (4, 2, 2, 4), "{node:?}");
        let p99 = node.latency.p99_us.expect("timed requests");
        assert!(node.latency.p50_us <= Some(p99) && p99 <= 10_000_000, "{:?}", node.latency);
    }

    // `verify` with the rule's own match counts what the rule answered, on every data plane,
    // and not the requests with another header or another body. The long bodies were cut to
    // 256 bytes: no longer JSON, so a JSON predicate does not match them (docs/xds.md).
    let verify = |m: &RequestMatch| cp.state.reports.verify(ENV, m).unwrap();
    let count = verify(&match_of("order"));
    assert_eq!((count.count, count.checked), (2, 8));
    assert_eq!(cp.state.reports.hits(ENV, "order"), 4);
    let mut any_team = match_of("order");
    any_team.headers.clear();
    assert_eq!(verify(&any_team).count, 4);
    let mut any_body = match_of("order");
    any_body.body = None;
    assert_eq!(verify(&any_body).count, 4 + 2);
    // A predicate the prefix holds: the long bodies count too.
    let contains = rules("  - { id: c, match: { body: { contains: '\"sku\":\"a-1\"' } }, response: {} }\n");
    let mut prefix = match_of("order");
    prefix.body = contains.rules.last().unwrap().matcher.body.clone();
    assert_eq!(verify(&prefix).count, 4);
    for dp in dps {
        dp.shutdown();
    }
}

#[test]
fn a_scenario_reset_returns_every_data_plane_to_the_start() {
    let cp = Cp::start();
    let v1 = cp.set(rules(""));
    let dps = [dataplane(&cp, "dp-0", None), dataplane(&cp, "dp-1", None)];
    cp.acked(2, &v1);
    for dp in &dps {
        assert_eq!(get(dp, "/flow"), (200, "start".into()));
        assert_eq!(get(dp, "/flow"), (200, "paid".into()));
        assert_eq!(get(dp, "/count"), (200, "first".into()));
        assert_eq!(get(dp, "/count"), (200, "second".into()));
    }
    let v2 = cp.state.reset(ENV, Reset::Scenarios).unwrap();
    assert!(v2.resets.scenarios > 0);
    cp.acked(2, &v2.version_info);
    for dp in &dps {
        assert_eq!(get(dp, "/flow"), (200, "start".into()), "the scenario is back at its start");
        assert_eq!(get(dp, "/count"), (200, "first".into()), "the sequence too");
        assert_eq!(get(dp, "/flow"), (200, "paid".into()));
    }
    // The journal was not touched.
    assert_eq!(journal(&dps[0]).len(), 7);
    for dp in dps {
        dp.shutdown();
    }
}

#[test]
fn a_journal_reset_empties_every_data_plane_s_journal_and_the_control_plane_s() {
    let cp = Cp::start();
    let v1 = cp.set(rules(""));
    let dps = [dataplane(&cp, "dp-0", None), dataplane(&cp, "dp-1", None)];
    cp.acked(2, &v1);
    for dp in &dps {
        for _ in 0..3 {
            assert_eq!(get(dp, "/flow").0, 200);
        }
    }
    eventually("six requests reported", || held(&cp) == 6);
    let v2 = cp.state.reset(ENV, Reset::Journal).unwrap();
    assert_eq!(held(&cp), 0, "the control plane's copy is emptied at once");
    cp.acked(2, &v2.version_info);
    for dp in &dps {
        assert!(journal(dp).is_empty(), "{:?}", journal(dp));
    }
    // The journal goes on, and nothing from before the reset comes back.
    assert_eq!(get(&dps[1], "/count").0, 200);
    eventually("the new request reported", || held(&cp) == 1);
    std::thread::sleep(Duration::from_millis(200));
    let all = cp.state.reports.requests(ENV, &RequestFilter::default(), 100);
    assert_eq!(all.iter().map(|r| r.entry.target.as_str()).collect::<Vec<_>>(), ["/count"]);
    assert_eq!(journal(&dps[1]).len(), 1);
    // The scenario was not touched.
    assert_eq!(get(&dps[0], "/flow"), (200, "paid".into()));
    for dp in dps {
        dp.shutdown();
    }
}

#[test]
fn a_data_plane_restarted_from_its_snapshot_does_not_reset_again() {
    let state = tempfile::tempdir().unwrap();
    let cp = Cp::start();
    cp.set(rules(""));
    cp.state.reset(ENV, Reset::Scenarios).unwrap();
    let v2 = cp.state.reset(ENV, Reset::Journal).unwrap();
    let dp = dataplane(&cp, "dp-0", Some(state.path()));
    cp.acked(1, &v2.version_info);
    dp.shutdown();

    // Back from its persisted snapshot, which carries both resets.
    let dp = dataplane(&cp, "dp-0", Some(state.path()));
    assert_eq!(dp.store().applied_resets(), Some(v2.resets));
    assert_eq!(get(&dp, "/flow"), (200, "start".into()));
    assert_eq!(get(&dp, "/count"), (200, "first".into()));
    cp.acked(1, &v2.version_info);
    // A new version carries the same resets: nothing is reset.
    let v3 = cp.set(rules("  - { id: extra, match: { path: /extra }, response: { body: x } }\n"));
    cp.acked(1, &v3);
    assert_eq!(get(&dp, "/flow"), (200, "paid".into()), "the scenario went on");
    assert_eq!(get(&dp, "/count"), (200, "second".into()), "the sequence went on");
    assert_eq!(journal(&dp).len(), 4, "the journal kept every request");
    dp.shutdown();
}

/// A control plane with its store (the service), serving xDS on `addr` until it is stopped.
struct Served {
    service: mockplane_controlplane::service::Service,
    control: ControlPlane,
    stop: tokio::sync::oneshot::Sender<()>,
    serving: tokio::task::JoinHandle<()>,
}

fn serve_store(runtime: &tokio::runtime::Runtime, db: &Path, addr: SocketAddr) -> Served {
    use mockplane_controlplane::service::Service;
    use mockplane_controlplane::store::Store;
    runtime.block_on(async {
        let store = Store::open_sqlite(db).await.unwrap();
        let service = Service::new(store, std::sync::Arc::new(mockplane_controlplane::SnapshotCache::new()));
        service.load().await.unwrap();
        let control = service.control_plane(Default::default());
        // The same port as the control plane before it: the data planes reconnect to it.
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = control.clone();
        let serving = tokio::spawn(async move {
            let _ = server.serve(listener, async { drop(stopped.await) }).await;
        });
        Served { service, control, stop, serving }
    })
}

#[test]
fn a_reset_a_data_plane_missed_reaches_it_from_a_restarted_control_plane() {
    use mockplane_controlplane::service::{ApplyMode, Service};
    use mockplane_controlplane::store::Store;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("mockplane.db");
    runtime.block_on(async {
        let service = Service::new(Store::open_sqlite(&db).await.unwrap(), Default::default());
        service.create_project("alice", "shop", "").await.unwrap();
        service.create_environment("alice", "shop", "staging", "").await.unwrap();
        service.apply_rules("alice", ENV, rules(""), ApplyMode::Replace).await.unwrap();
    });
    let addr = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap().local_addr().unwrap();
    let first = serve_store(&runtime, &db, addr);
    let cp = Cp { state: first.control.clone(), addr, _runtime: None };
    let dp = dataplane(&cp, "dp-0", None);
    let v1 = first.service.cache().get(ENV).unwrap().version_info.clone();
    cp.acked(1, &v1);
    assert_eq!(get(&dp, "/flow"), (200, "start".into()));
    assert_eq!(get(&dp, "/flow"), (200, "paid".into()));

    // The control plane stops serving; while the data plane is away, a reset is made, and the
    // control plane goes down before the data plane comes back.
    let _ = first.stop.send(());
    runtime.block_on(first.serving).unwrap();
    let reset = runtime.block_on(first.service.reset("bob", ENV, Reset::Scenarios)).unwrap();
    drop(first.service);
    assert_eq!(get(&dp, "/flow"), (200, "paid".into()), "not reset: it has not heard of it");

    // Restarted from its store, the control plane pushes the reset, which the data plane applies.
    let second = serve_store(&runtime, &db, addr);
    let cp = Cp { state: second.control.clone(), ..cp };
    cp.acked(1, &reset.version_info);
    assert_eq!(get(&dp, "/flow"), (200, "start".into()), "the scenario is back at its start");
    dp.shutdown();
    let _ = second.stop.send(());
}
