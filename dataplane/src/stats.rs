//! Counters, the latency histogram and the journal: recorded per worker without sharing, and
//! published to one readable aggregate on a timer.
//!
//! The hot path touches only its worker's [`LocalStats`] (plain integers behind a `RefCell` on
//! a single thread: no atomics, no locks). Every publish tick (100 ms) the worker adds its
//! deltas into [`SharedStats`] under a mutex that only the admin endpoints contend for, so
//! `/metrics` and `/journal` lag the traffic by at most one tick.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::driver::DriverKind;
use crate::journal::{JournalEntry, JournalQuery, Ring};
use crate::snapshot::Snapshot;

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

/// Latency histogram bounds: 1 µs to 1 hour, 2 significant figures (a few KiB per worker).
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid histogram bounds")
}

/// One worker's counters since its last publish.
pub(crate) struct LocalStats {
    pub(crate) requests: u64,
    pub(crate) misses: u64,
    /// CORS preflights answered by the rule set's policy, without a rule.
    pub(crate) preflights: u64,
    pub(crate) refused: u64,
    pub(crate) bytes_in: u64,
    pub(crate) bytes_out: u64,
    /// Per rule (by index in `by_rule_of`'s table) and status class.
    by_rule: Vec<[u64; 6]>,
    by_rule_of: Option<Arc<Snapshot>>,
    /// Counts of a previous table, waiting for the next publish.
    carried: Vec<(String, [u64; 6])>,
    misses_by_class: [u64; 6],
    latency: Histogram<u64>,
    pub(crate) journal: Ring,
}

impl LocalStats {
    pub(crate) fn new(journal_capacity: usize) -> Self {
        LocalStats {
            requests: 0,
            misses: 0,
            preflights: 0,
            refused: 0,
            bytes_in: 0,
            bytes_out: 0,
            by_rule: Vec::new(),
            by_rule_of: None,
            carried: Vec::new(),
            misses_by_class: [0; 6],
            latency: new_histogram(),
            journal: Ring::new(journal_capacity),
        }
    }

    /// Counts an answered request. `rule` is the rule's index in `snapshot`'s table.
    #[inline]
    pub(crate) fn record(
        &mut self,
        snapshot: &Arc<Snapshot>,
        rule: Option<usize>,
        status: u16,
        took: Duration,
    ) {
        self.requests += 1;
        let class = status_class(status);
        match rule {
            Some(i) => {
                if !self.by_rule_of.as_ref().is_some_and(|s| Arc::ptr_eq(s, snapshot)) {
                    self.rebind(snapshot);
                }
                self.by_rule[i][class] += 1;
            }
            None => {
                self.misses += 1;
                self.misses_by_class[class] += 1;
            }
        }
        let _ = self.latency.record((took.as_micros() as u64).max(1));
    }

    /// Counts a CORS preflight answered by the policy: a request, not a miss.
    pub(crate) fn record_preflight(&mut self, took: Duration) {
        self.requests += 1;
        self.preflights += 1;
        let _ = self.latency.record((took.as_micros() as u64).max(1));
    }

    /// Counts a request answered before any table was loaded.
    pub(crate) fn record_without_table(&mut self, status: u16, took: Duration) {
        self.requests += 1;
        self.misses += 1;
        self.misses_by_class[status_class(status)] += 1;
        let _ = self.latency.record((took.as_micros() as u64).max(1));
    }

    /// Counters are indexed by the rules of one table; a new table means new indexes. The old
    /// counts are kept by moving them to the shared aggregate first.
    #[cold]
    fn rebind(&mut self, snapshot: &Arc<Snapshot>) {
        let counts = self.take_rule_counts();
        self.carried.extend(counts);
        self.by_rule = vec![[0; 6]; snapshot.table.len()];
        self.by_rule_of = Some(snapshot.clone());
    }

    /// The non-zero per-rule counts of the current table, by rule id, zeroing them.
    fn take_rule_counts(&mut self) -> Vec<(String, [u64; 6])> {
        let Some(snapshot) = &self.by_rule_of else { return Vec::new() };
        let mut out = Vec::new();
        // Only the rules that were hit are looked up: reading every rule's id would touch each
        // compiled rule, cold memory, on the worker's request path once per new table.
        for (i, counts) in self.by_rule.iter_mut().enumerate() {
            if counts.iter().any(|&c| c > 0) {
                if let Some(id) = snapshot.table.rule_id(i) {
                    out.push((id.to_owned(), std::mem::take(counts)));
                }
            }
        }
        out
    }
}

/// What every worker has published, plus live gauges.
#[derive(Debug)]
pub struct SharedStats {
    inner: Mutex<Aggregate>,
    /// Open connections, per worker.
    pub(crate) open_connections: Vec<AtomicI64>,
    /// Accepted connections, per worker.
    pub(crate) accepted: Vec<AtomicU64>,
    /// The driver the workers run on.
    pub(crate) driver: Mutex<Option<DriverKind>>,
}

#[derive(Debug)]
struct Aggregate {
    requests: u64,
    misses: u64,
    preflights: u64,
    refused: u64,
    bytes_in: u64,
    bytes_out: u64,
    by_rule: BTreeMap<String, [u64; 6]>,
    misses_by_class: [u64; 6],
    latency: Histogram<u64>,
    journals: Vec<Ring>,
}

