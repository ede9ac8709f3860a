//! Wall-clock time, injected.
//!
//! Scheduling and timeouts use `tokio::time` (virtual under a paused runtime or a simulation).
//! Only the timestamps that appear in reports need a wall clock; they come from a [`Clock`] so a
//! simulation can stamp them with its fixed epoch plus simulated elapsed time. This module is the
//! only place in the crate allowed to read the system clock.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The current monotonic instant, from `tokio::time`.
///
/// Every scheduling decision in the crate reads time through this function: under a paused
/// tokio runtime or a turmoil simulation it is virtual time, so runs are reproducible. (Reading
/// `std::time::Instant` directly is banned in this crate; see DESIGN §3.1.)
pub fn monotonic_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// A wall-clock instant, in milliseconds since the Unix epoch.
///
/// Kept as an integer so that reports and traces are exactly reproducible and order-comparable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    millis: u64,
}

impl Timestamp {
    /// A timestamp `millis` milliseconds after the Unix epoch.
    pub const fn from_unix_millis(millis: u64) -> Self {
        Self { millis }
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> u64 {
        self.millis
    }

    /// This instant plus `d` (saturating).
    pub fn saturating_add(self, d: Duration) -> Self {
        let add = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            millis: self.millis.saturating_add(add),
        }
    }

    fn as_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.millis)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 with millisecond precision, UTC (`2026-01-01T00:00:00.000Z`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            humantime::format_rfc3339_millis(self.as_system_time())
        )
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A source of wall-clock timestamps for reports.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current wall-clock time.
    fn now(&self) -> Timestamp;
}

/// A shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock, for production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the production wall clock: the one place the crate reads the system clock (everything else gets it injected)"
    )]
    fn now(&self) -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Timestamp::from_unix_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }
}

/// A fixed epoch plus the `tokio::time` elapsed since the clock was created.
///
/// Under a paused tokio runtime or a simulation this is fully deterministic.
#[derive(Debug, Clone)]
pub struct EpochClock {
    epoch: Timestamp,
    start: tokio::time::Instant,
}

impl EpochClock {
    /// A clock that reads `epoch` now and advances with `tokio::time`.
    pub fn new(epoch: Timestamp) -> Self {
        Self {
            epoch,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for EpochClock {
    fn now(&self) -> Timestamp {
        self.epoch.saturating_add(self.start.elapsed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_formats_as_rfc3339_millis() {
        let t = Timestamp::from_unix_millis(1_767_225_600_123);
        assert_eq!(t.to_string(), "2026-01-01T00:00:00.123Z");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-01-01T00:00:00.123Z\""
        );
    }

    #[tokio::test(start_paused = true)]
    async fn epoch_clock_follows_tokio_time() {
        let clock = EpochClock::new(Timestamp::from_unix_millis(1_000));
        assert_eq!(clock.now().unix_millis(), 1_000);
        tokio::time::sleep(Duration::from_secs(30)).await;
        assert_eq!(clock.now().unix_millis(), 31_000);
    }
}
