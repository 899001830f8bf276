//! epoll(7) over the socket layer's readiness: the one set of rules behind every epoll instance
//! handed out, by the script runner and by the packetdrill library alike. It holds the
//! interest lists, which descriptor sits on an instance's ready list, level- and
//! edge-triggered reporting (`EPOLLET`), `EPOLLONESHOT`, and the rule that a closed
//! descriptor leaves every interest list it was on.
//!
//! Descriptors are named as the caller's user names them (a script's numbers, the library's
//! own); the caller says which of the [`Stack`]'s sockets each one is when it registers it.
//! An epoll instance inside another is not supported and says so.
//!
//! The ready list follows Linux's epoll: a registered descriptor is put on it when added or
//! changed while ready, and when the socket layer reports a wake-up the registration listens
//! for (new data, freed space for a writer that ran out, a state change; see
//! [`synack_socket::Wakeups`]). A wait looks at the listed descriptors and reports each one
//! ready with all its ready events. Linux puts a level-triggered descriptor back on the list
//! after each report, so it is always looked at; an edge-triggered one leaves the list once
//! reported, until its next wake-up, and so does any descriptor found not ready when looked at.

use std::collections::BTreeMap;

use crate::errno::Errno;

use super::consts::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};
use super::{SockError, SockResult, Stack};

pub const EPOLL_CTL_ADD: i32 = 1;
pub const EPOLL_CTL_DEL: i32 = 2;
pub const EPOLL_CTL_MOD: i32 = 3;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;

/// Events a wait reports whether asked for or not (epoll_ctl(2)).
const ALWAYS: u32 = (POLLERR | POLLHUP) as u32;
/// The events that are readiness; the bits above them are modes (`EPOLLET`, ...).
const READINESS: u32 = 0xffff;

/// What `epoll_ctl` registers and `epoll_wait` reports: `struct epoll_event`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EpollEvent {
    pub events: u32,
    /// Handed back untouched (`epoll_data_t`).
    pub data: u64,
}

/// One descriptor of an interest list.
#[derive(Clone, Copy, Debug)]
struct Interest {
    /// The stack's socket behind the descriptor.
    socket: i32,
    event: EpollEvent,
    /// `EPOLLONESHOT` after it fired: silent until `EPOLL_CTL_MOD` re-arms it.
    disarmed: bool,
    /// On the ready list: a wait looks at it.
    listed: bool,
}

impl Interest {
    /// Whether a wait looks at it now.
    fn looked_at(&self) -> bool {
        !self.disarmed && (self.listed || self.event.events & EPOLLET == 0)
    }
}

/// One epoll instance: its interest list, by the caller's descriptor numbers.
#[derive(Clone, Debug, Default)]
struct Instance {
    interest: BTreeMap<i32, Interest>,
}

/// Every epoll instance of one stack, by the caller's number for each.
#[derive(Clone, Debug, Default)]
pub struct Epolls {
    instances: BTreeMap<i32, Instance>,
}

impl Epolls {
    pub fn new() -> Epolls {
        Epolls::default()
    }

    /// A new, empty instance named `epfd` (a number the caller has not handed out otherwise).
    pub fn create(&mut self, epfd: i32) {
        self.instances.insert(epfd, Instance::default());
    }

    /// Whether `fd` names an epoll instance.
    pub fn contains(&self, fd: i32) -> bool {
        self.instances.contains_key(&fd)
    }

    /// Descriptor `fd` was closed. An epoll instance ends (`true`); any other descriptor
    /// leaves every interest list it was on, as Linux takes a file out of every epoll set
    /// when its last reference closes, so a number reused later starts unregistered.
    pub fn close(&mut self, fd: i32) -> bool {
        if self.instances.remove(&fd).is_some() {
            return true;
        }
        for ep in self.instances.values_mut() {
            ep.interest.remove(&fd);
        }
        false
    }

