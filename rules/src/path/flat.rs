//! A read-only hash table from byte-string keys to short lists of candidate rules, laid out so
//! that a lookup makes as few dependent loads as possible.
//!
//! At 10,000 rules and more, a lookup's cost is its cache misses, not its instructions. A
//! `HashMap<Box<str>, Vec<_>>` costs three of them per hit (the slot, the key behind its pointer,
//! the list behind its own) and a fourth for each candidate's rule data. Here probing walks
//! 8-byte slots (eight to a cache line) holding the high half of each key's hash, so a miss
//! usually ends at one line. Beside the slots, at the same position, a 64-byte cell holds the
//! key's length and, when they fit, its candidates (each with the selection data of its rule)
//! and its bytes. A lookup loads its first slot and its first cell together: neither address
//! depends on the other, so a hit costs about one miss's latency, where a slot pointing into an
//! arena cost two in a row. Entries that do not fit after the key in its cell (the first few
//! do, and the first usually serves) live in an arena. A table of many keys also has a
//! one-bit-per-position filter, small enough to stay in cache, that turns most lookups of
//! absent keys away before they touch a slot.
//!
//! Tried twice and reverted: 64-byte cells alone, probed directly. A hit reads one line, but
//! every step of a probe is a line too, and a lookup that finds nothing (a template request
//! tries the exact paths first) walks several; in callgrind's cache simulation (1 MiB last
//! level, 100k path-only rules) misses per select went 2.46 → 2.6, and timings could not tell
//! them apart.

/// A candidate rule with what selection needs to know of it before touching the rule itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The rule's position in selection order.
    pub(crate) rank: u32,
    /// The rule's index in the table's rule list.
    pub(crate) rule: u32,
    pub(crate) method_bits: u16,
    pub(crate) flags: u8,
}

/// Bytes per entry in a cell or the arena: rank, rule, method bits and flags.
const ENTRY_BYTES: usize = 12;

/// Record flag: the candidates are every rule whose path can match a path found here, in
/// selection order; nothing else needs to be searched.
pub(crate) const COMPLETE: u8 = 1;

/// The hash of a key given in pieces (a whole path, or the literal segments of a template
/// shape). Each piece's length is mixed in after it, so pieces cannot run into each other.
pub(crate) fn hash_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> u64 {
    let mut h = PieceHasher::default();
    for piece in pieces {
        h.piece(piece);
    }
    h.finish()
}

/// The hasher behind [`hash_pieces`], for keys built piece by piece.
///
/// A word-at-a-time multiply-rotate mix (FxHash's), reading a piece's tail as one overlapping
/// word, and a final avalanche so both halves of the hash are usable (the low half places a
/// key, the high half is its tag). `rustc_hash::FxHasher` spent about 40 instructions per
/// `write` and two writes per piece: hashing a template request's literal segments cost 235
/// instructions, here about 40 (callgrind, `select-count`). A poor hash only costs probes: keys
/// are always compared.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct PieceHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[inline]
fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("eight bytes"))
}

impl PieceHasher {
    #[inline]
    fn mix(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(SEED);
    }

    /// Adds one piece.
    #[inline]
    pub(crate) fn piece(&mut self, b: &[u8]) {
        let len = b.len();
        let mut at = 0;
        while at + 8 <= len {
            self.mix(word(b, at));
            at += 8;
        }
        if at < len {
            let tail = if len >= 8 {
                word(b, len - 8)
            } else if len >= 4 {
                let half =
                    |i: usize| u64::from(u32::from_le_bytes(b[i..i + 4].try_into().expect("four bytes")));
                half(0) << 32 | half(len - 4)
            } else {
                u64::from(b[0]) | u64::from(b[len / 2]) << 8 | u64::from(b[len - 1]) << 16
            };
            self.mix(tail);
        }
        self.mix(len as u64 | 1 << 63);
    }

