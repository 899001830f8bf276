//! One side of a demo: the connection a scenario is about, whether it lives alone in a
//! [`ConnNode`] or among many on a multi-connection [`Host`].
//!
//! Most scenarios need one connection per side, and a bare [`ConnNode`] shows it plainly. The
//! SYN-flood scenario needs a real listener with a SYN queue and cookies, which only the host
//! has: there [`HostServer`] follows the one connection that the scenario's client makes and
//! runs the same scripted [`App`] on it, so the ladder, the JSON and the summary read both
//! kinds alike.

use std::collections::HashMap;
use std::net::SocketAddr;

use synack_proto::host::{ConnId, Host, HostEvent, ListenerId};
use synack_proto::{ConnError, Event, Instant, StateName};
use synack_sim::{App, AppIo, ConnNode, Endpoint};

/// Retransmission and cookie counts, for telling why a segment left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub fast_retransmits: u64,
    pub rto_retransmits: u64,
    pub segs_retransmitted: u64,
    pub syncookies_sent: u64,
    pub syncookies_validated: u64,
    /// Tail loss probes sent (RFC 8985 §7) and segments RACK marked lost (§6).
    pub tail_loss_probes: u64,
    pub rack_losses: u64,
}

/// A half-open connection joining or leaving the SYN queue.
#[derive(Clone, Copy, Debug)]
pub struct QueueMove {
    pub at: Instant,
    pub remote: Option<SocketAddr>,
    pub joined: bool,
    /// The queue's length afterwards.
    pub len: usize,
}

/// A listening host that follows one peer's connection.
pub struct HostServer {
    pub host: Host,
    local: SocketAddr,
    listener: ListenerId,
    /// The client whose connection the scenario is about; everyone else is background.
    peer: SocketAddr,
    conn: Option<ConnId>,
    accepted: bool,
    pub app: App,
    events: Vec<(Instant, Event)>,
    error: Option<ConnError>,
    /// Each time a half-open connection of someone else's joined or left the SYN queue.
    pub syn_queue: Vec<QueueMove>,
    /// Who each of those half-open connections is for (the host forgets once they are gone).
    strangers: HashMap<ConnId, SocketAddr>,
    pub backlog: usize,
    buf: Vec<u8>,
}

impl HostServer {
    /// A host listening on `local` with `backlog`, following the connection from `peer`.
    pub fn new(
        mut host: Host,
        local: SocketAddr,
        backlog: usize,
        peer: SocketAddr,
    ) -> Result<HostServer, String> {
        let listener = host
            .listen(local, backlog)
            .map_err(|e| format!("listen on {local}: {e}"))?;
        Ok(HostServer {
            host,
            local,
            listener,
            peer,
            conn: None,
            accepted: false,
            app: App {
                reads: true,
                ..App::default()
            },
            events: Vec::new(),
            error: None,
            syn_queue: Vec::new(),
            strangers: HashMap::new(),
            backlog,
            buf: vec![0; 65536 + 120],
        })
    }

    fn on_event(&mut self, now: Instant, ev: HostEvent) {
        match ev {
            HostEvent::StateChanged {
                conn,
                from,
                to,
                cause,
            } => {
                if self.conn.is_none()
                    && self
                        .host
                        .peer_addr(conn)
                        .is_ok_and(|remote| remote == self.peer)
                {
                    self.conn = Some(conn);
                }
                if self.conn == Some(conn) {
                    self.events
                        .push((now, Event::StateChanged { from, to, cause }));
                } else if from == StateName::SynReceived || to == StateName::SynReceived {
                    let (len, _) = self.host.listener_queues(self.listener).unwrap_or_default();
                    if let Ok(remote) = self.host.peer_addr(conn) {
                        self.strangers.insert(conn, remote);
                    }
                    self.syn_queue.push(QueueMove {
                        at: now,
                        remote: self.strangers.get(&conn).copied(),
                        joined: to == StateName::SynReceived,
                        len,
                    });
                }
            }
            HostEvent::Accepted { conn, .. } if self.conn == Some(conn) => {
                // Take handshaken connections off the accept queue until ours comes out (the
                // others, if any, are simply closed: this server has one client in mind).
                while let Some(c) = self.host.accept(self.listener) {
                    if c == conn {
                        self.accepted = true;
                        break;
                    }
                    let _ = self.host.close(now, c);
                }
            }
            HostEvent::Closed(conn, error) if self.conn == Some(conn) => self.error = error,
            _ => {}
        }
    }

