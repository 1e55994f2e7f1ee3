//! Writes a realistic rule set of N rules as YAML to stdout, plus one rule the HTTP benchmark
//! requests (`GET /hello` → `hi`), so that the data plane answers from a table of that size.
//!
//! `gen-rules [N] [SEED]` (defaults 10000, 42)

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let mut set = mockplane_benches::realistic_rule_set(n, seed);
    set.rules.push(std::sync::Arc::new(mockplane_benches::get_rule("bench-hello", "/hello", "hi")));
    print!("{}", set.to_yaml());
}
