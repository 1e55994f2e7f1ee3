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
    let head = pb::RuleSet {
        project: rules.project.clone(),
        environment: rules.environment.clone(),
        variables: rules.variables.clone(),
        upstreams: rules.upstreams.clone(),
        rules: Vec::new(),
    };
    let mut buf = Vec::with_capacity(head.encoded_len() + rules.rules.len() * 256);
    head.encode_raw(&mut buf);
    for rule in &rules.rules {
        prost::encoding::message::encode(RULES_FIELD, &pb::Rule::from(rule), &mut buf);
    }
    crate::wkt::Any { type_url: RULE_SET_TYPE_URL.to_owned(), value: buf.into() }
}

/// The field number of `RuleSet.rules`.
const RULES_FIELD: u32 = 5;

/// Decodes a rule set from an xDS resource.
pub fn rule_set_from_any(any: &crate::wkt::Any) -> Result<model::RuleSet, ConversionError> {
    if any.type_url != RULE_SET_TYPE_URL {
        return Err(error(
            &Place::Root("resources[0]"),
            format!("expected a resource of type {RULE_SET_TYPE_URL}, found {:?}", any.type_url),
        ));
    }
    let invalid = |e: prost::DecodeError| {
        error(&Place::Root("resources[0]"), format!("not a valid mockplane.config.v1.RuleSet: {e}"))
    };
    // Everything but the rules, in one pass that skips them.
    let head = RuleSetHead::decode(any.value.as_ref()).map_err(invalid)?;
    // Then the rules, each decoded and converted before the next: the working set stays one
    // rule instead of a wire copy of the whole set (the mirror of `rule_set_to_any`).
    let mut rules = Vec::new();
    let mut buf = any.value.as_ref();
    let rules_place = Place::Root("rules");
    while !buf.is_empty() {
        let (tag, wire_type) = prost::encoding::decode_key(&mut buf).map_err(invalid)?;
        if tag == RULES_FIELD && wire_type == prost::encoding::WireType::LengthDelimited {
            let len = usize::try_from(prost::encoding::decode_varint(&mut buf).map_err(invalid)?)
                .unwrap_or(usize::MAX);
            if len > buf.len() {
                return Err(error(
                    &rules_place.index(rules.len()),
                    "the rule runs past the end of the resource",
                ));
            }
            let (rule, rest) = buf.split_at(len);
            buf = rest;
            let wire = pb::Rule::decode(rule).map_err(invalid)?;
            rules.push(rule_from_wire(wire, &rules_place.index(rules.len()))?);
        } else {
            prost::encoding::skip_field(wire_type, tag, &mut buf, prost::encoding::DecodeContext::default())
                .map_err(invalid)?;
        }
    }
    Ok(model::RuleSet {
        project: head.project,
        environment: head.environment,
        variables: head.variables,
        upstreams: head.upstreams,
        rules,
    })
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
}

// ---------------------------------------------------------------------------------------------
// Model → wire.

impl From<&model::RuleSet> for pb::RuleSet {
    fn from(m: &model::RuleSet) -> Self {
        pb::RuleSet {
            project: m.project.clone(),
            environment: m.environment.clone(),
            variables: m.variables.clone(),
            upstreams: m.upstreams.clone(),
            rules: m.rules.iter().map(pb::Rule::from).collect(),
        }
    }
}

