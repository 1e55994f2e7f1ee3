//! Inputs for the benchmarks of the mockplane rules engine: deterministic, realistic rule sets
//! and requests that hit them.
//!
//! [`realistic_rule_set`] models the mock files of real API teams: mostly exact paths
//! (`/api/v1/orders/1042`), then path templates (`/api/v2/orders/{id}/items`), a few prefixes
//! and anchored regexes, a tenth of the rules keyed on an `x-tenant` header (half of them
//! overriding a generic rule on the same path at a higher priority), a twentieth keyed on a JSON
//! body, and static responses of a few hundred bytes. [`path_only_rule_set`] keeps only exact
//! paths and templates, to measure how the path index scales. [`requests_for`] makes requests
//! that (mostly) hit those rules and a designed share that misses, as [`OwnedRequest`]s that
//! lend a borrowed [`Request`] to a closure without allocating. Everything is a function of
//! `(n, seed)`: the same arguments give the same rules and the same requests.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

use std::collections::HashSet;
use std::sync::Arc;

use mockplane_rules::model::{
    BodyMatch, HeaderValues, MethodMatch, PathMatch, PathMatchSpec, RequestMatch, Response, Rule, ValueMatch,
    ValueMatchSpec,
};
use mockplane_rules::{Header, Request, RequestContext, RuleSet};
use rand::rngs::SmallRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

mod requests;
mod simple;
pub use requests::*;
pub use simple::{get_rule, with_round_marker};

/// Resource names, as they appear in REST paths.
const RESOURCES: &[&str] = &[
    "users",
    "orders",
    "products",
    "invoices",
    "payments",
    "customers",
    "accounts",
    "carts",
    "shipments",
    "reviews",
    "teams",
    "projects",
    "tickets",
    "sessions",
    "subscriptions",
    "plans",
    "coupons",
    "refunds",
    "warehouses",
    "suppliers",
    "employees",
    "departments",
    "documents",
    "folders",
    "files",
    "messages",
    "channels",
    "notifications",
    "webhooks",
    "events",
    "devices",
    "locations",
    "vehicles",
    "bookings",
    "rooms",
    "flights",
    "hotels",
    "policies",
    "claims",
    "loans",
    "transfers",
    "cards",
    "merchants",
    "stores",
    "categories",
    "brands",
    "tags",
    "reports",
];

/// Sub-resource names (plain lower-case words, so they also work as JSONPath names).
const SUBRESOURCES: &[&str] = &[
    "items",
    "comments",
    "history",
    "status",
    "settings",
    "members",
    "attachments",
    "events",
    "refunds",
    "lines",
    "notes",
    "permissions",
    "roles",
    "tokens",
    "addresses",
    "contacts",
    "schedule",
    "metrics",
    "logs",
    "versions",
    "approvals",
    "labels",
    "links",
    "preview",
    "summary",
    "audit",
    "limits",
    "quotes",
    "tracking",
    "balance",
];

/// The header that tenant-specific rules match on.
pub const TENANT_HEADER: &str = "x-tenant";

/// The most headers an [`OwnedRequest`] may carry (they are lent from a stack array).
pub const MAX_HEADERS: usize = 12;

/// How a rule set's rules divide into the generator's kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mix {
    /// Rules with an exact path.
    pub exact: usize,
    /// Rules with a path template.
    pub template: usize,
    /// Rules with a path prefix.
    pub prefix: usize,
    /// Rules with a path regex.
    pub regex: usize,
    /// Rules with no path.
    pub pathless: usize,
    /// Rules with a header predicate.
    pub header: usize,
    /// Rules with a body predicate.
    pub body: usize,
    /// Rules with a non-zero priority.
    pub prioritized: usize,
}

/// Counts the kinds of rule in `set`.
pub fn mix_of(set: &RuleSet) -> Mix {
    let mut mix = Mix::default();
    for rule in &set.rules {
        match rule.matcher.path.as_ref().map(path_kind) {
            None => mix.pathless += 1,
            Some((PathKind::Exact, _)) => mix.exact += 1,
            Some((PathKind::Template, _)) => mix.template += 1,
            Some((PathKind::Prefix, _)) => mix.prefix += 1,
            Some((PathKind::Regex, _)) => mix.regex += 1,
        }
        mix.header += usize::from(!rule.matcher.headers.is_empty());
        mix.body += usize::from(rule.matcher.body.is_some());
        mix.prioritized += usize::from(rule.priority != 0);
    }
    mix
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Exact,
    Template,
    Prefix,
    Regex,
}

