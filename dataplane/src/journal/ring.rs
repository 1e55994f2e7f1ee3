//! One worker's journal ring: fixed-size slots of atomic words that the worker writes as it
//! serves and anyone reads without a lock, each slot guarded by its own sequence stamp (a
//! seqlock per slot).
//!
//! The invariant: only the owning worker writes a slot. A slot's stamp is `seq << 1 | 1` while
//! entry `seq` is being written into it and `seq << 1` once it is whole; stamps only grow. A
//! reader that sees the stamp it expects, copies the words, and sees the same stamp again has a
//! whole entry; otherwise the worker has lapped it and the entry is gone. The worker never
//! waits for a reader. Every word is an atomic, so a torn read is detected and dropped instead
//! of being a data race; the fences are the ones of H.-J. Boehm, "Can seqlocks get along with
//! programming language memory models?" (2012): a release fence after the odd stamp, an
//! acquire fence before the second look at it. Another thread empties the ring ([`Ring::clear`])
//! by raising a floor readers do not read below, never by writing a slot.
//!
//! An entry takes [`WORDS`] words (1,712 bytes: 64 of numbers, then method, rule id, target,
//! header fields and body prefix), written only as far as its strings reach, in memory from
//! [`crate::zeroed`], which the kernel backs only as the ring fills: `--journal 4096` costs at
//! most 7 MB per worker, and nothing while idle.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering::*};

use super::{
    fault_from_code, InlineBytes, InlineStr, JournalEntry, BODY_BYTES, HEADER_BYTES, METHOD_BYTES,
    RULE_BYTES, TARGET_BYTES,
};
use crate::codec::HeaderSpan;

const STAMP: usize = 0;
const AT_US: usize = 1;
/// status (16 bits) | fault code << 16 (8) | method length << 24 (8) | rule length << 32 (8)
/// | target length << 40 (16).
const META: usize = 2;
/// duration in µs (32 bits) | header bytes << 32 (16) | body bytes << 48 (16).
const SIZES: usize = 3;
/// The whole body's length.
const BODY_SIZE: usize = 4;
/// The client's address, as IPv6 (an IPv4 one mapped), in two words.
const CLIENT: usize = 5;
/// client port (16 bits) | address family << 16 (8: 0 none, 4, 6) | header fields in the
/// request << 24 (16).
const CLIENT_META: usize = 7;
const METHOD: usize = 8;
const RULE: usize = METHOD + METHOD_BYTES / 8;
const TARGET: usize = RULE + RULE_BYTES / 8;
const HEADERS: usize = TARGET + TARGET_BYTES / 8;
const BODY: usize = HEADERS + HEADER_BYTES / 8;
/// The words of one slot.
pub(crate) const WORDS: usize = BODY + BODY_BYTES / 8;

/// A request's header fields, as the codec left them: spans into the buffer the head was
/// parsed from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordHeaders<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) spans: &'a [HeaderSpan],
}

#[cfg(test)]
impl RecordHeaders<'_> {
    /// No header fields.
    pub(crate) const NONE: RecordHeaders<'static> = RecordHeaders { buf: &[], spans: &[] };
}

/// What the worker records of one request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    pub(crate) at_us: u64,
    pub(crate) status: u16,
    pub(crate) duration_us: u32,
    pub(crate) method: &'a str,
    pub(crate) target: &'a str,
    pub(crate) rule: &'a str,
    /// 0 for none, see [`super::fault_code`].
    pub(crate) fault: u8,
    pub(crate) headers: RecordHeaders<'a>,
    pub(crate) body: &'a [u8],
    pub(crate) client: Option<SocketAddr>,
}

/// A bounded ring of entries, written by one worker.
pub(crate) struct Ring {
    capacity: usize,
    /// The sequence number of the newest entry (the first is 1; 0: none yet).
    written: AtomicU64,
    /// The slot the next entry goes to. The writer's alone: an atomic only because the ring
    /// is shared with readers.
    next: AtomicUsize,
    /// Entries at or below this sequence number were cleared: readers skip them.
    floor: AtomicU64,
    words: crate::zeroed::Atomics,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").field("capacity", &self.capacity).field("newest", &self.newest()).finish()
    }
}

impl Ring {
    /// A ring keeping the newest `capacity` entries (0 keeps none).
    pub(crate) fn new(capacity: usize) -> Self {
        let words = capacity.checked_mul(WORDS).expect("a journal that fits in memory");
        Ring {
            capacity,
            written: AtomicU64::new(0),
            next: AtomicUsize::new(0),
            floor: AtomicU64::new(0),
            words: crate::zeroed::Atomics::new(words),
        }
    }

