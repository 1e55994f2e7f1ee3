//! The text level: literal text, `{{ }}` expressions and comments, and blocks
//! (`{{#if}}…{{else}}…{{/if}}`) nested to any depth, each checked to be closed by its own name.
//!
//! Unlike comments, block tags alone on a line keep their line: WireMock's Handlebars.java runs
//! without `prettyPrint`, so `{{#each}}` on its own line leaves its newline in the output. Use
//! `~` to trim.

use super::{BlockParam, Mustache, PResult, Parser, RawCall, RawValue};
use crate::template::{Block, BlockKind, Expr, Helper, Part};

/// What ended a run of parts.
pub(super) enum End<'s> {
    Eof,
    /// `{{else}}` (no call) or `{{else if …}}` (the chained block's call), at `at`.
    Else {
        call: Option<RawCall<'s>>,
        at: usize,
    },
    /// `{{/name}}` at `at`.
    Close {
        name: &'s str,
        at: usize,
    },
}

/// A block's head, resolved.
struct Head {
    kind: BlockKind,
    /// `#each`/`#with` give their body a new `this`.
    scoped: bool,
    /// Whether `{{else}}` means something (WireMock ignores it in `#contains`/`#matches`).
    allows_else: bool,
}

/// Block helpers, for error messages.
const BLOCK_HELPERS: &str = "if, unless, each, with, eq, neq, gt, gte, lt, lte, and, or, not, contains, matches, base64, urlEncode, trim, parseJson, assign";

impl<'s> Parser<'s> {
    /// Parts up to the end of the input, or (`in_block`) up to an `{{else}}` or `{{/…}}`.
    pub(super) fn parts(&mut self, in_block: bool) -> PResult<(Vec<Part>, End<'s>)> {
        let mut parts = Vec::new();
        let mut text = String::new();
        // Whether `text` begins at the start of a line (for standalone comments).
        let mut text_at_line_start = !in_block && self.pos == 0;
        loop {
            let rest = &self.src[self.pos..];
            let Some(rel) = memchr::memmem::find(rest.as_bytes(), b"{{") else {
                self.push_text(&mut text, rest);
                self.pos = self.src.len();
                flush(&mut parts, &mut text);
                return Ok((parts, End::Eof));
            };
            let open = self.pos + rel;
            let mut before = &self.src[self.pos..open];
            if let Some(stripped) = before.strip_suffix('\\') {
                if let Some(kept) = stripped.strip_suffix('\\') {
                    // `\\{{x}}`: a literal backslash, then a real expression.
                    before = &before[..kept.len() + 1];
                } else {
                    // `\{{`: a literal `{{`.
                    self.push_text(&mut text, stripped);
                    text.push_str("{{");
                    self.pos = open + 2;
                    continue;
                }
            }
            self.push_text(&mut text, before);
            let parsed = self.mustache(open)?;
            if parsed.trim_left {
                text.truncate(text.trim_end().len());
            }
            self.trim_next = parsed.trim_right;
            match parsed.mustache {
                Mustache::Comment => {
                    if !parsed.trim_left && !parsed.trim_right {
                        self.standalone(&mut text, text_at_line_start);
                    }
                }
                Mustache::Expr { expr, escape } => {
                    flush(&mut parts, &mut text);
                    parts.push(Part::Expr { expr, escape });
                    text_at_line_start = false;
                }
                Mustache::Open { call, inverted } => {
                    flush(&mut parts, &mut text);
                    let name = self.span(&call.head);
                    let block = self.block_chain(name, open, call, open, inverted)?;
                    parts.push(Part::Block(Box::new(block)));
                    text_at_line_start = false;
                }
                Mustache::Else { call } => {
                    if !in_block {
                        return Err(self.error(open, "`{{else}}` outside a block: it belongs between `{{#if …}}` (or another block) and its `{{/if}}`"));
                    }
                    flush(&mut parts, &mut text);
                    return Ok((parts, End::Else { call, at: open }));
                }
                Mustache::Close { name } => {
                    if !in_block {
                        return Err(self.error(
                            open,
                            format!(
                                "`{{{{/{name}}}}}` closes no block: there is no `{{{{#{name}}}}}` open here"
                            ),
                        ));
                    }
                    flush(&mut parts, &mut text);
                    return Ok((parts, End::Close { name, at: open }));
                }
            }
        }
    }

    /// Appends a text segment, dropping its leading whitespace after a `~}}`.
    fn push_text(&mut self, text: &mut String, segment: &str) {
        if std::mem::take(&mut self.trim_next) {
            text.push_str(segment.trim_start());
        } else {
            text.push_str(segment);
        }
    }

