//! The traffic of the data planes, as the control plane hears it on their report streams:
//! `requests` (the journal of every data plane of an environment, filtered), `verify` (how many
//! journaled requests match a pattern, WireMock's `verify`), `metrics`, their live forms
//! (`requestEvents`, `metricUpdates`), and the resets of scenario state and of the journal on
//! every data plane of an environment.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::futures_util::{Stream, StreamExt};
use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, Subscription};
use mockplane_rules::model::RequestMatch;

use super::types::{rfc3339, ChangeInfo};
use super::{domain, refused, Domain};
use crate::api::auth::principal;
use crate::api::errors::{ApiError, Problem};
use crate::metrics::{LatencySummary, Metrics};
use crate::requests::{JournaledRequest, RequestFilter, RequestTail};
use crate::reset::Reset;

/// The most entries one `requests` call returns.
const MAX_REQUESTS: i32 = 1000;

/// Which journaled requests to list or tail: every filter given must hold.
#[derive(InputObject, Debug, Default, Clone)]
pub struct RequestFilterInput {
    /// The method, exactly (`GET`).
    pub method: Option<String>,
    /// Text the target (path and query, as sent) contains.
    pub path_contains: Option<String>,
    /// Text the target starts with (`/users/`).
    pub path_prefix: Option<String>,
    /// The status sent (0: a connection-level fault).
    pub status: Option<i32>,
    /// The rule that answered; `""` for the requests no rule answered.
    pub rule: Option<String>,
    /// The data plane (node id) that served it.
    pub node: Option<String>,
    /// Arrived at or after this time (RFC 3339).
    pub since: Option<String>,
}

impl RequestFilterInput {
    fn compile(self, place: &str) -> Result<RequestFilter, ApiError> {
        let status = match self.status {
            None => None,
            Some(s) => Some(u16::try_from(s).map_err(|_| {
                ApiError::invalid(format!("{place}.status"), format!("must be 0 to 65535, got {s}"))
            })?),
        };
        let since_ms = match &self.since {
            None => None,
            Some(t) => Some(
                chrono::DateTime::parse_from_rfc3339(t)
                    .map_err(|e| {
                        ApiError::invalid(
                            format!("{place}.since"),
                            format!("{t:?} is not an RFC 3339 time: {e}"),
                        )
                    })?
                    .timestamp_millis()
                    .max(0) as u64,
            ),
        };
        Ok(RequestFilter {
            method: self.method,
            path_contains: self.path_contains,
            path_prefix: self.path_prefix,
            status,
            rule: self.rule,
            node: self.node,
            since_ms,
        })
    }
}

/// A request a data plane journaled.
#[derive(Debug, Clone)]
pub struct Request(pub Arc<JournaledRequest>);

/// One header field of a journaled request.
#[derive(SimpleObject, Debug, Clone)]
pub struct HeaderField {
    /// Its name, as received.
    pub name: String,
    /// Its value (bytes that are not UTF-8 read as U+FFFD).
    pub value: String,
}

#[Object]
impl Request {
    /// The data plane that served it.
    async fn node(&self) -> &str {
        &self.0.node
    }
    /// When it arrived (RFC 3339).
    async fn at(&self) -> String {
        rfc3339(self.0.entry.at_ms as i64)
    }
    /// Its method.
    async fn method(&self) -> &str {
        &self.0.entry.method
    }
    /// Its target: the path and query, as sent.
    async fn target(&self) -> &str {
        &self.0.entry.target
    }
    /// The path, without the query.
    async fn path(&self) -> &str {
        self.0.path()
    }
    /// The status sent (0 for a connection-level fault).
    async fn status(&self) -> i32 {
        self.0.entry.status as i32
    }
    /// The rule that answered, or null when none did.
    async fn rule_id(&self) -> Option<&str> {
        self.0.rule_id()
    }
    /// The fault injected, if any.
    async fn fault(&self) -> Option<&str> {
        Some(self.0.entry.fault.as_str()).filter(|f| !f.is_empty())
    }
    /// How long the data plane took to answer, in microseconds.
    async fn duration_us(&self) -> i64 {
        i64::from(self.0.entry.duration_us)
    }
    /// Its header fields, in order, as many as the data plane keeps (1 KiB of them).
    async fn headers(&self) -> Vec<HeaderField> {
        self.0
            .headers()
            .map(|(name, value)| HeaderField {
                name: name.to_owned(),
                value: String::from_utf8_lossy(value).into_owned(),
            })
            .collect()
    }
    /// How many header fields did not fit and were left out.
    async fn headers_omitted(&self) -> i32 {
        self.0.entry.headers_omitted as i32
    }
    /// The body's first bytes, as text (256 at most; see `bodyTruncated`).
    async fn body(&self) -> String {
        String::from_utf8_lossy(&self.0.entry.body).into_owned()
    }
    /// The whole body's length in bytes.
    async fn body_size(&self) -> i64 {
        self.0.entry.body_size as i64
    }
    /// Whether `body` is only the body's first bytes.
    async fn body_truncated(&self) -> bool {
        self.0.body_truncated()
    }
    /// The client's address, when known.
    async fn client_ip(&self) -> Option<String> {
        self.0.client_ip().map(|ip| ip.to_string())
    }
    /// The client's port, when known.
    async fn client_port(&self) -> Option<i32> {
        Some(self.0.entry.client_port as i32).filter(|p| *p != 0)
    }
}

