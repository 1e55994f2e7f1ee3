//! What a new version of an environment's rules costs the control plane: only the rules that
//! changed since the last accepted version are encoded and validated.
//!
//! A rule is unchanged when the previous version has a rule of the same id that is equal to it,
//! JSON member order included (the model's `PartialEq` ignores it, the encoding does not). Its
//! encoding is then the previous resource's slice, and its validation reuses the previous
//! validation table's compiled rule (`mockplane_rules::RuleCache`, keyed by a token per
//! distinct rule content). Either way the resource is byte for byte what encoding the whole
//! set gives, and a set is refused with the same errors as by `RuleTable::compile`.

use rustc_hash::FxHashMap;
use std::sync::Arc;

use bytes::Bytes;
use mockplane_proto::convert::{rule_set_resource, rule_to_bytes, Recording, ResetEpochs};
use mockplane_rules::model::{
    BodyMatch, GraphqlMatch, RequestMatch, RequestValidation, Response, Rule, Sequence, ValueCheck,
};
use mockplane_rules::{CompileOptions, RuleCache, RuleSet, RuleSetError, RuleTable, StateStore};

/// Cheap steps (a rule shared with the last version) between two calls of `pause`; each
/// expensive one (comparing or encoding a rule) calls it.
const PAUSE_EVERY: usize = 32;

/// Changed rules from which a version is encoded on a thread of its own (see `accept`).
const ENCODE_ASIDE_FROM: usize = 64;

/// One environment's last accepted version, as reuse needs it.
#[derive(Debug, Default)]
pub(crate) struct EnvReuse {
    /// The last accepted rules, with each rule's encoding (slices of its resource) and token.
    rules: Option<Arc<RuleSet>>,
    encoded: Vec<Bytes>,
    tokens: Vec<u64>,
    next_token: u64,
    /// The table the last accepted rules were validated into, and which rule is which in it.
    table: Option<RuleTable>,
    cache: RuleCache<u64>,
    /// Validation only: never serves a request.
    state: StateStore,
    /// The reset epochs every version carries from the environment's first reset on.
    resets: ResetEpochs,
    /// The recording settings every version carries while the environment records.
    recording: Option<Recording>,
}

