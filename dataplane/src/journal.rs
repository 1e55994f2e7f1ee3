//! The request journal: the most recent requests each worker served, each kept once, in that
//! worker's ring ([`ring`]), and read by merging the rings newest first.
//!
//! Recording is a few word stores into a slot of the worker's own ring: no allocation, no
//! lock, nothing another core writes. Readers (`/journal`, the xDS report) never block the
//! worker: they read slots as they are, drop any the worker overwrote meanwhile, and merge
//! the newest N across workers by arrival time, reading no more of each ring than they use.
//! Every entry has a sequence number, consecutive per worker from 1, so that a reader can ask
//! for exactly the entries it has not seen ([`JournalCursor`]).
//!
//! An entry keeps what `verify` and `requests` on the control plane filter on, bounded: the
//! header fields that fit whole in [`HEADER_BYTES`], the body's first [`BODY_BYTES`] with its
//! whole length (so a cut body says so), and the client's address.

mod ring;

use mockplane_rules::model::FaultKind;
use serde::ser::{Serialize, SerializeStruct, Serializer};

pub(crate) use ring::{Record, RecordHeaders, Ring};

/// Bytes of a method kept.
pub(crate) const METHOD_BYTES: usize = 16;
/// Bytes of a rule id kept.
pub(crate) const RULE_BYTES: usize = 96;
/// Bytes of a target (path and query) kept.
pub(crate) const TARGET_BYTES: usize = 256;
/// Bytes of header fields kept: as many whole fields as fit, as `name: value` lines with CRLF
/// between them. Most requests' fields take 100 to 500 bytes; a browser's cookies can take more.
pub const HEADER_BYTES: usize = 1024;
/// Bytes of the body kept.
pub const BODY_BYTES: usize = 256;

/// Bytes stored inline, at most `N`.
#[derive(Clone, Copy)]
pub struct InlineBytes<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> InlineBytes<N> {
    /// The first `len` bytes (at most `N`) of `words`, little-endian, as the ring stores them.
    fn from_words(words: &[u64], len: usize) -> Self {
        let mut bytes = [0u8; N];
        for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&word.to_le_bytes());
        }
        InlineBytes { len: len.min(N) as u16, bytes }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl<const N: usize> std::fmt::Debug for InlineBytes<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        String::from_utf8_lossy(self.as_bytes()).fmt(f)
    }
}

/// A string stored inline, truncated to `N` bytes on a character boundary.
#[derive(Clone, Copy)]
pub struct InlineStr<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> InlineStr<N> {
    /// `s`, truncated to at most `N` bytes.
    pub fn new(s: &str) -> Self {
        Self::from_valid(ring::truncated(s, N))
    }

    /// The longest valid UTF-8 prefix of `bytes` (at most `N` bytes): what the ring wrote was
    /// a `str`, so this is all of it, but bytes from memory are checked, not trusted.
    fn from_bytes(bytes: &[u8]) -> Self {
        let bytes = &bytes[..bytes.len().min(N)];
        match std::str::from_utf8(bytes) {
            Ok(s) => Self::from_valid(s),
            Err(e) => Self::from_valid(std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default()),
        }
    }

    fn from_valid(s: &str) -> Self {
        let mut bytes = [0u8; N];
        bytes[..s.len()].copy_from_slice(s.as_bytes());
        InlineStr { len: s.len() as u16, bytes }
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len as usize]).expect("built from a str on a char boundary")
    }
}

impl<const N: usize> std::fmt::Debug for InlineStr<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

/// One served request, as read from a worker's ring.
#[derive(Debug, Clone, Copy)]
pub struct JournalEntry {
    /// Its place in its worker's journal: 1 for the worker's first request, then consecutive.
    /// `(worker, seq)` names an entry.
    pub seq: u64,
    /// When it arrived, in microseconds since the Unix epoch.
    pub at_us: u64,
    /// The worker that served it.
    pub worker: u16,
    /// The status sent; 0 for a connection-level fault.
    pub status: u16,
    /// Time from a complete request head to the answer being ready, in µs (delays included).
    pub duration_us: u32,
    /// The method.
    pub method: InlineStr<METHOD_BYTES>,
    /// Path and query, truncated to 256 bytes.
    pub target: InlineStr<TARGET_BYTES>,
    /// The rule that answered; empty when none did.
    pub rule: InlineStr<RULE_BYTES>,
    /// A fault that was injected, if any.
    pub fault: Option<&'static str>,
    /// The header fields kept, as lines: see [`JournalEntry::headers`].
    pub headers: InlineBytes<HEADER_BYTES>,
    /// How many header fields the request had (kept or not).
    pub header_fields: u16,
    /// The body's first [`BODY_BYTES`].
    pub body: InlineBytes<BODY_BYTES>,
    /// The whole body's length.
    pub body_size: u64,
    /// The client's address and port, when known.
    pub client: Option<std::net::SocketAddr>,
}

