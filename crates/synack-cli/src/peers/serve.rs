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
use super::queues::Queues;
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
    pub queues: Queues,
    pub faults: Faults,
}

/// Open connections, so Ctrl-C can close them.
#[derive(Default)]
pub(crate) struct Open {
    streams: Mutex<HashMap<u64, TcpStream>>,
    next: AtomicU64,
    closing: AtomicBool,
}

impl Open {
    /// Keeps a handle to `stream`; `None` once closing began (the caller drops it).
    pub(crate) fn add(&self, stream: &TcpStream) -> Option<u64> {
        if self.closing.load(Ordering::SeqCst) {
            return None;
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        if let Ok(handle) = stream.try_clone() {
            self.streams
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id, handle);
        }
        Some(id)
    }

    pub(crate) fn remove(&self, id: u64) {
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    /// Ctrl-C: our FIN on every connection after what is queued, and end of stream for
    /// their readers, so each connection's thread finishes and drops its handle.
    pub(crate) fn close_all(&self) {
        self.closing.store(true, Ordering::SeqCst);
        let streams: Vec<TcpStream> = self
            .streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, s)| s)
            .collect();
        for s in &streams {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Waits (bounded) for the closes Ctrl-C began, and says how they went.
pub(crate) fn finish(stack: &synack::Stack) {
    if stack.wait_idle(CLOSE_WAIT) {
        eprintln!("synack: every connection closed");
    } else {
        eprintln!(
            "synack: {} connection(s) still closing after {CLOSE_WAIT:?}; leaving them",
            stack.connection_count()
        );
    }
}

pub fn run(opts: ServeOptions) -> io::Result<()> {
    let interrupts = signals::take_interrupts()?;
    let setup = setup::start(
        &opts.netns,
        NsMode::Create,
        opts.addr,
        opts.queues,
        opts.faults,
        opts.pcap.as_ref(),
    )?;
    setup::log_states(&setup.stack);
    let open = Arc::new(Open::default());
    let app = Arc::new(opts.app.clone());
    let mut listeners = Vec::new();
    for &port in &opts.ports {
        let l = TcpListener::bind(&setup.stack, SocketAddr::new(opts.addr.addr, port))?;
        listeners.push(Arc::new(l));
    }
    for l in &listeners {
        let (l, open, app) = (l.clone(), open.clone(), app.clone());
        std::thread::Builder::new()
            .name("synack-accept".into())
            .spawn(move || accept_loop(&l, &open, &app))?;
    }
    let ns = setup.netns.name();
    println!(
        "synack {} serving on {} (port {}) in network namespace {ns}; the kernel is {} on {}",
        app.name(),
        opts.addr.addr,
        opts.ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        setup.kernel,
        setup::IFNAME,
    );
    for &port in &opts.ports {
        println!("  try: {}", reach(&app, ns, opts.addr, port));
    }
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

fn reach(app: &App, ns: &str, addr: Cidr, port: u16) -> String {
    let ip = addr.addr;
    // A URL puts an IPv6 address in brackets (RFC 3986 §3.2.2).
    let host = if ip.is_ipv6() {
        format!("[{ip}]")
    } else {
        ip.to_string()
    };
    match app {
        App::Http { .. } => format!("ip netns exec {ns} curl http://{host}:{port}/"),
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
        // Once closing began, dropping it closes it gracefully.
        let Some(id) = open.add(&stream) else {
            continue;
        };
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
                open.remove(id);
            });
        if let Err(e) = spawned {
            eprintln!("synack: no thread for a connection: {e}");
        }
    }
}
