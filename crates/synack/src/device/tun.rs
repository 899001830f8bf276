//! A Linux TUN interface: the kernel hands us the IP packets it routes to the interface and
//! takes the ones we write as if they had arrived on it.
//!
//! With offloads on, every packet carries a `struct virtio_net_hdr` in front (IFF_VNET_HDR,
//! the header virtio-net and the kernel's TUN driver share): the kernel may then hand us one
//! TCP segment of up to 64 KiB instead of many MTU-sized ones, with its checksum not yet
//! computed (`VIRTIO_NET_HDR_F_NEEDS_CSUM`, the pseudo-header sum already in the checksum
//! field). Such a segment never crossed a wire, so it goes to the host as it is, its
//! checksum left unfinished; one whose checksum nobody has checked is checked here. Going
//! out, consecutive segments of one connection are merged into one large segment for the
//! kernel to take whole (see `gso.rs`).
//!
//! With several queues (IFF_MULTI_QUEUE) the interface has one descriptor per queue: the
//! kernel spreads the flows it sends over them, and one epoll set lets the single driver
//! thread wait on all of them at once.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::gso::{self, VIRTIO_NET_HDR_F_NEEDS_CSUM};

/// The virtio-net header flag saying the packet's checksum has already been checked.
const VIRTIO_NET_HDR_F_DATA_VALID: u8 = 2;
use super::{Batch, Capabilities, Device};
use crate::sys;

/// `struct virtio_net_hdr` without the merge-buffers count: flags, gso_type, hdr_len,
/// gso_size, csum_start, csum_offset (little-endian on every host we run on, TUN's default
/// on little-endian machines).
pub(crate) const VNET_HDR_LEN: usize = 10;

/// The most queues the kernel lets a TUN interface have (`MAX_TAP_QUEUES`).
pub const MAX_QUEUES: usize = 256;

/// A TUN interface: plain IP packets, or with the virtio-net header and offloads; one queue
/// or several.
#[derive(Debug)]
pub struct Tun {
    queues: Vec<OwnedFd>,
    /// Polls readable while any queue holds a packet (only with more than one queue).
    epoll: Option<sys::Epoll>,
    /// The queue `recv` reads first next time, so a busy queue cannot starve the others.
    next_rx: usize,
    /// Packets read from each queue.
    received: Arc<[AtomicU64]>,
    name: String,
    mtu: usize,
    offload: bool,
    /// Where consecutive segments are merged into one large one.
    scratch: Vec<u8>,
}

impl Tun {
    /// Creates interface `name` in the calling thread's network namespace, without offloads:
    /// one packet per read or write, checksums computed by synack. Addresses, MTU and link
    /// state are the caller's to set (see [`crate::netns::TunNetns`]); `mtu` must match.
    pub fn create(name: &str, mtu: usize) -> io::Result<Tun> {
        Tun::open(name, mtu, false)
    }

    /// Like [`Tun::create`], with the virtio-net header: the kernel may send us TCP segments
    /// of up to 64 KiB with checksums left to us (TSO and checksum offload as seen from the
    /// kernel's side).
    pub fn create_with_offload(name: &str, mtu: usize) -> io::Result<Tun> {
        Tun::open(name, mtu, true)
    }

