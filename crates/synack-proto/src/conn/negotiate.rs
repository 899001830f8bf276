//! What the handshake settles — MSS, window scaling, timestamps, SACK — and setting both halves
//! of a connection up for it, whether the options came on the peer's SYN or were recovered from
//! a SYN cookie (RFC 4987 §3.6).

use synack_wire::TcpRepr;

use super::Connection;
use super::recv::Receiver;
use super::send::Sender;
use crate::config::Config;
use crate::congestion::CongestionParts;
use crate::seq::SeqNum;
use crate::time::Instant;

/// RFC 9293 §3.7.1: the MSS to assume when the peer's SYN carries no MSS option (RFC 1122
/// §4.2.2.6's 536 for IPv4; the host lowers it further for IPv6 paths if needed).
const DEFAULT_PEER_MSS: u32 = 536;

/// What a valid cookie recovered of the peer's SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CookieSyn {
    /// The peer's MSS, as rounded down to the cookie's table.
    pub mss: u16,
    /// The peer's window-scale shift, when both sides agreed on window scaling (carried in
    /// TSval, so only with timestamps).
    pub window_scale: Option<u8>,
    /// SACK-permitted was agreed (likewise carried in TSval).
    pub sack: bool,
    /// Timestamps were agreed: the cookie SYN-ACK carried TSval and the ACK echoed it.
    pub timestamps: bool,
}

/// The options both sides agreed on. Each is in force only when both offered it (RFC 7323
/// §1.3, RFC 2018 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Negotiated {
    /// The peer's window-scale shift, when both use window scaling (RFC 7323 §2).
    pub peer_wscale: Option<u8>,
    pub timestamps: bool,
    pub sack: bool,
    /// The MSS the peer announced (RFC 9293 §3.7.1).
    pub peer_mss: u32,
}

impl Negotiated {
    /// From the options of the peer's SYN or SYN-ACK (RFC 9293 §3.7.1, RFC 7323 §2.2 and §3.2,
    /// RFC 2018 §2).
    pub fn from_syn(config: &Config, seg: &TcpRepr<'_>) -> Negotiated {
        let o = &seg.options;
        let (ws, sack, ts) = config.offers();
        Negotiated {
            peer_wscale: o.window_scale.filter(|_| ws),
            timestamps: ts && o.timestamps.is_some(),
            sack: sack && o.sack_permitted,
            peer_mss: o.mss.map_or(DEFAULT_PEER_MSS, u32::from),
        }
    }

    /// From what a valid SYN cookie recovered. Window scaling and SACK travel in TSval, so
    /// they hold only with timestamps.
    pub fn from_cookie(config: &Config, syn: CookieSyn) -> Negotiated {
        let (ws, sack, ts) = config.offers();
        let timestamps = syn.timestamps && ts;
        Negotiated {
            peer_wscale: syn.window_scale.filter(|_| timestamps && ws),
            timestamps,
            sack: syn.sack && timestamps && sack,
            peer_mss: u32::from(syn.mss),
        }
    }

    /// Sets up the send and receive halves for what was agreed, taking the peer's window and
    /// timestamp from `seg`, the segment that completed the agreement for us (the peer's SYN or
    /// SYN-ACK, or the ACK that carried a valid cookie).
    pub fn settle(
        &self,
        config: &Config,
        now: Instant,
        seg: &TcpRepr<'_>,
        snd: &mut Sender,
        rcv: &mut Receiver,
        spare: CongestionParts,
    ) {
        // RFC 7323 §2.3: a shift above 14 is treated as 14.
        snd.wscale = self.peer_wscale.map_or(0, |w| w.min(14));
        rcv.wscale = if self.peer_wscale.is_some() {
            config.rcv_wscale()
        } else {
            0
        };
        if let (true, Some(ts)) = (self.timestamps, seg.options.timestamps) {
            rcv.ts_recent = Some((ts.tsval, now));
        }
        // RFC 9293 §3.7.1: the MSS counts no options, so carve out what timestamps take (12
        // bytes with their padding) from every segment.
        let overhead = if self.timestamps { 12 } else { 0 };
        rcv.mss = usize::from(config.mss)
            .saturating_sub(overhead as usize)
            .max(1);
        snd.mss = self
            .peer_mss
            .min(u32::from(config.mss))
            .saturating_sub(overhead)
            .max(16);
        // The scoreboard covers data and FIN: its sequence space starts after our SYN.
        snd.cc.on_handshake(
            config.congestion.initial_window,
            snd.mss,
            self.sack,
            snd.iss + 1,
            spare,
        );
        // A SYN's window is never scaled (RFC 7323 §2.2); any later segment's is.
        let shift = if seg.flags.syn() { 0 } else { snd.wscale };
        snd.wnd = u32::from(seg.window) << shift;
        snd.max_wnd = snd.wnd;
        snd.wl1 = SeqNum(seg.seq);
        snd.wl2 = SeqNum(seg.ack);
    }
}

impl Connection {
    /// Records the agreed options the connection itself consults.
    pub(super) fn apply(&mut self, n: Negotiated) {
        self.window_scaling = n.peer_wscale.is_some();
        self.sack = n.sack;
        self.timestamps = n.timestamps;
    }
}
