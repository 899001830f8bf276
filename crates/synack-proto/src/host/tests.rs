//! What the host builds with crate-private parts of a connection, tested where those parts
//! can be reached.

use alloc::vec;
use alloc::vec::Vec;

use synack_wire::{TcpFlags, TcpOptions, TcpRepr};

use crate::config::{Config, SharedConfig};
use crate::conn::{Cause, Connection, CookieSyn, Event, StateName};
use crate::time::Instant;

const ISS: u32 = 1000;
const PEER_ISS: u32 = 5000;

#[test]
fn cookie_ack_establishes_straight_from_listen() {
    // RFC 4987 §3.6: the host validated a cookie ACK (SEQ = IRS + 1, ACK = cookie + 1) and
    // builds the connection it stands for. It carries the first request bytes, which are taken
    // in and acknowledged (window: the 64 KiB buffer less 3); the MSS is what the cookie
    // encoded.
    let config = Config {
        window_scaling: false,
        sack: false,
        timestamps: false,
        recv_buffer: 64 * 1024,
        ..Config::default()
    };
    let ack = TcpRepr {
        src_port: 80,
        dst_port: 40000,
        seq: PEER_ISS + 1,
        ack: ISS + 1,
        flags: TcpFlags::ACK,
        window: 29200,
        urgent_ptr: 0,
        options: TcpOptions::default(),
        payload: b"GET",
    };
    let syn = CookieSyn {
        mss: 1300,
        window_scale: None,
        sack: false,
        timestamps: false,
    };
    let mut c = Connection::from_cookie_ack(
        SharedConfig::new(config),
        Instant::ZERO,
        &ack,
        syn,
        Default::default(),
    );
    assert_eq!(c.state(), StateName::Established);
    let events: Vec<Event> = core::iter::from_fn(|| c.poll_event()).collect();
    assert!(events.contains(&Event::StateChanged {
        from: StateName::Listen,
        to: StateName::Established,
        cause: Cause::RecvCookieAck
    }));
    let info = c.info();
    assert_eq!(info.snd_mss, 1300);
    assert_eq!(
        (info.snd_una, info.snd_nxt, info.snd_wnd),
        (ISS + 1, ISS + 1, 29200)
    );
    assert_eq!(info.rcv_nxt, PEER_ISS + 4);
    let mut buf = vec![0u8; 2048];
    let out = c.poll_transmit(Instant::ZERO, &mut buf).expect("an ACK");
    assert_eq!(
        (out.src_port, out.dst_port, out.flags, out.seq, out.ack),
        (40000, 80, TcpFlags::ACK, ISS + 1, PEER_ISS + 4)
    );
    assert_eq!((out.window, out.options), (65532, TcpOptions::default()));
    assert!(out.payload.is_empty());
    assert!(c.poll_transmit(Instant::ZERO, &mut buf).is_none());
    let mut read = [0u8; 8];
    assert_eq!(c.recv(&mut read), Ok(3));
    assert_eq!(&read[..3], b"GET");
}

#[test]
fn a_lookup_and_the_bookkeeping_read_the_first_two_lines_of_a_connection_slot() {
    // The slot's generation (8 bytes with padding) comes first, then the entry's tuple and host
    // fields: together within 128 bytes of the slot's start, before the connection's own.
    use core::mem::offset_of;
    assert_eq!(offset_of!(super::Entry, tuple), 0);
    assert!(8 + offset_of!(super::Entry, conn) <= 128);
    assert!(offset_of!(super::Entry, armed) < offset_of!(super::Entry, conn));
}

#[test]
fn host_events_stay_small() {
    // Events are queued and moved on every touch of a connection, so none carries more than
    // two ids (`Accepted` names the connection; its addresses are asked of the host).
    assert!(
        core::mem::size_of::<crate::host::HostEvent>() <= 20,
        "HostEvent grew to {} bytes",
        core::mem::size_of::<crate::host::HostEvent>()
    );
}
