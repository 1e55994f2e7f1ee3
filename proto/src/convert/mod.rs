//! Conversions between the rule model (`mockplane_rules::model`) and its wire form
//! (`mockplane.config.v1`), both ways, in this one place.
//!
//! Model → wire cannot fail. Wire → model can (an enum left unspecified, a status beyond
//! `u16`, a oneof with no arm set), and the error names the field, in the same
//! `rules[3].response.status` form the rule compiler uses, because a data plane sends it back
//! verbatim in its NACK. Round trip model → wire → model is the identity (a property test
//! pins it), so nothing a user wrote is lost on the way to a data plane.

use std::collections::BTreeMap;

use mockplane_rules::model;
use prost::Message;

use crate::config as pb;

mod from_wire;
mod recording;
mod resets;
mod to_wire;

pub use from_wire::json_value_from_wire;
use from_wire::rule_from_wire;
pub use recording::Recording;
use recording::{encode_recording, recording_len};
pub use resets::ResetEpochs;
use resets::{encode_resets, resets_len};
pub use to_wire::json_to_wire;

/// The xDS type URL of a rule set.
pub const RULE_SET_TYPE_URL: &str = "type.googleapis.com/mockplane.config.v1.RuleSet";

/// A wire message that has no model equivalent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {message}")]
pub struct ConversionError {
    /// Where: `rules[3].response.status`.
    pub place: String,
    /// What is wrong.
    pub message: String,
}

fn error(place: &Place<'_>, message: impl Into<String>) -> ConversionError {
    ConversionError { place: place.to_string(), message: message.into() }
}

/// Where a wire value sits (`rules[3].response.status`), written out only when an error needs
/// it: formatting a place for every field of every rule cost more than the conversion itself.
#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    Root(&'static str),
    Field(&'a Place<'a>, &'a str),
    Index(&'a Place<'a>, usize),
}

impl<'a> Place<'a> {
    fn field(&'a self, name: &'a str) -> Place<'a> {
        Place::Field(self, name)
    }

    fn index(&'a self, i: usize) -> Place<'a> {
        Place::Index(self, i)
    }
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Root(name) => f.write_str(name),
            Place::Field(parent, name) => write!(f, "{parent}.{name}"),
            Place::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// Encodes a rule set as the `Any` resource an xDS response carries.
///
/// The rules are converted and encoded one at a time, straight into the buffer (a repeated
/// field is its elements' encodings in a row), rather than as one `pb::RuleSet` converted whole
/// first: the working set stays a rule, not a copy of the whole set, which halves the time.
pub fn rule_set_to_any(rules: &model::RuleSet) -> crate::wkt::Any {
    rule_set_to_any_paced(rules, None)
}

/// [`rule_set_to_any`], calling `pause` between rules (see `CompileOptions::pause`).
pub fn rule_set_to_any_paced(rules: &model::RuleSet, pause: Option<fn()>) -> crate::wkt::Any {
    let (head, tail) = head_and_tail(rules);
    let mut buf = Vec::with_capacity(head.encoded_len() + rules.rules.len() * 256 + tail.encoded_len());
    head.encode_raw(&mut buf);
    for rule in &rules.rules {
        if let Some(pause) = pause {
            pause();
        }
        prost::encoding::message::encode(RULES_FIELD, &pb::Rule::from(&**rule), &mut buf);
    }
    tail.encode_raw(&mut buf);
    crate::wkt::Any { type_url: RULE_SET_TYPE_URL.to_owned(), value: buf.into() }
}

/// The set-level fields of `rules` as two messages without rules: those numbered before
/// `rules` (5), encoded before them, and those after (`cors`, 6), encoded after them, where
/// prost puts them: the resource is the whole message's own encoding, byte for byte.
fn head_and_tail(rules: &model::RuleSet) -> (pb::RuleSet, pb::RuleSet) {
    let head = pb::RuleSet {
        project: rules.project.clone(),
        environment: rules.environment.clone(),
        variables: rules.variables.clone(),
        upstreams: to_wire::short_upstreams(&rules.upstreams),
        rules: Vec::new(),
        cors: None,
        resets: None,
        recording: None,
        clusters: BTreeMap::new(),
        unmatched: None,
        scenarios: BTreeMap::new(),
    };
    let tail = pb::RuleSet {
        cors: rules.cors.as_ref().map(pb::Cors::from),
        clusters: to_wire::upstream_clusters(&rules.upstreams),
        unmatched: rules.unmatched.as_ref().map(to_wire::unmatched_to_wire),
        scenarios: to_wire::scenarios_to_wire(&rules.scenarios),
        ..Default::default()
    };
    (head, tail)
}

/// One rule encoded as a `mockplane.config.v1.Rule`: what [`split_rule_set`] yields for it.
pub fn rule_to_bytes(rule: &model::Rule) -> Vec<u8> {
    pb::Rule::from(rule).encode_to_vec()
}

/// The resource of the rule set `head` (its `rules` are not read) whose rules are `rules`,
/// each already encoded ([`rule_to_bytes`], or a slice of an earlier resource), carrying
/// `resets`: the bytes [`rule_set_to_any`] gives for the whole set (with `resets` set on the
/// message), and each rule's slice of them.
pub fn rule_set_to_any_from_encoded<'r>(
    head: &model::RuleSet,
    rules: impl ExactSizeIterator<Item = &'r [u8]> + Clone,
    resets: ResetEpochs,
) -> (crate::wkt::Any, Vec<bytes::Bytes>) {
    rule_set_resource(head, rules, resets, None)
}

