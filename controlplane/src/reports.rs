//! Reports from the data planes: per-rule hit counts (deltas, summed here per environment and
//! per node) and recent journal entries, so the control plane can answer "how many times was
//! this rule called, across all nodes" and show a request tail.
//!
//! A report is taken only from a node the registry knows, for an environment this control plane
//! serves, so every map here is bounded by what the operator loaded and by the registry: hits
//! are kept per rule id the environment's rule sets have had (others are counted as
//! untracked), per node the registry holds (a node it forgets has its hits folded into its
//! rules' totals), and the journal keeps the newest [`JOURNAL_CAPACITY`] entries, their fields
//! cut to the sizes the data plane itself keeps (see [`crate::requests`] for its queries), and
//! bounded by memory too ([`JOURNAL_BYTES`]). Each entry taken is also sent to the live tails
//! ([`ReportStore::subscribe_requests`]).
//!
//! A journal reset (see [`crate::reset`]) empties an environment's journal; from then on the
//! entries of a report are dropped if the data plane had not yet applied that reset when it
//! read them (its `journal_reset` is older), so none journaled before the reset comes back.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mockplane_proto::report::report_service_server::ReportService;
use mockplane_proto::report::{Header, JournalEntry, Report, ReportSummary};
use tokio::sync::{broadcast, watch};
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::cache::{EnvSnapshot, SnapshotCache};
use crate::limits::{truncate, Limits};
pub use crate::limits::{JOURNAL_BYTES, JOURNAL_CAPACITY};
use crate::metrics::{Histogram, NodeState};
use crate::registry::NodeRegistry;
use crate::requests::JournaledRequest;

/// The sizes the data plane's own journal keeps (`dataplane::journal::JournalEntry`); a rule
/// id is at most 200 bytes (`mockplane-rules` refuses longer ones).
const JOURNAL_FIELD_BYTES: [usize; 4] = [16, 256, 200, 32];

/// The header bytes a data plane keeps per entry: each field counted as its name, a colon,
/// its value, and a line end between fields.
const JOURNAL_HEADER_BYTES: usize = 1024;

/// The body bytes a data plane keeps per entry.
const JOURNAL_BODY_BYTES: usize = 256;

#[derive(Debug, Default)]
pub(crate) struct RuleHits {
    pub(crate) by_node: BTreeMap<String, u64>,
    /// Hits of nodes the registry has since forgotten.
    pub(crate) departed: u64,
}

#[derive(Debug, Default)]
pub(crate) struct EnvReports {
    pub(crate) hits: HashMap<String, RuleHits>,
    pub(crate) misses: u64,
    /// Hits reported for rule ids this environment never had.
    pub(crate) untracked: u64,
    /// Per node the registry holds: its misses, latency and last report ([`crate::metrics`]).
    pub(crate) nodes: HashMap<String, NodeState>,
    /// The requests and latency of nodes the registry has since forgotten.
    pub(crate) departed_requests: u64,
    pub(crate) departed_latency: Histogram,
    /// Newest last, with the node that served each entry.
    journal: VecDeque<Arc<JournaledRequest>>,
    /// What `journal` takes, as [`footprint`] estimates it.
    journal_bytes: usize,
    /// The newest journal reset epoch this store has applied (0: none).
    journal_epoch: u64,
}

impl EnvReports {
    fn clear_journal(&mut self) {
        self.journal.clear();
        self.journal_bytes = 0;
    }

    /// Appends `r`, letting the oldest entries go while over either bound; returns it shared.
    fn journal_push(&mut self, r: JournaledRequest) -> Arc<JournaledRequest> {
        self.journal_bytes += footprint(&r);
        let r = Arc::new(r);
        self.journal.push_back(r.clone());
        while self.journal.len() > JOURNAL_CAPACITY || self.journal_bytes > JOURNAL_BYTES {
            let Some(old) = self.journal.pop_front() else { break };
            self.journal_bytes -= footprint(&old);
        }
        r
    }
}

/// What an entry takes in memory, roughly: its own size, its strings and buffers, and each
/// header field's place in the list and two allocations.
fn footprint(r: &JournaledRequest) -> usize {
    const ALLOCATION: usize = 16;
    let e = &r.entry;
    let fields = [&r.node, &e.method, &e.target, &e.rule_id, &e.fault, &e.client_ip];
    std::mem::size_of::<JournaledRequest>()
        + fields.iter().map(|f| f.len() + ALLOCATION).sum::<usize>()
        + e.body.len()
        + ALLOCATION
        + e.headers
            .iter()
            .map(|h| std::mem::size_of::<Header>() + h.name.len() + h.value.len() + 2 * ALLOCATION)
            .sum::<usize>()
}

