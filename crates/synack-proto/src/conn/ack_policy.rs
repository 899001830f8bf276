//! When the acknowledgment of arriving data goes: at once, or delayed so it can ride on data
//! of ours.
//!
//! RFC 1122 §4.2.3.2 and RFC 9293 §3.8.6.3 let a receiver hold an ACK back (at most 0.5 s,
//! and for no more than a second full-sized segment, RFC 5681 §4.2), so that one segment
//! carries the ACK, the window update and any reply together. Out-of-order data, duplicates
//! and gap fills are acknowledged at once elsewhere (`process_text_and_fin`), and so is a
//! FIN, except the one that moves an interactive connection to CLOSE-WAIT: its ACK may wait
//! for our own FIN (Linux delays it too). This is the policy for in-sequence data, in three
//! modes:
//!
//! - **Quick-ACK.** The first `Config::quickack_segments` data segments are acknowledged at
//!   once, so a sender in slow start is not held back by our timer (as Linux does).
//! - **Delayed.** After that, one ACK per two full-sized segments, or when the delayed-ACK
//!   timer runs out.
//! - **Interactive.** A request/response exchange: when we send new data within the
//!   delayed-ACK timeout of the last data received, our data is a reply, and the next
//!   request's ACK will most likely ride on the next reply too. From then on quick-ACK is
//!   skipped and each arrival waits (still at most the timeout, still at most two full
//!   segments). The active opener counts the SYN-ACK as a receipt, so a client whose request
//!   follows the handshake at once is interactive from its first exchange. The mode ends
//!   when the delayed-ACK timer actually fires, since then no reply came in time and the
//!   wait only cost the peer. This is Linux's "pingpong" heuristic in its present form
//!   (entered by one reply, left on a delayed-ACK timeout); `Config::interactive_acks` turns
//!   it off.
//!
//! Time comes in as `now`; nothing here reads a clock.

use core::time::Duration;

use crate::time::Instant;

/// The segment size every host must accept without an MSS option (RFC 9293 §3.7.1).
const DEFAULT_MSS: usize = 536;

/// What the arrival of in-sequence data asks of the ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AckTiming {
    /// Acknowledge with the next segment out.
    Now,
    /// Acknowledge within this delay at the latest (unless data of ours carries it first);
    /// a deadline already set stays, so the first unacknowledged byte bounds the wait.
    Within(Duration),
}

/// The receiver's acknowledgment state (see the module comment). Twenty-four bytes: it lives
/// in every connection.
#[derive(Clone, Debug)]
pub(crate) struct AckPolicy {
    /// When in-sequence data last arrived (for the active opener, from the SYN-ACK on);
    /// meaningful while `unanswered`.
    last_received: Instant,
    /// Bytes received since an ACK last went out.
    unacked_bytes: u32,
    /// Data segments still to be acknowledged at once (quick-ACK).
    quickacks_left: u16,
    /// The longest in-sequence arrival so far: what the peer's full-sized segment looks like
    /// from here (its MSS toward us, which it never announces; Linux keeps the same
    /// estimate). Read through `full_sized`.
    longest_arrival: u16,
    /// Something arrived since we last sent new data, and we are not interactive yet: the
    /// next data we send may make us so. Only that first send needs the timing check (a
    /// later one is further from the receipt), so a bulk sender, which receives nothing, and
    /// an interactive connection pay one test per segment sent.
    unanswered: bool,
    /// Request/response mode: ACKs wait for the reply instead of going quick.
    interactive: bool,
}

impl AckPolicy {
    pub(crate) fn new(quickack_segments: u32) -> AckPolicy {
        AckPolicy {
            last_received: Instant::ZERO,
            unacked_bytes: 0,
            quickacks_left: u16::try_from(quickack_segments).unwrap_or(u16::MAX),
            longest_arrival: 0,
            unanswered: false,
            interactive: false,
        }
    }

