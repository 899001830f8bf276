//! `struct sockaddr_in` / `sockaddr_in6` to and from [`SocketAddr`], checking every length
//! the way Linux does before touching memory.

use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ptr;

use libc::{c_int, sa_family_t, sockaddr, sockaddr_in, sockaddr_in6, socklen_t};

/// Reads the address a caller passed to `bind`/`connect`.
///
/// # Safety
/// `addr`, when not null, must point to `len` readable bytes.
pub unsafe fn read(addr: *const sockaddr, len: socklen_t) -> Result<SocketAddr, c_int> {
    if addr.is_null() {
        return Err(libc::EFAULT);
    }
    let len = len as usize;
    if len < size_of::<sa_family_t>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: at least the family is readable (checked above); the caller's buffer need not
    // be aligned for the struct, hence read_unaligned.
    let family = unsafe { ptr::read_unaligned(addr.cast::<sa_family_t>()) };
    match c_int::from(family) {
        libc::AF_INET => {
            if len < size_of::<sockaddr_in>() {
                return Err(libc::EINVAL);
            }
            // SAFETY: len covers a whole sockaddr_in.
            let sin = unsafe { ptr::read_unaligned(addr.cast::<sockaddr_in>()) };
            let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Ok(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            if len < size_of::<sockaddr_in6>() {
                return Err(libc::EINVAL);
            }
            // SAFETY: len covers a whole sockaddr_in6.
            let sin6 = unsafe { ptr::read_unaligned(addr.cast::<sockaddr_in6>()) };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            Ok(SocketAddr::V6(SocketAddrV6::new(
                ip,
                u16::from_be(sin6.sin6_port),
                sin6.sin6_flowinfo,
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(libc::EAFNOSUPPORT),
    }
}

/// Writes `addr` for `accept`/`recvfrom`: as much as `*len` allows, then `*len` = the full
/// size, as Linux's `move_addr_to_user` does. A null `out` asks for nothing.
///
/// # Safety
/// `out`, when not null, must point to `*len` writable bytes; `len` must be readable and
/// writable when `out` is not null.
pub unsafe fn write(
    addr: SocketAddr,
    out: *mut sockaddr,
    len: *mut socklen_t,
) -> Result<(), c_int> {
    if out.is_null() {
        return Ok(());
    }
    if len.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: checked non-null; the caller vouches it is valid.
    let room = unsafe { ptr::read_unaligned(len) };
    if (room as c_int) < 0 {
        return Err(libc::EINVAL);
    }
    let mut bytes = [0u8; size_of::<sockaddr_in6>()];
    let full = match addr {
        SocketAddr::V4(a) => {
            // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
            let mut sin: sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            let n = size_of::<sockaddr_in>();
            // SAFETY: copying n bytes of a local struct into a local buffer of at least n.
            unsafe {
                ptr::copy_nonoverlapping((&raw const sin).cast::<u8>(), bytes.as_mut_ptr(), n)
            };
            n
        }
        SocketAddr::V6(a) => {
            // SAFETY: as above.
            let mut sin6: sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            let n = size_of::<sockaddr_in6>();
            // SAFETY: as above.
            unsafe {
                ptr::copy_nonoverlapping((&raw const sin6).cast::<u8>(), bytes.as_mut_ptr(), n)
            };
            n
        }
    };
    let n = full.min(room as usize);
    // SAFETY: the caller's buffer holds `room` >= n bytes.
    unsafe {
        ptr::copy_nonoverlapping(bytes.as_ptr(), out.cast::<u8>(), n);
        ptr::write_unaligned(len, full as socklen_t);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_v4_and_v6() {
        for a in [
            "192.0.2.1:8080".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:443".parse().unwrap(),
        ] {
            let mut buf = [0u8; 64];
            let mut len = buf.len() as socklen_t;
            // SAFETY: `buf` has `len` writable bytes and `len` is a live local.
            unsafe { write(a, buf.as_mut_ptr().cast(), &mut len) }.unwrap();
            // SAFETY: `write` set `len` to at most the size of `buf`, all readable.
            let back = unsafe { read(buf.as_ptr().cast(), len) }.unwrap();
            assert_eq!(back, a);
        }
    }

    #[test]
    fn short_lengths_and_nulls_are_errors() {
        let a: SocketAddr = "192.0.2.1:80".parse().unwrap();
        let mut buf = [0u8; 64];
        let mut len = buf.len() as socklen_t;
        // SAFETY: `buf` has `len` writable bytes and `len` is a live local.
        unsafe { write(a, buf.as_mut_ptr().cast(), &mut len) }.unwrap();
        // SAFETY: 8 bytes within `buf`'s 64.
        assert_eq!(unsafe { read(buf.as_ptr().cast(), 8) }, Err(libc::EINVAL));
        // SAFETY: 1 byte within `buf`.
        assert_eq!(unsafe { read(buf.as_ptr().cast(), 1) }, Err(libc::EINVAL));
        // SAFETY: a null address is rejected before any access.
        assert_eq!(unsafe { read(ptr::null(), 16) }, Err(libc::EFAULT));
        buf[0] = 1; // AF_UNIX (little- or big-endian, the family is no longer 2)
        buf[1] = 0;
        assert_eq!(
            // SAFETY: 16 bytes within `buf`'s 64.
            unsafe { read(buf.as_ptr().cast(), 16) },
            Err(libc::EAFNOSUPPORT)
        );
        // A short output buffer is filled as far as it goes and told the real size.
        let mut small = [0u8; 4];
        let mut len = 4 as socklen_t;
        // SAFETY: `small` has the 4 writable bytes `len` says; `len` is a live local.
        unsafe { write(a, small.as_mut_ptr().cast(), &mut len) }.unwrap();
        assert_eq!(len as usize, size_of::<sockaddr_in>());
        assert_eq!(
            // SAFETY: a null `len` with a non-null buffer is rejected before any access.
            unsafe { write(a, small.as_mut_ptr().cast(), ptr::null_mut()) },
            Err(libc::EFAULT)
        );
    }
}
