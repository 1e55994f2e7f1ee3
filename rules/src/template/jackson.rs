//! JSON printed as WireMock prints a `jsonPath` object: Jackson's default pretty printer.
//!
//! Objects put each member on its own line, indented two spaces per level, as `"key" : value`;
//! arrays stay on one line as `[ 1, 2 ]`; empty ones are `{ }` and `[ ]`. Strings escape as
//! Jackson does (`\n`, `\t`, …, other control characters as `\u00XX` in upper case; `/` and
//! non-ASCII text as is), which differs from serde_json's lower-case `\u00xx`.

use serde_json::Value;

/// Appends `value` pretty-printed, its nested lines indented for `level` (0 at the top).
pub(super) fn write_pretty(out: &mut Vec<u8>, value: &Value, level: usize) {
    match value {
        Value::Object(map) if map.is_empty() => out.extend_from_slice(b"{ }"),
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, member)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                newline(out, level + 1);
                write_string(out, key);
                out.extend_from_slice(b" : ");
                write_pretty(out, member, level + 1);
            }
            newline(out, level);
            out.push(b'}');
        }
        Value::Array(items) if items.is_empty() => out.extend_from_slice(b"[ ]"),
        Value::Array(items) => {
            // Jackson's array indenter writes a space, not a line, and adds no level.
            out.extend_from_slice(b"[ ");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_pretty(out, item, level);
            }
            out.extend_from_slice(b" ]");
        }
        Value::String(s) => write_string(out, s),
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
    }
}

fn newline(out: &mut Vec<u8>, level: usize) {
    out.push(b'\n');
    out.resize(out.len() + 2 * level, b' ');
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::write_pretty;

    fn pretty(json: &str) -> String {
        let mut out = Vec::new();
        write_pretty(&mut out, &serde_json::from_str(json).expect("test JSON"), 0);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn objects_are_one_member_a_line_and_arrays_one_line_as_jackson_prints_them() {
        // The bytes WireMock 3.13.2 answered (import/tests/wiremock_diff/expected.json).
        assert_eq!(pretty(r#"{"x":1}"#), "{\n  \"x\" : 1\n}");
        assert_eq!(
            pretty(r#"{"a":{"b":[1,{"c":null}],"d":"e"},"f":[]}"#),
            "{\n  \"a\" : {\n    \"b\" : [ 1, {\n      \"c\" : null\n    } ],\n    \"d\" : \"e\"\n  },\n  \"f\" : [ ]\n}"
        );
        assert_eq!(pretty("{}"), "{ }");
    }

    #[test]
    fn strings_escape_control_characters_in_upper_case_hex() {
        assert_eq!(pretty(r#"{"k":"a\"b\\c\n\u0001/é"}"#), "{\n  \"k\" : \"a\\\"b\\\\c\\n\\u0001/é\"\n}");
    }
}
