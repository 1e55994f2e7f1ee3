//! Explanations on the admin listener, computed when asked, never when serving:
//! - `POST /explain`: a request described in JSON, explained against every rule of the table
//!   in force — the rule that would serve it, and the near misses ranked with what each
//!   lacked. The full explanation a default 404 leaves out.
//! - `/journal`: each miss it lists carries its closest rules, found as a 404 finds them, from
//!   the request as journaled (headers and body bounded) against the rules in force when the
//!   journal is read.
//!
//! Neither changes state (no budget is claimed, no scenario moves).

use std::net::IpAddr;

use mockplane_rules::{Header, Request, RequestContext, RuleTable};
use serde::Deserialize;

/// A request to explain.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExplainRequest {
    /// `GET` when absent.
    #[serde(default = "get")]
    method: String,
    /// The request target: a path with an optional `?query`.
    path: String,
    #[serde(default)]
    headers: Headers,
    /// The body, as text.
    #[serde(default)]
    body: String,
    /// The client's address, for `client_ip` matchers.
    #[serde(default)]
    client_ip: Option<IpAddr>,
    /// How many near misses to list (default 10).
    #[serde(default = "ten")]
    limit: usize,
    /// List every rule's verdict too, in rule-set order.
    #[serde(default)]
    all: bool,
}

fn get() -> String {
    "GET".into()
}

fn ten() -> usize {
    10
}

/// Headers as `{"name": "value"}` (or a list of values), or as `[["name", "value"], …]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Headers {
    Map(std::collections::BTreeMap<String, OneOrMany>),
    Pairs(Vec<(String, String)>),
}

impl Default for Headers {
    fn default() -> Self {
        Headers::Pairs(Vec::new())
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl Headers {
    fn pairs(&self) -> Vec<(&str, &str)> {
        match self {
            Headers::Pairs(pairs) => pairs.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(),
            Headers::Map(map) => map
                .iter()
                .flat_map(|(name, values)| {
                    let values: Vec<&str> = match values {
                        OneOrMany::One(v) => vec![v.as_str()],
                        OneOrMany::Many(vs) => vs.iter().map(String::as_str).collect(),
                    };
                    values.into_iter().map(move |v| (name.as_str(), v))
                })
                .collect(),
        }
    }
}

/// Parses a `POST /explain` body; the error names what is wrong.
pub(crate) fn parse(body: &[u8]) -> Result<ExplainRequest, String> {
    let request: ExplainRequest = serde_json::from_slice(body).map_err(|e| {
        format!(
            "the body must be JSON like {{\"method\": \"GET\", \"path\": \"/users/42?x=1\", \"headers\": {{\"accept\": \"application/json\"}}, \"body\": \"\"}}: {e}"
        )
    })?;
    if !request.path.starts_with('/') {
        return Err(format!("path must start with '/', got {:?}", request.path));
    }
    if request.method.is_empty()
        || !request.method.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b))
    {
        return Err(format!("method must be an HTTP token such as GET, got {:?}", request.method));
    }
    Ok(request)
}

/// The explanation of `request` against `table`, as the JSON `POST /explain` answers.
pub(crate) fn explain(table: &RuleTable, request: &ExplainRequest) -> serde_json::Value {
    let pairs = request.headers.pairs();
    let headers: Vec<Header<'_>> =
        pairs.iter().map(|(name, value)| Header { name, value: value.as_bytes() }).collect();
    let mut req = Request::new(&request.method, &request.path, &headers, request.body.as_bytes());
    if let Some(ip) = request.client_ip {
        req = req.with_client_ip(ip);
    }
    let cx = RequestContext::new(&req);
    let explanation = table.explain(&cx);
    let mut answer = serde_json::json!({
        "request": { "method": req.method, "path": req.path, "query": req.query },
        "selected": explanation.selected,
        "near_misses": explanation.near_misses(request.limit),
        "checked": explanation.rules.len(),
    });
    if request.all {
        answer["rules"] = serde_json::json!(explanation.rules);
    }
    answer
}

/// The rules a journaled miss is explained against: the request as journaled, bounded.
const JOURNAL_NOTE: &str = "closest_rules of a miss are computed when the journal is read, from the request as \
journaled against the rules in force now; header fields past the first 1 KiB and the body past its first 256 bytes \
are not journaled, so predicates on them see what was kept";

/// The `/journal` answer: `{"entries": [...]}`, each miss (a 404 that no rule served) with its
/// `closest_rules` against `table`.
pub(crate) fn journal_json(entries: &[crate::journal::JournalEntry], table: Option<&RuleTable>) -> String {
    #[derive(serde::Serialize)]
    struct Entry<'e> {
        #[serde(flatten)]
        entry: &'e crate::journal::JournalEntry,
        #[serde(skip_serializing_if = "Option::is_none")]
        closest_rules: Option<Vec<Near>>,
    }
    #[derive(serde::Serialize)]
    struct Near {
        rule: String,
        failed: Option<mockplane_rules::Mismatch>,
    }
    #[derive(serde::Serialize)]
    struct Journal<'e> {
        entries: Vec<Entry<'e>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<&'static str>,
    }
    let mut explained = false;
    let entries = entries
        .iter()
        .map(|entry| {
            let closest_rules =
                table.filter(|_| entry.status == 404 && entry.rule.as_str().is_empty()).map(|table| {
                    explained = true;
                    let headers: Vec<Header<'_>> =
                        entry.headers().map(|(name, value)| Header { name, value }).collect();
                    let mut req = Request::new(
                        entry.method.as_str(),
                        entry.target.as_str(),
                        &headers,
                        entry.body.as_bytes(),
                    );
                    if let Some(client) = entry.client {
                        req = req.with_client_ip(client.ip());
                    }
                    let cx = RequestContext::new(&req);
                    table
                        .near_misses(&cx, 3)
                        .rules
                        .into_iter()
                        .map(|v| Near { rule: v.rule_id, failed: v.failed })
                        .collect()
                });
            Entry { entry, closest_rules }
        })
        .collect();
    let note = explained.then_some(JOURNAL_NOTE);
    // Straight to text: a `Value` tree of 10,000s of entries first took longer.
    serde_json::to_string(&Journal { entries, note }).expect("journal entries serialize")
}