fn path_kind(p: &PathMatch) -> (PathKind, &str) {
    match p {
        PathMatch::Short(s) if s.contains('{') => (PathKind::Template, s),
        PathMatch::Short(s) => (PathKind::Exact, s),
        PathMatch::Explicit(spec) => {
            if let Some(s) = &spec.exact {
                (PathKind::Exact, s)
            } else if let Some(s) = &spec.template {
                (PathKind::Template, s)
            } else if let Some(s) = &spec.prefix {
                (PathKind::Prefix, s)
            } else {
                (PathKind::Regex, spec.regex.as_deref().unwrap_or(""))
            }
        }
    }
}

/// The kind of path a generated rule gets, before predicates are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Exact,
    Template,
    Prefix,
    Regex,
    /// An exact path or a template, with an `x-tenant` predicate.
    Header,
    /// An exact path or a template, with a JSON body predicate.
    Body,
}

/// `n` rules in the realistic mix (shares rounded down, the rest exact): 55% exact paths
/// (`/api/v1/orders/1042`, one to four segments after the resource, a few concrete
/// `/api/v2/…` cases of templates), 5 of those 55 with a JSON body predicate (`json` with
/// `ignore_extra_elements`, or `jsonpath`) on POST or PUT; 25% path templates with one or two
/// parameters (`/api/v2/orders/{id}/items`); 5% prefixes; 5% anchored regexes with a literal
/// start (`/legacy/orders/[0-9]+`); 10% keyed on an `x-tenant` header (equals or regex), on
/// exact paths or templates, half of them overriding a generic rule's path at priority 10.
/// Methods are mostly GET, then POST, PUT, DELETE; a few rules take any method; about 5% more
/// rules have a priority. Every response is static (a JSON body of 0 to 8 items, an error,
/// or none for a 204).
pub fn realistic_rule_set(n: usize, seed: u64) -> RuleSet {
    let mut slots = Vec::with_capacity(n);
    for (slot, percent) in
        [(Slot::Prefix, 5), (Slot::Regex, 5), (Slot::Template, 25), (Slot::Header, 10), (Slot::Body, 5)]
    {
        slots.extend(std::iter::repeat_n(slot, n * percent / 100));
    }
    slots.resize(n, Slot::Exact);
    let mut g = Generator::new(seed);
    slots.shuffle(&mut g.rng);
    let rules = slots.into_iter().enumerate().map(|(i, slot)| Arc::new(g.rule(i, slot))).collect();
    RuleSet {
        project: Some("bench".into()),
        environment: Some("realistic".into()),
        rules,
        ..Default::default()
    }
}

/// `n` rules with nothing but a method, a path (70% exact, 30% templates) and a static
/// response: the input for measuring how selection scales with the size of the path index.
pub fn path_only_rule_set(n: usize, seed: u64) -> RuleSet {
    let mut g = Generator::new(seed);
    let rules = (0..n)
        .map(|i| {
            let slot = if g.rng.random_bool(0.7) { Slot::Exact } else { Slot::Template };
            let mut rule = g.rule(i, slot);
            rule.priority = 0;
            Arc::new(rule)
        })
        .collect();
    RuleSet {
        project: Some("bench".into()),
        environment: Some("path-only".into()),
        rules,
        ..Default::default()
    }
}

