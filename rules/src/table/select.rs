//! Selection: which rule of a [`RuleTable`] serves a request, claimed against its shared state
//! (budgets, scenarios, hit counters). The hot path: it reads the path index and the small
//! by-rank array, and touches a rule itself only for predicates beyond method and path.

use std::sync::atomic::Ordering;

use super::{RuleTable, CLAIMS, RESIDUAL, TEMPLATE};
use crate::compile::{ip_in, method_bit, CompiledRule, Predicates};
use crate::path::{
    Candidates, CheckMemo, Entry, GatedCandidates, PathParams, PathPattern, RegexGate, TemplateHits, Tier,
};
use crate::request::RequestContext;

/// The rule chosen for a request, with its captured path parameters and hit number.
#[derive(Debug)]
pub struct Selection<'t, 'r> {
    pub(super) rule: &'t CompiledRule,
    /// The rule's position in the rule set, known without reading the rule.
    index: u32,
    /// The request path, whose template parameters are captured only when asked for: a
    /// static answer never needs them, and capturing reads the rule's template (cold memory
    /// in a large table).
    path: &'r str,
    flags: u8,
    pub(super) hit: u64,
}

impl<'t, 'r> Selection<'t, 'r> {
    /// The rule's id.
    pub fn rule_id(&self) -> &'t str {
        &self.rule.id
    }
    /// The rule's position in the rule set.
    pub fn rule_index(&self) -> usize {
        self.index as usize
    }
    /// Path template parameters, name → raw value.
    pub fn params(&self) -> PathParams<'t, 'r> {
        captures(self.rule, self.flags, self.path)
    }
    /// Whether the rule forwards the request to an upstream.
    pub fn forwards(&self) -> bool {
        matches!(self.rule.action, crate::compile::Action::Forward(_))
    }
    /// This request's hit number for the rule (1-based), when the rule counts hits; else 0.
    pub fn hit(&self) -> u64 {
        self.hit
    }
}

impl RuleTable {
    /// Picks the rule that serves `cx`, updating shared state (budgets, scenario transitions,
    /// hit counters) as the rule is claimed. `None` when no rule matches.
    ///
    /// A path known to the index as an exact path, or as the only template shape it fits with
    /// nothing else able to match, comes with its whole candidate list in selection order: the
    /// first candidate whose predicates hold wins. Otherwise candidates are generated one tier
    /// of path kind at a time (exact, template, prefix, regex, none): once a tier yields a rule
    /// whose predicates hold, later tiers are only searched when they hold a rule of higher
    /// priority.
    pub fn select<'t, 'r>(&'t self, cx: &RequestContext<'r>) -> Option<Selection<'t, 'r>> {
        let req = cx.req;
        let bit = method_bit(req.method);
        let exact = match self.routing.index.has_hosted() {
            false => self.routing.index.exact(req.path),
            true => self.exact_hosted(cx),
        };
        let mut templates = TemplateHits::new();
        match exact {
            Some(record) if record.is_complete() => return self.select_from(record.entries(), bit, cx),
            Some(_) => self.routing.index.templates(req.path, &mut templates),
            None => {
                self.routing.index.templates(req.path, &mut templates);
                if let [only] = templates[..] {
                    if only.is_complete() {
                        return self.select_from(only.entries(), bit, cx);
                    }
                }
            }
        }
        let mut candidates = Candidates::new();
        let mut best: Option<u32> = None;
        for tier in Tier::ALL {
            if let Some(b) = best {
                if self.routing.info[b as usize].priority >= self.routing.index.max_priority(tier) {
                    continue;
                }
            }
            if tier == Tier::Regex {
                if let Some(gate) = &self.routing.index.regex_gate {
                    best = self.first_gated(gate, bit, cx, best).or(best);
                    continue;
                }
            }
            candidates.clear();
            self.routing.index.tier_candidates(tier, req.path, exact, &templates, &mut candidates);
            if candidates.len() > 1 {
                candidates.sort_unstable();
            }
            for &rank in &candidates {
                if best.is_some_and(|b| rank >= b) {
                    break;
                }
                if self.static_match(rank, bit, cx) {
                    best = Some(rank);
                    break;
                }
            }
        }
        let rank = best?;
        let info = self.routing.info[rank as usize];
        self.claim_winner(
            Entry { rank, rule: info.rule, method_bits: info.method_bits, flags: info.flags },
            bit,
            cx,
        )
    }

