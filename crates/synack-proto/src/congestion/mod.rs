//! Congestion control and loss recovery for the send side of one connection.
//!
//! The connection reports what happened — an acknowledgment of new data, a duplicate
//! acknowledgment, a retransmission timeout, new data after an idle spell, a rewind of SND.NXT —
//! and asks two things: how much may be outstanding ([`Congestion::window`]) and what to send
//! next ([`Congestion::next_transmit`]: a retransmission, or whatever lies at SND.NXT). Nothing
//! outside this module writes the congestion window, the slow-start threshold or the recovery
//! state.
//!
//! An acknowledgment arrives as an [`AckSummary`] (bytes newly acknowledged, the flight after
//! it, the RTT it measured, the time) rather than as loose numbers, so a controller that needs
//! more of it (CUBIC's time since the last reduction, HyStart++'s RTT rounds, a SACK scoreboard)
//! needs no new parameter at every call site.
//!
//! Two window-growth rules are selectable per connection ([`CongestionControl`]): CUBIC (RFC
//! 9438, with HyStart++ of RFC 9406 in the first slow start), the default, and Reno (RFC 5681).
//! Loss recovery follows what the handshake agreed: with SACK, the scoreboard of RFC 6675
//! names the holes to resend, never SACKed data (also after a timeout), sending is limited by
//! the pipe, PRR (RFC 6937) paces the reduction, and D-SACKs that show every retransmission
//! of an episode needless undo it (RFC 2883, RFC 3708). Without SACK, NewReno (RFC 6582).
//! F-RTO (RFC 5682) tests each timeout for being spurious, with SACK or without.

// The sub-modules carry accessors and variants only their tests read; `allow(dead_code)` keeps
// clippy quiet about those.
#[cfg_attr(not(test), allow(dead_code))]
mod cubic;
mod frto;
#[cfg_attr(not(test), allow(dead_code))]
mod hystart;
mod info;
mod loss;
mod parts;
#[cfg_attr(not(test), allow(dead_code))]
mod prr;
#[cfg_attr(not(test), allow(dead_code))]
mod rack;
mod recovery;
#[cfg_attr(not(test), allow(dead_code))]
mod scoreboard;
mod settings;
#[cfg(test)]
mod tests_layout;
#[cfg(test)]
mod tests_loss;
#[cfg(test)]
mod tests_owner;
#[cfg(test)]
mod tests_parts;
#[cfg(test)]
mod tests_recovery;
mod validation;

use alloc::boxed::Box;
use core::time::Duration;

use synack_wire::SackList;

pub use self::info::CongestionInfo;
pub(crate) use self::parts::{CongestionParts, SpareParts};
pub use self::settings::{CongestionControl, CongestionSettings};

use self::cubic::Cubic;
use self::hystart::HyStart;
use self::loss::LossDetection;
use self::prr::Prr;
use self::scoreboard::{NextSeg, Scoreboard};
use self::validation::WindowUse;
use crate::seq::SeqNum;
use crate::time::Instant;

/// Where the sender stands, as RFC 5681 and RFC 6675 name it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CongestionPhase {
    /// cwnd < ssthresh: the window grows by what each ACK acknowledges (RFC 5681 §3.1).
    #[default]
    SlowStart,
    /// cwnd ≥ ssthresh: about one segment per round trip (Reno) or CUBIC's curve.
    CongestionAvoidance,
    /// Fast recovery after duplicate ACKs or SACK-detected loss (RFC 5681 §3.2, RFC 6675 §5).
    Recovery,
    /// After a retransmission timeout, until everything then outstanding is acknowledged.
    Loss,
}

impl CongestionPhase {
    pub fn name(self) -> &'static str {
        match self {
            CongestionPhase::SlowStart => "slow-start",
            CongestionPhase::CongestionAvoidance => "congestion-avoidance",
            CongestionPhase::Recovery => "recovery",
            CongestionPhase::Loss => "loss",
        }
    }
}

/// The send sequence space as a controller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flight {
    /// SND.UNA: the oldest unacknowledged sequence number.
    pub una: SeqNum,
    /// One past the highest sequence number ever sent (SND.NXT before any rewind).
    pub max: SeqNum,
    /// RFC 5681's FlightSize: sequence space sent and not yet acknowledged.
    pub in_flight: u32,
    /// SMSS: the most payload one segment carries now (it drops with the path MTU).
    pub mss: u32,
}

