//! The `tun` workload: one connection's goodput between the Linux kernel and synack's runtime
//! over a TUN interface, both ways, with the interface's offloads (virtio-net header: 64 KiB
//! segments and checksums left to the other side) off and on, beside kernel ↔ kernel over a
//! veth pair at the same MTU, in the same run.
//!
//! Root only: each case makes its own namespaces (`synack::netns`) and drops them when it
//! ends, on an error too; nothing touches the root namespace. The figure is wall-clock
//! goodput, from the connect to the receiver's end of stream: a real device moves packets
//! between threads and the kernel, so one thread's CPU time would leave most of it out.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use synack::net::{TcpListener, TcpStream};
use synack::netns::{Netns, TunNetns};

use crate::{Error, pattern};

/// A transfer that makes no progress for this long is a stall, not a slow figure.
const STALL: Duration = Duration::from_secs(30);
const PORT: u16 = 5001;

/// One case: the interface's MTU and whether it carries the virtio-net header.
#[derive(Clone, Copy, Debug)]
pub struct TunCase {
    pub mtu: usize,
    pub offload: bool,
}

impl TunCase {
    pub fn all() -> Vec<TunCase> {
        let mut v = Vec::new();
        for mtu in [1500, 65535] {
            for offload in [false, true] {
                v.push(TunCase { mtu, offload });
            }
        }
        v
    }

    pub fn name(&self) -> String {
        format!(
            "mtu{}-{}",
            self.mtu,
            if self.offload { "offload" } else { "plain" }
        )
    }
}

fn io_err(what: &str) -> impl Fn(io::Error) -> Error + '_ {
    move |e| {
        if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            Error::Stall(format!("{what}: no progress for {STALL:?}"))
        } else {
            Error::Stack(format!("{what}: {e}"))
        }
    }
}

fn joined<T>(h: thread::JoinHandle<Result<T, Error>>, who: &str) -> Result<T, Error> {
    h.join()
        .map_err(|_| Error::Stack(format!("{who} panicked")))?
}

/// Writes `total` bytes of the pattern, then a FIN.
fn send(mut w: impl Write, total: u64) -> io::Result<()> {
    let chunk = pattern();
    let mut sent = 0u64;
    while sent < total {
        let n = (total - sent).min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..n])?;
        sent += n as u64;
    }
    Ok(())
}

/// Reads to the end of stream; returns the byte count.
fn drain(mut r: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(total),
            n => total += n as u64,
        }
    }
}

fn gbit(bytes: u64, took: Duration) -> f64 {
    bytes as f64 * 8.0 / took.as_secs_f64() / 1e9
}

fn check(got: u64, total: u64) -> Result<(), Error> {
    if got == total {
        Ok(())
    } else {
        Err(Error::Stack(format!("{got} bytes arrived of {total}")))
    }
}

fn setup(case: TunCase) -> Result<(TunNetns, synack::Stack), Error> {
    let (ns, tun) = TunNetns::with_options(case.mtu, case.offload)
        .map_err(|e| Error::Unavailable(format!("a namespace with a TUN interface: {e}")))?;
    let stack = synack::Stack::with_addr(tun, ns.synack.into()).map_err(io_err("stack"))?;
    Ok((ns, stack))
}

/// The kernel sends `total` bytes to a synack listener; Gbit/s.
pub fn kernel_to_synack(case: TunCase, total: u64) -> Result<f64, Error> {
    let (ns, stack) = setup(case)?;
    let listener = TcpListener::bind(&stack, (ns.synack, PORT)).map_err(io_err("bind"))?;
    let target = SocketAddr::from((ns.synack, PORT));
    let start = Instant::now();
    let sender = ns
        .netns
        .spawn(move || -> Result<(), Error> {
            let s = std::net::TcpStream::connect(target).map_err(io_err("kernel connect"))?;
            s.set_write_timeout(Some(STALL))
                .map_err(io_err("kernel socket"))?;
            send(&s, total).map_err(io_err("kernel send"))?;
            s.shutdown(Shutdown::Write).map_err(io_err("kernel FIN"))
        })
        .map_err(io_err("kernel thread"))?;
    let (conn, _) = listener.accept().map_err(io_err("accept"))?;
    conn.set_read_timeout(Some(STALL))
        .map_err(io_err("synack socket"))?;
    let got = drain(&conn).map_err(io_err("synack receive"))?;
    let took = start.elapsed();
    sender
        .join()
        .map_err(|_| Error::Stack("kernel sender panicked".into()))?
        .map_err(io_err("kernel thread"))??;
    check(got, total)?;
    Ok(gbit(got, took))
}

