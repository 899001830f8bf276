//! The kernel's memory per connection and per TIME-WAIT entry, and its cost per packet with
//! one connection and with many, measured from userspace in a namespace of our own.
//!
//! The kernel's allocator cannot be counted from here; what can be read is `/proc/slabinfo`:
//! the objects in use and their size in each slab cache. An idle established loopback
//! connection is two sockets (one per end), each a `TCP` slab object, a socket inode
//! (`sock_inode_cache`), an open file (`filp`) and a dentry (`dentry`); the growth of those
//! four caches while `n` connections are opened, over `2n`, is the figure per socket (one
//! end, as synack's figure is one host's side). Not included: the process's fd table (one
//! pointer per fd, allocated outside the slab caches), anything else the kernel allocates
//! outside those caches, and socket buffers (an idle connection has none queued).
//! `/proc/slabinfo` is machine-wide: other activity on the machine moves these counts too,
//! which is noise in the figure, not a bias of it.
//!
//! A TIME-WAIT entry (RFC 9293 §3.6.1) is a `tw_sock_TCP` object: the growth of that cache
//! while `n` connections are closed actively, over `n`.
//!
//! Per packet: one thread plays both ends (loopback delivers a segment inside the sender's
//! system call), a 1-byte request and a 1-byte reply, each a segment that carries the ACK
//! of the previous one; CPU time of the thread (user and system, softirq included) over
//! the segments. Many connections: the same on up to 4,096 of the `n`, picked spread over
//! them and taken in turn, as synack's figure spreads its ACKs. The figure includes the
//! system calls that move each byte; it is the kernel's cost of a segment as an
//! application sees it, which a bare ACK without them cannot be from userspace.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::time::Duration;

use crate::Error;
use crate::measure::thread_cpu;

/// The slab caches an idle established socket lives in.
const SOCKET_CACHES: [&str; 4] = ["TCP", "sock_inode_cache", "filp", "dentry"];
const TIME_WAIT_CACHE: &str = "tw_sock_TCP";

/// The most connections opened: each costs two file descriptors of this process.
pub const MAX_CONNS: usize = 100_000;

/// Bytes in use in each named cache: active objects × object size.
fn slab_bytes(names: &[&str]) -> Result<Vec<u64>, Error> {
    let text = std::fs::read_to_string("/proc/slabinfo")
        .map_err(|e| Error::Unavailable(format!("/proc/slabinfo: {e}")))?;
    names
        .iter()
        .map(|name| {
            text.lines()
                .find_map(|l| {
                    let mut f = l.split_whitespace();
                    (f.next() == Some(name)).then(|| {
                        let active: u64 = f.next()?.parse().ok()?;
                        let _total = f.next()?;
                        let size: u64 = f.next()?.parse().ok()?;
                        Some(active * size)
                    })?
                })
                .ok_or_else(|| Error::Unavailable(format!("no slab cache {name}")))
        })
        .collect()
}

fn sum(v: &[u64]) -> u64 {
    v.iter().sum()
}

/// Raises this process's open-file limit to its hard limit; returns the new limit.
fn raise_nofile() -> Result<usize, Error> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(Error::Stack("getrlimit".into()));
    }
    r.rlim_cur = r.rlim_max;
    // SAFETY: `r` is a valid rlimit within the hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
        return Err(Error::Stack("setrlimit".into()));
    }
    Ok(r.rlim_cur.min(usize::MAX as libc::rlim_t) as usize)
}

/// The connections this process can hold open at once, up to `wanted` and [`MAX_CONNS`]:
/// two descriptors each, and some left for everything else.
pub fn reachable(wanted: usize) -> Result<usize, Error> {
    let limit = raise_nofile()?;
    Ok(wanted
        .min(MAX_CONNS)
        .min(limit.saturating_sub(256) / 2)
        .max(1))
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Stack(format!("kernel {what}: {e}"))
}

/// One connection: (client end, server end).
type Pair = (TcpStream, TcpStream);

fn open(l: &TcpListener, to: SocketAddrV4) -> Result<Pair, Error> {
    let c = TcpStream::connect(to).map_err(io("connect"))?;
    let (s, _) = l.accept().map_err(io("accept"))?;
    Ok((c, s))
}

