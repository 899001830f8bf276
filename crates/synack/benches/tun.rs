//! Throughput of one TCP connection, kernel ↔ synack over a TUN interface (both directions,
//! MTU 1500 and 65535) next to kernel ↔ kernel over a veth pair between two namespaces, in
//! the same run; and synack ↔ synack on the in-process link. Needs root for the kernel
//! cases (they are skipped with a note otherwise).
//!
//!     cargo bench -p synack --bench tun            # SYNACK_BENCH_MIB=N changes the size
//!
//! Each line is the goodput of moving N MiB from the first connect to the receiver's end of
//! stream. The TUN cases run without offloads (plain IFF_TUN) and, at MTU 1500, with the
//! virtio-net header (the kernel sends synack 64 KiB segments; synack still sends MTU-sized
//! ones); veth keeps the kernel's defaults (GSO/GRO on).

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::thread;
use std::time::{Duration, Instant};

use synack::device::{Link, LinkConfig};
use synack::net::{TcpListener, TcpStream};
use synack::netns::{self, Netns, TunNetns};
use synack::{HostConfig, Stack};

const CHUNK: usize = 256 * 1024;

fn send_all(mut w: impl Write, total: usize) -> io::Result<()> {
    let chunk = vec![0x5au8; CHUNK];
    let mut sent = 0;
    while sent < total {
        let n = (total - sent).min(CHUNK);
        w.write_all(&chunk[..n])?;
        sent += n;
    }
    Ok(())
}

fn drain(mut r: impl Read) -> io::Result<usize> {
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0;
    loop {
        match r.read(&mut buf)? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

fn report(what: &str, bytes: usize, took: Duration) {
    let gbit = bytes as f64 * 8.0 / took.as_secs_f64() / 1e9;
    println!(
        "{what:<44} {:>8.2} Gbit/s  ({} MiB in {took:.2?})",
        gbit,
        bytes >> 20
    );
}

fn offload_note(offload: bool) -> &'static str {
    if offload { ", offloads" } else { "" }
}

fn kernel_to_synack(mtu: usize, offload: bool, total: usize) -> io::Result<()> {
    let (ns, tun) = TunNetns::with_options(mtu, offload)?;
    let stack = Stack::with_addr(tun, ns.synack.into())?;
    let listener = TcpListener::bind(&stack, (ns.synack, 5001))?;
    let target = SocketAddr::from((ns.synack, 5001));
    let start = Instant::now();
    let sender = ns.netns.spawn(move || -> io::Result<()> {
        let s = std::net::TcpStream::connect(target)?;
        send_all(&s, total)?;
        s.shutdown(Shutdown::Write)
    })?;
    let (conn, _) = listener.accept()?;
    let got = drain(&conn)?;
    let took = start.elapsed();
    sender
        .join()
        .map_err(|_| io::Error::other("sender panicked"))???;
    assert_eq!(got, total);
    report(
        &format!("kernel → synack, TUN, MTU {mtu}{}", offload_note(offload)),
        got,
        took,
    );
    Ok(())
}

fn synack_to_kernel(mtu: usize, offload: bool, total: usize) -> io::Result<()> {
    let (ns, tun) = TunNetns::with_options(mtu, offload)?;
    let stack = Stack::with_addr(tun, ns.synack.into())?;
    let kernel = ns.kernel;
    let listener = ns
        .netns
        .run(move || std::net::TcpListener::bind((kernel, 5001)))??;
    let receiver = thread::spawn(move || -> io::Result<usize> {
        let (s, _) = listener.accept()?;
        drain(&s)
    });
    let start = Instant::now();
    let conn = TcpStream::connect(&stack, (kernel, 5001))?;
    send_all(&conn, total)?;
    conn.shutdown(Shutdown::Write)?;
    let got = receiver
        .join()
        .map_err(|_| io::Error::other("receiver panicked"))??;
    let took = start.elapsed();
    assert_eq!(got, total);
    report(
        &format!("synack → kernel, TUN, MTU {mtu}{}", offload_note(offload)),
        got,
        took,
    );
    Ok(())
}

fn kernel_to_kernel_veth(mtu: usize, total: usize) -> io::Result<()> {
    let a = Netns::new()?;
    let b = Netns::new()?;
    // Created inside `a`, its peer moved straight into `b`: the root namespace never sees
    // either end.
    a.ip(&[
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
    ])?;
    a.ip(&["addr", "add", "10.250.0.1/24", "dev", "veth0"])?;
    b.ip(&["addr", "add", "10.250.0.2/24", "dev", "veth1"])?;
    a.ip(&["link", "set", "veth0", "mtu", &mtu.to_string(), "up"])?;
    b.ip(&["link", "set", "veth1", "mtu", &mtu.to_string(), "up"])?;
    let listener = b.run(|| std::net::TcpListener::bind(("10.250.0.2", 5001)))??;
    let receiver = thread::spawn(move || -> io::Result<usize> {
        let (s, _) = listener.accept()?;
        drain(&s)
    });
    let start = Instant::now();
    a.run(move || -> io::Result<()> {
        let s = std::net::TcpStream::connect(("10.250.0.2", 5001))?;
        send_all(&s, total)?;
        s.shutdown(Shutdown::Write)
    })??;
    let got = receiver
        .join()
        .map_err(|_| io::Error::other("receiver panicked"))??;
    let took = start.elapsed();
    assert_eq!(got, total);
    report(&format!("kernel → kernel, veth, MTU {mtu}"), got, took);
    Ok(())
}

fn synack_to_synack_link(mtu: usize, total: usize) -> io::Result<()> {
    let server_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let (a, b) = Link::pair(LinkConfig {
        mtu,
        ..LinkConfig::default()
    })?;
    let config = |ip| HostConfig {
        local_addrs: vec![ip],
        ..HostConfig::default()
    };
    let server = Stack::new(b, config(server_ip))?;
    let client = Stack::new(a, config(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))))?;
    let listener = TcpListener::bind(&server, (server_ip, 5001))?;
    let start = Instant::now();
    let receiver = thread::spawn(move || -> io::Result<usize> {
        let (s, _) = listener.accept()?;
        drain(&s)
    });
    let conn = TcpStream::connect(&client, (server_ip, 5001))?;
    send_all(&conn, total)?;
    conn.shutdown(Shutdown::Write)?;
    let got = receiver
        .join()
        .map_err(|_| io::Error::other("receiver panicked"))??;
    let took = start.elapsed();
    assert_eq!(got, total);
    report(
        &format!("synack → synack, in-process link, MTU {mtu}"),
        got,
        took,
    );
    Ok(())
}

fn main() -> io::Result<()> {
    let mib: usize = std::env::var("SYNACK_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let total = mib << 20;
    synack_to_synack_link(1500, total)?;
    synack_to_synack_link(65535, total)?;
    if let Some(why) = netns::unavailable() {
        println!("kernel cases skipped: {why}");
        return Ok(());
    }
    for mtu in [1500, 65535] {
        kernel_to_kernel_veth(mtu, total)?;
        kernel_to_synack(mtu, false, total)?;
        synack_to_kernel(mtu, false, total)?;
    }
    kernel_to_synack(1500, true, total)?;
    synack_to_kernel(1500, true, total)?;
    Ok(())
}