    /// In-sequence data of `bytes` arrived at `now`. `delay` is the delayed-ACK timeout
    /// (`None`: every segment is acknowledged at once), `full` gives the largest payload a
    /// segment to us can carry (our MSS less options).
    pub(crate) fn on_data(
        &mut self,
        now: Instant,
        bytes: usize,
        full: impl FnOnce() -> usize,
        delay: Option<Duration>,
    ) -> AckTiming {
        self.note_receipt(now);
        self.longest_arrival = self
            .longest_arrival
            .max(u16::try_from(bytes).unwrap_or(u16::MAX));
        let Some(delay) = delay else {
            return AckTiming::Now;
        };
        if !self.interactive && self.quickacks_left > 0 {
            self.quickacks_left -= 1;
            return AckTiming::Now;
        }
        // What is unacknowledged fits the receive window, at most 2^30 bytes (RFC 7323 §2.3).
        self.unacked_bytes += bytes as u32;
        // RFC 5681 §4.2: an ACK for at least every second full-sized segment.
        if self.unacked_bytes as usize >= 2 * self.full_sized(full()) {
            AckTiming::Now
        } else {
            AckTiming::Within(delay)
        }
    }

    /// The size of a full-sized segment from the peer, for RFC 5681 §4.2's count: the longest
    /// it has sent, within `cap` (our MSS less options; a delivery that filled a gap counts
    /// more than one segment) and no less than the 536 bytes RFC 9293 §3.7.1 lets any peer
    /// send, so a stream of small writes is not ACKed every other byte. A peer whose path
    /// or clamped MSS keeps its segments under ours is still ACKed every second one.
    fn full_sized(&self, cap: usize) -> usize {
        usize::from(self.longest_arrival)
            .clamp(DEFAULT_MSS.min(cap), cap)
            .max(1)
    }

    /// The handshake completed by the peer's SYN-ACK at `now` (active open): a request sent
    /// right after it is already a reply in the sense of `on_data_sent`.
    pub(crate) fn on_established(&mut self, now: Instant) {
        self.note_receipt(now);
    }

    fn note_receipt(&mut self, now: Instant) {
        self.last_received = now;
        self.unanswered = !self.interactive;
    }

    /// Whether new data sent now could be a reply (then `on_reply_sent` decides).
    #[inline(always)]
    pub(crate) fn may_be_reply(&self) -> bool {
        self.unanswered
    }

    /// New data of ours left at `now`, the first since a receipt: within `delay` of that
    /// receipt it is a reply, and the connection is interactive (when `enabled`).
    pub(crate) fn on_reply_sent(&mut self, now: Instant, delay: Option<Duration>, enabled: bool) {
        self.unanswered = false;
        if let (true, Some(delay)) = (enabled, delay) {
            if now.saturating_duration_since(self.last_received) < delay {
                self.interactive = true;
            }
        }
    }

    #[cfg(test)]
    fn on_data_sent(&mut self, now: Instant, delay: Option<Duration>, enabled: bool) {
        if self.may_be_reply() {
            self.on_reply_sent(now, delay, enabled);
        }
    }

    /// Whether the ACK of a FIN that ends the peer's data may wait for our own FIN or data:
    /// only on an interactive connection, where the reply (here, the close) comes at once.
    pub(crate) fn fin_may_wait(&self) -> bool {
        self.interactive
    }

    /// A segment carrying our current ACK left.
    pub(crate) fn on_ack_sent(&mut self) {
        self.unacked_bytes = 0;
    }

    /// The delayed-ACK timer fired: no reply took the ACK along, so the exchange is not (or
    /// no longer) request/response.
    pub(crate) fn on_delayed_ack_fired(&mut self) {
        self.interactive = false;
        // The data whose ACK waited is still unanswered: a reply to it may start the mode
        // again.
        self.unanswered = true;
    }

