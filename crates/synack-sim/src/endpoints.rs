//! Ready-made endpoints for tests and demos of the simulator itself.

use std::collections::VecDeque;

use synack_proto::Instant;

use crate::endpoint::Endpoint;

/// Sends packets at scheduled times and records every packet it receives. Knows nothing of any
/// protocol: the bytes are whatever the script says.
#[derive(Clone, Debug, Default)]
pub struct Scripted {
    /// Sorted by time; packets with equal times keep the order they were scheduled in.
    schedule: VecDeque<(Instant, Vec<u8>)>,
    ready: VecDeque<Vec<u8>>,
    received: Vec<(Instant, Vec<u8>)>,
}

impl Scripted {
    pub fn new() -> Scripted {
        Scripted::default()
    }

    /// Queues `packet` to be sent at `at` (or at once, if `at` has passed when the simulator
    /// next looks).
    pub fn send_at(&mut self, at: Instant, packet: Vec<u8>) {
        let index = self.schedule.partition_point(|(t, _)| *t <= at);
        self.schedule.insert(index, (at, packet));
    }

    /// Queues `packet` to be sent at the simulator's next step.
    pub fn send_now(&mut self, packet: Vec<u8>) {
        self.ready.push_back(packet);
    }

    /// Packets received so far, with their arrival times.
    pub fn received(&self) -> &[(Instant, Vec<u8>)] {
        &self.received
    }

    /// Scheduled packets not yet handed to the simulator.
    pub fn pending(&self) -> usize {
        self.schedule.len() + self.ready.len()
    }
}

impl Endpoint for Scripted {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.received.push((now, packet.to_vec()));
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        if let Some(packet) = self.ready.pop_front() {
            return Some(packet);
        }
        if self.schedule.front().is_some_and(|(at, _)| *at <= now) {
            return self.schedule.pop_front().map(|(_, packet)| packet);
        }
        None
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.ready.is_empty() {
            self.schedule.front().map(|(at, _)| *at)
        } else {
            None
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {
        // Nothing to do: the due packets go out in the drain that follows every event.
    }
}