    /// A comment alone on its line disappears with its line, as in Handlebars. The cursor is
    /// just after the comment's `}}`.
    fn standalone(&mut self, text: &mut String, text_at_line_start: bool) {
        let line_start = match text.rfind('\n') {
            Some(i) => i + 1,
            None if text_at_line_start => 0,
            None => return,
        };
        if !text[line_start..].bytes().all(|b| b == b' ' || b == b'\t') {
            return;
        }
        let rest = &self.src.as_bytes()[self.pos..];
        let mut i = 0;
        while i < rest.len() && (rest[i] == b' ' || rest[i] == b'\t') {
            i += 1;
        }
        if i == rest.len() {
            // End of input.
        } else if rest[i] == b'\n' {
            i += 1;
        } else if rest[i] == b'\r' && rest.get(i + 1) == Some(&b'\n') {
            i += 2;
        } else {
            return;
        }
        text.truncate(line_start);
        self.pos += i;
    }

    /// A block opened by `call` at `at`, up to its close; `outer` (opened at `outer_at`) is the
    /// name the close must have: the block's own, or the first of an `{{else if}}` chain's.
    fn block_chain(
        &mut self,
        outer: &'s str,
        outer_at: usize,
        call: RawCall<'s>,
        at: usize,
        inverted: bool,
    ) -> PResult<Block> {
        if self.block_depth == super::MAX_BLOCK_DEPTH {
            return Err(self.error(
                at,
                format!(
                    "blocks nest more than {} deep (counting each `{{{{else if}}}}`)",
                    super::MAX_BLOCK_DEPTH
                ),
            ));
        }
        self.block_depth += 1;
        let block = self.block_inner(outer, outer_at, call, at, inverted);
        self.block_depth -= 1;
        block
    }

    fn block_inner(
        &mut self,
        outer: &'s str,
        outer_at: usize,
        mut call: RawCall<'s>,
        at: usize,
        inverted: bool,
    ) -> PResult<Block> {
        let params = std::mem::take(&mut call.block_params);
        let name = self.span(&call.head);
        let head = self.block_head(call, at, inverted)?;
        let most = match head.kind {
            BlockKind::Each(_) => 2,
            BlockKind::With(_) => 1,
            _ => 0,
        };
        if let Some(&(_, extra)) = params.get(most) {
            return Err(self.error(
                extra,
                match most {
                    0 => format!("`{{{{#{name}}}}}` takes no block parameters (`as |…|` belongs to `#each` and `#with`)"),
                    1 => "`#with` takes one block parameter, the value: `as |value|`".to_string(),
                    _ => "`#each` takes at most two block parameters, the item and its index or key: `as |item index|`".to_string(),
                },
            ));
        }
        if head.scoped {
            self.scopes += 1;
        }
        let outside = self.block_params.len();
        for (i, &(name, _)) in params.iter().enumerate() {
            self.block_params.push(BlockParam { name, level: self.scopes, key: i == 1 });
        }
        let body = self.parts(true);
        self.block_params.truncate(outside);
        if head.scoped {
            self.scopes -= 1;
        }
        let (body, end) = body?;
        let inverse = match end {
            End::Eof => return Err(self.unclosed_block(outer, outer_at)),
            End::Close { name, at } => {
                self.check_close(outer, outer_at, name, at)?;
                Vec::new()
            }
            End::Else { call, at: else_at } => {
                if !head.allows_else {
                    return Err(self.error(else_at, format!("`{{{{else}}}}` has no effect in `{{{{#{outer}}}}}` (WireMock ignores it): use `{{{{#if ({outer} …)}}}}…{{{{else}}}}…{{{{/if}}}}`")));
                }
                match call {
                    None => {
                        let (inverse, end) = self.parts(true)?;
                        match end {
                            End::Eof => return Err(self.unclosed_block(outer, outer_at)),
                            End::Else { at, .. } => {
                                return Err(self.error(
                                    at,
                                    format!("a second `{{{{else}}}}` in `{{{{#{outer}}}}}`: a block has at most one, or use `{{{{else if …}}}}`"),
                                ))
                            }
                            End::Close { name, at } => self.check_close(outer, outer_at, name, at)?,
                        }
                        inverse
                    }
                    Some(call) => {
                        vec![Part::Block(Box::new(self.block_chain(outer, outer_at, call, else_at, false)?))]
                    }
                }
            }
        };
        Ok(Block { kind: head.kind, body, inverse })
    }

    fn unclosed_block(&self, name: &str, at: usize) -> crate::template::TemplateError {
        self.error(at, format!("unclosed block `{{{{#{name}}}}}`: missing `{{{{/{name}}}}}`"))
    }

    fn check_close(&self, outer: &str, outer_at: usize, name: &str, at: usize) -> PResult<()> {
        if name == outer {
            return Ok(());
        }
        let (line, column) = super::position(self.src, outer_at);
        Err(self.error(
            at,
            format!("`{{{{/{name}}}}}` does not close `{{{{#{outer}}}}}` (opened at line {line}, column {column}): expected `{{{{/{outer}}}}}`"),
        ))
    }

