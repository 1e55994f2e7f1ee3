//! The compiled [`RuleTable`]: selection of the rule that serves a request, and its answer.
//!
//! Selection order (pinned by tests, documented in docs/rules.md): among enabled rules whose
//! every predicate holds, the highest priority; then the most specific path (exact > template
//! with more literal segments > longer prefix > regex > no path); then the order in the rule
//! set. Each rule's position in that order (its *rank*) is computed once at compile time, so
//! a request only collects the ranks its path index yields, sorts that handful, and checks the
//! remaining predicates in order until one rule holds.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::RngCore;

use crate::compile::{compile_rule, Action, CompiledRule, HostMatcher, RuleEnv};
use crate::cors::CorsPolicy;
use crate::error::{Errors, RuleSetError};
use crate::forward::{Cluster, ForwardTarget};
use crate::model::{FaultKind, RuleSet, SequenceMode};
use crate::path::{Entry, PathIndex, PathPattern};
use crate::request::RequestContext;
use crate::response::{
    roll_fault, CompiledResponse, Dribble, PathScope, RenderBuffers, ResponseEnv, StaticResponse,
};
use crate::reuse::Source;
use crate::state::StateStore;
use crate::template::RenderContext;

mod select;
pub use select::Selection;

/// Cheap steps (a kept rule, a shared rule dropped) between two calls of a `pause` function;
/// expensive ones (compiling or freeing a rule) each call it.
pub(crate) const PAUSE_EVERY: usize = 32;

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
    /// The compiled rules in set order, shared with the versions before and after that kept
    /// them (see `reuse`).
    pub(crate) rules: Vec<Arc<CompiledRule>>,
    /// The selection order and the path index, shared with the version before when no rule's
    /// part in them changed (an edited response, the usual edit, leaves them as they were).
    pub(crate) routing: Arc<Routing>,
    /// The rule set's `cors` block, compiled.
    cors: Option<CorsPolicy>,
    variables: BTreeMap<String, String>,
    /// The set's upstreams, compiled; `forward` rules share these.
    upstreams: BTreeMap<String, Arc<Cluster>>,
    /// Where requests no rule matches go; `None`: they get the 404 (mock mode).
    pub(crate) unmatched: Option<ForwardTarget>,
    /// Some enabled rule matches on the body (`body`, `graphql`): it must be read before
    /// selection.
    pub(crate) reads_bodies: bool,
    /// Some rule, or the unmatched route, forwards.
    pub(crate) forwards: bool,
    state: StateStore,
    project: Option<String>,
    environment: Option<String>,
    /// Unique to this table: what a [`crate::RuleCache`] checks it was built from.
    pub(crate) stamp: u64,
}

/// What selection walks before it reads a rule: built from each rule's enabled flag,
/// priority, methods, path and kinds of predicate (see [`routing_unchanged`]).
#[derive(Debug)]
pub(crate) struct Routing {
    /// Rank → index into `rules`, for enabled rules.
    pub(crate) by_rank: Vec<u32>,
    /// Rank → what selection needs to know of a rule without touching the rule itself (which
    /// is large, and at 10k+ rules not in cache): one small contiguous array.
    info: Vec<RankInfo>,
    pub(crate) index: PathIndex,
}

/// The hot part of a rule, by rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
        || rule.url.is_some()
        || !rule.form.is_empty()
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

/// Whether `previous`'s routing is exactly what `rules` would build: the same number of rules,
/// and each either the very rule `previous` has at that position or one that ranks and indexes
/// like it (enabled, priority, methods, path, exact host, kinds of predicate). Ranks, rank infos and the
/// path index are functions of those alone.
fn routing_unchanged(previous: &RuleTable, rules: &[Arc<CompiledRule>]) -> bool {
    previous.rules.len() == rules.len()
        && previous.rules.iter().zip(rules).enumerate().all(|(i, (old, new))| {
            Arc::ptr_eq(old, new)
                || (old.enabled == new.enabled
                    && rank_info(old, i as u32) == rank_info(new, i as u32)
                    && old.host.as_ref().and_then(HostMatcher::exact)
                        == new.host.as_ref().and_then(HostMatcher::exact)
                    && match (&old.path, &new.path) {
                        (Some(a), Some(b)) => a.same_as(b),
                        (None, None) => true,
                        _ => false,
                    })
        })
}

