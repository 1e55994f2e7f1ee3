//! The path index: which rules' path patterns match a request path, found so that a request
//! for a known path makes one or two hash probes and nothing else.
//!
//! - Exact paths are keys of a [`FlatMap`]. For each, the index works out at compile time every
//!   rule of any kind whose path matches it (templates, prefixes, regexes, rules without a
//!   path), in selection order: a request for that path finds its whole candidate list in one
//!   probe, whatever the priorities. A list longer than [`MERGED_MAX`] keeps only the exact
//!   rules and sends the request through the tiers.
//! - Templates are grouped by *shape*: how many segments, which of them are parameters, whether
//!   a `{*rest}` ends it. Each shape has a [`FlatMap`] keyed by the literal segments, so a
//!   request probes each shape that fits its segment count once (real rule sets have a handful
//!   of shapes), instead of walking a trie whose every node is another load. A template record
//!   is marked complete when no rule outside it can match any path it matches; then a request
//!   that finds it searches nothing else.
//! - Exact paths of rules that also name an exact host are keys of a second map, by host and
//!   path: such a rule is left out of its path's record and merged into the record of its host
//!   and path, with everything else that matches the path. A request whose host has no rules of
//!   its own makes the plain probe only; a thousand virtual hosts on one path cost one probe,
//!   not a thousand residual host checks.
//! - Anything else (two shapes match, a prefix or a regex could also match) goes through the
//!   tiers of path kind in selection order: prefixes in a [`PrefixSet`], regexes behind the
//!   literal they start with (or in a `RegexSet`), rules without a path.

use regex::{Regex, RegexSet, RegexSetBuilder};
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;

use super::flat::{hash_pieces, Entry, FlatMap, FlatMapBuilder, PieceHasher, Record, COMPLETE};
use super::prefixes::PrefixSet;
use super::regexes::RegexGate;
use super::{PathPattern, PathTemplate, Segment, Tier};
use crate::value::{regex_message, REGEX_SIZE_LIMIT};

/// Templates with more segments than this (before a `{*rest}`) are matched one by one; a
/// request path is split into at most this many segments.
const MAX_SEGMENTS: usize = 32;

/// Items (rules, template records, exact paths) built between two calls of `pause`.
const PAUSE_EVERY: u32 = 32;

/// The longest candidate list merged into an exact path's record.
const MERGED_MAX: usize = 32;

/// With more template shapes than this, overlaps between shapes are not worked out (it is
/// quadratic in shapes) and no template record is complete.
const SHAPES_MAX: usize = 64;

/// Candidate ranks for one request; inline for the usual handful, so no allocation.
pub(crate) type Candidates = SmallVec<[u32; 16]>;

/// The template records a request path finds, one per matching shape.
pub(crate) type TemplateHits<'a> = SmallVec<[Record<'a>; 4]>;

/// The segments of a request path after its leading `/`, by their end offsets: the first
/// [`MAX_SEGMENTS`] of them, and how many there are in all.
pub(crate) struct Segments<'p> {
    path: &'p str,
    ends: [u32; MAX_SEGMENTS],
    count: usize,
}

impl<'p> Segments<'p> {
    fn split(path: &'p str) -> Option<Self> {
        let bytes = path.as_bytes();
        if bytes.first() != Some(&b'/') {
            return None;
        }
        let mut ends = [0u32; MAX_SEGMENTS];
        let mut count = 0;
        // Segments are short: a plain loop beats a call into memchr here.
        for (i, &b) in bytes.iter().enumerate().skip(1) {
            if b == b'/' {
                if count < MAX_SEGMENTS {
                    ends[count] = i as u32;
                }
                count += 1;
            }
        }
        if count < MAX_SEGMENTS {
            ends[count] = bytes.len() as u32;
        }
        Some(Segments { path, ends, count: count + 1 })
    }

    /// Segment `i` (below both `count` and [`MAX_SEGMENTS`]).
    #[inline]
    fn get(&self, i: usize) -> &'p [u8] {
        self.span(i, i)
    }

    /// Segments `first` to `last` with the `/` between them (`last` below both `count` and
    /// [`MAX_SEGMENTS`]).
    #[inline]
    fn span(&self, first: usize, last: usize) -> &'p [u8] {
        let start = if first == 0 { 1 } else { self.ends[first - 1] as usize + 1 };
        &self.path.as_bytes()[start..self.ends[last] as usize]
    }
}

