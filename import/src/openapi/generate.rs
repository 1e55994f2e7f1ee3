//! Example values generated from a schema, for responses the document gives no example of.
//!
//! In order, a schema's own `const`, `default`, `example` / `examples[0]` (each when it fits
//! the schema's `type`, `enum` and `required`) and `enum` are used when it has one; then `allOf` (the parts merged), `oneOf` / `anyOf` (one branch), and the
//! type's value: a string fitting its `format` (`date-time`, `email`, `uuid`, …) and length
//! bounds, a number within its bounds and `multipleOf`, `true`, arrays of `minItems` (at least
//! one) items, objects with every property (minus `writeOnly` ones, as in a response). A
//! reference cycle stops at its second visit: the property is left out, or the array empty.
//!
//! With no seed the choices are the first ones (the first `enum` member, the first branch), as
//! Prism's static mode makes them; with a seed, choices and numbers are drawn from a generator
//! seeded with it, so the same seed always gives the same body.

use serde_json::{Map, Number, Value};

use super::document::Document;

/// The deepest nesting generated (each `$ref` and `allOf` part counts); deeper values are
/// left out. Cycles stop earlier, at their second visit.
const MAX_DEPTH: usize = 64;

/// A generator of example values.
pub(crate) struct Generator<'d> {
    doc: &'d Document,
    rng: Option<SplitMix>,
    /// The references being expanded, outermost first: a cycle shows as a repeat.
    stack: Vec<&'d str>,
}

impl<'d> Generator<'d> {
    pub(crate) fn new(doc: &'d Document, seed: Option<u64>) -> Self {
        Generator { doc, rng: seed.map(SplitMix), stack: Vec::new() }
    }

    /// A value for `schema`, or `None` when none can be made (a cycle, too deep).
    pub(crate) fn value(&mut self, schema: &'d Value) -> Option<Value> {
        self.gen(schema, 0)
    }

    fn pick(&mut self, n: usize) -> usize {
        match &mut self.rng {
            Some(rng) if n > 1 => (rng.next() % n as u64) as usize,
            _ => 0,
        }
    }

    fn gen(&mut self, schema: &'d Value, depth: usize) -> Option<Value> {
        let mut v = self.gen_inner(schema, depth)?;
        if let (Value::Object(out), Value::Object(map)) = (&mut v, schema) {
            // A required member no part of the schema describes (it happens) may be anything.
            let mut required = Vec::new();
            self.required_names(map, &mut required, 0);
            for name in required {
                out.entry(name).or_insert_with(|| Value::String("string".into()));
            }
        }
        Some(v)
    }

