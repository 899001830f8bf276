//! `synack serve`: an application on synack, reached by the kernel from inside the namespace.
//!
//! Each listener has an accept thread, each connection a thread of its own. Ctrl-C closes
//! every connection gracefully (our FIN after what is queued), waits a bounded time for the
//! closes to finish, then stops the stack and deletes the namespace.

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use synack::net::{TcpListener, TcpStream};

use super::apps::App;
use super::device::Faults;
use super::setup::{self, Cidr, NsMode};
use super::signals;

/// How long Ctrl-C waits for the connections to finish closing.
pub const CLOSE_WAIT: Duration = Duration::from_secs(5);

pub struct ServeOptions {
    pub netns: String,
    pub addr: Cidr,
    pub ports: Vec<u16>,
    pub app: App,
    pub pcap: Option<PathBuf>,
    pub faults: Faults,
}

/// Open connections, so Ctrl-C can close them.
#[derive(Default)]
struct Open {
    streams: Mutex<HashMap<u64, TcpStream>>,
    next: AtomicU64,
    closing: AtomicBool,
}

pub fn run(opts: ServeOptions) -> io::Result<()> {
    let interrupts = signals::take_interrupts()?;
    let setup = setup::start(
        &opts.netns,
        NsMode::Create,
        opts.addr,
        opts.faults,
        opts.pcap.as_ref(),
    )?;
    setup::log_states(&setup.stack);
    let open = Arc::new(Open::default());
    let app = Arc::new(opts.app.clone());
    let mut listeners = Vec::new();
    for &port in &opts.ports {
        let l = TcpListener::bind(&setup.stack, SocketAddr::new(opts.addr.addr.into(), port))?;
        listeners.push(Arc::new(l));
    }
    for l in &listeners {
        let (l, open, app) = (l.clone(), open.clone(), app.clone());
        std::thread::Builder::new()
            .name("synack-accept".into())
            .spawn(move || accept_loop(&l, &open, &app))?;
    }
    let ns = setup.tun.netns.name();
    println!(
        "synack {} serving on {} (port {}) in network namespace {ns}; the kernel is {} on {}",
        app.name(),
        opts.addr.addr,
        opts.ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        setup.tun.kernel,
        setup.tun.ifname,
    );
    for &port in &opts.ports {
        println!("  try: {}", reach(&app, ns, opts.addr, port));
    }
    println!("Ctrl-C closes every connection and deletes the namespace.");
    let sig = interrupts.recv().unwrap_or(libc::SIGTERM);
    eprintln!("synack: {}: closing every connection", signals::name(sig));
    open.closing.store(true, Ordering::SeqCst);
    let streams: Vec<TcpStream> = open
        .streams
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .drain()
        .map(|(_, s)| s)
        .collect();
    for s in &streams {
        // Our FIN after what is queued; the connection's thread sees end of stream and
        // drops its handle.
        let _ = s.shutdown(Shutdown::Both);
    }
    drop(streams);
    let idle = setup.stack.wait_idle(CLOSE_WAIT);
    if idle {
        eprintln!("synack: every connection closed");
    } else {
        eprintln!(
            "synack: {} connection(s) still closing after {CLOSE_WAIT:?}; leaving them",
            setup.stack.connection_count()
        );
    }
    let name = ns.to_string();
    drop(setup);
    println!("synack: network namespace {name} deleted");
    Ok(())
}

fn reach(app: &App, ns: &str, addr: Cidr, port: u16) -> String {
    let ip = addr.addr;
    match app {
        App::Http { .. } => format!("ip netns exec {ns} curl http://{ip}:{port}/"),
        App::Echo => format!(
            "ip netns exec {ns} python3 -c \"import socket; s=socket.create_connection(('{ip}',{port})); s.sendall(b'hi'); print(s.recv(9))\""
        ),
        App::Discard => format!("head -c 1M /dev/zero | ip netns exec {ns} nc -N {ip} {port}"),
        App::Chargen => format!("ip netns exec {ns} nc {ip} {port} | head"),
    }
}

fn accept_loop(listener: &TcpListener, open: &Arc<Open>, app: &Arc<App>) {
    loop {
        let (stream, _peer) = match listener.accept() {
            Ok(s) => s,
            // The stack stopped: we are shutting down.
            Err(_) => return,
        };
        if open.closing.load(Ordering::SeqCst) {
            // Dropping it closes it gracefully.
            continue;
        }
        let id = open.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(handle) = stream.try_clone() {
            open.streams
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, handle);
        }
        let (open, app) = (open.clone(), app.clone());
        let spawned = std::thread::Builder::new()
            .name("synack-conn".into())
            .spawn(move || {
                if let Err(e) = app.serve(&stream) {
                    let peer = stream.peer_addr().map(|a| a.to_string());
                    eprintln!(
                        "synack: connection from {}: {e}",
                        peer.unwrap_or_else(|_| "?".into())
                    );
                }
                open.streams
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
            });
        if let Err(e) = spawned {
            eprintln!("synack: no thread for a connection: {e}");
        }
    }
}
