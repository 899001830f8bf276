//! Runs a parsed script against a synack [`Stack`] on virtual time.
//!
//! The model is packetdrill's: the script plays the remote peer (192.0.2.1) and the
//! application; synack is the local stack (192.168.0.1). Inbound packets are injected at their
//! script time; outbound packets must leave synack within the tolerance of theirs; socket calls
//! run at their time and their results are checked. Time is virtual: the clock jumps from
//! event to event and from timer to timer, so a 60-second TIME-WAIT costs nothing.
//!
//! Sequence numbers are relative as packetdrill writes them: inbound ones to the script's own
//! remote ISN (we add a fixed live offset), outbound ones to synack's ISN, learned from its SYN
//! or SYN-ACK. Timestamps: inbound `val` goes out as written; inbound `ecr` is mapped to the
//! synack TSval it echoes (by the script value seen on an outbound packet, else by the offset
//! of the first one); outbound `ecr` is checked exactly and outbound `val` is not checked.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use synack_proto::Instant;
use synack_proto::host::HostConfig;

use crate::assert;
use crate::ast::*;
use crate::errno::Errno;
use crate::packet::{self, Segment};
use crate::shell::{self, Applied};
use crate::socket::{OptValue, SockError, Stack, consts::*};
use crate::symbols::{eval_int, opt_value, show_opt, show_poll};

/// How a script is run.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// How far an outbound packet may be from its script time (packetdrill's
    /// `--tolerance_usecs`, default 4000).
    pub tolerance_usecs: u64,
    pub local_ip: Ipv4Addr,
    pub remote_ip: Ipv4Addr,
    /// The local port `bind(..., ...)` uses.
    pub bind_port: u16,
    /// The remote port `connect(..., ...)` uses.
    pub connect_port: u16,
    /// The remote port of flows the script opens towards a listener.
    pub remote_port: u16,
    /// Added to the script's inbound sequence numbers on the wire.
    pub remote_isn: u32,
    /// The host under test (its `local_addrs` are replaced by `local_ip`).
    pub host: HostConfig,
    /// Take MSS-sized segments synack sends at one instant as the single TSO/GSO segment a
    /// Linux script expects there (`synack script --merge-tso`). Off, such a script stops as
    /// unsupported at that line.
    pub merge_tso: bool,
    /// packetdrill's `--tcp_ts_ecr_scaled`: an inbound TS ecr that names no TSval the
    /// script saw synack send is taken relative to the first one; without it, such a
    /// script fails, as under packetdrill.
    pub tcp_ts_ecr_scaled: bool,
    /// synack's `--ts_ecr_as_written`: such an echo goes on the wire as the script wrote
    /// it. packetdrill has no way to send an echo of a TSval synack never sent (a peer's
    /// SYN-ACK offering timestamps to a SYN without them); scripts that need one use this,
    /// and live outside the packetdrill-valid suite.
    pub ts_ecr_as_written: bool,
    /// The script's directory: a backquoted line that runs a shell file (packetdrill suites
    /// start with `` `../common/defaults.sh` ``) has the sysctls in that file applied when it
    /// is found relative to here.
    pub script_dir: Option<PathBuf>,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            tolerance_usecs: 4000,
            local_ip: Ipv4Addr::new(192, 168, 0, 1),
            remote_ip: Ipv4Addr::new(192, 0, 2, 1),
            bind_port: 8080,
            connect_port: 8080,
            remote_port: 47001,
            remote_isn: 0x4000_0000,
            host: HostConfig {
                secret: 0x5eed_5eed,
                ..HostConfig::default()
            },
            merge_tso: false,
            tcp_ts_ecr_scaled: false,
            ts_ecr_as_written: false,
            script_dir: None,
        }
    }
}

/// Why a script stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// synack did something else than the script says, or the script is malformed.
    Mismatch,
    /// The script uses a feature synack does not have (Fast Open, ECN, TSO-merged segments,
    /// `sendmsg`, ICMP, IPv6, an unknown socket option...): no verdict on synack's behaviour.
    Unsupported,
}

/// Where and why a script failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub pos: Pos,
    pub message: String,
    pub kind: FailureKind,
}

/// The outcome of one script.
#[derive(Clone, Debug)]
pub struct Report {
    pub failure: Option<Failure>,
    /// Things reported and skipped (shell commands without a synack knob, options).
    pub notes: Vec<String>,
    /// Events run (all of them when the script passed).
    pub events_run: usize,
    /// Virtual time at the end.
    pub virtual_time: Duration,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }

    /// Stopped at a feature synack lacks rather than at a behaviour difference.
    pub fn unsupported(&self) -> bool {
        self.failure
            .as_ref()
            .is_some_and(|f| f.kind == FailureKind::Unsupported)
    }
}

/// Parses and runs `src`.
pub fn run_script(src: &str, config: &RunConfig) -> Report {
    match parse_and_configure(src, config) {
        Ok((script, config, notes)) => Runner::new(config, notes).run(&script),
        Err(failure) => Report {
            failure: Some(failure),
            notes: Vec::new(),
            events_run: 0,
            virtual_time: Duration::ZERO,
        },
    }
}

fn parse_and_configure(
    src: &str,
    config: &RunConfig,
) -> Result<(Script, RunConfig, Vec<String>), Failure> {
    let script = crate::parser::parse(src).map_err(|e| Failure {
        pos: e.pos,
        message: format!("parse error: {}", e.msg),
        kind: FailureKind::Mismatch,
    })?;
    let mut config = config.clone();
    let mut notes = Vec::new();
    for (name, value, pos) in &script.options {
        let fail = |m: String| Failure {
            pos: *pos,
            message: m,
            kind: FailureKind::Mismatch,
        };
        let num = || {
            value
                .parse::<u64>()
                .map_err(|_| fail(format!("--{name}: '{value}' is not a number")))
        };
        let ip = || {
            value
                .parse::<Ipv4Addr>()
                .map_err(|_| fail(format!("--{name}: '{value}' is not an IPv4 address")))
        };
        match name.as_str() {
            "tolerance_usecs" => {
                config.tolerance_usecs = num()?;
                if config.tolerance_usecs > 3_600_000_000 {
                    return Err(fail(format!(
                        "--{name}: more than an hour is not a tolerance"
                    )));
                }
            }
            "local_ip" => config.local_ip = ip()?,
            "tcp_ts_ecr_scaled" => config.tcp_ts_ecr_scaled = true,
            "ts_ecr_as_written" => config.ts_ecr_as_written = true,
            "remote_ip" => config.remote_ip = ip()?,
            "bind_port" => config.bind_port = num()? as u16,
            "connect_port" => config.connect_port = num()? as u16,
            "ip_version" if value == "ipv4" => {}
            "ip_version" => {
                return Err(Failure {
                    pos: *pos,
                    message: format!(
                        "unsupported: --ip_version={value} (synack scripts run over IPv4)"
                    ),
                    kind: FailureKind::Unsupported,
                });
            }
            _ => notes.push(format!(
                "{pos}: option --{name} has no meaning here; ignored"
            )),
        }
    }
    Ok((script, config, notes))
}