    /// The exact record for a table with hosted records: reading the `Host` header is kept out
    /// of line, off the path of tables without them.
    #[inline(never)]
    fn exact_hosted<'t>(&'t self, cx: &RequestContext<'_>) -> Option<crate::path::Record<'t>> {
        self.routing.index.exact_for(cx.host(), cx.req.path)
    }

    /// The first of `entries` (a complete candidate list, in selection order) whose rule
    /// accepts the request. Each entry carries its rule's method bits and flags, so most
    /// candidates are decided without touching the rule.
    #[inline]
    fn select_from<'t, 'r>(
        &'t self,
        entries: impl Iterator<Item = Entry>,
        bit: u16,
        cx: &RequestContext<'r>,
    ) -> Option<Selection<'t, 'r>> {
        for e in entries {
            if bit != 0 {
                if e.method_bits & (bit | crate::compile::ANY_BIT) == 0 {
                    continue;
                }
                if e.flags & RESIDUAL == 0 {
                    return self.claim_winner(e, bit, cx);
                }
            }
            let rule = &self.rules[e.rule as usize];
            if (bit != 0 || rule.methods.accepts(0, cx.req.method)) && static_predicates_hold(rule, cx) {
                return self.claim_winner(e, bit, cx);
            }
        }
        None
    }

    /// The best-ranked rule of the regex tier, better than `best`, that accepts the request.
    /// Its regexes run lazily, in rank order, after the cheaper method check (see
    /// `crate::path::RegexGate`).
    #[inline]
    fn first_gated(
        &self,
        gate: &RegexGate,
        bit: u16,
        cx: &RequestContext<'_>,
        best: Option<u32>,
    ) -> Option<u32> {
        let path = cx.req.path;
        let mut spare = GatedCandidates::new();
        let candidates = gate.candidates(path, &mut spare);
        let mut memo = CheckMemo::default();
        for &(rank, check) in candidates {
            if best.is_some_and(|b| rank >= b) {
                break;
            }
            let info = &self.routing.info[rank as usize];
            if bit != 0 && info.method_bits & (bit | crate::compile::ANY_BIT) == 0 {
                continue;
            }
            if gate.matches(check, path, &mut memo) && self.static_match(rank, bit, cx) {
                return Some(rank);
            }
        }
        None
    }

    /// The selection of the rule of `e`, whose predicates hold, once claimed.
    #[inline]
    fn claim_winner<'t, 'r>(
        &'t self,
        e: Entry,
        bit: u16,
        cx: &RequestContext<'r>,
    ) -> Option<Selection<'t, 'r>> {
        let rule = &self.rules[e.rule as usize];
        let hit = if e.flags & CLAIMS == 0 || cx.peek {
            0
        } else {
            match claim(rule) {
                Some(hit) => hit,
                // Its budget is spent or another request moved its scenario first: the next
                // rule in order serves, as if this one had not matched.
                None => return self.select_in_order(cx, bit, e.rank),
            }
        };
        Some(Selection { rule, index: e.rule, path: cx.req.path, flags: e.flags, hit })
    }

    /// The plain algorithm: every candidate, in rank order, claimed in turn. Used after the
    /// fast path's winner could not be claimed (`skip` and better ranks are passed over).
    #[cold]
    fn select_in_order<'t, 'r>(
        &'t self,
        cx: &RequestContext<'r>,
        bit: u16,
        skip: u32,
    ) -> Option<Selection<'t, 'r>> {
        let mut candidates = Candidates::new();
        self.routing.index.candidates(cx.host(), cx.req.path, &mut candidates);
        candidates.sort_unstable();
        for &rank in candidates.iter().filter(|&&r| r > skip) {
            if !self.static_match(rank, bit, cx) {
                continue;
            }
            let info = self.routing.info[rank as usize];
            let rule = &self.rules[info.rule as usize];
            let hit = if info.flags & CLAIMS == 0 { Some(0) } else { claim(rule) };
            if let Some(hit) = hit {
                return Some(Selection { rule, index: info.rule, path: cx.req.path, flags: info.flags, hit });
            }
        }
        None
    }

