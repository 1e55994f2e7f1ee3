//! One request, answered: from a parsed head and body to response bytes appended to the
//! connection's write buffer. Synchronous and allocation-free for static answers; the
//! connection loop does the waiting (delays) and the writing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mockplane_rules::model::FaultKind;
use mockplane_rules::{Header, Reply, Request, RequestContext};
use smallvec::SmallVec;

use crate::codec::Head;
use crate::cors::Cors;
use crate::dribble::Dribbled;
use crate::forward::Route;
use crate::journal::{fault_code, Record, RecordHeaders, Seen};
use crate::worker::LocalSnapshot;
use crate::worker::Worker;

/// What the connection loop does after an answer.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The response is in the write buffer from `start`; send it after `delay`, then go on
    /// (or close, when `close`); dribbled when `dribble` says so.
    Respond { start: usize, delay: Option<Duration>, close: bool, dribble: Option<Dribbled> },
    /// Instead of a response, a fault at the connection level, after `delay`.
    Fault { kind: FaultKind, delay: Option<Duration> },
    /// Forward the request (nothing written, nothing journaled yet), after `delay`, keeping
    /// the snapshot it was routed with until it is answered.
    Forward { snapshot: LocalSnapshot, route: Route, delay: Option<Duration> },
}

/// Answers the request whose head is `head` (offsets into `buf`) and whose body is `body`.
pub(crate) fn answer(
    worker: &Worker,
    buf: &[u8],
    head: &Head,
    body: &[u8],
    peer: Option<SocketAddr>,
    started: Instant,
    wbuf: &mut Vec<u8>,
) -> Outcome {
    let start = wbuf.len();
    // One wall-clock read serves templates (`{{now}}`) and the journal.
    let now = std::time::SystemTime::now();
    let method = head.method(buf);
    let target = head.target(buf);
    let head_only = method == "HEAD";
    let keep_alive = head.keep_alive && !worker.draining();
    let http10 = head.minor_version == 0;
    // Journaled and measured durations include the delay the rule asks for: that is what the
    // client waits.
    let took = |delay: Option<Duration>| started.elapsed() + delay.unwrap_or_default();
    let seen =
        Seen { method, target, headers: RecordHeaders { buf, spans: &head.headers }, body, client: peer };

    let Some(snapshot) = worker.snapshot() else {
        write_simple(
            wbuf,
            worker,
            503,
            "application/json",
            br#"{"error":"no rules loaded yet"}"#,
            keep_alive,
            http10,
            head_only,
            &Cors::NONE,
        );
        worker.record(None, None, 503, None, &seen, took(None), now);
        return Outcome::Respond { start, delay: None, close: !keep_alive, dribble: None };
    };
    let headers: SmallVec<[Header<'_>; 16]> =
        head.headers(buf).map(|(name, value)| Header { name, value }).collect();
    let cors = Cors::of(&snapshot.table, method, &headers);
    if cors.is_preflight() {
        cors.write_preflight(wbuf);
        finish_head(wbuf, worker, keep_alive, http10);
        wbuf.extend_from_slice(b"\r\n");
        crate::cors::record_preflight(worker, &seen, took(None), now);
        return Outcome::Respond { start, delay: None, close: !keep_alive, dribble: None };
    }
    let mut request = Request::new(method, target, &headers, body);
    if let Some(peer) = peer {
        request = request.with_client_ip(peer.ip());
    }
    let cx = RequestContext::new(&request);
    let table = &snapshot.table;

    let selection = table.select(&cx);
    if selection.is_none() && table.unmatched().is_none() {
        let mut body = worker.scratch.borrow_mut();
        body.clear();
        crate::miss::write_body(&mut body, table, &cx, worker.config.explain_header);
        write_simple(wbuf, worker, 404, "application/json", &body, keep_alive, http10, head_only, &cors);
        worker.record(Some(&snapshot), None, 404, None, &seen, took(None), now);
        return Outcome::Respond { start, delay: None, close: !keep_alive, dribble: None };
    }
    let mut render = worker.render.borrow_mut();
    let mut rng = worker.rng.borrow_mut();
    let (answer, rule) = match &selection {
        Some(selection) => {
            let answer = table.answer(selection, &cx, now, &mut *rng, &mut render);
            let rule = Some(answer.rule_index);
            (answer, rule)
        }
        // Sidecar mode: the set's default route forwards what no rule matched.
        None => (table.answer_unmatched(&mut *rng).expect("the set has an unmatched route"), None),
    };
    // A HEAD answer has no body to dribble.
    let dribble = answer.dribble.filter(|_| !head_only);
    // What the client waits for the whole answer: the delay, then the dribble's time.
    let waits = match dribble {
        Some(d) => Some(answer.delay.unwrap_or_default() + d.total),
        None => answer.delay,
    };
    match answer.reply {
        Reply::Static(response) => {
            match dribble {
                Some(_) => crate::dribble::write_head(wbuf, response.head(), http10),
                None => wbuf.extend_from_slice(response.head()),
            }
            cors.write(wbuf);
            finish_head(wbuf, worker, keep_alive, http10);
            let body_at = wbuf.len() + 2 - start;
            wbuf.extend_from_slice(if head_only { b"\r\n" } else { response.tail() });
            worker.record(
                Some(&snapshot),
                rule,
                response.status(),
                answer.fault.map(fault_name), // an abort answers with a prepared response
                &seen,
                took(waits),
                now,
            );
            let dribble = dribble.map(|plan| Dribbled { plan, body_at, chunked: !http10 });
            Outcome::Respond { start, delay: answer.delay, close: !keep_alive, dribble }
        }
        Reply::Rendered { status } => {
            match dribble {
                Some(_) => crate::dribble::write_head(wbuf, &render.head, http10),
                None => wbuf.extend_from_slice(&render.head),
            }
            cors.write(wbuf);
            finish_head(wbuf, worker, keep_alive, http10);
            wbuf.extend_from_slice(b"\r\n");
            let body_at = wbuf.len() - start;
            if !head_only {
                wbuf.extend_from_slice(&render.body);
            }
            worker.record(Some(&snapshot), rule, status, None, &seen, took(waits), now);
            let dribble = dribble.map(|plan| Dribbled { plan, body_at, chunked: !http10 });
            Outcome::Respond { start, delay: answer.delay, close: !keep_alive, dribble }
        }
        Reply::Fault(kind) => {
            worker.record(Some(&snapshot), rule, 0, Some(fault_name(kind)), &seen, took(answer.delay), now);
            Outcome::Fault { kind, delay: answer.delay }
        }
        Reply::Forward(_) => Outcome::Forward {
            snapshot: snapshot.clone(),
            route: rule.map_or(Route::Unmatched, Route::Rule),
            delay: answer.delay,
        },
    }
}

/// Adds the per-response headers the server owns: `date` and, when needed, `connection`.
#[inline]
fn finish_head(wbuf: &mut Vec<u8>, worker: &Worker, keep_alive: bool, http10: bool) {
    wbuf.extend_from_slice(&worker.date.borrow().line);
    if !keep_alive {
        wbuf.extend_from_slice(b"connection: close\r\n");
    } else if http10 {
        wbuf.extend_from_slice(b"connection: keep-alive\r\n");
    }
}

/// Writes a small complete response the server makes itself (404, 502, 503), with the CORS
/// headers the request gets.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_simple(
    wbuf: &mut Vec<u8>,
    worker: &Worker,
    status: u16,
    content_type: &str,
    body: &[u8],
    keep_alive: bool,
    http10: bool,
    head_only: bool,
    cors: &Cors<'_>,
) {
    // Plain copies: `write!` cost a 404 about 1,000 instructions of formatting machinery.
    wbuf.extend_from_slice(b"HTTP/1.1 ");
    wbuf.extend_from_slice(decimal(status as usize, &mut [0; 20]));
    wbuf.push(b' ');
    wbuf.extend_from_slice(mockplane_rules::reason_phrase(status).as_bytes());
    wbuf.extend_from_slice(b"\r\ncontent-type: ");
    wbuf.extend_from_slice(content_type.as_bytes());
    wbuf.extend_from_slice(b"\r\ncontent-length: ");
    wbuf.extend_from_slice(decimal(body.len(), &mut [0; 20]));
    wbuf.extend_from_slice(b"\r\n");
    cors.write(wbuf);
    finish_head(wbuf, worker, keep_alive, http10);
    wbuf.extend_from_slice(b"\r\n");
    if !head_only {
        wbuf.extend_from_slice(body);
    }
}

