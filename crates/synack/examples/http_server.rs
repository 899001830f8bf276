//! A small HTTP/1.1 server on synack (GET and HEAD, keep-alive, `Connection: close`),
//! reached with curl from the Linux kernel's side of a TUN interface.
//!
//!     sudo cargo run -p synack --example http_server
//!
//! It prints the `ip netns exec … curl …` command to run in another terminal; press Enter to
//! stop (the namespace is deleted). Without root it serves over an in-process link and
//! fetches one page itself.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::thread;

use synack::Stack;
use synack::device::{Link, LinkConfig};
use synack::net::{TcpListener, TcpStream};
use synack::netns::{self, TunNetns};

const PORT: u16 = 80;
/// Request heads longer than this are refused (431), so a peer cannot grow memory without end.
const MAX_HEAD: usize = 16 * 1024;

/// Reads one request head; `None` at end of stream.
fn read_head(r: &mut impl BufRead) -> io::Result<Option<Vec<String>>> {
    let mut lines = Vec::new();
    let mut size = 0;
    loop {
        let mut line = String::new();
        let n = r.take((MAX_HEAD - size) as u64 + 1).read_line(&mut line)?;
        if n == 0 {
            return Ok(if lines.is_empty() { None } else { Some(lines) });
        }
        size += n;
        if size > MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_string();
        if line.is_empty() {
            if lines.is_empty() {
                continue; // RFC 9112 §2.2: ignore empty lines before a request line.
            }
            return Ok(Some(lines));
        }
        lines.push(line);
    }
}

fn respond(
    w: &mut impl Write,
    status: &str,
    body: &[u8],
    head_only: bool,
    close: bool,
) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nServer: synack\r\n{}\r\n",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    )?;
    if !head_only {
        w.write_all(body)?;
    }
    Ok(())
}

fn serve(stream: TcpStream) -> io::Result<()> {
    let info_of = stream.try_clone()?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut w = &stream;
    loop {
        let head = match read_head(&mut reader) {
            Ok(Some(h)) => h,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return respond(
                    &mut w,
                    "431 Request Header Fields Too Large",
                    b"",
                    false,
                    true,
                );
            }
            Err(e) => return Err(e),
        };
        let mut parts = head[0].split_whitespace();
        let (method, path, version) = (parts.next(), parts.next(), parts.next());
        let close = version != Some("HTTP/1.1")
            || head[1..].iter().any(|h| {
                let l = h.to_ascii_lowercase();
                l.starts_with("connection:") && l.contains("close")
            });
        match (method, path) {
            (Some(m @ ("GET" | "HEAD")), Some(path)) => {
                let info = info_of.info()?;
                let body = format!(
                    "Hello from synack, a userspace TCP.\npath: {path}\nyou are: {}\nthis connection: {:?}, srtt {:?}, cwnd {} bytes, {} segments retransmitted\n",
                    stream.peer_addr()?,
                    info.state,
                    info.srtt,
                    info.cc.cwnd,
                    info.segs_retransmitted
                );
                respond(&mut w, "200 OK", body.as_bytes(), m == "HEAD", close)?;
            }
            _ => respond(
                &mut w,
                "405 Method Not Allowed",
                b"GET or HEAD only\n",
                false,
                true,
            )?,
        }
        if close {
            return Ok(());
        }
    }
}

fn accept_loop(listener: TcpListener) {
    for stream in listener.incoming().flatten() {
        thread::spawn(move || {
            if let Err(e) = serve(stream) {
                println!("connection: {e}");
            }
        });
    }
}

fn main() -> io::Result<()> {
    if let Some(why) = netns::unavailable() {
        println!("No TUN in a namespace here ({why}): serving over an in-process link.");
        return over_link();
    }
    let (ns, tun) = TunNetns::new(1500)?;
    let stack = Stack::with_addr(tun, ns.synack.into())?;
    let listener = TcpListener::bind(&stack, (ns.synack, PORT))?;
    println!(
        "synack serves HTTP on {}:{PORT} in namespace {}. In another terminal:",
        ns.synack,
        ns.netns.name()
    );
    println!("    {}", ns.curl_command(PORT));
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
    stream.write_all(b"GET /hello HTTP/1.1\r\nHost: synack\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    print!("{response}");
    Ok(())
}