    /// Hands every pending host event to [`Self::on_event`] and runs the application, until
    /// neither has anything more to do.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut any = false;
            while let Some(ev) = self.host.poll_event() {
                any = true;
                self.on_event(now, ev);
            }
            self.run_app(now);
            if !any {
                break;
            }
        }
    }

    /// The same scripted application as [`ConnNode`]'s, over host calls.
    fn run_app(&mut self, now: Instant) {
        if let (Some(id), true) = (self.conn, self.accepted) {
            self.app.run(
                &mut OnHost {
                    host: &mut self.host,
                    id,
                },
                now,
                &mut self.buf,
            );
        }
    }

    fn counts(&self) -> Counts {
        let c = self.host.counters();
        let cc = self
            .conn
            .and_then(|id| self.host.info(id).ok())
            .map(|i| i.cc);
        let fast = cc.map_or(0, |c| c.fast_retransmits);
        let probes = cc.map_or(0, |c| c.tail_loss_probes);
        Counts {
            fast_retransmits: fast,
            // Every other retransmission on this host is timer-driven: SYN-ACKs to the
            // flood's forged addresses, and the followed connection's own timeouts and probes.
            rto_retransmits: c.retrans_segs.saturating_sub(fast + probes),
            tail_loss_probes: probes,
            rack_losses: cc.map_or(0, |c| c.rack_losses),
            segs_retransmitted: c.retrans_segs,
            syncookies_sent: c.syncookies_sent,
            syncookies_validated: c.syncookies_recv,
        }
    }
}

impl Endpoint for HostServer {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.host.handle_packet(now, packet);
        self.pump(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.pump(now);
        let sent = self.host.poll_transmit(now, &mut self.buf)?;
        let packet = self.buf[..sent.len].to_vec();
        self.pump(now);
        Some(packet)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.host.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.host.handle_timeout(now);
        self.pump(now);
    }
}

/// One connection of a host, as the scripted application sees it.
struct OnHost<'a> {
    host: &'a mut Host,
    id: ConnId,
}

impl AppIo for OnHost<'_> {
    fn send(&mut self, data: &[u8]) -> Option<usize> {
        self.host.send(self.id, data).ok()
    }
    fn recv(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.host.recv(self.id, buf).ok()
    }
    fn shutdown_write(&mut self) {
        let _ = self.host.shutdown(self.id);
    }
    fn close(&mut self, now: Instant) {
        let _ = self.host.close(now, self.id);
    }
}

/// A side of the demo.
pub enum Node {
    Conn(Box<ConnNode>),
    Server(Box<HostServer>),
}

impl Node {
    pub fn app(&self) -> &App {
        match self {
            Node::Conn(n) => &n.app,
            Node::Server(s) => &s.app,
        }
    }

    pub fn app_mut(&mut self) -> &mut App {
        match self {
            Node::Conn(n) => &mut n.app,
            Node::Server(s) => &mut s.app,
        }
    }

    /// Everything the followed connection reported, with when.
    pub fn events(&self) -> &[(Instant, Event)] {
        match self {
            Node::Conn(n) => &n.events,
            Node::Server(s) => &s.events,
        }
    }

    /// The state before anything happened.
    pub fn initial_state(&self) -> StateName {
        let first = self.events().iter().find_map(|(_, e)| match e {
            Event::StateChanged { from, .. } => Some(*from),
            _ => None,
        });
        match self {
            Node::Conn(n) => first.unwrap_or(n.conn.state()),
            // The listener is there from the start; the followed connection is born from it.
            Node::Server(_) => first.unwrap_or(StateName::Listen),
        }
    }

