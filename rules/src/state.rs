//! Mutable state shared by every worker thread: scenario states, per-rule hit counters (for
//! sequences, `{{counter}}` and step delays) and "serve N times" budgets.
//!
//! It lives outside the compiled table, in atomics, so that a table swap keeps it: a rule that
//! is unchanged in the new table finds the same counters (they are keyed by rule id and a
//! fingerprint of the rule's content), and scenarios are keyed by name. The store's map is only
//! touched when a table is compiled; requests reach their atomics through `Arc`s the compiled
//! rules hold, with no lock and no lookup.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::model::{Scenario, SCENARIO_STARTED};

/// The counters of one rule.
#[derive(Debug)]
pub(crate) struct RuleCounters {
    /// How many times the rule has been served.
    pub(crate) hits: AtomicU64,
    /// How many more times it may be served (`times`), when limited.
    pub(crate) remaining: AtomicU64,
    /// The budget `remaining` starts from (`u64::MAX` when unlimited).
    limit: u64,
    /// The fingerprint of the rule's content, the second half of the key these counters are
    /// kept under (with the rule's id).
    pub(crate) fingerprint: u64,
}

/// The state of one scenario: the id of its current state name, and of the state it starts
/// in (and a reset puts it back in).
#[derive(Debug)]
pub(crate) struct ScenarioSlot {
    pub(crate) state: AtomicU32,
    initial: AtomicU32,
}

#[derive(Debug, Default)]
struct Inner {
    rules: HashMap<(String, u64), Arc<RuleCounters>>,
    scenarios: HashMap<String, Arc<ScenarioSlot>>,
    /// State names, interned; ids are stable for the life of the store. Id 0 is `Started`.
    state_names: Vec<String>,
    state_ids: HashMap<String, u32>,
}

/// Shared state that outlives any one compiled table. Clone it to share it.
#[derive(Debug, Clone, Default)]
pub struct StateStore {
    inner: Arc<Mutex<Inner>>,
}

impl StateStore {
    /// An empty store: every scenario in `Started`, every counter at zero.
    pub fn new() -> Self {
        StateStore::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave the maps inconsistent (each operation
        // is a single insert or lookup), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn state_id(&self, name: &str) -> u32 {
        let mut inner = self.lock();
        intern(&mut inner, name)
    }

    pub(crate) fn scenario(&self, name: &str) -> Arc<ScenarioSlot> {
        let mut inner = self.lock();
        let started = intern(&mut inner, SCENARIO_STARTED);
        inner
            .scenarios
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(ScenarioSlot { state: AtomicU32::new(started), initial: AtomicU32::new(started) })
            })
            .clone()
    }

    /// Gives each scenario the initial state `declared` names (`Started` when it names none).
    /// A scenario whose initial state this changes is put in its new initial state at once:
    /// changing where a scenario starts restarts it there. The others keep their state.
    pub(crate) fn set_initial_states(&self, declared: &BTreeMap<String, Scenario>) {
        let mut inner = self.lock();
        let started = intern(&mut inner, SCENARIO_STARTED);
        let initials: HashMap<&str, u32> =
            declared.iter().map(|(name, s)| (name.as_str(), intern(&mut inner, &s.initial))).collect();
        for name in declared.keys() {
            // The slots of scenarios no rule has used yet, so that they start where declared.
            inner.scenarios.entry(name.clone()).or_insert_with(|| {
                Arc::new(ScenarioSlot { state: AtomicU32::new(started), initial: AtomicU32::new(started) })
            });
        }
        for (name, slot) in &inner.scenarios {
            let initial = initials.get(name.as_str()).copied().unwrap_or(started);
            if slot.initial.swap(initial, Ordering::AcqRel) != initial {
                slot.state.store(initial, Ordering::Release);
            }
        }
    }

    pub(crate) fn counters(&self, rule_id: &str, fingerprint: u64, times: Option<u64>) -> Arc<RuleCounters> {
        let mut inner = self.lock();
        inner
            .rules
            .entry((rule_id.to_owned(), fingerprint))
            .or_insert_with(|| {
                Arc::new(RuleCounters {
                    hits: AtomicU64::new(0),
                    remaining: AtomicU64::new(times.unwrap_or(u64::MAX)),
                    limit: times.unwrap_or(u64::MAX),
                    fingerprint,
                })
            })
            .clone()
    }

    /// The counters a fresh compile of rule `rule_id` gets, for a rule that was compiled with
    /// `old`: the same rule (same id, same content) finds the same counters, or new ones if
    /// they were forgotten in between.
    pub(crate) fn counters_like(&self, rule_id: &str, old: &RuleCounters) -> Arc<RuleCounters> {
        let times = (old.limit != u64::MAX).then_some(old.limit);
        self.counters(rule_id, old.fingerprint, times)
    }

    /// Whether `self` and `other` are the same store (clones of one another).
    pub(crate) fn same(&self, other: &StateStore) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Forgets counters of rules that are no longer in force. Tables still serving keep theirs
    /// through their own `Arc`s until they are dropped.
    pub(crate) fn retain_rules(&self, keep: &std::collections::HashSet<(String, u64)>) {
        self.lock().rules.retain(|k, _| keep.contains(k));
    }

    /// The current state of a scenario (`Started` for one never seen).
    pub fn scenario_state(&self, scenario: &str) -> String {
        let inner = self.lock();
        match inner.scenarios.get(scenario) {
            Some(slot) => {
                let id = slot.state.load(Ordering::Acquire) as usize;
                inner.state_names.get(id).cloned().unwrap_or_default()
            }
            None => SCENARIO_STARTED.to_owned(),
        }
    }

    /// Every known scenario and its state, sorted by name.
    pub fn scenarios(&self) -> Vec<(String, String)> {
        let inner = self.lock();
        let mut out: Vec<_> = inner
            .scenarios
            .iter()
            .map(|(name, slot)| {
                let id = slot.state.load(Ordering::Acquire) as usize;
                (name.clone(), inner.state_names.get(id).cloned().unwrap_or_default())
            })
            .collect();
        out.sort();
        out
    }

    /// Puts a scenario in a state (an operator's "reset to X").
    pub fn set_scenario_state(&self, scenario: &str, state: &str) {
        let slot = self.scenario(scenario);
        let id = self.state_id(state);
        slot.state.store(id, Ordering::Release);
    }

    /// Puts every scenario back in its initial state (`Started` unless the rule set's
    /// `scenarios` says otherwise) and every counter and budget back at its start.
    pub fn reset(&self) {
        let inner = self.lock();
        for slot in inner.scenarios.values() {
            slot.state.store(slot.initial.load(Ordering::Acquire), Ordering::Release);
        }
        for counters in inner.rules.values() {
            counters.hits.store(0, Ordering::Release);
            counters.remaining.store(counters.limit, Ordering::Release);
        }
    }
}

fn intern(inner: &mut Inner, name: &str) -> u32 {
    if inner.state_names.is_empty() {
        inner.state_names.push(SCENARIO_STARTED.to_owned());
        inner.state_ids.insert(SCENARIO_STARTED.to_owned(), 0);
    }
    if let Some(&id) = inner.state_ids.get(name) {
        return id;
    }
    let id = inner.state_names.len() as u32;
    inner.state_names.push(name.to_owned());
    inner.state_ids.insert(name.to_owned(), id);
    id
}
