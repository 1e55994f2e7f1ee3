//! The corpus (`requests.json`), WireMock's recorded answers (`expected.json`), the list of
//! known differences, and the comparison of an answer with the recorded one.
//!
//! What is compared: the status, the reason phrase, the body (as JSON when WireMock's
//! content type says JSON, so key order and spacing do not count; by a regex for cases whose
//! body is random by design) and the headers that matter — every header WireMock sent except
//! those each server sets for itself (`date`, `server`, `matched-stub-*`, framing). A
//! `content-type` that only mockplane sends is a difference too (`vary` is not recorded for the
//! admin API's answers, where WireMock sends it for its CORS support). For a miss (a request no stub
//! matches) only the status is compared: both bodies are each tool's own diagnostics. For a
//! fault, what a client notices: a reset, a close without an answer, bytes that are not HTTP,
//! or an answer's head and a body that breaks off.

use crate::wire::{Answer, Request};
use base64::Engine as _;
use serde_json::{json, Map, Value};

/// Headers each server sets for itself, or that only frame the body: never compared.
const IGNORED_HEADERS: &[&str] = &[
    "date",
    "server",
    "matched-stub-id",
    "matched-stub-name",
    "transfer-encoding",
    "content-length",
    "connection",
    "keep-alive",
];

/// One case of the corpus.
pub struct Case {
    pub name: String,
    pub request: Request,
    /// No stub matches it in WireMock: only the status is compared.
    pub miss: bool,
    /// The body is random by design: both bodies must match this regex instead of each other.
    pub body_matches: Option<regex::Regex>,
    /// A call of WireMock's admin API: sent to mockplane's admin listener, not the stubs'.
    pub admin: bool,
    /// A stub with a `fault`: what a client notices ([`crate::wire::outcome`]) is compared.
    pub fault: bool,
}

fn field<'a>(v: &'a Value, key: &str, place: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("{place}.{key}: missing"))
}

fn string(v: &Value, key: &str, place: &str) -> Result<String, String> {
    field(v, key, place)?.as_str().map(str::to_owned).ok_or_else(|| format!("{place}.{key}: not a string"))
}

/// Reads `requests.json`.
pub fn cases(text: &str) -> Result<Vec<Case>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("requests.json: {e}"))?;
    let list = field(&doc, "requests", "requests.json")?.as_array().ok_or("requests: not a list")?;
    let mut out: Vec<Case> = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let place = format!("requests[{i}]");
        let name = string(r, "name", &place)?;
        string(r, "exercises", &place)?; // every case says what it is for
        if out.iter().any(|c| c.name == name) {
            return Err(format!("{place}.name: {name:?} is used twice"));
        }
        let mut headers = Vec::new();
        if let Some(h) = r.get("headers") {
            for (j, pair) in h.as_array().ok_or(format!("{place}.headers: not a list"))?.iter().enumerate() {
                match pair.as_array().map(Vec::as_slice) {
                    Some([Value::String(n), Value::String(v)]) => headers.push((n.clone(), v.clone())),
                    _ => return Err(format!("{place}.headers[{j}]: not a [name, value] pair")),
                }
            }
        }
        let body = match r.get("body") {
            None => None,
            Some(Value::String(s)) => Some(s.clone().into_bytes()),
            Some(_) => return Err(format!("{place}.body: not a string")),
        };
        let body_matches = match r.get("bodyMatches") {
            None => None,
            Some(Value::String(s)) => {
                Some(regex::Regex::new(s).map_err(|e| format!("{place}.bodyMatches: {e}"))?)
            }
            Some(_) => return Err(format!("{place}.bodyMatches: not a string")),
        };
        let request = Request {
            method: string(r, "method", &place)?,
            target: string(r, "path", &place)?,
            headers,
            body,
        };
        let flag = |key: &str| r.get(key) == Some(&Value::Bool(true));
        if flag("fault") && (flag("miss") || body_matches.is_some()) {
            return Err(format!("{place}: a fault case has no miss or bodyMatches"));
        }
        out.push(Case {
            name,
            request,
            miss: flag("miss"),
            body_matches,
            admin: flag("admin"),
            fault: flag("fault"),
        });
    }
    Ok(out)
}

