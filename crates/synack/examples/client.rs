//! A synack client talking to the Linux kernel: the kernel runs an echo server (std::net,
//! inside a namespace this example creates), synack connects to it over a TUN interface,
//! sends a message and a megabyte, and prints what came back and how the connection went.
//!
//!     sudo cargo run -p synack --example client
//!
//! Without root the server is a second synack stack on an in-process link.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr};
use std::thread;

use synack::Stack;
use synack::device::{Link, LinkConfig};
use synack::net::{TcpListener, TcpStream};
use synack::netns::{self, TunNetns};

fn exchange(stack: &Stack, server: SocketAddr) -> io::Result<()> {
    let stream = TcpStream::connect(stack, server)?;
    println!(
        "connected {} → {}",
        stream.local_addr()?,
        stream.peer_addr()?
    );
    let mut message = b"hello, kernel".to_vec();
    message.extend((0..1 << 20).map(|i: u32| i as u8));
    let writer = stream.try_clone()?;
    let sender = thread::spawn(move || -> io::Result<()> {
        (&writer).write_all(&message)?;
        writer.shutdown(Shutdown::Write)
    });
    let mut back = Vec::new();
    (&stream).read_to_end(&mut back)?;
    sender
        .join()
        .map_err(|_| io::Error::other("sender panicked"))??;
    println!(
        "got back {} bytes, starting {:?}",
        back.len(),
        String::from_utf8_lossy(&back[..13])
    );
    let info = stream.info()?;
    println!(
        "connection: {:?}, srtt {:?}, cwnd {}, mss {}, {} segments retransmitted",
        info.state, info.srtt, info.cc.cwnd, info.snd_mss, info.segs_retransmitted
    );
    Ok(())
}

fn echo(mut s: impl Read + Write) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n])?;
    }
}

fn main() -> io::Result<()> {
    if let Some(why) = netns::unavailable() {
        println!(
            "No TUN in a namespace here ({why}): the server is a synack stack on an in-process link."
        );
        let server_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let (a, b) = Link::pair(LinkConfig::default())?;
        let server = Stack::with_addr(b, server_ip)?;
        let client = Stack::with_addr(a, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))?;
        let listener = TcpListener::bind(&server, (server_ip, 7))?;
        thread::spawn(move || listener.accept().and_then(|(s, _)| echo(s)));
        return exchange(&client, SocketAddr::new(server_ip, 7));
    }
    let (ns, tun) = TunNetns::new(1500)?;
    let stack = Stack::with_addr(tun, ns.synack.into())?;
    let kernel = ns.kernel;
    let listener = ns
        .netns
        .run(move || std::net::TcpListener::bind((kernel, 7)))??;
    println!(
        "the kernel listens on {kernel}:7 in namespace {}",
        ns.netns.name()
    );
    thread::spawn(move || listener.accept().and_then(|(s, _)| echo(s)));
    exchange(&stack, SocketAddr::new(kernel.into(), 7))
}
