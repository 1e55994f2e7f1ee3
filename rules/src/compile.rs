//! From a validated model rule to a [`CompiledRule`]: every predicate prepared for the hot path
//! (methods as a bit set, regexes built, names lower-cased, CIDRs parsed, templates parsed), every
//! problem reported with its place.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use smallvec::SmallVec;

use crate::body::BodyMatcher;
use crate::error::{Errors, Place};
use crate::graphql::GraphqlMatcher;
use crate::model::{MethodMatch, Rule, SequenceMode};
use crate::path::{PathPattern, Specificity};
use crate::response::{is_token, CompiledResponse, DelaySampler, PathScope, ResponseEnv};
use crate::state::{RuleCounters, ScenarioSlot, StateStore};
use crate::url::UrlMatcher;
use crate::value::{ShortBytes, ValueMatcher};

/// The methods a rule accepts: a bit per standard method, plus any others by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MethodSet {
    bits: u16,
    other: Vec<Box<str>>,
}

const STANDARD_METHODS: [&str; 9] =
    ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"];
pub(crate) const ANY_BIT: u16 = 1 << 15;

/// The bit of a standard method, 0 for any other.
#[inline]
pub(crate) fn method_bit(method: &str) -> u16 {
    match method {
        "GET" => 1,
        "HEAD" => 1 << 1,
        "POST" => 1 << 2,
        "PUT" => 1 << 3,
        "DELETE" => 1 << 4,
        "CONNECT" => 1 << 5,
        "OPTIONS" => 1 << 6,
        "TRACE" => 1 << 7,
        "PATCH" => 1 << 8,
        _ => 0,
    }
}

impl MethodSet {
    pub(crate) fn bits(&self) -> u16 {
        self.bits
    }

    /// Whether non-standard methods are accepted by name (checked on the rule itself).
    pub(crate) fn has_other(&self) -> bool {
        !self.other.is_empty()
    }

    pub(crate) fn is_any(&self) -> bool {
        self.bits & ANY_BIT != 0
    }

    pub(crate) fn any() -> Self {
        MethodSet { bits: ANY_BIT, other: Vec::new() }
    }

    /// `bit` is `method_bit(method)`, computed once per request.
    #[inline]
    pub(crate) fn accepts(&self, bit: u16, method: &str) -> bool {
        self.bits & (bit | ANY_BIT) != 0 || (bit == 0 && self.other.iter().any(|m| **m == *method))
    }

    pub(crate) fn describe(&self) -> String {
        if self.bits & ANY_BIT != 0 {
            return "any method".into();
        }
        let mut names: Vec<&str> =
            STANDARD_METHODS.iter().filter(|m| self.bits & method_bit(m) != 0).copied().collect();
        names.extend(self.other.iter().map(|m| &**m));
        format!("method is {}", names.join(" or "))
    }

    fn compile(spec: &MethodMatch, path: &Place<'_>, errors: &mut Errors) -> Option<Self> {
        let names: Vec<&String> = match spec {
            MethodMatch::One(m) => vec![m],
            MethodMatch::AnyOf(ms) => ms.iter().collect(),
        };
        if names.is_empty() {
            errors.push(path, "an empty list of methods matches nothing; omit `method` for any method");
            return None;
        }
        let mut set = MethodSet::default();
        for (i, name) in names.iter().enumerate() {
            let indexed = path.index(i);
            let place = if matches!(spec, MethodMatch::AnyOf(_)) { &indexed } else { path };
            if name.as_str() == "ANY" || name.as_str() == "*" {
                set.bits |= ANY_BIT;
                continue;
            }
            if !is_token(name) {
                errors.push(place, format!("{name:?} is not a valid method name"));
                continue;
            }
            let bit = method_bit(name);
            if bit != 0 {
                set.bits |= bit;
            } else if method_bit(&name.to_ascii_uppercase()) != 0 || name.eq_ignore_ascii_case("any") {
                errors.push(
                    place,
                    format!("methods are case-sensitive: did you mean {}?", name.to_ascii_uppercase()),
                );
            } else {
                set.other.push(name.as_str().into());
            }
        }
        Some(set)
    }
}

