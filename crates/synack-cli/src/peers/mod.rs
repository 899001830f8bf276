//! `synack serve`, `synack connect` and `synack relay`: synack on a TUN device inside a
//! network namespace, with the Linux kernel's TCP on the other side.

pub mod apps;
pub mod cidr;
pub mod connect;
pub mod device;
pub mod queues;
pub mod relay;

pub mod serve;
pub mod setup;
pub mod signals;

pub use device::Faults;
