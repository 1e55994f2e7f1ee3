//! Counters, latency buckets and the journal, per worker, summed when read.
//!
//! Each worker has its own [`WorkerStats`]: counters that it alone writes (a plain load and
//! store on an atomic, which costs what a local integer costs, and which any thread can read),
//! its latency buckets and its journal ring ([`crate::journal`]). Hits per rule live in the
//! table that served them ([`crate::hits`]). Nothing is published on a timer and no lock is
//! shared with the workers: `/metrics`, `/journal` and the xDS report read what the workers
//! have written, as they write it, and can never make a worker wait.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::driver::DriverKind;
use crate::journal::{self, JournalCursor, JournalEntry, JournalQuery, Ring};
use crate::snapshot::{Snapshot, SnapshotStore};

/// Status classes counted per rule: 1xx..5xx and connection-level faults.
pub const STATUS_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "fault"];

/// The class index of a status; 0 (a fault without a status) is `fault`.
#[inline]
pub fn status_class(status: u16) -> usize {
    match status {
        100..=599 => (status / 100 - 1) as usize,
        _ => 5,
    }
}

/// A counter that one thread adds to and any thread reads.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the counter's owner calls this: a load and a store, not a
    /// read-modify-write, since no other thread writes it.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The upper bounds (Prometheus `le`) of the latency buckets, in µs; a last bucket takes the
/// rest.
pub(crate) const LATENCY_BOUNDS_US: [u64; 16] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 10_000_000,
];

/// Request durations, counted in the buckets `/metrics` shows, and their sum.
#[derive(Debug, Default)]
struct Latency {
    buckets: [Counter; LATENCY_BOUNDS_US.len() + 1],
    sum_us: Counter,
}

impl Latency {
    #[inline]
    fn record(&self, took: Duration) {
        let us = took.as_micros().min(u128::from(u64::MAX)) as u64;
        self.buckets[LATENCY_BOUNDS_US.partition_point(|&b| b < us)].add(1);
        self.sum_us.add(us);
    }
}

/// One worker's counters and journal, written by that worker alone.
// Aligned so that two workers' counters never share a cache line (nor its prefetch pair).
#[repr(align(128))]
#[derive(Debug)]
pub(crate) struct WorkerStats {
    id: usize,
    pub(crate) requests: Counter,
    pub(crate) misses: Counter,
    /// CORS preflights answered by the rule set's policy, without a rule.
    pub(crate) preflights: Counter,
    /// Requests refused by the HTTP codec.
    pub(crate) refused: Counter,
    pub(crate) bytes_in: Counter,
    pub(crate) bytes_out: Counter,
    misses_by_class: [Counter; 6],
    latency: Latency,
    pub(crate) journal: Ring,
}

impl WorkerStats {
    /// Counts an answered request: `rule` is the rule's index in `snapshot`'s table, `None`
    /// for a miss (or when no table is loaded).
    #[inline]
    pub(crate) fn record(
        &self,
        snapshot: Option<&Snapshot>,
        rule: Option<usize>,
        status: u16,
        took: Duration,
    ) {
        self.requests.add(1);
        let class = status_class(status);
        match (snapshot, rule) {
            (Some(s), Some(i)) => s.hits.add(self.id, i, class),
            _ => {
                self.misses.add(1);
                self.misses_by_class[class].add(1);
            }
        }
        self.latency.record(took);
    }

    /// Counts a CORS preflight answered by the policy: a request, not a miss.
    pub(crate) fn record_preflight(&self, took: Duration) {
        self.requests.add(1);
        self.preflights.add(1);
        self.latency.record(took);
    }
}

/// Every worker's counters and journal, for readers; plus live gauges.
#[derive(Debug)]
pub struct SharedStats {
    workers: Box<[Arc<WorkerStats>]>,
    /// Where the hits per rule are (in the tables).
    store: SnapshotStore,
    /// Open connections, per worker.
    pub(crate) open_connections: Vec<AtomicI64>,
    /// Accepted connections, per worker.
    pub(crate) accepted: Vec<AtomicU64>,
    /// The driver the workers run on.
    pub(crate) driver: Mutex<Option<DriverKind>>,
    /// The newest journal reset applied (or adopted with the first rules): see
    /// [`SharedStats::reset_journal`].
    journal_epoch: AtomicU64,
    /// Whether requests are journaled at all (a capacity of 0 turns the journal off).
    journal_on: bool,
}

