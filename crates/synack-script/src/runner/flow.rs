//! The connections of a script, each with what maps the script's relative sequence numbers
//! and timestamps to synack's live ones.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::Runner;
use crate::ast::Packet;

/// One connection as the script sees it.
#[derive(Clone, Debug)]
pub(super) struct Flow {
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    /// synack's ISN, live and as the script wrote it, learned from the flow's first SYN or
    /// SYN-ACK and kept for the flow's life, as packetdrill keeps it per socket.
    pub(super) local_isn: Option<(u32, u32)>,
    /// The script's ISN for the peer: the sequence number of the packet that opened a
    /// passive flow, or of the SYN-ACK answering an active one (packetdrill's
    /// `remote_isn`); `None` until then, which counts as 0.
    pub(super) remote_isn: Option<u32>,
    /// Script TSval → synack's TSval, from outbound packets.
    pub(super) ts_map: HashMap<u32, u32>,
    pub(super) first_ts: Option<(u32, u32)>,
    /// The TSval of synack's latest segment on this flow when the script left it unchecked
    /// (`<...>`); `None` when the script wrote that TSval or the segment had none.
    pub(super) unchecked_tsval: Option<u32>,
}

/// packetdrill's sequence spaces (`socket.h`), as tcpdump prints them: in a packet with
/// SYN the peer's numbers are absolute and synack's are relative to the script's ISN; in
/// other packets both are relative to the flow's ISNs.
impl Flow {
    fn new(local: SocketAddr, remote: SocketAddr) -> Flow {
        Flow {
            local,
            remote,
            local_isn: None,
            remote_isn: None,
            ts_map: HashMap::new(),
            first_ts: None,
            unchecked_tsval: None,
        }
    }

    /// live - script for synack's sequence numbers (and the peer's acknowledgments).
    pub(super) fn local_off(&self, syn: bool) -> u32 {
        match self.local_isn {
            Some((live, script)) if syn => live.wrapping_sub(script),
            Some((live, _)) => live,
            None => 0,
        }
    }

    /// live - script for the peer's sequence numbers, before the runner's fixed offset.
    pub(super) fn remote_off(&self, syn: bool) -> u32 {
        if syn { 0 } else { self.remote_isn.unwrap_or(0) }
    }

    /// Both spaces for an outbound segment, the peer's shifted by the runner's fixed
    /// offset (`fixed_isn`).
    pub(super) fn offsets(&self, syn: bool, fixed_isn: u32) -> Offsets {
        Offsets {
            local_off: self.local_off(syn),
            remote_off: fixed_isn.wrapping_add(self.remote_off(syn)),
        }
    }
}

/// The script's sequence space for one segment: synack's (`local_off`) and the peer's
/// (`remote_off`), each as live minus script.
#[derive(Clone, Copy)]
pub(super) struct Offsets {
    pub(super) local_off: u32,
    pub(super) remote_off: u32,
}

impl Runner {
    pub(super) fn default_local(&self) -> SocketAddr {
        self.listen_addr
            .unwrap_or(SocketAddr::new(self.cfg.local_addr(), self.cfg.bind_port))
    }

    /// The flow an inbound packet belongs to: the one its port pair names, else the flow
    /// under test; a packet that starts a flow is its remote ISN, as packetdrill takes the
    /// packet that creates a child socket's.
    pub(super) fn flow_for_inbound(&mut self, p: &Packet) -> usize {
        let mut local = self.default_local();
        if let Some(port) = p.local_port {
            local.set_port(port);
        }
        let i = if let Some(port) = p.remote_port {
            match self
                .flows
                .iter()
                .position(|f| f.remote.port() == port && f.local == local)
            {
                Some(i) => i,
                None => self.new_flow(local, port, p.seq),
            }
        } else if let Some(i) = self.current {
            i
        } else {
            self.new_flow(local, self.cfg.remote_port, p.seq)
        };
        let f = &mut self.flows[i];
        if p.flags.syn && p.flags.ack && f.remote_isn.is_none() {
            // The SYN-ACK answering an active open.
            f.remote_isn = Some(p.seq);
        }
        i
    }

    fn new_flow(&mut self, local: SocketAddr, remote_port: u16, remote_isn: u32) -> usize {
        let mut f = Flow::new(local, SocketAddr::new(self.cfg.remote_addr(), remote_port));
        f.remote_isn = Some(remote_isn);
        self.flows.push(f);
        self.flows.len() - 1
    }

    /// The flow with this 4-tuple, made if it is new (an active open's SYN).
    pub(super) fn flow_of(&mut self, local: SocketAddr, remote: SocketAddr) -> usize {
        if let Some(i) = self
            .flows
            .iter()
            .position(|f| f.local == local && f.remote == remote)
        {
            return i;
        }
        self.flows.push(Flow::new(local, remote));
        self.flows.len() - 1
    }

    pub(super) fn stack_bound(&self, fd: i32) -> Option<SocketAddr> {
        // The listener's address as the script's packets reach it.
        let b = self.stack.local_addr(fd).ok().flatten()?;
        Some(if b.ip().is_unspecified() {
            SocketAddr::new(self.cfg.local_addr(), b.port())
        } else {
            b
        })
    }
}
