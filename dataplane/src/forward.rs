//! The forward action: a request sent on to an upstream and its answer streamed back.
//!
//! The request keeps the snapshot it was routed with (`LocalSnapshot`) until its answer is
//! written, so a swap of the table never cuts it: the cluster and rule edits stay those it
//! started with. Bodies are streamed both ways through two pooled buffers, never held whole;
//! only a body a rule must match on was read before (bounded by `--max-body`).
//!
//! Failures before the answer's head is sent get a JSON answer naming the upstream, the
//! endpoint and the reason (502 refused, reset or malformed; 503 at the connection limit; 504
//! on a connect or request timeout) and a log line; after it, the client's connection is
//! closed, which is all a proxy can say then.

mod body;
mod heads;
mod tunnel;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use mockplane_rules::{Cluster, ForwardTarget, RuleTable};
use monoio::buf::IoBufMut;
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};

use crate::answer::Outcome;
use crate::codec::{BodyFraming, Head};
use crate::conn::Conn;
use crate::cors::Cors;
use crate::record::{Capture, Recorded};
use crate::upstream::client::parse_response_head;
use crate::upstream::{self, ConnectError, Lease};
use crate::worker::{LocalSnapshot, Worker};
use body::{stream_request_body, stream_response_body};
use heads::{
    upgrade_asked, write_request_head, write_response_head, write_switching_head, ClientFraming, OutFraming,
};

/// Where the request body is when forwarding begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestBody {
    /// Read already: `conn.rbuf[start..end]`.
    InBuf { start: usize, end: usize },
    /// Read and de-chunked already, in `conn.body`.
    Decoded,
    /// Not read yet: streamed from the client as it arrives, framed as its head says.
    Stream,
}

/// Which route forwards: a rule (its index) or the set's default for unmatched requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Rule(usize),
    Unmatched,
}

/// What a failure was, for the status and the body.
#[derive(Debug)]
enum Failure {
    Connect(ConnectError),
    /// Reset, closed early, or an answer that is not HTTP.
    Broken(String),
    TimedOut(u64),
    /// `x-mockplane-fault-abort` asked for this status (no upstream involved).
    Aborted(u16),
}

impl Failure {
    fn status(&self) -> u16 {
        match self {
            Failure::Connect(ConnectError::Exhausted(_)) => 503,
            Failure::Connect(ConnectError::TimedOut(_) | ConnectError::HandshakeTimedOut(_))
            | Failure::TimedOut(_) => 504,
            Failure::Aborted(status) => *status,
            _ => 502,
        }
    }

    fn reason(&self) -> String {
        match self {
            Failure::Connect(e) => e.to_string(),
            Failure::Broken(why) => why.clone(),
            Failure::TimedOut(ms) => format!("no response head within {ms} ms"),
            Failure::Aborted(_) => format!("fault injected: the request asked for it with {ABORT_HEADER}"),
        }
    }
}

/// Whether the table in force may stream a request's body to an upstream: it forwards
/// something, and no rule needs a body to choose (so choosing on the head alone is exact).
pub(crate) fn may_stream_any(worker: &Worker) -> bool {
    worker.snapshot().is_some_and(|s| s.table.forwards() && !s.table.reads_bodies())
}

