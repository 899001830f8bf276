//! A connection's timers by name, and the deadlines the connection arms itself.
//!
//! Every timer has one home. The three the connection arms and disarms as segments come and go
//! (retransmission, persist, delayed ACK) sit in a [`TimerTable`]. The handshake's limit runs from
//! its start, kept in the SYN-SENT or SYN-RECEIVED state's data. RACK's reordering timer and the
//! tail loss probe belong to loss detection (`congestion/loss.rs`), which sets them as it reads
//! ACKs and sends, so they live there, beside the state they follow from. Keepalive and the user
//! timeout are not armed at all: their deadlines follow from when the peer was last heard and
//! since when data has waited unacknowledged, so they are worked out from those when asked and can
//! never go stale. FIN-WAIT-2's and TIME-WAIT's deadlines belong to those states and live in their
//! data (`conn/state.rs`), so they vanish with the state. `Connection::deadline` (in `expiry.rs`)
//! is the one place that knows where each lives; `poll_timeout` is the earliest of them.

use crate::time::Instant;

/// The timers of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Timer {
    /// RFC 6298 §5: resend the earliest unacknowledged segment.
    Retransmit,
    /// RFC 8985 §6.3: segments still within RACK's reordering window when the last ACK came
    /// are declared lost once it has passed.
    Reorder,
    /// RFC 8985 §7.2: the probe timeout (PTO) that sends a tail loss probe; never later than
    /// the retransmission timer.
    Probe,
    /// RFC 9293 §3.8.6.1: probe a zero window.
    Persist,
    /// RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2: the latest moment an owed ACK may leave.
    DelayedAck,
    /// Give up on a handshake that takes too long (`Config::connect_timeout`, FreeBSD's
    /// `TCP_KEEPINIT`); its start lives in the SYN-SENT or SYN-RECEIVED state's data.
    Handshake,
    /// RFC 1122 §4.2.3.6: probe an idle peer, or give up on one that stopped answering.
    Keepalive,
    /// RFC 9293 §3.8.3's USER TIMEOUT (`TCP_USER_TIMEOUT`, RFC 5482): give up on data that
    /// stays unacknowledged.
    UserTimeout,
    /// RFC 1122 §4.2.2.13 lets a closed connection's FIN-WAIT-2 end (Linux's `tcp_fin_timeout`).
    FinWait2,
    /// RFC 9293 §3.4.2: the 2MSL quiet time.
    TimeWait,
}

impl Timer {
    pub const ALL: [Timer; 10] = [
        Timer::Retransmit,
        Timer::Reorder,
        Timer::Probe,
        Timer::Persist,
        Timer::DelayedAck,
        Timer::Handshake,
        Timer::Keepalive,
        Timer::UserTimeout,
        Timer::FinWait2,
        Timer::TimeWait,
    ];

    /// The slot of a timer the connection arms itself, `None` for one whose deadline lives
    /// elsewhere.
    fn slot(self) -> Option<usize> {
        match self {
            Timer::Retransmit => Some(0),
            Timer::Persist => Some(1),
            Timer::DelayedAck => Some(2),
            Timer::Reorder
            | Timer::Probe
            | Timer::Handshake
            | Timer::Keepalive
            | Timer::UserTimeout
            | Timer::FinWait2
            | Timer::TimeWait => None,
        }
    }
}

/// A slot's value when its timer is not armed: the last microsecond of the clock, which no
/// armed deadline takes (one that would is kept a microsecond earlier, some 584,000 years
/// from the epoch).
const UNARMED: u64 = u64::MAX;

/// Deadlines of the timers the connection arms and disarms itself: retransmission, persist
/// and delayed ACK. Kept as bare microseconds with [`UNARMED`] for none: 24 bytes among the
/// connection's hot fields rather than three `Option<Instant>`s' 48.
#[derive(Clone, Debug)]
pub(crate) struct TimerTable {
    deadlines: [u64; 3],
}

