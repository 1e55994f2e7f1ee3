//! Matchers for query parameters, headers and cookies: compiled once, evaluated without
//! allocating against every value the request carries for a name.

use std::cell::RefCell;

use regex::bytes::{Regex, RegexBuilder};
use rustc_hash::FxHashMap;

use crate::error::{Errors, Place};
use crate::model::{ValueMatch, ValueMatchSpec};
use crate::whole::WholeDfa;

/// Bytes kept inline when short: a header name or an `equals` value is usually a few bytes,
/// and reading it from an allocation of its own cost a cache miss per rule checked.
pub(crate) type ShortBytes = smallvec::SmallVec<[u8; 16]>;

/// Compiled regexes are capped so that a hostile pattern is refused rather than built.
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Checks that `pattern` is a regex on its own, before it is wrapped in anchors: otherwise
/// `a)|(?:b` would be accepted and escape them. Parsing is cheap; nothing is compiled here.
pub(crate) fn check_regex_syntax(pattern: &str) -> Result<(), String> {
    regex_syntax::ParserBuilder::new().utf8(false).build().parse(pattern).map(drop).map_err(|e| {
        let text = e.to_string();
        let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
        format!("invalid regex: {}", lines.join(" / "))
    })
}

/// Compiles `pattern` anchored at both ends, with the crate-wide size cap.
pub(crate) fn anchored_regex(pattern: &str, case_insensitive: bool) -> Result<Regex, String> {
    let ci = usize::from(case_insensitive);
    if let Some(regex) = BYTES_REGEXES.with_borrow(|c| c.as_ref().and_then(|c| c[ci].get(pattern).cloned())) {
        return Ok(regex);
    }
    check_regex_syntax(pattern)?;
    let regex = RegexBuilder::new(&format!("^(?:{pattern})$"))
        .case_insensitive(case_insensitive)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| regex_message(&e))?;
    BYTES_REGEXES.with_borrow_mut(|c| {
        if let Some(c) = c {
            c[ci].insert(pattern.into(), regex.clone());
        }
    });
    Ok(regex)
}

/// Compiles a path regex: `pattern` anchored at both ends, on text, with the size cap.
pub(crate) fn anchored_str_regex(pattern: &str) -> Result<regex::Regex, String> {
    if let Some(regex) = STR_REGEXES.with_borrow(|c| c.as_ref().and_then(|c| c.get(pattern).cloned())) {
        return Ok(regex);
    }
    check_regex_syntax(pattern)?;
    let regex = regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| regex_message(&e))?;
    STR_REGEXES.with_borrow_mut(|c| {
        if let Some(c) = c {
            c.insert(pattern.into(), regex.clone());
        }
    });
    Ok(regex)
}

type Cache<T> = RefCell<Option<T>>;

thread_local! {
    /// The regexes compiled by the rule-set compile running on this thread, by pattern. Rule
    /// sets repeat patterns (a tenant header's format on every tenant's rule): each is built
    /// once, and the rules share it, with its lazily built automaton and caches. `None`
    /// outside a [`RegexCacheScope`], so nothing outlives a compile.
    /// Case-sensitive, then case-insensitive.
    static BYTES_REGEXES: Cache<[FxHashMap<Box<str>, Regex>; 2]> = const { RefCell::new(None) };
    static STR_REGEXES: Cache<FxHashMap<Box<str>, regex::Regex>> = const { RefCell::new(None) };
}

/// Shares compiled regexes between the rules of one compile while alive (see `BYTES_REGEXES`).
pub(crate) struct RegexCacheScope {
    owner: bool,
}

impl RegexCacheScope {
    pub(crate) fn new() -> Self {
        let owner = BYTES_REGEXES.with_borrow_mut(|c| {
            let fresh = c.is_none();
            c.get_or_insert_with(Default::default);
            fresh
        });
        if owner {
            STR_REGEXES.with_borrow_mut(|c| *c = Some(FxHashMap::default()));
            crate::whole::open_cache();
        }
        RegexCacheScope { owner }
    }
}

impl Drop for RegexCacheScope {
    fn drop(&mut self) {
        if self.owner {
            BYTES_REGEXES.with_borrow_mut(|c| *c = None);
            STR_REGEXES.with_borrow_mut(|c| *c = None);
            crate::whole::close_cache();
        }
    }
}

