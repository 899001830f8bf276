//! A [`Host`] on a simulated link: the glue between the sans-IO host and [`Endpoint`], plus a
//! hook for the application that uses it.
//!
//! The application sees every [`HostEvent`] with the host in hand, so it can accept, read,
//! write and close in reaction, as an event loop over real sockets would.
//!
//! A host with `HostConfig::segmentation_offload` has a device that segments: the node cuts
//! each super-segment into the MSS-sized segments a NIC would put on the wire
//! ([`synack_wire::segment_tcp`]), so the link, its faults and its captures only ever see
//! those.

use std::collections::VecDeque;
use std::net::IpAddr;

use synack_proto::Instant;
use synack_proto::host::{Host, HostEvent};
use synack_wire::{ChecksumMode, segment_tcp};

use crate::Endpoint;

/// An application driving a host from its events.
pub trait HostApp {
    fn on_event(&mut self, host: &mut Host, now: Instant, event: HostEvent);
}

/// An application that ignores everything.
impl HostApp for () {
    fn on_event(&mut self, _: &mut Host, _: Instant, _: HostEvent) {}
}

/// A host plus its application on one side of a link.
pub struct HostNode<A: HostApp = ()> {
    pub host: Host,
    pub app: A,
    /// When set, only packets to these addresses reach the link; the rest (e.g. SYN-ACKs to
    /// spoofed sources, which would go elsewhere on a real network) are counted in
    /// `unroutable` and dropped.
    pub routes: Option<Vec<IpAddr>>,
    pub unroutable: u64,
    buf: Vec<u8>,
    /// Segments cut from a super-segment, waiting for the link.
    cut: VecDeque<Vec<u8>>,
    scratch: Vec<u8>,
}

impl<A: HostApp> HostNode<A> {
    pub fn new(host: Host, app: A) -> HostNode<A> {
        HostNode {
            host,
            app,
            routes: None,
            unroutable: 0,
            buf: vec![0; 65536 + 120],
            cut: VecDeque::new(),
            scratch: vec![0; 65536 + 120],
        }
    }

    /// Hands every pending event to the application (which may cause more).
    pub fn run_app(&mut self, now: Instant) {
        while let Some(ev) = self.host.poll_event() {
            self.app.on_event(&mut self.host, now, ev);
        }
    }

    fn routable(&self, dst: IpAddr) -> bool {
        self.routes
            .as_ref()
            .is_none_or(|routes| routes.contains(&dst))
    }
}

impl<A: HostApp> Endpoint for HostNode<A> {
    fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        self.host.handle_packet(now, packet);
        self.run_app(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Vec<u8>> {
        self.run_app(now);
        if let Some(packet) = self.cut.pop_front() {
            return Some(packet);
        }
        loop {
            let sent = self.host.poll_transmit(now, &mut self.buf)?;
            if !self.routable(sent.dst.ip()) {
                self.unroutable += 1;
                continue;
            }
            let packet = &self.buf[..sent.len];
            let packet = match sent.segment_size {
                None => packet.to_vec(),
                Some(size) => {
                    let cut = &mut self.cut;
                    // The host built it: it parses, and the scratch holds any piece.
                    let _ = segment_tcp(
                        packet,
                        usize::from(size),
                        &mut self.scratch,
                        ChecksumMode::Verify,
                        |p| cut.push_back(p.to_vec()),
                    );
                    match cut.pop_front() {
                        Some(first) => first,
                        None => continue,
                    }
                }
            };
            self.run_app(now);
            return Some(packet);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.host.poll_timeout()
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.host.handle_timeout(now);
        self.run_app(now);
    }
}