impl Default for TimerTable {
    fn default() -> TimerTable {
        TimerTable {
            deadlines: [UNARMED; 3],
        }
    }
}

impl TimerTable {
    pub fn get(&self, timer: Timer) -> Option<Instant> {
        let d = self.deadlines[timer.slot()?];
        (d != UNARMED).then(|| Instant::from_micros(d))
    }

    /// Arms `timer` for `at` (or disarms it with `None`).
    pub fn put(&mut self, timer: Timer, at: Option<Instant>) {
        debug_assert!(timer.slot().is_some(), "{timer:?} is not armed by hand");
        if let Some(i) = timer.slot() {
            self.deadlines[i] = at.map_or(UNARMED, |t| t.as_micros().min(UNARMED - 1));
        }
    }

    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.put(timer, Some(at));
    }

    pub fn stop(&mut self, timer: Timer) {
        self.put(timer, None);
    }

    pub fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// The earliest of the armed deadlines.
    #[cfg(test)]
    pub fn earliest(&self) -> Option<Instant> {
        let d = self.earliest_micros();
        (d != UNARMED).then(|| Instant::from_micros(d))
    }

    /// [`TimerTable::earliest`] as bare microseconds, `u64::MAX` when nothing is armed.
    pub fn earliest_micros(&self) -> u64 {
        let [a, b, c] = self.deadlines;
        a.min(b).min(c)
    }

    /// Whether `timer` is armed for `now` or earlier.
    pub fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.get(timer).is_some_and(|d| d <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armed_timers_are_kept_apart_and_derived_ones_are_never_stored() {
        let mut t = TimerTable::default();
        t.set(Timer::Retransmit, Instant::from_millis(5));
        t.set(Timer::DelayedAck, Instant::from_millis(3));
        assert_eq!(t.get(Timer::Retransmit), Some(Instant::from_millis(5)));
        assert_eq!(t.get(Timer::Persist), None);
        assert!(t.is_due(Timer::DelayedAck, Instant::from_millis(3)));
        assert!(!t.is_due(Timer::Retransmit, Instant::from_millis(4)));
        assert_eq!(t.earliest(), Some(Instant::from_millis(3)));
        t.stop(Timer::Retransmit);
        assert!(!t.is_armed(Timer::Retransmit));
        t.stop(Timer::DelayedAck);
        assert_eq!(t.earliest(), None);
        // A deadline at the clock's very end is still armed, a microsecond earlier.
        let end = Instant::from_micros(u64::MAX);
        t.set(Timer::Persist, end);
        assert!(t.is_armed(Timer::Persist));
        assert_eq!(
            t.get(Timer::Persist),
            Some(Instant::from_micros(u64::MAX - 1))
        );
        assert_eq!(t.earliest(), Some(Instant::from_micros(u64::MAX - 1)));
        t.stop(Timer::Persist);
        assert_eq!(t.earliest(), None);
        for timer in [
            Timer::Reorder,
            Timer::Probe,
            Timer::Handshake,
            Timer::Keepalive,
            Timer::UserTimeout,
            Timer::FinWait2,
            Timer::TimeWait,
        ] {
            assert_eq!(t.get(timer), None);
        }
    }
}

/// A moment that may not have happened yet: `Option<Instant>` without its spare tag values.
///
/// A field kept among a connection's rare ones uses this. `Option<Entry>` in the host's slab
/// marks an empty slot with the widest spare values it finds in the entry, the last such
/// field winning a tie, and an `Option<Instant>`'s 8-byte tag is the widest there is: had a
/// cold field at the end of the connection one, every lookup of the slot would read that
/// cold line. A `bool` beside the time has far fewer spare values, so the mark stays on
/// the hot `Option<Instant>`s near the front (see `Connection`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Moment {
    happened: bool,
    at: Instant,
}

impl Moment {
    pub fn get(self) -> Option<Instant> {
        self.happened.then_some(self.at)
    }

    pub fn set(&mut self, at: Instant) {
        *self = Moment { happened: true, at };
    }
}