/// The regex crate's message on one line, as our errors are one line each.
pub(crate) fn regex_message(e: &regex::Error) -> String {
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().map(str::trim_end).filter(|l| !l.is_empty()).collect();
    format!("invalid regex: {}", lines.join(" / "))
}

/// A compiled value matcher.
#[derive(Debug, Clone)]
pub(crate) enum ValueMatcher {
    Equals {
        value: ShortBytes,
        case_insensitive: bool,
    },
    Contains {
        finder: Box<memchr::memmem::Finder<'static>>,
    },
    /// `contains` ignoring case: a case-insensitive literal regex, so no lowercase copy is made.
    /// `whole`: the same pattern as a bare DFA, when small (see `crate::whole`).
    Pattern {
        regex: Regex,
        whole: Option<WholeDfa>,
        describe: String,
    },
    Present,
    Absent,
    Not(Box<ValueMatcher>),
    And(Box<[ValueMatcher]>),
    Or(Box<[ValueMatcher]>),
    /// As many values as matchers, each matcher holding for one of them.
    HasExactly(Box<[ValueMatcher]>),
    /// At least one value, each matcher holding for one of them.
    Includes(Box<[ValueMatcher]>),
}

impl ValueMatcher {
    /// Compiles `spec`, pushing errors at `path` on failure.
    pub(crate) fn compile(spec: &ValueMatch, path: &Place<'_>, errors: &mut Errors) -> Option<Self> {
        match spec {
            ValueMatch::Equals(v) => Some(ValueMatcher::Equals {
                value: ShortBytes::from_slice(v.as_bytes()),
                case_insensitive: false,
            }),
            ValueMatch::Spec(spec) => compile_spec(spec, path, errors),
        }
    }

    /// Whether the values given for a name satisfy the matcher.
    pub(crate) fn matches<'v, I>(&self, values: I) -> bool
    where
        I: Iterator<Item = &'v [u8]> + Clone,
    {
        match self {
            ValueMatcher::Equals { value, case_insensitive: false } => {
                values.clone().any(|v| v.trim_ascii() == &value[..])
            }
            ValueMatcher::Equals { value, case_insensitive: true } => {
                values.clone().any(|v| v.trim_ascii().eq_ignore_ascii_case(value))
            }
            ValueMatcher::Contains { finder } => values.clone().any(|v| finder.find(v).is_some()),
            ValueMatcher::Pattern { regex, whole, .. } => values.clone().any(|v| {
                let v = v.trim_ascii();
                whole.as_ref().map_or_else(|| regex.is_match(v), |w| w.is_match(v))
            }),
            ValueMatcher::Present => values.clone().next().is_some(),
            ValueMatcher::Absent => values.clone().next().is_none(),
            ValueMatcher::Not(inner) => !inner.matches(values),
            ValueMatcher::And(all) => all.iter().all(|m| m.matches(values.clone())),
            ValueMatcher::Or(any) => any.iter().any(|m| m.matches(values.clone())),
            ValueMatcher::HasExactly(all) => {
                values.clone().count() == all.len() && all.iter().all(|m| m.matches(values.clone()))
            }
            ValueMatcher::Includes(all) => {
                values.clone().next().is_some() && all.iter().all(|m| m.matches(values.clone()))
            }
        }
    }

    /// What the matcher requires, in words: `equals "abc"`.
    pub(crate) fn describe(&self) -> String {
        match self {
            ValueMatcher::Equals { value, case_insensitive } => format!(
                "equals {:?}{}",
                String::from_utf8_lossy(value),
                if *case_insensitive { " (ignoring case)" } else { "" }
            ),
            ValueMatcher::Contains { finder } => {
                format!("contains {:?}", String::from_utf8_lossy(finder.needle()))
            }
            ValueMatcher::Pattern { describe, .. } => describe.clone(),
            ValueMatcher::Present => "is present".into(),
            ValueMatcher::Absent => "is absent".into(),
            ValueMatcher::Not(inner) => format!("not ({})", inner.describe()),
            ValueMatcher::And(list) => describe_list("all of", list),
            ValueMatcher::Or(list) => describe_list("any of", list),
            ValueMatcher::HasExactly(list) => describe_list("exactly the values", list),
            ValueMatcher::Includes(list) => describe_list("values including", list),
        }
    }
}

