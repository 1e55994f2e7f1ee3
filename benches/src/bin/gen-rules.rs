//! Writes a realistic rule set of N rules as YAML to stdout, plus one rule the HTTP benchmark
//! requests (`GET /hello` → `hi`), so that the data plane answers from a table of that size.
//!
//! `gen-rules [N] [SEED]` (defaults 10000, 42)

use mockplane_rules::model::{MethodMatch, PathMatch, RequestMatch, Response, Rule};

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let mut set = mockplane_benches::realistic_rule_set(n, seed);
    set.rules.push(Rule {
        id: "bench-hello".into(),
        name: None,
        priority: 0,
        enabled: true,
        tags: vec![],
        matcher: RequestMatch {
            method: Some(MethodMatch::One("GET".into())),
            path: Some(PathMatch::Short("/hello".into())),
            ..Default::default()
        },
        response: Some(Response { body: Some("hi".into()), ..Default::default() }),
        sequence: None,
        forward: None,
        times: None,
        scenario: None,
    });
    print!("{}", set.to_yaml());
}
