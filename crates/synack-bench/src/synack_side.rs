//! synack: two hosts in this thread exchanging IP packets over the in-memory [`Link`], on the
//! real clock (so delayed ACKs and timers behave as they would on a device).

use std::net::SocketAddr;
use std::time::{Duration, Instant as Wall};

use synack_proto::host::{ConnId, Host, HostConfig, HostEvent, ListenerId};
use synack_proto::{Config, Instant};

use crate::link::Link;
use crate::measure::{Stall, thread_cpu};
use crate::{BulkCase, Error, pattern};

/// The server's address, made without parsing text: `crr` names it in every connect.
fn server_addr() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 2], 5001))
}

/// A distinct client address per connection, as many hosts would be: 11.x.y.z:40000.
fn client_addr(i: u64) -> SocketAddr {
    let [_, b, c, d] = (i as u32).to_be_bytes();
    SocketAddr::from(([11, b, c, d], 40_000))
}

fn host_config(tcp: Config, checksum_offload: bool, segmentation_offload: bool) -> HostConfig {
    HostConfig {
        secret: 0x5eed_be4c,
        tcp,
        checksum_offload,
        segmentation_offload,
        max_connections: 1 << 20,
        max_time_wait: 1 << 22,
        ..HostConfig::default()
    }
}

/// Our defaults with the case's MTU (and so its MSS) and fixed buffers of the case's size
/// (auto-tuning off so the buffer is what the case says).
fn bulk_config(case: &BulkCase) -> Config {
    Config {
        // The MSS we announce follows the MTU (`Config::mss_for`): the MTU is what makes the
        // case's segments large, the MSS cap alone would leave them at the default MTU's.
        mtu: u16::try_from(case.mtu).unwrap_or(u16::MAX),
        mss: (case.mtu - 40) as u16,
        recv_buffer: case.buffer,
        recv_buffer_max: case.buffer,
        send_buffer: case.buffer,
        send_buffer_max: case.buffer,
        ..Config::default()
    }
}

/// Two hosts joined by a link, driven on the wall clock.
struct Pair {
    a: Host,
    b: Host,
    link: Link,
    /// The largest datagram that is not a super-segment.
    mtu: usize,
    listener: ListenerId,
    start: Wall,
    /// Virtual time instead of the wall clock, for runs that must repeat exactly (tests).
    virtual_now: Option<Instant>,
    /// A buffer taken from the pool that no datagram was written into: kept for the next one,
    /// so asking a host with nothing to send costs no trip to the pool (smoltcp's device
    /// takes a buffer only to send).
    spare: Option<Box<[u8]>>,
    /// The time the latest wait for the link ran at (see `settle`).
    waited_at: Instant,
}

impl Pair {
    /// With `tso`, both devices segment and checksum, and the link takes (and delivers
    /// whole) datagrams of up to 64 KiB.
    fn new(tcp: Config, mtu: usize, checksum_offload: bool, tso: bool) -> Pair {
        let a = Host::new(host_config(tcp.clone(), checksum_offload || tso, tso));
        let mut b = Host::new(host_config(tcp, checksum_offload || tso, tso));
        let listener = b.listen(server_addr(), 4096).expect("listen");
        Pair {
            a,
            b,
            link: Link::new(if tso { usize::from(u16::MAX) } else { mtu }),
            mtu,
            listener,
            start: Wall::now(),
            virtual_now: None,
            spare: None,
            waited_at: Instant::ZERO,
        }
    }

    fn now(&self) -> Instant {
        self.virtual_now
            .unwrap_or_else(|| Instant::from_micros(self.start.elapsed().as_micros() as u64))
    }

    /// The time of the latest wait, for the calls made between two waits: an event loop hands
    /// its callbacks the time it woke at rather than reading the clock for each (smoltcp's
    /// socket calls take no time at all).
    fn recent(&self) -> Instant {
        self.virtual_now.unwrap_or(self.waited_at)
    }

    /// Everything each host has to send crosses the link and is handled, both ways, and the
    /// timers that are due run. Returns whether any packet moved. Events are handed to
    /// `on_b` (the server's) or dropped (the client's).
    fn step(&mut self, on_b: impl FnMut(&mut Host, HostEvent)) -> bool {
        let now = self.now();
        self.step_at(now, on_b)
    }