/// An acceptable acknowledgment (SND.UNA ≤ SEG.ACK ≤ SND.MAX).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AckSummary {
    pub now: Instant,
    /// Bytes of data newly acknowledged (our SYN and FIN not counted); 0 when SND.UNA stayed.
    pub acked: u32,
    /// The flight once SND.UNA has moved.
    pub flight: Flight,
    /// The round-trip time this acknowledgment measured, if it measured one.
    pub rtt: Option<Duration>,
    /// The smoothed round-trip time after it, if there is one.
    pub srtt: Option<Duration>,
    /// SND.UNA moved forward (data, our SYN or our FIN acknowledged).
    pub advanced: bool,
    /// RFC 5681 §2's duplicate acknowledgment.
    pub duplicate: bool,
    /// The SACK blocks it carried (read only when SACK was negotiated).
    pub sack: SackList,
    /// With timestamps: the latest moment the segment whose TSval this ACK echoes can have
    /// left (RACK tells an ACK of an original from one of its retransmission by it, RFC 8985
    /// §6.2 step 2).
    pub echo_sent_by: Option<Instant>,
}

/// What the sender sends next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Transmit {
    /// Resend the `len` bytes (sequence space, never past SND.MAX) that start at `seq` at
    /// once, whatever the window: NewReno's fast retransmission (RFC 5681 §3.2 step 4; RFC
    /// 6582 §3.2 step 5 after a partial acknowledgment) or a tail loss probe of the last
    /// segment (RFC 8985 §7.3).
    Retransmit { seq: SeqNum, len: u32 },
    /// Resend the `len` bytes (sequence space) at `seq` that the SACK scoreboard names (RFC
    /// 6675 §4 NextSeg), within [`Congestion::allowance`]; SND.NXT stays where it is.
    Hole { seq: SeqNum, len: u32, rescue: bool },
    /// Send again, within the window, what lies at SND.NXT below the highest sequence number
    /// sent: SND.NXT went back to SND.UNA after a timeout (RFC 6298 §5.4) or a path MTU drop.
    Resend(SeqNum),
    /// Send what lies at SND.NXT and was never sent, within the window.
    New(SeqNum),
}

impl Transmit {
    pub fn seq(self) -> SeqNum {
        match self {
            Transmit::Retransmit { seq, .. }
            | Transmit::Hole { seq, .. }
            | Transmit::Resend(seq)
            | Transmit::New(seq) => seq,
        }
    }

    /// Whether it leaves SND.NXT alone (a repair below it).
    pub fn is_repair(self) -> bool {
        matches!(self, Transmit::Retransmit { .. } | Transmit::Hole { .. })
    }
}

/// Counters for `info()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub fast_retransmits: u64,
    pub timeouts: u64,
    pub undos: u64,
    pub sack_blocks: u64,
    pub dsacks: u64,
    pub bytes_retransmitted: u64,
    /// Tail loss probes sent (RFC 8985 §7).
    pub tail_loss_probes: u64,
    /// Segments RACK marked lost (RFC 8985 §6.2).
    pub rack_losses: u64,
    /// Timeouts F-RTO found spurious and undid (RFC 5682).
    pub spurious_timeouts: u64,
    /// ACKs that showed RACK a segment reordered (RFC 8985 §6.2 step 3).
    pub reorderings: u64,
}

/// The counters, made at the first event worth counting: an idle connection counts nothing,
/// and its size is a budget (an idle established connection ≤ 1 KiB).
#[derive(Clone, Debug, Default)]
struct Tally(Option<Box<Counters>>);

impl Tally {
    fn bump(&mut self) -> &mut Counters {
        self.0.get_or_insert_with(Box::default)
    }

    // The counts an ACK may make, out of line: most ACKs make none.
    // Out of line, not cold: every ACK of a recovery with SACK comes here.
    #[inline(never)]
    fn count_sack_blocks(&mut self, n: usize) {
        self.bump().sack_blocks += n as u64;
    }

    #[cold]
    #[inline(never)]
    fn count_reordering(&mut self) {
        self.bump().reorderings += 1;
    }

    fn read(&self) -> Counters {
        self.0.as_deref().copied().unwrap_or_default()
    }
}

