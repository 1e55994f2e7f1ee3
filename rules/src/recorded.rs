//! A recorded exchange, a forwarded request and the answer its upstream gave, as a rule that
//! answers the same request the same way: the method, the exact path and every query parameter
//! must match; the status, the header fields that matter and the body are repeated.
//! `mockplane dataplane --record FILE` and the control plane's recording (`startRecording`)
//! both build their rules here, so a pair recorded either way replays alike.

use std::collections::BTreeMap;

use base64::Engine as _;

use crate::model::{
    HeaderValues, MethodMatch, PathMatch, PathMatchSpec, RequestMatch, Response, Rule, ValueMatch,
};

/// The tag every recorded rule carries.
pub const RECORDED_TAG: &str = "recorded";

/// Whether a recorded rule repeats an answer's header field: not the connection's own
/// (hop-by-hop, RFC 9110 §7.6.1) and not those a serving data plane sets itself.
pub fn repeated_header(name: &str) -> bool {
    !crate::forward::is_hop_by_hop(name) && !["date", "server"].iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// The name of the rule recorded for `method target`: `GET /items?page=2` (the control plane
/// knows a pair it already recorded by it).
pub fn rule_name(method: &str, target: &str) -> String {
    format!("{method} {target}")
}

/// The enabled rule `id`, named by [`rule_name`] and tagged [`RECORDED_TAG`], that answers
/// `method target` with `status`, the `headers` a rule repeats ([`repeated_header`]; a field
/// seen twice keeps both values, in order) and `body` (as text when it is UTF-8, else base64).
pub fn recorded_rule<'a>(
    id: String,
    method: &str,
    target: &str,
    status: u16,
    headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    body: &[u8],
) -> Rule {
    let (path, query) = crate::request::split_target(target);
    let query: BTreeMap<String, ValueMatch> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), ValueMatch::Equals(v.into_owned())))
        .collect();
    let mut kept: BTreeMap<String, HeaderValues> = BTreeMap::new();
    for (name, value) in headers.into_iter().filter(|(n, _)| repeated_header(n)) {
        let (name, value) = (name.to_ascii_lowercase(), String::from_utf8_lossy(value).into_owned());
        let next = match kept.remove(&name) {
            None => HeaderValues::One(value),
            Some(HeaderValues::One(first)) => HeaderValues::Many(vec![first, value]),
            Some(HeaderValues::Many(mut all)) => {
                all.push(value);
                HeaderValues::Many(all)
            }
        };
        kept.insert(name, next);
    }
    let (body, base64) = match std::str::from_utf8(body) {
        Ok("") => (None, None),
        Ok(text) => (Some(text.to_owned()), None),
        Err(_) => (None, Some(base64::engine::general_purpose::STANDARD.encode(body))),
    };
    Rule {
        id,
        name: Some(rule_name(method, target)),
        priority: 0,
        enabled: true,
        tags: vec![RECORDED_TAG.into()],
        matcher: RequestMatch {
            method: Some(MethodMatch::One(method.to_owned())),
            // Explicit: a recorded path holding `{` is not a template.
            path: Some(PathMatch::Explicit(PathMatchSpec {
                exact: Some(path.to_owned()),
                ..Default::default()
            })),
            query,
            ..Default::default()
        },
        response: Some(Response { status, headers: kept, body, base64, ..Default::default() }),
        sequence: None,
        forward: None,
        times: None,
        scenario: None,
        validate: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CompileOptions, Request, RequestContext, RuleSet, RuleTable};

    #[test]
    fn a_recorded_rule_answers_its_own_request_as_the_upstream_did_and_no_other() {
        let headers: [(&str, &[u8]); 5] = [
            ("Content-Type", b"application/json"),
            ("Set-Cookie", b"a=1"),
            ("set-cookie", b"b=2"),
            ("Transfer-Encoding", b"chunked"),
            ("Date", b"Sat, 05 Dec 2026 06:00:00 GMT"),
        ];
        let rule =
            recorded_rule("r1".into(), "GET", "/items/{x}?page=2&q=a%20b", 200, headers, br#"{"ok":1}"#);
        assert_eq!(rule.name.as_deref(), Some("GET /items/{x}?page=2&q=a%20b"));
        let response = rule.response.as_ref().expect("a response");
        assert_eq!(
            response.headers.keys().map(String::as_str).collect::<Vec<_>>(),
            ["content-type", "set-cookie"],
            "hop-by-hop and server-set fields are left out"
        );
        assert_eq!(response.headers["set-cookie"], HeaderValues::Many(vec!["a=1".into(), "b=2".into()]));
        let mut set = RuleSet::default();
        set.rules.push(std::sync::Arc::new(rule));
        let set = RuleSet::from_yaml(&set.to_yaml()).expect("a recorded rule reads back from its file");
        let table = RuleTable::compile(&set, &CompileOptions::default()).expect("compiles");
        let answer = |method: &str, target: &str| {
            let request = Request::new(method, target, &[], b"");
            let cx = RequestContext::new(&request);
            let id = table.select(&cx).map(|s| s.rule_id().to_owned());
            id
        };
        assert_eq!(
            answer("GET", "/items/{x}?q=a%20b&page=2"),
            Some("r1".into()),
            "query order does not matter"
        );
        assert_eq!(answer("GET", "/items/{x}?page=3&q=a%20b"), None, "another page is another request");
        assert_eq!(answer("POST", "/items/{x}?page=2&q=a%20b"), None);
        assert_eq!(answer("GET", "/items/y?page=2&q=a%20b"), None, "the braces are literal, not a template");
    }

    #[test]
    fn a_binary_body_is_kept_as_base64_and_an_empty_one_as_none() {
        let binary = recorded_rule("b".into(), "GET", "/bin", 200, [], &[0xff, 0x00]);
        assert_eq!(binary.response.as_ref().and_then(|r| r.base64.as_deref()), Some("/wA="));
        let empty = recorded_rule("e".into(), "DELETE", "/x", 204, [], b"");
        let r = empty.response.as_ref().expect("a response");
        assert_eq!((r.status, r.body.as_deref(), r.base64.as_deref()), (204, None, None));
    }
}
