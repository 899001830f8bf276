//! STATUS by handle (RFC 9293 §3.10.6) and the borrowed per-connection view through which
//! socket options change: what a runtime reads and sets on one of the user's connections.

use core::net::SocketAddr;
use core::time::Duration;

use super::*;
use crate::config::{Config, Keepalive};
use crate::conn::{Info, UrgentByte};
use crate::error::ConnError;

impl Host {
    /// Copies received bytes without taking them (`MSG_PEEK`); 0 when none are buffered.
    pub fn peek(&self, id: ConnId, buf: &mut [u8]) -> Result<usize, HostError> {
        Ok(self.user_entry_ref(id)?.conn.peek(buf))
    }

    /// Whether the next byte to read is the last urgent byte (`SIOCATMARK`).
    pub fn at_urgent_mark(&self, id: ConnId) -> Result<bool, HostError> {
        Ok(self.user_entry_ref(id)?.conn.at_urgent_mark())
    }

    /// The out-of-band byte, left in place (`MSG_OOB | MSG_PEEK`, and `POLLPRI` while it is
    /// `Ready`).
    pub fn urgent_byte(&self, id: ConnId) -> Result<UrgentByte, HostError> {
        Ok(self.user_entry_ref(id)?.conn.urgent_byte())
    }

    pub fn info(&self, id: ConnId) -> Result<Info, HostError> {
        Ok(self.user_entry_ref(id)?.conn.info())
    }

    pub fn state(&self, id: ConnId) -> Result<StateName, HostError> {
        Ok(self.user_entry_ref(id)?.conn.state())
    }

    /// Our end of the connection (for a wildcard listener's connection, the address the peer
    /// reached).
    pub fn local_addr(&self, id: ConnId) -> Result<SocketAddr, HostError> {
        Ok(self.user_entry_ref(id)?.tuple.local())
    }

    /// The peer's end of the connection.
    pub fn peer_addr(&self, id: ConnId) -> Result<SocketAddr, HostError> {
        Ok(self.user_entry_ref(id)?.tuple.remote())
    }

    /// The last ICMP soft error reported for a connection (RFC 1122 §4.2.3.9), kept until the
    /// peer acknowledges new data; a connection that times out before then fails with it.
    pub fn soft_error(&self, id: ConnId) -> Result<Option<ConnError>, HostError> {
        Ok(self.user_entry_ref(id)?.conn.soft_error())
    }

    /// Why the connection ended, the first time it is asked after it did (as a socket's
    /// `SO_ERROR` is cleared by reading it); `None` while it lives, after an orderly end, and
    /// once reported.
    pub fn take_error(&mut self, id: ConnId) -> Result<Option<ConnError>, HostError> {
        let e = self.user_entry(id)?;
        let error = e.conn.error().filter(|_| !e.error_taken);
        e.error_taken |= error.is_some();
        Ok(error)
    }

    /// The settings a connection runs with (those it was opened with, as changed since through
    /// [`Host::conn_mut`]).
    pub fn conn_config(&self, id: ConnId) -> Result<&Config, HostError> {
        Ok(self.user_entry_ref(id)?.conn.config())
    }

    /// A borrowed view of one of the user's connections, to change its options in place.
    /// Its timers are re-armed when the view is dropped, so a new deadline counts at once.
    pub fn conn_mut(&mut self, id: ConnId) -> Result<ConnMut<'_>, HostError> {
        self.user_entry(id)?;
        Ok(ConnMut { host: self, id })
    }
}

/// One of the user's connections, borrowed from its [`Host`] (see [`Host::conn_mut`]). Only
/// options that leave the 4-tuple, the queues and the memory count as they are can be set
/// here; the host brings its bookkeeping up to date when the view goes.
pub struct ConnMut<'a> {
    host: &'a mut Host,
    id: ConnId,
}

impl ConnMut<'_> {
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// `TCP_NODELAY`: send small segments at once rather than wait for data in flight to be
    /// acknowledged (RFC 896's algorithm off).
    pub fn set_nodelay(&mut self, nodelay: bool) {
        if let Some(c) = self.conn() {
            c.set_nodelay(nodelay);
        }
    }

    /// `IP_TOS`, `IP_TTL`, `IPV6_TCLASS` and `IPV6_UNICAST_HOPS`: the IP header fields of
    /// the connection's datagrams, including those it sends after its user closed it.
    pub fn set_ip_header(&mut self, ip: crate::IpHeaderOptions) {
        if let Some(c) = self.conn() {
            c.set_ip_header(ip);
        }
    }

    /// `SO_KEEPALIVE` with its timings (RFC 1122 §4.2.3.6); `None` turns probing off.
    pub fn set_keepalive(&mut self, keepalive: Option<Keepalive>) {
        if let Some(c) = self.conn() {
            c.set_keepalive(keepalive);
        }
    }

    /// `TCP_USER_TIMEOUT` (RFC 5482): how long sent data may stay unacknowledged before the
    /// connection is given up; `None` for the retransmission limit alone.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        if let Some(c) = self.conn() {
            c.set_user_timeout(timeout);
        }
    }

    /// FreeBSD's `TCP_KEEPINIT`: how long the handshake may take from its start; `None` for
    /// the SYN and SYN-ACK retries alone.
    pub fn set_connect_timeout(&mut self, timeout: Option<Duration>) {
        if let Some(c) = self.conn() {
            c.set_connect_timeout(timeout);
        }
    }

    /// `SO_RCVBUF` on an open connection: the receive buffer's size, fixed (auto-tuning no
    /// longer grows it); the window follows, within the scale agreed on the SYN.
    pub fn set_recv_buffer(&mut self, size: usize) {
        if let Some(c) = self.conn() {
            c.set_recv_buffer(size);
        }
    }

    /// `SO_SNDBUF` on an open connection: the send buffer's size, fixed.
    pub fn set_send_buffer(&mut self, size: usize) {
        if let Some(c) = self.conn() {
            c.set_send_buffer(size);
        }
    }

    /// `TCP_NOTSENT_LOWAT` on an open connection: the most bytes written but not yet sent.
    pub fn set_notsent_lowat(&mut self, lowat: Option<usize>) {
        if let Some(c) = self.conn() {
            c.set_notsent_lowat(lowat);
        }
    }

    /// `TCP_CONGESTION` on an open connection: the controller switches, cwnd and ssthresh
    /// carry over.
    pub fn set_congestion(&mut self, controller: crate::CongestionControl) {
        if let Some(c) = self.conn() {
            c.set_congestion(controller);
        }
    }

    /// `SO_OOBINLINE`: the last urgent byte is read in the stream rather than held apart.
    pub fn set_urgent_inline(&mut self, inline: bool) {
        if let Some(c) = self.conn() {
            c.set_urgent_inline(inline);
        }
    }

    fn conn(&mut self) -> Option<&mut Connection> {
        // `conn_mut` checked the handle, and the view holds the host until it drops.
        self.host.entry_mut(self.id).map(|e| &mut e.conn)
    }
}

impl Drop for ConnMut<'_> {
    fn drop(&mut self) {
        self.host.after(self.id);
    }
}
