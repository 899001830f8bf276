//! The receive half of a connection: the receive sequence space of RFC 9293 §3.3.1 and the
//! bytes waiting for the user.

use alloc::collections::VecDeque;

use crate::seq::SeqNum;
use crate::time::Instant;

#[derive(Debug)]
pub(crate) struct Receiver {
    /// IRS: the peer's initial sequence number.
    pub irs: SeqNum,
    /// RCV.NXT: next sequence number expected.
    pub nxt: SeqNum,
    /// Right edge of the window we last advertised (RCV.NXT + RCV.WND at that time). We never
    /// move it left (RFC 9293 §3.8.6.2.2: the window must not shrink).
    pub adv_edge: SeqNum,
    /// Shift we apply to the window we advertise (RFC 7323 §2.3); 0 without window scaling.
    pub wscale: u8,
    /// The peer's FIN has been received: after the buffered bytes, the user reads end-of-file.
    pub fin_received: bool,
    /// TS.Recent and when it was recorded (RFC 7323 §4.3, §5.5); `None` without timestamps.
    pub ts_recent: Option<(u32, Instant)>,
    /// The ACK field of the last segment we sent (Last.ACK.sent, RFC 7323 §4.3).
    pub last_ack_sent: SeqNum,
    buf: VecDeque<u8>,
    capacity: usize,
    pub bytes_received: u64,
}

impl Receiver {
    pub fn new(irs: u32, capacity: usize, wscale: u8) -> Receiver {
        let irs = SeqNum(irs);
        Receiver {
            irs,
            nxt: irs + 1,
            adv_edge: irs + 1,
            wscale,
            fin_received: false,
            ts_recent: None,
            last_ack_sent: irs + 1,
            buf: VecDeque::new(),
            capacity,
            bytes_received: 0,
        }
    }

    /// RCV.WND as the peer knows it: from RCV.NXT to the edge we advertised.
    pub fn wnd(&self) -> u32 {
        self.adv_edge.since(self.nxt)
    }

    /// Free buffer space.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes in-order bytes that begin at RCV.NXT; returns how many fit in the buffer.
    pub fn accept(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        self.buf.extend(&data[..n]);
        self.nxt += n as u32;
        self.bytes_received += n as u64;
        n
    }

    /// Moves buffered bytes to the user.
    pub fn read(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.buf.len());
        for (dst, src) in out.iter_mut().zip(self.buf.drain(..n)) {
            *dst = src;
        }
        n
    }

    /// The window field for the next segment we send, and the edge it advertises.
    ///
    /// The window offered is the free buffer space, rounded down to the scale unit, except that
    /// an edge already advertised is never taken back (RFC 9293 §3.8.6.2.2, RFC 7323 §2.4).
    pub fn window_field(&mut self) -> u16 {
        let unit = 1u32 << self.wscale;
        let free = u32::try_from(self.free()).unwrap_or(u32::MAX);
        let mut field = (free >> self.wscale).min(u32::from(u16::MAX));
        let promised = self.adv_edge.since(self.nxt);
        if field * unit < promised {
            field = promised.div_ceil(unit).min(u32::from(u16::MAX));
        }
        let edge = self.nxt + field * unit;
        self.adv_edge = self.adv_edge.max(edge);
        field as u16
    }

    /// Window field for a SYN or SYN-ACK: never scaled (RFC 7323 §2.2).
    pub fn syn_window_field(&mut self) -> u16 {
        let free = u32::try_from(self.free()).unwrap_or(u32::MAX);
        let field = free.min(u32::from(u16::MAX));
        self.adv_edge = self.adv_edge.max(self.nxt + field);
        field as u16
    }
}
