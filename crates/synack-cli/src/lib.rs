//! The `synack` command's library: scenarios on the simulated network and the pictures drawn
//! from them. The binary is a thin argument parser over this, so tests drive the same code.

#![deny(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod bench;
pub mod bulk;
pub mod i18n;
pub mod json;
pub mod ladder;
pub mod node;
pub mod peers;
pub mod plot;
pub mod scenario;
pub mod script;
pub mod sim;
pub mod states;
pub mod svg;
pub mod text;
pub mod trace;