/// One connection as the script sees it.
#[derive(Clone, Debug)]
struct Flow {
    local: SocketAddr,
    remote: SocketAddr,
    /// synack's ISN, live and as the script wrote it, learned from the flow's first SYN or
    /// SYN-ACK and kept for the flow's life, as packetdrill keeps it per socket.
    local_isn: Option<(u32, u32)>,
    /// The script's ISN for the peer: the sequence number of the packet that opened a
    /// passive flow, or of the SYN-ACK answering an active one (packetdrill's
    /// `remote_isn`); `None` until then, which counts as 0.
    remote_isn: Option<u32>,
    /// Script TSval → synack's TSval, from outbound packets.
    ts_map: HashMap<u32, u32>,
    first_ts: Option<(u32, u32)>,
}

/// packetdrill's sequence spaces (`socket.h`), as tcpdump prints them: in a packet with
/// SYN the peer's numbers are absolute and synack's are relative to the script's ISN; in
/// other packets both are relative to the flow's ISNs.
impl Flow {
    fn new(local: SocketAddr, remote: SocketAddr) -> Flow {
        Flow {
            local,
            remote,
            local_isn: None,
            remote_isn: None,
            ts_map: HashMap::new(),
            first_ts: None,
        }
    }

    /// live - script for synack's sequence numbers (and the peer's acknowledgments).
    fn local_off(&self, syn: bool) -> u32 {
        match self.local_isn {
            Some((live, script)) if syn => live.wrapping_sub(script),
            Some((live, _)) => live,
            None => 0,
        }
    }

    /// live - script for the peer's sequence numbers, before the runner's fixed offset.
    fn remote_off(&self, syn: bool) -> u32 {
        if syn { 0 } else { self.remote_isn.unwrap_or(0) }
    }
}

#[derive(Clone, Debug)]
enum Wait {
    Accept(i32),
    Connect(i32),
    Read(i32, usize),
    Write { fd: i32, left: usize, done: usize },
    Poll { items: Vec<PollItem>, deadline: u64 },
}

#[derive(Clone, Debug)]
struct PollItem {
    fd: i32,
    events: i16,
    revents: Option<i16>,
}

#[derive(Clone, Debug)]
struct Pending {
    pos: Pos,
    call: Syscall,
    end: Option<i64>,
    wait: Wait,
}

/// How an error of a call synack has no counterpart for starts.
const UNSUPPORTED_CALL: &str = "no synack counterpart for";

/// A call's outcome, before it is compared with the script.
type CallResult = Result<i64, SockError>;

enum Step {
    Done(CallResult),
    Block(Wait),
}

struct Runner {
    cfg: RunConfig,
    stack: Stack,
    /// Virtual time, microseconds since the script started.
    now: u64,
    /// Time of the previous event, the base of `+t`.
    last: i64,
    out: VecDeque<(u64, Vec<u8>)>,
    flows: Vec<Flow>,
    current: Option<usize>,
    listen_addr: Option<SocketAddr>,
    pending: Option<Pending>,
    under_test: Option<i32>,
    /// The script's file descriptors → the stack's.
    fds: HashMap<i32, i32>,
    /// A sysctl asked for Fast Open servers that take data on a SYN without a cookie
    /// (`tcp_fastopen` bits 0x200/0x400): such a SYN's data is Fast Open's, not synack's.
    tfo_without_cookie: bool,
    failure: Option<Failure>,
    notes: Vec<String>,
    /// Pos of the event being run, for failures found while time moves.
    pos: Pos,
}

/// A safety net against a timer that keeps firing without progress.
const MAX_TIMER_STEPS: usize = 1_000_000;

