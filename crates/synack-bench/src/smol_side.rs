//! smoltcp: two interfaces in this thread exchanging IP packets over the same in-memory
//! [`Link`] synack uses, on the real clock. Its best settings for these workloads: sockets
//! with buffers of the case's size (window scaling follows), CUBIC, no delayed ACK, the
//! device's MTU and checksum capabilities as the case says, no burst limit.

use std::time::{Duration, Instant as Wall};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp::{self, CongestionControl, State};
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, Ipv4Address};

use crate::link::{Link, Pool, Queue};
use crate::measure::thread_cpu;
use crate::{BulkCase, Error, pattern};

const ADDR_A: Ipv4Address = Ipv4Address::new(10, 0, 0, 1);
const ADDR_B: Ipv4Address = Ipv4Address::new(10, 0, 0, 2);
const PORT: u16 = 5001;
const STALL: Duration = Duration::from_secs(20);

/// One side's view of the link as a smoltcp device.
struct Port<'l> {
    queues: &'l mut [Queue; 2],
    pool: &'l Pool,
    side: usize,
    offload: bool,
}

struct Rx<'l> {
    buf: Box<[u8]>,
    len: usize,
    pool: &'l Pool,
}

impl phy::RxToken for Rx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.buf[..self.len]);
        self.pool.give(self.buf);
        r
    }
}

struct Tx<'l> {
    queue: &'l mut Queue,
    pool: &'l Pool,
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = self.pool.take();
        let r = f(&mut buf[..len]);
        self.queue.push_back((buf, len));
        r
    }
}

impl phy::Device for Port<'_> {
    type RxToken<'a>
        = Rx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = Tx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _: Instant) -> Option<(Rx<'_>, Tx<'_>)> {
        let (buf, len) = self.queues[1 - self.side].pop_front()?;
        let rx = Rx {
            buf,
            len,
            pool: self.pool,
        };
        let tx = Tx {
            queue: &mut self.queues[self.side],
            pool: self.pool,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx {
            queue: &mut self.queues[self.side],
            pool: self.pool,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.pool.mtu();
        caps.max_burst_size = None;
        caps.checksum = if self.offload {
            ChecksumCapabilities::ignored()
        } else {
            ChecksumCapabilities::default()
        };
        caps
    }
}

/// Two interfaces, each with its socket set, joined by a link.
struct Pair {
    link: Link,
    offload: bool,
    ifaces: [Interface; 2],
    sockets: [SocketSet<'static>; 2],
    start: Wall,
}

impl Pair {
    fn new(mtu: usize, offload: bool) -> Pair {
        let mut link = Link::new(mtu, 0);
        let start = Wall::now();
        let mk = |link: &mut Link, side: usize, addr: Ipv4Address| {
            let mut port = Port {
                queues: &mut link.queues,
                pool: &link.pool,
                side,
                offload,
            };
            let mut config = Config::new(HardwareAddress::Ip);
            config.random_seed = 0x5eed + side as u64;
            let mut iface = Interface::new(config, &mut port, Instant::from_micros(0));
            iface.update_ip_addrs(|a| {
                a.push(IpCidr::new(IpAddress::Ipv4(addr), 24)).unwrap();
            });
            iface
        };
        let a = mk(&mut link, 0, ADDR_A);
        let b = mk(&mut link, 1, ADDR_B);
        Pair {
            link,
            offload,
            ifaces: [a, b],
            sockets: [SocketSet::new(Vec::new()), SocketSet::new(Vec::new())],
            start,
        }
    }

    fn now(&self) -> Instant {
        Instant::from_micros(self.start.elapsed().as_micros() as i64)
    }

    /// Polls both interfaces until no packet is on the link.
    fn settle(&mut self) -> Result<(), Error> {
        let deadline = Wall::now() + STALL;
        loop {
            self.poll();
            if !self.link.busy() {
                return Ok(());
            }
            if Wall::now() > deadline {
                return Err(Error::Stall("smoltcp: packets never stop".into()));
            }
        }
    }

    /// Polls each interface once (its ingress, its sockets' egress and timers).
    fn poll(&mut self) {
        let now = self.now();
        for side in 0..2 {
            let mut port = Port {
                queues: &mut self.link.queues,
                pool: &self.link.pool,
                side,
                offload: self.offload,
            };
            self.ifaces[side].poll(now, &mut port, &mut self.sockets[side]);
        }
    }

    fn socket(&mut self, side: usize, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets[side].get_mut::<tcp::Socket>(h)
    }

    fn connect(&mut self, h: SocketHandle, local_port: u16) -> Result<(), Error> {
        let cx = self.ifaces[0].context();
        self.sockets[0]
            .get_mut::<tcp::Socket>(h)
            .connect(cx, (IpAddress::Ipv4(ADDR_B), PORT), local_port)
            .map_err(|e| Error::Stack(format!("smoltcp connect: {e}")))
    }
}

fn socket(buffer: usize) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; buffer]),
        tcp::SocketBuffer::new(vec![0u8; buffer]),
    );
    s.set_congestion_control(CongestionControl::Cubic);
    // Its default 10 ms delayed ACK starves a 64 KiB window at MTU 65535 (under one
    // segment's worth per ACK: 0.13 Gbit/s) and costs it 20-60 % elsewhere; ACKing every
    // segment is its best setting for every workload here.
    s.set_ack_delay(None);
    s
}

