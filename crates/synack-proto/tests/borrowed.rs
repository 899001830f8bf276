//! SEND and RECEIVE on borrowed slices (`Host::send_with`, `Host::recv_with`): the same
//! stream, refusals, limits and wakeups as `send` and `recv`, with no byte lost or repeated
//! whichever mix of calls moves it.

mod common;

use common::host::*;
use proptest::prelude::*;
use synack_proto::host::{ConnId, HostConfig, HostError, HostEvent};
use synack_proto::{CallError, Config};

fn config(send_buffer: usize, recv_buffer: usize) -> HostConfig {
    HostConfig {
        secret: 0xb0_77e4,
        tcp: Config {
            send_buffer,
            send_buffer_max: send_buffer,
            recv_buffer,
            recv_buffer_max: recv_buffer,
            mss: 536,
            ..Config::default()
        },
        ..HostConfig::default()
    }
}

/// A connected pair: A's client connection and B's accepted one.
fn connected(send_buffer: usize, recv_buffer: usize) -> (Net, ConnId, ConnId) {
    let cfg = config(send_buffer, recv_buffer);
    let mut net = Net::new(cfg.clone(), HostConfig { secret: 7, ..cfg });
    let l = net.b.listen(addr("10.0.0.1:80"), 4).unwrap();
    let c = net
        .a
        .connect(net.now, addr("10.0.0.2:5000"), addr("10.0.0.1:80"))
        .unwrap();
    net.settle();
    let s = net.b.accept(l).unwrap();
    (net, c, s)
}

fn stream(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + i / 253) as u8).collect()
}

/// One user call of the proptest below; the size bounds what it offers or asks for.
#[derive(Clone, Debug)]
enum Call {
    Send(usize),
    SendWith(usize),
    Recv(usize),
    RecvWith(usize),
    /// Lets packets and timers (delayed ACKs, window updates) run for this many ms.
    Advance(u64),
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (1usize..3000).prop_map(Call::Send),
        (1usize..3000).prop_map(Call::SendWith),
        (1usize..3000).prop_map(Call::Recv),
        (1usize..3000).prop_map(Call::RecvWith),
        (0u64..300).prop_map(Call::Advance),
    ]
}

