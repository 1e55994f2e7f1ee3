//! One worker's journal ring: fixed-size slots of atomic words that the worker writes as it
//! serves and anyone reads without a lock, each slot guarded by its own sequence stamp (a
//! seqlock per slot).
//!
//! The invariant: only the owning worker writes. A slot's stamp is `seq << 1 | 1` while entry
//! `seq` is being written into it and `seq << 1` once it is whole; stamps only grow. A reader
//! that sees the stamp it expects, copies the words, and sees the same stamp again has a whole
//! entry; otherwise the worker has lapped it and the entry is gone. The worker never waits for
//! a reader. Every word is an atomic, so a torn read is detected and dropped instead of being
//! a data race; the fences are the ones of H.-J. Boehm, "Can seqlocks get along with
//! programming language memory models?" (2012): a release fence after the odd stamp, an
//! acquire fence before the second look at it.
//!
//! An entry takes [`WORDS`] words (400 bytes), written only as far as its strings reach, in
//! memory from [`crate::zeroed`], which the kernel backs only as the ring
//! fills: `--journal 10000` costs at most 4 MB per worker, and nothing while idle.

use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering::*};

use super::{fault_from_code, InlineStr, JournalEntry, METHOD_BYTES, RULE_BYTES, TARGET_BYTES};

const STAMP: usize = 0;
const AT_US: usize = 1;
/// status (16 bits) | fault code << 16 (8) | method length << 24 (8) | rule length << 32 (8)
/// | target length << 40 (16).
const META: usize = 2;
const DURATION: usize = 3;
const METHOD: usize = 4;
const RULE: usize = METHOD + METHOD_BYTES / 8;
const TARGET: usize = RULE + RULE_BYTES / 8;
/// The words of one slot.
pub(crate) const WORDS: usize = TARGET + TARGET_BYTES / 8;

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
}

/// A bounded ring of entries, written by one worker.
pub(crate) struct Ring {
    capacity: usize,
    /// The sequence number of the newest entry (the first is 1; 0: none yet).
    written: AtomicU64,
    /// The slot the next entry goes to. The writer's alone: an atomic only because the ring
    /// is shared with readers.
    next: AtomicUsize,
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
            words: crate::zeroed::Atomics::new(words),
        }
    }

    /// The sequence number of the newest entry; 0 when there is none.
    pub(crate) fn newest(&self) -> u64 {
        self.written.load(Acquire)
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
        slot[AT_US].store(r.at_us, Relaxed);
        slot[META].store(meta, Relaxed);
        slot[DURATION].store(u64::from(r.duration_us), Relaxed);
        store_str(&slot[METHOD..RULE], method);
        store_str(&slot[RULE..TARGET], rule);
        store_str(&slot[TARGET..WORDS], target);
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
        load_words(&slot[METHOD..RULE], &mut w[METHOD..RULE], method_len);
        load_words(&slot[RULE..TARGET], &mut w[RULE..TARGET], rule_len);
        load_words(&slot[TARGET..WORDS], &mut w[TARGET..WORDS], target_len);
        fence(Acquire);
        if slot[STAMP].load(Relaxed) != stamp {
            return None;
        }
        let meta = w[META];
        Some(JournalEntry {
            seq,
            at_us: w[AT_US],
            worker,
            status: meta as u16,
            duration_us: w[DURATION] as u32,
            method: inline_str(&w[METHOD..RULE], method_len),
            target: inline_str(&w[TARGET..WORDS], target_len),
            rule: inline_str(&w[RULE..TARGET], rule_len),
            fault: fault_from_code((meta >> 16) as u8),
        })
    }

    /// The entries newer than `after`, newest first, as they are read. `worker` is the ring's
    /// owner, stamped on each entry.
    pub(crate) fn newest_first(&self, worker: u16, after: u64) -> RingReader<'_> {
        let newest = self.newest();
        // Entries older than the ring's capacity are overwritten.
        let gone = newest.saturating_sub(self.capacity as u64);
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

/// Writes `s` into as many of `words` as it needs, 8 bytes a word, little-endian.
#[inline]
fn store_str(words: &[AtomicU64], s: &str) {
    let mut chunks = s.as_bytes().chunks_exact(8);
    for (word, chunk) in words.iter().zip(&mut chunks) {
        word.store(u64::from_le_bytes(chunk.try_into().expect("chunks of 8")), Relaxed);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        words[s.len() / 8].store(u64::from_le_bytes(last), Relaxed);
    }
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
    let mut bytes = [0u8; N];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    InlineStr::from_bytes(&bytes[..len.min(N)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record<'a>(target: &'a str, at_us: u64) -> Record<'a> {
        Record { at_us, status: 200, duration_us: 7, method: "GET", target, rule: "r", fault: 0 }
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
                });
            }
            done.store(true, Relaxed);
            assert!(reader.join().expect("the reader") > 0, "the reader read something");
        });
    }
}
