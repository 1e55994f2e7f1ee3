//! WireMock's value helpers at render time: comparisons, `math`, `regexExtract`, `parseJson`,
//! the text transforms (`base64`, `urlEncode`, `trim`, `upper`, `lower`), `size`, `pickRandom`
//! and `dateFormat`. Arguments were checked when the template was parsed; what can still go
//! wrong here depends on the request (text that is not JSON, a division by zero) and renders as
//! WireMock renders it: empty, or `[ERROR: …]` where WireMock writes that into the body.

use std::borrow::Cow;
use std::cmp::Ordering;

use base64::Engine as _;
use rand::Rng;
use serde_json::Value;

use super::render::{value, Frame, Inputs, State};
use super::value::{compare, contains, equals, Val};
use super::{CmpOp, Helper, MathOp, Transform};

pub(super) fn eval<'x>(
    h: &'x Helper,
    cx: &Inputs<'x, '_>,
    state: &mut State<'_>,
    scope: Option<&'x Frame<'x>>,
) -> Val<'x> {
    let mut v = |e: &'x super::Expr| -> Val<'x> { value(e, cx, state, scope) };
    match h {
        Helper::Compare { op, a, b } => {
            let (a, b) = (v(a), v(b));
            Val::Bool(match op {
                CmpOp::Eq => equals(&a, &b),
                CmpOp::Neq => !equals(&a, &b),
                CmpOp::Gt => compare(&a, &b) == Some(Ordering::Greater),
                CmpOp::Gte => matches!(compare(&a, &b), Some(Ordering::Greater | Ordering::Equal)),
                CmpOp::Lt => compare(&a, &b) == Some(Ordering::Less),
                CmpOp::Lte => matches!(compare(&a, &b), Some(Ordering::Less | Ordering::Equal)),
            })
        }
        Helper::And(all) => Val::Bool(all.iter().all(|e| v(e).truthy(false))),
        Helper::Or(any) => Val::Bool(any.iter().any(|e| v(e).truthy(false))),
        Helper::Not(e) => Val::Bool(!v(e).truthy(false)),
        Helper::Contains { haystack, needle } => Val::Bool(contains(&v(haystack), &v(needle))),
        Helper::Matches { value: e, regex } => Val::Bool(regex.is_match(&v(e).text())),
        Helper::RegexExtract { value: e, regex, var, default } => {
            let text = v(e);
            let text = text.text();
            match var {
                // The assigning form is a statement (`render::eval`); as a value it is the groups.
                Some(_) => match regex_groups(regex, &text) {
                    Some(groups) => groups,
                    None => no_match(regex, default.as_ref().map(&mut v)),
                },
                None => match regex.find(&text) {
                    Some(m) => Val::Str(Cow::Owned(m.as_str().to_string())),
                    None => no_match(regex, default.as_ref().map(&mut v)),
                },
            }
        }
        Helper::ParseJson { value: e, .. } => match v(e) {
            json @ Val::Json(_) => json,
            other => parse_json(&other.text()),
        },
        Helper::Math { a, op, b } => math(&v(a), *op, &v(b)),
        Helper::Transform { value: e, how } => Val::Str(Cow::Owned(transform(*how, &v(e).text()))),
        Helper::Size(e) => match v(e).size() {
            Some(n) => Val::Int(i64::try_from(n).unwrap_or(i64::MAX)),
            None => Val::Null,
        },
        Helper::PickRandom { values, count } => {
            let mut pool: Vec<Val<'x>> = match values.as_slice() {
                [one] => {
                    let list = v(one);
                    match list.items() {
                        Some(items) => items.into_iter().map(Val::into_owned).collect(),
                        None => vec![list],
                    }
                }
                many => many.iter().map(&mut v).collect(),
            };
            pick_random(&mut pool, *count, state)
        }
        Helper::ParseDate { value: e, parser, print } => match v(e) {
            Val::Date(t, _) => Val::Date(t, Some(print)),
            other => match super::date::parse_date(other.text().trim(), parser) {
                Some(t) => Val::Date(t, Some(print)),
                None => Val::Null,
            },
        },
        Helper::Date { at, print } => Val::Date(*at, Some(print)),
        Helper::DateFormat { value: e, format } => match v(e) {
            Val::Date(t, _) => Val::Date(t, Some(format)),
            other => match chrono::DateTime::parse_from_rfc3339(other.text().trim()) {
                Ok(t) => Val::Date(t.with_timezone(&chrono::Utc), Some(format)),
                Err(_) => Val::Null,
            },
        },
    }
}