    /// `epoll_ctl(epfd, op, fd, event)`. `socket` gives the stack's socket behind one of the
    /// caller's descriptors (`None` for a number that names no socket); `event` is `None`
    /// when the caller passed none, which only `EPOLL_CTL_DEL` allows.
    pub fn ctl(
        &mut self,
        stack: &mut Stack,
        epfd: i32,
        op: i32,
        fd: i32,
        socket: impl Fn(i32) -> Option<i32>,
        event: Option<EpollEvent>,
    ) -> SockResult<()> {
        let socket = |fd: i32| socket(fd).filter(|s| stack.state(*s).is_ok());
        let target = socket(fd);
        let known = |fd: i32| self.contains(fd) || socket(fd).is_some();
        if !known(epfd) || !known(fd) {
            return Err(Errno::EBADF.into());
        }
        // A socket is a descriptor, just not an epoll one; nor may an instance watch itself.
        if !self.contains(epfd) || fd == epfd {
            return Err(Errno::EINVAL.into());
        }
        let Some(target) = target else {
            return Err(SockError::Unsupported(
                "nested epoll (an epoll instance inside another)".into(),
            ));
        };
        let event = match (op, event) {
            (EPOLL_CTL_DEL, _) => None,
            (EPOLL_CTL_ADD | EPOLL_CTL_MOD, None) => return Err(Errno::EFAULT.into()),
            (EPOLL_CTL_ADD | EPOLL_CTL_MOD, Some(e)) => Some(e),
            _ => return Err(Errno::EINVAL.into()),
        };
        // Wake-ups from before this change are no news to the registration it makes.
        self.collect_wakeups(stack);
        let ep = self.instances.get_mut(&epfd).ok_or(Errno::EBADF)?;
        let known = ep.interest.contains_key(&fd);
        match (op, event) {
            (EPOLL_CTL_ADD, _) if known => Err(Errno::EEXIST.into()),
            (EPOLL_CTL_MOD | EPOLL_CTL_DEL, _) if !known => Err(Errno::ENOENT.into()),
            (_, Some(event)) => {
                // Added or changed while ready: on the ready list at once.
                let listed = ready_events(stack, target, event.events) != 0;
                ep.interest.insert(
                    fd,
                    Interest {
                        socket: target,
                        event,
                        disarmed: false,
                        listed,
                    },
                );
                Ok(())
            }
            (_, None) => {
                ep.interest.remove(&fd);
                Ok(())
            }
        }
    }

    /// One look at `epfd`'s ready list: the events of up to `max` ready descriptors, in
    /// descriptor order, each with its data; `EPOLLONESHOT` ones are disarmed as they are
    /// reported. Empty when none is ready: the caller waits for a change or its timeout.
    pub fn wait(
        &mut self,
        stack: &mut Stack,
        epfd: i32,
        max: usize,
    ) -> SockResult<Vec<EpollEvent>> {
        if max == 0 {
            return Err(Errno::EINVAL.into());
        }
        let ready = self.look(stack, epfd)?;
        let ep = self.instances.get_mut(&epfd).ok_or(Errno::EBADF)?;
        let mut out = Vec::new();
        for (fd, events) in ready.into_iter().take(max) {
            let Some(i) = ep.interest.get_mut(&fd) else {
                continue;
            };
            out.push(EpollEvent {
                events,
                data: i.event.data,
            });
            i.disarmed |= i.event.events & EPOLLONESHOT != 0;
            i.listed &= i.event.events & EPOLLET == 0;
        }
        Ok(out)
    }

    /// What `poll` reports for an epoll instance: readable while a wait would report
    /// something (Linux's `ep_eventpoll_poll`); `POLLNVAL` for a number naming none.
    pub fn poll_events(&mut self, stack: &mut Stack, epfd: i32) -> i16 {
        match self.look(stack, epfd) {
            Ok(ready) if !ready.is_empty() => POLLIN | POLLRDNORM,
            Ok(_) => 0,
            Err(_) => super::consts::POLLNVAL,
        }
    }

    /// The descriptors of `epfd` a wait looks at that are ready now, with their events; those
    /// found not ready leave the ready list until a wake-up (Linux's `ep_send_events`).
    fn look(&mut self, stack: &mut Stack, epfd: i32) -> SockResult<Vec<(i32, u32)>> {
        if !self.contains(epfd) {
            return Err(Errno::EBADF.into());
        }
        self.collect_wakeups(stack);
        let ep = self.instances.get_mut(&epfd).ok_or(Errno::EBADF)?;
        let mut ready = Vec::new();
        for (&fd, i) in ep.interest.iter_mut().filter(|(_, i)| i.looked_at()) {
            let got = ready_events(stack, i.socket, i.event.events);
            if got == 0 {
                i.listed = false;
            } else {
                ready.push((fd, got));
            }
        }
        Ok(ready)
    }

    /// Puts on every instance's ready list the descriptors woken in a way they listen for.
    fn collect_wakeups(&mut self, stack: &mut Stack) {
        let read = (POLLIN | POLLRDNORM | POLLPRI) as u32;
        let write = (POLLOUT | POLLWRNORM) as u32;
        for socket in stack.fds() {
            let Ok(w) = stack.take_wakeups(socket) else {
                continue;
            };
            if w.is_empty() {
                continue;
            }
            for ep in self.instances.values_mut() {
                for i in ep.interest.values_mut().filter(|i| i.socket == socket) {
                    let events = i.event.events;
                    i.listed |= w.any
                        || (w.readable && events & read != 0)
                        || (w.writable && events & write != 0);
                }
            }
        }
    }
}

/// The events of `wanted` (and those always reported) the socket has now. A writer finding
/// no room makes the next freed space a wake-up, as Linux's poll sets `SOCK_NOSPACE`.
fn ready_events(stack: &mut Stack, socket: i32, wanted: u32) -> u32 {
    let now = u32::from(stack.poll_events(socket) as u16);
    if wanted & POLLOUT as u32 != 0 && now & POLLOUT as u32 == 0 {
        let _ = stack.want_write_space(socket);
    }
    now & (wanted | ALWAYS) & READINESS
}
