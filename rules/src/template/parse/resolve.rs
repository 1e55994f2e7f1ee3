//! Resolution: the syntax of one `{{ }}` → an [`Expr`], with names, argument counts and types
//! checked, and helper arguments (JSONPath queries, date patterns, offsets) prepared.

use super::{PResult, Parser, RawCall, RawPath, RawValue, Seg};
use crate::template::{
    date, Expr, Field, JsonPathExpr, NowExpr, NowFormat, PathParamUse, RandomKind, ScopedPath,
};

/// The longest `randomValue` we agree to generate.
const MAX_RANDOM_LENGTH: i64 = 65_536;

/// WireMock helpers that mockplane does not implement, for a clearer "unknown helper" message.
const WIREMOCK_ONLY: &[&str] = &[
    "abbreviate",
    "array",
    "arrayAdd",
    "arrayJoin",
    "arrayRemove",
    "capitalize",
    "date",
    "formData",
    "formatJson",
    "formatXml",
    "hostname",
    "join",
    "jsonArrayAdd",
    "jsonMerge",
    "jsonRemove",
    "jsonSort",
    "lookup",
    "randomDecimal",
    "range",
    "replace",
    "soapXPath",
    "split",
    "substring",
    "systemValue",
    "toJson",
    "truncateDate",
    "val",
    "xPath",
];

/// Helpers that compute a value (`parse/helpers.rs`), beside jsonPath, now, randomValue,
/// randomInt, uuid and counter.
pub(super) const VALUE_HELPERS: &[&str] = &[
    "eq",
    "neq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "and",
    "or",
    "not",
    "contains",
    "matches",
    "regexExtract",
    "parseJson",
    "math",
    "base64",
    "urlEncode",
    "trim",
    "upper",
    "lower",
    "size",
    "pickRandom",
    "dateFormat",
    "parseDate",
];

/// Whether `name` is a helper used as `{{name …}}` (not a block helper).
pub(super) fn is_value_helper(name: &str) -> bool {
    VALUE_HELPERS.contains(&name)
        || matches!(name, "jsonPath" | "now" | "randomValue" | "randomInt" | "uuid" | "counter")
}

const REQUEST_FIELDS: &str = "method, url, path, pathSegments, query, headers, cookies, body, host, clientIp";

impl<'s> Parser<'s> {
    /// The block parameter `name` in scope, innermost first: its block's level, and whether it
    /// is an `#each` key.
    fn block_param(&self, name: &str) -> Option<(usize, bool)> {
        self.block_params.iter().rev().find(|p| p.name == name).map(|p| (p.level, p.key))
    }

