//! The driver: the loop that owns the device and the real clock. It sleeps until a packet
//! arrives, a timer is due or a socket call kicked it, then feeds the host, sends what the
//! host has to send and wakes the sockets the host's events name.

use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use synack_proto::host::HostConfig;

use crate::device::{Batch, Device};
use crate::stack::Shared;
use crate::sys;

/// Packets read (or written) per device call.
const BATCH: usize = 64;
/// Bytes of packet buffers per batch at most: 64 packets of 64 KiB would spread a batch over
/// 4 MiB, more than a core's cache, so a segment the device has just copied in would be
/// fetched from memory again when the host copies its text to the receive ring.
const BATCH_BYTES: usize = 256 * 1024;
/// Rounds (a receive batch and a transmit batch each) before the driver looks at its wakeups
/// again, so a flood of arriving packets or a long send cannot starve timers and kicks.
const ROUNDS: usize = 16;
/// Room in each receive buffer for a header the device reads in front of the packet.
const VNET_ROOM: usize = crate::device::VNET_HDR_LEN;

/// A running TCP/IP stack: a host, a device, and a driver thread between them. Sockets
/// ([`crate::net`], and `crate::tokio` with that feature) are opened on it.
///
/// Dropping the stack stops the driver: sockets still open then fail with `NotConnected`,
/// and connections still closing are not finished, so keep it alive until they are.
pub struct Stack {
    pub(crate) shared: Arc<Shared>,
    /// The driver thread; `None` when a tokio task drives the stack (it ends on `stop`).
    driver: Option<JoinHandle<()>>,
}

impl Stack {
    /// Starts a stack on `device` with the host settings `config` (its `local_addrs` are
    /// the stack's addresses; its `secret` is replaced by one from the OS's random source,
    /// and the MSS follows from the device's MTU).
    pub fn new(device: impl Device, config: HostConfig) -> io::Result<Stack> {
        let shared = Arc::new(Shared::new(config, device.capabilities())?);
        let driver_shared = shared.clone();
        let driver = std::thread::Builder::new()
            .name("synack-driver".into())
            .spawn(move || run(driver_shared, Box::new(device)))?;
        Ok(Stack {
            shared,
            driver: Some(driver),
        })
    }

    /// A stack whose driver is not a thread of its own but a task that another module
    /// started on `shared` (see `Stack::new_tokio`).
    #[cfg(feature = "tokio")]
    pub(crate) fn driven_by_task(shared: Arc<Shared>) -> Stack {
        Stack {
            shared,
            driver: None,
        }
    }

    /// A stack with the default settings and one address.
    pub fn with_addr(device: impl Device, addr: IpAddr) -> io::Result<Stack> {
        let config = HostConfig {
            local_addrs: vec![addr],
            ..HostConfig::default()
        };
        Stack::new(device, config)
    }

    /// The host's TCP-MIB style counters at this moment.
    pub fn counters(&self) -> synack_proto::host::Counters {
        self.shared.lock().counters()
    }

    /// Waits until every connection has finished closing (FIN exchange done; TIME-WAIT is
    /// kept as a compact entry that needs no waiting), or `timeout` passes. Returns whether
    /// the stack is idle. Call it before dropping the stack when closed streams should still
    /// deliver their last bytes.
    pub fn wait_idle(&self, timeout: std::time::Duration) -> bool {
        self.shared.wait_idle(timeout)
    }

    /// Calls `f` for every state change of every connection from now on (handshakes still
    /// in a listener's queue and closes the user already left included). `f` runs on the
    /// driver with the stack locked: it must be quick and must not call into the stack.
    pub fn on_state_change(&self, f: impl FnMut(&crate::StateChange) + Send + 'static) {
        self.shared
            .lock()
            .set_observer(crate::observe::Observer::new(Box::new(f)));
    }

    /// Connections the host holds, in any state (TIME-WAIT entries apart).
    pub fn connection_count(&self) -> usize {
        self.shared.lock().connection_count()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shared.stop();
        if let Some(d) = self.driver.take() {
            let _ = d.join();
        }
    }
}

/// Receive and transmit batches sized for `device`.
pub(crate) fn batches(device: &dyn Device) -> (Batch, Batch) {
    let caps = device.capabilities();
    let count = (BATCH_BYTES / caps.max_packet()).clamp(1, BATCH);
    (
        Batch::new(count, caps.max_packet() + VNET_ROOM),
        // A device that segments takes super-segments of up to 64 KiB.
        Batch::new(count, caps.max_packet()),
    )
}

fn run(shared: Arc<Shared>, mut device: Box<dyn Device>) {
    let (mut rx, mut tx) = batches(&*device);
    let fds = [device.poll_fd(), shared.kick_fd().as_raw_fd()];
    let mut drained = true;
    loop {
        let Some(timeout) = sleep_for(&shared, &*device) else {
            return;
        };
        // Work left from the last step (packets waiting, segments to send) goes on at once;
        // the poll still takes in a kick.
        let timeout = if drained {
            timeout
        } else {
            Some(Duration::ZERO)
        };
        let polled = sys::poll_readable(&fds, timeout);
        shared.take_kick();
        match polled.and_then(|_| step(&shared, &mut *device, &mut rx, &mut tx)) {
            Ok(d) => drained = d,
            Err(e) => {
                // A device that fails (its interface deleted, its descriptor closed) ends the
                // stack; every socket call reports it as stopped.
                eprintln!("synack: driver stopped: {e}");
                shared.stop();
                return;
            }
        }
    }
}

/// How long the driver may sleep: until the host's next timer or the device's next held-back
/// packet (`None` inside: no limit). `None`: the stack has stopped.
pub(crate) fn sleep_for(shared: &Shared, device: &dyn Device) -> Option<Option<Duration>> {
    let host = {
        let inner = shared.lock();
        if inner.is_stopped() {
            return None;
        }
        inner
            .next_deadline()
            .map(|t| t.saturating_duration_since(shared.now()))
    };
    let device = device
        .next_due()
        .map(|t| t.saturating_duration_since(std::time::Instant::now()));
    Some(match (host, device) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// Rounds of work: packets in, timers, one batch of packets out, wakeups. Never blocks.
/// Returns whether all is done (`false`: packets are still waiting, or the host has more to
/// send).
///
/// Each round sends one batch and then reads again rather than sending all the host has:
/// a sender with a large window would otherwise write thousands of segments while the
/// peer's ACKs pile up unread in the device (a TUN queue drops them once full), and the
/// send buffer they would free stays full, so the writer waits instead of refilling it
/// while the driver sends.
pub(crate) fn step(
    shared: &Shared,
    device: &mut dyn Device,
    rx: &mut Batch,
    tx: &mut Batch,
) -> io::Result<bool> {
    for _ in 0..ROUNDS {
        rx.clear();
        device.recv(rx)?;
        {
            let mut inner = shared.lock();
            let now = shared.now();
            inner.on_packets(now, rx);
            inner.on_timer(now);
            inner.dispatch_events();
        }
        tx.clear();
        let more = {
            let mut inner = shared.lock();
            let more = inner.transmit(shared.now(), tx);
            inner.dispatch_events();
            more
        };
        // Sent without the lock, so sockets go on while the device works.
        if !tx.is_empty() {
            device.send(tx)?;
        }
        if !rx.is_full() && !more {
            return Ok(true);
        }
    }
    Ok(false)
}
