//! Response templates: the Handlebars-style `{{request.path.id}}` syntax that WireMock users
//! know, for response bodies and header values.
//!
//! A template is parsed once, when the rules are compiled, into a flat list of literal text and
//! pre-resolved expressions: paths are turned into enum variants, JSONPath queries and date
//! patterns are compiled, helper arguments are checked and defaulted. Every mistake is reported
//! then, with its line and column, so [`Template::render`] (the hot path, once per request) never
//! parses, never fails and writes plain values straight into the output buffer without
//! allocating. See `docs/templates.md` for the user-facing reference.
//!
//! Block helpers (`{{#if}}`, `{{#each}}`, …) make the list a tree ([`Block`]); they and
//! WireMock's value helpers (`eq`, `math`, `size`, …) compute typed values ([`value::Val`]),
//! which only templates that use them pay for.

use std::collections::BTreeMap;
use std::fmt;

use chrono::format::Item;
use chrono::{DateTime, Utc};
use serde_json_path::JsonPath;

use crate::request::RequestContext;

mod date;
mod helpers;
mod jackson;
mod parse;
mod render;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_blocks;
#[cfg(test)]
mod tests_dates;
#[cfg(test)]
mod tests_wiremock;
mod value;

/// A parsed response template, ready to render any number of times.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    /// Names read as `{{env.NAME}}`, deduplicated, in order of first use.
    env: Vec<Box<str>>,
    /// Names read as `{{request.path.NAME}}`, deduplicated, where each is first used.
    path_params: Vec<PathParamUse>,
    uses_counter: bool,
    /// Total length of the literal text, to reserve output space once.
    text_len: usize,
}

/// Why a template was refused: where (1-based line and column, in characters) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// 1-based line of the problem.
    pub line: usize,
    /// 1-based column of the problem, counted in characters.
    pub column: usize,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for TemplateError {}

/// A `{{request.path.NAME}}` in a template: the parameter's name and where it is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathParamUse {
    /// The parameter's name, `id` in `{{request.path.id}}`.
    pub name: Box<str>,
    /// 1-based line of the name.
    pub line: usize,
    /// 1-based column of the name, counted in characters.
    pub column: usize,
}

/// Everything a template may read while rendering one response.
pub struct RenderContext<'a, 'r> {
    /// The request being answered.
    pub request: &'a RequestContext<'r>,
    /// Path template parameters of the matched rule, name → raw value, e.g. `[("id", "42")]`.
    pub path_params: &'a [(&'a str, &'a str)],
    /// The rule set's variables, read as `{{env.NAME}}`.
    pub env: &'a BTreeMap<String, String>,
    /// The time `{{now}}` renders.
    pub now: DateTime<Utc>,
    /// This request's hit number for the rule, 1-based.
    pub counter: u64,
    /// The only source of randomness (`randomValue`, `randomInt`, `uuid`).
    pub rng: &'a mut dyn rand::RngCore,
}

/// How `{{ }}` renders: as Handlebars does, or as WireMock does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// `{{x}}` HTML-escapes; `jsonPath` prints objects as compact JSON.
    #[default]
    Handlebars,
    /// WireMock's Handlebars: `{{x}}` is raw (WireMock turns escaping off), and `jsonPath`
    /// prints an object as Jackson's pretty JSON (`{\n  "x" : 1\n}`).
    WireMock,
}

impl Template {
    /// Parses `src`, resolving every path and preparing every helper argument.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        parse::parse(src, Dialect::Handlebars)
    }

    /// Parses `src` to render in `dialect`. The dialect is decided here, once: rendering
    /// costs the same in both.
    pub fn parse_as(src: &str, dialect: Dialect) -> Result<Template, TemplateError> {
        parse::parse(src, dialect)
    }

    /// `Some(text)` when the template has no expressions at all (so the caller can
    /// pre-serialize it). The text has escapes (`\{{`) and comments already applied.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// The names used as `{{env.NAME}}`, so the compiler can check they are defined.
    /// Each name appears once, in order of first use.
    pub fn env_names(&self) -> impl Iterator<Item = &str> {
        self.env.iter().map(|n| &**n)
    }

    /// The path template parameters read as `{{request.path.NAME}}`, so the compiler can check
    /// that the rule's path has them. Each name appears once, where it is first used.
    pub fn path_params(&self) -> &[PathParamUse] {
        &self.path_params
    }

    /// Whether the template reads `{{counter}}` (the caller then keeps a per-rule hit counter).
    pub fn uses_counter(&self) -> bool {
        self.uses_counter
    }

    /// Appends the rendering to `out`. Never panics, never fails: everything that can fail
    /// was checked by [`Template::parse`]; a missing value renders as empty text.
    pub fn render(&self, cx: &mut RenderContext<'_, '_>, out: &mut Vec<u8>) {
        out.reserve(self.text_len + 16 * self.parts.len());
        let inputs = render::Inputs {
            request: cx.request,
            path_params: cx.path_params,
            env: cx.env,
            now: cx.now,
            counter: cx.counter,
        };
        // Variables' slots are made when first assigned: nothing to build or drop otherwise
        // (building `vec![None; n]` cost a plain template 8% more instructions).
        let mut state = render::State { rng: &mut *cx.rng, vars: Vec::new() };
        render::parts(&self.parts, &inputs, &mut state, None, out);
    }
}

