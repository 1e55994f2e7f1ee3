//! Bringing existing mocks over: converters from other tools' formats into a mockplane
//! [`RuleSet`].
//!
//! Each source format has its own module. A converter never drops anything silently: what has
//! no mockplane equivalent is listed in [`Imported::unsupported`] with its place in the source
//! (`mappings[3].request.bodyPatterns[0].matchesXPath`), and the rest is imported. Input that
//! is not the format at all (bad JSON, a missing required field) is an [`ImportError`] and
//! nothing is imported. The result is an ordinary rule set: callers validate it with
//! [`mockplane_rules::validate`] before storing or serving it, as they would a rules file.

#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![warn(missing_docs)]

use mockplane_rules::RuleSet;

/// What a converter made of a source: the rules, and what it could not map.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Imported {
    /// The rule set, ready to validate.
    pub set: RuleSet,
    /// Every part of the source that has no equivalent, in source order.
    pub unsupported: Vec<Unsupported>,
}

/// One part of a source that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Where it is in the source, as a path (`mappings[3].request.bodyPatterns[0]`).
    pub place: String,
    /// What it is and why it has no equivalent.
    pub message: String,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

/// A source that could not be read as its format at all; nothing was imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// A file or folder could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or folder.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The text is not the format, or breaks one of its rules, at a place.
    #[error("{place}: {message}")]
    Invalid {
        /// Where (a path into the document, or a file name).
        place: String,
        /// What is wrong.
        message: String,
    },
}

pub mod wiremock;
