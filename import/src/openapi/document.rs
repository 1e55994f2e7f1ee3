//! Reading an OpenAPI document: its version, local `$ref`s, and its schemas as standalone JSON
//! Schemas.
//!
//! Only references into the document itself (`#/components/...`) are followed; a chain of
//! references is followed up to [`MAX_REF_CHAIN`] links, so a reference cycle is an error, not
//! a hang. A schema handed to the rules engine carries the components it reaches (under
//! `components/schemas`, where its own `$ref`s point), so a recursive schema stays a reference
//! and is never expanded.
//!
//! OpenAPI 3.0's schema dialect is turned into JSON Schema 2020-12 on the way: `nullable: true`
//! adds `null` to `type` (and `enum`), and the boolean `exclusiveMinimum`/`exclusiveMaximum`
//! become numeric bounds. 3.1 schemas are JSON Schema already.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::ImportError;

/// The most `$ref` links followed from one place.
pub(crate) const MAX_REF_CHAIN: usize = 32;

/// Which OpenAPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 3.0.x: its own schema dialect.
    V30,
    /// 3.1.x: JSON Schema 2020-12.
    V31,
}

/// A parsed OpenAPI document.
#[derive(Debug, Clone)]
pub struct Document {
    /// The whole document.
    pub root: Value,
    /// Its version.
    pub version: Version,
}

impl Document {
    /// Parses JSON or YAML text and checks it is OpenAPI 3.0 or 3.1.
    pub fn parse(text: &str) -> Result<Document, ImportError> {
        let trimmed = text.trim_start();
        let root: Value = if trimmed.starts_with('{') {
            serde_json::from_str(text).map_err(|e| invalid("(document)", format!("not JSON: {e}")))?
        } else {
            serde_yaml_ng::from_str(text).map_err(|e| invalid("(document)", format!("not YAML: {e}")))?
        };
        if !root.is_object() {
            return Err(invalid("(document)", "an OpenAPI document is an object"));
        }
        let version = match root.get("openapi").and_then(Value::as_str) {
            Some(v) if v.starts_with("3.0") => Version::V30,
            Some(v) if v.starts_with("3.1") => Version::V31,
            Some(v) => {
                return Err(invalid("openapi", format!("version {v:?} is not supported (3.0 and 3.1 are)")))
            }
            None if root.get("swagger").is_some() => {
                return Err(invalid("swagger", "Swagger 2.0 is not supported: convert it to OpenAPI 3 first"))
            }
            None => return Err(invalid("openapi", "missing: this is not an OpenAPI document")),
        };
        Ok(Document { root, version })
    }

    /// The value at a local reference (`#/components/schemas/Pet`).
    pub fn pointer(&self, reference: &str) -> Option<&Value> {
        let pointer = reference.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// `value`, or what its `$ref` chain leads to. `place` names the value in errors.
    pub fn deref<'a>(&'a self, value: &'a Value, place: &str) -> Result<&'a Value, String> {
        let mut current = value;
        for _ in 0..MAX_REF_CHAIN {
            let Some(reference) = current.get("$ref").and_then(Value::as_str) else { return Ok(current) };
            if !reference.starts_with('#') {
                return Err(format!(
                    "{place}: $ref {reference:?} points outside the document, which is not read"
                ));
            }
            current = self
                .pointer(reference)
                .ok_or_else(|| format!("{place}: $ref {reference:?} points at nothing"))?;
        }
        Err(format!("{place}: $ref chain longer than {MAX_REF_CHAIN} links (a cycle?)"))
    }

    /// `schema` as a standalone JSON Schema (2020-12): the 3.0 dialect converted, and the
    /// components it reaches attached under `components/schemas` so its `$ref`s resolve. A
    /// reference outside the document is an error.
    pub fn standalone_schema(&self, schema: &Value) -> Result<Value, String> {
        let mut reached = BTreeSet::new();
        self.collect_refs(schema, &mut reached)?;
        let mut out = self.dialect(schema);
        if !reached.is_empty() {
            let mut components = Map::new();
            for reference in &reached {
                let target =
                    self.pointer(reference).ok_or_else(|| format!("$ref {reference:?} points at nothing"))?;
                insert_at(&mut components, reference, self.dialect(target));
            }
            // `true` / `false` need no components.
            if let Value::Object(map) = &mut out {
                map.insert("components".into(), components.remove("components").unwrap_or_default());
            }
        }
        Ok(out)
    }

    /// Every local reference reachable from `value`, through the references themselves.
    fn collect_refs(&self, value: &Value, reached: &mut BTreeSet<String>) -> Result<(), String> {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(reference)) = map.get("$ref") {
                    if !reference.starts_with('#') {
                        return Err(format!(
                            "$ref {reference:?} points outside the document, which is not read"
                        ));
                    }
                    if reached.insert(reference.clone()) {
                        let target = self
                            .pointer(reference)
                            .ok_or_else(|| format!("$ref {reference:?} points at nothing"))?;
                        self.collect_refs(target, reached)?;
                    }
                }
                for (key, v) in map {
                    // Examples are data, not schemas: a `$ref` member there is not a reference.
                    if key != "example"
                        && key != "examples"
                        && key != "default"
                        && key != "const"
                        && key != "enum"
                    {
                        self.collect_refs(v, reached)?;
                    }
                }
                Ok(())
            }
            Value::Array(items) => items.iter().try_for_each(|v| self.collect_refs(v, reached)),
            _ => Ok(()),
        }
    }

    /// A schema in JSON Schema 2020-12 terms (a copy; 3.1 schemas are unchanged).
    pub fn dialect(&self, schema: &Value) -> Value {
        match self.version {
            Version::V31 => schema.clone(),
            Version::V30 => from_30(schema),
        }
    }
}