/// The recovery state.
#[derive(Clone, Debug)]
enum Recovery {
    Open,
    /// NewReno's fast recovery without SACK (RFC 6582): `recover` is RFC 6582's variable.
    NewReno {
        recover: SeqNum,
    },
    /// SACK-based recovery (RFC 6675 §5) paced by PRR (RFC 6937).
    Sack {
        prr: Box<Prr>,
    },
    /// After a timeout until SND.UNA passes `recover` (RFC 6582 §4; RFC 6675 §5.1).
    Loss {
        recover: SeqNum,
    },
}

/// Congestion control and loss recovery of one connection: the one owner of the congestion
/// window, the slow-start threshold and the recovery state.
///
/// `repr(C)`, hot fields first: what every acknowledgment and every `poll_transmit` reads
/// (`at_rest`, the start of `on_ack`, `next_transmit`, `allowance`: recovery, window use,
/// scoreboard, loss detection, MSS, cwnd, duplicate ACKs, the flags) leads, read ahead by
/// [`Congestion::touch`], so with many connections a segment's handling waits for few cache
/// lines; the controllers' own state behind pointers, the undo record and the counters follow.
#[derive(Clone, Debug)]
#[repr(C)]
pub(crate) struct Congestion {
    recovery: Recovery,
    /// How much of cwnd the sender used lately, and whether that gates growth
    /// (`CongestionSettings::cwnd_validation`).
    window_use: WindowUse,
    /// The SACK scoreboard, once SACK is agreed and the handshake is over.
    board: Option<Box<Scoreboard>>,
    /// RACK-TLP and F-RTO over the scoreboard, boxed so a connection without them stays small.
    loss: Option<Box<LossDetection>>,
    mss: u32,
    cwnd: u32,
    /// Duplicate acknowledgments in a row (RFC 5681 §3.2), for fast retransmit and limited
    /// transmit (RFC 3042).
    dup_acks: u32,
    algorithm: CongestionControl,
    /// NewReno: resend the segment at SND.UNA at the next opportunity.
    retransmit_head: bool,
    /// What the configuration turns on: RACK-TLP (RFC 8985) and F-RTO (RFC 5682).
    rack_tlp: bool,
    frto: bool,
    ssthresh: u32,
    /// Bytes PRR lets out before the next ACK (RFC 6937 §3's sndcnt less what went since).
    prr_credit: u32,
    /// When a segment that occupies sequence space last left (RFC 5681 §4.1's idle test).
    last_sent: Option<Instant>,
    /// CUBIC's state, made at its first use: a connection that never reaches congestion
    /// avoidance or a congestion event (an idle one, most short ones) needs none.
    cubic: Option<Box<Cubic>>,
    /// HyStart++'s state, made at the first acknowledgment it sees.
    hystart: Option<Box<HyStart>>,
    counters: Tally,
    /// Initial window in segments (RFC 6928), for the restart after idle.
    initial_window: u32,
    /// (cwnd, ssthresh) before the last reduction, for an undo after D-SACKs.
    undo: Option<(u32, u32)>,
    validate: bool,
}

impl Congestion {
    /// A controller for a sender whose segments carry at most `mss` bytes, starting from the
    /// configured initial window.
    pub fn new(config: &CongestionSettings, mss: u32) -> Congestion {
        Congestion {
            algorithm: config.controller,
            cwnd: initial_window_bytes(config.initial_window, mss),
            ssthresh: u32::MAX,
            initial_window: config.initial_window,
            mss,
            cubic: None,
            hystart: None,
            recovery: Recovery::Open,
            dup_acks: 0,
            retransmit_head: false,
            board: None,
            loss: None,
            rack_tlp: config.rack_tlp,
            frto: config.frto,
            prr_credit: 0,
            undo: None,
            counters: Tally::default(),
            last_sent: None,
            window_use: WindowUse::default(),
            validate: config.cwnd_validation,
        }
    }

    /// Another controller takes over from here with the same cwnd and ssthresh; CUBIC starts
    /// afresh, a new epoch from the current window (RFC 9438 §4.2).
    pub fn set_controller(&mut self, controller: CongestionControl) {
        if controller != self.algorithm {
            self.algorithm = controller;
            self.cubic = None;
        }
    }

    fn hystart(&mut self) -> &mut HyStart {
        self.hystart.get_or_insert_with(|| Box::new(HyStart::new()))
    }

    fn cubic(&mut self) -> &mut Cubic {
        self.cubic.get_or_insert_with(|| Box::new(Cubic::new()))
    }