    /// The sequence number of the newest entry; 0 when there is none.
    pub(crate) fn newest(&self) -> u64 {
        self.written.load(Acquire)
    }

    /// Empties the ring for its readers: every entry recorded so far is skipped from now on,
    /// and sequence numbers go on (a reader's cursor stays valid). Any thread may call it; an
    /// entry the worker is writing at that instant may survive it.
    pub(crate) fn clear(&self) {
        self.floor.fetch_max(self.newest(), AcqRel);
    }

    /// Appends an entry, overwriting the oldest when full. Only the owning worker calls this.
    #[inline]
    pub(crate) fn push(&self, r: &Record<'_>) {
        if self.capacity == 0 {
            return;
        }
        // Plain load-then-store on the writer's own atomics: no read-modify-write needed.
        let seq = self.written.load(Relaxed) + 1;
        let index = self.next.load(Relaxed);
        self.next.store(if index + 1 == self.capacity { 0 } else { index + 1 }, Relaxed);
        let slot = &self.words[index * WORDS..(index + 1) * WORDS];
        slot[STAMP].store(seq << 1 | 1, Relaxed);
        fence(Release);
        let method = truncated(r.method, METHOD_BYTES);
        let rule = truncated(r.rule, RULE_BYTES);
        let target = truncated(r.target, TARGET_BYTES);
        let meta = u64::from(r.status)
            | u64::from(r.fault) << 16
            | (method.len() as u64) << 24
            | (rule.len() as u64) << 32
            | (target.len() as u64) << 40;
        let headers = store_headers(&slot[HEADERS..BODY], r.headers);
        let body = &r.body[..r.body.len().min(BODY_BYTES)];
        let sizes = u64::from(r.duration_us) | (headers as u64) << 32 | (body.len() as u64) << 48;
        let (address, family, port) = match r.client {
            Some(SocketAddr::V4(a)) => (a.ip().to_ipv6_mapped().to_bits(), 4u64, a.port()),
            Some(SocketAddr::V6(a)) => (a.ip().to_bits(), 6, a.port()),
            None => (0, 0, 0),
        };
        let fields = r.headers.spans.len().min(usize::from(u16::MAX)) as u64;
        slot[AT_US].store(r.at_us, Relaxed);
        slot[META].store(meta, Relaxed);
        slot[SIZES].store(sizes, Relaxed);
        slot[BODY_SIZE].store(r.body.len() as u64, Relaxed);
        slot[CLIENT].store((address >> 64) as u64, Relaxed);
        slot[CLIENT + 1].store(address as u64, Relaxed);
        slot[CLIENT_META].store(u64::from(port) | family << 16 | fields << 24, Relaxed);
        store_bytes(&slot[METHOD..RULE], method.as_bytes());
        store_bytes(&slot[RULE..TARGET], rule.as_bytes());
        store_bytes(&slot[TARGET..HEADERS], target.as_bytes());
        store_bytes(&slot[BODY..WORDS], body);
        slot[STAMP].store(seq << 1, Release);
        self.written.store(seq, Release);
    }