/// Templates of one shape.
#[derive(Debug)]
struct Shape {
    /// Segments, not counting a final `{*rest}`.
    count: u8,
    catch_all: bool,
    /// Bit `i` set: segment `i` is a parameter.
    params: u32,
    /// The runs of consecutive literal segments, first and last segment of each. A run is one
    /// stretch of the request path (`api/v2/orders`), hashed and compared in one piece.
    runs: SmallVec<[(u8, u8); 4]>,
    /// Keyed by the literal segments, each followed by `/`; hashed by runs (see [`runs_hash`]).
    map: FlatMap,
}

impl Shape {
    fn new(count: u8, catch_all: bool, params: u32) -> Shape {
        let mut runs = SmallVec::new();
        let mut i = 0;
        while i < count {
            if params & (1 << i) != 0 {
                i += 1;
                continue;
            }
            let first = i;
            while i + 1 < count && params & (1 << (i + 1)) == 0 {
                i += 1;
            }
            runs.push((first, i));
            i += 1;
        }
        Shape { count, catch_all, params, runs, map: FlatMap::default() }
    }

    fn literals(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.count as usize).filter(|&i| self.params & (1 << i) == 0)
    }

    /// The record of the templates of this shape that `segs` fits.
    #[inline]
    fn probe<'a>(&'a self, segs: &Segments<'_>) -> Option<Record<'a>> {
        let mut params = self.params;
        while params != 0 {
            if segs.get(params.trailing_zeros() as usize).is_empty() {
                return None;
            }
            params &= params - 1;
        }
        // Each run of literals is one stretch of the path: hashed and compared whole.
        let mut hasher = PieceHasher::default();
        let mut len = 0;
        for &(first, last) in &self.runs {
            let run = segs.span(first as usize, last as usize);
            hasher.piece(run);
            len += run.len() + 1;
        }
        self.map.get(hasher.finish(), len, |mut stored| {
            for &(first, last) in &self.runs {
                let run = segs.span(first as usize, last as usize);
                // The stored key is each literal followed by `/`; its length already matched.
                if stored[..run.len()] != *run || stored[run.len()] != b'/' {
                    return false;
                }
                stored = &stored[run.len() + 1..];
            }
            true
        })
    }

    /// Whether a shape fits paths of `count` segments.
    fn fits(&self, count: usize) -> bool {
        if self.catch_all {
            count > self.count as usize
        } else {
            count == self.count as usize
        }
    }
}

/// Finds the rules whose path pattern matches a request path. Rules are named by their rank
/// (their position in selection order), so that candidates sort into selection order directly.
#[derive(Debug, Default)]
pub(crate) struct PathIndex {
    exact: FlatMap,
    /// Records keyed by an exact host (lower case) followed by an exact path.
    hosted: FlatMap,
    shapes: Vec<Shape>,
    /// By segment count (the last index for more than [`MAX_SEGMENTS`]): the shapes to probe.
    shapes_by_count: Vec<SmallVec<[u16; 4]>>,
    /// Templates of more than [`MAX_SEGMENTS`] segments, matched one by one.
    long_templates: Vec<(u32, PathTemplate)>,
    /// The distinct prefixes; their ids index `prefix_ranks`.
    prefixes: PrefixSet,
    prefix_ranks: Vec<SmallVec<[u32; 2]>>,
    regexes: Option<RegexSet>,
    regex_ranks: Vec<u32>,
    /// When every path regex starts with a literal (`/legacy/orders/[0-9]+`), those literals:
    /// only the regexes whose literal starts the path run, and no `RegexSet` (whose fixed cost
    /// per search is several hundred instructions) is built.
    pub(crate) regex_gate: Option<RegexGate>,
    pathless: Vec<u32>,
    /// The highest priority of any rule in each tier (`i32::MIN` when the tier is empty).
    max_priority: [i32; 5],
}