impl From<&model::Rule> for pb::Rule {
    fn from(m: &model::Rule) -> Self {
        pb::Rule {
            id: m.id.clone(),
            name: m.name.clone(),
            priority: m.priority,
            disabled: !m.enabled,
            tags: m.tags.clone(),
            r#match: Some(request_match_to_wire(&m.matcher)),
            response: m.response.as_ref().map(response_to_wire),
            sequence: m.sequence.as_ref().map(|s| pb::Sequence {
                mode: match s.mode {
                    model::SequenceMode::StayOnLast => pb::SequenceMode::StayOnLast,
                    model::SequenceMode::Cycle => pb::SequenceMode::Cycle,
                } as i32,
                responses: s.responses.iter().map(response_to_wire).collect(),
            }),
            forward: m.forward.as_ref().map(|f| pb::Forward {
                upstream: f.upstream.clone(),
                url: f.url.clone(),
                delay: f.delay.as_ref().map(delay_to_wire),
                faults: f.faults.iter().map(fault_to_wire).collect(),
            }),
            times: m.times,
            scenario: m.scenario.as_ref().map(|s| pb::ScenarioStep {
                name: s.name.clone(),
                state: s.state.clone(),
                next: s.next.clone(),
            }),
        }
    }
}

fn strings(values: &[String]) -> pb::StringList {
    pb::StringList { values: values.to_vec() }
}

fn request_match_to_wire(m: &model::RequestMatch) -> pb::RequestMatch {
    let values = |map: &BTreeMap<String, model::ValueMatch>| {
        map.iter().map(|(k, v)| (k.clone(), value_match_to_wire(v))).collect()
    };
    pb::RequestMatch {
        method: m.method.as_ref().map(|method| pb::MethodMatch {
            kind: Some(match method {
                model::MethodMatch::One(one) => pb::method_match::Kind::One(one.clone()),
                model::MethodMatch::AnyOf(list) => pb::method_match::Kind::AnyOf(strings(list)),
            }),
        }),
        host: m.host.clone(),
        path: m.path.as_ref().map(|path| pb::PathMatch {
            kind: Some(match path {
                model::PathMatch::Short(s) => pb::path_match::Kind::Short(s.clone()),
                model::PathMatch::Explicit(spec) => pb::path_match::Kind::Explicit(pb::PathMatchSpec {
                    exact: spec.exact.clone(),
                    prefix: spec.prefix.clone(),
                    template: spec.template.clone(),
                    regex: spec.regex.clone(),
                }),
            }),
        }),
        query: values(&m.query),
        headers: values(&m.headers),
        cookies: values(&m.cookies),
        body: m.body.as_ref().map(body_match_to_wire),
        client_ip: m.client_ip.as_deref().map(strings),
        graphql: m.graphql.as_ref().map(|g| pb::GraphqlMatch {
            operation: match g.operation {
                None => pb::GraphqlOperation::Unspecified,
                Some(model::GraphqlOperation::Query) => pb::GraphqlOperation::Query,
                Some(model::GraphqlOperation::Mutation) => pb::GraphqlOperation::Mutation,
                Some(model::GraphqlOperation::Subscription) => pb::GraphqlOperation::Subscription,
            } as i32,
            name: g.name.clone(),
            variables: g.variables.as_ref().map(body_match_to_wire),
        }),
    }
}

fn value_match_to_wire(m: &model::ValueMatch) -> pb::ValueMatch {
    pb::ValueMatch {
        kind: Some(match m {
            model::ValueMatch::Equals(s) => pb::value_match::Kind::Equals(s.clone()),
            model::ValueMatch::Spec(spec) => pb::value_match::Kind::Spec(Box::new(pb::ValueMatchSpec {
                equals: spec.equals.clone(),
                contains: spec.contains.clone(),
                regex: spec.regex.clone(),
                present: spec.present,
                absent: spec.absent,
                not: spec.not.as_ref().map(|n| Box::new(value_match_to_wire(n))),
                case_insensitive: spec.case_insensitive,
            })),
        }),
    }
}