    /// The hash of the pieces so far.
    #[inline]
    pub(crate) fn finish(self) -> u64 {
        // MurmurHash3's finaliser.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// A probe position: the high half of the key's hash, and where its record is.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// The high half of the key's hash, compared before the key itself is read.
    hash: u32,
    /// `EMPTY` when free, `INLINE` when the record sits whole in the cell of the same
    /// position, else where the rest of it starts in the arena: the entries that did not fit
    /// after the key, or, for a key too long for a cell, the key and every entry.
    off: u32,
}

const EMPTY: u32 = u32::MAX;
const INLINE: u32 = u32::MAX - 1;

/// Bytes of a cell's record: its key, then as many entries as fit.
const CELL_DATA: usize = 56;

/// The record of the key in the slot of the same position, one cache line. A lookup reads
/// its first slot and its first cell together: neither address depends on the other, so the
/// two misses overlap where a slot pointing into an arena made them one after the other.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Cell {
    key_len: u32,
    /// Entry count in the low 24 bits, record flags in the high 8.
    meta: u32,
    /// The key, then as many entries as fit (see `inline_entries`).
    data: [u8; CELL_DATA],
}

const EMPTY_CELL: Cell = Cell { key_len: 0, meta: 0, data: [0; CELL_DATA] };

/// Tables with fewer keys than this have no filter: their slots stay in cache anyway.
const FILTER_MIN_KEYS: usize = 512;

/// The table; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct FlatMap {
    /// One bit per position of a hash (8 to 16 positions per key), set for the keys present:
    /// a lookup of a key that is absent (a template request tries the exact paths first) is
    /// turned away here most of the time, in a few KiB that stay in cache, instead of costing
    /// a slot miss and a cell miss. Empty for small tables.
    filter: Box<[u64]>,
    /// Right shift that takes a hash's filter position from its high bits.
    filter_shift: u32,
    slots: Box<[Slot]>,
    cells: Box<[Cell]>,
    /// The entries that did not fit in their cell, and the records of keys too long for one.
    arena: Box<[u8]>,
}

/// One key's candidates: the first few from the key's cell, any others from the arena.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record<'a> {
    first: &'a [u8],
    rest: &'a [u8],
    flags: u8,
}

/// An entry from its bytes.
#[inline]
fn decode(b: &[u8; ENTRY_BYTES]) -> Entry {
    let word = |j: usize| u32::from_le_bytes([b[j], b[j + 1], b[j + 2], b[j + 3]]);
    let last = word(8);
    Entry { rank: word(0), rule: word(4), method_bits: last as u16, flags: (last >> 16) as u8 }
}

/// The entries of a [`Record`], in order: those of its cell, then those of the arena.
#[derive(Debug, Clone)]
pub(crate) struct Entries<'a> {
    first: &'a [u8],
    rest: &'a [u8],
}

impl Iterator for Entries<'_> {
    type Item = Entry;

    #[inline]
    fn next(&mut self) -> Option<Entry> {
        if let Some((e, tail)) = self.first.split_first_chunk::<ENTRY_BYTES>() {
            self.first = tail;
            return Some(decode(e));
        }
        let (e, tail) = self.rest.split_first_chunk::<ENTRY_BYTES>()?;
        self.rest = tail;
        Some(decode(e))
    }
}

impl<'a> Record<'a> {
    pub(crate) fn is_complete(&self) -> bool {
        self.flags & COMPLETE != 0
    }

    /// The entries, in selection order. The arena is read only if the ones in the cell are
    /// passed over: the first candidate usually serves.
    #[inline]
    pub(crate) fn entries(&self) -> Entries<'a> {
        Entries { first: self.first, rest: self.rest }
    }
}

/// Collects records, then lays them out.
#[derive(Debug, Default)]
pub(crate) struct FlatMapBuilder {
    /// Hash, meta, and the key's and the entries' bytes in `bytes`.
    keys: Vec<(u64, u32, std::ops::Range<usize>, std::ops::Range<usize>)>,
    bytes: Vec<u8>,
}

impl FlatMapBuilder {
    /// Adds a key (given as the bytes stored for it and its hash, from [`hash_pieces`]) with
    /// its entries, in selection order. Keys must be distinct.
    pub(crate) fn push(&mut self, key: &[u8], hash: u64, entries: &[Entry], flags: u8) {
        assert!(entries.len() < 1 << 24, "too many rules share one path");
        let key_start = self.bytes.len();
        self.bytes.extend_from_slice(key);
        let entries_start = self.bytes.len();
        for e in entries {
            self.bytes.extend_from_slice(&e.rank.to_le_bytes());
            self.bytes.extend_from_slice(&e.rule.to_le_bytes());
            let last = u32::from(e.method_bits) | (u32::from(e.flags) << 16);
            self.bytes.extend_from_slice(&last.to_le_bytes());
        }
        let meta = entries.len() as u32 | (u32::from(flags) << 24);
        self.keys.push((hash, meta, key_start..entries_start, entries_start..self.bytes.len()));
    }

