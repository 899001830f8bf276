//! `synack serve`, `synack connect` and `synack relay` against the Linux kernel's TCP and
//! programs nobody here wrote (curl, Python's socket module, ss, tshark). Each test runs in
//! namespaces of its own, created and deleted by the test (or by the `synack` process it
//! starts and stops).

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

mod harness;
mod programs;

mod arguments;
mod connect;
mod faults;
mod ipv6;
mod relay;
mod serve;