/// What `verify` counted.
#[derive(SimpleObject, Debug, Clone)]
pub struct Verification {
    /// The journaled requests that match the pattern.
    pub count: i64,
    /// The journaled requests checked: all those the control plane holds for the environment
    /// (the newest 10,000).
    pub checked: i64,
}

/// Request durations, in microseconds (percentiles are histogram buckets' upper bounds).
#[derive(SimpleObject, Debug, Clone)]
pub struct Latency {
    /// Requests timed.
    pub count: i64,
    /// Their mean.
    pub mean_us: Option<i64>,
    /// Half took at most this.
    pub p50_us: Option<i64>,
    /// 90% took at most this.
    pub p90_us: Option<i64>,
    /// 99% took at most this.
    pub p99_us: Option<i64>,
    /// The upper bound of the slowest bucket with a request (null past the last bound, 10 s).
    pub max_bucket_us: Option<i64>,
}

impl From<LatencySummary> for Latency {
    fn from(l: LatencySummary) -> Self {
        let us = |v: Option<u64>| v.map(|v| v as i64);
        Latency {
            count: l.count as i64,
            mean_us: us(l.mean_us),
            p50_us: us(l.p50_us),
            p90_us: us(l.p90_us),
            p99_us: us(l.p99_us),
            max_bucket_us: us(l.max_bucket_us),
        }
    }
}

/// Hits of a rule on one data plane.
#[derive(SimpleObject, Debug, Clone)]
pub struct NodeHits {
    /// The data plane.
    pub node: String,
    /// Its hits of the rule.
    pub hits: i64,
}

/// A rule's hits.
#[derive(SimpleObject, Debug, Clone)]
pub struct RuleHits {
    /// The rule.
    pub rule: String,
    /// Its hits across every data plane.
    pub hits: i64,
    /// Per data plane.
    pub by_node: Vec<NodeHits>,
}

/// One data plane's figures.
#[derive(SimpleObject, Debug, Clone)]
pub struct NodeMetrics {
    /// The data plane.
    pub node: String,
    /// Requests it answered.
    pub requests: i64,
    /// Those a rule answered.
    pub hits: i64,
    /// Those no rule answered.
    pub misses: i64,
    /// How long they took.
    pub latency: Latency,
    /// When its last report came (RFC 3339).
    pub last_report: String,
}

/// An environment's figures, from every report since the control plane started.
#[derive(SimpleObject, Debug, Clone)]
pub struct EnvironmentMetrics {
    /// `project/environment`.
    pub environment: String,
    /// Requests answered across every data plane.
    pub requests: i64,
    /// Requests a rule answered.
    pub hits: i64,
    /// Requests no rule answered.
    pub misses: i64,
    /// Hits reported for rule ids the environment never had.
    pub untracked_hits: i64,
    /// How long requests took, across every data plane.
    pub latency: Latency,
    /// Every rule with hits.
    pub rules: Vec<RuleHits>,
    /// Every data plane that reported.
    pub nodes: Vec<NodeMetrics>,
}

