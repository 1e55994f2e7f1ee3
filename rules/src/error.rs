//! Errors of a rule set that cannot be compiled: every problem, each with its place.

use std::fmt;

/// One problem in a rule set, at a place such as `rules[3].match.path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Where the problem is: `rules[3].match.headers.x-token.regex`, or `` for the document.
    pub path: String,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl ValidationError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// A rule set was refused. It holds every problem found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RuleSetError {
    /// The problems; never empty.
    pub errors: Vec<ValidationError>,
}

impl fmt::Display for RuleSetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(f, "rule set refused, {n} error{}:", if n == 1 { "" } else { "s" })?;
        for e in &self.errors {
            write!(f, "\n  {e}")?;
        }
        Ok(())
    }
}

impl From<Vec<ValidationError>> for RuleSetError {
    fn from(errors: Vec<ValidationError>) -> Self {
        debug_assert!(!errors.is_empty());
        RuleSetError { errors }
    }
}

/// Collects errors while compiling, with a cheap way to build nested places.
#[derive(Debug, Default)]
pub(crate) struct Errors {
    pub(crate) list: Vec<ValidationError>,
}

impl Errors {
    /// A problem at `path` (a [`Place`], formatted only now, or any text).
    pub(crate) fn push(&mut self, path: impl fmt::Display, message: impl Into<String>) {
        self.list.push(ValidationError::new(path.to_string(), message));
    }
    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }

    /// Checks that exactly one of `fields` (name, whether set) is set; if not, pushes
    /// `set exactly one of a, b, c (found: …)` at `path`. Returns whether exactly one was.
    pub(crate) fn exactly_one(&mut self, path: &Place<'_>, fields: &[(&str, bool)]) -> bool {
        if fields.iter().filter(|(_, on)| *on).count() == 1 {
            return true;
        }
        let found: Vec<&str> = fields.iter().filter(|(_, on)| *on).map(|(name, _)| *name).collect();
        let all: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
        let found = if found.is_empty() { "none".to_owned() } else { found.join(", ") };
        self.push(path, format!("set exactly one of {} (found: {found})", all.join(", ")));
        false
    }
}

/// Joins a place and a map key the way users write it: `headers.x-token`, or
/// `headers["odd key"]` when the key is not a plain identifier.
pub(crate) fn key_path(base: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain {
        format!("{base}.{key}")
    } else {
        format!("{base}[{key:?}]")
    }
}

/// Where a problem is, as a chain of borrowed steps from a root, formatted only when an error
/// is reported (`rules[2].match.headers.x-token.regex`). Compiling a valid rule formats none.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place<'a> {
    /// A place written out: a top-level field (`cors`), or the unit tests' and the fuzz
    /// targets' roots.
    Root(&'a str),
    /// `rules[i]`.
    Rule(usize),
    /// `parent.name`.
    Field(&'a Place<'a>, &'a str),
    /// `parent[i]`.
    Index(&'a Place<'a>, usize),
    /// A map key the way users write it (see [`key_path`]).
    Key(&'a Place<'a>, &'a str),
}

impl<'a> Place<'a> {
    pub(crate) fn field(&'a self, name: &'a str) -> Place<'a> {
        Place::Field(self, name)
    }
    pub(crate) fn index(&'a self, i: usize) -> Place<'a> {
        Place::Index(self, i)
    }
    pub(crate) fn key(&'a self, key: &'a str) -> Place<'a> {
        Place::Key(self, key)
    }
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Root(name) => f.write_str(name),
            Place::Rule(i) => write!(f, "rules[{i}]"),
            Place::Field(parent, name) => write!(f, "{parent}.{name}"),
            Place::Index(parent, i) => write!(f, "{parent}[{i}]"),
            Place::Key(parent, key) => f.write_str(&key_path(&parent.to_string(), key)),
        }
    }
}
