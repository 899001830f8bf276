//! ICMP errors at the host, with exact packets: a host connects to a hand-driven peer, and a
//! "router" sends ICMP errors quoting the host's own segments — or, for a blind attacker,
//! segments it never sent.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use synack_proto::host::{ConnId, Host, HostConfig, HostEvent};
use synack_proto::{ConnError, Instant, StateName};
use synack_wire::icmp::{v4, v6};
use synack_wire::ip::emit_icmp;
use synack_wire::{IcmpRepr, Icmpv4Repr, Icmpv6Repr, TcpFlags};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// A segment the host sent: its raw datagram (what an ICMP error quotes) and its fields.
#[derive(Clone, Debug)]
struct Out {
    raw: Vec<u8>,
    flags: TcpFlags,
    seq: u32,
    len: usize,
}

fn drain(host: &mut Host, now: Instant) -> Vec<Out> {
    common::host::drain_raw(host, now)
        .into_iter()
        .map(|(p, raw)| Out {
            raw,
            flags: p.flags,
            seq: p.seq,
            len: p.payload.len(),
        })
        .collect()
}

/// A segment from the peer to the host.
fn from_peer(peer: SocketAddr, us: SocketAddr, flags: TcpFlags, seq: u32, ack: u32) -> Vec<u8> {
    let mut p =
        common::host::Pkt::new(&peer.to_string(), &us.to_string(), flags, seq, ack).window(60_000);
    if flags.syn() {
        p = p.mss(1460);
    }
    p.bytes()
}

/// An ICMP error from `router` to `to`, quoting the first bytes of `quoted` as routers do
/// (IP header plus 8 bytes for ICMPv4, as much as fits for ICMPv6).
fn icmp(router: IpAddr, to: IpAddr, kind: Kind, quoted: &[u8]) -> Vec<u8> {
    let v4_quote = &quoted[..28.min(quoted.len())];
    let repr = match kind {
        Kind::V4Unreachable(code) => IcmpRepr::V4(Icmpv4Repr::DstUnreachable {
            code,
            next_hop_mtu: 0,
            invoking: v4_quote,
        }),
        Kind::V4FragNeeded(mtu) => IcmpRepr::V4(Icmpv4Repr::DstUnreachable {
            code: v4::FRAG_NEEDED,
            next_hop_mtu: mtu,
            invoking: v4_quote,
        }),
        Kind::V6TooBig(mtu) => IcmpRepr::V6(Icmpv6Repr::PacketTooBig {
            mtu,
            invoking: &quoted[..quoted.len().min(1232)],
        }),
        Kind::V6Unreachable(code) => IcmpRepr::V6(Icmpv6Repr::DstUnreachable {
            code,
            invoking: &quoted[..quoted.len().min(1232)],
        }),
    };
    let mut buf = vec![0u8; 2048];
    let n = emit_icmp(&mut buf, router, to, 64, &repr).unwrap();
    buf.truncate(n);
    buf
}

#[derive(Clone, Copy)]
enum Kind {
    V4Unreachable(u8),
    V4FragNeeded(u16),
    V6TooBig(u32),
    V6Unreachable(u8),
}

/// Rewrites the TCP sequence number of a quoted datagram (checksums do not matter in a
/// quote), to play a blind attacker who does not know it.
fn with_seq(raw: &[u8], ip_header: usize, seq: u32) -> Vec<u8> {
    let mut q = raw.to_vec();
    q[ip_header + 4..ip_header + 8].copy_from_slice(&seq.to_be_bytes());
    q
}

fn config() -> HostConfig {
    let mut c = HostConfig {
        secret: 0x1c3b,
        ..HostConfig::default()
    };
    // Plain segments: the MSS is the payload, with no option overhead to account for.
    c.tcp.timestamps = false;
    c.tcp.sack = false;
    c.tcp.nodelay = true;
    c
}

