//! Characters to tokens, on demand: positions for errors, blanks and comments, words,
//! keywords and numbers.

use super::{PResult, ParseError, Parser};
use crate::ast::Pos;

/// Largest value a relative sequence number, window or time may take.
const MAX_U32: i64 = u32::MAX as i64;

impl Parser {
    pub(super) fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    pub(super) fn err<T>(&self, pos: Pos, msg: impl Into<String>) -> PResult<T> {
        Err(ParseError {
            pos,
            msg: msg.into(),
        })
    }

    /// Where the parser is, to come back to after a look ahead.
    pub(super) fn mark(&self) -> (usize, usize, usize) {
        (self.i, self.line, self.col)
    }

    pub(super) fn reset(&mut self, (i, line, col): (usize, usize, usize)) {
        self.i = i;
        self.line = line;
        self.col = col;
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    pub(super) fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    pub(super) fn looking_at(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(k, c)| self.peek_at(k) == Some(c))
    }

    pub(super) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    pub(super) fn bump_n(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }

    /// Skips spaces, newlines and comments (`//`, `/* */`; `#` at the start of a line too,
    /// which some scripts use).
    pub(super) fn skip_ws(&mut self) -> PResult<()> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('/') if self.peek_at(1) == Some('/') => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                Some('#') if self.col == 1 => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                Some('/') if self.peek_at(1) == Some('*') => {
                    let start = self.pos();
                    self.bump_n(2);
                    loop {
                        if self.looking_at("*/") {
                            self.bump_n(2);
                            break;
                        }
                        if self.bump().is_none() {
                            return self.err(start, "unterminated /* comment");
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Skips spaces and tabs only (fields of one packet or call stay on one line in
    /// practice, but packetdrill allows newlines anywhere, and so do we).
    pub(super) fn ws(&mut self) -> PResult<()> {
        self.skip_ws()
    }

    pub(super) fn expect(&mut self, c: char, what: &str) -> PResult<()> {
        self.ws()?;
        let pos = self.pos();
        match self.peek() {
            Some(x) if x == c => {
                self.bump();
                Ok(())
            }
            Some(x) => self.err(pos, format!("expected '{c}' {what}, found '{x}'")),
            None => self.err(pos, format!("expected '{c}' {what}, found end of script")),
        }
    }

    pub(super) fn eat(&mut self, c: char) -> PResult<bool> {
        self.ws()?;
        if self.peek() == Some(c) {
            self.bump();
            return Ok(true);
        }
        Ok(false)
    }

    /// Items separated by commas up to `close` (the opening bracket already taken): an empty
    /// list, or `item`s until one is not followed by a comma.
    pub(super) fn separated<T>(
        &mut self,
        close: char,
        what: &str,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        let mut items = Vec::new();
        if self.eat(close)? {
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            if !self.eat(',')? {
                self.expect(close, what)?;
                return Ok(items);
            }
        }
    }

    pub(super) fn word(&mut self) -> String {
        let mut w = String::new();
        while let Some(c) = self
            .peek()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        {
            w.push(c);
            self.bump();
        }
        w
    }

    pub(super) fn expect_word(&mut self, what: &str) -> PResult<String> {
        self.ws()?;
        let pos = self.pos();
        let w = self.word();
        if w.is_empty() {
            return self.err(pos, format!("expected {what}"));
        }
        Ok(w)
    }

    pub(super) fn keyword(&mut self, kw: &str) -> PResult<bool> {
        self.ws()?;
        let n = kw.chars().count();
        if self.looking_at(kw)
            && !self
                .peek_at(n)
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.bump_n(n);
            return Ok(true);
        }
        Ok(false)
    }

    /// An integer: decimal, optionally negative, or `0x` hex.
    pub(super) fn integer(&mut self, what: &str) -> PResult<i64> {
        self.ws()?;
        let pos = self.pos();
        let neg = self.peek() == Some('-');
        if neg {
            self.bump();
        }
        let (radix, mut digits) = if self.looking_at("0x") || self.looking_at("0X") {
            self.bump_n(2);
            (16, String::new())
        } else {
            (10, String::new())
        };
        while let Some(c) = self.peek().filter(|c| c.is_digit(radix)) {
            digits.push(c);
            self.bump();
        }
        if digits.is_empty() {
            return self.err(pos, format!("expected {what} (a number)"));
        }
        let v = i64::from_str_radix(&digits, radix)
            .or_else(|_| self.err(pos, format!("{what} is too large")))?;
        Ok(if neg { -v } else { v })
    }

    pub(super) fn u32_field(&mut self, what: &str) -> PResult<u32> {
        let pos = self.pos();
        let v = self.integer(what)?;
        if !(0..=MAX_U32).contains(&v) {
            return self.err(pos, format!("{what} {v} is out of range 0..=4294967295"));
        }
        Ok(v as u32)
    }
}
