//! The figures of an environment's data planes, from their reports, for the GraphQL API's
//! `metrics`: requests, hits per rule, misses, and latency percentiles, in total and per node.
//!
//! Latency travels on the report stream as the increase of each data plane's own request
//! duration histogram since its previous report (`Report.latency`); the control plane adds
//! them up per node. A percentile is read off the buckets: it is the upper bound of the bucket
//! the request at that rank fell in (so `p99_us: 2500` says that 99% of the requests took at
//! most 2.5 ms, by the data plane's clock from a complete request head to the answer being
//! ready, its delay included), never finer than the buckets (50 µs to 10 s, docs/operations.md).
//! Everything counts from when this control plane started, or since the node first reported.

use std::collections::BTreeMap;

use mockplane_proto::report::Latency;

use crate::reports::ReportStore;

/// Buckets a report's histogram may have at most; one with more, or whose counts do not fit
/// its bounds, is left out (its requests are still counted by their hits and misses).
const MAX_BUCKETS: usize = 64;

/// A request duration histogram, added up from reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Histogram {
    /// Upper bounds, ascending, in µs.
    bounds_us: Vec<u64>,
    /// A count per bound, then one past the last.
    counts: Vec<u64>,
    sum_us: u64,
}

impl Histogram {
    /// Adds a report's increase. A histogram with other bounds than those held (a data plane
    /// upgraded to other buckets) starts this one over; a malformed one is left out.
    pub(crate) fn add(&mut self, latency: &Latency) {
        let Latency { bounds_us, counts, sum_us } = latency;
        let well_formed = counts.len() == bounds_us.len() + 1
            && counts.len() <= MAX_BUCKETS
            && bounds_us.windows(2).all(|w| w[0] < w[1]);
        if !well_formed {
            return;
        }
        if self.bounds_us != *bounds_us {
            *self = Histogram { bounds_us: bounds_us.clone(), counts: vec![0; counts.len()], sum_us: 0 };
        }
        for (held, n) in self.counts.iter_mut().zip(counts) {
            *held = held.saturating_add(*n);
        }
        self.sum_us = self.sum_us.saturating_add(*sum_us);
    }

    /// Adds `other` when it has the same buckets (or this one has none yet).
    pub(crate) fn merge(&mut self, other: &Histogram) {
        if self.counts.is_empty() {
            self.clone_from(other);
        } else if self.bounds_us == other.bounds_us {
            for (held, n) in self.counts.iter_mut().zip(&other.counts) {
                *held = held.saturating_add(*n);
            }
            self.sum_us = self.sum_us.saturating_add(other.sum_us);
        }
    }

    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, n| a.saturating_add(*n))
    }

    /// The upper bound of the bucket the request of rank `q` (0 < q ≤ 1) fell in; the last
    /// bound for a request past it. `None` when there were none.
    fn quantile_us(&self, q: f64) -> Option<u64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0u64;
        for (i, n) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(*n);
            if seen >= rank {
                return self.bounds_us.get(i).or(self.bounds_us.last()).copied();
            }
        }
        self.bounds_us.last().copied()
    }

    fn summary(&self) -> LatencySummary {
        let count = self.count();
        LatencySummary {
            count,
            mean_us: (count > 0).then(|| self.sum_us / count),
            p50_us: self.quantile_us(0.50),
            p90_us: self.quantile_us(0.90),
            p99_us: self.quantile_us(0.99),
            max_bucket_us: self.counts.iter().rposition(|&n| n > 0).and_then(|i| {
                // Past the last bound there is no upper bound to give.
                self.bounds_us.get(i).copied()
            }),
        }
    }
}

/// Request durations in summary, in microseconds; the percentiles are buckets' upper bounds
/// (see the module's documentation). `None` where no request was timed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencySummary {
    /// Requests timed.
    pub count: u64,
    /// Their mean duration (exact: from the sum of the durations).
    pub mean_us: Option<u64>,
    /// Half the requests took at most this.
    pub p50_us: Option<u64>,
    /// 90% took at most this.
    pub p90_us: Option<u64>,
    /// 99% took at most this.
    pub p99_us: Option<u64>,
    /// The upper bound of the slowest bucket that has a request; `None` also when the slowest
    /// took longer than the last bound (10 s).
    pub max_bucket_us: Option<u64>,
}

