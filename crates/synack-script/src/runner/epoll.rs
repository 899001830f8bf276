//! `epoll_create`, `epoll_ctl` and `epoll_wait` as a script makes them, over the shared
//! epoll rules of [`crate::socket::epoll`]: this file reads the arguments, blocks a wait
//! until something is ready or its timeout passes, and checks what came back against the
//! script.
//!
//! The script's numbers name the instances and the registered descriptors, as they name its
//! sockets (`epoll_create(1) = 5`, `epoll_ctl(5, EPOLL_CTL_ADD, 4, ...)`).

use crate::ast::*;
use crate::errno::Errno;
use crate::socket::SockError;
use crate::socket::epoll::EpollEvent;
use crate::symbols::{eval_int, show_poll};

use super::Runner;
use super::calls::done;
use super::wait::{Step, Wait};

/// A blocked `epoll_wait`.
#[derive(Clone, Debug)]
pub(super) struct EpollWait {
    epfd: i32,
    max: usize,
    pub(super) deadline: u64,
    /// The events the script expects back, in order; `None` for `...`.
    expected: Option<Vec<EpollEvent>>,
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
                .find(|n| !self.epolls.contains(*n) && !self.fds.contains_key(n))
                .unwrap_or(100),
        };
        self.epolls.create(fd);
        done(Ok(i64::from(fd)))
    }

    pub(super) fn call_epoll_ctl(&mut self, call: &Syscall) -> Result<Step, String> {
        let epfd = Self::int_arg(call, 0)? as i32;
        let op = Self::int_arg(call, 1)? as i32;
        let fd = Self::int_arg(call, 2)? as i32;
        let event = match call.args.get(3) {
            Some(Expr::Struct(fields)) => Some(epoll_event(fields)?),
            None | Some(Expr::Ellipsis) => None,
            Some(other) => {
                return Err(format!(
                    "an epoll event is {{events=..., fd=...}}, not {other}"
                ));
            }
        };
        let fds = &self.fds;
        let socket = |fd: i32| Some(fds.get(&fd).copied().unwrap_or(fd));
        done(
            self.epolls
                .ctl(&mut self.stack, epfd, op, fd, socket, event)
                .map(|()| 0),
        )
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
        if !self.epolls.contains(epfd) {
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
            max: usize::try_from(max).unwrap_or(usize::MAX),
            deadline,
            expected,
        }))
    }

    /// One attempt at `epoll_wait`: what is ready, checked against the script's list, or
    /// blocked until something is or the timeout passes.
    pub(super) fn step_epoll(&mut self, w: &EpollWait) -> Result<Step, String> {
        let got = match self.epolls.wait(&mut self.stack, w.epfd, w.max) {
            Ok(got) => got,
            Err(e) => return Ok(Step::Done(Err(e))),
        };
        if got.is_empty() && self.now < w.deadline {
            return Ok(Step::Block(Wait::Epoll(w.clone())));
        }
        if let Some(want) = &w.expected {
            // At the timeout nothing came back, whatever the buffer held before.
            if !got.is_empty() && got != *want {
                let show = |l: &[EpollEvent]| {
                    l.iter()
                        .map(|e| {
                            let events = show_poll(e.events as u16 as i16);
                            format!("{{events={events}, data={}}}", e.data as i64)
                        })
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
        Ok(Step::Done(Ok(got.len() as i64)))
    }
}

/// `{events=EPOLLIN|EPOLLOUT, fd=4}` (or `u32=`, `u64=`, `ptr=`): the events and the data.
fn epoll_event(fields: &[(String, Expr)]) -> Result<EpollEvent, String> {
    let mut event = EpollEvent { events: 0, data: 0 };
    for (name, v) in fields {
        match name.as_str() {
            "events" => event.events = eval_int(v)? as u32,
            "fd" | "u32" | "u64" | "ptr" => event.data = eval_int(v)? as u64,
            other => return Err(format!("unknown epoll_event field {other}")),
        }
    }
    Ok(event)
}