    /// [`Pair::step`] at `now`.
    fn step_at(&mut self, now: Instant, mut on_b: impl FnMut(&mut Host, HostEvent)) -> bool {
        let mut moved = false;
        for side in 0..2 {
            let host = if side == 0 { &mut self.a } else { &mut self.b };
            loop {
                let mut buf = self.spare.take().unwrap_or_else(|| self.link.pool.take());
                match host.poll_transmit(now, &mut buf) {
                    Some(sent) => {
                        let limit = match sent.segment_size {
                            Some(_) => self.link.pool.mtu(),
                            None => self.mtu,
                        };
                        assert!(sent.len <= limit, "a datagram over the MTU");
                        self.link.push(side, buf, sent.len)
                    }
                    None => {
                        self.spare = Some(buf);
                        break;
                    }
                }
            }
            let peer = if side == 0 { &mut self.b } else { &mut self.a };
            while let Some((buf, n)) = self.link.pop(1 - side) {
                peer.handle_packet(now, &buf[..n]);
                self.link.pool.give(buf);
                moved = true;
            }
        }
        while self.a.poll_event().is_some() {}
        while let Some(e) = self.b.poll_event() {
            on_b(&mut self.b, e);
        }
        for h in [&mut self.a, &mut self.b] {
            if h.poll_timeout().is_some_and(|t| t <= now) {
                h.handle_timeout(now);
            }
        }
        moved
    }
}

/// Gives up on a run that stops making progress (a bug, not a slow machine).
const STALL: Duration = Duration::from_secs(20);

