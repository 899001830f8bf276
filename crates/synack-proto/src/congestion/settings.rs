//! What a connection's congestion control is set up with: the controller and the loss
//! recovery features it runs. [`crate::Config`] holds one of these; the connection hands it to
//! [`super::Congestion::new`].

/// Which congestion controller a connection runs (`CongestionSettings::controller`,
/// the `TCP_CONGESTION` socket option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CongestionControl {
    /// CUBIC window growth (RFC 9438) with HyStart++ (RFC 9406) in the first slow start.
    #[default]
    Cubic,
    /// Reno's window growth (RFC 5681) and halving; NewReno's recovery without SACK (RFC 6582).
    NewReno,
}

impl CongestionControl {
    /// The name Linux's `TCP_CONGESTION` uses.
    pub fn name(self) -> &'static str {
        match self {
            CongestionControl::Cubic => "cubic",
            CongestionControl::NewReno => "reno",
        }
    }

    /// The controller a `TCP_CONGESTION` name selects.
    pub fn from_name(name: &str) -> Option<CongestionControl> {
        match name {
            "cubic" => Some(CongestionControl::Cubic),
            "reno" | "newreno" => Some(CongestionControl::NewReno),
            _ => None,
        }
    }
}

/// The congestion-control part of a connection's settings, with Linux-like defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CongestionSettings {
    /// The congestion controller: CUBIC (RFC 9438) unless Reno is asked for.
    pub controller: CongestionControl,
    /// Initial congestion window in segments (RFC 6928).
    pub initial_window: u32,
    /// With SACK, detect loss by time with RACK and probe a lost tail with TLP (RFC 8985);
    /// off, loss needs three duplicate ACKs or the SACKs of RFC 6675 and a lost tail waits for
    /// the retransmission timer (Linux's `tcp_early_retrans=0`).
    pub rack_tlp: bool,
    /// Test each retransmission timeout with F-RTO and undo a spurious one (Linux's
    /// `tcp_frto`): RFC 5682 §3 with SACK, the basic algorithm of §2 without.
    pub frto: bool,
    /// Grow cwnd only while the sender uses it: in slow start once the flight reached half of
    /// it (RFC 7661 §4.3), in congestion avoidance once it filled it (RFC 9438 §5.8, as Linux
    /// does for every controller). Off, every ACK of new data grows it (RFC 5681 alone).
    pub cwnd_validation: bool,
}

impl Default for CongestionSettings {
    fn default() -> CongestionSettings {
        CongestionSettings {
            controller: CongestionControl::Cubic,
            initial_window: 10,
            rack_tlp: true,
            frto: true,
            cwnd_validation: true,
        }
    }
}