/// The record of one answer, as `expected.json` keeps it.
pub fn record(case: &Case, a: &Answer) -> Value {
    let name = &case.name;
    if case.miss {
        return json!({ "name": name, "miss": true, "status": a.status });
    }
    let mut headers = Map::new();
    for (n, v) in &a.headers {
        // WireMock's admin answers carry `Vary: Origin` for its CORS support: not the API.
        if IGNORED_HEADERS.contains(&n.as_str()) || (case.admin && n == "vary") {
            continue;
        }
        let values = headers.entry(n.clone()).or_insert_with(|| Value::Array(Vec::new()));
        values.as_array_mut().expect("made as an array").push(Value::String(v.clone()));
    }
    let mut r = json!({ "name": name, "status": a.status, "reason": a.reason, "headers": headers });
    match std::str::from_utf8(&a.body) {
        Ok(text) => r["body"] = Value::String(text.to_owned()),
        Err(_) => r["bodyBase64"] = Value::String(base64::engine::general_purpose::STANDARD.encode(&a.body)),
    }
    r
}

fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut s: String = text.chars().take(160).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    format!("{s:?}")
}

/// The record of a fault case: what a client noticed.
pub fn record_fault(case: &Case, outcome: &str) -> Value {
    json!({ "name": case.name, "fault": true, "outcome": outcome })
}

/// How a fault's outcome differs from the recorded one: empty when they agree.
pub fn fault_differences(want: &Value, got: &str) -> Vec<String> {
    let want = want["outcome"].as_str().unwrap_or_default();
    match want == got {
        true => Vec::new(),
        false => vec![format!("fault: WireMock {want:?}, mockplane {got:?}")],
    }
}