fn describe_list(what: &str, list: &[ValueMatcher]) -> String {
    let parts: Vec<String> = list.iter().map(ValueMatcher::describe).collect();
    format!("{what} ({})", parts.join("; "))
}

/// Compiles the matchers of `and`, `or`, `has_exactly` or `includes` (at least one).
fn compile_list(list: &[ValueMatch], path: &Place<'_>, errors: &mut Errors) -> Option<Box<[ValueMatcher]>> {
    if list.is_empty() {
        errors.push(path, "needs at least one matcher");
        return None;
    }
    let before = errors.len();
    let out: Vec<ValueMatcher> = list
        .iter()
        .enumerate()
        .filter_map(|(i, m)| ValueMatcher::compile(m, &path.index(i), errors))
        .collect();
    (errors.len() == before).then(|| out.into_boxed_slice())
}

fn compile_spec(spec: &ValueMatchSpec, path: &Place<'_>, errors: &mut Errors) -> Option<ValueMatcher> {
    let one = errors.exactly_one(
        path,
        &[
            ("equals", spec.equals.is_some()),
            ("contains", spec.contains.is_some()),
            ("regex", spec.regex.is_some()),
            ("present", spec.present.is_some()),
            ("absent", spec.absent.is_some()),
            ("not", spec.not.is_some()),
            ("and", spec.and.is_some()),
            ("or", spec.or.is_some()),
            ("has_exactly", spec.has_exactly.is_some()),
            ("includes", spec.includes.is_some()),
        ],
    );
    if !one {
        return None;
    }
    if spec.case_insensitive && spec.equals.is_none() && spec.contains.is_none() {
        errors.push(
            format!("{path}.case_insensitive"),
            "only applies to equals and contains (for a regex, write (?i) in it)",
        );
        return None;
    }
    let ci = spec.case_insensitive;
    if let Some(v) = &spec.equals {
        return Some(ValueMatcher::Equals {
            value: ShortBytes::from_slice(v.as_bytes()),
            case_insensitive: ci,
        });
    }
    if let Some(v) = &spec.contains {
        if v.is_empty() {
            errors.push(format!("{path}.contains"), "must not be empty (use present: true)");
            return None;
        }
        if ci {
            let regex = RegexBuilder::new(&regex::escape(v))
                .case_insensitive(true)
                .build()
                .expect("an escaped literal is a valid regex");
            // A search anywhere, not a whole-string match: no DFA of `crate::whole`.
            return Some(ValueMatcher::Pattern {
                regex,
                whole: None,
                describe: format!("contains {v:?} (ignoring case)"),
            });
        }
        return Some(ValueMatcher::Contains {
            finder: Box::new(memchr::memmem::Finder::new(v.as_bytes()).into_owned()),
        });
    }
    if let Some(pattern) = &spec.regex {
        return match anchored_regex(pattern, false) {
            Ok(regex) => Some(ValueMatcher::Pattern {
                whole: WholeDfa::new(regex.as_str(), false, false),
                regex,
                describe: format!("matches /{pattern}/"),
            }),
            Err(message) => {
                errors.push(format!("{path}.regex"), message);
                None
            }
        };
    }
    if let Some(present) = spec.present {
        if !present {
            errors.push(format!("{path}.present"), "only `present: true` is meaningful; use `absent: true`");
            return None;
        }
        return Some(ValueMatcher::Present);
    }
    if let Some(absent) = spec.absent {
        if !absent {
            errors.push(format!("{path}.absent"), "only `absent: true` is meaningful; use `present: true`");
            return None;
        }
        return Some(ValueMatcher::Absent);
    }
    type MakeList = fn(Box<[ValueMatcher]>) -> ValueMatcher;
    let lists: [(&str, &Option<Vec<ValueMatch>>, MakeList); 4] = [
        ("and", &spec.and, ValueMatcher::And),
        ("or", &spec.or, ValueMatcher::Or),
        ("has_exactly", &spec.has_exactly, ValueMatcher::HasExactly),
        ("includes", &spec.includes, ValueMatcher::Includes),
    ];
    for (field, list, make) in lists {
        if let Some(list) = list {
            return compile_list(list, &path.field(field), errors).map(make);
        }
    }
    let inner = spec.not.as_ref().expect("exactly one operator is set");
    ValueMatcher::compile(inner, &path.field("not"), errors).map(|m| ValueMatcher::Not(Box::new(m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(json: serde_json::Value) -> Result<ValueMatcher, Vec<String>> {
        let spec: ValueMatch = serde_json::from_value(json).unwrap();
        let mut errors = Errors::default();
        ValueMatcher::compile(&spec, &Place::Root("m"), &mut errors)
            .ok_or_else(|| errors.list.iter().map(|e| e.to_string()).collect())
    }

    fn check(m: &ValueMatcher, values: &[&str]) -> bool {
        m.matches(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn operators_hold_against_any_of_several_values() {
        let eq = compile(serde_json::json!("abc")).unwrap();
        assert!(check(&eq, &["x", "abc"]));
        assert!(!check(&eq, &["ABC"]));
        assert!(!check(&eq, &[]));
        let ci = compile(serde_json::json!({"equals": "abc", "case_insensitive": true})).unwrap();
        assert!(check(&ci, &["ABC"]));
        let contains = compile(serde_json::json!({"contains": "bc"})).unwrap();
        assert!(check(&contains, &["xbcx"]) && !check(&contains, &["BC"]));
        let contains_ci = compile(serde_json::json!({"contains": "b.c", "case_insensitive": true})).unwrap();
        assert!(check(&contains_ci, &["xB.Cx"]) && !check(&contains_ci, &["xbxc"]));
        let re = compile(serde_json::json!({"regex": "[0-9]+"})).unwrap();
        assert!(check(&re, &["123"]) && !check(&re, &["123a"]), "regexes are anchored");
        let present = compile(serde_json::json!({"present": true})).unwrap();
        assert!(check(&present, &[""]) && !check(&present, &[]));
        let absent = compile(serde_json::json!({"absent": true})).unwrap();
        assert!(!check(&absent, &[""]) && check(&absent, &[]));
        let not = compile(serde_json::json!({"not": {"equals": "a"}})).unwrap();
        assert!(check(&not, &["b"]) && check(&not, &[]) && !check(&not, &["b", "a"]));
    }

    #[test]
    fn lists_combine_matchers_over_all_the_values() {
        let and = compile(serde_json::json!({"and": [{"contains": "a"}, {"contains": "b"}]})).unwrap();
        assert!(check(&and, &["ab"]) && check(&and, &["a", "b"]) && !check(&and, &["a"]));
        let or = compile(serde_json::json!({"or": ["x", {"regex": "[0-9]+"}]})).unwrap();
        assert!(check(&or, &["x"]) && check(&or, &["42"]) && !check(&or, &["y"]));
        let exactly = compile(serde_json::json!({"has_exactly": ["a", "b"]})).unwrap();
        assert!(check(&exactly, &["b", "a"]), "in any order");
        assert!(!check(&exactly, &["a"]) && !check(&exactly, &["a", "b", "c"]) && !check(&exactly, &[]));
        let includes = compile(serde_json::json!({"includes": ["a", "b"]})).unwrap();
        assert!(
            check(&includes, &["c", "b", "a"]) && !check(&includes, &["a", "c"]) && !check(&includes, &[])
        );
        let err = compile(serde_json::json!({"includes": []})).unwrap_err();
        assert_eq!(err, ["m.includes: needs at least one matcher"]);
        let err = compile(serde_json::json!({"has_exactly": ["a", {"regex": "("}]})).unwrap_err();
        assert!(err[0].starts_with("m.has_exactly[1].regex: invalid regex"), "{err:?}");
    }

    #[test]
    fn bad_specs_name_their_place() {
        assert_eq!(
            compile(serde_json::json!({"equals": "a", "regex": "b"})).unwrap_err(),
            ["m: set exactly one of equals, contains, regex, present, absent, not, and, or, has_exactly, includes (found: equals, regex)"]
        );
        let err = compile(serde_json::json!({"not": {"regex": "(unclosed"}})).unwrap_err();
        assert!(err[0].starts_with("m.not.regex: invalid regex:"), "{err:?}");
        assert!(compile(serde_json::json!({"regex": "a", "case_insensitive": true})).is_err());
        assert!(compile(serde_json::json!({"present": false})).is_err());
        assert!(compile(serde_json::json!({})).is_err());
        assert!(compile(serde_json::json!({"regex": "a{1000}{1000}"})).is_err(), "size-capped");
        assert!(compile(serde_json::json!({"regex": "a)|(?:b"})).is_err(), "cannot escape the anchors");
    }
}
