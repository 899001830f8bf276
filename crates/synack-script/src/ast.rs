//! A parsed packetdrill script: timed events, each a packet, a socket call, a code block or
//! a shell command.

use std::fmt;

/// Where something is in the script (1-based line and column).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A point on the script's clock, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Time {
    /// From the start of the script.
    Absolute(i64),
    /// From the previous event (`+0.1`).
    Relative(i64),
}

/// When an event happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    At(Time),
    /// `*`: any time (outbound packets only).
    Any,
    /// `t1~t2`: an outbound packet anywhere in the window.
    Window(Time, Time),
    /// `t1...t2`: a blocking call that starts at `t1` and returns at `t2`.
    Blocking(Time, Time),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Script {
    /// `--name=value` lines (e.g. `--tolerance_usecs=10000`).
    pub options: Vec<(String, String, Pos)>,
    pub events: Vec<Event>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub pos: Pos,
    pub when: When,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Packet(Packet),
    Syscall(Syscall),
    /// The text between `%{` and `}%`.
    Code(String),
    /// The text between backquotes.
    Shell(String),
    /// A line in valid packetdrill syntax for something synack has no counterpart for (ICMP
    /// or UDP packets): parsed so the script is read to the end, reported as unsupported when
    /// the runner reaches it.
    Unsupported {
        feature: String,
        text: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `<`: injected into the stack under test.
    Inbound,
    /// `>`: expected from the stack under test.
    Outbound,
}

/// TCP flags as the script spells them: `S`, `.` (ACK), `F`, `R`, `P`, `U`, `E`, `W`, `A`
/// (AccECN's AE bit), or `-` for none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Flags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
    pub psh: bool,
    pub urg: bool,
    pub ece: bool,
    pub cwr: bool,
    /// AE, the reserved bit AccECN uses (RFC 9768); not part of [`Flags::bits`].
    pub ae: bool,
}

impl Flags {
    pub fn bits(self) -> u8 {
        u8::from(self.fin)
            | u8::from(self.syn) << 1
            | u8::from(self.rst) << 2
            | u8::from(self.psh) << 3
            | u8::from(self.ack) << 4
            | u8::from(self.urg) << 5
            | u8::from(self.ece) << 6
            | u8::from(self.cwr) << 7
    }

    pub fn from_bits(b: u8) -> Flags {
        Flags {
            fin: b & 1 != 0,
            syn: b & 2 != 0,
            rst: b & 4 != 0,
            psh: b & 8 != 0,
            ack: b & 16 != 0,
            urg: b & 32 != 0,
            ece: b & 64 != 0,
            cwr: b & 128 != 0,
            ae: false,
        }
    }
}

impl fmt::Display for Flags {
    /// In packetdrill's order: `S`, `F`, `R`, `P`, `U`, `E`, `W`, `A`, then `.` for ACK; `-`
    /// for none.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (on, c) in [
            (self.syn, 'S'),
            (self.fin, 'F'),
            (self.rst, 'R'),
            (self.psh, 'P'),
            (self.urg, 'U'),
            (self.ece, 'E'),
            (self.cwr, 'W'),
            (self.ae, 'A'),
            (self.ack, '.'),
        ] {
            if on {
                write!(f, "{c}")?;
            }
        }
        if *self == Flags::default() {
            write!(f, "-")?;
        }
        Ok(())
    }
}

/// One TCP option in a packet's `<...>` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpOpt {
    Nop,
    Eol,
    Mss(u16),
    WScale(u8),
    SackOk,
    /// SACK blocks as `left:right` pairs (relative sequence numbers).
    Sack(Vec<(u32, u32)>),
    Timestamp {
        val: u32,
        ecr: u32,
    },
    /// An option the script names that synack cannot build or check (kind, as the script
    /// named it).
    Other(u8, Vec<u8>),
    /// An option packetdrill knows and synack does not implement (`FO`, `FOEXP`, `md5`,
    /// AccECN's `ECN`), as written; the runner reports the packet as unsupported.
    Unsupported(String),
}

impl fmt::Display for TcpOpt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpOpt::Nop => write!(f, "nop"),
            TcpOpt::Eol => write!(f, "eol"),
            TcpOpt::Mss(m) => write!(f, "mss {m}"),
            TcpOpt::WScale(w) => write!(f, "wscale {w}"),
            TcpOpt::SackOk => write!(f, "sackOK"),
            TcpOpt::Sack(blocks) => {
                write!(f, "sack")?;
                for (l, r) in blocks {
                    write!(f, " {l}:{r}")?;
                }
                Ok(())
            }
            TcpOpt::Timestamp { val, ecr } => write!(f, "TS val {val} ecr {ecr}"),
            TcpOpt::Other(kind, data) => write!(f, "opt{kind}[{}]", data.len()),
            TcpOpt::Unsupported(text) => write!(f, "{text}"),
        }
    }
}

/// A packet's option list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Options {
    /// `<...>`: any options (outbound: not checked).
    Any,
    List(Vec<TcpOpt>),
}

