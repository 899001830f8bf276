//! Test drivers for one connection (exact segments in, exact segments out) and for two
//! connections talking over an in-memory wire, all on virtual time.
#![allow(dead_code)]

pub mod host;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::Duration;

use synack_proto::{Config, Connection, Event, Instant, StateName, Transition};
use synack_wire::{TcpFlags, TcpOptions, TcpRepr, Timestamps};

thread_local! {
    /// Every transition any driver on this thread saw, for the coverage test.
    pub static SEEN: RefCell<BTreeSet<Transition>> = const { RefCell::new(BTreeSet::new()) };
}

fn record(ev: &Event) {
    if let Event::StateChanged { from, to, cause } = *ev {
        SEEN.with(|s| {
            s.borrow_mut().insert(Transition { from, to, cause });
        });
    }
}

/// An owned segment: what tests build and what they compare.
#[derive(Clone, PartialEq, Eq)]
pub struct Seg {
    pub src_port: u16,
    pub dst_port: u16,
    pub flags: TcpFlags,
    pub seq: u32,
    pub ack: u32,
    pub win: u16,
    /// The urgent pointer field (meaningful with URG).
    pub urgent_ptr: u16,
    pub options: TcpOptions,
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Seg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{} seq={} ack={} win={} len={}",
            self.flags,
            self.seq,
            self.ack,
            self.win,
            self.payload.len()
        )?;
        let o = &self.options;
        if o.mss.is_some() || o.window_scale.is_some() || o.sack_permitted || o.timestamps.is_some()
        {
            write!(f, " opts={o:?}")?;
        }
        write!(f, "]")
    }
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Everything `c` has to read now, up to the end of its stream, read `chunk` bytes at a time
/// (each read can move auto-tuning and window updates, so tests choose it).
pub fn read_in_chunks(c: &mut Connection, chunk: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; chunk];
    while let Ok(n) = c.recv(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    out
}

pub const LOCAL_PORT: u16 = 40000;
pub const REMOTE_PORT: u16 = 80;

/// Parses flags written like tcpdump: "S", "S.", ".", "F.", "R", "R.", "P.".
pub fn flags(s: &str) -> TcpFlags {
    let mut f = TcpFlags::NONE;
    for c in s.chars() {
        f |= match c {
            'S' => TcpFlags::SYN,
            'F' => TcpFlags::FIN,
            'R' => TcpFlags::RST,
            'P' => TcpFlags::PSH,
            '.' => TcpFlags::ACK,
            'U' => TcpFlags::URG,
            _ => panic!("unknown flag {c}"),
        };
    }
    f
}

/// An inbound segment from the remote port to ours.
pub fn seg(f: &str, seq: u32, ack: u32) -> Seg {
    Seg::new(REMOTE_PORT, LOCAL_PORT, f, seq, ack)
}

impl Seg {
    /// A segment with the widest unscaled window and no options or payload.
    pub fn new(src_port: u16, dst_port: u16, f: &str, seq: u32, ack: u32) -> Seg {
        Seg {
            src_port,
            dst_port,
            flags: flags(f),
            seq,
            ack,
            win: 65535,
            urgent_ptr: 0,
            options: TcpOptions::default(),
            payload: Vec::new(),
        }
    }
    /// Sets URG and the urgent pointer.
    pub fn urg(mut self, ptr: u16) -> Seg {
        self.flags |= TcpFlags::URG;
        self.urgent_ptr = ptr;
        self
    }
    pub fn win(mut self, w: u16) -> Seg {
        self.win = w;
        self
    }
    pub fn data(mut self, d: &[u8]) -> Seg {
        self.payload = d.to_vec();
        self
    }
    pub fn mss(mut self, m: u16) -> Seg {
        self.options.mss = Some(m);
        self
    }
    pub fn ws(mut self, s: u8) -> Seg {
        self.options.window_scale = Some(s);
        self
    }
    pub fn sack_ok(mut self) -> Seg {
        self.options.sack_permitted = true;
        self
    }
    pub fn ts(mut self, tsval: u32, tsecr: u32) -> Seg {
        self.options.timestamps = Some(Timestamps { tsval, tsecr });
        self
    }
    pub fn ports(mut self, src: u16, dst: u16) -> Seg {
        self.src_port = src;
        self.dst_port = dst;
        self
    }
    pub fn repr(&self) -> TcpRepr<'_> {
        TcpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.win,
            urgent_ptr: self.urgent_ptr,
            options: self.options,
            payload: &self.payload,
        }
    }
    pub fn from_repr(r: &TcpRepr<'_>) -> Seg {
        Seg {
            src_port: r.src_port,
            dst_port: r.dst_port,
            flags: r.flags,
            seq: r.seq,
            ack: r.ack,
            win: r.window,
            urgent_ptr: r.urgent_ptr,
            options: r.options,
            payload: r.payload.to_vec(),
        }
    }
    /// Sequence space the segment occupies.
    pub fn len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn()) + u32::from(self.flags.fin())
    }
}

