//! Urgent data on the receive side: RCV.UP from the sixth check of SEGMENT ARRIVES (RFC 9293
//! §3.10.7.4) and the out-of-band byte as BSD sockets, and Linux in particular, present it.
//!
//! RFC 9293 §3.8.5 has the urgent pointer name the octet *following* the urgent data; RFC
//! 1122 §4.2.2.4 had it name the last urgent octet, and RFC 6093 §2 records that every stack
//! in use (Linux, the BSDs, Windows) kept the first reading instead, which RFC 9293 then
//! adopted. So RCV.UP = SEG.SEQ + SEG.UP is one past the last urgent byte, and that byte is
//! the one a socket holds apart as "out of band" (RFC 6093 §3 advises new applications not to
//! rely on it, but packetdrill scripts and old protocols such as telnet and FTP do).
//!
//! What is kept is one mark: the sequence number of the last urgent byte (RCV.UP less one), and
//! that byte once it has arrived; six bytes in the receiver that its other fields leave as
//! padding, so a connection that never sees urgent data pays nothing for it. Without
//! `Config::urgent_inline` a read steps over the byte (it is only for `take_urgent_byte`);
//! with it the byte stays in the stream. Either way a read stops at the
//! mark, so that the application can tell where the urgent data ended. Once the reader has
//! passed the mark it is forgotten.

use super::Receiver;
use crate::seq::SeqNum;

/// The out-of-band byte as a `recv(MSG_OOB)` would find it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UrgentByte {
    /// No urgent data is announced (none came, or the reader went past its mark).
    None,
    /// Urgent data is announced but its last byte has not arrived yet.
    Pending,
    /// The last urgent byte, arrived and not taken yet.
    Ready(u8),
    /// The byte was taken already.
    Taken,
    /// The peer's FIN came before the announced byte: it never will.
    Ended,
}

impl Receiver {
    /// The sixth check (URG) for an acceptable segment whose text starts at `seq` and whose
    /// urgent pointer field is `ptr`: RCV.UP <- max(RCV.UP, SEG.UP) (RFC 9293 §3.10.7.4).
    ///
    /// A pointer of 0 says the urgent data ended before this segment's first octet, which
    /// announces nothing new (Linux instead takes it to mark the first octet). A mark on a
    /// byte already received is not replayed, nor is one at or before the current mark
    /// (a retransmission, or the same urgent data announced again), as on Linux. A newer mark
    /// replaces an older one whose byte was not taken: that byte stays in the stream and is
    /// read in line, except when the reader stands right at it and does not read urgent
    /// bytes in line, where Linux drops it, and so do we.
    pub fn note_urgent(&mut self, seq: SeqNum, ptr: u16, inline: bool) {
        if self.fin_received || ptr == 0 {
            return;
        }
        let up = seq + u32::from(ptr);
        if up.le(self.nxt) {
            return;
        }
        // `up` is within the window plus 64 KiB of RCV.NXT, so well within 2^31 of it.
        let last = up - 1;
        if let Some(old) = self.urgent_offset() {
            if !self.urgent_mark.lt(last) {
                return;
            }
            let byte_next = old == self.bytes_read && old < self.bytes_received;
            if byte_next && !inline {
                self.buf.consume(1);
                self.bytes_read += 1;
            }
        }
        self.urgent_mark = last;
        self.urgent = UrgentByte::Pending;
        self.capture_urgent();
    }

    /// Stream offset of the last urgent byte, while there is a mark.
    fn urgent_offset(&self) -> Option<u64> {
        (self.urgent != UrgentByte::None).then(|| self.offset_of(self.urgent_mark))
    }

    /// Copies the last urgent byte aside once it is in sequence (called after text arrives).
    pub(super) fn capture_urgent(&mut self) {
        if self.urgent != UrgentByte::Pending {
            return;
        }
        let mark = self.offset_of(self.urgent_mark);
        if mark >= self.bytes_received {
            return;
        }
        // A pending mark lies at or beyond what was read, as the byte has not been read yet.
        let at = mark.saturating_sub(self.bytes_read) as usize;
        if let Some(b) = self.buf.get(at) {
            self.urgent = UrgentByte::Ready(b);
        }
    }

    /// How a read starting now meets the mark: how many bytes it steps over first (the
    /// urgent byte, when it is the next one and not read in line), and the most it may then
    /// return (up to the mark, when the mark is ahead: a read never crosses it).
    pub(super) fn urgent_read_plan(&self, inline: bool) -> (usize, usize) {
        let Some(mark) = self.urgent_offset() else {
            return (0, usize::MAX);
        };
        match mark.checked_sub(self.bytes_read) {
            Some(0) => {
                let arrived = mark < self.bytes_received;
                (usize::from(arrived && !inline), usize::MAX)
            }
            Some(ahead) => (0, usize::try_from(ahead).unwrap_or(usize::MAX)),
            None => (0, usize::MAX),
        }
    }

    /// After a read: a mark the reader went past is forgotten, its byte with it (Linux
    /// clears its urgent state the same way).
    pub(super) fn pass_urgent_mark(&mut self) {
        if self.urgent_offset().is_some_and(|m| self.bytes_read > m) {
            self.urgent = UrgentByte::None;
        }
    }

    /// Whether the next byte to read is the last urgent byte (`SIOCATMARK`), whether it has
    /// arrived or not.
    pub fn at_urgent_mark(&self) -> bool {
        self.urgent_offset() == Some(self.bytes_read)
    }

    /// The out-of-band byte, left where it is.
    pub fn urgent_byte(&self) -> UrgentByte {
        match self.urgent {
            UrgentByte::Pending if self.fin_received => UrgentByte::Ended,
            other => other,
        }
    }

    /// The out-of-band byte, taken: a `Ready` byte is `Taken` from now on.
    pub fn take_urgent_byte(&mut self) -> UrgentByte {
        let byte = self.urgent_byte();
        if let UrgentByte::Ready(_) = byte {
            self.urgent = UrgentByte::Taken;
        }
        byte
    }
}
