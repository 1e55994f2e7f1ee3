//! The journal across all data planes of an environment, queried: [`ReportStore::requests`]
//! (the newest entries, filtered) and [`ReportStore::verify`] (how many entries match a
//! request pattern, WireMock's `verify`).
//!
//! A pattern means exactly what it means in a rule: it is a `mockplane_rules` `RequestMatch`,
//! compiled by the rules engine into a one-rule table ([`RequestPattern`]), and each entry is
//! checked by that table's own selection. The one difference is what an entry holds: the
//! headers and body as journaled (the header fields that fit in 1 KiB, the body's first 256
//! bytes), so a predicate on a header that was left out, or on the body past its first 256
//! bytes, sees what a rule would see of a request without them. And only the entries still
//! held count: the newest 10,000 per environment ([`crate::limits::JOURNAL_CAPACITY`]), not
//! all of history; a rule's exact hit count over all history is [`ReportStore::hits`].

use std::net::IpAddr;
use std::sync::Arc;

use mockplane_proto::report::JournalEntry;
use mockplane_rules::model::{RequestMatch, Response, Rule};
use mockplane_rules::{CompileOptions, Header, Request, RequestContext, RuleSet, RuleTable, ValidationError};

use crate::reports::ReportStore;

/// One journaled request, as a data plane reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct JournaledRequest {
    /// The data plane (node id) that served it.
    pub node: String,
    /// The entry, its fields cut to the sizes a data plane keeps.
    pub entry: JournalEntry,
}

impl JournaledRequest {
    /// The path, without the query.
    pub fn path(&self) -> &str {
        mockplane_rules::request::split_target(&self.entry.target).0
    }

    /// The raw query string, without `?`; empty when there is none.
    pub fn query(&self) -> &str {
        mockplane_rules::request::split_target(&self.entry.target).1
    }

    /// The header fields kept, in order, as `(name, value)`.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entry.headers.iter().map(|h| (h.name.as_str(), h.value.as_slice()))
    }

    /// Whether the body was longer than the prefix kept.
    pub fn body_truncated(&self) -> bool {
        self.entry.body_size > self.entry.body.len() as u64
    }

    /// The client's address, when known.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.entry.client_ip.parse().ok()
    }

    /// The rule that answered; `None` when none did.
    pub fn rule_id(&self) -> Option<&str> {
        Some(self.entry.rule_id.as_str()).filter(|r| !r.is_empty())
    }
}

/// Which entries [`ReportStore::requests`] returns: every filter set must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// The method, exactly (`GET`).
    pub method: Option<String>,
    /// Text the target (path and query, as sent) contains.
    pub path_contains: Option<String>,
    /// Text the target starts with (`/users/`).
    pub path_prefix: Option<String>,
    /// The status sent (0: a connection-level fault).
    pub status: Option<u16>,
    /// The rule that answered; `""` for the requests no rule answered.
    pub rule: Option<String>,
    /// The data plane that served it.
    pub node: Option<String>,
    /// Arrived at or after this time, in milliseconds since 1970.
    pub since_ms: Option<u64>,
}

impl RequestFilter {
    /// Whether `r` passes every filter set.
    pub fn accepts(&self, r: &JournaledRequest) -> bool {
        let e = &r.entry;
        self.method.as_ref().is_none_or(|m| *m == e.method)
            && self.path_contains.as_ref().is_none_or(|p| e.target.contains(p.as_str()))
            && self.path_prefix.as_ref().is_none_or(|p| e.target.starts_with(p.as_str()))
            && self.status.is_none_or(|s| u32::from(s) == e.status)
            && self.rule.as_ref().is_none_or(|rule| *rule == e.rule_id)
            && self.node.as_ref().is_none_or(|n| *n == r.node)
            && self.since_ms.is_none_or(|t| e.at_ms >= t)
    }
}

/// How many journaled requests a pattern matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verification {
    /// The entries that matched.
    pub count: u64,
    /// The entries checked: all those the control plane holds for the environment.
    pub checked: u64,
}

/// A request pattern refused by the rules compiler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the request pattern was refused:{}", list(.errors))]
pub struct VerifyError {
    /// Every problem, its `path` the place inside the pattern (`headers.x-token.regex`; empty
    /// for the pattern as a whole), as `mockplane validate` names places inside a rule's
    /// `match`.
    pub errors: Vec<ValidationError>,
}

fn list(errors: &[ValidationError]) -> String {
    errors.iter().map(|e| format!("\n  {e}")).collect()
}

/// A request pattern, compiled once by the rules engine, that tells whether a journaled
/// request matches it as a rule with the same `match` would.
#[derive(Debug)]
pub struct RequestPattern {
    table: RuleTable,
}

