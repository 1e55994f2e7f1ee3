//! Typed values for block helpers and WireMock's helpers: what `{{#if}}` tests, `{{#each}}`
//! walks and `eq`/`math`/`size` compute on.
//!
//! Plain `{{request.path.id}}` expressions never come here: they stream straight into the output
//! (see `render::eval`), so a template without helpers renders as cheaply as before. A [`Val`]
//! borrows what it can (request text, the request body's parsed JSON, the item of an `#each`)
//! and owns only what a helper computed. Its semantics follow Handlebars.java, which WireMock
//! uses: truthiness is `Handlebars.Utils.isEmpty`, equality is Java's `Objects.equals` with
//! numbers compared by value, and a multi-valued request field (`request.query.tag`) is a list
//! that renders as its first value, like WireMock's `ListOrSingle`.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::render::Sink;
use super::NowFormat;

/// A value computed while rendering.
#[derive(Debug, Clone)]
pub(super) enum Val<'a> {
    /// Missing: an absent query parameter, a JSON path that matched nothing.
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    /// A multi-valued request field or regex groups: WireMock's `ListOrSingle`, a list that
    /// renders as its first item.
    Strs(Vec<Cow<'a, str>>),
    /// JSON from `jsonPath`, `parseJson`, or an item of either.
    Json(Cow<'a, Value>),
    /// A time from `now`, with the format it renders in.
    Date(DateTime<Utc>, Option<&'a NowFormat>),
}

impl<'a> Val<'a> {
    /// The same value, owning everything, to outlive the render step that made it (variables).
    pub(super) fn into_owned(self) -> Val<'static> {
        match self {
            Val::Null => Val::Null,
            Val::Bool(b) => Val::Bool(b),
            Val::Int(i) => Val::Int(i),
            Val::Float(f) => Val::Float(f),
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::Strs(l) => Val::Strs(l.into_iter().map(|s| Cow::Owned(s.into_owned())).collect()),
            Val::Json(j) => Val::Json(Cow::Owned(j.into_owned())),
            // A date keeps its instant; its format (borrowed from the template) is dropped.
            Val::Date(t, _) => Val::Date(t, None),
        }
    }

    /// Handlebars.java's truthiness (`Utils.isEmpty`): `null`, `""`, `false`, an empty list and
    /// `0` are falsy (`0` only without `includeZero=true`); an empty JSON object is truthy.
    pub(super) fn truthy(&self, include_zero: bool) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Int(i) => include_zero || *i != 0,
            Val::Float(f) => include_zero || *f != 0.0,
            Val::Str(s) => !s.is_empty(),
            Val::Strs(l) => !l.is_empty(),
            Val::Json(j) => match &**j {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => include_zero || n.as_f64().is_some_and(|f| f != 0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Object(_) => true,
            },
            Val::Date(..) => true,
        }
    }

    /// The value as text, as it renders raw (a list as its first item, JSON as compact JSON).
    pub(super) fn text(&self) -> Cow<'_, str> {
        match self {
            Val::Str(s) => Cow::Borrowed(s),
            Val::Strs(l) => l.first().map_or(Cow::Borrowed(""), |s| Cow::Borrowed(s)),
            Val::Json(j) => match &**j {
                Value::String(s) => Cow::Borrowed(s),
                _ => {
                    let mut out = Vec::new();
                    self.write(&mut Sink { out: &mut out, escape: false });
                    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
                }
            },
            _ => {
                let mut out = Vec::new();
                self.write(&mut Sink { out: &mut out, escape: false });
                Cow::Owned(String::from_utf8_lossy(&out).into_owned())
            }
        }
    }

    /// Writes the value as Handlebars.java prints it: missing and JSON `null` as nothing,
    /// decimals as Java's `Double.toString`, objects and arrays as compact JSON.
    pub(super) fn write(&self, sink: &mut Sink<'_>) {
        match self {
            Val::Null => {}
            Val::Bool(b) => sink.push(if *b { b"true" } else { b"false" }),
            Val::Int(i) => {
                let _ = write!(sink, "{i}");
            }
            Val::Float(f) => sink.push(java_double(*f).as_bytes()),
            Val::Str(s) => sink.push(s.as_bytes()),
            Val::Strs(l) => {
                if let Some(first) = l.first() {
                    sink.push(first.as_bytes());
                }
            }
            Val::Json(j) => match &**j {
                Value::Null => {}
                Value::String(s) => sink.push(s.as_bytes()),
                other => {
                    let _ = serde_json::to_writer(&mut *sink, other);
                }
            },
            Val::Date(t, format) => super::render::write_date(*t, *format, sink),
        }
    }

    /// The number this value holds, if it is one (JSON numbers included; text is not).
    fn number(&self) -> Option<f64> {
        match self {
            Val::Int(i) => Some(*i as f64),
            Val::Float(f) => Some(*f),
            Val::Json(j) => j.as_f64(),
            _ => None,
        }
    }

    /// The value as text if it is text (a string, or a JSON string).
    fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            Val::Json(j) => j.as_str(),
            _ => None,
        }
    }

    /// The items of a list value (a multi-valued field, a JSON array), if it is one.
    pub(super) fn items(&self) -> Option<Vec<Val<'_>>> {
        match self {
            Val::Strs(l) => Some(l.iter().map(|s| Val::Str(Cow::Borrowed(&**s))).collect()),
            Val::Json(j) => j.as_array().map(|a| a.iter().map(|v| Val::Json(Cow::Borrowed(v))).collect()),
            _ => None,
        }
    }

    /// `size`: characters of text (UTF-16 units, as Java counts), items of a list, entries of
    /// an object; `None` for anything else.
    pub(super) fn size(&self) -> Option<usize> {
        match self {
            Val::Str(s) => Some(s.encode_utf16().count()),
            Val::Strs(l) => Some(l.len()),
            Val::Json(j) => match &**j {
                Value::String(s) => Some(s.encode_utf16().count()),
                Value::Array(a) => Some(a.len()),
                Value::Object(o) => Some(o.len()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The same value, borrowed from this one.
    fn reborrow(&self) -> Val<'_> {
        match self {
            Val::Null => Val::Null,
            Val::Bool(b) => Val::Bool(*b),
            Val::Int(i) => Val::Int(*i),
            Val::Float(f) => Val::Float(*f),
            Val::Str(s) => Val::Str(Cow::Borrowed(s)),
            Val::Strs(l) => Val::Strs(l.iter().map(|s| Cow::Borrowed(&**s)).collect()),
            Val::Json(j) => Val::Json(Cow::Borrowed(j)),
            Val::Date(t, f) => Val::Date(*t, *f),
        }
    }

    /// Down a path of keys and indexes (`a.0.b`); the value itself for an empty path.
    pub(super) fn get_path(&self, segs: &[Box<str>]) -> Val<'_> {
        match (self, segs) {
            (_, []) => self.reborrow(),
            (Val::Json(j), _) => {
                let mut node: &Value = j;
                for seg in segs {
                    let next = match node {
                        Value::Object(o) => o.get(&**seg),
                        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
                        _ => None,
                    };
                    match next {
                        Some(n) => node = n,
                        None => return Val::Null,
                    }
                }
                Val::Json(Cow::Borrowed(node))
            }
            (Val::Strs(_), [seg]) => self.get(seg),
            _ => Val::Null,
        }
    }

    /// One step down a path: an object's key, a list's index (`0`, `[1]`).
    pub(super) fn get(&self, seg: &str) -> Val<'_> {
        match self {
            Val::Json(j) => match &**j {
                Value::Object(o) => o.get(seg).map_or(Val::Null, |v| Val::Json(Cow::Borrowed(v))),
                Value::Array(a) => seg
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| a.get(i))
                    .map_or(Val::Null, |v| Val::Json(Cow::Borrowed(v))),
                _ => Val::Null,
            },
            Val::Strs(l) => seg
                .parse::<usize>()
                .ok()
                .and_then(|i| l.get(i))
                .map_or(Val::Null, |s| Val::Str(Cow::Borrowed(&**s))),
            _ => Val::Null,
        }
    }
}

