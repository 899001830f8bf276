//! `%{ … }%` blocks: packetdrill runs them as Python over `tcpi_*` values. We evaluate the
//! useful subset ourselves: `assert` statements over integer expressions with comparisons,
//! arithmetic, `and`/`or`/`not` and parentheses. Anything else is reported as unsupported,
//! never skipped silently.

use std::time::Duration;

use synack_proto::{CongestionPhase, Info, StateName};

use crate::socket::consts::*;

/// Linux's `tcpi_state` value for a state.
pub fn tcpi_state(s: StateName) -> i64 {
    match s {
        StateName::Established => TCP_ESTABLISHED,
        StateName::SynSent => TCP_SYN_SENT,
        StateName::SynReceived => TCP_SYN_RECV,
        StateName::FinWait1 => TCP_FIN_WAIT1,
        StateName::FinWait2 => TCP_FIN_WAIT2,
        StateName::TimeWait => TCP_TIME_WAIT,
        StateName::Closed => TCP_CLOSE,
        StateName::CloseWait => TCP_CLOSE_WAIT,
        StateName::LastAck => TCP_LAST_ACK,
        StateName::Listen => TCP_LISTEN,
        StateName::Closing => TCP_CLOSING,
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// What a script can ask about a connection: `(name, value)`.
pub fn tcpi_fields(info: Option<&Info>, state: StateName) -> Vec<(&'static str, i64)> {
    let mut v = vec![("tcpi_state", tcpi_state(state))];
    if let Some(i) = info {
        let mss = i64::from(i.snd_mss.max(1));
        v.extend([
            ("tcpi_snd_mss", i64::from(i.snd_mss)),
            ("tcpi_rto", micros(i.rto)),
            ("tcpi_rtt", i.srtt.map_or(0, micros)),
            ("tcpi_rttvar", micros(i.rttvar)),
            // Linux counts the window in segments.
            ("tcpi_snd_cwnd", i64::from(i.cc.cwnd) / mss),
            (
                "tcpi_snd_ssthresh",
                if i.cc.ssthresh == u32::MAX {
                    0x7fff_ffff
                } else {
                    i64::from(i.cc.ssthresh) / mss
                },
            ),
            ("tcpi_snd_wscale", i64::from(i.snd_wscale)),
            ("tcpi_rcv_wscale", i64::from(i.rcv_wscale)),
            ("tcpi_retransmits", i64::from(i.backoff)),
            ("tcpi_backoff", i64::from(i.backoff)),
            ("tcpi_total_retrans", i.segs_retransmitted as i64),
            ("tcpi_bytes_acked", i.bytes_acked as i64),
            ("tcpi_bytes_received", i.bytes_received as i64),
            ("tcpi_snd_wnd", i64::from(i.snd_wnd)),
            ("tcpi_rcv_wnd", i64::from(i.rcv_wnd)),
            ("tcpi_options", tcpi_options(i)),
            // Linux counts these in segments too.
            ("tcpi_unacked", segments(i.unacked, mss)),
            ("tcpi_sacked", segments(i.cc.sacked, mss)),
            ("tcpi_lost", segments(i.cc.lost, mss)),
            ("tcpi_ca_state", tcpi_ca_state(i)),
            // Loss recovery's counters under the names the kernels give them. FreeBSD's
            // tail loss probes sent (RFC 8985 §7) and retransmitted segments; Linux's
            // D-SACKs received (RFC 2883), which Linux counts in the segments they cover and
            // synack in blocks: the same for the usual D-SACK of one segment.
            ("tcpi_total_tlp", i.cc.tail_loss_probes as i64),
            ("tcpi_snd_rexmitpack", i.segs_retransmitted as i64),
            ("tcpi_dsack_dups", i.cc.dsacks_received as i64),
            // Linux's count of reordering seen, by RACK's test for it (RFC 8985 §6.2).
            ("tcpi_reord_seen", i.cc.reorderings as i64),
        ]);
    }
    v
}

/// Segments of at most `mss` bytes that `bytes` of sequence space fill.
fn segments(bytes: u32, mss: i64) -> i64 {
    i64::from(bytes).div_euclid(mss) + i64::from(i64::from(bytes) % mss != 0)
}

/// Linux's `tcpi_ca_state` (`enum tcp_ca_state`): Open, Disorder (SACKed data, no recovery
/// yet), Recovery (fast recovery, RFC 5681 §3.2 / RFC 6675), Loss (after a timeout). synack
/// has no CWR state (no ECN).
fn tcpi_ca_state(i: &Info) -> i64 {
    match i.cc.phase {
        CongestionPhase::Recovery => TCP_CA_RECOVERY,
        CongestionPhase::Loss => TCP_CA_LOSS,
        _ if i.cc.sacked > 0 => TCP_CA_DISORDER,
        _ => TCP_CA_OPEN,
    }
}

const TCP_CA_OPEN: i64 = 0;
const TCP_CA_DISORDER: i64 = 1;
const TCP_CA_CWR: i64 = 2;
const TCP_CA_RECOVERY: i64 = 3;
const TCP_CA_LOSS: i64 = 4;

/// Linux's `tcpi_options` bits (include/uapi/linux/tcp.h).
const TCPI_OPT_TIMESTAMPS: i64 = 1;
const TCPI_OPT_SACK: i64 = 2;
const TCPI_OPT_WSCALE: i64 = 4;
const TCPI_OPT_ECN: i64 = 8;
const TCPI_OPT_ECN_SEEN: i64 = 16;
const TCPI_OPT_SYN_DATA: i64 = 32;

/// The options the handshake settled (RFC 7323 §2.2, §3.2; RFC 2018 §2). Window scaling
/// counts as on when either shift is not zero: a connection that agreed on shift 0 both
/// ways reads as one without it, which no script can tell apart on the wire either.
fn tcpi_options(i: &Info) -> i64 {
    let mut v = 0;
    if i.timestamps {
        v |= TCPI_OPT_TIMESTAMPS;
    }
    if i.sack {
        v |= TCPI_OPT_SACK;
    }
    if i.snd_wscale > 0 || i.rcv_wscale > 0 {
        v |= TCPI_OPT_WSCALE;
    }
    v
}

pub(crate) fn constant(name: &str) -> Option<i64> {
    Some(match name {
        "TCPI_OPT_TIMESTAMPS" => TCPI_OPT_TIMESTAMPS,
        "TCPI_OPT_SACK" => TCPI_OPT_SACK,
        "TCPI_OPT_WSCALE" => TCPI_OPT_WSCALE,
        "TCPI_OPT_ECN" => TCPI_OPT_ECN,
        "TCPI_OPT_ECN_SEEN" => TCPI_OPT_ECN_SEEN,
        "TCPI_OPT_SYN_DATA" => TCPI_OPT_SYN_DATA,
        "TCP_ESTABLISHED" => TCP_ESTABLISHED,
        "TCP_SYN_SENT" => TCP_SYN_SENT,
        "TCP_SYN_RECV" => TCP_SYN_RECV,
        "TCP_FIN_WAIT1" => TCP_FIN_WAIT1,
        "TCP_FIN_WAIT2" => TCP_FIN_WAIT2,
        "TCP_TIME_WAIT" => TCP_TIME_WAIT,
        "TCP_CLOSE" => TCP_CLOSE,
        "TCP_CLOSE_WAIT" => TCP_CLOSE_WAIT,
        "TCP_LAST_ACK" => TCP_LAST_ACK,
        "TCP_LISTEN" => TCP_LISTEN,
        "TCP_CLOSING" => TCP_CLOSING,
        "TCP_CA_Open" => TCP_CA_OPEN,
        "TCP_CA_Disorder" => TCP_CA_DISORDER,
        "TCP_CA_CWR" => TCP_CA_CWR,
        "TCP_CA_Recovery" => TCP_CA_RECOVERY,
        "TCP_CA_Loss" => TCP_CA_LOSS,
        "True" => 1,
        "False" => 0,
        _ => return None,
    })
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Num(i64),
    Ident(String),
    Op(&'static str),
    Str,
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '0' && matches!(cs.get(i + 1), Some('x' | 'X')) {
            i += 2;
            let mut n: i64 = 0;
            while let Some(d) = cs.get(i).and_then(|c| c.to_digit(16)) {
                n = n
                    .checked_mul(16)
                    .and_then(|n| n.checked_add(i64::from(d)))
                    .ok_or("number too large")?;
                i += 1;
            }
            out.push(Tok::Num(n));
        } else if c.is_ascii_digit() {
            let mut n: i64 = 0;
            while i < cs.len() && cs[i].is_ascii_digit() {
                n = n
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(i64::from(cs[i] as u8 - b'0')))
                    .ok_or("number too large")?;
                i += 1;
            }
            out.push(Tok::Num(n));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut w = String::new();
            while i < cs.len() && (cs[i].is_ascii_alphanumeric() || cs[i] == '_' || cs[i] == '.') {
                w.push(cs[i]);
                i += 1;
            }
            out.push(Tok::Ident(w));
        } else if c == '"' || c == '\'' {
            i += 1;
            while i < cs.len() && cs[i] != c {
                i += 1;
            }
            if i == cs.len() {
                return Err("unterminated string".into());
            }
            i += 1;
            out.push(Tok::Str);
        } else {
            let two: String = cs[i..cs.len().min(i + 2)].iter().collect();
            let op = ["==", "!=", "<=", ">="]
                .into_iter()
                .find(|o| *o == two)
                .map(|o| (o, 2))
                .or_else(|| {
                    ["<", ">", "+", "-", "*", "/", "%", "(", ")", ",", "&", "|"]
                        .into_iter()
                        .find(|o| o.starts_with(c))
                        .map(|o| (o, 1))
                });
            let Some((op, n)) = op else {
                return Err(format!("unexpected character '{c}'"));
            };
            out.push(Tok::Op(op));
            i += n;
        }
    }
    Ok(out)
}

struct Eval<'a> {
    toks: Vec<Tok>,
    i: usize,
    vars: &'a [(&'static str, i64)],
}

