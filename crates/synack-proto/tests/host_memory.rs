//! The host-wide cap on buffer memory (`HostConfig::max_buffer_memory`, like Linux's
//! `tcp_mem`): at the cap, `send` takes less and then nothing, arriving data is dropped
//! unacknowledged (out-of-order data first), and once memory frees up everything flows again
//! with no byte lost or duplicated.

mod common;

use std::net::{IpAddr, SocketAddr};

use synack_proto::host::{ConnId, Host, HostConfig, HostError, HostEvent};
use synack_proto::{CallError, Instant, StateName};
use synack_wire::TcpFlags;

const ACK: TcpFlags = TcpFlags::ACK;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// (seq, ack, payload length) of everything the host sends now.
fn drain(host: &mut Host, now: Instant) -> Vec<(u32, u32, usize)> {
    common::host::drain(host, now)
        .iter()
        .map(|p| (p.seq, p.ack, p.payload.len()))
        .collect()
}

struct Peer {
    host: Host,
    conn: ConnId,
    us: SocketAddr,
    peer: SocketAddr,
    /// Our ISS and the peer's next sequence number.
    iss: u32,
    peer_isn: u32,
    now: Instant,
}

impl Peer {
    fn segment(&self, flags: TcpFlags, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
        let (src, dst) = (self.peer.to_string(), self.us.to_string());
        let mut p = common::host::Pkt::new(&src, &dst, flags, seq, ack)
            .window(65_535)
            .data(payload);
        if flags.syn() {
            p = p.mss(1460);
        }
        p.bytes()
    }

    /// The peer's data at stream offset `off` (acknowledging nothing new of ours).
    fn data(&mut self, off: u32, payload: &[u8]) -> Vec<(u32, u32, usize)> {
        let seg = self.segment(ACK, self.peer_isn + 1 + off, self.iss + 1, payload);
        self.host.handle_packet(self.now, &seg);
        drain(&mut self.host, self.now)
    }
}

fn connected(max_buffer_memory: usize) -> Peer {
    let mut config = HostConfig {
        secret: 0x3e3,
        max_buffer_memory,
        ..HostConfig::default()
    };
    config.tcp.timestamps = false;
    config.tcp.sack = false;
    config.tcp.window_scaling = false;
    config.tcp.delayed_ack = None;
    config.tcp.nodelay = true;
    let mut host = Host::new(config);
    let ip: IpAddr = "10.0.0.2".parse().unwrap();
    let peer = addr("10.0.0.1:80");
    let conn = host
        .connect(Instant::ZERO, SocketAddr::new(ip, 0), peer)
        .unwrap();
    let us = host.local_addr(conn).unwrap();
    let iss = drain(&mut host, Instant::ZERO)[0].0;
    let mut p = Peer {
        host,
        conn,
        us,
        peer,
        iss,
        peer_isn: 50_000,
        now: Instant::from_millis(1),
    };
    let synack = p.segment(TcpFlags::SYN | ACK, p.peer_isn, iss + 1, &[]);
    p.host.handle_packet(p.now, &synack);
    let _ = drain(&mut p.host, p.now);
    assert_eq!(p.host.state(conn), Ok(StateName::Established));
    p
}

fn writable(host: &mut Host, conn: ConnId) -> bool {
    std::iter::from_fn(|| host.poll_event()).any(|e| e == HostEvent::Writable(conn))
}

