//! What the host needs from a connection beyond the user calls: building a connection from a
//! SYN cookie (RFC 4987 §3.6), where no SYN-RECEIVED state was ever kept.

use synack_wire::TcpRepr;

use super::recv::Receiver;
use super::send::Sender;
use super::state::{Listen, State, Synced};
use super::{Cause, Connection};
use crate::config::Config;
use crate::seq::SeqNum;
use crate::time::Instant;

/// The window field of a SYN-ACK we send for `config`: the receive buffer, unscaled and capped
/// at 16 bits (RFC 7323 §2.2: a SYN's window is never scaled). The host's cookie SYN-ACK uses
/// it, and [`Connection::from_cookie_ack`] assumes the peer was offered exactly this.
pub fn syn_ack_window(config: &Config) -> u16 {
    config.recv_buffer.min(usize::from(u16::MAX)) as u16
}

impl Connection {
    /// The connection a valid cookie ACK stands for (RFC 4987 §3.6): ESTABLISHED at once, with
    /// ISS = SEG.ACK − 1 and IRS = SEG.SEQ − 1, and `peer_mss` as recovered from the cookie.
    ///
    /// The cookie SYN-ACK offered no window scaling, SACK or timestamps, so none are in force.
    /// The ACK itself is then processed like any other segment, so data or a FIN riding on it
    /// is taken in. The caller must have validated the cookie; this only builds the state.
    pub fn from_cookie_ack(
        config: &Config,
        now: Instant,
        ack: &TcpRepr<'_>,
        peer_mss: u16,
    ) -> Connection {
        let iss = ack.ack.wrapping_sub(1);
        let irs = ack.seq.wrapping_sub(1);
        let mut c = Connection::new(config, ack.dst_port, ack.src_port, iss);
        let mut snd = Sender::new(iss, config);
        let synced = SeqNum(iss) + 1;
        snd.una = synced;
        snd.nxt = synced;
        snd.max = synced;
        // RFC 9293 §3.7.1: the MSS counts no options; without timestamps nothing is carved out.
        snd.mss = u32::from(peer_mss).min(u32::from(config.mss)).max(16);
        snd.cwnd = config.initial_window.max(1) * snd.mss;
        // No window scaling was negotiated, so the ACK's window is taken as it is.
        snd.wnd = u32::from(ack.window);
        snd.max_wnd = snd.wnd;
        snd.wl1 = SeqNum(ack.seq);
        snd.wl2 = SeqNum(ack.ack);
        let mut rcv = Receiver::new(irs, config.recv_buffer, 0);
        // The peer was promised the window of our SYN-ACK; never take it back.
        rcv.adv_edge = rcv.nxt + u32::from(syn_ack_window(config));
        // The listener's LISTEN, which kept nothing for this peer, is where the edge starts.
        c.state = State::Listen(Listen { iss });
        c.morph(Cause::RecvCookieAck, move |_| {
            State::Established(Synced { snd, rcv })
        });
        if !ack.payload.is_empty() || ack.flags.fin() {
            c.handle_segment(now, ack);
        }
        c
    }
}