fn fmt_time(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn fmt_stime(us: i64) -> String {
    if us < 0 {
        format!("-{}", fmt_time(us.unsigned_abs()))
    } else {
        fmt_time(us as u64)
    }
}

impl Runner {
    fn new(cfg: RunConfig, notes: Vec<String>) -> Runner {
        let mut host = cfg.host.clone();
        host.local_addrs = vec![IpAddr::V4(cfg.local_ip)];
        Runner {
            stack: Stack::new(host),
            cfg,
            now: 0,
            last: 0,
            out: VecDeque::new(),
            flows: Vec::new(),
            current: None,
            listen_addr: None,
            pending: None,
            under_test: None,
            fds: HashMap::new(),
            tfo_without_cookie: false,
            failure: None,
            notes,
            pos: Pos::default(),
        }
    }

    fn instant(&self) -> Instant {
        Instant::from_micros(self.now)
    }

    fn fail(&mut self, pos: Pos, message: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some(Failure {
                pos,
                message: message.into(),
                kind: FailureKind::Mismatch,
            });
        }
    }

    /// Stops the script at a feature synack does not have.
    fn unsupported(&mut self, pos: Pos, feature: impl Into<String>) {
        if self.failure.is_none() {
            self.failure = Some(Failure {
                pos,
                message: format!("unsupported: {}", feature.into()),
                kind: FailureKind::Unsupported,
            });
        }
    }

    /// A call's error: an unknown symbol or call is a Linux feature synack lacks (the
    /// scripts are packetdrill's, so the name is real), anything else a failure.
    fn call_error(&mut self, pos: Pos, call: &str, m: String) {
        if m.starts_with(crate::symbols::UNKNOWN_SYMBOL) || m.starts_with(UNSUPPORTED_CALL) {
            self.unsupported(pos, format!("{call}: {m}"));
        } else {
            self.fail(pos, format!("{call}: {m}"));
        }
    }

    fn run(mut self, script: &Script) -> Report {
        let mut events_run = 0;
        for ev in &script.events {
            if self.failure.is_some() {
                break;
            }
            self.pos = ev.pos;
            self.event(ev);
            if self.failure.is_none() {
                events_run += 1;
            }
        }
        if self.failure.is_none() && self.pending.is_some() {
            self.wait_for_pending();
        }
        if self.failure.is_none() {
            if let Some(p) = self.pending.take() {
                let msg = match p.end {
                    Some(end) => format!(
                        "{}(...) had not returned by {} (expected at {}, ±{}us)",
                        p.call.name,
                        fmt_time(self.now),
                        fmt_stime(end),
                        self.cfg.tolerance_usecs
                    ),
                    None => format!(
                        "{}(...) was still blocked when the script ended",
                        p.call.name
                    ),
                };
                self.fail(p.pos, msg);
            }
        }
        Report {
            failure: self.failure,
            notes: self.notes,
            events_run,
            virtual_time: Duration::from_micros(self.now),
        }
    }

    /// The script ended with a call still blocked: let virtual time run (to the call's
    /// expected return time when it has one) so it can finish, as packetdrill waits for it.
    /// Packets sent meanwhile were not in the script.
    fn wait_for_pending(&mut self) {
        let tol = self.cfg.tolerance_usecs;
        let limit = match self.pending.as_ref().and_then(|p| p.end) {
            Some(end) => (end.max(0) as u64).saturating_add(tol),
            // A day of virtual time bounds the wait for calls with no stated end.
            None => self.now + 86_400_000_000,
        };
        while self.pending.is_some() && self.failure.is_none() {
            let next = self.stack.poll_timeout().map(|t| t.as_micros());
            let poll_deadline = match &self.pending {
                Some(Pending {
                    wait: Wait::Poll { deadline, .. },
                    ..
                }) => Some(*deadline),
                _ => None,
            };
            let Some(t) = next
                .into_iter()
                .chain(poll_deadline)
                .min()
                .filter(|t| *t <= limit)
            else {
                return;
            };
            self.advance_to(t.max(self.now));
            if let Some((at, bytes)) = self.out.front().cloned() {
                let shown = self.describe_actual(&bytes);
                let pos = self.pending.as_ref().map_or(self.pos, |p| p.pos);
                self.fail(
                    pos,
                    format!(
                        "unexpected outbound packet at {} while waiting for this call:\n  \
                         actual:   {}",
                        fmt_time(at),
                        shown
                    ),
                );
            }
        }
    }

    /// The end of a range: as packetdrill reads `+t1...t2` and `+t1~t2`, when the start is
    /// relative the end counts from the same base (the previous event), with or without `+`.
    fn resolve_end(&self, start: Time, end: Time) -> i64 {
        match (start, end) {
            (Time::Relative(_), Time::Absolute(e) | Time::Relative(e)) => self.last + e,
            (Time::Absolute(_), e) => self.resolve(e),
        }
    }

    fn resolve(&self, t: Time) -> i64 {
        match t {
            Time::Absolute(t) => t,
            Time::Relative(d) => self.last + d,
        }
    }

    fn event(&mut self, ev: &Event) {
        if let Action::Unsupported { feature, text } = &ev.action {
            return self.unsupported(ev.pos, format!("{feature} ({text})"));
        }
        if let Action::Packet(p) = &ev.action {
            if let Some(feature) = packet_feature(p) {
                return self.unsupported(ev.pos, feature);
            }
            if p.direction == Direction::Inbound {
                if let Some(ecn) = p.ip_ecn.as_deref().filter(|e| *e != "noecn") {
                    // A host without ECN ignores the IP header's ECN field (RFC 3168 §5);
                    // synack's inbound datagrams carry none.
                    self.notes.push(format!(
                        "{}: ECN field [{ecn}] not set on the injected packet",
                        ev.pos
                    ));
                }
            }
        }
        if let Action::Packet(p) = &ev.action {
            if p.direction == Direction::Outbound {
                let (start, end) = match ev.when {
                    When::At(t) => {
                        let t = self.resolve(t);
                        (Some(t), t)
                    }
                    When::Window(a, b) => (Some(self.resolve(a)), self.resolve_end(a, b)),
                    When::Any => (None, i64::MAX / 4),
                    When::Blocking(..) => {
                        return self.fail(ev.pos, "a packet cannot have a blocking time range");
                    }
                };
                return self.outbound(ev.pos, p, start, end);
            }
        }
        let (t, end) = match ev.when {
            When::At(t) => (self.resolve(t), None),
            When::Blocking(a, b) => (self.resolve(a), Some(self.resolve_end(a, b))),
            When::Any | When::Window(..) => {
                return self.fail(ev.pos, "only outbound packets may use '*' or 't1~t2'");
            }
        };
        let tol = self.cfg.tolerance_usecs as i64;
        if t + tol < self.now as i64 {
            return self.fail(
                ev.pos,
                format!(
                    "event time {} is before the current time {} (events must be in order)",
                    fmt_stime(t),
                    fmt_time(self.now)
                ),
            );
        }
        let t = t.max(self.now as i64) as u64;
        self.advance_to(t);
        if self.failure.is_some() {
            return;
        }
        // A packet sent before this event's time was skipped by the script. One sent at the
        // same instant stays queued for a later `>` line, as packetdrill's sniffer keeps it
        // (`< P. ...`, `+0 read(...)`, `+0 > . ...` is a common order).
        if let Some((at, bytes)) = self.out.front().filter(|(at, _)| *at < t).cloned() {
            let shown = self.describe_actual(&bytes);
            return self.fail(
                ev.pos,
                format!(
                    "unexpected outbound packet at {} before this event (at {}):\n  actual:   {}",
                    fmt_time(at),
                    fmt_time(t),
                    shown
                ),
            );
        }
        self.last = t as i64;
        match &ev.action {
            Action::Packet(p) => self.inbound(ev.pos, p),
            Action::Syscall(c) => self.syscall(ev.pos, c, end),
            Action::Code(code) => self.code(ev.pos, code),
            Action::Unsupported { .. } => {}
            Action::Shell(cmd) => {
                let dir = self.cfg.script_dir.clone();
                for a in shell::run_in(&mut self.stack, cmd, dir.as_deref()) {
                    if let Applied::Skipped(why) = &a {
                        if let Some(v) = why
                            .split_once("tcp_fastopen=")
                            .and_then(|(_, v)| v.split_whitespace().next())
                        {
                            let bits = match v.strip_prefix("0x") {
                                Some(hex) => u64::from_str_radix(hex, 16),
                                None => v.parse(),
                            };
                            if bits.is_ok_and(|v| v & 0x600 != 0) {
                                self.tfo_without_cookie = true;
                            }
                        }
                    }
                    match a {
                        Applied::Set(s) => self.notes.push(format!("{}: set {s}", ev.pos)),
                        Applied::Skipped(s) => self.notes.push(format!("{}: skipped: {s}", ev.pos)),
                    }
                }
            }
        }
        self.settle();
    }

    /// Collects what the stack sends now and retries a blocked call.
    fn settle(&mut self) {
        let mut buf = vec![0u8; 65536];
        let now = self.instant();
        while let Some(n) = self.stack.poll_transmit(now, &mut buf) {
            self.out.push_back((self.now, buf[..n].to_vec()));
        }
        self.retry_pending();
        // A call that completed just now may have made the stack send (a read opening the
        // window, a write's data): those packets leave now too, not at the next event.
        while let Some(n) = self.stack.poll_transmit(now, &mut buf) {
            self.out.push_back((self.now, buf[..n].to_vec()));
        }
    }

    /// Runs every timer due up to `t`, in order.
    fn advance_to(&mut self, t: u64) {
        for _ in 0..MAX_TIMER_STEPS {
            if self.failure.is_some() {
                return;
            }
            match self.stack.poll_timeout() {
                Some(due) if due.as_micros() <= t => {
                    self.now = self.now.max(due.as_micros());
                    self.stack.handle_timeout(self.instant());
                    self.settle();
                }
                _ => {
                    self.tick_poll_deadline(t);
                    self.now = self.now.max(t);
                    return;
                }
            }
        }
        self.fail(self.pos, "timers kept firing without time moving on");
    }

    /// A blocked `poll` whose timeout passes before `t` returns 0 then.
    fn tick_poll_deadline(&mut self, t: u64) {
        if let Some(Pending {
            wait: Wait::Poll { deadline, .. },
            ..
        }) = &self.pending
        {
            if *deadline <= t {
                let deadline = *deadline;
                self.now = self.now.max(deadline);
                let p = self.pending.take();
                if let Some(p) = p {
                    self.finish(p.pos, &p.call, p.end, Ok(0));
                }
            }
        }
    }

    // ------------------------------------------------------------------ flows

    fn default_local(&self) -> SocketAddr {
        self.listen_addr.unwrap_or(SocketAddr::new(
            IpAddr::V4(self.cfg.local_ip),
            self.cfg.bind_port,
        ))
    }

    /// The flow an inbound packet belongs to: the one its port pair names, else the flow
    /// under test; a packet that starts a flow is its remote ISN, as packetdrill takes the
    /// packet that creates a child socket's.
    fn flow_for_inbound(&mut self, p: &Packet) -> usize {
        let mut local = self.default_local();
        if let Some(port) = p.local_port {
            local.set_port(port);
        }
        let i = if let Some(port) = p.remote_port {
            match self
                .flows
                .iter()
                .position(|f| f.remote.port() == port && f.local == local)
            {
                Some(i) => i,
                None => self.new_flow(local, port, p.seq),
            }
        } else if let Some(i) = self.current {
            i
        } else {
            self.new_flow(local, self.cfg.remote_port, p.seq)
        };
        let f = &mut self.flows[i];
        if p.flags.syn && p.flags.ack && f.remote_isn.is_none() {
            // The SYN-ACK answering an active open.
            f.remote_isn = Some(p.seq);
        }
        i
    }

    fn new_flow(&mut self, local: SocketAddr, remote_port: u16, remote_isn: u32) -> usize {
        let mut f = Flow::new(
            local,
            SocketAddr::new(IpAddr::V4(self.cfg.remote_ip), remote_port),
        );
        f.remote_isn = Some(remote_isn);
        self.flows.push(f);
        self.flows.len() - 1
    }

    // ------------------------------------------------------------------ packets

    fn inbound(&mut self, pos: Pos, p: &Packet) {
        if self.tfo_without_cookie && p.flags.syn && !p.flags.ack && p.len > 0 {
            return self.unsupported(
                pos,
                "TCP Fast Open (RFC 7413): data on a SYN to a server the script set to take it \
                 without a cookie",
            );
        }
        let fi = self.flow_for_inbound(p);
        self.current = Some(fi);
        let flow = self.flows[fi].clone();
        let local_off = flow.local_off(p.flags.syn);
        let options = match &p.options {
            Options::Any => {
                return self.fail(
                    pos,
                    "an inbound packet needs its options spelled out, not <...>",
                );
            }
            Options::List(list) => {
                let mut out = Vec::new();
                for o in list {
                    out.push(match o {
                        TcpOpt::Sack(blocks) => TcpOpt::Sack(
                            blocks
                                .iter()
                                .map(|(l, r)| {
                                    (l.wrapping_add(local_off), r.wrapping_add(local_off))
                                })
                                .collect(),
                        ),
                        TcpOpt::Timestamp { val, ecr } if p.flags.ack => {
                            // As packetdrill: an echo names a TSval the script saw synack
                            // send; only with --tcp_ts_ecr_scaled is any other value taken
                            // relative to the first one. Even 0 is no exception.
                            let live = match (flow.ts_map.get(ecr), flow.first_ts) {
                                (Some(v), _) => *v,
                                (None, Some((s, a))) if self.cfg.tcp_ts_ecr_scaled => {
                                    ecr.wrapping_sub(s).wrapping_add(a)
                                }
                                (None, _) if self.cfg.ts_ecr_as_written => *ecr,
                                _ => {
                                    return self.fail(
                                        pos,
                                        format!(
                                            "cannot map TS ecr {ecr}: no outbound packet of this \
                                             flow had a TS val {ecr} in the script{}",
                                            if flow.first_ts.is_some() {
                                                " (--tcp_ts_ecr_scaled takes other values \
                                                 relative to the first)"
                                            } else {
                                                ""
                                            }
                                        ),
                                    );
                                }
                            };
                            TcpOpt::Timestamp {
                                val: *val,
                                ecr: live,
                            }
                        }
                        other => other.clone(),
                    });
                }
                out
            }
        };
        let seg = Segment {
            src: flow.remote,
            dst: flow.local,
            flags: p.flags,
            seq: p
                .seq
                .wrapping_add(self.cfg.remote_isn)
                .wrapping_add(flow.remote_off(p.flags.syn)),
            // As packetdrill: the field moves with synack's ISN only under the ACK flag.
            ack: match p.ack {
                Some(a) if p.flags.ack => a.wrapping_add(local_off),
                Some(a) => a,
                None => 0,
            },
            win: p.win.unwrap_or(0) as u16,
            options,
            payload_len: p.len,
        };
        // An IPv4 datagram holds at most 65535 bytes: 20 of IP, 60 of TCP at most.
        if p.len > 65535 - 80 {
            return self.fail(
                pos,
                format!("a {}-byte payload does not fit in an IPv4 datagram", p.len),
            );
        }
        let payload = vec![0u8; p.len as usize];
        match packet::build(&seg, &payload) {
            Ok(bytes) => {
                let now = self.instant();
                self.stack.handle_packet(now, &bytes);
            }
            Err(e) => self.fail(pos, format!("cannot build the inbound packet: {e}")),
        }
    }

    /// The actual packet in script terms, for messages.
    fn describe_actual(&self, bytes: &[u8]) -> String {
        let Some(seg) = packet::read(bytes) else {
            return format!(
                "(a {}-byte datagram that is not TCP over IPv4)",
                bytes.len()
            );
        };
        let flow = self
            .flows
            .iter()
            .find(|f| f.local == seg.src && f.remote == seg.dst);
        let (local_off, remote_off) = (
            flow.map_or(0, |f| f.local_off(seg.flags.syn)),
            self.cfg
                .remote_isn
                .wrapping_add(flow.map_or(0, |f| f.remote_off(seg.flags.syn))),
        );
        self.script_view(&seg, local_off, remote_off, flow.and_then(|f| f.first_ts))
    }

    fn script_view(
        &self,
        seg: &Segment,
        local_off: u32,
        remote_off: u32,
        first_ts: Option<(u32, u32)>,
    ) -> String {
        let seq = seg.seq.wrapping_sub(local_off);
        let mut s = format!(
            "> {} {}:{}({})",
            seg.flags,
            seq,
            seq.wrapping_add(seg.payload_len),
            seg.payload_len
        );
        if seg.flags.ack {
            let _ = write!(s, " ack {}", seg.ack.wrapping_sub(remote_off));
        }
        let _ = write!(s, " win {}", seg.win);
        if seg.dst.port() != self.cfg.remote_port && seg.dst.port() != self.cfg.connect_port {
            let _ = write!(s, " (to port {})", seg.dst.port());
        }
        if !seg.options.is_empty() {
            let opts: Vec<String> = seg
                .options
                .iter()
                .map(|o| match o {
                    TcpOpt::Sack(b) => TcpOpt::Sack(
                        b.iter()
                            .map(|(l, r)| (l.wrapping_sub(remote_off), r.wrapping_sub(remote_off)))
                            .collect(),
                    )
                    .to_string(),
                    TcpOpt::Timestamp { val, ecr } => {
                        // TSval in the script's space once a baseline exists.
                        let v = first_ts.map_or(*val, |(s, a)| val.wrapping_sub(a).wrapping_add(s));
                        format!("TS val {v} ecr {ecr}")
                    }
                    other => other.to_string(),
                })
                .collect();
            let _ = write!(s, " <{}>", opts.join(","));
        }
        s
    }

    fn outbound(&mut self, pos: Pos, p: &Packet, start: Option<i64>, end: i64) {
        let tol = self.cfg.tolerance_usecs as i64;
        let deadline = end.saturating_add(tol).max(0) as u64;
        let mut steps = 0;
        // Wait, on virtual time, for the stack's next packet.
        let (at, bytes) = loop {
            if self.failure.is_some() {
                return;
            }
            if let Some(x) = self.out.pop_front() {
                break x;
            }
            steps += 1;
            match self.stack.poll_timeout() {
                Some(due) if due.as_micros() <= deadline && steps < MAX_TIMER_STEPS => {
                    self.now = self.now.max(due.as_micros());
                    self.tick_poll_deadline(self.now);
                    self.stack.handle_timeout(self.instant());
                    self.settle();
                }
                _ => {
                    self.now = self.now.max(deadline);
                    self.tick_poll_deadline(self.now);
                    let when = match start {
                        Some(s) => format!("at {}", fmt_stime(s)),
                        None => "at any time".into(),
                    };
                    return self.fail(
                        pos,
                        format!(
                            "expected an outbound packet {when} (±{}us); none was sent by {}:\n  \
                             expected: {}",
                            tol,
                            fmt_time(deadline),
                            show_script_packet(p)
                        ),
                    );
                }
            }
        };
        let Some(seg) = packet::read(&bytes) else {
            return self.fail(pos, "synack sent a datagram that is not TCP over IPv4");
        };
        // Which connection: the one with this 4-tuple, or a new one (an active open's SYN).
        let fi = match self
            .flows
            .iter()
            .position(|f| f.local == seg.src && f.remote == seg.dst)
        {
            Some(i) => i,
            None => {
                self.flows.push(Flow::new(seg.src, seg.dst));
                self.flows.len() - 1
            }
        };
        self.current = Some(fi);
        if seg.flags.syn && p.flags.syn && self.flows[fi].local_isn.is_none() {
            // synack's ISN is learned once per flow, as packetdrill learns it once per
            // socket: a later incarnation of the same 4-tuple (a SYN reopening TIME-WAIT)
            // is written relative to the first.
            self.flows[fi].local_isn = Some((seg.seq, p.seq));
        }
        let flow = self.flows[fi].clone();
        let local_off = flow.local_off(seg.flags.syn);
        let remote_off = self
            .cfg
            .remote_isn
            .wrapping_add(flow.remote_off(seg.flags.syn));
        let seg = if self.cfg.merge_tso {
            self.merge_tso(seg, at, p, local_off)
        } else {
            seg
        };
        let mut diffs = Vec::new();
        if let Some(s) = start {
            if (at as i64) + tol < s {
                diffs.push(format!(
                    "time: sent at {}, expected at {} (±{}us)",
                    fmt_time(at),
                    fmt_stime(s),
                    tol
                ));
            }
        }
        if let Some(port) = p.remote_port {
            if seg.dst.port() != port {
                diffs.push(format!(
                    "flow: to port {}, expected port {port}",
                    seg.dst.port()
                ));
            }
        }
        if let Some(port) = p.local_port {
            if seg.src.port() != port {
                diffs.push(format!(
                    "flow: from port {}, expected port {port}",
                    seg.src.port()
                ));
            }
        }
        if seg.flags != p.flags {
            diffs.push(format!("flags: {} vs {}", p.flags, seg.flags));
        }
        let seq = seg.seq.wrapping_sub(local_off);
        if seq != p.seq {
            diffs.push(format!("seq: {} vs {}", p.seq, seq));
        }
        if seg.payload_len != p.len {
            diffs.push(format!("length: {} vs {}", p.len, seg.payload_len));
        }
        if let Some(a) = p.ack {
            let ack = seg.ack.wrapping_sub(remote_off);
            if seg.flags.ack && ack != a {
                diffs.push(format!("ack: {a} vs {ack}"));
            }
        }
        if let Some(w) = p.win {
            if u32::from(seg.win) != w {
                diffs.push(format!("win: {w} vs {}", seg.win));
            }
        }
        if let Options::List(expected) = &p.options {
            if expected.len() != seg.options.len() {
                diffs.push(format!(
                    "options: {} expected, {} sent",
                    expected.len(),
                    seg.options.len()
                ));
            }
            for (k, (e, a)) in expected.iter().zip(&seg.options).enumerate() {
                let ok = match (e, a) {
                    (TcpOpt::Timestamp { ecr: e_ecr, .. }, TcpOpt::Timestamp { ecr, .. }) => {
                        e_ecr == ecr
                    }
                    (TcpOpt::Sack(eb), TcpOpt::Sack(ab)) => {
                        eb.len() == ab.len()
                            && eb.iter().zip(ab).all(|((el, er), (al, ar))| {
                                *el == al.wrapping_sub(remote_off)
                                    && *er == ar.wrapping_sub(remote_off)
                            })
                    }
                    (e, a) => e == a,
                };
                if !ok {
                    // The sent option in the script's sequence space, as the script writes it.
                    let shown = match a {
                        TcpOpt::Sack(b) => TcpOpt::Sack(
                            b.iter()
                                .map(|(l, r)| {
                                    (l.wrapping_sub(remote_off), r.wrapping_sub(remote_off))
                                })
                                .collect(),
                        ),
                        other => other.clone(),
                    };
                    diffs.push(format!("option {}: {e} vs {shown}", k + 1));
                }
            }
            // Remember synack's TSval for the script's, to map later inbound echoes.
            let pairs = expected.iter().zip(&seg.options);
            for (e, a) in pairs {
                if let (TcpOpt::Timestamp { val: sv, .. }, TcpOpt::Timestamp { val: av, .. }) =
                    (e, a)
                {
                    let f = &mut self.flows[fi];
                    f.ts_map.insert(*sv, *av);
                    f.first_ts.get_or_insert((*sv, *av));
                }
            }
        }
        if !diffs.is_empty() && p.len > seg.payload_len && seq == p.seq && seg.payload_len > 0 {
            // Linux hands packetdrill's tun device TSO/GSO super-segments; synack sends
            // MSS-sized segments. When the ones synack sent at this instant are the expected
            // bytes cut in pieces, that is the difference, not the data.
            let mut covered = seg.payload_len;
            let mut pieces = 1;
            for (t, b) in &self.out {
                let Some(next) = packet::read(b) else { break };
                if *t != at
                    || next.src != seg.src
                    || next.dst != seg.dst
                    || next.seq.wrapping_sub(local_off) != p.seq.wrapping_add(covered)
                    || next.payload_len == 0
                {
                    break;
                }
                covered += next.payload_len;
                pieces += 1;
                if covered >= p.len {
                    break;
                }
            }
            if covered >= p.len && pieces > 1 {
                return self.unsupported(
                    pos,
                    format!(
                        "TSO/GSO-merged segment: the script expects one {}-byte segment, \
                         synack sent the same bytes as {pieces} segments of at most {} bytes",
                        p.len, seg.payload_len
                    ),
                );
            }
        }
        if !diffs.is_empty() {
            let actual = self.script_view(&seg, local_off, remote_off, flow.first_ts);
            return self.fail(
                pos,
                format!(
                    "outbound packet does not match the script:\n  expected: {}\n  actual:   {}\n  \
                     ({})",
                    show_script_packet(p),
                    actual,
                    diffs.join("; ")
                ),
            );
        }
        self.last = at as i64;
    }

    /// With `merge_tso`: when the script expects one segment longer than synack's, and the
    /// segments synack sent at the same instant continue it to exactly the expected end, they
    /// are taken as the one TSO/GSO segment Linux would have handed packetdrill (its flags:
    /// the first's, with the last's PSH and FIN). Anything else is left as it is.
    fn merge_tso(&mut self, seg: Segment, at: u64, p: &Packet, local_off: u32) -> Segment {
        if p.len <= seg.payload_len
            || seg.payload_len == 0
            || seg.seq.wrapping_sub(local_off) != p.seq
        {
            return seg;
        }
        let mut covered = seg.payload_len;
        let mut n = 0;
        let mut last = seg.flags;
        for (t, b) in &self.out {
            let Some(next) = packet::read(b) else { break };
            if covered >= p.len
                || *t != at
                || next.src != seg.src
                || next.dst != seg.dst
                || next.seq != seg.seq.wrapping_add(covered)
                || next.payload_len == 0
                || next.flags.syn
                || next.flags.rst
            {
                break;
            }
            covered += next.payload_len;
            last = next.flags;
            n += 1;
        }
        if n == 0 || covered != p.len {
            return seg;
        }
        self.out.drain(..n);
        let mut merged = seg;
        merged.payload_len = covered;
        merged.flags.psh = last.psh;
        merged.flags.fin = last.fin;
        merged
    }

    // ------------------------------------------------------------------ code

    fn code(&mut self, pos: Pos, code: &str) {
        let Some(fd) = self.under_test else {
            return self.fail(
                pos,
                "no socket under test for %{ }% (accept or connect one first)",
            );
        };
        let state = match self.stack.state(fd) {
            Ok(s) => s,
            Err(e) => return self.fail(pos, format!("socket {fd} under test: {e}")),
        };
        let info = self.stack.tcp_info(fd).ok();
        let vars = assert::tcpi_fields(info.as_ref(), state);
        match assert::run(code, &vars) {
            Ok(()) => {}
            Err(assert::CodeError::Failed(m)) => self.fail(pos, m),
            Err(assert::CodeError::Unsupported(m)) => self.unsupported(pos, m),
        }
    }

    // ------------------------------------------------------------------ system calls

    fn syscall(&mut self, pos: Pos, call: &Syscall, end: Option<i64>) {
        if let Some(p) = &self.pending {
            return self.fail(
                pos,
                format!(
                    "{}(...) called while {}(...) from line {} is still blocked",
                    call.name, p.call.name, p.pos.line
                ),
            );
        }
        match self.start_call(call) {
            Ok(Step::Done(r)) => self.finish(pos, call, end, r),
            Ok(Step::Block(wait)) => {
                self.pending = Some(Pending {
                    pos,
                    call: call.clone(),
                    end,
                    wait,
                });
            }
            Err(m) => self.call_error(pos, &call.name, m),
        }
    }

    /// Compares a finished call with the script.
    fn finish(&mut self, pos: Pos, call: &Syscall, end: Option<i64>, r: CallResult) {
        let tol = self.cfg.tolerance_usecs as i64;
        if let Some(end) = end {
            if (self.now as i64 - end).abs() > tol {
                return self.fail(
                    pos,
                    format!(
                        "{}(...) returned at {}, expected at {} (±{}us)",
                        call.name,
                        fmt_time(self.now),
                        fmt_stime(end),
                        tol
                    ),
                );
            }
        }
        let expected = match &call.ret {
            Expr::Ellipsis => None,
            e => match eval_int(e) {
                Ok(v) => Some(v),
                Err(m) => return self.fail(pos, format!("{}: result: {m}", call.name)),
            },
        };
        let want_errno = call.errno.as_deref();
        let shown_expected = match (expected, want_errno) {
            (Some(v), Some(e)) => format!("{v} {e}"),
            (Some(v), None) => v.to_string(),
            (None, _) => "...".into(),
        };
        // packetdrill's file descriptors are the script's own: `socket(...) = 4` names the new
        // socket 4 in the script, whatever number the stack gave it.
        let mut r = r;
        if let (Ok(live), Some(v)) = (&r, expected) {
            if matches!(call.name.as_str(), "socket" | "accept" | "accept4") && v >= 0 {
                if let (Ok(script_fd), Ok(live_fd)) = (i32::try_from(v), i32::try_from(*live)) {
                    self.fds.insert(script_fd, live_fd);
                    r = Ok(v);
                }
            }
        }
        match r {
            Err(SockError::Unsupported(m)) => {
                self.unsupported(pos, format!("{}(...): {m}", call.name))
            }
            Ok(v) => {
                if expected.is_some_and(|x| x != v) {
                    self.fail(
                        pos,
                        format!("{}(...) returned {v}, expected {shown_expected}", call.name),
                    );
                }
            }
            Err(SockError::Errno(e)) => {
                let ok = expected.is_none_or(|x| x == -1)
                    && want_errno.is_none_or(|w| Errno::from_name(w) == Some(e));
                if !ok {
                    self.fail(
                        pos,
                        format!(
                            "{}(...) returned -1 {}, expected {shown_expected}",
                            call.name, e
                        ),
                    );
                }
            }
        }
    }

    fn retry_pending(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        match self.step(&p.wait) {
            Ok(Step::Done(r)) => self.finish(p.pos, &p.call, p.end, r),
            Ok(Step::Block(wait)) => self.pending = Some(Pending { wait, ..p }),
            Err(m) => self.call_error(p.pos, &p.call.name, m),
        }
    }

    fn fd_arg(&mut self, call: &Syscall, k: usize) -> Result<i32, String> {
        let e = call
            .args
            .get(k)
            .ok_or_else(|| format!("missing argument {}", k + 1))?;
        let fd = self.live_fd(eval_int(e)? as i32);
        if matches!(self.stack.state(fd), Ok(s) if s != synack_proto::StateName::Listen) {
            self.under_test = Some(fd);
        }
        Ok(fd)
    }

    /// The stack's descriptor for the script's.
    fn live_fd(&self, script_fd: i32) -> i32 {
        self.fds.get(&script_fd).copied().unwrap_or(script_fd)
    }

    fn int_arg(call: &Syscall, k: usize) -> Result<i64, String> {
        eval_int(
            call.args
                .get(k)
                .ok_or_else(|| format!("missing argument {}", k + 1))?,
        )
    }

    fn addr_arg(
        &self,
        call: &Syscall,
        k: usize,
        default: SocketAddr,
    ) -> Result<SocketAddr, String> {
        match call.args.get(k) {
            None | Some(Expr::Ellipsis) => Ok(default),
            Some(Expr::Struct(fields)) => {
                let mut addr = default;
                for (name, v) in fields {
                    match name.as_str() {
                        "sa_family" | "sin_family" => {}
                        "sin_port" => addr.set_port(eval_int(v)? as u16),
                        "sin_addr" => {
                            let ip = match v {
                                Expr::Call(f, a) if f == "inet_addr" => match a.first() {
                                    Some(Expr::Str(s)) => s
                                        .parse::<Ipv4Addr>()
                                        .map_err(|_| format!("bad address {s:?}"))?,
                                    _ => return Err("inet_addr needs a string".into()),
                                },
                                Expr::Word(w) if w == "INADDR_ANY" => Ipv4Addr::UNSPECIFIED,
                                other => return Err(format!("unsupported address {other}")),
                            };
                            addr.set_ip(IpAddr::V4(ip));
                        }
                        other => return Err(format!("unsupported sockaddr field {other}")),
                    }
                }
                Ok(addr)
            }
            Some(other) => Err(format!("{UNSUPPORTED_CALL} the address argument {other}")),
        }
    }

    fn start_call(&mut self, call: &Syscall) -> Result<Step, String> {
        let now = self.instant();
        let done = |r: Result<i64, SockError>| Ok(Step::Done(r));
        match call.name.as_str() {
            "socket" => {
                let domain = match call.args.first() {
                    None | Some(Expr::Ellipsis) => AF_INET,
                    Some(e) => eval_int(e)? as i32,
                };
                let ty = Self::int_arg(call, 1)? as i32;
                let proto = match call.args.get(2) {
                    None | Some(Expr::Ellipsis) => 0,
                    Some(e) => eval_int(e)? as i32,
                };
                done(self.stack.socket(domain, ty, proto).map(i64::from))
            }
            "bind" => {
                let fd = self.fd_arg(call, 0)?;
                let default = SocketAddr::new(IpAddr::V4(self.cfg.local_ip), self.cfg.bind_port);
                let addr = self.addr_arg(call, 1, default)?;
                done(self.stack.bind(fd, addr).map(|_| 0))
            }
            "listen" => {
                let fd = self.fd_arg(call, 0)?;
                let backlog = Self::int_arg(call, 1)? as i32;
                let r = self.stack.listen(fd, backlog);
                if r.is_ok() {
                    // Flows towards the listener go to its address.
                    let bound = self.stack_bound(fd);
                    self.listen_addr = bound;
                }
                done(r.map(|_| 0))
            }
            "accept" | "accept4" => {
                let fd = self.fd_arg(call, 0)?;
                self.step(&Wait::Accept(fd))
            }
            "connect" => {
                let fd = self.fd_arg(call, 0)?;
                let default =
                    SocketAddr::new(IpAddr::V4(self.cfg.remote_ip), self.cfg.connect_port);
                let addr = self.addr_arg(call, 1, default)?;
                self.under_test = Some(fd);
                match self.stack.connect(now, fd, addr) {
                    Err(SockError::Errno(Errno::EINPROGRESS)) => {
                        if let Ok((local, remote)) = self.stack.addrs(fd) {
                            if !self
                                .flows
                                .iter()
                                .any(|f| f.local == local && f.remote == remote)
                            {
                                self.flows.push(Flow::new(local, remote));
                            }
                            self.current = self
                                .flows
                                .iter()
                                .position(|f| f.local == local && f.remote == remote);
                        }
                        if self.stack.is_nonblocking(fd).unwrap_or(false) {
                            done(Err(SockError::Errno(Errno::EINPROGRESS)))
                        } else {
                            Ok(Step::Block(Wait::Connect(fd)))
                        }
                    }
                    r => done(r.map(|_| 0)),
                }
            }
            "read" | "recv" | "write" | "send" if is_null(call.args.get(1)) => {
                // The kernel cannot copy to or from address 0 (EFAULT) whatever the socket;
                // synack's calls take slices, so the script runner answers for it.
                self.fd_arg(call, 0)?;
                done(Err(SockError::Errno(Errno::EFAULT)))
            }
            "read" | "recv" => {
                let fd = self.fd_arg(call, 0)?;
                let n = Self::int_arg(call, 2)?;
                if call.name == "recv" && Self::int_arg(call, 3).unwrap_or(0) != 0 {
                    return done(Err(SockError::Unsupported("recv flags".into())));
                }
                self.step(&Wait::Read(
                    fd,
                    usize::try_from(n).map_err(|_| "negative length")?,
                ))
            }
            "write" | "send" => {
                let fd = self.fd_arg(call, 0)?;
                let n = Self::int_arg(call, 2)?;
                if call.name == "send" && Self::int_arg(call, 3).unwrap_or(0) != 0 {
                    return done(Err(SockError::Unsupported("send flags".into())));
                }
                let left = usize::try_from(n).map_err(|_| "negative length")?;
                self.step(&Wait::Write { fd, left, done: 0 })
            }
            "shutdown" => {
                let fd = self.fd_arg(call, 0)?;
                let how = Self::int_arg(call, 1)? as i32;
                done(self.stack.shutdown(fd, how).map(|_| 0))
            }
            "close" => {
                let fd = self.fd_arg(call, 0)?;
                if self.under_test == Some(fd) {
                    self.under_test = None;
                }
                done(self.stack.close(now, fd).map(|_| 0))
            }
            "fcntl" => {
                let fd = self.fd_arg(call, 0)?;
                let cmd = Self::int_arg(call, 1)? as i32;
                let arg = Self::int_arg(call, 2).unwrap_or(0) as i32;
                done(self.stack.fcntl(fd, cmd, arg).map(i64::from))
            }
            "setsockopt" => {
                let fd = self.fd_arg(call, 0)?;
                let level = Self::int_arg(call, 1)? as i32;
                let name = Self::int_arg(call, 2)? as i32;
                let value = opt_value(call.args.get(3).ok_or("missing option value")?)?;
                done(self.stack.setsockopt(fd, level, name, value).map(|_| 0))
            }
            "getsockopt" if matches!(call.args.get(3), Some(Expr::Struct(_))) => {
                // `getsockopt(fd, SOL_TCP, TCP_INFO, {tcpi_state=..., tcpi_rto=...}, ...)`:
                // each named field is checked against the connection's info, as an assert
                // would check it.
                let fd = self.fd_arg(call, 0)?;
                if Self::int_arg(call, 2)? != i64::from(TCP_INFO) {
                    return Err("only TCP_INFO takes a struct value here".into());
                }
                let fields = match call.args.get(3) {
                    Some(Expr::Struct(f)) => f.clone(),
                    _ => Vec::new(),
                };
                let state = match self.stack.state(fd) {
                    Ok(s) => s,
                    Err(e) => return done(Err(e)),
                };
                let info = self.stack.tcp_info(fd).ok();
                let vars = assert::tcpi_fields(info.as_ref(), state);
                for (name, want) in &fields {
                    // `tcpi_state=TCP_ESTABLISHED`: the state names are the assert block's.
                    let want = match want {
                        Expr::Word(w) => match assert::constant(w) {
                            Some(v) => v,
                            None => eval_int(want)?,
                        },
                        other => eval_int(other)?,
                    };
                    let Some((_, got)) = vars.iter().find(|(n, _)| *n == name.as_str()) else {
                        return Err(format!(
                            "{} {name} (a TCP_INFO field synack does not keep)",
                            crate::symbols::UNKNOWN_SYMBOL
                        ));
                    };
                    if *got != want {
                        return Err(format!("TCP_INFO {name}={got}, expected {want}"));
                    }
                }
                done(Ok(0))
            }
            "getsockopt" => {
                let fd = self.fd_arg(call, 0)?;
                let level = Self::int_arg(call, 1)? as i32;
                let name = Self::int_arg(call, 2)? as i32;
                match self.stack.getsockopt(fd, level, name) {
                    Ok(v) => {
                        if let Some(e) = call.args.get(3).filter(|e| **e != Expr::Ellipsis) {
                            let want = opt_value(e)?;
                            if want != v {
                                return Err(format!(
                                    "option value {}, expected {}",
                                    show_opt(v),
                                    show_opt(want)
                                ));
                            }
                        }
                        done(Ok(0))
                    }
                    Err(e) => done(Err(e)),
                }
            }
            "ioctl" => {
                // SIOCINQ/SIOCOUTQ, as the packetdrill shared library answers them: what the
                // receive queue holds in order, and what the send buffer holds.
                let fd = self.fd_arg(call, 0)?;
                let req = Self::int_arg(call, 1)?;
                if req != 0x541B && req != 0x5411 {
                    return Err(format!("{UNSUPPORTED_CALL} the ioctl request {req:#x}"));
                }
                if self.stack.state(fd) == Ok(synack_proto::StateName::Listen) {
                    return done(Err(SockError::Errno(Errno::EINVAL)));
                }
                let (inq, outq) = match self.stack.tcp_info(fd) {
                    Ok(i) => (i.recv_buffered, i.send_buffered),
                    Err(SockError::Errno(Errno::EBADF)) => {
                        return done(Err(SockError::Errno(Errno::EBADF)));
                    }
                    Err(_) => (0, 0),
                };
                let got = if req == 0x541B { inq } else { outq } as i64;
                if let Some(e) = call.args.get(2).filter(|e| **e != Expr::Ellipsis) {
                    let OptValue::Int(want) = opt_value(e)? else {
                        return Err("the ioctl value is [N]".into());
                    };
                    if want != got {
                        return Err(format!("ioctl value [{got}], expected [{want}]"));
                    }
                }
                done(Ok(0))
            }
            "poll" => {
                let Some(Expr::List(list)) = call.args.first() else {
                    return Err("poll needs a list of {fd=..., events=...}".into());
                };
                let mut items = Vec::new();
                for it in list {
                    let Expr::Struct(fields) = it else {
                        return Err("poll entries are {fd=..., events=..., revents=...}".into());
                    };
                    let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v);
                    let fd =
                        self.live_fd(eval_int(get("fd").ok_or("poll entry without fd")?)? as i32);
                    let events = get("events").map(eval_int).transpose()?.unwrap_or(0) as i16;
                    let revents = get("revents").map(eval_int).transpose()?.map(|v| v as i16);
                    items.push(PollItem {
                        fd,
                        events,
                        revents,
                    });
                }
                let timeout = Self::int_arg(call, 2)?;
                let deadline = if timeout < 0 {
                    u64::MAX
                } else {
                    self.now
                        .saturating_add((timeout as u64).saturating_mul(1000))
                };
                self.step(&Wait::Poll { items, deadline })
            }
            other => Err(format!("{UNSUPPORTED_CALL} the system call {other}")),
        }
    }

    fn stack_bound(&self, fd: i32) -> Option<SocketAddr> {
        // The listener's address as the script's packets reach it.
        let b = self.stack.local_addr(fd).ok().flatten()?;
        Some(if b.ip().is_unspecified() {
            SocketAddr::new(IpAddr::V4(self.cfg.local_ip), b.port())
        } else {
            b
        })
    }

    /// One attempt at a (possibly blocking) call.
    fn step(&mut self, wait: &Wait) -> Result<Step, String> {
        let blocking = |s: &Stack, fd: i32| !s.is_nonblocking(fd).unwrap_or(true);
        Ok(match wait {
            Wait::Accept(fd) => match self.stack.accept(*fd) {
                Err(SockError::Errno(Errno::EAGAIN)) if blocking(&self.stack, *fd) => {
                    Step::Block(wait.clone())
                }
                Ok((nfd, _)) => {
                    self.under_test = Some(nfd);
                    Step::Done(Ok(i64::from(nfd)))
                }
                Err(e) => Step::Done(Err(e)),
            },
            Wait::Connect(fd) => match self.stack.connect_result(*fd) {
                Ok(None) => Step::Block(wait.clone()),
                Ok(Some(Ok(()))) => Step::Done(Ok(0)),
                Ok(Some(Err(e))) => Step::Done(Err(e.into())),
                Err(e) => Step::Done(Err(e)),
            },
            Wait::Read(fd, n) => match self.stack.read(*fd, *n) {
                Err(SockError::Errno(Errno::EAGAIN)) if blocking(&self.stack, *fd) => {
                    Step::Block(wait.clone())
                }
                r => Step::Done(r.map(|d| d.len() as i64)),
            },
            Wait::Write { fd, left, done } => {
                // Bounded: no send buffer takes more than this at once.
                let chunk = vec![0u8; (*left).min(16 << 20)];
                match self.stack.write(*fd, &chunk) {
                    Ok(n) if n < *left && blocking(&self.stack, *fd) => Step::Block(Wait::Write {
                        fd: *fd,
                        left: left - n,
                        done: done + n,
                    }),
                    Ok(n) => Step::Done(Ok((done + n) as i64)),
                    Err(SockError::Errno(Errno::EAGAIN)) if blocking(&self.stack, *fd) => {
                        Step::Block(wait.clone())
                    }
                    // A blocking write that had written some reports that much.
                    Err(_) if *done > 0 => Step::Done(Ok(*done as i64)),
                    Err(e) => Step::Done(Err(e)),
                }
            }
            Wait::Poll { items, deadline } => {
                let always = POLLERR | POLLHUP | POLLNVAL;
                let got: Vec<i16> = items
                    .iter()
                    .map(|it| self.stack.poll_events(it.fd) & (it.events | always))
                    .collect();
                let ready = got.iter().filter(|r| **r != 0).count();
                if ready == 0 && self.now < *deadline {
                    Step::Block(wait.clone())
                } else {
                    for (it, g) in items.iter().zip(&got) {
                        if let Some(want) = it.revents {
                            if want != *g {
                                return Err(format!(
                                    "fd {} revents {}, expected {}",
                                    it.fd,
                                    show_poll(*g),
                                    show_poll(want)
                                ));
                            }
                        }
                    }
                    Step::Done(Ok(ready as i64))
                }
            }
        })
    }
}

