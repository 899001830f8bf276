//! The few Linux system calls the runtime needs, each wrapped once so the rest of the crate is
//! safe code: an eventfd to wake a sleeping driver, `poll` on a device and that eventfd, and
//! non-blocking reads and writes of whole packets on a file descriptor.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A counter the kernel can wait on: one side adds, the other's `poll` wakes.
#[derive(Debug)]
pub struct EventFd {
    fd: OwnedFd,
}

impl EventFd {
    pub fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; a non-negative result is a new descriptor we own.
        let fd = check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        Ok(EventFd {
            // SAFETY: `fd` was just returned by eventfd and is owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Makes the descriptor readable until the next `clear`.
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64. A full counter (EAGAIN) is still readable,
        // which is all a signal needs, so the result is not needed.
        unsafe {
            libc::write(self.fd.as_raw_fd(), (&raw const one).cast(), 8);
        }
    }

    /// Resets the counter; the descriptor is not readable until the next `signal`.
    pub fn clear(&self) {
        let mut value: u64 = 0;
        // SAFETY: reads at most 8 bytes into a live u64. EAGAIN means already clear.
        unsafe {
            libc::read(self.fd.as_raw_fd(), (&raw mut value).cast(), 8);
        }
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Waits until one of `fds` is readable or `timeout` passes (`None`: no limit). Returns which
/// were readable. An interrupted wait returns with none readable.
pub fn poll_readable(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let millis = match timeout {
        None => -1,
        // Round up so a deadline 0.3 ms away does not spin with a zero timeout.
        Some(d) => d
            .as_micros()
            .div_ceil(1000)
            .min(i32::MAX as u128)
            .try_into()
            .unwrap_or(i32::MAX),
    };
    // SAFETY: `pfds` is a live array of `pfds.len()` pollfd structs.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, millis) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(e);
    }
    Ok(pfds
        .iter()
        .map(|p| p.revents & (libc::POLLIN | libc::POLLERR | libc::POLLHUP) != 0)
        .collect())
}

/// One `read` on a non-blocking descriptor: `Ok(None)` when nothing is waiting.
pub fn read_nonblocking(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: reads at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
            _ => Err(e),
        };
    }
    Ok(Some(n as usize))
}

/// One `write` of a whole packet on a non-blocking descriptor: `Ok(false)` when the device
/// queue is full (the packet is dropped, as a full interface queue drops it).
pub fn write_packet(fd: RawFd, packet: &[u8]) -> io::Result<bool> {
    // SAFETY: writes `packet.len()` bytes from `packet`.
    let n = unsafe { libc::write(fd, packet.as_ptr().cast(), packet.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(false),
            _ => Err(e),
        };
    }
    Ok(true)
}

/// `write` of `head` then `body` as one packet (a gather write), non-blocking: `Ok(false)`
/// when the device queue is full.
pub fn write_packet2(fd: RawFd, head: &[u8], body: &[u8]) -> io::Result<bool> {
    let iov = [
        libc::iovec {
            iov_base: head.as_ptr() as *mut libc::c_void,
            iov_len: head.len(),
        },
        libc::iovec {
            iov_base: body.as_ptr() as *mut libc::c_void,
            iov_len: body.len(),
        },
    ];
    // SAFETY: both iovecs describe live buffers that writev only reads.
    let n = unsafe { libc::writev(fd, iov.as_ptr(), 2) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(false),
            _ => Err(e),
        };
    }
    Ok(true)
}

/// Opens `/dev/net/tun` and attaches it to a new TUN interface `name` (IFF_TUN: IP packets,
/// IFF_NO_PI: no packet-information prefix), non-blocking. The interface lives in the network
/// namespace of the calling thread. With `vnet_hdr`, every packet carries a virtio-net header
/// and the kernel may hand us TCP segments of up to 64 KiB with their checksum left to us
/// (TUNSETOFFLOAD with checksum and TSO offloads).
///
/// With `multi_queue` (IFF_MULTI_QUEUE) each call with the same name attaches one more queue
/// to the interface: the kernel spreads the flows it sends over the queues.
pub fn open_tun(name: &str, vnet_hdr: bool, multi_queue: bool) -> io::Result<OwnedFd> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name must be 1 to 15 bytes, no NUL",
        ));
    }
    let path = c"/dev/net/tun";
    // SAFETY: `path` is a NUL-terminated string; a non-negative result is a descriptor we own.
    let fd = check(unsafe {
        libc::open(
            path.as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: `fd` was just opened and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero ifreq is a valid value of the C struct.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    let mut flags = libc::IFF_TUN | libc::IFF_NO_PI;
    if vnet_hdr {
        flags |= libc::IFF_VNET_HDR;
    }
    if multi_queue {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    ifr.ifr_ifru.ifru_flags = flags as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes one ifreq, which `ifr` is.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &raw mut ifr) })?;
    if vnet_hdr {
        let offloads = libc::TUN_F_CSUM | libc::TUN_F_TSO4 | libc::TUN_F_TSO6;
        // SAFETY: TUNSETOFFLOAD takes its flags by value.
        check(unsafe {
            libc::ioctl(
                fd.as_raw_fd(),
                libc::TUNSETOFFLOAD,
                offloads as libc::c_ulong,
            )
        })?;
    }
    Ok(fd)
}

/// An epoll set: one descriptor that polls readable while any descriptor added to it is
/// (level-triggered), so one waiter watches many.
#[derive(Debug)]
pub struct Epoll {
    fd: OwnedFd,
}

impl Epoll {
    pub fn new() -> io::Result<Epoll> {
        // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new descriptor.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        Ok(Epoll {
            // SAFETY: `fd` was just returned by epoll_create1 and is owned by nobody else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watches `fd` for input; it must stay open as long as the set is used.
    pub fn add(&self, fd: RawFd) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd as u64,
        };
        // SAFETY: EPOLL_CTL_ADD reads one epoll_event, which `event` is, for the duration
        // of the call.
        check(unsafe {
            libc::epoll_ctl(self.fd.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &raw mut event)
        })?;
        Ok(())
    }
}

impl AsRawFd for Epoll {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Moves the calling thread into the network namespace `ns` (a descriptor of
/// `/var/run/netns/NAME` or `/proc/PID/ns/net`).
pub fn enter_netns(ns: RawFd) -> io::Result<()> {
    // SAFETY: setns takes a descriptor and a flag; it changes only this thread.
    check(unsafe { libc::setns(ns, libc::CLONE_NEWNET) })?;
    Ok(())
}
