//! synack's runtime: the driver that owns a host and a device, and the socket APIs over it.
//!
//! Not built yet: this crate holds the place the layering gives it (see ARCHITECTURE.md).
