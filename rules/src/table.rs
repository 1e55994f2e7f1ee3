//! The compiled [`RuleTable`]: selection of the rule that serves a request, and its answer.
//!
//! Selection order (pinned by tests, documented in docs/rules.md): among enabled rules whose
//! every predicate holds, the highest priority; then the most specific path (exact > template
//! with more literal segments > longer prefix > regex > no path); then the order in the rule
//! set. Each rule's position in that order (its *rank*) is computed once at compile time, so
//! a request only collects the ranks its path index yields, sorts that handful, and checks the
//! remaining predicates in order until one rule holds.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rand::RngCore;

use crate::compile::{compile_rule, ip_in, method_bit, Action, CompiledRule, ForwardTarget, RuleEnv};
use crate::error::{Errors, RuleSetError};
use crate::model::{FaultKind, RuleSet, SequenceMode};
use crate::path::{Candidates, Entry, PathIndex, PathParams, PathPattern, TemplateHits, Tier};
use crate::request::RequestContext;
use crate::response::{roll_fault, CompiledResponse, RenderBuffers, ResponseEnv, StaticResponse};
use crate::reuse::Source;
use crate::state::StateStore;
use crate::template::RenderContext;

/// How to compile a rule set.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Where `file:` response bodies are resolved from (the rules file's folder).
    pub base_dir: Option<PathBuf>,
    /// Shared state (scenarios, counters) that survives table swaps. Pass the same store to
    /// every compile of an environment.
    pub state: StateStore,
    /// Called between rules: a data plane compiling next to its workers passes a function
    /// that yields the CPU now and then, so a long compile never holds a worker's core.
    pub pause: Option<fn()>,
}

/// An immutable, indexed rule table. Share it across threads behind an `Arc`.
#[derive(Debug)]
pub struct RuleTable {
    pub(crate) rules: Vec<CompiledRule>,
    /// Rank → index into `rules`, for enabled rules.
    pub(crate) by_rank: Vec<u32>,
    /// Rank → what selection needs to know of a rule without touching the rule itself (which
    /// is large, and at 10k+ rules not in cache): one small contiguous array.
    info: Vec<RankInfo>,
    index: PathIndex,
    variables: BTreeMap<String, String>,
    state: StateStore,
    project: Option<String>,
    environment: Option<String>,
    /// Unique to this table: what a [`crate::RuleCache`] checks it was built from.
    pub(crate) stamp: u64,
}

/// The hot part of a rule, by rank.
#[derive(Debug, Clone, Copy)]
struct RankInfo {
    priority: i32,
    rule: u32,
    method_bits: u16,
    flags: u8,
}

/// The rule has predicates beyond method and path (or accepts non-standard methods).
const RESIDUAL: u8 = 1;
/// Claiming the rule changes shared state (budget, scenario, hit counter).
const CLAIMS: u8 = 2;
/// The path is a template: its parameters are captured for the winner.
const TEMPLATE: u8 = 4;

fn rank_info(rule: &CompiledRule, index: u32) -> RankInfo {
    let residual = rule.host.is_some()
        || rule.client_ip.is_some()
        || !rule.headers.is_empty()
        || !rule.query.is_empty()
        || !rule.cookies.is_empty()
        || rule.body.is_some()
        || rule.graphql.is_some()
        || rule.scenario.as_ref().is_some_and(|g| g.required.is_some())
        || rule.methods.has_other();
    let claims = rule.counters.is_some() || rule.scenario.is_some();
    let template = matches!(rule.path, Some(PathPattern::Template(_)));
    RankInfo {
        priority: rule.priority,
        rule: index,
        method_bits: rule.methods.bits(),
        flags: (residual as u8 * RESIDUAL) | (claims as u8 * CLAIMS) | (template as u8 * TEMPLATE),
    }
}

