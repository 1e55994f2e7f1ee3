//! The correctness backbone: a naive reference matcher (sort the rules by the documented
//! selection order, scan them linearly, check each predicate from the model with the simplest
//! code possible) must pick the same rule as the indexed table, for random rule sets and random
//! requests.

use std::collections::BTreeMap;

use mockplane_rules::model::{
    BodyMatch, MethodMatch, PathMatch, PathMatchSpec, RequestMatch, Response, Rule, ValueMatch,
    ValueMatchSpec,
};
use mockplane_rules::{
    CompileOptions, Header, Request, RequestContext, RuleSet, RuleTable, RuleVerdict, NEAR_MISS_CHECKS,
};
use proptest::prelude::*;
use regex::Regex;

// ---------------------------------------------------------------------------------------------
// The reference: deliberately simple, sharing no code with the engine.

/// (kind, literal segments or prefix length), larger is more specific.
fn specificity(rule: &Rule) -> (u8, u32) {
    match &rule.matcher.path {
        None => (0, 0),
        Some(PathMatch::Short(s)) if s.contains('{') => (3, literal_segments(s)),
        Some(PathMatch::Short(_)) => (4, 0),
        Some(PathMatch::Explicit(spec)) => {
            if spec.exact.is_some() {
                (4, 0)
            } else if let Some(t) = &spec.template {
                (3, literal_segments(t))
            } else if let Some(p) = &spec.prefix {
                (2, p.len() as u32)
            } else {
                (1, 0)
            }
        }
    }
}

fn literal_segments(template: &str) -> u32 {
    template[1..].split('/').filter(|s| !s.starts_with('{')).count() as u32
}

fn template_regex(template: &str) -> Regex {
    let mut re = String::from("^");
    for seg in template[1..].split('/') {
        re.push('/');
        if let Some(name) = seg.strip_prefix("{*") {
            let _ = name;
            re.push_str("(.*)");
        } else if seg.starts_with('{') {
            re.push_str("([^/]+)");
        } else {
            re.push_str(&regex::escape(seg));
        }
    }
    re.push('$');
    Regex::new(&re).unwrap()
}

fn path_holds(m: &PathMatch, path: &str) -> bool {
    match m {
        PathMatch::Short(s) if s.contains('{') => template_regex(s).is_match(path),
        PathMatch::Short(s) => s == path,
        PathMatch::Explicit(PathMatchSpec { exact: Some(e), .. }) => e == path,
        PathMatch::Explicit(PathMatchSpec { prefix: Some(p), .. }) => path.starts_with(p.as_str()),
        PathMatch::Explicit(PathMatchSpec { template: Some(t), .. }) => template_regex(t).is_match(path),
        PathMatch::Explicit(PathMatchSpec { regex: Some(r), .. }) => {
            Regex::new(&format!("^(?:{r})$")).unwrap().is_match(path)
        }
        PathMatch::Explicit(_) => unreachable!("generator sets one form"),
    }
}

fn value_holds(m: &ValueMatch, values: &[String]) -> bool {
    match m {
        ValueMatch::Equals(v) => values.iter().any(|x| x == v),
        ValueMatch::Spec(spec) => {
            if let Some(v) = &spec.equals {
                if spec.case_insensitive {
                    values.iter().any(|x| x.to_lowercase() == v.to_lowercase())
                } else {
                    values.iter().any(|x| x == v)
                }
            } else if let Some(v) = &spec.contains {
                values.iter().any(|x| x.contains(v.as_str()))
            } else if let Some(r) = &spec.regex {
                let re = Regex::new(&format!("^(?:{r})$")).unwrap();
                values.iter().any(|x| re.is_match(x))
            } else if spec.present == Some(true) {
                !values.is_empty()
            } else if spec.absent == Some(true) {
                values.is_empty()
            } else if let Some(inner) = &spec.not {
                !value_holds(inner, values)
            } else {
                unreachable!("generator sets one operator")
            }
        }
    }
}

fn body_holds(m: &BodyMatch, body: &str) -> bool {
    if let Some(v) = &m.equals {
        body == v
    } else if let Some(v) = &m.contains {
        body.contains(v.as_str())
    } else if let Some(json) = &m.json {
        serde_json::from_str::<serde_json::Value>(body).is_ok_and(|actual| json_eq(&actual, json))
    } else {
        unreachable!("generator sets one operator")
    }
}