/// Routes a request on its head when its body is not all read yet and the table may forward
/// it: a peek at the selection (claiming nothing) says whether it is forwarded. If so, the
/// request is answered as usual but with its body unread, then streamed; `None` leaves the
/// request to the usual path (its body read first, bounded by `max_body`).
pub(crate) fn early<'a>(
    worker: &'a Rc<Worker>,
    conn: &'a mut Conn,
    head: &'a Head,
    peer: Option<SocketAddr>,
    began: Instant,
) -> Option<std::pin::Pin<Box<dyn std::future::Future<Output = bool> + 'a>>> {
    let unread = match head.framing {
        BodyFraming::None => false,
        BodyFraming::Length(len) => conn.rbuf.len() < head.head_len.saturating_add(len),
        BodyFraming::Chunked => true,
    };
    if !unread {
        return None;
    }
    let snapshot = worker.snapshot()?;
    let table = &snapshot.table;
    if !table.forwards() || table.reads_bodies() {
        return None;
    }
    let forwarded = {
        let headers: smallvec::SmallVec<[mockplane_rules::Header<'_>; 16]> =
            head.headers(&conn.rbuf).map(|(name, value)| mockplane_rules::Header { name, value }).collect();
        let mut request =
            mockplane_rules::Request::new(head.method(&conn.rbuf), head.target(&conn.rbuf), &headers, &[]);
        if let Some(peer) = peer {
            request = request.with_client_ip(peer.ip());
        }
        let cx = mockplane_rules::RequestContext::new(&request).peek();
        match table.select(&cx) {
            Some(selection) => selection.forwards(),
            None => table.unmatched().is_some(),
        }
    };
    let over_limit = matches!(head.framing, BodyFraming::Length(len) if len > worker.config.limits.max_body);
    if !forwarded && !over_limit {
        return None;
    }
    Some(Box::pin(async move {
        if !forwarded {
            // Only a forwarded body may pass `max_body`.
            let _ = conn.flush().await;
            let _ = conn.write_refusal(crate::codec::RequestError::BodyTooLarge.response()).await;
            return false;
        }
        conn.answering();
        // Selection reads no body in this table, so answering without it is exact.
        let outcome = crate::answer::answer(worker, &conn.rbuf, head, &[], peer, began, &mut conn.wbuf);
        match outcome {
            Outcome::Forward { snapshot, route, delay } => {
                forward(worker, conn, head, snapshot, route, RequestBody::Stream, peer, began, delay).await
            }
            // A fault rolled, or the forwarding rule's budget ran out meanwhile: answered as
            // usual, then closed, since the body was not read.
            Outcome::Respond { start, delay, dribble, .. } => {
                let this = dribble.map(|how| (conn.wbuf.split_off(start), how));
                if let Some(delay) = delay.filter(|d| !d.is_zero()) {
                    Box::pin(monoio::time::sleep(delay)).await;
                }
                let _ = conn.flush().await;
                if let Some((this, how)) = this {
                    let _ = crate::dribble::send(conn, &this, how).await;
                }
                false
            }
            Outcome::Fault { kind, delay } => {
                if let Some(delay) = delay.filter(|d| !d.is_zero()) {
                    Box::pin(monoio::time::sleep(delay)).await;
                }
                let _ = conn.flush().await;
                crate::conn::inject(worker, conn, kind).await;
                false
            }
        }
    }))
}

/// The request header that asks for an abort with its status (when the route allows it).
const ABORT_HEADER: &str = "x-mockplane-fault-abort";
/// The request header that asks for a delay in ms (when the route allows it, up to its bound).
const DELAY_HEADER: &str = "x-mockplane-fault-delay-ms";

/// The faults a request asks for by header: `(delay, abort status)`. Values that do not parse
/// (or an abort status outside 100..=599) are ignored, as Envoy ignores them.
fn asked_faults(buf: &[u8], head: &Head, max_delay: Duration) -> (Option<Duration>, Option<u16>) {
    let value = |name: &str| {
        head.headers
            .iter()
            .find(|h| h.name(buf).eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value(buf)).ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let delay = value(DELAY_HEADER).map(|ms| Duration::from_millis(ms).min(max_delay));
    let abort = value(ABORT_HEADER).filter(|s| (100..=599).contains(s)).map(|s| s as u16);
    (delay, abort)
}

/// The request's header fields as the rules see them (for the CORS policy).
fn request_headers<'b>(buf: &'b [u8], head: &Head) -> smallvec::SmallVec<[mockplane_rules::Header<'b>; 16]> {
    head.headers(buf).map(|(name, value)| mockplane_rules::Header { name, value }).collect()
}

/// The target of `route` in `snapshot`.
fn target_of(snapshot: &LocalSnapshot, route: Route) -> Option<&ForwardTarget> {
    match route {
        Route::Rule(i) => snapshot.table.forward_target(i),
        Route::Unmatched => snapshot.table.unmatched(),
    }
}

