//! synack's runtime: a driver that owns a [`synack_proto::host::Host`], a device and the real
//! clock, and the socket APIs over it.
//!
//! ```text
//!  net::TcpStream / tokio::TcpStream      sockets: lock, call the host, kick the driver
//!              │
//!  stack (Host behind a mutex, waiters)   the one place that calls the host
//!              │
//!  driver (thread or tokio task)          device ⇄ host, timers, wakeups
//!              │
//!  device: Tun | LinkEnd                  IP packets in batches
//! ```
//!
//! A stack on an in-process link needs no privileges; on a TUN device it needs
//! `CAP_NET_ADMIN`, and [`netns::Netns`] gives it a network namespace of its own with the
//! Linux kernel as the peer.

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod device;
mod driver;
mod error;
pub mod net;
pub mod netns;
mod observe;
mod options;
mod stack;
mod sys;
#[cfg(feature = "tokio")]
pub mod tokio;

pub use driver::Stack;
pub use observe::StateChange;
pub use synack_proto::host::{Counters, HostConfig};
pub use synack_proto::{Config, CongestionControl, Info, StateName};
