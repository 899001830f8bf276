//! A deterministic network simulator: virtual time, links with seeded faults, pcap taps.
//!
//! Nothing here reads a clock, spawns a thread or draws unseeded randomness: a run is a pure
//! function of the endpoints, the link configurations and the seed, so a failing run can be
//! replayed exactly.
//!
//! - [`Endpoint`] is the sans-IO contract a host implements: packets and time in, packets and
//!   the next deadline out.
//! - [`Link`] carries opaque datagrams between side A and side B. Each direction has its own
//!   [`LinkConfig`] (delay, jitter, bandwidth, queue limit, loss, duplication, reordering,
//!   corruption, partition) and its own random stream derived from the seed. A packet's fate is
//!   decided when it is sent and recorded in the link's log as a [`LinkEvent`], with counters in
//!   [`LinkStats`].
//! - [`Pair`] joins two endpoints with a link and steps virtual time one event at a time.
//! - [`Tap`]s observe sends and deliveries; [`PcapTap`] turns them into a pcap file, by default
//!   as the packets leave their sender ([`Capture::Sent`]), so a lost packet shows up once.
//! - [`Dumbbell`] has K sender/receiver pairs share one bottleneck link (its bandwidth, a
//!   drop-tail queue in bytes, seeded loss), each flow with its own round trip; [`BulkNode`]
//!   pumps a fixed number of checked bytes through a real connection, for congestion-control
//!   and fairness experiments.
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

pub mod bulk;
pub mod dumbbell;
pub mod endpoint;
pub mod endpoints;
pub mod hostnode;
pub mod link;
pub mod node;
pub mod pair;
mod pattern;
pub mod pcap;
mod rng;
pub mod tap;

pub use bulk::{BulkNode, CwndSample};
pub use dumbbell::{Dumbbell, DumbbellConfig, DumbbellError, FlowEnds, jain_index};
pub use endpoint::Endpoint;
pub use hostnode::{HostApp, HostNode};
pub use link::{ConfigError, Delivery, Fate, Link, LinkConfig, LinkEvent, LinkStats, Side};
pub use node::{App, AppIo, ConnNode};
pub use pair::{Pair, SimError};
pub use pattern::pattern;
pub use pcap::{Capture, PcapTap, PcapWriter};
pub use synack_proto::Instant;
pub use tap::{Tap, TapEvent};
