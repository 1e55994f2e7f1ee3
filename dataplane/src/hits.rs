//! Hit counts per rule and status class, kept in the table that served them.
//!
//! Each snapshot carries its counters ([`RuleHits`]), reserved ([`crate::zeroed`]) when the snapshot is
//! built, off the request path, with one slab per worker. A worker adds to its own slab with a
//! plain load and store (it is the slab's only writer), which costs what a local integer
//! costs: a new table asks nothing of the worker, and nothing is copied or published later.
//! Readers sum the slabs of every table still alive ([`crate::snapshot::SnapshotStore`]
//! folds a table's counts into its totals by rule id when it frees the table, so counts
//! outlive the table and add up across versions).
//!
//! A worker without a slab of its own (a table installed before the data plane knew how many
//! workers it has) adds to a shared slab with read-modify-writes instead: slower, never lost.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;

use mockplane_rules::RuleTable;

use crate::stats::STATUS_CLASSES;

const CLASSES: usize = STATUS_CLASSES.len();

/// Hit counts by rule, per status class, in a slab per worker.
pub(crate) struct RuleHits {
    rules: usize,
    /// Workers with a slab of their own; the slab after theirs is the shared one.
    owned: usize,
    /// Words from one slab to the next: a slab and a gap of two cache lines, so that no two
    /// workers write the same line.
    stride: usize,
    counts: crate::zeroed::Atomics,
}

impl std::fmt::Debug for RuleHits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleHits").field("rules", &self.rules).field("owned", &self.owned).finish()
    }
}

impl RuleHits {
    /// Counters for a table of `rules` rules served by `workers` workers. Memory is reserved
    /// for all of them and backed only where a hit is counted ([`crate::zeroed`]).
    pub(crate) fn new(rules: usize, workers: usize) -> Self {
        let stride = rules * CLASSES + 16;
        let counts = crate::zeroed::Atomics::new(stride * (workers + 1));
        RuleHits { rules, owned: workers, stride, counts }
    }

    /// Counts a hit of rule `rule` in status class `class` by worker `worker`. Only worker
    /// `worker` calls this with its id.
    #[inline]
    pub(crate) fn add(&self, worker: usize, rule: usize, class: usize) {
        if rule >= self.rules || class >= CLASSES {
            return;
        }
        let slab = worker.min(self.owned);
        let counter = &self.counts[slab * self.stride + rule * CLASSES + class];
        if slab < self.owned {
            counter.store(counter.load(Relaxed) + 1, Relaxed);
        } else {
            counter.fetch_add(1, Relaxed);
        }
    }

    /// The counts of rule `rule`, summed over workers.
    fn rule(&self, rule: usize) -> [u64; CLASSES] {
        let mut sum = [0u64; CLASSES];
        for slab in 0..=self.owned {
            let at = slab * self.stride + rule * CLASSES;
            for (s, c) in sum.iter_mut().zip(&self.counts[at..at + CLASSES]) {
                *s += c.load(Relaxed);
            }
        }
        sum
    }

    /// Adds the counts of every rule that has any to `totals`, by the rule's id in `table`
    /// (the table these counters belong to).
    pub(crate) fn add_to(&self, table: &RuleTable, totals: &mut BTreeMap<String, [u64; CLASSES]>) {
        for i in 0..self.rules {
            let counts = self.rule(i);
            if counts.iter().any(|&c| c > 0) {
                if let Some(id) = table.rule_id(i) {
                    let total = totals.entry(id.to_owned()).or_default();
                    for (t, c) in total.iter_mut().zip(counts) {
                        *t += c;
                    }
                }
            }
            if i % 1024 == 1023 {
                // A table of 100,000 rules takes a few milliseconds to sum: let a worker
                // waiting for this core have it now and then (see `pace`).
                crate::pace::pause();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RuleTable {
        let rules = mockplane_rules::RuleSet::from_yaml(
            "rules:\n  - { id: a, response: { body: a } }\n  - { id: b, response: { body: b } }\n",
        )
        .unwrap();
        RuleTable::compile(&rules, &Default::default()).unwrap()
    }

    #[test]
    fn hits_add_up_across_workers_and_the_shared_slab_by_rule_id() {
        let table = table();
        let hits = RuleHits::new(2, 2);
        std::thread::scope(|s| {
            for worker in 0..2 {
                let hits = &hits;
                s.spawn(move || {
                    for _ in 0..1000 {
                        hits.add(worker, 1, 1);
                    }
                });
            }
            // Workers the table has no slab for share one.
            for worker in [2, 3] {
                let hits = &hits;
                s.spawn(move || {
                    for _ in 0..1000 {
                        hits.add(worker, 1, 1);
                    }
                });
            }
        });
        hits.add(0, 0, 4);
        hits.add(0, 7, 0);
        let mut totals = BTreeMap::from([("a".to_owned(), [1, 0, 0, 0, 0, 0])]);
        hits.add_to(&table, &mut totals);
        assert_eq!(totals["a"], [1, 0, 0, 0, 1, 0]);
        assert_eq!(totals["b"], [0, 4000, 0, 0, 0, 0]);
        assert_eq!(totals.len(), 2, "a rule out of the table counts nothing");
    }
}