    /// The handshake settled the segment size: the initial window counts segments of that size
    /// (RFC 5681 §3.1, RFC 6928). With SACK agreed, the scoreboard starts at `snd_max`.
    ///
    /// `spare` holds parts a finished connection left (see `SpareParts`): reset here to what a
    /// fresh allocation would hold, they save the allocations; unused ones are dropped.
    pub fn on_handshake(
        &mut self,
        initial_window: u32,
        mss: u32,
        sack: bool,
        snd_max: SeqNum,
        spare: CongestionParts,
    ) {
        self.initial_window = initial_window;
        self.mss = mss;
        self.cwnd = initial_window_bytes(initial_window, mss);
        let CongestionParts { board, loss } = spare;
        self.board = sack.then(|| {
            let mut board = match board {
                Some(mut b) => {
                    b.reset(snd_max);
                    b
                }
                None => Box::new(Scoreboard::new(snd_max)),
            };
            board.set_smss(mss);
            board
        });
        let detect = sack && (self.rack_tlp || self.frto);
        let fresh = LossDetection::new(self.rack_tlp, self.frto);
        self.loss = detect.then(|| match loss {
            Some(mut l) => {
                *l = fresh;
                l
            }
            None => Box::new(fresh),
        });
    }

    /// Hands over the scoreboard and loss detection of a connection that is done with them,
    /// for another connection's handshake.
    pub fn take_parts(&mut self) -> CongestionParts {
        CongestionParts {
            board: self.board.take(),
            loss: self.loss.take(),
        }
    }

    /// Whether `on_ack` would change nothing for an acceptable ACK that neither advances
    /// SND.UNA nor carries SACK blocks, arriving with nothing in flight: outside recovery, with
    /// no loss-detection episode open, the scoreboard empty and the window's use already aged
    /// out. The receiver of a one-way stream meets such an ACK on every data segment, so it
    /// asks this first rather than running the whole of `on_ack` for nothing. The smoothed RTT
    /// is asked for only when a loss-detection episode needs it: an idle connection's bare ACK
    /// then never reads the RTT estimator's cache line.
    // Inlined: asked by every data segment of a one-way stream at its receiver. Always: as
    // a call of its own, the caller would read SRTT for the closure before the call.
    #[inline(always)]
    pub fn at_rest(&self, flight: &Flight, srtt: impl FnOnce() -> Option<Duration>) -> bool {
        let mss = flight.mss.max(1);
        flight.in_flight == 0
            && flight.una == flight.max
            && matches!(self.recovery, Recovery::Open)
            && self.mss == mss
            && self.window_use.at_rest(flight.max)
            && self
                .board
                .as_deref()
                .is_none_or(|b| b.at_rest(flight.una, mss))
            && self.loss.as_deref().is_none_or(|l| l.at_rest(srtt()))
    }

    /// Reads the fields every acknowledgment and `poll_transmit` read (the first of the
    /// struct), for a host that takes a batch's cache lines in before handling any of its
    /// packets (`Connection::touch`). The value means nothing.
    pub fn touch(&self) -> u64 {
        let recovery = matches!(self.recovery, Recovery::Open);
        u64::from(self.cwnd ^ self.dup_acks)
            ^ u64::from(recovery ^ self.retransmit_head ^ self.frto)
            ^ u64::from(self.board.is_some() ^ self.loss.is_some())
    }

