//! The scenarios every peer is measured on, and the one request each sends.
//!
//! Every scenario names the request the load generator repeats and the answer an equivalent stub
//! gives, so that each peer's stubs (stubs.rs) can be written to answer the same bytes of body.

/// A scenario: one kind of request against one kind of stub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    /// `GET /static`, answered by a stub with a fixed JSON body.
    Static,
    /// `GET /users/42`, answered by a template that echoes the path's id.
    Template,
    /// `GET /nothing/here`, which no stub matches: each server's own 404.
    Miss,
    /// `GET /orders/1042` with `x-tenant: acme`, matched by a path regex and a header predicate.
    RegexHeader,
    /// `GET /filler/4999`, an exact path among 10,000 of them (plus the scenario stubs).
    Table10k,
}

/// How many filler rules a big table holds, and which one [`Scenario::Table10k`] hits: the
/// middle one, so a server that scans its stubs in order does half the work of a full scan.
pub const FILLER_RULES: usize = 10_000;
pub const FILLER_HIT: usize = FILLER_RULES / 2 - 1;
const _: () = assert!(FILLER_HIT < FILLER_RULES);

impl Scenario {
    pub const ALL: [Scenario; 5] =
        [Scenario::Static, Scenario::Template, Scenario::Miss, Scenario::RegexHeader, Scenario::Table10k];

    /// The short name used in file names and on the command line.
    pub fn id(self) -> &'static str {
        match self {
            Scenario::Static => "static",
            Scenario::Template => "template",
            Scenario::Miss => "miss",
            Scenario::RegexHeader => "regex-header",
            Scenario::Table10k => "table-10k",
        }
    }

    /// The column heading in the report.
    pub fn title(self) -> &'static str {
        match self {
            Scenario::Static => "static hit",
            Scenario::Template => "templated hit",
            Scenario::Miss => "miss (404)",
            Scenario::RegexHeader => "regex path + header hit",
            Scenario::Table10k => "hit in a 10k-rule table",
        }
    }

    /// The request path the load generator sends.
    pub fn path(self) -> String {
        match self {
            Scenario::Static => "/static".into(),
            Scenario::Template => "/users/42".into(),
            Scenario::Miss => "/nothing/here".into(),
            Scenario::RegexHeader => "/orders/1042".into(),
            Scenario::Table10k => format!("/filler/{FILLER_HIT}"),
        }
    }

    /// Extra request headers (name, value).
    pub fn headers(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Scenario::RegexHeader => &[("x-tenant", "acme")],
            _ => &[],
        }
    }

    /// The status a correct answer has: a run answered otherwise is reported, not counted.
    pub fn expected_status(self) -> u16 {
        match self {
            Scenario::Miss => 404,
            _ => 200,
        }
    }

    /// The body a correct answer has (the miss's body is each server's own).
    pub fn expected_body(self) -> Option<String> {
        match self {
            Scenario::Static => Some(STATIC_BODY.into()),
            Scenario::Template => Some(r#"{"id":"42"}"#.into()),
            Scenario::Miss => None,
            Scenario::RegexHeader => Some(TENANT_BODY.into()),
            Scenario::Table10k => Some(filler_body(FILLER_HIT)),
        }
    }
}

/// The static stub's body.
pub const STATIC_BODY: &str = r#"{"ok":true}"#;
/// The regex + header stub's body.
pub const TENANT_BODY: &str = r#"{"tenant":"acme"}"#;

/// The body of filler rule `n`.
pub fn filler_body(n: usize) -> String {
    format!(r#"{{"n":{n}}}"#)
}

/// The path of filler rule `n`.
pub fn filler_path(n: usize) -> String {
    format!("/filler/{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_big_table_scenario_hits_a_filler_rule_and_no_two_scenarios_share_a_request() {
        assert_eq!(Scenario::Table10k.path(), filler_path(FILLER_HIT));
        let mut paths: Vec<String> = Scenario::ALL.iter().map(|s| s.path()).collect();
        paths.sort();
        paths.dedup();
        assert_eq!(paths.len(), Scenario::ALL.len());
    }
}