/// Forwards the request whose head is `head` and answers the client with what the upstream
/// says. Returns whether the client's connection goes on; consumes the request's bytes from
/// `conn.rbuf` either way.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn forward(
    worker: &Rc<Worker>,
    conn: &mut Conn,
    head: &Head,
    snapshot: LocalSnapshot,
    route: Route,
    body: RequestBody,
    peer: Option<SocketAddr>,
    began: Instant,
    delay: Option<Duration>,
) -> bool {
    let now = std::time::SystemTime::now();
    let Some(target) = target_of(&snapshot, route) else {
        // The route was read from this very snapshot: it has the target.
        return false;
    };
    let rule = match route {
        Route::Rule(i) => Some(i),
        Route::Unmatched => None,
    };
    // Earlier pipelined answers go out first.
    if !conn.flush().await {
        return false;
    }
    if let Some(delay) = delay.filter(|d| !d.is_zero()) {
        // Boxed: a timer is 640 bytes, and every connection's future would carry it.
        Box::pin(monoio::time::sleep(delay)).await;
    }
    let cluster: &Cluster = &target.cluster;
    let (asked_delay, asked_abort) = match target.header_faults {
        Some(max) => asked_faults(&conn.rbuf, head, max),
        None => (None, None),
    };
    if let Some(delay) = asked_delay.filter(|d| !d.is_zero()) {
        Box::pin(monoio::time::sleep(delay)).await;
    }
    let result = if let Some(status) = asked_abort {
        Err((Failure::Aborted(status), None))
    } else {
        exchange(worker, conn, head, &snapshot.table, target, body, peer).await
    };
    let mut fault = None;
    let head_only = head.method(&conn.rbuf) == "HEAD";
    let (status, go_on) = match result {
        Ok((status, go_on)) => (status, go_on),
        Err((failure, endpoint)) => {
            let endpoint = endpoint.map(|i| cluster.endpoints[i].to_string());
            let status = failure.status();
            let reason = failure.reason();
            if let Failure::Aborted(_) = failure {
                fault = Some("abort");
            } else {
                tracing::warn!(
                    upstream = %cluster.name,
                    endpoint = endpoint.as_deref().unwrap_or("none"),
                    status,
                    %reason,
                    "forwarding failed"
                );
            }
            let json = serde_json::json!({
                "error": "the upstream did not answer",
                "rule": rule.and_then(|i| snapshot.table.rule_id(i)),
                "upstream": &*cluster.name,
                "endpoint": endpoint,
                "reason": reason,
            })
            .to_string();
            // The request body may be partly unread: the connection cannot go on.
            let keep_alive = head.keep_alive && body != RequestBody::Stream && !worker.draining();
            conn.answering();
            // The set's CORS policy covers the proxy's own answers too.
            let headers = request_headers(&conn.rbuf, head);
            let cors = Cors::of(&snapshot.table, head.method(&conn.rbuf), &headers);
            crate::answer::write_simple(
                &mut conn.wbuf,
                worker,
                status,
                "application/json",
                json.as_bytes(),
                keep_alive,
                head.minor_version == 0,
                head_only,
                &cors,
            );
            (status, keep_alive)
        }
    };
    // What the journal keeps of the request: its head, and the body where it is still held (a
    // streamed body went to the upstream as it arrived).
    let journaled_body: &[u8] = match body {
        RequestBody::InBuf { start, end } => conn.rbuf.get(start..end).unwrap_or_default(),
        RequestBody::Decoded => &conn.body,
        RequestBody::Stream => &[],
    };
    let seen = crate::journal::Seen {
        method: head.method(&conn.rbuf),
        target: head.target(&conn.rbuf),
        headers: crate::journal::RecordHeaders { buf: &conn.rbuf, spans: &head.headers },
        body: journaled_body,
        client: peer,
    };
    worker.record(Some(&snapshot), rule, status, fault, &seen, began.elapsed(), now);
    let consumed = match body {
        RequestBody::InBuf { end, .. } => end,
        RequestBody::Decoded | RequestBody::Stream => head.head_len,
    };
    // Streamed and decoded bodies were drained from behind the head as they were sent.
    conn.rbuf.drain(..consumed.min(conn.rbuf.len()));
    conn.flush().await && go_on
}

type Exchanged = Result<(u16, bool), (Failure, Option<usize>)>;

