//! The user calls of RFC 9293 §3.10 on a host: OPEN (passive and active), SEND, RECEIVE,
//! CLOSE, ABORT, STATUS, by handle.

use alloc::collections::VecDeque;

use super::*;
use crate::config::{Config, SharedConfig};
use crate::conn::UrgentByte;
use crate::error::CallError;

impl Host {
    /// Passive OPEN on `local`, its connections with the host's default settings
    /// (`HostConfig::tcp`). An unspecified address (0.0.0.0 or ::) listens on every address of
    /// that family, port 0 on every port; the most specific listener gets a SYN. `backlog`
    /// bounds both the SYN queue and the accept queue (at least 1, at most `max_backlog`).
    pub fn listen(&mut self, local: SocketAddr, backlog: usize) -> Result<ListenerId, HostError> {
        let config = self.defaults_for(local.is_ipv6());
        self.listen_shared(local, backlog, config)
    }

    /// Passive OPEN whose connections take `config` (socket options set on a listening
    /// socket, which the connections it accepts inherit): each listener may have its own.
    pub fn listen_with(
        &mut self,
        local: SocketAddr,
        backlog: usize,
        config: Config,
    ) -> Result<ListenerId, HostError> {
        let config = SharedConfig::new(config.for_family(local.is_ipv6()));
        self.listen_shared(local, backlog, config)
    }

    /// The host's default connection settings for one address family.
    fn defaults_for(&self, ipv6: bool) -> SharedConfig {
        if ipv6 {
            self.tcp_v6.clone()
        } else {
            self.tcp.clone()
        }
    }

    /// `config` is made for `local`'s family already (`Config::for_family`).
    fn listen_shared(
        &mut self,
        local: SocketAddr,
        backlog: usize,
        config: SharedConfig,
    ) -> Result<ListenerId, HostError> {
        let key = ListenKey::new(local.ip(), local.port());
        if self.listen_map.contains_key(&key) {
            return Err(HostError::AddrInUse);
        }
        if local.ip().is_multicast() {
            return Err(HostError::InvalidAddress);
        }
        if !local.ip().is_unspecified() && !self.is_local(local.ip()) {
            return Err(HostError::AddrNotAvailable);
        }
        self.fit_max_payload(&config);
        let listener = Listener {
            local,
            backlog: backlog.clamp(1, self.config.max_backlog.max(1)),
            config,
            syn_queue: VecDeque::new(),
            accept_queue: VecDeque::new(),
            last_cookie: None,
        };
        let id = ListenerId(self.listeners.insert(listener));
        self.listen_map.insert(key, id);
        Ok(id)
    }

    /// Replaces the settings a listener gives the connections it opens from now on; those
    /// already in its queues keep theirs.
    pub fn set_listener_config(&mut self, id: ListenerId, config: Config) -> Result<(), HostError> {
        self.listener_mut(id).ok_or(HostError::InvalidListener)?;
        self.fit_max_payload(&config);
        let listener = self.listener_mut(id).ok_or(HostError::InvalidListener)?;
        listener.config = SharedConfig::new(config.for_family(listener.local.is_ipv6()));
        Ok(())
    }

    /// The address a listener listens on, as given to `listen`.
    pub fn listener_addr(&self, id: ListenerId) -> Result<SocketAddr, HostError> {
        let listener = self.listeners.get(id.0).ok_or(HostError::InvalidListener)?;
        Ok(listener.local)
    }

    /// Stops listening. Connections still in the SYN queue or the accept queue are aborted
    /// (with a reset, as Linux does when a listening socket with a backlog is closed).
    pub fn close_listener(&mut self, id: ListenerId) -> Result<(), HostError> {
        let listener = self
            .listeners
            .remove(id.0)
            .ok_or(HostError::InvalidListener)?;
        self.listen_map
            .remove(&ListenKey::new(listener.local.ip(), listener.local.port()));
        for c in listener
            .syn_queue
            .iter()
            .chain(listener.accept_queue.iter())
        {
            if let Some(e) = self.entry_mut(*c) {
                e.role = Role::User;
                e.released = true;
                e.conn.forget_info();
                e.conn.abort();
                self.after(*c);
            }
        }
        Ok(())
    }

    /// The next established connection from `listener`'s accept queue, now the caller's.
    pub fn accept(&mut self, listener: ListenerId) -> Option<ConnId> {
        let l = self.listener_mut(listener)?;
        let id = l.accept_queue.pop_front()?;
        if let Some(e) = self.entry_mut(id) {
            e.role = Role::User;
        }
        Some(id)
    }

