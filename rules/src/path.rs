//! Path patterns and the path index that finds a request's candidate rules.
//!
//! Four kinds of pattern, each with its own structure, so that finding candidates costs about
//! the same with 100 rules as with 100,000: exact paths in a hash map, templates in a segment
//! trie (literals, `{param}` and a trailing `{*rest}`), prefixes in a map probed once per distinct
//! prefix length, regexes in one multi-pattern automaton. Rules without a path are candidates
//! for every request.

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};
use regex::{Regex, RegexSet, RegexSetBuilder};
use rustc_hash::FxHashMap;
use smallvec::SmallVec;

use crate::error::Errors;
use crate::model::{PathMatch, PathMatchSpec};
use crate::value::{regex_message, REGEX_SIZE_LIMIT};

/// Path parameters captured by a template: name → raw (not decoded) value.
pub type PathParams<'t, 'r> = SmallVec<[(&'t str, &'r str); 4]>;

/// A compiled path pattern.
#[derive(Debug, Clone)]
pub(crate) enum PathPattern {
    Exact(Box<str>),
    Prefix(Box<str>),
    Template(PathTemplate),
    Regex { source: Box<str>, regex: Regex },
}

/// How specific a path pattern is; larger is more specific (the selection order's second key).
pub(crate) type Specificity = (u8, u32);

impl PathPattern {
    pub(crate) fn compile(spec: &PathMatch, path: &str, errors: &mut Errors) -> Option<Self> {
        let (kind, text, place) = match spec {
            PathMatch::Short(s) if s.contains('{') => ("template", s, path.to_owned()),
            PathMatch::Short(s) => ("exact", s, path.to_owned()),
            PathMatch::Explicit(PathMatchSpec { exact, prefix, template, regex }) => {
                let forms = [("exact", exact), ("prefix", prefix), ("template", template), ("regex", regex)];
                let fields = forms.map(|(k, v)| (k, v.is_some()));
                if !errors.exactly_one(path, &fields) {
                    return None;
                }
                let (kind, text) = forms
                    .into_iter()
                    .find_map(|(k, v)| v.as_ref().map(|v| (k, v)))
                    .expect("exactly one form is set");
                (kind, text, format!("{path}.{kind}"))
            }
        };
        if kind != "regex" && !text.starts_with('/') {
            errors.push(place, format!("a path must start with '/', got {text:?}"));
            return None;
        }
        match kind {
            "exact" => Some(PathPattern::Exact(text.as_str().into())),
            "prefix" => Some(PathPattern::Prefix(text.as_str().into())),
            "template" => match PathTemplate::parse(text) {
                Ok(t) => Some(PathPattern::Template(t)),
                Err(message) => {
                    errors.push(place, message);
                    None
                }
            },
            _ => {
                if let Err(message) = crate::value::check_regex_syntax(text) {
                    errors.push(place, message);
                    return None;
                }
                let built =
                    regex::RegexBuilder::new(&format!("^(?:{text})$")).size_limit(REGEX_SIZE_LIMIT).build();
                match built {
                    Ok(regex) => Some(PathPattern::Regex { source: text.as_str().into(), regex }),
                    Err(e) => {
                        errors.push(place, regex_message(&e));
                        None
                    }
                }
            }
        }
    }

    /// Selection order: exact > template (more literal segments first) > longer prefix > regex.
    pub(crate) fn specificity(&self) -> Specificity {
        match self {
            PathPattern::Exact(_) => (4, 0),
            PathPattern::Template(t) => (3, t.literal_segments),
            PathPattern::Prefix(p) => (2, p.len() as u32),
            PathPattern::Regex { .. } => (1, 0),
        }
    }

    /// Whether `path` matches, capturing template parameters into `params`.
    pub(crate) fn matches<'t, 'r>(&'t self, path: &'r str, params: &mut PathParams<'t, 'r>) -> bool {
        match self {
            PathPattern::Exact(p) => **p == *path,
            PathPattern::Prefix(p) => path.starts_with(&**p),
            PathPattern::Template(t) => t.matches(path, params),
            PathPattern::Regex { regex, .. } => regex.is_match(path),
        }
    }