/// Sends the request and streams the answer back. `Ok((status, go on))` once the answer's
/// head went to the client; the endpoint's index with a failure before that.
async fn exchange(
    worker: &Rc<Worker>,
    conn: &mut Conn,
    head: &Head,
    table: &RuleTable,
    target: &ForwardTarget,
    body: RequestBody,
    peer: Option<SocketAddr>,
) -> Exchanged {
    let cluster: &Cluster = &target.cluster;
    // A keep-alive connection the upstream closed meanwhile fails before any answer byte: a
    // request whose body is still at hand is tried again on another connection.
    let mut tries = 0;
    // Retries where the cluster asks for them: a request that got no answer goes to the next
    // endpoint, if sending it twice is harmless (RFC 9110 §9.2.2) and its body is at hand.
    let idempotent =
        matches!(head.method(&conn.rbuf), "GET" | "HEAD" | "OPTIONS" | "TRACE" | "PUT" | "DELETE");
    let mut retries = if idempotent && body != RequestBody::Stream { cluster.retries } else { 0 };
    loop {
        tries += 1;
        let (mut lease, leased) = upstream::lease(worker, cluster).await;
        let endpoint = lease.endpoint;
        let failure = match leased {
            // The limit is this data plane's own: no endpoint's fault, and nothing to retry.
            Err(e @ ConnectError::Exhausted(_)) => return Err((Failure::Connect(e), Some(endpoint))),
            Err(e) => Failure::Connect(e),
            Ok(()) => {
                let reused = lease.conn.as_ref().is_some_and(|c| c.reused);
                match send_and_answer(worker, conn, head, table, target, body, peer, &mut lease).await {
                    Err(Attempt::Stale) if reused && body != RequestBody::Stream && tries < 3 => continue,
                    Err(Attempt::Stale) => {
                        Failure::Broken("the upstream closed the connection without answering".into())
                    }
                    Err(Attempt::Failed(f)) => f,
                    Ok((status, go_on, reusable)) => {
                        lease.report(cluster, status < 500);
                        if reusable {
                            lease.give_back(cluster);
                        }
                        return Ok((status, go_on));
                    }
                }
            }
        };
        lease.report(cluster, false);
        if retries > 0 {
            retries -= 1;
            let endpoint = &cluster.endpoints[endpoint];
            tracing::debug!(upstream = %cluster.name, %endpoint, reason = %failure.reason(), "retrying");
            continue;
        }
        return Err((failure, Some(endpoint)));
    }
}

enum Attempt {
    /// Nothing came back and the connection failed: maybe an idle connection that was closed.
    Stale,
    Failed(Failure),
}

