//! Parsing: source text → [`Part`]s, with every path resolved and every helper argument checked.
//!
//! Two steps per `{{ }}`: a small recursive-descent parser reads the syntax (a head path, then
//! positional arguments and `key=value` pairs, sub-expressions in parentheses), then `resolve`
//! turns it into an [`Expr`], checking names, argument counts and types.

use super::{Dialect, Expr, Part, PathParamUse, Template, TemplateError};

mod blocks;
mod helpers;
mod path;
mod resolve;

type PResult<T> = Result<T, TemplateError>;

pub(super) fn parse(src: &str, dialect: Dialect) -> PResult<Template> {
    let mut p = Parser {
        src,
        dialect,
        pos: 0,
        env: Vec::new(),
        path_params: Vec::new(),
        uses_counter: false,
        depth: 0,
        trim_next: false,
        scopes: 0,
        block_depth: 0,
        vars: Vec::new(),
        block_params: Vec::new(),
    };
    let (parts, _) = p.parts(false)?;
    let text_len = parts
        .iter()
        .map(|part| match part {
            Part::Text(t) => t.len(),
            Part::Expr { .. } | Part::Block(_) => 0,
        })
        .sum();
    Ok(Template { parts, env: p.env, path_params: p.path_params, uses_counter: p.uses_counter, text_len })
}

/// 1-based line and column (in characters) of byte offset `at` in `src`.
fn position(src: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(src.len());
    while !src.is_char_boundary(at) {
        at -= 1;
    }
    let before = &src[..at];
    let line = 1 + memchr::memchr_iter(b'\n', before.as_bytes()).count();
    let line_start = memchr::memrchr(b'\n', before.as_bytes()).map_or(0, |i| i + 1);
    (line, 1 + before[line_start..].chars().count())
}

/// Whether `b` may appear in a Handlebars identifier.
fn is_id_byte(b: u8) -> bool {
    !(b.is_ascii_whitespace() || b"!\"#%&'()*+,./;<=>@[\\]^`{|}~".contains(&b))
}

/// Whether `b` may begin a path (`name`, `[name]`, `./`, `../`, `@index`).
fn is_path_start(b: u8) -> bool {
    is_id_byte(b) || matches!(b, b'[' | b'.' | b'@')
}

/// One segment of a path: `name` or `[any text]`.
#[derive(Clone, Copy)]
struct Seg<'s> {
    text: &'s str,
    bracketed: bool,
    start: usize,
}

/// `a.b.[c]`, with its span in the source; also `this.a`, `./a`, `../a` and `@index`.
struct RawPath<'s> {
    segs: Vec<Seg<'s>>,
    start: usize,
    end: usize,
    /// How many `../` it starts with.
    up: usize,
    /// Starts with `this` or `./` (or is `this`, `.`: then `segs` is empty).
    this: bool,
    /// Starts with `@` (`@index`, `@root.request.method`).
    data: bool,
}

impl RawPath<'_> {
    /// A path with none of `this`, `./`, `../`, `@`: a helper name or a name from the root.
    fn plain(&self) -> bool {
        !self.this && self.up == 0 && !self.data
    }
}

enum RawValue<'s> {
    /// A quoted string; `content_start` is the byte after the opening quote, `exact` says the
    /// value equals the source text (no escapes), so inner positions can be reported.
    Str {
        value: String,
        start: usize,
        content_start: usize,
        exact: bool,
    },
    Num {
        text: &'s str,
        start: usize,
    },
    Bool {
        value: bool,
        start: usize,
    },
    Path(RawPath<'s>),
    Sub {
        call: RawCall<'s>,
        start: usize,
    },
}

impl RawValue<'_> {
    fn start(&self) -> usize {
        match self {
            RawValue::Str { start, .. }
            | RawValue::Num { start, .. }
            | RawValue::Bool { start, .. }
            | RawValue::Sub { start, .. } => *start,
            RawValue::Path(p) => p.start,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            RawValue::Str { .. } => "a string",
            RawValue::Num { .. } => "a number",
            RawValue::Bool { .. } => "a boolean",
            RawValue::Path(_) => "a path",
            RawValue::Sub { .. } => "a sub-expression",
        }
    }
}