/// The id of the one rule of a pattern's table.
const PATTERN_RULE: &str = "pattern";

impl RequestPattern {
    /// Compiles `pattern`; refused with the compiler's errors, each placed inside the pattern.
    pub fn compile(pattern: &RequestMatch) -> Result<Self, VerifyError> {
        let rule = Rule {
            id: PATTERN_RULE.to_owned(),
            name: None,
            priority: 0,
            enabled: true,
            tags: Vec::new(),
            matcher: pattern.clone(),
            response: Some(Response::default()),
            sequence: None,
            forward: None,
            times: None,
            scenario: None,
            validate: None,
        };
        let set = RuleSet { rules: vec![Arc::new(rule)], ..RuleSet::default() };
        match RuleTable::compile(&set, &CompileOptions::default()) {
            Ok(table) => Ok(RequestPattern { table }),
            Err(e) => Err(VerifyError {
                errors: e
                    .errors
                    .into_iter()
                    .map(|v| ValidationError { path: within_pattern(&v.path).to_owned(), message: v.message })
                    .collect(),
            }),
        }
    }

    /// Whether `r`, as journaled, matches the pattern.
    pub fn matches(&self, r: &JournaledRequest) -> bool {
        let e = &r.entry;
        let headers: Vec<Header<'_>> =
            e.headers.iter().map(|h| Header { name: &h.name, value: &h.value }).collect();
        let mut request = Request::new(&e.method, &e.target, &headers, &e.body);
        if let Some(ip) = r.client_ip() {
            request = request.with_client_ip(ip);
        }
        // The table's one rule has no scenario, budget or sequence: selecting changes nothing.
        let cx = RequestContext::new(&request);
        let matched = self.table.select(&cx).is_some();
        matched
    }
}

/// A compiler's place inside the one rule's `match` (`rules[0].match.headers.x`), as a place
/// inside the pattern (`headers.x`).
fn within_pattern(place: &str) -> &str {
    let rule = place.strip_prefix("rules[0]").unwrap_or(place);
    let inside = rule.strip_prefix(".match").unwrap_or(rule);
    inside.strip_prefix('.').unwrap_or(inside)
}

impl ReportStore {
    /// The newest journaled requests of `environment` across all its data planes that pass
    /// `filter`, newest first, at most `limit`.
    pub fn requests(
        &self,
        environment: &str,
        filter: &RequestFilter,
        limit: usize,
    ) -> Vec<Arc<JournaledRequest>> {
        self.entries(environment).into_iter().filter(|r| filter.accepts(r)).take(limit).collect()
    }

    /// How many journaled requests of `environment`, across all its data planes, match
    /// `pattern` as a rule with that `match` would (see the module's caveats: headers and body
    /// as journaled, and only the entries still held). An invalid pattern is refused with
    /// every error and its place.
    pub fn verify(&self, environment: &str, pattern: &RequestMatch) -> Result<Verification, VerifyError> {
        let pattern = RequestPattern::compile(pattern)?;
        // A copy of the list (reference counts, not entries), so reports keep arriving while
        // the entries are checked.
        let entries = self.entries(environment);
        let count = entries.iter().filter(|r| pattern.matches(r)).count() as u64;
        Ok(Verification { count, checked: entries.len() as u64 })
    }

    /// A live tail of `environment`'s requests: each entry `filter` accepts, as the control
    /// plane takes it from a report, oldest first (entries a journal reset drops are not
    /// sent), for a `requestEvents` subscription. It never ends by itself; drop it to stop.
    /// A tail that falls more than 4,096 entries (of every environment) behind the reports
    /// gets [`RequestTail::Lagged`] with how many it missed, and goes on with the newest.
    pub fn request_events(
        &self,
        environment: &str,
        filter: RequestFilter,
    ) -> impl tokio_stream::Stream<Item = RequestTail> + Send + 'static {
        use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
        use tokio_stream::StreamExt as _;
        let environment: Arc<str> = environment.into();
        tokio_stream::wrappers::BroadcastStream::new(self.subscribe_requests()).filter_map(move |event| {
            match event {
                Ok(e) if e.environment == environment && filter.accepts(&e.request) => {
                    Some(RequestTail::Request(e.request))
                }
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(missed)) => Some(RequestTail::Lagged(missed)),
            }
        })
    }
}

/// What [`ReportStore::request_events`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestTail {
    /// A request, as [`ReportStore::requests`] returns it.
    Request(Arc<JournaledRequest>),
    /// The tail fell behind: this many entries (of every environment, before filtering) were
    /// skipped.
    Lagged(u64),
}

#[cfg(test)]
mod tests;