    pub(crate) fn describe(&self) -> String {
        match self {
            PathPattern::Exact(p) => format!("path equals {p:?}"),
            PathPattern::Prefix(p) => format!("path starts with {p:?}"),
            PathPattern::Template(t) => format!("path fits template {:?}", t.source),
            PathPattern::Regex { source, .. } => format!("path matches /{source}/"),
        }
    }
}

/// A segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Literal(Box<str>),
    Param(Box<str>),
    /// `{*rest}`: the remainder of the path, possibly empty; always the last segment.
    CatchAll(Box<str>),
}

/// A parsed path template such as `/users/{id}/files/{*rest}`.
#[derive(Debug, Clone)]
pub(crate) struct PathTemplate {
    source: Box<str>,
    segments: Vec<Segment>,
    literal_segments: u32,
}

impl PathTemplate {
    pub(crate) fn parse(source: &str) -> Result<Self, String> {
        let Some(body) = source.strip_prefix('/') else {
            return Err(format!("a path template must start with '/', got {source:?}"));
        };
        let mut segments = Vec::new();
        let parts: Vec<&str> = body.split('/').collect();
        let last = parts.len() - 1;
        for (i, part) in parts.iter().enumerate() {
            let opens = part.matches('{').count();
            let closes = part.matches('}').count();
            if opens == 0 && closes == 0 {
                segments.push(Segment::Literal((*part).into()));
                continue;
            }
            if opens != closes {
                return Err(format!("unbalanced '{{' in segment {part:?} of {source:?}"));
            }
            if opens > 1 || !part.starts_with('{') || !part.ends_with('}') {
                return Err(format!(
                    "a parameter must fill a whole segment, as in /users/{{id}}; got {part:?} in {source:?}"
                ));
            }
            let inner = &part[1..part.len() - 1];
            let (catch_all, name) = match inner.strip_prefix('*') {
                Some(name) => (true, name),
                None => (false, inner),
            };
            let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_name {
                return Err(format!(
                    "parameter name {name:?} in {source:?} must be letters, digits and '_', not starting with a digit"
                ));
            }
            let duplicate = segments
                .iter()
                .any(|s| matches!(s, Segment::Param(n) | Segment::CatchAll(n) if **n == *name));
            if duplicate {
                return Err(format!("parameter {name:?} appears twice in {source:?}"));
            }
            if catch_all {
                if i != last {
                    return Err(format!("{{*{name}}} must be the last segment of {source:?}"));
                }
                segments.push(Segment::CatchAll(name.into()));
            } else {
                segments.push(Segment::Param(name.into()));
            }
        }
        let literal_segments = segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count() as u32;
        Ok(PathTemplate { source: source.into(), segments, literal_segments })
    }

    fn matches<'t, 'r>(&'t self, path: &'r str, params: &mut PathParams<'t, 'r>) -> bool {
        let Some(mut rest) = path.strip_prefix('/') else { return false };
        let start = params.len();
        for (i, seg) in self.segments.iter().enumerate() {
            if let Segment::CatchAll(name) = seg {
                params.push((name, rest));
                return true;
            }
            let (part, tail) = match rest.find('/') {
                Some(j) => (&rest[..j], Some(&rest[j + 1..])),
                None => (rest, None),
            };
            let ok = match seg {
                Segment::Literal(l) => **l == *part,
                Segment::Param(name) => {
                    params.push((name, part));
                    !part.is_empty()
                }
                Segment::CatchAll(_) => unreachable!("handled above"),
            };
            let is_last = i + 1 == self.segments.len();
            match (ok, tail, is_last) {
                (true, None, true) => return true,
                (true, Some(t), false) => rest = t,
                _ => {
                    params.truncate(start);
                    return false;
                }
            }
        }
        params.truncate(start);
        false
    }
}