    /// The `required` names of a schema and of its `allOf` parts.
    fn required_names(&self, map: &'d Map<String, Value>, out: &mut Vec<&'d str>, depth: usize) {
        if depth > 8 || map.contains_key("$ref") {
            return;
        }
        out.extend(
            map.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str),
        );
        for part in map.get("allOf").and_then(Value::as_array).into_iter().flatten() {
            if let Ok(Value::Object(part)) = self.doc.deref(part, "allOf") {
                self.required_names(part, out, depth + 1);
            }
        }
    }

    fn gen_inner(&mut self, schema: &'d Value, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let map = match schema {
            Value::Object(map) => map,
            Value::Bool(true) => return Some(Value::Null),
            _ => return None,
        };
        if let Some(Value::String(reference)) = map.get("$ref") {
            if self.stack.contains(&reference.as_str()) {
                return None;
            }
            let target = self.doc.pointer(reference)?;
            self.stack.push(reference);
            let v = self.gen(target, depth + 1);
            self.stack.pop();
            return v;
        }
        // A document's own value, unless it plainly breaks the schema it sits in (documents
        // do have such examples: a missing required member, a value outside the enum).
        let given = ["const", "default", "example"]
            .into_iter()
            .filter_map(|key| map.get(key))
            .chain(map.get("examples").and_then(Value::as_array).and_then(|e| e.first()))
            .find(|v| self.plausible(v, map, 0));
        if let Some(v) = given {
            return Some(v.clone());
        }
        if let Some(Value::Array(options)) = map.get("enum") {
            let choices: Vec<&Value> = options.iter().filter(|v| !v.is_null()).collect();
            if !choices.is_empty() {
                let i = self.pick(choices.len());
                return Some(choices[i].clone());
            }
        }
        if let Some(Value::Array(parts)) = map.get("allOf") {
            let mut merged: Option<Value> = None;
            for part in parts {
                let Some(v) = self.gen(part, depth + 1) else { continue };
                // A part's value must fit the other parts too: Box gives a lone `{example: [..]}`
                // part beside a `$ref` to an object schema, and an array is no such object.
                if !self.kind_fits(&v, map, 0) {
                    continue;
                }
                merged = Some(match (merged, v) {
                    (Some(Value::Object(mut a)), Value::Object(b)) => {
                        a.extend(b);
                        Value::Object(a)
                    }
                    // A part that only constrains (`{nullable: false}`) gives `{}`: it does not
                    // replace the value another part made.
                    (Some(kept), Value::Object(b)) if b.is_empty() => kept,
                    (_, v) => v,
                });
            }
            // Siblings of `allOf` (properties beside it) count too.
            let rest = self.by_type(map, depth);
            return match (merged, rest) {
                (Some(Value::Object(mut a)), Some(Value::Object(b))) => {
                    a.extend(b);
                    Some(Value::Object(a))
                }
                (Some(v), _) => Some(v),
                (None, rest) => rest,
            };
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(Value::Array(branches)) = map.get(key) {
                if !branches.is_empty() {
                    let first = self.pick(branches.len());
                    // A branch that cannot be made (a cycle) gives way to the next.
                    for k in 0..branches.len() {
                        if let Some(v) = self.gen(&branches[(first + k) % branches.len()], depth + 1) {
                            return Some(v);
                        }
                    }
                    return None;
                }
            }
        }
        self.by_type(map, depth)
    }

    fn by_type(&mut self, map: &'d Map<String, Value>, depth: usize) -> Option<Value> {
        let ty = match map.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(list)) => {
                list.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null")
            }
            _ if map.contains_key("properties") || map.contains_key("additionalProperties") => "object",
            _ if map.contains_key("items") => "array",
            _ => "any",
        };
        Some(match ty {
            "string" => Value::String(self.string(map)),
            "integer" => self.number(map, true),
            "number" => self.number(map, false),
            "boolean" => Value::Bool(self.rng.is_none() || self.pick(2) == 0),
            "null" => Value::Null,
            "array" => {
                let min = map.get("minItems").and_then(Value::as_u64).unwrap_or(1).max(1) as usize;
                let max = map.get("maxItems").and_then(Value::as_u64).map_or(usize::MAX, |m| m as usize);
                let len = min.min(max).min(64);
                let mut items = Vec::with_capacity(len);
                if let Some(item) = map.get("items") {
                    for _ in 0..len {
                        match self.gen(item, depth + 1) {
                            Some(v) => items.push(v),
                            None => break,
                        }
                    }
                }
                if map.get("uniqueItems") == Some(&Value::Bool(true)) {
                    items.dedup();
                }
                Value::Array(items)
            }
            "object" => {
                let mut out = Map::new();
                if let Some(Value::Object(props)) = map.get("properties") {
                    for (name, prop) in props {
                        let write_only = self.doc.deref(prop, name).ok().and_then(|p| p.get("writeOnly"))
                            == Some(&Value::Bool(true));
                        if write_only {
                            continue;
                        }
                        if let Some(v) = self.gen(prop, depth + 1) {
                            out.insert(name.clone(), v);
                        }
                    }
                }
                Value::Object(out)
            }
            _ => Value::Object(Map::new()),
        })
    }

    fn string(&mut self, map: &Map<String, Value>) -> String {
        let format = map.get("format").and_then(Value::as_str).unwrap_or("");
        let mut s = match format {
            "date-time" => "2024-01-01T00:00:00Z".to_owned(),
            "date" => "2024-01-01".to_owned(),
            "time" => "00:00:00Z".to_owned(),
            "email" | "idn-email" => "user@example.com".to_owned(),
            "hostname" | "idn-hostname" => "example.com".to_owned(),
            "ipv4" => "192.0.2.1".to_owned(),
            "ipv6" => "2001:db8::1".to_owned(),
            "uri" | "url" | "iri" => "https://example.com/".to_owned(),
            "uri-reference" | "iri-reference" => "/example".to_owned(),
            "uuid" => match &mut self.rng {
                Some(rng) => {
                    let (a, b) = (rng.next(), rng.next());
                    format!(
                        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                        a >> 32,
                        (a >> 16) & 0xffff,
                        a & 0xfff,
                        b >> 52,
                        b & 0xffff_ffff_ffff
                    )
                }
                None => "3fa85f64-5717-4562-b3fc-2c963f66afa6".to_owned(),
            },
            "byte" => "c3RyaW5n".to_owned(),
            "duration" => "P1D".to_owned(),
            "json-pointer" => "/example".to_owned(),
            "regex" => ".*".to_owned(),
            _ => match &mut self.rng {
                Some(rng) => format!("string-{}", rng.next() % 10_000),
                None => "string".to_owned(),
            },
        };
        let min = map.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
        let max = map.get("maxLength").and_then(Value::as_u64).map_or(usize::MAX, |m| m as usize);
        let len = s.chars().count();
        if len < min {
            s.extend(std::iter::repeat_n('x', min - len));
        } else if len > max {
            s = s.chars().take(max).collect();
        }
        s
    }

    fn number(&mut self, map: &Map<String, Value>, integer: bool) -> Value {
        let get = |k: &str| map.get(k).and_then(Value::as_f64);
        let mut low = get("minimum");
        let mut high = get("maximum");
        // 2020-12's numeric exclusive bounds (3.0's booleans are converted before this runs,
        // but a 3.0 schema is generated from as written: read both forms).
        let step = if integer { 1.0 } else { 0.5 };
        match map.get("exclusiveMinimum") {
            Some(Value::Number(n)) => low = n.as_f64().map(|n| n + step),
            Some(Value::Bool(true)) => low = low.map(|l| l + step),
            _ => {}
        }
        match map.get("exclusiveMaximum") {
            Some(Value::Number(n)) => high = n.as_f64().map(|n| n - step),
            Some(Value::Bool(true)) => high = high.map(|h| h - step),
            _ => {}
        }
        let mut x = match (&mut self.rng, low, high) {
            (Some(rng), Some(l), Some(h)) if h > l => l + (rng.next() % 1000) as f64 / 1000.0 * (h - l),
            (Some(_), Some(l), Some(_)) => l,
            (Some(rng), Some(l), None) => l + (rng.next() % 100) as f64,
            (Some(rng), None, Some(h)) => h - (rng.next() % 100) as f64,
            (Some(rng), None, None) => (rng.next() % 100) as f64,
            (None, _, _) => 0.0,
        };
        if let Some(l) = low {
            x = x.max(l);
        }
        if let Some(h) = high {
            x = x.min(h);
        }
        if let Some(m) = get("multipleOf").filter(|m| *m > 0.0) {
            x = (x / m).ceil() * m;
            if high.is_some_and(|h| x > h) {
                x -= m;
            }
        }
        if integer {
            let mut i = x.ceil() as i64;
            if high.is_some_and(|h| i as f64 > h) {
                i = x.floor() as i64;
            }
            Value::Number(Number::from(i))
        } else {
            Number::from_f64(x).map_or(Value::Number(Number::from(0)), Value::Number)
        }
    }
}

