//! A small packetdrill: runs a script through the library's C interface the way packetdrill
//! does in `--so_filename` mode, following its source (run.c, run_packet.c,
//! run_system_call.c, socket.h, socket.c, so_testing.c), so the suite can be checked against
//! the library without a packetdrill binary (none is packaged for CI).
//!
//! What it shares with packetdrill, and what synack's own runner does differently:
//! - It holds a kernel socket of its own, listening on an ephemeral loopback port, from
//!   before the first call to the end, and takes the remote port of a passive flow from a
//!   socket bound to port 0, as `packets_new`/`next_ephemeral_port` do.
//! - One socket under test: `socket()` makes it; an inbound packet while it listens (or
//!   before any socket) makes a child flow with a fresh remote port; every other packet
//!   belongs to it, and sniffed packets of any other 4-tuple are dropped.
//! - Sequence numbers as `socket.h` maps them; inbound TS ecr only through the TSvals the
//!   script saw (or `--tcp_ts_ecr_scaled`).
//! - Time from the library's `gettimeofday`; `usleep` to 20 µs before an event, then spinning;
//!   a packet's time checked against its script time with `--tolerance_usecs` (4000) or
//!   12.5 % of the gap to the previous event, whichever is larger.
//! - Calls without `...` run on this thread; calls with `...` on a second thread, and this
//!   one goes on once that thread sleeps (read from `/proc/self/task/TID/stat`).
//! - `%{ }%` lines: the real `getsockopt(TCP_INFO)` on the descriptor, which on the library's
//!   descriptors fails with `ENOTSOCK` (packetdrill stops there); the driver checks that and
//!   goes on, as the run of the suite left those lines out.
//! - Shell lines are not run (packetdrill runs them on the host, where they change nothing
//!   synack sees); the sysctls in them become `--so_flags`, as a packetdrill user passes them.
//! - At the end: the real `close()` of every descriptor the script still holds, an RST
//!   injected for every connection, then `free`.

use std::collections::HashMap;
use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant as RealInstant};

/// `PD_DEBUG=1` prints each event's times and each sniffed packet.
fn debug() -> bool {
    std::env::var_os("PD_DEBUG").is_some()
}

use libc::{c_int, c_void, socklen_t};
use synack_packetdrill::{PacketdrillInterface, packetdrill_interface_init};
use synack_script::ast::{Action, Direction, Event, Expr, Options, Packet, Syscall, TcpOpt};
use synack_script::ast::{Time, When};
use synack_script::packet::{self, Segment};
use synack_script::symbols::{eval_int, opt_value};
use synack_script::{Errno, OptValue};

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 33, 7);
const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const BIND_PORT: u16 = 8080;
const CONNECT_PORT: u16 = 8080;
const MAX_SPIN_USECS: i64 = 20;

/// The interface table, shared with the syscall thread (leaked: a few hundred bytes a
/// script).
#[derive(Clone, Copy)]
struct Ifc(&'static PacketdrillInterface);
// SAFETY: the library is built to be called from packetdrill's two threads at once.
unsafe impl Send for Ifc {}
unsafe impl Sync for Ifc {}

impl Ifc {
    fn ud(&self) -> *mut c_void {
        self.0.userdata
    }

    fn now(&self) -> i64 {
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        let r = unsafe { (self.0.gettimeofday.unwrap())(self.ud(), &mut tv, std::ptr::null_mut()) };
        assert_eq!(r, 0, "gettimeofday failed");
        tv.tv_sec * 1_000_000 + tv.tv_usec
    }
}

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    New,
    Listening,
    PassivePacketReceived,
    PassiveSynackSent,
    PassiveSynackAcked,
    ActiveConnecting,
    ActiveSynSent,
    ActiveSynAcked,
}

/// packetdrill's `struct socket`, the parts a TCP script uses.
#[derive(Debug)]
struct Sock {
    script_fd: i32,
    live_fd: i32,
    closed: bool,
    state: St,
    live_local: Option<SocketAddr>,
    live_remote: Option<SocketAddr>,
    script_local_isn: u32,
    live_local_isn: u32,
    live_remote_isn: u32,
    ts_map: HashMap<u32, u32>,
    first_ts: Option<(u32, u32)>,
    last_injected: Option<Segment>,
    last_outbound: Option<Segment>,
}

impl Sock {
    fn new(script_fd: i32, live_fd: i32, state: St) -> Sock {
        Sock {
            script_fd,
            live_fd,
            closed: false,
            state,
            live_local: None,
            live_remote: None,
            script_local_isn: 0,
            live_local_isn: 0,
            live_remote_isn: 0,
            ts_map: HashMap::new(),
            first_ts: None,
            last_injected: None,
            last_outbound: None,
        }
    }

    fn local_off(&self, syn: bool) -> u32 {
        if syn {
            self.live_local_isn.wrapping_sub(self.script_local_isn)
        } else {
            self.live_local_isn
        }
    }

    fn remote_off(&self, syn: bool) -> u32 {
        if syn { 0 } else { self.live_remote_isn }
    }
}