/// A config with no options offered, so exact segments stay short. Tests of option
/// negotiation turn them back on.
pub fn plain_config() -> Config {
    Config {
        window_scaling: false,
        sack: false,
        timestamps: false,
        recv_buffer: 64 * 1024,
        ..Config::default()
    }
}

/// Our ISS and the peer's, in every single-connection test.
pub const ISS: u32 = 1000;
pub const PEER_ISS: u32 = 5000;

/// One connection driven by hand: segments in, exact segments out.
pub struct Driver {
    pub c: Connection,
    pub now: Instant,
    pub events: Vec<Event>,
}

impl Driver {
    pub fn new(c: Connection) -> Driver {
        let mut d = Driver {
            c,
            now: Instant::ZERO,
            events: Vec::new(),
        };
        d.drain_events();
        d
    }

    /// CLOSED → SYN-SENT; the SYN is taken off (and checked) already.
    pub fn syn_sent(config: Config) -> Driver {
        let mut d = Driver::new(Connection::connect(&config, LOCAL_PORT, REMOTE_PORT, ISS));
        let out = d.out();
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].flags.syn());
        d
    }

    /// An established active opener: our ISS 1000, the peer's 5000, no options.
    pub fn established() -> Driver {
        Driver::established_with(plain_config())
    }

    pub fn established_with(config: Config) -> Driver {
        let mut d = Driver::syn_sent(config);
        d.input(seg("S.", PEER_ISS, ISS + 1).mss(1460));
        let out = d.out();
        assert_eq!(out, vec![seg_out(".", ISS + 1, PEER_ISS + 1)], "final ACK");
        assert_eq!(d.state(), StateName::Established);
        d
    }

    /// A passive opener after the SYN: SYN-RECEIVED, SYN-ACK taken off.
    pub fn syn_received() -> Driver {
        let config = plain_config();
        let mut d = Driver::new(Connection::listen(&config, LOCAL_PORT, ISS));
        d.input(seg("S", PEER_ISS, 0));
        let out = d.out();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flags, flags("S."));
        assert_eq!(d.state(), StateName::SynReceived);
        d
    }

    pub fn state(&self) -> StateName {
        self.c.state()
    }

    pub fn input(&mut self, s: Seg) {
        self.c.handle_segment(self.now, &s.repr());
        self.drain_events();
    }

    /// Everything the connection sends now.
    pub fn out(&mut self) -> Vec<Seg> {
        let mut buf = vec![0u8; 65536];
        let mut v = Vec::new();
        while let Some(r) = self.c.poll_transmit(self.now, &mut buf) {
            v.push(Seg::from_repr(&r));
            assert!(v.len() < 10_000, "runaway transmit");
        }
        self.drain_events();
        v
    }

    /// Moves time forward by `d`, firing timers on the way; returns what was sent and when.
    pub fn advance(&mut self, d: Duration) -> Vec<(Instant, Seg)> {
        let end = self.now + d;
        let mut sent = Vec::new();
        loop {
            let t = match self.c.poll_timeout() {
                Some(t) if t <= end => t,
                _ => break,
            };
            self.now = self.now.max(t);
            self.c.handle_timeout(self.now);
            for s in self.out() {
                sent.push((self.now, s));
            }
        }
        self.now = end;
        self.drain_events();
        sent
    }

    pub fn drain_events(&mut self) {
        while let Some(ev) = self.c.poll_event() {
            record(&ev);
            self.events.push(ev);
        }
    }

    pub fn read_all(&mut self) -> Vec<u8> {
        read_in_chunks(&mut self.c, 4096)
    }
}

impl Drop for Driver {
    /// Events of the last API calls of a test still count for the coverage test.
    fn drop(&mut self) {
        self.drain_events();
    }
}

/// An outbound segment from our port to the remote one, no options, the full 64 KiB window
/// of `plain_config` (65535 in the field).
pub fn seg_out(f: &str, seq: u32, ack: u32) -> Seg {
    Seg::new(LOCAL_PORT, REMOTE_PORT, f, seq, ack)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    A,
    B,
}

