//! WireMock's admin API, the calls test suites make most, answered by the admin listener
//! with `--wiremock-admin` so that a WireMock client library works unchanged (pointed at the
//! admin port): stubs added and removed, the request journal counted and searched, scenarios
//! moved and reset. Shapes follow WireMock 3's JSON.

use std::sync::atomic::Ordering;

use mockplane_import::wiremock as wm;
use mockplane_rules::model::{Response, Rule, RuleSet};
use mockplane_rules::{CompileOptions, Header, Request, RequestContext, RuleTable};
use serde_json::{json, Value};

use crate::journal::{JournalEntry, JournalQuery};
use crate::snapshot::SnapshotStore;
use crate::stats::SharedStats;
use crate::wiremock::WireMockStubs;

/// The answer to one admin call: status and JSON body; `Value::Null` for no body and no
/// content type (WireMock's answer to `POST /__admin/reset`).
pub(crate) type Reply = (u16, Value);

fn error(status: u16, detail: impl Into<String>) -> Reply {
    (status, json!({ "errors": [{ "code": status, "title": detail.into() }] }))
}

/// Answers `method path` under `/__admin`, or `None` when the path is not one of these.
pub(crate) fn route(
    stubs: &WireMockStubs,
    store: &SnapshotStore,
    stats: &SharedStats,
    method: &str,
    path: &str,
    body: &[u8],
) -> Option<Reply> {
    let rest = path.strip_prefix("/__admin")?;
    let json_body = || serde_json::from_slice::<Value>(if body.is_empty() { b"{}" } else { body });
    Some(match (method, rest.trim_end_matches('/')) {
        ("GET", "/mappings") => {
            let added = stubs.added().clone();
            (200, json!({ "mappings": added, "meta": { "total": added.len() } }))
        }
        ("POST", "/mappings") => match json_body() {
            Ok(stub) => add_stub(stubs, store, stub),
            Err(e) => error(400, format!("the stub is not JSON: {e}")),
        },
        ("DELETE", "/mappings") => {
            stubs.added().clear();
            stubs.folder_on.store(false, Ordering::Release);
            reinstall(stubs, store).unwrap_or((200, json!({})))
        }
        ("POST", "/mappings/reset") => {
            stubs.added().clear();
            stubs.folder_on.store(true, Ordering::Release);
            reinstall(stubs, store).unwrap_or((200, json!({})))
        }
        (method @ ("GET" | "DELETE"), other) if other.starts_with("/mappings/") => {
            let id = &other["/mappings/".len()..];
            let found = stubs.added().iter().position(|s| s.get("id").and_then(Value::as_str) == Some(id));
            match (method, found) {
                (_, None) => error(404, format!("no stub added with id {id}")),
                ("GET", Some(i)) => (200, stubs.added()[i].clone()),
                (_, Some(i)) => {
                    stubs.added().remove(i);
                    reinstall(stubs, store).unwrap_or((200, json!({})))
                }
            }
        }
        ("POST", "/reset") => {
            stubs.added().clear();
            stubs.folder_on.store(true, Ordering::Release);
            store.state().reset();
            stats.reset_journal(stats.journal_epoch());
            reinstall(stubs, store).unwrap_or((200, Value::Null))
        }
        ("POST", "/requests/reset") | ("DELETE", "/requests") => {
            stats.reset_journal(stats.journal_epoch());
            (200, json!({}))
        }
        ("POST", "/requests/count") => {
            match json_body().map_err(|e| e.to_string()).and_then(|p| matching(stats, &p)) {
                // WireMock counts -1 when its journal is off, and says why.
                Ok(_) if !stats.journal_enabled() => {
                    (200, json!({ "count": -1, "requestJournalDisabled": true }))
                }
                Ok(found) => (200, json!({ "count": found.len(), "requestJournalDisabled": false })),
                Err(message) => error(422, message),
            }
        }
        ("POST", "/requests/find") => {
            match json_body().map_err(|e| e.to_string()).and_then(|p| matching(stats, &p)) {
                Ok(found) => (
                    200,
                    json!({
                        "requests": found.iter().map(logged_request).collect::<Vec<_>>(),
                        "requestJournalDisabled": !stats.journal_enabled(),
                    }),
                ),
                Err(message) => error(422, message),
            }
        }
        ("GET", "/requests") => {
            let all = stats.journal(&JournalQuery { limit: usize::MAX, ..JournalQuery::default() });
            let requests: Vec<Value> = all
                .iter()
                .map(|e| {
                    json!({
                        "request": logged_request(e),
                        "response": { "status": e.status },
                        "wasMatched": !e.rule.as_str().is_empty(),
                    })
                })
                .collect();
            (
                200,
                json!({
                    "requests": requests,
                    "meta": { "total": requests.len() },
                    "requestJournalDisabled": !stats.journal_enabled(),
                }),
            )
        }
        ("POST", "/scenarios/reset") => {
            store.state().reset();
            (200, json!({}))
        }
        ("GET", "/scenarios") => {
            let scenarios: Vec<Value> = store
                .state()
                .scenarios()
                .into_iter()
                .map(|(name, state)| json!({ "id": name, "name": name, "state": state }))
                .collect();
            (200, json!({ "scenarios": scenarios }))
        }
        ("PUT", other) => match other.strip_prefix("/scenarios/").and_then(|s| s.strip_suffix("/state")) {
            Some(name) => {
                let name = percent_decode(name);
                match json_body().ok().and_then(|b| b.get("state").and_then(Value::as_str).map(str::to_owned))
                {
                    Some(state) => {
                        store.state().set_scenario_state(&name, &state);
                        (200, json!({}))
                    }
                    // WireMock puts a scenario back at its start when no state is given.
                    None => {
                        store.state().set_scenario_state(&name, mockplane_rules::model::SCENARIO_STARTED);
                        (200, json!({}))
                    }
                }
            }
            None => return None,
        },
        _ => return None,
    })
}