fn body_match_to_wire(m: &model::BodyMatch) -> pb::BodyMatch {
    let list = |l: &Vec<model::BodyMatch>| pb::BodyMatchList {
        matchers: l.iter().map(body_match_to_wire).collect(),
    };
    pb::BodyMatch {
        equals: m.equals.clone(),
        contains: m.contains.clone(),
        regex: m.regex.clone(),
        json: m.json.as_ref().map(json_to_wire),
        ignore_array_order: m.ignore_array_order,
        ignore_extra_elements: m.ignore_extra_elements,
        jsonpath: m.jsonpath.clone(),
        matches: m.matches.as_deref().map(|b| Box::new(body_match_to_wire(b))),
        and: m.and.as_ref().map(list),
        or: m.or.as_ref().map(list),
        not: m.not.as_deref().map(|b| Box::new(body_match_to_wire(b))),
    }
}

/// A JSON value in its exact wire form.
pub fn json_to_wire(v: &serde_json::Value) -> pb::JsonValue {
    use pb::json_value::Kind;
    let kind = match v {
        serde_json::Value::Null => Kind::Null(true),
        serde_json::Value::Bool(b) => Kind::Bool(*b),
        serde_json::Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                Kind::Uint(u)
            } else if let Some(i) = n.as_i64() {
                Kind::Int(i)
            } else {
                Kind::Double(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Kind::String(s.clone()),
        serde_json::Value::Array(items) => {
            Kind::Array(pb::JsonArray { items: items.iter().map(json_to_wire).collect() })
        }
        serde_json::Value::Object(members) => Kind::Object(pb::JsonObject {
            members: members
                .iter()
                .map(|(key, value)| pb::JsonMember { key: key.clone(), value: Some(json_to_wire(value)) })
                .collect(),
        }),
    };
    pb::JsonValue { kind: Some(kind) }
}

fn response_to_wire(m: &model::Response) -> pb::Response {
    pb::Response {
        status: Some(u32::from(m.status)),
        headers: m
            .headers
            .iter()
            .map(|(name, values)| {
                let kind = match values {
                    model::HeaderValues::One(v) => pb::header_values::Kind::One(v.clone()),
                    model::HeaderValues::Many(v) => pb::header_values::Kind::Many(strings(v)),
                };
                (name.clone(), pb::HeaderValues { kind: Some(kind) })
            })
            .collect(),
        body: m.body.clone(),
        json: m.json.as_ref().map(json_to_wire),
        base64: m.base64.clone(),
        file: m.file.clone(),
        template: m.template,
        delay: m.delay.as_ref().map(delay_to_wire),
        faults: m.faults.iter().map(fault_to_wire).collect(),
    }
}

fn delay_to_wire(m: &model::Delay) -> pb::Delay {
    pb::Delay {
        fixed: m.fixed,
        uniform: m.uniform.as_ref().map(|u| pb::UniformDelay { min: u.min, max: u.max }),
        normal: m.normal.as_ref().map(|n| pb::NormalDelay { mean: n.mean, stddev: n.stddev }),
        lognormal: m.lognormal.as_ref().map(|l| pb::LognormalDelay { median: l.median, sigma: l.sigma }),
        step: m.step.as_ref().map(|s| pb::StepDelay { base: s.base, step: s.step, max: s.max }),
    }
}

fn fault_to_wire(m: &model::Fault) -> pb::Fault {
    let kind = match m.kind {
        model::FaultKind::Abort => pb::FaultKind::Abort,
        model::FaultKind::ConnectionReset => pb::FaultKind::ConnectionReset,
        model::FaultKind::EmptyResponse => pb::FaultKind::EmptyResponse,
        model::FaultKind::MalformedChunk => pb::FaultKind::MalformedChunk,
        model::FaultKind::RandomData => pb::FaultKind::RandomData,
    };
    pb::Fault { r#type: kind as i32, probability: Some(m.probability), status: m.status.map(u32::from) }
}

// ---------------------------------------------------------------------------------------------
// Wire → model.

impl TryFrom<pb::RuleSet> for model::RuleSet {
    type Error = ConversionError;

    fn try_from(w: pb::RuleSet) -> Result<Self, ConversionError> {
        let rules = w
            .rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| rule_from_wire(r, &Place::Root("rules").index(i)))
            .collect::<Result<_, _>>()?;
        Ok(model::RuleSet {
            project: w.project,
            environment: w.environment,
            variables: w.variables,
            upstreams: w.upstreams,
            rules,
        })
    }
}

fn rule_from_wire(w: pb::Rule, at: &Place<'_>) -> Result<model::Rule, ConversionError> {
    let sequence = match w.sequence {
        None => None,
        Some(s) => {
            let mode = match pb::SequenceMode::try_from(s.mode) {
                Ok(pb::SequenceMode::StayOnLast) => model::SequenceMode::StayOnLast,
                Ok(pb::SequenceMode::Cycle) => model::SequenceMode::Cycle,
                Err(_) => {
                    return Err(error(
                        &at.field("sequence").field("mode"),
                        format!("unknown mode {}", s.mode),
                    ))
                }
            };
            let responses = s
                .responses
                .into_iter()
                .enumerate()
                .map(|(i, r)| response_from_wire(r, &at.field("sequence").field("responses").index(i)))
                .collect::<Result<_, _>>()?;
            Some(model::Sequence { mode, responses })
        }
    };
    let forward = match w.forward {
        None => None,
        Some(f) => Some(model::Forward {
            upstream: f.upstream,
            url: f.url,
            delay: f.delay.map(delay_from_wire),
            faults: faults_from_wire(f.faults, &at.field("forward"))?,
        }),
    };
    Ok(model::Rule {
        matcher: match w.r#match {
            Some(m) => request_match_from_wire(m, &at.field("match"))?,
            None => model::RequestMatch::default(),
        },
        response: w.response.map(|r| response_from_wire(r, &at.field("response"))).transpose()?,
        id: w.id,
        name: w.name,
        priority: w.priority,
        enabled: !w.disabled,
        tags: w.tags,
        sequence,
        forward,
        times: w.times,
        scenario: w.scenario.map(|s| model::ScenarioStep { name: s.name, state: s.state, next: s.next }),
    })
}