struct Generator {
    rng: SmallRng,
    /// `(method, path, predicate)` of every rule so far, so no two rules are the same.
    seen: HashSet<(Option<&'static str>, String, String)>,
    /// Methods and paths of generic exact and template rules, for header overrides.
    generic: Vec<(Option<&'static str>, PathMatch)>,
}

impl Generator {
    fn new(seed: u64) -> Self {
        Generator { rng: SmallRng::seed_from_u64(seed), seen: HashSet::new(), generic: Vec::new() }
    }

    fn resource(&mut self) -> String {
        let a = *RESOURCES.choose(&mut self.rng).expect("not empty");
        if self.rng.random_bool(0.6) {
            a.to_owned()
        } else {
            let b = *RESOURCES.choose(&mut self.rng).expect("not empty");
            format!("{}-{b}", a.trim_end_matches('s'))
        }
    }

    fn sub(&mut self) -> &'static str {
        SUBRESOURCES.choose(&mut self.rng).expect("not empty")
    }

    fn id(&mut self) -> String {
        match self.rng.random_range(0..10) {
            0..=6 => self.rng.random_range(1..100_000u32).to_string(),
            7 | 8 => format!("{:08x}", self.rng.random::<u32>()),
            _ => ["me", "current", "latest", "default"].choose(&mut self.rng).expect("not empty").to_string(),
        }
    }

    fn method(&mut self) -> Option<&'static str> {
        match self.rng.random_range(0..100) {
            0..=54 => Some("GET"),
            55..=74 => Some("POST"),
            75..=84 => Some("PUT"),
            85..=94 => Some("DELETE"),
            _ => None,
        }
    }

    fn exact_path(&mut self) -> String {
        let res = self.resource();
        match self.rng.random_range(0..100) {
            0..=14 => format!("/api/v1/{res}"),
            15..=59 => format!("/api/v1/{res}/{}", self.id()),
            60..=79 => format!("/api/v1/{res}/{}/{}", self.id(), self.sub()),
            80..=84 => format!("/api/v1/{res}/{}/{}/{}", self.id(), self.sub(), self.id()),
            // A concrete case of a template below, as in `/pets/0` next to `/pets/{id}`.
            _ => format!("/api/v2/{res}/{}/{}", self.id(), self.sub()),
        }
    }

    fn template_path(&mut self) -> String {
        let res = self.resource();
        match self.rng.random_range(0..10) {
            0..=6 => format!("/api/v2/{res}/{{id}}/{}", self.sub()),
            7 | 8 => format!("/api/v2/{res}/{{id}}/{}/{{item_id}}", self.sub()),
            _ => format!("/api/v2/{res}/{{id}}"),
        }
    }

    /// A path of the slot's kind and a method, not yet used with the same predicate.
    fn fresh(&mut self, slot: Slot, predicate: &str) -> (Option<&'static str>, PathMatch) {
        for attempt in 0.. {
            let method = match slot {
                Slot::Prefix | Slot::Regex => {
                    if self.rng.random_bool(0.8) {
                        Some("GET")
                    } else {
                        None
                    }
                }
                Slot::Body => Some(if self.rng.random_bool(0.7) { "POST" } else { "PUT" }),
                _ => self.method(),
            };
            let template = match slot {
                Slot::Template => true,
                Slot::Exact | Slot::Body => false,
                _ => self.rng.random_bool(0.3),
            };
            let path = match slot {
                Slot::Prefix => {
                    let res = self.resource();
                    let p = match self.rng.random_range(0..3) {
                        0 => format!("/assets/{res}/"),
                        1 => format!("/static/v{}/{res}/", self.rng.random_range(1..=20)),
                        _ => format!("/downloads/{res}/{}/", self.sub()),
                    };
                    PathMatch::Explicit(PathMatchSpec { prefix: Some(p), ..Default::default() })
                }
                Slot::Regex => {
                    let res = self.resource();
                    let r = if self.rng.random_bool(0.6) {
                        format!("/legacy/{res}/[0-9]+")
                    } else {
                        format!("/legacy/{res}/[0-9]+/{}", self.sub())
                    };
                    PathMatch::Explicit(PathMatchSpec { regex: Some(r), ..Default::default() })
                }
                _ if template => PathMatch::Short(self.template_path()),
                _ => PathMatch::Short(self.exact_path()),
            };
            let key = (method, path_kind(&path).1.to_owned(), predicate.to_owned());
            // Past many collisions the vocabulary is exhausted for this shape: accept a duplicate
            // (the later rule is shadowed, as in a real file with a copy-pasted rule).
            if self.seen.insert(key) || attempt > 50 {
                return (method, path);
            }
        }
        unreachable!("the loop returns")
    }

