//! Checking a response's examples against its schema at import time.
//!
//! Documents carry examples that break their own schemas (Box's collaboration examples give
//! `created_by` as an array where the schema says object). Served as written, such an example
//! is an answer a client generated from the same document would reject, so the converter
//! checks each JSON example against its media type's schema and serves one that fails only when
//! it is asked for by name (`Prefer: example=NAME`), as Prism does.
//!
//! Only responses that have examples are checked, and a schema is compiled once per import
//! (keyed by its standalone JSON text: many operations share one response schema), so a
//! large document's import stays fast.

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
    /// Each distinct schema once; `None` when it does not compile (its examples are then
    /// served unchecked: a broken schema cannot say an example is wrong).
    compiled: Vec<Option<jsonschema::Validator>>,
    /// Indexes into `compiled` by the standalone schema's JSON text, and by a bare `$ref`.
    by_text: HashMap<String, usize>,
    by_ref: HashMap<String, usize>,
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
        // Most response schemas are a bare `$ref`: known by it, the standalone schema (the
        // components it reaches, copied) is not made again.
        let reference = match schema {
            Value::Object(map) if map.len() == 1 => map.get("$ref").and_then(Value::as_str),
            _ => None,
        };
        let index = match reference.and_then(|r| self.by_ref.get(r)) {
            Some(&i) => i,
            None => {
                let standalone = doc.standalone_schema(schema).ok()?;
                let key = standalone.to_string();
                let i = match self.by_text.get(&key) {
                    Some(&i) => i,
                    None => {
                        // The options the rules engine compiles `validate` schemas with
                        // (rules/src/schema.rs): offline, formats asserted, unknown ones ignored.
                        let built = jsonschema::options()
                            .offline()
                            .should_validate_formats(true)
                            .should_ignore_unknown_formats(true)
                            .build(&standalone)
                            .ok();
                        self.compiled.push(built);
                        self.by_text.insert(key, self.compiled.len() - 1);
                        self.compiled.len() - 1
                    }
                };
                if let Some(r) = reference {
                    self.by_ref.insert(r.to_owned(), i);
                }
                i
            }
        };
        self.compiled[index].as_ref()
    }
}