/// Stores a variable for the rest of the render.
pub(super) fn assign(state: &mut State<'_>, slot: usize, val: Val<'_>) {
    if state.vars.len() <= slot {
        state.vars.resize_with(slot + 1, || None);
    }
    state.vars[slot] = Some(val.into_owned());
}

/// `regexExtract … 'name'`: the groups of every match, in order (`None` when there are none).
pub(super) fn regex_groups(regex: &regex::Regex, text: &str) -> Option<Val<'static>> {
    let mut groups = Vec::new();
    for caps in regex.captures_iter(text) {
        for group in caps.iter().skip(1) {
            groups.push(Cow::Owned(group.map_or("", |m| m.as_str()).to_string()));
        }
    }
    (!groups.is_empty()).then_some(Val::Strs(groups))
}

/// What `regexExtract` renders when nothing matched: the default, or WireMock's error text.
pub(super) fn no_match<'x>(regex: &regex::Regex, default: Option<Val<'x>>) -> Val<'x> {
    default.unwrap_or_else(|| Val::Str(Cow::Owned(format!("[ERROR: Nothing matched {}]", regex.as_str()))))
}

/// `parseJson`: text as JSON; empty text and `{}` are an empty object, as in WireMock; text
/// that is not JSON is missing.
pub(super) fn parse_json(text: &str) -> Val<'static> {
    let text = text.trim();
    if text.is_empty() {
        return Val::Json(Cow::Owned(Value::Object(serde_json::Map::new())));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(json) => Val::Json(Cow::Owned(json)),
        Err(_) => Val::Null,
    }
}

pub(super) fn transform(how: Transform, text: &str) -> String {
    match how {
        Transform::Base64 { decode: false, padding } => {
            let engine = if padding {
                &base64::engine::general_purpose::STANDARD
            } else {
                &base64::engine::general_purpose::STANDARD_NO_PAD
            };
            engine.encode(text.as_bytes())
        }
        Transform::Base64 { decode: true, .. } => {
            let lenient = base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            );
            match lenient.decode(text.trim().as_bytes()) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(_) => String::new(),
            }
        }
        Transform::UrlEncode { decode: false } => url_encode(text),
        Transform::UrlEncode { decode: true } => url_decode(text),
        // Java's `String.trim`: every character up to U+0020 at either end.
        Transform::Trim => text.trim_matches(|c: char| c <= ' ').to_string(),
        Transform::Upper => text.to_uppercase(),
        Transform::Lower => text.to_lowercase(),
    }
}

/// Java's `URLEncoder.encode(…, UTF-8)`: letters, digits and `.-*_` kept, space as `+`, every
/// other byte as `%XX`.
fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(b >> 4)] as char);
                out.push(HEX[usize::from(b & 15)] as char);
            }
        }
    }
    out
}

/// Java's `URLDecoder.decode(…, UTF-8)`: `+` is a space, `%XX` a byte (a malformed `%` is kept).
fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let hex = |b: u8| (b as char).to_digit(16);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b))) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One value at random, or `count` distinct picks as a JSON list.
fn pick_random<'x>(pool: &mut [Val<'x>], count: Option<usize>, state: &mut State<'_>) -> Val<'x> {
    if pool.is_empty() {
        return Val::Null;
    }
    match count {
        Some(count) => {
            let n = count.min(pool.len());
            for i in 0..n {
                let j = state.rng.random_range(i..pool.len());
                pool.swap(i, j);
            }
            let picked = pool[..n].iter().map(to_json).collect();
            Val::Json(Cow::Owned(Value::Array(picked)))
        }
        None => {
            let i = state.rng.random_range(0..pool.len());
            std::mem::replace(&mut pool[i], Val::Null)
        }
    }
}