    /// Whether the rule of `rank` (whose path already matched) accepts the request, apart
    /// from shared state. Most rules are decided from `info` alone.
    #[inline]
    fn static_match(&self, rank: u32, bit: u16, cx: &RequestContext<'_>) -> bool {
        let info = &self.routing.info[rank as usize];
        if bit != 0 {
            if info.method_bits & (bit | crate::compile::ANY_BIT) == 0 {
                return false;
            }
            if info.flags & RESIDUAL == 0 {
                return true;
            }
        }
        let rule = &self.rules[info.rule as usize];
        (bit != 0 || rule.methods.accepts(0, cx.req.method)) && static_predicates_hold(rule, cx)
    }
}

/// The winner's path template parameters. The index already knows the path matches, so
/// only the parameters' names are read, not the literal segments (each behind a pointer).
fn captures<'t, 'r>(rule: &'t CompiledRule, flags: u8, path: &'r str) -> PathParams<'t, 'r> {
    let mut params = PathParams::new();
    if flags & TEMPLATE != 0 {
        if let Some(PathPattern::Template(t)) = &rule.path {
            t.capture_matched(path, &mut params);
            debug_assert!(
                t.matches(path, &mut PathParams::new()),
                "the index only yields templates that match"
            );
        }
    }
    params
}

/// The predicates beyond method and path that depend only on the request, cheapest first.
/// Only the fields `rule.predicates` marks as set are read (see [`CompiledRule`]'s layout).
fn static_predicates_hold(rule: &CompiledRule, cx: &RequestContext<'_>) -> bool {
    let req = cx.req;
    let set = rule.predicates;
    if set & Predicates::HOST != 0 {
        if let Some(host) = &rule.host {
            if !host.matches(cx.host()) {
                return false;
            }
        }
    }
    if set & Predicates::CLIENT_IP != 0 {
        if let Some(nets) = &rule.client_ip {
            if !ip_in(nets, req.client_ip) {
                return false;
            }
        }
    }
    if set & Predicates::HEADERS != 0 {
        for (name, m) in &rule.headers {
            if !m.matches(req.header_values_by_bytes(name)) {
                return false;
            }
        }
    }
    if set & !(Predicates::HOST | Predicates::CLIENT_IP | Predicates::HEADERS) == 0 {
        return true;
    }
    for (name, m) in &rule.query {
        if !m.matches(cx.query_values(name).map(str::as_bytes)) {
            return false;
        }
    }
    for (name, m) in &rule.cookies {
        if !m.matches(cx.cookie_values(name).map(str::as_bytes)) {
            return false;
        }
    }
    if let Some(url) = &rule.url {
        if !url.matches(req) {
            return false;
        }
    }
    for (name, m) in &rule.form {
        if !m.matches(cx.form_values(name).map(str::as_bytes)) {
            return false;
        }
    }
    if let Some(body) = &rule.body {
        if !body.matches(cx) {
            return false;
        }
    }
    if let Some(g) = &rule.graphql {
        if !g.matches(cx) {
            return false;
        }
    }
    if let Some(gate) = &rule.scenario {
        if let Some(required) = gate.required {
            if gate.slot.state.load(Ordering::Acquire) != required {
                return false;
            }
        }
    }
    true
}

/// Claims the rule for this request: takes one unit of its `times` budget, moves its scenario,
/// counts the hit. Returns the hit number (1-based; 0 when the rule does not count), or `None`
/// when the budget is spent or another request moved the scenario first.
fn claim(rule: &CompiledRule) -> Option<u64> {
    let counters = rule.counters.as_deref();
    if rule.limited {
        let budget = &counters.expect("a limited rule has counters").remaining;
        let mut left = budget.load(Ordering::Acquire);
        loop {
            if left == 0 {
                return None;
            }
            match budget.compare_exchange_weak(left, left - 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => left = now,
            }
        }
    }
    if let Some(gate) = &rule.scenario {
        if let Some(next) = gate.next {
            let moved = match gate.required {
                // Exactly one of several concurrent requests takes the transition; the others
                // see the new state and fall through, as if they had arrived after it.
                Some(required) => gate
                    .slot
                    .state
                    .compare_exchange(required, next, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok(),
                None => {
                    gate.slot.state.store(next, Ordering::Release);
                    true
                }
            };
            if !moved {
                if rule.limited {
                    counters.expect("a limited rule has counters").remaining.fetch_add(1, Ordering::AcqRel);
                }
                return None;
            }
        }
    }
    Some(counters.map_or(0, |c| c.hits.fetch_add(1, Ordering::AcqRel) + 1))
}
