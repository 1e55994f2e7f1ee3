//! WireMock stub mappings into a mockplane [`RuleSet`], and back.
//!
//! Sources are a WireMock root (a folder holding `mappings/` and `__files/`), a `mappings/`
//! folder, a single stub file, or a `{"mappings": [...]}` document. Each stub becomes one rule
//! that answers as WireMock would: its request patterns become predicates, its response a
//! `response` (or a `forward` to an upstream for `proxyBaseUrl`), its scenario a scenario step.
//!
//! WireMock picks the stub with the lowest `priority` (default 5) and, among equals, the one
//! added last; mockplane picks the highest `priority`, then the most specific path. So every
//! rule gets a priority of its own, `ordinal - wiremock_priority * PRIORITY_BLOCK`: WireMock's
//! priority decides first, the later stub wins a tie, and path specificity never comes into
//! play. Stubs are added in the order of their files' names, then their order in a file.
//!
//! A stub whose request uses something without an equivalent (XPath, a custom matcher) is not
//! imported at all, since dropping a predicate would make it answer requests WireMock would
//! not; a response part without one (`transformerParameters`, a capped lognormal delay) is left
//! out and the rest of the stub imported. Both are listed in [`Imported::unsupported`] with their place,
//! and so is a stub the rules engine refuses (a Java regex feature Rust's lacks, a template
//! helper mockplane does not have).

mod export;
mod request;
mod response;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use mockplane_rules::model::{Rule, RuleSet, ScenarioStep};
use mockplane_rules::CompileOptions;
use serde_json::{Map, Value};

use crate::{ImportError, Imported, Unsupported};

pub use export::export;

/// Priorities of one WireMock priority level: `ordinal - priority * PRIORITY_BLOCK`, so up to
/// this many stubs keep their order within a level.
pub const PRIORITY_BLOCK: i32 = 100_000;
/// WireMock's priority for a stub without one.
pub const DEFAULT_PRIORITY: i32 = 5;
/// The largest WireMock priority (either sign) that fits the encoding in an `i32`.
const MAX_PRIORITY: i64 = 20_000;

/// How stubs are read.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Render every response as a template, as WireMock's `--global-response-templating`.
    pub global_templating: bool,
}

/// One stub document (a stub, or `{"mappings": [...]}`) with where it came from.
#[derive(Debug, Clone)]
pub struct Document {
    /// How places in it are prefixed: `mappings/users.json: `, or nothing.
    pub label: String,
    /// The parsed JSON.
    pub value: Value,
}

/// Reads a WireMock root, a `mappings/` folder or one JSON file.
pub fn import_path(path: &Path, options: &Options) -> Result<Imported, ImportError> {
    let (documents, files) = read_path(path)?;
    import_documents(documents, files.as_deref(), options)
}

/// Converts stub documents in order (later stubs win ties, as added later in WireMock).
pub fn import_documents(
    documents: Vec<Document>,
    files: Option<&Path>,
    options: &Options,
) -> Result<Imported, ImportError> {
    convert(documents, files, options)
}

/// The stub documents of a WireMock root, a `mappings/` folder or one JSON file, in the
/// order WireMock would add them (file names sorted), and the `__files` folder if any.
pub fn read_path(path: &Path) -> Result<(Vec<Document>, Option<PathBuf>), ImportError> {
    let read_err = |p: &Path, source| ImportError::Read { path: p.display().to_string(), source };
    let meta = std::fs::metadata(path).map_err(|e| read_err(path, e))?;
    let (files, mut paths, base) = if meta.is_dir() {
        let (mappings, files) = if path.join("mappings").is_dir() {
            (path.join("mappings"), path.join("__files"))
        } else {
            (path.to_path_buf(), path.parent().map(|p| p.join("__files")).unwrap_or_default())
        };
        let mut found = Vec::new();
        collect_json(&mappings, &mut found).map_err(|e| read_err(&mappings, e))?;
        (files, found, mappings)
    } else {
        let parent = path.parent().unwrap_or(Path::new("."));
        let files = match parent.join("__files").is_dir() {
            true => parent.join("__files"),
            false => parent.parent().map(|p| p.join("__files")).unwrap_or_default(),
        };
        (files, vec![path.to_path_buf()], parent.to_path_buf())
    };
    paths.sort();
    let mut sources = Vec::with_capacity(paths.len());
    for p in &paths {
        let text = std::fs::read_to_string(p).map_err(|e| read_err(p, e))?;
        let label = p.strip_prefix(&base).unwrap_or(p).display().to_string();
        let value = serde_json::from_str(&text)
            .map_err(|e| ImportError::Invalid { place: label.clone(), message: format!("not JSON: {e}") })?;
        sources.push(Document { label: format!("{label}: "), value });
    }
    Ok((sources, files.is_dir().then_some(files)))
}

