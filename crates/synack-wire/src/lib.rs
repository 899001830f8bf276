//! Packet formats for synack: zero-copy views over byte buffers and plain-data representations
//! that can be parsed from and emitted into them.
//!
//! This crate is `no_std`, allocates nothing and does no I/O. Every parser returns a typed
//! [`Error`] for malformed input; none of them panics on any byte sequence.
#![no_std]

pub mod tcp;

pub use tcp::{SackBlock, SackList, TcpFlags, TcpOptions, TcpRepr, Timestamps};
