//! Recording through the control plane (`startRecording`, docs/rules.md "Record"): the data
//! planes of a recording environment send forwarded request/answer pairs on their report
//! streams; the report server hands them to the [`Inbox`], and the service (its
//! `service::recording` part) stores each as a new, disabled rule of the environment.
//!
//! The inbox is bounded: pairs that arrive faster than rules can be stored are dropped and
//! logged, never queued without end.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use base64::Engine as _;
use mockplane_proto::report::RecordedExchange;
use mockplane_rules::model::{
    HeaderValues, MethodMatch, PathMatch, PathMatchSpec, RequestMatch, Response, Rule, ValueMatch,
};
use tokio::sync::mpsc;

/// Pairs waiting to be stored at most.
const WAITING: usize = 256;

/// The tag every recorded rule carries.
pub const RECORDED_TAG: &str = "recorded";

/// The author of recorded rules' revisions (and of a stop at the limit).
pub const RECORDING_ACTOR: &str = "recording";

/// A recorded pair and the environment it was recorded for.
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) environment: String,
    pub(crate) exchange: RecordedExchange,
}

/// Where the report server leaves recorded pairs for the service.
#[derive(Debug)]
pub(crate) struct Inbox {
    tx: mpsc::Sender<Pair>,
    rx: Mutex<Option<mpsc::Receiver<Pair>>>,
    /// Per environment: the recording start counted (`started_ms`) and the rules stored since.
    counts: Mutex<HashMap<String, (u64, u32)>>,
}

impl Default for Inbox {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(WAITING);
        Inbox { tx, rx: Mutex::new(Some(rx)), counts: Mutex::default() }
    }
}

impl Inbox {
    /// Hands the pairs of a report over (dropping those that do not fit).
    pub(crate) fn pass(&self, environment: &str, node: &str, recorded: &[RecordedExchange], dropped: u64) {
        if dropped > 0 {
            tracing::warn!(
                environment,
                node,
                dropped,
                "the data plane dropped recorded pairs (its queue was full)"
            );
        }
        for exchange in recorded {
            let pair = Pair { environment: environment.to_owned(), exchange: exchange.clone() };
            if self.tx.try_send(pair).is_err() {
                tracing::warn!(
                    environment,
                    node,
                    "recorded pair dropped: the control plane is storing others"
                );
            }
        }
    }

    /// The receiving end, once (for the service's task).
    pub(crate) fn take_receiver(&self) -> Option<mpsc::Receiver<Pair>> {
        self.rx.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Counts a rule stored for the recording started at `started_ms`; returns how many it
    /// has stored.
    pub(crate) fn count(&self, environment: &str, started_ms: u64) -> u32 {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let c = counts.entry(environment.to_owned()).or_insert((started_ms, 0));
        if c.0 != started_ms {
            *c = (started_ms, 0);
        }
        c.1 += 1;
        c.1
    }

    /// How many rules the recording started at `started_ms` has stored.
    pub(crate) fn stored(&self, environment: &str, started_ms: u64) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(environment).filter(|c| c.0 == started_ms).map_or(0, |c| c.1)
    }
}

/// The rule id of a recorded `method` on `path`: `recorded-get-api-items` (letters and digits
/// kept, lower case, every other run of characters one `-`).
pub fn rule_id(method: &str, path: &str) -> String {
    let mut id = String::from("recorded-");
    for c in method.chars().chain(std::iter::once('/')).chain(path.chars()) {
        if c.is_ascii_alphanumeric() {
            id.push(c.to_ascii_lowercase());
        } else if !id.ends_with('-') {
            id.push('-');
        }
        if id.len() >= 180 {
            break;
        }
    }
    id.trim_end_matches('-').to_owned()
}

/// The name of a recorded rule: `GET /items?page=2`; a pair already recorded has a rule of
/// this name tagged [`RECORDED_TAG`].
pub fn rule_name(method: &str, target: &str) -> String {
    format!("{method} {target}")
}