impl Routing {
    /// Ranks the enabled rules and indexes their paths.
    fn build(rules: &[Arc<CompiledRule>], pause: &dyn Fn()) -> Result<Routing, RuleSetError> {
        // Selection order: priority, then specificity (both descending), then position. The
        // keys are gathered first: comparing rules in place reads two cold ~1 KB rules per
        // comparison, most of a compile's ranking time.
        let mut keys: Vec<(Reverse<i32>, Reverse<crate::path::Specificity>, u32)> = (0..rules.len())
            .filter(|&i| rules[i].enabled)
            .map(|i| (Reverse(rules[i].priority), Reverse(rules[i].specificity()), i as u32))
            .collect();
        keys.sort_unstable();
        let ranked: Vec<u32> = keys.into_iter().map(|k| k.2).collect();
        let info: Vec<RankInfo> = ranked.iter().map(|&i| rank_info(&rules[i as usize], i)).collect();
        pause();
        let index = PathIndex::build(
            ranked.iter().enumerate().map(|(rank, &i)| {
                let rule = &rules[i as usize];
                (
                    rank as u32,
                    rule.priority,
                    rule.path.as_ref(),
                    rule.host.as_ref().and_then(HostMatcher::exact),
                )
            }),
            |rank| {
                let i = &info[rank as usize];
                Entry { rank, rule: i.rule, method_bits: i.method_bits, flags: i.flags }
            },
            pause,
        )
        .map_err(|message| RuleSetError { errors: vec![crate::ValidationError::new("rules", message)] })?;
        pause();
        Ok(Routing { by_rank: ranked, info, index })
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
    /// Its position in the rule set; `usize::MAX` for the unmatched route, which is no rule.
    pub rule_index: usize,
    /// Wait this long first (on a timer, never blocking a thread).
    pub delay: Option<Duration>,
    /// What to send.
    pub reply: Reply<'t>,
    /// The fault injected, if one was rolled: for `abort` the reply is its `Static` response,
    /// so this is how the journal tells an abort from the rule's own answer.
    pub fault: Option<FaultKind>,
    /// Send the body dribbled, in chunks over time (never with a fault).
    pub dribble: Option<Dribble>,
}

impl RuleTable {
    /// Frees the table one rule at a time, calling `pause` between rules (see
    /// [`CompileOptions::pause`]): freeing 10,000 compiled rules at once holds a core for
    /// milliseconds.
    pub fn drop_paced(mut self, pause: fn()) {
        // Truncating drops each rule where it lies; popping moved every one out first. Most
        // rules are shared with the next version and dropping them is a decrement: pause
        // after a rule that is freed, and every few dozen others.
        for len in (0..self.rules.len()).rev() {
            let freed = Arc::strong_count(&self.rules[len]) == 1;
            self.rules.truncate(len);
            if freed || len % PAUSE_EVERY == 0 {
                pause();
            }
        }
    }

    /// Validates and compiles a rule set. Refused with every error found.
    pub fn compile(set: &RuleSet, options: &CompileOptions) -> Result<RuleTable, RuleSetError> {
        RuleTable::compile_sources(set, set.rules.iter().map(|rule| Source::Model(rule)), None, options)
    }

    /// [`RuleTable::compile`] of `set` with `sources` for its rules (`set.rules` is not read):
    /// each a model rule to compile, or a rule compiled before in the same set-level context,
    /// reused (see [`crate::RuleCache`]). The one validating path: errors and their places are
    /// the same either way. The routing of `previous` is shared when it is unchanged.
    pub(crate) fn compile_sources<'a>(
        set: &'a RuleSet,
        sources: impl ExactSizeIterator<Item = Source<'a>>,
        previous: Option<&RuleTable>,
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
        for (name, scenario) in &set.scenarios {
            let place = crate::error::key_path("scenarios", name);
            if name.trim().is_empty() {
                errors.push(place, "a scenario name must not be empty");
            } else if scenario.initial.trim().is_empty() {
                errors.push(format!("{place}.initial"), "must not be empty");
            }
        }
        let upstreams =
            crate::forward::compile_upstreams(&set.upstreams, options.base_dir.as_deref(), &mut errors);
        let cors = set.cors.as_ref().and_then(|spec| CorsPolicy::compile(spec, &mut errors));
        let unmatched = set.unmatched.as_ref().and_then(|u| {
            let root = crate::error::Place::Root("unmatched");
            crate::forward::compile_forward(
                &u.forward,
                &root.field("forward"),
                &upstreams,
                &set.upstreams,
                &mut errors,
            )
        });
        let env = RuleEnv {
            response: ResponseEnv {
                variables: &set.variables,
                base_dir: options.base_dir.as_deref(),
                // Set per rule, from its path.
                path: PathScope::Unknown,
            },
            upstreams: &upstreams,
            declared: &set.upstreams,
            state: &options.state,
        };
        let mut first_seen: rustc_hash::FxHashMap<&str, usize> =
            rustc_hash::FxHashMap::with_capacity_and_hasher(sources.len(), Default::default());
        let mut rules = Vec::with_capacity(sources.len());
        for (i, source) in sources.enumerate() {
            if let Some(pause) = options.pause {
                if matches!(source, Source::Model(_)) || i % PAUSE_EVERY == 0 {
                    pause();
                }
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
                Source::Model(rule) => compile_rule(rule, i, &env, &mut errors).map(Arc::new),
                Source::Compiled(rule) => Some(CompiledRule::reused(rule, &options.state)),
            };
            if let Some(compiled) = compiled {
                if let (Some(_), Some(place)) = (&set.cors, &compiled.cors_header) {
                    errors.push(format!("rules[{i}].{place}"), crate::cors::OWN_CORS_HEADER);
                }
                rules.push(compiled);
            }
        }
        if !errors.list.is_empty() {
            return Err(RuleSetError { errors: errors.list });
        }
        // The steps over the whole set below pause between steps, and the path index build
        // every few dozen items.
        let pause = || {
            if let Some(pause) = options.pause {
                pause();
            }
        };
        pause();

