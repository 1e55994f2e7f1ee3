//! Reports from the data planes: per-rule hit counts (deltas, summed here per environment and
//! per node) and recent journal entries, so the control plane can answer "how many times was
//! this rule called, across all nodes" and show a request tail.
//!
//! A report is taken only from a node the registry knows, for an environment this control plane
//! serves, so every map here is bounded by what the operator loaded and by the registry: hits
//! are kept per rule id the environment's rule sets have had (others are counted as
//! untracked), per node the registry holds (a node it forgets has its hits folded into its
//! rules' totals), and the journal keeps the newest [`JOURNAL_CAPACITY`] entries, their strings
//! cut to the sizes the data plane itself keeps.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mockplane_proto::report::report_service_server::ReportService;
use mockplane_proto::report::{JournalEntry, Report, ReportSummary};
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::cache::{EnvSnapshot, SnapshotCache};
pub use crate::limits::JOURNAL_CAPACITY;
use crate::limits::{truncate, Limits};
use crate::registry::NodeRegistry;

/// The sizes the data plane's own journal keeps (`dataplane::journal::JournalEntry`); a rule
/// id is at most 200 bytes (`mockplane-rules` refuses longer ones).
const JOURNAL_FIELD_BYTES: [usize; 4] = [16, 256, 200, 32];

#[derive(Debug, Default)]
struct RuleHits {
    by_node: BTreeMap<String, u64>,
    /// Hits of nodes the registry has since forgotten.
    departed: u64,
}

#[derive(Debug, Default)]
struct EnvReports {
    hits: HashMap<String, RuleHits>,
    misses: u64,
    /// Hits reported for rule ids this environment never had.
    untracked: u64,
    /// Newest last, with the node that served each entry.
    journal: VecDeque<(String, JournalEntry)>,
}

/// What the data planes reported, per environment.
#[derive(Debug, Default)]
pub struct ReportStore {
    envs: Mutex<HashMap<String, EnvReports>>,
    /// Reports taken since the start, for `/metrics`.
    received: AtomicU64,
}

impl ReportStore {
    /// An empty store.
    pub fn new() -> Self {
        ReportStore::default()
    }

    /// Reads `environment`'s reports; an environment nobody reported on reads as empty and is
    /// not created.
    fn read<R>(&self, environment: &str, f: impl FnOnce(&EnvReports) -> R) -> R {
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
        // Reports list the newest entry first; keep the deque oldest first. Only the newest
        // JOURNAL_CAPACITY of a report can stay.
        for e in report.journal.iter().take(JOURNAL_CAPACITY).rev() {
            if env.journal.len() == JOURNAL_CAPACITY {
                env.journal.pop_front();
            }
            env.journal.push_back((node.to_owned(), bounded(e)));
        }
        untracked
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
        self.read(environment, |env| env.journal.iter().rev().take(limit).cloned().collect())
    }
}

/// `e` with its strings cut to the sizes a data plane keeps.
fn bounded(e: &JournalEntry) -> JournalEntry {
    let [method, target, rule, fault] = JOURNAL_FIELD_BYTES;
    JournalEntry {
        method: truncate(&e.method, method).to_owned(),
        target: truncate(&e.target, target).to_owned(),
        rule_id: truncate(&e.rule_id, rule).to_owned(),
        fault: truncate(&e.fault, fault).to_owned(),
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
}
