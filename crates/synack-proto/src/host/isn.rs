//! Initial sequence numbers per RFC 6528 §3: ISN = M + F(localip, localport, remoteip,
//! remoteport, secretkey), where M is a timer ticking every 4 microseconds and F a keyed hash.
//! Successive incarnations of one 4-tuple get increasing ISNs (M moves on, F stays), while an
//! off-path attacker cannot guess F for a tuple it is not part of.
//!
//! The TSval offset RFC 7323 §5.4 asks for is the same kind of per-tuple secret, so one keyed
//! hash of the tuple serves both: its low half is F, its high half the offset. The halves of a
//! pseudo-random function's output are independent, so learning one (a peer sees its TSvals)
//! tells nothing of the other.

use super::keys::Key;
use super::tuple::Tuple;
use crate::time::Instant;

/// What a host derives from a 4-tuple and its secret when it opens a connection on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TupleSecrets {
    /// RFC 6528's F() for the tuple.
    f: u32,
    /// Added to our millisecond clock for TSval (RFC 7323 §5.4), the same for every
    /// incarnation of the tuple.
    pub ts_offset: u32,
}

impl TupleSecrets {
    pub fn of(key: &Key, tuple: &Tuple) -> TupleSecrets {
        let h = key.tuple(tuple, 0);
        TupleSecrets {
            f: h as u32,
            ts_offset: (h >> 32) as u32,
        }
    }

    /// The ISN for a connection opened at `now`.
    pub fn isn(&self, now: Instant) -> u32 {
        // RFC 6528 §3: "M is the 4 microsecond timer"; the u32 wraps about every 4.77 hours.
        let m = (now.as_micros() / 4) as u32;
        m.wrapping_add(self.f)
    }
}
