//! A recursive-descent parser for the packetdrill script language, straight over the
//! characters (the language is context-dependent: `S.` is a flag set after `<` but a word and a
//! dot elsewhere). Every error carries its line and column; no input panics.
//!
//! `lexer` holds the character-level pieces (positions, blanks and comments, words, numbers);
//! this file the script's lines and times; `packet` a packet line with its options (`ip` its IP header fields); `call` a
//! system call with its argument expressions.

mod call;
mod ip;
mod lexer;
mod packet;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::ast::*;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub pos: Pos,
    pub msg: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.pos, self.msg)
    }
}

impl std::error::Error for ParseError {}

type PResult<T> = Result<T, ParseError>;

/// Parses a whole script.
pub fn parse(src: &str) -> PResult<Script> {
    let mut p = Parser {
        chars: src.chars().collect(),
        i: 0,
        line: 1,
        col: 1,
    };
    p.script()
}

struct Parser {
    chars: Vec<char>,
    i: usize,
    line: usize,
    col: usize,
}

impl Parser {
    /// Seconds with up to six decimals (`0`, `1.5`, `.100`), in microseconds, without
    /// going through floating point.
    fn seconds(&mut self) -> PResult<i64> {
        let pos = self.pos();
        let mut int = String::new();
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            int.push(c);
            self.bump();
        }
        let mut frac = String::new();
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            while let Some(c) = self.peek().filter(char::is_ascii_digit) {
                frac.push(c);
                self.bump();
            }
        }
        if int.is_empty() && frac.is_empty() {
            return self.err(pos, "expected a time in seconds");
        }
        if frac.len() > 6 {
            return self.err(pos, "times have at most six decimals (microseconds)");
        }
        let whole: i64 = if int.is_empty() {
            0
        } else {
            int.parse()
                .ok()
                .filter(|v: &i64| *v <= 1_000_000_000)
                .map_or_else(|| self.err(pos, "time is too large"), Ok)?
        };
        let mut micros = 0i64;
        for k in 0..6 {
            let d = frac.as_bytes().get(k).map_or(0, |b| i64::from(b - b'0'));
            micros = micros * 10 + d;
        }
        Ok(whole * 1_000_000 + micros)
    }

    fn time(&mut self) -> PResult<Time> {
        self.ws()?;
        if self.peek() == Some('+') {
            self.bump();
            // `+` is a token of its own in packetdrill's grammar: `+ 0.1` is `+0.1`.
            while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
                self.bump();
            }
            return Ok(Time::Relative(self.seconds()?));
        }
        if self.peek() == Some('-') {
            let pos = self.pos();
            return self.err(pos, "negative times are not allowed");
        }
        Ok(Time::Absolute(self.seconds()?))
    }

    fn when(&mut self) -> PResult<When> {
        self.ws()?;
        if self.peek() == Some('*') {
            self.bump();
            return Ok(When::Any);
        }
        let t = self.time()?;
        // packetdrill's lexer drops blanks between tokens, so `+.002 ... 0.004` and
        // `+0 ~ +.1` are the same ranges as `+.002...0.004` and `+0~+.1`.
        let before = self.mark();
        while self.peek().is_some_and(|c| c == ' ' || c == '\t') {
            self.bump();
        }
        if self.peek() == Some('~') {
            self.bump();
            let end = self.time()?;
            return Ok(When::Window(t, end));
        }
        if self.looking_at("...") {
            self.bump_n(3);
            let end = self.time()?;
            return Ok(When::Blocking(t, end));
        }
        self.reset(before);
        Ok(When::At(t))
    }

    fn script(&mut self) -> PResult<Script> {
        let mut options = Vec::new();
        let mut events = Vec::new();
        loop {
            self.skip_ws()?;
            let pos = self.pos();
            match self.peek() {
                None => break,
                Some('-') if self.peek_at(1) == Some('-') => {
                    self.bump_n(2);
                    let name = self.word();
                    if name.is_empty() {
                        return self.err(pos, "expected an option name after '--'");
                    }
                    let mut value = String::new();
                    if self.peek() == Some('=') {
                        self.bump();
                        while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
                            value.push(c);
                            self.bump();
                        }
                    }
                    options.push((name, value, pos));
                }
                Some('`') => {
                    // packetdrill requires a time on every event; a bare command at the top
                    // (common in hand-written scripts) runs at time 0.
                    let text = self.backquoted()?;
                    events.push(Event {
                        pos,
                        when: When::At(Time::Absolute(0)),
                        action: Action::Shell(text),
                    });
                }
                Some(c) if c.is_ascii_digit() || matches!(c, '+' | '*' | '.') => {
                    let when = self.when()?;
                    let action = self.action()?;
                    events.push(Event { pos, when, action });
                }
                Some(c) => {
                    return self.err(
                        pos,
                        format!("expected an event starting with a time, found '{c}'"),
                    );
                }
            }
        }
        Ok(Script { options, events })
    }

    fn backquoted(&mut self) -> PResult<String> {
        let start = self.pos();
        self.bump();
        let mut text = String::new();
        loop {
            match self.bump() {
                Some('`') => return Ok(text),
                Some('\\') => {
                    if let Some(c) = self.bump() {
                        text.push(c);
                    }
                }
                Some(c) => text.push(c),
                None => return self.err(start, "unterminated backquoted command"),
            }
        }
    }

    fn action(&mut self) -> PResult<Action> {
        self.ws()?;
        let pos = self.pos();
        match self.peek() {
            Some('<') => {
                self.bump();
                self.packet_line(Direction::Inbound)
            }
            Some('>') => {
                self.bump();
                self.packet_line(Direction::Outbound)
            }
            Some('`') => Ok(Action::Shell(self.backquoted()?)),
            Some('%') if self.peek_at(1) == Some('{') => {
                self.bump_n(2);
                let mut text = String::new();
                loop {
                    if self.looking_at("}%") {
                        self.bump_n(2);
                        return Ok(Action::Code(text.trim().to_string()));
                    }
                    match self.bump() {
                        Some(c) => text.push(c),
                        None => return self.err(pos, "unterminated %{ code block"),
                    }
                }
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => Ok(Action::Syscall(self.syscall()?)),
            Some(c) => self.err(
                pos,
                format!(
                    "expected a packet ('<' or '>'), a system call, %{{ code }}% or a \
                     `command` after the time, found '{c}'"
                ),
            ),
            None => self.err(pos, "expected an event after the time, found end of script"),
        }
    }
}
