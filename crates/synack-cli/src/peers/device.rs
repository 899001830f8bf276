//! What `serve`, `connect` and `relay` put between the stack and the TUN device: a pcap
//! recorder of what crossed the device, and seeded faults (loss, delay, jitter, reordering),
//! since the kernel here has no netem to add them on its side.
//!
//! Faults strike segments as a wire carries them: a super-segment of a host whose device
//! segments (`Batch::iter_segmented`) is cut into its MSS-sized segments first, as that
//! device would cut it, and each is lost, delayed or reordered on its own.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter};
use std::os::fd::RawFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};
use synack::device::{Batch, Capabilities, Device};
use synack_wire::{ChecksumMode, segment_tcp};

/// Records every packet read from or written to `inner` (raw IP, LINKTYPE_RAW) to a pcap.
pub struct Recorded<D: Device> {
    inner: D,
    writer: PcapWriter<BufWriter<File>>,
}

impl<D: Device> Recorded<D> {
    pub fn new(inner: D, file: File) -> io::Result<Recorded<D>> {
        let header = PcapHeader {
            datalink: DataLink::RAW,
            ..PcapHeader::default()
        };
        let writer = PcapWriter::with_header(BufWriter::new(file), header)
            .map_err(|e| io::Error::other(format!("pcap: {e}")))?;
        Ok(Recorded { inner, writer })
    }

    fn record(&mut self, packet: &[u8]) {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        // A failed write (disk full) loses the capture, never the connection.
        let _ = self
            .writer
            .write_packet(&PcapPacket::new(ts, packet.len() as u32, packet));
    }
}

impl<D: Device> Device for Recorded<D> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn poll_fd(&self) -> RawFd {
        self.inner.poll_fd()
    }
    fn recv(&mut self, batch: &mut Batch) -> io::Result<()> {
        let before = batch.len();
        self.inner.recv(batch)?;
        let new: Vec<Vec<u8>> = batch.iter().skip(before).map(<[u8]>::to_vec).collect();
        for p in new {
            self.record(&p);
        }
        Ok(())
    }
    fn send(&mut self, batch: &Batch) -> io::Result<()> {
        for p in batch.iter() {
            let p = p.to_vec();
            self.record(&p);
        }
        self.inner.send(batch)
    }
    fn next_due(&self) -> Option<Instant> {
        self.inner.next_due()
    }
}

/// What goes wrong on the path, each direction drawn separately from one seed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// Probability of dropping each packet, in [0, 1].
    pub loss: f64,
    /// Added to every packet.
    pub delay: Duration,
    /// Up to this much more, uniformly drawn per packet (packets may then overtake).
    pub jitter: Duration,
    /// Probability of holding a packet back so later ones overtake it, in [0, 1].
    pub reorder: f64,
    pub seed: u64,
}

impl Faults {
    pub fn is_none(&self) -> bool {
        self.loss == 0.0 && self.delay.is_zero() && self.jitter.is_zero() && self.reorder == 0.0
    }
}

/// How long a reordered packet is held back beyond the usual delay: long enough for the
/// next packets of a burst to pass it, short against any retransmission timeout.
const REORDER_HOLD: Duration = Duration::from_millis(3);

/// splitmix64: a seeded, reproducible stream; statistical quality is all a fault needs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One direction's faults and the packets it holds back, in order of their due time.
struct Direction {
    rng: Rng,
    held: BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>,
    seq: u64,
    lost: u64,
    reordered: u64,
}

impl Direction {
    fn new(seed: u64) -> Direction {
        Direction {
            rng: Rng(seed),
            held: BinaryHeap::new(),
            seq: 0,
            lost: 0,
            reordered: 0,
        }
    }

    /// Drops `packet` or holds it until its time; `false` when it goes on at once, untouched.
    fn take(&mut self, faults: &Faults, packet: &[u8], now: Instant) -> bool {
        if faults.loss > 0.0 && self.rng.unit() < faults.loss {
            self.lost += 1;
            return true;
        }
        let mut wait = faults.delay;
        if !faults.jitter.is_zero() {
            wait += faults.jitter.mul_f64(self.rng.unit());
        }
        if faults.reorder > 0.0 && self.rng.unit() < faults.reorder {
            self.reordered += 1;
            wait += REORDER_HOLD;
        }
        if wait.is_zero() && self.held.is_empty() {
            return false;
        }
        self.seq += 1;
        self.held
            .push(Reverse((now + wait, self.seq, packet.to_vec())));
        true
    }

