//! `explain`: for every rule, whether it matches a request and, if not, the first predicate that
//! failed, what it expected and what the request had. Near misses are ranked: rules whose path
//! fits the request first, then by how much of the rule held.
//!
//! Two ways in, one set of checks ([`checks`]):
//! - [`RuleTable::explain`] checks every rule: for an operator who asks (an admin query, a
//!   request that asks for it). Its cost grows with the table.
//! - [`RuleTable::near_misses`] is what a default 404 uses: it checks only the rules a path
//!   lookup reaches (same exact path, template or prefix, any method), at most
//!   [`NEAR_MISS_CHECKS`] of them, scores them without building any text, and describes only
//!   the few it keeps. Its cost does not grow with the table.
//!
//! Neither changes shared state: explaining a request claims no budget and moves no scenario.

mod checks;

use serde::Serialize;

use crate::compile::CompiledRule;
use crate::path::Candidates;
use crate::request::RequestContext;
use crate::table::RuleTable;
use checks::{check_rule, FirstFailure, Score};

/// The most rules [`RuleTable::near_misses`] checks for one request.
pub const NEAR_MISS_CHECKS: usize = 16;

/// Why one rule did or did not match.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleVerdict {
    /// The rule's id.
    pub rule_id: String,
    /// Its position in the rule set.
    pub index: usize,
    /// Whether every predicate held (the rule may still lose to a higher-ranked one).
    pub matched: bool,
    /// The first predicate that failed, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Mismatch>,
    /// How many of the rule's predicates held.
    pub passed: usize,
    /// How many predicates the rule has.
    pub total: usize,
    /// Whether the rule's path (if it has one) fits the request: a rule for another path is
    /// a far miss whatever else holds.
    pub path_matched: bool,
}

/// A predicate that failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    /// Where the predicate is in the rule: `match.path`, `match.headers.x-token`, `scenario.state`.
    pub predicate: String,
    /// What it requires.
    pub expected: String,
    /// What the request had.
    pub actual: String,
}

/// The explanation of one request against a whole table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The rule that would serve the request now, if any.
    pub selected: Option<String>,
    /// Every rule, in rule-set order.
    pub rules: Vec<RuleVerdict>,
}

/// The closest rules to a request that none serves, found from the path index.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearMisses {
    /// The closest rules that did not match, closest first, each with what it lacked.
    pub rules: Vec<RuleVerdict>,
    /// How many rules were checked.
    pub checked: usize,
    /// Whether the path lookup reached more rules than [`NEAR_MISS_CHECKS`], so that some
    /// were not checked.
    pub truncated: bool,
}

/// What ranks a near miss: whether its path fits, predicates held, predicates in all, its
/// position in the rule set.
type Closeness = (bool, usize, usize, usize);

/// How close a rule came, for ranking: path fits, then most predicates held, then the larger
/// share of the rule held, then rule-set order (`Less`: `a` is closer).
fn closeness(a: Closeness, b: Closeness) -> std::cmp::Ordering {
    let (a_path, a_passed, a_total, a_index) = a;
    let (b_path, b_passed, b_total, b_index) = b;
    b_path
        .cmp(&a_path)
        .then_with(|| b_passed.cmp(&a_passed))
        .then_with(|| (b_passed * a_total.max(1)).cmp(&(a_passed * b_total.max(1))))
        .then_with(|| a_index.cmp(&b_index))
}

impl RuleVerdict {
    fn closeness_key(&self) -> Closeness {
        (self.path_matched, self.passed, self.total, self.index)
    }
}

impl Explanation {
    /// Up to `n` rules that did not match, the closest first: those whose path fits, then most
    /// predicates held, then the larger share of the rule held, then rule-set order.
    pub fn near_misses(&self, n: usize) -> Vec<&RuleVerdict> {
        let mut misses: Vec<&RuleVerdict> = self.rules.iter().filter(|v| !v.matched).collect();
        misses.sort_by(|a, b| closeness(a.closeness_key(), b.closeness_key()));
        misses.truncate(n);
        misses
    }
}

impl RuleTable {
    /// Explains how every rule fares against `cx`, without changing any state.
    pub fn explain(&self, cx: &RequestContext<'_>) -> Explanation {
        let mut rank_of = vec![None; self.rules.len()];
        for (rank, &i) in self.routing.by_rank.iter().enumerate() {
            rank_of[i as usize] = Some(rank);
        }
        let mut best: Option<(usize, &str)> = None;
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                let verdict = verdict(rule, index, cx);
                if verdict.matched {
                    if let Some(rank) = rank_of[index] {
                        if best.is_none_or(|(b, _)| rank < b) {
                            best = Some((rank, &rule.id));
                        }
                    }
                }
                verdict
            })
            .collect();
        Explanation { selected: best.map(|(_, id)| id.to_owned()), rules }
    }

    /// Up to `keep` of the rules closest to matching `cx`, among those a path lookup reaches
    /// (any method), checking at most [`NEAR_MISS_CHECKS`] of them in selection order. Meant
    /// for a request that no rule serves; a rule that does match is left out. Allocates only
    /// the verdicts it returns.
    pub fn near_misses(&self, cx: &RequestContext<'_>, keep: usize) -> NearMisses {
        let mut ranks = Candidates::new();
        let truncated = self
            .routing
            .index
            .candidates_upto(|| cx.host(), cx.req.path, NEAR_MISS_CHECKS, &mut ranks)
            .is_break();
        ranks.sort_unstable();
        // The closest so far, closest first: a handful, kept inline.
        let mut kept: smallvec::SmallVec<[(Closeness, u32); 4]> = smallvec::SmallVec::new();
        for &rank in &ranks {
            let index = self.routing.by_rank[rank as usize];
            let mut score = Score::default();
            let path_matched = check_rule(&self.rules[index as usize], cx, &mut score);
            if score.matched() {
                continue;
            }
            let key = (path_matched, score.passed as usize, score.total as usize, index as usize);
            let at = kept.partition_point(|(k, _)| closeness(*k, key).is_lt());
            if at < keep {
                kept.insert(at, (key, index));
                kept.truncate(keep);
            }
        }
        NearMisses {
            rules: kept.iter().map(|&(_, i)| verdict(&self.rules[i as usize], i as usize, cx)).collect(),
            checked: ranks.len(),
            truncated,
        }
    }
}

fn verdict(rule: &CompiledRule, index: usize, cx: &RequestContext<'_>) -> RuleVerdict {
    let mut tally = FirstFailure::default();
    let path_matched = check_rule(rule, cx, &mut tally);
    RuleVerdict {
        rule_id: rule.id.to_string(),
        index,
        matched: tally.failed.is_none(),
        failed: tally.failed,
        passed: tally.score.passed as usize,
        total: tally.score.total as usize,
        path_matched,
    }
}
