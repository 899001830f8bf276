//! Classic pcap output (the libpcap format, microsecond timestamps, `LINKTYPE_RAW`), so a
//! simulated run opens in Wireshark or tcpdump.
//!
//! The format is a 24-byte file header and a 16-byte header per packet; writing it by hand
//! keeps the simulator free of dependencies it would use for nothing else.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use synack_proto::Instant;

use crate::link::{LinkEvent, Side};
use crate::tap::{Tap, TapEvent};

/// Link type for packets that start directly with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u32 = 101;

/// Longest packet stored whole; longer ones are truncated in the file (their original length
/// is still recorded). The value tcpdump uses.
pub const SNAPLEN: u32 = 262_144;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;

/// Writes a pcap stream packet by packet.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W) -> io::Result<PcapWriter<W>> {
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&MAGIC_MICROS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay zero: virtual time has no zone.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_RAW.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out })
    }

    /// Appends one packet stamped with virtual time `at` (seconds since the simulation's zero).
    pub fn write_packet(&mut self, at: Instant, data: &[u8]) -> io::Result<()> {
        let micros = at.as_micros();
        // pcap seconds are 32 bits; a simulation beyond year 2106 is clamped rather than wrapped.
        let secs = u32::try_from(micros / 1_000_000).unwrap_or(u32::MAX);
        let usecs = (micros % 1_000_000) as u32;
        let orig_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let incl_len = orig_len.min(SNAPLEN);
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&usecs.to_le_bytes());
        header[8..12].copy_from_slice(&incl_len.to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&data[..incl_len as usize])
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Which view of the link a capture shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Capture {
    /// Every packet as it leaves its sender, stamped with the send time: what a capture on the
    /// sending host would show. Lost and dropped packets appear once; the link's duplicates and
    /// corruption do not appear.
    #[default]
    Sent,
    /// Every copy as it reaches its receiver, stamped with the arrival time: what a capture on
    /// the receiving host would show. Corrupted bytes and duplicates appear; lost packets don't.
    Delivered,
}

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcapRecord {
    pub at: Instant,
    /// The side that sent the packet (both directions go into one capture).
    pub from: Side,
    pub data: Vec<u8>,
}

/// A [`Tap`] that keeps packets in memory for a pcap file. Register a shared clone
/// (`Rc<RefCell<PcapTap>>`) with the link and write the file when the run is over.
#[derive(Clone, Debug, Default)]
pub struct PcapTap {
    capture: Capture,
    records: Vec<PcapRecord>,
}

impl PcapTap {
    pub fn new(capture: Capture) -> PcapTap {
        PcapTap {
            capture,
            records: Vec::new(),
        }
    }

    pub fn capture(&self) -> Capture {
        self.capture
    }

    /// The captured packets, in time order.
    pub fn records(&self) -> &[PcapRecord] {
        &self.records
    }

    pub fn write_to<W: Write>(&self, out: W) -> io::Result<()> {
        let mut writer = PcapWriter::new(out)?;
        for record in &self.records {
            writer.write_packet(record.at, &record.data)?;
        }
        writer.flush()
    }

    pub fn write_file(&self, path: impl AsRef<Path>) -> io::Result<()> {
        self.write_to(BufWriter::new(File::create(path)?))
    }
}

impl Tap for PcapTap {
    fn observe(&mut self, event: TapEvent<'_>) {
        match (self.capture, event) {
            (Capture::Sent, TapEvent::Sent(event)) => self.records.push(PcapRecord {
                at: event.sent_at,
                from: event.from,
                data: event.packet.clone(),
            }),
            (Capture::Delivered, TapEvent::Delivered(delivery)) => self.records.push(PcapRecord {
                at: delivery.at,
                from: delivery.to.other(),
                data: delivery.packet.clone(),
            }),
            _ => {}
        }
    }
}

/// Writes a capture of a link's event log (see [`Link::events`](crate::Link::events)), for when
/// no tap was registered before the run. For [`Capture::Delivered`] this includes copies still
/// in flight when the log was read, as if the run had gone on until they arrived.
pub fn write_events<W: Write>(events: &[LinkEvent], capture: Capture, out: W) -> io::Result<()> {
    let mut writer = PcapWriter::new(out)?;
    match capture {
        Capture::Sent => {
            for event in events {
                if !matches!(event.fate, crate::link::Fate::Duplicate { .. }) {
                    writer.write_packet(event.sent_at, &event.packet)?;
                }
            }
        }
        Capture::Delivered => {
            let mut arrivals: Vec<(Instant, u64, Vec<u8>)> = events
                .iter()
                .filter_map(|e| Some((e.fate.arrival()?, e.id, e.delivered_bytes()?)))
                .collect();
            // Same order as the link delivers: by arrival, then by creation.
            arrivals.sort_by_key(|&(at, id, _)| (at, id));
            for (at, _, data) in arrivals {
                writer.write_packet(at, &data)?;
            }
        }
    }
    writer.flush()
}