    /// Whether ACKs currently wait for a reply.
    #[cfg(test)]
    pub(crate) fn interactive(&self) -> bool {
        self.interactive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAY: Option<Duration> = Some(Duration::from_millis(40));
    const FULL: usize = 1448;
    const WAIT: Duration = Duration::from_millis(40);

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn it_takes_twenty_four_bytes_of_every_connection() {
        assert_eq!(core::mem::size_of::<AckPolicy>(), 24);
    }

    #[test]
    fn a_peer_sending_less_than_our_mss_is_acked_every_second_segment() {
        // A peer behind a 1280-byte path (IPv6's minimum MTU) sends 1208 bytes with
        // timestamps where our MSS would allow 1448.
        let mut p = AckPolicy::new(0);
        let small = 1208;
        for round in 0..3 {
            let t = at(10 * round);
            assert_eq!(p.on_data(t, small, || FULL, DELAY), AckTiming::Within(WAIT));
            assert_eq!(p.on_data(t, small, || FULL, DELAY), AckTiming::Now);
            p.on_ack_sent();
        }
        // Tiny writes still wait for a full-sized segment's worth, not every other byte.
        let mut p = AckPolicy::new(0);
        for ms in 0..10 {
            assert_eq!(
                p.on_data(at(ms), 1, || FULL, DELAY),
                AckTiming::Within(WAIT)
            );
        }
        // A gap filled at once is one delivery larger than any segment: it counts no more
        // than our MSS.
        let mut p = AckPolicy::new(0);
        assert_eq!(p.on_data(at(0), 3 * FULL, || FULL, DELAY), AckTiming::Now);
        p.on_ack_sent();
        assert_eq!(
            p.on_data(at(1), FULL, || FULL, DELAY),
            AckTiming::Within(WAIT)
        );
    }

    #[test]
    fn quick_acks_come_first_then_delays_and_every_second_full_segment() {
        let mut p = AckPolicy::new(2);
        assert_eq!(p.on_data(at(1), 100, || FULL, DELAY), AckTiming::Now);
        assert_eq!(p.on_data(at(2), 100, || FULL, DELAY), AckTiming::Now);
        assert_eq!(
            p.on_data(at(3), FULL, || FULL, DELAY),
            AckTiming::Within(WAIT)
        );
        assert_eq!(p.on_data(at(4), FULL, || FULL, DELAY), AckTiming::Now);
        p.on_ack_sent();
        assert_eq!(
            p.on_data(at(5), 10, || FULL, DELAY),
            AckTiming::Within(WAIT)
        );
    }

    #[test]
    fn a_reply_within_the_timeout_makes_the_connection_interactive() {
        let mut p = AckPolicy::new(16);
        // Sending before anything arrived is not a reply.
        p.on_data_sent(at(1), DELAY, true);
        assert!(!p.interactive());
        assert_eq!(p.on_data(at(10), 1, || FULL, DELAY), AckTiming::Now);
        p.on_data_sent(at(50), DELAY, true);
        assert!(!p.interactive(), "40 ms after the receipt is too late");
        assert_eq!(p.on_data(at(100), 1, || FULL, DELAY), AckTiming::Now);
        p.on_data_sent(at(139), DELAY, true);
        assert!(p.interactive());
        // The quick-ACKs left are skipped while interactive.
        assert_eq!(
            p.on_data(at(200), 1, || FULL, DELAY),
            AckTiming::Within(WAIT)
        );
        p.on_delayed_ack_fired();
        assert!(!p.interactive());
        p.on_ack_sent();
        assert_eq!(p.on_data(at(300), 1, || FULL, DELAY), AckTiming::Now);
    }

    #[test]
    fn interactive_still_acks_every_second_full_segment() {
        let mut p = AckPolicy::new(0);
        p.on_established(at(0));
        p.on_data_sent(at(1), DELAY, true);
        assert!(p.interactive());
        assert_eq!(
            p.on_data(at(2), FULL, || FULL, DELAY),
            AckTiming::Within(WAIT)
        );
        assert_eq!(p.on_data(at(2), FULL, || FULL, DELAY), AckTiming::Now);
    }

    #[test]
    fn off_or_without_delayed_acks_nothing_is_interactive() {
        let mut p = AckPolicy::new(16);
        p.on_established(at(0));
        p.on_data_sent(at(1), DELAY, false);
        assert!(!p.interactive());
        p.on_data_sent(at(1), None, true);
        assert!(!p.interactive());
        assert_eq!(p.on_data(at(2), 1, || FULL, None), AckTiming::Now);
    }
}
