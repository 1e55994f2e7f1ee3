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
    }
}