impl SharedStats {
    pub(crate) fn new(workers: usize, journal_capacity: usize) -> Arc<Self> {
        Arc::new(SharedStats {
            inner: Mutex::new(Aggregate {
                requests: 0,
                misses: 0,
                preflights: 0,
                refused: 0,
                bytes_in: 0,
                bytes_out: 0,
                by_rule: BTreeMap::new(),
                misses_by_class: [0; 6],
                latency: new_histogram(),
                journals: (0..workers).map(|_| Ring::new(journal_capacity)).collect(),
            }),
            open_connections: (0..workers).map(|_| AtomicI64::new(0)).collect(),
            accepted: (0..workers).map(|_| AtomicU64::new(0)).collect(),
            driver: Mutex::new(None),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Aggregate> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a worker's deltas and resets them.
    pub(crate) fn publish(&self, worker: usize, local: &mut LocalStats) {
        let mut rules = std::mem::take(&mut local.carried);
        rules.extend(local.take_rule_counts());
        let mut agg = self.lock();
        agg.requests += std::mem::take(&mut local.requests);
        agg.misses += std::mem::take(&mut local.misses);
        agg.preflights += std::mem::take(&mut local.preflights);
        agg.refused += std::mem::take(&mut local.refused);
        agg.bytes_in += std::mem::take(&mut local.bytes_in);
        agg.bytes_out += std::mem::take(&mut local.bytes_out);
        for (i, c) in std::mem::take(&mut local.misses_by_class).into_iter().enumerate() {
            agg.misses_by_class[i] += c;
        }
        for (id, counts) in rules {
            let entry = agg.by_rule.entry(id).or_insert([0; 6]);
            for (a, c) in entry.iter_mut().zip(counts) {
                *a += c;
            }
        }
        if !local.latency.is_empty() {
            let _ = agg.latency.add(&local.latency);
            local.latency.reset();
        }
        if let Some(ring) = agg.journals.get_mut(worker) {
            local.journal.drain_into(ring);
        }
    }

    /// Total requests answered so far (published).
    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// Hits of a rule so far (published), all statuses.
    pub fn rule_hits(&self, rule: &str) -> u64 {
        self.lock().by_rule.get(rule).map_or(0, |c| c.iter().sum())
    }

    /// Hits so far (published) of every rule that has any, by rule id.
    pub fn rule_hit_totals(&self) -> Vec<(String, u64)> {
        self.lock().by_rule.iter().map(|(id, c)| (id.clone(), c.iter().sum())).collect()
    }

    /// Requests no rule answered so far (published).
    pub fn misses(&self) -> u64 {
        self.lock().misses
    }

    /// CORS preflights answered by the rule set's policy so far (published).
    pub fn preflights(&self) -> u64 {
        self.lock().preflights
    }

    /// Journal entries passing `query`, newest first.
    pub fn journal(&self, query: &JournalQuery) -> Vec<JournalEntry> {
        let agg = self.lock();
        let mut all: Vec<JournalEntry> =
            agg.journals.iter().flat_map(|r| r.iter().rev().copied()).filter(|e| query.accepts(e)).collect();
        // Each ring is read newest first and the sort is stable, so entries of one worker
        // within the same millisecond stay newest first.
        all.sort_by_key(|e| std::cmp::Reverse(e.at_ms));
        all.truncate(query.limit);
        all
    }

    /// The Prometheus text exposition of everything.
    pub fn prometheus(&self, snapshot: Option<&Snapshot>) -> String {
        let agg = self.lock();
        let mut out = String::with_capacity(4096);
        let counter = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        let _ = writeln!(out, "# HELP mockplane_requests_total Requests answered, by rule and status class (rule=\"\" for misses).");
        let _ = writeln!(out, "# TYPE mockplane_requests_total counter");
        for (rule, counts) in &agg.by_rule {
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
        for (class, c) in STATUS_CLASSES.iter().zip(agg.misses_by_class) {
            if c > 0 {
                let _ = writeln!(out, "mockplane_requests_total{{rule=\"\",status=\"{class}\"}} {c}");
            }
        }
        counter(&mut out, "mockplane_misses_total", "Requests no rule matched.", agg.misses);
        counter(
            &mut out,
            "mockplane_cors_preflights_total",
            "CORS preflights answered by the rule set's cors block, without a rule.",
            agg.preflights,
        );
        counter(
            &mut out,
            "mockplane_refused_total",
            "Requests refused by the HTTP codec (400, 413, 431, 501, 505).",
            agg.refused,
        );
        counter(&mut out, "mockplane_received_bytes_total", "Request bytes read.", agg.bytes_in);
        counter(&mut out, "mockplane_sent_bytes_total", "Response bytes written.", agg.bytes_out);
        let accepted: u64 = self.accepted.iter().map(|a| a.load(Ordering::Relaxed)).sum();
        counter(&mut out, "mockplane_connections_accepted_total", "Connections accepted.", accepted);
        let open: i64 = self.open_connections.iter().map(|a| a.load(Ordering::Relaxed)).sum();
        let _ = writeln!(out, "# HELP mockplane_open_connections Connections open now.\n# TYPE mockplane_open_connections gauge\nmockplane_open_connections {open}");

        let _ = writeln!(
            out,
            "# HELP mockplane_request_duration_seconds Time from a complete request head to its answer."
        );
        let _ = writeln!(out, "# TYPE mockplane_request_duration_seconds histogram");
        let h = &agg.latency;
        for bound_us in [
            50u64, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
            1_000_000, 2_500_000, 10_000_000,
        ] {
            let count = h.count_between(0, bound_us);
            let _ = writeln!(
                out,
                "mockplane_request_duration_seconds_bucket{{le=\"{}\"}} {count}",
                bound_us as f64 / 1e6
            );
        }
        let _ = writeln!(out, "mockplane_request_duration_seconds_bucket{{le=\"+Inf\"}} {}", h.len());
        let sum_s = h.mean() * h.len() as f64 / 1e6;
        let _ = writeln!(out, "mockplane_request_duration_seconds_sum {sum_s}");
        let _ = writeln!(out, "mockplane_request_duration_seconds_count {}", h.len());

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