    pub(super) fn span(&self, path: &RawPath<'_>) -> &'s str {
        &self.src[path.start..path.end]
    }

    /// A mustache's (`top`) or sub-expression's call: a helper, or a path without arguments.
    pub(super) fn resolve_call(&mut self, call: RawCall<'s>, top: bool) -> PResult<Expr> {
        if let Some(&(_, at)) = call.block_params.first() {
            return Err(self.error(at, "block parameters `as |…|` belong to a block: `{{#each list as |item|}}` or `{{#with value as |v|}}`"));
        }
        if let [seg] = call.head.segs.as_slice() {
            if !seg.bracketed && call.head.plain() {
                let name = seg.text;
                if call.params.is_empty() && call.hash.is_empty() && self.block_param(name).is_some() {
                    return self.resolve_path(&call.head);
                }
                if VALUE_HELPERS.contains(&name) {
                    return self.value_helper(name, call, top);
                }
                if self.scopes > 0
                    && call.params.is_empty()
                    && call.hash.is_empty()
                    && !is_value_helper(name)
                    && !matches!(name, "request" | "env" | "else")
                    && !self.vars.iter().any(|v| **v == *name)
                {
                    // Inside `#each`/`#with`, a bare name is a field of the block's value.
                    return self.resolve_path(&call.head);
                }
                match name {
                    "jsonPath" => return self.json_path(call),
                    "now" => return self.now(call),
                    "randomValue" => return self.random_value(call),
                    "randomInt" => return self.random_int(call),
                    "uuid" => {
                        self.no_args(&call, "uuid")?;
                        return Ok(Expr::Uuid { uppercase: false });
                    }
                    "counter" => {
                        self.no_args(&call, "counter")?;
                        self.uses_counter = true;
                        return Ok(Expr::Counter);
                    }
                    "else" => {
                        return Err(self.error(call.head.start, "`else` is only valid as `{{else}}` inside a block"))
                    }
                    "request" | "env" => {}
                    _ if self.vars.iter().any(|v| **v == *name) => {}
                    _ if WIREMOCK_ONLY.contains(&name) => {
                        return Err(self.error(
                            call.head.start,
                            format!("unknown helper `{name}`: this WireMock helper is not supported by mockplane yet"),
                        ))
                    }
                    _ => {
                        return Err(self.error(
                            call.head.start,
                            format!("unknown helper `{name}` (helpers: jsonPath, now, randomValue, randomInt, uuid, counter, {}; paths start with `request.` or `env.`)", VALUE_HELPERS.join(", ")),
                        ))
                    }
                }
            }
        }
        let expr = self.resolve_path(&call.head)?;
        if let Some(first) = call.params.first().map(RawValue::start).or(call.hash.first().map(|h| h.1)) {
            let name = self.span(&call.head);
            return Err(
                self.error(first, format!("`{name}` is a value, not a helper: it takes no arguments"))
            );
        }
        Ok(expr)
    }

    fn resolve_path(&mut self, path: &RawPath<'s>) -> PResult<Expr> {
        let text = self.span(path);
        let segs = path.segs.as_slice();
        let names = |segs: &[Seg<'_>]| segs.iter().map(|s| s.text.into()).collect::<Box<[Box<str>]>>();
        if path.data {
            return self.data_path(path);
        }
        if let (true, Some(first)) = (path.plain(), segs.first()) {
            if let Some((level, key)) = self.block_param(first.text).filter(|_| !first.bracketed) {
                let up = self.scopes - level;
                if !key {
                    return Ok(Expr::Scoped(Box::new(ScopedPath {
                        up,
                        fallback: false,
                        segs: names(&segs[1..]),
                    })));
                }
                if let Some(field) = segs.get(1) {
                    return Err(self.error(
                        field.start,
                        format!("`{}` is the index or key of `#each`: it has no fields", first.text),
                    ));
                }
                return Ok(Expr::EachKey { up });
            }
        }
        if !path.plain() {
            if self.scopes == 0 {
                return Err(self.error(path.start, format!("`{text}`: `this`, `./` and `../` only mean something inside `{{{{#each}}}}` or `{{{{#with}}}}`")));
            }
            if path.up >= self.scopes {
                // Above the outermost block: the root, where `request`, `env`, … live.
                if segs.is_empty() {
                    return Err(self.error(path.start, format!("`{text}` is the root of the template, which has no value of its own: name a field, such as `../request.method`")));
                }
                let root = RawPath {
                    segs: path.segs.iter().map(|s| Seg { ..*s }).collect(),
                    start: segs[0].start,
                    end: path.end,
                    up: 0,
                    this: false,
                    data: false,
                };
                return self.resolve_root(&root);
            }
            return Ok(Expr::Scoped(Box::new(ScopedPath {
                up: path.up,
                fallback: false,
                segs: names(segs),
            })));
        }
        if let Some(slot) = self.vars.iter().position(|v| **v == *segs[0].text) {
            return Ok(Expr::Var { slot, segs: names(&segs[1..]) });
        }
        if self.scopes > 0 && !matches!(segs[0].text, "request" | "env" | "counter") {
            // A field of the enclosing block's value, else of the blocks around it.
            return Ok(Expr::Scoped(Box::new(ScopedPath { up: 0, fallback: true, segs: names(segs) })));
        }
        self.resolve_root(path)
    }

    /// A path from the root: `request.…`, `env.…`, `counter`.
    pub(super) fn resolve_root(&mut self, path: &RawPath<'s>) -> PResult<Expr> {
        let text = self.span(path);
        let segs = path.segs.as_slice();
        let index = |p: &Self, seg: &Seg<'_>| -> PResult<Option<usize>> {
            if seg.text.is_empty() || !seg.text.bytes().all(|b| b.is_ascii_digit()) {
                return Ok(None);
            }
            seg.text
                .parse()
                .map(Some)
                .map_err(|_| p.error(seg.start, format!("index `{}` is too large", seg.text)))
        };
        let too_long = |p: &Self, at: &Seg<'_>| p.error(at.start, format!("unknown path `{text}`"));
        match segs[0].text {
            "request" => {
                let Some(field) = segs.get(1) else {
                    return Err(self.error(
                        path.start,
                        format!("`request` needs a field, such as `request.path` (fields: {REQUEST_FIELDS})"),
                    ));
                };
                let rest = &segs[2..];
                let simple = |expr: Expr| match rest.first() {
                    None => Ok(expr),
                    Some(seg) => Err(too_long(self, seg)),
                };
                match field.text {
                    "method" => simple(Expr::Method),
                    "url" => simple(Expr::Url),
                    "body" => simple(Expr::Body),
                    "host" => simple(Expr::Host),
                    "clientIp" => simple(Expr::ClientIp),
                    "path" => match rest {
                        [] => Ok(Expr::Path),
                        [seg] => Ok(match index(self, seg)? {
                            Some(n) => Expr::PathSegment(n),
                            None => {
                                self.note_path_param(seg);
                                Expr::PathParam(seg.text.into())
                            }
                        }),
                        [_, extra, ..] => Err(too_long(self, extra)),
                    },
                    "pathSegments" => match rest {
                        [] => Ok(Expr::PathSegments),
                        [seg] => match index(self, seg)? {
                            Some(n) => Ok(Expr::PathSegment(n)),
                            None => Err(self.error(
                                seg.start,
                                format!(
                                    "expected an index such as `request.pathSegments.[0]`, found `{}`",
                                    seg.text
                                ),
                            )),
                        },
                        [_, extra, ..] => Err(too_long(self, extra)),
                    },
                    "query" | "headers" | "cookies" => {
                        let what = match field.text {
                            "query" => "a parameter name, such as `request.query.page`",
                            "headers" => "a header name, such as `request.headers.Content-Type`",
                            _ => "a cookie name, such as `request.cookies.session`",
                        };
                        let field_kind = match field.text {
                            "query" => Field::Query,
                            "headers" => Field::Header,
                            _ => Field::Cookie,
                        };
                        let (name, n) = match rest {
                            [] => {
                                return Err(
                                    self.error(path.start, format!("`request.{}` needs {what}", field.text))
                                )
                            }
                            [name] => return Ok(Expr::AllValues(field_kind, name.text.into())),
                            [name, idx] => match index(self, idx)? {
                                Some(n) => (name, n),
                                None => {
                                    return Err(self.error(
                                        idx.start,
                                        format!(
                                        "expected an index such as `.[1]` after `request.{}.{}`, found `{}`",
                                        field.text, name.text, idx.text
                                    ),
                                    ))
                                }
                            },
                            [_, _, extra, ..] => return Err(too_long(self, extra)),
                        };
                        let name: Box<str> = name.text.into();
                        Ok(match field.text {
                            "query" => Expr::Query(name, n),
                            "headers" => Expr::Header(name, n),
                            _ => Expr::Cookie(name, n),
                        })
                    }
                    _ => Err(self.error(
                        field.start,
                        format!(
                            "unknown path `{text}`: `request` has no field `{}` (fields: {REQUEST_FIELDS})",
                            field.text
                        ),
                    )),
                }
            }
            "env" => match segs {
                [_, name] => {
                    if !self.env.iter().any(|n| **n == *name.text) {
                        self.env.push(name.text.into());
                    }
                    Ok(Expr::Env(name.text.into()))
                }
                [] | [_] => Err(self.error(path.start, "`env` needs a variable name, such as `env.API_KEY`")),
                [_, _, extra, ..] => Err(too_long(self, extra)),
            },
            "counter" => match segs {
                [] | [_] => {
                    self.uses_counter = true;
                    Ok(Expr::Counter)
                }
                [_, extra, ..] => Err(too_long(self, extra)),
            },
            root => {
                let hint = if segs.len() == 1
                    && matches!(root, "jsonPath" | "now" | "randomValue" | "randomInt" | "uuid")
                {
                    format!(
                        ": to use the helper `{root}` inside another, wrap it in parentheses, `({root} …)`"
                    )
                } else {
                    ": paths start with `request.`, `env.` or are `counter`".to_string()
                };
                Err(self.error(path.start, format!("unknown path `{text}`{hint}")))
            }
        }
    }

    /// An argument used as a value (`default=…`, jsonPath's source).
    /// Records a `request.path.NAME` for the compiler's check against the rule's path
    /// (the first use of each name: one error per name is enough).
    fn note_path_param(&mut self, seg: &Seg<'_>) {
        if !self.path_params.iter().any(|p| *p.name == *seg.text) {
            let (line, column) = super::position(self.src, seg.start);
            self.path_params.push(PathParamUse { name: seg.text.into(), line, column });
        }
    }

    pub(super) fn resolve_value(&mut self, value: RawValue<'s>) -> PResult<Expr> {
        Ok(match value {
            RawValue::Str { value, .. } => Expr::Literal(value.into()),
            RawValue::Num { text, .. } => match text.parse::<i64>() {
                Ok(i) => Expr::Int(i),
                Err(_) => Expr::Float(text.parse().unwrap_or(f64::NAN), text.into()),
            },
            RawValue::Bool { value, .. } => Expr::Bool(value),
            RawValue::Path(path) => self.resolve_path(&path)?,
            RawValue::Sub { call, .. } => self.resolve_call(call, false)?,
        })
    }

    fn no_args(&self, call: &RawCall<'_>, name: &str) -> PResult<()> {
        if let Some(first) = call.params.first() {
            return Err(self
                .error(first.start(), format!("`{name}` takes no arguments, found {}", call.params.len())));
        }
        if let Some((key, at, _)) = call.hash.first() {
            return Err(self.error(*at, format!("unknown argument `{key}` for `{name}`: it takes none")));
        }
        Ok(())
    }

    /// Takes the hash arguments out of `call`, refusing unknown and repeated keys.
    pub(super) fn hash_args(
        &self,
        call: &mut RawCall<'s>,
        helper: &str,
        allowed: &[&str],
    ) -> PResult<Vec<Option<(usize, RawValue<'s>)>>> {
        let mut found: Vec<Option<(usize, RawValue<'s>)>> = allowed.iter().map(|_| None).collect();
        for (key, at, value) in call.hash.drain(..) {
            let Some(slot) = allowed.iter().position(|a| *a == key) else {
                let message = if helper == "now" && key == "timezone" {
                    "`timezone` is not supported yet: `now` always renders UTC".to_string()
                } else {
                    format!("unknown argument `{key}` for `{helper}` (arguments: {})", allowed.join(", "))
                };
                return Err(self.error(at, message));
            };
            if found[slot].is_some() {
                return Err(self.error(at, format!("argument `{key}` is given twice")));
            }
            found[slot] = Some((at, value));
        }
        Ok(found)
    }

    pub(super) fn expect_str(&self, key: &str, value: &RawValue<'_>) -> PResult<String> {
        match value {
            RawValue::Str { value, .. } => Ok(value.clone()),
            other => {
                Err(self
                    .error(other.start(), format!("`{key}` must be a quoted string, found {}", other.kind())))
            }
        }
    }

    pub(super) fn expect_int(&self, key: &str, value: &RawValue<'_>) -> PResult<i64> {
        match value {
            RawValue::Num { text, start } => text.parse().map_err(|_| {
                self.error(
                    *start,
                    format!("`{key}` must be a whole number that fits in 64 bits, found `{text}`"),
                )
            }),
            other => {
                Err(self.error(other.start(), format!("`{key}` must be a number, found {}", other.kind())))
            }
        }
    }

    pub(super) fn expect_bool(&self, key: &str, value: &RawValue<'_>) -> PResult<bool> {
        match value {
            RawValue::Bool { value, .. } => Ok(*value),
            other => {
                Err(self
                    .error(other.start(), format!("`{key}` must be true or false, found {}", other.kind())))
            }
        }
    }

    // ---- helpers ----------------------------------------------------------------------------

    fn json_path(&mut self, mut call: RawCall<'s>) -> PResult<Expr> {
        let at = call.head.start;
        let [default] = self.hash_args(&mut call, "jsonPath", &["default"])?.try_into().unwrap_or_default();
        if call.params.len() != 2 {
            return Err(self.error(
                at,
                format!("`jsonPath` needs 2 arguments (the JSON, such as request.body, and a JSONPath such as '$.id'), found {}", call.params.len()),
            ));
        }
        let mut params = call.params.into_iter();
        let (Some(source), Some(query)) = (params.next(), params.next()) else {
            return Err(self.error(at, "`jsonPath` needs 2 arguments"));
        };
        let source = match source {
            RawValue::Path(_) | RawValue::Sub { .. } => self.resolve_value(source)?,
            other => {
                return Err(self.error(
                    other.start(),
                    format!(
                        "the first argument of `jsonPath` must be a value such as request.body, found {}",
                        other.kind()
                    ),
                ))
            }
        };
        let RawValue::Str { value: query, start, .. } = query else {
            return Err(self.error(
                query.start(),
                format!(
                    "the second argument of `jsonPath` must be a quoted JSONPath such as '$.id', found {}",
                    query.kind()
                ),
            ));
        };
        let path = crate::jsonpath::parse(&query)
            .map_err(|e| self.error(start, format!("bad JSONPath '{query}': {e}")))?;
        let default = match default {
            Some((_, value)) => Some(self.resolve_value(value)?),
            None => None,
        };
        let pretty = self.dialect == crate::template::Dialect::WireMock;
        Ok(Expr::JsonPath(Box::new(JsonPathExpr { source, path, default, pretty })))
    }

    fn now(&mut self, mut call: RawCall<'s>) -> PResult<Expr> {
        let [format, offset, timezone] = self
            .hash_args(&mut call, "now", &["format", "offset", "timezone"])?
            .try_into()
            .unwrap_or_default();
        if let Some(first) = call.params.first() {
            return Err(self.error(
                first.start(),
                "`now` takes no positional arguments; use format='…', offset='…' or timezone='…'",
            ));
        }
        let mut format = match format {
            None => self.default_date_format(),
            Some((_, value)) => self.date_format(&value)?,
        };
        if let (Some((_, value)), NowFormat::Items { zone, .. }) = (timezone, &mut format) {
            let text = self.expect_str("timezone", &value)?;
            *zone = Some(date::zone(&text).map_err(|message| self.error(value.start(), message))?);
        }
        let offset = match offset {
            None => date::Offset::ZERO,
            Some((_, value)) => {
                let text = self.expect_str("offset", &value)?;
                date::offset(&text).map_err(|message| self.error(value.start(), message))?
            }
        };
        Ok(Expr::Now(Box::new(NowExpr { offset, format })))
    }

    /// How a date prints without a `format`: RFC 3339 with milliseconds, or without them in
    /// WireMock's dialect (WireMock prints `2024-03-05T14:07:09Z`).
    pub(super) fn default_date_format(&self) -> NowFormat {
        let millis = self.dialect == crate::template::Dialect::Handlebars;
        NowFormat::Items { items: date::rfc3339(millis), zone: None }
    }

    /// A `format` for `now` or `dateFormat`: a Java pattern, `epoch` or `unix`.
    pub(super) fn date_format(&self, value: &RawValue<'_>) -> PResult<NowFormat> {
        let pattern = self.expect_str("format", value)?;
        Ok(match pattern.as_str() {
            "epoch" => NowFormat::Epoch,
            "unix" => NowFormat::Unix,
            _ => NowFormat::Items {
                zone: None,
                items: date::java_pattern(&pattern).map_err(|(i, message)| {
                    let at = match value {
                        RawValue::Str { content_start, exact: true, .. } => content_start + i,
                        _ => value.start(),
                    };
                    self.error(at, message)
                })?,
            },
        })
    }

    fn random_value(&mut self, mut call: RawCall<'s>) -> PResult<Expr> {
        let [length, kind, uppercase] = self
            .hash_args(&mut call, "randomValue", &["length", "type", "uppercase"])?
            .try_into()
            .unwrap_or_default();
        if let Some(first) = call.params.first() {
            return Err(self.error(
                first.start(),
                "`randomValue` takes no positional arguments; use length=…, type='…', uppercase=true",
            ));
        }
        let length = match length {
            None => 36,
            Some((_, value)) => {
                let n = self.expect_int("length", &value)?;
                if !(0..=MAX_RANDOM_LENGTH).contains(&n) {
                    return Err(self.error(
                        value.start(),
                        format!("`length` must be between 0 and {MAX_RANDOM_LENGTH}, found {n}"),
                    ));
                }
                n as usize
            }
        };
        let kind = match kind {
            None => RandomKind::Alphanumeric,
            Some((_, value)) => {
                let name = self.expect_str("type", &value)?;
                match name.to_ascii_uppercase().as_str() {
                    "ALPHANUMERIC" => RandomKind::Alphanumeric,
                    "ALPHABETIC" => RandomKind::Alphabetic,
                    "NUMERIC" => RandomKind::Numeric,
                    "HEXADECIMAL" => RandomKind::Hexadecimal,
                    "ALPHANUMERIC_AND_SYMBOLS" => RandomKind::AlphanumericAndSymbols,
                    "UUID" => RandomKind::Uuid,
                    _ => return Err(self.error(value.start(), format!("unknown randomValue type '{name}' (types: ALPHANUMERIC, ALPHABETIC, NUMERIC, HEXADECIMAL, ALPHANUMERIC_AND_SYMBOLS, UUID)"))),
                }
            }
        };
        let uppercase = match uppercase {
            None => false,
            Some((_, value)) => self.expect_bool("uppercase", &value)?,
        };
        Ok(Expr::RandomValue { length, kind, uppercase })
    }

    fn random_int(&mut self, mut call: RawCall<'s>) -> PResult<Expr> {
        let at = call.head.start;
        let [lower, upper] =
            self.hash_args(&mut call, "randomInt", &["lower", "upper"])?.try_into().unwrap_or_default();
        if let Some(first) = call.params.first() {
            return Err(
                self.error(first.start(), "`randomInt` takes no positional arguments; use lower=… upper=…")
            );
        }
        let lower = match lower {
            None => i64::from(i32::MIN),
            Some((_, value)) => self.expect_int("lower", &value)?,
        };
        let upper = match upper {
            None => i64::from(i32::MAX),
            Some((_, value)) => self.expect_int("upper", &value)?,
        };
        if lower >= upper {
            return Err(self.error(at, format!("`randomInt` needs lower < upper (lower is inclusive, upper exclusive), found lower={lower} upper={upper}")));
        }
        Ok(Expr::RandomInt { lower, upper })
    }
}