/// One attempt on a leased connection: `Ok((status, client goes on, upstream reusable))`.
#[allow(clippy::too_many_arguments)]
async fn send_and_answer(
    worker: &Rc<Worker>,
    conn: &mut Conn,
    head: &Head,
    table: &RuleTable,
    target: &ForwardTarget,
    body: RequestBody,
    peer: Option<SocketAddr>,
    lease: &mut Lease,
) -> Result<(u16, bool, bool), Attempt> {
    let cluster: &Cluster = &target.cluster;
    let up = lease.conn.as_mut().expect("a lease that succeeded holds a connection");
    let endpoint = &cluster.endpoints[lease.endpoint];
    let framing: OutFraming = match body {
        RequestBody::InBuf { start, end } => OutFraming::Length((end - start) as u64),
        RequestBody::Decoded => OutFraming::Length(conn.body.len() as u64),
        RequestBody::Stream => head.framing.into(),
    };
    let upgrade = upgrade_asked(&conn.rbuf, head);
    let asked_upgrade = upgrade.is_some();
    let mut out = worker.buffers.take();
    write_request_head(&mut out, &conn.rbuf, head, target, endpoint, peer.map(|p| p.ip()), framing, upgrade);
    match body {
        RequestBody::InBuf { start, end } => out.extend_from_slice(&conn.rbuf[start..end]),
        RequestBody::Decoded => out.extend_from_slice(&conn.body),
        RequestBody::Stream => {}
    }
    let (result, mut out) = up.stream.write_all(out).await;
    if result.is_err() {
        worker.buffers.give(out);
        return Err(Attempt::Stale);
    }
    if body == RequestBody::Stream {
        out.clear();
        let sent = stream_request_body(worker, conn, head, up, out).await;
        if let Err(f) = sent {
            return Err(Attempt::Failed(f));
        }
    } else {
        worker.buffers.give(out);
    }

    // The answer's head, within the request timeout (the worker's deadline sweep shuts the
    // connection's read side when it passes).
    let timeout_ms = cluster.request_timeout.as_millis() as u64;
    let head_request = head.method(&conn.rbuf) == "HEAD";
    let mut ub = worker.buffers.take();
    let watch = up.guard.watch.clone();
    watch.deadline_ms.set(worker.clock_ms.get().saturating_add(timeout_ms));
    let response = loop {
        match parse_response_head(&ub, head_request, worker.config.limits.max_head) {
            Ok(Some(r)) if (100..200).contains(&r.status) && r.status != 101 => {
                // An interim answer (100 Continue, 103): skipped, the final one follows.
                ub.drain(..r.head_len);
                continue;
            }
            Ok(Some(r)) => break r,
            Ok(None) => {}
            Err(e) => {
                worker.buffers.give(ub);
                return Err(Attempt::Failed(Failure::Broken(e.to_string())));
            }
        }
        let had = ub.len();
        if ub.capacity() - ub.len() < 1024 {
            ub.reserve(crate::buffers::BUF);
        }
        let (r, slice) = up.stream.read(ub.slice_mut(had..)).await;
        ub = slice.into_inner();
        match r {
            _ if watch.expired.get() => {
                worker.buffers.give(ub);
                return Err(Attempt::Failed(Failure::TimedOut(timeout_ms)));
            }
            Ok(0) | Err(_) if had == 0 => {
                worker.buffers.give(ub);
                return Err(Attempt::Stale);
            }
            Ok(0) => {
                worker.buffers.give(ub);
                return Err(Attempt::Failed(Failure::Broken(
                    "the upstream closed the connection mid-answer".into(),
                )));
            }
            Err(e) => {
                worker.buffers.give(ub);
                return Err(Attempt::Failed(Failure::Broken(format!("reading the answer failed: {e}"))));
            }
            Ok(_) => {}
        }
    };
    // A response-side delay: the answer's head waits (the upstream is not read meanwhile, so
    // no request timeout runs).
    watch.deadline_ms.set(u64::MAX);
    let response_delay = target.response_delay(&mut *worker.rng.borrow_mut());
    if let Some(delay) = response_delay.filter(|d| !d.is_zero()) {
        Box::pin(monoio::time::sleep(delay)).await;
    }
    if response.status == 101 {
        if !asked_upgrade {
            worker.buffers.give(ub);
            return Err(Attempt::Failed(Failure::Broken(
                "the upstream switched protocols (101) for a request that did not ask to".into(),
            )));
        }
        // From here on the connection is the new protocol's: relayed both ways, then closed
        // (neither side's connection is reusable for HTTP after it).
        conn.answering();
        let start = conn.wbuf.len();
        write_switching_head(&mut conn.wbuf, &ub, &response, target);
        worker.stats.bytes_out.add((conn.wbuf.len() - start) as u64);
        ub.drain(..response.head_len);
        if !conn.flush().await {
            worker.buffers.give(ub);
            return Ok((101, false, false));
        }
        let up = lease.conn.take().expect("the lease holds the connection it was answered on");
        // Boxed: a tunnel's state is large and rare, and every forward's future would carry it.
        Box::pin(tunnel::relay(worker, conn, head.head_len, up, ub)).await;
        return Ok((101, false, false));
    }
    let keep_alive = head.keep_alive && !worker.draining();
    conn.answering();
    let start = conn.wbuf.len();
    let client_framing = {
        let headers = request_headers(&conn.rbuf, head);
        let cors = Cors::of(table, head.method(&conn.rbuf), &headers);
        write_response_head(
            &mut conn.wbuf,
            &ub,
            &response,
            target,
            &cors,
            keep_alive,
            head.minor_version == 0,
        )
    };
    worker.stats.bytes_out.add((conn.wbuf.len() - start) as u64);
    // Record mode (a file, or the control plane's recording in the version in force): the
    // upstream's answer is copied as it streams.
    let method = head.method(&conn.rbuf);
    let target = head.target(&conn.rbuf);
    let to_file = worker.recorder.as_ref().is_some_and(|r| r.wants(method, target));
    let live = worker.snapshot().filter(|s| s.recording.as_ref().is_some_and(|f| f.wants(method, target)));
    let mut capture = (to_file || live.is_some()).then(|| {
        Capture::new(Recorded {
            method: method.to_owned(),
            target: target.to_owned(),
            status: response.status,
            headers: response
                .headers
                .iter()
                .map(|h| (h.name(&ub).to_owned(), String::from_utf8_lossy(h.value(&ub)).into_owned()))
                .collect(),
            body: Vec::new(),
        })
    });
    ub.drain(..response.head_len);
    let status = response.status;
    let streamed = stream_response_body(
        worker,
        conn,
        up,
        ub,
        response.framing,
        client_framing,
        timeout_ms,
        capture.as_mut(),
    )
    .await;
    if let (Ok(()), Some(recorded)) = (&streamed, capture.and_then(Capture::finish)) {
        match (live.as_ref().and_then(|s| s.recording.as_ref()), &worker.recorder) {
            (Some(filter), _) => filter.keep(recorded),
            (None, Some(recorder)) => recorder.send(recorded),
            (None, None) => {}
        }
    }
    watch.deadline_ms.set(u64::MAX);
    match streamed {
        // The answer went whole: the client's connection goes on as it asked.
        Ok(()) => Ok((status, keep_alive && client_framing != ClientFraming::Close, response.keep_alive)),
        // Cut short after its head: the client learns by the connection closing.
        Err(()) => Ok((status, false, false)),
    }
}
