//! A deterministic network simulator: virtual time, links with seeded faults, pcap taps.
//!
//! Nothing here reads a clock, spawns a thread or draws unseeded randomness: a run is a pure
//! function of the endpoints, the link configurations and the seed, so a failing run can be
//! replayed exactly.
//!
//! ```
//! use core::time::Duration;
//! use synack_proto::Instant;
//! use synack_sim::{Link, LinkConfig, Pair, Side, endpoints::Scripted};
//!
//! let config = LinkConfig::new().delay(Duration::from_millis(10)).loss(0.01);
//! let link = Link::new(42, config).unwrap();
//! let mut pair = Pair::new(Scripted::new(), Scripted::new(), link);
//! pair.a.send_now(b"hello".to_vec());
//! pair.run_until_idle(Instant::from_millis(1000)).unwrap();
//! assert_eq!(pair.b.received(), [(Instant::from_millis(10), b"hello".to_vec())]);
//! assert_eq!(pair.link.stats(Side::A).delivered, 1);
//! ```

pub mod endpoint;
pub mod endpoints;
pub mod link;
pub mod pair;
pub mod pcap;
mod rng;
pub mod tap;

pub use endpoint::Endpoint;
pub use link::{ConfigError, Delivery, Fate, Link, LinkConfig, LinkEvent, LinkStats, Side};
pub use pair::{Pair, SimError};
pub use pcap::{Capture, PcapTap, PcapWriter};
pub use synack_proto::Instant;
pub use tap::{Tap, TapEvent};
