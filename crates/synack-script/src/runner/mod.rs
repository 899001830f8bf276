//! Runs a parsed script against a synack [`Stack`] on virtual time.
//!
//! The model is packetdrill's: the script plays the remote peer (192.0.2.1, or 2001:db8::1
//! over IPv6) and the application; synack is the local stack (192.168.0.1, or
//! fd3d:fa7b:d17d::1). Inbound packets are injected at their script time; outbound packets
//! must leave synack within the tolerance of theirs; socket calls run at their time and their
//! results are checked. Time is virtual: the clock jumps from event to event and from timer
//! to timer, so a 60-second TIME-WAIT costs nothing.
//!
//! Sequence numbers as packetdrill writes them (its `socket.h`, tcpdump's relative numbers):
//! in a packet with SYN the peer's are absolute and synack's relative to the script's ISN; in
//! others both count from the flow's ISNs, learned once per flow (the peer's from the packet
//! that opened it or the SYN-ACK answering an active open, synack's from its first SYN or
//! SYN-ACK). The runner adds a fixed live offset to the peer's numbers. Timestamps: inbound
//! `val` goes out as written; inbound `ecr` must echo a TSval the script saw synack send
//! (`--tcp_ts_ecr_scaled`: or is taken relative to the first; an echo of a TSval the script
//! left unchecked with `<...>` names synack's latest; `--ts_ecr_as_written` sends the rest
//! as written); outbound `ecr` is checked exactly and outbound `val` is not checked.
//!
//! One idea per file: [`config`] reads the script's options into a [`RunConfig`] (the address
//! family among them); `clock` moves virtual time; `flow` keeps each connection's ISNs and
//! timestamp map; `inbound` and `outbound` turn script packets into datagrams and compare
//! synack's against the script; `tso` is the device's segmentation offload; `features` names
//! what synack cannot take part in; `calls` runs the socket calls (`args` reads their
//! arguments, `io` runs the data calls, `sockopt` the options, `epoll` its instances, `wait`
//! those that block); `show` prints packets the way the script writes them.

mod args;
mod calls;
mod clock;
pub mod config;
mod epoll;
mod features;
mod flow;
mod inbound;
mod io;
mod outbound;
mod show;
mod sockopt;
mod tso;
mod wait;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use synack_proto::Instant;

use crate::assert;
use crate::ast::*;
use crate::shell::{self, Applied};
use crate::socket::Stack;
use crate::socket::epoll::Epolls;

pub use config::{Failure, FailureKind, IpVersion, Report, RunConfig};
use features::packet_feature;
use flow::Flow;
use show::{fmt_stime, fmt_time};
use wait::{Pending, UNSUPPORTED_CALL};

/// Parses and runs `src`.
pub fn run_script(src: &str, config: &RunConfig) -> Report {
    match config::parse_and_configure(src, config) {
        Ok((script, config, notes)) => Runner::new(config, notes).run(&script),
        Err(failure) => Report {
            failure: Some(failure),
            notes: Vec::new(),
            events_run: 0,
            virtual_time: Duration::ZERO,
        },
    }
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
    /// The script's epoll instances, by the script's number for each.
    epolls: Epolls,
    /// A sysctl asked for Fast Open servers that take data on a SYN without a cookie
    /// (`tcp_fastopen` bits 0x200/0x400): such a SYN's data is Fast Open's, not synack's.
    tfo_without_cookie: bool,
    failure: Option<Failure>,
    notes: Vec<String>,
    /// Pos of the event being run, for failures found while time moves.
    pos: Pos,
}

/// How much larger IPv6's fixed header is than IPv4's: 40 bytes against 20.
const IPV6_HEADER_EXTRA: u16 = 20;

/// A safety net against a timer that keeps firing without progress.
const MAX_TIMER_STEPS: usize = 1_000_000;

impl Runner {
    fn new(cfg: RunConfig, notes: Vec<String>) -> Runner {
        let mut host = cfg.host.clone();
        host.local_addrs = vec![cfg.local_addr()];
        // packetdrill's scripts are written once for every address family and expect one MSS
        // from each (1460 on IPv4's 1500-byte link); an IPv6 run's link is 20 bytes larger, for
        // IPv6's larger header (RFC 8200 §3), so that the MSS comes out the same.
        if cfg.ip_version == IpVersion::V6 {
            host.tcp.mtu = host.tcp.mtu.saturating_add(IPV6_HEADER_EXTRA);
        }
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
            epolls: Epolls::new(),
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

    /// One line of the script: an outbound packet is waited for; anything else happens at its
    /// time, after the timers due before it.
    fn event(&mut self, ev: &Event) {
        if let Action::Unsupported { feature, text } = &ev.action {
            return self.unsupported(ev.pos, format!("{feature} ({text})"));
        }
        if let Action::Packet(p) = &ev.action {
            if let Some(feature) = packet_feature(p) {
                return self.unsupported(ev.pos, feature);
            }
            if p.direction == Direction::Outbound {
                return self.outbound_event(ev, p);
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
            Action::Shell(cmd) => self.shell(ev.pos, cmd),
        }
        self.settle();
    }

    /// A backquoted command: the sysctls it sets are applied, the rest is noted.
    fn shell(&mut self, pos: Pos, cmd: &str) {
        if let Some(on) = offload_switch(cmd) {
            self.cfg.merge_tso = on;
            let state = if on { "on" } else { "off" };
            self.notes
                .push(format!("{pos}: device segmentation offload {state}"));
        }
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
                Applied::Set(s) => self.notes.push(format!("{pos}: set {s}")),
                Applied::Skipped(s) => self.notes.push(format!("{pos}: skipped: {s}")),
            }
        }
    }

    /// An outbound packet's time: a point, a window, or any time.
    fn outbound_event(&mut self, ev: &Event, p: &Packet) {
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
        self.outbound(ev.pos, p, start, end)
    }

    /// `%{ assert ... }%` on the socket under test.
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
}

/// `ethtool -K <dev> tso off gso off` and the like: the device's segmentation offload
/// switched on or off (off when either is off).
fn offload_switch(cmd: &str) -> Option<bool> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let mut found = None;
    for (k, w) in words.iter().enumerate() {
        if !(w.ends_with("ethtool") && matches!(words.get(k + 1), Some(&"-K" | &"--features"))) {
            continue;
        }
        for pair in words[k + 2..].windows(2) {
            if matches!(pair[0], "tso" | "gso") {
                let on = pair[1] == "on";
                found = Some(found.unwrap_or(true) && on);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::offload_switch;

    #[test]
    fn ethtool_lines_switch_the_offload() {
        assert_eq!(
            offload_switch("ethtool -K tun0 tso off gso off"),
            Some(false)
        );
        assert_eq!(offload_switch("/sbin/ethtool -K tun0 gso off"), Some(false));
        assert_eq!(offload_switch("ethtool -K tun0 tso on gso on"), Some(true));
        assert_eq!(
            offload_switch("ethtool -K tun0 tso on gso off"),
            Some(false)
        );
        assert_eq!(offload_switch("ethtool -K tun0 gro off"), None);
        assert_eq!(offload_switch("sysctl -q net.ipv4.tcp_sack=0"), None);
        assert_eq!(offload_switch("ethtool -k tun0"), None);
    }
}
