//! The `url` predicate: the whole request target, path and query as sent, exact or by an
//! anchored regex. It is WireMock's `url`/`urlPattern`, where `path` and `query` look at the
//! two parts separately. The target is compared in its two pieces, never joined in memory,
//! except by a regex over a long target (see [`UrlMatcher::matches`]).

use regex::Regex;
use smallvec::SmallVec;

use crate::error::{Errors, Place};
use crate::model::UrlMatch;
use crate::request::Request;
use crate::value::anchored_str_regex;

/// A compiled `url` predicate.
#[derive(Debug, Clone)]
pub(crate) enum UrlMatcher {
    /// Split at its first `?` when compiled, so a request's path and query compare in place.
    Exact {
        path: Box<str>,
        query: Option<Box<str>>,
    },
    Regex(Regex),
}

impl UrlMatcher {
    /// Compiles `spec`, pushing errors at `place` on failure.
    pub(crate) fn compile(spec: &UrlMatch, place: &Place<'_>, errors: &mut Errors) -> Option<Self> {
        if !errors.exactly_one(place, &[("exact", spec.exact.is_some()), ("regex", spec.regex.is_some())]) {
            return None;
        }
        if let Some(exact) = &spec.exact {
            if !exact.starts_with('/') {
                errors.push(place.field("exact"), format!("{exact:?} must start with /"));
                return None;
            }
            let (path, query) = match exact.split_once('?') {
                Some((p, q)) => (p, Some(q.into())),
                None => (exact.as_str(), None),
            };
            return Some(UrlMatcher::Exact { path: path.into(), query });
        }
        let pattern = spec.regex.as_deref().expect("exactly one field is set");
        match anchored_str_regex(pattern) {
            Ok(regex) => Some(UrlMatcher::Regex(regex)),
            Err(message) => {
                errors.push(place.field("regex"), message);
                None
            }
        }
    }

    /// Whether the request's target (`path`, then `?query` when it has one) fits.
    pub(crate) fn matches(&self, req: &Request<'_>) -> bool {
        match self {
            UrlMatcher::Exact { path, query } => {
                **path == *req.path
                    && match query {
                        Some(q) => **q == *req.query,
                        None => req.query.is_empty(),
                    }
            }
            UrlMatcher::Regex(regex) => {
                if req.query.is_empty() {
                    return regex.is_match(req.path);
                }
                // The regex needs the target in one piece: joined on the stack unless long.
                let mut joined: SmallVec<[u8; 512]> = SmallVec::new();
                joined.extend_from_slice(req.path.as_bytes());
                joined.push(b'?');
                joined.extend_from_slice(req.query.as_bytes());
                // Both pieces come from a `&str`, and `?` is ASCII.
                std::str::from_utf8(&joined).is_ok_and(|t| regex.is_match(t))
            }
        }
    }

    /// What the predicate requires, in words.
    pub(crate) fn describe(&self) -> String {
        match self {
            UrlMatcher::Exact { path, query: Some(q) } => format!("url is {path}?{q}"),
            UrlMatcher::Exact { path, query: None } => format!("url is {path} (no query)"),
            UrlMatcher::Regex(regex) => format!("url matches /{}/", regex.as_str()),
        }
    }
}

/// The request target as sent, for explanations.
pub(crate) fn target(req: &Request<'_>) -> String {
    match req.query.is_empty() {
        true => req.path.to_owned(),
        false => format!("{}?{}", req.path, req.query),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(json: serde_json::Value) -> Result<UrlMatcher, Vec<String>> {
        let spec: UrlMatch = serde_json::from_value(json).expect("a url spec");
        let mut errors = Errors::default();
        UrlMatcher::compile(&spec, &Place::Root("url"), &mut errors)
            .ok_or_else(|| errors.list.iter().map(|e| e.to_string()).collect())
    }

    fn fits(m: &UrlMatcher, target: &str) -> bool {
        m.matches(&Request::new("GET", target, &[], b""))
    }

    #[test]
    fn exact_compares_path_and_query_as_sent() {
        let m = compile(serde_json::json!({"exact": "/search?q=a&page=2"})).unwrap();
        assert!(fits(&m, "/search?q=a&page=2"));
        assert!(!fits(&m, "/search?page=2&q=a"), "another order is another url");
        assert!(!fits(&m, "/search"));
        let bare = compile(serde_json::json!({"exact": "/search"})).unwrap();
        assert!(fits(&bare, "/search") && !fits(&bare, "/search?q=a"));
    }

    #[test]
    fn regex_sees_the_whole_target_anchored() {
        let m = compile(serde_json::json!({"regex": "/items\\?id=[0-9]+"})).unwrap();
        assert!(fits(&m, "/items?id=42") && !fits(&m, "/items?id=42&x=1") && !fits(&m, "/items"));
        let long = format!("/items?id={}", "9".repeat(2000));
        assert!(fits(&m, &long), "a target longer than the stack buffer");
        let path_only = compile(serde_json::json!({"regex": "/a/.*"})).unwrap();
        assert!(fits(&path_only, "/a/b") && fits(&path_only, "/a/b?c=d"));
    }

    #[test]
    fn bad_specs_name_their_place() {
        assert_eq!(
            compile(serde_json::json!({"exact": "x"})).unwrap_err(),
            ["url.exact: \"x\" must start with /"]
        );
        assert!(compile(serde_json::json!({"regex": "("})).unwrap_err()[0]
            .starts_with("url.regex: invalid regex"));
        assert!(compile(serde_json::json!({})).is_err());
    }
}