/// The kinds of path pattern, in decreasing specificity. Every rule of a tier ranks after
/// every rule of an earlier tier with the same priority, which is what lets selection skip a
/// whole tier once it holds a winner whose priority the tier cannot beat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tier {
    Exact = 0,
    Template = 1,
    Prefix = 2,
    Regex = 3,
    Pathless = 4,
}

impl Tier {
    pub(crate) const ALL: [Tier; 5] =
        [Tier::Exact, Tier::Template, Tier::Prefix, Tier::Regex, Tier::Pathless];
}

/// Finds the rules whose path pattern matches a request path. Rules are named by their rank
/// (their position in selection order), so that candidates sort into selection order directly.
#[derive(Debug, Default)]
pub(crate) struct PathIndex {
    /// Most exact paths belong to one or two rules: their ranks sit inline in the map's slot,
    /// saving a pointer chase per request.
    exact: FxHashMap<Box<str>, SmallVec<[u32; 2]>>,
    trie: Vec<TrieNode>,
    /// All prefixes in one anchored automaton: one pass over the path finds every prefix of
    /// it, whatever the number of distinct prefix lengths.
    prefixes: Option<DFA>,
    prefix_ranks: Vec<SmallVec<[u32; 2]>>,
    prefix_lens: Vec<u32>,
    regexes: Option<RegexSet>,
    regex_ranks: Vec<u32>,
    /// When every path regex starts with a literal (`/legacy/orders/[0-9]+`), those literals
    /// in one anchored automaton: a path that starts with none of them skips the regex set,
    /// whose fixed cost per search is several hundred instructions.
    regex_gate: Option<RegexGate>,
    pathless: Vec<u32>,
    /// The highest priority of any rule in each tier (`i32::MIN` when the tier is empty).
    max_priority: [i32; 5],
}

/// The literal each path regex starts with, in one anchored automaton, and the regexes by
/// pattern id: only the regexes whose literal starts the path are run, each on its own.
#[derive(Debug)]
struct RegexGate {
    literals: DFA,
    lens: Vec<u32>,
    regexes: Vec<(u32, Regex)>,
}

#[derive(Debug, Default)]
struct TrieNode {
    literals: FxHashMap<Box<str>, u32>,
    param: Option<u32>,
    /// Rules whose template ends here.
    terminal: Vec<u32>,
    /// Rules whose template ends here with `{*rest}`.
    catch_all: Vec<u32>,
}

/// Calls `found(pattern id)` for every pattern of `dfa` that is a prefix of `path`, until it
/// returns false. The DFA's transitions include failure links, so a match state may report a
/// pattern that ends here but starts later: only those as long as the bytes read are prefixes.
fn prefixes_of(dfa: &DFA, lens: &[u32], path: &str, mut found: impl FnMut(usize) -> bool) {
    let Ok(mut state) = dfa.start_state(Anchored::Yes) else { return };
    for (end, &byte) in path.as_bytes().iter().enumerate() {
        state = dfa.next_state(Anchored::Yes, state, byte);
        if dfa.is_dead(state) {
            return;
        }
        if dfa.is_match(state) {
            for i in 0..dfa.match_len(state) {
                let id = dfa.match_pattern(state, i).as_usize();
                if lens[id] as usize == end + 1 && !found(id) {
                    return;
                }
            }
        }
    }
}

/// The literal text every match of `regex` starts with, when it is easy to see and not empty:
/// leading characters that are not regex syntax, dropping one that a `?`, `*` or `{` makes
/// optional. `None` (no gate) for anything less plain, such as a top-level alternation.
fn literal_prefix(regex: &str) -> Option<String> {
    if regex.contains('|') {
        return None;
    }
    let mut prefix = String::new();
    let mut chars = regex.chars().peekable();
    while let Some(c) = chars.next() {
        if "\\.+*?()[]{}^$".contains(c) {
            break;
        }
        if matches!(chars.peek(), Some('?' | '*' | '{')) {
            break;
        }
        prefix.push(c);
    }
    (!prefix.is_empty()).then_some(prefix)
}