    /// Like [`Tun::create`] (or [`Tun::create_with_offload`]), with `queues` queues
    /// (IFF_MULTI_QUEUE), from 1 to [`MAX_QUEUES`]. Each flow keeps to one queue both ways:
    /// we send a connection's packets on the queue its addresses and ports pick, and the
    /// kernel's TUN driver sends a flow back on the queue it last received it from.
    pub fn create_multi_queue(
        name: &str,
        mtu: usize,
        offload: bool,
        queues: usize,
    ) -> io::Result<Tun> {
        if !(1..=MAX_QUEUES).contains(&queues) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a TUN interface has 1 to {MAX_QUEUES} queues, not {queues}"),
            ));
        }
        if queues == 1 {
            return Tun::open(name, mtu, offload);
        }
        let fds = (0..queues)
            .map(|_| sys::open_tun(name, offload, true))
            .collect::<io::Result<Vec<_>>>()?;
        let epoll = sys::Epoll::new()?;
        for fd in &fds {
            epoll.add(fd.as_raw_fd())?;
        }
        Ok(Tun::from_queues(name, mtu, offload, fds, Some(epoll)))
    }

    fn open(name: &str, mtu: usize, offload: bool) -> io::Result<Tun> {
        let fd = sys::open_tun(name, offload, false)?;
        Ok(Tun::from_queues(name, mtu, offload, vec![fd], None))
    }

    fn from_queues(
        name: &str,
        mtu: usize,
        offload: bool,
        queues: Vec<OwnedFd>,
        epoll: Option<sys::Epoll>,
    ) -> Tun {
        Tun {
            received: queues.iter().map(|_| AtomicU64::new(0)).collect(),
            queues,
            epoll,
            next_rx: 0,
            name: name.to_string(),
            mtu,
            offload,
            scratch: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// Packets read so far from each queue, live (the counters stay readable after the
    /// device has moved into a stack).
    pub fn received_per_queue(&self) -> Arc<[AtomicU64]> {
        self.received.clone()
    }

    /// Reads from queue `q` until it is empty or `batch` is full.
    fn recv_queue(&mut self, q: usize, batch: &mut Batch) -> io::Result<()> {
        let fd = self.queues[q].as_raw_fd();
        while let Some(buf) = batch.next_buf() {
            let Some(n) = sys::read_nonblocking(fd, buf)? else {
                break;
            };
            self.received[q].fetch_add(1, Ordering::Relaxed);
            if !self.offload {
                batch.commit(n);
                continue;
            }
            if n < VNET_HDR_LEN {
                continue;
            }
            let (hdr, packet) = buf[..n].split_at(VNET_HDR_LEN);
            if !checksum_acceptable(hdr, packet) {
                // A bad checksum, or a header we cannot follow: dropped as a corrupt packet.
                continue;
            }
            batch.commit_at(VNET_HDR_LEN, n - VNET_HDR_LEN);
        }
        Ok(())
    }

    /// The descriptor of the queue `packet`'s flow goes out on.
    fn queue_for(&self, packet: &[u8]) -> RawFd {
        let q = if self.queues.len() == 1 {
            0
        } else {
            flow_hash(packet) as usize % self.queues.len()
        };
        self.queues[q].as_raw_fd()
    }
}

/// A hash of a packet's addresses and ports (FNV-1a): the same for every packet of a
/// connection in one direction. Packets that are not IPv4 or IPv6 hash to 0.
fn flow_hash(packet: &[u8]) -> u32 {
    let (addrs, l4) = match packet.first().map(|b| b >> 4) {
        Some(4) if packet.len() >= 20 => (&packet[12..20], usize::from(packet[0] & 0xf) * 4),
        Some(6) if packet.len() >= 40 => (&packet[8..40], 40),
        _ => return 0,
    };
    let ports = packet.get(l4..l4 + 4).unwrap_or(&[]);
    addrs.iter().chain(ports).fold(0x811c_9dc5, |h: u32, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// Whether a packet read with virtio-net header `hdr` may go to the stack, which takes a
/// device with checksum offload at its word and checks no checksum itself.
///
/// RFC 9293 §3.1 has the receiver check the checksum to catch damage in transit. A packet
/// marked `NEEDS_CSUM` was handed over by a sender on this host before its checksum was
/// ever computed (`csum_start`/`csum_offset` say where it would go): its bytes crossed no
/// medium, so there is nothing to check, and summing up to 64 KiB per packet only to ignore
/// the result took over a quarter of the driver's time. Linux trusts such packets on the
/// same grounds. `DATA_VALID` means the kernel (or the NIC before it) has checked the sum.
/// Anything else carries a checksum nobody has checked, and it is checked here.
fn checksum_acceptable(hdr: &[u8], packet: &[u8]) -> bool {
    let flags = hdr[0];
    if flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 {
        let start = usize::from(u16::from_le_bytes([hdr[6], hdr[7]]));
        let offset = usize::from(u16::from_le_bytes([hdr[8], hdr[9]]));
        return start < packet.len() && start + offset + 2 <= packet.len();
    }
    if flags & VIRTIO_NET_HDR_F_DATA_VALID != 0 {
        return true;
    }
    checksums_hold(packet)
}

/// Whether `packet`'s IPv4 header checksum and its TCP or ICMP checksum are right. A packet
/// that does not parse is left for the stack to reject on its own terms.
fn checksums_hold(packet: &[u8]) -> bool {
    use synack_wire::{ChecksumMode, Error, ip};
    match ip::parse_tcp(packet, ChecksumMode::Verify) {
        Ok(_) => true,
        Err(Error::NotTcp) => !matches!(
            ip::parse_icmp(packet, ChecksumMode::Verify),
            Err(Error::BadChecksum)
        ),
        Err(e) => e != Error::BadChecksum,
    }
}

impl Device for Tun {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mtu: self.mtu,
            checksum_offload: self.offload,
            segmentation_offload: self.offload,
        }
    }

    fn poll_fd(&self) -> RawFd {
        match &self.epoll {
            Some(e) => e.as_raw_fd(),
            None => self.queues[0].as_raw_fd(),
        }
    }

    fn recv(&mut self, batch: &mut Batch) -> io::Result<()> {
        let n = self.queues.len();
        for k in 0..n {
            if batch.is_full() {
                break;
            }
            self.recv_queue((self.next_rx + k) % n, batch)?;
        }
        self.next_rx = (self.next_rx + 1) % n;
        Ok(())
    }

    fn send(&mut self, batch: &Batch) -> io::Result<()> {
        if !self.offload {
            for packet in batch.iter() {
                dropped_or(sys::write_packet(self.queue_for(packet), packet))?;
            }
            return Ok(());
        }
        let (packets, sizes): (Vec<&[u8]>, Vec<Option<u16>>) = batch.iter_segmented().unzip();
        let mut i = 0;
        while i < packets.len() {
            let (packet, segment_size) = (packets[i], sizes[i]);
            // A run is one connection's: one flow, one queue.
            let fd = self.queue_for(packet);
            if let Some(size) = segment_size {
                // The host's own super-segment, its checksum left partial: written whole.
                if let Some(hdr) = gso::super_segment_header(packet, size) {
                    dropped_or(sys::write_packet2(fd, &hdr, packet))?;
                }
                i += 1;
                continue;
            }
            // Consecutive MSS-sized segments (up to the next super-segment) are merged.
            let end = sizes[i..]
                .iter()
                .position(Option::is_some)
                .map_or(packets.len(), |k| i + k);
            let run = &packets[i..end];
            let n = gso::run_length(run).max(1);
            if n == 1 {
                // No GSO, the checksum left partial as the host leaves it with offload.
                // A packet `gso` cannot follow is not TCP the host builds; it goes out
                // with an all-zero header, its checksum as it is.
                let hdr = gso::partial_checksum_header(packet).unwrap_or([0; VNET_HDR_LEN]);
                dropped_or(sys::write_packet2(fd, &hdr, packet))?;
            } else {
                let hdr = gso::merge(&run[..n], &mut self.scratch);
                dropped_or(sys::write_packet2(fd, &hdr, &self.scratch))?;
            }
            i += n;
        }
        Ok(())
    }
}

/// A full interface queue (or an interface that is down) drops the packet, as on a wire.
fn dropped_or(sent: io::Result<bool>) -> io::Result<()> {
    match sent {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EIO) => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An IPv4 TCP segment carrying 1000 bytes, with its full checksum.
    fn segment() -> Vec<u8> {
        let mut packet = vec![0u8; 20 + 20 + 1000];
        packet[0] = 0x45;
        let total = packet.len() as u16;
        packet[2..4].copy_from_slice(&total.to_be_bytes());
        packet[8] = 64;
        packet[9] = 6;
        packet[12..16].copy_from_slice(&[10, 0, 0, 1]);
        packet[16..20].copy_from_slice(&[10, 0, 0, 2]);
        let ip_sum = synack_wire::checksum::checksum(&packet[..20]);
        packet[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        packet[32] = 5 << 4;
        for (i, b) in packet[40..].iter_mut().enumerate() {
            *b = i as u8;
        }
        let mut c = synack_wire::checksum::pseudo_header_v4(
            [10, 0, 0, 1].into(),
            [10, 0, 0, 2].into(),
            6,
            (packet.len() - 20) as u16,
        );
        c.add(&packet[20..]);
        let tcp_sum = c.finish();
        packet[36..38].copy_from_slice(&tcp_sum.to_be_bytes());
        packet
    }

    fn header(flags: u8, start: u16, offset: u16) -> [u8; VNET_HDR_LEN] {
        let mut hdr = [0; VNET_HDR_LEN];
        hdr[0] = flags;
        hdr[6..8].copy_from_slice(&start.to_le_bytes());
        hdr[8..10].copy_from_slice(&offset.to_le_bytes());
        hdr
    }

    #[test]
    fn a_checked_checksum_lets_a_good_packet_through_and_stops_a_damaged_one() {
        let good = segment();
        assert!(checksum_acceptable(&header(0, 0, 0), &good));
        let mut damaged = good.clone();
        damaged[500] ^= 0x40;
        assert!(!checksum_acceptable(&header(0, 0, 0), &damaged));
        let mut bad_ip = good.clone();
        bad_ip[10] ^= 1;
        assert!(!checksum_acceptable(&header(0, 0, 0), &bad_ip));
        // The kernel vouches for the sum: the device takes its word.
        assert!(checksum_acceptable(
            &header(VIRTIO_NET_HDR_F_DATA_VALID, 0, 0),
            &damaged
        ));
    }

    #[test]
    fn a_partial_checksum_is_taken_as_it_is_when_its_header_fits_the_packet() {
        // The field holds the pseudo-header sum only, as the kernel leaves it.
        let mut packet = segment();
        packet[36..38].copy_from_slice(&[0x12, 0x34]);
        let before = packet.clone();
        let partial = |start, offset| header(VIRTIO_NET_HDR_F_NEEDS_CSUM, start, offset);
        assert!(checksum_acceptable(&partial(20, 16), &packet));
        assert_eq!(packet, before);
        assert!(!checksum_acceptable(&partial(2000, 16), &packet));
        assert!(!checksum_acceptable(&partial(20, 2000), &packet));
        assert!(!checksum_acceptable(&partial(20, 1019), &packet));
    }
}
