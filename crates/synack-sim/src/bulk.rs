//! A bulk-transfer host: one real synack connection that pumps a fixed number of bytes one way.
//!
//! The sender writes a deterministic byte stream (a function of the offset and a per-flow salt)
//! as fast as the connection takes it; the receiver reads everything and checks each byte
//! against the same function, so a transfer of hundreds of megabytes needs no copy of the data
//! and any lost, repeated or misplaced byte is caught. The sender can record every change of
//! its congestion state for plotting.

use core::time::Duration;
use std::net::IpAddr;

use synack_proto::{CongestionPhase, Connection, Instant};
use synack_wire::ChecksumMode;
use synack_wire::ip::{emit_tcp, parse_tcp, tcp_packet_len};

use crate::Endpoint;

/// Bytes the sender offers the connection per call.
const WRITE_CHUNK: usize = 64 * 1024;

/// The byte at `offset` of the stream salted with `salt`.
pub fn stream_byte(offset: u64, salt: u64) -> u8 {
    (offset
        .wrapping_add(salt)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        >> 56) as u8
}

/// Which way the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Sender,
    Receiver,
}

/// The sender's congestion state at one instant, recorded whenever it changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CwndSample {
    pub at: Instant,
    pub cwnd: u32,
    pub ssthresh: u32,
    pub phase: CongestionPhase,
}

/// One end of a bulk transfer of `bytes` bytes.
pub struct BulkNode {
    pub conn: Connection,
    pub local: IpAddr,
    pub remote: IpAddr,
    role: Role,
    bytes: u64,
    salt: u64,
    /// The connection is left alone until then (a sender's SYN leaves at `start`).
    start: Instant,
    started: bool,
    /// Bytes the connection has taken from the sending application.
    pub written: u64,
    /// Bytes the receiving application has read.
    pub read: u64,
    /// Every byte read so far was the one expected at its offset, and none beyond `bytes`.
    pub intact: bool,
    /// When the receiving application read its first byte.
    pub first_read_at: Option<Instant>,
    /// When the transfer finished: the receiver read the last byte, or the sender saw it
    /// acknowledged.
    pub done_at: Option<Instant>,
    last_read_at: Option<Instant>,
    longest_silence: Duration,
    /// Packets dropped because they did not parse or were not for this connection.
    pub malformed: u64,
    trace: Option<Vec<CwndSample>>,
    write_buf: Vec<u8>,
    /// The stream offset of `write_buf[0]`.
    write_buf_at: u64,
    read_buf: Vec<u8>,
    payload: Vec<u8>,
}

impl BulkNode {
    /// The sending end: writes `bytes` bytes of the stream salted with `salt` into `conn`.
    pub fn sender(conn: Connection, local: IpAddr, remote: IpAddr, bytes: u64, salt: u64) -> Self {
        BulkNode::new(Role::Sender, conn, local, remote, bytes, salt)
    }

    /// The receiving end: reads and checks `bytes` bytes of the stream salted with `salt`.
    pub fn receiver(
        conn: Connection,
        local: IpAddr,
        remote: IpAddr,
        bytes: u64,
        salt: u64,
    ) -> Self {
        BulkNode::new(Role::Receiver, conn, local, remote, bytes, salt)
    }

    fn new(
        role: Role,
        conn: Connection,
        local: IpAddr,
        remote: IpAddr,
        bytes: u64,
        salt: u64,
    ) -> Self {
        BulkNode {
            conn,
            local,
            remote,
            role,
            bytes,
            salt,
            start: Instant::ZERO,
            started: false,
            written: 0,
            read: 0,
            intact: true,
            first_read_at: None,
            done_at: None,
            last_read_at: None,
            longest_silence: Duration::ZERO,
            malformed: 0,
            trace: None,
            write_buf: Vec::new(),
            write_buf_at: 0,
            read_buf: vec![0; 64 * 1024],
            payload: vec![0; 65536],
        }
    }

    /// Leaves the connection untouched until `at`: a sender opens its connection then, so
    /// flows can join a bottleneck one after another.
    #[must_use]
    pub fn starting_at(mut self, at: Instant) -> Self {
        self.start = at;
        self
    }

    /// Records every change of cwnd, ssthresh or phase (see [`cwnd_trace`](Self::cwnd_trace)).
    #[must_use]
    pub fn tracing_cwnd(mut self) -> Self {
        self.trace = Some(Vec::new());
        self
    }

