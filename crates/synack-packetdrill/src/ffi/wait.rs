//! The hooks that wait for readiness: `poll`, and `epoll_create`/`epoll_ctl`/`epoll_wait`
//! over [`crate::epoll`].

use libc::{c_int, c_void, epoll_event, nfds_t, pollfd};

use super::hook;
use crate::calls::PollFd;

/// The most descriptors one `poll` may name (Linux's default `RLIMIT_NOFILE`).
const POLL_MAX: nfds_t = 1024;

/// The most events one `epoll_wait` may ask for (Linux's `EP_MAX_EVENTS`).
const EPOLL_MAX_EVENTS: c_int = (c_int::MAX as usize / size_of::<epoll_event>()) as c_int;

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_poll(
    ud: *mut c_void,
    fds: *mut pollfd,
    n: nfds_t,
    timeout: c_int,
) -> c_int {
    // SAFETY: `ud` and `fds` as the hooks' contract gives them: `fds` is null or points to
    // `n` live pollfds.
    unsafe {
        hook(ud, -1, |i| {
            if n > POLL_MAX {
                return Err(libc::EINVAL);
            }
            if n > 0 && fds.is_null() {
                return Err(libc::EFAULT);
            }
            let raw: &mut [pollfd] = if n == 0 {
                &mut []
            } else {
                std::slice::from_raw_parts_mut(fds, n as usize)
            };
            let mut v: Vec<PollFd> = raw
                .iter()
                .map(|p| PollFd {
                    fd: p.fd,
                    events: p.events,
                    revents: 0,
                })
                .collect();
            let r = i.poll(&mut v, timeout)?;
            for (p, q) in raw.iter_mut().zip(&v) {
                p.revents = q.revents;
            }
            Ok(r)
        })
    }
}

/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_epoll_create(ud: *mut c_void, size: c_int) -> c_int {
    // SAFETY: `ud` as the hooks' contract gives it.
    unsafe { hook(ud, -1, |i| i.epoll_create(size)) }
}

/// `ev` is a `struct epoll_event *`, which `EPOLL_CTL_DEL` may leave null.
///
/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_epoll_ctl(
    ud: *mut c_void,
    ep: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut c_void,
) -> c_int {
    // SAFETY: `ud` and `ev` as the hooks' contract gives them: `ev` is null or points to a
    // readable epoll_event.
    unsafe {
        hook(ud, -1, |i| {
            let event = (!ev.is_null()).then(|| {
                let e = std::ptr::read_unaligned(ev.cast::<epoll_event>());
                (e.events, e.u64)
            });
            i.epoll_ctl(ep, op, fd, event).map(|()| 0)
        })
    }
}

/// `ev` is a `struct epoll_event *` with room for `max` events.
///
/// # Safety
/// The hooks' contract (module documentation of `ffi`).
pub(super) unsafe extern "C" fn pd_epoll_wait(
    ud: *mut c_void,
    ep: c_int,
    ev: *mut c_void,
    max: c_int,
    timeout: c_int,
) -> c_int {
    // SAFETY: `ud` and `ev` as the hooks' contract gives them: `ev` is null or has room for
    // `max` epoll_events.
    unsafe {
        hook(ud, -1, |i| {
            if !(1..=EPOLL_MAX_EVENTS).contains(&max) {
                return Err(libc::EINVAL);
            }
            if ev.is_null() {
                return Err(libc::EFAULT);
            }
            let ready = i.epoll_wait(ep, max as usize, timeout)?;
            let out = ev.cast::<epoll_event>();
            for (k, &(events, data)) in ready.iter().enumerate() {
                std::ptr::write_unaligned(out.add(k), epoll_event { events, u64: data });
            }
            Ok(ready.len() as c_int)
        })
    }
}
