//! A hint for the most common YAML mistake in rules files: a value with `{` left unquoted.
//! In YAML, `{` opens a flow mapping, so `path: /users/{id}` inside `{ … }` and
//! `body: {{request.body}}` anywhere do not mean text. The parser's own message ("did not find
//! expected ',' or '}'", "invalid type: map, expected a string key") does not say so.

/// The hint for a YAML error at 1-based `line` of `text`, when that line (or the one before
/// it, for errors reported where the next token starts) has an unquoted `{` that looks like
/// part of a path or a template rather than the start of a mapping.
pub(super) fn brace_hint(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let candidates = [line, line.saturating_sub(1)];
    let (at, value) = candidates
        .iter()
        .filter(|&&n| n >= 1)
        .find_map(|&n| lines.get(n - 1).and_then(|l| suspicious_value(l)).map(|v| (n, v)))?;
    Some(format!(
        "hint: quote values that start with '{{' or contain '{{{{', e.g. path: \"/users/{{id}}\" \
         (line {at} has {value} unquoted)"
    ))
}

/// The first plain (unquoted) value on `line` with a `{` glued to text before it
/// (`/users/{id}`) or doubled (`{{request.body}}`), comments and quoted strings aside.
fn suspicious_value(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let prev = if i == 0 { b' ' } else { b[i - 1] };
        match quote {
            Some(b'"') if c == b'\\' => i += 1,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if (c == b'"' || c == b'\'') && is_token_start(prev) => quote = Some(c),
            None if c == b'#' && (i == 0 || prev == b' ' || prev == b'\t') => return None,
            None if c == b'{' && (b.get(i + 1) == Some(&b'{') || !is_token_start(prev)) => {
                return Some(word_around(line, i));
            }
            None => {}
        }
        i += 1;
    }
    None
}

/// Whether a token may start after `prev`: a quote or `{` there opens a string or mapping.
fn is_token_start(prev: u8) -> bool {
    matches!(prev, b' ' | b'\t' | b'[' | b'{' | b',' | b':')
}

/// The whitespace-delimited word of `line` around byte `at`, without a trailing `,`.
fn word_around(line: &str, at: usize) -> &str {
    let start = line[..at].rfind([' ', '\t']).map_or(0, |i| i + 1);
    let end = line[at..].find([' ', '\t']).map_or(line.len(), |i| at + i);
    line[start..end].trim_end_matches(',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brace_glued_to_text_or_doubled_is_suspicious() {
        assert_eq!(suspicious_value("    match: { method: GET, path: /users/{id} }"), Some("/users/{id}"));
        assert_eq!(suspicious_value("      body: {{request.body}}"), Some("{{request.body}}"));
        assert_eq!(
            suspicious_value("  headers: { location: /pets/{{request.path.id}}, x: y }"),
            Some("/pets/{{request.path.id}}")
        );
    }

    #[test]
    fn mappings_quoted_strings_and_comments_are_not() {
        for line in [
            "    match: { method: GET, path: \"/users/{id}\" }",
            "    response: { body: '{{request.body}}' }",
            "  - { id: a, json: [{ a: 1 }, { b: {c: 2} }] }",
            "    body: \"a \\\" {x}\"   # not /a/{b} either",
            "    json: {\"a\": {\"b\": 1}}",
        ] {
            assert_eq!(suspicious_value(line), None, "{line}");
        }
    }
}
