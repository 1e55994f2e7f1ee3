//! A flat, borrowed view of a JSON request body, for the `json` and `jsonpath` body matchers.
//!
//! Building a `serde_json::Value` (simd-json, then an `IndexMap` and a `String` per member)
//! cost ~9,000 instructions for a 100-byte body. This view is one pass over the bytes and one
//! allocation: a node per value, in document order, each knowing its byte span and where its
//! subtree ends. Strings are read in place, so the view covers only the common case:
//!
//! - valid UTF-8 without a backslash anywhere (no escapes to decode);
//! - numbers without an exponent, integers of at most 18 digits, fractions of at most 15
//!   significant digits (where every parser rounds alike);
//! - nesting at most [`MAX_DEPTH`] deep.
//!
//! The nodes go in a buffer the thread reuses ([`NodeBuf`]), so a request's parse does not
//! allocate once the thread has seen a body of its size.
//!
//! [`parse`] returns `None` for anything else, valid or not, and the caller falls back to the
//! full parse, which then decides. So on every body the view reaches the verdict the `Value`
//! would: duplicate keys resolve to the last one (as `Value` keeps it), an object's size counts
//! distinct keys. The property test in `body/tests.rs` compares the two on generated bodies.

use serde_json::Number;

/// How deep the view nests before it leaves the body to the full parse.
const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    True,
    False,
    Int,
    Float,
    Str,
    Array,
    Object,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    /// An array's elements, an object's members (a member is its key node, then its value).
    pub(crate) len: u32,
    /// The value's bytes in the body; a string's contents, without the quotes.
    start: u32,
    end: u32,
    /// The index of the node after this one's subtree.
    next: u32,
}

/// Node buffers larger than this (in nodes; 20 bytes each) are freed rather than kept for the
/// thread's next body: a rare huge body should not pin its memory on every worker.
const KEEP_NODES: usize = 4096;

thread_local! {
    /// The thread's spare node buffer, lent to one parse at a time.
    static SPARE_NODES: std::cell::Cell<Vec<Node>> = const { std::cell::Cell::new(Vec::new()) };
}

/// A node buffer borrowed from the thread's spare and given back when dropped. Two bodies
/// parsed at once on one thread (two requests in flight) work: the second finds no spare and
/// allocates, and the last one dropped is kept.
#[derive(Debug)]
struct NodeBuf(Vec<Node>);

impl NodeBuf {
    fn with_capacity(nodes: usize) -> NodeBuf {
        let mut v = SPARE_NODES.take();
        v.clear();
        v.reserve(nodes);
        NodeBuf(v)
    }
}

impl Drop for NodeBuf {
    fn drop(&mut self) {
        // An empty one (taken by `Owned::new`) would only displace a real spare.
        if (1..=KEEP_NODES).contains(&self.0.capacity()) {
            // `try_with`: at thread exit the spare may already be gone; then the buffer is freed.
            let _ = SPARE_NODES.try_with(|spare| spare.set(std::mem::take(&mut self.0)));
        }
    }
}

/// A parsed JSON body: its text and its flat nodes, node 0 the document. Read through
/// [`Parsed::view`].
#[derive(Debug)]
pub(crate) struct Parsed<'b> {
    body: &'b str,
    nodes: NodeBuf,
}

impl Parsed<'_> {
    pub(crate) fn view(&self) -> Dom<'_> {
        Dom { body: self.body, nodes: &self.nodes.0 }
    }
}

/// A JSON document as flat nodes over its text; node 0 is the document. A request body's
/// (borrowed from its [`Parsed`]) or a rule's expected value (see [`Owned`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dom<'a> {
    body: &'a str,
    nodes: &'a [Node],
}

/// A document the view covers, owning its text and nodes: a rule's expected JSON value,
/// compiled so that matching a rule that is cold in cache reads two blocks side by side
/// (nodes and text) instead of following a `Value`'s map, keys and strings pointer by pointer.
#[derive(Debug, Clone)]
pub(crate) struct Owned {
    text: Box<str>,
    nodes: Box<[Node]>,
}

impl Owned {
    /// `text` as a document, or `None` when the view does not cover it.
    pub(crate) fn new(text: String) -> Option<Owned> {
        let nodes = std::mem::take(&mut parse(text.as_bytes())?.nodes.0).into_boxed_slice();
        Some(Owned { text: text.into_boxed_str(), nodes })
    }

    pub(crate) fn view(&self) -> Dom<'_> {
        Dom { body: &self.text, nodes: &self.nodes }
    }
}

/// The view of `body`, or `None` when it is outside what the view covers (or not JSON).
pub(crate) fn parse(body: &[u8]) -> Option<Parsed<'_>> {
    // A backslash is refused where it can appear, in a string (see `Parser::string`).
    if body.is_empty() || body.len() >= u32::MAX as usize {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let mut p = Parser { b: body, pos: 0, nodes: NodeBuf::with_capacity(body.len() / 6 + 2) };
    p.value(0)?;
    p.ws();
    if p.pos != body.len() {
        return None;
    }
    Some(Parsed { body: text, nodes: p.nodes })
}

