//! `epoll_create`, `epoll_ctl` and `epoll_wait` (epoll(7)) over the readiness `poll` reports,
//! level-triggered, with `EPOLLONESHOT`.
//!
//! An epoll instance is a descriptor of the library's own (an `eventfd`, as for sockets; see
//! [`crate::fds`]) naming an interest list of the library's socket descriptors. Edge-triggered
//! mode (`EPOLLET`) reports wake-ups rather than states, which the socket layer does not
//! record, so it is refused as unsupported rather than answered level-triggered.

use std::collections::BTreeMap;

use libc::c_int;
use synack_script::socket::consts::{POLLERR, POLLHUP, POLLIN, POLLRDNORM};

use crate::calls::timed_wait;
use crate::fds;
use crate::instance::{Instance, Step, World};

pub const EPOLL_CTL_ADD: c_int = 1;
pub const EPOLL_CTL_DEL: c_int = 2;
pub const EPOLL_CTL_MOD: c_int = 3;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;

/// Events epoll_wait reports whether asked for or not (epoll_ctl(2)).
const ALWAYS: u32 = (POLLERR | POLLHUP) as u32;

/// One descriptor of an interest list.
#[derive(Clone, Copy, Debug)]
struct Interest {
    events: u32,
    /// What `epoll_wait` hands back for it, untouched (`epoll_data_t`).
    data: u64,
    /// `EPOLLONESHOT` after it fired: silent until `EPOLL_CTL_MOD` re-arms it.
    disarmed: bool,
}

/// An epoll instance: its interest list, by the library's descriptor numbers.
#[derive(Clone, Debug, Default)]
pub struct Epoll {
    interest: BTreeMap<c_int, Interest>,
}

/// One event `epoll_wait` reports: `(events, data)`.
pub type Ready = (u32, u64);

impl World {
    /// Takes `fd` out of every interest list: a closed descriptor leaves the epoll sets it
    /// was in, as Linux's does when its last reference goes.
    pub fn forget_in_epolls(&mut self, fd: c_int) {
        for ep in self.epolls.values_mut() {
            ep.interest.remove(&fd);
        }
    }

    /// The armed descriptors of `epfd` that are ready now, in descriptor order, with their
    /// events and data.
    fn epoll_ready_now(&self, epfd: c_int) -> Result<Vec<(c_int, u32, u64)>, c_int> {
        let ep = self.epolls.get(&epfd).ok_or(libc::EBADF)?;
        let mut ready = Vec::new();
        for (&fd, i) in ep.interest.iter().filter(|(_, i)| !i.disarmed) {
            let Some(&sfd) = self.fds.get(&fd) else {
                continue;
            };
            let got = u32::from(self.stack.poll_events(sfd) as u16) & (i.events | ALWAYS) & 0xffff;
            if got != 0 {
                ready.push((fd, got, i.data));
            }
        }
        Ok(ready)
    }

    /// What `poll` reports for an epoll instance: readable while an event is ready, as
    /// Linux's `ep_eventpoll_poll` answers.
    pub fn epoll_poll_events(&self, epfd: c_int) -> i16 {
        match self.epoll_ready_now(epfd) {
            Ok(r) if !r.is_empty() => POLLIN | POLLRDNORM,
            _ => 0,
        }
    }

    /// The ready descriptors of `epfd`, at most `max`, in descriptor order; `EPOLLONESHOT`
    /// ones are disarmed as they are reported.
    fn epoll_ready(&mut self, epfd: c_int, max: usize) -> Result<Vec<Ready>, c_int> {
        let mut ready = self.epoll_ready_now(epfd)?;
        ready.truncate(max);
        let ep = self.epolls.get_mut(&epfd).ok_or(libc::EBADF)?;
        for (fd, _, _) in &ready {
            if let Some(i) = ep.interest.get_mut(fd) {
                i.disarmed |= i.events & EPOLLONESHOT != 0;
            }
        }
        Ok(ready.into_iter().map(|(_, e, d)| (e, d)).collect())
    }
}