/// JSON equality with numbers compared by value (1 == 1.0), as the model documents.
fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => x.as_f64() == y.as_f64(),
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q)),
        (Object(x), Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

#[derive(Debug)]
struct RefRequest {
    method: String,
    host: String,
    path: String,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    body: String,
}

fn rule_holds(rule: &Rule, req: &RefRequest) -> bool {
    let m = &rule.matcher;
    if !rule.enabled {
        return false;
    }
    let method_ok = match &m.method {
        None => true,
        Some(MethodMatch::One(x)) => x == "ANY" || *x == req.method,
        Some(MethodMatch::AnyOf(xs)) => xs.iter().any(|x| x == "ANY" || *x == req.method),
    };
    // The port is not part of the host a rule names.
    let host = req.host.rsplit_once(':').map_or(req.host.as_str(), |(name, _)| name);
    let host_ok = match &m.host {
        None => true,
        Some(h) => match h.strip_prefix("*.") {
            Some(suffix) => host.to_lowercase().ends_with(&format!(".{}", suffix.to_lowercase())),
            None => host.eq_ignore_ascii_case(h),
        },
    };
    let path_ok = m.path.as_ref().is_none_or(|p| path_holds(p, &req.path));
    let headers_ok = m.headers.iter().all(|(name, vm)| {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect();
        value_holds(vm, &values)
    });
    let query_ok = m.query.iter().all(|(name, vm)| {
        let values: Vec<String> =
            req.query.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect();
        value_holds(vm, &values)
    });
    let body_ok = m.body.as_ref().is_none_or(|b| body_holds(b, &req.body));
    method_ok && host_ok && path_ok && headers_ok && query_ok && body_ok
}

fn reference_select<'a>(set: &'a RuleSet, req: &RefRequest) -> Option<&'a str> {
    let mut order: Vec<(usize, &Rule)> = set.rules.iter().map(|r| &**r).enumerate().collect();
    order.sort_by(|(ia, a), (ib, b)| {
        b.priority.cmp(&a.priority).then(specificity(b).cmp(&specificity(a))).then(ia.cmp(ib))
    });
    order.into_iter().find(|(_, r)| rule_holds(r, req)).map(|(_, r)| r.id.as_str())
}

fn engine_select(table: &RuleTable, req: &RefRequest) -> Option<String> {
    with_context(req, |cx| table.select(cx).map(|s| s.rule_id().to_owned()))
}