impl SharedStats {
    /// Stats for `workers` workers keeping `journal_capacity` entries each, reading the hits
    /// per rule from the tables of `store`.
    pub(crate) fn new(workers: usize, journal_capacity: usize, store: SnapshotStore) -> Arc<Self> {
        Arc::new(SharedStats {
            workers: (0..workers)
                .map(|id| {
                    Arc::new(WorkerStats {
                        id,
                        requests: Counter::default(),
                        misses: Counter::default(),
                        preflights: Counter::default(),
                        refused: Counter::default(),
                        bytes_in: Counter::default(),
                        bytes_out: Counter::default(),
                        misses_by_class: Default::default(),
                        latency: Latency::default(),
                        journal: Ring::new(journal_capacity),
                    })
                })
                .collect(),
            open_connections: (0..workers).map(|_| AtomicI64::new(0)).collect(),
            accepted: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            driver: Mutex::new(None),
            // Rules restored from disk bring the epoch they were persisted with.
            journal_epoch: AtomicU64::new(store.applied_resets().map_or(0, |r| r.journal)),
            journal_on: journal_capacity > 0,
            store,
        })
    }

    /// Whether requests are journaled (`journal_capacity` above 0).
    pub fn journal_enabled(&self) -> bool {
        self.journal_on
    }

    /// Worker `id`'s own stats, for it to write.
    pub(crate) fn worker(&self, id: usize) -> Arc<WorkerStats> {
        self.workers[id].clone()
    }

    fn sum(&self, counter: impl Fn(&WorkerStats) -> &Counter) -> u64 {
        self.workers.iter().map(|w| counter(w).get()).sum()
    }

    /// Total requests answered so far.
    pub fn requests(&self) -> u64 {
        self.sum(|w| &w.requests)
    }

    /// Hits of a rule so far, all statuses.
    pub fn rule_hits(&self, rule: &str) -> u64 {
        self.store.rule_counts().get(rule).map_or(0, |c| c.iter().sum())
    }

    /// Hits so far of every rule that has any, by rule id.
    pub fn rule_hit_totals(&self) -> Vec<(String, u64)> {
        self.store.rule_counts().into_iter().map(|(id, c)| (id, c.iter().sum())).collect()
    }

    /// The latency histogram so far, across workers: a count per bucket of
    /// [`LATENCY_BOUNDS_US`] and one past the last, not cumulative; and the sum in µs.
    pub(crate) fn latency(&self) -> ([u64; LATENCY_BOUNDS_US.len() + 1], u64) {
        let counts = std::array::from_fn(|i| self.sum(|w| &w.latency.buckets[i]));
        (counts, self.sum(|w| &w.latency.sum_us))
    }

    /// Requests no rule answered so far.
    pub fn misses(&self) -> u64 {
        self.sum(|w| &w.misses)
    }

    /// CORS preflights answered by the rule set's policy so far.
    pub fn preflights(&self) -> u64 {
        self.sum(|w| &w.preflights)
    }

    /// Journal entries passing `query`, newest first (at most `query.limit`).
    pub fn journal(&self, query: &JournalQuery) -> Vec<JournalEntry> {
        journal::newest(self.workers.iter().map(|w| &w.journal), query, None)
    }

    /// A cursor at the newest journal entries now: [`SharedStats::journal_since`] with it gives
    /// only entries recorded from now on.
    pub fn journal_cursor(&self) -> JournalCursor {
        JournalCursor(self.workers.iter().map(|w| w.journal.newest()).collect())
    }

    /// The journal entries recorded since `cursor` was last moved, newest first, at most
    /// `limit`; moves `cursor` past every entry recorded so far (those beyond `limit` are
    /// skipped, not kept for later).
    pub fn journal_since(&self, cursor: &mut JournalCursor, limit: usize) -> Vec<JournalEntry> {
        let query = JournalQuery { limit, ..JournalQuery::default() };
        journal::newest(self.workers.iter().map(|w| &w.journal), &query, Some(cursor))
    }

    /// Empties every worker's journal for the journal reset of epoch `epoch`, then records
    /// the epoch: a reader that sees it (a report) reads no entry recorded before the reset.
    pub fn reset_journal(&self, epoch: u64) {
        for w in self.workers.iter() {
            w.journal.clear();
        }
        self.adopt_journal_epoch(epoch);
    }

    /// Records `epoch` as applied without emptying anything: for the first rules a data plane
    /// installs, which bring the environment's epochs but find nothing from before them.
    pub fn adopt_journal_epoch(&self, epoch: u64) {
        self.journal_epoch.fetch_max(epoch, Ordering::AcqRel);
    }

    /// The newest journal reset applied: entries read after this call were recorded after it.
    pub fn journal_epoch(&self) -> u64 {
        self.journal_epoch.load(Ordering::Acquire)
    }

