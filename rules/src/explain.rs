//! `explain`: for every rule, whether it matches a request and, if not, the first predicate that
//! failed, what it expected and what the request had. Near misses are ranked: rules whose path
//! fits the request first, then by how much of the rule held.
//!
//! This is computed on demand (an admin query, or a 404 body) and never on the hot path. It
//! reads shared state but never changes it: explaining a request claims no budget and moves no
//! scenario.

use std::sync::atomic::Ordering;

use serde::Serialize;

use crate::compile::{ip_in, CompiledRule};
use crate::path::PathParams;
use crate::request::RequestContext;
use crate::table::RuleTable;

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

impl Explanation {
    /// Up to `n` rules that did not match, the closest first: those whose path fits, then most
    /// predicates held, then the larger share of the rule held, then rule-set order.
    pub fn near_misses(&self, n: usize) -> Vec<&RuleVerdict> {
        let mut misses: Vec<&RuleVerdict> = self.rules.iter().filter(|v| !v.matched).collect();
        misses.sort_by(|a, b| {
            b.path_matched
                .cmp(&a.path_matched)
                .then_with(|| b.passed.cmp(&a.passed))
                .then_with(|| (b.passed * a.total.max(1)).cmp(&(a.passed * b.total.max(1))))
                .then_with(|| a.index.cmp(&b.index))
        });
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
}

fn verdict(rule: &CompiledRule, index: usize, cx: &RequestContext<'_>) -> RuleVerdict {
    let req = cx.req;
    let mut checks: Vec<(String, bool, String, String)> = Vec::new();
    let mut check = |name: &str, ok: bool, expected: String, actual: String| {
        checks.push((name.to_owned(), ok, expected, actual));
    };
    // Only what the rule declares counts towards how close it came: "enabled" and "any
    // method" are not predicates a user wrote.
    if !rule.enabled {
        check("enabled", false, "the rule is enabled".into(), "disabled".into());
    }
    if !rule.methods.is_any() {
        check(
            "match.method",
            rule.methods.accepts(crate::compile::method_bit(req.method), req.method),
            rule.methods.describe(),
            req.method.into(),
        );
    }
    if let Some(host) = &rule.host {
        check(
            "match.host",
            host.matches(cx.host()),
            host.describe(),
            cx.host().unwrap_or("(no Host header)").into(),
        );
    }
    let mut path_matched = true;
    if let Some(path) = &rule.path {
        let mut params = PathParams::new();
        path_matched = path.matches(req.path, &mut params);
        check("match.path", path_matched, path.describe(), req.path.into());
    }
    if let Some(nets) = &rule.client_ip {
        let list: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
        check(
            "match.client_ip",
            ip_in(nets, req.client_ip),
            format!("client address in {}", list.join(", ")),
            req.client_ip.map_or("(unknown)".into(), |ip| ip.to_string()),
        );
    }
    for (name, m) in &rule.headers {
        let values: Vec<String> =
            req.header_values_by_bytes(name).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
        check(
            &crate::error::key_path("match.headers", &String::from_utf8_lossy(name)),
            m.matches(req.header_values_by_bytes(name)),
            m.describe(),
            shown(&values),
        );
    }
    for (name, m) in &rule.query {
        let values: Vec<String> = cx.query_values(name).map(str::to_owned).collect();
        check(
            &crate::error::key_path("match.query", name),
            m.matches(cx.query_values(name).map(str::as_bytes)),
            m.describe(),
            shown(&values),
        );
    }
    for (name, m) in &rule.cookies {
        let values: Vec<String> = cx.cookie_values(name).map(str::to_owned).collect();
        check(
            &crate::error::key_path("match.cookies", name),
            m.matches(cx.cookie_values(name).map(str::as_bytes)),
            m.describe(),
            shown(&values),
        );
    }
    if let Some(body) = &rule.body {
        check("match.body", body.matches(cx), body.describe(), preview(req.body));
    }
    if let Some(g) = &rule.graphql {
        let actual = match cx.graphql() {
            Some(op) => format!("{op:?}"),
            None => "(not a GraphQL request)".into(),
        };
        check("match.graphql", g.matches(cx), g.describe(), actual);
    }
    if let Some(gate) = &rule.scenario {
        if let (Some(required), Some(required_name)) = (gate.required, &gate.required_name) {
            let now = gate.slot.state.load(Ordering::Acquire);
            check(
                "scenario.state",
                now == required,
                format!("scenario {:?} in state {:?}", gate.name, required_name),
                if now == required { required_name.to_string() } else { "another state".into() },
            );
        }
    }
    if rule.limited {
        let left = rule.counters.as_ref().map_or(0, |c| c.remaining.load(Ordering::Acquire));
        check("times", left > 0, "serving budget left".into(), format!("{left} left"));
    }
    let total = checks.len();
    let passed = checks.iter().filter(|c| c.1).count();
    let failed = checks.into_iter().find(|c| !c.1).map(|(predicate, _, expected, actual)| Mismatch {
        predicate,
        expected,
        actual,
    });
    RuleVerdict {
        rule_id: rule.id.to_string(),
        index,
        matched: failed.is_none(),
        failed,
        passed,
        total,
        path_matched,
    }
}

fn shown(values: &[String]) -> String {
    match values {
        [] => "(absent)".into(),
        [one] => format!("{one:?}"),
        many => format!("{many:?}"),
    }
}

fn preview(body: &[u8]) -> String {
    const MAX: usize = 200;
    if body.is_empty() {
        return "(empty body)".into();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX)]);
    if body.len() > MAX {
        format!("{text:?}… ({} bytes)", body.len())
    } else {
        format!("{text:?}")
    }
}
