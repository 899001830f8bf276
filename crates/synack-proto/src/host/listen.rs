//! The listen path: a listening socket (its address, possibly wildcard, its SYN queue of
//! half-open connections and its accept queue of established ones, both bounded by the
//! backlog), and RFC 9293 §3.10.7.2 for it, with the queues, their Linux overflow behaviour
//! and SYN cookies (RFC 4987 §3.6) in front.

use alloc::collections::VecDeque;
use core::net::SocketAddr;
use core::time::Duration;

use synack_wire::{TcpFlags, TcpOptions, Timestamps};

use super::memory::MIN_RCV_ALLOWANCE;
use super::*;
use crate::config::SharedConfig;
use crate::conn::{CookieSyn, syn_ack_window, ts_clock_with};
use crate::time::Instant;

pub(crate) struct Listener {
    pub local: SocketAddr,
    pub backlog: usize,
    /// Settings of the connections it opens.
    pub config: SharedConfig,
    /// Connections in SYN-RECEIVED (Linux's request sockets).
    pub syn_queue: VecDeque<ConnId>,
    /// Connections established and waiting for `accept`.
    pub accept_queue: VecDeque<ConnId>,
    /// When this listener last answered with a cookie: only then is an unexpected ACK checked
    /// for one (as Linux's `tcp_synq_no_recent_overflow`), so a quiet listener cannot be
    /// brute-forced.
    pub last_cookie: Option<Instant>,
}

impl Listener {
    pub fn syn_queue_full(&self) -> bool {
        self.syn_queue.len() >= self.backlog
    }
    pub fn accept_queue_full(&self) -> bool {
        self.accept_queue.len() >= self.backlog
    }
    pub fn remove(&mut self, id: ConnId) {
        self.syn_queue.retain(|c| *c != id);
        self.accept_queue.retain(|c| *c != id);
    }
}

impl Host {
    pub(super) fn listener_mut(&mut self, id: ListenerId) -> Option<&mut Listener> {
        self.listeners.get_mut(id.0)
    }

    pub(super) fn find_listener(&self, local: SocketAddr) -> Option<ListenerId> {
        let (ip, port) = (local.ip(), local.port());
        let any = unspecified(ip);
        [(ip, port), (any, port), (ip, 0), (any, 0)]
            .iter()
            .find_map(|&(ip, port)| self.listen_map.get(&ListenKey::new(ip, port)).copied())
    }

