//! Devices: where the stack's IP packets come from and go to. One small trait, so the driver
//! runs the same over a Linux TUN interface and an in-process link.

mod gso;
mod link;
mod tun;

use std::io;
use std::os::fd::RawFd;

pub use self::link::{Link, LinkConfig, LinkEnd, LinkStats, REORDER_HOLD};
pub(crate) use self::tun::VNET_HDR_LEN;
pub use self::tun::{MAX_QUEUES, Tun};

/// What a device can do, so the stack sizes segments and knows what it must compute itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The largest IP packet the device takes or hands out.
    pub mtu: usize,
    /// The device fills in (sending) or has checked (receiving) TCP checksums; the stack
    /// then neither computes nor checks them. A received packet whose checksum was never
    /// computed because it never left this host counts as checked.
    pub checksum_offload: bool,
    /// The device splits one large TCP segment into MTU-sized ones (TSO/GSO) and may hand
    /// out segments coalesced beyond the MTU.
    pub segmentation_offload: bool,
}

impl Capabilities {
    /// The largest packet `recv` may hand out.
    pub fn max_packet(&self) -> usize {
        if self.segmentation_offload {
            self.mtu.max(usize::from(u16::MAX))
        } else {
            self.mtu
        }
    }
}

/// A reusable set of packet buffers: the device fills it on receive, the stack on send.
#[derive(Debug)]
pub struct Batch {
    bufs: Vec<Vec<u8>>,
    /// (start, len) of each packet in its buffer: a device may leave a header in front.
    spans: Vec<(usize, usize)>,
    /// Per packet, the payload size a super-segment is cut into (`Transmit::segment_size`).
    segment_sizes: Vec<Option<u16>>,
    count: usize,
}

impl Batch {
    /// Room for `capacity` packets of up to `mtu` bytes each.
    pub fn new(capacity: usize, mtu: usize) -> Batch {
        Batch {
            bufs: (0..capacity.max(1)).map(|_| vec![0; mtu]).collect(),
            spans: vec![(0, 0); capacity.max(1)],
            segment_sizes: vec![None; capacity.max(1)],
            count: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.bufs.len()
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn is_full(&self) -> bool {
        self.count == self.bufs.len()
    }

    pub fn clear(&mut self) {
        self.count = 0;
    }

    /// The packets held, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.bufs[..self.count]
            .iter()
            .zip(&self.spans)
            .map(|(b, &(start, len))| &b[start..start + len])
    }

    /// The next free buffer, whole; `commit(n)` keeps its first `n` bytes as a packet.
    /// `None` when full.
    pub fn next_buf(&mut self) -> Option<&mut [u8]> {
        self.bufs.get_mut(self.count).map(|b| &mut b[..])
    }

    pub fn commit(&mut self, len: usize) {
        self.commit_at(0, len);
    }

    /// Keeps the first `len` bytes of the next free buffer as a packet that, with a
    /// `segment_size`, is a super-segment for the device to cut into segments of that many
    /// payload bytes (only for a device with `segmentation_offload`).
    pub fn commit_segmented(&mut self, len: usize, segment_size: Option<u16>) {
        let i = self.count;
        self.commit_at(0, len);
        if self.count > i {
            self.segment_sizes[i] = segment_size;
        }
    }

    /// The packets held, in order, each with the segment size of a super-segment.
    pub fn iter_segmented(&self) -> impl Iterator<Item = (&[u8], Option<u16>)> {
        self.iter().zip(self.segment_sizes.iter().copied())
    }

    /// Keeps `len` bytes from `start` of the next free buffer as a packet.
    pub fn commit_at(&mut self, start: usize, len: usize) {
        if let Some(b) = self.bufs.get(self.count) {
            self.segment_sizes[self.count] = None;
            let start = start.min(b.len());
            self.spans[self.count] = (start, len.min(b.len() - start));
            self.count += 1;
        }
    }
}

/// A source and sink of IP packets.
pub trait Device: Send + 'static {
    fn capabilities(&self) -> Capabilities;

    /// A descriptor that polls readable when `recv` may find packets. The driver sleeps on it.
    fn poll_fd(&self) -> RawFd;

    /// Appends waiting packets to `batch` until it is full or none are left, without
    /// blocking. A device must keep `poll_fd` readable while packets remain.
    fn recv(&mut self, batch: &mut Batch) -> io::Result<()>;

    /// Sends every packet of `batch`. A packet the device has no room for is dropped, as a
    /// full interface queue drops it; TCP's retransmission recovers it.
    fn send(&mut self, batch: &Batch) -> io::Result<()>;

    /// When a packet that is held back (a link's propagation delay) becomes due, so the
    /// driver wakes for it though `poll_fd` stays quiet until then.
    fn next_due(&self) -> Option<std::time::Instant> {
        None
    }
}