    /// Entry `seq`, if it is still in the ring and was not being overwritten while read.
    fn read(&self, worker: u16, seq: u64) -> Option<JournalEntry> {
        if self.capacity == 0 || seq == 0 {
            return None;
        }
        let index = ((seq - 1) % self.capacity as u64) as usize;
        let slot = &self.words[index * WORDS..(index + 1) * WORDS];
        let stamp = slot[STAMP].load(Acquire);
        if stamp != seq << 1 {
            return None;
        }
        let mut w = [0u64; WORDS];
        for i in AT_US..METHOD {
            w[i] = slot[i].load(Relaxed);
        }
        // The lengths may be torn here: clamped, and the entry is dropped below if so.
        let (method_len, rule_len, target_len) = lengths(w[META]);
        let headers_len = ((w[SIZES] >> 32) as u16 as usize).min(HEADER_BYTES);
        let body_len = ((w[SIZES] >> 48) as u16 as usize).min(BODY_BYTES);
        load_words(&slot[METHOD..RULE], &mut w[METHOD..RULE], method_len);
        load_words(&slot[RULE..TARGET], &mut w[RULE..TARGET], rule_len);
        load_words(&slot[TARGET..HEADERS], &mut w[TARGET..HEADERS], target_len);
        load_words(&slot[HEADERS..BODY], &mut w[HEADERS..BODY], headers_len);
        load_words(&slot[BODY..WORDS], &mut w[BODY..WORDS], body_len);
        fence(Acquire);
        if slot[STAMP].load(Relaxed) != stamp {
            return None;
        }
        let meta = w[META];
        let client_meta = w[CLIENT_META];
        let address = u128::from(w[CLIENT]) << 64 | u128::from(w[CLIENT + 1]);
        let address = Ipv6Addr::from_bits(address);
        let client = match (client_meta >> 16) as u8 {
            4 => address.to_ipv4_mapped().map(IpAddr::V4),
            6 => Some(IpAddr::V6(address)),
            _ => None,
        };
        Some(JournalEntry {
            seq,
            at_us: w[AT_US],
            worker,
            status: meta as u16,
            duration_us: w[SIZES] as u32,
            method: inline_str(&w[METHOD..RULE], method_len),
            target: inline_str(&w[TARGET..HEADERS], target_len),
            rule: inline_str(&w[RULE..TARGET], rule_len),
            fault: fault_from_code((meta >> 16) as u8),
            headers: InlineBytes::from_words(&w[HEADERS..BODY], headers_len),
            header_fields: (client_meta >> 24) as u16,
            body: InlineBytes::from_words(&w[BODY..WORDS], body_len),
            body_size: w[BODY_SIZE],
            client: client.map(|ip| SocketAddr::new(ip, client_meta as u16)),
        })
    }

    /// The entries newer than `after`, newest first, as they are read. `worker` is the ring's
    /// owner, stamped on each entry.
    pub(crate) fn newest_first(&self, worker: u16, after: u64) -> RingReader<'_> {
        let newest = self.newest();
        // Entries older than the ring's capacity are overwritten; those below the floor cleared.
        let gone = newest.saturating_sub(self.capacity as u64).max(self.floor.load(Acquire));
        RingReader { ring: self, worker, newest, next: newest, stop: after.max(gone) }
    }
}

/// The entries of one ring, newest first, read one at a time. It ends at the first entry the
/// worker has overwritten since (every older one is overwritten too).
#[derive(Debug)]
pub(crate) struct RingReader<'a> {
    ring: &'a Ring,
    worker: u16,
    newest: u64,
    /// The next sequence number to read.
    next: u64,
    /// Read no entry at or below this one.
    stop: u64,
}

impl RingReader<'_> {
    /// The newest entry's sequence number when reading began.
    pub(crate) fn newest(&self) -> u64 {
        self.newest
    }
}

impl Iterator for RingReader<'_> {
    type Item = JournalEntry;

    fn next(&mut self) -> Option<JournalEntry> {
        if self.next <= self.stop {
            return None;
        }
        match self.ring.read(self.worker, self.next) {
            Some(e) => {
                self.next -= 1;
                Some(e)
            }
            None => {
                self.stop = self.next;
                None
            }
        }
    }
}

/// `s`, cut to at most `max` bytes on a character boundary.
#[inline]
pub(crate) fn truncated(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut len = max;
    while !s.is_char_boundary(len) {
        len -= 1;
    }
    &s[..len]
}

/// Writes `bytes` (at most 8 × `words.len()`) into as many of `words` as it needs, 8 bytes a
/// word, little-endian. On the hot path with up to 1.6 KB a request: the last partial word is
/// read as the tail of a whole one, not copied through `memcpy` (recording a POST with 7 header
/// fields and a 300-byte body: 878 → 671 instructions; unrolling by four words saved nothing
/// more, and cost a GET 50).
#[inline]
fn store_bytes(words: &[AtomicU64], bytes: &[u8]) {
    let (eights, tail) = bytes.as_chunks::<8>();
    for (word, eight) in words.iter().zip(eights) {
        word.store(u64::from_le_bytes(*eight), Relaxed);
    }
    if !tail.is_empty() {
        let last = if bytes.len() >= 8 {
            // The whole word that ends where `bytes` ends, shifted down past what was written.
            let end: [u8; 8] = bytes[bytes.len() - 8..].try_into().expect("8 bytes");
            u64::from_le_bytes(end) >> (8 * (8 - tail.len()))
        } else {
            tail.iter().rev().fold(0u64, |v, &b| v << 8 | u64::from(b))
        };
        words[eights.len()].store(last, Relaxed);
    }
}

