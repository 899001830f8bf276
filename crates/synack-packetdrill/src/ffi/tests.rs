//! The guard around every hook and the init function, called the way packetdrill calls them.

use super::*;

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[test]
fn a_panic_becomes_minus_one_and_eio() {
    set_errno(0);
    let r: c_int = guard(-1, || panic!("deliberate"));
    assert_eq!((r, errno()), (-1, libc::EIO));
}

#[test]
fn errors_set_errno_and_successes_leave_it() {
    set_errno(0);
    assert_eq!(guard(-1, || Err(libc::EBADF)), -1);
    assert_eq!(errno(), libc::EBADF);
    assert_eq!(guard(-1, || Ok(7)), 7);
    assert_eq!(errno(), libc::EBADF);
}

#[test]
fn init_fills_every_slot_and_survives_null_arguments() {
    let mut ifc = std::mem::MaybeUninit::<PacketdrillInterface>::zeroed();
    // SAFETY: no flags, and `ifc` is writable memory for one interface table.
    unsafe { packetdrill_interface_init(ptr::null(), ifc.as_mut_ptr()) };
    // SAFETY: init wrote every field (a table of pointers, for which zeroes are valid too).
    let ifc = unsafe { ifc.assume_init() };
    assert!(!ifc.userdata.is_null());
    // SAFETY: the table is `#[repr(C)]`: `userdata` then only function pointers, each the
    // size of a pointer, so the bytes after `userdata` are that many pointers.
    let slots = unsafe {
        std::slice::from_raw_parts(
            (&raw const ifc.free).cast::<*const c_void>(),
            std::mem::size_of::<PacketdrillInterface>() / std::mem::size_of::<usize>() - 1,
        )
    };
    assert!(slots.iter().all(|p| !p.is_null()));
    // SAFETY: the hook init installed, with the userdata it made.
    let fd = unsafe { (ifc.socket.unwrap())(ifc.userdata, libc::AF_INET, libc::SOCK_STREAM, 0) };
    // A real descriptor of the library's own, not a socket (see crate::fds).
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: `st` is writable memory for one `stat`.
    assert_eq!(unsafe { libc::fstat(fd, st.as_mut_ptr()) }, 0);
    assert_ne!(
        // SAFETY: fstat succeeded, so it filled `st`.
        unsafe { st.assume_init() }.st_mode & libc::S_IFMT,
        libc::S_IFSOCK
    );
    // SAFETY: the hook init installed, with the userdata it made.
    assert_eq!(unsafe { (ifc.close.unwrap())(ifc.userdata, fd) }, 0);
    // SAFETY: frees the userdata once; it is not used after.
    unsafe { (ifc.free.unwrap())(ifc.userdata) };
    // SAFETY: null arguments are part of init's contract (it does nothing).
    unsafe { packetdrill_interface_init(ptr::null(), ptr::null_mut()) };
}