    /// An acceptable acknowledgment: SND.UNA moved forward, or it is a duplicate, or it only
    /// carries SACK blocks or a window update.
    pub fn on_ack(&mut self, ack: &AckSummary) {
        let mss = ack.flight.mss.max(1);
        self.mss = mss;
        let advanced = ack.advanced;
        let mut delivered = ack.acked;
        // With SACK, a duplicate counts only when it reports data newly received (RFC 6675
        // §2): a bare repeat of the cumulative ACK (say, the answer to a duplicate SYN-ACK)
        // tells nothing of loss.
        let mut duplicate = ack.duplicate;
        let mut rack_marked = 0;
        if let Some(board) = &mut self.board {
            let blocks = sack_pairs(&ack.sack);
            let n = ack.sack.len();
            if n > 0 {
                self.counters.count_sack_blocks(n);
            }
            board.set_smss(mss);
            let mut loss = self.loss.as_deref_mut();
            let mut reordered = false;
            let out = board.on_ack(ack.flight.una, &blocks[..n], |d| {
                if let Some(l) = loss.as_deref_mut() {
                    reordered |= l.on_delivered(ack.now, d, ack.echo_sent_by);
                }
            });
            if reordered {
                self.counters.count_reordering();
            }
            delivered = out.cumulatively_acked + out.newly_sacked;
            duplicate &= out.newly_sacked > 0;
            if let Some(d) = out.dsack {
                self.on_dsack(d.in_recovery_range);
            }
            if self.frto_on_ack(ack, &out) {
                // The timeout was spurious and is undone: nothing of it is left to finish.
                return;
            }
            rack_marked = self.detect_loss_on_ack(ack, &out);
        } else if self.basic_frto_on_ack(ack) {
            return;
        }
        if duplicate {
            self.dup_acks += 1;
        } else if advanced {
            self.dup_acks = 0;
        }
        self.window_use.on_ack(
            ack.flight.in_flight.saturating_add(ack.acked),
            ack.flight.una,
            ack.flight.max,
        );

        if let Recovery::Open = self.recovery {
            if self.loss_detected(ack, rack_marked) {
                self.enter_recovery(&ack.flight, delivered);
            } else if ack.acked > 0 {
                self.grow(ack);
            }
        } else {
            self.on_ack_in_recovery(ack, delivered);
        }
    }

    /// Window growth on an acknowledgment of new data outside recovery: slow start (RFC 5681
    /// §3.1; HyStart++ in CUBIC's first one, RFC 9406), then Reno's or CUBIC's congestion
    /// avoidance.
    fn grow(&mut self, ack: &AckSummary) {
        let mss = self.mss;
        let slow_start = self.cwnd < self.ssthresh;
        if self.validate && !self.window_use.allows_growth(self.cwnd, mss, slow_start) {
            // Application-limited: the window stays as the path last tested it, and CUBIC's
            // curve does not count this time (RFC 9438 §5.8): its next growth starts a new
            // epoch from the window as it is.
            if let Some(c) = self.cubic.as_deref_mut().filter(|_| !slow_start) {
                c.reset_epoch();
            }
            return;
        }
        if slow_start {
            match self.algorithm {
                CongestionControl::Cubic => {
                    let step = self.hystart().on_ack(
                        ack.flight.una,
                        ack.flight.max,
                        ack.acked,
                        ack.rtt,
                        mss,
                    );
                    self.cwnd = self.cwnd.saturating_add(step.increase);
                    if step.enter_congestion_avoidance {
                        self.ssthresh = self.cwnd;
                    }
                }
                CongestionControl::NewReno => {
                    self.cwnd = self.cwnd.saturating_add(ack.acked.min(mss));
                }
            }
            return;
        }
        match self.algorithm {
            CongestionControl::Cubic => {
                let srtt = ack.srtt.unwrap_or(Duration::from_millis(100));
                let cwnd = self.cwnd;
                self.cwnd = self.cubic().on_ack(ack.now, ack.acked, cwnd, mss, srtt);
            }
            CongestionControl::NewReno => {
                let inc = (u64::from(mss) * u64::from(mss) / u64::from(self.cwnd.max(1))).max(1);
                self.cwnd = self.cwnd.saturating_add(inc as u32);
            }
        }
    }

    /// The retransmission timer expired (RFC 5681 §3.1, RFC 6298 §5.5). Returns whether the
    /// connection should go back to SND.UNA and resend everything from there; with a SACK
    /// scoreboard (and the handshake done) it does not: the scoreboard marks every unSACKed
    /// segment lost and names them in turn, so SACKed data is not sent again (RFC 6675 §5.1).
    pub fn on_retransmit_timeout(&mut self, flight: &Flight, synchronized: bool) -> bool {
        self.counters.bump().timeouts += 1;
        self.mss = flight.mss.max(1);
        if let Some(b) = &mut self.board {
            b.set_smss(self.mss);
        }
        let was_open = matches!(self.recovery, Recovery::Open);
        let mss = self.mss;
        let reno = (mss, (flight.in_flight / 2).max(2 * mss));
        let (cwnd, ssthresh) = self.congestion_event(reno, |cubic, cwnd, ssthresh, mss| {
            cubic.on_rto(cwnd, ssthresh, flight.in_flight, mss)
        });
        // A timeout during recovery keeps the ssthresh recovery set (RFC 5681 §3.1 equation
        // (4) counts FlightSize, which recovery has already cut).
        self.cwnd = cwnd;
        self.ssthresh = if matches!(self.recovery, Recovery::Open) {
            ssthresh
        } else {
            self.ssthresh.min(ssthresh.max(2 * mss))
        };
        self.dup_acks = 0;
        self.retransmit_head = false;
        self.prr_credit = 0;
        self.recovery = Recovery::Loss {
            recover: flight.max,
        };
        match (&mut self.board, synchronized) {
            // Only a scoreboard that has seen every segment may pick what to resend.
            (Some(b), true) if b.high_data() == flight.max && b.high_ack() == flight.una => {
                b.on_rto();
                self.loss_detection_on_timeout(flight, was_open);
                false
            }
            // Without SACK, F-RTO keeps SND.NXT and resends only the first segment (RFC 5682
            // §2); otherwise everything from SND.UNA goes again.
            (None, _) => !self.basic_frto_on_timeout(flight, was_open, synchronized),
            _ => true,
        }
    }