struct Pending {
    rx: mpsc::Receiver<Result<(), String>>,
    tid: std::sync::Arc<std::sync::atomic::AtomicI32>,
}

struct Run {
    ifc: Ifc,
    socks: Vec<Sock>,
    sut: Option<usize>,
    /// Real kernel sockets that reserve ephemeral ports; the first is opened before init.
    own: Vec<c_int>,
    next_port: Option<u16>,
    live_start: i64,
    last_time: Option<i64>,
    last_inbound: bool,
    events_run: usize,
    tolerance: i64,
    ts_ecr_scaled: bool,
    pending: Option<Pending>,
    pub code_lines: usize,
}

/// How a script ended under the driver.
#[derive(Debug)]
pub struct Outcome {
    pub error: Option<String>,
    /// `%{ }%` lines met (checked to fail harmlessly, then left out).
    pub code_lines: usize,
}

/// A real TCP socket listening on an ephemeral loopback port (packetdrill's
/// `wrap_bind_listen(fd, ..., 0)`), and that port.
fn ephemeral_listener() -> (c_int, u16) {
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
        assert!(fd >= 0, "socket: {}", errno());
        let mut a: libc::sockaddr_in = std::mem::zeroed();
        a.sin_family = libc::AF_INET as libc::sa_family_t;
        a.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as socklen_t;
        assert_eq!(libc::bind(fd, (&raw const a).cast(), len), 0, "bind");
        assert_eq!(libc::listen(fd, 1), 0, "listen");
        let mut l = len;
        libc::getsockname(fd, (&raw mut a).cast(), &mut l);
        (fd, u16::from_be(a.sin_port))
    }
}

fn still_listening(fd: c_int) -> bool {
    let mut v: c_int = 0;
    let mut l = 4 as socklen_t;
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ACCEPTCONN,
            (&raw mut v).cast(),
            &mut l,
        )
    };
    r == 0 && v == 1
}

fn sockaddr(a: SocketAddr) -> (libc::sockaddr_in, socklen_t) {
    let mut s: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    s.sin_family = libc::AF_INET as libc::sa_family_t;
    s.sin_port = a.port().to_be();
    if let IpAddr::V4(ip) = a.ip() {
        s.sin_addr.s_addr = u32::from(ip).to_be();
    }
    (s, std::mem::size_of::<libc::sockaddr_in>() as socklen_t)
}

/// The `--so_flags` a packetdrill user passes for a script: the sysctls its shell lines set.
pub fn so_flags(events: &[Event]) -> String {
    let mut items = Vec::new();
    for e in events {
        if let Action::Shell(line) = &e.action {
            for (name, value) in synack_script::shell::sysctl_settings(line) {
                let bare = name.strip_prefix("net.ipv4.").unwrap_or(&name).to_string();
                // Only knobs synack has: packetdrill would run the rest on the host, to no
                // effect on synack.
                let mut probe = synack_script::Stack::new(Default::default());
                let value = value.split_whitespace().collect::<Vec<_>>().join(":");
                if synack_script::knobs::apply(
                    &mut probe,
                    synack_script::knobs::Origin::Flags,
                    &bare,
                    &value,
                )
                .is_ok()
                {
                    items.push(format!("{bare}={value}"));
                }
            }
        }
    }
    items.join(",")
}

/// Runs one script's events through a fresh library instance.
pub fn run(script: &synack_script::ast::Script) -> Outcome {
    let (first_own, port) = ephemeral_listener();
    let flags = CString::new(so_flags(&script.events)).unwrap();
    if debug() {
        eprintln!("so_flags: {flags:?}");
    }
    let mut table = std::mem::MaybeUninit::<PacketdrillInterface>::zeroed();
    unsafe { packetdrill_interface_init(flags.as_ptr(), table.as_mut_ptr()) };
    let ifc = Ifc(Box::leak(Box::new(unsafe { table.assume_init() })));
    let mut tolerance = 4000;
    let mut ts_ecr_scaled = false;
    let mut error = None;
    for (name, value, _) in &script.options {
        match name.as_str() {
            "tolerance_usecs" => tolerance = value.parse().unwrap_or(4000),
            "tcp_ts_ecr_scaled" => ts_ecr_scaled = true,
            other => error = Some(format!("option --{other} is not packetdrill's")),
        }
    }
    let mut r = Run {
        ifc,
        socks: Vec::new(),
        sut: None,
        own: vec![first_own],
        next_port: Some(port),
        live_start: 0,
        last_time: None,
        last_inbound: false,
        events_run: 0,
        tolerance,
        ts_ecr_scaled,
        pending: None,
        code_lines: 0,
    };
    r.live_start = r.ifc.now();
    if error.is_none() {
        for e in &script.events {
            if let Err(why) = r.event(e) {
                error = Some(format!("{}: {why}", e.pos));
                break;
            }
        }
    }
    if error.is_none() {
        error = r.await_idle().err();
    }
    let end = r.teardown();
    Outcome {
        error: error.or(end.err()),
        code_lines: r.code_lines,
    }
}