/// Reads one stub or a `{"mappings": [...]}` document given as JSON text; `files` is the
/// `__files` folder `bodyFileName` is read from, if any.
pub fn import_str(text: &str, files: Option<&Path>, options: &Options) -> Result<Imported, ImportError> {
    let value = serde_json::from_str(text)
        .map_err(|e| ImportError::Invalid { place: String::new(), message: format!("not JSON: {e}") })?;
    import_value(value, files, options)
}

/// As [`import_str`], from a parsed JSON value.
pub fn import_value(value: Value, files: Option<&Path>, options: &Options) -> Result<Imported, ImportError> {
    convert(vec![Document { label: String::new(), value }], files, options)
}

/// A WireMock request pattern (the `request` of a stub, or the body of
/// `POST /__admin/requests/count`) as mockplane predicates.
pub fn request_pattern(value: &Value) -> Result<mockplane_rules::model::RequestMatch, Unsupported> {
    let options = Options::default();
    let mut cx = Cx { files: None, options: &options, upstreams: BTreeMap::new(), unsupported: Vec::new() };
    let Some(obj) = value.as_object() else {
        return Err(Unsupported {
            place: String::new(),
            message: "a request pattern is a JSON object".into(),
        });
    };
    request::convert(obj, "", &mut cx).map_err(|s| Unsupported { place: s.place, message: s.message })
}

fn collect_json(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_json(&path, out)?;
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            out.push(path);
        }
    }
    Ok(())
}

/// What converting one stub needs besides the stub.
pub(crate) struct Cx<'a> {
    pub(crate) files: Option<&'a Path>,
    pub(crate) options: &'a Options,
    /// Upstreams made for `proxyBaseUrl`, by URL.
    pub(crate) upstreams: BTreeMap<String, String>,
    pub(crate) unsupported: Vec<Unsupported>,
}

impl Cx<'_> {
    pub(crate) fn unsupported(&mut self, place: impl Into<String>, message: impl Into<String>) {
        self.unsupported.push(Unsupported { place: place.into(), message: message.into() });
    }
}

/// A stub part that has no equivalent: the stub is not imported.
pub(crate) struct Skip {
    pub(crate) place: String,
    pub(crate) message: String,
}

pub(crate) fn skip(place: impl Into<String>, message: impl Into<String>) -> Skip {
    Skip { place: place.into(), message: message.into() }
}

