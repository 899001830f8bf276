//! The Linux kernel: std::net over loopback, a client and a server thread, in a network
//! namespace made for the run (`unshare(CLONE_NEWNET)` on a thread of our own: the namespace
//! lives as long as that thread and the server thread it starts, and goes away with them, on
//! success, error or panic alike). Without root there is no fresh namespace: the current
//! one's loopback is used, and every figure says so.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd};
use std::time::Duration;

use crate::measure::process_cpu;
use crate::{BulkCase, Error, pattern};

/// Where the kernel benches run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A fresh namespace with only `lo`, made and dropped by us.
    FreshNamespace,
    /// Not root: this process's own namespace and its loopback, shared with everything else
    /// on the machine.
    CurrentNamespace,
}

impl Place {
    pub fn detect() -> Place {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            Place::FreshNamespace
        } else {
            Place::CurrentNamespace
        }
    }

    /// The note every kernel figure carries.
    pub fn note(self) -> &'static str {
        match self {
            Place::FreshNamespace => {
                "kernel: loopback of a fresh network namespace, client and server threads; \
                 loopback never computes TCP checksums"
            }
            Place::CurrentNamespace => {
                "kernel: NOT ROOT, so no fresh namespace: the current namespace's loopback, \
                 shared with the rest of the machine; loopback never computes TCP checksums"
            }
        }
    }
}

fn errno(what: &str) -> Error {
    Error::Stack(format!("{what}: {}", std::io::Error::last_os_error()))
}

/// Sets `lo`'s flags to up and its MTU to `mtu` (in this thread's namespace).
fn configure_lo(mtu: Option<usize>) -> Result<(), Error> {
    // SAFETY: plain socket/ioctl calls on a zeroed ifreq naming "lo"; the fd is closed below.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
        if fd < 0 {
            return Err(errno("socket"));
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *d = *s as libc::c_char;
        }
        let mut result = Ok(());
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            result = Err(errno("SIOCGIFFLAGS lo"));
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                result = Err(errno("SIOCSIFFLAGS lo"));
            } else if let Some(mtu) = mtu {
                req.ifr_ifru.ifru_mtu = mtu as libc::c_int;
                if libc::ioctl(fd, libc::SIOCSIFMTU, &req) < 0 {
                    result = Err(errno("SIOCSIFMTU lo"));
                }
            }
        }
        libc::close(fd);
        result
    }
}

/// Runs `f` on a thread of its own, in a fresh namespace when `place` says so, with `lo` up
/// at `mtu`. Threads `f` starts share the namespace; it is gone once they have all ended.
pub fn in_place<T: Send + 'static>(
    place: Place,
    mtu: Option<usize>,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    std::thread::spawn(move || {
        if place == Place::FreshNamespace {
            // SAFETY: unshare affects only this thread's namespace membership.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(errno("unshare(CLONE_NEWNET)"));
            }
            configure_lo(mtu)?;
        }
        f()
    })
    .join()
    .map_err(|_| Error::Stack("kernel bench thread panicked".into()))?
}

fn set_buffers(fd: i32, buffer: usize) -> Result<(), Error> {
    let v = buffer as libc::c_int;
    for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        // SAFETY: `v` outlives the call and its size is passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(errno("setsockopt SO_SNDBUF/SO_RCVBUF"));
        }
    }
    Ok(())
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Error {
    move |e| Error::Stack(format!("kernel {what}: {e}"))
}

/// A connected stream to `to` from `from` (port chosen by the kernel), both buffers set to
/// `buffer` before connecting so the window scale fits.
fn connect(from: Ipv4Addr, to: SocketAddr, buffer: Option<usize>) -> Result<TcpStream, Error> {
    // SAFETY: a fresh socket fd, owned by the TcpStream built from it (closed on error too).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(errno("socket"));
    }
    // SAFETY: `fd` is the socket just opened above, owned by nothing else.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    if let Some(b) = buffer {
        set_buffers(fd, b)?;
    }
    let sa = |ip: Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let local = sa(from, 0);
    let SocketAddr::V4(to) = to else {
        return Err(Error::Stack("IPv4 only".into()));
    };
    let remote = sa(*to.ip(), to.port());
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: valid sockaddr_in values of the length given.
    unsafe {
        if libc::bind(fd, (&local as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(errno("bind"));
        }
        if libc::connect(fd, (&remote as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(errno("connect"));
        }
    }
    Ok(stream)
}

fn listener() -> Result<TcpListener, Error> {
    TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).map_err(io("bind"))
}

