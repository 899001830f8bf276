//! Packets taken in batches, as a device hands them over: each batch is parsed and looked up
//! before any of its packets is handled.
//!
//! With many connections open, a segment's own work is small beside the cache lines it waits
//! for: the demux bucket, the owner's slot, and a connection's state spread over most of its
//! ~900 bytes. One packet at a time, each of those misses waits for the one before. Here the
//! loads of a whole batch go out back to back, every packet's bucket, slot and connection
//! read before the first packet is handled, so their misses overlap (the core keeps a dozen
//! or so in flight); the handling that follows finds the lines in cache. This is what a
//! prefetch instruction would do, with plain reads: the core is `forbid(unsafe_code)`.
//!
//! The reads change nothing, so the result is exactly that of `handle_packet` called for each
//! packet in turn: the packets are handled in order, each seeing every effect of those before
//! it, and a lookup answered before an earlier packet of the batch changed the table is never
//! used (each packet looks its tuple up again, in cache by then).

use core::hint::black_box;

use super::demux::SlotRef;
use super::packet::Parsed;
use super::*;

/// Packets whose lines are read together: enough to keep the core's outstanding misses busy,
/// few enough that their ~15 lines each (about 15 KiB for 16 packets) stay in a first-level
/// data cache until each packet is handled.
const BATCH: usize = 16;

impl Host {
    /// IP datagrams from the interface, in the order they arrived: the same as calling
    /// [`Host::handle_packet`] for each in turn, and faster with many connections open (see
    /// the module's description). Takes any number; they are handled in batches of 16.
    pub fn handle_packets<'p>(
        &mut self,
        now: Instant,
        packets: impl IntoIterator<Item = &'p [u8]>,
    ) {
        let mut packets = packets.into_iter();
        loop {
            let mut raw: [&'p [u8]; BATCH] = [&[]; BATCH];
            let mut n = 0;
            // `zip` asks `raw` first, so no packet is taken once the batch is full.
            for (slot, p) in raw.iter_mut().zip(packets.by_ref()) {
                *slot = p;
                n += 1;
            }
            if n == 0 {
                return;
            }
            self.handle_batch(now, &raw[..n]);
        }
    }

    /// At most [`BATCH`] packets: parsed and hashed, their lines read, then handled in order.
    fn handle_batch<'p>(&mut self, now: Instant, raw: &[&'p [u8]]) {
        let parsed: [Option<Parsed<'p>>; BATCH] =
            core::array::from_fn(|i| raw.get(i).map(|p| self.parse(p)));
        // Each new flow's tuple and hash; a packet of the flow just before it (a bulk
        // transfer's run of segments), or of the flow the last lookup found, needs neither
        // the hash nor the reads, as one-by-one handling would find its owner cached.
        let mut hashes: [Option<u64>; BATCH] = [None; BATCH];
        let mut fresh: [Option<Tuple>; BATCH] = [None; BATCH];
        let mut prev: Option<(Tuple, u64)> = None;
        for ((p, hash), fresh) in parsed.iter().zip(&mut hashes).zip(&mut fresh) {
            let Some(Ok((ip, seg))) = p else {
                continue;
            };
            // Segments `handle_packet` drops before its lookup (bad addresses or ports) are
            // read here too: reading is harmless, and they are rare.
            let tuple = Tuple::new(
                SocketAddr::new(ip.dst, seg.dst_port),
                SocketAddr::new(ip.src, seg.src_port),
            );
            match prev {
                Some((t, h)) if t == tuple => *hash = Some(h),
                _ if self.demux_is_last(&tuple) => {}
                _ => {
                    let h = self.demux_hash(&tuple);
                    *hash = Some(h);
                    *fresh = Some(tuple);
                    prev = Some((tuple, h));
                }
            }
        }
        // The reads in two rounds of short loops, each load independent of the others in
        // its round, so the core issues many before the first returns: every bucket and
        // owner's tuple, then every owner's state.
        let mut slots: [Option<SlotRef>; BATCH] = [None; BATCH];
        for ((slot, tuple), hash) in slots.iter_mut().zip(&fresh).zip(&hashes) {
            if let (Some(tuple), Some(hash)) = (tuple, hash) {
                *slot = self.demux_find(*hash, tuple);
            }
        }
        let mut sink = 0u64;
        for r in slots.iter().flatten() {
            sink ^= self.touch_slot(*r);
        }
        black_box(sink);
        for ((p, parsed), hash) in raw.iter().zip(parsed).zip(hashes) {
            if let Some(parsed) = parsed {
                self.handle_parsed(now, p, parsed, hash);
            }
        }
    }
}
