//! A Linux TUN interface: the kernel hands us the IP packets it routes to the interface and
//! takes the ones we write as if they had arrived on it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::{Batch, Capabilities, Device};
use crate::sys;

/// A TUN interface opened without the packet-information prefix and without the virtio-net
/// header: plain IP packets, checksums computed by synack, one packet per read or write.
#[derive(Debug)]
pub struct Tun {
    fd: OwnedFd,
    name: String,
    mtu: usize,
}

impl Tun {
    /// Creates interface `name` in the calling thread's network namespace. Addresses, MTU and
    /// link state are the caller's to set (see [`crate::netns::Netns`]); `mtu` must match.
    pub fn create(name: &str, mtu: usize) -> io::Result<Tun> {
        let fd = sys::open_tun(name)?;
        Ok(Tun {
            fd,
            name: name.to_string(),
            mtu,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Device for Tun {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mtu: self.mtu,
            checksum_offload: false,
            segmentation_offload: false,
        }
    }

    fn poll_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn recv(&mut self, batch: &mut Batch) -> io::Result<()> {
        while let Some(buf) = batch.next_buf() {
            match sys::read_nonblocking(self.fd.as_raw_fd(), buf)? {
                Some(n) => batch.commit(n),
                None => break,
            }
        }
        Ok(())
    }

    fn send(&mut self, batch: &Batch) -> io::Result<()> {
        for packet in batch.iter() {
            // A full interface queue (or an interface that is down) drops the packet.
            match sys::write_packet(self.fd.as_raw_fd(), packet) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