impl EnvReuse {
    /// Validates and encodes `rules`, reusing what is unchanged since the last accepted
    /// version, and makes them the last accepted version; returns the resource. Validation
    /// and encoding run side by side; `pause` is called between rules. A refused set changes
    /// nothing.
    pub(crate) fn accept(
        &mut self,
        rules: &Arc<RuleSet>,
        base_dir: Option<&std::path::Path>,
        pause: Option<fn()>,
    ) -> Result<mockplane_proto::wkt::Any, RuleSetError> {
        let pause_now = || {
            if let Some(pause) = pause {
                pause();
            }
        };
        // Which rule of the last version each rule is, if unchanged, and its token.
        let mut next_token = self.next_token;
        let (same, tokens) = {
            let previous = self.rules.as_deref().map_or(&[][..], |p| &p.rules[..]);
            let by_id: FxHashMap<&str, usize> =
                previous.iter().enumerate().map(|(j, r)| (&*r.id, j)).collect();
            let mut same = Vec::with_capacity(rules.rules.len());
            let mut tokens = Vec::with_capacity(rules.rules.len());
            for (i, rule) in rules.rules.iter().enumerate() {
                if i % PAUSE_EVERY == 0 {
                    pause_now();
                }
                // The same rule shared with the last version (an edit of it) needs no comparing.
                let j = by_id.get(&*rule.id).copied().filter(|&j| {
                    Arc::ptr_eq(rule, &previous[j]) || {
                        pause_now();
                        same_rule(rule, &previous[j])
                    }
                });
                same.push(j);
                tokens.push(match j {
                    Some(j) => self.tokens[j],
                    None => {
                        next_token += 1;
                        next_token
                    }
                });
            }
            (same, tokens)
        };

        let resets = self.resets;
        let EnvReuse { encoded, table, cache, state, recording, .. } = self;
        let recording = recording.as_ref();
        let options = CompileOptions {
            base_dir: base_dir.map(std::path::Path::to_path_buf),
            state: state.clone(),
            pause,
        };
        let head = RuleSet {
            project: rules.project.clone(),
            environment: rules.environment.clone(),
            variables: rules.variables.clone(),
            upstreams: rules.upstreams.clone(),
            unmatched: rules.unmatched.clone(),
            cors: rules.cors.clone(),
            scenarios: rules.scenarios.clone(),
            rules: Vec::new(),
        };
        let encode = || {
            let parts: Vec<Bytes> = rules
                .rules
                .iter()
                .zip(&same)
                .enumerate()
                .map(|(i, (rule, j))| match j {
                    Some(j) => {
                        if i % PAUSE_EVERY == 0 {
                            pause_now();
                        }
                        encoded[*j].clone()
                    }
                    None => {
                        pause_now();
                        Bytes::from(rule_to_bytes(rule))
                    }
                })
                .collect();
            rule_set_resource(rules, parts.iter().map(|b| &b[..]), resets, recording)
        };
        let validate = || {
            // On success the cache describes the new table; on error it is unchanged.
            let mut build = cache.begin(head, table.as_ref(), &options);
            build.reserve(rules.rules.len());
            for (rule, &token) in rules.rules.iter().zip(&tokens) {
                build.push_model(token, rule);
            }
            build.finish()
        };
        // Many changed rules (a first version, a file rewritten): encode on a second thread
        // while validating. An edit of a few: one thread, validating first, since a thread per
        // version costs more than the work.
        let changed = same.iter().filter(|j| j.is_none()).count();
        let (validated, (resource, new_encoded)) = if changed >= ENCODE_ASIDE_FROM {
            std::thread::scope(|scope| {
                let encoding = scope.spawn(encode);
                let validated = validate();
                (validated, encoding.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            })
        } else {
            let validated = validate()?;
            (Ok(validated), encode())
        };
        let validated = validated?;
        self.rules = Some(rules.clone());
        self.encoded = new_encoded;
        self.tokens = tokens;
        self.next_token = next_token;
        if let Some(old) = self.table.replace(validated) {
            match pause {
                Some(pause) => old.drop_paced(pause),
                None => drop(old),
            }
        }
        Ok(resource)
    }
}

impl EnvReuse {
    /// The last accepted rules again, carrying `resets`: the resource is assembled from the
    /// rules' encodings as they are (nothing is compared, encoded or validated), and becomes
    /// what later versions reuse. `None` before any version was accepted.
    pub(crate) fn with_resets(
        &mut self,
        resets: ResetEpochs,
    ) -> Option<(Arc<RuleSet>, mockplane_proto::wkt::Any)> {
        let rules = self.rules.clone()?;
        let (resource, encoded) =
            rule_set_resource(&rules, self.encoded.iter().map(|b| &b[..]), resets, self.recording.as_ref());
        self.encoded = encoded;
        self.resets = resets;
        Some((rules, resource))
    }

    /// The reset epochs the last accepted version carries.
    pub(crate) fn resets(&self) -> ResetEpochs {
        self.resets
    }

    /// The last accepted rules again, carrying `recording` (`None`: not recording), assembled
    /// as [`EnvReuse::with_resets`] does; later versions carry it too. `None` before any
    /// version was accepted.
    pub(crate) fn with_recording(
        &mut self,
        recording: Option<Recording>,
    ) -> Option<(Arc<RuleSet>, mockplane_proto::wkt::Any)> {
        self.rules.as_ref()?;
        self.recording = recording;
        self.with_resets(self.resets)
    }

    /// The recording settings the last accepted version carries.
    pub(crate) fn recording(&self) -> Option<&Recording> {
        self.recording.as_ref()
    }

    /// Sets the recording settings the next version carries (kept in the store across a
    /// restart).
    pub(crate) fn restore_recording(&mut self, recording: Option<Recording>) {
        self.recording = recording;
    }