    fn rule(&mut self, index: usize, slot: Slot) -> Rule {
        let mut matcher = RequestMatch::default();
        let mut priority = 0;
        let (method, path) = match slot {
            Slot::Header => {
                let value = if self.rng.random_bool(0.6) {
                    ValueMatch::Equals(format!("acme-{}", self.rng.random_range(1..=50)))
                } else {
                    let region = ["eu", "us", "ap"].choose(&mut self.rng).expect("not empty");
                    ValueMatch::Spec(Box::new(ValueMatchSpec {
                        regex: Some(format!("tenant-[0-9]+-{region}")),
                        ..Default::default()
                    }))
                };
                let predicate = format!("{value:?}");
                matcher.headers.insert(TENANT_HEADER.to_owned(), value);
                // Half of the tenant rules override a generic rule on its own path.
                let overridden = match self.generic.choose(&mut self.rng) {
                    Some(g) if self.rng.random_bool(0.5) => {
                        let key = (g.0, path_kind(&g.1).1.to_owned(), predicate.clone());
                        self.seen.insert(key).then(|| g.clone())
                    }
                    _ => None,
                };
                match overridden {
                    Some(g) => {
                        priority = 10;
                        g
                    }
                    None => self.fresh(slot, &predicate),
                }
            }
            Slot::Body => {
                let body = if self.rng.random_bool(0.5) {
                    let source = RESOURCES.choose(&mut self.rng).expect("not empty");
                    BodyMatch {
                        json: Some(json!({ "type": self.sub(), "source": source })),
                        ignore_extra_elements: true,
                        ..Default::default()
                    }
                } else {
                    BodyMatch { jsonpath: Some(format!("$.{}.id", self.sub())), ..Default::default() }
                };
                let predicate = format!("{body:?}");
                matcher.body = Some(body);
                self.fresh(slot, &predicate)
            }
            _ => {
                let picked = self.fresh(slot, "");
                if matches!(slot, Slot::Exact | Slot::Template) {
                    self.generic.push(picked.clone());
                }
                picked
            }
        };
        if priority == 0 && self.rng.random_bool(0.05) {
            priority = *[1, 5, 10].choose(&mut self.rng).expect("not empty");
        }
        matcher.method = method.map(|m| MethodMatch::One(m.to_owned()));
        matcher.path = Some(path);
        let response = self.response(method);
        let name = format!("r{index}-{}", path_kind(matcher.path.as_ref().expect("set above")).1);
        Rule {
            id: format!("r{index}"),
            name: Some(name),
            priority,
            enabled: true,
            tags: Vec::new(),
            matcher,
            response: Some(response),
            sequence: None,
            forward: None,
            times: None,
            scenario: None,
            validate: None,
        }
    }

