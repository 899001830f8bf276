//! Legitimate handshakes under a SYN flood, on the kernel: a listener (backlog 128) on
//! loopback in a namespace of the bench's own, whose SYN cookies stay at the namespace's
//! default; before each legitimate connect, `per_legit` forged SYNs from spoofed
//! 198.18.0.0/15 sources (RFC 2544's benchmarking range) written through a raw socket in
//! that namespace. The namespace routes 198.18.0.0/15 to its loopback, so the SYN-ACKs to
//! the spoofed sources are sent and lost (without a route the kernel would drop each forged
//! SYN before queueing it, which is no flood at all). One thread does all of it: loopback
//! delivers each packet inside the sending system call, so the thread's CPU time holds the
//! kernel's work on the forged SYNs as well as on the handshakes.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant as Wall};

use synack_wire::TcpFlags;

use crate::Error;
use crate::conns::datagram;
use crate::flood::spoofed;
use crate::measure::thread_cpu;

/// A flood run still going after this long (wall time) stops and counts what it completed.
pub const TIME_CAP: Duration = Duration::from_secs(10);

pub struct KernelFlood {
    pub legit_per_sec: f64,
    /// The namespace's `net.ipv4.tcp_syncookies`.
    pub syncookies: String,
    /// SYN cookies the kernel sent (TcpExt SyncookiesSent) and handshakes completed.
    pub cookies_sent: u64,
    pub done: u64,
    pub forged: u64,
}

fn errno(what: &str) -> Error {
    Error::Stack(format!("{what}: {}", std::io::Error::last_os_error()))
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Stack(format!("kernel {what}: {e}"))
}

/// TcpExt's `name` counter from /proc/net/netstat (this thread's namespace).
fn tcp_ext(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/net/netstat").ok()?;
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let i = names.split_whitespace().position(|n| n == name)?;
    values.split_whitespace().nth(i)?.parse().ok()
}

fn raw_socket() -> Result<OwnedFd, Error> {
    // SAFETY: a fresh socket; IPPROTO_RAW implies that we write the IP header ourselves.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        return Err(errno("raw socket"));
    }
    // SAFETY: `fd` was just opened and is owned by nothing else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn send_raw(fd: &OwnedFd, pkt: &[u8], to: Ipv4Addr) -> Result<(), Error> {
    let sa = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(to).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `pkt` and `sa` are valid for the lengths given.
    let n = unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            pkt.as_ptr().cast(),
            pkt.len(),
            0,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if n < 0 {
        return Err(errno("sendto (raw)"));
    }
    Ok(())
}

/// Sets `SO_LINGER` to 0 (close sends a RST and keeps no TIME-WAIT) or `SO_RCVTIMEO`.
fn set_opt<T>(fd: i32, opt: libc::c_int, v: &T) -> Result<(), Error> {
    // SAFETY: `v` outlives the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (v as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(errno("setsockopt"));
    }
    Ok(())
}

/// The flood, in the calling thread's namespace (which must be the bench's own, with
/// 198.18.0.0/15 routed to its loopback).
pub fn measure(handshakes: u64, per_legit: u64) -> Result<KernelFlood, Error> {
    let syncookies = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_syncookies")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).map_err(io("bind"))?;
    // std's listen backlog is 128 already; say it for the reader and for the kernel alike.
    // SAFETY: `l` is a bound listening socket.
    if unsafe { libc::listen(l.as_raw_fd(), 128) } != 0 {
        return Err(errno("listen"));
    }
    // A handshake that does not complete is a failure counted, not a hang.
    let timeout = libc::timeval {
        tv_sec: 1,
        tv_usec: 0,
    };
    set_opt(l.as_raw_fd(), libc::SO_RCVTIMEO, &timeout)?;
    let to = match l.local_addr().map_err(io("addr"))? {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(_) => return Err(Error::Stack("IPv4 only".into())),
    };
    let server = SocketAddr::V4(to);
    let raw = raw_socket()?;
    let cookies0 = tcp_ext("SyncookiesSent").unwrap_or(0);
    let mut pkt = [0u8; 128];
    let (mut k, mut done) = (0u64, 0u64);
    let wall0 = Wall::now();
    let cpu0 = thread_cpu();
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    for _ in 0..handshakes {
        for _ in 0..per_legit {
            let n = datagram(spoofed(k), server, TcpFlags::SYN, k as u32, 0, &mut pkt);
            k += 1;
            send_raw(&raw, &pkt[..n], *to.ip())?;
        }
        let c = TcpStream::connect_timeout(&server, Duration::from_secs(1));
        if let Ok(c) = c {
            set_opt(c.as_raw_fd(), libc::SO_LINGER, &linger)?;
            if let Ok((s, _)) = l.accept() {
                done += 1;
                set_opt(s.as_raw_fd(), libc::SO_LINGER, &linger)?;
            }
        }
        if wall0.elapsed() > TIME_CAP {
            break;
        }
    }
    let cpu = (thread_cpu() - cpu0).as_secs_f64();
    Ok(KernelFlood {
        legit_per_sec: done as f64 / cpu,
        syncookies,
        cookies_sent: tcp_ext("SyncookiesSent").unwrap_or(0) - cookies0,
        done,
        forged: k,
    })
}