impl Run {
    fn script_time(&mut self, t: Time, inbound: bool) -> i64 {
        match t {
            Time::Absolute(t) => t,
            Time::Relative(d) => self.offset(inbound) + d,
        }
    }

    /// packetdrill's `adjust_relative_event_times`: consecutive inbound packets count from the
    /// previous one's script time, everything else from now.
    fn offset(&self, inbound: bool) -> i64 {
        match self.last_time {
            Some(t) if inbound && self.last_inbound => t,
            _ => self.ifc.now() - self.live_start,
        }
    }

    fn verify_time(
        &self,
        expected: i64,
        end: Option<i64>,
        live: i64,
        what: &str,
    ) -> Result<(), String> {
        let actual = live - self.live_start;
        let mut tol = self.tolerance;
        if let Some(last) = self.last_time {
            tol = tol.max((expected - last) / 8);
        }
        let hi = end.unwrap_or(expected);
        if actual < expected - tol || actual > hi + tol {
            return Err(format!(
                "timing error: expected {what} at {:.6}{} but happened at {:.6} (tolerance {tol} us)",
                expected as f64 / 1e6,
                end.map_or(String::new(), |e| format!("~{:.6}", e as f64 / 1e6)),
                actual as f64 / 1e6
            ));
        }
        Ok(())
    }

    /// packetdrill's `wait_for_event`.
    fn wait_for(&mut self, t: i64, what: &str) -> Result<(), String> {
        let target = self.live_start + t;
        loop {
            let wait = target - self.ifc.now();
            if wait <= 0 {
                break;
            }
            if self.events_run > 0 && wait > MAX_SPIN_USECS {
                unsafe {
                    (self.ifc.0.usleep.unwrap())(self.ifc.ud(), (wait - MAX_SPIN_USECS) as u32)
                };
            }
        }
        if self.events_run > 0 {
            let now = self.ifc.now();
            self.verify_time(t, None, now, what)?;
        }
        Ok(())
    }

    fn event(&mut self, e: &Event) -> Result<(), String> {
        let inbound = matches!(&e.action, Action::Packet(p) if p.direction == Direction::Inbound);
        let (start, end) = match e.when {
            When::At(t) => (Some(self.script_time(t, inbound)), None),
            When::Any => (None, None),
            When::Window(a, b) => {
                let off = self.offset(inbound);
                let f = |t: Time| match t {
                    Time::Absolute(t) => t,
                    Time::Relative(d) => off + d,
                };
                (Some(f(a)), Some(f(b)))
            }
            When::Blocking(a, b) => {
                let off = self.offset(false);
                let s = match a {
                    Time::Absolute(t) => t,
                    Time::Relative(d) => off + d,
                };
                let e = match (a, b) {
                    (Time::Relative(_), Time::Absolute(x) | Time::Relative(x)) => off + x,
                    (_, Time::Absolute(x)) => x,
                    (_, Time::Relative(x)) => off + x,
                };
                (Some(s), Some(e))
            }
        };
        if debug() {
            eprintln!(
                "{}: start {start:?} end {end:?} now {}",
                e.pos,
                self.ifc.now() - self.live_start
            );
        }
        if self.events_run == 0 && start != Some(0) {
            return Err("first event should be at time 0".into());
        }
        match &e.action {
            Action::Packet(p) if p.direction == Direction::Inbound => {
                let t = start.ok_or("an inbound packet needs a time")?;
                self.wait_for(t, "inbound packet")?;
                self.inbound(p)?;
            }
            Action::Packet(p) => self.outbound(p, start, end, e.when == When::Any)?,
            Action::Syscall(c) => {
                let t = start.ok_or("a call needs a time")?;
                self.wait_for(t, "system call start")?;
                if let When::Blocking(..) = e.when {
                    self.blocking(c, end.unwrap_or(t))?;
                } else {
                    self.call(c)?;
                }
            }
            Action::Code(_) => {
                let t = start.ok_or("code needs a time")?;
                self.wait_for(t, "data collection for code")?;
                self.code()?;
            }
            Action::Shell(_) => {
                let t = start.ok_or("a command needs a time")?;
                self.wait_for(t, "command")?;
            }
            Action::Unsupported { feature, .. } => {
                return Err(format!("not driven here: {feature}"));
            }
        }
        if let Some(t) = start {
            self.last_time = Some(t);
        }
        self.last_inbound = inbound;
        self.events_run += 1;
        Ok(())
    }

    // ------------------------------------------------------------------ packets

    fn new_ephemeral_port(&mut self) -> u16 {
        if let Some(p) = self.next_port.take() {
            return p;
        }
        let (fd, port) = ephemeral_listener();
        self.own.push(fd);
        port
    }

