//! Parsing a request body into a `serde_json::Value`, as `RequestContext::body_json` does for
//! the matchers the flat body view leaves (escapes, exponents, deep nesting), GraphQL bodies and
//! `{{jsonPath request.body …}}` templates: three realistic bodies, ~100 B, ~2 KB and ~100 KB.
//!
//! The parse is serde_json's. Until commit `fc2b2f4` this file compared it with simd-json, which
//! the engine used then; docs/benchmarks.md ("simd-json or serde_json") has the figures and why
//! simd-json went.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mockplane_rules::{Request, RequestContext};
use serde_json::{json, Value};

/// A pet, as a create or update request carries it (~100 bytes).
fn small() -> Value {
    json!({"id": "p-1042", "name": "Rex", "species": "dog", "age": 3, "tags": ["friendly", "vaccinated"], "price": 129.5})
}

/// An order with a customer, an address and 14 lines (~2 KB).
fn medium() -> Value {
    let lines: Vec<Value> = (0..14)
        .map(|i| {
            let (color, size) = (["red", "green", "blue"][i % 3], ["S", "M", "L", "XL"][i % 4]);
            json!({
                "sku": format!("SKU-{:05}", 1000 + i * 37),
                "name": format!("Item number {i}"),
                "quantity": 1 + i % 3,
                "unitPrice": 4.99 + i as f64,
                "attributes": {"color": color, "size": size},
            })
        })
        .collect();
    json!({
        "orderId": "ord-2024-000917",
        "customer": {"id": 5521, "email": "ann@example.com", "name": "Ann Example", "vip": false},
        "shipping": {"street": "1 Main Street", "city": "Springfield", "zip": "12345", "country": "US",
                     "note": "Leave at the \"back\" door"},
        "lines": lines,
        "currency": "EUR",
        "total": 187.42,
        "createdAt": "2024-03-05T14:07:09.042Z",
    })
}

/// A page of 480 records, as a bulk import or a sync call sends (~100 KB).
fn large() -> Value {
    let items: Vec<Value> = (0..480)
        .map(|i| {
            json!({
                "id": 100_000 + i,
                "uuid": format!("0b4e6a1c-6f5e-4d39-9a51-{:012x}", i * 7919),
                "name": format!("Record {i}"),
                "active": i % 5 != 0,
                "score": (i as f64) * 0.37,
                "tags": ["alpha", "beta", "gamma"],
                "owner": {"id": i % 50, "team": format!("team-{}", i % 7)},
                "updatedAt": "2024-03-05T14:07:09Z",
            })
        })
        .collect();
    json!({"page": 1, "pageSize": 480, "total": 12_345, "items": items})
}

fn json_body(c: &mut Criterion) {
    let mut group = c.benchmark_group("json_body");
    group.warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    for (name, value) in [("small", small()), ("medium", medium()), ("large", large())] {
        let bytes = serde_json::to_vec(&value).expect("serializes");
        eprintln!("json_body/{name}: {} bytes", bytes.len());
        let req = Request::new("POST", "/bench", &[], &bytes);
        // The body reads back as written, 17-digit floats included (serde_json's
        // `float_roundtrip`).
        assert_eq!(RequestContext::new(&req).body_json(), Some(&value), "the {name} body misread");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new(name, "body_json"), &req, |b, req| {
            // A new context per iteration: `body_json` parses once per request and caches it.
            b.iter(|| RequestContext::new(black_box(req)).body_json().is_some())
        });
    }
    group.finish();
}

criterion_group!(benches, json_body);
criterion_main!(benches);
