//! A recursive-descent parser for the packetdrill script language, straight over the
//! characters (the language is context-dependent: `S.` is a flag set after `<` but a word and a
//! dot elsewhere). Every error carries its line and column; no input panics.

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

/// Largest value a relative sequence number, window or time may take.
const MAX_U32: i64 = u32::MAX as i64;

impl Parser {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn err<T>(&self, pos: Pos, msg: impl Into<String>) -> PResult<T> {
        Err(ParseError {
            pos,
            msg: msg.into(),
        })
    }

    /// Where the parser is, to come back to after a look ahead.
    fn mark(&self) -> (usize, usize, usize) {
        (self.i, self.line, self.col)
    }

    fn reset(&mut self, (i, line, col): (usize, usize, usize)) {
        self.i = i;
        self.line = line;
        self.col = col;
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn looking_at(&self, s: &str) -> bool {
        s.chars()
            .enumerate()
            .all(|(k, c)| self.peek_at(k) == Some(c))
    }

    fn bump(&mut self) -> Option<char> {
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

    fn bump_n(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }

    /// Skips spaces, newlines and comments (`//`, `/* */`; `#` at the start of a line too,
    /// which some scripts use).
    fn skip_ws(&mut self) -> PResult<()> {
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
    fn ws(&mut self) -> PResult<()> {
        self.skip_ws()
    }

    fn expect(&mut self, c: char, what: &str) -> PResult<()> {
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

    fn eat(&mut self, c: char) -> PResult<bool> {
        self.ws()?;
        if self.peek() == Some(c) {
            self.bump();
            return Ok(true);
        }
        Ok(false)
    }

    /// Items separated by commas up to `close` (the opening bracket already taken): an empty
    /// list, or `item`s until one is not followed by a comma.
    fn separated<T>(
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

    fn word(&mut self) -> String {
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

    fn expect_word(&mut self, what: &str) -> PResult<String> {
        self.ws()?;
        let pos = self.pos();
        let w = self.word();
        if w.is_empty() {
            return self.err(pos, format!("expected {what}"));
        }
        Ok(w)
    }

    fn keyword(&mut self, kw: &str) -> PResult<bool> {
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
    fn integer(&mut self, what: &str) -> PResult<i64> {
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

    fn u32_field(&mut self, what: &str) -> PResult<u32> {
        let pos = self.pos();
        let v = self.integer(what)?;
        if !(0..=MAX_U32).contains(&v) {
            return self.err(pos, format!("{what} {v} is out of range 0..=4294967295"));
        }
        Ok(v as u32)
    }

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

    /// A packet line: TCP, or a protocol synack does not speak (ICMP, UDP, encapsulations),
    /// which is kept as text for the runner to report.
    fn packet_line(&mut self, direction: Direction) -> PResult<Action> {
        let start = self.mark();
        self.ws()?;
        let w = self.word();
        let feature = match w.as_str() {
            "icmp" => Some("ICMP packets"),
            "udp" | "udplite" => Some("UDP packets"),
            "ipv4" | "ipv6" | "gre" | "mpls" => Some("encapsulated packets"),
            _ => None,
        };
        let Some(feature) = feature else {
            self.reset(start);
            return Ok(Action::Packet(self.packet(direction)?));
        };
        // The rest of the line (brackets may hold the quoted TCP header of an ICMP error).
        let mut text = w;
        while let Some(c) = self.peek().filter(|c| *c != '\n') {
            if self.looking_at("//") {
                break;
            }
            text.push(c);
            self.bump();
        }
        Ok(Action::Unsupported {
            feature: feature.to_string(),
            text: text.trim().to_string(),
        })
    }

    fn port(&mut self, what: &str) -> PResult<u16> {
        let pos = self.pos();
        let p = self.integer(what)?;
        if !(1..=65535).contains(&p) {
            return self.err(pos, format!("{what} {p} is out of range 1..=65535"));
        }
        Ok(p as u16)
    }

    fn packet(&mut self, direction: Direction) -> PResult<Packet> {
        self.ws()?;
        // The IP header's ECN field (RFC 3168 §5) before the flags: `[ect0] P.`.
        let mut ip_ecn = None;
        if self.peek() == Some('[') {
            let epos = self.pos();
            self.bump();
            let w = self.word();
            if !matches!(w.as_str(), "noecn" | "ect0" | "ect1" | "ce" | "ect01") {
                return self.err(
                    epos,
                    format!("unknown ECN field '[{w}]' (noecn, ect0, ect1, ce, ect01)"),
                );
            }
            self.expect(']', "after the ECN field")?;
            self.ws()?;
            ip_ecn = Some(w);
        }
        // packetdrill's port pair, `< 40001>8080 S ...`: source and destination port, so
        // a packet can come from (or be expected on) another flow than the script's.
        let (mut remote_port, mut local_port) = (None, None);
        if self.peek().is_some_and(|c| c.is_ascii_digit()) {
            let src = self.port("source port")?;
            self.expect('>', "between the source and destination ports")?;
            let dst = self.port("destination port")?;
            self.ws()?;
            (remote_port, local_port) = match direction {
                Direction::Inbound => (Some(src), Some(dst)),
                Direction::Outbound => (Some(dst), Some(src)),
            };
        }
        let pos = self.pos();
        let mut flags = Flags::default();
        let mut any = false;
        while let Some(c) = self.peek().filter(|c| !c.is_whitespace()) {
            match c {
                // No flags at all.
                '-' if !any => {}
                'A' => flags.ae = true,
                'S' => flags.syn = true,
                '.' => flags.ack = true,
                'F' => flags.fin = true,
                'R' => flags.rst = true,
                'P' => flags.psh = true,
                'U' => flags.urg = true,
                'E' => flags.ece = true,
                'W' => flags.cwr = true,
                _ => {
                    return self.err(
                        self.pos(),
                        format!("unknown TCP flag '{c}' (flags are S . F R P U E W A, or -)"),
                    );
                }
            }
            any = true;
            self.bump();
        }
        if !any {
            return self.err(
                pos,
                "expected TCP flags after the direction (e.g. S, S., ., F., R)",
            );
        }
        let start = self.u32_field("start sequence number")?;
        self.expect(':', "between start and end sequence numbers")?;
        let end = self.u32_field("end sequence number")?;
        self.expect('(', "before the payload length")?;
        let lpos = self.pos();
        let len = self.u32_field("payload length")?;
        self.expect(')', "after the payload length")?;
        if end.wrapping_sub(start) != len {
            return self.err(
                lpos,
                format!("payload length {len} does not match {start}:{end}"),
            );
        }
        let mut ack = None;
        let mut win = None;
        let mut mutation = None;
        let mut options = Options::List(Vec::new());
        loop {
            self.ws()?;
            let fpos = self.pos();
            if self.keyword("ack")? {
                ack = Some(self.u32_field("ack number")?);
            } else if self.keyword("win")? {
                let w = self.u32_field("window")?;
                if w > 65535 {
                    return self.err(fpos, format!("window {w} does not fit in 16 bits"));
                }
                win = Some(w);
            } else if self.peek() == Some('<') {
                self.bump();
                options = self.tcp_options()?;
            } else if self.peek() == Some('{') {
                // packetdrill's fuzzing annotation, `{ mut tcp mss }`: kept as text.
                let start = self.pos();
                self.bump();
                let mut text = String::new();
                loop {
                    match self.bump() {
                        Some('}') => break,
                        Some('\n') | None => {
                            return self.err(start, "unterminated { } packet annotation");
                        }
                        Some(c) => text.push(c),
                    }
                }
                mutation = Some(text.trim().to_string());
            } else if self
                .peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '[' || c == '(')
            {
                // No event starts with a letter or bracket, so this is a packet field synack
                // does not know (IP, ECN or encapsulation annotations).
                return self.err(
                    fpos,
                    "unsupported packet field (synack scripts know ack, win and <options>)",
                );
            } else {
                break;
            }
        }
        // packetdrill takes `R. 11:11(0) win 257` (an ACK flag with a zero acknowledgment
        // field) and `R 1:1(0) ack 1461` (the field without the flag) alike.
        let _ = pos;
        Ok(Packet {
            direction,
            remote_port,
            local_port,
            ip_ecn,
            flags,
            seq: start,
            len,
            ack,
            win,
            options,
            mutation,
        })
    }

    fn tcp_options(&mut self) -> PResult<Options> {
        self.ws()?;
        if self.looking_at("...") {
            self.bump_n(3);
            self.expect('>', "after '<...'")?;
            return Ok(Options::Any);
        }
        let mut list = Vec::new();
        if self.eat('>')? {
            return Ok(Options::List(list));
        }
        loop {
            self.ws()?;
            let pos = self.pos();
            let name =
                self.expect_word("a TCP option (mss, wscale, sackOK, sack, TS, nop, eol)")?;
            let opt = match name.as_str() {
                "nop" => TcpOpt::Nop,
                "eol" => TcpOpt::Eol,
                "sackOK" => TcpOpt::SackOk,
                "mss" => {
                    let v = self.integer("MSS")?;
                    if !(0..=65535).contains(&v) {
                        return self.err(pos, format!("mss {v} does not fit in 16 bits"));
                    }
                    TcpOpt::Mss(v as u16)
                }
                "wscale" => {
                    let v = self.integer("window scale")?;
                    if !(0..=255).contains(&v) {
                        return self.err(pos, format!("wscale {v} does not fit in 8 bits"));
                    }
                    TcpOpt::WScale(v as u8)
                }
                "sack" => {
                    let mut blocks = Vec::new();
                    loop {
                        self.ws()?;
                        if !self.peek().is_some_and(|c| c.is_ascii_digit()) {
                            break;
                        }
                        let l = self.u32_field("SACK block start")?;
                        self.expect(':', "in a SACK block")?;
                        let r = self.u32_field("SACK block end")?;
                        blocks.push((l, r));
                    }
                    if blocks.len() > 4 {
                        return self.err(pos, "at most four SACK blocks fit in the options");
                    }
                    TcpOpt::Sack(blocks)
                }
                "TS" => {
                    if !self.keyword("val")? {
                        return self.err(self.pos(), "expected 'val' after TS");
                    }
                    let val = self.u32_field("TS val")?;
                    if !self.keyword("ecr")? {
                        return self.err(self.pos(), "expected 'ecr' after the TS val");
                    }
                    let ecr = self.u32_field("TS ecr")?;
                    TcpOpt::Timestamp { val, ecr }
                }
                // Fast Open (RFC 7413, and its experimental kind 254), MD5 signatures
                // (RFC 2385) and AccECN's option: packetdrill syntax synack has no
                // implementation behind; their arguments (a cookie, a key, counters) run to
                // the next ',' or '>'.
                "FO" | "FOEXP" | "md5" | "ECN" => {
                    let mut text = name.clone();
                    while let Some(c) = self.peek().filter(|c| *c != ',' && *c != '>') {
                        if c == '\n' || c == '<' {
                            return self.err(self.pos(), format!("unterminated {name} option"));
                        }
                        text.push(c);
                        self.bump();
                    }
                    TcpOpt::Unsupported(text.split_whitespace().collect::<Vec<_>>().join(" "))
                }
                other => {
                    return self.err(
                        pos,
                        format!(
                            "unsupported TCP option '{other}' (synack scripts know mss, \
                             wscale, sackOK, sack, TS, nop, eol)"
                        ),
                    );
                }
            };
            list.push(opt);
            if self.eat(',')? {
                continue;
            }
            self.expect('>', "to close the option list")?;
            return Ok(Options::List(list));
        }
    }

    fn syscall(&mut self) -> PResult<Syscall> {
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
    fn struct_field(&mut self) -> PResult<(String, Expr)> {
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

    fn expr(&mut self) -> PResult<Expr> {
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

    fn primary(&mut self) -> PResult<Expr> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let s = parse("0 `true`\n+0.1 `true`\n.25 `true`\n1.5~+2 > . 1:1(0) ack 1\n* > . 1:1(0) ack 1\n0.1...0.3 close(3) = 0\n").unwrap();
        let w: Vec<When> = s.events.iter().map(|e| e.when).collect();
        assert_eq!(
            w,
            vec![
                When::At(Time::Absolute(0)),
                When::At(Time::Relative(100_000)),
                When::At(Time::Absolute(250_000)),
                When::Window(Time::Absolute(1_500_000), Time::Relative(2_000_000)),
                When::Any,
                When::Blocking(Time::Absolute(100_000), Time::Absolute(300_000)),
            ]
        );
    }

    #[test]
    fn packets() {
        let s = parse(
            "0 < S 0:0(0) win 32792 <mss 1000,sackOK,nop,nop,nop,wscale 7>\n\
             +0 > S. 0:0(0) ack 1 <...>\n\
             +0 < P. 1:1001(1000) ack 1 win 257 <nop,nop,TS val 100 ecr 700,nop,nop,sack 1:2 3:4>\n\
             +0 > F. 1:1(0) ack 1001\n",
        )
        .unwrap();
        let Action::Packet(p) = &s.events[0].action else {
            panic!()
        };
        assert_eq!(p.direction, Direction::Inbound);
        assert!(p.flags.syn && !p.flags.ack);
        assert_eq!(p.win, Some(32792));
        assert_eq!(
            p.options,
            Options::List(vec![
                TcpOpt::Mss(1000),
                TcpOpt::SackOk,
                TcpOpt::Nop,
                TcpOpt::Nop,
                TcpOpt::Nop,
                TcpOpt::WScale(7)
            ])
        );
        let Action::Packet(p) = &s.events[1].action else {
            panic!()
        };
        assert_eq!(p.options, Options::Any);
        assert_eq!((p.ack, p.flags.to_string()), (Some(1), "S.".to_string()));
        let Action::Packet(p) = &s.events[2].action else {
            panic!()
        };
        assert_eq!((p.seq, p.len), (1, 1000));
        let Options::List(o) = &p.options else {
            panic!()
        };
        assert_eq!(o[2], TcpOpt::Timestamp { val: 100, ecr: 700 });
        assert_eq!(o[5], TcpOpt::Sack(vec![(1, 2), (3, 4)]));
        let Action::Packet(p) = &s.events[3].action else {
            panic!()
        };
        assert_eq!(p.options, Options::List(vec![]));
    }

    #[test]
    fn syscalls() {
        let s = parse(
            "0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n\
             +0 setsockopt(3, SOL_SOCKET, SO_LINGER, {onoff=1, linger=0}, 8) = 0\n\
             +0 fcntl(3, F_SETFL, O_RDWR|O_NONBLOCK) = 0\n\
             +0 connect(3, ..., ...) = -1 EINPROGRESS (Operation now in progress)\n\
             +0 poll([{fd=3, events=POLLOUT, revents=POLLOUT}], 1, 0) = 1\n",
        )
        .unwrap();
        let Action::Syscall(c) = &s.events[3].action else {
            panic!()
        };
        assert_eq!(c.name, "connect");
        assert_eq!(c.ret, Expr::Int(-1));
        assert_eq!(c.errno.as_deref(), Some("EINPROGRESS"));
        let Action::Syscall(c) = &s.events[2].action else {
            panic!()
        };
        assert_eq!(
            c.args[2],
            Expr::Or(vec![
                Expr::Word("O_RDWR".into()),
                Expr::Word("O_NONBLOCK".into())
            ])
        );
    }

    #[test]
    fn code_options_and_comments() {
        let s = parse(
            "--tolerance_usecs=10000\n// a comment\n/* block\n comment */\n\
             0 %{ assert tcpi_state == TCP_ESTABLISHED }%\n",
        )
        .unwrap();
        assert_eq!(s.options[0].0, "tolerance_usecs");
        assert_eq!(s.options[0].1, "10000");
        assert_eq!(
            s.events[0].action,
            Action::Code("assert tcpi_state == TCP_ESTABLISHED".into())
        );
        assert_eq!(s.events[0].pos, Pos { line: 5, col: 1 });
    }

    #[test]
    fn errors_have_positions() {
        let e = parse("0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n+0 < S 0:10(5) win 10\n")
            .unwrap_err();
        assert_eq!(e.pos.line, 2);
        assert!(e.msg.contains("payload length 5"), "{e}");
        let e = parse("0 < X 0:0(0)\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 5 });
        assert!(e.msg.contains("unknown TCP flag 'X'"));
        let e = parse("0 < S 0:0(0) <foo 1>\n").unwrap_err();
        assert!(e.msg.contains("unsupported TCP option 'foo'"), "{e}");
        let e = parse("0 close(3\n").unwrap_err();
        assert!(e.msg.contains("')'"), "{e}");
        let e = parse("hello\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "1:1: expected an event starting with a time, found 'h'"
        );
        let e = parse("0 %{ assert 1\n").unwrap_err();
        assert!(e.msg.contains("unterminated"));
    }

    #[test]
    fn ranges_with_blanks() {
        let s = parse("+.25 ... 0.5 close(3) = 0\n+0 ~ +.1 > . 1:1(0) ack 1\n").unwrap();
        assert_eq!(
            s.events[0].when,
            When::Blocking(Time::Relative(250_000), Time::Absolute(500_000))
        );
        assert_eq!(
            s.events[1].when,
            When::Window(Time::Relative(0), Time::Relative(100_000))
        );
    }

    #[test]
    fn ecn_field_and_flags() {
        let s = parse(
            "0 < [ce] SEW 0:0(0) win 100\n+0 > [noecn] - 5:9(4) win 7\n+0 < SA 0:0(0) win 1\n",
        )
        .unwrap();
        let Action::Packet(p) = &s.events[0].action else {
            panic!()
        };
        assert_eq!(p.ip_ecn.as_deref(), Some("ce"));
        assert!(p.flags.syn && p.flags.ece && p.flags.cwr && !p.flags.ack);
        let Action::Packet(p) = &s.events[1].action else {
            panic!()
        };
        assert_eq!((p.flags, p.len), (Flags::default(), 4));
        assert_eq!(p.flags.to_string(), "-");
        let Action::Packet(p) = &s.events[2].action else {
            panic!()
        };
        assert!(p.flags.ae && p.flags.syn);
        assert!(parse("0 < [xx] S 0:0(0)\n").is_err());
    }

    #[test]
    fn options_synack_lacks_are_kept_as_text() {
        let s = parse(
            "0 < S 0:5(5) win 9 <mss 500, FO 0123abcd,nop,nop,md5 ffff,FOEXP,ECN e0b 3 ceb 1>\n",
        )
        .unwrap();
        let Action::Packet(p) = &s.events[0].action else {
            panic!()
        };
        assert_eq!(
            p.options,
            Options::List(vec![
                TcpOpt::Mss(500),
                TcpOpt::Unsupported("FO 0123abcd".into()),
                TcpOpt::Nop,
                TcpOpt::Nop,
                TcpOpt::Unsupported("md5 ffff".into()),
                TcpOpt::Unsupported("FOEXP".into()),
                TcpOpt::Unsupported("ECN e0b 3 ceb 1".into()),
            ])
        );
        assert!(parse("0 < S 0:0(0) <FO abc\n+0 close(3) = 0\n").is_err());
    }

    #[test]
    fn other_protocols_are_read_to_the_end_of_the_line() {
        let s = parse(
            "0 < icmp unreachable port_unreachable [5:9(4)] // why\n+0 > udp (20)\n\
             +0 close(3) = 0\n",
        )
        .unwrap();
        assert_eq!(
            s.events[0].action,
            Action::Unsupported {
                feature: "ICMP packets".into(),
                text: "icmp unreachable port_unreachable [5:9(4)]".into()
            }
        );
        assert!(
            matches!(&s.events[1].action, Action::Unsupported { feature, .. } if feature == "UDP packets")
        );
        assert!(matches!(&s.events[2].action, Action::Syscall(c) if c.name == "close"));
    }

    #[test]
    fn results_with_notes() {
        let s = parse(
            "0 fcntl(3, F_GETFL) = 0x802 (flags O_RDWR|O_NONBLOCK)\n\
             +0 close(9) = -1 (Bad file descriptor)\n\
             +0 read(3, ..., 5) = -1 EAGAIN(Try again)\n",
        )
        .unwrap();
        let calls: Vec<&Syscall> = s
            .events
            .iter()
            .map(|e| match &e.action {
                Action::Syscall(c) => c,
                _ => panic!(),
            })
            .collect();
        assert_eq!((&calls[0].ret, &calls[0].errno), (&Expr::Int(0x802), &None));
        assert_eq!((&calls[1].ret, &calls[1].errno), (&Expr::Int(-1), &None));
        assert_eq!(calls[2].errno.as_deref(), Some("EAGAIN"));
    }

    #[test]
    fn struct_fields_with_arguments_and_positions() {
        let s = parse(
            "0 sendmsg(3, {msg_name(...)=..., msg_iov(2)=[{..., 10}, {..., 0}], \
             msg_control=[{cmsg_level=SOL_TCP, cmsg_data={a=1}}], msg_flags=0}, 0) = 10\n",
        )
        .unwrap();
        let Action::Syscall(c) = &s.events[0].action else {
            panic!()
        };
        let Expr::Struct(fields) = &c.args[1] else {
            panic!()
        };
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["msg_name(...)", "msg_iov(2)", "msg_control", "msg_flags"]
        );
        assert_eq!(
            fields[1].1,
            Expr::List(vec![
                Expr::Struct(vec![
                    (String::new(), Expr::Ellipsis),
                    (String::new(), Expr::Int(10))
                ]),
                Expr::Struct(vec![
                    (String::new(), Expr::Ellipsis),
                    (String::new(), Expr::Int(0))
                ]),
            ])
        );
        assert_eq!(fields[1].1.to_string(), "[{..., 10}, {..., 0}]");
    }

    #[test]
    fn string_escapes() {
        let s = parse("0 setsockopt(3, SOL_TCP, 1, \"\\x41\\x4a\\n\\\"z\", 5) = 0\n").unwrap();
        let Action::Syscall(c) = &s.events[0].action else {
            panic!()
        };
        assert_eq!(c.args[3], Expr::Str("AJ\n\"z".into()));
        assert!(parse("0 f(\"\\xg\") = 0\n").is_err());
    }

    #[test]
    fn fuzzing_annotations() {
        let s = parse("0 > S 0:0(0) <mss 1460> { mut tcp mss }\n").unwrap();
        let Action::Packet(p) = &s.events[0].action else {
            panic!()
        };
        assert_eq!(p.mutation.as_deref(), Some("mut tcp mss"));
        assert!(parse("0 > S 0:0(0) { mut\n").is_err());
    }

    #[test]
    fn ack_field_and_flag_apart() {
        let s = parse("0 < R. 7:7(0) win 3\n+0 < R 7:7(0) ack 9 win 0\n").unwrap();
        let Action::Packet(p) = &s.events[0].action else {
            panic!()
        };
        assert_eq!((p.flags.ack, p.ack), (true, None));
        let Action::Packet(p) = &s.events[1].action else {
            panic!()
        };
        assert_eq!((p.flags.ack, p.ack), (false, Some(9)));
    }
}