    /// Takes each epoch of `resets` that is newer than the one held (for the next version).
    pub(crate) fn restore_resets(&mut self, resets: ResetEpochs) {
        self.resets.scenarios = self.resets.scenarios.max(resets.scenarios);
        self.resets.journal = self.resets.journal.max(resets.journal);
    }
}

/// Whether `a` encodes to the same bytes as `b`: equal, with the members of their JSON values
/// in the same order (the model's `PartialEq` ignores the order, and compares objects by
/// hashing: most of the cost on rules with JSON bodies). Every field is named, so that a field
/// added to the model does not compile here until it is compared.
fn same_rule(a: &Rule, b: &Rule) -> bool {
    let Rule {
        id,
        name,
        priority,
        enabled,
        tags,
        matcher,
        response,
        sequence,
        forward,
        times,
        scenario,
        validate,
    } = a;
    id == &b.id
        && name == &b.name
        && priority == &b.priority
        && enabled == &b.enabled
        && tags == &b.tags
        && same_match(matcher, &b.matcher)
        && same_opt(response.as_ref(), b.response.as_ref(), same_response)
        && same_opt(sequence.as_ref(), b.sequence.as_ref(), |x, y| {
            let Sequence { mode, responses } = x;
            mode == &y.mode && same_list(responses, &y.responses, same_response)
        })
        && forward == &b.forward
        && times == &b.times
        && scenario == &b.scenario
        && same_opt(validate.as_ref(), b.validate.as_ref(), same_validation)
}

fn same_validation(a: &RequestValidation, b: &RequestValidation) -> bool {
    let RequestValidation { path, query, headers, cookies, body } = a;
    let check = |x: &ValueCheck, y: &ValueCheck| {
        x.required == y.required && same_opt(x.schema.as_ref(), y.schema.as_ref(), same_json)
    };
    let map = |x: &std::collections::BTreeMap<String, ValueCheck>,
               y: &std::collections::BTreeMap<String, ValueCheck>| {
        x.len() == y.len() && x.iter().zip(y).all(|((kx, cx), (ky, cy))| kx == ky && check(cx, cy))
    };
    map(path, &b.path)
        && map(query, &b.query)
        && map(headers, &b.headers)
        && map(cookies, &b.cookies)
        && same_opt(body.as_ref(), b.body.as_ref(), check)
}

fn same_match(a: &RequestMatch, b: &RequestMatch) -> bool {
    let RequestMatch { method, host, path, query, headers, cookies, body, client_ip, graphql, url, form } = a;
    url == &b.url
        && form == &b.form
        && method == &b.method
        && host == &b.host
        && path == &b.path
        && query == &b.query
        && headers == &b.headers
        && cookies == &b.cookies
        && same_opt(body.as_ref(), b.body.as_ref(), same_body)
        && client_ip == &b.client_ip
        && same_opt(graphql.as_ref(), b.graphql.as_ref(), |x, y| {
            let GraphqlMatch { operation, name, variables } = x;
            operation == &y.operation
                && name == &y.name
                && same_opt(variables.as_ref(), y.variables.as_ref(), same_body)
        })
}

fn same_response(a: &Response, b: &Response) -> bool {
    let Response {
        status,
        reason,
        headers,
        body,
        json,
        base64,
        file,
        template,
        delay,
        faults,
        chunked_dribble,
    } = a;
    status == &b.status
        && reason == &b.reason
        && headers == &b.headers
        && body == &b.body
        && same_opt(json.as_ref(), b.json.as_ref(), same_json)
        && base64 == &b.base64
        && file == &b.file
        && template == &b.template
        && delay == &b.delay
        && faults == &b.faults
        && chunked_dribble == &b.chunked_dribble
}

fn same_body(a: &BodyMatch, b: &BodyMatch) -> bool {
    let BodyMatch {
        equals,
        contains,
        regex,
        json,
        ignore_array_order,
        ignore_extra_elements,
        jsonpath,
        json_schema,
        matches,
        and,
        or,
        not,
    } = a;
    equals == &b.equals
        && contains == &b.contains
        && regex == &b.regex
        && same_opt(json.as_ref(), b.json.as_ref(), same_json)
        && ignore_array_order == &b.ignore_array_order
        && ignore_extra_elements == &b.ignore_extra_elements
        && jsonpath == &b.jsonpath
        && same_opt(json_schema.as_ref(), b.json_schema.as_ref(), same_json)
        && same_opt(matches.as_deref(), b.matches.as_deref(), same_body)
        && same_opt(and.as_ref(), b.and.as_ref(), |x, y| same_list(x, y, same_body))
        && same_opt(or.as_ref(), b.or.as_ref(), |x, y| same_list(x, y, same_body))
        && same_opt(not.as_deref(), b.not.as_deref(), same_body)
}

fn same_opt<T>(a: Option<&T>, b: Option<&T>, same: impl Fn(&T, &T) -> bool) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

fn same_list<T>(a: &[T], b: &[T], same: impl Fn(&T, &T) -> bool) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
}

/// Equal, with object members in the same order; a float's sign of zero counts.
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| ka == kb && same_json(va, vb))
        }
        (Value::Array(x), Value::Array(y)) => same_list(x, y, same_json),
        (Value::Number(x), Value::Number(y)) => {
            x == y && x.as_f64().map(f64::to_bits) == y.as_f64().map(f64::to_bits)
        }
        _ => a == b,
    }
}