/// Header fields a recorded rule does not repeat: the connection's own, and those a serving
/// data plane sets itself.
fn kept_header(name: &str) -> bool {
    const LEFT_OUT: &[&str] = &[
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "date",
        "server",
        "content-length",
    ];
    !LEFT_OUT.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// The disabled rule `id` answering the recorded exchange as its upstream did: the method,
/// the exact path and every query parameter must match (as `mockplane dataplane --record`
/// writes them).
pub fn rule_of(id: String, e: &RecordedExchange) -> Rule {
    let (path, query) = mockplane_rules::request::split_target(&e.target);
    let query: BTreeMap<String, ValueMatch> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), ValueMatch::Equals(v.into_owned())))
        .collect();
    let mut headers: BTreeMap<String, HeaderValues> = BTreeMap::new();
    for h in e.headers.iter().filter(|h| kept_header(&h.name)) {
        let (name, value) = (h.name.to_ascii_lowercase(), String::from_utf8_lossy(&h.value).into_owned());
        let next = match headers.remove(&name) {
            None => HeaderValues::One(value),
            Some(HeaderValues::One(first)) => HeaderValues::Many(vec![first, value]),
            Some(HeaderValues::Many(mut all)) => {
                all.push(value);
                HeaderValues::Many(all)
            }
        };
        headers.insert(name, next);
    }
    let (body, base64) = match std::str::from_utf8(&e.body) {
        Ok("") => (None, None),
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(&e.body))),
    };
    Rule {
        id,
        name: Some(rule_name(&e.method, &e.target)),
        priority: 0,
        enabled: false,
        tags: vec![RECORDED_TAG.into()],
        matcher: RequestMatch {
            method: Some(MethodMatch::One(e.method.clone())),
            // Explicit: a recorded path holding `{` is not a template.
            path: Some(PathMatch::Explicit(PathMatchSpec {
                exact: Some(path.to_owned()),
                ..Default::default()
            })),
            query,
            ..Default::default()
        },
        response: Some(Response {
            status: u16::try_from(e.status).unwrap_or(502),
            headers,
            body,
            base64,
            ..Default::default()
        }),
        sequence: None,
        forward: None,
        times: None,
        scenario: None,
        validate: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mockplane_proto::report::Header;

    #[test]
    fn ids_come_from_the_method_and_path() {
        assert_eq!(rule_id("GET", "/api/items/42"), "recorded-get-api-items-42");
        assert_eq!(rule_id("POST", "/"), "recorded-post");
        assert!(rule_id("GET", &"/a".repeat(500)).len() <= 181);
    }

    #[test]
    fn a_recorded_exchange_is_a_disabled_rule_that_answers_the_same_request() {
        let e = RecordedExchange {
            method: "GET".into(),
            target: "/items?page=2".into(),
            status: 201,
            headers: vec![
                Header { name: "Content-Type".into(), value: b"application/json".to_vec() },
                Header { name: "Set-Cookie".into(), value: b"a=1".to_vec() },
                Header { name: "Set-Cookie".into(), value: b"b=2".to_vec() },
                Header { name: "Date".into(), value: b"today".to_vec() },
            ],
            body: b"{\"a\":1}".to_vec(),
        };
        let rule = rule_of("x".into(), &e);
        assert!(!rule.enabled && rule.tags == [RECORDED_TAG]);
        assert_eq!(rule.name.as_deref(), Some("GET /items?page=2"));
        assert_eq!(rule.matcher.query["page"], ValueMatch::Equals("2".into()));
        let response = rule.response.as_ref().unwrap();
        assert_eq!((response.status, response.body.as_deref()), (201, Some("{\"a\":1}")));
        assert_eq!(response.headers.keys().collect::<Vec<_>>(), ["content-type", "set-cookie"]);
        assert_eq!(response.headers["set-cookie"], HeaderValues::Many(vec!["a=1".into(), "b=2".into()]));
        let binary = rule_of("y".into(), &RecordedExchange { body: vec![0xff, 0], ..e });
        assert_eq!(binary.response.unwrap().base64.as_deref(), Some("/wA="));
    }
}