/// One stream of `bytes` from A to B. Returns Gbit/s of this thread's CPU time.
pub fn bulk(case: &BulkCase, bytes: u64) -> Result<f64, Error> {
    let mut p = Pair::new(case.mtu, case.offload);
    let data = pattern();
    let server = p.sockets[1].add(socket(case.buffer));
    p.socket(1, server)
        .listen(PORT)
        .map_err(|e| Error::Stack(format!("smoltcp listen: {e}")))?;
    let client = p.sockets[0].add(socket(case.buffer));
    let cpu0 = thread_cpu();
    p.connect(client, 40_000)?;
    let (mut sent, mut received) = (0u64, 0u64);
    let mut read = vec![0u8; 256 << 10];
    let (started, mut last_progress) = (Wall::now(), Wall::now());
    while received < bytes {
        let c = p.socket(0, client);
        while sent < bytes && c.can_send() {
            let off = (sent % data.len() as u64) as usize;
            let len = (bytes - sent).min((data.len() - off) as u64) as usize;
            match c.send_slice(&data[off..off + len]) {
                Ok(n @ 1..) => sent += n as u64,
                _ => break,
            }
        }
        p.poll();
        let before = received;
        let s = p.socket(1, server);
        while s.can_recv() {
            // Copied out, as synack's and the kernel's readers copy.
            match s.recv_slice(&mut read) {
                Ok(n @ 1..) => received += n as u64,
                _ => break,
            }
        }
        if received > before {
            last_progress = Wall::now();
            if started.elapsed() > crate::BULK_TIME_CAP {
                break;
            }
        } else if last_progress.elapsed() > STALL {
            return Err(Error::Stall(format!(
                "smoltcp bulk at {received} of {bytes}"
            )));
        }
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    Ok(received as f64 * 8.0 / cpu / 1e9)
}

/// Polls until `done` holds, within the stall bound.
fn until(p: &mut Pair, mut done: impl FnMut(&mut Pair) -> bool) -> Result<(), Error> {
    let deadline = Wall::now() + STALL;
    while !done(p) {
        p.poll();
        if Wall::now() > deadline {
            return Err(Error::Stall("smoltcp: condition never reached".into()));
        }
    }
    Ok(())
}

fn exchange(p: &mut Pair, client: SocketHandle, server: SocketHandle) -> Result<(), Error> {
    let stack = |e: tcp::SendError| Error::Stack(format!("smoltcp send: {e}"));
    let mut one = [0u8; 1];
    p.socket(0, client).send_slice(b"q").map_err(stack)?;
    until(p, |p| p.socket(1, server).can_recv())?;
    p.socket(1, server).recv_slice(&mut one).ok();
    p.socket(1, server).send_slice(b"r").map_err(stack)?;
    until(p, |p| p.socket(0, client).can_recv())?;
    p.socket(0, client).recv_slice(&mut one).ok();
    Ok(())
}

/// `count` full lifecycles: connect, 1-byte request, 1-byte response, close with the client
/// first. smoltcp keeps a TIME-WAIT socket for 10 s and a socket is one connection, so once
/// the client reaches TIME-WAIT (and the server CLOSED) the client socket is aborted and both
/// are reused: the lifecycle is complete on the wire, but no TIME-WAIT state is kept.
pub fn crr(count: u64) -> Result<f64, Error> {
    let mut p = Pair::new(1500, false);
    let server = p.sockets[1].add(socket(64 << 10));
    let client = p.sockets[0].add(socket(64 << 10));
    let cpu0 = thread_cpu();
    for i in 0..count {
        p.socket(1, server)
            .listen(PORT)
            .map_err(|e| Error::Stack(format!("smoltcp listen: {e}")))?;
        p.connect(client, 20_000 + (i % 40_000) as u16)?;
        until(&mut p, |p| {
            p.socket(1, server).state() == State::Established
        })?;
        exchange(&mut p, client, server)?;
        p.socket(0, client).close();
        until(&mut p, |p| p.socket(1, server).state() == State::CloseWait)?;
        p.socket(1, server).close();
        until(&mut p, |p| {
            p.socket(1, server).state() == State::Closed
                && p.socket(0, client).state() == State::TimeWait
        })?;
        p.socket(0, client).abort();
        p.settle()?;
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    Ok(count as f64 / cpu)
}

/// `count` transactions on one connection. Returns transactions per second of CPU time.
pub fn rr(count: u64) -> Result<f64, Error> {
    let mut p = Pair::new(1500, false);
    let server = p.sockets[1].add(socket(64 << 10));
    let client = p.sockets[0].add(socket(64 << 10));
    p.socket(1, server)
        .listen(PORT)
        .map_err(|e| Error::Stack(format!("smoltcp listen: {e}")))?;
    p.connect(client, 40_000)?;
    until(&mut p, |p| {
        p.socket(1, server).state() == State::Established
    })?;
    let cpu0 = thread_cpu();
    for _ in 0..count {
        exchange(&mut p, client, server)?;
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    Ok(count as f64 / cpu)
}