impl JournalEntry {
    /// When it arrived, in milliseconds since the Unix epoch.
    pub fn at_ms(&self) -> u64 {
        self.at_us / 1_000
    }

    /// The header fields kept, in order, as `(name, value)`, the value without the white
    /// space around it.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        let block = self.headers.as_bytes();
        block.split(|&b| b == b'\n').filter(|line| !block.is_empty() && !line.is_empty()).map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let colon = memchr::memchr(b':', line).unwrap_or(line.len());
            // Names are tokens (the codec checked them), so ASCII.
            let name = std::str::from_utf8(&line[..colon]).unwrap_or_default();
            let value = line.get(colon + 1..).unwrap_or_default();
            (name, value.trim_ascii())
        })
    }

    /// How many of the request's header fields were left out (they did not fit).
    pub fn headers_omitted(&self) -> u16 {
        self.header_fields.saturating_sub(self.headers().count() as u16)
    }

    /// Whether the body is longer than what was kept.
    pub fn body_truncated(&self) -> bool {
        self.body_size > self.body.as_bytes().len() as u64
    }
}

impl Serialize for JournalEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("JournalEntry", 15)?;
        st.serialize_field("seq", &self.seq)?;
        st.serialize_field("at_ms", &self.at_ms())?;
        st.serialize_field("worker", &self.worker)?;
        st.serialize_field("method", self.method.as_str())?;
        st.serialize_field("target", self.target.as_str())?;
        st.serialize_field("status", &self.status)?;
        let rule = self.rule.as_str();
        st.serialize_field("rule", &if rule.is_empty() { None } else { Some(rule) })?;
        st.serialize_field("fault", &self.fault)?;
        st.serialize_field("duration_us", &self.duration_us)?;
        let headers: Vec<(&str, std::borrow::Cow<'_, str>)> =
            self.headers().map(|(name, value)| (name, String::from_utf8_lossy(value))).collect();
        st.serialize_field("headers", &headers)?;
        st.serialize_field("headers_omitted", &self.headers_omitted())?;
        st.serialize_field("body", &String::from_utf8_lossy(self.body.as_bytes()))?;
        st.serialize_field("body_size", &self.body_size)?;
        st.serialize_field("body_truncated", &self.body_truncated())?;
        st.serialize_field("client", &self.client.map(|c| c.to_string()))?;
        st.end()
    }
}

/// What the journal keeps of a request besides its outcome: borrowed from the connection's
/// buffers, copied into the ring as the request is recorded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen<'a> {
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) headers: RecordHeaders<'a>,
    pub(crate) body: &'a [u8],
    pub(crate) client: Option<std::net::SocketAddr>,
}

/// The fault kinds a slot can name, by code (index + 1; 0 is none).
const FAULT_KINDS: [FaultKind; 5] = [
    FaultKind::Abort,
    FaultKind::ConnectionReset,
    FaultKind::EmptyResponse,
    FaultKind::MalformedChunk,
    FaultKind::RandomData,
];

/// Stops compiling when a fault kind is added, until it is added to [`FAULT_KINDS`] too
/// (a kind missing there would be journaled as "unknown").
const _: fn(FaultKind) = |kind| match kind {
    FaultKind::Abort
    | FaultKind::ConnectionReset
    | FaultKind::EmptyResponse
    | FaultKind::MalformedChunk
    | FaultKind::RandomData => {}
};

/// The code a slot stores for the fault named `name` (as `answer::fault_name` names it).
pub(crate) fn fault_code(name: Option<&str>) -> u8 {
    let Some(name) = name else { return 0 };
    FAULT_KINDS.iter().position(|&k| crate::answer::fault_name(k) == name).map_or(u8::MAX, |i| i as u8 + 1)
}