/// What happened to a segment on the pair's wire.
#[derive(Clone, Debug)]
pub struct Sent {
    pub at: Instant,
    pub from: Side,
    pub seg: Seg,
    pub dropped: bool,
}

type DropRule = Box<dyn FnMut(&Sent, usize) -> bool>;

/// Two connections on a lossless wire with a fixed one-way delay; a rule can drop chosen
/// segments (by content or by index) to stage losses exactly.
pub struct Pair {
    pub now: Instant,
    pub a: Connection,
    pub b: Connection,
    pub delay: Duration,
    pub log: Vec<Sent>,
    pub events: Vec<(Instant, Side, Event)>,
    in_flight: Vec<(Instant, u64, Side, Seg)>,
    next_id: u64,
    drop_rule: Option<DropRule>,
}

impl Pair {
    pub fn new(a: Connection, b: Connection, delay: Duration) -> Pair {
        let p = Pair {
            now: Instant::ZERO,
            a,
            b,
            delay,
            log: Vec::new(),
            events: Vec::new(),
            in_flight: Vec::new(),
            next_id: 0,
            drop_rule: None,
        };
        // Nothing is sent until the first run, so a test can install a drop rule first.
        p
    }

    /// A client (A, port 40000, ISS 1000) connecting to a listener (B, port 80, ISS 5000).
    pub fn client_server(config: &Config, delay: Duration) -> Pair {
        let a = Connection::connect(config, LOCAL_PORT, REMOTE_PORT, ISS);
        let b = Connection::listen(config, REMOTE_PORT, PEER_ISS);
        Pair::new(a, b, delay)
    }

    /// Drops every segment for which `rule(sent, index_in_log)` is true.
    pub fn drop_when(&mut self, rule: impl FnMut(&Sent, usize) -> bool + 'static) {
        self.drop_rule = Some(Box::new(rule));
    }

    pub fn conn(&mut self, side: Side) -> &mut Connection {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Collects transmissions and events from both sides.
    pub fn pump(&mut self) {
        let mut buf = vec![0u8; 65536];
        for side in [Side::A, Side::B] {
            loop {
                let now = self.now;
                let Some(r) = self.conn(side).poll_transmit(now, &mut buf) else {
                    break;
                };
                let seg = Seg::from_repr(&r);
                let mut sent = Sent {
                    at: now,
                    from: side,
                    seg,
                    dropped: false,
                };
                let index = self.log.len();
                if let Some(rule) = self.drop_rule.as_mut() {
                    sent.dropped = rule(&sent, index);
                }
                if !sent.dropped {
                    let to = if side == Side::A { Side::B } else { Side::A };
                    self.in_flight
                        .push((now + self.delay, self.next_id, to, sent.seg.clone()));
                    self.next_id += 1;
                }
                self.log.push(sent);
                assert!(self.log.len() < 1_000_000, "runaway transmit");
            }
            while let Some(ev) = self.conn(side).poll_event() {
                record(&ev);
                self.events.push((self.now, side, ev));
            }
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let wire = self.in_flight.iter().map(|f| f.0).min();
        [wire, self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Runs until nothing is scheduled before `deadline`, then sets the clock to it.
    pub fn run_until(&mut self, deadline: Instant) {
        self.pump();
        while let Some(t) = self.next_time().filter(|t| *t <= deadline) {
            self.now = self.now.max(t);
            self.in_flight.sort_by_key(|f| (f.0, f.1));
            while let Some(f) = self.in_flight.first().filter(|f| f.0 <= self.now).cloned() {
                self.in_flight.remove(0);
                let now = self.now;
                self.conn(f.2).handle_segment(now, &f.3.repr());
                self.pump();
            }
            for side in [Side::A, Side::B] {
                let now = self.now;
                if self.conn(side).poll_timeout().is_some_and(|t| t <= now) {
                    self.conn(side).handle_timeout(now);
                }
            }
            self.pump();
        }
        self.now = self.now.max(deadline);
    }

    pub fn run_for(&mut self, d: Duration) {
        let deadline = self.now + d;
        self.run_until(deadline);
    }

    /// State names each side went through, in order, starting with its first state.
    pub fn states(&self, side: Side) -> Vec<StateName> {
        let mut v = Vec::new();
        for (_, s, ev) in &self.events {
            if let (true, Event::StateChanged { from, to, .. }) = (*s == side, ev) {
                if v.is_empty() {
                    v.push(*from);
                }
                v.push(*to);
            }
        }
        v
    }

    /// Segments sent by `side`, with their send times.
    pub fn sent_by(&self, side: Side) -> Vec<&Sent> {
        self.log.iter().filter(|s| s.from == side).collect()
    }
}