/// What the control plane keeps per node, beside its hits per rule.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeState {
    pub(crate) misses: u64,
    pub(crate) latency: Histogram,
    pub(crate) last_report_ms: u64,
}

/// One data plane's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFigures {
    /// Its node id.
    pub node: String,
    /// Requests it answered (those timed: every answered request, CORS preflights included;
    /// 0 from a data plane too old to send its latency).
    pub requests: u64,
    /// Requests a rule answered.
    pub hits: u64,
    /// Requests no rule answered.
    pub misses: u64,
    /// How long its requests took.
    pub latency: LatencySummary,
    /// When its last report was taken, in milliseconds since 1970.
    pub last_report_ms: u64,
}

/// One rule's hits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleFigures {
    /// The rule's id.
    pub rule: String,
    /// Its hits across every node, nodes since forgotten included.
    pub hits: u64,
    /// Its hits per node the registry holds.
    pub by_node: BTreeMap<String, u64>,
}

/// An environment's figures, from every report taken since the control plane started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Requests answered across every node (see [`NodeFigures::requests`]), nodes since
    /// forgotten included.
    pub requests: u64,
    /// Hits of every rule, across every node.
    pub hits: u64,
    /// Requests no rule answered, across every node.
    pub misses: u64,
    /// Hits reported for rule ids the environment never had.
    pub untracked_hits: u64,
    /// Every rule with hits, by id.
    pub rules: Vec<RuleFigures>,
    /// Every node that reported and that the registry still holds, by id.
    pub nodes: Vec<NodeFigures>,
    /// How long the requests took, across every node (those of a data plane whose buckets
    /// differ from the others', from another release, are left out).
    pub latency: LatencySummary,
}

