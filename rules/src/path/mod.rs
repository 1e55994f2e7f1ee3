//! Path patterns (exact, prefix, template, regex): parsing, specificity and matching one path.
//! The index that finds a request's candidate rules among many is in [`index`]; the hash table
//! it is built on, in [`flat`].

mod flat;
mod index;
mod prefixes;
mod regexes;

pub(crate) use flat::{Entry, Record};
pub(crate) use index::{Candidates, PathIndex, TemplateHits};
pub(crate) use regexes::{CheckMemo, GatedCandidates, RegexGate};

use regex::Regex;
use smallvec::SmallVec;

use crate::error::{Errors, Place};
use crate::model::{PathMatch, PathMatchSpec};

/// Path parameters captured by a template: name → raw (not decoded) value.
pub type PathParams<'t, 'r> = SmallVec<[(&'t str, &'r str); 4]>;

/// A compiled path pattern.
#[derive(Debug, Clone)]
pub(crate) enum PathPattern {
    Exact(Box<str>),
    Prefix(Box<str>),
    Template(PathTemplate),
    /// `regex` matches what follows `literal`, the text every match starts with (often empty).
    Regex {
        source: Box<str>,
        literal: Box<str>,
        regex: Regex,
    },
}

/// How specific a path pattern is; larger is more specific (the selection order's second key).
pub(crate) type Specificity = (u8, u32);

impl PathPattern {
    /// Whether `other` is the same pattern: of the same kind, from the same text (a
    /// template's segments and a regex are functions of their source).
    pub(crate) fn same_as(&self, other: &PathPattern) -> bool {
        match (self, other) {
            (PathPattern::Exact(a), PathPattern::Exact(b))
            | (PathPattern::Prefix(a), PathPattern::Prefix(b)) => a == b,
            (PathPattern::Template(a), PathPattern::Template(b)) => a.source == b.source,
            (PathPattern::Regex { source: a, .. }, PathPattern::Regex { source: b, .. }) => a == b,
            _ => false,
        }
    }

    pub(crate) fn compile(spec: &PathMatch, path: &Place<'_>, errors: &mut Errors) -> Option<Self> {
        // The place of an error, formatted only when there is one.
        let (kind, text, explicit) = match spec {
            PathMatch::Short(s) if s.contains('{') => ("template", s, false),
            PathMatch::Short(s) => ("exact", s, false),
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
                (kind, text, true)
            }
        };
        let place = || if explicit { format!("{path}.{kind}") } else { path.to_string() };
        if kind != "regex" && !text.starts_with('/') {
            errors.push(place(), format!("a path must start with '/', got {text:?}"));
            return None;
        }
        match kind {
            "exact" => Some(PathPattern::Exact(text.as_str().into())),
            "prefix" => Some(PathPattern::Prefix(text.as_str().into())),
            "template" => match PathTemplate::parse(text) {
                Ok(t) => Some(PathPattern::Template(t)),
                Err(message) => {
                    errors.push(place(), message);
                    None
                }
            },
            _ => {
                let (literal, rest) = split_literal(text).unwrap_or_default();
                let compiled = match rest {
                    Some(rest) => crate::value::anchored_str_regex(&rest),
                    None => crate::value::anchored_str_regex(text),
                };
                match compiled {
                    Ok(regex) => Some(PathPattern::Regex {
                        source: text.as_str().into(),
                        literal: literal.into(),
                        regex,
                    }),
                    Err(message) => {
                        errors.push(place(), message);
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
            PathPattern::Regex { literal, regex, .. } => {
                path.strip_prefix(&**literal).is_some_and(|rest| regex.is_match(rest))
            }
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

/// A path regex that starts with literal text, as `/legacy/orders/[0-9]+` does: that text, and
/// the rest as a regex of its own (`[0-9]+`), which many rules share (one compiled automaton and
/// one warm cache for all of them, instead of one each). `None` when the regex does not start
/// with a literal, or when the rest looks behind it (`^`, `\b`), where splitting would change
/// what matches.
fn split_literal(regex: &str) -> Option<(String, Option<String>)> {
    use regex_syntax::hir::{Hir, HirKind};
    let hir = regex_syntax::Parser::new().parse(regex).ok()?;
    let (first, rest): (&Hir, Vec<Hir>) = match hir.kind() {
        HirKind::Concat(subs) => (subs.first()?, subs[1..].to_vec()),
        HirKind::Literal(_) => (&hir, Vec::new()),
        _ => return None,
    };
    let HirKind::Literal(lit) = first.kind() else { return None };
    let literal = std::str::from_utf8(&lit.0).ok()?.to_owned();
    let rest = Hir::concat(rest);
    if !rest.properties().look_set().is_empty() {
        return None;
    }
    Some((literal, Some(rest.to_string())))
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

    /// The template as written, `/users/{id}`.
    pub(crate) fn source(&self) -> &str {
        &self.source
    }

    /// The names of its parameters (`{name}` and `{*name}`), in order.
    pub(crate) fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) | Segment::CatchAll(n) => Some(&**n),
            Segment::Literal(_) => None,
        })
    }

    /// Captures the parameters of a path known to match.
    pub(crate) fn capture_matched<'t, 'r>(&'t self, path: &'r str, params: &mut PathParams<'t, 'r>) {
        let mut rest = path.strip_prefix('/').unwrap_or(path);
        for seg in &self.segments {
            let (part, tail) = match rest.as_bytes().iter().position(|&b| b == b'/') {
                Some(j) => (&rest[..j], &rest[j + 1..]),
                None => (rest, ""),
            };
            match seg {
                Segment::Literal(_) => {}
                Segment::Param(name) => params.push((name, part)),
                Segment::CatchAll(name) => {
                    params.push((name, rest));
                    return;
                }
            }
            rest = tail;
        }
    }

    pub(crate) fn matches<'t, 'r>(&'t self, path: &'r str, params: &mut PathParams<'t, 'r>) -> bool {
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
    fn path_regexes_split_at_their_literal_start() {
        let split = |r: &str| split_literal(r).map(|(l, rest)| (l, rest.unwrap_or_default()));
        assert_eq!(split("/legacy/orders/[0-9]+"), Some(("/legacy/orders/".into(), "[0-9]+".into())));
        assert_eq!(split("/b"), Some(("/b".into(), "(?:)".into())));
        assert_eq!(split("/a|/b"), None);
        assert_eq!(split("^/a"), None);
        assert_eq!(split("/a\\b"), None, "a word boundary looks behind the split");
        assert_eq!(split(".*"), None);
        for (regex, path, matches) in [
            ("/a+b", "/aab", true),
            ("/a+b", "/b", false),
            ("(?i)/ab", "/AB", true),
            ("/x/[0-9]+", "/x/12", true),
            ("/x/[0-9]+", "/x/12/", false),
            ("/b", "/b", true),
            ("/b", "/bc", false),
            ("/a\\b", "/a", true),
            ("/a\\b", "/ab", false),
        ] {
            let mut errors = Errors::default();
            let spec = PathMatch::Explicit(PathMatchSpec { regex: Some(regex.into()), ..Default::default() });
            let p = PathPattern::compile(&spec, &crate::error::Place::Root("p"), &mut errors).unwrap();
            assert_eq!(p.matches(path, &mut PathParams::new()), matches, "{regex} on {path}");
        }
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
}