    /// SND.NXT went back to SND.UNA for another reason than a timeout (the path MTU dropped):
    /// everything in flight is resent in order from there, which covers a pending
    /// retransmission of the first segment.
    pub fn on_rewind(&mut self) {
        self.retransmit_head = false;
        self.basic_frto_cancel();
    }

    /// New data is about to leave with nothing in flight. When nothing was sent for longer than
    /// `rto`, RFC 5681 §4.1 restarts from min(IW, cwnd), since what the controller learnt of
    /// the path may be stale; CUBIC starts a new epoch from there.
    /// `rto_ns` is the RTO in nanoseconds: new data with nothing in flight comes here (every
    /// request of a request-response exchange), and the comparison needs no `Duration`s.
    pub fn restart_if_idle(&mut self, now: Instant, rto_ns: u64) {
        let idle = self.last_sent.is_some_and(|t| {
            let idle_us = now.as_micros().saturating_sub(t.as_micros());
            u128::from(idle_us) * 1000 > u128::from(rto_ns)
        });
        if idle {
            let iw = initial_window_bytes(self.initial_window, self.mss);
            self.cwnd = self.cwnd.min(iw);
            self.cubic().reset_epoch();
        }
    }

    /// `len` bytes of sequence space (SYN and FIN counted) that `next_transmit` chose left at
    /// `now`.
    pub fn on_transmitted(&mut self, now: Instant, what: Transmit, len: u32, max: SeqNum) {
        self.last_sent = Some(now);
        let seq = what.seq();
        if seq.lt(max) {
            self.counters.bump().bytes_retransmitted += u64::from(len.min(max.since(seq)));
        }
        if let Transmit::Retransmit { .. } = what {
            self.retransmit_head = false;
        }
        if let Some(b) = &mut self.board {
            let high = b.high_data();
            let end = seq + len;
            match what {
                Transmit::Hole { rescue: true, .. } => b.on_rescue_transmit(now, seq, len),
                // A resend after a rewind may run on past the highest byte sent: the old part
                // is a retransmission, the rest new segments.
                _ if seq.lt(high) && end.gt(high) => {
                    b.on_transmit(now, seq, high.since(seq));
                    b.on_transmit(now, high, end.since(high));
                }
                _ => b.on_transmit(now, seq, len),
            }
        }
        if let Recovery::Sack { prr } = &mut self.recovery {
            prr.on_transmit(len);
            self.prr_credit = self.prr_credit.saturating_sub(len);
        }
        self.basic_frto_on_transmit(what, len);
        self.loss_detection_on_transmit(now, what, len, max);
    }

    /// [`Congestion::on_transmitted`] for a run of full pieces of new data at SND.MAX sent
    /// together while [`Congestion::offers_only_new_data`] (segmentation offload), first part:
    /// the scoreboard's record of each piece, made before the next is decided so that the
    /// pipe counts it.
    pub fn record_new_piece(&mut self, now: Instant, seq: SeqNum, len: u32) {
        if let Some(b) = &mut self.board {
            b.on_transmit(now, seq, len);
        }
    }

    /// The rest of [`Congestion::on_transmitted`] for the last piece of such a run (at `seq`,
    /// SND.MAX `max` before it), after every piece was recorded. For the pieces before it the
    /// rest changes nothing the last does not set again: they left at the same time, new data
    /// is no retransmission, no recovery or F-RTO test is under way, and the probe timer
    /// restarts from the last piece sent (RFC 8985 §7.2).
    pub fn finish_new_pieces(&mut self, now: Instant, seq: SeqNum, len: u32, max: SeqNum) {
        self.last_sent = Some(now);
        self.basic_frto_on_transmit(Transmit::New(seq), len);
        self.loss_detection_on_transmit(now, Transmit::New(seq), len, max);
    }