    /// When the connection is first touched.
    pub fn start(&self) -> Instant {
        self.start
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The size of the transfer.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn is_done(&self) -> bool {
        self.done_at.is_some()
    }

    /// The congestion states recorded so far (empty unless tracing).
    pub fn cwnd_trace(&self) -> &[CwndSample] {
        self.trace.as_deref().unwrap_or(&[])
    }

    /// The longest time between two reads that returned data: a stall of the transfer shows
    /// up here even when the average goodput looks fine.
    pub fn longest_silence(&self) -> Duration {
        self.longest_silence
    }

    /// Bits read per second from `since` (when the flow started) to the end of the transfer,
    /// or to `now` if it is still going.
    pub fn goodput_bps(&self, since: Instant, now: Instant) -> f64 {
        let end = self.done_at.unwrap_or(now);
        let secs = end.saturating_duration_since(since).as_secs_f64();
        if secs == 0.0 {
            return 0.0;
        }
        self.read as f64 * 8.0 / secs
    }

    fn run_app(&mut self, now: Instant) {
        if !self.started {
            return;
        }
        match self.role {
            Role::Sender => self.write(now),
            Role::Receiver => self.read(now),
        }
        self.record(now);
    }

    fn write(&mut self, now: Instant) {
        while self.written < self.bytes {
            // The buffer holds the stream from `write_buf_at`; refill it only once the
            // connection has taken all of it, since most calls find the send buffer full.
            let used = (self.written - self.write_buf_at) as usize;
            if used >= self.write_buf.len() {
                self.write_buf_at = self.written;
                let len = (self.bytes - self.written).min(WRITE_CHUNK as u64) as usize;
                self.write_buf.resize(len, 0);
                for (i, b) in self.write_buf.iter_mut().enumerate() {
                    *b = stream_byte(self.written + i as u64, self.salt);
                }
                continue;
            }
            match self.conn.send(&self.write_buf[used..]) {
                Ok(n) if n > 0 => self.written += n as u64,
                _ => break,
            }
        }
        // Only once everything is written: `info` is not free, and this runs on every event.
        if self.done_at.is_none()
            && self.written == self.bytes
            && self.conn.info().bytes_acked >= self.bytes
        {
            self.done_at = Some(now);
        }
    }

    fn read(&mut self, now: Instant) {
        while let Ok(n) = self.conn.recv(&mut self.read_buf) {
            if n == 0 {
                break;
            }
            for (i, &b) in self.read_buf[..n].iter().enumerate() {
                let offset = self.read + i as u64;
                if offset >= self.bytes || b != stream_byte(offset, self.salt) {
                    self.intact = false;
                }
            }
            self.read += n as u64;
            if let Some(last) = self.last_read_at {
                self.longest_silence = self
                    .longest_silence
                    .max(now.saturating_duration_since(last));
            }
            self.last_read_at = Some(now);
            self.first_read_at.get_or_insert(now);
        }
        if self.done_at.is_none() && self.read >= self.bytes {
            self.done_at = Some(now);
        }
    }

    fn record(&mut self, now: Instant) {
        let Some(trace) = &mut self.trace else { return };
        let cc = self.conn.info().cc;
        if cc.cwnd == 0 {
            return;
        }
        let sample = CwndSample {
            at: now,
            cwnd: cc.cwnd,
            ssthresh: cc.ssthresh,
            phase: cc.phase,
        };
        let same = trace.last().is_some_and(|l| {
            l.cwnd == sample.cwnd && l.ssthresh == sample.ssthresh && l.phase == sample.phase
        });
        if !same {
            trace.push(sample);
        }
    }
}

impl Endpoint for BulkNode {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        if !self.started {
            self.malformed += 1;
            return;
        }
        match parse_tcp(packet, ChecksumMode::Verify) {
            Ok((ip, tcp)) if ip.dst == self.local && ip.src == self.remote => {
                self.conn.handle_segment(now, &tcp);
            }
            _ => self.malformed += 1,
        }
        self.run_app(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if !self.started {
            return None;
        }
        self.run_app(now);
        let tcp = self.conn.poll_transmit(now, &mut self.payload)?;
        let mut packet = vec![0u8; tcp_packet_len(&tcp, self.local.is_ipv6())];
        let n = emit_tcp(&mut packet, self.local, self.remote, 64, &tcp).ok()?;
        packet.truncate(n);
        Some(packet)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if !self.started {
            return Some(self.start);
        }
        self.conn.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        if !self.started {
            if now >= self.start {
                self.started = true;
                self.run_app(now);
            }
            return;
        }
        self.conn.handle_timeout(now);
        self.run_app(now);
    }
}