fn convert(sources: Vec<Document>, files: Option<&Path>, options: &Options) -> Result<Imported, ImportError> {
    let mut cx = Cx { files, options, upstreams: BTreeMap::new(), unsupported: Vec::new() };
    let mut rules: Vec<Rule> = Vec::new();
    // Where each rule came from, for the engine's own refusals.
    let mut origins: Vec<String> = Vec::new();
    let mut ids = IdSet::default();
    for source in sources {
        let stubs: Vec<(String, &Value)> = match source.value.get("mappings") {
            Some(Value::Array(list)) => {
                list.iter().enumerate().map(|(i, s)| (format!("{}mappings[{i}]", source.label), s)).collect()
            }
            Some(_) => {
                return Err(ImportError::Invalid {
                    place: format!("{}mappings", source.label),
                    message: "must be a list of stubs".into(),
                })
            }
            None => vec![(source.label.clone(), &source.value)],
        };
        for (place, stub) in stubs {
            let ordinal =
                i32::try_from(rules.len()).ok().filter(|n| *n < PRIORITY_BLOCK).ok_or_else(|| {
                    ImportError::Invalid {
                        place: place.clone(),
                        message: format!("more than {PRIORITY_BLOCK} stubs"),
                    }
                })?;
            match stub_to_rule(stub, &place, ordinal, &mut ids, &mut cx)? {
                Ok(rule) => {
                    rules.push(rule);
                    origins.push(place);
                }
                Err(skip) => {
                    cx.unsupported(whole(&skip.place), format!("{} (stub not imported)", skip.message))
                }
            }
        }
    }
    let upstreams = cx
        .upstreams
        .iter()
        .map(|(url, name)| (name.clone(), mockplane_rules::model::Upstream::Url(url.clone())))
        .collect();
    let mut set =
        RuleSet { upstreams, rules: rules.into_iter().map(Arc::new).collect(), ..RuleSet::default() };
    drop_refused(&mut set, &mut origins, &mut cx.unsupported);
    Ok(Imported { set, unsupported: cx.unsupported })
}

/// Removes the rules the engine refuses (each error reported at its stub), until the rest
/// compiles: one refused stub must not keep the others out.
fn drop_refused(set: &mut RuleSet, origins: &mut Vec<String>, unsupported: &mut Vec<Unsupported>) {
    loop {
        let Err(refusal) = mockplane_rules::validate(set, &CompileOptions::default()) else { return };
        let mut bad = std::collections::BTreeSet::new();
        for e in &refusal.errors {
            let index = e
                .path
                .strip_prefix("rules[")
                .and_then(|r| r.split(']').next())
                .and_then(|n| n.parse::<usize>().ok());
            match index {
                Some(i) if i < origins.len() => {
                    let within = e.path.split_once(']').map_or("", |(_, rest)| rest);
                    unsupported.push(Unsupported {
                        place: whole(origins[i].as_str()).to_owned(),
                        message: format!(
                            "refused by mockplane at {}: {} (stub not imported)",
                            within.trim_start_matches('.'),
                            e.message
                        ),
                    });
                    bad.insert(i);
                }
                _ => {
                    // An upstream made from a `proxyBaseUrl`: its rules go with it.
                    let name = e.path.strip_prefix("upstreams.").and_then(|n| n.split(['.', '[']).next());
                    if let Some(name) = name.map(str::to_owned) {
                        set.upstreams.remove(&name);
                        for (i, r) in set.rules.iter().enumerate() {
                            if r.forward.as_ref().and_then(|f| f.upstream.as_deref()) == Some(&name) {
                                unsupported.push(Unsupported {
                                    place: format!("{}.response.proxyBaseUrl", origins[i]),
                                    message: format!("{} (stub not imported)", e.message),
                                });
                                bad.insert(i);
                            }
                        }
                    }
                }
            }
        }
        if bad.is_empty() {
            // Nothing left to blame on one stub: leave the set for the caller's validation.
            return;
        }
        for i in bad.into_iter().rev() {
            set.rules.remove(i);
            origins.remove(i);
        }
    }
}

/// Rule ids in use, so that each stub gets a unique one.
#[derive(Default)]
struct IdSet(std::collections::HashSet<String>);

impl IdSet {
    fn claim(&mut self, wanted: &str) -> String {
        let base: String = wanted
            .chars()
            .map(|c| if c.is_alphanumeric() || "-_.".contains(c) { c } else { '-' })
            .take(180)
            .collect();
        let base = if base.trim_matches('-').is_empty() { "stub".to_owned() } else { base };
        let mut id = base.clone();
        let mut n = 2;
        while !self.0.insert(id.clone()) {
            id = format!("{base}-{n}");
            n += 1;
        }
        id
    }
}

