//! A response template's `{{request.path.NAME}}` checked against the rule's path. A name the
//! path does not capture would render as empty text on every request (a typo such as
//! `request.path.idd` for `/users/{id}` looks like a working mock until someone reads the
//! answer), so it is refused when the rules are loaded, with its place, its line and column,
//! and the parameters the path does have.

use crate::error::{Errors, Place};
use crate::path::PathPattern;
use crate::template::Template;

/// What a rule's path captures, as the templates of its responses see it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PathScope<'a> {
    /// The rule's path did not compile (that error is listed already): nothing to check against.
    Unknown,
    /// The rule has no `match.path`.
    NoPath,
    /// The rule's compiled path.
    Pattern(&'a PathPattern),
}

impl<'a> PathScope<'a> {
    /// The scope of a rule whose `match.path` is `spec_given` (whether one was written) and
    /// compiled to `compiled`.
    pub(crate) fn of(spec_given: bool, compiled: Option<&'a PathPattern>) -> Self {
        match (spec_given, compiled) {
            (false, _) => PathScope::NoPath,
            (true, None) => PathScope::Unknown,
            (true, Some(p)) => PathScope::Pattern(p),
        }
    }
}

/// Lists an error at `place` for each path parameter `template` reads that `scope` does not
/// capture; false when there was any.
pub(crate) fn check(
    template: &Template,
    scope: PathScope<'_>,
    place: &Place<'_>,
    errors: &mut Errors,
) -> bool {
    let mut ok = true;
    for used in template.path_params() {
        let name = &*used.name;
        let problem = match scope {
            PathScope::Unknown => return true,
            PathScope::Pattern(PathPattern::Template(t)) => {
                if t.param_names().any(|n| n == name) {
                    continue;
                }
                let names: Vec<&str> = t.param_names().collect();
                let has = if names.is_empty() { "it has none".to_owned() } else { names.join(", ") };
                format!("`request.path.{name}` names no parameter of the rule's path {:?} (its parameters: {has})", t.source())
            }
            PathScope::Pattern(other) => format!(
                "`request.path.{name}` reads a path parameter, but the rule's path is not a template ({}); \
                 use a template such as \"/users/{{id}}\", or `request.path.[n]` for the n-th segment",
                other.describe()
            ),
            PathScope::NoPath => format!(
                "`request.path.{name}` reads a path parameter, but the rule has no `match.path`; \
                 add a template such as \"/users/{{id}}\", or use `request.path.[n]` for the n-th segment"
            ),
        };
        errors
            .push(place, format!("template error at line {}, column {}: {problem}", used.line, used.column));
        ok = false;
    }
    ok
}