    /// `find_or_create_socket_for_script_packet` for an inbound TCP packet.
    fn socket_for_inbound(&mut self, p: &Packet) -> Result<usize, String> {
        let listening = match self.sut {
            None => true,
            Some(i) => self.socks[i].state == St::Listening,
        };
        if listening {
            let mut s = Sock::new(-1, -1, St::PassivePacketReceived);
            s.live_remote = Some(SocketAddr::new(REMOTE.into(), self.new_ephemeral_port()));
            s.live_local = Some(SocketAddr::new(LOCAL.into(), BIND_PORT));
            s.live_remote_isn = p.seq;
            self.socks.push(s);
            self.sut = Some(self.socks.len() - 1);
        }
        self.sut
            .ok_or_else(|| "no matching socket for script packet".into())
    }

    fn inbound(&mut self, p: &Packet) -> Result<(), String> {
        if p.remote_port.is_some() {
            return Err("a port pair names a flow packetdrill does not follow".into());
        }
        let i = self.socket_for_inbound(p)?;
        let s = &mut self.socks[i];
        if s.state == St::PassiveSynackSent && p.flags.ack {
            s.state = St::PassiveSynackAcked;
        } else if s.state == St::ActiveSynSent && p.flags.syn && p.flags.ack {
            s.state = St::ActiveSynAcked;
            s.live_remote_isn = p.seq;
        }
        let (Some(local), Some(remote)) = (s.live_local, s.live_remote) else {
            return Err("the socket under test has no addresses yet".into());
        };
        let syn = p.flags.syn;
        let ack_off = s.local_off(syn);
        let Options::List(list) = &p.options else {
            return Err("<...> for TCP options can only be used with outbound packets".into());
        };
        let mut options = Vec::new();
        for o in list {
            options.push(match o {
                TcpOpt::Sack(b) => TcpOpt::Sack(
                    b.iter()
                        .map(|(l, r)| (l.wrapping_add(ack_off), r.wrapping_add(ack_off)))
                        .collect(),
                ),
                TcpOpt::Timestamp { val, ecr } if p.flags.ack => {
                    let live = match (s.ts_map.get(ecr), s.first_ts) {
                        (Some(v), _) => *v,
                        (None, Some((sv, av))) if self.ts_ecr_scaled => {
                            ecr.wrapping_sub(sv).wrapping_add(av)
                        }
                        _ => {
                            return Err(format!(
                                "unable to infer live TS ecr for script TS ecr {ecr}; no \
                                 matching or preceding outbound TS val"
                            ));
                        }
                    };
                    TcpOpt::Timestamp {
                        val: *val,
                        ecr: live,
                    }
                }
                TcpOpt::Unsupported(t) => return Err(format!("option {t}")),
                other => other.clone(),
            });
        }
        let seg = Segment {
            src: remote,
            dst: local,
            flags: p.flags,
            seq: p.seq.wrapping_add(s.remote_off(syn)),
            ack: p.ack.unwrap_or(0).wrapping_add(ack_off),
            win: p.win.unwrap_or(0) as u16,
            options,
            payload_len: p.len,
        };
        let bytes = packet::build(&seg, &vec![0u8; p.len as usize])?;
        s.last_injected = Some(seg);
        self.send(&bytes)
    }

    fn send(&self, bytes: &[u8]) -> Result<(), String> {
        let r = unsafe {
            (self.ifc.0.netdev_send.unwrap())(self.ifc.ud(), bytes.as_ptr().cast(), bytes.len())
        };
        if r != 0 {
            return Err(format!("netdev_send: errno {}", errno()));
        }
        Ok(())
    }

    /// `so_netdev_receive`: asks until the library returns a packet.
    fn receive(&self) -> Result<(i64, Segment), String> {
        let mut buf = vec![0u8; 65536];
        for _ in 0..1_000_000 {
            let mut n = buf.len();
            let mut at: libc::c_longlong = 0;
            let r = unsafe {
                (self.ifc.0.netdev_receive.unwrap())(
                    self.ifc.ud(),
                    buf.as_mut_ptr().cast(),
                    &mut n,
                    &mut at,
                )
            };
            if r != 0 {
                continue;
            }
            if n == 0 {
                return Err("the library reports it will never send another packet".into());
            }
            let seg =
                packet::read(&buf[..n]).ok_or("the library sent a packet that is not TCP/IPv4")?;
            return Ok((at, seg));
        }
        Err("netdev_receive kept failing".into())
    }

