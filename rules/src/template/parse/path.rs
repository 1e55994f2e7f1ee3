//! Paths: `request.query.q`, `items.[0]`, and the block forms `this`, `.`, `./name`,
//! `../name` and `@index`, read with their span so errors can point into them.

use super::{is_id_byte, PResult, Parser, RawPath, Seg};
use crate::template::{DataField, Expr};

impl<'s> Parser<'s> {
    /// `seg(.seg)*` where a segment is an identifier or `[any text]`; `/` works like `.`.
    pub(super) fn path(&mut self, open: usize) -> PResult<RawPath<'s>> {
        let start = self.pos;
        let mut segs = Vec::new();
        let (mut up, mut this) = (0, false);
        let data = self.eat(b'@');
        if !data {
            loop {
                let rest = &self.src[self.pos..];
                if rest.starts_with("../") {
                    up += 1;
                    self.pos += 3;
                } else if rest.starts_with("./") {
                    this = true;
                    self.pos += 2;
                } else {
                    break;
                }
            }
            // `.` and `..` alone: this value, the enclosing block's value.
            let rest = &self.src.as_bytes()[self.pos..];
            let ends = |at: usize| !rest.get(at).is_some_and(|&b| is_id_byte(b) || b == b'[' || b == b'.');
            if rest.starts_with(b"..") && ends(2) {
                self.pos += 2;
                return Ok(RawPath { segs, start, end: self.pos, up: up + 1, this: true, data });
            }
            if rest.starts_with(b".") && ends(1) {
                self.pos += 1;
                return Ok(RawPath { segs, start, end: self.pos, up, this: true, data });
            }
        }
        loop {
            let seg_start = self.pos;
            if self.eat(b'[') {
                let Some(rel) = memchr::memchr(b']', &self.src.as_bytes()[self.pos..]) else {
                    return Err(self.error(seg_start, "unclosed `[` in path: missing `]`"));
                };
                let text = &self.src[self.pos..self.pos + rel];
                if text.is_empty() {
                    return Err(self.error(seg_start, "empty `[]` in path"));
                }
                segs.push(Seg { text, bracketed: true, start: seg_start });
                self.pos += rel + 1;
            } else {
                let len = self.id_len();
                if len == 0 {
                    return Err(match self.peek() {
                        None => self.unclosed(open),
                        Some(_) => self.error(
                            self.pos,
                            format!("expected a name in path, found `{}`", self.current_char()),
                        ),
                    });
                }
                segs.push(Seg {
                    text: &self.src[self.pos..self.pos + len],
                    bracketed: false,
                    start: seg_start,
                });
                self.pos += len;
            }
            if matches!(self.peek(), Some(b'.' | b'/'))
                && self.peek_at(1).is_some_and(|b| is_id_byte(b) || b == b'[')
            {
                self.pos += 1;
            } else if matches!(self.peek(), Some(b'.' | b'/')) {
                self.pos += 1;
                return Err(match self.peek() {
                    None => self.unclosed(open),
                    Some(_) => self
                        .error(self.pos, format!("expected a name in path, found `{}`", self.current_char())),
                });
            } else {
                if !data && segs.first().is_some_and(|s: &Seg<'_>| s.text == "this" && !s.bracketed) {
                    segs.remove(0);
                    this = true;
                }
                return Ok(RawPath { segs, start, end: self.pos, up, this, data });
            }
        }
    }

    /// `@index`, `@key`, `@first`, `@last` (inside `#each`), `@root.path`.
    pub(super) fn data_path(&mut self, path: &RawPath<'s>) -> PResult<Expr> {
        let text = self.span(path);
        let field = match path.segs.as_slice() {
            [seg] if !seg.bracketed => match seg.text {
                "index" => DataField::Index,
                "key" => DataField::Key,
                "first" => DataField::First,
                "last" => DataField::Last,
                _ => {
                    return Err(self.error(
                        path.start,
                        format!("unknown data variable `{text}` (known: @index, @key, @first, @last, @root)"),
                    ))
                }
            },
            [root, first, ..] if root.text == "root" => {
                let root = RawPath {
                    segs: path.segs[1..].iter().map(|s| Seg { ..*s }).collect(),
                    start: first.start,
                    end: path.end,
                    up: 0,
                    this: false,
                    data: false,
                };
                return self.resolve_root(&root);
            }
            _ => {
                return Err(self.error(
                    path.start,
                    format!("unknown data variable `{text}` (known: @index, @key, @first, @last, @root)"),
                ))
            }
        };
        if self.scopes == 0 {
            return Err(
                self.error(path.start, format!("`{text}` only means something inside `{{{{#each}}}}`"))
            );
        }
        Ok(Expr::Data(field))
    }
}