/// A helper call or a path, with its arguments, before resolution.
struct RawCall<'s> {
    head: RawPath<'s>,
    params: Vec<RawValue<'s>>,
    hash: Vec<(&'s str, usize, RawValue<'s>)>,
    /// `as |item index|` of a block: each name and where it is written.
    block_params: Vec<(&'s str, usize)>,
}

/// A block parameter in scope: `item` of `{{#each list as |item i|}}`.
struct BlockParam<'s> {
    name: &'s str,
    /// The value of `scopes` inside its block, which says how many blocks out it is.
    level: usize,
    /// The second parameter of `#each` (the key or index) rather than the item.
    key: bool,
}

/// What one `{{ … }}` turned out to be.
enum Mustache<'s> {
    Expr {
        expr: Expr,
        escape: bool,
    },
    Comment,
    /// `{{#call}}`, or `{{^path}}` (`inverted`).
    Open {
        call: RawCall<'s>,
        inverted: bool,
    },
    /// `{{else}}`, `{{^}}`, or `{{else if …}}` (with the chained block's call).
    Else {
        call: Option<RawCall<'s>>,
    },
    /// `{{/name}}`.
    Close {
        name: &'s str,
    },
}

struct Parsed<'s> {
    mustache: Mustache<'s>,
    trim_left: bool,
    trim_right: bool,
}

/// How deep `(sub-expressions)` may nest. Parsing, resolving and rendering all recurse once
/// per level, so without a bound a crafted template overflows the stack (a 55 KB rules file
/// aborted `mockplane validate`). Real templates nest two or three deep.
pub(crate) const MAX_SUB_DEPTH: usize = 16;

/// How deep blocks may nest, counting each `{{else if …}}` of a chain as a level: parsing and
/// rendering recurse once per level, so the bound keeps a crafted template from overflowing
/// the stack. Real templates nest a handful deep.
pub(crate) const MAX_BLOCK_DEPTH: usize = 100;

struct Parser<'s> {
    src: &'s str,
    dialect: Dialect,
    pos: usize,
    env: Vec<Box<str>>,
    path_params: Vec<PathParamUse>,
    uses_counter: bool,
    /// Sub-expressions open around the cursor.
    depth: usize,
    /// A `~}}` asks to trim the whitespace at the start of the next text.
    trim_next: bool,
    /// `#each`/`#with` blocks open around the cursor (each gives `this` a new value).
    scopes: usize,
    /// Blocks (and `{{else if}}` links) open around the cursor.
    block_depth: usize,
    /// Variables assigned so far (`regexExtract … 'name'`, `parseJson`, `assign`), by slot.
    vars: Vec<Box<str>>,
    /// Block parameters (`as |item|`) of the blocks open around the cursor, innermost last.
    block_params: Vec<BlockParam<'s>>,
}

impl<'s> Parser<'s> {
    fn error(&self, at: usize, message: impl Into<String>) -> TemplateError {
        let (line, column) = position(self.src, at);
        TemplateError { line, column, message: message.into() }
    }

    fn unclosed(&self, open: usize) -> TemplateError {
        self.error(open, "unclosed `{{`: missing `}}`")
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + offset).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// The character at the cursor, for "unexpected `x`" messages.
    fn current_char(&self) -> char {
        self.src.get(self.pos..).and_then(|rest| rest.chars().next()).unwrap_or(' ')
    }