/// Runs `call`, moving bytes of `data` from `sent` on, appending what is read to `got`.
fn run(
    net: &mut Net,
    c: ConnId,
    s: ConnId,
    call: &Call,
    data: &[u8],
    sent: &mut usize,
    got: &mut Vec<u8>,
) {
    let left = &data[*sent..];
    match *call {
        Call::Send(n) => {
            if let Ok(k) = net.a.send(c, &left[..n.min(left.len())]) {
                *sent += k;
            }
        }
        Call::SendWith(n) => {
            let r = net.a.send_with(c, |room| {
                let k = room.len().min(n).min(left.len());
                room[..k].copy_from_slice(&left[..k]);
                k
            });
            if let Ok(k) = r {
                *sent += k;
            }
        }
        Call::Recv(n) => {
            let mut buf = vec![0u8; n];
            if let Ok(k) = net.b.recv(s, &mut buf) {
                got.extend_from_slice(&buf[..k]);
            }
        }
        Call::RecvWith(n) => {
            let r = net.b.recv_with(s, |bytes| {
                let k = bytes.len().min(n);
                got.extend_from_slice(&bytes[..k]);
                k
            });
            assert!(!matches!(r, Err(HostError::Call(CallError::BeyondLent))));
        }
        Call::Advance(ms) => net.advance(std::time::Duration::from_millis(ms)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Any mix of copying and borrowed calls, on small buffers that wrap and fill, delivers
    /// exactly the stream: nothing lost, nothing twice, nothing out of order.
    #[test]
    fn any_mix_of_copying_and_borrowed_calls_delivers_the_exact_stream(
        calls in proptest::collection::vec(call(), 1..120),
        len in 1usize..40_000,
        send_buffer in 600usize..5000,
        recv_buffer in 600usize..5000,
    ) {
        let (mut net, c, s) = connected(send_buffer, recv_buffer);
        let data = stream(len);
        let (mut sent, mut got) = (0, Vec::new());
        for call in &calls {
            run(&mut net, c, s, call, &data, &mut sent, &mut got);
            net.settle();
        }
        // Then alternate the four calls until everything has crossed.
        let finish = [Call::SendWith(1500), Call::Recv(700), Call::Send(900), Call::RecvWith(1100)];
        for round in 0..20_000 {
            if got.len() == len {
                break;
            }
            run(&mut net, c, s, &finish[round % 4], &data, &mut sent, &mut got);
            if round % 4 == 3 {
                net.advance(std::time::Duration::from_millis(50));
            }
        }
        prop_assert_eq!(sent, len);
        prop_assert!(got == data, "{} bytes read of {}, not the stream", got.len(), len);
    }
}

#[test]
fn a_closure_claiming_more_than_it_was_lent_is_refused_and_nothing_moves() {
    let (mut net, c, s) = connected(4000, 4000);
    let mut lent = 0;
    let r = net.a.send_with(c, |room| {
        lent = room.len();
        room.len() + 1
    });
    assert_eq!(r, Err(HostError::Call(CallError::BeyondLent)));
    assert_eq!(lent, 4000, "the whole free buffer is lent");
    assert_eq!(net.a.info(c).unwrap().send_buffered, 0);
    net.a.send(c, b"hello").unwrap();
    net.settle();
    let r = net.b.recv_with(s, |bytes| bytes.len() + 1);
    assert_eq!(r, Err(HostError::Call(CallError::BeyondLent)));
    let mut buf = [0u8; 16];
    assert_eq!(net.b.recv(s, &mut buf), Ok(5), "the bytes are still there");
    assert_eq!(&buf[..5], b"hello");
}

#[test]
fn borrowed_calls_refuse_as_the_copying_ones_do() {
    let (mut net, c, s) = connected(4000, 4000);
    let mut called = false;
    // Nothing to read yet: the closure is not called, and the answer is to wait.
    let r = net.b.recv_with(s, |_| {
        called = true;
        0
    });
    assert_eq!(r, Err(HostError::Call(CallError::WouldBlock)));
    assert!(!called);
    // The peer's FIN read: end of stream, as `recv` says it.
    net.a.shutdown(c).unwrap();
    net.settle();
    assert_eq!(
        net.b.recv_with(s, |_| unreachable!("nothing to lend")),
        Ok(0)
    );
    // Our own send side shut: closing.
    assert_eq!(
        net.a
            .send_with(c, |_| unreachable!("no room after shutdown")),
        Err(HostError::Call(CallError::Closing))
    );
    // A handle that was closed is stale.
    net.b.close(net.now, s).unwrap();
    assert_eq!(net.b.recv_with(s, |_| 0), Err(HostError::InvalidHandle));
    assert_eq!(net.b.send_with(s, |_| 0), Err(HostError::InvalidHandle));
}

#[test]
fn a_full_buffer_lends_no_room_and_a_writable_event_follows_once_it_drains() {
    let (mut net, c, s) = connected(2000, 2000);
    // The peer's window is 2000 bytes, the send buffer 2000 more: fill both.
    let mut written = 0;
    while let Ok(n) = net.a.send_with(c, |room| {
        room.fill(b'x');
        room.len()
    }) {
        written += n;
        net.settle();
        assert!(written <= 4000, "more taken than the buffers hold");
    }
    assert_eq!(written, 4000);
    events(&mut net.a);
    assert_eq!(
        net.a.send_with(c, |_| unreachable!("no room to lend")),
        Err(HostError::Call(CallError::WouldBlock))
    );
    let mut read = 0;
    while let Ok(n @ 1..) = net.b.recv_with(s, |bytes| bytes.len()) {
        read += n;
        net.settle();
        assert!(read <= 4000, "more read than was written");
    }
    assert!(read > 0);
    assert!(
        events(&mut net.a).contains(&HostEvent::Writable(c)),
        "the writer hears that room appeared"
    );
    assert!(net.a.send_with(c, |room| room.len()).unwrap() > 0);
}

#[test]
fn a_borrowed_read_stops_at_the_urgent_mark_and_steps_over_the_urgent_byte() {
    let (mut net, c, s) = connected(4000, 4000);
    net.a.send(c, b"abc").unwrap();
    net.a.send_urgent(c, b"!").unwrap();
    net.a.send(c, b"def").unwrap();
    net.settle();
    let mut got = Vec::new();
    let mut take = |bytes: &[u8]| {
        got.push(bytes.to_vec());
        bytes.len()
    };
    // A read never crosses the mark; the urgent byte itself is read apart (not in line).
    assert_eq!(net.b.recv_with(s, &mut take), Ok(3));
    assert_eq!(net.b.recv_with(s, &mut take), Ok(3));
    assert_eq!(got, [b"abc".to_vec(), b"def".to_vec()]);
}

#[test]
fn reading_in_place_reopens_the_window_as_a_copying_read_does() {
    let (mut net, c, s) = connected(8000, 2000);
    net.a.send(c, &stream(6000)).unwrap();
    net.settle();
    // The receive buffer is full and the peer was shown a zero window.
    assert_eq!(net.b.info(s).unwrap().recv_buffered, 2000);
    let mut got = Vec::new();
    while got.len() < 6000 {
        let n = net.b.recv_with(s, |bytes| {
            got.extend_from_slice(bytes);
            bytes.len()
        });
        assert!(n.is_ok_and(|n| n > 0), "{n:?} after {} bytes", got.len());
        // No timer needed: the read itself sends the window update that lets the rest come.
        net.settle();
    }
    assert_eq!(got, stream(6000));
}
