//! Captures read back by an independent pcap reader, and by tshark when it is installed.

use std::cell::RefCell;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;

use core::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use synack_sim::endpoints::Scripted;
use synack_sim::pcap::{PcapWriter, SNAPLEN, write_events};
use synack_sim::{Capture, Instant, Link, LinkConfig, Pair, PcapTap, Side};

/// RFC 1071 ones'-complement sum, folded.
fn ones_complement(chunks: &[&[u8]]) -> u16 {
    let mut sum = 0u32;
    for chunk in chunks {
        for pair in chunk.chunks(2) {
            let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
            sum += u32::from(word);
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A valid IPv4/UDP datagram between two documentation addresses (RFC 5737).
fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, id: u16, payload: &[u8]) -> Vec<u8> {
    let udp_len = (8 + payload.len()) as u16;
    let total = 20 + udp_len;
    let mut ip = vec![0x45, 0];
    ip.extend(total.to_be_bytes());
    ip.extend(id.to_be_bytes());
    ip.extend([0x40, 0, 64, 17, 0, 0]); // DF, TTL 64, UDP, checksum placeholder
    ip.extend(src);
    ip.extend(dst);
    let ip_sum = ones_complement(&[&ip]);
    ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());

    let mut segment = Vec::new();
    segment.extend(sport.to_be_bytes());
    segment.extend(dport.to_be_bytes());
    segment.extend(udp_len.to_be_bytes());
    segment.extend([0, 0]);
    segment.extend(payload);
    let mut pseudo = Vec::new();
    pseudo.extend(src);
    pseudo.extend(dst);
    pseudo.extend([0, 17]);
    pseudo.extend(udp_len.to_be_bytes());
    let sum = match ones_complement(&[&pseudo, &segment]) {
        0 => 0xffff,
        s => s,
    };
    segment[6..8].copy_from_slice(&sum.to_be_bytes());
    ip.extend(segment);
    ip
}

const HOST_A: [u8; 4] = [192, 0, 2, 1];
const HOST_B: [u8; 4] = [198, 51, 100, 7];

struct Run {
    pair: Pair<Scripted, Scripted>,
    sent: Rc<RefCell<PcapTap>>,
    delivered: Rc<RefCell<PcapTap>>,
}

/// A talks to B and B answers, over a lossy link, with both kinds of capture attached.
fn conversation(loss: f64) -> Run {
    let config = LinkConfig::new()
        .delay(Duration::from_micros(1500))
        .loss(loss);
    let mut link = Link::new(11, config).unwrap();
    let sent = Rc::new(RefCell::new(PcapTap::new(Capture::Sent)));
    let delivered = Rc::new(RefCell::new(PcapTap::new(Capture::Delivered)));
    link.add_tap(sent.clone());
    link.add_tap(delivered.clone());
    let mut a = Scripted::new();
    let mut b = Scripted::new();
    for i in 0..20u16 {
        // Sub-second and multi-second timestamps both show up in the file.
        let at = Instant::from_micros(999_000 + u64::from(i) * 250_013);
        let payload = format!("ping {i}");
        a.send_at(at, udp(HOST_A, HOST_B, 40000, 7, i, payload.as_bytes()));
        let reply = format!("pong {i} {}", "x".repeat(usize::from(i)));
        b.send_at(
            at + Duration::from_millis(2),
            udp(HOST_B, HOST_A, 7, 40000, 1000 + i, reply.as_bytes()),
        );
    }
    let mut pair = Pair::new(a, b, link);
    pair.run_until_idle(Instant::from_millis(60_000)).unwrap();
    Run {
        pair,
        sent,
        delivered,
    }
}

fn read_back(bytes: &[u8]) -> (pcap_file::pcap::PcapHeader, Vec<(Duration, u32, Vec<u8>)>) {
    let mut reader = PcapReader::new(bytes).expect("a pcap header");
    let header = reader.header();
    let mut packets = Vec::new();
    while let Some(packet) = reader.next_packet() {
        let packet = packet.expect("a well-formed record");
        packets.push((packet.timestamp, packet.orig_len, packet.data.into_owned()));
    }
    (header, packets)
}

#[test]
fn captures_read_back_identically_with_an_independent_reader() {
    let run = conversation(0.25);
    let events = run.pair.link.events();
    let mut file = Vec::new();
    run.sent.borrow().write_to(&mut file).unwrap();

    let (header, packets) = read_back(&file);
    assert_eq!(header.datalink, DataLink::RAW);
    assert_eq!(header.ts_resolution, pcap_file::TsResolution::MicroSecond);
    assert_eq!((header.version_major, header.version_minor), (2, 4));
    // As sent: every packet once, lost ones included, at its send time.
    assert_eq!(packets.len(), 40);
    let lost = events.iter().filter(|e| e.fate.arrival().is_none()).count();
    assert!(lost > 0, "the capture must show lost packets too");
    for ((timestamp, orig_len, data), event) in packets.iter().zip(events) {
        assert_eq!(timestamp.as_micros() as u64, event.sent_at.as_micros());
        assert_eq!(*orig_len as usize, event.packet.len());
        assert_eq!(data, &event.packet);
    }
    assert_eq!(packets[0].0, Duration::from_micros(999_000));

    // The same capture can be made from the log after the fact.
    let mut from_log = Vec::new();
    write_events(events, Capture::Sent, &mut from_log).unwrap();
    assert_eq!(from_log, file);

    let mut arrived = Vec::new();
    run.delivered.borrow().write_to(&mut arrived).unwrap();
    let (_, arrivals) = read_back(&arrived);
    let delivered = run.pair.link.stats(Side::A).delivered + run.pair.link.stats(Side::B).delivered;
    assert_eq!(arrivals.len() as u64, delivered);
    assert_eq!(arrivals.len(), 40 - lost);
    let mut received: Vec<(u64, Vec<u8>)> = run
        .pair
        .a
        .received()
        .iter()
        .chain(run.pair.b.received())
        .map(|(at, p)| (at.as_micros(), p.clone()))
        .collect();
    received.sort();
    let mut captured: Vec<(u64, Vec<u8>)> = arrivals
        .into_iter()
        .map(|(t, _, d)| (t.as_micros() as u64, d))
        .collect();
    captured.sort();
    assert_eq!(captured, received);
    let mut delivered_from_log = Vec::new();
    write_events(events, Capture::Delivered, &mut delivered_from_log).unwrap();
    assert_eq!(delivered_from_log, arrived);
}

#[test]
fn oversized_packets_are_truncated_to_the_snaplen_with_their_length_kept() {
    let mut writer = PcapWriter::new(Vec::new()).unwrap();
    let big = vec![0x45; SNAPLEN as usize + 10];
    writer
        .write_packet(Instant::from_micros(3_000_007), &big)
        .unwrap();
    let bytes = writer.into_inner();
    // Read raw: pcap-file's checked records also refuse an original length beyond the snaplen,
    // which libpcap and Wireshark accept.
    let mut reader = PcapReader::new(&bytes[..]).unwrap();
    let raw = reader.next_raw_packet().unwrap().unwrap();
    assert_eq!((raw.ts_sec, raw.ts_frac), (3, 7));
    assert_eq!(raw.orig_len as usize, big.len());
    assert_eq!(raw.incl_len, SNAPLEN);
    assert_eq!(raw.data.len(), SNAPLEN as usize);
    assert!(reader.next_raw_packet().is_none());
}

fn temp_pcap(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("synack-sim-{}-{name}.pcap", std::process::id()))
}