    fn response(&mut self, method: Option<&str>) -> Response {
        let mut response = Response::default();
        let roll = self.rng.random_range(0..100);
        response.status = match (method, roll) {
            (_, 0..=4) => 404,
            (_, 5 | 6) => 500,
            (Some("POST"), _) => 201,
            (Some("DELETE"), _) => 204,
            _ => 200,
        };
        if response.status == 204 {
            return response;
        }
        if response.status >= 400 {
            response.json = Some(json!({ "error": "not found", "code": response.status }));
            return response;
        }
        let items: Vec<Value> = (0..self.rng.random_range(0..=8))
            .map(|i| json!({ "id": i + 1, "name": format!("{} {}", self.sub(), i + 1), "qty": i * 3 }))
            .collect();
        let status = *["active", "pending", "closed"].choose(&mut self.rng).expect("not empty");
        response.json = Some(json!({
            "id": self.id(),
            "status": status,
            "updatedAt": "2026-11-25T12:00:00Z",
            "items": items,
        }));
        if self.rng.random_bool(0.3) {
            response.headers.insert("cache-control".into(), HeaderValues::One("no-store".into()));
        }
        if self.rng.random_bool(0.1) {
            response.headers.insert("x-mock-scenario".into(), HeaderValues::One("default".into()));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockplane_rules::{CompileOptions, RuleTable};

    fn hits(table: &RuleTable, requests: &[OwnedRequest]) -> (usize, usize) {
        let mut expected_hits_hit = 0;
        let mut expected_misses_missed = 0;
        for r in requests {
            let hit = r.with_request(|cx| table.select(cx).is_some());
            match (r.expect_hit(), hit) {
                (true, true) => expected_hits_hit += 1,
                (false, false) => expected_misses_missed += 1,
                (true, false) => panic!("meant to hit, missed: {r:?}"),
                (false, true) => panic!("meant to miss, hit: {r:?}"),
            }
        }
        (expected_hits_hit, expected_misses_missed)
    }

    #[test]
    fn the_realistic_mix_is_as_designed_and_compiles() {
        let n = 4000;
        let set = realistic_rule_set(n, 1);
        assert_eq!(set.rules.len(), n);
        let mix = mix_of(&set);
        let share = |k: usize| k as f64 / n as f64;
        let headerless = |kind: PathKind| {
            let of_kind = |r: &&Arc<Rule>| r.matcher.path.as_ref().is_some_and(|p| path_kind(p).0 == kind);
            set.rules.iter().filter(|r| r.matcher.headers.is_empty()).filter(of_kind).count()
        };
        assert_eq!(headerless(PathKind::Exact), n * 55 / 100);
        assert_eq!(headerless(PathKind::Template), n / 4);
        assert!((0.60..=0.65).contains(&share(mix.exact)), "{mix:?}");
        assert!((0.25..=0.30).contains(&share(mix.template)), "{mix:?}");
        assert_eq!(mix.prefix, n / 20);
        assert_eq!(mix.regex, n / 20);
        assert_eq!(mix.header, n / 10);
        assert_eq!(mix.body, n / 20);
        assert!((0.03..=0.15).contains(&share(mix.prioritized)), "{mix:?}");
        let table = RuleTable::compile(&set, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(table.len(), n);
    }

    /// How many rules repeat an earlier rule's method, path and predicate (and so are shadowed).
    fn shadowed(set: &RuleSet) -> usize {
        let mut seen = HashSet::new();
        set.rules
            .iter()
            .filter(|r| {
                let m = &r.matcher;
                let key = (
                    format!("{:?}", m.method),
                    format!("{:?}", m.path),
                    format!("{:?}{:?}", m.headers, m.body),
                );
                !seen.insert(key)
            })
            .count()
    }

    #[test]
    fn hardly_any_rule_is_shadowed() {
        assert_eq!(shadowed(&realistic_rule_set(3000, 1)), 0);
        let count = shadowed(&realistic_rule_set(20_000, 42));
        assert!(count <= 20, "{count} of 20,000 rules shadowed");
    }

    #[test]
    fn generation_is_deterministic() {
        assert_eq!(realistic_rule_set(300, 7), realistic_rule_set(300, 7));
        assert_ne!(realistic_rule_set(300, 7), realistic_rule_set(300, 8));
        let set = realistic_rule_set(300, 7);
        assert_eq!(requests_for(&set, 100, 3), requests_for(&set, 100, 3));
    }

    #[test]
    fn requests_hit_about_ninety_percent_and_miss_as_designed() {
        for (set, count) in [(realistic_rule_set(3000, 11), 5000), (path_only_rule_set(2000, 12), 3000)] {
            let table =
                RuleTable::compile(&set, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            let requests = requests_for(&set, count, 5);
            assert_eq!(requests.len(), count);
            let (hit, missed) = hits(&table, &requests);
            let rate = hit as f64 / count as f64;
            assert!((0.87..=0.93).contains(&rate), "hit rate {rate}");
            assert_eq!(hit + missed, count);
        }
    }

    #[test]
    fn small_sets_work_too() {
        for n in [0, 1, 10] {
            let set = realistic_rule_set(n, 3);
            let table =
                RuleTable::compile(&set, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"));
            let requests = requests_for(&set, 200, 4);
            hits(&table, &requests);
        }
    }

    #[test]
    fn path_only_sets_have_only_exact_paths_and_templates() {
        let mix = mix_of(&path_only_rule_set(1000, 2));
        assert_eq!(mix.exact + mix.template, 1000);
        assert_eq!((mix.header, mix.body, mix.prioritized), (0, 0, 0));
    }

    #[test]
    fn owned_requests_lend_their_parts() {
        let r = OwnedRequest::new("POST", "/a/b?x=1").header("X-Tenant", "acme-1").body(&b"{}"[..]);
        r.with_request(|cx| {
            assert_eq!((cx.req.method, cx.req.path, cx.req.query), ("POST", "/a/b", "x=1"));
            assert_eq!(cx.req.header("x-tenant"), Some("acme-1"));
            assert_eq!(cx.req.body, b"{}");
        });
    }
}