/// A buffer argument written as a null pointer.
fn is_null(e: Option<&Expr>) -> bool {
    matches!(e, Some(Expr::Word(w)) if w == "NULL")
}

/// What in a TCP packet line synack cannot take part in, if anything.
fn packet_feature(p: &Packet) -> Option<String> {
    if let Some(m) = &p.mutation {
        return Some(format!("packetdrill's packet fuzzing {{ {m} }}"));
    }
    if let Options::List(list) = &p.options {
        for o in list {
            if let TcpOpt::Unsupported(text) = o {
                let what = match text.split_whitespace().next().unwrap_or("") {
                    "FO" | "FOEXP" => "the TCP Fast Open option (RFC 7413)",
                    "md5" => "the TCP MD5 signature option (RFC 2385)",
                    _ => "the AccECN option",
                };
                return Some(format!("{what}: <{text}>"));
            }
        }
    }
    if p.flags.ae {
        return Some("AccECN (the AE flag)".into());
    }
    if p.direction == Direction::Outbound {
        if p.flags.ece || p.flags.cwr {
            return Some(format!(
                "ECN (RFC 3168): the script expects synack to send the {} flags",
                p.flags
            ));
        }
        if let Some(ecn) = p.ip_ecn.as_deref().filter(|e| *e != "noecn") {
            return Some(format!(
                "ECN (RFC 3168): the script expects an ECN-capable packet [{ecn}]"
            ));
        }
    }
    None
}

fn show_script_packet(p: &Packet) -> String {
    let mut s = format!(
        "{} {} {}:{}({})",
        if p.direction == Direction::Inbound {
            "<"
        } else {
            ">"
        },
        p.flags,
        p.seq,
        p.seq.wrapping_add(p.len),
        p.len
    );
    if let Some(a) = p.ack {
        let _ = write!(s, " ack {a}");
    }
    if let Some(w) = p.win {
        let _ = write!(s, " win {w}");
    }
    match &p.options {
        Options::Any => s.push_str(" <...>"),
        Options::List(l) if l.is_empty() => {}
        Options::List(l) => {
            let o: Vec<String> = l.iter().map(|o| o.to_string()).collect();
            let _ = write!(s, " <{}>", o.join(","));
        }
    }
    s
}
