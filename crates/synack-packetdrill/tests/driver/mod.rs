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
//!   script saw (or `--tcp_ts_ecr_scaled`). Outbound packets compared field by field as
//!   `verify_tcp` does (the ack field even without the ACK flag; the window only when the
//!   script gives one), options kind by kind (a timestamp's val and ecr not at all, as
//!   packetdrill by default). Payload bytes are not compared: like packetdrill's, every
//!   buffer written is zeros.
//! - Time from the library's `gettimeofday`; `usleep` to 20 µs before an event, then spinning;
//!   a packet's time checked against its script time with `--tolerance_usecs` (4000) or
//!   12.5 % of the gap to the previous event, whichever is larger.
//! - `--ip_version=ipv4` or `ipv6`: the sockets' family and the packets' IP version. An
//!   inbound packet's IP header carries the script's TOS or traffic class (with its ECN
//!   codepoint), TTL or hop limit and flow label; an outbound one's are checked where the
//!   script names them.
//! - Calls without `...` run on this thread; calls with `...` on a second thread, and this
//!   one goes on once that thread sleeps (read from `/proc/self/task/TID/stat`). A descriptor
//!   number the script does not hold reaches the library as -1, which answers `EBADF`.
//! - `%{ }%` lines: the real `getsockopt(TCP_INFO)` on the descriptor, which on the library's
//!   descriptors fails with `ENOTSOCK` (packetdrill stops there); the driver checks that and
//!   goes on, as the run of the suite left those lines out.
//! - Shell lines are not run (packetdrill runs them on the host, where they change nothing
//!   synack sees); the sysctls in them become `--so_flags`, as a packetdrill user passes them.
//! - At the end: the real `close()` of every descriptor the script still holds, an RST
//!   injected for every connection, then `free`.

mod calls;
mod packets;

use std::collections::HashMap;
use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::mpsc;

use libc::{c_int, c_void, socklen_t};
use synack_packetdrill::{PacketdrillInterface, packetdrill_interface_init};
use synack_script::ast::{Action, Direction, Event, Time, When};
use synack_script::packet::{self, Segment};

/// `PD_DEBUG=1` prints each event's times and each sniffed packet.
fn debug() -> bool {
    std::env::var_os("PD_DEBUG").is_some()
}

const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 168, 33, 7);
const REMOTE: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// packetdrill's IPv6 defaults are of the same ranges: a local address in fd3d:fa7b:d17d::/48
/// and a remote one in the documentation prefix.
const LOCAL6: Ipv6Addr = Ipv6Addr::new(0xfd3d, 0xfa7b, 0xd17d, 0, 0, 0, 0, 7);
const REMOTE6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const BIND_PORT: u16 = 8080;
const CONNECT_PORT: u16 = 8080;
const MAX_SPIN_USECS: i64 = 20;
/// The MTU of packetdrill's tun device, which the kernel's MSS comes from; the library is
/// told it (`mtu=`), as a packetdrill user tells it the device's. packetdrill's IPv6 scripts
/// expect the same MSS of 1460, so a user passes 20 bytes more for them (see the README).
const DEVICE_MTU: u16 = 1500;
const DEVICE_MTU_V6: u16 = 1520;

/// The interface table, shared with the syscall thread (leaked: a few hundred bytes a
/// script).
#[derive(Clone, Copy)]
struct Ifc(&'static PacketdrillInterface);
// SAFETY: the library is built to be called from packetdrill's two threads at once.
unsafe impl Send for Ifc {}
// SAFETY: as for `Send`: the table is read-only and the library locks its own state.
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
        // SAFETY: the library's own hook on its own userdata; `tv` is a live timeval; a null
        // timezone is allowed.
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
    /// `--ip_version=ipv6`: AF_INET6 sockets and IPv6 packets.
    v6: bool,
    local: IpAddr,
    remote: IpAddr,
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
    // SAFETY: plain socket calls on a socket this function opens; `a` is a live sockaddr_in
    // (all-zero bytes are a valid one) and `l` its size.
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
    // SAFETY: `v` is a live int and `l` its size.
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

/// The `--so_flags` a packetdrill user passes for a script: the device's MTU and the sysctls
/// its shell lines set.
pub fn so_flags(events: &[Event], v6: bool) -> String {
    let mtu = if v6 { DEVICE_MTU_V6 } else { DEVICE_MTU };
    let mut items = vec![format!("mtu={mtu}")];
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
    let v6 = script
        .options
        .iter()
        .any(|(name, value, _)| name == "ip_version" && value == "ipv6");
    let flags = CString::new(so_flags(&script.events, v6)).unwrap();
    if debug() {
        eprintln!("so_flags: {flags:?}");
    }
    let mut table = std::mem::MaybeUninit::<PacketdrillInterface>::zeroed();
    // SAFETY: `flags` is a NUL-terminated string and `table` writable memory for one table.
    unsafe { packetdrill_interface_init(flags.as_ptr(), table.as_mut_ptr()) };
    // SAFETY: init wrote every field (function pointers and userdata; zeroes are valid too).
    let ifc = Ifc(Box::leak(Box::new(unsafe { table.assume_init() })));
    let mut tolerance = 4000;
    let mut ts_ecr_scaled = false;
    let mut error = None;
    for (name, value, _) in &script.options {
        match name.as_str() {
            "tolerance_usecs" => tolerance = value.parse().unwrap_or(4000),
            "tcp_ts_ecr_scaled" => ts_ecr_scaled = true,
            "ip_version" if value == "ipv4" || value == "ipv6" => {}
            "ip_version" => {
                error = Some(format!(
                    "--ip_version={value}: this driver speaks IPv4 and IPv6, not mapped \
                     addresses"
                ))
            }
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
        v6,
        local: if v6 { LOCAL6.into() } else { LOCAL.into() },
        remote: if v6 { REMOTE6.into() } else { REMOTE.into() },
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
                // SAFETY: the library's own hook on its own userdata; usleep takes no pointers.
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

    /// A `%{ }%` line: packetdrill's `get_data` is the real getsockopt on the live fd.
    fn code(&mut self) -> Result<(), String> {
        let i = self.sut.ok_or("no socket to use for code")?;
        let fd = self.socks[i].live_fd;
        let mut info = [0u8; 256];
        let mut len = info.len() as socklen_t;
        // SAFETY: `info` has `len` writable bytes and `len` is a live local.
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
            // SAFETY: closes a descriptor the library handed out and the script has not closed.
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
                    urg: 0,
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
        // SAFETY: frees the library's userdata once, at the end; nothing uses it after.
        unsafe { (self.ifc.0.free.unwrap())(self.ifc.ud()) };
        for &fd in &self.own {
            if !still_listening(fd) {
                err.get_or_insert(format!("packetdrill's own socket fd {fd} was closed"));
            }
            // SAFETY: closes a listening socket this driver opened, once.
            unsafe { libc::close(fd) };
        }
        err.map_or(Ok(()), Err)
    }
}