/// `api.example.com` or `*.example.com`, compared ignoring ASCII case.
#[derive(Debug, Clone)]
pub(crate) enum HostMatcher {
    Exact(Box<str>),
    /// `*.example.com`: holds `.example.com`, matching any host that ends with it.
    Suffix(Box<str>),
}

impl HostMatcher {
    fn compile(spec: &str, path: &Place<'_>, errors: &mut Errors) -> Option<Self> {
        let (suffix, name) = match spec.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, spec),
        };
        // Requests carry IPv6 literals as `[::1]`; the request view strips the brackets.
        let name = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')).unwrap_or(name);
        let valid =
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b));
        if !valid {
            errors.push(path, format!("{spec:?} is not a host name or *.suffix"));
            return None;
        }
        Some(if suffix {
            HostMatcher::Suffix(format!(".{name}").into())
        } else {
            HostMatcher::Exact(name.into())
        })
    }

    /// The host name of an exact matcher, which the path index keys records by.
    pub(crate) fn exact(&self) -> Option<&str> {
        match self {
            HostMatcher::Exact(h) => Some(h),
            HostMatcher::Suffix(_) => None,
        }
    }

    pub(crate) fn matches(&self, host: Option<&str>) -> bool {
        let Some(host) = host else { return false };
        match self {
            HostMatcher::Exact(h) => host.eq_ignore_ascii_case(h),
            HostMatcher::Suffix(s) => {
                host.len() > s.len()
                    && host.as_bytes()[host.len() - s.len()..].eq_ignore_ascii_case(s.as_bytes())
            }
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            HostMatcher::Exact(h) => format!("host is {h:?}"),
            HostMatcher::Suffix(s) => format!("host ends with {s:?}"),
        }
    }
}

/// The scenario part of a rule.
#[derive(Debug, Clone)]
pub(crate) struct ScenarioGate {
    pub(crate) name: Box<str>,
    pub(crate) slot: Arc<ScenarioSlot>,
    pub(crate) required: Option<u32>,
    pub(crate) required_name: Option<Box<str>>,
    pub(crate) next: Option<u32>,
}

/// What a rule does when it is selected.
#[derive(Debug, Clone)]
pub(crate) enum Action {
    Respond(CompiledResponse),
    Sequence { mode: SequenceMode, responses: Vec<CompiledResponse> },
    Forward(crate::forward::ForwardTarget),
}

/// One rule, compiled. A clone shares the rule's counters and scenario with the original
/// (see `reuse`).
///
/// The fields selection reads are first, in the order it reads them, and the layout is fixed
/// (`repr(C)`) so they share the rule's first cache lines: at 10k+ rules a rule is read from
/// memory, and the usual residual predicate (one header, `equals` a short value) is then read
/// whole from the rule's first two lines, with no pointer to follow.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct CompiledRule {
    /// Which of the predicate fields below are set ([`Predicates`]): a rule with one header
    /// predicate is checked without reading the others.
    pub(crate) predicates: u16,
    /// Header predicates: the first inline, names lowercased and kept inline when short.
    pub(crate) headers: SmallVec<[(ShortBytes, ValueMatcher); 1]>,
    pub(crate) host: Option<HostMatcher>,
    pub(crate) client_ip: Option<Vec<IpNet>>,
    pub(crate) query: Vec<(Box<str>, ValueMatcher)>,
    pub(crate) cookies: Vec<(Box<str>, ValueMatcher)>,
    pub(crate) url: Option<Box<UrlMatcher>>,
    pub(crate) form: Vec<(Box<str>, ValueMatcher)>,
    pub(crate) body: Option<Box<BodyMatcher>>,
    pub(crate) graphql: Option<GraphqlMatcher>,
    pub(crate) scenario: Option<ScenarioGate>,
    pub(crate) methods: MethodSet,
    pub(crate) id: Box<str>,
    pub(crate) enabled: bool,
    pub(crate) priority: i32,
    pub(crate) path: Option<PathPattern>,
    /// Present when the rule counts hits or has a `times` budget.
    pub(crate) counters: Option<Arc<RuleCounters>>,
    pub(crate) limited: bool,
    pub(crate) action: Action,
    /// Where the rule's responses set a header that a rule set's `cors` block sets too
    /// (`response.headers.access-control-allow-origin`): refused in a set with a `cors` block.
    pub(crate) cors_header: Option<Box<str>>,
}

