//! JSON Schemas in rules (`body: { json_schema }`, a rule's `validate`): compiled once when the
//! rule set is loaded, never fetched from anywhere.
//!
//! The draft is the one the schema's `$schema` names (4, 6, 7, 2019-09 or 2020-12), 2020-12
//! when it names none. A `$ref` may point only into the schema itself (`#/$defs/pet`): the
//! compiler runs offline, and a reference to another document is an error at load, never a
//! request on the network at serve time. `format` is asserted (an `email` must look like one),
//! as Prism and WireMock do; formats the crate does not know are ignored.

use std::sync::Arc;

use serde_json::Value;

/// A compiled schema; cheap to clone (the validator is shared).
#[derive(Clone)]
pub(crate) struct Schema {
    validator: Arc<jsonschema::Validator>,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

impl Schema {
    /// Compiles `schema`, or says what is wrong with it in one line: the place inside the
    /// schema (a JSON pointer) and the complaint.
    pub(crate) fn compile(schema: &Value) -> Result<Schema, String> {
        if !matches!(schema, Value::Object(_) | Value::Bool(_)) {
            return Err("a JSON Schema is an object or a boolean".to_owned());
        }
        let built = jsonschema::options()
            .offline()
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .build(schema);
        match built {
            Ok(v) => Ok(Schema { validator: Arc::new(v) }),
            Err(e) => Err(describe_schema_error(&e)),
        }
    }

    /// Whether `v` is valid.
    pub(crate) fn is_valid(&self, v: &Value) -> bool {
        self.validator.is_valid(v)
    }

    /// The first failures of `v` (at most `limit`), each as (JSON pointer into `v`, complaint).
    /// Empty when `v` is valid.
    #[allow(dead_code)] // read by rule-level request validation
    pub(crate) fn failures(&self, v: &Value, limit: usize) -> Vec<(String, String)> {
        self.validator
            .iter_errors(v)
            .take(limit)
            .map(|e| (e.instance_path().to_string(), e.masked().to_string()))
            .collect()
    }
}

fn describe_schema_error(e: &jsonschema::ValidationError<'_>) -> String {
    if let jsonschema::error::ValidationErrorKind::Referencing(r) = e.kind() {
        return format!(
            "invalid JSON Schema: {r} (a `$ref` may point only inside the schema, e.g. `#/$defs/name`; \
             other documents are never fetched)"
        );
    }
    let at = e.instance_path().to_string();
    if at.is_empty() {
        format!("invalid JSON Schema: {e}")
    } else {
        format!("invalid JSON Schema at {at}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_remote_ref_is_refused_with_a_reason() {
        let e = Schema::compile(&json!({"$ref": "https://example.com/pet.json"})).expect_err("remote");
        assert!(e.contains("example.com/pet.json"), "{e}");
        assert!(e.contains("never fetched"), "{e}");
    }

    #[test]
    fn a_local_ref_resolves() {
        let s = Schema::compile(&json!({
            "$defs": {"id": {"type": "integer"}},
            "type": "object", "properties": {"id": {"$ref": "#/$defs/id"}}
        }))
        .expect("local refs compile");
        assert!(s.is_valid(&json!({"id": 3})));
        assert!(!s.is_valid(&json!({"id": "3"})));
    }

    #[test]
    fn an_invalid_schema_names_its_place() {
        let e = Schema::compile(&json!({"properties": {"a": {"type": "strin"}}})).expect_err("bad type");
        assert!(e.contains("/properties/a/type"), "{e}");
    }

    #[test]
    fn failures_name_the_pointer_and_the_complaint() {
        let s = Schema::compile(&json!({"type": "object", "required": ["name"],
            "properties": {"age": {"type": "integer"}}}))
        .expect("valid");
        let f = s.failures(&json!({"age": "x"}), 10);
        assert_eq!(f.len(), 2, "{f:?}");
        assert!(f.iter().any(|(at, m)| at == "/age" && m.contains("integer")), "{f:?}");
        assert!(f.iter().any(|(at, m)| at.is_empty() && m.contains("name")), "{f:?}");
    }

    #[test]
    fn formats_are_asserted() {
        let s = Schema::compile(&json!({"type": "string", "format": "email"})).expect("valid");
        assert!(s.is_valid(&json!("a@example.com")));
        assert!(!s.is_valid(&json!("not an address")));
    }
}