        let routing = match previous.filter(|p| routing_unchanged(p, &rules)) {
            Some(previous) => Arc::clone(&previous.routing),
            None => Arc::new(Routing::build(&rules, &pause)?),
        };
        pause();

        let keep: HashSet<(String, u64)> = rules
            .iter()
            .filter_map(|c| c.counters.as_ref().map(|k| (String::from(&*c.id), k.fingerprint)))
            .collect();
        options.state.retain_rules(&keep);
        options.state.set_initial_states(&set.scenarios);

        Ok(RuleTable {
            routing,
            cors,
            variables: set.variables.clone(),
            reads_bodies: rules.iter().any(|r| {
                r.enabled
                    && (r.body.is_some()
                        || r.graphql.is_some()
                        || r.check.as_ref().is_some_and(|c| c.reads_body()))
            }),
            forwards: unmatched.is_some() || rules.iter().any(|r| matches!(r.action, Action::Forward(_))),
            rules,
            upstreams,
            unmatched,
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

    /// The rule set's CORS policy, when it has a `cors` block: the data plane answers
    /// preflights with it and adds its headers to every answer to an allowed origin.
    pub fn cors(&self) -> Option<&CorsPolicy> {
        self.cors.as_ref()
    }

    /// The set's upstream clusters by name.
    pub fn upstreams(&self) -> &BTreeMap<String, Arc<Cluster>> {
        &self.upstreams
    }

    /// The shared state this table reads and writes.
    pub fn state(&self) -> &StateStore {
        &self.state
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
        if let Some(check) = &rule.check {
            if let Some(status) = check.run(cx, &selection.params(), buffers) {
                let reply = Reply::Rendered { status };
                return Answer {
                    rule_id: &rule.id,
                    rule_index: selection.rule_index(),
                    delay: None,
                    reply,
                    fault: None,
                    dribble: None,
                };
            }
        }
        let (delay, reply, fault, dribble) = match &rule.action {
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
                let delay = crate::forward::forward_delay(f, selection.hit, rng);
                match roll_fault(&f.faults, rng) {
                    Some(fault) => (delay, fault_reply(fault), Some(fault.kind), None),
                    None => (delay, Reply::Forward(f), None, None),
                }
            }
        };
        Answer { rule_id: &rule.id, rule_index: selection.rule_index(), delay, reply, fault, dribble }
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
    ) -> (Option<Duration>, Reply<'t>, Option<FaultKind>, Option<Dribble>) {
        let delay = r.delay.as_ref().map(|d| d.sample(selection.hit, rng));
        if let Some(fault) = roll_fault(&r.faults, rng) {
            return (delay, fault_reply(fault), Some(fault.kind), None);
        }
        if let Some(fixed) = &r.fixed {
            return (delay, Reply::Static(fixed), None, r.dribble);
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
        (delay, Reply::Rendered { status: r.status }, None, r.dribble)
    }
}

pub(crate) fn fault_reply(fault: &crate::response::CompiledFault) -> Reply<'_> {
    match &fault.abort {
        Some(response) => Reply::Static(response),
        None => Reply::Fault(fault.kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Rule;
    use crate::request::parse_counts::{self, ParseCounts};
    use crate::RuleCache;

    fn version(cache: &mut RuleCache<String>, previous: Option<&RuleTable>, yaml: &str) -> RuleTable {
        let set = RuleSet::from_yaml(yaml).unwrap();
        let options = CompileOptions {
            state: previous.map(|p| p.state.clone()).unwrap_or_default(),
            ..Default::default()
        };
        let mut build = cache.begin(set.clone(), previous, &options);
        for rule in &set.rules {
            build.push(serde_json::to_string(rule).unwrap(), || Ok::<_, ()>(Rule::clone(rule))).unwrap();
        }
        build.finish().unwrap()
    }

    /// Selects for a POST of `body` to `path` and returns how often the body was parsed.
    fn parses_for(table: &RuleTable, path: &str, body: &str) -> (Option<String>, ParseCounts) {
        let headers = [crate::request::Header { name: "content-type", value: b"application/json" }];
        let req = crate::request::Request::new("POST", path, &headers, body.as_bytes());
        let cx = crate::request::RequestContext::new(&req);
        parse_counts::take();
        let chosen = table.select(&cx).map(|s| s.rule_id().to_string());
        (chosen, parse_counts::take())
    }

    #[test]
    fn a_body_is_parsed_once_per_request_and_only_when_a_candidate_needs_it() {
        let mut yaml =
            String::from("rules:\n  - { id: plain, match: { path: /plain }, response: { body: p } }\n");
        for i in 0..20 {
            let (path, op) =
                if i % 2 == 0 { ("/json", "json: { n: 99 }") } else { ("/json", "jsonpath: $.missing") };
            yaml += &format!(
                "  - {{ id: j{i}, match: {{ path: {path}, body: {{ {op} }} }}, response: {{ body: j }} }}\n"
            );
        }
        yaml += "  - { id: gql, match: { path: /json, graphql: { name: Q } }, response: { body: g } }\n";
        yaml += "  - { id: fallback, match: { path: /json }, response: { body: f } }\n";
        let table =
            RuleTable::compile(&RuleSet::from_yaml(&yaml).unwrap(), &CompileOptions::default()).unwrap();
        let counts = |view, full| ParseCounts { view, full };

        // No candidate of /plain reads the body.
        assert_eq!(parses_for(&table, "/plain", r#"{"n": 1}"#), (Some("plain".into()), counts(0, 0)));
        // Twenty JSON candidates, none holding: one parse into the view; the GraphQL rule
        // needs the full parse once.
        assert_eq!(parses_for(&table, "/json", r#"{"n": 1}"#), (Some("fallback".into()), counts(1, 1)));
        // A body the view leaves (an escape): one attempt at the view, one full parse shared by
        // every candidate.
        assert_eq!(
            parses_for(&table, "/json", r#"{"n": 1, "s": "a\nb"}"#),
            (Some("fallback".into()), counts(1, 1))
        );
        assert_eq!(parses_for(&table, "/json", r#"{"n": 99}"#), (Some("j0".into()), counts(1, 0)));
    }

    const V1: &str = "rules:\n  - { id: a, match: { path: /a }, response: { body: one } }\n  - { id: b, match: { path: \"/b/{x}\" }, response: { body: b } }\n";

    #[test]
    fn a_version_that_only_edits_a_response_shares_the_routing_and_others_rebuild_it() {
        let mut cache = RuleCache::new();
        let v1 = version(&mut cache, None, V1);
        let v2 = version(&mut cache, Some(&v1), &V1.replace("body: one", "body: two"));
        assert!(Arc::ptr_eq(&v1.routing, &v2.routing), "a response edit keeps the routing");
        for edit in ["path: /a2", "path: { prefix: /a }", "method: POST, path: /a", "host: h.test, path: /a"]
        {
            let mut cache = RuleCache::new();
            let v1 = version(&mut cache, None, V1);
            let v2 = version(&mut cache, Some(&v1), &V1.replace("path: /a", edit));
            assert!(!Arc::ptr_eq(&v1.routing, &v2.routing), "{edit}: the routing is rebuilt");
        }
        // An exact host keys the index: changing it rebuilds, though the rule ranks the same.
        let hosted = V1.replace("path: /a", "host: a.test, path: /a");
        let mut cache = RuleCache::new();
        let v1 = version(&mut cache, None, &hosted);
        let v2 = version(&mut cache, Some(&v1), &hosted.replace("a.test", "b.test"));
        assert!(!Arc::ptr_eq(&v1.routing, &v2.routing), "a new exact host rebuilds the routing");
    }
}
