//! Checking a response's examples against its schema at import time.
//!
//! Documents carry examples that break their own schemas (Box's collaboration examples give
//! `created_by` as an array where the schema says object). Served as written, such an example
//! is an answer a client generated from the same document would reject, so the converter
//! checks each JSON example against its media type's schema and serves one that fails only when
//! it is asked for by name (`Prefer: example=NAME`), as Prism does.
//!
//! Generated bodies are checked too ([`ExampleCheck::generate`]). A schema is compiled once per
//! import, known by its text in the document: many operations share one response schema.

use std::collections::HashMap;

use serde_json::Value;

use super::document::Document;
use super::generate::Generator;

/// How many seeded draws are tried when the static choices make a body that breaks its
/// schema (an `oneOf` whose first branch also matches another): each draw is cheap, and Box's
/// one such schema is met within a few.
const DRAWS: u64 = 32;

/// Compiled response schemas of one import.
#[derive(Default)]
pub(crate) struct ExampleCheck {
    /// Each distinct schema once, by its JSON text in the document; `None` when it does not
    /// compile (its examples are then served unchecked: a broken schema cannot say one is wrong).
    compiled: HashMap<String, Option<jsonschema::Validator>>,
}

impl ExampleCheck {
    /// The first way `example` breaks `schema` (`at /entries/0/type (…)`), or `None` when it
    /// is valid or the schema cannot be used to check it.
    pub(crate) fn first_error(&mut self, doc: &Document, schema: &Value, example: &Value) -> Option<String> {
        let validator = self.validator(doc, schema)?;
        let error = validator.iter_errors(example).next()?;
        let at = error.instance_path().to_string();
        let at = if at.is_empty() { "the top level".to_owned() } else { at };
        Some(format!("at {at} ({})", error.masked()))
    }

    /// A body generated from `schema` that is valid against it, and what to report when the
    /// first one made was not: the generator trusts the schemas' own examples and takes the
    /// first `oneOf` branch, and either can make an invalid body. Then seeded draws are tried
    /// (the seed's own choices first, then `seed + 1`, …), and the first valid one is served;
    /// when none is, the first body is served as made, and reported.
    pub(crate) fn generate<'d>(
        &mut self,
        doc: &'d Document,
        schema: &'d Value,
        seed: Option<u64>,
    ) -> (Option<Value>, Option<String>) {
        let Some(value) = Generator::new(doc, seed).value(schema) else { return (None, None) };
        let Some(error) = self.first_error(doc, schema, &value) else { return (Some(value), None) };
        let start = seed.unwrap_or(0).wrapping_add(1);
        for k in 0..DRAWS {
            let draw = start.wrapping_add(k);
            let Some(other) = Generator::new(doc, Some(draw)).value(schema) else { continue };
            if self.first_error(doc, schema, &other).is_none() {
                let complaint = format!(
                    "a body generated from it does not match it {error}; one drawn with seed {draw}, \
                     which does, is served instead"
                );
                return (Some(other), Some(complaint));
            }
        }
        let complaint = format!(
            "a body generated from it does not match it {error}, nor did {DRAWS} seeded draws; it is \
             served as generated"
        );
        (Some(value), Some(complaint))
    }

    /// `schema` compiled (once), or `None` when it cannot be.
    fn validator(&mut self, doc: &Document, schema: &Value) -> Option<&jsonschema::Validator> {
        // Known by the schema's own text, which is short (its `$ref`s are not expanded): the
        // standalone schema (the components it reaches, copied) is made only for a new one.
        let validator = self.compiled.entry(schema.to_string()).or_insert_with(|| {
            let standalone = doc.standalone_schema(schema).ok()?;
            // The options the rules engine compiles `validate` schemas with
            // (rules/src/schema.rs): offline, formats asserted, unknown ones ignored.
            jsonschema::options()
                .offline()
                .should_validate_formats(true)
                .should_ignore_unknown_formats(true)
                .build(&standalone)
                .ok()
        });
        validator.as_ref()
    }
}
