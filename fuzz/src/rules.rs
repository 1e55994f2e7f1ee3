//! The rules loader: YAML and JSON text → a validated rule set → a compiled table that selects
//! and answers requests.
//!
//! Checks, beyond not panicking or hanging: a refusal lists at least one error, each saying
//! what is wrong; a valid rule set reads back equal from its own JSON; a table that
//! compiles selects, for requests made from its own rules and a plain `GET /`, the rule that
//! `explain` says would serve them, and answers with a well-formed response.

use std::time::{Duration, SystemTime};

use mockplane_rules::model::{MethodMatch, PathMatch, RuleSet, ValueMatch};
use mockplane_rules::{
    CompileOptions, Format, Header, RenderBuffers, Reply, Request, RequestContext, RuleTable,
};
use rand::SeedableRng;

/// At most this many rules each give a request to try.
const MAX_PROBES: usize = 8;

/// The target: `data` as a rules file, read as YAML and as JSON.
pub fn rules(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for format in [Format::Yaml, Format::Json] {
        match RuleSet::parse(text, format) {
            Ok(set) => {
                if compile_and_probe(&set) {
                    // A valid set, that is: an invalid one may hold what JSON cannot (a NaN
                    // probability from YAML's `.nan`), which the compiler refuses anyway.
                    let again =
                        RuleSet::parse(&set.to_json(), Format::Json).expect("a rule set's JSON reads back");
                    assert_eq!(again, set, "a rule set's JSON reads back as another rule set");
                }
            }
            Err(e) => {
                assert!(!e.errors.is_empty(), "refused without a reason");
                assert!(e.errors.iter().all(|e| !e.message.is_empty()), "an error without a message");
            }
        }
    }
}

/// Compiles `set` and, if it compiles, probes it with requests made from its rules; whether it
/// compiled. Shared with the xDS target: a decoded rule set goes through the same compiler.
pub(crate) fn compile_and_probe(set: &RuleSet) -> bool {
    // `file:` bodies resolve in a folder that does not exist: the fuzzer reads no files by
    // relative path.
    let options = CompileOptions {
        base_dir: Some(std::env::temp_dir().join("mockplane-fuzz-no-such-dir")),
        ..CompileOptions::default()
    };
    let table = match RuleTable::compile(set, &options) {
        Ok(table) => table,
        Err(e) => {
            assert!(!e.errors.is_empty(), "refused without a reason");
            return false;
        }
    };
    assert_eq!(table.len(), set.rules.len());
    probe(&table, "GET", "/", &[], b"");
    for rule in set.rules.iter().take(MAX_PROBES) {
        let m = &rule.matcher;
        let method = match &m.method {
            Some(MethodMatch::One(one)) if one != "ANY" && one != "*" => one.as_str(),
            Some(MethodMatch::AnyOf(list)) => list.first().map_or("GET", String::as_str),
            _ => "GET",
        };
        let mut target = match &m.path {
            Some(PathMatch::Short(p)) => fill_template(p),
            Some(PathMatch::Explicit(p)) => p
                .exact
                .clone()
                .or_else(|| p.prefix.clone())
                .or_else(|| p.template.as_deref().map(fill_template))
                .unwrap_or_else(|| "/".into()),
            None => "/".into(),
        };
        let mut sep = if target.contains('?') { '&' } else { '?' };
        for (name, value) in &m.query {
            if let ValueMatch::Equals(v) = value {
                target.push(sep);
                target.push_str(name);
                target.push('=');
                target.push_str(v);
                sep = '&';
            }
        }
        let mut headers: Vec<Header<'_>> = m
            .headers
            .iter()
            .filter_map(|(name, value)| match value {
                ValueMatch::Equals(v) => Some(Header { name, value: v.as_bytes() }),
                ValueMatch::Spec(_) => None,
            })
            .collect();
        if let Some(host) = m.host.as_deref().filter(|h| !h.contains('*')) {
            headers.push(Header { name: "Host", value: host.as_bytes() });
        }
        let json_body;
        let body: &[u8] = match &m.body {
            Some(b) if b.equals.is_some() => b.equals.as_deref().unwrap_or_default().as_bytes(),
            Some(b) if b.json.is_some() => {
                json_body = b.json.as_ref().map(|v| v.to_string()).unwrap_or_default();
                json_body.as_bytes()
            }
            _ => b"",
        };
        probe(&table, method, &target, &headers, body);
    }
    true
}

/// `/users/{id}/{*rest}` with each parameter filled: `/users/1/1`.
fn fill_template(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' if !in_param => in_param = true,
            '}' if in_param => {
                in_param = false;
                out.push('1');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Selects and answers one request, checking selection against `explain`.
fn probe(table: &RuleTable, method: &str, target: &str, headers: &[Header<'_>], body: &[u8]) {
    let req = Request::new(method, target, headers, body).with_client_ip([127, 0, 0, 1].into());
    let cx = RequestContext::new(&req);
    // `explain` changes no state; selecting may (budgets, scenarios), so it goes second.
    let explained = table.explain(&cx).selected;
    let Some(selection) = table.select(&cx) else {
        assert_eq!(explained, None, "explain names a rule where selection finds none");
        return;
    };
    assert_eq!(explained.as_deref(), Some(selection.rule_id()), "explain and selection disagree");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut buffers = RenderBuffers::default();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_772_368_496);
    let answer = table.answer(&selection, &cx, now, &mut rng, &mut buffers);
    match answer.reply {
        Reply::Static(response) => {
            assert!(response.bytes().starts_with(b"HTTP/1.1 "), "a static response without a status line");
        }
        Reply::Rendered { status } => {
            assert!((100..=999).contains(&status), "status {status}");
            assert!(buffers.head.starts_with(b"HTTP/1.1 "), "a rendered response without a status line");
        }
        Reply::Fault(_) | Reply::Forward(_) => {}
    }
}
