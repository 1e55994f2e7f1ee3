//! Reading a rule set from YAML or JSON text, with every error and its place.
//!
//! serde stops at the first error. To list them all, the document is first read into a
//! generic JSON value, then each rule is deserialized on its own: a typo in `rules[3]` does not
//! hide another one in `rules[7]`. Within one part (a rule, or the top-level fields), an error
//! is listed and the map entry it is in removed from the value, then the part is read again:
//! each unknown field, wrong type or bad variant is listed once (up to [`MAX_SHAPE_ERRORS`]).
//!
//! Semantic checks (regexes, ranges, references) come after, in the compiler, which adds its own
//! errors to the same list. When the shape is wrong somewhere, the rule set is refused here, but
//! not before the rules that read cleanly are compiled too, so their meaning errors are listed
//! in the same refusal (see `meaning_errors`).

use std::path::Path;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{RuleSetError, ValidationError};
use crate::model::{RequestMatch, Response, Rule, RuleSet};
use crate::table::{CompileOptions, RuleTable};

mod brace_hint;

/// The `format` a versioned rules document carries (`mockplane export` writes it). The rule
/// set's fields follow it at the top level, so a versioned document is a rules file too.
pub const DOCUMENT_FORMAT: &str = "mockplane/v1";

/// Every `format` this build reads. A document without `format` is read as the current one.
pub const FORMATS_READ: &[&str] = &[DOCUMENT_FORMAT];

/// A rule set behind its `format` key, as it is written out.
#[derive(serde::Serialize)]
struct Document<'a> {
    format: &'static str,
    #[serde(flatten)]
    set: &'a RuleSet,
}

/// Refuses a `format` this build does not read, naming the ones it does.
fn check_format(format: &Value) -> Result<(), RuleSetError> {
    let reads = FORMATS_READ.join(", ");
    match format.as_str() {
        Some(f) if FORMATS_READ.contains(&f) => Ok(()),
        Some(f) => Err(RuleSetError::from(vec![ValidationError::new(
            "format",
            format!("{f:?} is not a format this build of mockplane reads (it reads {reads}); a newer mockplane may"),
        )])),
        None => Err(RuleSetError::from(vec![ValidationError::new(
            "format",
            format!("expected a format name such as {DOCUMENT_FORMAT:?}, found {}", kind_of(format)),
        )])),
    }
}