    /// RFC 9293 §3.10.7.2 for a listener, with the SYN queue, cookies and limits in front.
    pub(super) fn on_listener(
        &mut self,
        now: Instant,
        l: ListenerId,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        reopen_iss: Option<u32>,
    ) {
        let flags = seg.flags;
        if flags.rst() {
            return;
        }
        let Some(listener) = self.listeners.get(l.0) else {
            return;
        };
        if flags.ack() {
            let timestamps = listener.config.offers().2;
            let recent = listener
                .last_cookie
                .is_some_and(|t| now - t < Duration::from_micros(2 * cookie::TICK_MICROS));
            if !flags.syn() && recent {
                let cookie = seg.ack.wrapping_sub(1);
                let peer_isn = seg.seq.wrapping_sub(1);
                match self.cookies.check(now, local, remote, cookie, peer_isn) {
                    Some(mss) => {
                        self.counters.syncookies_recv += 1;
                        // With timestamps, the echoed TSval brings back window scale and
                        // SACK-permitted; without, only the MSS survived.
                        let echoed = seg
                            .options
                            .timestamps
                            .filter(|ts| ts.tsecr != 0 && timestamps);
                        let (window_scale, sack) =
                            echoed.map_or((None, false), |ts| cookie::ts_decode(ts.tsecr));
                        let syn = CookieSyn {
                            mss,
                            window_scale,
                            sack,
                            timestamps: echoed.is_some(),
                        };
                        self.open_from_cookie(now, l, local, remote, seg, syn);
                        return;
                    }
                    None => self.counters.syncookies_failed += 1,
                }
            }
            // An ACK in LISTEN: <SEQ=SEG.ACK><CTL=RST>.
            self.reply_reset(local, remote, seg);
            return;
        }
        if !flags.syn() {
            return;
        }
        if listener.accept_queue_full() {
            // Linux drops SYNs while the accept queue is full.
            self.counters.listen_overflows += 1;
            self.counters.listen_drops += 1;
            return;
        }
        if !listener.syn_queue_full() {
            if self.conns.len() >= self.config.max_connections {
                self.counters.conn_limit_drops += 1;
                self.counters.listen_drops += 1;
                return;
            }
            let tuple = Tuple::new(local, remote);
            let secrets = self.tuple_secrets(&tuple);
            let iss = reopen_iss.unwrap_or_else(|| secrets.isn(now));
            let config = listener.config.clone();
            // Without a TIME-WAIT incarnation to reopen, the SYN's lookup found no owner.
            let absent = reopen_iss.is_none();
            let id = self.insert_with(tuple, absent, Role::HalfOpen(l), || {
                Connection::listen_shared(config, local.port(), iss)
            });
            if let Some(e) = self.conns.get_mut(id.0) {
                e.conn.set_ts_offset(secrets.ts_offset);
                e.conn.give_parts(self.spares.take());
                e.conn.handle_segment(now, seg);
            }
            if let Some(listener) = self.listeners.get_mut(l.0) {
                listener.syn_queue.push_back(id);
            }
            self.after(id);
            return;
        }
        if !self.config.syn_cookies {
            self.counters.listen_drops += 1;
            return;
        }
        // The SYN queue is full: answer with a cookie and keep nothing (RFC 4987 §3.6).
        let default_mss = if remote.is_ipv4() { 536 } else { 1220 };
        let peer_mss = seg.options.mss.unwrap_or(default_mss);
        let (cookie, _) = self.cookies.make(now, local, remote, seg.seq, peer_mss);
        let Some(tcp) = self.listeners.get(l.0).map(|l| &l.config) else {
            return;
        };
        let mut options = TcpOptions {
            mss: tcp.syn_options.then_some(tcp.mss),
            ..TcpOptions::default()
        };
        // Window scale and SACK-permitted need state the sequence number has no room for; with
        // timestamps they ride in TSval's low bits, as Linux does. Without, they are not offered.
        let (offer_ws, offer_sack, offer_ts) = tcp.offers();
        if let (true, Some(ts)) = (offer_ts, seg.options.timestamps) {
            let peer_ws = seg.options.window_scale.filter(|_| offer_ws);
            let sack = offer_sack && seg.options.sack_permitted;
            options.window_scale = peer_ws.map(|_| tcp.rcv_wscale());
            options.sack_permitted = sack;
            options.timestamps = Some(Timestamps {
                tsval: cookie::ts_encode(
                    ts_clock_with(self.ts_offset(&Tuple::new(local, remote)), now),
                    peer_ws,
                    sack,
                ),
                tsecr: ts.tsval,
            });
        }
        let syn_ack = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: cookie,
            ack: seg.seq.wrapping_add(1),
            flags: TcpFlags::SYN | TcpFlags::ACK,
            window: syn_ack_window(tcp),
            urgent_ptr: 0,
            options,
            payload: &[],
        };
        // The SYN-ACK is the listener's, as one from its SYN queue would be.
        let ip = tcp.ip.for_family(remote.is_ipv6());
        if self.queue_control_marked(local.ip(), remote.ip(), syn_ack, ip) {
            self.counters.syncookies_sent += 1;
            if let Some(listener) = self.listeners.get_mut(l.0) {
                listener.last_cookie = Some(now);
            }
        }
    }

    pub(super) fn open_from_cookie(
        &mut self,
        now: Instant,
        l: ListenerId,
        local: SocketAddr,
        remote: SocketAddr,
        seg: &TcpRepr<'_>,
        syn: CookieSyn,
    ) {
        let full = self
            .listeners
            .get(l.0)
            .is_none_or(|l| l.accept_queue_full());
        if full {
            self.counters.listen_overflows += 1;
            self.counters.listen_drops += 1;
            return;
        }
        if self.conns.len() >= self.config.max_connections {
            self.counters.conn_limit_drops += 1;
            self.counters.listen_drops += 1;
            return;
        }
        // Data riding on the cookie ACK is in order, and the new connection holds nothing:
        // within its allowance (see `over_memory`).
        let stripped = (seg.payload.len() > MIN_RCV_ALLOWANCE)
            .then(|| self.strip_over_memory(true, seg))
            .flatten();
        let seg = stripped.as_ref().unwrap_or(seg);
        // Built from the bare ACK, so the connection has the host's TSval offset before data
        // or a FIN riding on the ACK is taken in (and timed against it).
        let bare = TcpRepr {
            payload: &[],
            flags: seg.flags.without(TcpFlags::FIN),
            ..*seg
        };
        let Some(config) = self.listeners.get(l.0).map(|l| l.config.clone()) else {
            return;
        };
        let mut conn = Connection::from_cookie_ack(config, now, &bare, syn, self.spares.take());
        conn.set_ts_offset(self.ts_offset(&Tuple::new(local, remote)));
        if !seg.payload.is_empty() || seg.flags.fin() {
            conn.handle_segment(now, seg);
        }
        let id = self.insert(conn, local, remote, Role::Queued(l));
        self.after(id);
        if let Some(listener) = self.listeners.get_mut(l.0) {
            listener.accept_queue.push_back(id);
        }
        self.events.push_back(HostEvent::Accepted {
            listener: l,
            conn: id,
        });
    }
}