/// `eq`: Java's `Objects.equals`, with numbers of any kind equal by value. Text never equals a
/// number (`'1'` is not `1`), and a multi-valued field is a list (compare `request.query.x.[0]`).
pub(super) fn equals(a: &Val<'_>, b: &Val<'_>) -> bool {
    if let (Some(x), Some(y)) = (a.number(), b.number()) {
        return x == y;
    }
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Null, Val::Json(j)) | (Val::Json(j), Val::Null) => j.is_null(),
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Bool(x), Val::Json(j)) | (Val::Json(j), Val::Bool(x)) => j.as_bool() == Some(*x),
        (Val::Date(x, _), Val::Date(y, _)) => x == y,
        _ => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => x == y,
            (None, None) => lists_equal(a, b),
            _ => false,
        },
    }
}

fn lists_equal(a: &Val<'_>, b: &Val<'_>) -> bool {
    if let (Val::Json(x), Val::Json(y)) = (a, b) {
        return json_equal(x, y);
    }
    match (a.items(), b.items()) {
        (Some(x), Some(y)) => x.len() == y.len() && x.iter().zip(&y).all(|(p, q)| equals(p, q)),
        _ => false,
    }
}

/// Deep JSON equality with numbers compared by value (`2` equals `2.0`, as in Java).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// `gt`/`lt`/…: numbers by value, text in code-point order, dates by time. A number written as
/// text (`request.query.n`) is compared as a number with a number (WireMock refuses the pair);
/// anything else does not compare (`None`: the test is false).
pub(super) fn compare(a: &Val<'_>, b: &Val<'_>) -> Option<Ordering> {
    let as_number = |v: &Val<'_>| v.number().or_else(|| v.text().trim().parse::<f64>().ok());
    match (a.number(), b.number()) {
        (Some(x), Some(y)) => return x.partial_cmp(&y),
        (Some(_), None) | (None, Some(_)) => return as_number(a)?.partial_cmp(&as_number(b)?),
        (None, None) => {}
    }
    match (a, b) {
        (Val::Date(x, _), Val::Date(y, _)) => Some(x.cmp(y)),
        (Val::Null, _) | (_, Val::Null) => None,
        _ => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => Some(x.cmp(y)),
            _ => None,
        },
    }
}