fn request_match_from_wire(
    w: pb::RequestMatch,
    at: &Place<'_>,
) -> Result<model::RequestMatch, ConversionError> {
    let values = |map: BTreeMap<String, pb::ValueMatch>, field: &str| {
        map.into_iter()
            .map(|(k, v)| {
                let value = value_match_from_wire(v, &at.field(field).field(&k))?;
                Ok((k, value))
            })
            .collect::<Result<BTreeMap<_, _>, _>>()
    };
    let method = match w.method {
        None => None,
        Some(m) => Some(match m.kind {
            Some(pb::method_match::Kind::One(one)) => model::MethodMatch::One(one),
            Some(pb::method_match::Kind::AnyOf(list)) => model::MethodMatch::AnyOf(list.values),
            None => return Err(error(&at.field("method"), "set `one` or `any_of`")),
        }),
    };
    let path = match w.path {
        None => None,
        Some(p) => Some(match p.kind {
            Some(pb::path_match::Kind::Short(s)) => model::PathMatch::Short(s),
            Some(pb::path_match::Kind::Explicit(spec)) => model::PathMatch::Explicit(model::PathMatchSpec {
                exact: spec.exact,
                prefix: spec.prefix,
                template: spec.template,
                regex: spec.regex,
            }),
            None => return Err(error(&at.field("path"), "set `short` or `explicit`")),
        }),
    };
    let graphql = match w.graphql {
        None => None,
        Some(g) => {
            let operation = match pb::GraphqlOperation::try_from(g.operation) {
                Ok(pb::GraphqlOperation::Unspecified) => None,
                Ok(pb::GraphqlOperation::Query) => Some(model::GraphqlOperation::Query),
                Ok(pb::GraphqlOperation::Mutation) => Some(model::GraphqlOperation::Mutation),
                Ok(pb::GraphqlOperation::Subscription) => Some(model::GraphqlOperation::Subscription),
                Err(_) => {
                    return Err(error(
                        &at.field("graphql").field("operation"),
                        format!("unknown operation type {}", g.operation),
                    ))
                }
            };
            let variables = g
                .variables
                .map(|v| body_match_from_wire(v, &at.field("graphql").field("variables")))
                .transpose()?;
            Some(model::GraphqlMatch { operation, name: g.name, variables })
        }
    };
    Ok(model::RequestMatch {
        method,
        host: w.host,
        path,
        query: values(w.query, "query")?,
        headers: values(w.headers, "headers")?,
        cookies: values(w.cookies, "cookies")?,
        body: w.body.map(|b| body_match_from_wire(b, &at.field("body"))).transpose()?,
        client_ip: w.client_ip.map(|l| l.values),
        graphql,
    })
}