impl<'d> Generator<'d> {
    /// Whether `v` fits what `schema` (and its `$ref` and `allOf` parts) says of it directly:
    /// `type`, `enum`, and for an object its `required` members. Properties are not looked
    /// into: this is a cheap guard against wrong examples, not validation.
    fn plausible(&self, v: &Value, schema: &Map<String, Value>, depth: usize) -> bool {
        if depth > 8 {
            return true;
        }
        let part_ok = |part: &Value| match self.doc.deref(part, "allOf") {
            Ok(Value::Object(m)) => self.plausible(v, m, depth + 1),
            _ => true,
        };
        if let Some(Value::String(_)) = schema.get("$ref") {
            return part_ok(&Value::Object(schema.clone()));
        }
        shallow_fit(v, schema)
            && schema.get("allOf").and_then(Value::as_array).into_iter().flatten().all(part_ok)
    }
}

impl<'d> Generator<'d> {
    /// Whether `v` is of a `type` that `schema` and its `$ref` and `allOf` parts allow (only
    /// the type: one part of an `allOf` need not carry the members another part requires).
    fn kind_fits(&self, v: &Value, schema: &Map<String, Value>, depth: usize) -> bool {
        if depth > 8 {
            return true;
        }
        let part_ok = |part: &Value| match self.doc.deref(part, "allOf") {
            Ok(Value::Object(m)) => self.kind_fits(v, m, depth + 1),
            _ => true,
        };
        if let Some(Value::String(_)) = schema.get("$ref") {
            return part_ok(&Value::Object(schema.clone()));
        }
        type_fits(v, schema)
            && schema.get("allOf").and_then(Value::as_array).into_iter().flatten().all(part_ok)
    }
}

fn shallow_fit(v: &Value, schema: &Map<String, Value>) -> bool {
    let listed = match schema.get("enum") {
        Some(Value::Array(options)) => options.contains(v),
        _ => true,
    };
    let complete = match (v, schema.get("required")) {
        (Value::Object(members), Some(Value::Array(required))) => {
            required.iter().filter_map(Value::as_str).all(|name| members.contains_key(name))
        }
        _ => true,
    };
    type_fits(v, schema) && listed && complete
}

fn type_fits(v: &Value, schema: &Map<String, Value>) -> bool {
    let type_ok = |t: &str| match t {
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        "null" => v.is_null(),
        _ => true,
    };
    let nullable = schema.get("nullable") == Some(&Value::Bool(true));
    match schema.get("type") {
        Some(Value::String(t)) => type_ok(t) || (nullable && v.is_null()),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(type_ok),
        _ => true,
    }
}

/// SplitMix64: a tiny, well-mixed generator; the same seed, the same sequence.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
