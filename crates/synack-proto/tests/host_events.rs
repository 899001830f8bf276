//! What a host reports over one short connection's life (connect, a one-byte request, a
//! one-byte response, the client closes first, then the server, TIME-WAIT runs out), event by
//! event on each side: the state changes tools draw, `Accepted` naming a connection that has
//! the handshake's addresses, and the readiness a user still holding the handle waits on,
//! nothing for a handle given up.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::host::*;
use synack_proto::host::{HostConfig, HostEvent};
use synack_proto::{Cause, StateName};

fn config(secret: u128) -> HostConfig {
    HostConfig {
        secret,
        ..HostConfig::default()
    }
}

#[test]
fn a_short_lifecycle_reports_each_event_once_in_order_on_both_sides() {
    use StateName::*;
    let mut net = Net::new(config(0x1e7), config(0x2e7));
    let server = addr("10.0.0.2:80");
    let l = net.b.listen(server, 16).unwrap();
    let c = net
        .a
        .connect(net.now, SocketAddr::new(ip("10.0.0.1"), 0), server)
        .unwrap();
    net.settle();
    let client = net.a.local_addr(c).unwrap();
    let moved = |conn, from, to, cause| HostEvent::StateChanged {
        conn,
        from,
        to,
        cause,
    };
    assert_eq!(
        events(&mut net.a),
        [
            moved(c, Closed, SynSent, Cause::UserConnect),
            moved(c, SynSent, Established, Cause::RecvSynAck),
        ]
    );
    let s = net.b.accept(l).unwrap();
    // The half-open connection's first step (CLOSED to a one-shot LISTEN) is not reported.
    assert_eq!(
        events(&mut net.b),
        [
            moved(s, Listen, SynReceived, Cause::RecvSyn),
            moved(s, SynReceived, Established, Cause::RecvAck),
            HostEvent::Accepted {
                listener: l,
                conn: s,
            },
        ]
    );
    assert_eq!(
        (net.b.local_addr(s), net.b.peer_addr(s)),
        (Ok(server), Ok(client))
    );

    let mut one = [0u8; 1];
    net.a.send(c, b"q").unwrap();
    net.settle();
    assert_eq!(
        events(&mut net.a),
        [HostEvent::Writable(c)],
        "the request acked"
    );
    assert_eq!(events(&mut net.b), [HostEvent::Readable(s)]);
    assert_eq!(net.b.recv(s, &mut one), Ok(1));
    net.b.send(s, b"r").unwrap();
    net.settle();
    assert_eq!(events(&mut net.a), [HostEvent::Readable(c)]);
    // The client sent its request right after the handshake, so its ACK of the response
    // waits to ride on what it sends next (interactive ACKs): the response is not acked yet.
    assert_eq!(events(&mut net.b), []);
    assert_eq!(net.a.recv(c, &mut one), Ok(1));

    net.a.close(net.now, c).unwrap();
    net.settle();
    // The server is interactive too (it answered at once), so its ACK of the FIN waits to
    // ride on its own FIN.
    assert_eq!(
        events(&mut net.a),
        [moved(c, Established, FinWait1, Cause::UserClose)]
    );
    assert_eq!(
        events(&mut net.b),
        [
            HostEvent::Writable(s),
            HostEvent::Readable(s),
            moved(s, Established, CloseWait, Cause::RecvFin),
        ],
        "the FIN acks the response, and the peer's end of stream is readable"
    );
    net.b.close(net.now, s).unwrap();
    net.settle();
    // Each side gave its handle up by closing: the client's end of stream and the server's
    // reaching CLOSED are news to no one, their moves still are.
    assert_eq!(
        events(&mut net.a),
        [
            moved(c, FinWait1, FinWait2, Cause::RecvAck),
            moved(c, FinWait2, TimeWait, Cause::RecvFin),
        ]
    );
    assert_eq!(
        events(&mut net.b),
        [
            moved(s, CloseWait, LastAck, Cause::UserClose),
            moved(s, LastAck, Closed, Cause::RecvAck),
        ]
    );
    let counters = net.b.counters();
    assert_eq!(
        (counters.passive_opens, counters.curr_estab),
        (1, 0),
        "one passive open, none established any more"
    );
    assert_eq!(net.a.counters().active_opens, 1);

    net.advance(Duration::from_secs(61));
    assert_eq!(
        events(&mut net.a),
        [moved(c, TimeWait, Closed, Cause::TimeWaitExpired)]
    );
    assert_eq!(events(&mut net.b), []);
}