#[test]
fn send_takes_what_fits_under_the_cap_then_would_block_until_memory_frees() {
    let mut p = connected(10_000);
    // 8000 received bytes, unread, hold most of the host's memory.
    let incoming = vec![5u8; 8000];
    for i in 0..8u32 {
        p.data(i * 1000, &incoming[..1000]);
    }
    assert_eq!(p.host.buffer_memory(), 8000);
    // Only 2000 bytes fit under the cap, though the connection's own buffer has room.
    let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(p.host.send(p.conn, &data[..5000]), Ok(2000));
    assert_eq!(
        p.host.send(p.conn, &data[2000..]),
        Err(HostError::Call(CallError::WouldBlock))
    );
    assert_eq!(p.host.counters().send_memory_refusals, 1);
    let _ = writable(&mut p.host, p.conn);
    // Reading frees memory; the refused sender is told, though its own buffer never changed.
    let mut buf = vec![0u8; 4000];
    assert_eq!(p.host.recv(p.conn, &mut buf), Ok(4000));
    assert_eq!(p.host.buffer_memory(), 6000);
    assert!(writable(&mut p.host, p.conn));
    assert_eq!(p.host.send(p.conn, &data[2000..]), Ok(4000));
    assert_eq!(p.host.buffer_memory(), 10_000);
    // Everything the user handed over goes out exactly once, in order.
    let sent = drain(&mut p.host, p.now);
    let mut next = p.iss + 1;
    for (seq, _, len) in sent.iter().filter(|s| s.2 > 0) {
        assert_eq!(*seq, next);
        next += *len as u32;
    }
    assert_eq!(next, p.iss + 1 + 6000);
    // A closed send side still says so, memory or not.
    p.host.shutdown(p.conn).unwrap();
    assert_eq!(
        p.host.send(p.conn, b"x"),
        Err(HostError::Call(CallError::Closing))
    );
}

#[test]
fn at_the_cap_arriving_data_is_dropped_out_of_order_first_and_nothing_is_lost() {
    // Cap 16000; out-of-order data only below 14000.
    let mut p = connected(16_000);
    let stream: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 253) as u8).collect();
    for i in 0..10 {
        let acks = p.data(
            i * 1000,
            &stream[i as usize * 1000..(i as usize + 1) * 1000],
        );
        assert_eq!(
            acks.last().map(|a| a.1),
            Some(p.peer_isn + 1 + (i + 1) * 1000)
        );
    }
    assert_eq!(p.host.buffer_memory(), 10_000);
    // Out of order, beyond a 1000-byte gap: 10000 + 5000 > 14000, dropped.
    p.data(11_000, &stream[11_000..16_000]);
    assert_eq!(p.host.counters().rcv_memory_drops, 1);
    assert_eq!(p.host.buffer_memory(), 10_000);
    // A smaller out-of-order piece fits below 14000 and is kept.
    p.data(11_000, &stream[11_000..13_000]);
    assert_eq!(p.host.buffer_memory(), 12_000);
    // In order: the gap, then more, up to the cap itself.
    let acks = p.data(10_000, &stream[10_000..11_000]);
    assert_eq!(acks.last().map(|a| a.1), Some(p.peer_isn + 1 + 13_000));
    p.data(13_000, &stream[13_000..16_000]);
    assert_eq!(p.host.buffer_memory(), 16_000);
    // Past the cap even in-order data is dropped, unacknowledged.
    let acks = p.data(16_000, &stream[16_000..18_000]);
    assert!(acks.iter().all(|a| a.1 == p.peer_isn + 1 + 16_000));
    assert_eq!(p.host.counters().rcv_memory_drops, 2);
    assert_eq!(p.host.buffer_memory(), 16_000);
    // The user reads; the peer's retransmission is taken now.
    let mut got = vec![0u8; 20_000];
    assert_eq!(p.host.recv(p.conn, &mut got[..8000]), Ok(8000));
    assert_eq!(p.host.buffer_memory(), 8000);
    let acks = p.data(16_000, &stream[16_000..20_000]);
    assert_eq!(acks.last().map(|a| a.1), Some(p.peer_isn + 1 + 20_000));
    assert_eq!(p.host.recv(p.conn, &mut got[8000..]), Ok(12_000));
    assert_eq!(got, stream, "every byte once, in order");
    assert_eq!(p.host.buffer_memory(), 0);
}