/// [`rule_set_to_any_from_encoded`], also carrying the recording settings `recording`
/// (`RuleSet.recording`, encoded last).
pub fn rule_set_resource<'r>(
    head: &model::RuleSet,
    rules: impl ExactSizeIterator<Item = &'r [u8]> + Clone,
    resets: ResetEpochs,
    recording: Option<&Recording>,
) -> (crate::wkt::Any, Vec<bytes::Bytes>) {
    let (head, tail) = head_and_tail(head);
    let total: usize =
        rules.clone().map(|r| r.len() + 1 + prost::encoding::encoded_len_varint(r.len() as u64)).sum();
    let mut buf = Vec::with_capacity(
        head.encoded_len() + total + tail.encoded_len() + resets_len(resets) + recording_len(recording),
    );
    head.encode_raw(&mut buf);
    let mut ranges = Vec::with_capacity(rules.len());
    for rule in rules {
        prost::encoding::encode_key(RULES_FIELD, prost::encoding::WireType::LengthDelimited, &mut buf);
        prost::encoding::encode_varint(rule.len() as u64, &mut buf);
        ranges.push(buf.len()..buf.len() + rule.len());
        buf.extend_from_slice(rule);
    }
    tail.encode_raw(&mut buf);
    encode_resets(resets, &mut buf);
    encode_recording(recording, &mut buf);
    let value = bytes::Bytes::from(buf);
    let slices = ranges.into_iter().map(|r| value.slice(r)).collect();
    (crate::wkt::Any { type_url: RULE_SET_TYPE_URL.to_owned(), value }, slices)
}

/// The field number of `RuleSet.rules`.
const RULES_FIELD: u32 = 5;

/// Decodes a rule set from an xDS resource.
pub fn rule_set_from_any(any: &crate::wkt::Any) -> Result<model::RuleSet, ConversionError> {
    rule_set_from_any_paced(any, None)
}

/// [`rule_set_from_any`], calling `pause` between rules (see `CompileOptions::pause`).
pub fn rule_set_from_any_paced(
    any: &crate::wkt::Any,
    pause: Option<fn()>,
) -> Result<model::RuleSet, ConversionError> {
    let SplitRuleSet { mut head, rules, .. } = split_rule_set(any)?;
    // Each rule decoded and converted before the next: the working set stays one rule instead
    // of a wire copy of the whole set (the mirror of `rule_set_to_any`).
    head.rules.reserve_exact(rules.len());
    for (i, bytes) in rules.iter().enumerate() {
        if let Some(pause) = pause {
            pause();
        }
        head.rules.push(std::sync::Arc::new(rule_from_bytes(bytes, i)?));
    }
    Ok(head)
}

/// A rule-set resource whose rules are not decoded: see [`split_rule_set`].
#[derive(Debug, Clone)]
pub struct SplitRuleSet {
    /// Everything but the rules (`head.rules` is empty).
    pub head: model::RuleSet,
    /// Each rule's encoded `mockplane.config.v1.Rule`, in order: slices of the resource's
    /// bytes, not copies. Equal bytes decode to equal rules, so they key a
    /// [`mockplane_rules::RuleCache`].
    pub rules: Vec<bytes::Bytes>,
    /// The reset epochs the resource carries (zero when it carries none).
    pub resets: ResetEpochs,
    /// The recording settings the resource carries, if any.
    pub recording: Option<Recording>,
}

