//! The contract between the simulator and a protocol host.

use synack_proto::Instant;

/// A host on the simulated network, in the sans-IO shape: the simulator hands in time and
/// packets and takes packets out; the host never reads a clock or touches a socket.
///
/// Packets are opaque datagrams (IP packets for synack); the simulator does not parse them.
pub trait Endpoint {
    /// A packet arrived at `now`.
    fn handle_packet(&mut self, now: Instant, packet: &[u8]);
    /// The next packet the host wants to send, if any. Called repeatedly until `None` after
    /// every call into the host, so a host may queue several packets at once.
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>>;
    /// When the host next wants [`handle_timeout`](Endpoint::handle_timeout) called. An instant
    /// already past is treated as due now.
    fn poll_timeout(&self) -> Option<Instant>;
    /// The instant from `poll_timeout` has come.
    fn handle_timeout(&mut self, now: Instant);
}

impl<E: Endpoint + ?Sized> Endpoint for Box<E> {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        (**self).handle_packet(now, packet);
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        (**self).poll_transmit(now)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        (**self).poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        (**self).handle_timeout(now);
    }
}
