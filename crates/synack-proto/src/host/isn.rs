//! Initial sequence numbers per RFC 6528 §3: ISN = M + F(localip, localport, remoteip,
//! remoteport, secretkey), where M is a timer ticking every 4 microseconds and F a keyed hash.
//! Successive incarnations of one 4-tuple get increasing ISNs (M moves on, F stays), while an
//! off-path attacker cannot guess F for a tuple it is not part of.

use core::net::SocketAddr;

use super::keys::Key;
use crate::time::Instant;

pub(crate) fn isn(key: &Key, now: Instant, local: SocketAddr, remote: SocketAddr) -> u32 {
    // RFC 6528 §3: "M is the 4 microsecond timer"; the u32 wraps about every 4.77 hours.
    let m = (now.as_micros() / 4) as u32;
    let f = key.tuple(local, remote, 0) as u32;
    m.wrapping_add(f)
}