/// The text every path of a template record starts with (its literal segments up to the first
/// parameter or the catch-all), and whether more may follow.
fn known_start(shape: &Shape, literals: &[&str]) -> (String, bool) {
    let mut known = String::from("/");
    let mut lits = literals.iter();
    for i in 0..shape.count as usize {
        if shape.params & (1 << i) != 0 {
            return (known, true);
        }
        known.push_str(lits.next().expect("one literal per literal segment"));
        if i + 1 < shape.count as usize || shape.catch_all {
            known.push('/');
        }
    }
    (known, shape.catch_all)
}

/// The templates of one shape while building: literal segments → ranks, in rank order.
type ShapeRecords<'a> = FxHashMap<Vec<&'a str>, Vec<u32>>;

impl PathIndex {
    /// Builds the index from `(rank, priority, pattern, exact host)`, given in rank order;
    /// `entry(rank)` is what a record keeps of the rule of that rank. `pause` is called every
    /// few dozen items (see `CompileOptions::pause`): at 1,000 rules the build is the longest
    /// step of a compile.
    pub(crate) fn build<'a>(
        rules: impl Iterator<Item = (u32, i32, Option<&'a PathPattern>, Option<&'a str>)>,
        entry: impl Fn(u32) -> Entry,
        pause: &dyn Fn(),
    ) -> Result<Self, String> {
        let mut items = 0u32;
        let mut step = || {
            items += 1;
            if items.is_multiple_of(PAUSE_EVERY) {
                pause();
            }
        };
        let mut index = PathIndex { max_priority: [i32::MIN; 5], ..Default::default() };
        let mut exact: FxHashMap<&'a str, Vec<u32>> = FxHashMap::default();
        let mut hosted: FxHashMap<(String, &'a str), Vec<u32>> = FxHashMap::default();
        let mut shape_ids: FxHashMap<(u8, bool, u32), usize> = FxHashMap::default();
        let mut shape_records: Vec<ShapeRecords<'a>> = Vec::new();
        let mut regex_sources = Vec::new();
        let mut regex_literals: Vec<Option<String>> = Vec::new();
        let mut regex_compiled: Vec<(u32, String, Regex)> = Vec::new();
        let mut prefixes: Vec<&'a str> = Vec::new();
        let mut prefix_ids: FxHashMap<&'a str, usize> = FxHashMap::default();
        for (rank, priority, pattern, host) in rules {
            step();
            let tier = match pattern {
                None => {
                    index.pathless.push(rank);
                    Tier::Pathless
                }
                Some(PathPattern::Exact(p)) => {
                    match host {
                        Some(h) => hosted.entry((h.to_ascii_lowercase(), p)).or_default().push(rank),
                        None => exact.entry(p).or_default().push(rank),
                    }
                    Tier::Exact
                }
                Some(PathPattern::Prefix(p)) => {
                    let id = *prefix_ids.entry(p).or_insert_with(|| {
                        prefixes.push(p);
                        index.prefix_ranks.push(SmallVec::new());
                        prefixes.len() - 1
                    });
                    index.prefix_ranks[id].push(rank);
                    Tier::Prefix
                }
                Some(PathPattern::Template(t)) => {
                    let catch_all = matches!(t.segments.last(), Some(Segment::CatchAll(_)));
                    let count = t.segments.len() - usize::from(catch_all);
                    if count > MAX_SEGMENTS || (catch_all && count >= MAX_SEGMENTS) {
                        index.long_templates.push((rank, t.clone()));
                    } else {
                        let mut params = 0u32;
                        let mut literals = Vec::with_capacity(count);
                        for (i, seg) in t.segments[..count].iter().enumerate() {
                            match seg {
                                Segment::Literal(l) => literals.push(&**l),
                                _ => params |= 1 << i,
                            }
                        }
                        let id = *shape_ids.entry((count as u8, catch_all, params)).or_insert_with(|| {
                            shape_records.push(FxHashMap::default());
                            index.shapes.push(Shape::new(count as u8, catch_all, params));
                            index.shapes.len() - 1
                        });
                        shape_records[id].entry(literals).or_default().push(rank);
                    }
                    Tier::Template
                }
                Some(PathPattern::Regex { source, literal, regex }) => {
                    regex_literals.push((!literal.is_empty()).then(|| literal.to_string()));
                    regex_compiled.push((rank, literal.to_string(), regex.clone()));
                    regex_sources.push(format!("^(?:{source})$"));
                    index.regex_ranks.push(rank);
                    Tier::Regex
                }
            };
            let max = &mut index.max_priority[tier as usize];
            *max = (*max).max(priority);
        }
        index.prefixes = PrefixSet::new(&prefixes);
        // `None` when some regex has no literal start (it might match anything).
        let regex_literals: Option<Vec<String>> = regex_literals.into_iter().collect();
        index.build_regexes(regex_sources, regex_literals.is_some(), regex_compiled)?;
        let literal_set = PrefixSet::new(regex_literals.as_deref().unwrap_or_default());

        index.shapes_by_count = (0..=MAX_SEGMENTS + 1)
            .map(|count| {
                let fits = |s: &&Shape| s.fits(count.min(MAX_SEGMENTS + 1));
                index.shapes.iter().enumerate().filter(|(_, s)| fits(s)).map(|(i, _)| i as u16).collect()
            })
            .collect();

        // Template records, each marked complete when nothing else can match its paths.
        let mut sorted_prefixes = prefixes.clone();
        sorted_prefixes.sort_unstable();
        let mut sorted_literals: Vec<&str> = regex_literals.iter().flatten().map(String::as_str).collect();
        sorted_literals.sort_unstable();
        let overlapping = index.shape_overlaps(&shape_records);
        for (id, records) in shape_records.iter().enumerate() {
            let mut builder = FlatMapBuilder::default();
            let mut entries = Vec::new();
            let shape = &index.shapes[id];
            for (literals, ranks) in records {
                step();
                let (known, open) = known_start(shape, literals);
                let complete = index.pathless.is_empty()
                    && regex_literals.is_some()
                    && (!shape.catch_all || index.long_templates.is_empty())
                    && overlapping
                        .as_ref()
                        .is_some_and(|o| !o.contains(&(id, shape_hash(literals, shape, u32::MAX))))
                    && !index.prefixes.may_start(&known, open)
                    && !literal_set.may_start(&known, open);
                entries.clear();
                entries.extend(ranks.iter().map(|&r| entry(r)));
                let key: Vec<u8> = literals.iter().flat_map(|l| l.bytes().chain([b'/'])).collect();
                builder.push(&key, runs_hash(shape, literals), &entries, if complete { COMPLETE } else { 0 });
            }
            index.shapes[id].map = builder.build();
        }

        // Exact paths, with every other rule that matches them merged in, when not too many.
        let mut builder = FlatMapBuilder::default();
        let mut ranks = Candidates::new();
        let mut entries = Vec::new();
        for (path, exact_ranks) in &exact {
            step();
            ranks.clear();
            index.inexact_candidates(path, None, &mut ranks);
            let complete = ranks.len() + exact_ranks.len() <= MERGED_MAX;
            if complete {
                ranks.extend_from_slice(exact_ranks);
                ranks.sort_unstable();
            } else {
                ranks.clear();
                ranks.extend_from_slice(exact_ranks);
            }
            entries.clear();
            entries.extend(ranks.iter().map(|&r| entry(r)));
            let hash = hash_pieces([path.as_bytes()]);
            builder.push(path.as_bytes(), hash, &entries, if complete { COMPLETE } else { 0 });
        }
        index.exact = builder.build();

        // Host and path: the host's own exact rules, merged with what the path's record would
        // hold (every rule without an exact host that matches the path).
        let mut builder = FlatMapBuilder::default();
        let mut key = Vec::new();
        for ((host, path), host_ranks) in &hosted {
            step();
            let exact_ranks = exact.get(path).map_or(&[][..], Vec::as_slice);
            ranks.clear();
            index.inexact_candidates(path, None, &mut ranks);
            let complete = ranks.len() + exact_ranks.len() + host_ranks.len() <= MERGED_MAX;
            if !complete {
                ranks.clear();
            }
            ranks.extend_from_slice(exact_ranks);
            ranks.extend_from_slice(host_ranks);
            ranks.sort_unstable();
            entries.clear();
            entries.extend(ranks.iter().map(|&r| entry(r)));
            key.clear();
            key.extend_from_slice(host.as_bytes());
            key.extend_from_slice(path.as_bytes());
            let hash = hash_pieces([host.as_bytes(), path.as_bytes()]);
            builder.push(&key, hash, &entries, if complete { COMPLETE } else { 0 });
        }
        index.hosted = builder.build();
        Ok(index)
    }

    fn build_regexes(
        &mut self,
        sources: Vec<String>,
        every_regex_has_a_literal: bool,
        compiled: Vec<(u32, String, Regex)>,
    ) -> Result<(), String> {
        if sources.is_empty() {
            return Ok(());
        }
        if every_regex_has_a_literal {
            self.regex_gate = Some(RegexGate::new(compiled));
            // Every regex is reached through its literal: no set to build.
            return Ok(());
        }
        let set = RegexSetBuilder::new(&sources)
            .size_limit(REGEX_SIZE_LIMIT.saturating_mul(64))
            .dfa_size_limit(REGEX_SIZE_LIMIT.saturating_mul(8))
            .build()
            .map_err(|e| format!("the path regexes together are too large: {}", regex_message(&e)))?;
        self.regexes = Some(set);
        Ok(())
    }

    /// `(shape, hash of literals)` of the template records that another shape may share a
    /// path with. Two shapes share paths when their segment counts allow it and they agree on
    /// the segments literal in both (hashes: a collision only makes a record incomplete).
    /// `None` when there are too many shapes to work this out: every record may overlap.
    fn shape_overlaps(&self, records: &[ShapeRecords<'_>]) -> Option<FxHashSet<(usize, u64)>> {
        let mut out = FxHashSet::default();
        let shapes = &self.shapes;
        if shapes.len() > SHAPES_MAX {
            return None;
        }
        for (a, sa) in shapes.iter().enumerate() {
            for (b, sb) in shapes.iter().enumerate() {
                let counts_meet = match (sa.catch_all, sb.catch_all) {
                    (false, false) => sa.count == sb.count,
                    (false, true) => sb.count < sa.count,
                    (true, false) => sa.count < sb.count,
                    (true, true) => true,
                };
                if a == b || !counts_meet {
                    continue;
                }
                // Literal in both, within both.
                let width = sa.count.min(sb.count) as u32;
                let within = if width >= 32 { u32::MAX } else { (1u32 << width) - 1 };
                let common = !sa.params & !sb.params & within;
                let theirs: FxHashSet<u64> =
                    records[b].keys().map(|lits| shape_hash(lits, sb, common)).collect();
                for lits in records[a].keys() {
                    if theirs.contains(&shape_hash(lits, sa, common)) {
                        out.insert((a, shape_hash(lits, sa, u32::MAX)));
                    }
                }
            }
        }
        Some(out)
    }
}

/// A hash of the literal segments of a template record at the positions in `mask`.
/// The hash a probe computes for a path whose literal segments are `literals` (in order):
/// each run of the shape's consecutive literals, joined by `/`, is one piece.
fn runs_hash(shape: &Shape, literals: &[&str]) -> u64 {
    let mut hasher = PieceHasher::default();
    let mut run = Vec::new();
    let mut at = 0;
    for &(first, last) in &shape.runs {
        run.clear();
        for (k, l) in literals[at..=at + (last - first) as usize].iter().enumerate() {
            if k > 0 {
                run.push(b'/');
            }
            run.extend_from_slice(l.as_bytes());
        }
        at += (last - first) as usize + 1;
        hasher.piece(&run);
    }
    hasher.finish()
}

fn shape_hash(literals: &[&str], shape: &Shape, mask: u32) -> u64 {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    for (i, l) in shape.literals().zip(literals).filter(|(i, _)| mask & (1 << i) != 0) {
        h.write_usize(i);
        h.write(l.as_bytes());
        h.write_u8(0xff);
    }
    h.finish()
}

mod lookup;

#[cfg(test)]
#[path = "index_tests.rs"]
mod tests;