fn value_match_from_wire(w: pb::ValueMatch, at: &Place<'_>) -> Result<model::ValueMatch, ConversionError> {
    match w.kind {
        Some(pb::value_match::Kind::Equals(s)) => Ok(model::ValueMatch::Equals(s)),
        Some(pb::value_match::Kind::Spec(spec)) => {
            let spec = *spec;
            let not = spec.not.map(|n| value_match_from_wire(*n, &at.field("not"))).transpose()?;
            Ok(model::ValueMatch::Spec(Box::new(model::ValueMatchSpec {
                equals: spec.equals,
                contains: spec.contains,
                regex: spec.regex,
                present: spec.present,
                absent: spec.absent,
                not,
                case_insensitive: spec.case_insensitive,
            })))
        }
        None => Err(error(at, "set `equals` or `spec`")),
    }
}

fn body_match_from_wire(w: pb::BodyMatch, at: &Place<'_>) -> Result<model::BodyMatch, ConversionError> {
    let list = |l: pb::BodyMatchList, field: &str| {
        l.matchers
            .into_iter()
            .enumerate()
            .map(|(i, b)| body_match_from_wire(b, &at.field(field).index(i)))
            .collect::<Result<Vec<_>, _>>()
    };
    let boxed = |b: Option<Box<pb::BodyMatch>>, field: &str| {
        b.map(|b| body_match_from_wire(*b, &at.field(field)).map(Box::new)).transpose()
    };
    Ok(model::BodyMatch {
        json: w.json.map(|j| json_from_wire(j, &at.field("json"))).transpose()?,
        matches: boxed(w.matches, "matches")?,
        not: boxed(w.not, "not")?,
        and: w.and.map(|l| list(l, "and")).transpose()?,
        or: w.or.map(|l| list(l, "or")).transpose()?,
        equals: w.equals,
        contains: w.contains,
        regex: w.regex,
        ignore_array_order: w.ignore_array_order,
        ignore_extra_elements: w.ignore_extra_elements,
        jsonpath: w.jsonpath,
    })
}

/// A JSON value from its wire form.
pub fn json_value_from_wire(w: pb::JsonValue) -> Result<serde_json::Value, ConversionError> {
    json_from_wire(w, &Place::Root("json"))
}

fn json_from_wire(w: pb::JsonValue, at: &Place<'_>) -> Result<serde_json::Value, ConversionError> {
    use pb::json_value::Kind;
    use serde_json::Value;
    Ok(match w.kind {
        None => return Err(error(at, "a JSON value with no kind set")),
        Some(Kind::Null(_)) => Value::Null,
        Some(Kind::Bool(b)) => Value::Bool(b),
        Some(Kind::Int(i)) => Value::from(i),
        Some(Kind::Uint(u)) => Value::from(u),
        Some(Kind::Double(d)) => match serde_json::Number::from_f64(d) {
            Some(n) => Value::Number(n),
            None => return Err(error(at, format!("{d} is not a JSON number"))),
        },
        Some(Kind::String(s)) => Value::String(s),
        Some(Kind::Array(a)) => Value::Array(
            a.items
                .into_iter()
                .enumerate()
                .map(|(i, v)| json_from_wire(v, &at.index(i)))
                .collect::<Result<_, _>>()?,
        ),
        Some(Kind::Object(o)) => {
            let mut map = serde_json::Map::with_capacity(o.members.len());
            for m in o.members {
                let place = at.field(&m.key);
                let value = match m.value {
                    Some(v) => json_from_wire(v, &place)?,
                    None => return Err(error(&place, "a member with no value")),
                };
                map.insert(m.key, value);
            }
            Value::Object(map)
        }
    })
}

