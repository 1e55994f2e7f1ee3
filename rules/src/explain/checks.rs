//! The predicates of one rule, checked against a request in the order a reader of the rule
//! would: each check says whether it held and can describe itself, but only describes itself
//! when asked. Scoring many candidates (the default 404) asks for nothing; explaining a kept
//! near miss asks for its first failure only.

use std::sync::atomic::Ordering;

use crate::compile::{ip_in, CompiledRule};
use crate::path::PathParams;
use crate::request::RequestContext;

use super::Mismatch;

/// What the checks of one rule are told, one predicate at a time.
pub(super) trait Tally {
    /// One predicate: whether it held, and how to describe it (predicate, expected, actual),
    /// called only when the tally keeps text.
    fn check(&mut self, ok: bool, describe: impl FnOnce() -> Mismatch);
}

/// Counts of predicates held, without any text.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Score {
    pub(super) passed: u32,
    pub(super) total: u32,
}

impl Score {
    pub(super) fn matched(&self) -> bool {
        self.passed == self.total
    }
}

impl Tally for Score {
    #[inline]
    fn check(&mut self, ok: bool, _describe: impl FnOnce() -> Mismatch) {
        self.total += 1;
        self.passed += ok as u32;
    }
}

/// Counts, and the text of the first predicate that failed.
#[derive(Debug, Default)]
pub(super) struct FirstFailure {
    pub(super) score: Score,
    pub(super) failed: Option<Mismatch>,
}

impl Tally for FirstFailure {
    fn check(&mut self, ok: bool, describe: impl FnOnce() -> Mismatch) {
        self.score.total += 1;
        self.score.passed += ok as u32;
        if !ok && self.failed.is_none() {
            self.failed = Some(describe());
        }
    }
}

fn mismatch(
    predicate: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Mismatch {
    Mismatch { predicate: predicate.into(), expected: expected.into(), actual: actual.into() }
}

/// Checks every predicate `rule` declares against `cx` and returns whether its path (if it
/// has one) fits. Only what the rule declares counts: "enabled" and "any method" are not
/// predicates a user wrote. Reads shared state (scenario, budget), never changes it.
pub(super) fn check_rule(rule: &CompiledRule, cx: &RequestContext<'_>, tally: &mut impl Tally) -> bool {
    let req = cx.req;
    if !rule.enabled {
        tally.check(false, || mismatch("enabled", "the rule is enabled", "disabled"));
    }
    if !rule.methods.is_any() {
        let ok = rule.methods.accepts(crate::compile::method_bit(req.method), req.method);
        tally.check(ok, || mismatch("match.method", rule.methods.describe(), req.method));
    }
    if let Some(host) = &rule.host {
        tally.check(host.matches(cx.host()), || {
            mismatch("match.host", host.describe(), cx.host().unwrap_or("(no Host header)"))
        });
    }
    let mut path_matched = true;
    if let Some(path) = &rule.path {
        path_matched = path.matches(req.path, &mut PathParams::new());
        tally.check(path_matched, || mismatch("match.path", path.describe(), req.path));
    }
    if let Some(url) = &rule.url {
        tally.check(url.matches(req), || mismatch("match.url", url.describe(), crate::url::target(req)));
    }
    if let Some(nets) = &rule.client_ip {
        tally.check(ip_in(nets, req.client_ip), || {
            let list: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
            mismatch(
                "match.client_ip",
                format!("client address in {}", list.join(", ")),
                req.client_ip.map_or("(unknown)".into(), |ip| ip.to_string()),
            )
        });
    }
    for (name, m) in &rule.headers {
        tally.check(m.matches(req.header_values_by_bytes(name)), || {
            let values: Vec<String> =
                req.header_values_by_bytes(name).map(|v| String::from_utf8_lossy(v).into_owned()).collect();
            mismatch(
                crate::error::key_path("match.headers", &String::from_utf8_lossy(name)),
                m.describe(),
                shown(&values),
            )
        });
    }
    for (name, m) in &rule.query {
        tally.check(m.matches(cx.query_values(name).map(str::as_bytes)), || {
            let values: Vec<String> = cx.query_values(name).map(str::to_owned).collect();
            mismatch(crate::error::key_path("match.query", name), m.describe(), shown(&values))
        });
    }
    for (name, m) in &rule.cookies {
        tally.check(m.matches(cx.cookie_values(name).map(str::as_bytes)), || {
            let values: Vec<String> = cx.cookie_values(name).map(str::to_owned).collect();
            mismatch(crate::error::key_path("match.cookies", name), m.describe(), shown(&values))
        });
    }
    for (name, m) in &rule.form {
        tally.check(m.matches(cx.form_values(name).map(str::as_bytes)), || {
            let values: Vec<String> = cx.form_values(name).map(str::to_owned).collect();
            mismatch(crate::error::key_path("match.form", name), m.describe(), shown(&values))
        });
    }
    if let Some(body) = &rule.body {
        tally.check(body.matches(cx), || mismatch("match.body", body.describe(), preview(req.body)));
    }
    if let Some(g) = &rule.graphql {
        tally.check(g.matches(cx), || {
            let actual = match cx.graphql() {
                Some(op) => format!("{op:?}"),
                None => "(not a GraphQL request)".into(),
            };
            mismatch("match.graphql", g.describe(), actual)
        });
    }
    if let Some(gate) = &rule.scenario {
        if let (Some(required), Some(required_name)) = (gate.required, &gate.required_name) {
            let now = gate.slot.state.load(Ordering::Acquire);
            tally.check(now == required, || {
                mismatch(
                    "scenario.state",
                    format!("scenario {:?} in state {:?}", gate.name, required_name),
                    "another state",
                )
            });
        }
    }
    if rule.limited {
        let left = rule.counters.as_ref().map_or(0, |c| c.remaining.load(Ordering::Acquire));
        tally.check(left > 0, || mismatch("times", "serving budget left", format!("{left} left")));
    }
    path_matched
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
