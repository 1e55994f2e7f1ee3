//! The admin listener: `/healthz`, `/readyz`, `/metrics`, `/config`, `/journal`, and
//! `POST /explain`.
//!
//! It runs on its own thread with its own small runtime (epoll: admin traffic is light and
//! must work wherever the data plane does), reusing the data plane's HTTP codec.
//!
//! `/readyz` and `/config` show one `version` of the rules in force, as their source names it
//! (see [`version_of`]); `/readyz` also says when the rules file's latest edit was refused and
//! which version serves instead.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use crate::codec::{self, Limits};
use crate::journal::JournalQuery;
use crate::snapshot::SnapshotStore;
use crate::stats::SharedStats;

struct Admin {
    store: SnapshotStore,
    stats: Arc<SharedStats>,
    /// With `--wiremock-admin`: the stubs WireMock's admin API edits.
    wiremock: Option<Arc<crate::wiremock::WireMockStubs>>,
}

/// Binds the admin listener and serves it on a new thread until `shutdown`.
pub(crate) fn start(
    addr: SocketAddr,
    store: SnapshotStore,
    stats: Arc<SharedStats>,
    wiremock: Option<Arc<crate::wiremock::WireMockStubs>>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::Builder::new().name("mockplane-admin".into()).spawn(move || {
        let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new().enable_timer().build();
        let mut rt = match rt {
            Ok(rt) => rt,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        rt.block_on(async move {
            let listener = match TcpListener::bind(addr) {
                Ok(l) => l,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(listener.local_addr().unwrap_or(addr)));
            let admin = std::rc::Rc::new(Admin { store, stats, wiremock });
            loop {
                let accepted = monoio::select! {
                    a = listener.accept() => Some(a),
                    _ = wait(&shutdown) => None,
                };
                match accepted {
                    None => break,
                    Some(Ok((stream, _))) => {
                        let admin = admin.clone();
                        monoio::spawn(async move { serve(&admin, stream).await });
                    }
                    Some(Err(_)) => monoio::time::sleep(Duration::from_millis(10)).await,
                }
            }
        });
    })?;
    match rx.recv() {
        Ok(Ok(bound)) => Ok((bound, thread)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(std::io::Error::other("the admin thread died while starting")),
    }
}

async fn wait(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        monoio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn serve(admin: &Admin, mut stream: TcpStream) {
    let limits = Limits { max_body: 64 * 1024, ..Limits::default() };
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    loop {
        let head = loop {
            match codec::parse_head(&buf, &limits) {
                Ok(Some(head)) => break head,
                Ok(None) => {}
                Err(e) => {
                    let _ = stream.write_all(e.response().to_vec()).await;
                    return;
                }
            }
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(8192);
            }
            match read_more(&mut stream, buf).await {
                Some(b) => buf = b,
                None => return,
            }
        };
        let body_len = match head.framing {
            codec::BodyFraming::Length(n) => n,
            codec::BodyFraming::None => 0,
            // The admin endpoints take no bodies; refuse rather than decode.
            codec::BodyFraming::Chunked => {
                let _ = stream
                    .write_all(respond(411, "text/plain", "chunked bodies are not accepted here\n", false))
                    .await;
                return;
            }
        };
        while buf.len() < head.head_len + body_len {
            if buf.capacity() - buf.len() < 1024 {
                buf.reserve(8192);
            }
            match read_more(&mut stream, buf).await {
                Some(b) => buf = b,
                None => return,
            }
        }
        let keep_alive = head.keep_alive;
        let method = head.method(&buf);
        let body = &buf[head.head_len..head.head_len + body_len];
        let mut response = route(admin, method, head.target(&buf), body, keep_alive);
        if method == "HEAD" {
            // The same head as GET, without the body.
            if let Some(end) = memchr::memmem::find(&response, b"\r\n\r\n") {
                response.truncate(end + 4);
            }
        }
        buf.drain(..head.head_len + body_len);
        let (result, _) = stream.write_all(response).await;
        if result.is_err() || !keep_alive {
            return;
        }
    }
}

/// Appends what the client sends next to `buf` (rent reads fill a Vec from its start, so
/// read into the spare capacity); `None` on close, error or 30 s of silence.
async fn read_more(stream: &mut TcpStream, buf: Vec<u8>) -> Option<Vec<u8>> {
    let len = buf.len();
    match monoio::time::timeout(Duration::from_secs(30), stream.read(buf.slice_mut(len..))).await {
        Ok((Ok(n), slice)) if n > 0 => Some(slice.into_inner()),
        _ => None,
    }
}

fn route(admin: &Admin, method: &str, target: &str, body: &[u8], keep_alive: bool) -> Vec<u8> {
    let (path, query) = mockplane_rules::request::split_target(target);
    if let Some(stubs) = admin.wiremock.as_deref().filter(|_| path.starts_with("/__admin")) {
        // The stub edits compile the rules in this thread: each is one version, as a file edit is.
        return match crate::wiremock_admin::route(stubs, &admin.store, &admin.stats, method, path, body) {
            Some((status, serde_json::Value::Null)) => respond_empty(status, keep_alive),
            Some((status, json)) => respond(status, "application/json", &json.to_string(), keep_alive),
            None => respond(
                404,
                "application/json",
                r#"{"errors":[{"code":404,"title":"not a WireMock admin call mockplane answers"}]}"#,
                keep_alive,
            ),
        };
    }
    let snapshot = admin.store.load();
    if path == "/explain" {
        if method != "POST" {
            return respond(
                405,
                "application/json",
                r#"{"error":"POST a request to explain, e.g. {\"method\":\"GET\",\"path\":\"/users/42\"}"}"#,
                keep_alive,
            );
        }
        let Some(s) = &snapshot else {
            return respond(503, "application/json", r#"{"error":"no rules loaded yet"}"#, keep_alive);
        };
        return match crate::explain::parse(body) {
            Ok(request) => {
                let mut answer = crate::explain::explain(&s.table, &request);
                answer["version"] = serde_json::json!(s.version);
                respond(200, "application/json", &answer.to_string(), keep_alive)
            }
            Err(message) => respond(
                400,
                "application/json",
                &serde_json::json!({ "error": message }).to_string(),
                keep_alive,
            ),
        };
    }
    if method != "GET" && method != "HEAD" {
        return respond(
            405,
            "application/json",
            r#"{"error":"the admin endpoints answer GET only, except POST /explain"}"#,
            keep_alive,
        );
    }
    match path {
        "/healthz" => respond(200, "text/plain", "ok\n", keep_alive),
        "/readyz" => match &snapshot {
            Some(s) => {
                let mut body = serde_json::json!({
                    "ready": true, "version": version_of(s), "source": s.source, "rules": s.table.len(),
                });
                if let Some(file) = admin.store.file() {
                    body["rules_file"] = serde_json::json!(file);
                }
                if let Some(link) = admin.store.link() {
                    // Served, but possibly out of date: the control plane may have moved on.
                    body["stale"] = serde_json::Value::Bool(!link.connected);
                    body["control_plane"] = serde_json::json!(link);
                }
                respond(200, "application/json", &body.to_string(), keep_alive)
            }
            None => {
                let mut body = serde_json::json!({ "ready": false, "reason": "no rules loaded yet" });
                if let Some(link) = admin.store.link() {
                    body["control_plane"] = serde_json::json!(link);
                }
                respond(503, "application/json", &body.to_string(), keep_alive)
            }
        },
        "/metrics" => {
            let text = admin.stats.prometheus(snapshot.as_deref());
            respond(200, "text/plain; version=0.0.4", &text, keep_alive)
        }
        "/config" => match &snapshot {
            Some(s) => {
                let loaded_at = chrono::DateTime::<chrono::Utc>::from(s.loaded_at).to_rfc3339();
                let rule_set = match s.rules.rule_set() {
                    Ok(set) => serde_json::json!(set),
                    // It decoded when it was installed; this cannot happen.
                    Err(e) => serde_json::json!({ "error": e }),
                };
                let body = serde_json::json!({
                    "version": version_of(s), "source": s.source, "loaded_at": loaded_at, "rule_set": rule_set,
                });
                respond(200, "application/json", &body.to_string(), keep_alive)
            }
            None => respond(503, "application/json", r#"{"error":"no rules loaded yet"}"#, keep_alive),
        },
        "/journal" => match journal_query(query) {
            Ok(q) => {
                let entries = admin.stats.journal(&q);
                let body = crate::explain::journal_json(&entries, snapshot.as_deref().map(|s| &s.table));
                respond(200, "application/json", &body, keep_alive)
            }
            Err(message) => respond(
                400,
                "application/json",
                &serde_json::json!({ "error": message }).to_string(),
                keep_alive,
            ),
        },
        _ => respond(
            404,
            "application/json",
            r#"{"error":"unknown admin endpoint","endpoints":["/healthz","/readyz","/metrics","/config","/journal","POST /explain"]}"#,
            keep_alive,
        ),
    }
}

/// The version of `s` as its source names it. Rules from a control plane carry its
/// `version_info` (`"3-5f0c…"`), the same on every data plane of the environment and after a
/// restart from the persisted snapshot; rules from a file are numbered by this process, 1 for
/// the first load, counting up with each edit taken. (The process's own count also numbers the
/// `mockplane_config_version` metric, which must be a number.)
fn version_of(s: &crate::snapshot::Snapshot) -> serde_json::Value {
    match &s.config_version {
        Some(v) => serde_json::Value::from(v.as_str()),
        None => serde_json::Value::from(s.version),
    }
}

fn journal_query(query: &str) -> Result<JournalQuery, String> {
    let mut q = JournalQuery { limit: 100, ..JournalQuery::default() };
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "rule" => q.rule = Some(v.into_owned()),
            "path" => q.path = Some(v.into_owned()),
            "status" => {
                q.status = Some(v.parse().map_err(|_| format!("status must be a number, got {v:?}"))?)
            }
            "limit" => q.limit = v.parse().map_err(|_| format!("limit must be a number, got {v:?}"))?,
            other => return Err(format!("unknown filter {other:?}: use rule, path, status, limit")),
        }
    }
    Ok(q)
}

/// An answer with no body and no content type.
fn respond_empty(status: u16, keep_alive: bool) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\ncontent-length: 0\r\n{}\r\n",
        mockplane_rules::reason_phrase(status),
        if keep_alive { "" } else { "connection: close\r\n" },
    )
    .into_bytes()
}

fn respond(status: u16, content_type: &str, body: &str, keep_alive: bool) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n{}\r\n{body}",
        mockplane_rules::reason_phrase(status),
        body.len(),
        if keep_alive { "" } else { "connection: close\r\n" },
    )
    .into_bytes()
}