    fn pop_due(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.held.peek().is_some_and(|Reverse((t, _, _))| *t <= now) {
            self.held.pop().map(|Reverse((_, _, p))| p)
        } else {
            None
        }
    }

    fn next_due(&self) -> Option<Instant> {
        self.held.peek().map(|Reverse((t, _, _))| *t)
    }
}

/// A device with [`Faults`] on both directions.
pub struct Faulty<D: Device> {
    inner: D,
    faults: Faults,
    inbound: Direction,
    outbound: Direction,
    scratch: Batch,
    out: Batch,
    /// Where a super-segment's segments are built.
    cut: Vec<u8>,
}

impl<D: Device> Faulty<D> {
    pub fn new(inner: D, faults: Faults) -> Faulty<D> {
        let caps = inner.capabilities();
        let size = caps.max_packet() + 16;
        Faulty {
            inner,
            faults,
            inbound: Direction::new(faults.seed ^ 0x1b1b_1b1b),
            outbound: Direction::new(faults.seed ^ 0x0b0b_0b0b_0000),
            scratch: Batch::new(64, size),
            out: Batch::new(64, size),
            cut: vec![0; size],
        }
    }

    /// Sends the outbound packets whose time has come.
    fn flush_outbound(&mut self, now: Instant) -> io::Result<()> {
        loop {
            self.out.clear();
            while !self.out.is_full() {
                let Some(p) = self.outbound.pop_due(now) else {
                    break;
                };
                push(&mut self.out, &p);
            }
            if self.out.is_empty() {
                return Ok(());
            }
            self.inner.send(&self.out)?;
        }
    }
}

fn push(batch: &mut Batch, packet: &[u8]) {
    if let Some(buf) = batch.next_buf() {
        let n = packet.len().min(buf.len());
        buf[..n].copy_from_slice(&packet[..n]);
        batch.commit(n);
    }
}

