//! CORS on the hot path: what the rule set's policy (`mockplane_rules::CorsPolicy`, the `cors`
//! block) means for one request, and the bytes it adds to the answer.
//!
//! The invariant: a table without a policy costs one pointer test per request, and a request
//! without an allowed `Origin` gets its answer byte for byte as without a policy. Everything
//! written is prepared at compile time, except the echoed origin and what a preflight asks for.

use std::borrow::Cow;
use std::time::Duration;

use mockplane_rules::{CorsPolicy, Header, RuleTable};
use smallvec::SmallVec;

use crate::codec::Head;
use crate::journal::{Record, Seen};
use crate::worker::Worker;

/// The CORS part of one request's answer: nothing, or what an allowed origin gets.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Cors<'a> {
    /// The policy and the request's `Origin`, when the policy allows it.
    allowed: Option<(&'a CorsPolicy, &'a [u8])>,
    /// A preflight's `Access-Control-Request-Method` and `-Headers`.
    preflight: Option<(&'a [u8], Option<&'a [u8]>)>,
}

impl<'a> Cors<'a> {
    /// No CORS headers (no policy, no `Origin`, or an origin the policy does not allow).
    pub(crate) const NONE: Cors<'static> = Cors { allowed: None, preflight: None };

    /// What `table`'s policy says of a request with `method` and `headers`.
    #[inline]
    pub(crate) fn of(table: &'a RuleTable, method: &str, headers: &[Header<'a>]) -> Cors<'a> {
        match table.cors() {
            None => Cors::NONE,
            Some(policy) => Cors::with_policy(policy, method, headers),
        }
    }

    fn with_policy(policy: &'a CorsPolicy, method: &str, headers: &[Header<'a>]) -> Cors<'a> {
        let Some(origin) = header(headers, "origin").filter(|o| policy.allows(o)) else {
            return Cors::NONE;
        };
        // Envoy's test: an OPTIONS with a non-empty `Access-Control-Request-Method`.
        let preflight = if method == "OPTIONS" {
            header(headers, "access-control-request-method")
                .filter(|m| !m.is_empty())
                .map(|m| (m, header(headers, "access-control-request-headers")))
        } else {
            None
        };
        Cors { allowed: Some((policy, origin)), preflight }
    }

    /// Whether the request is a preflight from an allowed origin: answered by the policy, not
    /// by the rules.
    #[inline]
    pub(crate) fn is_preflight(&self) -> bool {
        self.preflight.is_some()
    }

    /// Appends the CORS header lines of an answer (none when the request gets none).
    #[inline]
    /// Whether the policy allows the request's origin (its headers go on the answer).
    pub(crate) fn applies(&self) -> bool {
        self.allowed.is_some()
    }

    pub(crate) fn write(&self, wbuf: &mut Vec<u8>) {
        if let Some((policy, origin)) = self.allowed {
            policy.write_headers(origin, wbuf);
        }
    }

    /// Appends a preflight's answer: the `204` status line and CORS header lines, without the
    /// blank line (the server's own headers go after them). Nothing when not a preflight.
    pub(crate) fn write_preflight(&self, wbuf: &mut Vec<u8>) {
        if let (Some((policy, origin)), Some((method, asked))) = (self.allowed, self.preflight) {
            policy.write_preflight(origin, method, asked, wbuf);
        }
    }
}

/// The value of the first header named `name` (lower case), compared without allocating.
#[inline]
fn header<'a>(headers: &[Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers.iter().find(|h| h.name.len() == name.len() && h.name.eq_ignore_ascii_case(name)).map(|h| h.value)
}

/// Counts and journals an answered preflight: a request, but not a miss, since no rule was
/// asked. It shows in the journal as the `OPTIONS` it was, `204`, with no rule.
pub(crate) fn record_preflight(worker: &Worker, seen: &Seen<'_>, took: Duration, now: std::time::SystemTime) {
    worker.stats.record_preflight(took);
    if worker.journal_enabled {
        worker.stats.journal.push(&Record {
            at_us: now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64),
            status: 204,
            duration_us: took.as_micros().min(u32::MAX as u128) as u32,
            method: seen.method,
            target: seen.target,
            rule: "",
            fault: 0,
            headers: seen.headers,
            body: seen.body,
            client: seen.client,
        });
    }
}

/// `refusal` (a prepared 4xx of the codec, for a request whose head is `head` in `buf`) with
/// the CORS header lines its origin gets added after the status line, so that a page can read
/// why its request was refused. Off the hot path: the request is being refused.
pub(crate) fn refusal_with_cors<'r>(
    worker: &Worker,
    head: &Head,
    buf: &[u8],
    refusal: &'r [u8],
) -> Cow<'r, [u8]> {
    let Some(snapshot) = worker.snapshot() else { return Cow::Borrowed(refusal) };
    let headers: SmallVec<[Header<'_>; 16]> =
        head.headers(buf).map(|(name, value)| Header { name, value }).collect();
    // Not `OPTIONS`: a refused request is never answered as a preflight.
    let cors = Cors::of(&snapshot.table, "", &headers);
    let (Some(_), Some(line_end)) = (cors.allowed, memchr::memmem::find(refusal, b"\r\n")) else {
        return Cow::Borrowed(refusal);
    };
    let mut out = Vec::with_capacity(refusal.len() + 128);
    out.extend_from_slice(&refusal[..line_end + 2]);
    cors.write(&mut out);
    out.extend_from_slice(&refusal[line_end + 2..]);
    Cow::Owned(out)
}
