//! Ephemeral port selection, RFC 6056 §3.3.3 (Algorithm 3, "Simple Hash-Based Port Selection"):
//! the search starts at an offset F(localip, remoteip, remoteport, secret) plus a global counter,
//! so ports toward one destination are sequential (few collisions, quick reuse is avoided) while
//! ports toward different destinations are unrelated and unpredictable off-path.

use core::net::{IpAddr, SocketAddr};
use core::ops::RangeInclusive;

use super::keys::Key;
use super::tuple::Tuple;

pub(crate) struct PortAllocator {
    key: Key,
    min: u16,
    count: u32,
    /// `next_ephemeral` of Algorithm 3.
    next: u32,
}

impl PortAllocator {
    pub fn new(key: Key, range: RangeInclusive<u16>) -> PortAllocator {
        let (min, max) = (*range.start(), *range.end());
        let count = if max >= min {
            u32::from(max - min) + 1
        } else {
            0
        };
        PortAllocator {
            key,
            min,
            count,
            next: 0,
        }
    }

    /// The first port for which `free(port)` holds, trying each port of the range at most once.
    pub fn pick(
        &mut self,
        local: IpAddr,
        remote: SocketAddr,
        mut free: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        if self.count == 0 {
            return None;
        }
        // F(localip, remoteip, remoteport): the tuple's words with the local port left 0.
        let offset = self
            .key
            .tuple(&Tuple::new(SocketAddr::new(local, 0), remote), 0) as u32;
        for _ in 0..self.count {
            let port = u32::from(self.min) + (offset.wrapping_add(self.next) % self.count);
            self.next = self.next.wrapping_add(1);
            let port = port as u16;
            if free(port) {
                return Some(port);
            }
        }
        None
    }
}