impl Instance {
    /// `epoll_create(size)`: `size` only has to be positive (epoll_create(2)).
    pub fn epoll_create(&self, size: c_int) -> Result<c_int, c_int> {
        if size <= 0 {
            return Err(libc::EINVAL);
        }
        self.simple(|w| {
            let fd = fds::open()?;
            w.epolls.insert(fd, Epoll::default());
            Ok(fd)
        })
    }

    /// `epoll_ctl`: `event` is `(events, data)`, `None` when the caller passed no event
    /// (allowed for `EPOLL_CTL_DEL` only).
    pub fn epoll_ctl(
        &self,
        epfd: c_int,
        op: c_int,
        fd: c_int,
        event: Option<Ready>,
    ) -> Result<(), c_int> {
        self.simple(|w| {
            if !w.epolls.contains_key(&epfd) {
                // A socket is a descriptor, just not an epoll one.
                return Err(if w.fds.contains_key(&epfd) {
                    libc::EINVAL
                } else {
                    libc::EBADF
                });
            }
            if fd == epfd {
                return Err(libc::EINVAL);
            }
            if w.epolls.contains_key(&fd) {
                return Err(self.refuse("an epoll instance inside another"));
            }
            if !w.fds.contains_key(&fd) {
                return Err(libc::EBADF);
            }
            let event = match (op, event) {
                (EPOLL_CTL_DEL, _) => None,
                (EPOLL_CTL_ADD | EPOLL_CTL_MOD, None) => return Err(libc::EFAULT),
                (EPOLL_CTL_ADD | EPOLL_CTL_MOD, Some((events, _))) if events & EPOLLET != 0 => {
                    return Err(self.refuse("edge-triggered epoll (EPOLLET)"));
                }
                (EPOLL_CTL_ADD | EPOLL_CTL_MOD, Some((events, data))) => Some(Interest {
                    events,
                    data,
                    disarmed: false,
                }),
                _ => return Err(libc::EINVAL),
            };
            let ep = w.epolls.get_mut(&epfd).ok_or(libc::EBADF)?;
            let known = ep.interest.contains_key(&fd);
            match (op, event) {
                (EPOLL_CTL_ADD, _) if known => Err(libc::EEXIST),
                (EPOLL_CTL_MOD | EPOLL_CTL_DEL, _) if !known => Err(libc::ENOENT),
                (_, Some(i)) => {
                    ep.interest.insert(fd, i);
                    Ok(())
                }
                (_, None) => {
                    ep.interest.remove(&fd);
                    Ok(())
                }
            }
        })
    }

    /// `epoll_wait`: up to `max` ready events. `timeout_ms` < 0 waits for ever, 0 not at
    /// all; otherwise the call returns none once that much virtual time has passed.
    pub fn epoll_wait(
        &self,
        epfd: c_int,
        max: usize,
        timeout_ms: c_int,
    ) -> Result<Vec<Ready>, c_int> {
        if max == 0 {
            return Err(libc::EINVAL);
        }
        let mut until: Option<Option<u64>> = None;
        self.call(|w| {
            if !w.epolls.contains_key(&epfd) {
                return Step::Done(Err(if w.fds.contains_key(&epfd) {
                    libc::EINVAL
                } else {
                    libc::EBADF
                }));
            }
            let ready = match w.epoll_ready(epfd, max) {
                Ok(r) => r,
                Err(e) => return Step::Done(Err(e)),
            };
            if !ready.is_empty() || timeout_ms == 0 {
                return Step::Done(Ok(ready));
            }
            timed_wait(&mut until, w.now, timeout_ms, Vec::new())
        })
    }

    /// `EOPNOTSUPP`, saying why unless quiet.
    fn refuse(&self, what: &str) -> c_int {
        if !self.quiet() {
            eprintln!("synack-packetdrill: unsupported by synack: {what}");
        }
        libc::EOPNOTSUPP
    }
}
