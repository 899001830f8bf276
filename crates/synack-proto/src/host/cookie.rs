//! SYN cookies (RFC 4987 §3.6), in the shape Linux uses: when a listener's SYN queue is full,
//! the SYN-ACK's sequence number carries everything needed to rebuild the connection from the
//! peer's ACK, so a SYN flood costs no memory.
//!
//! ```text
//! cookie = H1(4-tuple) + peer ISN + (count << 24) + ((H2(4-tuple, count) + mss_index) mod 2^24)
//! ```
//!
//! `count` is a coarse clock (one tick a minute). On the ACK, ACK−1 is the cookie and SEQ−1 the
//! peer's ISN: subtracting H1 and the ISN leaves the tick in the top 8 bits, which must be this
//! one or the previous one, and the low 24 bits less H2 must be a valid MSS index. A blind
//! forger succeeds with probability about 4 in 2^24 per guess, and only for two minutes.

use core::net::SocketAddr;

use super::keys::Key;
use super::tuple::Tuple;
use crate::time::Instant;

/// Low bits of the cookie that carry the keyed hash plus the data.
const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;
/// A cookie is good in the tick it was made and the next one (Linux `MAX_SYNCOOKIE_AGE`).
const MAX_AGE: u32 = 2;
/// One tick of the cookie clock.
pub(crate) const TICK_MICROS: u64 = 60_000_000;

/// The MSS values a cookie can say, indexed by two bits. Chosen, like Linux's tables, around
/// the common MSS values seen on the Internet; the peer's MSS is rounded down to one of them.
const MSS_V4: [u16; 4] = [536, 1300, 1440, 1460];
/// IPv6: the minimum MTU, tunnels, Ethernet, jumbo frames, each less 60 bytes of headers.
const MSS_V6: [u16; 4] = [1220, 1420, 1440, 8940];

/// Low bits of a cookie SYN-ACK's TSval that carry the options the sequence number has no
/// room for (Linux `TSBITS`): bits 0–3 the peer's window-scale shift (15 for none), bit 4
/// SACK-permitted. The peer echoes TSval in the ACK's TSecr (RFC 7323 §3.2).
const TS_BITS: u32 = 6;
const TS_MASK: u32 = (1 << TS_BITS) - 1;
const TS_NO_WSCALE: u32 = 0xf;
const TS_SACK: u32 = 1 << 4;

/// TSval for a cookie SYN-ACK: our clock with the options in its low bits, never ahead of the
/// clock, so the connection's later TSvals never go backwards for the peer's PAWS.
pub(crate) fn ts_encode(clock: u32, window_scale: Option<u8>, sack: bool) -> u32 {
    let mut options = window_scale.map_or(TS_NO_WSCALE, |w| u32::from(w.min(14)));
    if sack {
        options |= TS_SACK;
    }
    let ts = (clock & !TS_MASK) | options;
    if options > clock & TS_MASK {
        ts.wrapping_sub(TS_MASK + 1)
    } else {
        ts
    }
}

/// (window-scale shift, SACK-permitted) from the TSecr of a cookie ACK.
pub(crate) fn ts_decode(tsecr: u32) -> (Option<u8>, bool) {
    let w = tsecr & TS_NO_WSCALE;
    let window_scale = (w != TS_NO_WSCALE).then_some(w.min(14) as u8);
    (window_scale, tsecr & TS_SACK != 0)
}

pub(crate) struct CookieJar {
    h1: Key,
    h2: Key,
}

fn table(remote: SocketAddr) -> &'static [u16; 4] {
    if remote.is_ipv4() { &MSS_V4 } else { &MSS_V6 }
}

pub(crate) fn tick(now: Instant) -> u32 {
    (now.as_micros() / TICK_MICROS) as u32
}

impl CookieJar {
    pub fn new(secret: u128) -> CookieJar {
        CookieJar {
            h1: Key::derive(secret, b"synack cookie h1"),
            h2: Key::derive(secret, b"synack cookie h2"),
        }
    }