/// At most this many shape errors are listed for one rule, or for the top-level fields.
pub const MAX_SHAPE_ERRORS: usize = 20;

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
        let doc: Value = match format {
            Format::Json => serde_json::from_str(text).map_err(|e| {
                one_error(format!("invalid JSON at line {}, column {}: {e}", e.line(), e.column()))
            })?,
            Format::Yaml => {
                if text.trim().is_empty() {
                    return Err(one_error("the document is empty; expected a map with `rules`"));
                }
                serde_yaml_ng::from_str(text).map_err(|e| {
                    let hint = e.location().and_then(|at| brace_hint::brace_hint(text, at.line()));
                    match hint {
                        Some(hint) => one_error(format!("invalid YAML: {e}; {hint}")),
                        None => one_error(format!("invalid YAML: {e}")),
                    }
                })?
            }
        };
        RuleSet::from_value(doc)
    }

    /// Reads a rule set from an already-parsed JSON value.
    ///
    /// Refused with every shape error found (several per rule, each with its place) and, when
    /// there is any, with the meaning errors of the rules that read cleanly as well.
    pub fn from_value(doc: Value) -> Result<RuleSet, RuleSetError> {
        let Value::Object(mut top) = doc else {
            return Err(one_error(format!(
                "expected a map with `rules` at the top of the document, found {}",
                kind_of(&doc)
            )));
        };
        if let Some(format) = top.remove("format") {
            // A document of another format version is refused before its fields are read: what
            // a later version added would only show up as a list of unknown fields.
            check_format(&format)?;
        }
        let raw_rules = top.remove("rules");
        let mut top = Value::Object(top);
        let read = read_shaped::<RuleSet>(&mut top, "");
        let mut errors = read.errors;
        // The meaning checks read `variables` and `upstreams`; if part of them was dropped, they
        // would report references to what was dropped.
        let context_intact = !read
            .removed
            .iter()
            .any(|path| matches!(path.first(), Some(Step::Key(k)) if k == "variables" || k == "upstreams"));
        let mut set = read.value.unwrap_or_default();
        // Each rule as read, or the id of one that was not (when it could be read).
        let mut rules: Vec<Result<Arc<Rule>, Option<String>>> = Vec::new();
        match raw_rules {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                rules.reserve_exact(items.len());
                for (i, mut item) in items.into_iter().enumerate() {
                    let id = item.get("id").and_then(Value::as_str).map(str::to_owned);
                    let read = read_shaped::<Rule>(&mut item, &format!("rules[{i}]"));
                    match read.value {
                        Some(rule) if read.errors.is_empty() => rules.push(Ok(Arc::new(rule))),
                        _ => {
                            errors.extend(read.errors);
                            rules.push(Err(id));
                        }
                    }
                }
            }
            Some(other) => errors.push(ValidationError::new(
                "rules",
                format!("expected a list of rules, found {}", kind_of(&other)),
            )),
        }
        if errors.is_empty() {
            set.rules = rules.into_iter().flatten().collect();
            return Ok(set);
        }
        if context_intact {
            errors.extend(meaning_errors(set, &rules));
        }
        // Document order: the top-level fields first, then rule by rule (stable: within a
        // rule, its shape errors before its meaning errors).
        errors.sort_by_key(|e| rule_index(&e.path).map_or(0, |i| i + 1));
        Err(RuleSetError { errors })
    }

    /// The rule set as a versioned document in YAML: `format: mockplane/v1` first, then the
    /// rule set, as `mockplane export` writes it.
    pub fn to_document_yaml(&self) -> String {
        serde_yaml_ng::to_string(&Document { format: DOCUMENT_FORMAT, set: self })
            .expect("the model serializes to YAML")
    }

    /// [`RuleSet::to_document_yaml`] in pretty JSON.
    pub fn to_document_json(&self) -> String {
        serde_json::to_string_pretty(&Document { format: DOCUMENT_FORMAT, set: self })
            .expect("the model serializes to JSON")
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

/// One step of a path into the document, as serde reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
    /// An enum variant or an unknown step: not a place in the generic value.
    Other,
}

/// A part of the document read as `T`, with every shape error found in it.
struct Shaped<T> {
    /// The part as read once the entries in error were removed (`None` if it never read).
    value: Option<T>,
    errors: Vec<ValidationError>,
    /// The map entries removed from the part, by path.
    removed: Vec<Vec<Step>>,
}

/// Reads `value` as `T`. On an error, lists it, removes the map entry it is in (the unknown
/// field itself, or the field whose value has the wrong type or variant) and reads again, until
/// the part reads, or the error is not in a map entry, or [`MAX_SHAPE_ERRORS`] are listed.
/// A field reported missing because it was removed is not listed again; the entry holding it
/// goes instead. Every round removes an entry, so this ends.
fn read_shaped<T: DeserializeOwned>(value: &mut Value, base: &str) -> Shaped<T> {
    let mut errors = Vec::new();
    let mut removed: Vec<Vec<Step>> = Vec::new();
    loop {
        let (steps, message) = match deserialize_at::<T>(value) {
            Ok(v) => return Shaped { value: Some(v), errors, removed },
            Err(e) => e,
        };
        let follow_on = missing_field(&message).is_some_and(|name| {
            removed.iter().any(|r| {
                r.len() == steps.len() + 1
                    && r.starts_with(&steps)
                    && r.last() == Some(&Step::Key(name.into()))
            })
        });
        if !follow_on {
            if errors.len() == MAX_SHAPE_ERRORS {
                errors.push(ValidationError::new(
                    base,
                    format!(
                        "more errors in the shape of this part; only the first {MAX_SHAPE_ERRORS} are listed"
                    ),
                ));
                break;
            }
            errors.push(ValidationError::new(place(base, &steps), message));
        }
        let Some(cut) = steps.iter().rposition(|s| matches!(s, Step::Key(_))) else { break };
        let entry = &steps[..=cut];
        if !remove_entry(value, entry) {
            break;
        }
        removed.push(entry.to_vec());
    }
    Shaped { value: None, errors, removed }
}

/// Deserializes `T` from `value`, or tells where and why not.
fn deserialize_at<T: DeserializeOwned>(value: &Value) -> Result<T, (Vec<Step>, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        use serde_path_to_error::Segment;
        let steps = e
            .path()
            .iter()
            .map(|segment| match segment {
                Segment::Seq { index } => Step::Index(*index),
                Segment::Map { key } => Step::Key(key.clone()),
                Segment::Enum { .. } | Segment::Unknown => Step::Other,
            })
            .collect();
        (steps, e.into_inner().to_string())
    })
}