fn to_json(v: &Val<'_>) -> Value {
    match v {
        Val::Null => Value::Null,
        Val::Bool(b) => Value::Bool(*b),
        Val::Int(i) => Value::from(*i),
        Val::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Val::Json(j) => (**j).clone(),
        other => Value::String(other.text().into_owned()),
    }
}

// ---- math ----------------------------------------------------------------------------------

/// A decimal as Java's `BigDecimal`: `mantissa / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

/// The most decimal places we keep (more than a `double` prints).
const MAX_SCALE: u32 = 30;

impl Decimal {
    /// `new BigDecimal(text)`; text that is not a number is 0, as in WireMock.
    fn parse(text: &str) -> Decimal {
        let zero = Decimal { mantissa: 0, scale: 0 };
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
            || frac.len() > MAX_SCALE as usize
        {
            return zero;
        }
        let Ok(mantissa) = format!("{int}{frac}").parse::<i128>() else { return zero };
        Decimal { mantissa: if negative { -mantissa } else { mantissa }, scale: frac.len() as u32 }
    }

    fn of(v: &Val<'_>) -> Decimal {
        match v {
            Val::Int(i) => Decimal { mantissa: i128::from(*i), scale: 0 },
            // `BigDecimal.valueOf(double)` reads `Double.toString`.
            Val::Float(f) => Decimal::parse(&super::value::java_double(*f)),
            Val::Json(j) if j.is_f64() => {
                Decimal::parse(&super::value::java_double(j.as_f64().unwrap_or(0.0)))
            }
            other => Decimal::parse(&other.text()),
        }
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa.checked_mul(10i128.checked_pow(scale.checked_sub(self.scale)?)?)
    }

    fn to_val(self) -> Val<'static> {
        if self.scale == 0 {
            return match i64::try_from(self.mantissa) {
                Ok(i) => Val::Int(i),
                Err(_) => Val::Float(self.mantissa as f64),
            };
        }
        Val::Float(format!("{}e-{}", self.mantissa, self.scale).parse().unwrap_or(f64::NAN))
    }
}

