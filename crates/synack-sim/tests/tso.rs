//! A host with segmentation offload on the simulated network: its node cuts the
//! super-segments as a NIC would, so the link (with its loss and its capture) carries exactly
//! the segments a host without offload sends: the two captures are the same bytes at the same
//! times, and tshark reads no segment beyond the MTU.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::Command;
use std::rc::Rc;
use std::time::Duration;

use synack_proto::host::{ConnId, Host, HostConfig, HostEvent};
use synack_proto::{Config, Instant};
use synack_sim::{Capture, HostApp, HostNode, Link, LinkConfig, Pair, PcapTap};

const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 80);
const CLIENT: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 0);
const TOTAL: usize = 4 << 20;

fn byte(i: usize) -> u8 {
    (i * 13 % 253) as u8
}

/// Writes `TOTAL` bytes as the send buffer takes them, then closes.
struct Sender {
    conn: Option<ConnId>,
    written: usize,
}

impl Sender {
    fn write(&mut self, host: &mut Host, now: Instant) {
        let Some(c) = self.conn else { return };
        while self.written < TOTAL {
            let end = (self.written + 65536).min(TOTAL);
            let chunk: Vec<u8> = (self.written..end).map(byte).collect();
            match host.send(c, &chunk) {
                Ok(n @ 1..) => self.written += n,
                _ => return,
            }
        }
        let _ = host.close(now, c);
        self.conn = None;
    }
}

impl HostApp for Sender {
    fn on_event(&mut self, host: &mut Host, now: Instant, event: HostEvent) {
        if matches!(
            event,
            HostEvent::Writable(_) | HostEvent::StateChanged { .. }
        ) {
            self.write(host, now);
        }
    }
}

/// Accepts, reads and checks every byte, closes at end of stream.
#[derive(Default)]
struct Receiver {
    got: usize,
    eof: bool,
}

impl HostApp for Receiver {
    fn on_event(&mut self, host: &mut Host, now: Instant, event: HostEvent) {
        let c = match event {
            HostEvent::Accepted { listener, .. } => match host.accept(listener) {
                Some(c) => c,
                None => return,
            },
            HostEvent::Readable(c) => c,
            _ => return,
        };
        let mut buf = vec![0u8; 65536];
        loop {
            match host.recv(c, &mut buf) {
                Ok(0) => {
                    self.eof = true;
                    let _ = host.close(now, c);
                    return;
                }
                Ok(n) => {
                    for (k, b) in buf[..n].iter().enumerate() {
                        assert_eq!(*b, byte(self.got + k), "byte {} corrupted", self.got + k);
                    }
                    self.got += n;
                }
                Err(_) => return,
            }
        }
    }
}

struct Run {
    capture: Rc<RefCell<PcapTap>>,
    super_segments: u64,
}

fn run(tso: bool) -> Run {
    let tcp = Config {
        mtu: 1500,
        ..Config::default()
    };
    let host = |secret, segmentation_offload| {
        Host::new(HostConfig {
            secret,
            tcp: tcp.clone(),
            segmentation_offload,
            ..HostConfig::default()
        })
    };
    let mut server = host(1, false);
    server.listen(SERVER, 8).unwrap();
    let mut client = host(2, tso);
    let start = Instant::from_millis(1);
    let conn = client.connect(start, CLIENT, SERVER).unwrap();
    let link_config = LinkConfig::new()
        .delay(Duration::from_millis(10))
        .loss(0.01);
    let mut link = Link::new(42, link_config).unwrap();
    let capture = Rc::new(RefCell::new(PcapTap::new(Capture::Sent)));
    link.add_tap(capture.clone());
    let sender = Sender {
        conn: Some(conn),
        written: 0,
    };
    let mut pair = Pair::starting_at(
        HostNode::new(client, sender),
        HostNode::new(server, Receiver::default()),
        link,
        start,
    );
    pair.run_until_idle(Instant::from_millis(120_000)).unwrap();
    assert_eq!(pair.b.app.got, TOTAL, "every byte arrived (tso: {tso})");
    assert!(pair.b.app.eof);
    Run {
        capture,
        super_segments: pair.a.host.counters().out_super_segments,
    }
}

#[test]
fn a_tso_host_puts_the_same_segments_on_a_lossy_link_as_an_mss_host() {
    let plain = run(false);
    let tso = run(true);
    assert_eq!(plain.super_segments, 0);
    assert!(tso.super_segments > 0, "the TSO host built super-segments");
    let (a, b) = (plain.capture.borrow(), tso.capture.borrow());
    let packets = a.records().len();
    assert!(packets > 1000, "a real transfer: {packets} packets");
    assert_eq!(a.records(), b.records(), "the two captures differ");
    assert!(b.records().iter().all(|r| r.data.len() <= 1500));

    // tshark reads the TSO host's capture: nothing beyond the MTU, nothing malformed.
    if Command::new("tshark").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tshark is required in CI (install the tshark package)"
        );
        eprintln!("tshark not installed: skipping its reading of the capture");
        return;
    }
    let path: PathBuf =
        std::env::temp_dir().join(format!("synack-tso-{}.pcap", std::process::id()));
    b.write_file(&path).unwrap();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&path)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.len",
            "-e",
            "_ws.malformed",
            "-e",
            "tcp.len",
        ])
        .output()
        .expect("tshark runs");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success(), "tshark failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut payload = 0usize;
    let mut frames = 0usize;
    for line in text.lines() {
        let mut f = line.split('\t');
        let len: usize = f.next().unwrap().parse().unwrap();
        assert!(len <= 1500, "a {len}-byte frame on a 1500-byte link");
        assert_eq!(f.next(), Some(""), "malformed: {line}");
        payload += f.next().and_then(|s| s.parse::<usize>().ok()).unwrap_or(0);
        frames += 1;
    }
    assert_eq!(frames, b.records().len());
    assert!(payload >= TOTAL, "{payload} bytes of TCP payload");
}
