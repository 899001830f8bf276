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
//! it. A packet's lookup starts before any of the batch is handled, as a guess: the first
//! owner the table holds under its hash's tag, whose lines are read with the rest, no tuple
//! compared. Handling the packet then compares that owner's tuple with its own (in cache by
//! then), and looks the tuple up in full when they differ or when an earlier packet changed
//! the demux table since (a connection opened, or gone to TIME-WAIT or closed); the table
//! counts its changes for this. A slot the table still names holds the same occupant, as an
//! owner leaves the table before its slot is emptied (see `demux`). Comparing tuples only
//! when handling keeps the read-ahead short: the core's window of instructions in flight
//! holds more packets' loads at once.

use core::hint::black_box;

use super::demux::Found;
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
        // Which packet of the batch first had each packet's tuple, for the packets of a flow
        // seen just before.
        let mut first: [Option<usize>; BATCH] = [None; BATCH];
        let mut prev: Option<(Tuple, u64, usize)> = None;
        for (i, ((p, hash), fresh)) in parsed.iter().zip(&mut hashes).zip(&mut fresh).enumerate() {
            let Some(Ok((ip, seg, _))) = p else {
                continue;
            };
            // Segments `handle_packet` drops before its lookup (bad addresses or ports) are
            // read here too: reading is harmless, and they are rare.
            let tuple = Tuple::of(ip.dst, seg.dst_port, ip.src, seg.src_port);
            match prev {
                Some((t, h, j)) if t == tuple => {
                    *hash = Some(h);
                    first[i] = Some(j);
                }
                _ if self.demux_is_last(&tuple) => {}
                _ => {
                    let h = self.demux_hash(&tuple);
                    *hash = Some(h);
                    *fresh = Some(tuple);
                    prev = Some((tuple, h, i));
                }
            }
        }
        // The reads in two rounds of short loops, each load independent of the others in its
        // round, so the core issues many before the first returns: every bucket, then every
        // guessed owner's lines. The buckets go first, on their own and with no branch on
        // what they hold: a probe that goes on past its first bucket (about one in two at the
        // table's load) is a branch the core guesses wrong, and a wrong guess waiting on a
        // missed bucket would throw away the loads issued after it.
        let mut sink = 0u64;
        for hash in fresh.iter().zip(&hashes).filter_map(|(t, h)| t.and(*h)) {
            sink ^= self.demux_touch(hash);
        }
        let mut found: [Option<Found>; BATCH] = [None; BATCH];
        for ((found, tuple), hash) in found.iter_mut().zip(&fresh).zip(&hashes) {
            if let (Some(_), Some(hash)) = (tuple, hash) {
                let f = self.demux_guess(*hash);
                sink ^= self.touch_found(f);
                *found = Some(f);
            }
        }
        black_box(sink);
        // Handled in order; each guess stands for its packet, and the packets of its flow
        // right after it, if its owner holds the packet's tuple and the table has not changed
        // in between (a connection opened or gone); else the packet looks its tuple up.
        for (i, p) in raw.iter().enumerate() {
            let found = first[i].map_or(found[i], |j| found[j]);
            if let Some(parsed) = parsed[i] {
                self.handle_parsed(now, p, parsed, hashes[i], found);
            }
        }
    }
}