impl CompiledRule {
    pub(crate) fn specificity(&self) -> Specificity {
        self.path.as_ref().map_or((0, 0), PathPattern::specificity)
    }
}

/// Context shared by the compilation of every rule of a set.
pub(crate) struct RuleEnv<'a> {
    pub(crate) response: ResponseEnv<'a>,
    pub(crate) upstreams: &'a BTreeMap<String, Arc<crate::forward::Cluster>>,
    /// The set's `upstreams` as written: a name declared but refused is not reported again.
    pub(crate) declared: &'a BTreeMap<String, crate::model::Upstream>,
    pub(crate) state: &'a StateStore,
}

pub(crate) fn compile_rule(
    rule: &Rule,
    index: usize,
    env: &RuleEnv<'_>,
    errors: &mut Errors,
) -> Option<CompiledRule> {
    let base = Place::Rule(index);
    let before = errors.len();
    check_id(&rule.id, &base, errors);
    let m = &rule.matcher;
    let mpath = base.field("match");
    let methods = match &m.method {
        Some(spec) => MethodSet::compile(spec, &mpath.field("method"), errors),
        None => Some(MethodSet::any()),
    };
    let host = m.host.as_ref().and_then(|h| HostMatcher::compile(h, &mpath.field("host"), errors));
    let path = m.path.as_ref().and_then(|p| PathPattern::compile(p, &mpath.field("path"), errors));
    let query = named_matchers(&m.query, &mpath, "query", false, errors);
    let headers = named_matchers(&m.headers, &mpath, "headers", true, errors);
    let cookies = named_matchers(&m.cookies, &mpath, "cookies", false, errors);
    let url = m.url.as_ref().and_then(|u| UrlMatcher::compile(u, &mpath.field("url"), errors)).map(Box::new);
    let form = named_matchers(&m.form, &mpath, "form", false, errors);
    let client_ip = m.client_ip.as_ref().map(|list| {
        let place = mpath.field("client_ip");
        if list.is_empty() {
            errors.push(place, "an empty list matches no client; omit client_ip for any client");
        }
        list.iter()
            .enumerate()
            .filter_map(|(i, s)| match parse_net(s) {
                Some(net) => Some(net),
                None => {
                    errors.push(place.index(i), format!("{s:?} is not an IP address or CIDR block"));
                    None
                }
            })
            .collect::<Vec<_>>()
    });
    let body =
        m.body.as_ref().and_then(|b| BodyMatcher::compile(b, &mpath.field("body"), errors)).map(Box::new);
    let graphql =
        m.graphql.as_ref().and_then(|g| GraphqlMatcher::compile(g, &mpath.field("graphql"), errors));

    let one_action = errors.exactly_one(
        &base,
        &[
            ("response", rule.response.is_some()),
            ("sequence", rule.sequence.is_some()),
            ("forward", rule.forward.is_some()),
        ],
    );
    let response_env = ResponseEnv { path: PathScope::of(m.path.is_some(), path.as_ref()), ..env.response };
    let action = if !one_action {
        None
    } else if let Some(r) = &rule.response {
        CompiledResponse::compile(r, &base.field("response"), &response_env, errors).map(Action::Respond)
    } else if let Some(seq) = &rule.sequence {
        let sequence = base.field("sequence");
        let place = sequence.field("responses");
        if seq.responses.is_empty() {
            errors.push(place, "a sequence needs at least one response");
        }
        let responses: Vec<_> = seq
            .responses
            .iter()
            .enumerate()
            .filter_map(|(i, r)| CompiledResponse::compile(r, &place.index(i), &response_env, errors))
            .collect();
        Some(Action::Sequence { mode: seq.mode, responses })
    } else {
        let f = rule.forward.as_ref().expect("one action is set");
        crate::forward::compile_forward(f, &base.field("forward"), env.upstreams, env.declared, errors)
            .map(Action::Forward)
    };

    if rule.times == Some(0) {
        errors.push(base.field("times"), "must be at least 1 (disable the rule to never serve it)");
    }
    let scenario = rule.scenario.as_ref().and_then(|s| {
        let place = base.field("scenario");
        let mut ok = true;
        for (field, value) in
            [("name", Some(&s.name)), ("state", s.state.as_ref()), ("next", s.next.as_ref())]
        {
            if value.is_some_and(|v| v.trim().is_empty()) {
                errors.push(place.field(field), "must not be empty");
                ok = false;
            }
        }
        if s.state.is_none() && s.next.is_none() {
            errors.push(place, "set state, next, or both");
            ok = false;
        }
        ok.then(|| ScenarioGate {
            name: s.name.as_str().into(),
            slot: env.state.scenario(&s.name),
            required: s.state.as_ref().map(|n| env.state.state_id(n)),
            required_name: s.state.as_deref().map(Into::into),
            next: s.next.as_ref().map(|n| env.state.state_id(n)),
        })
    });

    if errors.len() > before {
        return None;
    }
    let action = action?;
    let counts = match &action {
        Action::Respond(r) => needs_hits(r),
        Action::Sequence { responses, .. } => responses.len() > 1 || responses.iter().any(needs_hits),
        Action::Forward(f) => f.delay.as_ref().is_some_and(DelaySampler::uses_hits),
    };
    let limited = rule.times.is_some();
    let counters = (counts || limited).then(|| env.state.counters(&rule.id, fingerprint(rule), rule.times));
    let headers: SmallVec<[(ShortBytes, ValueMatcher); 1]> =
        headers?.into_iter().map(|(name, m)| (ShortBytes::from_slice(name.as_bytes()), m)).collect();
    let (query, cookies, form) = (query?, cookies?, form?);
    let predicates = [
        (host.is_some(), Predicates::HOST),
        (client_ip.is_some(), Predicates::CLIENT_IP),
        (!headers.is_empty(), Predicates::HEADERS),
        (!query.is_empty(), Predicates::QUERY),
        (!cookies.is_empty(), Predicates::COOKIES),
        (body.is_some(), Predicates::BODY),
        (graphql.is_some(), Predicates::GRAPHQL),
        (scenario.as_ref().is_some_and(|g| g.required.is_some()), Predicates::SCENARIO),
        (url.is_some(), Predicates::URL),
        (!form.is_empty(), Predicates::FORM),
    ]
    .into_iter()
    .filter(|(set, _)| *set)
    .fold(0, |all, (_, bit)| all | bit);
    Some(CompiledRule {
        predicates,
        id: rule.id.as_str().into(),
        enabled: rule.enabled,
        priority: rule.priority,
        methods: methods?,
        host,
        path,
        query,
        headers,
        cookies,
        url,
        form,
        client_ip,
        body,
        graphql,
        scenario,
        counters,
        limited,
        action,
        cors_header: crate::cors::own_cors_header(rule),
    })
}