struct Parser<'b> {
    b: &'b [u8],
    pos: usize,
    nodes: NodeBuf,
}

impl Parser<'_> {
    #[inline(always)]
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.pos) {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn push(&mut self, kind: Kind, start: usize) -> usize {
        let i = self.nodes.0.len();
        self.nodes.0.push(Node { kind, len: 0, start: start as u32, end: start as u32, next: i as u32 + 1 });
        i
    }

    #[inline(always)]
    fn finish(&mut self, i: usize, len: u32) {
        let next = self.nodes.0.len() as u32;
        let end = self.pos as u32;
        let n = &mut self.nodes.0[i];
        n.len = len;
        n.end = end;
        n.next = next;
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> Option<()> {
        if !self.b[self.pos..].starts_with(word) {
            return None;
        }
        let i = self.push(kind, self.pos);
        self.pos += word.len();
        self.finish(i, 0);
        Some(())
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        self.ws();
        match *self.b.get(self.pos)? {
            b'{' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let i = self.push(Kind::Object, self.pos);
                self.pos += 1;
                self.ws();
                let mut len = 0;
                if self.b.get(self.pos) == Some(&b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.ws();
                        if self.b.get(self.pos) != Some(&b'"') {
                            return None;
                        }
                        self.string()?;
                        self.ws();
                        if self.b.get(self.pos) != Some(&b':') {
                            return None;
                        }
                        self.pos += 1;
                        self.value(depth + 1)?;
                        len += 1;
                        self.ws();
                        match self.b.get(self.pos)? {
                            b',' => self.pos += 1,
                            b'}' => {
                                self.pos += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.finish(i, len);
            }
            b'[' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                let i = self.push(Kind::Array, self.pos);
                self.pos += 1;
                self.ws();
                let mut len = 0;
                if self.b.get(self.pos) == Some(&b']') {
                    self.pos += 1;
                } else {
                    loop {
                        self.value(depth + 1)?;
                        len += 1;
                        self.ws();
                        match self.b.get(self.pos)? {
                            b',' => self.pos += 1,
                            b']' => {
                                self.pos += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
                self.finish(i, len);
            }
            b'"' => self.string()?,
            b't' => self.literal(b"true", Kind::True)?,
            b'f' => self.literal(b"false", Kind::False)?,
            b'n' => self.literal(b"null", Kind::Null)?,
            b'-' | b'0'..=b'9' => self.number()?,
            _ => return None,
        }
        Some(())
    }

    /// A string without escapes or control characters: a backslash ends the view (outside a
    /// string it is a syntax error anyway), so a parsed body has none.
    #[inline(always)]
    fn string(&mut self) -> Option<()> {
        let start = self.pos + 1;
        // The closing quote, a backslash or a control character, a word at a time (see
        // `crate::bytes`): JSON strings are a few bytes, for which `memchr`'s dispatch cost
        // more than the scan.
        let len = crate::bytes::find_string_end(&self.b[start..])?;
        let end = start + len;
        if self.b[end] != b'"' {
            return None;
        }
        let i = self.push(Kind::Str, start);
        self.nodes.0[i].end = end as u32;
        self.pos = end + 1;
        Some(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, with no exponent and few enough digits to read alike
    /// everywhere.
    fn number(&mut self) -> Option<()> {
        let start = self.pos;
        let b = self.b;
        let mut p = start;
        if b[p] == b'-' {
            p += 1;
        }
        let digits = |mut p: usize| {
            while b.get(p).is_some_and(u8::is_ascii_digit) {
                p += 1;
            }
            p
        };
        let int_end = digits(p);
        let int_digits = int_end - p;
        if int_digits == 0 || (int_digits > 1 && b[p] == b'0') {
            return None;
        }
        let mut kind = Kind::Int;
        let mut end = int_end;
        if b.get(end) == Some(&b'.') {
            let frac_end = digits(end + 1);
            if frac_end == end + 1 || int_digits + (frac_end - end - 1) > 15 {
                return None;
            }
            kind = Kind::Float;
            end = frac_end;
        } else if int_digits > 18 {
            return None;
        }
        if matches!(b.get(end), Some(b'e' | b'E')) {
            return None;
        }
        let i = self.push(kind, start);
        self.pos = end;
        self.finish(i, 0);
        Some(())
    }
}

impl<'b> Dom<'b> {
    pub(crate) fn node(&self, n: usize) -> Node {
        self.nodes[n]
    }

    /// The value's text in the body (a string's contents, without quotes).
    fn text(&self, n: usize) -> &'b str {
        let node = self.nodes[n];
        &self.body[node.start as usize..node.end as usize]
    }

    /// The value's bytes in the body (a string's contents, without quotes; exactly its text,
    /// as the view admits no escapes), without `str` slicing's character-boundary checks.
    pub(crate) fn bytes(&self, n: usize) -> &'b [u8] {
        let node = self.nodes[n];
        &self.body.as_bytes()[node.start as usize..node.end as usize]
    }

    /// A node's text as a JSON document of its own (a string with its quotes).
    pub(crate) fn json_text(&self, n: usize) -> &'b str {
        let node = self.nodes[n];
        let (start, end) = match node.kind {
            Kind::Str => (node.start as usize - 1, node.end as usize + 1),
            _ => (node.start as usize, node.end as usize),
        };
        &self.body[start..end]
    }

    /// A number node's value.
    pub(crate) fn number(&self, n: usize) -> Option<Number> {
        let text = self.text(n);
        match self.nodes[n].kind {
            Kind::Int => text.parse::<i64>().ok().map(Number::from),
            Kind::Float => text.parse::<f64>().ok().and_then(Number::from_f64),
            _ => None,
        }
    }

    /// The nodes of an array's elements, or of an object's members as (key, value) pairs.
    fn children(self, n: usize) -> impl Iterator<Item = usize> + 'b {
        let node = self.nodes[n];
        let mut i = n + 1;
        (0..node.len).map(move |_| {
            let here = i;
            i = self.nodes[here].next as usize;
            here
        })
    }

    /// An array's elements.
    pub(crate) fn elements(self, n: usize) -> impl Iterator<Item = usize> + 'b {
        self.children(n)
    }

    /// An object's members as (key node, value node).
    pub(crate) fn members(self, n: usize) -> impl Iterator<Item = (usize, usize)> + 'b {
        let node = self.nodes[n];
        let mut i = n + 1;
        (0..node.len).map(move |_| {
            let key = i;
            i = self.nodes[key + 1].next as usize;
            (key, key + 1)
        })
    }

    /// The value of an object's member `key` (the last, when the key repeats).
    pub(crate) fn get(&self, n: usize, key: &[u8]) -> Option<usize> {
        self.members(n).filter(|&(k, _)| self.bytes(k) == key).last().map(|(_, v)| v)
    }

    /// An object's number of distinct keys.
    pub(crate) fn distinct_keys(&self, n: usize) -> usize {
        let members: smallvec::SmallVec<[&[u8]; 16]> = self.members(n).map(|(k, _)| self.bytes(k)).collect();
        members.iter().enumerate().filter(|(i, k)| !members[i + 1..].contains(k)).count()
    }

    /// An array's `i`th element.
    pub(crate) fn nth(&self, n: usize, i: usize) -> Option<usize> {
        self.elements(n).nth(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(p: &Parsed<'_>) -> Vec<Kind> {
        p.nodes.0.iter().map(|n| n.kind).collect()
    }

    #[test]
    fn bodies_parsed_at_once_on_one_thread_keep_their_own_nodes() {
        let a = parse(br#"{"a": [1, true]}"#).expect("covered");
        let b = parse(br#"["x", null]"#).expect("covered");
        assert_eq!(kinds(&a), [Kind::Object, Kind::Str, Kind::Array, Kind::Int, Kind::True]);
        assert_eq!(kinds(&b), [Kind::Array, Kind::Str, Kind::Null]);
        drop(a);
        let c = parse(b"[false]").expect("covered");
        assert_eq!(kinds(&c), [Kind::Array, Kind::False]);
        assert_eq!(kinds(&b), [Kind::Array, Kind::Str, Kind::Null]);
    }

    #[test]
    fn the_next_body_reuses_the_nodes_of_the_last_and_a_huge_one_is_not_kept() {
        let first = parse(br#"{"a": 1}"#).expect("covered");
        let buffer = first.nodes.0.as_ptr();
        drop(first);
        // Four nodes: the first body's buffer has room for four (a Vec's least capacity). Five
        // grew it, and whether that moved it depended on the heap: the test failed now and then.
        let second = parse(br#"{"b": [2]}"#).expect("covered");
        assert_eq!(second.nodes.0.as_ptr(), buffer, "no allocation for a body that fits");
        drop(second);

        let huge = format!("[{}0]", "0,".repeat(KEEP_NODES * 7));
        let parsed = parse(huge.as_bytes()).expect("covered");
        assert!(parsed.nodes.0.capacity() > KEEP_NODES);
        drop(parsed);
        let after = parse(b"[1]").expect("covered");
        assert!(after.nodes.0.capacity() <= KEEP_NODES, "the huge buffer was freed, not kept");
    }

    #[test]
    fn a_refused_body_gives_its_buffer_back() {
        let kept = parse(b"[1]").expect("covered");
        let buffer = kept.nodes.0.as_ptr();
        drop(kept);
        assert!(parse(b"[1, \"\\n\"]").is_none());
        assert_eq!(parse(b"[2]").expect("covered").nodes.0.as_ptr(), buffer);
    }
}
