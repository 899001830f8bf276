//! `synack connect`: synack as the client of a kernel server inside the namespace.
//!
//! The namespace is used if it exists (a server may already listen in it; it is left in
//! place afterwards) and created, then deleted, if it does not. Either way the TUN
//! interface is ours and goes when we exit.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use synack::net::TcpStream;

use super::device::Faults;
use super::queues::Queues;
use super::setup::{self, Cidr, NsMode};

/// How long the handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ConnectOptions {
    pub netns: String,
    pub addr: Cidr,
    pub to: SocketAddr,
    pub send: Option<PathBuf>,
    pub expect_bytes: Option<u64>,
    pub pcap: Option<PathBuf>,
    pub queues: Queues,
    pub faults: Faults,
    /// With `--expect-bytes`, no data is printed; this gives a summary on stderr either way.
    pub quiet: bool,
}

/// What came back.
pub struct Outcome {
    pub sent: u64,
    pub received: u64,
}

pub fn run(opts: ConnectOptions) -> io::Result<Outcome> {
    let payload = match &opts.send {
        Some(p) => Some(
            std::fs::read(p)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?,
        ),
        None => None,
    };
    let setup = setup::start(
        &opts.netns,
        NsMode::UseOrCreate,
        opts.addr,
        opts.queues,
        opts.faults,
        opts.pcap.as_ref(),
    )?;
    if !opts.quiet {
        setup::log_states(&setup.stack);
    }
    let outcome = exchange(&setup.stack, &opts, payload.as_deref());
    // Let our FIN and the last ACKs go out before the stack and device go.
    setup.stack.wait_idle(Duration::from_secs(5));
    drop(setup);
    let outcome = outcome?;
    if let Some(n) = opts.expect_bytes {
        if outcome.received != n {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("expected {n} bytes, received {}", outcome.received),
            ));
        }
    }
    Ok(outcome)
}

fn exchange(
    stack: &synack::Stack,
    opts: &ConnectOptions,
    payload: Option<&[u8]>,
) -> io::Result<Outcome> {
    let stream = TcpStream::connect_timeout(stack, &opts.to, CONNECT_TIMEOUT)
        .map_err(|e| io::Error::new(e.kind(), format!("connecting to {}: {e}", opts.to)))?;
    // The upload runs beside the download, so a server that answers as it reads cannot
    // deadlock us with both windows full.
    let writer = stream.try_clone()?;
    let data = payload.map(<[u8]>::to_vec);
    let upload = std::thread::spawn(move || -> io::Result<u64> {
        let mut w = &writer;
        let mut sent = 0;
        if let Some(d) = data {
            w.write_all(&d)?;
            sent = d.len() as u64;
        }
        writer.shutdown(Shutdown::Write)?;
        Ok(sent)
    });
    let mut received = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let print = opts.expect_bytes.is_none();
    let mut reader = &stream;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        received += n as u64;
        if print {
            out.write_all(&buf[..n])?;
        }
    }
    out.flush()?;
    let sent = upload
        .join()
        .map_err(|_| io::Error::other("upload thread panicked"))??;
    eprintln!("synack: sent {sent} bytes, received {received} bytes");
    Ok(Outcome { sent, received })
}
