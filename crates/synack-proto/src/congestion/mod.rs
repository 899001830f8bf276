//! Congestion control and loss recovery, sans-IO: each algorithm in its own file.
//!
//! The algorithms below are complete and unit-tested but not yet driven by the connection;
//! until that wiring lands, `allow(dead_code)` keeps clippy quiet about items only the tests
//! use. Remove each attribute when its module is wired in.

#[cfg_attr(not(test), allow(dead_code))]
mod cubic;
#[cfg_attr(not(test), allow(dead_code))]
mod hystart;
#[cfg_attr(not(test), allow(dead_code))]
mod prr;
#[cfg_attr(not(test), allow(dead_code))]
mod rack;
#[cfg_attr(not(test), allow(dead_code))]
mod scoreboard;
#[cfg(test)]
mod tests_recovery;

#[allow(unused_imports)]
pub(crate) use cubic::Cubic;
#[allow(unused_imports)]
pub(crate) use hystart::{HyStart, Phase as SlowStartPhase, Step as SlowStartStep};
#[allow(unused_imports)]
pub(crate) use prr::{Prr, ReductionBound};
#[allow(unused_imports)]
pub(crate) use rack::{Probe, ProbeOutcome, Rack, Tlp, pto};
#[allow(unused_imports)]
pub(crate) use scoreboard::{AckOutcome, Delivered, Dsack, NextSeg, Scoreboard, Segment};