/// Adds a stub (with a new id when it has none) and installs the stubs again. A stub that
/// cannot be converted is refused, and nothing changes.
fn add_stub(stubs: &WireMockStubs, store: &SnapshotStore, mut stub: Value) -> Reply {
    let Some(obj) = stub.as_object_mut() else { return error(422, "a stub is a JSON object") };
    let id =
        obj.get("id").or(obj.get("uuid")).and_then(Value::as_str).map(str::to_owned).unwrap_or_else(new_id);
    obj.insert("id".into(), json!(id));
    obj.insert("uuid".into(), json!(id));
    let check = wm::import_value(stub.clone(), None, &wm::Options::default());
    match check {
        Err(e) => return error(422, e.to_string()),
        Ok(imported) if imported.set.rules.is_empty() => {
            let why: Vec<String> = imported.unsupported.iter().map(ToString::to_string).collect();
            return error(422, why.join("; "));
        }
        Ok(_) => {}
    }
    {
        let mut added = stubs.added();
        // A stub with the id of one already added replaces it, as WireMock's does.
        added.retain(|s| s.get("id").and_then(Value::as_str) != Some(&id));
        added.push(stub.clone());
    }
    match reinstall(stubs, store) {
        Some(refused) => {
            stubs.added().retain(|s| s.get("id").and_then(Value::as_str) != Some(&id));
            refused
        }
        None => (201, stub),
    }
}

/// Installs the stubs again; `Some` with the refusal if the result was refused.
fn reinstall(stubs: &WireMockStubs, store: &SnapshotStore) -> Option<Reply> {
    match stubs.install(store) {
        Ok(version) => {
            tracing::info!(version, "WireMock stubs changed over the admin API: new version in force");
            None
        }
        Err(e) => Some(error(422, e.to_string())),
    }
}

/// A UUID (version 4 layout) from the clock and a counter: ids only need to be unique here.
fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    let a = h.finish();
    h.write_u64(a);
    let b = h.finish();
    let hex = format!("{a:016x}{b:016x}");
    format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
}

/// The journaled requests a WireMock request pattern matches, oldest first.
fn matching(stats: &SharedStats, pattern: &Value) -> Result<Vec<JournalEntry>, String> {
    let matcher = wm::request_pattern(pattern).map_err(|u| u.to_string())?;
    let rule = Rule {
        id: "pattern".into(),
        name: None,
        priority: 0,
        enabled: true,
        tags: Vec::new(),
        matcher,
        response: Some(Response::default()),
        sequence: None,
        forward: None,
        times: None,
        scenario: None,
        validate: None,
    };
    let set = RuleSet { rules: vec![std::sync::Arc::new(rule)], ..RuleSet::default() };
    let table = RuleTable::compile(&set, &CompileOptions::default()).map_err(|e| e.to_string())?;
    let mut all = stats.journal(&JournalQuery { limit: usize::MAX, ..JournalQuery::default() });
    all.reverse();
    Ok(all.into_iter().filter(|e| entry_matches(&table, e)).collect())
}