/// One stream of `bytes` from A to B. Returns Gbit/s of this thread's CPU time. Never
/// inlined, so a profiler can collect synack's side alone
/// (`valgrind --tool=callgrind --toggle-collect=synack_bench::synack_side::bulk`).
#[inline(never)]
pub fn bulk(case: &BulkCase, bytes: u64) -> Result<f64, Error> {
    let mut p = Pair::new(bulk_config(case), case.mtu, case.offload, case.tso);
    let data = pattern();
    let cpu0 = thread_cpu();
    let c =
        p.a.connect(p.now(), client_addr(1), server_addr())
            .map_err(|e| Error::Stack(format!("connect: {e:?}")))?;
    let mut server: Option<ConnId> = None;
    let listener = p.listener;
    let (mut sent, mut received) = (0u64, 0u64);
    let (started, mut last_progress) = (Wall::now(), Wall::now());
    while received < bytes {
        // Written straight into the send buffer and read where it lies in the receive
        // buffer (`send_with`, `recv_with`): one copy per byte each way, as smoltcp's
        // closure calls on its side.
        while sent < bytes {
            let wrote =
                p.a.send_with(c, |room| crate::fill_from_pattern(&data, sent, bytes, room));
            match wrote {
                Ok(n @ 1..) => sent += n as u64,
                _ => break,
            }
        }
        p.step(|b, e| {
            if let HostEvent::Accepted { .. } = e {
                server = server.or(b.accept(listener));
            }
        });
        let before = received;
        if let Some(s) = server {
            while let Ok(n @ 1..) = p.b.recv_with(s, crate::read_in_place) {
                received += n as u64;
            }
        }
        if received > before {
            last_progress = Wall::now();
            if started.elapsed() > crate::BULK_TIME_CAP {
                break;
            }
        } else if last_progress.elapsed() > STALL {
            return Err(Error::Stall(format!(
                "synack bulk at {received} of {bytes}"
            )));
        }
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    Ok(received as f64 * 8.0 / cpu / 1e9)
}

/// `count` full lifecycles: connect, a 1-byte request, a 1-byte response, close (the client
/// first, so it holds TIME-WAIT). Each from its own client address. Returns lifecycles per
/// second of CPU time.
#[inline(never)]
pub fn crr(count: u64) -> Result<f64, Error> {
    let mut p = Pair::new(Config::default(), 1500, false, false);
    let cpu0 = thread_cpu();
    for i in 0..count {
        lifecycle(&mut p, i)?;
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    if p.a.time_wait_count() as u64 != count {
        return Err(Error::Stack(format!(
            "{} of {count} lifecycles left a TIME-WAIT entry",
            p.a.time_wait_count()
        )));
    }
    Ok(count as f64 / cpu)
}

/// Steps until no packet moves, all at one reading of the clock: packets cross the link at
/// once, so time moves on between the waits, not within one (as a device hands a batch of
/// packets over with one timestamp). smoltcp's harness waits the same way.
fn settle(p: &mut Pair, accepted: &mut Option<ConnId>) -> Result<(), Error> {
    let listener = p.listener;
    let now = p.now();
    p.waited_at = now;
    let mut stall = Stall::new(STALL);
    while p.step_at(now, |b, e| {
        if let HostEvent::Accepted { .. } = e {
            *accepted = accepted.or(b.accept(listener));
        }
    }) {
        if stall.expired() {
            return Err(Error::Stall("synack: packets never stop".into()));
        }
    }
    Ok(())
}

fn lifecycle(p: &mut Pair, i: u64) -> Result<(), Error> {
    let stack = |e| Error::Stack(format!("{e:?}"));
    let c =
        p.a.connect(p.recent(), client_addr(i), server_addr())
            .map_err(stack)?;
    let mut s = None;
    settle(p, &mut s)?;
    let s = s.ok_or_else(|| Error::Stack("not accepted".into()))?;
    let mut one = [0u8; 1];
    p.a.send(c, b"q").map_err(stack)?;
    settle(p, &mut None)?;
    if p.b.recv(s, &mut one) != Ok(1) {
        return Err(Error::Stack("request lost".into()));
    }
    p.b.send(s, b"r").map_err(stack)?;
    settle(p, &mut None)?;
    if p.a.recv(c, &mut one) != Ok(1) {
        return Err(Error::Stack("response lost".into()));
    }
    let now = p.recent();
    p.a.close(now, c).map_err(stack)?;
    settle(p, &mut None)?;
    let now = p.recent();
    p.b.close(now, s).map_err(stack)?;
    settle(p, &mut None)
}

/// `count` transactions (1-byte request, 1-byte response) on one connection. Returns
/// transactions per second of CPU time.
pub fn rr(count: u64) -> Result<f64, Error> {
    let stack = |e| Error::Stack(format!("{e:?}"));
    let mut p = Pair::new(Config::default(), 1500, false, false);
    let c =
        p.a.connect(p.now(), client_addr(1), server_addr())
            .map_err(stack)?;
    let mut s = None;
    settle(&mut p, &mut s)?;
    let s = s.ok_or_else(|| Error::Stack("not accepted".into()))?;
    let mut one = [0u8; 1];
    let cpu0 = thread_cpu();
    for _ in 0..count {
        p.a.send(c, b"q").map_err(stack)?;
        settle(&mut p, &mut None)?;
        if p.b.recv(s, &mut one) != Ok(1) {
            return Err(Error::Stack("request lost".into()));
        }
        p.b.send(s, b"r").map_err(stack)?;
        settle(&mut p, &mut None)?;
        if p.a.recv(c, &mut one) != Ok(1) {
            return Err(Error::Stack("response lost".into()));
        }
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    Ok(count as f64 / cpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::{CountingAlloc, allocations_of};

    #[global_allocator]
    static COUNTING: CountingAlloc = CountingAlloc;

    /// Moves `bytes` from A to B; returns the packets that crossed the link.
    fn transfer(p: &mut Pair, c: ConnId, s: &mut Option<ConnId>, data: &[u8], bytes: u64) -> u64 {
        let mut read = [0u8; 16 << 10];
        let listener = p.listener;
        let (mut sent, mut received, mut steps) = (0u64, 0u64, 0u64);
        while received < bytes {
            while sent < bytes {
                let off = (sent % data.len() as u64) as usize;
                let len = (bytes - sent).min((data.len() - off) as u64) as usize;
                match p.a.send(c, &data[off..off + len]) {
                    Ok(n @ 1..) => sent += n as u64,
                    _ => break,
                }
            }
            // A 10 µs link (virtual time, so every run is the same).
            p.virtual_now = p.virtual_now.map(|t| t + Duration::from_micros(10));
            p.step(|b, e| {
                if let HostEvent::Accepted { .. } = e {
                    *s = s.or(b.accept(listener));
                }
            });
            steps += 1;
            assert!(
                steps < 10_000_000,
                "the transfer stalled at {received} of {bytes}"
            );
            if let Some(s) = *s {
                while let Ok(n @ 1..) = p.b.recv(s, &mut read) {
                    received += n as u64;
                }
            }
        }
        p.a.counters().out_segs + p.b.counters().out_segs
    }

    #[test]
    fn a_lifecycle_allocates_fewer_than_eleven_times() {
        // Both ends of a connect, request, response and close, with the client's TIME-WAIT:
        // what is left are the buffers and the loss-recovery state each connection makes
        // (send and receive buffer, scoreboard and its queue, RACK state). The event queue
        // allocates nothing, and a connection its user closed keeps no snapshot of its
        // ended send side (nobody can ask for it).
        let mut p = Pair::new(Config::default(), 1500, false, false);
        p.virtual_now = Some(Instant::from_millis(1));
        p.link.reserve(64);
        for i in 0..2000 {
            lifecycle(&mut p, i).unwrap();
        }
        let (_, n) = allocations_of(|| {
            for i in 2000..3000 {
                lifecycle(&mut p, i).unwrap();
            }
        });
        let n = n.expect("the counting allocator is installed");
        assert!(n < 11_000, "{n} allocations in 1,000 lifecycles");
    }

    #[test]
    fn a_lifecycle_takes_nine_segments() {
        // SYN, SYN-ACK, ACK; the request and its ACK (the server's first data segment is
        // acknowledged at once, Linux's quick-ACK); the response, whose ACK rides on the
        // client's FIN (the client sent its request right after the handshake, so its ACKs
        // wait for a reply: interactive ACKs); the server's FIN, which carries the ACK of the
        // client's (the server answered at once, so it is interactive too), and its ACK.
        // Counted in both hosts' `out_segs` and `in_segs`.
        let mut p = Pair::new(Config::default(), 1500, false, false);
        p.virtual_now = Some(Instant::from_millis(1));
        let segments = |p: &Pair| p.a.counters().out_segs + p.b.counters().out_segs;
        let before = segments(&p);
        for i in 0..100 {
            lifecycle(&mut p, i).unwrap();
        }
        assert_eq!(segments(&p) - before, 900);
        assert_eq!(p.a.counters().in_segs + p.b.counters().in_segs, 900);
    }

    #[test]
    fn bulk_segments_are_as_large_as_the_case_mtu_allows() {
        // At MTU 65535 a full-sized segment carries over 40 times what one at MTU 1500 does:
        // a run whose segments average under 8 KiB is not measuring the case it names. Nor
        // does a short tail follow the full segments while the writer has more: with 1 MiB
        // buffers it is held to the unsent limit, with 64 KiB ones to the buffer, whose
        // window one full segment all but fills. Segments average over 60,000 of the
        // 65,483 bytes a full one carries.
        for buffer in [1 << 20, 64 << 10] {
            let case = BulkCase {
                mtu: 65_535,
                buffer,
                offload: true,
                tso: false,
            };
            let mut p = Pair::new(bulk_config(&case), case.mtu, case.offload, case.tso);
            p.virtual_now = Some(Instant::from_millis(1));
            let c = p.a.connect(p.now(), client_addr(1), server_addr()).unwrap();
            let mut s = None;
            let bytes = 16 << 20;
            transfer(&mut p, c, &mut s, &pattern(), bytes);
            let data_segments = p.a.counters().out_segs;
            assert!(
                data_segments < bytes / 60_000,
                "{data_segments} segments for {bytes} bytes with {buffer}-byte buffers"
            );
        }
    }

    #[test]
    fn a_steady_bulk_transfer_allocates_nothing_per_packet() {
        // Once buffers, queues and the timer schedule have grown to what the transfer needs,
        // moving data takes no allocation at all: not per segment, not per ACK.
        for (mtu, buffer, offload, tso) in [
            (1500, 64 << 10, false, false),
            (65_535, 1 << 20, true, false),
            (1500, 1 << 20, true, true),
        ] {
            let case = BulkCase {
                mtu,
                buffer,
                offload,
                tso,
            };
            let mut p = Pair::new(bulk_config(&case), case.mtu, case.offload, case.tso);
            p.virtual_now = Some(Instant::from_millis(1));
            // The link's own queues and buffers are the harness's, not the stack's.
            p.link.reserve(4096);
            let c = p.a.connect(p.now(), client_addr(1), server_addr()).unwrap();
            let mut s = None;
            let data = pattern();
            let warm = transfer(&mut p, c, &mut s, &data, 32 << 20);
            let (segments, allocations) =
                allocations_of(|| transfer(&mut p, c, &mut s, &data, 32 << 20));
            let segments = segments - warm;
            assert!(segments > 200, "{mtu}: only {segments} segments");
            assert_eq!(
                allocations,
                Some(0),
                "MTU {mtu}: allocations while {segments} segments crossed"
            );
        }
    }
}
