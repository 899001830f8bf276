//! packetdrill's shared-library test interface on top of synack.
//!
//! Built as a `cdylib`, this crate is a `.so` that packetdrill loads with
//! `--so_filename=libsynack_packetdrill.so`: packetdrill then runs a script's socket calls
//! against synack's sockets ([`synack_script::Stack`]), injects the script's inbound packets
//! into synack and sniffs the packets synack sends, all on a virtual clock this library owns.
//! See the crate's README for how to run it and what is supported.
//!
//! - [`abi`]: the `struct packetdrill_interface` table, and why the variadic `fcntl`/`ioctl`
//!   slots can be filled by fixed-argument functions.
//! - [`ffi`]: `packetdrill_interface_init` and the C hooks (pointer checks in `ffi/args.rs`,
//!   errno, no panic across the boundary; every hook's safety contract).
//! - [`calls`]: the socket calls, and which of them block.
//! - [`epoll`]: epoll instances over the sockets' readiness.
//! - [`fds`]: the descriptor numbers handed out, each a real descriptor the library owns.
//! - [`instance`]: one run: the stack, the virtual clock, the outbound queue, blocking.
//! - [`flags`]: the `--so_flags` string.
//! - [`sockaddr`]: C socket addresses.
//! - [`sockopt`]: which socket options exist and which synack takes (errno before length).
//! - [`tcp_info`]: Linux's `struct tcp_info`, filled from synack's connection info.

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod abi;
pub mod calls;
pub mod epoll;
pub mod fds;
pub mod ffi;
pub mod flags;
pub mod instance;
pub mod sockaddr;
pub mod sockopt;
pub mod tcp_info;

pub use abi::PacketdrillInterface;
pub use ffi::packetdrill_interface_init;
pub use instance::Instance;