    /// Lays the slots out at a load of at most one half, by linear probing.
    pub(crate) fn build(self) -> FlatMap {
        if self.keys.is_empty() {
            return FlatMap::default();
        }
        let capacity = (self.keys.len() * 2).next_power_of_two();
        let mask = capacity - 1;
        let mut slots = vec![Slot { hash: 0, off: EMPTY }; capacity];
        let mut cells = vec![EMPTY_CELL; capacity];
        let mut arena = Vec::new();
        let (mut filter, filter_shift) = if self.keys.len() >= FILTER_MIN_KEYS {
            let bits = (self.keys.len() * 8).next_power_of_two();
            (vec![0u64; bits / 64], 64 - bits.trailing_zeros())
        } else {
            (Vec::new(), 0)
        };
        for (hash, meta, key, entries) in self.keys {
            if !filter.is_empty() {
                let bit = filter_position(hash, filter_shift);
                filter[bit / 64] |= 1 << (bit % 64);
            }
            // The position comes from the low half of the hash, the tag from the high half.
            let mut i = hash as usize & mask;
            while slots[i].off != EMPTY {
                i = (i + 1) & mask;
            }
            let (key, entries) = (&self.bytes[key], &self.bytes[entries]);
            let cell = &mut cells[i];
            cell.key_len = key.len() as u32;
            cell.meta = meta;
            // The key and the entries that fit after it in the cell; the rest in the arena.
            // A key too long for the cell goes to the arena with all its entries.
            // Where the arena part of the record starts, before anything of it is pushed.
            let start = u32::try_from(arena.len()).expect("the path index fits in 4 GiB");
            assert!(start < INLINE, "the path index fits in 4 GiB");
            let off = if key.len() <= CELL_DATA {
                cell.data[..key.len()].copy_from_slice(key);
                let inline = inline_entries(key.len(), entries.len() / ENTRY_BYTES) * ENTRY_BYTES;
                cell.data[key.len()..key.len() + inline].copy_from_slice(&entries[..inline]);
                arena.extend_from_slice(&entries[inline..]);
                if inline == entries.len() {
                    INLINE
                } else {
                    start
                }
            } else {
                arena.extend_from_slice(key);
                arena.extend_from_slice(entries);
                start
            };
            slots[i] = Slot { hash: (hash >> 32) as u32, off };
        }
        FlatMap {
            filter: filter.into_boxed_slice(),
            filter_shift,
            slots: slots.into_boxed_slice(),
            cells: cells.into_boxed_slice(),
            arena: arena.into_boxed_slice(),
        }
    }
}

/// How many of a record's `n` entries its cell holds after a key of `key_len` bytes.
#[inline]
fn inline_entries(key_len: usize, n: usize) -> usize {
    n.min((CELL_DATA - key_len) / ENTRY_BYTES)
}

/// A key's bit in a filter of `64 - shift` bits: from a multiple of the hash, so that it does
/// not follow the low bits (the slot position) or the high half (the tag).
#[inline]
fn filter_position(hash: u64, shift: u32) -> usize {
    (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> shift) as usize
}

