//! Calls that block: what each waits for, retried as virtual time moves until it can finish.

use crate::ast::*;
use crate::errno::Errno;
use crate::socket::{SockError, Stack, consts::*};
use crate::symbols::{eval_int, show_poll};

use super::Runner;
use super::epoll::EpollWait;
use super::io::{Read, Write};

#[derive(Clone, Debug)]
pub(super) enum Wait {
    Accept(i32),
    Connect(i32),
    Read(Read),
    Write(Write),
    Poll { items: Vec<PollItem>, deadline: u64 },
    Epoll(EpollWait),
}

impl Wait {
    /// When a `poll` or `epoll_wait` times out.
    pub(super) fn deadline(&self) -> Option<u64> {
        match self {
            Wait::Poll { deadline, .. } => Some(*deadline),
            Wait::Epoll(w) => Some(w.deadline),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct PollItem {
    pub(super) fd: i32,
    /// Whether `fd` names an epoll instance rather than a socket.
    pub(super) epoll: bool,
    pub(super) events: i16,
    pub(super) revents: Option<i16>,
}

#[derive(Clone, Debug)]
pub(super) struct Pending {
    pub(super) pos: Pos,
    pub(super) call: Syscall,
    pub(super) end: Option<i64>,
    pub(super) wait: Wait,
}

/// How an error of a call synack has no counterpart for starts.
pub(super) const UNSUPPORTED_CALL: &str = "no synack counterpart for";

/// A call's outcome, before it is compared with the script.
pub(super) type CallResult = Result<i64, SockError>;

pub(super) enum Step {
    Done(CallResult),
    Block(Wait),
}

impl Runner {
    /// One attempt at a (possibly blocking) call.
    pub(super) fn step(&mut self, wait: &Wait) -> Result<Step, String> {
        let blocking = |s: &Stack, fd: i32| !s.is_nonblocking(fd).unwrap_or(true);
        Ok(match wait {
            Wait::Accept(fd) => match self.stack.accept(*fd) {
                Err(SockError::Errno(Errno::EAGAIN)) if blocking(&self.stack, *fd) => {
                    Step::Block(wait.clone())
                }
                Ok((nfd, _)) => {
                    self.under_test = Some(nfd);
                    Step::Done(Ok(i64::from(nfd)))
                }
                Err(e) => Step::Done(Err(e)),
            },
            Wait::Connect(fd) => match self.stack.connect_result(*fd) {
                Ok(None) => Step::Block(wait.clone()),
                Ok(Some(Ok(()))) => Step::Done(Ok(0)),
                Ok(Some(Err(e))) => Step::Done(Err(e.into())),
                Err(e) => Step::Done(Err(e)),
            },
            Wait::Read(r) => self.step_read(r),
            Wait::Write(w) => self.step_write(w),
            Wait::Epoll(w) => return self.step_epoll(w),
            Wait::Poll { items, deadline } => {
                let always = POLLERR | POLLHUP | POLLNVAL;
                let mut got = Vec::with_capacity(items.len());
                for it in items {
                    let now = if it.epoll {
                        self.epolls.poll_events(&mut self.stack, it.fd)
                    } else {
                        self.stack.poll_events(it.fd)
                    };
                    got.push(now & (it.events | always));
                }
                let ready = got.iter().filter(|r| **r != 0).count();
                if ready == 0 && self.now < *deadline {
                    Step::Block(wait.clone())
                } else {
                    for (it, g) in items.iter().zip(&got) {
                        if let Some(want) = it.revents {
                            if want != *g {
                                return Err(format!(
                                    "fd {} revents {}, expected {}",
                                    it.fd,
                                    show_poll(*g),
                                    show_poll(want)
                                ));
                            }
                        }
                    }
                    Step::Done(Ok(ready as i64))
                }
            }
        })
    }

    /// `poll([{fd=..., events=..., revents=...}, ...], nfds, timeout_ms)`: blocks until one
    /// descriptor is ready or the timeout passes, then checks each `revents`. A descriptor
    /// may be an epoll instance: readable while a wait on it would report something.
    pub(super) fn call_poll(&mut self, call: &Syscall) -> Result<Step, String> {
        let Some(Expr::List(list)) = call.args.first() else {
            return Err("poll needs a list of {fd=..., events=...}".into());
        };
        let mut items = Vec::new();
        for it in list {
            let Expr::Struct(fields) = it else {
                return Err("poll entries are {fd=..., events=..., revents=...}".into());
            };
            let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v);
            let script_fd = eval_int(get("fd").ok_or("poll entry without fd")?)? as i32;
            let epoll = self.epolls.contains(script_fd) && !self.fds.contains_key(&script_fd);
            let fd = if epoll {
                script_fd
            } else {
                self.live_fd(script_fd)
            };
            let events = get("events").map(eval_int).transpose()?.unwrap_or(0) as i16;
            let revents = get("revents").map(eval_int).transpose()?.map(|v| v as i16);
            items.push(PollItem {
                fd,
                epoll,
                events,
                revents,
            });
        }
        let timeout = Self::int_arg(call, 2)?;
        let deadline = if timeout < 0 {
            u64::MAX
        } else {
            self.now
                .saturating_add((timeout as u64).saturating_mul(1000))
        };
        self.step(&Wait::Poll { items, deadline })
    }
}