/// Writes the request's header fields into `words` as lines (`name: value`, CRLF between
/// them); returns their length. Usually the head's own bytes, from the first field's name to
/// the last one's value, fit and are copied as they are; otherwise each field that fits whole
/// is written, in order, and the others are left out (one large cookie does not push out the
/// fields after it).
#[inline]
fn store_headers(words: &[AtomicU64], headers: RecordHeaders<'_>) -> usize {
    let (Some(first), Some(last)) = (headers.spans.first(), headers.spans.last()) else { return 0 };
    let start = first.name.0 as usize;
    let end = (last.value.1.max(last.name.1) as usize).min(headers.buf.len());
    if let Some(raw) = headers.buf.get(start..end).filter(|raw| raw.len() <= HEADER_BYTES) {
        store_bytes(words, raw);
        return raw.len();
    }
    compact_headers(words, headers)
}

/// The header fields that fit, each whole, written as `name: value` lines: for heads whose
/// fields take more than [`HEADER_BYTES`] (off the usual path).
#[cold]
fn compact_headers(words: &[AtomicU64], headers: RecordHeaders<'_>) -> usize {
    let mut out = [0u8; HEADER_BYTES];
    let mut len = 0;
    for span in headers.spans {
        let (name, value) = (span.name(headers.buf).as_bytes(), span.value(headers.buf));
        let sep = if len == 0 { 0 } else { 2 };
        let need = sep + name.len() + 2 + value.len();
        if len + need > HEADER_BYTES {
            continue;
        }
        for part in [&b"\r\n"[..sep], name, &b": "[..], value] {
            out[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
    }
    store_bytes(words, &out[..len]);
    len
}

/// The method, rule and target lengths of a meta word, each clamped to its field.
fn lengths(meta: u64) -> (usize, usize, usize) {
    let method = ((meta >> 24) as u8 as usize).min(METHOD_BYTES);
    let rule = ((meta >> 32) as u8 as usize).min(RULE_BYTES);
    let target = ((meta >> 40) as u16 as usize).min(TARGET_BYTES);
    (method, rule, target)
}

fn load_words(from: &[AtomicU64], to: &mut [u64], bytes: usize) {
    for (t, f) in to.iter_mut().zip(from).take(bytes.div_ceil(8)) {
        *t = f.load(Relaxed);
    }
}

fn inline_str<const N: usize>(words: &[u64], len: usize) -> InlineStr<N> {
    InlineStr::from_bytes(InlineBytes::<N>::from_words(words, len).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(target: &'a str, at_us: u64) -> Record<'a> {
        Record {
            at_us,
            status: 200,
            duration_us: 7,
            method: "GET",
            target,
            rule: "r",
            fault: 0,
            headers: RecordHeaders::NONE,
            body: b"",
            client: None,
        }
    }

    fn targets(ring: &Ring, after: u64) -> Vec<String> {
        ring.newest_first(0, after).map(|e| e.target.as_str().to_owned()).collect()
    }

    #[test]
    fn entries_read_back_whole_newest_first_with_their_sequence_numbers() {
        let ring = Ring::new(4);
        assert_eq!(ring.newest(), 0);
        assert!(targets(&ring, 0).is_empty());
        let long = format!("/{}", "é".repeat(200));
        ring.push(&Record {
            at_us: 1_700_000_000_123_456,
            status: 503,
            duration_us: u32::MAX,
            method: "PROPFIND-WITH-A-LONG-NAME",
            target: &long,
            rule: "",
            fault: 2,
            ..record("", 0)
        });
        ring.push(&record("/b", 2));
        let read: Vec<JournalEntry> = ring.newest_first(3, 0).collect();
        assert_eq!(read.len(), 2);
        assert_eq!((read[0].seq, read[0].target.as_str(), read[0].worker), (2, "/b", 3));
        let e = &read[1];
        assert_eq!((e.seq, e.at_us, e.status, e.duration_us), (1, 1_700_000_000_123_456, 503, u32::MAX));
        assert_eq!(e.method.as_str(), "PROPFIND-WITH-A-");
        assert_eq!(e.target.as_str(), truncated(&long, TARGET_BYTES));
        assert_eq!(e.target.as_str().len(), 255, "cut on a character boundary");
        assert_eq!((e.rule.as_str(), e.fault), ("", fault_from_code(2)));
        assert!(e.fault.is_some());
    }

    #[test]
    fn a_full_ring_keeps_the_newest_and_a_reader_starts_after_its_cursor() {
        let ring = Ring::new(3);
        for (i, t) in ["/1", "/2", "/3", "/4", "/5"].into_iter().enumerate() {
            ring.push(&record(t, i as u64));
        }
        assert_eq!(ring.newest(), 5);
        assert_eq!(targets(&ring, 0), ["/5", "/4", "/3"]);
        assert_eq!(targets(&ring, 3), ["/5", "/4"]);
        assert!(targets(&ring, 5).is_empty());
        let off = Ring::new(0);
        off.push(&record("/a", 1));
        assert_eq!((off.newest(), targets(&off, 0).len()), (0, 0));
    }

    /// The header fields of `head` (a request head ending with a blank line), and the buffer.
    fn parsed(head: &[u8]) -> (Vec<u8>, crate::codec::Head) {
        let parsed = crate::codec::parse_head(head, &crate::codec::Limits::default()).unwrap().unwrap();
        (head.to_vec(), parsed)
    }

    fn with_headers<'a>(buf: &'a [u8], head: &'a crate::codec::Head) -> Record<'a> {
        Record { headers: RecordHeaders { buf, spans: &head.headers }, ..record("/h", 1) }
    }

    fn headers_of(ring: &Ring) -> (Vec<(String, String)>, u16) {
        let e = ring.newest_first(0, 0).next().unwrap();
        let fields =
            e.headers().map(|(n, v)| (n.to_owned(), String::from_utf8_lossy(v).into_owned())).collect();
        (fields, e.headers_omitted())
    }

    #[test]
    fn header_fields_read_back_in_order_with_their_values_trimmed() {
        let ring = Ring::new(2);
        let (buf, head) = parsed(
            b"GET / HTTP/1.1\r\nHost: a.test\r\nX-Empty:\r\nx-spaced:   v  w  \r\nAccept: */*\r\n\r\n",
        );
        ring.push(&with_headers(&buf, &head));
        let fields = [("Host", "a.test"), ("X-Empty", ""), ("x-spaced", "v  w"), ("Accept", "*/*")];
        let (read, omitted) = headers_of(&ring);
        assert_eq!(read, fields.map(|(n, v)| (n.to_owned(), v.to_owned())));
        assert_eq!(omitted, 0);
        // A request with none, and one whose last field is empty.
        let (buf, head) = parsed(b"GET / HTTP/1.0\r\n\r\n");
        ring.push(&with_headers(&buf, &head));
        assert_eq!(headers_of(&ring), (vec![], 0));
        let (buf, head) = parsed(b"GET / HTTP/1.0\r\nx-last:\r\n\r\n");
        ring.push(&with_headers(&buf, &head));
        assert_eq!(headers_of(&ring), (vec![("x-last".into(), String::new())], 0));
    }

    #[test]
    fn header_fields_past_the_bound_are_left_out_whole_and_counted() {
        let ring = Ring::new(1);
        let cookie = "c".repeat(900);
        let auth = "a".repeat(200);
        let text = format!(
            "GET / HTTP/1.1\r\nhost: h\r\ncookie: {cookie}\r\nauthorization: {auth}\r\nx-id: 7\r\n\r\n"
        );
        let (buf, head) = parsed(text.as_bytes());
        ring.push(&with_headers(&buf, &head));
        let (read, omitted) = headers_of(&ring);
        // The cookie fits after host; authorization does not, and is left out; x-id still fits.
        let names: Vec<&str> = read.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!((names, omitted), (vec!["host", "cookie", "x-id"], 1));
        assert_eq!(read[1].1, cookie, "each field kept is whole");
        let e = ring.newest_first(0, 0).next().unwrap();
        assert!(e.headers.as_bytes().len() <= HEADER_BYTES);
    }

    #[test]
    fn the_body_is_cut_to_its_prefix_and_keeps_its_size_and_the_client_its_address() {
        let ring = Ring::new(2);
        let body = vec![0xffu8; 1000];
        let v6: SocketAddr = "[2001:db8::7]:443".parse().unwrap();
        ring.push(&Record { body: &body, client: Some(v6), ..record("/b", 1) });
        ring.push(&Record {
            body: b"{}",
            client: Some(SocketAddr::from(([127, 0, 0, 1], 5000))),
            ..record("/c", 2)
        });
        let read: Vec<JournalEntry> = ring.newest_first(0, 0).collect();
        assert_eq!(
            (read[0].body.as_bytes(), read[0].body_size, read[0].body_truncated()),
            (&b"{}"[..], 2, false)
        );
        assert_eq!(read[0].client, Some("127.0.0.1:5000".parse().unwrap()), "an IPv4 client stays IPv4");
        assert_eq!(
            (read[1].body.as_bytes(), read[1].body_size, read[1].body_truncated()),
            (&body[..BODY_BYTES], 1000, true)
        );
        assert_eq!(read[1].client, Some(v6));
    }

    #[test]
    fn bytes_of_every_length_are_stored_whole_and_nothing_past_them() {
        let source: Vec<u8> = (1..=80).collect();
        for len in 0..=80 {
            let words: Vec<AtomicU64> = (0..11).map(|_| AtomicU64::new(u64::MAX)).collect();
            store_bytes(&words, &source[..len]);
            let read: Vec<u64> = words.iter().map(|w| w.load(Relaxed)).collect();
            let back = InlineBytes::<88>::from_words(&read, len);
            assert_eq!(back.as_bytes(), &source[..len], "length {len}");
            // The last word written is padded with zeros; the words after it are untouched.
            let written = len.div_ceil(8);
            let padded = InlineBytes::<88>::from_words(&read, written * 8);
            assert!(padded.as_bytes()[len..].iter().all(|&b| b == 0), "length {len}");
            assert!(read[written..].iter().all(|&w| w == u64::MAX), "length {len}");
        }
    }

    #[test]
    fn a_cleared_ring_reads_empty_and_goes_on_numbering() {
        let ring = Ring::new(4);
        ring.push(&record("/1", 1));
        ring.push(&record("/2", 2));
        ring.clear();
        assert!(targets(&ring, 0).is_empty());
        ring.push(&record("/3", 3));
        assert_eq!(targets(&ring, 0), ["/3"]);
        assert_eq!(ring.newest_first(0, 0).next().unwrap().seq, 3, "sequence numbers go on");
    }

    #[test]
    fn a_shorter_entry_in_a_reused_slot_carries_nothing_of_the_longer_one() {
        let ring = Ring::new(1);
        ring.push(&record("/a-long-target-of-several-words", 1));
        ring.push(&record("/short", 2));
        assert_eq!(targets(&ring, 0), ["/short"]);
    }

    /// A reader racing the writer gets whole entries or none, never a mix of two: each entry's
    /// fields are all derived from its sequence number, so a torn one would show.
    #[test]
    fn readers_racing_the_writer_never_see_a_torn_entry() {
        use std::sync::atomic::AtomicBool;
        let ring = Ring::new(8);
        let done = AtomicBool::new(false);
        let targets: Vec<String> = (0..64).map(|i| format!("/{}", "x".repeat(i * 4))).collect();
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut seen = 0u64;
                loop {
                    let last = done.load(Relaxed);
                    let mut previous = u64::MAX;
                    for e in ring.newest_first(0, 0) {
                        assert!(e.seq < previous, "newest first");
                        previous = e.seq;
                        let i = (e.seq % 64) as usize;
                        assert_eq!(e.at_us, e.seq * 10);
                        assert_eq!(e.duration_us as u64, e.seq);
                        assert_eq!(e.target.as_str(), truncated(&targets[i], TARGET_BYTES));
                        assert_eq!(e.rule.as_str(), truncated(&targets[(i + 1) % 64], RULE_BYTES));
                        let body = targets[(i + 2) % 64].as_bytes();
                        assert_eq!(e.body.as_bytes(), &body[..body.len().min(BODY_BYTES)]);
                        assert_eq!(e.body_size, body.len() as u64);
                        assert_eq!(e.client.map(|c| c.port()), Some(e.seq as u16));
                        seen += 1;
                    }
                    if last {
                        return seen;
                    }
                }
            });
            for seq in 1..=200_000u64 {
                let i = (seq % 64) as usize;
                ring.push(&Record {
                    at_us: seq * 10,
                    status: 200,
                    duration_us: seq as u32,
                    method: "GET",
                    target: &targets[i],
                    rule: truncated(&targets[(i + 1) % 64], RULE_BYTES),
                    fault: 0,
                    headers: RecordHeaders::NONE,
                    body: targets[(i + 2) % 64].as_bytes(),
                    client: Some(SocketAddr::from(([10, 0, 0, 1], seq as u16))),
                });
            }
            done.store(true, Relaxed);
            assert!(reader.join().expect("the reader") > 0, "the reader read something");
        });
    }
}