    /// (half-open connections, connections waiting for `accept`) of a listener.
    pub fn listener_queues(&self, listener: ListenerId) -> Option<(usize, usize)> {
        let l = self.listeners.get(listener.0)?;
        Some((l.syn_queue.len(), l.accept_queue.len()))
    }

    /// Active OPEN from `local` to `remote`, with the host's default settings. Port 0 in
    /// `local` picks an ephemeral port (RFC 6056 §3.3.3); a given port (a `bind` before
    /// `connect`) must leave the 4-tuple free.
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Result<ConnId, HostError> {
        let config = self.defaults_for(local.is_ipv6());
        self.connect_shared(now, local, remote, config)
    }

    /// Active OPEN with settings of its own (socket options set before `connect`).
    pub fn connect_with(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        config: Config,
    ) -> Result<ConnId, HostError> {
        let config = SharedConfig::new(config.for_family(local.is_ipv6()));
        self.connect_shared(now, local, remote, config)
    }

    /// `config` is made for `local`'s family already (`Config::for_family`).
    fn connect_shared(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        config: SharedConfig,
    ) -> Result<ConnId, HostError> {
        let local_ip = local.ip();
        self.check_connect(local_ip, remote)?;
        let local = if local.port() == 0 {
            let (demux, conns, time_wait) = (&self.demux, &self.conns, &self.time_wait);
            let listen_map = &self.listen_map;
            let unspec = unspecified(local_ip);
            let port = self
                .ports
                .pick(local_ip, remote, |p| {
                    let local = SocketAddr::new(local_ip, p);
                    demux::lookup(demux, conns, time_wait, &Tuple::new(local, remote)).is_none()
                        && !listen_map.contains_key(&ListenKey::new(local_ip, p))
                        && !listen_map.contains_key(&ListenKey::new(unspec, p))
                })
                .ok_or(HostError::AddrNotAvailable)?;
            SocketAddr::new(local_ip, port)
        } else if self.demux_get(&Tuple::new(local, remote)).is_some() {
            return Err(HostError::AddrInUse);
        } else {
            local
        };
        self.fit_max_payload(&config);
        let tuple = Tuple::new(local, remote);
        let secrets = self.tuple_secrets(&tuple);
        let iss = secrets.isn(now);
        // Either branch above found the tuple free.
        let id = self.insert_with(tuple, true, Role::User, || {
            Connection::connect_shared(config, local.port(), remote.port(), iss)
        });
        if let Some(e) = self.conns.get_mut(id.0) {
            e.conn.set_ts_offset(secrets.ts_offset);
            e.conn.give_parts(self.spares.take());
        }
        self.after(id);
        Ok(id)
    }

    fn check_connect(&self, local_ip: IpAddr, remote: SocketAddr) -> Result<(), HostError> {
        if local_ip.is_ipv4() != remote.is_ipv4() {
            return Err(HostError::AddressFamilyMismatch);
        }
        if remote.port() == 0 || bogus_destination(remote.ip()) {
            return Err(HostError::InvalidAddress);
        }
        if bogus_source(local_ip) || !self.is_local(local_ip) {
            return Err(HostError::AddrNotAvailable);
        }
        if self.conns.len() >= self.config.max_connections {
            return Err(HostError::ConnectionLimit);
        }
        Ok(())
    }

    /// SEND. Takes what fits in the connection's buffer and under the host's memory cap; with
    /// no room at all, `WouldBlock` (a `Writable` event follows once there is).
    pub fn send(&mut self, id: ConnId, data: &[u8]) -> Result<usize, HostError> {
        self.send_marked(id, data, false)
    }

    /// SEND with the URGENT flag (`MSG_OOB`): as [`Host::send`], and the bytes taken end the
    /// connection's urgent data (see [`Connection::send_urgent`]).
    pub fn send_urgent(&mut self, id: ConnId, data: &[u8]) -> Result<usize, HostError> {
        self.send_marked(id, data, true)
    }

    fn send_marked(&mut self, id: ConnId, data: &[u8], urgent: bool) -> Result<usize, HostError> {
        if data.is_empty() {
            let r = self.user_entry(id)?.conn.send(data);
            self.after(id);
            return Ok(r?);
        }
        let room = self.send_room(id)?;
        let e = self.user_entry(id)?;
        let data = &data[..data.len().min(room)];
        let r = if urgent {
            e.conn.send_urgent(data)
        } else {
            e.conn.send(data)
        };
        self.after_io(id);
        Ok(r?)
    }