    /// Parses the `{{ … }}` opening at byte `open`; leaves the cursor after its `}}`.
    fn mustache(&mut self, open: usize) -> PResult<Parsed<'s>> {
        self.pos = open + 2;
        let trim_left = self.eat(b'~');
        let tag = |p: &mut Self, mustache| {
            let trim_right = p.close_tag(open)?;
            Ok(Parsed { mustache, trim_left, trim_right })
        };
        match self.peek() {
            Some(b'!') => return self.comment(open, trim_left),
            Some(b'#') => {
                self.pos += 1;
                match self.peek() {
                    Some(b'>') => {
                        return Err(self.error(open, "partial blocks are not supported (`{{#> name}}`)"))
                    }
                    Some(b'*') => return Err(self.error(open, "decorators are not supported (`{{#* …}}`)")),
                    _ => {}
                }
                self.skip_ws();
                if matches!(self.peek(), None | Some(b'}' | b'~')) {
                    return Err(match self.peek() {
                        None => self.unclosed(open),
                        _ => self.error(open, "empty block: expected a helper name after `{{#`"),
                    });
                }
                let call = self.call(open, None)?;
                return tag(self, Mustache::Open { call, inverted: false });
            }
            Some(b'^') => {
                self.pos += 1;
                self.skip_ws();
                if matches!(self.peek(), Some(b'}' | b'~')) {
                    return tag(self, Mustache::Else { call: None });
                }
                let call = self.call(open, None)?;
                if !call.params.is_empty() || !call.hash.is_empty() {
                    let at = call.params.first().map_or_else(|| call.hash[0].1, RawValue::start);
                    return Err(self.error(at, "`{{^name}}` takes a single value and no arguments"));
                }
                return tag(self, Mustache::Open { call, inverted: true });
            }
            Some(b'/') => {
                self.pos += 1;
                self.skip_ws();
                if self.peek().is_none() {
                    return Err(self.unclosed(open));
                }
                let path = self.path(open)?;
                let name = &self.src[path.start..path.end];
                return tag(self, Mustache::Close { name });
            }
            Some(b'>') => return Err(self.error(open, "partials are not supported yet (`{{> name}}`)")),
            Some(b'*') => return Err(self.error(open, "decorators are not supported (`{{* …}}`)")),
            _ => {}
        }
        let triple = self.eat(b'{');
        let raw = triple || self.eat(b'&');
        self.skip_ws();
        match self.peek() {
            None => return Err(self.unclosed(open)),
            Some(b'}' | b'~') => {
                return Err(
                    self.error(open, "empty expression: expected a path or a helper between the braces")
                )
            }
            _ => {}
        }
        let call = self.call(open, None)?;
        self.skip_ws();
        if triple {
            let rest = &self.src[self.pos..];
            if !(rest.starts_with("}}}") || rest.starts_with("}~}}")) {
                return Err(match self.peek() {
                    None => self.unclosed(open),
                    Some(_) => self.error(self.pos, "expected `}}}` to close `{{{`"),
                });
            }
            self.pos += 1;
        }
        let trim_right = self.eat(b'~');
        if !self.src[self.pos..].starts_with("}}") {
            return Err(match self.peek() {
                None | Some(b'}') => self.unclosed(open),
                Some(_) => {
                    self.error(self.pos, format!("unexpected `{}`, expected `}}}}`", self.current_char()))
                }
            });
        }
        self.pos += 2;
        if let [seg] = call.head.segs.as_slice() {
            if seg.text == "else" && !seg.bracketed && call.head.plain() && !raw {
                let call = self.else_call(call)?;
                return Ok(Parsed { mustache: Mustache::Else { call }, trim_left, trim_right });
            }
        }
        let expr = self.resolve_call(call, true)?;
        // WireMock configures Handlebars.java without escaping: `{{x}}` is as raw as `{{{x}}}`.
        let escape = !raw && self.dialect == Dialect::Handlebars;
        Ok(Parsed { mustache: Mustache::Expr { expr, escape }, trim_left, trim_right })
    }

    /// `{{else}}` → `None`; `{{else if x}}` → the call `if x`.
    fn else_call(&self, call: RawCall<'s>) -> PResult<Option<RawCall<'s>>> {
        let mut params = call.params.into_iter();
        match params.next() {
            None if call.hash.is_empty() => Ok(None),
            Some(RawValue::Path(head)) if head.segs.len() == 1 && head.plain() => Ok(Some(RawCall {
                head,
                params: params.collect(),
                hash: call.hash,
                block_params: call.block_params,
            })),
            other => {
                let at = other.as_ref().map_or_else(|| call.hash[0].1, RawValue::start);
                Err(self.error(at, "expected a block helper after `else`, such as `{{else if …}}`"))
            }
        }
    }

    /// The end of a block tag: optional `~`, then `}}`. Returns whether there was a `~`.
    fn close_tag(&mut self, open: usize) -> PResult<bool> {
        self.skip_ws();
        let trim_right = self.eat(b'~');
        if !self.src[self.pos..].starts_with("}}") {
            return Err(match self.peek() {
                None | Some(b'}') => self.unclosed(open),
                Some(_) => {
                    self.error(self.pos, format!("unexpected `{}`, expected `}}}}`", self.current_char()))
                }
            });
        }
        self.pos += 2;
        Ok(trim_right)
    }

    /// `{{! … }}` or `{{!-- … --}}` (which may contain `}}`); the cursor is on the `!`.
    fn comment(&mut self, open: usize, trim_left: bool) -> PResult<Parsed<'s>> {
        let body = self.pos + 1;
        let src = self.src;
        let comment = |trim_right| Parsed { mustache: Mustache::Comment, trim_left, trim_right };
        if src[body..].starts_with("--") {
            let mut from = body + 2;
            loop {
                let Some(rel) = memchr::memmem::find(&src.as_bytes()[from..], b"--") else {
                    return Err(self.error(open, "unclosed comment `{{!--`: missing `--}}`"));
                };
                let after = from + rel + 2;
                if src[after..].starts_with("}}") {
                    self.pos = after + 2;
                    return Ok(comment(false));
                }
                if src[after..].starts_with("~}}") {
                    self.pos = after + 3;
                    return Ok(comment(true));
                }
                from = from + rel + 1;
            }
        }
        let Some(rel) = memchr::memmem::find(&src.as_bytes()[body..], b"}}") else {
            return Err(self.error(open, "unclosed comment `{{!`: missing `}}`"));
        };
        let close = body + rel;
        self.pos = close + 2;
        Ok(comment(close > body && src.as_bytes()[close - 1] == b'~'))
    }

    // ---- expression syntax ------------------------------------------------------------------

    /// A head path and its arguments, up to (not including) `}`/`~` at the top level or `)` in
    /// a sub-expression (`sub` is the position of its `(`).
    fn call(&mut self, open: usize, sub: Option<usize>) -> PResult<RawCall<'s>> {
        let head_start = self.pos;
        let head = match self.peek() {
            Some(b'\'' | b'"') => {
                return Err(self.error(head_start, "expected a helper name or a path, found a string"))
            }
            Some(b'(') => return Err(self.error(head_start, "expected a helper name or a path, found `(`")),
            _ if self.number_len().is_some() => {
                return Err(self.error(head_start, "expected a helper name or a path, found a number"))
            }
            Some(b) if is_path_start(b) => self.path(open)?,
            Some(b')') if sub.is_some() => {
                return Err(self.error(head_start, "empty sub-expression `()`"));
            }
            Some(_) => return Err(self.error(head_start, format!("unexpected `{}`", self.current_char()))),
            None => return Err(self.unclosed(open)),
        };
        let mut call = RawCall { head, params: Vec::new(), hash: Vec::new(), block_params: Vec::new() };
        loop {
            self.skip_ws();
            match (self.peek(), sub) {
                (None, _) => return Err(self.unclosed(open)),
                (Some(b'}' | b'~'), None) | (Some(b')'), Some(_)) => return Ok(call),
                (Some(b'}' | b'~'), Some(paren)) => {
                    return Err(self.error(paren, "unclosed `(`: missing `)`"))
                }
                (Some(b')'), None) => return Err(self.error(self.pos, "unexpected `)`")),
                _ => {}
            }
            if sub.is_none() && self.at_block_params() {
                call.block_params = self.block_params(open)?;
                continue;
            }
            // `key=value`?
            if self.number_len().is_none() && self.peek().is_some_and(is_id_byte) {
                let key_start = self.pos;
                let key_len = self.id_len();
                let key = &self.src[key_start..key_start + key_len];
                self.pos += key_len;
                self.skip_ws();
                if self.eat(b'=') {
                    self.skip_ws();
                    if self.peek().is_none() {
                        return Err(self.unclosed(open));
                    }
                    let value = self.value(open)?;
                    call.hash.push((key, key_start, value));
                    continue;
                }
                self.pos = key_start;
            }
            let value = self.value(open)?;
            call.params.push(value);
        }
    }

    /// An argument: a string, number, boolean, path or `(sub-expression)`.
    fn value(&mut self, open: usize) -> PResult<RawValue<'s>> {
        let start = self.pos;
        match self.peek() {
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(b'(') => {
                if self.depth == MAX_SUB_DEPTH {
                    return Err(
                        self.error(start, format!("sub-expressions nest more than {MAX_SUB_DEPTH} deep"))
                    );
                }
                self.pos += 1;
                self.skip_ws();
                self.depth += 1;
                let call = self.call(open, Some(start));
                self.depth -= 1;
                let call = call?;
                self.pos += 1; // the `)` that ended the call
                Ok(RawValue::Sub { call, start })
            }
            _ if self.number_len().is_some() => {
                let len = self.number_len().unwrap_or(0);
                self.pos += len;
                Ok(RawValue::Num { text: &self.src[start..start + len], start })
            }
            Some(b) if is_path_start(b) => {
                let path = self.path(open)?;
                if let [seg] = path.segs.as_slice() {
                    if !seg.bracketed && (seg.text == "true" || seg.text == "false") {
                        return Ok(RawValue::Bool { value: seg.text == "true", start });
                    }
                }
                Ok(RawValue::Path(path))
            }
            Some(_) => Err(self.error(start, format!("unexpected `{}`", self.current_char()))),
            None => Err(self.unclosed(open)),
        }
    }

    /// A quoted string; `\'` (or `\"`) stands for the quote itself.
    fn string(&mut self, quote: u8) -> PResult<RawValue<'s>> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = start + 1;
        let mut exact = true;
        loop {
            match bytes.get(i) {
                None => return Err(self.error(start, "unclosed string: missing closing quote")),
                Some(b'\\') if bytes.get(i + 1) == Some(&quote) => {
                    exact = false;
                    i += 2;
                }
                Some(&b) if b == quote => break,
                Some(_) => i += 1,
            }
        }
        let content = &self.src[start + 1..i];
        self.pos = i + 1;
        let value = if exact {
            content.to_string()
        } else {
            let q = quote as char;
            content.replace(&format!("\\{q}"), &q.to_string())
        };
        Ok(RawValue::Str { value, start, content_start: start + 1, exact })
    }

    /// The length of a number literal at the cursor (`-?[0-9]+(\.[0-9]+)?` followed by a
    /// delimiter), if there is one.
    fn number_len(&self) -> Option<usize> {
        let bytes = &self.src.as_bytes()[self.pos..];
        let mut i = usize::from(bytes.first() == Some(&b'-'));
        let digits = |from: usize| bytes[from..].iter().take_while(|b| b.is_ascii_digit()).count();
        let n = digits(i);
        if n == 0 {
            return None;
        }
        i += n;
        if bytes.get(i) == Some(&b'.') {
            let n = digits(i + 1);
            if n > 0 {
                i += 1 + n;
            }
        }
        match bytes.get(i) {
            None => Some(i),
            Some(&b) if b.is_ascii_whitespace() || matches!(b, b'}' | b'~' | b')') => Some(i),
            _ => None,
        }
    }

    /// Whether the cursor is on `as |`, which starts block parameters.
    fn at_block_params(&self) -> bool {
        let rest = &self.src[self.pos..];
        let Some(after) = rest.strip_prefix("as") else { return false };
        let trimmed = after.trim_start();
        trimmed.len() < after.len() && trimmed.starts_with('|')
    }

    /// `as |name name|`, the cursor on `as`; they must end the tag.
    fn block_params(&mut self, open: usize) -> PResult<Vec<(&'s str, usize)>> {
        let start = self.pos;
        self.pos += 2;
        self.skip_ws();
        self.pos += 1; // the `|`
        let mut names = Vec::new();
        loop {
            self.skip_ws();
            match self.peek() {
                None => return Err(self.unclosed(open)),
                Some(b'|') => {
                    self.pos += 1;
                    break;
                }
                Some(b) if is_id_byte(b) && self.number_len().is_none() => {
                    let at = self.pos;
                    let len = self.id_len();
                    names.push((&self.src[at..at + len], at));
                    self.pos += len;
                }
                Some(_) => {
                    return Err(self.error(
                        self.pos,
                        format!(
                            "unexpected `{}` in block parameters: expected a name or `|`",
                            self.current_char()
                        ),
                    ))
                }
            }
        }
        if names.is_empty() {
            return Err(self.error(start, "`as ||` names no block parameter: write `as |item|`"));
        }
        self.skip_ws();
        if !matches!(self.peek(), None | Some(b'}' | b'~')) {
            return Err(self.error(self.pos, "block parameters `as |…|` must come last in the tag"));
        }
        Ok(names)
    }

    fn id_len(&self) -> usize {
        self.src.as_bytes()[self.pos..].iter().take_while(|&&b| is_id_byte(b)).count()
    }
}
