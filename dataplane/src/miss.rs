//! The answer to a request no rule serves: a 404 whose JSON body names the closest rules and
//! what each lacked.
//!
//! By default the closest rules come from the path index ([`RuleTable::near_misses`]): a
//! bounded number of checks, whatever the size of the table, so that unmatched traffic (a
//! test suite calling an unmocked endpoint, a sidecar's passthrough, random paths sent on
//! purpose) costs about what a hit costs. A request carrying `x-mockplane-explain: all` gets
//! every rule checked instead, unless the operator turned that header off. The body is written
//! straight into the connection's buffer: only the verdicts kept are allocated.

use mockplane_rules::{RequestContext, RuleTable, RuleVerdict};

/// The request header that asks a 404 to check every rule, not only those the index reaches.
pub(crate) const EXPLAIN_HEADER: &str = "x-mockplane-explain";

/// How many closest rules a 404 names by default, and with `x-mockplane-explain: all`.
const NAMED: usize = 3;
const NAMED_WHEN_ASKED: usize = 10;

/// Writes the JSON body of a 404 for `cx` into `out`.
pub(crate) fn write_body(
    out: &mut Vec<u8>,
    table: &RuleTable,
    cx: &RequestContext<'_>,
    explain_header: bool,
) {
    let asked =
        explain_header && cx.req.header(EXPLAIN_HEADER).is_some_and(|v| v.eq_ignore_ascii_case("all"));
    out.extend_from_slice(br#"{"error":"no rule matched","request":{"method":"#);
    json_str(out, cx.req.method);
    out.extend_from_slice(br#","path":"#);
    json_str(out, cx.req.path);
    out.extend_from_slice(br#","query":"#);
    json_str(out, cx.req.query);
    out.extend_from_slice(br#"},"closest_rules":["#);
    let (checked, more) = if asked {
        let explanation = table.explain(cx);
        write_verdicts(out, explanation.near_misses(NAMED_WHEN_ASKED).into_iter());
        (explanation.rules.len(), false)
    } else {
        let near = table.near_misses(cx, NAMED);
        write_verdicts(out, near.rules.iter());
        (near.checked, near.truncated)
    };
    out.extend_from_slice(br#"],"checked":"#);
    out.extend_from_slice(crate::answer::decimal(checked, &mut [0; 20]));
    if !asked {
        let hint: &[u8] = match (checked, more) {
            (0, _) => b"no rule's path matches this path",
            (_, true) => b"more rules match this path than a 404 checks",
            _ => b"",
        };
        if !hint.is_empty() {
            out.extend_from_slice(br#","hint":""#);
            out.extend_from_slice(hint);
            if explain_header {
                out.extend_from_slice(b"; send the header x-mockplane-explain: all to check every rule");
            }
            out.push(b'"');
        }
    }
    out.push(b'}');
}

fn write_verdicts<'v>(out: &mut Vec<u8>, verdicts: impl Iterator<Item = &'v RuleVerdict>) {
    for (i, v) in verdicts.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"rule":"#);
        json_str(out, &v.rule_id);
        out.extend_from_slice(br#","failed":"#);
        match &v.failed {
            Some(m) => {
                out.extend_from_slice(br#"{"predicate":"#);
                json_str(out, &m.predicate);
                out.extend_from_slice(br#","expected":"#);
                json_str(out, &m.expected);
                out.extend_from_slice(br#","actual":"#);
                json_str(out, &m.actual);
                out.push(b'}');
            }
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
    }
}

/// `s` as a JSON string: quotes, backslashes and control characters escaped.
pub(crate) fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    // Request paths and rule ids rarely need escaping: one scan, one copy.
    if !bytes.iter().any(|&b| needs_escape(b)) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut from = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !needs_escape(b) {
            continue;
        }
        out.extend_from_slice(&bytes[from..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]);
            }
        }
        from = i + 1;
    }
    out.extend_from_slice(&bytes[from..]);
    out.push(b'"');
}

#[inline]
fn needs_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(s: &str) -> String {
        let mut out = Vec::new();
        json_str(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_json_parses_them() {
        for s in ["", "plain", "a\"b", "back\\slash", "line\nfeed\r\t", "\u{1}\u{1f}\u{7f}", "é ü 日本"] {
            let json = escaped(s);
            assert_eq!(serde_json::from_str::<String>(&json).unwrap(), s, "{json}");
        }
    }
}
