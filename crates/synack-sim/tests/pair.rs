//! How a Pair steps: event order, clock, idle detection, taps, mid-run changes.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use core::time::Duration;

use synack_sim::endpoints::Scripted;
use synack_sim::{
    Capture, Endpoint, Fate, Instant, Link, LinkConfig, Pair, PcapTap, Side, SimError, TapEvent,
};

type Log = Rc<RefCell<Vec<String>>>;

/// Writes everything that happens to it into a log shared with the other side, and fires a
/// timer at a given instant.
struct Journal {
    name: &'static str,
    log: Log,
    timer: Option<Instant>,
    out: Vec<Vec<u8>>,
}

impl Journal {
    fn new(name: &'static str, log: &Log) -> Journal {
        Journal {
            name,
            log: log.clone(),
            timer: None,
            out: Vec::new(),
        }
    }
}

impl Endpoint for Journal {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let text = String::from_utf8_lossy(packet);
        self.log
            .borrow_mut()
            .push(format!("{now} {} got {text}", self.name));
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(self.out.remove(0))
        }
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.timer = None;
        self.log
            .borrow_mut()
            .push(format!("{now} {} timer", self.name));
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn simultaneous_events_run_in_a_fixed_order() {
    let log = Log::default();
    let link = Link::new(1, LinkConfig::new().delay(ms(10))).unwrap();
    let mut pair = Pair::new(Journal::new("A", &log), Journal::new("B", &log), link);
    // Both timers and three arrivals all land at 10 ms; B's packet was queued first but the
    // drain sends A's first.
    pair.b.timer = Some(Instant::from_millis(10));
    pair.a.timer = Some(Instant::from_millis(10));
    pair.b.out.push(b"b1".to_vec());
    pair.a.out.extend([b"a1".to_vec(), b"a2".to_vec()]);
    assert_eq!(
        pair.run_until_idle(Instant::from_millis(100)),
        Ok(Instant::from_millis(10))
    );
    assert_eq!(
        *log.borrow(),
        [
            "0.010000s B got a1",
            "0.010000s B got a2",
            "0.010000s A got b1",
            "0.010000s A timer",
            "0.010000s B timer",
        ]
    );
}

#[test]
fn step_handles_one_event_and_reports_idleness() {
    let log = Log::default();
    let link = Link::new(1, LinkConfig::new().delay(ms(5))).unwrap();
    let mut pair = Pair::new(Journal::new("A", &log), Journal::new("B", &log), link);
    assert!(!pair.step(), "nothing to do");
    assert_eq!(pair.next_event(), None);

    pair.a.out.push(b"x".to_vec());
    pair.a.timer = Some(Instant::from_millis(2));
    assert_eq!(pair.next_event(), Some(Instant::from_millis(2)));
    assert_eq!(pair.link.in_flight(), 1, "next_event sends what was queued");
    assert!(pair.step());
    assert_eq!(pair.now(), Instant::from_millis(2));
    assert!(pair.step());
    assert_eq!(pair.now(), Instant::from_millis(5));
    assert!(!pair.step());
    assert_eq!(*log.borrow(), ["0.002000s A timer", "0.005000s B got x"]);
}

#[test]
fn run_until_moves_the_clock_to_the_deadline_and_user_calls_happen_then() {
    let link = Link::new(1, LinkConfig::new().delay(ms(10))).unwrap();
    let mut pair = Pair::new(Scripted::new(), Scripted::new(), link);
    pair.run_until(Instant::from_millis(250)).unwrap();
    assert_eq!(pair.now(), Instant::from_millis(250));
    pair.a.send_now(b"late".to_vec());
    pair.run_for(ms(5)).unwrap();
    assert!(pair.b.received().is_empty(), "not there yet at 255 ms");
    pair.run_for(ms(5)).unwrap();
    assert_eq!(
        pair.b.received(),
        [(Instant::from_millis(260), b"late".to_vec())]
    );
    assert_eq!(pair.link.events()[0].sent_at, Instant::from_millis(250));
}

#[test]
fn run_until_idle_reports_work_left_past_its_limit() {
    let link = Link::new(1, LinkConfig::new().delay(ms(100))).unwrap();
    let mut pair = Pair::new(Scripted::new(), Scripted::new(), link);
    pair.a.send_now(b"slow".to_vec());
    assert_eq!(
        pair.run_until_idle(Instant::from_millis(50)),
        Err(SimError::NotIdle {
            at: Instant::from_millis(50),
            next_event: Instant::from_millis(100)
        })
    );
    assert_eq!(
        pair.run_until_idle(Instant::from_millis(500)),
        Ok(Instant::from_millis(100))
    );
}