/// Candidate ranks for one request; inline for the usual handful, so no allocation.
pub(crate) type Candidates = SmallVec<[u32; 16]>;

impl PathIndex {
    /// Builds the index from `(rank, priority, pattern)`, given in rank order.
    pub(crate) fn build<'a>(
        rules: impl Iterator<Item = (u32, i32, Option<&'a PathPattern>)>,
    ) -> Result<Self, String> {
        let mut index =
            PathIndex { trie: vec![TrieNode::default()], max_priority: [i32::MIN; 5], ..Default::default() };
        let mut regex_sources = Vec::new();
        let mut regex_literals: Vec<Option<String>> = Vec::new();
        let mut regex_compiled: Vec<(u32, Regex)> = Vec::new();
        let mut prefixes: Vec<Box<str>> = Vec::new();
        let mut prefix_ids: FxHashMap<Box<str>, usize> = FxHashMap::default();
        for (rank, priority, pattern) in rules {
            let tier = match pattern {
                None => {
                    index.pathless.push(rank);
                    Tier::Pathless
                }
                Some(PathPattern::Exact(p)) => {
                    index.exact.entry(p.clone()).or_default().push(rank);
                    Tier::Exact
                }
                Some(PathPattern::Prefix(p)) => {
                    let id = *prefix_ids.entry(p.clone()).or_insert_with(|| {
                        prefixes.push(p.clone());
                        index.prefix_ranks.push(SmallVec::new());
                        index.prefix_lens.push(p.len() as u32);
                        prefixes.len() - 1
                    });
                    index.prefix_ranks[id].push(rank);
                    Tier::Prefix
                }
                Some(PathPattern::Template(t)) => {
                    index.insert_template(t, rank);
                    Tier::Template
                }
                Some(PathPattern::Regex { source, regex }) => {
                    regex_literals.push(literal_prefix(source));
                    regex_compiled.push((rank, regex.clone()));
                    regex_sources.push(format!("^(?:{source})$"));
                    index.regex_ranks.push(rank);
                    Tier::Regex
                }
            };
            let max = &mut index.max_priority[tier as usize];
            *max = (*max).max(priority);
        }
        if !prefixes.is_empty() {
            let ac = DFA::builder()
                .match_kind(MatchKind::Standard)
                .start_kind(StartKind::Anchored)
                .build(prefixes.iter().map(|p| p.as_bytes()))
                .map_err(|e| format!("the path prefixes together are too large: {e}"))?;
            index.prefixes = Some(ac);
        }
        if !regex_sources.is_empty() {
            let literals: Option<Vec<String>> = regex_literals.iter().cloned().collect();
            if let Some(literals) = literals {
                let gate = DFA::builder()
                    .match_kind(MatchKind::Standard)
                    .start_kind(StartKind::Anchored)
                    .build(literals.iter().map(|l| l.as_bytes()));
                if let Ok(dfa) = gate {
                    index.regex_gate = Some(RegexGate {
                        literals: dfa,
                        lens: literals.iter().map(|l| l.len() as u32).collect(),
                        regexes: regex_compiled,
                    });
                    // Every regex is reached through its literal: no set to build.
                    return Ok(index);
                }
            }
            let set = RegexSetBuilder::new(&regex_sources)
                .size_limit(REGEX_SIZE_LIMIT.saturating_mul(64))
                .dfa_size_limit(REGEX_SIZE_LIMIT.saturating_mul(8))
                .build()
                .map_err(|e| format!("the path regexes together are too large: {}", regex_message(&e)))?;
            index.regexes = Some(set);
        }
        Ok(index)
    }

