//! An echo server on synack, reached from the Linux kernel's side of a TUN interface.
//!
//!     sudo cargo run -p synack --example echo_server
//!
//! It creates a network namespace with a TUN interface, serves on synack's address there,
//! and prints the command that talks to it from inside the namespace. Press Enter to stop
//! (the namespace is deleted). Without root it runs over an in-process link instead, with a
//! synack client on the other end.

use std::io::{self, BufRead, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown};
use std::thread;

use synack::Stack;
use synack::device::{Link, LinkConfig};
use synack::net::{TcpListener, TcpStream};
use synack::netns::{self, TunNetns};

const PORT: u16 = 7;

fn serve(stream: TcpStream) -> io::Result<u64> {
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0;
    let mut s = &stream;
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        s.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn accept_loop(listener: TcpListener) {
    for stream in listener.incoming() {
        match stream {
            Ok(s) => {
                thread::spawn(move || {
                    let peer = s.peer_addr().ok();
                    match serve(s) {
                        Ok(n) => println!("{peer:?}: echoed {n} bytes"),
                        Err(e) => println!("{peer:?}: {e}"),
                    }
                });
            }
            Err(e) => {
                println!("accept: {e}");
                return;
            }
        }
    }
}

fn main() -> io::Result<()> {
    if let Some(why) = netns::unavailable() {
        println!("No TUN in a namespace here ({why}): running over an in-process link.");
        return over_link();
    }
    let (ns, tun) = TunNetns::new(1500)?;
    let stack = Stack::with_addr(tun, ns.synack.into())?;
    let listener = TcpListener::bind(&stack, (ns.synack, PORT))?;
    println!(
        "synack echoes on {}:{PORT} in namespace {}.",
        ns.synack,
        ns.netns.name()
    );
    println!("From the kernel's side, try:");
    println!(
        "    ip netns exec {} python3 -c \"import socket; s=socket.create_connection(('{}', {PORT})); s.sendall(b'hello'); print(s.recv(64))\"",
        ns.netns.name(),
        ns.synack
    );
    println!(
        "    echo hello | ip netns exec {} nc -q1 {} {PORT}",
        ns.netns.name(),
        ns.synack
    );
    println!("Press Enter to stop.");
    thread::spawn(move || accept_loop(listener));
    let _ = io::stdin().lock().lines().next();
    drop(stack);
    drop(ns);
    Ok(())
}

fn over_link() -> io::Result<()> {
    let server_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let client_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let (a, b) = Link::pair(LinkConfig::default())?;
    let server = Stack::with_addr(b, server_ip)?;
    let client = Stack::with_addr(a, client_ip)?;
    let listener = TcpListener::bind(&server, (server_ip, PORT))?;
    thread::spawn(move || accept_loop(listener));
    let mut stream = TcpStream::connect(&client, (server_ip, PORT))?;
    stream.write_all(b"hello over synack")?;
    stream.shutdown(Shutdown::Write)?;
    let mut echoed = String::new();
    stream.read_to_string(&mut echoed)?;
    println!("client got back: {echoed:?}");
    let info = stream.info()?;
    println!(
        "client connection: {:?}, srtt {:?}, cwnd {}",
        info.state, info.srtt, info.cc.cwnd
    );
    Ok(())
}