struct Setup {
    host: Host,
    conn: ConnId,
    us: SocketAddr,
    peer: SocketAddr,
    /// The peer's next sequence number, and our ISS.
    peer_nxt: u32,
    iss: u32,
    now: Instant,
}

/// A host connected to a hand-driven peer that announced MSS 1460.
fn established(us: &str, peer: &str) -> Setup {
    let (us_ip, peer): (IpAddr, _) = (us.parse().unwrap(), addr(peer));
    let mut host = Host::new(config());
    let conn = host
        .connect(Instant::ZERO, SocketAddr::new(us_ip, 0), peer)
        .unwrap();
    let us = host.local_addr(conn).unwrap();
    let syn = drain(&mut host, Instant::ZERO);
    let iss = syn[0].seq;
    let now = Instant::from_millis(10);
    host.handle_packet(
        now,
        &from_peer(peer, us, TcpFlags::SYN | TcpFlags::ACK, 7000, iss + 1),
    );
    assert_eq!(host.state(conn), Ok(StateName::Established));
    let _ = drain(&mut host, now);
    Setup {
        host,
        conn,
        us,
        peer,
        peer_nxt: 7001,
        iss,
        now,
    }
}

fn router_v4() -> IpAddr {
    "192.0.2.254".parse().unwrap()
}

fn router_v6() -> IpAddr {
    "2001:db8:ffff::1".parse().unwrap()
}

fn payloads(out: &[Out]) -> Vec<usize> {
    out.iter().map(|o| o.len).collect()
}

#[test]
fn frag_needed_lowers_the_mss_and_resends_what_was_lost_at_the_new_size() {
    let mut s = established("10.0.0.2", "10.0.0.1:80");
    let data: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
    assert_eq!(s.host.send(s.conn, &data), Ok(4000));
    let first = drain(&mut s.host, s.now);
    assert_eq!(payloads(&first), [1460, 1460, 1080]);
    let before = *s.host.counters();
    // A router on the path has a 1000-byte MTU and drops the first segment (DF is set).
    let t = s.now + Duration::from_millis(5);
    s.host.handle_packet(
        t,
        &icmp(
            router_v4(),
            s.us.ip(),
            Kind::V4FragNeeded(1000),
            &first[0].raw,
        ),
    );
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 1000 - 40);
    assert_eq!(s.host.counters().pmtu_lowered, before.pmtu_lowered + 1);
    // At once, without waiting for the retransmission timer, everything in flight goes again
    // in segments that fit: 4 × 960 + 160.
    let again = drain(&mut s.host, t);
    assert_eq!(payloads(&again), [960, 960, 960, 960, 160]);
    assert_eq!(again[0].seq, s.iss + 1);
    assert!(again.iter().all(|o| o.raw.len() <= 1000));
    assert_eq!(s.host.counters().retrans_segs, before.retrans_segs + 5);
    assert_eq!(
        s.host.info(s.conn).unwrap().cc.cwnd,
        10 * 1460,
        "no congestion response"
    );
    // The peer acknowledges it all; new data comes in 960-byte segments too.
    let t = t + Duration::from_millis(10);
    s.host.handle_packet(
        t,
        &from_peer(s.peer, s.us, TcpFlags::ACK, s.peer_nxt, s.iss + 4001),
    );
    assert_eq!(s.host.send(s.conn, &data[..2000]), Ok(2000));
    assert_eq!(payloads(&drain(&mut s.host, t)), [960, 960, 80]);
}

