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
    /// Where the application reads into; kept so that the many calls with nothing to read do
    /// not each zero a fresh buffer.
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
        let app = &mut self.app;
        while app.sent < app.to_send.len() {
            match self.conn.send(&app.to_send[app.sent..]) {
                Ok(n) => app.sent += n,
                Err(_) => break,
            }
        }
        if app.reads {
            let buf = &mut self.read_buf;
            loop {
                match self.conn.recv(buf) {
                    Ok(0) => {
                        app.eof = true;
                        break;
                    }
                    Ok(n) => app.received.extend_from_slice(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
        let done_sending = app.sent == app.to_send.len();
        if app.shutdown_after_send && done_sending && !app.shut_down {
            app.shut_down = true;
            let _ = self.conn.shutdown_write();
        }
        if app.close_on_eof && app.eof && done_sending && !app.closed {
            app.closed = true;
            let _ = self.conn.close(now);
        }
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