/// A journal entry as it is taken, for a live tail of requests.
#[derive(Debug, Clone)]
pub struct RequestEvent {
    /// The environment, `project/environment`.
    pub environment: Arc<str>,
    /// The request, as [`ReportStore::requests`] returns it.
    pub request: Arc<JournaledRequest>,
}

/// Entries a live-tail subscriber may fall behind by before it is told it lagged.
const REQUEST_EVENTS: usize = 4096;

/// What the data planes reported, per environment.
#[derive(Debug)]
pub struct ReportStore {
    envs: Mutex<HashMap<String, EnvReports>>,
    events: broadcast::Sender<RequestEvent>,
    /// Reports taken since the start, for `/metrics`.
    received: AtomicU64,
    /// Recorded pairs, for the service to store (see [`crate::recording`]).
    recorded: crate::recording::Inbox,
}

impl Default for ReportStore {
    fn default() -> Self {
        ReportStore {
            envs: Mutex::default(),
            events: broadcast::channel(REQUEST_EVENTS).0,
            received: AtomicU64::new(0),
            recorded: crate::recording::Inbox::default(),
        }
    }
}

impl ReportStore {
    /// An empty store.
    pub fn new() -> Self {
        ReportStore::default()
    }

    /// Recorded pairs reported, for the service to store.
    pub(crate) fn recorded(&self) -> &crate::recording::Inbox {
        &self.recorded
    }

    /// Every journal entry taken from now on, of every environment, oldest first (entries a
    /// journal reset drops are not sent). A subscriber that falls more than 4,096 entries
    /// behind is told so (`RecvError::Lagged`) and goes on with the newest.
    pub fn subscribe_requests(&self) -> broadcast::Receiver<RequestEvent> {
        self.events.subscribe()
    }

    /// Reads `environment`'s reports; an environment nobody reported on reads as empty and is
    /// not created.
    pub(crate) fn read<R>(&self, environment: &str, f: impl FnOnce(&EnvReports) -> R) -> R {
        let envs = self.envs.lock().unwrap_or_else(|p| p.into_inner());
        match envs.get(environment) {
            Some(env) => f(env),
            None => f(&EnvReports::default()),
        }
    }

    /// Adds one report of `node` serving `snapshot`'s environment. Hits of a rule id that is
    /// neither in `snapshot` nor already counted (a rule of an earlier version) are counted as
    /// untracked, not kept by id. Returns how many hits were untracked.
    pub fn add(&self, snapshot: &EnvSnapshot, node: &str, report: &Report) -> u64 {
        self.received.fetch_add(1, Ordering::Relaxed);
        if !report.recorded.is_empty() || report.recorded_dropped > 0 {
            self.recorded.pass(&snapshot.environment, node, &report.recorded, report.recorded_dropped);
        }
        let mut envs = self.envs.lock().unwrap_or_else(|p| p.into_inner());
        let env = envs.entry(snapshot.environment.clone()).or_default();
        let mut untracked = 0;
        for h in &report.hits {
            let counts = match env.hits.get_mut(&h.rule_id) {
                Some(counts) => counts,
                None if snapshot.has_rule(&h.rule_id) => env.hits.entry(h.rule_id.clone()).or_default(),
                None => {
                    untracked += h.count;
                    continue;
                }
            };
            let n = match counts.by_node.get_mut(node) {
                Some(n) => n,
                None => counts.by_node.entry(node.to_owned()).or_default(),
            };
            *n = n.saturating_add(h.count);
        }
        env.untracked = env.untracked.saturating_add(untracked);
        env.misses = env.misses.saturating_add(report.misses);
        let state = match env.nodes.get_mut(node) {
            Some(state) => state,
            None => env.nodes.entry(node.to_owned()).or_default(),
        };
        state.misses = state.misses.saturating_add(report.misses);
        if let Some(latency) = &report.latency {
            state.latency.add(latency);
        }
        state.last_report_ms = crate::store::now_ms().max(0) as u64;
        // A version carrying a newer journal reset empties the journal, also when the reset
        // was made on the cache alone (`ControlPlane::reset` empties it at once).
        if snapshot.resets.journal > env.journal_epoch {
            env.clear_journal();
            env.journal_epoch = snapshot.resets.journal;
        }
        // Entries read before the data plane applied the last reset are from before it.
        let stale = report.journal_reset.is_some_and(|applied| applied < env.journal_epoch);
        // Reports list the newest entry first; keep the deque oldest first. Only the newest
        // JOURNAL_CAPACITY of a report can stay.
        let kept = if stale { 0 } else { JOURNAL_CAPACITY };
        let watched = self.events.receiver_count() > 0 && kept > 0 && !report.journal.is_empty();
        let environment: Option<Arc<str>> = watched.then(|| snapshot.environment.as_str().into());
        for e in report.journal.iter().take(kept).rev() {
            let request = env.journal_push(JournaledRequest { node: node.to_owned(), entry: bounded(e) });
            if let Some(environment) = &environment {
                // A subscriber that is gone is not an error.
                let _ = self.events.send(RequestEvent { environment: environment.clone(), request });
            }
        }
        untracked
    }

