//! When a connection's timers come due and what each expiry does: the earliest deadline the
//! host must wake it at, and the expiries of retransmission, RACK's reordering timer, the tail
//! loss probe, persist, delayed ACK, the handshake's limit, keepalive, the user timeout,
//! FIN-WAIT-2 and TIME-WAIT (where each deadline lives is told in `timer.rs`).

use super::state::{Closed, Phase, State};
use super::timer::Timer;
use super::{Cause, Connection, StateName};
use crate::error::ConnError;
use crate::time::Instant;

/// A deadline as microseconds, kept clear of `u64::MAX`, which stands for none.
fn capped(at: Instant) -> u64 {
    at.as_micros().min(u64::MAX - 1)
}

impl Connection {
    /// The earliest time at which `handle_timeout` has work to do: the earliest deadline of
    /// any timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let earliest = self.earliest_deadline();
        debug_assert_eq!(
            earliest,
            Timer::ALL
                .iter()
                .filter_map(|&t| self.deadline(t))
                .map(|d| Instant::from_micros(capped(d)))
                .min(),
            "the one-pass earliest deadline disagrees with the timers one by one"
        );
        earliest
    }

    /// [`Connection::poll_timeout`] in one pass. The host asks after every touch of a
    /// connection, so the state is matched once, the send side's deadlines are read only when
    /// there is one, and those that need an option (keepalive, user timeout, the handshake's
    /// limit) only when it is set. Deadlines are compared as bare microseconds with
    /// `u64::MAX` for none; one at the clock's very last microsecond is kept a microsecond
    /// earlier, as the timer table keeps the ones it holds.
    fn earliest_deadline(&self) -> Option<Instant> {
        let config = &*self.config;
        let mut earliest = self.timers.earliest_micros();
        let snd = match &self.state {
            State::SynSent(s) => {
                if let (Some(limit), Some(since)) = (config.connect_timeout, s.since) {
                    earliest = earliest.min(capped(since + limit));
                }
                Some(&s.snd)
            }
            State::Synced(phase, s) => {
                match (phase, s.phase_time) {
                    (Phase::SynReceived, Some(since)) => {
                        if let Some(limit) = config.connect_timeout {
                            earliest = earliest.min(capped(since + limit));
                        }
                    }
                    (Phase::FinWait2, Some(at)) => earliest = earliest.min(capped(at)),
                    _ => {}
                }
                Some(&s.snd)
            }
            State::TimeWait(tw) => {
                earliest = earliest.min(capped(tw.expires));
                None
            }
            _ => None,
        };
        if let Some(snd) = snd {
            if let Some(at) = snd.cc.reorder_deadline() {
                earliest = earliest.min(capped(at));
            }
            // The probe's own deadline is enough here: its hold to the retransmission
            // timer (see `deadline`) is already in the minimum.
            if !snd.probing && snd.wnd != 0 {
                if let Some(at) = snd.cc.probe_deadline_micros(|| snd.rtt.srtt_nanos()) {
                    earliest = earliest.min(at.min(u64::MAX - 1));
                }
            }
            if config.keepalive.is_some() {
                if let Some(at) = self.keepalive_deadline() {
                    earliest = earliest.min(capped(at));
                }
            }
        }
        if config.user_timeout.is_some() {
            if let Some(at) = self.user_timeout_deadline() {
                earliest = earliest.min(capped(at));
            }
        }
        (earliest != u64::MAX).then(|| Instant::from_micros(earliest))
    }

    /// When `timer` expires, wherever its deadline lives; `None` when it is not running.
    fn deadline(&self, timer: Timer) -> Option<Instant> {
        match timer {
            // A sender's timers stop with it (see `morph`); delayed ACK runs in any state.
            Timer::Retransmit | Timer::Persist | Timer::DelayedAck => self.timers.get(timer),
            Timer::Reorder => self.state.sender()?.cc.reorder_deadline(),
            Timer::Probe => {
                // RFC 8985 §7.2: a probe due after the retransmission timer fires with it
                // instead, so a lone lost segment is probed rather than timed out.
                let snd = self.state.sender()?;
                // A closed window is the persist timer's to probe (RFC 9293 §3.8.6.1).
                if snd.probing || snd.wnd == 0 {
                    return None;
                }
                let pto = snd.cc.probe_deadline(|| snd.rtt.srtt())?;
                Some(
                    self.timers
                        .get(Timer::Retransmit)
                        .map_or(pto, |r| pto.min(r)),
                )
            }
            Timer::Handshake => {
                let limit = self.config.connect_timeout?;
                match &self.state {
                    State::SynSent(s) => s.since.map(|t| t + limit),
                    State::Synced(Phase::SynReceived, s) => s.phase_time.map(|t| t + limit),
                    _ => None,
                }
            }
            Timer::Keepalive => self.keepalive_deadline(),
            Timer::UserTimeout => self.user_timeout_deadline(),
            Timer::FinWait2 => match &self.state {
                State::Synced(Phase::FinWait2, s) => s.phase_time,
                _ => None,
            },
            Timer::TimeWait => match &self.state {
                State::TimeWait(tw) => Some(tw.expires),
                _ => None,
            },
        }
    }

    fn is_due(&self, timer: Timer, now: Instant) -> bool {
        self.deadline(timer).is_some_and(|d| d <= now)
    }

    /// Runs every timer that is due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock = self.clock.max(now);
        if self.timers.is_due(Timer::DelayedAck, now) {
            self.timers.stop(Timer::DelayedAck);
            self.acks.on_delayed_ack_fired();
            self.ack_now = true;
        }
        if let State::TimeWait(_) = &self.state {
            if self.is_due(Timer::TimeWait, now) {
                self.morph(Cause::TimeWaitExpired, |s| match s {
                    State::TimeWait(tw) => State::Closed(Closed {
                        error: None,
                        rcv: Some(tw.rcv),
                        spare: tw.spare,
                    }),
                    other => other,
                });
            }
            return;
        }
        if self.is_due(Timer::Handshake, now) {
            // FreeBSD's connection-establishment timer (TCP_KEEPINIT): the same end as the
            // SYN or SYN-ACK retries running out (RFC 9293 §3.8.3), only sooner.
            self.fail(Cause::RetransmitTimeout, ConnError::TimedOut);
            return;
        }
        if self.is_due(Timer::FinWait2, now) {
            self.fail(Cause::FinWait2Timeout, ConnError::TimedOut);
            return;
        }
        if self.is_due(Timer::UserTimeout, now) {
            self.fail(Cause::RetransmitTimeout, ConnError::TimedOut);
            return;
        }
        if self.is_due(Timer::Keepalive, now) {
            let count = self.config.keepalive.map_or(0, |k| k.count);
            if self.keepalive_probes >= count {
                self.fail(Cause::KeepaliveTimeout, ConnError::TimedOut);
                return;
            }
            self.keepalive_probes += 1;
            self.keepalive_due = true;
        }
        if self.is_due(Timer::Reorder, now) {
            if let Some(snd) = self.state.sender_mut() {
                let (flight, srtt) = (snd.flight(), snd.rtt.srtt());
                snd.cc.on_reorder_timeout(now, &flight, srtt);
            }
        }
        if self.is_due(Timer::Probe, now) {
            // RFC 8985 §7.3: after the probe the retransmission timer runs afresh.
            let Some(snd) = self.state.sender_mut() else {
                return;
            };
            snd.cc.on_probe_timeout();
            self.timers.set(Timer::Retransmit, now + snd.rtt.rto());
            return;
        }
        let Some(snd) = self.state.sender_mut() else {
            return;
        };
        if self.timers.is_due(Timer::Retransmit, now) {
            self.on_retransmit_timeout(now);
        } else if self.timers.is_due(Timer::Persist, now) {
            // RFC 9293 §3.8.6.1: probe the zero window with one byte, backing off like the
            // retransmission timer. A peer that keeps answering keeps the connection alive
            // (RFC 1122 §4.2.2.17); one that stops answering is given up like a dead one.
            if snd.probes_unanswered >= self.config.data_retries {
                self.fail(Cause::RetransmitTimeout, ConnError::TimedOut);
                return;
            }
            snd.on_persist_timeout(now, &mut self.timers);
        }
    }

    /// When the next keepalive probe (or the verdict on the last one) is due: only on an idle
    /// connection, one with nothing unacknowledged, in a state where the peer should answer.
    fn keepalive_deadline(&self) -> Option<Instant> {
        let ka = self.config.keepalive?;
        let idle_state = matches!(
            self.state.name(),
            StateName::Established | StateName::CloseWait
        );
        let snd = self.state.sender()?;
        if !idle_state || snd.una != snd.max || self.keepalive_due {
            return None;
        }
        Some(self.last_heard + ka.idle + ka.interval * self.keepalive_probes)
    }

    /// When the user timeout gives up on unacknowledged data.
    fn user_timeout_deadline(&self) -> Option<Instant> {
        let limit = self.config.user_timeout?;
        let since = self.stalled_since?;
        self.state.name().is_synchronized().then(|| since + limit)
    }

    /// Notes progress (or its lack) for the user timeout after anything that moves SND.UNA or
    /// sends data.
    pub(crate) fn track_progress(&mut self, now: Instant, progressed: bool) {
        let outstanding = self.state.sender().is_some_and(|s| s.una != s.max);
        if !outstanding {
            self.stalled_since = None;
        } else if progressed || self.stalled_since.is_none() {
            self.stalled_since = Some(now);
        }
    }

    /// RFC 6298 §5.4–§5.6: retransmit the earliest unacknowledged segment, back off, restart.
    fn on_retransmit_timeout(&mut self, now: Instant) {
        let name = self.state.name();
        let limit = match name {
            StateName::SynSent => self.config.syn_retries,
            StateName::SynReceived => self.config.synack_retries,
            _ => self.config.data_retries,
        };
        let Some(snd) = self.state.sender_mut() else {
            return;
        };
        if snd.retransmits >= limit {
            // RFC 9293 §3.8.3: give up and tell the user.
            self.fail(Cause::RetransmitTimeout, ConnError::TimedOut);
            return;
        }
        snd.retransmits += 1;
        snd.rto_expirations += 1;
        snd.rtt.back_off();
        let flight = snd.flight();
        let synchronized = snd.syn_acked();
        // A window shrunk to zero is probed from SND.UNA (see `probe_shrunk_window`), so the
        // sender goes back there even when the scoreboard could name the holes. So does a
        // sender still resending below SND.MAX after an earlier rewind (a reopened window, a
        // path MTU drop): the scoreboard picks repairs only from SND.MAX on (RFC 6675 §4
        // NextSeg), and a congestion window cut to one segment admits nothing past the
        // SND.NXT the lost resend left behind, so without going back to the earliest
        // unacknowledged segment (RFC 6298 §5.4) the timeouts would resend nothing at all.
        let cc_rewinds = snd.cc.on_retransmit_timeout(&flight, synchronized);
        let rewind = cc_rewinds || snd.wnd == 0 || snd.nxt != snd.max;
        if rewind {
            snd.nxt = snd.una;
        }
        if rewind && !cc_rewinds {
            snd.cc.on_rewind();
        }
        snd.rtt_probe = None;
        if !snd.syn_acked() {
            snd.syn_retransmitted = true;
        }
        if !snd.probe_shrunk_window(now, &mut self.timers) {
            self.timers.set(Timer::Retransmit, now + snd.rtt.rto());
        }
    }
}
