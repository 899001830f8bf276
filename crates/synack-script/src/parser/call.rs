//! A system call with its arguments and expected result, and the expressions arguments are
//! made of (numbers, symbols, `A|B`, strings, lists, structs, calls).

use super::{PResult, Parser};
use crate::ast::*;

impl Parser {
    pub(super) fn syscall(&mut self) -> PResult<Syscall> {
        let name = self.word();
        self.expect('(', &format!("after the system call name '{name}'"))?;
        let args = self.separated(')', "to close the argument list", Self::expr)?;
        self.expect('=', &format!("and the expected result after {name}(...)"))?;
        let ret = self.expr()?;
        let mut errno = None;
        self.ws()?;
        if self.peek().is_some_and(|c| c.is_ascii_uppercase()) {
            let e = self.word();
            errno = Some(e);
            self.ws()?;
        }
        {
            if self.peek() == Some('(') {
                // The strerror text (`-1 EAGAIN (Resource ...)`, or without the errno name,
                // `-1 (Invalid Argument)`) or a note on the value (`0x2 (flags O_RDWR)`) is
                // for the reader.
                let start = self.pos();
                let mut depth = 0;
                loop {
                    match self.bump() {
                        Some('(') => depth += 1,
                        Some(')') => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(_) => {}
                        None => return self.err(start, "unterminated errno description"),
                    }
                }
            }
        }
        Ok(Syscall {
            name,
            args,
            ret,
            errno,
        })
    }

    /// `name=value`, `name(arg)=value` (`msg_iov(1)=[...]`, `msg_name(...)=...`), or a
    /// positional value (`{..., 1000}`), which gets an empty name.
    pub(super) fn struct_field(&mut self) -> PResult<(String, Expr)> {
        self.ws()?;
        let start = self.mark();
        let mut name = self.word();
        if !name.is_empty() {
            self.ws()?;
            if self.peek() == Some('(') {
                // The argument is kept in the name, as written.
                self.bump();
                name.push('(');
                let args = self.separated(')', "to close the field's argument", |p| {
                    p.expr().map(|e| e.to_string())
                })?;
                name.push_str(&args.join(", "));
                name.push(')');
                self.expect('=', &format!("after the field name '{name}'"))?;
                return Ok((name, self.expr()?));
            }
            if self.peek() == Some('=') {
                self.bump();
                return Ok((name, self.expr()?));
            }
        }
        self.reset(start);
        Ok((String::new(), self.expr()?))
    }

    pub(super) fn expr(&mut self) -> PResult<Expr> {
        let first = self.primary()?;
        let mut alts = vec![first];
        while self.eat('|')? {
            alts.push(self.primary()?);
        }
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or(Expr::Ellipsis)
        } else {
            Expr::Or(alts)
        })
    }

    pub(super) fn primary(&mut self) -> PResult<Expr> {
        self.ws()?;
        let pos = self.pos();
        match self.peek() {
            Some('.') if self.looking_at("...") => {
                self.bump_n(3);
                Ok(Expr::Ellipsis)
            }
            Some(c) if c.is_ascii_digit() || c == '-' => Ok(Expr::Int(self.integer("a number")?)),
            Some('"') => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.bump() {
                        Some('"') => return Ok(Expr::Str(s)),
                        Some('\\') => match self.bump() {
                            // C escapes, as in `"\xa1\xa1..."` (a Fast Open key).
                            Some('x') => {
                                let mut v = 0u32;
                                let mut n = 0;
                                while n < 2 {
                                    match self.peek().and_then(|c| c.to_digit(16)) {
                                        Some(d) => {
                                            v = v * 16 + d;
                                            self.bump();
                                            n += 1;
                                        }
                                        None => break,
                                    }
                                }
                                if n == 0 {
                                    return self.err(self.pos(), "expected hex digits after \\x");
                                }
                                s.push(char::from_u32(v).unwrap_or('?'));
                            }
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            Some('r') => s.push('\r'),
                            Some('0') => s.push('\0'),
                            Some(c) => s.push(c),
                            None => return self.err(pos, "unterminated string"),
                        },
                        Some(c) => s.push(c),
                        None => return self.err(pos, "unterminated string"),
                    }
                }
            }
            Some('[') => {
                self.bump();
                let items = self.separated(']', "to close the list", Self::expr)?;
                Ok(Expr::List(items))
            }
            Some('{') => {
                self.bump();
                let fields = self.separated('}', "to close the struct", Self::struct_field)?;
                Ok(Expr::Struct(fields))
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let w = self.word();
                self.ws()?;
                if self.peek() == Some('(') {
                    self.bump();
                    let args = self.separated(')', "to close the call", Self::expr)?;
                    return Ok(Expr::Call(w, args));
                }
                Ok(Expr::Word(w))
            }
            Some(c) => self.err(pos, format!("expected a value, found '{c}'")),
            None => self.err(pos, "expected a value, found end of script"),
        }
    }
}