    /// The Prometheus text exposition of everything.
    pub fn prometheus(&self, snapshot: Option<&Snapshot>) -> String {
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let _ = writeln!(out, "# HELP mockplane_requests_total Requests answered, by rule and status class (rule=\"\" for misses).");
        let _ = writeln!(out, "# TYPE mockplane_requests_total counter");
        for (rule, counts) in &self.store.rule_counts() {
            for (class, c) in STATUS_CLASSES.iter().zip(counts) {
                if *c > 0 {
                    let _ = writeln!(
                        out,
                        "mockplane_requests_total{{rule=\"{}\",status=\"{class}\"}} {c}",
                        escape_label(rule)
                    );
                }
            }
        }
        for (i, class) in STATUS_CLASSES.iter().enumerate() {
            let c = self.sum(|w| &w.misses_by_class[i]);
            if c > 0 {
                let _ = writeln!(out, "mockplane_requests_total{{rule=\"\",status=\"{class}\"}} {c}");
            }
        }
        counter(&mut out, "mockplane_misses_total", "Requests no rule matched.", self.misses());
        counter(
            &mut out,
            "mockplane_cors_preflights_total",
            "CORS preflights answered by the rule set's cors block, without a rule.",
            self.preflights(),
        );
        counter(
            &mut out,
            "mockplane_refused_total",
            "Requests refused by the HTTP codec (400, 413, 431, 501, 505).",
            self.sum(|w| &w.refused),
        );
        counter(&mut out, "mockplane_received_bytes_total", "Request bytes read.", self.sum(|w| &w.bytes_in));
        counter(
            &mut out,
            "mockplane_sent_bytes_total",
            "Response bytes written.",
            self.sum(|w| &w.bytes_out),
        );
        let accepted: u64 = self.accepted.iter().map(|a| a.load(Ordering::Relaxed)).sum();
        counter(&mut out, "mockplane_connections_accepted_total", "Connections accepted.", accepted);
        let open: i64 = self.open_connections.iter().map(|a| a.load(Ordering::Relaxed)).sum();
        let _ = writeln!(out, "# HELP mockplane_open_connections Connections open now.\n# TYPE mockplane_open_connections gauge\nmockplane_open_connections {open}");

        let _ = writeln!(
            out,
            "# HELP mockplane_request_duration_seconds Time from a complete request head to its answer."
        );
        let _ = writeln!(out, "# TYPE mockplane_request_duration_seconds histogram");
        let mut cumulative = 0;
        for (i, bound_us) in LATENCY_BOUNDS_US.iter().enumerate() {
            cumulative += self.sum(|w| &w.latency.buckets[i]);
            let _ = writeln!(
                out,
                "mockplane_request_duration_seconds_bucket{{le=\"{}\"}} {cumulative}",
                *bound_us as f64 / 1e6
            );
        }
        let count = cumulative + self.sum(|w| &w.latency.buckets[LATENCY_BOUNDS_US.len()]);
        let _ = writeln!(out, "mockplane_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}");
        let sum_s = self.sum(|w| &w.latency.sum_us) as f64 / 1e6;
        let _ = writeln!(out, "mockplane_request_duration_seconds_sum {sum_s}");
        let _ = writeln!(out, "mockplane_request_duration_seconds_count {count}");

        let version = snapshot.map_or(0, |s| s.version);
        let _ = writeln!(out, "# HELP mockplane_config_version Version of the rules in force (0: none yet).\n# TYPE mockplane_config_version gauge\nmockplane_config_version {version}");
        let rules = snapshot.map_or(0, |s| s.table.len());
        let _ = writeln!(
            out,
            "# HELP mockplane_rules Rules in force.\n# TYPE mockplane_rules gauge\nmockplane_rules {rules}"
        );
        let _ = writeln!(
            out,
            "# HELP mockplane_workers Worker threads.\n# TYPE mockplane_workers gauge\nmockplane_workers {}",
            self.open_connections.len()
        );
        if let Some(driver) = *self.driver.lock().unwrap_or_else(|p| p.into_inner()) {
            let _ = writeln!(out, "# HELP mockplane_io_driver_info The I/O driver the workers run on.\n# TYPE mockplane_io_driver_info gauge\nmockplane_io_driver_info{{driver=\"{}\",flags=\"{}\"}} 1", driver.name(), driver.flags());
        }
        out
    }
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockplane_rules::{Format, RuleSet};