#[test]
fn a_fin_riding_on_dropped_data_waits_for_the_retransmission() {
    let mut p = connected(1000);
    // Below its 4 KiB allowance the connection takes in-order data past the host's cap...
    for i in 0..5u32 {
        p.data(i * 1000, &[8u8; 1000]);
    }
    assert_eq!(p.host.buffer_memory(), 5000);
    assert_eq!(p.host.counters().rcv_memory_drops, 0);
    // ...but not once it holds that much unread.
    let fin_data = p.segment(
        TcpFlags::FIN | ACK,
        p.peer_isn + 5001,
        p.iss + 1,
        &[9u8; 1500],
    );
    p.host.handle_packet(p.now, &fin_data);
    let _ = drain(&mut p.host, p.now);
    // The data did not fit, so the FIN behind it cannot be taken either.
    assert_eq!(p.host.state(p.conn), Ok(StateName::Established));
    assert_eq!(p.host.counters().rcv_memory_drops, 1);
    let mut buf = [0u8; 6000];
    assert_eq!(p.host.recv(p.conn, &mut buf), Ok(5000));
    let retransmit = p.segment(
        TcpFlags::FIN | ACK,
        p.peer_isn + 5001,
        p.iss + 1,
        &[9u8; 900],
    );
    p.host.handle_packet(p.now, &retransmit);
    assert_eq!(p.host.state(p.conn), Ok(StateName::CloseWait));
    assert_eq!(p.host.recv(p.conn, &mut buf), Ok(900));
    assert_eq!(p.host.recv(p.conn, &mut buf), Ok(0));
}

/// A second connection on `p.host`, to another port of the peer, established by hand.
/// Returns it and our ISS on it.
fn second(p: &mut Peer) -> (ConnId, SocketAddr, u32) {
    let peer = addr("10.0.0.1:81");
    let conn = p
        .host
        .connect(p.now, SocketAddr::new(p.us.ip(), 0), peer)
        .unwrap();
    let us = p.host.local_addr(conn).unwrap();
    let iss = drain(&mut p.host, p.now)[0].0;
    let other = Peer {
        host: Host::new(HostConfig::default()),
        conn,
        us,
        peer,
        iss,
        peer_isn: 90_000,
        now: p.now,
    };
    let synack = other.segment(TcpFlags::SYN | ACK, 90_000, iss + 1, &[]);
    p.host.handle_packet(p.now, &synack);
    let _ = drain(&mut p.host, p.now);
    assert_eq!(p.host.state(conn), Ok(StateName::Established));
    (conn, us, iss)
}

/// Memory a connection still holds when its slot is freed (unread data in TIME-WAIT or
/// CLOSED, given up by `close`) must wake a sender refused for lack of it, as reading would.
#[test]
fn memory_freed_with_a_closed_connection_wakes_a_refused_sender() {
    for via_time_wait in [true, false] {
        let mut p = connected(2000);
        let (other, _, _) = second(&mut p);
        if via_time_wait {
            // We close first: FIN-WAIT-1, FIN-WAIT-2 once the peer acknowledges our FIN.
            p.host.shutdown(p.conn).unwrap();
            let _ = drain(&mut p.host, p.now);
            let ack = p.segment(ACK, p.peer_isn + 1, p.iss + 2, &[]);
            p.host.handle_packet(p.now, &ack);
        }
        // The peer's 2000 bytes and its FIN fill the host's memory; nobody reads them.
        let ack_ours = if via_time_wait { p.iss + 2 } else { p.iss + 1 };
        let fin = p.segment(TcpFlags::FIN | ACK, p.peer_isn + 1, ack_ours, &[4u8; 2000]);
        p.host.handle_packet(p.now, &fin);
        let _ = drain(&mut p.host, p.now);
        if !via_time_wait {
            // CLOSE-WAIT, then our FIN and its ACK: CLOSED with the data still unread.
            p.host.shutdown(p.conn).unwrap();
            let _ = drain(&mut p.host, p.now);
            let ack = p.segment(ACK, p.peer_isn + 2002, p.iss + 2, &[]);
            p.host.handle_packet(p.now, &ack);
            let _ = drain(&mut p.host, p.now);
        }
        let expect = if via_time_wait {
            StateName::TimeWait
        } else {
            StateName::Closed
        };
        assert_eq!(p.host.state(p.conn), Ok(expect));
        assert_eq!(p.host.buffer_memory(), 2000);
        assert_eq!(
            p.host.send(other, b"hello"),
            Err(HostError::Call(CallError::WouldBlock))
        );
        let _ = writable(&mut p.host, other);
        // The user gives the first connection up without reading: its memory is free again.
        p.host.close(p.now, p.conn).unwrap();
        let _ = drain(&mut p.host, p.now);
        assert_eq!(p.host.buffer_memory(), 0);
        assert!(
            writable(&mut p.host, other),
            "refused sender told (via TIME-WAIT: {via_time_wait})"
        );
        assert_eq!(p.host.send(other, b"hello"), Ok(5));
    }
}