    /// The cookie (our ISN) for a SYN from `remote` to `local` with sequence number `peer_isn`
    /// and MSS option `peer_mss`, and the MSS the cookie will hand back.
    pub fn make(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        peer_isn: u32,
        peer_mss: u16,
    ) -> (u32, u16) {
        let t = table(remote);
        // The largest table entry the peer can take; the smallest if it asked for less still
        // (as Linux does: the first entry is the protocol minimum).
        let index = (0..t.len()).rev().find(|&i| t[i] <= peer_mss).unwrap_or(0);
        let count = tick(now);
        let tuple = Tuple::new(local, remote);
        let h1 = self.h1.tuple(&tuple, 0) as u32;
        let h2 = self.h2.tuple(&tuple, u64::from(count)) as u32;
        let cookie = h1
            .wrapping_add(peer_isn)
            .wrapping_add(count << COOKIE_BITS)
            .wrapping_add(h2.wrapping_add(index as u32) & COOKIE_MASK);
        (cookie, t[index])
    }

    /// The MSS a returning cookie encodes, or `None` when it is forged or too old.
    pub fn check(
        &self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        cookie: u32,
        peer_isn: u32,
    ) -> Option<u16> {
        let count = tick(now);
        let tuple = Tuple::new(local, remote);
        let h1 = self.h1.tuple(&tuple, 0) as u32;
        let rest = cookie.wrapping_sub(h1).wrapping_sub(peer_isn);
        let age = count.wrapping_sub(rest >> COOKIE_BITS) & (u32::MAX >> COOKIE_BITS);
        if age >= MAX_AGE {
            return None;
        }
        let made = count.wrapping_sub(age);
        let h2 = self.h2.tuple(&tuple, u64::from(made)) as u32;
        let index = rest.wrapping_sub(h2) & COOKIE_MASK;
        table(remote).get(index as usize).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "10.0.0.1:80".parse().unwrap(),
            "192.0.2.7:40000".parse().unwrap(),
        )
    }

    #[test]
    fn round_trip_rounds_mss_down_and_expires_after_two_ticks() {
        let jar = CookieJar::new(7);
        let (l, r) = addrs();
        let now = Instant::from_micros(5 * TICK_MICROS + 17);
        for (asked, got) in [
            (1460, 1460),
            (1459, 1440),
            (1400, 1300),
            (600, 536),
            (100, 536),
        ] {
            let (c, mss) = jar.make(now, l, r, 1234, asked);
            assert_eq!(mss, got);
            assert_eq!(jar.check(now, l, r, c, 1234), Some(got));
            let later = Instant::from_micros(6 * TICK_MICROS + 5);
            assert_eq!(jar.check(later, l, r, c, 1234), Some(got));
            let too_late = Instant::from_micros(7 * TICK_MICROS);
            assert_eq!(jar.check(too_late, l, r, c, 1234), None);
            // The peer ISN enters linearly (as in Linux), so only an ISN off by more than the
            // index bits is certain to fail; the sequence check on the ACK covers the rest.
            assert_eq!(
                jar.check(now, l, r, c, 1234 + (1 << 20)),
                None,
                "another ISN"
            );
            assert_eq!(jar.check(now, l, r, c.wrapping_add(1 << 20), 1234), None);
            let other: SocketAddr = "192.0.2.7:40001".parse().unwrap();
            assert_eq!(jar.check(now, l, other, c, 1234), None, "another 4-tuple");
        }
    }

    #[test]
    fn timestamp_carries_options_and_never_runs_ahead() {
        for clock in [0u32, 5, 63, 64, 1000, 1005, u32::MAX] {
            for ws in [None, Some(0), Some(7), Some(14)] {
                for sack in [false, true] {
                    let ts = ts_encode(clock, ws, sack);
                    assert_eq!(ts_decode(ts), (ws, sack));
                    let behind = clock.wrapping_sub(ts);
                    assert!(behind < 2 * (TS_MASK + 1), "{clock} {ts}");
                }
            }
        }
    }

    #[test]
    fn forgeries_rarely_pass() {
        let jar = CookieJar::new(99);
        let (l, r) = addrs();
        let now = Instant::from_micros(TICK_MICROS * 3);
        let passed = (0..100_000u32)
            .filter(|&i| {
                jar.check(now, l, r, i.wrapping_mul(2_654_435_761), 5)
                    .is_some()
            })
            .count();
        // Expected about 100_000 * 2 ticks * 4 / 2^32 ≈ 0.0002.
        assert!(passed <= 1, "{passed} forged cookies passed");
    }
}
