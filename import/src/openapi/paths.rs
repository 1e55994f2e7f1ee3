//! Matching an operation's requests: its path template as our path matcher, and the
//! `Prefer` header regexes that pick a response or an example.

use mockplane_rules::model::{PathMatch, PathMatchSpec};

/// The document's path parameter names and ours: a name that is not letters, digits and `_`
/// gets one that is (`pet-id` → `pet_id`). `None` for a path parameter that fills only part of
/// a segment (`/files/{name}.json`), matched by a regex and not captured.
pub(super) struct PathNames(Vec<(String, Option<String>)>);

impl PathNames {
    pub(super) fn renamed(&self, name: &str) -> Option<String> {
        self.0.iter().find(|(n, _)| n == name).and_then(|(_, ours)| ours.clone())
    }
}

/// The document's path as our path matcher: a template when every parameter fills a whole
/// segment, else a regex.
pub(super) fn path_pattern(path: &str) -> (PathMatch, PathNames) {
    let mut names = Vec::new();
    let mut whole = true;
    let mut template = String::new();
    for segment in path.trim_start_matches('/').split('/') {
        template.push('/');
        let inner = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
        match inner {
            Some(name) if !name.contains(['{', '}']) => {
                let mut ours: String =
                    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
                if ours.is_empty() || ours.starts_with(|c: char| c.is_ascii_digit()) {
                    ours.insert(0, '_');
                }
                while names.iter().any(|(_, o): &(String, Option<String>)| o.as_deref() == Some(&ours)) {
                    ours.push('_');
                }
                template.push('{');
                template.push_str(&ours);
                template.push('}');
                names.push((name.to_owned(), Some(ours)));
            }
            _ if segment.contains('{') => {
                whole = false;
                template.push_str(segment);
            }
            _ => template.push_str(segment),
        }
    }
    if whole {
        return (PathMatch::Short(template), PathNames(names));
    }
    // A regex: literal text escaped, each `{name}` one or more characters of its segment.
    let mut regex = String::new();
    let mut rest = path;
    names.clear();
    while let Some(open) = rest.find('{') {
        regex.push_str(&regex_escape(&rest[..open]));
        let Some(close) = rest[open..].find('}') else { break };
        names.push((rest[open + 1..open + close].to_owned(), None));
        regex.push_str("[^/]+");
        rest = &rest[open + close + 1..];
    }
    regex.push_str(&regex_escape(rest));
    (PathMatch::Explicit(PathMatchSpec { regex: Some(regex), ..PathMatchSpec::default() }), PathNames(names))
}

fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A regex for a `Prefer` header naming both `key=value`s of `pairs` (or the one), in any
/// order, among other preferences (`Prefer: code=404, example=cat`; `;` separates too, a value
/// may be quoted, keys are case-insensitive).
pub(super) fn prefer(pairs: &[(&str, &str)]) -> String {
    const SEP: &str = r"[,;\s]";
    let pair = |(k, v): &(&str, &str)| format!("(?i:{k})=\"?{}\"?", regex_escape(v));
    let inner = match pairs {
        [a, b] => {
            let (a, b) = (pair(a), pair(b));
            format!("(?:{a}{SEP}(?:.*{SEP})?{b}|{b}{SEP}(?:.*{SEP})?{a})")
        }
        _ => pairs.iter().map(pair).collect::<Vec<_>>().join("|"),
    };
    format!("(?:.*{SEP})?{inner}(?:{SEP}.*)?")
}