fn entry_matches(table: &RuleTable, e: &JournalEntry) -> bool {
    let headers: Vec<Header<'_>> = e.headers().map(|(name, value)| Header { name, value }).collect();
    let mut req = Request::new(e.method.as_str(), e.target.as_str(), &headers, e.body.as_bytes());
    if let Some(client) = e.client {
        req = req.with_client_ip(client.ip());
    }
    let cx = RequestContext::new(&req).peek();
    table.select(&cx).is_some()
}

/// A journal entry as WireMock's `LoggedRequest`, field for field as WireMock 3 writes one.
fn logged_request(e: &JournalEntry) -> Value {
    let mut headers = serde_json::Map::new();
    let mut cookies = serde_json::Map::new();
    let mut form_body = false;
    for (name, value) in e.headers() {
        let value = String::from_utf8_lossy(value).into_owned();
        if name.eq_ignore_ascii_case("cookie") {
            for pair in value.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=') {
                    cookies.insert(k.to_owned(), json!(v));
                }
            }
        }
        form_body |= name.eq_ignore_ascii_case("content-type")
            && value.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded");
        match headers.get_mut(name) {
            Some(Value::Array(list)) => list.push(json!(value)),
            Some(one) => *one = json!([one.take(), value]),
            None => {
                headers.insert(name.to_owned(), json!(value));
            }
        }
    }
    let host_header = e
        .headers()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| "localhost".into());
    // As Java's URL reads it: the port, or -1 when the Host header names none.
    let (host, port) = match host_header.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() && (!h.contains(':') || h.ends_with(']')) => {
            (h.to_owned(), p.parse::<i64>().unwrap_or(-1))
        }
        _ => (host_header.clone(), -1),
    };
    let body = e.body.as_bytes();
    let query = e.target.as_str().split_once('?').map_or("", |(_, q)| q);
    json!({
        "url": e.target.as_str(),
        "absoluteUrl": format!("http://{host_header}{}", e.target.as_str()),
        "method": e.method.as_str(),
        "clientIp": e.client.map(|c| c.ip().to_string()),
        "headers": headers,
        "cookies": cookies,
        "browserProxyRequest": false,
        "loggedDate": e.at_ms(),
        "bodyAsBase64": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body),
        "body": String::from_utf8_lossy(body),
        "protocol": "HTTP/1.1",
        "scheme": "http",
        "host": host,
        "port": port,
        "loggedDateString": logged_date(e.at_ms()),
        "queryParams": multi_values(query.as_bytes()),
        "formParams": if form_body { multi_values(body) } else { json!({}) },
    })
}

/// `a=1&a=2` as WireMock's parameters: `{"a": {"key": "a", "values": ["1", "2"]}}`.
fn multi_values(encoded: &[u8]) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(encoded) {
        let entry = out.entry(k.clone().into_owned()).or_insert_with(|| json!({ "key": k, "values": [] }));
        if let Some(values) = entry["values"].as_array_mut() {
            values.push(json!(v));
        }
    }
    Value::Object(out)
}

/// A time as WireMock writes `loggedDateString` (Java's ISO offset format): the fraction of a
/// second without its trailing zeros, none when it is zero.
fn logged_date(at_ms: u64) -> Option<String> {
    let t = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(at_ms as i64)?;
    let millis = at_ms % 1000;
    let fraction = match millis {
        0 => String::new(),
        m => format!(".{m:03}").trim_end_matches('0').to_owned(),
    };
    Some(format!("{}{fraction}Z", t.format("%Y-%m-%dT%H:%M:%S")))
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logged_dates_and_parameters_are_written_as_wiremock_writes_them() {
        assert_eq!(logged_date(1_796_441_111_730).as_deref(), Some("2026-12-05T03:25:11.73Z"));
        assert_eq!(logged_date(1_796_441_111_000).as_deref(), Some("2026-12-05T03:25:11Z"));
        assert_eq!(logged_date(1_796_441_111_005).as_deref(), Some("2026-12-05T03:25:11.005Z"));
        assert_eq!(
            multi_values(b"q=1&q=2&z=%20&b=x+y"),
            json!({"q": {"key": "q", "values": ["1", "2"]}, "z": {"key": "z", "values": [" "]},
                   "b": {"key": "b", "values": ["x y"]}})
        );
    }
}
