//! Virtual time: timers fire in order as the clock jumps to the next event, what the stack
//! sends is collected as it is sent, and a blocked call is retried whenever something changed.

use super::show::fmt_time;

use super::{MAX_TIMER_STEPS, Runner};

impl Runner {
    /// The script ended with a call still blocked: let virtual time run (to the call's
    /// expected return time when it has one) so it can finish, as packetdrill waits for it.
    /// Packets sent meanwhile were not in the script.
    pub(super) fn wait_for_pending(&mut self) {
        let tol = self.cfg.tolerance_usecs;
        let limit = match self.pending.as_ref().and_then(|p| p.end) {
            Some(end) => (end.max(0) as u64).saturating_add(tol),
            // A day of virtual time bounds the wait for calls with no stated end.
            None => self.now + 86_400_000_000,
        };
        while self.pending.is_some() && self.failure.is_none() {
            let next = self.stack.poll_timeout().map(|t| t.as_micros());
            let poll_deadline = self.pending.as_ref().and_then(|p| p.wait.deadline());
            let Some(t) = next
                .into_iter()
                .chain(poll_deadline)
                .min()
                .filter(|t| *t <= limit)
            else {
                return;
            };
            self.advance_to(t.max(self.now));
            if let Some((at, bytes)) = self.out.front().cloned() {
                let shown = self.describe_actual(&bytes);
                let pos = self.pending.as_ref().map_or(self.pos, |p| p.pos);
                self.fail(
                    pos,
                    format!(
                        "unexpected outbound packet at {} while waiting for this call:\n  \
                         actual:   {}",
                        fmt_time(at),
                        shown
                    ),
                );
            }
        }
    }

    /// Collects what the stack sends now and retries a blocked call.
    pub(super) fn settle(&mut self) {
        let mut buf = vec![0u8; 65536];
        let now = self.instant();
        while let Some(n) = self.stack.poll_transmit(now, &mut buf) {
            self.out.push_back((self.now, buf[..n].to_vec()));
        }
        self.retry_pending();
        // A call that completed just now may have made the stack send (a read opening the
        // window, a write's data): those packets leave now too, not at the next event.
        while let Some(n) = self.stack.poll_transmit(now, &mut buf) {
            self.out.push_back((self.now, buf[..n].to_vec()));
        }
    }

    /// Runs every timer due up to `t`, in order.
    pub(super) fn advance_to(&mut self, t: u64) {
        for _ in 0..MAX_TIMER_STEPS {
            if self.failure.is_some() {
                return;
            }
            match self.stack.poll_timeout() {
                Some(due) if due.as_micros() <= t => {
                    self.now = self.now.max(due.as_micros());
                    self.stack.handle_timeout(self.instant());
                    self.settle();
                }
                _ => {
                    self.tick_poll_deadline(t);
                    self.now = self.now.max(t);
                    return;
                }
            }
        }
        self.fail(self.pos, "timers kept firing without time moving on");
    }

    /// A blocked `poll` or `epoll_wait` whose timeout passes before `t` returns 0 then.
    pub(super) fn tick_poll_deadline(&mut self, t: u64) {
        if let Some(deadline) = self.pending.as_ref().and_then(|p| p.wait.deadline()) {
            if deadline <= t {
                self.now = self.now.max(deadline);
                let p = self.pending.take();
                if let Some(p) = p {
                    self.finish(p.pos, &p.call, p.end, Ok(0));
                }
            }
        }
    }
}
