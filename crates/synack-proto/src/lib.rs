//! Sans-IO TCP (RFC 9293). The caller passes time in and takes segments out; nothing here reads a
//! clock, touches a socket, spawns a thread or draws unseeded randomness.
#![no_std]
#![forbid(unsafe_code)]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod config;
mod congestion;
pub mod conn;
pub mod error;
pub mod host;
pub mod seq;
pub mod time;

pub use config::{Config, IpHeaderOptions, Keepalive, Nagle};
pub use congestion::{CongestionControl, CongestionInfo, CongestionPhase, CongestionSettings};
pub use conn::{Cause, Connection, Event, Info, StateName, TRANSITIONS, Transition, UrgentByte};
pub use error::{CallError, ConnError};
pub use seq::SeqNum;
pub use time::Instant;