/// How `got` differs from the recorded answer `want`: empty when they agree.
pub fn differences(case: &Case, want: &Value, got: &Answer) -> Vec<String> {
    let mut diffs = Vec::new();
    let status = want["status"].as_u64().unwrap_or_default();
    if u64::from(got.status) != status {
        diffs.push(format!("status: WireMock {status}, mockplane {}", got.status));
    }
    if case.miss {
        return diffs;
    }
    let reason = want["reason"].as_str().unwrap_or_default();
    if got.reason != reason {
        diffs.push(format!("reason: WireMock {reason:?}, mockplane {:?}", got.reason));
    }
    let empty = Map::new();
    let want_headers = want["headers"].as_object().unwrap_or(&empty);
    for (name, values) in want_headers {
        let want_values: Vec<&str> =
            values.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let got_values = got.values(name);
        if got_values != want_values {
            diffs.push(format!("header {name}: WireMock {want_values:?}, mockplane {got_values:?}"));
        }
    }
    if !want_headers.contains_key("content-type") {
        let extra = got.values("content-type");
        if !extra.is_empty() {
            diffs.push(format!("header content-type: WireMock none, mockplane {extra:?}"));
        }
    }
    let want_body = match (&want["body"], &want["bodyBase64"]) {
        (Value::String(s), _) => s.clone().into_bytes(),
        (_, Value::String(b)) => base64::engine::general_purpose::STANDARD.decode(b).unwrap_or_default(),
        _ => Vec::new(),
    };
    if let Some(shape) = &case.body_matches {
        let text = String::from_utf8_lossy(&got.body);
        if !shape.is_match(&text) {
            diffs.push(format!("body: {} does not match /{shape}/", shown(&got.body)));
        }
        return diffs;
    }
    let json_type = want_headers
        .get("content-type")
        .and_then(|v| v[0].as_str())
        .is_some_and(|t| t.to_ascii_lowercase().contains("json"));
    let same = if json_type {
        match (serde_json::from_slice::<Value>(&want_body), serde_json::from_slice::<Value>(&got.body)) {
            (Ok(w), Ok(g)) => w == g,
            _ => want_body == got.body,
        }
    } else {
        want_body == got.body
    };
    if !same {
        diffs.push(format!("body: WireMock {}, mockplane {}", shown(&want_body), shown(&got.body)));
    }
    diffs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(json: &str) -> Case {
        cases(&format!(r#"{{"requests": [{json}]}}"#)).expect("a case").remove(0)
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Answer {
        let headers = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        Answer { status, reason: "OK".into(), headers, body: body.as_bytes().to_vec() }
    }

    const GET: &str = r#"{"name": "c", "exercises": "x", "method": "GET", "path": "/"}"#;

    #[test]
    fn json_bodies_compare_as_json_and_text_bodies_byte_for_byte() {
        let c = case(GET);
        let wm =
            answer(200, &[("content-type", "application/json"), ("date", "today")], r#"{"a": 1, "b": 2}"#);
        let want = record(&c, &wm);
        assert_eq!(want["headers"], json!({ "content-type": ["application/json"] }), "date is not recorded");
        let same = answer(200, &[("content-type", "application/json")], r#"{"b":2,"a":1}"#);
        assert!(differences(&c, &want, &same).is_empty());
        let float = answer(200, &[("content-type", "application/json")], r#"{"b":2,"a":1.0}"#);
        assert_eq!(differences(&c, &want, &float).len(), 1, "1 and 1.0 differ");
        let text = record(&c, &answer(200, &[], "a b"));
        assert!(differences(&c, &text, &answer(200, &[], "a b")).is_empty());
        assert_eq!(differences(&c, &text, &answer(200, &[], "a  b")).len(), 1);
    }

    #[test]
    fn headers_that_matter_are_compared_and_an_extra_content_type_counts() {
        let c = case(GET);
        let want = record(&c, &answer(200, &[("set-cookie", "a=1"), ("set-cookie", "b=2")], ""));
        let got = answer(200, &[("set-cookie", "a=1"), ("x-mockplane-rule", "r")], "");
        let diffs = differences(&c, &want, &got);
        assert_eq!(diffs, [r#"header set-cookie: WireMock ["a=1", "b=2"], mockplane ["a=1"]"#]);
        let typed =
            answer(200, &[("set-cookie", "a=1"), ("set-cookie", "b=2"), ("content-type", "text/plain")], "");
        assert_eq!(
            differences(&c, &want, &typed),
            [r#"header content-type: WireMock none, mockplane ["text/plain"]"#]
        );
    }

    #[test]
    fn a_miss_compares_the_status_only_and_a_shape_compares_by_its_regex() {
        let miss = case(r#"{"name": "m", "exercises": "x", "method": "GET", "path": "/", "miss": true}"#);
        let want = record(&miss, &answer(404, &[("content-type", "text/plain")], "Request was not matched"));
        assert!(differences(&miss, &want, &answer(404, &[], "{}")).is_empty());
        assert_eq!(differences(&miss, &want, &answer(200, &[], "")).len(), 1);
        let shaped = case(
            r#"{"name": "s", "exercises": "x", "method": "GET", "path": "/", "bodyMatches": "^[0-9]{3}$"}"#,
        );
        let want = record(&shaped, &answer(200, &[], "123"));
        assert!(differences(&shaped, &want, &answer(200, &[], "456")).is_empty());
        assert_eq!(differences(&shaped, &want, &answer(200, &[], "45")).len(), 1);
    }

    #[test]
    fn a_corpus_with_a_name_twice_or_without_what_it_exercises_is_refused() {
        let twice = format!(r#"{{"requests": [{GET}, {GET}]}}"#);
        assert_eq!(cases(&twice).err().as_deref(), Some(r#"requests[1].name: "c" is used twice"#));
        let bare = r#"{"requests": [{"name": "c", "method": "GET", "path": "/"}]}"#;
        assert_eq!(cases(bare).err().as_deref(), Some("requests[0].exercises: missing"));
    }
}
