//! packetdrill-format scripts run against synack on virtual time.
//!
//! Not built yet: this crate holds the place the layering gives it (see ARCHITECTURE.md).