impl Eval<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }
    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Tok::Op(o)) if *o == op)
    }
    fn is_ident(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(x)) if x == w)
    }

    fn or(&mut self) -> Result<i64, String> {
        let mut v = self.and()?;
        while self.is_ident("or") {
            self.i += 1;
            let r = self.and()?;
            v = i64::from(v != 0 || r != 0);
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<i64, String> {
        let mut v = self.not()?;
        while self.is_ident("and") {
            self.i += 1;
            let r = self.not()?;
            v = i64::from(v != 0 && r != 0);
        }
        Ok(v)
    }
    fn not(&mut self) -> Result<i64, String> {
        if self.is_ident("not") {
            self.i += 1;
            return Ok(i64::from(self.not()? == 0));
        }
        self.cmp()
    }
    /// Python chains comparisons: `a < b < c` is `a < b and b < c`.
    fn cmp(&mut self) -> Result<i64, String> {
        let mut left = self.bit_or()?;
        let mut compared = false;
        let mut result = true;
        loop {
            let op = match self.peek() {
                Some(Tok::Op(o)) if ["==", "!=", "<", "<=", ">", ">="].contains(o) => *o,
                _ => break,
            };
            self.i += 1;
            let right = self.bit_or()?;
            compared = true;
            result &= match op {
                "==" => left == right,
                "!=" => left != right,
                "<" => left < right,
                "<=" => left <= right,
                ">" => left > right,
                _ => left >= right,
            };
            left = right;
        }
        Ok(if compared { i64::from(result) } else { left })
    }
    /// Python's `|` and `&` bind tighter than comparisons and looser than `+`.
    fn bit_or(&mut self) -> Result<i64, String> {
        let mut v = self.bit_and()?;
        while self.is_op("|") {
            self.i += 1;
            v |= self.bit_and()?;
        }
        Ok(v)
    }
    fn bit_and(&mut self) -> Result<i64, String> {
        let mut v = self.sum()?;
        while self.is_op("&") {
            self.i += 1;
            v &= self.sum()?;
        }
        Ok(v)
    }
    fn sum(&mut self) -> Result<i64, String> {
        let mut v = self.product()?;
        loop {
            if self.is_op("+") {
                self.i += 1;
                v = v.checked_add(self.product()?).ok_or("overflow")?;
            } else if self.is_op("-") {
                self.i += 1;
                v = v.checked_sub(self.product()?).ok_or("overflow")?;
            } else {
                return Ok(v);
            }
        }
    }
    fn product(&mut self) -> Result<i64, String> {
        let mut v = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Op(o)) if ["*", "/", "%"].contains(o) => *o,
                _ => return Ok(v),
            };
            self.i += 1;
            let r = self.unary()?;
            v = match op {
                "*" => v.checked_mul(r).ok_or("overflow")?,
                _ if r == 0 => return Err("division by zero".into()),
                "/" => v.checked_div_euclid(r).ok_or("overflow")?,
                _ => v.checked_rem_euclid(r).ok_or("overflow")?,
            };
        }
    }
    fn unary(&mut self) -> Result<i64, String> {
        if self.is_op("-") {
            self.i += 1;
            return self.unary()?.checked_neg().ok_or_else(|| "overflow".into());
        }
        self.atom()
    }
    fn atom(&mut self) -> Result<i64, String> {
        match self.toks.get(self.i).cloned() {
            Some(Tok::Num(n)) => {
                self.i += 1;
                Ok(n)
            }
            Some(Tok::Op("(")) => {
                self.i += 1;
                let v = self.or()?;
                if !self.is_op(")") {
                    return Err("expected ')'".into());
                }
                self.i += 1;
                Ok(v)
            }
            Some(Tok::Ident(w)) => {
                self.i += 1;
                if let Some((_, v)) = self.vars.iter().find(|(n, _)| *n == w) {
                    return Ok(*v);
                }
                if let Some(v) = constant(&w) {
                    return Ok(v);
                }
                if w.starts_with("tcpi_") {
                    return Err(format!("{w} {NOT_KEPT}"));
                }
                Err(format!("{UNKNOWN_NAME} '{w}'"))
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("expression ends early".into()),
        }
    }
}