impl EnvironmentMetrics {
    fn new(environment: &str, m: Metrics) -> Self {
        EnvironmentMetrics {
            environment: environment.to_owned(),
            requests: m.requests as i64,
            hits: m.hits as i64,
            misses: m.misses as i64,
            untracked_hits: m.untracked_hits as i64,
            latency: m.latency.into(),
            rules: m
                .rules
                .into_iter()
                .map(|r| RuleHits {
                    rule: r.rule,
                    hits: r.hits as i64,
                    by_node: r
                        .by_node
                        .into_iter()
                        .map(|(node, hits)| NodeHits { node, hits: hits as i64 })
                        .collect(),
                })
                .collect(),
            nodes: m
                .nodes
                .into_iter()
                .map(|n| NodeMetrics {
                    node: n.node,
                    requests: n.requests as i64,
                    hits: n.hits as i64,
                    misses: n.misses as i64,
                    latency: n.latency.into(),
                    last_report: rfc3339(n.last_report_ms as i64),
                })
                .collect(),
        }
    }
}

/// An environment that exists, by its path.
async fn existing(d: &Domain, environment: &str) -> Result<(), ApiError> {
    d.service.environment(environment).await.map(drop).map_err(|e| refused(e, "environment"))
}

/// A request pattern from its JSON: a rule's `match` block.
fn pattern(json: serde_json::Value) -> Result<RequestMatch, ApiError> {
    serde_json::from_value(json).map_err(|e| ApiError::invalid("pattern", e.to_string()))
}

/// The traffic.
#[derive(Default)]
pub struct TrafficQueries;

#[Object]
impl TrafficQueries {
    /// The newest requests the data planes of an environment journaled, newest first, that
    /// pass `filter`: at most `limit` (1 to 1,000). The control plane holds the newest 10,000
    /// per environment, each with its header fields (1 KiB of them) and the body's first 256
    /// bytes.
    async fn requests(
        &self,
        ctx: &Context<'_>,
        environment: String,
        #[graphql(default)] filter: RequestFilterInput,
        #[graphql(default = 100)] limit: i32,
    ) -> Result<Vec<Request>, ApiError> {
        let d = domain(ctx)?;
        if !(1..=MAX_REQUESTS).contains(&limit) {
            return Err(ApiError::invalid("limit", format!("must be 1 to {MAX_REQUESTS}, got {limit}")));
        }
        let filter = filter.compile("filter")?;
        existing(d, &environment).await?;
        Ok(d.service
            .reports()
            .requests(&environment, &filter, limit as usize)
            .into_iter()
            .map(Request)
            .collect())
    }

    /// How many requests the data planes of an environment journaled that match `pattern`,
    /// a rule's `match` block (`{method: "POST", path: "/orders", headers: {x-token: {present: true}}}`):
    /// exactly what a rule with that match would match, of the requests as journaled (header
    /// fields that fit in 1 KiB, the body's first 256 bytes) and still held (the newest 10,000).
    async fn verify(
        &self,
        ctx: &Context<'_>,
        environment: String,
        pattern: Json<serde_json::Value>,
    ) -> Result<Verification, ApiError> {
        let d = domain(ctx)?;
        let pattern = self::pattern(pattern.0)?;
        existing(d, &environment).await?;
        let v = d.service.reports().verify(&environment, &pattern).map_err(|e| {
            ApiError::InvalidInput(
                e.errors
                    .iter()
                    .map(|v| {
                        let place = if v.path.is_empty() {
                            "pattern".to_owned()
                        } else {
                            format!("pattern.{}", v.path)
                        };
                        Problem::new(place, v.message.clone())
                    })
                    .collect(),
            )
        })?;
        Ok(Verification { count: v.count as i64, checked: v.checked as i64 })
    }

    /// An environment's figures: requests, hits and misses in total, per rule and per data
    /// plane, and latency percentiles per data plane.
    async fn metrics(&self, ctx: &Context<'_>, environment: String) -> Result<EnvironmentMetrics, ApiError> {
        let d = domain(ctx)?;
        existing(d, &environment).await?;
        Ok(EnvironmentMetrics::new(&environment, d.service.reports().metrics(&environment)))
    }
}