/// `rules[3].match.headers.x-token`, from `rules[3]` and the steps below it.
fn place(base: &str, steps: &[Step]) -> String {
    let mut place = base.to_owned();
    for step in steps {
        match step {
            Step::Index(i) => place.push_str(&format!("[{i}]")),
            Step::Key(key) if place.is_empty() => place = key.clone(),
            Step::Key(key) => place = crate::error::key_path(&place, key),
            Step::Other => {}
        }
    }
    place
}

/// The name in serde's "missing field `name`".
fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.split('`').next()
}

/// Removes the map entry at `path` (whose last step is a key). False if there is none.
fn remove_entry(value: &mut Value, path: &[Step]) -> bool {
    let Some((Step::Key(last), parents)) = path.split_last() else { return false };
    let mut at = value;
    for step in parents {
        let next = match step {
            Step::Key(k) => at.as_object_mut().and_then(|m| m.get_mut(k)),
            Step::Index(i) => at.as_array_mut().and_then(|a| a.get_mut(*i)),
            Step::Other => None,
        };
        match next {
            Some(v) => at = v,
            None => return false,
        }
    }
    at.as_object_mut().is_some_and(|m| m.shift_remove(last).is_some())
}

/// The meaning errors of the rules that read cleanly, when others did not: the compiler's
/// errors for the whole set, where each rule that did not read stands in as a rule with only
/// its id (or an id no rule can have, if its id could not be read). Of those stand-ins, only
/// errors about their id are kept (duplicate ids).
///
/// What needs the rules file's folder is left to the compile that follows a clean read: a
/// `file:` body named by a relative path is not read here.
fn meaning_errors(mut set: RuleSet, rules: &[Result<Arc<Rule>, Option<String>>]) -> Vec<ValidationError> {
    set.rules = rules
        .iter()
        .enumerate()
        .map(|(i, read)| match read {
            Ok(rule) => without_relative_files(rule),
            Err(id) => Arc::new(stand_in(id.clone().unwrap_or_else(|| format!("\u{0}unread rules[{i}]")))),
        })
        .collect();
    let Err(refused) = RuleTable::compile(&set, &CompileOptions::default()) else { return Vec::new() };
    refused
        .errors
        .into_iter()
        .filter(|e| match rule_index(&e.path) {
            Some(i) => match rules.get(i) {
                Some(Err(id)) => id.is_some() && e.path == format!("rules[{i}].id"),
                _ => true,
            },
            None => true,
        })
        .collect()
}

/// A rule with only an id and an empty response.
fn stand_in(id: String) -> Rule {
    Rule {
        id,
        name: None,
        priority: 0,
        enabled: true,
        tags: Vec::new(),
        matcher: RequestMatch::default(),
        response: Some(Response::default()),
        sequence: None,
        forward: None,
        times: None,
        scenario: None,
        validate: None,
    }
}

/// `rule`, with each response whose only body is a file named by a relative path given an
/// empty text body instead (a path relative to a folder not known here).
fn without_relative_files(rule: &Arc<Rule>) -> Arc<Rule> {
    fn relative_only(r: &Response) -> bool {
        r.body.is_none()
            && r.json.is_none()
            && r.base64.is_none()
            && r.file.as_deref().is_some_and(|f| !Path::new(f).is_absolute())
    }
    fn fix(r: &mut Response) {
        if relative_only(r) {
            r.file = None;
            r.body = Some(String::new());
        }
    }
    let responses = || rule.response.iter().chain(rule.sequence.iter().flat_map(|s| &s.responses));
    if !responses().any(relative_only) {
        return Arc::clone(rule);
    }
    let mut rule = Rule::clone(rule);
    rule.response.iter_mut().chain(rule.sequence.iter_mut().flat_map(|s| &mut s.responses)).for_each(fix);
    Arc::new(rule)
}

/// `3` for a place in `rules[3]`.
fn rule_index(path: &str) -> Option<usize> {
    path.strip_prefix("rules[")?.split(']').next()?.parse().ok()
}

fn one_error(message: impl Into<String>) -> RuleSetError {
    RuleSetError { errors: vec![ValidationError::new("", message)] }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
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