#[test]
fn a_larger_or_too_small_mtu_changes_nothing() {
    let mut s = established("10.0.0.2", "10.0.0.1:80");
    assert_eq!(s.host.send(s.conn, &[7u8; 3000]), Ok(3000));
    let first = drain(&mut s.host, s.now);
    let raw = &first[0].raw;
    let t = s.now;
    // A larger MTU never raises the estimate (RFC 1191 §6.3 leaves raising to probing).
    s.host.handle_packet(
        t,
        &icmp(router_v4(), s.us.ip(), Kind::V4FragNeeded(9000), raw),
    );
    // RFC 1191 §3: below 68 is never believed (and 0 comes from pre-RFC 1191 routers).
    s.host.handle_packet(
        t,
        &icmp(router_v4(), s.us.ip(), Kind::V4FragNeeded(67), raw),
    );
    s.host
        .handle_packet(t, &icmp(router_v4(), s.us.ip(), Kind::V4FragNeeded(0), raw));
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 1460);
    assert_eq!(s.host.counters().icmp_mtu_ignored, 2);
    assert_eq!(s.host.counters().pmtu_lowered, 0);
    assert!(drain(&mut s.host, t).is_empty());
    // 68 itself is accepted: the smallest segment that fits carries 8 bytes.
    s.host.handle_packet(
        t,
        &icmp(router_v4(), s.us.ip(), Kind::V4FragNeeded(68), raw),
    );
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 28);
}

#[test]
fn blind_icmp_with_a_sequence_number_not_in_flight_is_ignored_and_counted() {
    let mut s = established("10.0.0.2", "10.0.0.1:80");
    assert_eq!(s.host.send(s.conn, &[1u8; 2000]), Ok(2000));
    let first = drain(&mut s.host, s.now);
    let t = s.now;
    // In flight is [iss+1, iss+2001]. Just below SND.UNA and just above SND.NXT miss.
    for seq in [s.iss, s.iss + 2002, s.iss.wrapping_add(0x8000_0000)] {
        let forged = with_seq(&first[0].raw, 20, seq);
        s.host.handle_packet(
            t,
            &icmp(router_v4(), s.us.ip(), Kind::V4FragNeeded(576), &forged),
        );
        s.host.handle_packet(
            t,
            &icmp(
                router_v4(),
                s.us.ip(),
                Kind::V4Unreachable(v4::HOST_UNREACHABLE),
                &forged,
            ),
        );
    }
    assert_eq!(s.host.counters().out_of_window_icmps, 6);
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 1460);
    assert_eq!(s.host.soft_error(s.conn), Ok(None));
    assert!(drain(&mut s.host, t).is_empty(), "nothing resent");
    // A quote naming a 4-tuple we have no connection for is counted as an ICMP error.
    let mut other_port = first[0].raw.clone();
    other_port[20..22].copy_from_slice(&1u16.to_be_bytes());
    s.host.handle_packet(
        t,
        &icmp(router_v4(), s.us.ip(), Kind::V4FragNeeded(576), &other_port),
    );
    assert_eq!(s.host.counters().icmp_in_errs, 1);
    // A corrupted ICMP message is too.
    let mut bad = icmp(
        router_v4(),
        s.us.ip(),
        Kind::V4FragNeeded(576),
        &first[0].raw,
    );
    bad[22] ^= 0xff;
    s.host.handle_packet(t, &bad);
    assert_eq!(s.host.counters().icmp_in_errs, 2);
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 1460);
    // Any sequence number in flight is believed.
    let genuine = with_seq(&first[0].raw, 20, s.iss + 1460);
    s.host.handle_packet(
        t,
        &icmp(router_v4(), s.us.ip(), Kind::V4FragNeeded(576), &genuine),
    );
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 576 - 40);
    // ICMP does not count as TCP input.
    assert_eq!(s.host.counters().in_segs, 1);
}

#[test]
fn ipv6_packet_too_big_lowers_the_mss_but_never_below_1280() {
    let mut s = established("2001:db8::2", "[2001:db8::1]:80");
    assert_eq!(s.host.send(s.conn, &[3u8; 3000]), Ok(3000));
    let first = drain(&mut s.host, s.now);
    // A 1500-byte link less IPv6's 40-byte header and TCP's 20.
    assert_eq!(payloads(&first), [1440, 1440, 120]);
    let t = s.now;
    s.host.handle_packet(
        t,
        &icmp(router_v6(), s.us.ip(), Kind::V6TooBig(1279), &first[0].raw),
    );
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 1440);
    assert_eq!(s.host.counters().icmp_mtu_ignored, 1);
    s.host.handle_packet(
        t,
        &icmp(router_v6(), s.us.ip(), Kind::V6TooBig(1280), &first[0].raw),
    );
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 1280 - 60);
    assert_eq!(payloads(&drain(&mut s.host, t)), [1220, 1220, 560]);
}

