//! Time inside the simulation: the report wall clock (the world's fixed epoch plus simulated
//! elapsed time) and the simulated-time helpers the rest of the crate shares.

use std::time::Duration;

use vmcp_core::clock::{Clock, Timestamp};

/// A [`Clock`] for code running inside a turmoil host: reads turmoil's logical time since the Unix
/// epoch (the world's fixed epoch plus simulated elapsed time), so report timestamps are identical
/// across runs with the same seed and survive a restart of the host.
///
/// Outside a simulation host (no current host), it reads the fallback epoch given at construction.
#[derive(Clone, Copy, Debug)]
pub struct SimClock {
    fallback: Timestamp,
}

impl SimClock {
    /// A clock whose fallback outside a host is `epoch` (normally the world's epoch).
    pub fn new(epoch: Timestamp) -> Self {
        Self { fallback: epoch }
    }
}

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        match turmoil::since_epoch() {
            Some(since) => Timestamp::from_unix_millis(millis(since)),
            None => self.fallback,
        }
    }
}

/// Simulated time since the start of the simulation, as seen from the current host (zero outside
/// a host).
pub(crate) fn sim_now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

/// `d` in whole milliseconds, saturating (traces and timestamps are kept in integer milliseconds).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