/// `contains`: a list holds the text as one of its items; text contains it as a substring.
pub(super) fn contains(haystack: &Val<'_>, needle: &Val<'_>) -> bool {
    if matches!(haystack, Val::Null) || matches!(needle, Val::Null) {
        return false;
    }
    match haystack.items() {
        Some(items) => items.iter().any(|item| equals(item, needle)),
        None => haystack.text().contains(&*needle.text()),
    }
}

/// Java's `Double.toString`: shortest digits that read back the same, at least one decimal
/// (`3.0`), scientific notation (`1.0E7`) outside 10⁻³ ≤ |x| < 10⁷.
pub(super) fn java_double(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let abs = f.abs();
    if f == 0.0 || (1e-3..1e7).contains(&abs) {
        let mut s = format!("{f}");
        if !s.contains('.') {
            s.push_str(".0");
        }
        s
    } else {
        let s = format!("{f:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        let dot = if mantissa.contains('.') { "" } else { ".0" };
        format!("{mantissa}{dot}E{exponent}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Val<'_> {
        Val::Str(Cow::Borrowed(text))
    }

    fn json(text: &str) -> Val<'static> {
        Val::Json(Cow::Owned(serde_json::from_str(text).expect("test JSON")))
    }

    #[test]
    fn truthiness_is_handlebars_java() {
        for falsy in [Val::Null, s(""), Val::Bool(false), Val::Int(0), Val::Float(0.0), Val::Strs(vec![])] {
            assert!(!falsy.truthy(false), "{falsy:?}");
        }
        for falsy in [json("null"), json("\"\""), json("[]"), json("0"), json("false")] {
            assert!(!falsy.truthy(false), "{falsy:?}");
        }
        for truthy in [s("0"), s("false"), Val::Int(-1), json("{}"), json("[0]"), json("\" \"")] {
            assert!(truthy.truthy(false), "{truthy:?}");
        }
        assert!(Val::Int(0).truthy(true));
        assert!(json("0.0").truthy(true));
        assert!(!s("").truthy(true));
    }

    #[test]
    fn equality_is_java_equals_with_numbers_by_value() {
        assert!(equals(&s("a"), &json("\"a\"")));
        assert!(equals(&Val::Int(2), &json("2.0")));
        assert!(equals(&Val::Int(2), &Val::Float(2.0)));
        assert!(!equals(&s("1"), &Val::Int(1)));
        assert!(!equals(&Val::Strs(vec![Cow::Borrowed("a")]), &s("a")));
        assert!(equals(&Val::Strs(vec![Cow::Borrowed("a")]), &json("[\"a\"]")));
        assert!(equals(&json("{\"a\":[1,2]}"), &json("{\"a\":[1.0,2]}")));
        assert!(equals(&Val::Null, &Val::Null));
        assert!(equals(&Val::Null, &json("null")));
        assert!(!equals(&Val::Null, &s("")));
        assert!(equals(&Val::Bool(true), &json("true")));
    }

    #[test]
    fn comparison() {
        assert_eq!(compare(&Val::Int(2), &json("10")), Some(Ordering::Less));
        assert_eq!(compare(&s("b"), &s("a")), Some(Ordering::Greater));
        assert_eq!(compare(&s("10"), &Val::Int(9)), Some(Ordering::Greater));
        assert_eq!(compare(&s("x"), &Val::Int(9)), None);
        assert_eq!(compare(&Val::Null, &s("a")), None);
    }

    #[test]
    fn doubles_print_as_java_does() {
        assert_eq!(java_double(3.0), "3.0");
        assert_eq!(java_double(2.5), "2.5");
        assert_eq!(java_double(-0.125), "-0.125");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1.5e10), "1.5E10");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(0.1 + 0.2), "0.30000000000000004");
    }

    #[test]
    fn sizes_and_steps() {
        assert_eq!(s("héllo").size(), Some(5));
        assert_eq!(s("😀").size(), Some(2), "Java counts UTF-16 units");
        assert_eq!(json("[1,2,3]").size(), Some(3));
        assert_eq!(json("{\"a\":1}").size(), Some(1));
        assert_eq!(Val::Int(5).size(), None);
        let v = json("{\"a\":[10,{\"b\":\"x\"}]}");
        assert_eq!(v.get("a").get("1").get("b").text(), "x");
        assert!(matches!(v.get("nope"), Val::Null));
        assert_eq!(Val::Strs(vec![Cow::Borrowed("p"), Cow::Borrowed("q")]).get("1").text(), "q");
    }
}