/// Runs the host's timers until `until`, returning its events.
fn run(host: &mut Host, from: Instant, until: Instant) -> Vec<HostEvent> {
    let mut now = from;
    let mut evs = Vec::new();
    while let Some(t) = host.poll_timeout().filter(|t| *t <= until) {
        now = now.max(t);
        host.handle_timeout(now);
        let _ = drain(host, now);
        evs.extend(std::iter::from_fn(|| host.poll_event()));
    }
    evs
}

fn connect_fails_with(kind: impl Fn(&[u8]) -> Vec<u8>, client: &str, server: &str) -> ConnError {
    let mut host = Host::new(config());
    let conn = host
        .connect(
            Instant::ZERO,
            SocketAddr::new(client.parse().unwrap(), 0),
            addr(server),
        )
        .unwrap();
    let syn = drain(&mut host, Instant::ZERO);
    assert!(syn[0].flags.syn());
    let t = Instant::from_millis(3);
    host.handle_packet(t, &kind(&syn[0].raw));
    // A soft error: the connection keeps trying (RFC 1122 §4.2.3.9).
    assert_eq!(host.state(conn), Ok(StateName::SynSent));
    let soft = host.soft_error(conn).unwrap().expect("recorded");
    assert_eq!(host.counters().icmp_soft_errors, 1);
    let evs = run(&mut host, t, Instant::from_millis(10 * 60 * 1000));
    let closed: Vec<_> = evs
        .iter()
        .filter_map(|e| match e {
            HostEvent::Closed(c, err) if *c == conn => Some(*err),
            _ => None,
        })
        .collect();
    assert_eq!(
        closed,
        [Some(soft)],
        "fails with the soft error once retries run out"
    );
    assert_eq!(host.counters().retrans_segs, 6, "every SYN retry was sent");
    soft
}

#[test]
fn destination_unreachable_is_a_soft_error_reported_when_the_connect_times_out() {
    let host_unreachable = |raw: &[u8]| {
        icmp(
            router_v4(),
            "10.0.0.2".parse().unwrap(),
            Kind::V4Unreachable(v4::HOST_UNREACHABLE),
            raw,
        )
    };
    assert_eq!(
        connect_fails_with(host_unreachable, "10.0.0.2", "10.0.0.1:80"),
        ConnError::HostUnreachable
    );
    let net_unreachable = |raw: &[u8]| {
        icmp(
            router_v4(),
            "10.0.0.2".parse().unwrap(),
            Kind::V4Unreachable(v4::NET_UNREACHABLE),
            raw,
        )
    };
    assert_eq!(
        connect_fails_with(net_unreachable, "10.0.0.2", "10.0.0.1:80"),
        ConnError::NetworkUnreachable
    );
    let port_unreachable = |raw: &[u8]| {
        icmp(
            router_v6(),
            "2001:db8::2".parse().unwrap(),
            Kind::V6Unreachable(v6::PORT_UNREACHABLE),
            raw,
        )
    };
    assert_eq!(
        connect_fails_with(port_unreachable, "2001:db8::2", "[2001:db8::1]:80"),
        ConnError::ConnectionRefused
    );
}

#[test]
fn without_icmp_the_same_connect_just_times_out() {
    let mut host = Host::new(config());
    let conn = host
        .connect(Instant::ZERO, addr("10.0.0.2:0"), addr("10.0.0.1:80"))
        .unwrap();
    let _ = drain(&mut host, Instant::ZERO);
    let evs = run(&mut host, Instant::ZERO, Instant::from_millis(600_000));
    assert!(evs.contains(&HostEvent::Closed(conn, Some(ConnError::TimedOut))));
}

