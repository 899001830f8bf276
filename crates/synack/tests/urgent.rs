//! Urgent data through the runtime's streams: between two synack stacks on an in-process
//! link, and against the Linux kernel's TCP over TUN in a network namespace (those skip
//! without root, and fail instead under `SYNACK_REQUIRE_NETNS=1`).

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use synack::Stack;
use synack::device::{Link, LinkConfig};
use synack::net::TcpListener;
use synack::netns::TunNetns;

mod common;
#[path = "common/pair.rs"]
mod pair;

use common::{CLIENT, SERVER, config};
use pair::connected;

/// Reads until `n` bytes came, each read as the stream returns it.
fn read_exactly(mut r: impl Read, n: usize) -> Vec<u8> {
    let mut out = vec![0; n];
    r.read_exact(&mut out).unwrap();
    out
}

#[test]
fn the_urgent_byte_is_read_out_of_band_and_the_ordinary_read_stops_at_the_mark() {
    let (c, s, _stacks) = connected(80);
    let err = s.recv_out_of_band().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "no urgent data yet");
    assert!(!s.at_mark().unwrap());
    assert!(!s.out_of_band_inline().unwrap());

    assert_eq!(c.send_out_of_band(b"abc").unwrap(), 3);
    (&c).write_all(b"de").unwrap();

    // The read asks for more than "ab" but stops at the mark: "c" is held apart.
    let mut buf = [0; 16];
    let mut got = Vec::new();
    while got.len() < 2 {
        let n = (&s).read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"ab");
    assert!(s.at_mark().unwrap());
    assert_eq!(s.peek_out_of_band().unwrap(), Some(b'c'));
    assert_eq!(s.recv_out_of_band().unwrap(), Some(b'c'));
    let err = s.recv_out_of_band().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "the byte was taken");

    assert_eq!(read_exactly(&s, 2), b"de");
    assert!(!s.at_mark().unwrap());
}