impl<D: Device> Device for Faulty<D> {
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn poll_fd(&self) -> RawFd {
        self.inner.poll_fd()
    }
    fn recv(&mut self, batch: &mut Batch) -> io::Result<()> {
        let now = Instant::now();
        self.flush_outbound(now)?;
        // Packets held earlier first: they arrived first.
        while !batch.is_full() {
            let Some(p) = self.inbound.pop_due(now) else {
                break;
            };
            push(batch, &p);
        }
        if batch.is_full() {
            return Ok(());
        }
        self.scratch.clear();
        self.inner.recv(&mut self.scratch)?;
        for p in self.scratch.iter() {
            if !self.inbound.take(&self.faults, p, now) {
                if batch.is_full() {
                    // No room now: held for the next call, which is due at once.
                    self.inbound.seq += 1;
                    self.inbound
                        .held
                        .push(Reverse((now, self.inbound.seq, p.to_vec())));
                } else {
                    push(batch, p);
                }
            }
        }
        Ok(())
    }
    fn send(&mut self, batch: &Batch) -> io::Result<()> {
        let now = Instant::now();
        self.out.clear();
        let mut pieces: Vec<Vec<u8>> = Vec::new();
        for (p, segment_size) in batch.iter_segmented() {
            pieces.clear();
            match segment_size {
                None => pieces.push(p.to_vec()),
                Some(size) => {
                    // A super-segment that does not parse is lost as a bad packet would be.
                    let _ = segment_tcp(
                        p,
                        usize::from(size),
                        &mut self.cut,
                        ChecksumMode::Verify,
                        |piece| pieces.push(piece.to_vec()),
                    );
                }
            }
            for piece in &pieces {
                if self.outbound.take(&self.faults, piece, now) {
                    continue;
                }
                if self.out.is_full() {
                    self.inner.send(&self.out)?;
                    self.out.clear();
                }
                push(&mut self.out, piece);
            }
        }
        if !self.out.is_empty() {
            self.inner.send(&self.out)?;
        }
        self.flush_outbound(now)
    }
    fn next_due(&self) -> Option<Instant> {
        let mine = match (self.inbound.next_due(), self.outbound.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (mine, self.inner.next_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

impl<D: Device> Drop for Faulty<D> {
    fn drop(&mut self) {
        let (i, o) = (&self.inbound, &self.outbound);
        if !self.faults.is_none() {
            eprintln!(
                "synack: faults injected: inbound {} lost, {} reordered; outbound {} lost, {} reordered",
                i.lost, i.reordered, o.lost, o.reordered
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_faults() {
        let faults = Faults {
            loss: 0.3,
            reorder: 0.2,
            seed: 7,
            ..Faults::default()
        };
        let draw = || {
            let mut d = Direction::new(faults.seed);
            let now = Instant::now();
            for i in 0..1000u32 {
                d.take(&faults, &i.to_be_bytes(), now);
            }
            // What was held comes out in due order: held-back (reordered) packets last.
            let mut order = Vec::new();
            while let Some(p) = d.pop_due(now + REORDER_HOLD) {
                order.push(p);
            }
            (d.lost, d.reordered, order)
        };
        let (lost, reordered, order) = draw();
        assert_eq!((lost, reordered, &order), (draw().0, draw().1, &draw().2));
        assert!((240..360).contains(&lost), "{lost} of 1000 lost");
        assert!(
            (100..190).contains(&reordered),
            "{reordered} of ~700 reordered"
        );
        assert_eq!(order.len() as u64, 1000 - lost);
        let first: Vec<u32> = order
            .iter()
            .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]))
            .collect();
        assert!(
            first.windows(2).any(|w| w[0] > w[1]),
            "nothing was reordered"
        );
    }

    /// A device that keeps what it is sent.
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

    impl Device for Sink {
        fn capabilities(&self) -> Capabilities {
            Capabilities {
                mtu: 1500,
                checksum_offload: true,
                segmentation_offload: true,
            }
        }
        fn poll_fd(&self) -> RawFd {
            -1
        }
        fn recv(&mut self, _: &mut Batch) -> io::Result<()> {
            Ok(())
        }
        fn send(&mut self, batch: &Batch) -> io::Result<()> {
            let mut sent = self.0.lock().unwrap();
            sent.extend(batch.iter().map(|p| p.to_vec()));
            Ok(())
        }
    }

    #[test]
    fn faults_strike_each_segment_of_a_super_segment() {
        use synack_wire::{TcpFlags, TcpOptions, TcpRepr, emit_tcp_with, parse_tcp};
        let payload: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let repr = TcpRepr {
            src_port: 7,
            dst_port: 40000,
            seq: 1,
            ack: 1,
            flags: TcpFlags::ACK | TcpFlags::PSH,
            window: 100,
            urgent_ptr: 0,
            options: TcpOptions::default(),
            payload: &payload[..64_000],
        };
        let mut batch = Batch::new(4, 65_536);
        for _ in 0..2 {
            let buf = batch.next_buf().unwrap();
            let n = emit_tcp_with(
                buf,
                [10, 77, 0, 2].into(),
                [10, 77, 0, 1].into(),
                64,
                &repr,
                ChecksumMode::Ignore,
            )
            .unwrap();
            batch.commit_segmented(n, Some(1000));
        }
        for (loss, expect) in [(0.0, 128), (0.5, 0)] {
            let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let faults = Faults {
                loss,
                seed: 3,
                ..Faults::default()
            };
            let mut dev = Faulty::new(Sink(sent.clone()), faults);
            dev.send(&batch).unwrap();
            let sent = sent.lock().unwrap();
            for p in sent.iter() {
                let (_, seg) = parse_tcp(p, ChecksumMode::Verify).expect("a whole segment");
                assert_eq!(seg.payload.len(), 1000);
                assert_eq!(seg.flags.psh(), seg.seq == 63_001);
            }
            if expect > 0 {
                assert_eq!(sent.len(), expect, "every segment, none lost");
            } else {
                // Loss draws per segment: about half of the 128 go, not all or none.
                assert!((40..90).contains(&sent.len()), "{} of 128", sent.len());
                assert_eq!(dev.outbound.lost as usize + sent.len(), 128);
            }
        }
    }

    #[test]
    fn no_faults_pass_every_packet_at_once() {
        let mut d = Direction::new(1);
        let now = Instant::now();
        assert!((0..100).all(|i| !d.take(&Faults::default(), &[i], now)));
        assert_eq!(d.next_due(), None);
    }
}