/// OpenAPI 3.0's schema dialect to JSON Schema 2020-12.
fn from_30(schema: &Value) -> Value {
    let Value::Object(map) = schema else { return schema.clone() };
    let mut out = Map::with_capacity(map.len());
    for (key, v) in map {
        let converted = match key.as_str() {
            "properties" | "patternProperties" | "$defs" | "definitions" => match v {
                Value::Object(props) => {
                    Value::Object(props.iter().map(|(k, s)| (k.clone(), from_30(s))).collect())
                }
                other => other.clone(),
            },
            "items"
            | "additionalProperties"
            | "not"
            | "contains"
            | "propertyNames"
            | "if"
            | "then"
            | "else" => from_30(v),
            "allOf" | "anyOf" | "oneOf" => match v {
                Value::Array(list) => Value::Array(list.iter().map(from_30).collect()),
                other => other.clone(),
            },
            // `$ref` siblings are ignored in 3.0; JSON Schema 2020-12 would apply them.
            _ if map.contains_key("$ref") => continue,
            "nullable" | "discriminator" | "xml" | "externalDocs" | "example" => continue,
            _ => v.clone(),
        };
        out.insert(key.clone(), converted);
    }
    if let Some(r) = map.get("$ref") {
        out.insert("$ref".into(), r.clone());
        return Value::Object(out);
    }
    for (flag, bound) in [("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")] {
        match out.get(flag) {
            Some(Value::Bool(true)) => {
                if let Some(limit) = out.remove(bound) {
                    out.insert(flag.into(), limit);
                } else {
                    out.remove(flag);
                }
            }
            Some(Value::Bool(false)) => {
                out.remove(flag);
            }
            _ => {}
        }
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        match out.get_mut("type") {
            Some(Value::String(t)) => {
                let t = std::mem::take(t);
                out.insert("type".into(), Value::Array(vec![Value::String(t), Value::String("null".into())]));
            }
            Some(Value::Array(list)) if !list.iter().any(|t| t == "null") => {
                list.push(Value::String("null".into()))
            }
            _ => {}
        }
        if let Some(Value::Array(list)) = out.get_mut("enum") {
            if !list.contains(&Value::Null) {
                list.push(Value::Null);
            }
        }
    }
    Value::Object(out)
}

/// Puts `value` into `root` at the place a local reference names (`#/components/schemas/Pet`).
fn insert_at(root: &mut Map<String, Value>, reference: &str, value: Value) {
    let parts: Vec<String> = reference
        .trim_start_matches('#')
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, parents)) = parts.split_last() else { return };
    let mut node = root;
    for p in parents {
        let entry = node.entry(p.clone()).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        node = entry.as_object_mut().expect("made an object just above");
    }
    // A reference into another reached schema (`…/Pet/properties/id`) keeps the larger one.
    node.entry(last.clone()).or_insert(value);
}

pub(crate) fn invalid(place: impl Into<String>, message: impl Into<String>) -> ImportError {
    ImportError::Invalid { place: place.into(), message: message.into() }
}