/// Runs `f` on the engine's view of `req`.
fn with_context<T>(req: &RefRequest, f: impl FnOnce(&RequestContext<'_>) -> T) -> T {
    let mut headers: Vec<Header<'_>> =
        req.headers.iter().map(|(k, v)| Header { name: k, value: v.as_bytes() }).collect();
    headers.push(Header { name: "Host", value: req.host.as_bytes() });
    let query: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let target =
        if query.is_empty() { req.path.clone() } else { format!("{}?{}", req.path, query.join("&")) };
    let request = Request::new(&req.method, &target, &headers, req.body.as_bytes());
    let cx = RequestContext::new(&request);
    f(&cx)
}

// ---------------------------------------------------------------------------------------------
// Generators: a small alphabet, so that rules and requests collide often.

const SEGMENTS: &[&str] = &["a", "b", "users", "42", "x-y"];

fn segment() -> impl Strategy<Value = String> {
    prop::sample::select(SEGMENTS).prop_map(str::to_owned)
}

fn concrete_path() -> impl Strategy<Value = String> {
    (prop::collection::vec(segment(), 1..4), any::<bool>()).prop_map(|(segs, trailing)| {
        let mut p = format!("/{}", segs.join("/"));
        if trailing {
            p.push('/');
        }
        p
    })
}

fn template_path() -> impl Strategy<Value = String> {
    let seg = prop_oneof![3 => segment(), 2 => Just("{p}".to_owned())];
    (prop::collection::vec(seg, 1..4), prop::bool::weighted(0.25)).prop_map(|(segs, rest)| {
        // Parameter names must be unique within a template.
        let mut n = 0;
        let mut parts: Vec<String> = segs
            .into_iter()
            .map(|s| {
                if s == "{p}" {
                    n += 1;
                    format!("{{p{n}}}")
                } else {
                    s
                }
            })
            .collect();
        if rest {
            parts.push("{*rest}".into());
        }
        format!("/{}", parts.join("/"))
    })
}

fn path_match() -> impl Strategy<Value = Option<PathMatch>> {
    prop_oneof![
        3 => concrete_path().prop_map(|p| Some(PathMatch::Short(p))),
        3 => template_path().prop_map(|p| Some(PathMatch::Short(p))),
        1 => template_path().prop_map(|t| Some(PathMatch::Explicit(PathMatchSpec { template: Some(t), ..Default::default() }))),
        2 => concrete_path().prop_map(|p| {
            let cut = 1 + p.len() / 2;
            Some(PathMatch::Explicit(PathMatchSpec { prefix: Some(p[..cut].to_owned()), ..Default::default() }))
        }),
        1 => prop::sample::select(&["/a/.*", "/(users|b)/[0-9]+", "/.*/42/?", "/b"][..])
            .prop_map(|r| Some(PathMatch::Explicit(PathMatchSpec { regex: Some(r.to_owned()), ..Default::default() }))),
        1 => Just(None),
    ]
}

fn value_match() -> impl Strategy<Value = ValueMatch> {
    let leaf = prop_oneof![
        prop::sample::select(&["1", "2", "A"][..]).prop_map(|v| ValueMatch::Equals(v.into())),
        Just(ValueMatch::Spec(Box::new(ValueMatchSpec {
            equals: Some("a".into()),
            case_insensitive: true,
            ..Default::default()
        }))),
        Just(ValueMatch::Spec(Box::new(ValueMatchSpec { contains: Some("1".into()), ..Default::default() }))),
        Just(ValueMatch::Spec(Box::new(ValueMatchSpec {
            regex: Some("[0-9]+".into()),
            ..Default::default()
        }))),
        Just(ValueMatch::Spec(Box::new(ValueMatchSpec { present: Some(true), ..Default::default() }))),
        Just(ValueMatch::Spec(Box::new(ValueMatchSpec { absent: Some(true), ..Default::default() }))),
    ];
    leaf.prop_recursive(1, 2, 1, |inner| {
        inner.prop_map(|m| ValueMatch::Spec(Box::new(ValueMatchSpec { not: Some(m), ..Default::default() })))
    })
}

fn rule(i: usize) -> impl Strategy<Value = Rule> {
    (
        prop::option::weighted(0.6, prop::sample::subsequence(vec!["GET", "POST", "DELETE"], 1..3)),
        // Exact hosts (in any case) key their own index records; `*.test` stays a residual check.
        prop::option::weighted(
            0.3,
            prop::sample::select(&["api.test", "*.test", "other.test", "API.Test"][..]),
        ),
        path_match(),
        prop::collection::btree_map(
            prop::sample::select(&["x-a", "X-B"][..]).prop_map(str::to_owned),
            value_match(),
            0..2,
        ),
        prop::collection::btree_map(
            prop::sample::select(&["q", "r"][..]).prop_map(str::to_owned),
            value_match(),
            0..2,
        ),
        prop::option::weighted(
            0.1,
            prop_oneof![
                Just(BodyMatch { contains: Some("k".into()), ..Default::default() }),
                Just(BodyMatch { equals: Some("{\"k\":1}".into()), ..Default::default() }),
                Just(BodyMatch { json: Some(serde_json::json!({"k": 1})), ..Default::default() }),
            ],
        ),
        prop_oneof![3 => 0..3i32, 1 => -2..11i32],
        prop::bool::weighted(0.9),
    )
        .prop_map(move |(methods, host, path, headers, query, body, priority, enabled)| Rule {
            id: format!("r{i}"),
            name: None,
            priority,
            enabled,
            tags: vec![],
            matcher: RequestMatch {
                method: methods.map(|ms| MethodMatch::AnyOf(ms.into_iter().map(str::to_owned).collect())),
                host: host.map(str::to_owned),
                path,
                query,
                headers,
                cookies: BTreeMap::new(),
                body,
                client_ip: None,
                graphql: None,
                url: None,
                form: BTreeMap::new(),
            },
            response: Some(Response { body: Some(format!("from r{i}")), ..Default::default() }),
            sequence: None,
            forward: None,
            times: None,
            scenario: None,
        })
}

/// Paths that let the index take its shortcuts: every regex starts with a literal (so template
/// records can be complete) and no rule goes without a path (so exact-path records merge every
/// other kind), with exact paths that templates, prefixes and regexes also match.
fn indexed_path_match() -> impl Strategy<Value = Option<PathMatch>> {
    prop_oneof![
        3 => concrete_path().prop_map(|p| Some(PathMatch::Short(p))),
        3 => template_path().prop_map(|p| Some(PathMatch::Short(p))),
        1 => concrete_path().prop_map(|p| {
            let cut = 1 + p.len() / 2;
            Some(PathMatch::Explicit(PathMatchSpec { prefix: Some(p[..cut].to_owned()), ..Default::default() }))
        }),
        1 => prop::sample::select(&["/a/.*", "/users/[0-9]+", "/b", "/x-y/4[0-9]/?", "/a/(b|42)"][..])
            .prop_map(|r| Some(PathMatch::Explicit(PathMatchSpec { regex: Some(r.to_owned()), ..Default::default() }))),
    ]
}

fn indexed_rule_set() -> impl Strategy<Value = RuleSet> {
    (1..40usize)
        .prop_flat_map(|n| {
            (0..n)
                .map(|i| {
                    (rule(i), indexed_path_match()).prop_map(|(mut r, path)| {
                        r.matcher.path = path;
                        r
                    })
                })
                .collect::<Vec<_>>()
        })
        .prop_map(|rules| RuleSet {
            rules: rules.into_iter().map(std::sync::Arc::new).collect(),
            ..Default::default()
        })
}

fn rule_set() -> impl Strategy<Value = RuleSet> {
    (1..40usize).prop_flat_map(|n| (0..n).map(rule).collect::<Vec<_>>()).prop_map(|rules| RuleSet {
        rules: rules.into_iter().map(std::sync::Arc::new).collect(),
        ..Default::default()
    })
}

fn request() -> impl Strategy<Value = RefRequest> {
    let kv = |names: &'static [&'static str]| {
        prop::collection::vec(
            (
                prop::sample::select(names).prop_map(str::to_owned),
                prop::sample::select(&["1", "2", "A", "a", "12"][..]).prop_map(str::to_owned),
            ),
            0..3,
        )
    };
    (
        prop::sample::select(&["GET", "POST", "DELETE", "PUT"][..]),
        prop::sample::select(
            &["api.test", "x.api.test", "other.test", "test", "Api.TEST", "api.test:8080"][..],
        ),
        prop_oneof![concrete_path(), Just("/".to_owned())],
        kv(&["x-a", "X-A", "x-b"]),
        kv(&["q", "r"]),
        prop::sample::select(&["", "k", "{\"k\":1}", "{\"k\": 1.0}", "{\"k\":2}"][..]),
    )
        .prop_map(|(method, host, path, headers, query, body)| RefRequest {
            method: method.into(),
            host: host.into(),
            path,
            headers,
            query,
            body: body.into(),
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_index_shortcuts_pick_what_a_linear_scan_picks(set in indexed_rule_set(), requests in prop::collection::vec(request(), 1..20)) {
        let table = RuleTable::compile(&set, &CompileOptions::default()).expect("generated rule sets are valid");
        for req in &requests {
            let expected = reference_select(&set, req);
            let got = engine_select(&table, req);
            prop_assert_eq!(got.as_deref(), expected, "{} {} host={} headers={:?} query={:?} body={:?}",
                req.method, req.path, req.host, req.headers, req.query, req.body);
        }
    }

    #[test]
    fn the_index_picks_what_a_linear_scan_picks(set in rule_set(), requests in prop::collection::vec(request(), 1..20)) {
        let table = RuleTable::compile(&set, &CompileOptions::default()).expect("generated rule sets are valid");
        for req in &requests {
            let expected = reference_select(&set, req);
            let got = engine_select(&table, req);
            prop_assert_eq!(got.as_deref(), expected, "{} {} host={} headers={:?} query={:?} body={:?}",
                req.method, req.path, req.host, req.headers, req.query, req.body);
        }
    }

    /// The default 404's near misses, found from the index, are the full explanation's ranking
    /// of the rules a path lookup reaches, with the same verdicts, as long as the lookup reached
    /// no more rules than a 404 checks.
    #[test]
    fn near_misses_rank_the_reached_rules_as_the_full_explanation_does(set in rule_set(), requests in prop::collection::vec(request(), 1..20)) {
        let table = RuleTable::compile(&set, &CompileOptions::default()).expect("generated rule sets are valid");
        for req in &requests {
            with_context(req, |cx| {
                if table.select(cx).is_some() {
                    return Ok(());
                }
                let near = table.near_misses(cx, 64);
                let full = table.explain(cx);
                prop_assert!(near.checked <= NEAR_MISS_CHECKS);
                prop_assert_eq!(near.truncated, near.checked == NEAR_MISS_CHECKS && near.truncated);
                for v in &near.rules {
                    prop_assert!(!v.matched && v.path_matched && set.rules[v.index].enabled, "{:?}", v);
                    prop_assert_eq!(v, &full.rules[v.index], "the same verdict as the full explanation");
                }
                if !near.truncated {
                    // Rules with an exact host are kept apart by the host index: a request for
                    // another host does not reach them. Leave them out of the comparison.
                    let request_host = req.host.split(':').next().unwrap_or_default();
                    let elsewhere = |v: &&RuleVerdict| {
                        set.rules[v.index].matcher.host.as_deref().is_some_and(|h| {
                            !h.contains('*') && !h.eq_ignore_ascii_case(request_host)
                        })
                    };
                    let expected: Vec<&RuleVerdict> = full
                        .near_misses(usize::MAX)
                        .into_iter()
                        .filter(|v| v.path_matched && set.rules[v.index].enabled)
                        .filter(|v| !elsewhere(v))
                        .collect();
                    let got: Vec<&RuleVerdict> = near.rules.iter().filter(|v| !elsewhere(v)).collect();
                    prop_assert_eq!(got, expected, "{} {} host={}", req.method, req.path, req.host);
                }
                Ok(())
            })?;
        }
    }
}