    /// Empties `environment`'s journal, for the journal reset of epoch `epoch`: from now on,
    /// a report's entries are kept only if its data plane had applied that reset when it read
    /// them.
    pub fn reset_journal(&self, environment: &str, epoch: u64) {
        let mut envs = self.envs.lock().unwrap_or_else(|p| p.into_inner());
        let env = envs.entry(environment.to_owned()).or_default();
        env.clear_journal();
        env.journal_epoch = env.journal_epoch.max(epoch);
    }

    /// Forgets everything reported for `environment` (it was deleted): a new environment of
    /// the same name starts from nothing. Its data planes' reports are refused from then on,
    /// since it is no longer served.
    pub fn forget_environment(&self, environment: &str) {
        self.envs.lock().unwrap_or_else(|p| p.into_inner()).remove(environment);
    }

    /// Reports taken since the start.
    pub fn reports_total(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Forgets `node`'s per-node counts in `environment`, adding them to its rules' totals:
    /// for a node the registry no longer holds.
    pub fn forget_node(&self, environment: &str, node: &str) {
        let mut envs = self.envs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(env) = envs.get_mut(environment) {
            if let Some(state) = env.nodes.remove(node) {
                env.departed_requests = env.departed_requests.saturating_add(state.latency.count());
                env.departed_latency.merge(&state.latency);
            }
            for counts in env.hits.values_mut() {
                if let Some(n) = counts.by_node.remove(node) {
                    counts.departed = counts.departed.saturating_add(n);
                }
            }
        }
    }

    /// Hits of `rule` across every node of `environment`, forgotten nodes included.
    pub fn hits(&self, environment: &str, rule: &str) -> u64 {
        self.read(environment, |env| {
            env.hits.get(rule).map_or(0, |h| h.by_node.values().sum::<u64>() + h.departed)
        })
    }

    /// Hits of `rule` per node the registry holds.
    pub fn hits_by_node(&self, environment: &str, rule: &str) -> BTreeMap<String, u64> {
        self.read(environment, |env| env.hits.get(rule).map(|h| h.by_node.clone()).unwrap_or_default())
    }

    /// How many rule ids have hit counts in `environment`.
    pub fn rules_counted(&self, environment: &str) -> usize {
        self.read(environment, |env| env.hits.len())
    }

    /// Hits reported for rule ids `environment` never had.
    pub fn untracked_hits(&self, environment: &str) -> u64 {
        self.read(environment, |env| env.untracked)
    }

    /// Requests no rule answered, across every node.
    pub fn misses(&self, environment: &str) -> u64 {
        self.read(environment, |env| env.misses)
    }

    /// The newest `limit` journal entries of `environment`, newest first, with their node.
    pub fn journal(&self, environment: &str, limit: usize) -> Vec<(String, JournalEntry)> {
        self.read(environment, |env| {
            env.journal.iter().rev().take(limit).map(|r| (r.node.clone(), r.entry.clone())).collect()
        })
    }

    /// Every journal entry of `environment` held, newest first (shared, not copied).
    pub fn entries(&self, environment: &str) -> Vec<Arc<JournaledRequest>> {
        self.read(environment, |env| env.journal.iter().rev().cloned().collect())
    }
}

/// `e` with its fields cut to the sizes a data plane keeps: strings, header fields past the
/// header bytes (left out and counted as omitted), the body, a client address that is not one.
fn bounded(e: &JournalEntry) -> JournalEntry {
    let [method, target, rule, fault] = JOURNAL_FIELD_BYTES;
    let mut headers = Vec::with_capacity(e.headers.len().min(64));
    let mut omitted = e.headers_omitted;
    // A line end between fields: the first is counted two bytes short.
    let mut used = 0usize;
    for h in &e.headers {
        let cost = h.name.len() + 1 + h.value.len() + if headers.is_empty() { 0 } else { 2 };
        if used + cost <= JOURNAL_HEADER_BYTES {
            used += cost;
            headers.push(Header { name: h.name.clone(), value: h.value.clone() });
        } else {
            omitted = omitted.saturating_add(1);
        }
    }
    let client_ip = match e.client_ip.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.to_string(),
        Err(_) => String::new(),
    };
    JournalEntry {
        method: truncate(&e.method, method).to_owned(),
        target: truncate(&e.target, target).to_owned(),
        rule_id: truncate(&e.rule_id, rule).to_owned(),
        fault: truncate(&e.fault, fault).to_owned(),
        headers,
        headers_omitted: omitted,
        body: e.body[..e.body.len().min(JOURNAL_BODY_BYTES)].to_vec(),
        body_size: e.body_size.max(e.body.len() as u64),
        client_port: if client_ip.is_empty() { 0 } else { e.client_port.min(u32::from(u16::MAX)) },
        client_ip,
        ..*e
    }
}