    /// Whether, with everything sent (SND.NXT = SND.MAX, nothing unsent), the controller
    /// offers nothing but new data at SND.NXT and deciding so changes nothing: no resend of the
    /// head owed after a timeout (RFC 6298 §5.4), no tail loss probe due (RFC 8985 §7.3), no
    /// repair of a recovery (RFC 6675 §5) and no F-RTO test that would go back to SND.UNA
    /// (RFC 5682 §2.1). A connection in that state with no ACK owed has no segment to send, so
    /// the host asks this before building one.
    pub fn offers_only_new_data(&self) -> bool {
        !self.retransmit_head
            && matches!(self.recovery, Recovery::Open)
            && self
                .loss
                .as_deref()
                .is_none_or(|l| !l.probe_due && matches!(l.frto, loss::Frto::Idle))
    }

    /// The one place that decides between resending and sending new data, for a sender at
    /// SND.UNA `una` and SND.NXT `nxt` that has sent up to `max`; `unsent` says whether data
    /// (or a FIN) beyond `max` is ready and the peer's window admits some.
    // Inlined with the case of nearly every segment first: outside recovery, no head to
    // resend and no probe due, it is what lies at SND.NXT (no repair is looked for outside
    // recovery, F-RTO or not).
    #[inline]
    pub fn next_transmit(&self, una: SeqNum, nxt: SeqNum, max: SeqNum, unsent: bool) -> Transmit {
        if !self.retransmit_head && matches!(self.recovery, Recovery::Open) && !self.probe_is_due()
        {
            return if nxt.lt(max) {
                Transmit::Resend(nxt)
            } else {
                Transmit::New(nxt)
            };
        }
        self.next_transmit_in_full(una, nxt, max, unsent)
    }

    #[inline(never)]
    fn next_transmit_in_full(
        &self,
        una: SeqNum,
        nxt: SeqNum,
        max: SeqNum,
        unsent: bool,
    ) -> Transmit {
        if self.retransmit_head {
            // Never past SND.MAX: the segment at SND.UNA as it was sent, not new data.
            let len = if max.gt(una) { max.since(una) } else { 0 };
            return Transmit::Retransmit {
                seq: una,
                len: len.min(self.mss),
            };
        }
        if let Some(probe) = self.probe_transmit(nxt, max, unsent) {
            return probe;
        }
        // F-RTO step 2.b sends new data rather than repairs while the test runs (RFC 5682
        // §3.1); without new data to send it falls back to the repairs.
        let frto_new = unsent && self.frto_sends_new_data();
        let repairing =
            matches!(self.recovery, Recovery::Sack { .. } | Recovery::Loss { .. }) && !frto_new;
        if let (Some(b), true) = (&self.board, repairing && nxt == max) {
            match b.next_seg(self.mss, unsent) {
                Some(NextSeg::Retransmit { seq, len }) => {
                    return Transmit::Hole {
                        seq,
                        len,
                        rescue: false,
                    };
                }
                // With RACK-TLP the tail is the probe's to repair (RFC 8985 §7): a rescue
                // would resend a segment that is only still in flight.
                Some(NextSeg::Rescue { seq, len }) if !self.rack_runs() => {
                    return Transmit::Hole {
                        seq,
                        len,
                        rescue: true,
                    };
                }
                Some(NextSeg::NewData | NextSeg::Rescue { .. }) | None => {}
            }
        }
        if nxt.lt(max) {
            Transmit::Resend(nxt)
        } else {
            Transmit::New(nxt)
        }
    }

    /// How much sequence space from `seq` congestion control lets out now. Without a
    /// scoreboard: up to SND.UNA + cwnd. With one: cwnd less the pipe (RFC 6675 §5), or
    /// during fast recovery what PRR allows (RFC 6937). A fast retransmission ignores the
    /// window. Limited transmit (RFC 3042) adds a segment for each of the first two duplicate
    /// ACKs.
    // Inlined with the case of nearly every segment first: new data with a scoreboard outside
    // recovery and no tail loss probe due is cwnd, with limited transmit's extra, less the
    // pipe (what `allowance_in_full` works out for it too; F-RTO's step 2.b room is only
    // for a sender without a scoreboard).
    #[inline]
    pub fn allowance(&self, what: Transmit, una: SeqNum, in_flight: u32) -> u32 {
        if let (Transmit::New(_), Some(b), Recovery::Open) = (what, &self.board, &self.recovery) {
            if !self.probe_is_due() {
                return self
                    .cwnd
                    .saturating_add(self.dup_acks.min(2) * self.mss)
                    .saturating_sub(b.pipe(self.mss));
            }
        }
        self.allowance_in_full(what, una, in_flight)
    }