const STUB_KEYS: &[&str] = &[
    "id",
    "uuid",
    "name",
    "request",
    "response",
    "priority",
    "scenarioName",
    "requiredScenarioState",
    "newScenarioState",
    "persistent",
    "insertionIndex",
    "metadata",
    "postServeActions",
    "serveEventListeners",
];

fn stub_to_rule(
    stub: &Value,
    place: &str,
    ordinal: i32,
    ids: &mut IdSet,
    cx: &mut Cx<'_>,
) -> Result<Result<Rule, Skip>, ImportError> {
    let Some(obj) = stub.as_object() else {
        return Err(ImportError::Invalid {
            place: place.into(),
            message: "a stub must be a JSON object".into(),
        });
    };
    let at = |key: &str| join(place, key);
    for key in obj.keys() {
        if !STUB_KEYS.contains(&key.as_str()) {
            cx.unsupported(
                at(key),
                format!("`{key}` is not a WireMock stub field mockplane knows (ignored)"),
            );
        }
    }
    for key in ["postServeActions", "serveEventListeners"] {
        if obj.get(key).is_some_and(|v| !is_empty(v)) {
            cx.unsupported(at(key), "extensions run after serving have no equivalent (ignored)");
        }
    }
    let priority = match obj.get("priority") {
        None | Some(Value::Null) => DEFAULT_PRIORITY,
        Some(v) => match v.as_i64().filter(|p| p.abs() <= MAX_PRIORITY) {
            Some(p) => p as i32,
            None => {
                return Ok(Err(skip(at("priority"), format!("must be an integer within ±{MAX_PRIORITY}"))))
            }
        },
    };
    let name = str_field(obj, "name");
    let wanted = str_field(obj, "id").or(str_field(obj, "uuid")).or(name).unwrap_or("stub");
    let request = match obj.get("request") {
        Some(Value::Object(r)) => r,
        _ => {
            return Err(ImportError::Invalid {
                place: at("request"),
                message: "a stub needs a request object".into(),
            })
        }
    };
    let empty = Map::new();
    let response = match obj.get("response") {
        Some(Value::Object(r)) => r,
        None | Some(Value::Null) => &empty,
        Some(_) => {
            return Err(ImportError::Invalid { place: at("response"), message: "must be an object".into() })
        }
    };
    let matcher = match request::convert(request, &at("request"), cx) {
        Ok(m) => m,
        Err(s) => return Ok(Err(s)),
    };
    let action = match response::convert(response, &at("response"), cx) {
        Ok(a) => a,
        Err(s) => return Ok(Err(s)),
    };
    let scenario = scenario(obj);
    let mut rule = Rule {
        id: ids.claim(wanted),
        name: name.map(str::to_owned),
        priority: ordinal - priority * PRIORITY_BLOCK,
        enabled: true,
        tags: Vec::new(),
        matcher,
        response: None,
        sequence: None,
        forward: None,
        times: None,
        scenario,
        validate: None,
    };
    match action {
        response::Action::Respond(r) => rule.response = Some(r),
        response::Action::Forward(f) => rule.forward = Some(f),
    }
    Ok(Ok(rule))
}

fn scenario(obj: &Map<String, Value>) -> Option<ScenarioStep> {
    let name = str_field(obj, "scenarioName")?;
    let state = str_field(obj, "requiredScenarioState").map(str::to_owned);
    let next = str_field(obj, "newScenarioState").map(str::to_owned);
    // A stub in a scenario that neither needs nor sets a state matches in every state.
    (state.is_some() || next.is_some()).then(|| ScenarioStep { name: name.to_owned(), state, next })
}

pub(crate) fn str_field<'v>(obj: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    obj.get(key).and_then(Value::as_str)
}

/// A stub's own place: `mappings/a.json` for a file holding one stub.
pub(crate) fn whole(place: &str) -> &str {
    place.strip_suffix(": ").unwrap_or(place)
}

/// `place.key`, or `key` at the root.
pub(crate) fn join(place: &str, key: &str) -> String {
    if place.is_empty() {
        key.to_owned()
    } else if place.ends_with(": ") {
        format!("{place}{key}")
    } else {
        format!("{place}.{key}")
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}