#[test]
fn run_until_condition_stops_when_it_holds_or_reports_a_stall() {
    let link = Link::new(1, LinkConfig::new().delay(ms(10))).unwrap();
    let mut pair = Pair::new(Scripted::new(), Scripted::new(), link);
    for i in 0..5u64 {
        pair.a.send_at(Instant::from_millis(i * 20), vec![i as u8]);
    }
    let at = pair
        .run_until_condition(Instant::from_millis(1000), |p| p.b.received().len() == 3)
        .unwrap();
    assert_eq!(at, Instant::from_millis(50));
    assert_eq!(
        pair.run_until_condition(Instant::from_millis(1000), |p| p.b.received().len() == 9),
        Err(SimError::Stalled {
            at: Instant::from_millis(90)
        })
    );
}

/// Its timer never goes away: a classic endpoint bug the simulator must survive.
struct StuckTimer;

impl Endpoint for StuckTimer {
    fn handle_packet(&mut self, _: Instant, _: &[u8]) {}
    fn poll_transmit(&mut self, _: Instant) -> Option<Vec<u8>> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Some(Instant::from_millis(3))
    }
    fn handle_timeout(&mut self, _: Instant) {}
}

#[test]
fn a_timer_that_never_clears_is_reported_not_spun_on_forever() {
    let link = Link::new(1, LinkConfig::new()).unwrap();
    let mut pair = Pair::new(StuckTimer, Scripted::new(), link);
    pair.set_livelock_limit(1000);
    let result = pair.run_until(Instant::from_millis(10));
    assert!(
        matches!(result, Err(SimError::Livelock { at, .. }) if at == Instant::from_millis(3)),
        "{result:?}"
    );
}

#[test]
fn link_settings_change_mid_run_for_packets_sent_afterwards() {
    let link = Link::new(1, LinkConfig::new().delay(ms(10))).unwrap();
    let mut pair = Pair::new(Scripted::new(), Scripted::new(), link);
    pair.a.send_now(b"first".to_vec());
    pair.run_until(Instant::from_millis(1)).unwrap();
    pair.link
        .update_config(Side::A, |c| c.delay = ms(50))
        .unwrap();
    pair.a.send_now(b"second".to_vec());
    pair.run_until_idle(Instant::from_millis(1000)).unwrap();
    assert_eq!(
        pair.b.received(),
        [
            (Instant::from_millis(10), b"first".to_vec()),
            (Instant::from_millis(51), b"second".to_vec()),
        ]
    );
    assert!(pair.link.update_config(Side::A, |c| c.loss = -1.0).is_err());
    assert_eq!(pair.link.config(Side::A).delay, ms(50));
}

#[test]
fn taps_see_every_send_before_its_delivery_and_never_a_lost_packet_arriving() {
    #[derive(Debug, PartialEq)]
    enum Seen {
        Sent(u64, bool),
        Copy(u64),
        Arrived(u64),
    }
    let seen = Rc::new(RefCell::new(Vec::new()));
    let pcap = Rc::new(RefCell::new(PcapTap::new(Capture::Delivered)));
    let config = LinkConfig::new().delay(ms(3)).loss(0.3).duplicate(0.2);
    let mut link = Link::new(3, config).unwrap();
    let record = seen.clone();
    link.add_tap(synack_sim::tap::from_fn(move |event| {
        record.borrow_mut().push(match event {
            TapEvent::Sent(e) => Seen::Sent(e.id, e.fate.arrival().is_some()),
            TapEvent::Duplicated(e) => Seen::Copy(e.id),
            TapEvent::Delivered(d) => Seen::Arrived(d.id),
        })
    }));
    link.add_tap(pcap.clone());
    let mut pair = Pair::new(Scripted::new(), Scripted::new(), link);
    for i in 0..200u32 {
        pair.a
            .send_at(Instant::from_millis(u64::from(i)), common::numbered(i, 10));
    }
    pair.run_until_idle(Instant::from_millis(10_000)).unwrap();

    let seen = seen.borrow();
    let events = pair.link.events();
    let sends = seen.iter().filter(|s| matches!(s, Seen::Sent(..))).count();
    assert_eq!(sends, 200);
    for event in events {
        let announced = seen
            .iter()
            .position(|s| matches!(s, Seen::Sent(id, _) | Seen::Copy(id) if *id == event.id))
            .expect("every event is announced");
        let arrived = seen.iter().position(|s| *s == Seen::Arrived(event.id));
        match event.fate {
            Fate::Lost => assert_eq!(arrived, None),
            _ => assert!(arrived.expect("delivered") > announced),
        }
    }
    let arrivals = seen
        .iter()
        .filter(|s| matches!(s, Seen::Arrived(_)))
        .count();
    assert_eq!(arrivals, pair.b.received().len());
    let captured: Vec<(Instant, Vec<u8>)> = pcap
        .borrow()
        .records()
        .iter()
        .map(|r| (r.at, r.data.clone()))
        .collect();
    assert_eq!(captured, pair.b.received());
}