#[test]
fn inline_mode_leaves_the_urgent_byte_in_the_stream() {
    let (c, s, _stacks) = connected(81);
    s.set_out_of_band_inline(true).unwrap();
    assert!(s.out_of_band_inline().unwrap());
    assert_eq!(c.send_out_of_band(b"abc").unwrap(), 3);
    (&c).write_all(b"de").unwrap();
    assert_eq!(read_exactly(&s, 5), b"abcde");
    let err = s.recv_out_of_band().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_streams_send_and_read_urgent_data() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (a, b) = Link::pair(LinkConfig::default()).unwrap();
    let client = Stack::new_tokio(a, config(CLIENT)).unwrap();
    let server = Stack::new_tokio(b, config(SERVER)).unwrap();
    let listener = synack::tokio::TcpListener::bind(&server, SocketAddr::from((SERVER, 82)))
        .await
        .unwrap();
    let mut c = synack::tokio::TcpStream::connect(&client, (SERVER, 82))
        .await
        .unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    assert_eq!(c.send_out_of_band(b"xy").await.unwrap(), 2);
    c.write_all(b"z").await.unwrap();
    let mut buf = [0; 8];
    assert_eq!(
        s.read(&mut buf).await.unwrap(),
        1,
        "the read stops at the mark"
    );
    assert_eq!(buf[0], b'x');
    assert!(s.at_mark().unwrap());
    assert_eq!(s.recv_out_of_band().unwrap(), Some(b'y'));
    s.read_exact(&mut buf[..1]).await.unwrap();
    assert_eq!(buf[0], b'z');
    assert!(!s.at_mark().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_split_halves_send_and_read_urgent_data() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (a, b) = Link::pair(LinkConfig::default()).unwrap();
    let client = Stack::new_tokio(a, config(CLIENT)).unwrap();
    let server = Stack::new_tokio(b, config(SERVER)).unwrap();
    let listener = synack::tokio::TcpListener::bind(&server, SocketAddr::from((SERVER, 83)))
        .await
        .unwrap();
    let c = synack::tokio::TcpStream::connect(&client, (SERVER, 83))
        .await
        .unwrap();
    let (mut s, _) = listener.accept().await.unwrap();
    let (mut cr, mut cw) = c.into_split();
    assert_eq!(cw.send_out_of_band(b"xy").await.unwrap(), 2);
    cw.write_all(b"z").await.unwrap();
    let (mut r, w) = s.split();
    let mut buf = [0; 8];
    assert_eq!(
        r.read(&mut buf).await.unwrap(),
        1,
        "the read stops at the mark"
    );
    assert_eq!(buf[0], b'x');
    assert!(r.at_mark().unwrap());
    assert_eq!(r.peek_out_of_band().unwrap(), Some(b'y'));
    assert_eq!(r.recv_out_of_band().unwrap(), Some(b'y'));
    assert_eq!(
        r.recv_out_of_band().unwrap_err().kind(),
        ErrorKind::InvalidInput,
        "the byte was taken"
    );
    r.read_exact(&mut buf[..1]).await.unwrap();
    assert_eq!(buf[0], b'z');
    assert!(!r.at_mark().unwrap());
    // The borrowed write half sends urgent data back; the owned read half takes it.
    assert_eq!(w.send_out_of_band(b"pq").await.unwrap(), 2);
    assert_eq!(cr.read(&mut buf).await.unwrap(), 1);
    assert_eq!(buf[0], b'p');
    assert!(cr.at_mark().unwrap());
    assert_eq!(cr.recv_out_of_band().unwrap(), Some(b'q'));
}

/// A namespace with a TUN interface and a stack on it, or `None` (skipped) without root.
fn kernel_setup(test: &str) -> Option<(TunNetns, Stack)> {
    let required = std::env::var("SYNACK_REQUIRE_NETNS").as_deref() == Ok("1");
    let made = match synack::netns::unavailable() {
        Some(why) => Err(why),
        None => TunNetns::new(1500).map_err(|e| e.to_string()),
    };
    let (ns, tun) = match made {
        Ok(x) => x,
        Err(why) => {
            assert!(
                !required,
                "{test}: SYNACK_REQUIRE_NETNS=1 but no network namespace: {why}"
            );
            eprintln!("SKIPPED {test}: needs root and a network namespace: {why}");
            return None;
        }
    };
    let stack = Stack::new(tun, config(ns.synack.into())).unwrap();
    Some((ns, stack))
}

#[test]
fn urgent_data_both_ways_with_the_kernel() {
    let Some((ns, stack)) = kernel_setup("urgent_data_both_ways_with_the_kernel") else {
        return;
    };
    let listener = TcpListener::bind(&stack, (ns.synack, 8081)).unwrap();
    let target = SocketAddr::from((ns.synack, 8081));
    let kernel = ns
        .netns
        .spawn(move || {
            let s = std::net::TcpStream::connect(target).unwrap();
            let fd = s.as_raw_fd();
            // The kernel's urgent data: "abc" with "c" out of band, then "de".
            // SAFETY: `fd` is the open socket `s` owns; the buffer is valid for its length.
            let sent = unsafe { libc::send(fd, b"abc".as_ptr().cast(), 3, libc::MSG_OOB) };
            assert_eq!(sent, 3);
            (&s).write_all(b"de").unwrap();
            // synack's urgent byte: the kernel's read stops at the mark too.
            let before = read_exactly(&s, 1);
            let mut byte = 0u8;
            // SAFETY: as above, into one byte of `byte`.
            let got = unsafe { libc::recv(fd, (&mut byte as *mut u8).cast(), 1, libc::MSG_OOB) };
            assert_eq!(got, 1, "recv(MSG_OOB): {}", std::io::Error::last_os_error());
            (before, byte, read_exactly(&s, 1))
        })
        .unwrap();
    let (s, _) = listener.accept().unwrap();
    assert_eq!(read_exactly(&s, 2), b"ab");
    assert!(s.at_mark().unwrap());
    assert_eq!(s.recv_out_of_band().unwrap(), Some(b'c'));
    assert_eq!(read_exactly(&s, 2), b"de");
    assert!(!s.at_mark().unwrap());

    assert_eq!(s.send_out_of_band(b"xy").unwrap(), 2);
    (&s).write_all(b"z").unwrap();
    let (before, byte, after) = kernel.join().unwrap().unwrap();
    assert_eq!(before, b"x");
    assert_eq!(byte, b'y');
    assert_eq!(after, b"z");
}