/// A piece of a parsed template.
#[derive(Debug, Clone)]
enum Part {
    /// Literal text, copied as is.
    Text(Box<str>),
    /// `{{expr}}` (escaped) or `{{{expr}}}` (raw).
    Expr { expr: Expr, escape: bool },
    /// `{{#helper …}}…{{else}}…{{/helper}}`.
    Block(Box<Block>),
}

/// A block: what it does, its body and its `{{else}}` part (an `{{else if …}}` chain is a
/// block alone in `inverse`).
#[derive(Debug, Clone)]
struct Block {
    kind: BlockKind,
    body: Vec<Part>,
    inverse: Vec<Part>,
}

#[derive(Debug, Clone)]
enum BlockKind {
    /// `#if`, and every test used as a block (`#eq a b`, `#and`, `#contains`, `#matches`, …):
    /// the body when the value is truthy, else the inverse. `#unless` and `{{^x}}` negate.
    If { cond: Expr, negate: bool, include_zero: bool },
    /// `#each`: the body once per item of a list or entry of an object, else the inverse.
    Each(Expr),
    /// `#with`: the body with the value as `this` when it is truthy, else the inverse.
    With(Expr),
    /// `#base64`, `#urlEncode`, `#trim`: the rendered body, transformed.
    Transform(Transform),
    /// `#parseJson 'name'` (JSON) and `#assign 'name'` (trimmed text): the rendered body
    /// stored in a variable; `#parseJson` without a name renders the parsed JSON.
    Assign { slot: Option<usize>, json: bool },
}

/// A text-to-text helper, usable on a value or (some) as a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transform {
    Base64 { decode: bool, padding: bool },
    UrlEncode { decode: bool },
    Trim,
    Upper,
    Lower,
}

/// A helper evaluated as a typed value (see `value.rs`).
#[derive(Debug, Clone)]
enum Helper {
    /// `eq`/`neq`/`gt`/`gte`/`lt`/`lte a b`.
    Compare { op: CmpOp, a: Expr, b: Expr },
    /// `and a b …`: every value truthy.
    And(Vec<Expr>),
    /// `or a b …`: some value truthy.
    Or(Vec<Expr>),
    /// `not a`.
    Not(Expr),
    /// `contains haystack needle`.
    Contains { haystack: Expr, needle: Expr },
    /// `matches value 'regex'`: the whole value matches.
    Matches { value: Expr, regex: regex::Regex },
    /// `regexExtract value 'regex' ['name'] [default=…]`.
    RegexExtract { value: Expr, regex: regex::Regex, var: Option<usize>, default: Option<Expr> },
    /// `parseJson value ['name']`.
    ParseJson { value: Expr, var: Option<usize> },
    /// `math a 'op' b`.
    Math { a: Expr, op: MathOp, b: Expr },
    /// `base64`, `urlEncode`, `trim`, `upper`, `lower`.
    Transform { value: Expr, how: Transform },
    /// `size value`.
    Size(Expr),
    /// `pickRandom a b c …` or `pickRandom list`, `count=n` for several.
    PickRandom { values: Vec<Expr>, count: Option<usize> },
    /// `dateFormat date 'pattern'`.
    DateFormat { value: Expr, format: NowFormat },
    /// `parseDate text [format=…]`: the date, printed as `print` unless reformatted.
    ParseDate { value: Expr, parser: date::DateParser, print: NowFormat },
    /// `parseDate 'literal'`: read once, when the template is parsed.
    Date { at: DateTime<Utc>, print: NowFormat },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// `@index`, `@key`, `@first`, `@last` of the nearest `#each`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataField {
    Index,
    Key,
    First,
    Last,
}