/// The bits of [`CompiledRule::predicates`].
pub(crate) struct Predicates;

impl Predicates {
    pub(crate) const HOST: u16 = 1;
    pub(crate) const CLIENT_IP: u16 = 2;
    pub(crate) const HEADERS: u16 = 4;
    pub(crate) const QUERY: u16 = 8;
    pub(crate) const COOKIES: u16 = 16;
    pub(crate) const BODY: u16 = 32;
    pub(crate) const GRAPHQL: u16 = 64;
    /// A required scenario state.
    pub(crate) const SCENARIO: u16 = 128;
    pub(crate) const URL: u16 = 256;
    pub(crate) const FORM: u16 = 512;
}

fn needs_hits(r: &CompiledResponse) -> bool {
    r.uses_counter || r.delay.as_ref().is_some_and(DelaySampler::uses_hits)
}

/// A stable digest of a rule's content: unchanged rules keep their counters across swaps.
pub(crate) fn fingerprint(rule: &Rule) -> u64 {
    let text = serde_json::to_string(rule).expect("the model serializes to JSON");
    let mut h = std::hash::DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

fn check_id(id: &str, base: &Place<'_>, errors: &mut Errors) {
    let place = || base.field("id");
    if id.is_empty() {
        errors.push(place(), "must not be empty");
    } else if id.len() > 200 {
        errors.push(place(), "must be at most 200 characters");
    } else if id.chars().any(|c| c.is_control()) {
        errors.push(place(), "must not contain control characters");
    }
}

fn named_matchers(
    map: &BTreeMap<String, crate::model::ValueMatch>,
    parent: &Place<'_>,
    field: &str,
    lower: bool,
    errors: &mut Errors,
) -> Option<Vec<(Box<str>, ValueMatcher)>> {
    if map.is_empty() {
        return Some(Vec::new());
    }
    let path = parent.field(field);
    let before = errors.len();
    let mut out = Vec::with_capacity(map.len());
    let mut seen = std::collections::HashSet::new();
    for (name, spec) in map {
        let place = path.key(name);
        if name.is_empty() {
            errors.push(place, "a name must not be empty");
            continue;
        }
        if lower && !seen.insert(name.to_ascii_lowercase()) {
            errors.push(place, "the same header appears twice (names are case-insensitive)");
            continue;
        }
        if let Some(m) = ValueMatcher::compile(spec, &place, errors) {
            let name = if lower { name.to_ascii_lowercase() } else { name.clone() };
            out.push((name.into_boxed_str(), m));
        }
    }
    (errors.len() == before).then_some(out)
}

fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Some(net.trunc());
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// Whether `ip` (IPv4-mapped IPv6 addresses count as IPv4) is in one of `nets`.
pub(crate) fn ip_in(nets: &[IpNet], ip: Option<IpAddr>) -> bool {
    let Some(ip) = ip else { return false };
    let ip = ip.to_canonical();
    nets.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_compile_to_bits_and_names() {
        let mut errors = Errors::default();
        let set = MethodSet::compile(
            &MethodMatch::AnyOf(vec!["GET".into(), "PURGE".into()]),
            &Place::Root("m"),
            &mut errors,
        )
        .unwrap();
        assert!(set.accepts(method_bit("GET"), "GET"));
        assert!(set.accepts(0, "PURGE"));
        assert!(!set.accepts(method_bit("POST"), "POST"));
        assert!(MethodSet::any().accepts(0, "WHATEVER"));
        MethodSet::compile(&MethodMatch::One("get".into()), &Place::Root("m"), &mut errors);
        assert_eq!(errors.list[0].to_string(), "m: methods are case-sensitive: did you mean GET?");
    }

    #[test]
    fn hosts_and_addresses() {
        let mut errors = Errors::default();
        let suffix = HostMatcher::compile("*.example.com", &Place::Root("h"), &mut errors).unwrap();
        assert!(suffix.matches(Some("api.Example.COM")));
        assert!(!suffix.matches(Some("example.com")));
        assert!(!suffix.matches(Some("badexample.com")));
        let nets: Vec<IpNet> =
            ["10.0.0.0/8", "::1", "2001:db8::/32"].iter().map(|s| parse_net(s).unwrap()).collect();
        assert!(ip_in(&nets, Some("10.1.2.3".parse().unwrap())));
        assert!(ip_in(&nets, Some("::ffff:10.1.2.3".parse().unwrap())), "IPv4-mapped");
        assert!(ip_in(&nets, Some("::1".parse().unwrap())));
        assert!(ip_in(&nets, Some("2001:db8::7".parse().unwrap())));
        assert!(!ip_in(&nets, Some("11.0.0.1".parse().unwrap())));
        assert!(!ip_in(&nets, None));
        assert!(parse_net("10.0.0.0/33").is_none());
    }
}
