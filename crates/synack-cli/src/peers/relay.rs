//! `synack relay`: tun2socks. Every TCP connection a program in the namespace opens to an
//! address routed to the TUN device is accepted by synack's every-port listener, whatever its
//! destination, and relayed byte for byte to a real socket on the host's loopback: each
//! direction copied until its end of stream, which is passed on as a half-close (a FIN),
//! so a request-then-shutdown protocol works through the relay as it would direct.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use synack::net::{TcpListener, TcpStream};

use super::device::Faults;
use super::queues::Queues;
use super::serve::{Open, finish};
use super::setup::{self, Cidr};
use super::signals;

/// How long the relay waits for the loopback server to accept.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RelayOptions {
    pub netns: String,
    pub addr: Cidr,
    /// The subnet routed to the TUN device inside the namespace.
    pub route: Cidr,
    pub to: SocketAddr,
    pub pcap: Option<PathBuf>,
    pub queues: Queues,
    pub faults: Faults,
}

/// The relay's target must be on the host's loopback: the relay never opens connections
/// anywhere else.
pub fn check_target(to: SocketAddr) -> Result<(), String> {
    if to.ip().is_loopback() && to.port() != 0 {
        Ok(())
    } else {
        Err(format!(
            "--to {to}: the relay only connects to a port on the loopback (127.0.0.0/8 or ::1)"
        ))
    }
}

pub fn run(opts: RelayOptions) -> io::Result<()> {
    check_target(opts.to).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let interrupts = signals::take_interrupts()?;
    if opts.route.is_ipv6() != opts.addr.is_ipv6() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "--route {} and --addr {} must be of one family: the kernel sources the \
                 routed connections from its address on the link",
                opts.route, opts.addr
            ),
        ));
    }
    let setup = setup::start_transparent(
        &opts.netns,
        opts.addr,
        opts.queues,
        opts.faults,
        opts.pcap.as_ref(),
    )?;
    let route = format!("{}/{}", opts.route.network(), opts.route.prefix);
    setup
        .netns
        .ip(&["route", "add", &route, "dev", setup::IFNAME])?;
    setup::log_states(&setup.stack);
    let any = if opts.route.is_ipv6() {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    let listener = TcpListener::bind_all_ports(&setup.stack, any)?;
    let open = Arc::new(Open::default());
    let to = opts.to;
    {
        let open = open.clone();
        std::thread::Builder::new()
            .name("synack-accept".into())
            .spawn(move || accept_loop(&listener, &open, to))?;
    }
    let ns = setup.netns.name();
    println!("synack relaying every TCP connection to {route} in network namespace {ns} to {to}");
    let example = match opts.route.nth(5) {
        IpAddr::V6(a) => format!("[{a}]"),
        a => a.to_string(),
    };
    println!(
        "  try: ip netns exec {ns} curl http://{example}:{}/",
        to.port()
    );
    println!("Ctrl-C closes every connection and deletes the namespace.");
    let sig = interrupts.recv().unwrap_or(libc::SIGTERM);
    eprintln!("synack: {}: closing every connection", signals::name(sig));
    open.close_all();
    finish(&setup.stack);
    let name = ns.to_string();
    drop(setup);
    println!("synack: network namespace {name} deleted");
    Ok(())
}

fn accept_loop(listener: &TcpListener, open: &Arc<Open>, to: SocketAddr) {
    loop {
        let Ok((stream, peer)) = listener.accept() else {
            return;
        };
        let Some(id) = open.add(&stream) else {
            continue;
        };
        let open = open.clone();
        let spawned = std::thread::Builder::new()
            .name("synack-relay".into())
            .spawn(move || {
                let dst = stream
                    .local_addr()
                    .map_or_else(|_| "?".to_string(), |a| a.to_string());
                eprintln!("relay: {peer} -> {dst} (original destination) via {to}");
                match relay(&stream, to) {
                    Ok((up, down)) => {
                        eprintln!("relay: {peer} -> {dst}: {up} bytes up, {down} bytes down")
                    }
                    Err(e) => eprintln!("relay: {peer} -> {dst}: {e}"),
                }
                open.remove(id);
            });
        if let Err(e) = spawned {
            eprintln!("synack: no thread for a connection: {e}");
        }
    }
}

/// Copies both directions until both have ended. Returns (bytes up, bytes down).
fn relay(stream: &TcpStream, to: SocketAddr) -> io::Result<(u64, u64)> {
    let target = match std::net::TcpStream::connect_timeout(&to, CONNECT_TIMEOUT) {
        Ok(t) => t,
        Err(e) => {
            // Nobody there: the client learns it as a reset, as it would have directly.
            let _ = stream.set_linger(Some(Duration::ZERO));
            return Err(io::Error::new(e.kind(), format!("connecting to {to}: {e}")));
        }
    };
    let _ = target.set_nodelay(true);
    let _ = stream.set_nodelay(true);
    let down_target = target.try_clone()?;
    let down_stream = stream.try_clone()?;
    let down = std::thread::spawn(move || -> io::Result<u64> {
        let n = copy(&mut &down_target, &mut &down_stream)?;
        down_stream.shutdown(Shutdown::Write)?;
        Ok(n)
    });
    let up = copy(&mut &*stream, &mut &target).and_then(|n| {
        target.shutdown(Shutdown::Write)?;
        Ok(n)
    });
    let down = down
        .join()
        .map_err(|_| io::Error::other("relay thread panicked"))?;
    if up.is_err() || down.is_err() {
        // One side failed: tell the other with a reset rather than a clean end.
        let _ = stream.set_linger(Some(Duration::ZERO));
    }
    Ok((up?, down?))
}

fn copy(from: &mut impl Read, to: &mut impl Write) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0;
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        to.write_all(&buf[..n])?;
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_taken() {
        assert!(check_target("127.0.0.1:8080".parse().unwrap()).is_ok());
        assert!(check_target("[::1]:8080".parse().unwrap()).is_ok());
        assert!(check_target("10.0.0.1:80".parse().unwrap()).is_err());
        assert!(check_target("93.184.216.34:80".parse().unwrap()).is_err());
        assert!(check_target("127.0.0.1:0".parse().unwrap()).is_err());
    }
}