    /// SEND straight into the connection's send buffer: `fill` is lent free room, writes its
    /// bytes at its front and returns how many; no copy from a buffer of the user's. Room is
    /// lent within the buffer and the host's memory cap; without any, `WouldBlock` (a
    /// `Writable` event follows). See [`Connection::send_with`] for the rules.
    pub fn send_with(
        &mut self,
        id: ConnId,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, HostError> {
        let room = self.send_room(id)?;
        let r = self.user_entry(id)?.conn.send_with(room, fill);
        self.after_io(id);
        Ok(r?)
    }

    /// How much more the host's memory cap lets a SEND on `id` buffer. With none, the SEND is
    /// refused here: with the connection's own verdict (closing, not connected) first, else
    /// `WouldBlock`, and the connection waits for memory.
    fn send_room(&mut self, id: ConnId) -> Result<usize, HostError> {
        let room = self
            .config
            .max_buffer_memory
            .saturating_sub(self.buffer_memory);
        let e = self.user_entry(id)?;
        if room > 0 {
            return Ok(room);
        }
        e.conn.send(&[])?;
        let first = !e.memory_wait;
        e.memory_wait = true;
        if first {
            self.memory_waiters.push(id);
        }
        self.counters.send_memory_refusals += 1;
        Err(CallError::WouldBlock.into())
    }

    pub fn recv(&mut self, id: ConnId, buf: &mut [u8]) -> Result<usize, HostError> {
        let e = self.user_entry(id)?;
        let r = e.conn.recv(buf);
        self.after_io(id);
        Ok(r?)
    }

    /// RECEIVE straight from the connection's receive buffer: `take` is lent the bytes a
    /// [`Host::recv`] would return, reads them where they lie and returns how many it took;
    /// no copy into a buffer of the user's. See [`Connection::recv_with`] for the rules.
    pub fn recv_with(
        &mut self,
        id: ConnId,
        take: impl FnOnce(&[u8]) -> usize,
    ) -> Result<usize, HostError> {
        let e = self.user_entry(id)?;
        let r = e.conn.recv_with(take);
        self.after_io(id);
        Ok(r?)
    }

    /// `recv(MSG_OOB)`: the out-of-band byte, taken when it is there (see
    /// [`Connection::take_urgent_byte`]).
    pub fn take_urgent_byte(&mut self, id: ConnId) -> Result<UrgentByte, HostError> {
        Ok(self.user_entry(id)?.conn.take_urgent_byte())
    }

    /// Half-close: a FIN follows the data already written (RFC 9293 §3.10.4).
    pub fn shutdown(&mut self, id: ConnId) -> Result<(), HostError> {
        let e = self.user_entry(id)?;
        let r = e.conn.shutdown_write();
        self.after(id);
        Ok(r?)
    }

    /// Gives the connection up, like a socket's `close()`: it finishes on its own (FIN, or RST
    /// if unread data is left) and the handle is stale from now on.
    pub fn close(&mut self, now: Instant, id: ConnId) -> Result<(), HostError> {
        self.detach(id)?;
        let e = self.user_entry(id)?;
        // The handle goes with this call: nothing reads the connection's `info` again.
        e.conn.forget_info();
        let r = e.conn.close(now);
        e.released = true;
        self.after(id);
        Ok(r?)
    }

    /// ABORT (RFC 9293 §3.10.5): reset and forget. The handle is stale from now on.
    pub fn abort(&mut self, id: ConnId) -> Result<(), HostError> {
        self.detach(id)?;
        let e = self.user_entry(id)?;
        e.conn.forget_info();
        e.conn.abort();
        e.released = true;
        self.after(id);
        Ok(())
    }

    /// A connection the user gives up before accepting it (its id came with `Accepted`)
    /// leaves the accept queue, so `accept` never hands out a released handle.
    fn detach(&mut self, id: ConnId) -> Result<(), HostError> {
        let e = self.user_entry(id)?;
        if let Role::Queued(l) | Role::HalfOpen(l) = e.role {
            e.role = Role::User;
            if let Some(listener) = self.listeners.get_mut(l.0) {
                listener.remove(id);
            }
        }
        Ok(())
    }
}