    /// The followed connection's state now.
    pub fn state(&self) -> StateName {
        match self {
            Node::Conn(n) => n.conn.state(),
            // After close the host has let go of the handle, but it still traces the moves.
            Node::Server(s) => s
                .events
                .iter()
                .rev()
                .find_map(|(_, e)| match e {
                    Event::StateChanged { to, .. } => Some(*to),
                    _ => None,
                })
                .unwrap_or(StateName::Listen),
        }
    }

    pub fn error(&self) -> Option<ConnError> {
        match self {
            Node::Conn(n) => n.conn.error(),
            Node::Server(s) => s.error,
        }
    }

    pub fn local_port(&self) -> u16 {
        match self {
            Node::Conn(n) => n.conn.local_port(),
            Node::Server(s) => s.local.port(),
        }
    }

    /// Bytes sent but not yet acknowledged.
    pub fn unacked(&self) -> u32 {
        match self {
            Node::Conn(n) => n.conn.info().unacked,
            Node::Server(s) => s
                .conn
                .and_then(|id| s.host.info(id).ok())
                .map_or(0, |i| i.unacked),
        }
    }

    /// The followed connection's congestion state, once it has one to report.
    pub fn window(&self) -> Option<synack_proto::Info> {
        match self {
            Node::Conn(n) => Some(n.conn.info()),
            Node::Server(s) => s.conn.and_then(|id| s.host.info(id).ok()),
        }
    }

    pub fn counts(&self) -> Counts {
        match self {
            Node::Conn(n) => {
                let i = n.conn.info();
                Counts {
                    fast_retransmits: i.cc.fast_retransmits,
                    rto_retransmits: i.rto_expirations,
                    segs_retransmitted: i.segs_retransmitted,
                    tail_loss_probes: i.cc.tail_loss_probes,
                    rack_losses: i.cc.rack_losses,
                    ..Counts::default()
                }
            }
            Node::Server(s) => s.counts(),
        }
    }

    /// The user calls `close()`.
    pub fn close(&mut self, now: Instant) {
        self.app_mut().closed = true;
        match self {
            Node::Conn(n) => {
                let _ = n.conn.close(now);
            }
            Node::Server(s) => {
                if let Some(id) = s.conn {
                    let _ = s.host.close(now, id);
                }
            }
        }
        self.collect(now);
    }

    /// The user calls `shutdown(SHUT_WR)`.
    pub fn shutdown_write(&mut self, now: Instant) {
        self.app_mut().shut_down = true;
        match self {
            Node::Conn(n) => {
                let _ = n.conn.shutdown_write();
            }
            Node::Server(s) => {
                if let Some(id) = s.conn {
                    let _ = s.host.shutdown(id);
                }
            }
        }
        self.collect(now);
    }

    /// The user aborts: RST.
    pub fn abort(&mut self, now: Instant) {
        self.app_mut().closed = true;
        match self {
            Node::Conn(n) => n.conn.abort(),
            Node::Server(s) => {
                if let Some(id) = s.conn {
                    let _ = s.host.abort(id);
                }
            }
        }
        self.collect(now);
    }

    /// Fetches the events a user call caused (the node would otherwise only collect them at
    /// its next packet, stamped with a later time).
    pub fn collect(&mut self, now: Instant) {
        match self {
            Node::Conn(n) => {
                while let Some(e) = n.conn.poll_event() {
                    n.events.push((now, e));
                }
            }
            Node::Server(s) => s.pump(now),
        }
    }
}

impl Endpoint for Node {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        match self {
            Node::Conn(n) => n.handle_packet(now, packet),
            Node::Server(s) => s.handle_packet(now, packet),
        }
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self {
            Node::Conn(n) => n.poll_transmit(now),
            Node::Server(s) => s.poll_transmit(now),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Node::Conn(n) => n.poll_timeout(),
            Node::Server(s) => s.poll_timeout(),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Node::Conn(n) => n.handle_timeout(now),
            Node::Server(s) => s.handle_timeout(now),
        }
    }
}