/// The rule chosen for a request, with its captured path parameters and hit number.
#[derive(Debug)]
pub struct Selection<'t, 'r> {
    rule: &'t CompiledRule,
    /// The rule's position in the rule set, known without reading the rule.
    index: u32,
    /// The request path, whose template parameters are captured only when asked for: a
    /// static answer never needs them, and capturing reads the rule's template (cold memory
    /// in a large table).
    path: &'r str,
    flags: u8,
    hit: u64,
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
    /// This request's hit number for the rule (1-based), when the rule counts hits; else 0.
    pub fn hit(&self) -> u64 {
        self.hit
    }
}

/// What to send back.
#[derive(Debug)]
pub enum Reply<'t> {
    /// Bytes prepared at compile time.
    Static(&'t StaticResponse),
    /// Rendered into the caller's [`RenderBuffers`].
    Rendered {
        /// The status code.
        status: u16,
    },
    /// A fault at the connection level (never `Abort`, which is a `Static` reply).
    Fault(FaultKind),
    /// Forward the request upstream.
    Forward(&'t ForwardTarget),
}

/// The answer to a request: what to send, after how long.
#[derive(Debug)]
pub struct Answer<'t> {
    /// The rule that answered.
    pub rule_id: &'t str,
    /// Its position in the rule set.
    pub rule_index: usize,
    /// Wait this long first (on a timer, never blocking a thread).
    pub delay: Option<Duration>,
    /// What to send.
    pub reply: Reply<'t>,
}

impl RuleTable {
    /// Frees the table one rule at a time, calling `pause` between rules (see
    /// [`CompileOptions::pause`]): freeing 10,000 compiled rules at once holds a core for
    /// milliseconds.
    pub fn drop_paced(mut self, pause: fn()) {
        // Truncating drops each rule where it lies; popping moved every one out first.
        for len in (0..self.rules.len()).rev() {
            self.rules.truncate(len);
            pause();
        }
    }

    /// Validates and compiles a rule set. Refused with every error found.
    pub fn compile(set: &RuleSet, options: &CompileOptions) -> Result<RuleTable, RuleSetError> {
        RuleTable::compile_sources(set, set.rules.iter().map(Source::Model), options)
    }

