//! Reading a rule set from YAML or JSON text, with every structural error and its place.
//!
//! serde stops at the first error. To list them all, the document is first read into a
//! generic JSON value, then each rule is deserialized on its own: a typo in `rules[3]` does not
//! hide another one in `rules[7]`. Semantic checks (regexes, ranges, references) come after, in
//! the compiler, which adds its own errors to the same list.

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::error::{RuleSetError, ValidationError};
use crate::model::{Rule, RuleSet};

/// The text formats a rule set can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// YAML (which also reads most JSON).
    Yaml,
    /// JSON.
    Json,
}

impl Format {
    /// The format a file name suggests: `.json` is JSON, anything else YAML.
    pub fn from_file_name(name: &str) -> Format {
        if name.to_ascii_lowercase().ends_with(".json") {
            Format::Json
        } else {
            Format::Yaml
        }
    }
}

impl RuleSet {
    /// Reads a rule set from YAML text.
    pub fn from_yaml(text: &str) -> Result<RuleSet, RuleSetError> {
        RuleSet::parse(text, Format::Yaml)
    }

    /// Reads a rule set from JSON text.
    pub fn from_json(text: &str) -> Result<RuleSet, RuleSetError> {
        RuleSet::parse(text, Format::Json)
    }

    /// Reads a rule set in the given format, listing every structural error found.
    pub fn parse(text: &str, format: Format) -> Result<RuleSet, RuleSetError> {
        let doc: serde_json::Value = match format {
            Format::Json => serde_json::from_str(text).map_err(|e| {
                one_error(format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column()))
            })?,
            Format::Yaml => {
                if text.trim().is_empty() {
                    return Err(one_error("the document is empty; expected a map with `rules`"));
                }
                serde_yaml_ng::from_str(text).map_err(|e| one_error(format!("invalid YAML: {e}")))?
            }
        };
        RuleSet::from_value(doc)
    }

    /// Reads a rule set from an already-parsed JSON value.
    pub fn from_value(doc: serde_json::Value) -> Result<RuleSet, RuleSetError> {
        let serde_json::Value::Object(mut top) = doc else {
            return Err(one_error(format!(
                "expected a map with `rules` at the top of the document, found {}",
                kind_of(&doc)
            )));
        };
        let mut errors = Vec::new();
        let raw_rules = top.remove("rules");
        let mut set: RuleSet = match typed(serde_json::Value::Object(top), "") {
            Ok(set) => set,
            Err(e) => {
                errors.push(e);
                RuleSet::default()
            }
        };
        match raw_rules {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(items)) => {
                for (i, item) in items.into_iter().enumerate() {
                    match typed::<Rule>(item, &format!("rules[{i}]")) {
                        Ok(rule) => set.rules.push(Arc::new(rule)),
                        Err(e) => errors.push(e),
                    }
                }
            }
            Some(other) => errors.push(ValidationError::new(
                "rules",
                format!("expected a list of rules, found {}", kind_of(&other)),
            )),
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(RuleSetError { errors })
        }
    }

    /// The rule set as YAML text.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(self).expect("the model serializes to YAML")
    }

    /// The rule set as pretty JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the model serializes to JSON")
    }
}

fn typed<T: DeserializeOwned>(value: serde_json::Value, base: &str) -> Result<T, ValidationError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let mut place = base.to_owned();
        for segment in e.path().iter() {
            use serde_path_to_error::Segment;
            match segment {
                Segment::Seq { index } => place.push_str(&format!("[{index}]")),
                Segment::Map { key } => {
                    place = if place.is_empty() { key.clone() } else { crate::error::key_path(&place, key) }
                }
                Segment::Enum { variant } => place.push_str(&format!(".{variant}")),
                Segment::Unknown => {}
            }
        }
        ValidationError::new(place, e.into_inner().to_string())
    })
}

fn one_error(message: impl Into<String>) -> RuleSetError {
    RuleSetError { errors: vec![ValidationError::new("", message)] }
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "nothing",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a map",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PathMatch, ValueMatch};

    #[test]
    fn the_smallest_rules_file_reads() {
        let set = RuleSet::from_yaml(
            "rules:\n  - id: hello\n    match: { method: GET, path: /hello }\n    response: { status: 200, body: \"hi\" }\n",
        )
        .unwrap();
        assert_eq!(set.rules.len(), 1);
        let rule = &set.rules[0];
        assert_eq!(rule.id, "hello");
        assert!(rule.enabled);
        assert_eq!(rule.matcher.path, Some(PathMatch::Short("/hello".into())));
        assert_eq!(rule.response.as_ref().unwrap().body.as_deref(), Some("hi"));
    }

    #[test]
    fn every_structural_error_is_listed_with_its_place() {
        let err = RuleSet::from_yaml(
            r#"
rules:
  - id: a
    match: { path: /a }
    response: { stauts: 200 }
  - id: ok
    response: {}
  - id: b
    match: { headers: { x-token: { equal: abc } } }
    response: {}
  - id: c
    priority: high
"#,
        )
        .unwrap_err();
        let places: Vec<_> = err.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            places,
            ["rules[0].response.stauts", "rules[2].match.headers.x-token.equal", "rules[3].priority"]
        );
        assert!(err.errors[0].message.contains("unknown field `stauts`"), "{err}");
        assert!(err.errors[1].message.contains("unknown field `equal`"), "{err}");
        assert!(err.to_string().starts_with("rule set refused, 3 errors:"));
    }

    #[test]
    fn json_and_yaml_read_the_same_model() {
        let yaml = RuleSet::from_yaml(
            "rules:\n  - id: x\n    match: { query: { q: { regex: 'a.*' } } }\n    response: {}\n",
        )
        .unwrap();
        let json = RuleSet::from_json(
            r#"{"rules":[{"id":"x","match":{"query":{"q":{"regex":"a.*"}}},"response":{}}]}"#,
        )
        .unwrap();
        assert_eq!(yaml, json);
        assert!(matches!(yaml.rules[0].matcher.query["q"], ValueMatch::Spec(_)));
        // And the model round-trips through both.
        assert_eq!(RuleSet::from_yaml(&yaml.to_yaml()).unwrap(), yaml);
        assert_eq!(RuleSet::from_json(&yaml.to_json()).unwrap(), yaml);
    }

    #[test]
    fn documents_of_the_wrong_shape_are_refused_not_panicked_on() {
        for text in ["", "[]", "42", "rules: 7", "rules: [1]", "{", "rules:\n  - {id: [", "\u{0}"] {
            let err = RuleSet::from_yaml(text).unwrap_err();
            assert!(!err.errors.is_empty(), "{text:?}");
        }
        assert!(RuleSet::from_json("{\"rules\": [}").unwrap_err().to_string().contains("line 1"));
    }
}