/// `n` in decimal, written into the end of `buf`.
pub(crate) fn decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// The name a fault has in the journal and the logs.
pub(crate) fn fault_name(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Abort => "abort",
        FaultKind::ConnectionReset => "connection_reset",
        FaultKind::EmptyResponse => "empty_response",
        FaultKind::MalformedChunk => "malformed_chunk",
        FaultKind::RandomData => "random_data",
    }
}

impl Worker {
    /// Counts the request and journals it.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn record(
        &self,
        snapshot: Option<&std::sync::Arc<crate::snapshot::Snapshot>>,
        rule: Option<usize>,
        status: u16,
        fault: Option<&'static str>,
        seen: &Seen<'_>,
        took: Duration,
        now: std::time::SystemTime,
    ) {
        self.stats.record(snapshot.map(|s| &**s), rule, status, took);
        if self.journal_enabled {
            let rule_id = match (snapshot, rule) {
                (Some(s), Some(i)) => s.table.rule_id(i).unwrap_or(""),
                _ => "",
            };
            self.stats.journal.push(&Record {
                at_us: now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64),
                status,
                duration_us: took.as_micros().min(u32::MAX as u128) as u32,
                method: seen.method,
                target: seen.target,
                rule: rule_id,
                fault: fault_code(fault),
                headers: seen.headers,
                body: seen.body,
                client: seen.client,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers_are_written_in_decimal() {
        for n in [0usize, 7, 10, 404, 12345, usize::MAX] {
            assert_eq!(super::decimal(n, &mut [0; 20]), n.to_string().as_bytes());
        }
    }
}
