//! Rendering answers: a static response (bytes serialized at compile time, `Reply::Static`) and
//! a templated JSON body with three substitutions (a path parameter, a query parameter, the
//! method), each as `answer` alone on a prepared `Selection` and as the full `respond`, in a
//! table of 1,000 realistic rules, with one reused `RenderBuffers`.

#![deny(rust_2018_idioms)]

use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mockplane_benches::{realistic_rule_set, OwnedRequest};
use mockplane_rules::{
    CompileOptions, Header, RenderBuffers, Reply, Request, RequestContext, RuleSet, RuleTable,
};
use rand::rngs::SmallRng;
use rand::SeedableRng;

const EXTRA_RULES: &str = r#"
rules:
  - id: bench-static
    match: { method: GET, path: /bench/health }
    response: { status: 200, headers: { cache-control: no-store }, json: { status: ok, version: "1.4.2", uptime: 86400 } }
  - id: bench-template
    match: { method: GET, path: "/bench/users/{id}" }
    response:
      template: true
      headers: { content-type: application/json }
      body: '{"id":"{{request.path.id}}","q":"{{request.query.q}}","m":"{{request.method}}"}'
"#;

fn table() -> RuleTable {
    let mut set = realistic_rule_set(1_000, 42);
    set.rules.extend(RuleSet::from_yaml(EXTRA_RULES).unwrap_or_else(|e| panic!("{e}")).rules);
    RuleTable::compile(&set, &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn request(target: &str) -> OwnedRequest {
    OwnedRequest::new("GET", target)
        .header("Host", "api.example.com")
        .header("User-Agent", "okhttp/4.12.0")
        .header("Accept", "application/json")
        .header("X-Request-Id", "4f2a9c0e11d3b7a5")
}

fn render(c: &mut Criterion) {
    let table = table();
    let now: std::time::SystemTime =
        DateTime::<Utc>::from_timestamp(1_764_072_000, 0).expect("a valid time").into();
    let mut rng = SmallRng::seed_from_u64(1);
    let mut buffers = RenderBuffers::default();
    let mut group = c.benchmark_group("render");
    group
        .throughput(Throughput::Elements(1))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    for (name, target) in [("static", "/bench/health"), ("template", "/bench/users/42?q=shoes&page=2")] {
        let owned = request(target);
        let headers: Vec<Header<'_>> =
            owned.headers.iter().map(|(n, v)| Header { name: n, value: v.as_bytes() }).collect();
        let req = Request::new(&owned.method, &owned.target, &headers, &owned.body);
        let selection = table.select(&RequestContext::new(&req)).expect("the bench rule matches");
        assert_eq!(selection.rule_id(), format!("bench-{name}"));
        {
            let cx = RequestContext::new(&req);
            let answer = table.answer(&selection, &cx, now, &mut rng, &mut buffers);
            match (name, &answer.reply) {
                ("static", Reply::Static(_)) => {}
                ("template", Reply::Rendered { .. }) => {
                    assert_eq!(buffers.body, br#"{"id":"42","q":"shoes","m":"GET"}"#);
                }
                (_, other) => panic!("{name}: unexpected {other:?}"),
            }
        }

        // The answer step alone: a fresh context per request (as the server makes one), the
        // selection made once outside the loop.
        group.bench_function(format!("{name}/answer"), |b| {
            b.iter(|| {
                let cx = RequestContext::new(&req);
                let answer = table.answer(black_box(&selection), &cx, now, &mut rng, &mut buffers);
                black_box(&answer.reply);
                black_box(&buffers.body);
            })
        });
        // Select and answer, from a request lent by an `OwnedRequest`.
        group.bench_function(format!("{name}/respond"), |b| {
            b.iter(|| {
                owned.with_request(|cx| {
                    let answer = table.respond(black_box(cx), now, &mut rng, &mut buffers);
                    black_box(answer.map(|a| a.rule_index));
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
