//! `epoll_create`, `epoll_ctl` and `epoll_wait` (epoll(7)) through the library, over the
//! shared epoll rules of [`synack_script::socket::epoll`] (level- and edge-triggered,
//! `EPOLLONESHOT`, a closed descriptor leaving every interest list), which the script runner
//! uses too.
//!
//! An epoll instance is a descriptor of the library's own (an `eventfd`, as for sockets; see
//! [`crate::fds`]) naming an interest list of the library's socket descriptors.

use libc::c_int;
use synack_script::socket::epoll::EpollEvent;

use crate::calls::timed_wait;
use crate::fds;
use crate::instance::{Instance, Step, World, errno};

/// One event `epoll_wait` reports: `(events, data)`.
pub type Ready = (u32, u64);

impl World {
    /// The events `poll` reports for an epoll instance: readable while a wait would report
    /// something.
    pub fn epoll_poll_events(&mut self, epfd: c_int) -> i16 {
        self.epolls.poll_events(&mut self.stack, epfd)
    }

    /// `EINVAL` for a number naming a socket rather than an epoll instance, else `EBADF`.
    fn not_epoll(&self, fd: c_int) -> c_int {
        if self.fds.contains_key(&fd) {
            libc::EINVAL
        } else {
            libc::EBADF
        }
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
            w.epolls.create(fd);
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
        let event = event.map(|(events, data)| EpollEvent { events, data });
        self.simple(|w| {
            let fds = &w.fds;
            let socket = |fd: c_int| fds.get(&fd).copied();
            w.epolls
                .ctl(&mut w.stack, epfd, op, fd, socket, event)
                .map_err(|e| errno(e, self.quiet()))
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
            if !w.epolls.contains(epfd) {
                return Step::Done(Err(w.not_epoll(epfd)));
            }
            let ready = match w.epolls.wait(&mut w.stack, epfd, max) {
                Ok(r) => r,
                Err(e) => return Step::Done(Err(errno(e, self.quiet()))),
            };
            if !ready.is_empty() || timeout_ms == 0 {
                return Step::Done(Ok(ready.iter().map(|e| (e.events, e.data)).collect()));
            }
            timed_wait(&mut until, w.now, timeout_ms, Vec::new())
        })
    }
}