/// The expert-info and malformed-packet complaints tshark has about a capture, with IP and UDP
/// checksum validation on.
fn tshark_complaints(path: &Path) -> Vec<String> {
    let output = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(path)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-e",
            "frame.number",
            "-e",
            "ip.src",
            "-e",
            "udp.dstport",
            "-e",
            "_ws.expert",
            "-e",
            "_ws.malformed",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        output.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut complaints = Vec::new();
    for line in &lines {
        let fields: Vec<&str> = line.split('\t').collect();
        assert!(
            fields.len() >= 3 && !fields[1].is_empty() && !fields[2].is_empty(),
            "tshark did not decode IPv4/UDP: {line:?}"
        );
        if fields[3..].iter().any(|f| !f.is_empty()) {
            complaints.push(line.to_string());
        }
    }
    complaints
}

#[test]
fn tshark_finds_the_capture_well_formed() {
    if Command::new("tshark").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tshark is required in CI (install the tshark package)"
        );
        // Straight to the stream: libtest swallows `eprintln!` from passing tests.
        let _ = writeln!(std::io::stderr(), "SKIPPED: tshark not installed");
        return;
    }
    let run = conversation(0.0);
    let good = temp_pcap("good");
    run.sent.borrow().write_file(&good).unwrap();
    let complaints = tshark_complaints(&good);
    std::fs::remove_file(&good).ok();
    assert_eq!(complaints, Vec::<String>::new());

    // The check itself can fail: a datagram with a broken UDP checksum is flagged.
    let mut broken = udp(HOST_A, HOST_B, 40000, 7, 1, b"broken");
    let last = broken.len() - 1;
    broken[last] ^= 0x01;
    let bad = temp_pcap("bad");
    let mut writer = PcapWriter::new(std::fs::File::create(&bad).unwrap()).unwrap();
    writer
        .write_packet(Instant::ZERO, &run.pair.link.events()[0].packet)
        .unwrap();
    writer
        .write_packet(Instant::from_millis(1), &broken)
        .unwrap();
    writer.flush().unwrap();
    drop(writer);
    let complaints = tshark_complaints(&bad);
    std::fs::remove_file(&bad).ok();
    assert_eq!(complaints.len(), 1, "{complaints:?}");
    assert!(complaints[0].starts_with("2\t"), "{complaints:?}");
}