impl ReportStore {
    /// The figures of `environment`: totals, hits per rule (in total and per node), and per
    /// node its requests, hits, misses and latency percentiles. An environment nobody
    /// reported on has all zero.
    pub fn metrics(&self, environment: &str) -> Metrics {
        self.read(environment, |env| {
            let mut rules: Vec<RuleFigures> = env
                .hits
                .iter()
                .map(|(rule, h)| RuleFigures {
                    rule: rule.clone(),
                    hits: h.by_node.values().fold(h.departed, |a, n| a.saturating_add(*n)),
                    by_node: h.by_node.clone(),
                })
                .collect();
            rules.sort_by(|a, b| a.rule.cmp(&b.rule));
            let mut latency = env.departed_latency.clone();
            let mut nodes: Vec<NodeFigures> = env
                .nodes
                .iter()
                .map(|(node, state)| {
                    latency.merge(&state.latency);
                    let hits = env.hits.values().filter_map(|h| h.by_node.get(node)).sum();
                    let summary = state.latency.summary();
                    NodeFigures {
                        node: node.clone(),
                        requests: summary.count,
                        hits,
                        misses: state.misses,
                        latency: summary,
                        last_report_ms: state.last_report_ms,
                    }
                })
                .collect();
            nodes.sort_by(|a, b| a.node.cmp(&b.node));
            let requests = nodes.iter().fold(env.departed_requests, |a, n| a.saturating_add(n.requests));
            Metrics {
                requests,
                hits: rules.iter().fold(0u64, |a, r| a.saturating_add(r.hits)),
                misses: env.misses,
                untracked_hits: env.untracked,
                rules,
                nodes,
                latency: latency.summary(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latency(counts: &[u64], sum_us: u64) -> Latency {
        Latency { bounds_us: vec![100, 1_000, 10_000], counts: counts.to_vec(), sum_us }
    }

    #[test]
    fn percentiles_are_the_upper_bounds_of_the_buckets_their_requests_fell_in() {
        let mut h = Histogram::default();
        assert_eq!(h.summary(), LatencySummary::default());
        h.add(&latency(&[90, 0, 0, 0], 4_500));
        h.add(&latency(&[0, 9, 1, 0], 20_000));
        let s = h.summary();
        assert_eq!((s.count, s.mean_us), (100, Some(245)));
        assert_eq!((s.p50_us, s.p90_us, s.p99_us), (Some(100), Some(100), Some(1_000)));
        assert_eq!(s.max_bucket_us, Some(10_000));
        // Past the last bound: the last bound, and no upper bound for the slowest.
        h.add(&latency(&[0, 0, 0, 100], 2_000_000_000));
        let s = h.summary();
        assert_eq!((s.p50_us, s.p99_us, s.max_bucket_us), (Some(10_000), Some(10_000), None));
    }

    #[test]
    fn metrics_add_up_per_node_and_keep_a_forgotten_node_in_the_totals() {
        use mockplane_proto::report::{Report, RuleHits};
        use mockplane_rules::{Format, RuleSet};
        let cache = crate::cache::SnapshotCache::new();
        let text = "rules:\n  - { id: a, response: {} }\n  - { id: b, response: {} }\n";
        let v1 = cache.set("shop/staging", RuleSet::parse(text, Format::Yaml).unwrap(), None).unwrap();
        let store = ReportStore::new();
        let report = |hits: &[(&str, u64)], misses, counts: &[u64]| Report {
            hits: hits.iter().map(|(r, n)| RuleHits { rule_id: (*r).into(), count: *n }).collect(),
            misses,
            latency: Some(latency(counts, 0)),
            ..Default::default()
        };
        store.add(&v1, "dp-1", &report(&[("a", 3), ("b", 1)], 1, &[5, 0, 0, 0]));
        store.add(&v1, "dp-1", &report(&[("a", 2)], 0, &[0, 2, 0, 0]));
        store.add(&v1, "dp-2", &report(&[("b", 4)], 2, &[0, 0, 6, 0]));
        let m = store.metrics("shop/staging");
        assert_eq!((m.requests, m.hits, m.misses, m.untracked_hits), (13, 10, 3, 0));
        let by_rule: Vec<(&str, u64)> = m.rules.iter().map(|r| (r.rule.as_str(), r.hits)).collect();
        assert_eq!(by_rule, [("a", 5), ("b", 5)]);
        assert_eq!(m.rules[1].by_node.get("dp-2"), Some(&4));
        let dp1 = &m.nodes[0];
        assert_eq!((dp1.node.as_str(), dp1.requests, dp1.hits, dp1.misses), ("dp-1", 7, 6, 1));
        assert_eq!((dp1.latency.p50_us, dp1.latency.p99_us), (Some(100), Some(1_000)));
        assert!(dp1.last_report_ms > 1_600_000_000_000);
        assert_eq!(m.nodes[1].latency.p50_us, Some(10_000));
        assert_eq!((m.latency.count, m.latency.p50_us), (13, Some(1_000)));
        // A node the registry forgets leaves the per-node figures, not the totals.
        store.forget_node("shop/staging", "dp-1");
        let m = store.metrics("shop/staging");
        assert_eq!((m.requests, m.hits, m.misses, m.latency.count), (13, 10, 3, 13));
        assert_eq!(m.nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(), ["dp-2"]);
        assert_eq!(store.metrics("shop/prod"), Metrics::default());
    }

    #[test]
    fn a_malformed_histogram_is_left_out_and_other_bounds_start_over() {
        let mut h = Histogram::default();
        h.add(&latency(&[1, 2, 3, 4], 10));
        h.add(&latency(&[1, 2, 3], 10)); // one count short
        h.add(&Latency { bounds_us: vec![5, 5], counts: vec![1, 1, 1], sum_us: 3 }); // not ascending
        let too_many = Latency { bounds_us: (1..100).collect(), counts: vec![1; 100], sum_us: 1 };
        h.add(&too_many);
        assert_eq!(h.summary().count, 10);
        h.add(&Latency { bounds_us: vec![50], counts: vec![3, 0], sum_us: 30 });
        assert_eq!((h.summary().count, h.summary().p99_us), (3, Some(50)));
    }
}
