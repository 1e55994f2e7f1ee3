//! Parsing a request body into a `serde_json::Value`, as `RequestContext::body_json` does for
//! the matchers the flat body view leaves (escapes, exponents, deep nesting), GraphQL bodies and
//! `{{jsonPath request.body …}}` templates: simd-json (a copy of the bytes, since it parses in
//! place, then serde into the `Value`) against serde_json straight from the bytes. Three
//! realistic bodies, ~100 B, ~2 KB and ~100 KB; both parsers of one size run back to back
//! (simd-json first for one size, serde_json first for the next) so that a busy machine weighs
//! on both alike. Figures and the verdict are in docs/benchmarks.md.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::{json, Value};

/// What `rules/src/request.rs` did with simd-json: copy, then parse in place.
fn with_simd_json(bytes: &[u8]) -> Option<Value> {
    let mut buf = bytes.to_vec();
    simd_json::serde::from_slice::<Value>(&mut buf).ok()
}

/// serde_json, from the borrowed bytes.
fn with_serde_json(bytes: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Value>(bytes).ok()
}

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
    for (i, (name, value)) in
        [("small", small()), ("medium", medium()), ("large", large())].into_iter().enumerate()
    {
        let bytes = serde_json::to_vec(&value).expect("serializes");
        eprintln!("json_body/{name}: {} bytes", bytes.len());
        // Both read the body as it was written. serde_json needs its `float_roundtrip` feature
        // for that: without it, some of the large body's 17-digit floats land one ulp off.
        assert_eq!(with_simd_json(&bytes), Some(value.clone()), "simd-json misread the {name} body");
        assert_eq!(with_serde_json(&bytes), Some(value), "serde_json misread the {name} body");
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        let parsers: [(&str, fn(&[u8]) -> Option<Value>); 2] =
            [("simd_json", with_simd_json), ("serde_json", with_serde_json)];
        let mut order = parsers.to_vec();
        if i % 2 == 1 {
            order.reverse();
        }
        for (parser, parse) in order {
            group.bench_with_input(BenchmarkId::new(name, parser), &bytes[..], |b, bytes| {
                b.iter(|| parse(black_box(bytes)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, json_body);
criterion_main!(benches);