/// An ICMP error of one IP version quoting a datagram of the other cannot be about anything
/// we sent on that path (RFC 792 quotes an IPv4 header, RFC 4443 §3.1–§3.2 an IPv6 one), so
/// it changes nothing, whichever connection its quote happens to name.
#[test]
fn an_icmp_error_quoting_the_other_ip_version_is_ignored() {
    // ICMPv4 "fragmentation needed" quoting one of our IPv6 segments.
    let mut s = established("2001:db8::2", "[2001:db8::1]:80");
    assert_eq!(s.host.send(s.conn, &[3u8; 3000]), Ok(3000));
    let first = drain(&mut s.host, s.now);
    let quote = &first[0].raw[..48];
    let repr = IcmpRepr::V4(Icmpv4Repr::DstUnreachable {
        code: v4::FRAG_NEEDED,
        next_hop_mtu: 1280,
        invoking: quote,
    });
    let mut buf = vec![0u8; 2048];
    let n = emit_icmp(
        &mut buf,
        router_v4(),
        "10.0.0.2".parse().unwrap(),
        64,
        &repr,
    )
    .unwrap();
    s.host.handle_packet(s.now, &buf[..n]);
    let port = IcmpRepr::V4(Icmpv4Repr::DstUnreachable {
        code: v4::PORT_UNREACHABLE,
        next_hop_mtu: 0,
        invoking: quote,
    });
    let n = emit_icmp(
        &mut buf,
        router_v4(),
        "10.0.0.2".parse().unwrap(),
        64,
        &port,
    )
    .unwrap();
    s.host.handle_packet(s.now, &buf[..n]);
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 1440);
    assert_eq!(s.host.soft_error(s.conn), Ok(None));
    assert!(drain(&mut s.host, s.now).is_empty(), "nothing resent");
    assert_eq!(s.host.counters().icmp_in_errs, 2);

    // ICMPv6 "packet too big" quoting one of our IPv4 segments.
    let mut s = established("10.0.0.2", "10.0.0.1:80");
    assert_eq!(s.host.send(s.conn, &[3u8; 3000]), Ok(3000));
    let first = drain(&mut s.host, s.now);
    s.host.handle_packet(
        s.now,
        &icmp(
            router_v6(),
            "2001:db8::2".parse().unwrap(),
            Kind::V6TooBig(576),
            &first[0].raw,
        ),
    );
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 1460);
    assert!(drain(&mut s.host, s.now).is_empty(), "nothing resent");
    assert_eq!(s.host.counters().pmtu_lowered, 0);
    assert_eq!(s.host.counters().icmp_in_errs, 1);
}

/// RFC 5927 §4.1: an error must quote a sequence number in SND.UNA =< SEG.SEQ < SND.NXT, data
/// sent and not yet acknowledged. A connection with nothing in flight therefore believes no
/// ICMP error at all, even one quoting its SND.NXT exactly (as a pure ACK of ours would).
#[test]
fn with_nothing_in_flight_no_icmp_error_is_believed() {
    let mut s = established("10.0.0.2", "10.0.0.1:80");
    assert_eq!(s.host.send(s.conn, &[5u8; 1000]), Ok(1000));
    let first = drain(&mut s.host, s.now);
    let t = s.now + Duration::from_millis(20);
    s.host.handle_packet(
        t,
        &from_peer(s.peer, s.us, TcpFlags::ACK, s.peer_nxt, s.iss + 1001),
    );
    let info = s.host.info(s.conn).unwrap();
    assert_eq!((info.snd_una, info.snd_nxt), (s.iss + 1001, s.iss + 1001));
    let at_nxt = with_seq(&first[0].raw, 20, s.iss + 1001);
    for kind in [
        Kind::V4FragNeeded(576),
        Kind::V4Unreachable(v4::HOST_UNREACHABLE),
    ] {
        s.host
            .handle_packet(t, &icmp(router_v4(), s.us.ip(), kind, &at_nxt));
    }
    assert_eq!(s.host.counters().out_of_window_icmps, 2);
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 1460);
    assert_eq!(s.host.soft_error(s.conn), Ok(None));
    // With data in flight again, its first byte is believed, one past its last is not.
    assert_eq!(s.host.send(s.conn, &[6u8; 100]), Ok(100));
    let _ = drain(&mut s.host, t);
    let past = with_seq(&first[0].raw, 20, s.iss + 1101);
    s.host.handle_packet(
        t,
        &icmp(router_v4(), s.us.ip(), Kind::V4FragNeeded(576), &past),
    );
    assert_eq!(s.host.counters().out_of_window_icmps, 3);
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 1460);
    s.host.handle_packet(
        t,
        &icmp(router_v4(), s.us.ip(), Kind::V4FragNeeded(576), &at_nxt),
    );
    assert_eq!(s.host.info(s.conn).unwrap().snd_mss, 576 - 40);
}

