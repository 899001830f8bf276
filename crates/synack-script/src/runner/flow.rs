//! The connections of a script, each with what maps the script's relative sequence numbers
//! and timestamps to synack's live ones.

use std::collections::HashMap;
use std::net::SocketAddr;

use super::Runner;

/// One connection as the script sees it.
#[derive(Clone, Debug)]
pub(super) struct Flow {
    pub(super) local: SocketAddr,
    pub(super) remote: SocketAddr,
    /// live - script, for synack's sequence numbers; learned from its SYN or SYN-ACK.
    pub(super) local_off: Option<u32>,
    /// Script TSval → synack's TSval, from outbound packets.
    pub(super) ts_map: HashMap<u32, u32>,
    pub(super) first_ts: Option<(u32, u32)>,
    /// The TSval of synack's latest segment on this flow, whatever the script wrote for it.
    pub(super) last_tsval: Option<u32>,
}

impl Runner {
    pub(super) fn default_local(&self) -> SocketAddr {
        self.listen_addr
            .unwrap_or(SocketAddr::new(self.cfg.local_addr(), self.cfg.bind_port))
    }

    pub(super) fn flow_for_inbound(&mut self, port: Option<u16>) -> usize {
        if let Some(port) = port {
            if let Some(i) = self.flows.iter().position(|f| f.remote.port() == port) {
                return i;
            }
            return self.new_flow(self.default_local(), port);
        }
        if let Some(i) = self.current {
            return i;
        }
        self.new_flow(self.default_local(), self.cfg.remote_port)
    }

    pub(super) fn new_flow(&mut self, local: SocketAddr, remote_port: u16) -> usize {
        self.flows.push(Flow {
            local,
            remote: SocketAddr::new(self.cfg.remote_addr(), remote_port),
            local_off: None,
            ts_map: HashMap::new(),
            first_ts: None,
            last_tsval: None,
        });
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
        self.flows.push(Flow {
            local,
            remote,
            local_off: None,
            ts_map: HashMap::new(),
            first_ts: None,
            last_tsval: None,
        });
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
