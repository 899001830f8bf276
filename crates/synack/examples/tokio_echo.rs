//! An echo server on synack's tokio sockets, one task per connection, the stack driven by a
//! task too.
//!
//!     sudo cargo run -p synack --example tokio_echo
//!
//! Over TUN in a namespace it prints the command to reach it and stops on Enter (deleting
//! the namespace); without root it runs over an in-process link with ten tokio clients.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use synack::device::{Link, LinkConfig};
use synack::netns::{self, TunNetns};
use synack::tokio::{TcpListener, TcpStream};
use synack::{HostConfig, Stack};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 7;

async fn accept_loop(listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                println!("accept: {e}");
                return;
            }
        };
        tokio::spawn(async move {
            let (mut r, mut w) = stream.into_split();
            match tokio::io::copy(&mut r, &mut w).await {
                Ok(n) => println!("{peer}: echoed {n} bytes"),
                Err(e) => println!("{peer}: {e}"),
            }
        });
    }
}

#[tokio::main]
async fn main() -> io::Result<()> {
    if let Some(why) = netns::unavailable() {
        println!("No TUN in a namespace here ({why}): running over an in-process link.");
        return over_link().await;
    }
    let (ns, tun) = TunNetns::new(1500)?;
    let stack = Stack::new_tokio(
        tun,
        HostConfig {
            local_addrs: vec![ns.synack.into()],
            ..HostConfig::default()
        },
    )?;
    let listener = TcpListener::bind(&stack, SocketAddr::new(ns.synack.into(), PORT)).await?;
    println!(
        "synack (tokio) echoes on {}:{PORT} in namespace {}. Try:",
        ns.synack,
        ns.netns.name()
    );
    println!(
        "    echo hello | ip netns exec {} nc -q1 {} {PORT}",
        ns.netns.name(),
        ns.synack
    );
    println!("Press Enter to stop.");
    tokio::spawn(accept_loop(listener));
    // Stdin is read on a blocking thread: tokio's own stdin needs its `io-std` feature.
    let _ = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        io::stdin().read_line(&mut line)
    })
    .await;
    drop(stack);
    drop(ns);
    Ok(())
}

async fn over_link() -> io::Result<()> {
    let server_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let client_ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let (a, b) = Link::pair(LinkConfig::default())?;
    let server = Stack::new_tokio(
        b,
        HostConfig {
            local_addrs: vec![server_ip],
            ..HostConfig::default()
        },
    )?;
    let client = Stack::new_tokio(
        a,
        HostConfig {
            local_addrs: vec![client_ip],
            ..HostConfig::default()
        },
    )?;
    let listener = TcpListener::bind(&server, SocketAddr::new(server_ip, PORT)).await?;
    tokio::spawn(accept_loop(listener));
    let client = std::sync::Arc::new(client);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&client, (server_ip, PORT)).await?;
            s.write_all(format!("hello from task {i}").as_bytes())
                .await?;
            s.shutdown().await?;
            let mut back = String::new();
            s.read_to_string(&mut back).await?;
            io::Result::Ok(back)
        }));
    }
    for t in tasks {
        println!("client got back: {:?}", t.await.map_err(io::Error::other)??);
    }
    Ok(())
}