/// A resolved expression: every path and helper is decided at parse time.
#[derive(Debug, Clone)]
enum Expr {
    /// `request.method`.
    Method,
    /// `request.url`: path plus `?query` when there is one.
    Url,
    /// `request.path`.
    Path,
    /// `request.path.[n]` / `request.pathSegments.[n]`, 0-based.
    PathSegment(usize),
    /// `request.path.NAME`: a path template parameter.
    PathParam(Box<str>),
    /// `request.query.NAME.[n]`.
    Query(Box<str>, usize),
    /// `request.query.NAME`, `request.headers.NAME`, `request.cookies.NAME` without an index:
    /// renders the first value, and is the list of values for helpers and blocks.
    AllValues(Field, Box<str>),
    /// `request.pathSegments` without an index: the list of segments.
    PathSegments,
    /// `request.headers.NAME.[n]` (name compared case-insensitively).
    Header(Box<str>, usize),
    /// `request.cookies.NAME.[n]`.
    Cookie(Box<str>, usize),
    /// `request.body`.
    Body,
    /// `request.host`.
    Host,
    /// `request.clientIp`.
    ClientIp,
    /// `env.NAME`.
    Env(Box<str>),
    /// `counter`.
    Counter,
    /// A literal argument (`default='x'`).
    Literal(Box<str>),
    /// A whole-number literal.
    Int(i64),
    /// A decimal literal, with its text as written.
    Float(f64, Box<str>),
    /// `true` / `false`.
    Bool(bool),
    /// Inside `#each`/`#with`: a path into the block's value (`this.name`, `name`, `../x`).
    Scoped(Box<ScopedPath>),
    /// A variable set earlier by `regexExtract`/`parseJson`/`assign`, and a path into it.
    Var { slot: usize, segs: Box<[Box<str>]> },
    /// `@index`, `@key`, `@first`, `@last`.
    Data(DataField),
    /// The second block parameter of `#each … as |item key|`: the key of the item (its index
    /// in a list) of the `#each` block `up` blocks out.
    EachKey { up: usize },
    /// A helper with a typed result.
    Helper(Box<Helper>),
    /// `jsonPath SOURCE 'path' [default=…]`.
    JsonPath(Box<JsonPathExpr>),
    /// `now [format=…] [offset=…]`.
    Now(Box<NowExpr>),
    /// `randomValue [length=…] [type=…] [uppercase=…]`.
    RandomValue { length: usize, kind: RandomKind, uppercase: bool },
    /// `randomInt [lower=…] [upper=…]`: lower inclusive, upper exclusive.
    RandomInt { lower: i64, upper: i64 },
    /// `uuid`: a random (v4) UUID.
    Uuid { uppercase: bool },
}

/// Which multi-valued request field [`Expr::AllValues`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Query,
    Header,
    Cookie,
}

#[derive(Debug, Clone)]
struct ScopedPath {
    /// How many blocks up (`../`) the path starts.
    up: usize,
    /// Whether a name missing from that block's value is looked up in the blocks around it
    /// (a bare `name`, as Handlebars.java does), rather than not (`this.name`, `./name`).
    fallback: bool,
    segs: Box<[Box<str>]>,
}

#[derive(Debug, Clone)]
struct JsonPathExpr {
    /// Where the JSON comes from; [`Expr::Body`] uses the request's cached parse.
    source: Expr,
    path: JsonPath,
    default: Option<Expr>,
    /// Print an object result as Jackson's pretty JSON (WireMock's dialect).
    pretty: bool,
}

#[derive(Debug, Clone)]
struct NowExpr {
    offset: date::Offset,
    format: NowFormat,
}

#[derive(Debug, Clone)]
enum NowFormat {
    /// Milliseconds since the Unix epoch.
    Epoch,
    /// Seconds since the Unix epoch.
    Unix,
    /// chrono items prepared from a Java-style pattern (or the RFC 3339 default), printed in
    /// `zone` (UTC when `None`).
    Items { items: Vec<Item<'static>>, zone: Option<date::Zone> },
}

/// The character sets of `randomValue`, as WireMock defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RandomKind {
    Alphanumeric,
    Alphabetic,
    Numeric,
    Hexadecimal,
    AlphanumericAndSymbols,
    Uuid,
}