fn fault_from_code(code: u8) -> Option<&'static str> {
    match code {
        0 => None,
        c => Some(FAULT_KINDS.get(usize::from(c) - 1).map_or("unknown", |&k| crate::answer::fault_name(k))),
    }
}

/// Filters of `/journal`.
#[derive(Debug, Default, Clone)]
pub struct JournalQuery {
    /// Only entries served by this rule (`-` for misses).
    pub rule: Option<String>,
    /// Only entries whose target contains this.
    pub path: Option<String>,
    /// Only entries with this status.
    pub status: Option<u16>,
    /// At most this many entries, newest first.
    pub limit: usize,
}

impl JournalQuery {
    /// Whether `e` passes the filters.
    pub fn accepts(&self, e: &JournalEntry) -> bool {
        if let Some(rule) = &self.rule {
            let r = e.rule.as_str();
            if !(r == rule || (rule == "-" && r.is_empty())) {
                return false;
            }
        }
        if let Some(path) = &self.path {
            if !e.target.as_str().contains(path.as_str()) {
                return false;
            }
        }
        self.status.is_none_or(|s| s == e.status)
    }
}

/// Where a reader of the journal is: per worker, the sequence number of the newest entry it
/// has been given. Entries at or below it are not given again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JournalCursor(pub(crate) Vec<u64>);