/// How the error for a `tcp_info` field synack does not keep ends.
const NOT_KEPT: &str = "is not answered by synack's connection info";
/// How the error for a name that is no field and no known constant starts.
const UNKNOWN_NAME: &str = "unknown name";

/// Why a code block did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeError {
    /// An assertion is false, or the block is not valid.
    Failed(String),
    /// The block needs what synack does not have: Python beyond `assert`, or a field or
    /// constant of Linux's `tcp_info` synack does not keep.
    Unsupported(String),
}

/// The text of `assert cond, message` up to the top-level comma: the message (any Python
/// expression, often `tcpi_x` or `'%d' % tcpi_x`) is for the reader.
fn condition(expr: &str) -> &str {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for (i, c) in expr.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => return &expr[..i],
            _ => {}
        }
    }
    expr
}

/// Runs a code block against `vars`. `Ok(())` when every assert holds.
pub fn run(code: &str, vars: &[(&'static str, i64)]) -> Result<(), CodeError> {
    // A backslash at the end of a line continues it, as in Python.
    let code = code.replace("\\\r\n", " ").replace("\\\n", " ");
    for stmt in code.split(['\n', ';']) {
        let stmt = stmt.trim();
        if stmt.is_empty() || stmt.starts_with('#') || stmt == "\\" {
            continue;
        }
        let Some(expr) = stmt.strip_prefix("assert") else {
            return Err(CodeError::Unsupported(format!(
                "Python statement '{stmt}' (synack evaluates assert statements only)"
            )));
        };
        if !expr.starts_with(char::is_whitespace) && !expr.starts_with('(') {
            return Err(CodeError::Unsupported(format!(
                "Python statement '{stmt}' (synack evaluates assert statements only)"
            )));
        }
        let expr = condition(expr);
        let mut e = Eval {
            toks: lex(expr).map_err(|m| CodeError::Failed(format!("in '{stmt}': {m}")))?,
            i: 0,
            vars,
        };
        let v = e.or().map_err(|m| {
            if m.contains(NOT_KEPT) || m.starts_with(UNKNOWN_NAME) {
                CodeError::Unsupported(format!("{m} (in '{stmt}')"))
            } else {
                CodeError::Failed(format!("in '{stmt}': {m}"))
            }
        })?;
        if e.i != e.toks.len() {
            return Err(CodeError::Failed(format!(
                "in '{stmt}': unexpected text after the expression"
            )));
        }
        if v == 0 {
            let shown: Vec<String> = vars
                .iter()
                .filter(|(n, _)| expr.contains(n))
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            return Err(CodeError::Failed(format!(
                "assertion failed: {stmt} ({})",
                shown.join(", ")
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asserts() {
        let vars = [("tcpi_state", 1), ("tcpi_rto", 200_000)];
        assert!(run("assert tcpi_state == TCP_ESTABLISHED", &vars).is_ok());
        assert!(run("assert tcpi_rto >= 200000 and tcpi_rto < 300000", &vars).is_ok());
        assert!(run("assert 100000 < tcpi_rto < 300000, 'rto'", &vars).is_ok());
        assert!(run("assert tcpi_rto & 0xffff == 200000 & 0xffff", &vars).is_ok());
        assert!(run("assert tcpi_state | 2 == 3 and 6 & 3 == 2", &vars).is_ok());
        assert!(run("assert tcpi_state & TCPI_OPT_SACK", &vars).is_err());
        assert!(
            run(
                "assert (tcpi_rto / 1000) == 200\nassert not tcpi_state == 2",
                &vars
            )
            .is_ok()
        );
        let Err(CodeError::Failed(e)) = run("assert tcpi_state == TCP_CLOSE", &vars) else {
            panic!("a false assertion fails")
        };
        assert!(e.contains("tcpi_state=1"), "{e}");
        assert!(run("assert 3 < tcpi_rto < 4", &vars).is_err());
        assert!(matches!(
            run("print(tcpi_state)", &vars),
            Err(CodeError::Unsupported(m)) if m.contains("assert statements only")
        ));
        assert!(matches!(
            run("assert tcpi_reordering == 3", &vars),
            Err(CodeError::Unsupported(m)) if m.contains("tcpi_reordering")
        ));
        assert!(run("assert 1 / 0", &vars).is_err());
        assert!(run("assert (1", &vars).is_err());
    }

    /// packetdrill's own scripts write `assert cond, expr` with any expression after the
    /// comma, continue lines with a backslash and put several asserts on one line.
    #[test]
    fn packetdrill_style_blocks() {
        let vars = [("tcpi_state", 1), ("tcpi_rto", 200_000)];
        assert_eq!(run("assert tcpi_rto == 200000, tcpi_rto", &vars), Ok(()));
        assert_eq!(
            run("assert tcpi_rto < 300000, 'rto=%d, (us)' % tcpi_rto", &vars),
            Ok(())
        );
        assert_eq!(
            run(
                "assert tcpi_state == 1, tcpi_state;\\\n   assert tcpi_rto > 0, tcpi_rto;\\\n",
                &vars
            ),
            Ok(())
        );
        assert!(matches!(
            run("assert tcpi_rto == 1, tcpi_rto; \\\n assert tcpi_state == 1", &vars),
            Err(CodeError::Failed(m)) if m.contains("tcpi_rto=200000")
        ));
        // A constant of Linux's that synack has no value for is a missing feature.
        assert!(matches!(
            run("assert tcpi_state == TCP_NEW_SYN_RECV", &vars),
            Err(CodeError::Unsupported(_))
        ));
    }
}
