//! Resolution of WireMock's value helpers (`eq`, `math`, `regexExtract`, `size`, …): argument
//! counts and kinds checked, regular expressions compiled, operators and formats decided, so
//! rendering only computes.

use super::{PResult, Parser, RawCall, RawValue};
use crate::template::date::{parse_date, DateParser};
use crate::template::{CmpOp, Expr, Helper, MathOp, NowFormat, Transform};

/// The largest `pickRandom count=…`.
const MAX_PICK: i64 = 10_000;

impl<'s> Parser<'s> {
    /// `name` is one of `resolve::VALUE_HELPERS`; `top` says the call is a whole `{{ }}` (where
    /// the assigning forms of `regexExtract` and `parseJson` may stand), not a sub-expression.
    pub(super) fn value_helper(&mut self, name: &str, mut call: RawCall<'s>, top: bool) -> PResult<Expr> {
        let at = call.head.start;
        let helper = match name {
            "eq" | "neq" | "ne" | "gt" | "gte" | "lt" | "lte" => {
                self.hash_args(&mut call, name, &[])?;
                let [a, b] =
                    self.exactly::<2>(call, name, "two values to compare, such as `request.method 'POST'`")?;
                let op = match name {
                    "eq" => CmpOp::Eq,
                    "neq" | "ne" => CmpOp::Neq,
                    "gt" => CmpOp::Gt,
                    "gte" => CmpOp::Gte,
                    "lt" => CmpOp::Lt,
                    _ => CmpOp::Lte,
                };
                Helper::Compare { op, a, b }
            }
            "and" | "or" => {
                self.hash_args(&mut call, name, &[])?;
                if call.params.is_empty() {
                    return Err(self.error(at, format!("`{name}` needs at least 1 value, found none")));
                }
                let values = self.all_values(call)?;
                if name == "and" {
                    Helper::And(values)
                } else {
                    Helper::Or(values)
                }
            }
            "not" => {
                self.hash_args(&mut call, name, &[])?;
                let [v] = self.exactly::<1>(call, name, "the value to negate")?;
                Helper::Not(v)
            }
            "contains" => {
                self.hash_args(&mut call, name, &[])?;
                let [haystack, needle] =
                    self.exactly::<2>(call, name, "the text or list, and what it should contain")?;
                Helper::Contains { haystack, needle }
            }
            "matches" => {
                self.hash_args(&mut call, name, &[])?;
                self.count(&call, name, 2, 2, "the text, and a quoted regular expression")?;
                let mut params = call.params.into_iter();
                let value = self.next_value(&mut params)?;
                let regex = self.regex(params.next(), name, true)?;
                Helper::Matches { value, regex }
            }
            "regexExtract" => {
                let [default] = self.hash_args(&mut call, name, &["default"])?.try_into().unwrap_or_default();
                self.count(
                    &call,
                    name,
                    2,
                    3,
                    "the text, a quoted regular expression, and optionally a variable name",
                )?;
                let mut params = call.params.into_iter();
                let value = self.next_value(&mut params)?;
                let regex = self.regex(params.next(), name, false)?;
                let default = match default {
                    Some((_, v)) => Some(self.resolve_value(v)?),
                    None => None,
                };
                let var = match params.next() {
                    None => None,
                    Some(var) => Some(self.var_name(var, name, top)?),
                };
                Helper::RegexExtract { value, regex, var, default }
            }
            "parseJson" => {
                self.hash_args(&mut call, name, &[])?;
                self.count(&call, name, 1, 2, "the JSON text, and optionally a variable name")?;
                let mut params = call.params.into_iter();
                let value = self.next_value(&mut params)?;
                let var = match params.next() {
                    None => None,
                    Some(var) => Some(self.var_name(var, name, top)?),
                };
                Helper::ParseJson { value, var }
            }
            "math" => {
                self.hash_args(&mut call, name, &[])?;
                self.count(&call, name, 3, 3, "a number, a quoted operator and a number, such as `1 '+' 2`")?;
                let mut params = call.params.into_iter();
                let a = self.next_value(&mut params)?;
                let op = match params.next() {
                    Some(RawValue::Str { value, start, .. }) => match value.as_str() {
                        "+" => MathOp::Add,
                        "-" => MathOp::Sub,
                        "*" | "x" => MathOp::Mul,
                        "/" => MathOp::Div,
                        "%" => MathOp::Rem,
                        other => {
                            return Err(self.error(
                                start,
                                format!("unknown `math` operator '{other}' (operators: + - * x / %)"),
                            ))
                        }
                    },
                    Some(other) => {
                        return Err(self.error(
                            other.start(),
                            format!(
                                "the operator of `math` must be quoted, such as '+', found {}",
                                other.kind()
                            ),
                        ))
                    }
                    None => return Err(self.error(at, "`math` needs an operator")),
                };
                let b = self.next_value(&mut params)?;
                Helper::Math { a, op, b }
            }
            "base64" | "urlEncode" | "trim" | "upper" | "lower" => {
                let allowed: &[&str] = match name {
                    "base64" => &["decode", "padding"],
                    "urlEncode" => &["decode", "encoding"],
                    _ => &[],
                };
                let [decode, padding_or_encoding] =
                    match self.hash_args(&mut call, name, allowed)?.as_mut_slice() {
                        [a, b] => [a.take(), b.take()],
                        _ => [None, None],
                    };
                let decode = match decode {
                    Some((_, v)) => self.expect_bool("decode", &v)?,
                    None => false,
                };
                let how = match name {
                    "base64" => Transform::Base64 {
                        decode,
                        padding: match padding_or_encoding {
                            Some((_, v)) => self.expect_bool("padding", &v)?,
                            None => true,
                        },
                    },
                    "urlEncode" => {
                        if let Some((_, v)) = padding_or_encoding {
                            let encoding = self.expect_str("encoding", &v)?;
                            if !encoding.eq_ignore_ascii_case("utf-8")
                                && !encoding.eq_ignore_ascii_case("utf8")
                            {
                                return Err(self.error(
                                    v.start(),
                                    format!("only encoding='utf-8' is supported, found '{encoding}'"),
                                ));
                            }
                        }
                        Transform::UrlEncode { decode }
                    }
                    "trim" => Transform::Trim,
                    "upper" => Transform::Upper,
                    _ => Transform::Lower,
                };
                let [value] = self.exactly::<1>(call, name, "the text")?;
                Helper::Transform { value, how }
            }
            "size" => {
                self.hash_args(&mut call, name, &[])?;
                let [v] = self.exactly::<1>(call, name, "a text, list or object")?;
                Helper::Size(v)
            }
            "pickRandom" => {
                let [count] = self.hash_args(&mut call, name, &["count"])?.try_into().unwrap_or_default();
                let count = match count {
                    None => None,
                    Some((_, v)) => {
                        let n = self.expect_int("count", &v)?;
                        if !(1..=MAX_PICK).contains(&n) {
                            return Err(self.error(
                                v.start(),
                                format!("`count` must be between 1 and {MAX_PICK}, found {n}"),
                            ));
                        }
                        Some(n as usize)
                    }
                };
                if call.params.is_empty() {
                    return Err(self.error(
                        at,
                        "`pickRandom` needs values to pick from: several (`'a' 'b'`) or one list",
                    ));
                }
                Helper::PickRandom { values: self.all_values(call)?, count }
            }
            "dateFormat" => {
                let [format] = self.hash_args(&mut call, name, &["format"])?.try_into().unwrap_or_default();
                self.count(&call, name, 1, 2, "a date, such as `(now)`, and a pattern")?;
                let mut params = call.params.into_iter();
                let value = self.next_value(&mut params)?;
                let pattern = match (params.next(), format) {
                    (Some(p), None) | (None, Some((_, p))) => p,
                    (Some(p), Some(_)) => {
                        return Err(self.error(p.start(), "`dateFormat` takes its pattern once: as an argument or as format='…'"))
                    }
                    (None, None) => {
                        return Err(self.error(at, "`dateFormat` needs a pattern, such as `(now) 'yyyy-MM-dd'` (the locale styles full/long/medium/short are not supported)"))
                    }
                };
                if let RawValue::Str { value: style, start, .. } = &pattern {
                    if matches!(style.as_str(), "full" | "long" | "medium" | "short") {
                        return Err(self.error(*start, format!("the locale style '{style}' is not supported: give a pattern such as 'yyyy-MM-dd'")));
                    }
                }
                let format = self.date_format(&pattern)?;
                Helper::DateFormat { value, format }
            }
            "parseDate" => {
                let [format] = self.hash_args(&mut call, name, &["format"])?.try_into().unwrap_or_default();
                self.count(&call, name, 1, 1, "the text of a date, such as '2024-03-05T14:07:09Z'")?;
                let parser = match format {
                    None => DateParser::Zoned,
                    Some((_, pattern)) => match self.date_format(&pattern)? {
                        NowFormat::Epoch => DateParser::Epoch,
                        NowFormat::Unix => DateParser::Unix,
                        NowFormat::Items { items, .. } => DateParser::Pattern(items),
                    },
                };
                let print = self.default_date_format();
                match call.params.into_iter().next().expect("one argument, counted above") {
                    // A date written in the template is read now, and a mistake is refused.
                    RawValue::Str { value: text, start, .. } => match parse_date(&text, &parser) {
                        Some(at) => Helper::Date { at, print },
                        None => return Err(self.error(start, format!(
                            "'{text}' is not a date `parseDate` can read{}",
                            if matches!(parser, DateParser::Zoned) {
                                " (without format='…': ISO 8601 with an offset such as '2024-03-05T14:07:09Z', RFC 1123, RFC 1036 or asctime)"
                            } else {
                                " with that format"
                            }
                        ))),
                    },
                    value => Helper::ParseDate { value: self.resolve_value(value)?, parser, print },
                }
            }
            _ => return Err(self.error(at, format!("unknown helper `{name}`"))),
        };
        Ok(Expr::Helper(Box::new(helper)))
    }