/// The IP header fields a packet line names, each `None` when not given: set on an inbound
/// packet, checked on an outbound one.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IpInfo {
    /// The ECN field (RFC 3168 §5) as written: `noecn`, `ect0`, `ect1`, `ce`, or `ect01`
    /// (either ECT codepoint, outbound only).
    pub ecn: Option<String>,
    /// IPv4's type of service or IPv6's traffic class, ECN bits included (`tos 0x..`,
    /// `class 0x..`).
    pub tos: Option<u8>,
    /// IPv4's TTL or IPv6's hop limit (`ttl N`, `hlim N`).
    pub ttl: Option<u8>,
    /// IPv6's flow label (`flowlabel 0x..`, 20 bits).
    pub flow_label: Option<u32>,
}

impl IpInfo {
    /// The two ECN bits the `ecn` field names (`None` for `ect01` and when absent).
    pub fn ecn_bits(&self) -> Option<u8> {
        Some(match self.ecn.as_deref()? {
            "noecn" => 0,
            "ect1" => 1,
            "ect0" => 2,
            "ce" => 3,
            _ => return None,
        })
    }
}

impl fmt::Display for IpInfo {
    /// As packetdrill writes it, in parentheses; nothing when no field is given.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(e) = &self.ecn {
            parts.push(format!("ecn {e}"));
        }
        if let Some(t) = self.tos {
            parts.push(format!("tos {t:#04x}"));
        }
        if let Some(t) = self.ttl {
            parts.push(format!("ttl {t}"));
        }
        if let Some(l) = self.flow_label {
            parts.push(format!("flowlabel {l:#x}"));
        }
        if parts.is_empty() {
            return Ok(());
        }
        write!(f, "({})", parts.join(", "))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Packet {
    pub direction: Direction,
    /// packetdrill's `< 40001>8080 S ...`: the peer's port (the source of an inbound
    /// packet, the destination of an outbound one), so a packet can belong to another flow
    /// than the script's own.
    pub remote_port: Option<u16>,
    /// The port on synack's side of such a port pair.
    pub local_port: Option<u16>,
    /// IP header fields written before the flags: `[ect0]`, `(tos 0x10)`, `(ttl 3)`...
    pub ip: IpInfo,
    pub flags: Flags,
    pub seq: u32,
    /// Payload length (`start:end(len)`; `end - start == len` is checked at parse time).
    pub len: u32,
    pub ack: Option<u32>,
    pub win: Option<u32>,
    /// `urg N`: the urgent pointer field. packetdrill compares the field on every outbound
    /// packet, so without it the field must be 0 there; an inbound packet carries 0.
    pub urg: Option<u16>,
    /// `None`: no `<...>` at all, i.e. a packet without options.
    pub options: Options,
    /// packetdrill's fuzzing annotation after the packet (`{ mut tcp mss }`), as written.
    pub mutation: Option<String>,
}

/// An argument or result of a socket call.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// `...`: the runner fills in a sensible value (buffers, addresses).
    Ellipsis,
    Int(i64),
    /// A symbol such as `SOCK_STREAM` or `O_NONBLOCK`.
    Word(String),
    Str(String),
    /// `A|B|C`.
    Or(Vec<Expr>),
    /// `[1]`, `[{fd=3, events=POLLIN}]`.
    List(Vec<Expr>),
    /// `{onoff=1, linger=0}`. A field written with an argument (`msg_iov(1)=[...]`) keeps
    /// it in its name (`"msg_iov(1)"`); a positional one (`{..., 1000}`, an iovec) has an
    /// empty name.
    Struct(Vec<(String, Expr)>),
    /// `htons(8080)`, `inet_addr("192.0.2.1")`.
    Call(String, Vec<Expr>),
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn list(f: &mut fmt::Formatter<'_>, xs: &[Expr]) -> fmt::Result {
            for (i, x) in xs.iter().enumerate() {
                if i > 0 {
                    write!(f, ", ")?;
                }
                write!(f, "{x}")?;
            }
            Ok(())
        }
        match self {
            Expr::Ellipsis => write!(f, "..."),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Word(w) => write!(f, "{w}"),
            Expr::Str(s) => write!(f, "{s:?}"),
            Expr::Or(xs) => {
                for (i, x) in xs.iter().enumerate() {
                    if i > 0 {
                        write!(f, "|")?;
                    }
                    write!(f, "{x}")?;
                }
                Ok(())
            }
            Expr::List(xs) => {
                write!(f, "[")?;
                list(f, xs)?;
                write!(f, "]")
            }
            Expr::Struct(fields) => {
                write!(f, "{{")?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    if k.is_empty() {
                        write!(f, "{v}")?;
                    } else {
                        write!(f, "{k}={v}")?;
                    }
                }
                write!(f, "}}")
            }
            Expr::Call(name, args) => {
                write!(f, "{name}(")?;
                list(f, args)?;
                write!(f, ")")
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Syscall {
    pub name: String,
    pub args: Vec<Expr>,
    /// The expected return value (`-1` with an errno, or `...` for any).
    pub ret: Expr,
    pub errno: Option<String>,
}
