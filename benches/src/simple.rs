//! The one-line rules the server benchmarks add to a generated set: `GET PATH` → `BODY`.

use mockplane_rules::model::{MethodMatch, PathMatch, RequestMatch, Response, Rule};

/// A rule answering `GET path` with `200 body`.
pub fn get_rule(id: &str, path: &str, body: &str) -> Rule {
    Rule {
        id: id.into(),
        name: None,
        priority: 0,
        enabled: true,
        tags: vec![],
        matcher: RequestMatch {
            method: Some(MethodMatch::One("GET".into())),
            path: Some(PathMatch::Short(path.into())),
            ..Default::default()
        },
        response: Some(Response { body: Some(body.into()), ..Default::default() }),
        sequence: None,
        forward: None,
        times: None,
        scenario: None,
        validate: None,
    }
}

/// `base` plus one rule whose body names the round, so every round is a new version that
/// edits one rule, as real edits do (`xds-apply`, `xds-converge`). The other rules are shared
/// with `base`.
pub fn with_round_marker(
    base: &mockplane_rules::model::RuleSet,
    round: usize,
) -> mockplane_rules::model::RuleSet {
    let mut set = base.clone();
    set.rules.push(std::sync::Arc::new(get_rule("bench-round", "/bench/round", &format!("round {round}"))));
    set
}
