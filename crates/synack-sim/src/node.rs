//! A simulated host with one TCP connection, speaking real IP packets on a [`Link`].
//!
//! This is the bridge between the protocol core and the simulator until the multi-connection
//! host exists: it encodes what the connection sends with `synack-wire`, parses (and checksums)
//! what arrives, and runs a small scripted application so tests and the demo can say "send
//! these bytes, then close" or "read everything, close at end of stream".
//!
//! [`Link`]: crate::Link

use std::net::IpAddr;

use synack_proto::{Connection, Event, Instant};
use synack_wire::ChecksumMode;
use synack_wire::ip::{emit_tcp, parse_tcp};

use crate::Endpoint;

/// What the scripted application does with the connection.
#[derive(Clone, Debug, Default)]
pub struct App {
    /// Bytes to write, as fast as the send buffer takes them.
    pub to_send: Vec<u8>,
    /// How many of `to_send` the connection has taken.
    pub sent: usize,
    /// Every byte read so far.
    pub received: Vec<u8>,
    /// Shut down the sending side (FIN) once everything in `to_send` is written, and go on
    /// reading: a half-close.
    pub shutdown_after_send: bool,
    /// Close (give up the connection) once everything is written and the peer's end of stream
    /// has been read.
    pub close_on_eof: bool,
    /// Read what arrives (off: the application never reads, e.g. for a zero-window demo).
    pub reads: bool,
    pub eof: bool,
    pub shut_down: bool,
    pub closed: bool,
}

/// What the scripted [`App`] needs from whatever holds its connection: a lone
/// [`Connection`], or one connection of a multi-connection host.
pub trait AppIo {
    /// Takes what fits of `data`; `None` when nothing can be written now.
    fn send(&mut self, data: &[u8]) -> Option<usize>;
    /// Reads into `buf`: `Some(0)` at end of stream, `None` when nothing can be read now.
    fn recv(&mut self, buf: &mut [u8]) -> Option<usize>;
    fn shutdown_write(&mut self);
    fn close(&mut self, now: Instant);
}

impl App {
    /// Does what the script asks as far as the connection lets it: write, read (into
    /// `scratch`, a buffer the caller keeps so that the many calls with nothing to read do
    /// not each zero a fresh one), shut down, close.
    pub fn run(&mut self, io: &mut impl AppIo, now: Instant, scratch: &mut [u8]) {
        while self.sent < self.to_send.len() {
            match io.send(&self.to_send[self.sent..]) {
                Some(n) if n > 0 => self.sent += n,
                _ => break,
            }
        }
        if self.reads {
            loop {
                match io.recv(scratch) {
                    Some(0) => {
                        self.eof = true;
                        break;
                    }
                    Some(n) => self.received.extend_from_slice(&scratch[..n]),
                    None => break,
                }
            }
        }
        let done_sending = self.sent == self.to_send.len();
        if self.shutdown_after_send && done_sending && !self.shut_down {
            self.shut_down = true;
            io.shutdown_write();
        }
        if self.close_on_eof && self.eof && done_sending && !self.closed {
            self.closed = true;
            io.close(now);
        }
    }
}

impl AppIo for Connection {
    fn send(&mut self, data: &[u8]) -> Option<usize> {
        Connection::send(self, data).ok()
    }
    fn recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        Connection::recv(self, buf).ok()
    }
    fn shutdown_write(&mut self) {
        let _ = Connection::shutdown_write(self);
    }
    fn close(&mut self, now: Instant) {
        let _ = Connection::close(self, now);
    }
}

/// One connection on a simulated host.
pub struct ConnNode {
    pub conn: Connection,
    pub local: IpAddr,
    pub remote: IpAddr,
    pub app: App,
    /// Everything the connection reported, with the time it happened.
    pub events: Vec<(Instant, Event)>,
    /// Packets dropped because they did not parse (bad checksum after corruption, say).
    pub malformed: u64,
    payload: Vec<u8>,
    /// Where the application reads into.
    read_buf: Vec<u8>,
}

impl ConnNode {
    pub fn new(conn: Connection, local: IpAddr, remote: IpAddr) -> ConnNode {
        let mut node = ConnNode {
            conn,
            local,
            remote,
            app: App {
                reads: true,
                ..App::default()
            },
            events: Vec::new(),
            malformed: 0,
            payload: vec![0; 65536],
            read_buf: vec![0; 16 * 1024],
        };
        node.collect_events(Instant::ZERO);
        node
    }

    fn collect_events(&mut self, now: Instant) {
        while let Some(ev) = self.conn.poll_event() {
            self.events.push((now, ev));
        }
    }

    /// Runs the scripted application against the connection's buffers.
    fn run_app(&mut self, now: Instant) {
        self.app.run(&mut self.conn, now, &mut self.read_buf);
        self.collect_events(now);
    }
}

impl Endpoint for ConnNode {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        match parse_tcp(packet, ChecksumMode::Verify) {
            Ok((ip, tcp)) if ip.dst == self.local && ip.src == self.remote => {
                self.conn.handle_segment(now, &tcp);
            }
            _ => self.malformed += 1,
        }
        self.run_app(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.run_app(now);
        let tcp = self.conn.poll_transmit(now, &mut self.payload)?;
        let len = synack_wire::ip::tcp_packet_len(&tcp, self.local.is_ipv6());
        let mut packet = vec![0u8; len];
        let n = emit_tcp(&mut packet, self.local, self.remote, 64, &tcp).ok()?;
        packet.truncate(n);
        self.collect_events(now);
        Some(packet)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.conn.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.conn.handle_timeout(now);
        self.run_app(now);
    }
}