/// Splits a rule-set resource into its set-level fields, decoded, and its rules, each left
/// encoded (decode one with [`rule_from_bytes`]). The framing of the whole resource is checked
/// here, so a resource refused here is refused with the same error as by [`rule_set_from_any`].
pub fn split_rule_set(any: &crate::wkt::Any) -> Result<SplitRuleSet, ConversionError> {
    if any.type_url != RULE_SET_TYPE_URL {
        return Err(error(
            &Place::Root("resources[0]"),
            format!("expected a resource of type {RULE_SET_TYPE_URL}, found {:?}", any.type_url),
        ));
    }
    // Everything but the rules, in one pass that skips them (and checks the framing of all).
    let mut head = RuleSetHead::decode(any.value.as_ref()).map_err(invalid)?;
    let resets = head.resets.take();
    let recording = head.recording.take().map(Recording::from_wire);
    let mut rules = Vec::new();
    let whole = any.value.as_ref();
    let mut buf = whole;
    while !buf.is_empty() {
        let (tag, wire_type) = prost::encoding::decode_key(&mut buf).map_err(invalid)?;
        if tag == RULES_FIELD && wire_type == prost::encoding::WireType::LengthDelimited {
            let len = usize::try_from(prost::encoding::decode_varint(&mut buf).map_err(invalid)?)
                .unwrap_or(usize::MAX);
            if len > buf.len() {
                return Err(error(
                    &Place::Root("rules").index(rules.len()),
                    "the rule runs past the end of the resource",
                ));
            }
            let start = whole.len() - buf.len();
            rules.push(any.value.slice(start..start + len));
            buf = &buf[len..];
        } else {
            prost::encoding::skip_field(wire_type, tag, &mut buf, prost::encoding::DecodeContext::default())
                .map_err(invalid)?;
        }
    }
    let head = model::RuleSet {
        project: head.project,
        environment: head.environment,
        variables: head.variables,
        upstreams: from_wire::upstreams_from_wire(head.upstreams, head.clusters)?,
        unmatched: head.unmatched.map(from_wire::unmatched_from_wire).transpose()?,
        cors: head.cors.map(model::Cors::from),
        scenarios: from_wire::scenarios_from_wire(head.scenarios),
        rules: Vec::new(),
    };
    Ok(SplitRuleSet { head, rules, resets: ResetEpochs::from_wire(resets.as_ref()), recording })
}

/// Decodes the rule at position `index` of a rule set from its encoded bytes (one of
/// [`SplitRuleSet::rules`]); an error names its place, `rules[3].response.status`.
pub fn rule_from_bytes(bytes: &[u8], index: usize) -> Result<model::Rule, ConversionError> {
    let wire = pb::Rule::decode(bytes).map_err(invalid)?;
    rule_from_wire(wire, &Place::Root("rules").index(index))
}

fn invalid(e: prost::DecodeError) -> ConversionError {
    error(&Place::Root("resources[0]"), format!("not a valid mockplane.config.v1.RuleSet: {e}"))
}

/// `mockplane.config.v1.RuleSet` without its rules: decoding it skips them.
#[derive(Clone, PartialEq, prost::Message)]
struct RuleSetHead {
    #[prost(string, optional, tag = "1")]
    project: Option<String>,
    #[prost(string, optional, tag = "2")]
    environment: Option<String>,
    #[prost(btree_map = "string, string", tag = "3")]
    variables: BTreeMap<String, String>,
    #[prost(btree_map = "string, string", tag = "4")]
    upstreams: BTreeMap<String, String>,
    #[prost(message, optional, tag = "6")]
    cors: Option<pb::Cors>,
    #[prost(btree_map = "string, message", tag = "7")]
    clusters: BTreeMap<String, pb::Upstream>,
    #[prost(message, optional, tag = "8")]
    unmatched: Option<pb::Unmatched>,
    #[prost(message, optional, tag = "9")]
    resets: Option<pb::Resets>,
    #[prost(message, optional, tag = "10")]
    recording: Option<pb::Recording>,
    #[prost(btree_map = "string, message", tag = "11")]
    scenarios: BTreeMap<String, pb::Scenario>,
}

#[cfg(test)]
mod tests {
    use super::from_wire::response_from_wire;
    use super::*;

