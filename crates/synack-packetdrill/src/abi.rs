//! The table of function pointers packetdrill's shared-object mode calls, laid out exactly as
//! `struct packetdrill_interface` in packetdrill's `packetdrill.h`: the `userdata` pointer,
//! then one pointer per hook, in the header's order. packetdrill `calloc`s the struct,
//! hands it to `packetdrill_interface_init`, and from then on calls through it.
//!
//! Every field is an `Option` of a function pointer so the layout is a nullable C pointer;
//! [`crate::ffi::packetdrill_interface_init`] fills all of them.
//!
//! ## `fcntl` and `ioctl` are variadic in C
//!
//! The header declares `int (*fcntl)(void *, int fd, int cmd, ...)` and
//! `int (*ioctl)(void *, int fd, unsigned long request, ...)`. Stable Rust cannot define a
//! variadic function, so ours take one fixed trailing argument (`int` for `fcntl`, a pointer
//! for `ioctl`). That is sound on the two calling conventions this crate targets, because on
//! both a variadic caller places its arguments exactly where a non-variadic callee reads them:
//!
//! - SysV x86-64: integer and pointer arguments, named or variadic, go in rdi, rsi, rdx, rcx,
//!   r8, r9 in order. The only extra the variadic caller does is put the number of vector
//!   registers used in `al`, which a non-variadic callee simply ignores. So `arg` is read from
//!   rcx, where packetdrill's `fcntl(ud, fd, cmd, arg)` put it (an `int` is read from ecx, the
//!   low half, which is all the caller defines).
//! - AArch64 Linux (AAPCS64): variadic arguments are passed like named ones, in x0-x7 while
//!   registers last. (Apple's arm64 ABI differs: it passes variadic arguments on the stack;
//!   this crate does not claim to work there.)
//!
//! packetdrill calls `fcntl` with two arguments for `F_GETFL`; the fixed third parameter then
//! holds whatever the register held, and `F_GETFL` never reads it. A two-argument `ioctl` is
//! only safe for requests that take no argument: a script that calls `ioctl(fd, FIONREAD)`
//! without its `[value]` would hand us garbage as the pointer, and no callee can tell.

use libc::{
    c_int, c_longlong, c_uint, c_ulong, c_void, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr,
    socklen_t, ssize_t, timeval, useconds_t,
};

/// `struct packetdrill_interface`, field for field.
#[repr(C)]
pub struct PacketdrillInterface {
    pub userdata: *mut c_void,
    pub free: Option<unsafe extern "C" fn(*mut c_void)>,
    pub socket: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int) -> c_int>,
    pub bind: Option<unsafe extern "C" fn(*mut c_void, c_int, *const sockaddr, socklen_t) -> c_int>,
    pub listen: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    pub accept:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *mut sockaddr, *mut socklen_t) -> c_int>,
    pub connect:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const sockaddr, socklen_t) -> c_int>,
    pub read: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, size_t) -> ssize_t>,
    pub readv: Option<unsafe extern "C" fn(*mut c_void, c_int, *const iovec, c_int) -> ssize_t>,
    pub recv:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, size_t, c_int) -> ssize_t>,
    pub recvfrom: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *mut c_void,
            size_t,
            c_int,
            *mut sockaddr,
            *mut socklen_t,
        ) -> ssize_t,
    >,
    pub recvmsg: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut msghdr, c_int) -> ssize_t>,
    pub write: Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_void, size_t) -> ssize_t>,
    pub writev: Option<unsafe extern "C" fn(*mut c_void, c_int, *const iovec, c_int) -> ssize_t>,
    pub send:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_void, size_t, c_int) -> ssize_t>,
    pub sendto: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const c_void,
            size_t,
            c_int,
            *const sockaddr,
            socklen_t,
        ) -> ssize_t,
    >,
    pub sendmsg: Option<unsafe extern "C" fn(*mut c_void, c_int, *const msghdr, c_int) -> ssize_t>,
    /// Variadic in C; see the module docs.
    pub fcntl: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int) -> c_int>,
    /// Variadic in C; see the module docs.
    pub ioctl: Option<unsafe extern "C" fn(*mut c_void, c_int, c_ulong, *mut c_void) -> c_int>,
    pub close: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub shutdown: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    pub getsockopt: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            c_int,
            c_int,
            *mut c_void,
            *mut socklen_t,
        ) -> c_int,
    >,
    pub setsockopt: Option<
        unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *const c_void, socklen_t) -> c_int,
    >,
    pub poll: Option<unsafe extern "C" fn(*mut c_void, *mut pollfd, nfds_t, c_int) -> c_int>,
    pub netdev_send: Option<unsafe extern "C" fn(*mut c_void, *const c_void, size_t) -> c_int>,
    pub netdev_receive: Option<
        unsafe extern "C" fn(*mut c_void, *mut c_void, *mut size_t, *mut c_longlong) -> c_int,
    >,
    pub usleep: Option<unsafe extern "C" fn(*mut c_void, useconds_t) -> c_int>,
    /// The second pointer is `struct timezone *`, which nobody reads.
    pub gettimeofday: Option<unsafe extern "C" fn(*mut c_void, *mut timeval, *mut c_void) -> c_int>,
    pub epoll_create: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    /// The last pointer is `struct epoll_event *` (see `crate::epoll`).
    pub epoll_ctl:
        Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *mut c_void) -> c_int>,
    pub epoll_wait:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, c_int, c_int) -> c_int>,
    pub pipe: Option<unsafe extern "C" fn(*mut c_void, *mut c_int) -> c_int>,
    /// `loff_t *` offsets.
    pub splice: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *mut i64,
            c_int,
            *mut i64,
            size_t,
            c_uint,
        ) -> c_int,
    >,
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::{offset_of, size_of};

    /// 33 pointer-sized slots, in the header's order: a field out of place would make
    /// packetdrill call the wrong hook.
    #[test]
    fn layout_is_one_pointer_per_slot_in_header_order() {
        let p = size_of::<*const c_void>();
        assert_eq!(size_of::<PacketdrillInterface>(), 33 * p);
        assert_eq!(offset_of!(PacketdrillInterface, userdata), 0);
        assert_eq!(offset_of!(PacketdrillInterface, socket), 2 * p);
        assert_eq!(offset_of!(PacketdrillInterface, fcntl), 17 * p);
        assert_eq!(offset_of!(PacketdrillInterface, ioctl), 18 * p);
        assert_eq!(offset_of!(PacketdrillInterface, poll), 23 * p);
        assert_eq!(offset_of!(PacketdrillInterface, netdev_send), 24 * p);
        assert_eq!(offset_of!(PacketdrillInterface, netdev_receive), 25 * p);
        assert_eq!(offset_of!(PacketdrillInterface, usleep), 26 * p);
        assert_eq!(offset_of!(PacketdrillInterface, gettimeofday), 27 * p);
        assert_eq!(offset_of!(PacketdrillInterface, splice), 32 * p);
    }
}
