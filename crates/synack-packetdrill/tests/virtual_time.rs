//! The virtual clock and blocking rules seen from Rust, where the outbound queue can be
//! inspected without `netdev_receive` moving the clock.

use std::net::SocketAddr;

use synack_packetdrill::Instance;
use synack_packetdrill::flags;
use synack_script::ast::{Flags, TcpOpt};
use synack_script::packet::{Segment, build, read};

const LOCAL: &str = "192.168.0.1:8080";
const REMOTE: &str = "192.0.2.1:40000";

fn instance(flags: &str) -> Instance {
    Instance::new(flags::parse(flags).expect("flags"))
}

fn seg(flags: Flags, seq: u32, ack: u32, options: Vec<TcpOpt>) -> Vec<u8> {
    let s = Segment {
        src: REMOTE.parse().unwrap(),
        dst: LOCAL.parse().unwrap(),
        flags,
        seq,
        ack,
        win: 65535,
        urg: 0,
        options,
        payload_len: 0,
    };
    build(&s, &[]).unwrap()
}

/// Listens, completes a handshake from REMOTE and accepts: (connection fd, our ISS).
fn open(i: &Instance) -> (i32, u32) {
    let l = i.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    i.bind(l, LOCAL.parse::<SocketAddr>().unwrap()).unwrap();
    i.listen(l, 4).unwrap();
    let syn = Flags {
        syn: true,
        ..Flags::default()
    };
    i.inject(&seg(
        syn,
        100,
        0,
        vec![TcpOpt::Mss(1460), TcpOpt::Nop, TcpOpt::WScale(7)],
    ))
    .unwrap();
    let synack = read(&i.next_outbound(65535).unwrap().unwrap().bytes).unwrap();
    assert!(synack.flags.syn && synack.flags.ack && synack.ack == 101);
    let ack = Flags {
        ack: true,
        ..Flags::default()
    };
    i.inject(&seg(ack, 101, synack.seq.wrapping_add(1), vec![]))
        .unwrap();
    let (fd, peer) = i.accept(l).unwrap();
    assert_eq!(peer, REMOTE.parse::<SocketAddr>().unwrap());
    (fd, synack.seq)
}

#[test]
fn a_retransmission_is_sent_when_the_clock_reaches_its_deadline_not_before() {
    let i = instance("local=192.168.0.1");
    let (fd, iss) = open(&i);
    assert_eq!(i.write(fd, b"abc", false, false), Ok(3));
    let first = i.next_outbound(65535).unwrap().unwrap();
    let sent = first.at_us;
    assert_eq!(read(&first.bytes).unwrap().seq, iss.wrapping_add(1));
    assert_eq!(i.peek(), Ok((0, sent)));

    // The RTO is the 200 ms floor (the handshake's RTT sample was 0 µs of virtual time).
    i.sleep(199_999).unwrap();
    assert_eq!(i.peek(), Ok((0, sent + 199_999)), "sent before the RTO");
    i.sleep(1).unwrap();
    assert_eq!(i.peek(), Ok((1, sent + 200_000)));
    let again = i.next_outbound(65535).unwrap().unwrap();
    assert_eq!(again.at_us, sent + 200_000);
    let s = read(&again.bytes).unwrap();
    assert_eq!((s.seq, s.payload_len), (iss.wrapping_add(1), 3));
}

#[test]
fn timers_fire_at_their_own_deadlines_inside_one_long_sleep() {
    let i = instance("local=192.168.0.1");
    let (fd, _) = open(&i);
    i.write(fd, b"x", false, false).unwrap();
    let sent = i.next_outbound(65535).unwrap().unwrap().at_us;
    // One sleep across three RTOs (200, 400, 800 ms of backoff): three retransmissions,
    // each stamped with its own deadline.
    i.sleep(1_500_000).unwrap();
    let at: Vec<u64> = std::iter::from_fn(|| {
        (i.peek().unwrap().0 > 0).then(|| i.next_outbound(65535).unwrap().unwrap().at_us - sent)
    })
    .collect();
    assert_eq!(at, vec![200_000, 600_000, 1_400_000]);
}

#[test]
fn gettimeofday_moves_the_clock_by_the_tick() {
    let i = instance("tick_us=7");
    let a = i.now_ticking().unwrap();
    let b = i.now_ticking().unwrap();
    assert_eq!((a, b), (7, 14));
    i.sleep(1000).unwrap();
    assert_eq!(i.now_ticking(), Ok(1021));
}

#[test]
fn a_call_that_could_never_return_on_the_main_thread_fails_instead_of_hanging() {
    let i = instance("local=192.168.0.1");
    let l = i.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    i.bind(l, LOCAL.parse::<SocketAddr>().unwrap()).unwrap();
    i.listen(l, 4).unwrap();
    // Nothing scheduled, nobody else to inject a SYN: Linux would sleep for ever.
    assert_eq!(i.accept(l).map(|_| ()), Err(libc::EDEADLK));
    // A non-blocking listener just says EAGAIN.
    let nl = i
        .socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)
        .unwrap();
    i.bind(nl, "192.168.0.1:8081".parse::<SocketAddr>().unwrap())
        .unwrap();
    i.listen(nl, 4).unwrap();
    assert_eq!(i.accept(nl).map(|_| ()), Err(libc::EAGAIN));
}

#[test]
fn bad_flags_make_every_call_fail() {
    let i = Instance::broken("so_flags: unknown key 'x'".into());
    assert_eq!(
        i.socket(libc::AF_INET, libc::SOCK_STREAM, 0),
        Err(libc::EINVAL)
    );
    assert_eq!(i.now_ticking(), Err(libc::EINVAL));
}