    /// [`RuleTable::compile`] of `set` with `sources` for its rules (`set.rules` is not read):
    /// each a model rule to compile, or a rule compiled before in the same set-level context,
    /// reused (see [`crate::RuleCache`]). The one validating path: errors and their places are
    /// the same either way.
    pub(crate) fn compile_sources<'a>(
        set: &'a RuleSet,
        sources: impl ExactSizeIterator<Item = Source<'a>>,
        options: &CompileOptions,
    ) -> Result<RuleTable, RuleSetError> {
        let _regexes = crate::value::RegexCacheScope::new();
        let mut errors = Errors::default();
        for name in set.variables.keys() {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                errors.push(
                    crate::error::key_path("variables", name),
                    "a variable name is letters, digits and '_'",
                );
            }
        }
        for (name, url) in &set.upstreams {
            if let Err(e) = crate::compile::check_url(url) {
                errors.push(crate::error::key_path("upstreams", name), e);
            }
        }
        let env = RuleEnv {
            response: ResponseEnv { variables: &set.variables, base_dir: options.base_dir.as_deref() },
            upstreams: &set.upstreams,
            state: &options.state,
        };
        let mut first_seen: HashMap<&str, usize> = HashMap::with_capacity(sources.len());
        let mut rules = Vec::with_capacity(sources.len());
        for (i, source) in sources.enumerate() {
            if let Some(pause) = options.pause {
                pause();
            }
            let id = source.id();
            if let Some(first) = first_seen.insert(id, i) {
                errors.push(
                    format!("rules[{i}].id"),
                    format!("duplicate id {id:?} (first used by rules[{first}])"),
                );
                first_seen.insert(id, first);
            }
            let compiled = match source {
                Source::Model(rule) => compile_rule(rule, i, &env, &mut errors),
                Source::Compiled(rule) => Some(rule.reused_at(i, &options.state)),
            };
            if let Some(compiled) = compiled {
                rules.push(compiled);
            }
        }
        if !errors.list.is_empty() {
            return Err(RuleSetError { errors: errors.list });
        }
        // The steps over the whole set below pause between steps, and the path index build
        // every few dozen items.
        let pause = || options.pause.inspect(|pause| pause());
        pause();

        // Selection order: priority, then specificity (both descending), then position. The
        // keys are gathered first: comparing rules in place reads two cold ~1 KB rules per
        // comparison, most of a compile's ranking time.
        let mut keys: Vec<(Reverse<i32>, Reverse<crate::path::Specificity>, usize, u32)> = (0..rules.len())
            .filter(|&i| rules[i].enabled)
            .map(|i| (Reverse(rules[i].priority), Reverse(rules[i].specificity()), rules[i].index, i as u32))
            .collect();
        keys.sort_unstable();
        let ranked: Vec<u32> = keys.into_iter().map(|k| k.3).collect();
        let info: Vec<RankInfo> = ranked.iter().map(|&i| rank_info(&rules[i as usize], i)).collect();
        pause();
        let index = PathIndex::build(
            ranked.iter().enumerate().map(|(rank, &i)| {
                let rule = &rules[i as usize];
                (rank as u32, rule.priority, rule.path.as_ref())
            }),
            |rank| {
                let i = &info[rank as usize];
                Entry { rank, rule: i.rule, method_bits: i.method_bits, flags: i.flags }
            },
            &|| {
                pause();
            },
        )
        .map_err(|message| RuleSetError { errors: vec![crate::ValidationError::new("rules", message)] })?;
        pause();

        let keep: HashSet<(String, u64)> = rules
            .iter()
            .filter_map(|c| c.counters.as_ref().map(|k| (String::from(&*c.id), k.fingerprint)))
            .collect();
        options.state.retain_rules(&keep);

        Ok(RuleTable {
            rules,
            by_rank: ranked,
            info,
            index,
            variables: set.variables.clone(),
            state: options.state.clone(),
            project: set.project.clone(),
            environment: set.environment.clone(),
            stamp: crate::reuse::next_stamp(),
        })
    }

    /// An empty table: every request misses.
    pub fn empty() -> RuleTable {
        RuleTable::compile(&RuleSet::default(), &CompileOptions::default())
            .expect("an empty rule set compiles")
    }

    /// How many rules the table holds (enabled or not).
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the table holds no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The id of the rule at `index` in the rule set.
    pub fn rule_id(&self, index: usize) -> Option<&str> {
        self.rules.get(index).map(|r| &*r.id)
    }

    /// The ids of the rules, in rule-set order.
    pub fn rule_ids(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| &*r.id)
    }

    /// The project and environment the rule set declared.
    pub fn scope(&self) -> (Option<&str>, Option<&str>) {
        (self.project.as_deref(), self.environment.as_deref())
    }

    /// The shared state this table reads and writes.
    pub fn state(&self) -> &StateStore {
        &self.state
    }

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
        let exact = self.index.exact(req.path);
        let mut templates = TemplateHits::new();
        match exact {
            Some(record) if record.is_complete() => return self.select_from(record.entries(), bit, cx),
            Some(_) => self.index.templates(req.path, &mut templates),
            None => {
                self.index.templates(req.path, &mut templates);
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
                if self.info[b as usize].priority >= self.index.max_priority(tier) {
                    continue;
                }
            }
            candidates.clear();
            self.index.tier_candidates(tier, req.path, exact, &templates, &mut candidates);
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
        let info = self.info[rank as usize];
        self.claim_winner(
            Entry { rank, rule: info.rule, method_bits: info.method_bits, flags: info.flags },
            bit,
            cx,
        )
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

    /// The selection of the rule of `e`, whose predicates hold, once claimed.
    #[inline]
    fn claim_winner<'t, 'r>(
        &'t self,
        e: Entry,
        bit: u16,
        cx: &RequestContext<'r>,
    ) -> Option<Selection<'t, 'r>> {
        let rule = &self.rules[e.rule as usize];
        let hit = if e.flags & CLAIMS == 0 {
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
        self.index.candidates(cx.req.path, &mut candidates);
        candidates.sort_unstable();
        for &rank in candidates.iter().filter(|&&r| r > skip) {
            if !self.static_match(rank, bit, cx) {
                continue;
            }
            let info = self.info[rank as usize];
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
        let info = &self.info[rank as usize];
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

    /// The answer of a selected rule: delay, fault or response, rendered if templated.
    pub fn answer<'t>(
        &'t self,
        selection: &Selection<'t, '_>,
        cx: &RequestContext<'_>,
        now: std::time::SystemTime,
        rng: &mut dyn RngCore,
        buffers: &mut RenderBuffers,
    ) -> Answer<'t> {
        let rule = selection.rule;
        let (delay, reply) = match &rule.action {
            Action::Respond(r) => self.respond_with(r, selection, cx, now, rng, buffers),
            Action::Sequence { mode, responses } => {
                let n = selection.hit.saturating_sub(1);
                let len = responses.len() as u64;
                let i = match mode {
                    SequenceMode::Cycle => n % len,
                    SequenceMode::StayOnLast => n.min(len - 1),
                };
                self.respond_with(&responses[i as usize], selection, cx, now, rng, buffers)
            }
            Action::Forward(f) => {
                let delay = f.delay.as_ref().map(|d| d.sample(selection.hit, rng));
                let reply = match roll_fault(&f.faults, rng) {
                    Some(fault) => fault_reply(fault),
                    None => Reply::Forward(f),
                };
                (delay, reply)
            }
        };
        Answer { rule_id: &rule.id, rule_index: rule.index, delay, reply }
    }

    /// Selects and answers in one call.
    pub fn respond<'t>(
        &'t self,
        cx: &RequestContext<'_>,
        now: std::time::SystemTime,
        rng: &mut dyn RngCore,
        buffers: &mut RenderBuffers,
    ) -> Option<Answer<'t>> {
        let selection = self.select(cx)?;
        Some(self.answer(&selection, cx, now, rng, buffers))
    }

    fn respond_with<'t>(
        &'t self,
        r: &'t CompiledResponse,
        selection: &Selection<'t, '_>,
        cx: &RequestContext<'_>,
        now: std::time::SystemTime,
        rng: &mut dyn RngCore,
        buffers: &mut RenderBuffers,
    ) -> (Option<Duration>, Reply<'t>) {
        let delay = r.delay.as_ref().map(|d| d.sample(selection.hit, rng));
        if let Some(fault) = roll_fault(&r.faults, rng) {
            return (delay, fault_reply(fault));
        }
        if let Some(fixed) = &r.fixed {
            return (delay, Reply::Static(fixed));
        }
        let params = selection.params();
        let mut render = RenderContext {
            request: cx,
            path_params: &params,
            env: &self.variables,
            // Converted only here: a calendar date costs more than serving a static answer.
            now: chrono::DateTime::<chrono::Utc>::from(now),
            counter: selection.hit,
            rng,
        };
        r.render(&mut render, buffers);
        (delay, Reply::Rendered { status: r.status })
    }
}

fn fault_reply(fault: &crate::response::CompiledFault) -> Reply<'_> {
    match &fault.abort {
        Some(response) => Reply::Static(response),
        None => Reply::Fault(fault.kind),
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
fn static_predicates_hold(rule: &CompiledRule, cx: &RequestContext<'_>) -> bool {
    let req = cx.req;
    if let Some(host) = &rule.host {
        if !host.matches(cx.host()) {
            return false;
        }
    }
    if let Some(nets) = &rule.client_ip {
        if !ip_in(nets, req.client_ip) {
            return false;
        }
    }
    for (name, m) in &rule.headers {
        if !m.matches(req.header_values(name)) {
            return false;
        }
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
