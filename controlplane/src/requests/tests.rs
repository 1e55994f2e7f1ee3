use super::*;
use crate::cache::SnapshotCache;
use mockplane_proto::report::{Header as WireHeader, Report};
use mockplane_rules::Format;

const ENV: &str = "shop/staging";

/// A store holding `entries` (oldest first) of node `dp-1`, or of the node each names.
fn store(entries: Vec<(&str, JournalEntry)>) -> ReportStore {
    let cache = SnapshotCache::new();
    let rules = RuleSet::parse("rules:\n  - { id: a, response: { body: a } }\n", Format::Yaml).unwrap();
    let snapshot = cache.set(ENV, rules, None).unwrap();
    let store = ReportStore::new();
    for (node, entry) in entries {
        store.add(&snapshot, node, &Report { journal: vec![entry], ..Default::default() });
    }
    store
}

fn entry(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> JournalEntry {
    JournalEntry {
        method: method.into(),
        target: target.into(),
        status: 200,
        headers: headers
            .iter()
            .map(|(n, v)| WireHeader { name: (*n).into(), value: v.as_bytes().to_vec() })
            .collect(),
        body: body.as_bytes().to_vec(),
        body_size: body.len() as u64,
        client_ip: "10.1.2.3".into(),
        client_port: 40_000,
        ..Default::default()
    }
}

/// The `match` of a rule written in YAML flow style, e.g. `{ method: POST }`.
fn pattern(yaml: &str) -> RequestMatch {
    let text = format!("rules:\n  - {{ id: p, match: {yaml}, response: {{}} }}\n");
    RuleSet::parse(&text, Format::Yaml).unwrap().rules[0].matcher.clone()
}

fn count(store: &ReportStore, yaml: &str) -> u64 {
    store.verify(ENV, &pattern(yaml)).unwrap().count
}

#[test]
fn verify_counts_what_a_rule_with_the_same_match_would_match() {
    let store = store(vec![
        (
            "dp-1",
            entry(
                "POST",
                "/orders?dry=1",
                &[("content-type", "application/json"), ("x-team", "red")],
                r#"{"sku":"a-1","qty":2}"#,
            ),
        ),
        (
            "dp-2",
            entry(
                "POST",
                "/orders",
                &[("Content-Type", "application/json"), ("x-team", "blue")],
                r#"{"sku":"b-2","qty":1}"#,
            ),
        ),
        ("dp-1", entry("GET", "/orders/7", &[("host", "api.example.com:8080")], "")),
    ]);
    assert_eq!(store.verify(ENV, &pattern("{}")).unwrap(), Verification { count: 3, checked: 3 });
    assert_eq!(count(&store, "{ method: POST, path: /orders }"), 2);
    // Header names in any case; a header that differs does not match.
    assert_eq!(count(&store, "{ headers: { content-type: application/json } }"), 2);
    assert_eq!(count(&store, "{ method: POST, headers: { x-team: red } }"), 1);
    assert_eq!(count(&store, "{ headers: { x-team: green } }"), 0);
    // Bodies as a rule matches them: JSON with extra members ignored, a body that differs not.
    assert_eq!(count(&store, "{ body: { json: { sku: a-1 }, ignore_extra_elements: true } }"), 1);
    assert_eq!(count(&store, "{ body: { json: { sku: c-3 }, ignore_extra_elements: true } }"), 0);
    assert_eq!(count(&store, "{ body: { contains: qty } }"), 2);
    // Query, host, path templates and the client address.
    assert_eq!(count(&store, "{ query: { dry: '1' } }"), 1);
    assert_eq!(count(&store, "{ host: api.example.com }"), 1);
    assert_eq!(count(&store, "{ path: '/orders/{id}' }"), 1);
    assert_eq!(count(&store, "{ client_ip: [10.1.0.0/16] }"), 3);
    assert_eq!(count(&store, "{ client_ip: [192.168.0.0/16] }"), 0);
    // An environment nobody reported on has nothing to count.
    assert_eq!(store.verify("shop/prod", &pattern("{}")).unwrap(), Verification { count: 0, checked: 0 });
}

#[test]
fn a_body_predicate_sees_the_journaled_prefix_only() {
    let long = format!(r#"{{"pad":"{}","end":true}}"#, "x".repeat(300));
    let mut e = entry("POST", "/big", &[], &long[..256]);
    e.body_size = long.len() as u64;
    let store = store(vec![("dp-1", e)]);
    let r = &store.entries(ENV)[0];
    assert!(r.body_truncated());
    assert_eq!(count(&store, "{ body: { contains: pad } }"), 1);
    assert_eq!(count(&store, "{ body: { contains: end } }"), 0, "past the prefix: not journaled");
}

#[test]
fn an_invalid_pattern_is_refused_with_every_error_placed_inside_it() {
    let store = store(vec![]);
    let e = store
        .verify(ENV, &pattern("{ path: { regex: '(' }, headers: { x-a: { regex: '[' } } }"))
        .unwrap_err();
    let places: Vec<&str> = e.errors.iter().map(|v| v.path.as_str()).collect();
    assert_eq!(places, ["path.regex", "headers.x-a.regex"], "{e}");
    assert!(
        e.to_string().starts_with("the request pattern was refused:\n  path.regex: invalid regex"),
        "{e}"
    );
    assert_eq!(within_pattern("rules[0].match"), "");
    assert_eq!(within_pattern("rules[0].match.body.json"), "body.json");
}

#[test]
fn requests_are_the_newest_first_and_every_filter_applies() {
    let mut miss = entry("GET", "/missing", &[], "");
    miss.status = 404;
    let mut hit = entry("GET", "/users/7?full=1", &[], "");
    hit.rule_id = "user".into();
    hit.at_ms = 2_000;
    let mut post = entry("POST", "/users", &[], "{}");
    post.rule_id = "create-user".into();
    post.status = 201;
    post.at_ms = 3_000;
    let store = store(vec![("dp-1", miss), ("dp-2", hit), ("dp-1", post)]);
    let targets = |filter: RequestFilter, limit| -> Vec<String> {
        store.requests(ENV, &filter, limit).iter().map(|r| r.entry.target.clone()).collect()
    };
    assert_eq!(targets(RequestFilter::default(), 10), ["/users", "/users/7?full=1", "/missing"]);
    assert_eq!(targets(RequestFilter::default(), 1), ["/users"]);
    let only = |f: fn(&mut RequestFilter)| {
        let mut filter = RequestFilter::default();
        f(&mut filter);
        targets(filter, 10)
    };
    assert_eq!(only(|f| f.method = Some("GET".into())), ["/users/7?full=1", "/missing"]);
    assert_eq!(only(|f| f.path_contains = Some("full".into())), ["/users/7?full=1"]);
    assert_eq!(only(|f| f.path_prefix = Some("/users".into())), ["/users", "/users/7?full=1"]);
    assert_eq!(only(|f| f.status = Some(404)), ["/missing"]);
    assert_eq!(only(|f| f.rule = Some(String::new())), ["/missing"]);
    assert_eq!(only(|f| f.rule = Some("user".into())), ["/users/7?full=1"]);
    assert_eq!(only(|f| f.node = Some("dp-2".into())), ["/users/7?full=1"]);
    assert_eq!(only(|f| f.since_ms = Some(2_000)), ["/users", "/users/7?full=1"]);
    let r = &store.requests(ENV, &RequestFilter::default(), 2)[1];
    assert_eq!(
        (r.node.as_str(), r.path(), r.query(), r.rule_id()),
        ("dp-2", "/users/7", "full=1", Some("user"))
    );
    assert_eq!(r.client_ip(), Some("10.1.2.3".parse().unwrap()));
    assert_eq!(r.headers().count(), 0);
}

#[tokio::test]
async fn a_live_tail_gets_the_requests_its_filter_accepts_as_they_arrive() {
    use tokio_stream::StreamExt as _;
    let store = store(vec![("dp-1", entry("GET", "/before", &[], ""))]);
    let snapshot = SnapshotCache::new().set(ENV, RuleSet::default(), None).unwrap();
    let filter = RequestFilter { method: Some("POST".into()), ..Default::default() };
    let tail = store.request_events(ENV, filter);
    tokio::pin!(tail);
    let other = SnapshotCache::new().set("shop/prod", RuleSet::default(), None).unwrap();
    store.add(
        &other,
        "dp-9",
        &Report { journal: vec![entry("POST", "/elsewhere", &[], "")], ..Default::default() },
    );
    let two = Report {
        journal: vec![
            entry("POST", "/second", &[], ""),
            entry("GET", "/no", &[], ""),
            entry("POST", "/first", &[], ""),
        ],
        ..Default::default()
    };
    store.add(&snapshot, "dp-2", &two);
    let mut seen = Vec::new();
    for _ in 0..2 {
        match tokio::time::timeout(std::time::Duration::from_secs(5), tail.next()).await {
            Ok(Some(RequestTail::Request(r))) => seen.push((r.node.clone(), r.entry.target.clone())),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, [("dp-2".into(), "/first".into()), ("dp-2".into(), "/second".into())]);
    // Nothing else was sent to it: not the GET, not the other environment's POST.
    let more = tokio::time::timeout(std::time::Duration::from_millis(50), tail.next()).await;
    assert!(more.is_err(), "{more:?}");
}