/// `resetScenarios`' and `resetJournal`'s input.
#[derive(InputObject, Debug)]
pub struct ResetInput {
    /// `project/environment`: every data plane serving it is reset.
    pub environment: String,
}

/// What a reset returns.
#[derive(SimpleObject, Debug)]
pub struct ResetPayload {
    /// The version that carries the reset: a data plane has applied it once it ACKs this
    /// `xdsVersion` (see `nodes { ackedVersion }`).
    pub change: ChangeInfo,
}

/// The resets.
#[derive(Default)]
pub struct TrafficMutations;

#[Object]
impl TrafficMutations {
    /// Every scenario back to `Started`, and every sequence counter and `times` budget back to
    /// its start, on every data plane of the environment (those away now, when they return).
    async fn reset_scenarios(&self, ctx: &Context<'_>, input: ResetInput) -> Result<ResetPayload, ApiError> {
        reset(ctx, input, Reset::Scenarios).await
    }

    /// The request journal emptied on every data plane of the environment and on the control
    /// plane (`requests`, `verify` count from zero).
    async fn reset_journal(&self, ctx: &Context<'_>, input: ResetInput) -> Result<ResetPayload, ApiError> {
        reset(ctx, input, Reset::Journal).await
    }
}

async fn reset(ctx: &Context<'_>, input: ResetInput, what: Reset) -> Result<ResetPayload, ApiError> {
    let (d, who) = (domain(ctx)?, principal(ctx)?);
    let change =
        d.service.reset(&who.key_name, &input.environment, what).await.map_err(|e| refused(e, "input"))?;
    Ok(ResetPayload { change: ChangeInfo::from(&change) })
}

/// What happened in a request tail.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestEventKind {
    /// A request the filter accepts.
    Request,
    /// This subscriber fell behind and lost `missed` entries (before filtering).
    Missed,
}

/// An event of `requestEvents`.
#[derive(SimpleObject, Debug, Clone)]
pub struct RequestEvent {
    /// What happened.
    pub kind: RequestEventKind,
    /// The request, for `REQUEST`.
    pub request: Option<Request>,
    /// For `MISSED`: how many entries were lost.
    pub missed: i64,
}

/// The live traffic.
#[derive(Default)]
pub struct TrafficSubscriptions;

#[Subscription]
impl TrafficSubscriptions {
    /// The requests of an environment's data planes, as their reports arrive (every second
    /// by default, `--report-interval`), filtered.
    async fn request_events(
        &self,
        ctx: &Context<'_>,
        environment: String,
        #[graphql(default)] filter: RequestFilterInput,
    ) -> Result<impl Stream<Item = RequestEvent>, ApiError> {
        let d = domain(ctx)?;
        let filter = filter.compile("filter")?;
        existing(d, &environment).await?;
        Ok(d.service.reports().request_events(&environment, filter).map(|tail| match tail {
            RequestTail::Request(r) => {
                RequestEvent { kind: RequestEventKind::Request, request: Some(Request(r)), missed: 0 }
            }
            RequestTail::Lagged(n) => {
                RequestEvent { kind: RequestEventKind::Missed, request: None, missed: n as i64 }
            }
        }))
    }

    /// An environment's figures (as `metrics`), now and then each time they change, checked
    /// every `intervalMs` (250 to 60,000; 1,000 by default).
    async fn metric_updates(
        &self,
        ctx: &Context<'_>,
        environment: String,
        #[graphql(default = 1000)] interval_ms: i32,
    ) -> Result<impl Stream<Item = EnvironmentMetrics>, ApiError> {
        let d = domain(ctx)?;
        if !(250..=60_000).contains(&interval_ms) {
            return Err(ApiError::invalid("intervalMs", format!("must be 250 to 60000, got {interval_ms}")));
        }
        existing(d, &environment).await?;
        let reports = d.service.reports().clone();
        let mut ticks = tokio::time::interval(Duration::from_millis(interval_ms as u64));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<Metrics> = None;
        Ok(tokio_stream::wrappers::IntervalStream::new(ticks).filter_map(move |_| {
            let now = reports.metrics(&environment);
            let changed = last.as_ref() != Some(&now);
            let event = changed.then(|| EnvironmentMetrics::new(&environment, now.clone()));
            if changed {
                last = Some(now);
            }
            async move { event }
        }))
    }
}