    /// What a `{{#name …}}` (or `{{^path}}`) does, with its arguments checked.
    fn block_head(&mut self, mut call: RawCall<'s>, at: usize, inverted: bool) -> PResult<Head> {
        let plain = |kind| Head { kind, scoped: false, allows_else: true };
        if inverted {
            let cond = self.resolve_call(call, false)?;
            return Ok(plain(BlockKind::If { cond, negate: true, include_zero: false }));
        }
        let name = match call.head.segs.as_slice() {
            [seg] if !seg.bracketed && call.head.plain() => seg.text,
            _ => {
                let name = self.span(&call.head);
                return Err(self.error(
                    call.head.start,
                    format!("`{{{{#{name}}}}}`: a block needs a helper name ({BLOCK_HELPERS})"),
                ));
            }
        };
        match name {
            "if" | "unless" => {
                let [include_zero] =
                    self.hash_args(&mut call, name, &["includeZero"])?.try_into().unwrap_or_default();
                let include_zero = match include_zero {
                    Some((_, v)) => self.expect_bool("includeZero", &v)?,
                    None => false,
                };
                let cond = self.one_value(call, name, at)?;
                Ok(plain(BlockKind::If { cond, negate: name == "unless", include_zero }))
            }
            "each" | "with" => {
                self.hash_args(&mut call, name, &[])?;
                let value = self.one_value(call, name, at)?;
                let kind = if name == "each" { BlockKind::Each(value) } else { BlockKind::With(value) };
                Ok(Head { kind, scoped: true, allows_else: true })
            }
            "eq" | "neq" | "ne" | "gt" | "gte" | "lt" | "lte" | "and" | "or" | "not" | "contains"
            | "matches" => {
                let cond = self.resolve_call(call, false)?;
                Ok(Head {
                    kind: BlockKind::If { cond, negate: false, include_zero: false },
                    scoped: false,
                    allows_else: !matches!(name, "contains" | "matches"),
                })
            }
            "base64" | "urlEncode" | "trim" => {
                if let Some(first) = call.params.first() {
                    return Err(self.error(first.start(), format!("`{{{{#{name}}}}}` transforms its body and takes no value: write `{{{{#{name}}}}}…{{{{/{name}}}}}` or `{{{{{name} value}}}}`")));
                }
                // The same options as the value form, resolved by it.
                call.params.push(RawValue::Str {
                    value: String::new(),
                    start: at,
                    content_start: at,
                    exact: true,
                });
                let Expr::Helper(helper) = self.resolve_call(call, false)? else {
                    return Err(self.error(at, format!("`{name}` is not a block helper")));
                };
                let Helper::Transform { how, .. } = *helper else {
                    return Err(self.error(at, format!("`{name}` is not a block helper")));
                };
                Ok(Head { kind: BlockKind::Transform(how), scoped: false, allows_else: false })
            }
            "parseJson" | "assign" => {
                self.hash_args(&mut call, name, &[])?;
                let slot = match call.params.as_slice() {
                    [] if name == "parseJson" => None,
                    [RawValue::Str { value, .. }] => Some(self.define_var(value)),
                    [other] => {
                        return Err(self.error(other.start(), format!("the variable name of `{{{{#{name}}}}}` must be a quoted string, such as '{name}Result', found {}", other.kind())))
                    }
                    _ => {
                        return Err(self.error(at, format!("`{{{{#{name}}}}}` takes one argument, the variable name, found {}", call.params.len())))
                    }
                };
                Ok(Head {
                    kind: BlockKind::Assign { slot, json: name == "parseJson" },
                    scoped: false,
                    allows_else: false,
                })
            }
            _ if super::resolve::is_value_helper(name) => Err(self.error(
                call.head.start,
                format!("`{name}` is not a block helper: write `{{{{{name} …}}}}` (block helpers: {BLOCK_HELPERS})"),
            )),
            _ => Err(self.error(
                call.head.start,
                format!("unknown block helper `{name}` (block helpers: {BLOCK_HELPERS})"),
            )),
        }
    }

    /// The single argument of `#if`/`#unless`/`#each`/`#with`, resolved as a value.
    fn one_value(&mut self, call: RawCall<'s>, name: &str, at: usize) -> PResult<Expr> {
        if call.params.len() != 1 {
            return Err(self.error(
                at,
                format!(
                    "`{{{{#{name}}}}}` needs 1 argument, the value to test or walk, found {}",
                    call.params.len()
                ),
            ));
        }
        let value = call.params.into_iter().next().expect("one argument, checked above");
        self.resolve_value(value)
    }

    /// The slot of variable `name`, made on first assignment.
    pub(super) fn define_var(&mut self, name: &str) -> usize {
        match self.vars.iter().position(|v| **v == *name) {
            Some(slot) => slot,
            None => {
                self.vars.push(name.into());
                self.vars.len() - 1
            }
        }
    }
}

fn flush(parts: &mut Vec<Part>, text: &mut String) {
    if !text.is_empty() {
        parts.push(Part::Text(std::mem::take(text).into_boxed_str()));
    }
}
