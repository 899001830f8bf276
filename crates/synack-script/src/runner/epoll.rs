//! `epoll_create`, `epoll_ctl` and `epoll_wait` over the socket layer's readiness (the same
//! events `poll` reports), level-triggered or edge-triggered (`EPOLLET`), with `EPOLLONESHOT`.
//!
//! An epoll instance lives in the runner: the script's number for it (`epoll_create(1) = 5`)
//! names it, as the script's numbers name its sockets. Each registered descriptor is either
//! on the instance's ready list or not, as in Linux's epoll: it gets there when added or
//! changed while ready, and when the socket layer reports a wake-up it listens for (new data,
//! freed space for a writer that ran out, a state change). A wait reports a listed
//! descriptor with all its ready events; a level-triggered one is always looked at, an
//! edge-triggered one leaves the list once reported, until the next wake-up.

use std::collections::BTreeMap;

use crate::ast::*;
use crate::errno::Errno;
use crate::socket::SockError;
use crate::socket::consts::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};
use crate::symbols::{eval_int, show_poll};

use super::Runner;
use super::calls::done;
use super::wait::{Step, Wait};

pub(super) const EPOLL_CTL_ADD: i64 = 1;
pub(super) const EPOLL_CTL_DEL: i64 = 2;
pub(super) const EPOLL_CTL_MOD: i64 = 3;
pub(super) const EPOLLONESHOT: i64 = 1 << 30;
pub(super) const EPOLLET: i64 = 1 << 31;

/// One registered descriptor.
#[derive(Clone, Debug)]
struct Interest {
    events: i64,
    /// What `epoll_wait` hands back for it (`fd=`, `u32=` or `u64=` of `epoll_ctl`).
    data: i64,
    /// `EPOLLONESHOT` after it fired: silent until `EPOLL_CTL_MOD`.
    disarmed: bool,
    /// On the ready list: a wait looks at it.
    listed: bool,
}

/// An epoll instance: the script's descriptors (live numbers) and what each waits for.
#[derive(Clone, Debug, Default)]
pub(super) struct Epoll {
    interest: BTreeMap<i32, Interest>,
}

/// A blocked `epoll_wait`.
#[derive(Clone, Debug)]
pub(super) struct EpollWait {
    epfd: i32,
    max: usize,
    pub(super) deadline: u64,
    /// The `(events, data)` pairs the script expects back, in order; `None` for `...`.
    expected: Option<Vec<(i64, i64)>>,
}

impl Runner {
    pub(super) fn call_epoll_create(&mut self, call: &Syscall) -> Result<Step, String> {
        // The size argument only has to be positive (epoll_create(2)); epoll_create1 takes
        // flags (EPOLL_CLOEXEC, which means nothing here).
        if call.name == "epoll_create" && Self::int_arg(call, 0)? <= 0 {
            return done(Err(SockError::Errno(Errno::EINVAL)));
        }
        let fd = match &call.ret {
            Expr::Int(v) if *v >= 0 => *v as i32,
            _ => (100..)
                .find(|n| !self.epolls.contains_key(n))
                .unwrap_or(100),
        };
        self.epolls.insert(fd, Epoll::default());
        done(Ok(i64::from(fd)))
    }

