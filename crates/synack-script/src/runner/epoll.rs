//! `epoll_create`, `epoll_ctl` and `epoll_wait` over the socket layer's readiness (the same
//! events `poll` reports), level-triggered, with `EPOLLONESHOT`.
//!
//! An epoll instance lives in the runner: the script's number for it (`epoll_create(1) = 5`)
//! names it, as the script's numbers name its sockets. Edge-triggered mode (`EPOLLET`)
//! reports wake-ups rather than states, which the socket layer does not record: it stops
//! the script as unsupported.

use std::collections::BTreeMap;

use crate::ast::*;
use crate::errno::Errno;
use crate::socket::SockError;
use crate::socket::consts::{POLLERR, POLLHUP};
use crate::symbols::{eval_int, show_poll};

use super::Runner;
use super::calls::done;
use super::wait::{Step, UNSUPPORTED_CALL, Wait};

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
        if events & EPOLLET != 0 {
            return Err(format!("{UNSUPPORTED_CALL} edge-triggered epoll (EPOLLET)"));
        }
        if self.stack.state(fd).is_err() {
            return done(Err(SockError::Errno(Errno::EBADF)));
        }
        let Some(ep) = self.epolls.get_mut(&epfd) else {
            return done(Err(SockError::Errno(Errno::EBADF)));
        };
        let interest = Interest {
            events,
            data,
            disarmed: false,
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

    /// One attempt at `epoll_wait`: the ready descriptors in the order they were added (up
    /// to `max`), checked against the script's list.
    pub(super) fn step_epoll(&mut self, w: &EpollWait) -> Result<Step, String> {
        let Some(ep) = self.epolls.get(&w.epfd) else {
            return Ok(Step::Done(Err(SockError::Errno(Errno::EBADF))));
        };
        let always = i64::from(POLLERR | POLLHUP);
        let ready: Vec<(i32, i64, i64)> = ep
            .interest
            .iter()
            .filter(|(_, i)| !i.disarmed)
            .filter_map(|(fd, i)| {
                let got = i64::from(self.stack.poll_events(*fd)) & (i.events | always) & 0xffff;
                (got != 0).then_some((*fd, got, i.data))
            })
            .take(w.max)
            .collect();
        if ready.is_empty() && self.now < w.deadline {
            return Ok(Step::Block(Wait::Epoll(w.clone())));
        }
        if let Some(want) = &w.expected {
            let got: Vec<(i64, i64)> = ready.iter().map(|(_, e, d)| (*e, *d)).collect();
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
        if let Some(ep) = self.epolls.get_mut(&w.epfd) {
            for (fd, _, _) in &ready {
                if let Some(i) = ep.interest.get_mut(fd) {
                    i.disarmed |= i.events & EPOLLONESHOT != 0;
                }
            }
        }
        Ok(Step::Done(Ok(ready.len() as i64)))
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