    #[test]
    fn rules_encoded_one_by_one_are_the_bytes_of_the_whole_message() {
        let text = "project: shop\nenvironment: staging\nvariables: { a: b }\ncors: { allow_origins: [\"https://a.test\"], max_age: 60 }\nrules:\n  - id: x\n    response: {}\n  - id: y\n    response: { status: 201 }\n";
        let set = model::RuleSet::parse(text, mockplane_rules::Format::Yaml).unwrap();
        assert_eq!(rule_set_to_any(&set).value.as_ref(), pb::RuleSet::from(&set).encode_to_vec().as_slice());
    }

    #[test]
    fn a_split_rule_set_holds_each_rule_s_own_encoding_and_the_head() {
        let text = "project: shop\nvariables: { a: b }\nupstreams: { u: \"http://x\" }\ncors: { allow_headers: [] }\nrules:\n  - id: x\n    response: {}\n  - id: y\n    response: { status: 201 }\n  - id: x2\n    response: {}\n";
        let set = model::RuleSet::parse(text, mockplane_rules::Format::Yaml).unwrap();
        let any = rule_set_to_any(&set);
        let split = split_rule_set(&any).unwrap();
        let encoded: Vec<Vec<u8>> = set.rules.iter().map(|r| pb::Rule::from(&**r).encode_to_vec()).collect();
        assert_eq!(split.rules.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), encoded);
        assert_eq!(split.head, model::RuleSet { rules: Vec::new(), ..set.clone() });
        for (i, bytes) in split.rules.iter().enumerate() {
            assert_eq!(rule_from_bytes(bytes, i).unwrap(), *set.rules[i]);
            // Slices of the resource, not copies.
            let within = any.value.as_ptr_range();
            assert!(within.contains(&bytes.as_ptr()));
        }
        let wire = pb::Rule {
            response: Some(pb::Response { status: Some(70_000), ..Default::default() }),
            ..Default::default()
        };
        let e = rule_from_bytes(&wire.encode_to_vec(), 4).unwrap_err();
        assert_eq!(e.to_string(), "rules[4].response.status: 70000 is not an HTTP status");
        let truncated = crate::wkt::Any { value: any.value.slice(..any.value.len() - 1), ..any.clone() };
        let e = split_rule_set(&truncated).unwrap_err();
        assert_eq!(e, rule_set_from_any(&truncated).unwrap_err());
        assert!(e.to_string().starts_with("resources[0]: not a valid"), "{e}");
    }

    #[test]
    fn a_resource_assembled_from_encoded_rules_is_the_whole_encoding() {
        let text = "project: shop\nvariables: { a: b }\ncors: { expose_headers: [x-id] }\nrules:\n  - id: x\n    response: { json: { z: 1, a: [true, null] } }\n  - id: y\n    response: { status: 201 }\n";
        let set = model::RuleSet::parse(text, mockplane_rules::Format::Yaml).unwrap();
        let encoded: Vec<Vec<u8>> = set.rules.iter().map(|r| rule_to_bytes(r)).collect();
        let none = ResetEpochs::default();
        let (any, slices) = rule_set_to_any_from_encoded(&set, encoded.iter().map(Vec::as_slice), none);
        assert_eq!(any, rule_set_to_any(&set));
        assert_eq!(slices, split_rule_set(&any).unwrap().rules);
        let empty = model::RuleSet { rules: Vec::new(), ..set.clone() };
        assert_eq!(rule_set_to_any_from_encoded(&set, [].into_iter(), none).0, rule_set_to_any(&empty));
    }

    #[test]
    fn reset_epochs_travel_after_the_rules_as_the_message_s_own_field() {
        let text = "cors: { max_age: 5 }\nrules:\n  - id: x\n    response: {}\n  - id: y\n    response: { status: 201 }\n";
        let set = model::RuleSet::parse(text, mockplane_rules::Format::Yaml).unwrap();
        let encoded: Vec<Vec<u8>> = set.rules.iter().map(|r| rule_to_bytes(r)).collect();
        let resets = ResetEpochs { scenarios: 1_700_000_000_000, journal: 3 };
        let (any, slices) = rule_set_to_any_from_encoded(&set, encoded.iter().map(Vec::as_slice), resets);
        let whole = pb::RuleSet { resets: resets.to_wire(), ..pb::RuleSet::from(&set) };
        assert_eq!(any.value.as_ref(), whole.encode_to_vec().as_slice());
        let split = split_rule_set(&any).unwrap();
        assert_eq!((split.resets, split.rules), (resets, slices));
        // The rule model ignores them: the same rules, with or without resets.
        assert_eq!(rule_set_from_any(&any).unwrap(), set);
        // A resource without them reads as never reset, and zero epochs add no bytes.
        assert_eq!(split_rule_set(&rule_set_to_any(&set)).unwrap().resets, ResetEpochs::default());
        assert_eq!(ResetEpochs::default().to_wire(), None);
    }

    #[test]
    fn an_unspecified_fault_type_is_refused_with_its_place() {
        let wire = pb::RuleSet {
            rules: vec![pb::Rule {
                id: "a".into(),
                response: Some(pb::Response {
                    faults: vec![pb::Fault { r#type: 0, probability: None, status: None }],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let e = model::RuleSet::try_from(wire).unwrap_err();
        assert_eq!(e.to_string(), "rules[0].response.faults[0].type: unknown fault type 0");
    }

    #[test]
    fn a_status_beyond_u16_is_refused() {
        let wire = pb::Response { status: Some(70_000), ..Default::default() };
        let e = response_from_wire(wire, &Place::Root("rules[2].response")).unwrap_err();
        assert_eq!(e.place, "rules[2].response.status");
    }

    #[test]
    fn absent_status_and_probability_take_the_model_defaults() {
        let wire = pb::Response {
            faults: vec![pb::Fault {
                r#type: pb::FaultKind::Abort as i32,
                probability: None,
                status: Some(503),
            }],
            ..Default::default()
        };
        let r = response_from_wire(wire, &Place::Root("r")).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.faults[0].probability, 1.0);
    }

    #[test]
    fn a_place_deep_in_a_json_body_is_named_in_full() {
        use pb::json_value::Kind;
        let member = |key: &str, value| pb::JsonMember { key: key.into(), value };
        let array = pb::JsonValue {
            kind: Some(Kind::Array(pb::JsonArray {
                items: vec![json_to_wire(&1.into()), pb::JsonValue { kind: None }],
            })),
        };
        let object = pb::JsonObject {
            members: vec![member("ok", Some(json_to_wire(&true.into()))), member("a", Some(array))],
        };
        let wire = pb::RuleSet {
            rules: vec![
                pb::Rule { id: "x".into(), ..Default::default() },
                pb::Rule {
                    id: "y".into(),
                    response: Some(pb::Response {
                        json: Some(pb::JsonValue { kind: Some(Kind::Object(object)) }),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let e = model::RuleSet::try_from(wire).unwrap_err();
        assert_eq!(e.to_string(), "rules[1].response.json.a[1]: a JSON value with no kind set");
    }

    #[test]
    fn a_resource_of_another_type_is_refused() {
        let any = crate::wkt::Any {
            type_url: "type.googleapis.com/envoy.Cluster".into(),
            value: Default::default(),
        };
        let e = rule_set_from_any(&any).unwrap_err();
        assert!(e.message.contains("expected a resource of type"), "{e}");
    }

    #[test]
    fn recording_settings_travel_after_the_resets_and_leave_the_rules_alone() {
        let set =
            model::RuleSet::parse("rules:\n  - { id: x, response: {} }\n", mockplane_rules::Format::Yaml)
                .unwrap();
        let encoded: Vec<Vec<u8>> = set.rules.iter().map(|r| rule_to_bytes(r)).collect();
        let resets = ResetEpochs { scenarios: 5, journal: 0 };
        let recording = Recording {
            methods: vec!["GET".into()],
            path_regex: Some("^/api/".into()),
            limit: 10,
            started_ms: 7,
            ..Default::default()
        };
        let (any, slices) =
            rule_set_resource(&set, encoded.iter().map(Vec::as_slice), resets, Some(&recording));
        let whole = pb::RuleSet {
            resets: resets.to_wire(),
            recording: Some(recording.to_wire()),
            ..pb::RuleSet::from(&set)
        };
        assert_eq!(any.value.as_ref(), whole.encode_to_vec().as_slice(), "prost's own encoding");
        let split = split_rule_set(&any).unwrap();
        assert_eq!((split.resets, split.recording, split.rules), (resets, Some(recording), slices));
        assert_eq!(split_rule_set(&rule_set_to_any(&set)).unwrap().recording, None);
    }
}