/// One stream of `bytes` from a client thread to a server thread. Returns Gbit/s of the
/// process's CPU time (both threads, user and system).
pub fn bulk(case: &BulkCase, bytes: u64) -> Result<f64, Error> {
    let l = listener()?;
    set_buffers(l.as_raw_fd(), case.buffer)?;
    let to = l.local_addr().map_err(io("addr"))?;
    let cpu0 = process_cpu();
    let server = std::thread::spawn(move || -> Result<u64, Error> {
        let (mut s, _) = l.accept().map_err(io("accept"))?;
        let mut read = vec![0u8; 256 << 10];
        let mut got = 0u64;
        while got < bytes {
            match s.read(&mut read).map_err(io("read"))? {
                0 => break,
                n => got += n as u64,
            }
        }
        Ok(got)
    });
    let mut c = connect(Ipv4Addr::LOCALHOST, to, Some(case.buffer))?;
    let data = pattern();
    let mut sent = 0u64;
    while sent < bytes {
        let off = (sent % data.len() as u64) as usize;
        let len = (bytes - sent).min((data.len() - off) as u64) as usize;
        c.write_all(&data[off..off + len]).map_err(io("write"))?;
        sent += len as u64;
    }
    let got = server
        .join()
        .map_err(|_| Error::Stack("server panicked".into()))??;
    let cpu = (process_cpu() - cpu0).as_secs_f64();
    if got != bytes {
        return Err(Error::Stack(format!("kernel bulk read {got} of {bytes}")));
    }
    Ok(bytes as f64 * 8.0 / cpu / 1e9)
}

/// The client's source address for lifecycle `i`: 127.1.x.y, so TIME-WAIT 4-tuples never
/// exhaust the ephemeral ports of one address (the whole of 127/8 is loopback).
fn crr_source(i: u64) -> Ipv4Addr {
    let i = (i % 65_000) as u16;
    Ipv4Addr::new(127, 1, (i >> 8) as u8, i as u8)
}

/// `count` lifecycles like netperf TCP_CRR: connect, write 1 byte, read 1 byte, close (the
/// client first). Returns lifecycles per second of process CPU time.
pub fn crr(count: u64) -> Result<f64, Error> {
    let l = listener()?;
    let to = l.local_addr().map_err(io("addr"))?;
    let cpu0 = process_cpu();
    let server = std::thread::spawn(move || -> Result<(), Error> {
        let mut one = [0u8; 1];
        for _ in 0..count {
            let (mut s, _) = l.accept().map_err(io("accept"))?;
            s.read_exact(&mut one).map_err(io("read"))?;
            s.write_all(b"r").map_err(io("write"))?;
            // Wait for the client's FIN, then close: the client holds TIME-WAIT.
            let _ = s.read(&mut one).map_err(io("read"))?;
        }
        Ok(())
    });
    let mut one = [0u8; 1];
    for i in 0..count {
        let mut c = connect(crr_source(i), to, None)?;
        c.write_all(b"q").map_err(io("write"))?;
        c.read_exact(&mut one).map_err(io("read"))?;
        drop(c);
    }
    server
        .join()
        .map_err(|_| Error::Stack("server panicked".into()))??;
    let cpu = (process_cpu() - cpu0).as_secs_f64();
    Ok(count as f64 / cpu)
}

/// `count` transactions on one connection (Nagle on, as in the other stacks' defaults).
pub fn rr(count: u64) -> Result<f64, Error> {
    let l = listener()?;
    let to = l.local_addr().map_err(io("addr"))?;
    let server = std::thread::spawn(move || -> Result<(), Error> {
        let (mut s, _) = l.accept().map_err(io("accept"))?;
        let mut one = [0u8; 1];
        for _ in 0..count {
            s.read_exact(&mut one).map_err(io("read"))?;
            s.write_all(b"r").map_err(io("write"))?;
        }
        Ok(())
    });
    let mut c = connect(Ipv4Addr::LOCALHOST, to, None)?;
    c.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(io("timeout"))?;
    let mut one = [0u8; 1];
    let cpu0 = process_cpu();
    for _ in 0..count {
        c.write_all(b"q").map_err(io("write"))?;
        c.read_exact(&mut one).map_err(io("read"))?;
    }
    let cpu = (process_cpu() - cpu0).as_secs_f64();
    server
        .join()
        .map_err(|_| Error::Stack("server panicked".into()))??;
    Ok(count as f64 / cpu)
}