    fn metric(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    fn install(store: &SnapshotStore, ids: &[&str]) -> Arc<Snapshot> {
        let yaml: String =
            ids.iter().map(|id| format!("  - {{ id: {id}, response: {{ body: x }} }}\n")).collect();
        let rules = RuleSet::parse(&format!("rules:\n{yaml}"), Format::Yaml).unwrap();
        store.install(rules, "test".into(), None).unwrap();
        store.load().unwrap()
    }

    #[test]
    fn counters_and_latency_buckets_add_up_across_workers() {
        let stats = SharedStats::new(2, 0, SnapshotStore::new());
        let (w0, w1) = (stats.worker(0), stats.worker(1));
        w0.record(None, None, 404, Duration::from_micros(10));
        w0.record(None, None, 503, Duration::from_micros(50));
        w1.record(None, None, 404, Duration::from_micros(51));
        w1.record(None, None, 0, Duration::from_secs(20));
        w1.refused.add(2);
        w0.bytes_in.add(100);
        w1.bytes_in.add(23);
        assert_eq!((stats.requests(), stats.misses()), (4, 4));
        let text = stats.prometheus(None);
        for (series, want) in [
            (r#"mockplane_requests_total{rule="",status="4xx"}"#, 2.0),
            (r#"mockplane_requests_total{rule="",status="5xx"}"#, 1.0),
            (r#"mockplane_requests_total{rule="",status="fault"}"#, 1.0),
            ("mockplane_refused_total", 2.0),
            ("mockplane_received_bytes_total", 123.0),
            // `le` bounds include the bound itself.
            (r#"mockplane_request_duration_seconds_bucket{le="0.00005"}"#, 2.0),
            (r#"mockplane_request_duration_seconds_bucket{le="0.0001"}"#, 3.0),
            (r#"mockplane_request_duration_seconds_bucket{le="10"}"#, 3.0),
            (r#"mockplane_request_duration_seconds_bucket{le="+Inf"}"#, 4.0),
            ("mockplane_request_duration_seconds_count", 4.0),
            ("mockplane_request_duration_seconds_sum", 20.000111),
        ] {
            assert_eq!(metric(&text, series), Some(want), "{series} in\n{text}");
        }
    }

    /// Hits are counted in the table that served them: a request that began on a replaced
    /// table and ends after the swap still counts, and freeing the table loses nothing.
    #[test]
    fn hits_survive_swaps_and_the_freeing_of_old_tables_and_never_go_down() {
        let store = SnapshotStore::new();
        store.set_workers(2);
        let stats = SharedStats::new(2, 0, store.clone());
        let w = stats.worker(1);
        let v1 = install(&store, &["a", "b"]);
        w.record(Some(&v1), Some(0), 200, Duration::ZERO);
        w.record(Some(&v1), Some(1), 500, Duration::ZERO);
        let v2 = install(&store, &["b", "a"]);
        assert_eq!(store.retired(), 1, "v1 is still held here");
        w.record(Some(&v1), Some(0), 200, Duration::ZERO);
        w.record(Some(&v2), Some(1), 201, Duration::ZERO);
        stats.worker(0).record(Some(&v2), Some(0), 404, Duration::ZERO);
        let before = store.rule_counts();
        assert_eq!(before["a"], [0, 3, 0, 0, 0, 0]);
        assert_eq!(before["b"], [0, 0, 0, 1, 1, 0]);
        drop(v1);
        store.reap();
        assert_eq!(store.retired(), 0, "v1 was freed");
        assert_eq!(store.rule_counts(), before, "its counts were kept");
        assert_eq!(stats.rule_hits("a"), 3);
        assert_eq!(stats.rule_hit_totals(), [("a".to_owned(), 3), ("b".to_owned(), 2)]);
        let text = stats.prometheus(Some(&v2));
        assert_eq!(metric(&text, r#"mockplane_requests_total{rule="a",status="2xx"}"#), Some(3.0));
        assert_eq!(metric(&text, r#"mockplane_requests_total{rule="b",status="4xx"}"#), Some(1.0));
        assert_eq!((stats.requests(), stats.misses()), (5, 0));
    }

    /// Totals read while tables are swapped and freed under way never go down: a dip would
    /// read as a counter reset to Prometheus, and be reported twice to the control plane.
    #[test]
    fn hit_totals_read_during_swaps_never_go_down() {
        use std::sync::atomic::AtomicBool;
        let store = SnapshotStore::new();
        store.set_workers(1);
        let stats = SharedStats::new(1, 0, store.clone());
        install(&store, &["a"]);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let w = stats.worker(0);
                for i in 0..20_000 {
                    let table = store.load().unwrap();
                    w.record(Some(&table), Some(0), 200, Duration::ZERO);
                    if i % 1000 == 0 {
                        install(&store, &["a"]);
                    }
                }
                done.store(true, Ordering::Relaxed);
            });
            let mut last = 0;
            while !done.load(Ordering::Relaxed) {
                let now = stats.rule_hits("a");
                assert!(now >= last, "the total went from {last} down to {now}");
                last = now;
            }
        });
        store.reap();
        assert_eq!(stats.rule_hits("a"), 20_000);
    }
}