/// `math a op b` with `BigDecimal` semantics: whole numbers stay whole, `/` keeps the left
/// operand's decimal places (rounding half up), so `10 / 4` is `3` and `10.0 / 4` is `2.5`.
fn math(a: &Val<'_>, op: MathOp, b: &Val<'_>) -> Val<'static> {
    let error = |what: &str| Val::Str(Cow::Owned(format!("[ERROR: {what}]")));
    let (x, y) = (Decimal::of(a), Decimal::of(b));
    let scale = x.scale.max(y.scale);
    let aligned = x.rescale(scale).zip(y.rescale(scale));
    let result = match op {
        MathOp::Add => aligned.and_then(|(p, q)| p.checked_add(q)).map(|m| Decimal { mantissa: m, scale }),
        MathOp::Sub => aligned.and_then(|(p, q)| p.checked_sub(q)).map(|m| Decimal { mantissa: m, scale }),
        MathOp::Mul => {
            x.mantissa.checked_mul(y.mantissa).map(|m| Decimal { mantissa: m, scale: x.scale + y.scale })
        }
        MathOp::Rem => {
            if y.mantissa == 0 {
                return error("Division by zero");
            }
            aligned.map(|(p, q)| Decimal { mantissa: p % q, scale })
        }
        MathOp::Div => {
            if y.mantissa == 0 {
                return error("Division by zero");
            }
            // x / y with x's scale: round(x.m * 10^y.s / y.m), half away from zero.
            x.mantissa.checked_mul(10i128.pow(y.scale)).map(|num| {
                let (q, r) = (num / y.mantissa, num % y.mantissa);
                let away = r.unsigned_abs() * 2 >= y.mantissa.unsigned_abs();
                let sign = if (num < 0) != (y.mantissa < 0) { -1 } else { 1 };
                Decimal { mantissa: if away && r != 0 { q + sign } else { q }, scale: x.scale }
            })
        }
    };
    match result {
        Some(d) => d.to_val(),
        None => error("number too large"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(a: Val<'_>, op: MathOp, b: Val<'_>) -> String {
        math(&a, op, &b).text().into_owned()
    }

    fn s(text: &str) -> Val<'_> {
        Val::Str(Cow::Borrowed(text))
    }

    #[test]
    fn math_follows_big_decimal() {
        assert_eq!(m(Val::Int(1), MathOp::Add, Val::Int(2)), "3");
        assert_eq!(m(Val::Int(10), MathOp::Div, Val::Int(4)), "3", "scale 0, half up");
        assert_eq!(m(Val::Int(10), MathOp::Div, Val::Int(3)), "3");
        assert_eq!(m(Val::Int(-10), MathOp::Div, Val::Int(4)), "-3");
        assert_eq!(m(s("10.0"), MathOp::Div, Val::Int(4)), "2.5");
        assert_eq!(m(s("1.5"), MathOp::Add, s("1.5")), "3.0");
        assert_eq!(m(Val::Float(0.1), MathOp::Mul, Val::Int(3)), "0.3");
        assert_eq!(m(Val::Int(7), MathOp::Rem, Val::Int(3)), "1");
        assert_eq!(m(Val::Int(-7), MathOp::Rem, Val::Int(3)), "-1");
        assert_eq!(m(s("abc"), MathOp::Sub, Val::Int(3)), "-3", "not a number is 0");
        assert_eq!(m(Val::Int(1), MathOp::Div, Val::Int(0)), "[ERROR: Division by zero]");
        assert_eq!(m(Val::Int(i64::MAX), MathOp::Add, Val::Int(1)), "9.223372036854776E18");
    }

    #[test]
    fn transforms() {
        let t = |how, text| transform(how, text);
        assert_eq!(t(Transform::Base64 { decode: false, padding: true }, "hi?"), "aGk/");
        assert_eq!(t(Transform::Base64 { decode: false, padding: true }, "a"), "YQ==");
        assert_eq!(t(Transform::Base64 { decode: false, padding: false }, "a"), "YQ");
        assert_eq!(t(Transform::Base64 { decode: true, padding: true }, "YQ"), "a");
        assert_eq!(t(Transform::Base64 { decode: true, padding: true }, "!!"), "");
        assert_eq!(t(Transform::UrlEncode { decode: false }, "a b&c=d/é*~"), "a+b%26c%3Dd%2F%C3%A9*%7E");
        assert_eq!(t(Transform::UrlEncode { decode: true }, "a+b%26c%3Dd%2F%C3%A9%"), "a b&c=d/é%");
        assert_eq!(t(Transform::Trim, "\t x y \n"), "x y");
        assert_eq!(t(Transform::Upper, "straße"), "STRASSE");
        assert_eq!(t(Transform::Lower, "ÀB"), "àb");
    }

    #[test]
    fn regex_groups_of_every_match() {
        let re = regex::Regex::new("([a-z])([0-9])").expect("test regex");
        let groups = regex_groups(&re, "a1 b2 ??").expect("matches");
        assert_eq!(
            groups.items().expect("a list").iter().map(|v| v.text().into_owned()).collect::<Vec<_>>(),
            ["a", "1", "b", "2"]
        );
        assert!(regex_groups(&re, "none").is_none());
    }

    #[test]
    fn parse_json_edges() {
        assert_eq!(parse_json("  ").text(), "{}");
        assert_eq!(parse_json("[1, 2]").text(), "[1,2]");
        assert!(matches!(parse_json("{oops"), Val::Null));
    }
}
