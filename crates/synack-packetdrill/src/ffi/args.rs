//! A caller's buffers and `iovec` arrays, checked the way Linux checks them before any byte
//! is touched: a null pointer with a non-zero length is `EFAULT`, a count or total out of
//! range is `EINVAL`.

use std::ptr;

use libc::{c_int, c_void, iovec};

/// `IOV_MAX` on Linux.
const IOV_MAX: c_int = 1024;

/// A caller's input buffer.
///
/// # Safety
/// `p`, when not null, must point to `n` readable bytes that stay valid for `'a`.
pub(super) unsafe fn in_buf<'a>(p: *const c_void, n: usize) -> Result<&'a [u8], c_int> {
    if n == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(libc::EFAULT);
    }
    if n > isize::MAX as usize {
        return Err(libc::EINVAL);
    }
    // SAFETY: non-null, length bounded, validity per the contract.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) })
}

/// The `iovec` array of `readv`/`writev`/`sendmsg`/`recvmsg`, checked: a null base with a
/// non-zero length is `EFAULT`, a count out of range or a total that overflows `EINVAL`.
///
/// # Safety
/// `iov`, when not null, must point to `cnt` readable `iovec`s.
pub(super) unsafe fn iovecs<'a>(
    iov: *const iovec,
    cnt: c_int,
) -> Result<(&'a [iovec], usize), c_int> {
    if !(0..=IOV_MAX).contains(&cnt) {
        return Err(libc::EINVAL);
    }
    if cnt == 0 {
        return Ok((&[], 0));
    }
    if iov.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: non-null, count bounded, validity per the contract.
    let v = unsafe { std::slice::from_raw_parts(iov, cnt as usize) };
    let mut total = 0usize;
    for e in v {
        if e.iov_len > 0 && e.iov_base.is_null() {
            return Err(libc::EFAULT);
        }
        total = total
            .checked_add(e.iov_len)
            .filter(|t| *t <= isize::MAX as usize)
            .ok_or(libc::EINVAL)?;
    }
    Ok((v, total))
}

/// Gathers what `iov` points to.
///
/// # Safety
/// As [`iovecs`], and every base points to its length of readable bytes.
pub(super) unsafe fn gather(iov: &[iovec], total: usize) -> Vec<u8> {
    let mut data = Vec::with_capacity(total);
    for e in iov {
        // SAFETY: checked in `iovecs`; validity per the contract.
        data.extend_from_slice(unsafe { in_buf(e.iov_base, e.iov_len) }.unwrap_or(&[]));
    }
    data
}

/// Scatters `data` over `iov`.
///
/// # Safety
/// As [`iovecs`], and every base points to its length of writable bytes.
pub(super) unsafe fn scatter(iov: &[iovec], data: &[u8]) {
    let mut rest = data;
    for e in iov {
        if rest.is_empty() {
            break;
        }
        let n = e.iov_len.min(rest.len());
        // SAFETY: n <= iov_len and the base is non-null when iov_len > 0 (checked).
        unsafe { ptr::copy_nonoverlapping(rest.as_ptr(), e.iov_base.cast::<u8>(), n) };
        rest = &rest[n..];
    }
}