/// Two capped hosts whose memory is all taken by data each wants to send the other: neither
/// could take in a byte, so neither's data would ever be acknowledged and freed, and both
/// connections would retransmit until they failed. A connection may always hold a little
/// received data whatever the host total (Linux's `tcp_rmem[0]` allowance), which breaks
/// the deadlock; every byte then arrives once, in order.
#[test]
fn two_hosts_full_of_their_own_unsent_data_still_exchange_it() {
    let cap = 8000;
    let mk = |secret| {
        let mut config = HostConfig {
            secret,
            max_buffer_memory: cap,
            ..HostConfig::default()
        };
        config.tcp.nodelay = true;
        Host::new(config)
    };
    let (mut client, mut server) = (mk(1), mk(2));
    let server_addr = addr("10.0.0.1:80");
    let listener = server.listen(server_addr, 4).unwrap();
    let mut now = Instant::ZERO;
    let c = client
        .connect(
            now,
            SocketAddr::new("10.0.0.2".parse().unwrap(), 0),
            server_addr,
        )
        .unwrap();
    let exchange = |client: &mut Host, server: &mut Host, now: Instant| {
        for _ in 0..4 {
            common::host::forward(client, server, now);
            common::host::forward(server, client, now);
        }
    };
    exchange(&mut client, &mut server, now);
    let s = server.accept(listener).expect("accepted");
    let up: Vec<u8> = (0..cap as u32).map(|i| (i * 7 % 251) as u8).collect();
    let down: Vec<u8> = (0..cap as u32).map(|i| (i * 13 % 241) as u8).collect();
    // Both users fill their host's memory with data for the other before anything moves.
    assert_eq!(client.send(c, &up), Ok(cap));
    assert_eq!(server.send(s, &down), Ok(cap));
    let (mut got_up, mut got_down) = (Vec::new(), Vec::new());
    let mut chunk = vec![0u8; 4096];
    for _ in 0..2000 {
        exchange(&mut client, &mut server, now);
        while let Ok(n @ 1..) = server.recv(s, &mut chunk) {
            got_up.extend_from_slice(&chunk[..n]);
        }
        while let Ok(n @ 1..) = client.recv(c, &mut chunk) {
            got_down.extend_from_slice(&chunk[..n]);
        }
        if got_up.len() == cap && got_down.len() == cap {
            break;
        }
        now += std::time::Duration::from_millis(100);
        client.handle_timeout(now);
        server.handle_timeout(now);
    }
    assert_eq!(client.state(c), Ok(StateName::Established));
    assert_eq!(server.state(s), Ok(StateName::Established));
    assert_eq!(
        (got_up.len(), got_down.len()),
        (cap, cap),
        "every byte arrived"
    );
    assert!(got_up == up, "client to server, every byte once, in order");
    assert!(
        got_down == down,
        "server to client, every byte once, in order"
    );
    assert_eq!((client.buffer_memory(), server.buffer_memory()), (0, 0));
}

/// Connections refused for memory and then given up while memory stays short are forgotten
/// with their slot: the list of refused senders holds live connections only, however many
/// come and go before memory frees.
#[test]
fn refused_senders_that_go_away_are_not_kept_waiting() {
    let mut p = connected(4000);
    // 4000 unread bytes take all the memory, for as long as the user leaves them.
    for i in 0..4u32 {
        p.data(i * 1000, &[1u8; 1000]);
    }
    assert_eq!(p.host.buffer_memory(), 4000);
    for _ in 0..50 {
        let (other, _, _) = second(&mut p);
        assert_eq!(
            p.host.send(other, b"x"),
            Err(HostError::Call(CallError::WouldBlock))
        );
        p.host.abort(other).unwrap();
        let _ = drain(&mut p.host, p.now);
        p.host.audit().unwrap();
    }
    assert_eq!(p.host.connection_count(), 1);
}