/// CPU ns per segment over `rounds` request/reply exchanges, taking `picks` in turn.
fn ns_per_packet(pairs: &mut [Pair], picks: &[usize], rounds: usize) -> Result<f64, Error> {
    let mut one = [0u8; 1];
    let mut round = |p: &mut Pair| -> Result<(), Error> {
        p.0.write_all(b"q").map_err(io("write"))?;
        p.1.read_exact(&mut one).map_err(io("read"))?;
        p.1.write_all(b"r").map_err(io("write"))?;
        p.0.read_exact(&mut one).map_err(io("read"))
    };
    for &i in picks {
        round(&mut pairs[i])?;
    }
    let cpu0 = thread_cpu();
    for r in 0..rounds {
        round(&mut pairs[picks[r % picks.len()]])?;
    }
    Ok((thread_cpu() - cpu0).as_nanos() as f64 / (2 * rounds) as f64)
}

pub struct KernelConns {
    /// Bytes per socket in the four caches, and each cache's share.
    pub bytes_per_socket: f64,
    pub per_cache: Vec<(&'static str, f64)>,
    pub bytes_per_time_wait: f64,
    pub ns_1: f64,
    pub ns_n: f64,
}

/// Waits (bounded) for the socket caches to stop shrinking, so sockets a namespace dropped
/// just before (a previous run's, freed by the kernel's cleanup work) do not count against
/// this one.
fn settle() -> Result<(), Error> {
    let mut last = sum(&slab_bytes(&["TCP", TIME_WAIT_CACHE])?);
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(50));
        let now = sum(&slab_bytes(&["TCP", TIME_WAIT_CACHE])?);
        if now >= last {
            return Ok(());
        }
        last = now;
    }
    Ok(())
}

/// `n` connections over loopback (in the calling thread's namespace, which should be the
/// bench's own): memory per socket and per TIME-WAIT entry, and ns per segment at 1 and `n`.
pub fn measure(n: usize, rounds: usize) -> Result<KernelConns, Error> {
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).map_err(io("bind"))?;
    let to = match l.local_addr().map_err(io("addr"))? {
        std::net::SocketAddr::V4(a) => a,
        std::net::SocketAddr::V6(_) => return Err(Error::Stack("IPv4 only".into())),
    };
    let mut pairs = vec![open(&l, to)?];
    let ns_1 = ns_per_packet(&mut pairs, &[0], rounds)?;
    settle()?;
    let before = slab_bytes(&SOCKET_CACHES)?;
    pairs.reserve_exact(n);
    for _ in 0..n {
        pairs.push(open(&l, to)?);
    }
    let after = slab_bytes(&SOCKET_CACHES)?;
    let sockets = (2 * n) as f64;
    let per_cache: Vec<(&'static str, f64)> = SOCKET_CACHES
        .iter()
        .zip(before.iter().zip(&after))
        .map(|(name, (b, a))| (*name, (*a as f64 - *b as f64) / sockets))
        .collect();
    let bytes_per_socket = (sum(&after) as f64 - sum(&before) as f64) / sockets;
    let picks: Vec<usize> = (0..pairs.len().min(4096))
        .map(|k| 1 + k.wrapping_mul(2_654_435_761) % n)
        .collect();
    let ns_n = ns_per_packet(&mut pairs, &picks, rounds)?;

    // The client closes first and holds TIME-WAIT; the server closes on the client's FIN.
    let tw0 = slab_bytes(&[TIME_WAIT_CACHE])?[0];
    let mut one = [0u8; 1];
    for (c, mut s) in pairs.drain(1..) {
        drop(c);
        let got = s.read(&mut one).map_err(io("read"))?;
        if got != 0 {
            return Err(Error::Stack("kernel: data where a FIN was due".into()));
        }
    }
    let tw1 = slab_bytes(&[TIME_WAIT_CACHE])?[0];
    Ok(KernelConns {
        bytes_per_socket,
        per_cache,
        bytes_per_time_wait: (tw1 as f64 - tw0 as f64) / n as f64,
        ns_1,
        ns_n,
    })
}