    pub(super) fn call_epoll_ctl(&mut self, call: &Syscall) -> Result<Step, String> {
        let epfd = Self::int_arg(call, 0)? as i32;
        let op = Self::int_arg(call, 1)?;
        let fd = self.live_fd(Self::int_arg(call, 2)? as i32);
        let (events, data) = match call.args.get(3) {
            Some(Expr::Struct(fields)) => epoll_event(fields)?,
            _ if op == EPOLL_CTL_DEL => (0, 0),
            _ => return Err("epoll_ctl needs {events=..., fd=...}".into()),
        };
        if self.stack.state(fd).is_err() {
            return done(Err(SockError::Errno(Errno::EBADF)));
        }
        // Wake-ups from before this change are not news to the new registration.
        self.collect_wakeups();
        let ready = self.ready_events(fd, events) != 0;
        let Some(ep) = self.epolls.get_mut(&epfd) else {
            return done(Err(SockError::Errno(Errno::EBADF)));
        };
        let interest = Interest {
            events,
            data,
            disarmed: false,
            listed: ready,
        };
        let known = ep.interest.contains_key(&fd);
        let r = match op {
            EPOLL_CTL_ADD if known => Err(Errno::EEXIST),
            EPOLL_CTL_MOD | EPOLL_CTL_DEL if !known => Err(Errno::ENOENT),
            EPOLL_CTL_ADD | EPOLL_CTL_MOD => {
                ep.interest.insert(fd, interest);
                Ok(0)
            }
            EPOLL_CTL_DEL => {
                ep.interest.remove(&fd);
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        };
        done(r.map_err(SockError::Errno))
    }

    pub(super) fn call_epoll_wait(&mut self, call: &Syscall) -> Result<Step, String> {
        let epfd = Self::int_arg(call, 0)? as i32;
        let expected = match call.args.get(1) {
            None | Some(Expr::Ellipsis) => None,
            Some(Expr::Struct(fields)) => Some(vec![epoll_event(fields)?]),
            Some(Expr::List(items)) => Some(
                items
                    .iter()
                    .map(|e| match e {
                        Expr::Struct(fields) => epoll_event(fields),
                        other => Err(format!(
                            "an epoll event is {{events=..., fd=...}}, not {other}"
                        )),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Some(other) => return Err(format!("unexpected epoll_wait events argument {other}")),
        };
        let max = Self::int_arg(call, 2)?;
        if max <= 0 {
            return done(Err(SockError::Errno(Errno::EINVAL)));
        }
        if !self.epolls.contains_key(&epfd) {
            return done(Err(SockError::Errno(Errno::EBADF)));
        }
        let timeout = Self::int_arg(call, 3)?;
        let deadline = if timeout < 0 {
            u64::MAX
        } else {
            self.now
                .saturating_add((timeout as u64).saturating_mul(1000))
        };
        self.step(&Wait::Epoll(EpollWait {
            epfd,
            max: max as usize,
            deadline,
            expected,
        }))
    }

    /// One attempt at `epoll_wait`: the listed descriptors that are ready, in the order they
    /// were added (up to `max`), checked against the script's list.
    pub(super) fn step_epoll(&mut self, w: &EpollWait) -> Result<Step, String> {
        if !self.epolls.contains_key(&w.epfd) {
            return Ok(Step::Done(Err(SockError::Errno(Errno::EBADF))));
        }
        self.collect_wakeups();
        let listed: Vec<(i32, i64)> = self.epolls[&w.epfd]
            .interest
            .iter()
            // A level-triggered descriptor is looked at every time: Linux lists it again
            // after each report, and every rise in readiness comes with a wake-up there.
            .filter(|(_, i)| (i.listed || i.events & EPOLLET == 0) && !i.disarmed)
            .map(|(fd, i)| (*fd, i.events))
            .collect();
        let mut ready = Vec::new();
        let mut unlisted = Vec::new();
        for (fd, events) in listed {
            let got = self.ready_events(fd, events);
            if got == 0 {
                unlisted.push(fd);
            } else if ready.len() < w.max {
                ready.push((fd, got));
            }
        }
        let ep = self.epolls.get_mut(&w.epfd).expect("checked above");
        // Not ready when looked at: off the list until a wake-up (Linux's ep_send_events).
        for fd in &unlisted {
            if let Some(i) = ep.interest.get_mut(fd) {
                i.listed = false;
            }
        }
        if ready.is_empty() && self.now < w.deadline {
            return Ok(Step::Block(Wait::Epoll(w.clone())));
        }
        let got: Vec<(i64, i64)> = ready
            .iter()
            .map(|(fd, e)| (*e, ep.interest.get(fd).map_or(0, |i| i.data)))
            .collect();
        if let Some(want) = &w.expected {
            // At the timeout nothing came back, whatever the buffer held before.
            if !ready.is_empty() && got != *want {
                let show = |l: &[(i64, i64)]| {
                    l.iter()
                        .map(|(e, d)| format!("{{events={}, data={d}}}", show_poll(*e as i16)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(format!(
                    "epoll_wait events [{}], expected [{}]",
                    show(&got),
                    show(want)
                ));
            }
        }
        for (fd, _) in &ready {
            if let Some(i) = ep.interest.get_mut(fd) {
                i.disarmed |= i.events & EPOLLONESHOT != 0;
                i.listed &= i.events & EPOLLET == 0;
            }
        }
        Ok(Step::Done(Ok(ready.len() as i64)))
    }

    /// The events of `wanted` (plus `EPOLLERR` and `EPOLLHUP`, always reported) the
    /// descriptor has now. Finding no room for a writer makes freed space a wake-up.
    fn ready_events(&mut self, fd: i32, wanted: i64) -> i64 {
        let always = i64::from(POLLERR | POLLHUP);
        let now = i64::from(self.stack.poll_events(fd));
        if wanted & i64::from(POLLOUT) != 0 && now & i64::from(POLLOUT) == 0 {
            let _ = self.stack.want_write_space(fd);
        }
        now & (wanted | always) & 0xffff
    }

    /// Puts on every instance's ready list the descriptors woken in a way they listen for.
    fn collect_wakeups(&mut self) {
        let read = i64::from(POLLIN | POLLRDNORM | POLLPRI);
        let write = i64::from(POLLOUT | POLLWRNORM);
        for fd in self.stack.fds() {
            let Ok(w) = self.stack.take_wakeups(fd) else {
                continue;
            };
            if w.is_empty() {
                continue;
            }
            for ep in self.epolls.values_mut() {
                if let Some(i) = ep.interest.get_mut(&fd) {
                    i.listed |= w.any
                        || (w.readable && i.events & read != 0)
                        || (w.writable && i.events & write != 0);
                }
            }
        }
    }
}

/// `{events=EPOLLIN|EPOLLOUT, fd=4}` (or `u32=`, `u64=`, `ptr=`): the events and the data.
fn epoll_event(fields: &[(String, Expr)]) -> Result<(i64, i64), String> {
    let mut events = 0;
    let mut data = 0;
    for (name, v) in fields {
        match name.as_str() {
            "events" => events = eval_int(v)?,
            "fd" | "u32" | "u64" | "ptr" => data = eval_int(v)?,
            other => return Err(format!("unknown epoll_event field {other}")),
        }
    }
    Ok((events, data))
}
