//! Reports from the data planes: per-rule hit counts (deltas, summed here per environment and
//! per node) and recent journal entries, so the control plane can answer "how many times was
//! this rule called, across all nodes" and show a request tail.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use mockplane_proto::report::report_service_server::ReportService;
use mockplane_proto::report::{JournalEntry, Report, ReportSummary};
use tokio::sync::watch;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};

use crate::registry::NodeRegistry;

/// Journal entries kept per environment.
pub const JOURNAL_CAPACITY: usize = 10_000;

#[derive(Debug, Default)]
struct EnvReports {
    /// rule id → node id → hits.
    hits: BTreeMap<String, BTreeMap<String, u64>>,
    misses: u64,
    /// Newest last, with the node that served each entry.
    journal: VecDeque<(String, JournalEntry)>,
}

/// What the data planes reported, per environment.
#[derive(Debug, Default)]
pub struct ReportStore {
    envs: Mutex<HashMap<String, EnvReports>>,
}

impl ReportStore {
    /// An empty store.
    pub fn new() -> Self {
        ReportStore::default()
    }

    fn with<R>(&self, environment: &str, f: impl FnOnce(&mut EnvReports) -> R) -> R {
        let mut envs = self.envs.lock().unwrap_or_else(|p| p.into_inner());
        f(envs.entry(environment.to_owned()).or_default())
    }

    /// Adds one report of `node` serving `environment`.
    pub fn add(&self, environment: &str, node: &str, report: &Report) {
        self.with(environment, |env| {
            for h in &report.hits {
                *env.hits.entry(h.rule_id.clone()).or_default().entry(node.to_owned()).or_default() +=
                    h.count;
            }
            env.misses += report.misses;
            // Reports list the newest entry first; keep the deque oldest first.
            for e in report.journal.iter().rev() {
                if env.journal.len() == JOURNAL_CAPACITY {
                    env.journal.pop_front();
                }
                env.journal.push_back((node.to_owned(), e.clone()));
            }
        });
    }

    /// Hits of `rule` across every node of `environment`.
    pub fn hits(&self, environment: &str, rule: &str) -> u64 {
        self.with(environment, |env| env.hits.get(rule).map_or(0, |by_node| by_node.values().sum()))
    }

    /// Hits of `rule` per node.
    pub fn hits_by_node(&self, environment: &str, rule: &str) -> BTreeMap<String, u64> {
        self.with(environment, |env| env.hits.get(rule).cloned().unwrap_or_default())
    }

    /// Requests no rule answered, across every node.
    pub fn misses(&self, environment: &str) -> u64 {
        self.with(environment, |env| env.misses)
    }

    /// The newest `limit` journal entries of `environment`, newest first, with their node.
    pub fn journal(&self, environment: &str, limit: usize) -> Vec<(String, JournalEntry)> {
        self.with(environment, |env| env.journal.iter().rev().take(limit).cloned().collect())
    }
}

/// The report service over a [`ReportStore`].
#[derive(Debug, Clone)]
pub struct ReportServer {
    store: Arc<ReportStore>,
    registry: Arc<NodeRegistry>,
    closing: watch::Receiver<bool>,
}

impl ReportServer {
    /// A server adding to `store`; its streams end when `closing` turns true.
    pub fn new(store: Arc<ReportStore>, registry: Arc<NodeRegistry>, closing: watch::Receiver<bool>) -> Self {
        ReportServer { store, registry, closing }
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
                    Some(report) => report?,
                    None => break,
                },
            };
            let Some(node) = &report.node else {
                return Err(Status::invalid_argument("every report must carry its node"));
            };
            self.registry.seen(&node.id);
            self.store.add(&node.cluster, &node.id, &report);
            reports += 1;
        }
        Ok(Response::new(ReportSummary { reports }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockplane_proto::report::RuleHits;

    #[test]
    fn hits_sum_across_nodes_and_reports() {
        let store = ReportStore::new();
        let report = |n| Report {
            hits: vec![RuleHits { rule_id: "a".into(), count: n }],
            journal: vec![JournalEntry { target: format!("/{n}"), ..Default::default() }],
            ..Default::default()
        };
        store.add("shop/staging", "dp-1", &report(3));
        store.add("shop/staging", "dp-2", &report(4));
        store.add("shop/staging", "dp-1", &report(5));
        assert_eq!(store.hits("shop/staging", "a"), 12);
        assert_eq!(store.hits_by_node("shop/staging", "a")["dp-1"], 8);
        assert_eq!(store.hits("shop/prod", "a"), 0);
        let newest: Vec<_> = store.journal("shop/staging", 2).into_iter().map(|(_, e)| e.target).collect();
        assert_eq!(newest, ["/5", "/4"]);
    }
}