/// The newest entries of `rings` (by worker) passing `query`, newest first, at most
/// `query.limit`, skipping what `cursor` has seen and moving it past every entry that was in
/// the rings (those beyond the limit are skipped for good: a reader that falls behind gets
/// the newest, not a backlog).
pub(crate) fn newest<'a>(
    rings: impl Iterator<Item = &'a Ring>,
    query: &JournalQuery,
    cursor: Option<&mut JournalCursor>,
) -> Vec<JournalEntry> {
    let after = |w: usize| cursor.as_ref().and_then(|c| c.0.get(w).copied()).unwrap_or(0);
    let mut readers: Vec<_> =
        rings.enumerate().map(|(w, ring)| ring.newest_first(w as u16, after(w))).collect();
    if let Some(cursor) = cursor {
        cursor.0 = readers.iter().map(|r| r.newest()).collect();
    }
    // A k-way merge: each worker's entries come newest first already, so only the head of each
    // is compared. At most `limit` entries are taken, each read once.
    let mut heads: Vec<Option<JournalEntry>> =
        readers.iter_mut().map(|r| r.by_ref().find(|e| query.accepts(e))).collect();
    let mut out = Vec::with_capacity(query.limit.min(1024));
    while out.len() < query.limit {
        let Some(w) = (0..heads.len())
            .filter(|&w| heads[w].is_some())
            .max_by_key(|&w| heads[w].as_ref().map(|e| e.at_us))
        else {
            break;
        };
        out.extend(heads[w].take());
        heads[w] = readers[w].by_ref().find(|e| query.accepts(e));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(ring: &Ring, target: &str, rule: &str, at_us: u64) {
        ring.push(&Record {
            at_us,
            status: 200,
            duration_us: 1,
            method: "GET",
            target,
            rule,
            fault: 0,
            headers: RecordHeaders::NONE,
            body: b"",
            client: None,
        });
    }

    fn listed(entries: &[JournalEntry]) -> Vec<(u16, u64, &str)> {
        entries.iter().map(|e| (e.worker, e.seq, e.target.as_str())).collect()
    }

    #[test]
    fn inline_strings_truncate_on_char_boundaries() {
        assert_eq!(InlineStr::<4>::new("abcdef").as_str(), "abcd");
        assert_eq!(InlineStr::<4>::new("aéé").as_str(), "aé");
        assert_eq!(InlineStr::<4>::new("").as_str(), "");
        assert_eq!(InlineStr::<4>::from_bytes(&[b'a', 0xc3]).as_str(), "a");
    }

    #[test]
    fn every_fault_name_survives_a_slot() {
        for kind in FAULT_KINDS {
            let name = crate::answer::fault_name(kind);
            assert_eq!(fault_from_code(fault_code(Some(name))), Some(name));
        }
        assert_eq!(fault_from_code(fault_code(None)), None);
        assert_eq!(fault_from_code(fault_code(Some("not a fault"))), Some("unknown"));
    }

    #[test]
    fn the_newest_across_workers_come_first_and_filters_apply_before_the_limit() {
        let rings = [Ring::new(10), Ring::new(10)];
        push(&rings[0], "/a1", "a", 10);
        push(&rings[1], "/b1", "b", 20);
        push(&rings[0], "/a2", "b", 30);
        push(&rings[0], "/a3", "a", 40);
        push(&rings[1], "/b2", "a", 50);
        let all = newest(rings.iter(), &JournalQuery { limit: 100, ..Default::default() }, None);
        assert_eq!(listed(&all), [(1, 2, "/b2"), (0, 3, "/a3"), (0, 2, "/a2"), (1, 1, "/b1"), (0, 1, "/a1")]);
        let two = newest(rings.iter(), &JournalQuery { limit: 2, ..Default::default() }, None);
        assert_eq!(listed(&two), [(1, 2, "/b2"), (0, 3, "/a3")]);
        let b = JournalQuery { rule: Some("b".into()), limit: 1, ..Default::default() };
        assert_eq!(listed(&newest(rings.iter(), &b, None)), [(0, 2, "/a2")]);
    }

    #[test]
    fn a_cursor_gives_each_entry_once_even_within_one_microsecond() {
        let rings = [Ring::new(10), Ring::new(10)];
        let query = JournalQuery { limit: 100, ..Default::default() };
        let mut cursor = JournalCursor::default();
        push(&rings[0], "/a1", "", 7);
        push(&rings[1], "/b1", "", 7);
        let first = newest(rings.iter(), &query, Some(&mut cursor));
        assert_eq!(first.len(), 2);
        assert_eq!(cursor, JournalCursor(vec![1, 1]));
        // The same instant as the last entry given: still given, once.
        push(&rings[0], "/a2", "", 7);
        push(&rings[0], "/a3", "", 7);
        let second = newest(rings.iter(), &query, Some(&mut cursor));
        assert_eq!(listed(&second), [(0, 3, "/a3"), (0, 2, "/a2")]);
        assert!(newest(rings.iter(), &query, Some(&mut cursor)).is_empty());
        // Past the limit, the older entries are skipped, not held back for later.
        for i in 0..5 {
            push(&rings[1], &format!("/b{}", i + 2), "", 8 + i);
        }
        let limited =
            newest(rings.iter(), &JournalQuery { limit: 2, ..Default::default() }, Some(&mut cursor));
        assert_eq!(listed(&limited), [(1, 6, "/b6"), (1, 5, "/b5")]);
        assert_eq!(cursor, JournalCursor(vec![3, 6]));
    }

    #[test]
    fn entries_serialize_as_json() {
        let ring = Ring::new(1);
        ring.push(&Record {
            at_us: 1_700_000_000_123_999,
            status: 0,
            duration_us: 3,
            method: "GET",
            target: "/x?y=1",
            rule: "r",
            fault: fault_code(Some("connection_reset")),
            headers: RecordHeaders::NONE,
            body: b"{\"a\":1}",
            client: Some(std::net::SocketAddr::from(([10, 0, 0, 2], 4321))),
        });
        let e = newest(std::iter::once(&ring), &JournalQuery { limit: 1, ..Default::default() }, None);
        let json = serde_json::to_value(e[0]).unwrap();
        assert_eq!(json["seq"], 1);
        assert_eq!(json["at_ms"], 1_700_000_000_123u64);
        assert_eq!(json["target"], "/x?y=1");
        assert_eq!(json["rule"], "r");
        assert_eq!(json["fault"], "connection_reset");
        assert_eq!(
            (json["body"].clone(), json["body_size"].clone()),
            (serde_json::json!("{\"a\":1}"), serde_json::json!(7))
        );
        assert_eq!(
            (json["body_truncated"].clone(), json["client"].clone()),
            (serde_json::json!(false), serde_json::json!("10.0.0.2:4321"))
        );
        assert_eq!(
            (json["headers"].clone(), json["headers_omitted"].clone()),
            (serde_json::json!([]), serde_json::json!(0))
        );
        let miss = JournalEntry { rule: InlineStr::new(""), fault: None, ..e[0] };
        let json = serde_json::to_value(miss).unwrap();
        assert_eq!(
            (json["rule"].clone(), json["fault"].clone()),
            (serde_json::Value::Null, serde_json::Value::Null)
        );
    }
}