    fn insert_template(&mut self, t: &PathTemplate, rank: u32) {
        let mut node = 0usize;
        for seg in &t.segments {
            match seg {
                Segment::Literal(l) => {
                    let next = match self.trie[node].literals.get(l) {
                        Some(&n) => n as usize,
                        None => {
                            self.trie.push(TrieNode::default());
                            let n = self.trie.len() - 1;
                            self.trie[node].literals.insert(l.clone(), n as u32);
                            n
                        }
                    };
                    node = next;
                }
                Segment::Param(_) => {
                    node = match self.trie[node].param {
                        Some(n) => n as usize,
                        None => {
                            self.trie.push(TrieNode::default());
                            let n = self.trie.len() - 1;
                            self.trie[node].param = Some(n as u32);
                            n
                        }
                    };
                }
                Segment::CatchAll(_) => {
                    self.trie[node].catch_all.push(rank);
                    return;
                }
            }
        }
        self.trie[node].terminal.push(rank);
    }

    /// The highest priority of any rule in `tier`.
    #[inline]
    pub(crate) fn max_priority(&self, tier: Tier) -> i32 {
        self.max_priority[tier as usize]
    }

    /// Pushes the ranks of the rules of `tier` whose path matches `path`, in no set order.
    #[inline]
    pub(crate) fn tier_candidates(&self, tier: Tier, path: &str, out: &mut Candidates) {
        match tier {
            Tier::Exact => {
                if let Some(ranks) = self.exact.get(path) {
                    out.extend_from_slice(ranks);
                }
            }
            Tier::Template => {
                if self.trie.len() > 1 || !self.trie[0].catch_all.is_empty() {
                    if let Some(rest) = path.strip_prefix('/') {
                        self.walk(0, rest, out);
                    }
                }
            }
            Tier::Prefix => {
                // A walk of the DFA over the path. Its transitions include failure links, so a
                // match state may report a pattern that ends here but starts later: only those
                // as long as the bytes read so far are prefixes of the path.
                if let Some(dfa) = &self.prefixes {
                    prefixes_of(dfa, &self.prefix_lens, path, |id| {
                        out.extend_from_slice(&self.prefix_ranks[id]);
                        true
                    });
                }
            }
            Tier::Regex => {
                if let Some(gate) = &self.regex_gate {
                    prefixes_of(&gate.literals, &gate.lens, path, |id| {
                        let (rank, regex) = &gate.regexes[id];
                        if regex.is_match(path) {
                            out.push(*rank);
                        }
                        true
                    });
                } else if let Some(set) = &self.regexes {
                    // `is_match` runs one pass and allocates nothing; the per-pattern answer
                    // (which allocates) is only computed when some regex does match.
                    if set.is_match(path) {
                        for i in set.matches(path).iter() {
                            out.push(self.regex_ranks[i]);
                        }
                    }
                }
            }
            Tier::Pathless => out.extend_from_slice(&self.pathless),
        }
    }

    /// Pushes the ranks of every rule whose path matches `path` (or which has no path).
    /// The order is unspecified; callers sort.
    pub(crate) fn candidates(&self, path: &str, out: &mut Candidates) {
        for tier in Tier::ALL {
            self.tier_candidates(tier, path, out);
        }
    }

