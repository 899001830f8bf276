//! A blocking `write` larger than the send buffer, on a second thread, completes as the main
//! thread acknowledges what it sends: every byte leaves once, in order, and the call returns
//! the whole length.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;

use synack_packetdrill::Instance;
use synack_packetdrill::flags;
use synack_script::ast::{Flags, TcpOpt};
use synack_script::packet::{Segment, build, read};

const LOCAL: &str = "192.168.0.1:8080";
const REMOTE: &str = "192.0.2.1:40000";

fn inject(i: &Instance, flags: Flags, seq: u32, ack: u32, options: Vec<TcpOpt>) {
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
    i.inject(&build(&s, &[]).unwrap()).unwrap();
}

fn payload(datagram: &[u8]) -> &[u8] {
    let ihl = usize::from(datagram[0] & 15) * 4;
    let doff = usize::from(datagram[ihl + 12] >> 4) * 4;
    &datagram[ihl + doff..]
}

#[test]
fn a_write_bigger_than_the_send_buffer_blocks_until_acks_make_room() {
    let i = Arc::new(Instance::new(
        flags::parse("local=192.168.0.1,idle_ms=200").unwrap(),
    ));
    let l = i.socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    i.setsockopt(
        l,
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        synack_script::OptValue::Int(3000),
    )
    .unwrap();
    i.bind(l, LOCAL.parse::<SocketAddr>().unwrap()).unwrap();
    i.listen(l, 1).unwrap();
    let syn = Flags {
        syn: true,
        ..Flags::default()
    };
    let ack = Flags {
        ack: true,
        ..Flags::default()
    };
    inject(
        &i,
        syn,
        0,
        0,
        vec![TcpOpt::Mss(1000), TcpOpt::Nop, TcpOpt::WScale(7)],
    );
    let iss = read(&i.next_outbound(65535).unwrap().unwrap().bytes)
        .unwrap()
        .seq;
    inject(&i, ack, 1, iss.wrapping_add(1), vec![]);
    let (fd, _) = i.accept(l).unwrap();

    let data: Vec<u8> = (0..20_000u32).map(|k| (k % 251) as u8).collect();
    let writer = {
        let (i, data) = (Arc::clone(&i), data.clone());
        thread::spawn(move || {
            let r = i.write(fd, &data, false, false);
            // Read the clock after the call, as packetdrill's syscall thread does; until
            // then the library holds the clock for it.
            i.now_ticking().unwrap();
            r
        })
    };

    let mut got = Vec::new();
    while got.len() < data.len() {
        let p = i
            .next_outbound(65535)
            .unwrap()
            .expect("the writer stalled with bytes left");
        let s = read(&p.bytes).unwrap();
        assert_eq!(
            s.seq,
            iss.wrapping_add(1).wrapping_add(got.len() as u32),
            "a segment out of order or repeated"
        );
        got.extend_from_slice(payload(&p.bytes));
        inject(
            &i,
            ack,
            1,
            iss.wrapping_add(1).wrapping_add(got.len() as u32),
            vec![],
        );
    }
    assert_eq!(writer.join().unwrap(), Ok(data.len()));
    assert!(got == data, "the bytes that left differ from those written");
}
