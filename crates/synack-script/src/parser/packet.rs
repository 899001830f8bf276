//! A packet line: direction, flags, sequence range, ack, window, urgent pointer and the TCP
//! option list; or a
//! protocol synack does not speak, kept as text.

use super::{PResult, Parser};
use crate::ast::*;

impl Parser {
    /// A packet line: TCP, or a protocol synack does not speak (ICMP, UDP, encapsulations),
    /// which is kept as text for the runner to report.
    pub(super) fn packet_line(&mut self, direction: Direction) -> PResult<Action> {
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

    pub(super) fn packet(&mut self, direction: Direction) -> PResult<Packet> {
        self.ws()?;
        let ip = self.ip_info()?;
        self.ws()?;
        // packetdrill's port pair after the IP fields, `< 40001>8080 S ...`: source and
        // destination port, so a packet can come from (or be expected on) another flow than
        // the script's.
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
        let mut urg = None;
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
            } else if self.keyword("urg")? {
                let u = self.u32_field("urgent pointer")?;
                let Ok(u) = u16::try_from(u) else {
                    return self.err(fpos, format!("urgent pointer {u} does not fit in 16 bits"));
                };
                urg = Some(u);
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
                    "unsupported packet field (synack scripts know ack, win, urg and <options>)",
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
            ip,
            flags,
            seq: start,
            len,
            ack,
            win,
            urg,
            options,
            mutation,
        })
    }

    pub(super) fn tcp_options(&mut self) -> PResult<Options> {
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
}