/// The report service over a [`ReportStore`].
#[derive(Debug, Clone)]
pub struct ReportServer {
    store: Arc<ReportStore>,
    cache: Arc<SnapshotCache>,
    registry: Arc<NodeRegistry>,
    limits: Limits,
    closing: watch::Receiver<bool>,
}

impl ReportServer {
    /// A server adding to `store` the reports of nodes in `registry` for environments in
    /// `cache`; its streams end when `closing` turns true.
    pub fn new(
        store: Arc<ReportStore>,
        cache: Arc<SnapshotCache>,
        registry: Arc<NodeRegistry>,
        limits: Limits,
        closing: watch::Receiver<bool>,
    ) -> Self {
        ReportServer { store, cache, registry, limits, closing }
    }

    /// The environment's version in force, if `report` may be taken: its node known, its
    /// environment served. Otherwise the status that refuses the stream, with the reason.
    fn admit(&self, report: &Report) -> Result<Arc<EnvSnapshot>, Status> {
        let Some(node) = &report.node else {
            return Err(Status::invalid_argument("every report must carry its node"));
        };
        mockplane_proto::names::check_node_id(&node.id)
            .map_err(|e| Status::invalid_argument(format!("report.node.id: {e}")))?;
        mockplane_proto::names::check_environment(&node.cluster)
            .map_err(|e| Status::invalid_argument(format!("report.node.cluster: {e}")))?;
        let Some(snapshot) = self.cache.get(&node.cluster) else {
            return Err(crate::xds::not_served(&self.cache, &node.cluster));
        };
        match self.registry.node(&node.id) {
            Some(n) if n.environment == node.cluster => Ok(snapshot),
            Some(n) => Err(Status::failed_precondition(format!(
                "node {:?} reports for {:?} but its xDS stream serves {:?}",
                node.id, node.cluster, n.environment
            ))),
            None => Err(Status::failed_precondition(format!(
                "node {:?} has no xDS stream here: reports are taken from data planes that have opened one",
                node.id
            ))),
        }
    }
}