    /// `rest` is the path after the `/` that leads to `node`.
    fn walk(&self, node: usize, rest: &str, out: &mut Candidates) {
        let n = &self.trie[node];
        if !n.catch_all.is_empty() {
            out.extend_from_slice(&n.catch_all);
        }
        // Segments are short: a plain loop beats a call into memchr here.
        let (part, tail) = match rest.bytes().position(|b| b == b'/') {
            Some(j) => (&rest[..j], Some(&rest[j + 1..])),
            None => (rest, None),
        };
        let child_literal =
            if n.literals.is_empty() { None } else { n.literals.get(part).map(|&c| c as usize) };
        let child_param = if part.is_empty() { None } else { n.param.map(|c| c as usize) };
        for child in [child_literal, child_param].into_iter().flatten() {
            match tail {
                None => {
                    let terminal = &self.trie[child].terminal;
                    if !terminal.is_empty() {
                        out.extend_from_slice(terminal);
                    }
                }
                Some(t) => self.walk(child, t, out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(s: &str) -> PathTemplate {
        PathTemplate::parse(s).unwrap()
    }

    fn captures<'t>(t: &'t PathTemplate, path: &'t str) -> Option<Vec<(&'t str, &'t str)>> {
        let mut params = PathParams::new();
        t.matches(path, &mut params).then(|| params.into_vec())
    }

    #[test]
    fn regex_literal_prefixes_are_conservative() {
        assert_eq!(literal_prefix("/legacy/orders/[0-9]+").as_deref(), Some("/legacy/orders/"));
        assert_eq!(literal_prefix("/ab?c").as_deref(), Some("/a"));
        assert_eq!(literal_prefix("/a{0,2}").as_deref(), Some("/"));
        assert_eq!(literal_prefix("/a+b").as_deref(), Some("/a"));
        assert_eq!(literal_prefix("/a|/b"), None);
        assert_eq!(literal_prefix("(?i)/a"), None);
        assert_eq!(literal_prefix(".*"), None);
        assert_eq!(literal_prefix("\\/x"), None);
    }

    #[test]
    fn templates_capture_parameters() {
        let t = template("/users/{id}/orders/{order}");
        assert_eq!(captures(&t, "/users/7/orders/x1"), Some(vec![("id", "7"), ("order", "x1")]));
        assert_eq!(captures(&t, "/users/7/orders"), None);
        assert_eq!(captures(&t, "/users//orders/x"), None, "a parameter is never empty");
        assert_eq!(captures(&t, "/users/7/orders/x1/"), None);
        let rest = template("/files/{*rest}");
        assert_eq!(captures(&rest, "/files/a/b.txt"), Some(vec![("rest", "a/b.txt")]));
        assert_eq!(captures(&rest, "/files/"), Some(vec![("rest", "")]));
        assert_eq!(captures(&rest, "/files"), None);
        assert_eq!(captures(&template("/"), "/"), Some(vec![]));
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        for (t, needle) in [
            ("/users/{id", "unbalanced"),
            ("/users/x{id}", "whole segment"),
            ("/a/{*rest}/b", "last segment"),
            ("/a/{id}/{id}", "twice"),
            ("/a/{1x}", "parameter name"),
            ("/a/{}", "parameter name"),
            ("users/{id}", "start with '/'"),
        ] {
            let err = PathTemplate::parse(t).unwrap_err();
            assert!(err.contains(needle), "{t}: {err}");
        }
    }

    #[test]
    fn the_index_finds_every_kind_of_pattern() {
        let mut errors = Errors::default();
        let pats: Vec<Option<PathPattern>> = [
            Some(serde_json::json!("/a/b")),
            Some(serde_json::json!("/a/{x}")),
            Some(serde_json::json!({"prefix": "/a"})),
            Some(serde_json::json!({"regex": "/a/[a-z]+"})),
            None,
            Some(serde_json::json!("/a/{*rest}")),
            Some(serde_json::json!("/z")),
        ]
        .into_iter()
        .map(|j| {
            j.map(|j| {
                let spec: PathMatch = serde_json::from_value(j).unwrap();
                PathPattern::compile(&spec, "p", &mut errors).unwrap()
            })
        })
        .collect();
        let index =
            PathIndex::build(pats.iter().enumerate().map(|(i, p)| (i as u32, 0, p.as_ref()))).unwrap();
        let mut out = Candidates::new();
        index.candidates("/a/b", &mut out);
        out.sort_unstable();
        assert_eq!(out.as_slice(), [0, 1, 2, 3, 4, 5]);
        out.clear();
        index.candidates("/a/9/c", &mut out);
        out.sort_unstable();
        assert_eq!(out.as_slice(), [2, 4, 5]);
        out.clear();
        index.candidates("/nothing", &mut out);
        assert_eq!(out.as_slice(), [4]);
    }
}
