//! Model → wire: cannot fail; clones what it needs from the model.

use std::collections::BTreeMap;

use mockplane_rules::model;

use crate::config as pb;

impl From<&model::RuleSet> for pb::RuleSet {
    fn from(m: &model::RuleSet) -> Self {
        pb::RuleSet {
            project: m.project.clone(),
            environment: m.environment.clone(),
            variables: m.variables.clone(),
            upstreams: short_upstreams(&m.upstreams),
            rules: m.rules.iter().map(|r| pb::Rule::from(&**r)).collect(),
            cors: m.cors.as_ref().map(pb::Cors::from),
            resets: None,
            recording: None,
            clusters: upstream_clusters(&m.upstreams),
            unmatched: m.unmatched.as_ref().map(unmatched_to_wire),
            scenarios: scenarios_to_wire(&m.scenarios),
        }
    }
}

/// The rule set's `scenarios`.
pub(super) fn scenarios_to_wire(m: &BTreeMap<String, model::Scenario>) -> BTreeMap<String, pb::Scenario> {
    m.iter().map(|(name, s)| (name.clone(), pb::Scenario { initial: s.initial.clone() })).collect()
}

/// The upstreams in the short form (`RuleSet.upstreams`).
pub(super) fn short_upstreams(m: &BTreeMap<String, model::Upstream>) -> BTreeMap<String, String> {
    m.iter()
        .filter_map(|(name, u)| match u {
            model::Upstream::Url(url) => Some((name.clone(), url.clone())),
            model::Upstream::Cluster(_) => None,
        })
        .collect()
}

/// The upstreams in the cluster form (`RuleSet.clusters`).
pub(super) fn upstream_clusters(m: &BTreeMap<String, model::Upstream>) -> BTreeMap<String, pb::Upstream> {
    m.iter()
        .filter_map(|(name, u)| match u {
            model::Upstream::Url(_) => None,
            model::Upstream::Cluster(c) => Some((
                name.clone(),
                pb::Upstream {
                    endpoints: c.endpoints.clone(),
                    lb: match c.lb {
                        model::LoadBalancing::RoundRobin => pb::LoadBalancing::RoundRobin,
                        model::LoadBalancing::LeastRequest => pb::LoadBalancing::LeastRequest,
                    } as i32,
                    connect_timeout_ms: c.connect_timeout_ms,
                    request_timeout_ms: c.request_timeout_ms,
                    max_connections: c.max_connections,
                    base_path: c.base_path.clone(),
                    outlier_detection: c.outlier_detection.as_ref().map(|o| pb::OutlierDetection {
                        consecutive_failures: o.consecutive_failures,
                        ejection_ms: o.ejection_ms,
                    }),
                    retries: c.retries,
                    tls: c.tls.as_ref().map(|t| pb::UpstreamTls {
                        ca_file: t.ca_file.clone(),
                        ca_pem: t.ca_pem.clone(),
                        server_name: t.server_name.clone(),
                    }),
                },
            )),
        })
        .collect()
}

fn edits_to_wire(m: &model::HeaderEdits) -> pb::HeaderEdits {
    pb::HeaderEdits { add: m.add.clone().into_iter().collect(), remove: m.remove.clone() }
}

impl From<&model::Cors> for pb::Cors {
    fn from(m: &model::Cors) -> Self {
        let model::Cors {
            allow_origins,
            allow_methods,
            allow_headers,
            expose_headers,
            allow_credentials,
            max_age,
        } = m;
        pb::Cors {
            allow_origins: allow_origins.as_deref().map(strings),
            allow_methods: allow_methods.as_deref().map(strings),
            allow_headers: allow_headers.as_deref().map(strings),
            expose_headers: expose_headers.clone(),
            allow_credentials: *allow_credentials,
            max_age: *max_age,
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
            forward: m.forward.as_ref().map(forward_to_wire),
            times: m.times,
            scenario: m.scenario.as_ref().map(|s| pb::ScenarioStep {
                name: s.name.clone(),
                state: s.state.clone(),
                next: s.next.clone(),
            }),
            validate: m.validate.as_ref().map(validation_to_wire),
        }
    }
}

fn validation_to_wire(v: &model::RequestValidation) -> pb::RequestValidation {
    let check = |c: &model::ValueCheck| pb::ValueCheck {
        required: c.required,
        schema: c.schema.as_ref().map(json_to_wire),
    };
    let map =
        |m: &BTreeMap<String, model::ValueCheck>| m.iter().map(|(k, c)| (k.clone(), check(c))).collect();
    pb::RequestValidation {
        path: map(&v.path),
        query: map(&v.query),
        headers: map(&v.headers),
        cookies: map(&v.cookies),
        body: v.body.as_ref().map(check),
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
        url: m.url.as_ref().map(|u| pb::UrlMatch { exact: u.exact.clone(), regex: u.regex.clone() }),
        form: values(&m.form),
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
                and: spec.and.as_deref().map(value_list_to_wire),
                or: spec.or.as_deref().map(value_list_to_wire),
                has_exactly: spec.has_exactly.as_deref().map(value_list_to_wire),
                includes: spec.includes.as_deref().map(value_list_to_wire),
            })),
        }),
    }
}

fn value_list_to_wire(list: &[model::ValueMatch]) -> pb::ValueMatchList {
    pb::ValueMatchList { matchers: list.iter().map(value_match_to_wire).collect() }
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
        json_schema: m.json_schema.as_ref().map(json_to_wire),
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
        template: m.template.is_on(),
        template_wiremock: m.template == model::Templating::WireMock,
        delay: m.delay.as_ref().map(delay_to_wire),
        faults: m.faults.iter().map(fault_to_wire).collect(),
        reason: m.reason.clone(),
        chunked_dribble: m
            .chunked_dribble
            .map(|d| pb::ChunkedDribble { chunks: d.chunks, total_ms: d.total_ms }),
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

pub(super) fn unmatched_to_wire(m: &model::Unmatched) -> pb::Unmatched {
    pb::Unmatched { forward: Some(forward_to_wire(&m.forward)) }
}

fn forward_to_wire(f: &model::Forward) -> pb::Forward {
    pb::Forward {
        upstream: f.upstream.clone(),
        url: f.url.clone(),
        delay: f.delay.as_ref().map(delay_to_wire),
        faults: f.faults.iter().map(fault_to_wire).collect(),
        host: f.host.clone(),
        rewrite_prefix: f
            .rewrite_prefix
            .as_ref()
            .map(|r| pb::PrefixRewrite { from: r.from.clone(), to: r.to.clone() }),
        request_headers: f.request_headers.as_ref().map(edits_to_wire),
        response_headers: f.response_headers.as_ref().map(edits_to_wire),
        delay_probability: f.delay_probability,
        response_delay: f.response_delay.as_ref().map(delay_to_wire),
        header_faults: f.header_faults.as_ref().map(|h| pb::HeaderFaults { max_delay_ms: h.max_delay_ms }),
    }
}