#[tonic::async_trait]
impl ReportService for ReportServer {
    async fn stream_reports(
        &self,
        request: Request<Streaming<Report>>,
    ) -> Result<Response<ReportSummary>, Status> {
        let mut inbound = request.into_inner();
        let mut reports = 0;
        let closing = self.closing.clone();
        loop {
            let report = tokio::select! {
                _ = crate::server::closed(closing.clone()) => break,
                next = inbound.next() => match next {
                    Some(report) => report.map_err(|s| crate::xds::explain_decode_error(s, self.limits))?,
                    None => break,
                },
            };
            let snapshot = self.admit(&report)?;
            let node = report.node.as_ref().map_or("", |n| n.id.as_str());
            self.registry.seen(node);
            let untracked = self.store.add(&snapshot, node, &report);
            if untracked > 0 {
                tracing::debug!(node, environment = %snapshot.environment, untracked, "hits reported for rule ids this environment never had");
            }
            reports += 1;
        }
        Ok(Response::new(ReportSummary { reports }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockplane_proto::report::RuleHits as WireHits;
    use mockplane_rules::{Format, RuleSet};

    fn snapshot(cache: &SnapshotCache, ids: &[&str]) -> Arc<EnvSnapshot> {
        let mut text = String::from("rules:\n");
        for id in ids {
            text += &format!("  - {{ id: {id}, match: {{ path: /{id} }}, response: {{ body: x }} }}\n");
        }
        cache.set("shop/staging", RuleSet::parse(&text, Format::Yaml).unwrap(), None).unwrap()
    }

    fn report(rule: &str, n: u64) -> Report {
        Report {
            hits: vec![WireHits { rule_id: rule.into(), count: n }],
            journal: vec![JournalEntry { target: format!("/{n}"), ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn a_forgotten_environment_starts_again_from_nothing() {
        let cache = SnapshotCache::new();
        let v1 = snapshot(&cache, &["a"]);
        let store = ReportStore::new();
        store.add(&v1, "dp-1", &report("a", 3));
        store.forget_environment("shop/staging");
        assert_eq!((store.hits("shop/staging", "a"), store.entries("shop/staging").len()), (0, 0));
        assert_eq!(store.metrics("shop/staging"), crate::Metrics::default());
    }

    #[test]
    fn hits_sum_across_nodes_and_reports() {
        let cache = SnapshotCache::new();
        let v1 = snapshot(&cache, &["a"]);
        let store = ReportStore::new();
        store.add(&v1, "dp-1", &report("a", 3));
        store.add(&v1, "dp-2", &report("a", 4));
        store.add(&v1, "dp-1", &report("a", 5));
        assert_eq!(store.hits("shop/staging", "a"), 12);
        assert_eq!(store.hits_by_node("shop/staging", "a")["dp-1"], 8);
        assert_eq!(store.hits("shop/prod", "a"), 0);
        let newest: Vec<_> = store.journal("shop/staging", 2).into_iter().map(|(_, e)| e.target).collect();
        assert_eq!(newest, ["/5", "/4"]);
        // Reading another environment created nothing.
        assert_eq!(store.envs.lock().unwrap().len(), 1);
    }

    #[test]
    fn only_rule_ids_the_environment_has_had_are_counted_by_id() {
        let cache = SnapshotCache::new();
        let v1 = snapshot(&cache, &["a", "b"]);
        let store = ReportStore::new();
        store.add(&v1, "dp-1", &report("b", 1));
        for i in 0..1000 {
            assert_eq!(store.add(&v1, "dp-1", &report(&format!("invented-{i}"), 2)), 2);
        }
        assert_eq!((store.rules_counted("shop/staging"), store.untracked_hits("shop/staging")), (1, 2000));
        // A rule removed in the next version still counts the hits reported late for it.
        let v2 = snapshot(&cache, &["a"]);
        assert_eq!(store.add(&v2, "dp-1", &report("b", 1)), 0);
        assert_eq!(store.hits("shop/staging", "b"), 2);
    }

    #[test]
    fn a_forgotten_node_leaves_its_hits_in_the_totals() {
        let cache = SnapshotCache::new();
        let v1 = snapshot(&cache, &["a"]);
        let store = ReportStore::new();
        store.add(&v1, "dp-1", &report("a", 3));
        store.add(&v1, "dp-2", &report("a", 4));
        store.forget_node("shop/staging", "dp-1");
        assert_eq!(store.hits("shop/staging", "a"), 7);
        assert_eq!(
            store.hits_by_node("shop/staging", "a").into_iter().collect::<Vec<_>>(),
            [("dp-2".into(), 4)]
        );
    }

    #[test]
    fn journal_entries_are_cut_to_the_data_planes_sizes() {
        let cache = SnapshotCache::new();
        let v1 = snapshot(&cache, &["a"]);
        let store = ReportStore::new();
        let huge = Report {
            journal: vec![JournalEntry {
                method: "M".repeat(1000),
                target: "/".repeat(100_000),
                rule_id: "r".repeat(1000),
                fault: "f".repeat(1000),
                ..Default::default()
            }],
            ..Default::default()
        };
        store.add(&v1, "dp-1", &huge);
        let (_, e) = &store.journal("shop/staging", 1)[0];
        assert_eq!((e.method.len(), e.target.len(), e.rule_id.len(), e.fault.len()), (16, 256, 200, 32));
    }

    #[test]
    fn headers_body_and_client_are_cut_to_the_data_planes_sizes() {
        let cache = SnapshotCache::new();
        let v1 = snapshot(&cache, &["a"]);
        let store = ReportStore::new();
        let header = |name: &str, len: usize| Header { name: name.into(), value: vec![b'v'; len] };
        let huge = Report {
            journal: vec![JournalEntry {
                // 500 + 1 + 1 + 2 + 500, then 20 more: the third does not fit, the fourth does.
                headers: vec![header("a", 500), header("b", 500), header("c", 100), header("d", 5)],
                headers_omitted: 2,
                body: vec![b'x'; 10_000],
                body_size: 3,
                client_ip: "not an address".into(),
                client_port: 70_000,
                ..Default::default()
            }],
            ..Default::default()
        };
        store.add(&v1, "dp-1", &huge);
        let e = &store.entries("shop/staging")[0].entry;
        let names: Vec<&str> = e.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!((names, e.headers_omitted), (vec!["a", "b", "d"], 3));
        assert_eq!((e.body.len(), e.body_size), (256, 10_000), "cut, and the size says so");
        assert_eq!((e.client_ip.as_str(), e.client_port), ("", 0));
    }

    #[test]
    fn a_live_tail_sees_each_entry_taken_oldest_first() {
        let cache = SnapshotCache::new();
        let v1 = snapshot(&cache, &["a"]);
        let store = ReportStore::new();
        store.add(&v1, "dp-1", &report("a", 1)); // before anyone listened
        let mut tail = store.subscribe_requests();
        let two = |n| Report {
            journal: vec![report("a", n + 1).journal[0].clone(), report("a", n).journal[0].clone()],
            ..Default::default()
        };
        store.add(&v1, "dp-2", &two(2));
        // Dropped by a reset: not sent either.
        store.reset_journal("shop/staging", 5);
        store.add(&v1, "dp-2", &Report { journal_reset: Some(0), ..report("a", 9) });
        let mut seen = Vec::new();
        while let Ok(event) = tail.try_recv() {
            assert_eq!(&*event.environment, "shop/staging");
            seen.push((event.request.node.clone(), event.request.entry.target.clone()));
        }
        assert_eq!(seen, [("dp-2".into(), "/2".into()), ("dp-2".into(), "/3".into())]);
    }

    #[test]
    fn the_journal_is_bounded_by_memory_too() {
        let cache = SnapshotCache::new();
        let v1 = snapshot(&cache, &["a"]);
        let store = ReportStore::new();
        // A hundred tiny header fields an entry: the byte bound is reached before the count.
        let tiny: Vec<Header> =
            (0..100).map(|i| Header { name: format!("h{i}"), value: vec![b'v'] }).collect();
        let entry = JournalEntry { headers: tiny, ..Default::default() };
        for _ in 0..40 {
            store.add(&v1, "dp-1", &Report { journal: vec![entry.clone(); 1_000], ..Default::default() });
        }
        let held = store.entries("shop/staging");
        let one = footprint(&held[0]);
        assert!(one > 5_000, "{one}");
        assert!(held.len() < JOURNAL_CAPACITY && held.len() * one <= JOURNAL_BYTES, "{} entries", held.len());
        assert!((held.len() + 1) * one > JOURNAL_BYTES, "only as many went as needed");
        assert_eq!(store.envs.lock().unwrap()["shop/staging"].journal_bytes, held.len() * one);
    }

    #[test]
    fn a_journal_reset_empties_the_journal_and_keeps_out_entries_read_before_it() {
        let cache = SnapshotCache::new();
        let v1 = snapshot(&cache, &["a"]);
        let store = ReportStore::new();
        let from = |applied: Option<u64>, n| Report { journal_reset: applied, ..report("a", n) };
        store.add(&v1, "dp-1", &from(Some(0), 1));
        store.reset_journal("shop/staging", 10);
        assert!(store.entries("shop/staging").is_empty());
        // Read before dp-1 applied epoch 10: dropped; its hits still count.
        store.add(&v1, "dp-1", &from(Some(0), 2));
        // Applied: kept. An older data plane, which sends no epoch: kept.
        store.add(&v1, "dp-1", &from(Some(10), 3));
        store.add(&v1, "dp-old", &from(None, 4));
        let targets: Vec<String> =
            store.entries("shop/staging").iter().map(|r| r.entry.target.clone()).collect();
        assert_eq!(targets, ["/4", "/3"]);
        assert_eq!(store.hits("shop/staging", "a"), 1 + 2 + 3 + 4);
        // A version carrying a newer reset empties it too, when the store was not told.
        let v2 = cache.reset("shop/staging", crate::Reset::Journal).unwrap();
        store.add(&v2, "dp-1", &from(Some(10), 5));
        assert!(store.entries("shop/staging").is_empty());
        store.add(&v2, "dp-1", &from(Some(v2.resets.journal), 6));
        assert_eq!(store.entries("shop/staging").len(), 1);
    }
}