    fn outbound(
        &mut self,
        p: &Packet,
        start: Option<i64>,
        end: Option<i64>,
        any: bool,
    ) -> Result<(), String> {
        if p.remote_port.is_some() {
            return Err("a port pair names a flow packetdrill does not follow".into());
        }
        let i = match self.sut {
            Some(i) => i,
            None => return Err("no matching socket for script packet".into()),
        };
        if self.socks[i].state == St::ActiveConnecting && p.flags.syn && !p.flags.ack {
            self.socks[i].state = St::ActiveSynSent;
            self.socks[i].script_local_isn = p.seq;
        }
        if self.socks[i].state == St::PassivePacketReceived && p.flags.syn && p.flags.ack {
            self.socks[i].script_local_isn = p.seq;
        }
        // Sniff until a packet of the socket under test.
        let (at, seg) = loop {
            let (at, seg) = self.receive()?;
            let s = &mut self.socks[i];
            if s.live_local == Some(seg.src) && s.live_remote == Some(seg.dst) {
                break (at, seg);
            }
            if s.state == St::ActiveSynSent
                && seg.flags.syn
                && !seg.flags.ack
                && s.live_remote == Some(seg.dst)
            {
                s.live_local = Some(seg.src);
                s.live_local_isn = seg.seq;
                break (at, seg);
            }
        };
        if debug() {
            eprintln!(
                "  sniffed at {}: {:?} seq {} len {}",
                at - self.live_start,
                seg.flags,
                seg.seq,
                seg.payload_len
            );
        }
        let s = &mut self.socks[i];
        if s.state == St::PassivePacketReceived && p.flags.syn && p.flags.ack {
            s.state = St::PassiveSynackSent;
            s.live_local_isn = seg.seq;
        }
        s.last_outbound = Some(seg.clone());
        let syn = seg.flags.syn;
        let seq = seg.seq.wrapping_sub(s.local_off(syn));
        let ack_off = s.remote_off(syn);
        let ack = seg.ack.wrapping_sub(ack_off);
        let mut diffs = Vec::new();
        if seg.flags.bits() != p.flags.bits() {
            diffs.push(format!("flags {} vs {}", p.flags, seg.flags));
        }
        if seq != p.seq {
            diffs.push(format!("seq {} vs {seq}", p.seq));
        }
        if seg.payload_len != p.len {
            diffs.push(format!("payload {} vs {}", p.len, seg.payload_len));
        }
        // packetdrill compares the whole field: without `ack N` it must be 0.
        let want_ack = p.ack.unwrap_or(0);
        let live_ack = if seg.flags.ack { ack } else { seg.ack };
        if live_ack != want_ack {
            diffs.push(format!("ack {want_ack} vs {live_ack}"));
        }
        if let Some(w) = p.win {
            if u32::from(seg.win) != w {
                diffs.push(format!("win {w} vs {}", seg.win));
            }
        }
        if let Options::List(want) = &p.options {
            let same_kinds = want.len() == seg.options.len()
                && want
                    .iter()
                    .zip(&seg.options)
                    .all(|(a, b)| std::mem::discriminant(a) == std::mem::discriminant(b));
            if !same_kinds {
                diffs.push("bad outbound TCP options".into());
            } else {
                for (w, a) in want.iter().zip(&seg.options) {
                    match (w, a) {
                        // TS val is not checked by default (tcp_ts_tick_usecs 0).
                        (
                            TcpOpt::Timestamp { val: sv, ecr: se },
                            TcpOpt::Timestamp { val: av, ecr: ae },
                        ) => {
                            s.ts_map.insert(*sv, *av);
                            s.first_ts.get_or_insert((*sv, *av));
                            if se != ae {
                                diffs.push(format!("TS ecr {se} vs {ae}"));
                            }
                        }
                        (TcpOpt::Sack(wb), TcpOpt::Sack(ab)) => {
                            let mapped: Vec<(u32, u32)> = ab
                                .iter()
                                .map(|(l, r)| (l.wrapping_sub(ack_off), r.wrapping_sub(ack_off)))
                                .collect();
                            if *wb != mapped {
                                diffs.push(format!("sack {wb:?} vs {mapped:?}"));
                            }
                        }
                        (w, a) if w != a => diffs.push(format!("option {w} vs {a}")),
                        _ => {}
                    }
                }
            }
        }
        if !diffs.is_empty() {
            return Err(format!(
                "outbound packet does not match: {}",
                diffs.join("; ")
            ));
        }
        if !any {
            let t = start.ok_or("an outbound packet needs a time")?;
            self.verify_time(t, end, at, "outbound packet")?;
        }
        Ok(())
    }

    // ------------------------------------------------------------------ calls

    fn sock_by_script_fd(&self, fd: i32) -> Result<usize, String> {
        // Newest first, as packetdrill's list of descriptors.
        self.socks
            .iter()
            .rposition(|s| s.script_fd == fd && s.live_fd >= 0)
            .ok_or_else(|| format!("no socket with script fd {fd}"))
    }

    fn live_fd(&self, e: &Expr) -> Result<(i32, usize), String> {
        let fd = eval_int(e)? as i32;
        let i = self.sock_by_script_fd(fd)?;
        Ok((self.socks[i].live_fd, i))
    }