impl FlatMap {
    pub(crate) fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The record of the key of `hash` and `len` bytes for which `eq(stored key)` holds.
    #[inline]
    pub(crate) fn get(&self, hash: u64, len: usize, eq: impl Fn(&[u8]) -> bool) -> Option<Record<'_>> {
        if self.slots.is_empty() {
            return None;
        }
        if !self.filter.is_empty() {
            let bit = filter_position(hash, self.filter_shift);
            if self.filter[bit / 64] & (1 << (bit % 64)) == 0 {
                return None;
            }
        }
        let mask = self.slots.len() - 1;
        let high = (hash >> 32) as u32;
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            let cell = &self.cells[i];
            // Both loads are issued before either is needed (see `Cell`).
            let (key_len, meta) = (cell.key_len, cell.meta);
            if s.off == EMPTY {
                return None;
            }
            if (s.hash == high) & (key_len as usize == len) {
                let n = (meta & 0xff_ffff) as usize;
                let flags = (meta >> 24) as u8;
                if len <= CELL_DATA {
                    if eq(&cell.data[..len]) {
                        let inline = inline_entries(len, n);
                        let first = &cell.data[len..len + inline * ENTRY_BYTES];
                        let rest = if inline == n {
                            &[][..]
                        } else {
                            let off = s.off as usize;
                            &self.arena[off..off + (n - inline) * ENTRY_BYTES]
                        };
                        return Some(Record { first, rest, flags });
                    }
                } else {
                    let record = &self.arena[s.off as usize..s.off as usize + len + n * ENTRY_BYTES];
                    if eq(&record[..len]) {
                        return Some(Record { first: &record[len..], rest: &[], flags });
                    }
                }
            }
            i = (i + 1) & mask;
        }
    }

    /// Heap bytes held.
    #[cfg(test)]
    pub(crate) fn heap_bytes(&self) -> usize {
        self.slots.len() * (std::mem::size_of::<Slot>() + std::mem::size_of::<Cell>())
            + self.arena.len()
            + self.filter.len() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(rank: u32) -> Entry {
        Entry { rank, rule: rank + 100, method_bits: 0x8001, flags: 5 }
    }

    #[test]
    fn keys_find_their_entries() {
        let mut b = FlatMapBuilder::default();
        // Short and long keys, few and many entries: inline records and arena records.
        let keys: Vec<String> =
            (0..1000).map(|i| format!("/api/v1/things/{i}{}", "x".repeat(i % 50))).collect();
        let count = |i: usize| if i % 10 == 9 { 300 } else { (i % 4) as u32 };
        for (i, k) in keys.iter().enumerate() {
            let entries: Vec<Entry> = (0..count(i)).map(entry).collect();
            b.push(k.as_bytes(), hash_pieces([k.as_bytes()]), &entries, (i % 2) as u8);
        }
        let map = b.build();
        for (i, k) in keys.iter().enumerate() {
            let r = map.get(hash_pieces([k.as_bytes()]), k.len(), |s| s == k.as_bytes()).unwrap();
            assert_eq!(r.entries().collect::<Vec<_>>(), (0..count(i)).map(entry).collect::<Vec<_>>());
            assert_eq!(r.is_complete(), i % 2 == 1);
        }
        let k = "/api/v1/things/1000";
        assert!(map.get(hash_pieces([k.as_bytes()]), k.len(), |s| s == k.as_bytes()).is_none());
        assert!(FlatMap::default().get(0, 0, |_| true).is_none());
        assert!(map.heap_bytes() > 0);
    }

    #[test]
    fn the_filter_turns_most_absent_keys_away_and_no_present_one() {
        let mut b = FlatMapBuilder::default();
        let present: Vec<String> = (0..4000).map(|i| format!("/api/v1/items/{i}")).collect();
        for (i, k) in present.iter().enumerate() {
            b.push(k.as_bytes(), hash_pieces([k.as_bytes()]), &[entry(i as u32)], 0);
        }
        let map = b.build();
        assert!(!map.filter.is_empty(), "4,000 keys get a filter");
        let passes = |k: &str| {
            let bit = filter_position(hash_pieces([k.as_bytes()]), map.filter_shift);
            map.filter[bit / 64] & (1 << (bit % 64)) != 0
        };
        assert!(present.iter().all(|k| passes(k)));
        let absent: Vec<String> = (0..4000).map(|i| format!("/api/v2/items/{i}")).collect();
        let let_through = absent.iter().filter(|k| passes(k)).count();
        // 8 to 16 bits per key: about 6-12% of absent keys share a bit with a present one.
        assert!(let_through < 600, "{let_through} of 4,000 absent keys passed the filter");
        assert!(absent
            .iter()
            .all(|k| map.get(hash_pieces([k.as_bytes()]), k.len(), |s| s == k.as_bytes()).is_none()));
    }

    #[test]
    fn colliding_hashes_only_cost_probes() {
        let mut b = FlatMapBuilder::default();
        let keys: Vec<String> = (0..50).map(|i| format!("/k/{i}{}", "y".repeat(i))).collect();
        for (i, k) in keys.iter().enumerate() {
            // Every key the same hash: one long probe run, every tag equal.
            b.push(k.as_bytes(), 42, &[entry(i as u32)], 0);
        }
        let map = b.build();
        for (i, k) in keys.iter().enumerate() {
            let r = map.get(42, k.len(), |s| s == k.as_bytes()).unwrap();
            assert_eq!(r.entries().collect::<Vec<_>>(), [entry(i as u32)]);
        }
        assert!(map.get(42, 4, |s| s == b"/k/x").is_none());
    }
}
