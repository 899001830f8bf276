//! A deterministic network simulator: virtual time, links with seeded faults, pcap taps.