    fn call(&mut self, c: &Syscall) -> Result<(), String> {
        let ifc = self.ifc;
        let ud = ifc.ud();
        let t = ifc.0;
        let arg = |k: usize| {
            c.args
                .get(k)
                .ok_or_else(|| format!("{}: too few arguments", c.name))
        };
        let result: i64 = match c.name.as_str() {
            "socket" => {
                let ty = eval_int(arg(1)?)? as c_int;
                let proto = eval_int(arg(2)?)? as c_int;
                let r = unsafe { (t.socket.unwrap())(ud, libc::AF_INET, ty, proto) };
                self.check(c, i64::from(r))?;
                if r >= 0 {
                    let script_fd = eval_int(&c.ret)? as i32;
                    self.socks.push(Sock::new(script_fd, r, St::New));
                    self.sut = Some(self.socks.len() - 1);
                }
                return Ok(());
            }
            "bind" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let (a, l) = sockaddr(SocketAddr::new(LOCAL.into(), BIND_PORT));
                i64::from(unsafe { (t.bind.unwrap())(ud, fd, (&raw const a).cast(), l) })
            }
            "listen" => {
                let (fd, i) = self.live_fd(arg(0)?)?;
                let backlog = eval_int(arg(1)?)? as c_int;
                let r = unsafe { (t.listen.unwrap())(ud, fd, backlog) };
                self.check(c, i64::from(r))?;
                self.socks[i].state = St::Listening;
                return Ok(());
            }
            "accept" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                let mut l = std::mem::size_of::<libc::sockaddr_in>() as socklen_t;
                let r = unsafe { (t.accept.unwrap())(ud, fd, (&raw mut a).cast(), &mut l) };
                self.check(c, i64::from(r))?;
                if r >= 0 {
                    let port = u16::from_be(a.sin_port);
                    let script_fd = eval_int(&c.ret)? as i32;
                    // run_syscall_accept: the newest passive socket whose SYN-ACK went out.
                    let found = self.socks.iter_mut().rev().find(|s| {
                        matches!(s.state, St::PassiveSynackSent | St::PassiveSynackAcked)
                    });
                    let s = found.ok_or("unable to find socket matching accept() call")?;
                    if s.live_remote.map(|r| r.port()) != Some(port) {
                        return Err(format!("accept() returned a connection from port {port}"));
                    }
                    s.script_fd = script_fd;
                    s.live_fd = r;
                }
                return Ok(());
            }
            "connect" => {
                let (fd, i) = self.live_fd(arg(0)?)?;
                let remote = SocketAddr::new(REMOTE.into(), CONNECT_PORT);
                if self.socks[i].state == St::New {
                    let s = &mut self.socks[i];
                    s.state = St::ActiveConnecting;
                    s.live_remote = Some(remote);
                }
                let (a, l) = sockaddr(remote);
                i64::from(unsafe { (t.connect.unwrap())(ud, fd, (&raw const a).cast(), l) })
            }
            "read" | "recv" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let n = eval_int(arg(2)?)? as usize;
                let mut buf = vec![0u8; n];
                if c.name == "read" {
                    unsafe { (t.read.unwrap())(ud, fd, buf.as_mut_ptr().cast(), n) as i64 }
                } else {
                    let flags = eval_int(arg(3)?)? as c_int;
                    unsafe { (t.recv.unwrap())(ud, fd, buf.as_mut_ptr().cast(), n, flags) as i64 }
                }
            }
            "write" | "send" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let n = eval_int(arg(2)?)? as usize;
                let buf = vec![0u8; n];
                if c.name == "write" {
                    unsafe { (t.write.unwrap())(ud, fd, buf.as_ptr().cast(), n) as i64 }
                } else {
                    let flags = eval_int(arg(3)?)? as c_int;
                    unsafe { (t.send.unwrap())(ud, fd, buf.as_ptr().cast(), n, flags) as i64 }
                }
            }
            "close" => {
                let (fd, i) = self.live_fd(arg(0)?)?;
                let r = unsafe { (t.close.unwrap())(ud, fd) };
                self.check(c, i64::from(r))?;
                self.socks[i].closed = true;
                return Ok(());
            }
            "shutdown" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let how = eval_int(arg(1)?)? as c_int;
                i64::from(unsafe { (t.shutdown.unwrap())(ud, fd, how) })
            }
            "fcntl" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let cmd = eval_int(arg(1)?)? as c_int;
                let a = c.args.get(2).map(eval_int).transpose()?.unwrap_or(0) as c_int;
                i64::from(unsafe { (t.fcntl.unwrap())(ud, fd, cmd, a) })
            }
            "setsockopt" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let level = eval_int(arg(1)?)? as c_int;
                let name = eval_int(arg(2)?)? as c_int;
                let len = eval_int(arg(4)?)? as socklen_t;
                let v: [c_int; 2] = match opt_value(arg(3)?)? {
                    OptValue::Int(x) => [x as c_int, 0],
                    OptValue::Linger { onoff, linger } => [onoff, linger],
                };
                i64::from(unsafe {
                    (t.setsockopt.unwrap())(ud, fd, level, name, v.as_ptr().cast(), len)
                })
            }
            "getsockopt" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let level = eval_int(arg(1)?)? as c_int;
                let name = eval_int(arg(2)?)? as c_int;
                let mut v = [0 as c_int; 2];
                let mut len = eval_int(arg(4)?)? as socklen_t;
                let r = unsafe {
                    (t.getsockopt.unwrap())(ud, fd, level, name, v.as_mut_ptr().cast(), &mut len)
                };
                self.check(c, i64::from(r))?;
                if r == 0 {
                    let want = opt_value(arg(3)?)?;
                    let got = match want {
                        OptValue::Int(_) => OptValue::Int(i64::from(v[0])),
                        OptValue::Linger { .. } => OptValue::Linger {
                            onoff: v[0],
                            linger: v[1],
                        },
                    };
                    if got != want {
                        return Err(format!("getsockopt value: expected {want:?}, got {got:?}"));
                    }
                }
                return Ok(());
            }
            "poll" => {
                let Expr::List(items) = arg(0)? else {
                    return Err("poll: expected a list of pollfds".into());
                };
                let mut fds = Vec::new();
                let mut want = Vec::new();
                for it in items {
                    let Expr::Struct(fields) = it else {
                        return Err("poll: expected {fd=..., events=...}".into());
                    };
                    let get = |n: &str| {
                        fields
                            .iter()
                            .find(|(k, _)| k == n)
                            .map(|(_, v)| eval_int(v))
                            .transpose()
                    };
                    let fd = get("fd")?.ok_or("poll: no fd")? as i32;
                    let live = self.socks[self.sock_by_script_fd(fd)?].live_fd;
                    fds.push(libc::pollfd {
                        fd: live,
                        events: get("events")?.unwrap_or(0) as i16,
                        revents: 0,
                    });
                    want.push(get("revents")?.map(|v| v as i16));
                }
                let timeout = eval_int(arg(2)?)? as c_int;
                let r = unsafe { (t.poll.unwrap())(ud, fds.as_mut_ptr(), fds.len() as _, timeout) };
                self.check(c, i64::from(r))?;
                for (p, w) in fds.iter().zip(want) {
                    if let Some(w) = w {
                        if p.revents != w {
                            return Err(format!(
                                "poll revents: expected {w:#x}, got {:#x}",
                                p.revents
                            ));
                        }
                    }
                }
                return Ok(());
            }
            "ioctl" => {
                let (fd, _) = self.live_fd(arg(0)?)?;
                let req = eval_int(arg(1)?)? as libc::c_ulong;
                let mut v: c_int = 0;
                let r = unsafe { (t.ioctl.unwrap())(ud, fd, req, (&raw mut v).cast()) };
                self.check(c, i64::from(r))?;
                if r == 0 {
                    let want = eval_int(arg(2)?)?;
                    if i64::from(v) != want {
                        return Err(format!("ioctl value: expected {want}, got {v}"));
                    }
                }
                return Ok(());
            }
            other => return Err(format!("{other}: not driven here")),
        };
        self.check(c, result)
    }

    /// packetdrill's `end_syscall`: the result, and the errno when it is -1.
    fn check(&self, c: &Syscall, result: i64) -> Result<(), String> {
        let e = errno();
        check_result(c, result, e)
    }

    /// A call with `...`: on the syscall thread, checked when it returns.
    fn blocking(&mut self, c: &Syscall, end: i64) -> Result<(), String> {
        self.await_idle()?;
        let (fd, _) = self.live_fd(c.args.first().ok_or("no fd")?)?;
        let ifc = self.ifc;
        let c2 = c.clone();
        let live_start = self.live_start;
        let tol = self.tolerance;
        let (tx, rx) = mpsc::channel();
        let tid = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
        let tid2 = tid.clone();
        let connect_to = SocketAddr::new(REMOTE.into(), CONNECT_PORT);
        if c.name == "connect" {
            let i = self.sock_by_script_fd(eval_int(&c.args[0])? as i32)?;
            if self.socks[i].state == St::New {
                self.socks[i].state = St::ActiveConnecting;
                self.socks[i].live_remote = Some(connect_to);
            }
        }
        thread::spawn(move || {
            tid2.store(
                unsafe { libc::gettid() },
                std::sync::atomic::Ordering::SeqCst,
            );
            let ud = ifc.ud();
            let r: i64 = match c2.name.as_str() {
                "connect" => {
                    let (a, l) = sockaddr(connect_to);
                    i64::from(unsafe { (ifc.0.connect.unwrap())(ud, fd, (&raw const a).cast(), l) })
                }
                "accept" => {
                    let mut a: libc::sockaddr_in = unsafe { std::mem::zeroed() };
                    let mut l = std::mem::size_of::<libc::sockaddr_in>() as socklen_t;
                    i64::from(unsafe {
                        (ifc.0.accept.unwrap())(ud, fd, (&raw mut a).cast(), &mut l)
                    })
                }
                "read" => {
                    let n = c2
                        .args
                        .get(2)
                        .map(eval_int)
                        .transpose()
                        .ok()
                        .flatten()
                        .unwrap_or(0) as usize;
                    let mut buf = vec![0u8; n];
                    unsafe { (ifc.0.read.unwrap())(ud, fd, buf.as_mut_ptr().cast(), n) as i64 }
                }
                other => {
                    let _ = tx.send(Err(format!("{other} with ...: not driven here")));
                    return;
                }
            };
            let e = errno();
            let now = ifc.now();
            let actual = now - live_start;
            let res = check_result(&c2, r, e).and_then(|()| {
                if (actual - end).abs() > tol {
                    Err(format!(
                        "timing error: expected system call return at {:.6} but happened at {:.6}",
                        end as f64 / 1e6,
                        actual as f64 / 1e6
                    ))
                } else {
                    Ok(())
                }
            });
            let _ = tx.send(res);
        });
        // Go on once the thread sleeps in the call, or it returned.
        let give_up = RealInstant::now() + Duration::from_secs(10);
        loop {
            if let Ok(r) = rx.try_recv() {
                return r;
            }
            let t = tid.load(std::sync::atomic::Ordering::SeqCst);
            if t != 0 && thread_sleeping(t) {
                break;
            }
            if RealInstant::now() > give_up {
                return Err("the syscall thread neither blocked nor returned".into());
            }
            thread::yield_now();
        }
        self.pending = Some(Pending { rx, tid });
        Ok(())
    }

    /// Waits (real time, bounded) for a blocking call to finish, and takes its verdict.
    fn await_idle(&mut self) -> Result<(), String> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        let _ = p.tid;
        p.rx.recv_timeout(Duration::from_secs(10))
            .map_err(|_| "a blocking system call is still in progress".to_string())?
    }

    /// A `%{ }%` line: packetdrill's `get_data` is the real getsockopt on the live fd.
    fn code(&mut self) -> Result<(), String> {
        let i = self.sut.ok_or("no socket to use for code")?;
        let fd = self.socks[i].live_fd;
        let mut info = [0u8; 256];
        let mut len = info.len() as socklen_t;
        let r = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let e = errno();
        // A live fd of -1 (an unaccepted child) is EBADF; the library's own descriptors are
        // no sockets. Either way no other socket's state is read.
        if r == 0 || !(e == libc::ENOTSOCK || (fd < 0 && e == libc::EBADF)) {
            return Err(format!(
                "the real getsockopt(TCP_INFO) on fd {fd}: {r}, errno {e}"
            ));
        }
        self.code_lines += 1;
        Ok(())
    }

    /// packetdrill's `state_free`: the real close() of every descriptor still held, an RST per
    /// connection, `free`; then its own descriptors must still be what they were.
    fn teardown(&mut self) -> Result<(), String> {
        let mut err = None;
        for s in self.socks.iter().rev() {
            if s.live_fd >= 0 && !s.closed && unsafe { libc::close(s.live_fd) } != 0 {
                err.get_or_insert(format!("close: errno {} (fd {})", errno(), s.live_fd));
            }
            if let (Some(local), Some(remote)) = (s.live_local, s.live_remote) {
                let (seq, ack, win) = match (&s.last_injected, &s.last_outbound) {
                    (Some(i), _) if i.flags.ack => (
                        i.seq
                            .wrapping_add(u32::from(i.flags.syn) + u32::from(i.flags.fin))
                            .wrapping_add(i.payload_len),
                        i.ack,
                        i.win,
                    ),
                    (_, Some(o)) if o.flags.ack => (o.ack, o.seq, 0),
                    (_, o) => (0, o.as_ref().map_or(0, |o| o.seq.wrapping_add(1)), 0),
                };
                let rst = Segment {
                    src: remote,
                    dst: local,
                    flags: synack_script::ast::Flags {
                        rst: true,
                        ack: true,
                        ..Default::default()
                    },
                    seq,
                    ack,
                    win,
                    options: Vec::new(),
                    payload_len: 0,
                };
                if let Ok(b) = packet::build(&rst, &[]) {
                    if let Err(e) = self.send(&b) {
                        err.get_or_insert(e);
                    }
                }
            }
        }
        unsafe { (self.ifc.0.free.unwrap())(self.ifc.ud()) };
        for &fd in &self.own {
            if !still_listening(fd) {
                err.get_or_insert(format!("packetdrill's own socket fd {fd} was closed"));
            }
            unsafe { libc::close(fd) };
        }
        err.map_or(Ok(()), Err)
    }
}

fn check_result(c: &Syscall, result: i64, errno: c_int) -> Result<(), String> {
    let want = match &c.ret {
        Expr::Ellipsis => return Ok(()),
        e => eval_int(e)?,
    };
    let fd_call = matches!(c.name.as_str(), "socket" | "accept");
    if fd_call && want >= 0 {
        if result < 0 {
            return Err(format!("{} returned -1, errno {errno}", c.name));
        }
        return Ok(());
    }
    if result != want {
        return Err(format!(
            "{}: expected result {want} but got {result}{}",
            c.name,
            if result < 0 {
                format!(" (errno {errno})")
            } else {
                String::new()
            }
        ));
    }
    if want == -1 {
        if let Some(name) = &c.errno {
            let code = Errno::from_name(name)
                .map(|e| e.code())
                .ok_or(format!("errno {name}"))?;
            if code != errno {
                return Err(format!(
                    "{}: expected errno {name} ({code}), got {errno}",
                    c.name
                ));
            }
        }
    }
    Ok(())
}

fn thread_sleeping(tid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")) else {
        return false;
    };
    stat.rfind(')')
        .and_then(|k| stat.get(k + 2..k + 3))
        .is_some_and(|st| st == "S")
}