/// synack sends `total` bytes to a kernel listener; Gbit/s.
pub fn synack_to_kernel(case: TunCase, total: u64) -> Result<f64, Error> {
    let (ns, stack) = setup(case)?;
    let kernel = ns.kernel;
    let listener = ns
        .netns
        .run(move || std::net::TcpListener::bind((kernel, PORT)))
        .map_err(io_err("kernel thread"))?
        .map_err(io_err("kernel bind"))?;
    let receiver = thread::spawn(move || -> Result<u64, Error> {
        let (s, _) = listener.accept().map_err(io_err("kernel accept"))?;
        s.set_read_timeout(Some(STALL))
            .map_err(io_err("kernel socket"))?;
        drain(&s).map_err(io_err("kernel receive"))
    });
    let start = Instant::now();
    let conn = TcpStream::connect(&stack, (kernel, PORT)).map_err(io_err("synack connect"))?;
    conn.set_write_timeout(Some(STALL))
        .map_err(io_err("synack socket"))?;
    send(&conn, total).map_err(io_err("synack send"))?;
    conn.shutdown(Shutdown::Write)
        .map_err(io_err("synack FIN"))?;
    let got = joined(receiver, "kernel receiver")?;
    let took = start.elapsed();
    check(got, total)?;
    Ok(gbit(got, took))
}

/// The kernel to the kernel over a veth pair between two namespaces of ours, with the
/// kernel's default offloads (TSO, GSO, GRO); Gbit/s.
pub fn kernel_to_kernel_veth(mtu: usize, total: u64) -> Result<f64, Error> {
    let unavailable = |e: io::Error| Error::Unavailable(format!("a namespace: {e}"));
    let a = Netns::new().map_err(unavailable)?;
    let b = Netns::new().map_err(unavailable)?;
    // Made inside `a` with its peer moved straight into `b`: neither end is ever in the root
    // namespace.
    let ip = |ns: &Netns, args: &[&str]| ns.ip(args).map_err(io_err("ip"));
    ip(
        &a,
        &[
            "link",
            "add",
            "veth0",
            "type",
            "veth",
            "peer",
            "name",
            "veth1",
            "netns",
            b.name(),
        ],
    )?;
    ip(&a, &["addr", "add", "10.250.0.1/24", "dev", "veth0"])?;
    ip(&b, &["addr", "add", "10.250.0.2/24", "dev", "veth1"])?;
    ip(&a, &["link", "set", "veth0", "mtu", &mtu.to_string(), "up"])?;
    ip(&b, &["link", "set", "veth1", "mtu", &mtu.to_string(), "up"])?;
    let listener = b
        .run(|| std::net::TcpListener::bind(("10.250.0.2", PORT)))
        .map_err(io_err("kernel thread"))?
        .map_err(io_err("kernel bind"))?;
    let receiver = thread::spawn(move || -> Result<u64, Error> {
        let (s, _) = listener.accept().map_err(io_err("kernel accept"))?;
        s.set_read_timeout(Some(STALL))
            .map_err(io_err("kernel socket"))?;
        drain(&s).map_err(io_err("kernel receive"))
    });
    let start = Instant::now();
    a.run(move || -> Result<(), Error> {
        let s =
            std::net::TcpStream::connect(("10.250.0.2", PORT)).map_err(io_err("kernel connect"))?;
        s.set_write_timeout(Some(STALL))
            .map_err(io_err("kernel socket"))?;
        send(&s, total).map_err(io_err("kernel send"))?;
        s.shutdown(Shutdown::Write).map_err(io_err("kernel FIN"))
    })
    .map_err(io_err("kernel thread"))??;
    let got = joined(receiver, "kernel receiver")?;
    let took = start.elapsed();
    check(got, total)?;
    Ok(gbit(got, took))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_cases_named_by_mtu_and_offload() {
        let names: Vec<String> = TunCase::all().iter().map(TunCase::name).collect();
        assert_eq!(
            names,
            [
                "mtu1500-plain",
                "mtu1500-offload",
                "mtu65535-plain",
                "mtu65535-offload"
            ]
        );
    }
}
