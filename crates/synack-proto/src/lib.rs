//! Sans-IO TCP (RFC 9293). The caller passes time in and takes segments out; nothing here reads a
//! clock, touches a socket, spawns a thread or draws unseeded randomness.
#![no_std]
extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod time;

pub use time::Instant;
