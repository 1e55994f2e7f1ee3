//! JSONPath parsing with a bound on nesting, for the `jsonpath` body matcher and the
//! `jsonPath` template helper.
//!
//! `serde_json_path`'s parser recurses once per `[` or `(` level, and its time doubles with each
//! `[` nested in another (a filter in a filter: 14 levels took 60 ms, 20 would take seconds). A
//! rules file with a thousand nested filters (`$[?@[?@[?@…]]]`, 5 KB) overflowed the stack and
//! aborted `mockplane validate`. Real paths nest two or three brackets deep, so deeper ones are
//! refused before the parser sees them.
//!
//! The parser also panics (`unreachable!`, a streaming `one_of` returning `Incomplete`) on a
//! path that ends in the middle of a `\u` escape, such as `$['\u`. A path that ends inside a
//! string is never valid, so such a path is refused here too.

use serde_json_path::JsonPath;

/// How deep `[…]` may nest in a JSONPath: 6 levels parse in well under a millisecond.
pub(crate) const MAX_BRACKETS: usize = 6;
/// How deep `(…)` may nest in a JSONPath (their cost is linear; the bound is for the stack).
pub(crate) const MAX_PARENS: usize = 32;

/// Parses `path`, refusing nesting past [`MAX_BRACKETS`] or [`MAX_PARENS`], and a string left
/// open at the end, with a message naming its position.
pub(crate) fn parse(path: &str) -> Result<JsonPath, String> {
    check_nesting(path)?;
    JsonPath::parse(path).map_err(|e| e.to_string())
}

/// Counts bracket and parenthesis depth outside quoted names and strings, and checks that the
/// last string is closed.
fn check_nesting(path: &str) -> Result<(), String> {
    let (mut brackets, mut parens) = (0usize, 0usize);
    let mut quote = None;
    let mut opened = 0;
    let mut escaped = false;
    for (at, c) in path.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    opened = at;
                }
                '[' => {
                    brackets += 1;
                    if brackets > MAX_BRACKETS {
                        return Err(format!(
                            "brackets nest more than {MAX_BRACKETS} deep (at position {at})"
                        ));
                    }
                }
                '(' => {
                    parens += 1;
                    if parens > MAX_PARENS {
                        return Err(format!(
                            "parentheses nest more than {MAX_PARENS} deep (at position {at})"
                        ));
                    }
                }
                ']' => brackets = brackets.saturating_sub(1),
                ')' => parens = parens.saturating_sub(1),
                _ => {}
            },
        }
    }
    match quote {
        Some(_) => Err(format!("the string at position {opened} is not closed")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_filters(depth: usize) -> String {
        format!("$[{}?@.a{}]", "?@[".repeat(depth - 1), "]".repeat(depth - 1))
    }

    fn nested_parens(depth: usize) -> String {
        format!("$[?{}@.a{}]", "(".repeat(depth), ")".repeat(depth))
    }

    #[test]
    fn paths_nest_up_to_the_bound() {
        assert!(parse("$.store.book[?(@.price < 10 && (@.a || @.b))].title").is_ok());
        assert!(parse(&nested_filters(MAX_BRACKETS)).is_ok(), "{}", nested_filters(MAX_BRACKETS));
        assert!(parse(&nested_parens(MAX_PARENS - 1)).is_ok(), "{}", nested_parens(MAX_PARENS - 1));
        // Side by side is not nested.
        assert!(parse(&"[0]".repeat(50).replacen("", "$", 1)).is_ok());
    }

    #[test]
    fn deeper_nesting_is_refused_with_its_position_not_a_crash() {
        let e = parse(&nested_filters(MAX_BRACKETS + 1)).expect_err("too deep");
        assert_eq!(e, "brackets nest more than 6 deep (at position 19)");
        let e = parse(&nested_parens(MAX_PARENS + 1)).expect_err("too deep");
        assert_eq!(e, "parentheses nest more than 32 deep (at position 35)");
        let e = parse(&nested_filters(100_000)).expect_err("too deep");
        assert!(e.contains("brackets nest more than"), "{e}");
    }

    #[test]
    fn a_path_ending_inside_a_string_is_refused_not_a_crash() {
        // The parser panicked on each of these: the end came in the middle of a `\u` escape.
        for path in [r"$['\u", r#"$["\u"#, r"$['\uD", r"$['\uD800\u", r"$['\uD800\uD", r"$[?@.a == '\u"] {
            let e = parse(path).expect_err(path);
            assert!(e.contains("is not closed"), "{path}: {e}");
        }
        assert_eq!(parse("$[?@.a == 'x]").expect_err("open"), "the string at position 10 is not closed");
        // Closed strings with escapes still parse.
        assert!(parse(r"$['\u00e9\uD83D\uDE00']").is_ok());
        assert!(parse(r#"$["it's", 'say \'hi\'']"#).is_ok());
    }

    #[test]
    fn brackets_inside_quotes_do_not_count() {
        let quoted = format!("$['{}']", "[(".repeat(100));
        assert!(parse(&quoted).is_ok());
        let escaped = format!("$[\"a\\\"{}\"]", "[".repeat(100));
        assert!(parse(&escaped).is_ok(), "{escaped}");
        // Still a syntax error, not a nesting one, when the path is broken.
        assert!(!parse("$['a").expect_err("unclosed").contains("nest"));
    }
}
