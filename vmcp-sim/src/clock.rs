//! The wall clock inside the simulation: the world's fixed epoch plus simulated elapsed time.

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

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
