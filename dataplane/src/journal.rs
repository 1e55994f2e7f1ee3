//! The request journal: the most recent requests each worker served, in a bounded ring.
//!
//! Entries are fixed-size and `Copy` (strings are stored inline, truncated), so recording one
//! is a copy into a preallocated slot: no allocation on the hot path. Each worker records into
//! its own ring and hands new entries to the shared, readable ring on its publish tick.

use std::collections::VecDeque;

use serde::ser::{Serialize, SerializeStruct, Serializer};

/// A string stored inline, truncated to `N` bytes on a character boundary.
#[derive(Clone, Copy)]
pub struct InlineStr<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> InlineStr<N> {
    /// `s`, truncated to at most `N` bytes.
    pub fn new(s: &str) -> Self {
        let mut len = s.len().min(N);
        while !s.is_char_boundary(len) {
            len -= 1;
        }
        let mut bytes = [0u8; N];
        bytes[..len].copy_from_slice(&s.as_bytes()[..len]);
        InlineStr { len: len as u16, bytes }
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

/// One served request.
#[derive(Debug, Clone, Copy)]
pub struct JournalEntry {
    /// When it arrived, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The worker that served it.
    pub worker: u16,
    /// The status sent; 0 for a connection-level fault.
    pub status: u16,
    /// Time from a complete request head to the answer being ready, in µs (delays included).
    pub duration_us: u32,
    /// The method.
    pub method: InlineStr<16>,
    /// Path and query, truncated to 256 bytes.
    pub target: InlineStr<256>,
    /// The rule that answered; empty when none did.
    pub rule: InlineStr<96>,
    /// A fault that was injected, if any.
    pub fault: Option<&'static str>,
}

impl Serialize for JournalEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("JournalEntry", 8)?;
        st.serialize_field("at_ms", &self.at_ms)?;
        st.serialize_field("worker", &self.worker)?;
        st.serialize_field("method", self.method.as_str())?;
        st.serialize_field("target", self.target.as_str())?;
        st.serialize_field("status", &self.status)?;
        let rule = self.rule.as_str();
        st.serialize_field("rule", &if rule.is_empty() { None } else { Some(rule) })?;
        st.serialize_field("fault", &self.fault)?;
        st.serialize_field("duration_us", &self.duration_us)?;
        st.end()
    }
}

/// A bounded ring of entries, oldest first.
#[derive(Debug)]
pub struct Ring {
    entries: VecDeque<JournalEntry>,
    capacity: usize,
}

impl Ring {
    /// A ring keeping at most `capacity` entries (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        Ring { entries: VecDeque::with_capacity(capacity), capacity }
    }

    /// Appends, dropping the oldest entry when full.
    #[inline]
    pub fn push(&mut self, entry: JournalEntry) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() == self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// Moves every entry into `other`, oldest first.
    pub fn drain_into(&mut self, other: &mut Ring) {
        for e in self.entries.drain(..) {
            other.push(e);
        }
    }

    /// The entries, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &JournalEntry> {
        self.entries.iter()
    }

    /// Whether the ring holds nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(target: &str) -> JournalEntry {
        JournalEntry {
            at_ms: 1,
            worker: 0,
            status: 200,
            duration_us: 3,
            method: InlineStr::new("GET"),
            target: InlineStr::new(target),
            rule: InlineStr::new("r"),
            fault: None,
        }
    }

    #[test]
    fn inline_strings_truncate_on_char_boundaries() {
        assert_eq!(InlineStr::<4>::new("abcdef").as_str(), "abcd");
        assert_eq!(InlineStr::<4>::new("aéé").as_str(), "aé");
        assert_eq!(InlineStr::<4>::new("").as_str(), "");
    }

    #[test]
    fn the_ring_keeps_the_newest() {
        let mut ring = Ring::new(2);
        for p in ["/a", "/b", "/c"] {
            ring.push(entry(p));
        }
        let kept: Vec<&str> = ring.iter().map(|e| e.target.as_str()).collect();
        assert_eq!(kept, ["/b", "/c"]);
        let mut off = Ring::new(0);
        off.push(entry("/a"));
        assert!(off.is_empty());
    }

    #[test]
    fn entries_serialize_as_json() {
        let json = serde_json::to_value(entry("/x?y=1")).unwrap();
        assert_eq!(json["target"], "/x?y=1");
        assert_eq!(json["rule"], "r");
        assert_eq!(json["fault"], serde_json::Value::Null);
    }
}
