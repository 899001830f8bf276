//! The handshake's options: offered only when both sides do (RFC 7323, RFC 2018), window
//! scaling after the handshake, PAWS (RFC 7323 §5).

use synack_proto::Connection;

use crate::common::*;

pub fn options_negotiated_only_when_both_offer() {
    let config = synack_proto::Config::default();
    // A peer that offers only MSS: the SYN-ACK must offer nothing else.
    let mut d = Driver::new(Connection::listen(&config, LOCAL_PORT, ISS));
    d.input(seg("S", PEER_ISS, 0).mss(1000));
    let out = d.out();
    assert_eq!(out[0].options.mss, Some(1460));
    assert_eq!(out[0].options.window_scale, None);
    assert!(!out[0].options.sack_permitted);
    assert_eq!(out[0].options.timestamps, None);
    d.input(seg(".", PEER_ISS + 1, ISS + 1));
    let info = d.c.info();
    assert_eq!(
        (info.snd_mss, info.snd_wscale, info.rcv_wscale),
        (1000, 0, 0)
    );
    assert!(!info.sack && !info.timestamps);
    // A peer that offers everything gets everything back.
    let mut d = Driver::new(Connection::listen(&config, LOCAL_PORT, ISS));
    d.input(seg("S", PEER_ISS, 0).mss(9000).ws(7).sack_ok().ts(777, 0));
    let out = d.out();
    assert_eq!(out[0].options.window_scale, Some(7));
    assert!(out[0].options.sack_permitted);
    assert_eq!(out[0].options.timestamps.map(|t| t.tsecr), Some(777));
    d.input(seg(".", PEER_ISS + 1, ISS + 1).ts(778, out[0].options.timestamps.unwrap().tsval));
    let info = d.c.info();
    // Our MSS caps the peer's; timestamps take 12 bytes of every segment.
    assert_eq!(
        (info.snd_mss, info.snd_wscale, info.rcv_wscale),
        (1448, 7, 7)
    );
    assert!(info.sack && info.timestamps);
    // No MSS option means 536 (RFC 9293 §3.7.1).
    let mut d = Driver::new(Connection::listen(&plain_config(), LOCAL_PORT, ISS));
    d.input(seg("S", PEER_ISS, 0));
    d.out();
    d.input(seg(".", PEER_ISS + 1, ISS + 1));
    assert_eq!(d.c.info().snd_mss, 536);
}

pub fn window_scale_applies_after_the_handshake() {
    let config = synack_proto::Config {
        window_scaling: true,
        ..plain_config()
    };
    let mut d = Driver::syn_sent(config);
    d.input(seg("S.", PEER_ISS, ISS + 1).ws(4).win(1000));
    assert_eq!(
        d.c.info().snd_wnd,
        1000,
        "the SYN-ACK's window is never scaled"
    );
    d.out();
    d.input(seg(".", PEER_ISS + 1, ISS + 1).win(1000));
    assert_eq!(d.c.info().snd_wnd, 16000);
}

pub fn paws_drops_old_timestamps() {
    let config = synack_proto::Config {
        timestamps: true,
        ..plain_config()
    };
    let mut d = Driver::syn_sent(config);
    d.input(seg("S.", PEER_ISS, ISS + 1).ts(1_000, 0));
    d.out();
    d.input(seg("P.", PEER_ISS + 1, ISS + 1).data(b"new").ts(2_000, 0));
    assert_eq!(d.out().len(), 1);
    d.input(seg("P.", PEER_ISS + 4, ISS + 1).data(b"old").ts(1_500, 0));
    let out = d.out();
    assert_eq!(out.len(), 1, "PAWS: ACK and drop");
    assert_eq!(out[0].ack, PEER_ISS + 4);
    assert_eq!(d.read_all(), b"new");
}