/// A datagram of another protocol (UDP here) is no ICMP message, malformed or not: it leaves
/// the ICMP error counter alone (Linux counts it as an unknown protocol, not icmpInErrors).
#[test]
fn other_protocols_are_not_counted_as_icmp_errors() {
    let mut s = established("10.0.0.2", "10.0.0.1:80");
    assert_eq!(s.host.send(s.conn, &[1u8; 100]), Ok(100));
    let first = drain(&mut s.host, s.now);
    let mut v4 = icmp(
        router_v4(),
        s.us.ip(),
        Kind::V4Unreachable(v4::HOST_UNREACHABLE),
        &first[0].raw,
    );
    let mut p = synack_wire::Ipv4Packet::new_unchecked(&mut v4[..]);
    p.set_protocol(17);
    p.fill_checksum();
    s.host.handle_packet(s.now, &v4);
    let mut v6 = icmp(
        router_v6(),
        "2001:db8::2".parse().unwrap(),
        Kind::V6Unreachable(v6::ADDR_UNREACHABLE),
        &first[0].raw,
    );
    synack_wire::Ipv6Packet::new_unchecked(&mut v6[..]).set_next_header(17);
    s.host.handle_packet(s.now, &v6);
    let c = s.host.counters();
    assert_eq!((c.icmp_in_errs, c.in_errs, c.icmp_soft_errors), (0, 0, 0));
    assert_eq!(s.host.soft_error(s.conn), Ok(None));
}

/// A soft error is news about the path only until the path works again: once the peer
/// acknowledges data, it is forgotten (Linux clears `sk_err_soft` on such an ACK), and a
/// connection that later times out for another reason reports a timeout, not the old
/// unreachable.
#[test]
fn an_acknowledgment_clears_an_earlier_soft_error() {
    let mut s = established("10.0.0.2", "10.0.0.1:80");
    assert_eq!(s.host.send(s.conn, &[5u8; 1000]), Ok(1000));
    let first = drain(&mut s.host, s.now);
    let t = s.now + Duration::from_millis(5);
    s.host.handle_packet(
        t,
        &icmp(
            router_v4(),
            s.us.ip(),
            Kind::V4Unreachable(v4::HOST_UNREACHABLE),
            &first[0].raw,
        ),
    );
    assert_eq!(
        s.host.soft_error(s.conn),
        Ok(Some(ConnError::HostUnreachable))
    );
    let t = t + Duration::from_millis(20);
    s.host.handle_packet(
        t,
        &from_peer(s.peer, s.us, TcpFlags::ACK, s.peer_nxt, s.iss + 1001),
    );
    assert_eq!(s.host.soft_error(s.conn), Ok(None));
    // Later data is never acknowledged: the connection times out, as a timeout.
    assert_eq!(s.host.send(s.conn, &[6u8; 100]), Ok(100));
    let _ = drain(&mut s.host, t);
    let evs = run(&mut s.host, t, t + Duration::from_secs(3600));
    assert!(
        evs.contains(&HostEvent::Closed(s.conn, Some(ConnError::TimedOut))),
        "{evs:?}"
    );
}