    /// Checks that there are `min..=max` positional arguments.
    fn count(&self, call: &RawCall<'_>, name: &str, min: usize, max: usize, what: &str) -> PResult<()> {
        let n = call.params.len();
        if (min..=max).contains(&n) {
            return Ok(());
        }
        let needs = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        let s = if max == 1 { "" } else { "s" };
        Err(self.error(call.head.start, format!("`{name}` needs {needs} argument{s} ({what}), found {n}")))
    }

    fn exactly<const N: usize>(&mut self, call: RawCall<'s>, name: &str, what: &str) -> PResult<[Expr; N]> {
        self.count(&call, name, N, N, what)?;
        let values = self.all_values(call)?;
        Ok(values.try_into().unwrap_or_else(|_| unreachable!("{N} arguments, counted above")))
    }

    fn all_values(&mut self, call: RawCall<'s>) -> PResult<Vec<Expr>> {
        call.params.into_iter().map(|v| self.resolve_value(v)).collect()
    }

    fn next_value(&mut self, params: &mut impl Iterator<Item = RawValue<'s>>) -> PResult<Expr> {
        let value = params.next().expect("the argument count was checked");
        self.resolve_value(value)
    }

    /// A quoted regular expression, compiled now; `whole` anchors it (Java's `String.matches`).
    fn regex(&self, value: Option<RawValue<'s>>, name: &str, whole: bool) -> PResult<regex::Regex> {
        let Some(RawValue::Str { value, start, .. }) = value else {
            let (at, kind) = value.as_ref().map_or((0, "nothing"), |v| (v.start(), v.kind()));
            return Err(self.error(
                at,
                format!("the regular expression of `{name}` must be a quoted string, found {kind}"),
            ));
        };
        let pattern = if whole { format!("^(?:{value})$") } else { value.clone() };
        regex::Regex::new(&pattern).map_err(|e| {
            let detail = e.to_string();
            let detail = detail.lines().last().unwrap_or("").trim_start_matches("error: ");
            self.error(start, format!("bad regular expression '{value}': {detail}"))
        })
    }

    /// The variable name of an assigning helper.
    fn var_name(&mut self, value: RawValue<'s>, name: &str, top: bool) -> PResult<usize> {
        let RawValue::Str { value: var, start, .. } = value else {
            return Err(self.error(
                value.start(),
                format!("the variable name of `{name}` must be a quoted string, found {}", value.kind()),
            ));
        };
        if !top {
            return Err(self.error(start, format!("`{name}` with a variable name renders nothing, so it cannot be used inside `( )`: write it as its own `{{{{{name} …}}}}`")));
        }
        if var.is_empty()
            || !var.bytes().all(super::is_id_byte)
            || matches!(var.as_str(), "request" | "env" | "counter" | "this")
        {
            return Err(self.error(start, format!("'{var}' cannot be a variable name: use letters, digits and `_`, and none of request, env, counter, this")));
        }
        Ok(self.define_var(&var))
    }
}