    #[inline(never)]
    fn allowance_in_full(&self, what: Transmit, una: SeqNum, in_flight: u32) -> u32 {
        let limited = if matches!(self.recovery, Recovery::Open) {
            self.dup_acks.min(2) * self.mss
        } else {
            0
        };
        if let (Transmit::New(_), Some(room)) = (what, self.basic_frto_new_data_room()) {
            // F-RTO's two new segments go whatever cwnd says (RFC 5682 §2.1 step 2.b).
            return room;
        }
        match what {
            Transmit::Retransmit { len, .. } => len,
            // A tail loss probe of new data goes whatever cwnd says (RFC 8985 §7.3).
            Transmit::New(_) if self.probe_is_due() => self.mss,
            Transmit::Hole { len, .. } => {
                let room = self.repair_room(in_flight);
                if room >= len { len } else { 0 }
            }
            Transmit::Resend(seq) | Transmit::New(seq) => match (&self.board, &self.recovery) {
                (Some(_), Recovery::Sack { .. }) => {
                    let room = self.repair_room(in_flight);
                    if room >= self.mss { room } else { 0 }
                }
                (Some(_), _) if matches!(what, Transmit::New(_)) => self
                    .cwnd
                    .saturating_add(limited)
                    .saturating_sub(self.pipe(in_flight)),
                _ => {
                    // Held below half the sequence space so that SND.UNA + it stays ahead.
                    let end = una + self.cwnd.saturating_add(limited).min(1 << 30);
                    if end.gt(seq) { end.since(seq) } else { 0 }
                }
            },
        }
    }

    fn repair_room(&self, in_flight: u32) -> u32 {
        match self.recovery {
            Recovery::Sack { .. } => self.prr_credit,
            _ => self.cwnd.saturating_sub(self.pipe(in_flight)),
        }
    }

    /// RFC 6675's pipe with a scoreboard, FlightSize without.
    fn pipe(&self, in_flight: u32) -> u32 {
        match &self.board {
            Some(b) => b.pipe(self.mss),
            None => in_flight,
        }
    }

    /// The congestion window in bytes: how much may be outstanding (RFC 5681 §3.1's cwnd).
    pub fn window(&self) -> u32 {
        self.cwnd
    }

    #[cfg(test)]
    /// The slow-start threshold in bytes (`u32::MAX` until the first loss).
    pub fn ssthresh(&self) -> u32 {
        self.ssthresh
    }

    pub fn phase(&self) -> CongestionPhase {
        match self.recovery {
            Recovery::NewReno { .. } | Recovery::Sack { .. } => CongestionPhase::Recovery,
            Recovery::Loss { .. } => CongestionPhase::Loss,
            Recovery::Open if self.cwnd < self.ssthresh => CongestionPhase::SlowStart,
            Recovery::Open => CongestionPhase::CongestionAvoidance,
        }
    }

    #[cfg(test)]
    pub fn counters(&self) -> Counters {
        self.counters.read()
    }

    #[cfg(test)]
    pub fn fast_retransmits(&self) -> u64 {
        self.counters.read().fast_retransmits
    }
}

/// The SACK blocks of an ACK as sequence-number pairs.
fn sack_pairs(list: &SackList) -> [(SeqNum, SeqNum); SackList::CAPACITY] {
    let mut out = [(SeqNum(0), SeqNum(0)); SackList::CAPACITY];
    for (o, b) in out.iter_mut().zip(list.as_slice()) {
        *o = (SeqNum(b.left), SeqNum(b.right));
    }
    out
}

/// The initial window in bytes (RFC 6928, RFC 5681 §3.1); a count whose bytes pass 2^32 is a
/// configuration mistake, held at the largest window, not a panic.
fn initial_window_bytes(segments: u32, mss: u32) -> u32 {
    segments.max(1).saturating_mul(mss)
}