fn response_from_wire(w: pb::Response, at: &Place<'_>) -> Result<model::Response, ConversionError> {
    let status = match w.status {
        None => 200,
        Some(s) => {
            u16::try_from(s).map_err(|_| error(&at.field("status"), format!("{s} is not an HTTP status")))?
        }
    };
    let headers = w
        .headers
        .into_iter()
        .map(|(name, v)| {
            let values = match v.kind {
                Some(pb::header_values::Kind::One(one)) => model::HeaderValues::One(one),
                Some(pb::header_values::Kind::Many(list)) => model::HeaderValues::Many(list.values),
                None => return Err(error(&at.field("headers").field(&name), "set `one` or `many`")),
            };
            Ok((name, values))
        })
        .collect::<Result<_, _>>()?;
    Ok(model::Response {
        status,
        headers,
        json: w.json.map(|j| json_from_wire(j, &at.field("json"))).transpose()?,
        faults: faults_from_wire(w.faults, at)?,
        body: w.body,
        base64: w.base64,
        file: w.file,
        template: w.template,
        delay: w.delay.map(delay_from_wire),
    })
}

fn delay_from_wire(w: pb::Delay) -> model::Delay {
    model::Delay {
        fixed: w.fixed,
        uniform: w.uniform.map(|u| model::UniformDelay { min: u.min, max: u.max }),
        normal: w.normal.map(|n| model::NormalDelay { mean: n.mean, stddev: n.stddev }),
        lognormal: w.lognormal.map(|l| model::LognormalDelay { median: l.median, sigma: l.sigma }),
        step: w.step.map(|s| model::StepDelay { base: s.base, step: s.step, max: s.max }),
    }
}

fn faults_from_wire(faults: Vec<pb::Fault>, at: &Place<'_>) -> Result<Vec<model::Fault>, ConversionError> {
    faults
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let faults = at.field("faults");
            let place = faults.index(i);
            let kind = match pb::FaultKind::try_from(f.r#type) {
                Ok(pb::FaultKind::Abort) => model::FaultKind::Abort,
                Ok(pb::FaultKind::ConnectionReset) => model::FaultKind::ConnectionReset,
                Ok(pb::FaultKind::EmptyResponse) => model::FaultKind::EmptyResponse,
                Ok(pb::FaultKind::MalformedChunk) => model::FaultKind::MalformedChunk,
                Ok(pb::FaultKind::RandomData) => model::FaultKind::RandomData,
                Ok(pb::FaultKind::Unspecified) | Err(_) => {
                    return Err(error(&place.field("type"), format!("unknown fault type {}", f.r#type)))
                }
            };
            let status = f
                .status
                .map(|s| {
                    u16::try_from(s)
                        .map_err(|_| error(&place.field("status"), format!("{s} is not an HTTP status")))
                })
                .transpose()?;
            Ok(model::Fault { kind, probability: f.probability.unwrap_or(1.0), status })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_encoded_one_by_one_are_the_bytes_of_the_whole_message() {
        let text = "project: shop\nenvironment: staging\nvariables: { a: b }\nrules:\n  - id: x\n    response: {}\n  - id: y\n    response: { status: 201 }\n";
        let set = model::RuleSet::parse(text, mockplane_rules::Format::Yaml).unwrap();
        assert_eq!(rule_set_to_any(&set).value.as_ref(), pb::RuleSet::from(&set).encode_to_vec().as_slice());
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
}
