//! Validation of [`FailureHandling`] and [`CircuitBreakerConfig`] (DESIGN §3.3, §3.5).
//!
//! Rules are checked in field order and the first broken one is reported, so the same config
//! always yields the same message. Each message names the key and its value in config syntax.

use std::time::Duration;

use super::{CircuitBreakerConfig, ConfigError, FailureHandling, byte_size, duration};

/// The smallest accepted `max_body_bytes`: below this not even an `initialize` reply fits, so
/// every probe would fail with a protocol error that hides the real cause.
pub const MIN_MAX_BODY_BYTES: u64 = 1024;

/// The smallest accepted breaker `timeout` (DESIGN §3.3), so an open circuit cannot thrash.
pub const MIN_BREAKER_TIMEOUT: Duration = Duration::from_secs(1);

/// The largest accepted duration setting. Nothing in health checking needs a week, and a bound
/// keeps every `Instant + setting` far from overflow (which would panic a probe task).
pub const MAX_SETTING_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The largest accepted `max_body_bytes`: a probe reply has no business being bigger.
pub const MAX_MAX_BODY_BYTES: u64 = 1024 * 1024 * 1024;

/// The smallest accepted `health_check_interval`: a probe is a whole MCP session, and probing one
/// backend ten times a second is already far beyond what health checking needs.
pub const MIN_HEALTH_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The smallest accepted `health_check_timeout` and `connect_timeout`: below this not even a
/// loopback handshake completes reliably.
pub const MIN_PROBE_TIMEOUT: Duration = Duration::from_millis(10);

/// The smallest accepted `degraded_threshold`.
pub const MIN_DEGRADED_THRESHOLD: Duration = Duration::from_millis(1);

/// The smallest accepted `status_reporting_interval`: each report is built from every backend and
/// written to every reporter, so a 1 ns interval would report on every timer tick.
pub const MIN_STATUS_REPORTING_INTERVAL: Duration = Duration::from_millis(100);

/// The smallest accepted `registry_poll_interval` (the change-report coalescing window).
pub const MIN_REGISTRY_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// `health_check_interval` when the user wrote none (DESIGN §3.5 default).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// `health_check_timeout` when the user wrote none (DESIGN §3.5 default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// `connect_timeout` when the user wrote none, before the `health_check_timeout` cap.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn at_most_a_week(key: &str, value: Duration) -> Result<(), ConfigError> {
    if value > MAX_SETTING_DURATION {
        return Err(ConfigError::invalid_value(
            key,
            duration::format(value),
            format!("must be at most {}", duration::format(MAX_SETTING_DURATION)),
        ));
    }
    Ok(())
}

/// `min <= value <= MAX_SETTING_DURATION`; the message states the bound.
fn within(key: &str, value: Duration, min: Duration) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::invalid_value(
            key,
            duration::format(value),
            format!("must be at least {}", duration::format(min)),
        ));
    }
    at_most_a_week(key, value)
}

fn at_least_one(key: &str, value: u32) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::invalid_value(
            key,
            value.to_string(),
            "must be at least 1",
        ));
    }
    Ok(())
}

impl CircuitBreakerConfig {
    /// Check the breaker settings; a disabled breaker is always valid (its settings are unused).
    ///
    /// Keys in messages are relative to the breaker block (`failure_threshold`, `timeout`, ...);
    /// [`FailureHandling::validate`] prefixes them with `circuit_breaker.`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        at_least_one("failure_threshold", self.failure_threshold)?;
        if self.timeout < MIN_BREAKER_TIMEOUT {
            return Err(ConfigError::invalid_value(
                "timeout",
                duration::format(self.timeout),
                format!("must be at least {}", duration::format(MIN_BREAKER_TIMEOUT)),
            ));
        }
        at_most_a_week("timeout", self.timeout)?;
        at_least_one("half_open_max_probes", self.half_open_max_probes)?;
        if !(self.timeout_multiplier.is_finite() && self.timeout_multiplier >= 1.0) {
            return Err(ConfigError::invalid_value(
                "timeout_multiplier",
                self.timeout_multiplier.to_string(),
                "must be a finite number of at least 1.0",
            ));
        }
        if let Some(max_timeout) = self.max_timeout {
            if max_timeout < self.timeout {
                return Err(ConfigError::invalid_value(
                    "max_timeout",
                    duration::format(max_timeout),
                    format!(
                        "must be at least timeout ({})",
                        duration::format(self.timeout)
                    ),
                ));
            }
            at_most_a_week("max_timeout", max_timeout)?;
        }
        // `contains` is false for NaN, so NaN is refused too.
        if !(0.0..1.0).contains(&self.timeout_jitter) {
            return Err(ConfigError::invalid_value(
                "timeout_jitter",
                self.timeout_jitter.to_string(),
                "must be in [0, 1)",
            ));
        }
        Ok(())
    }
}

impl FailureHandling {
    /// The probe timing settings, with the unwritten ones derived from the written ones so that
    /// a block that only sets some of them (a pasted ToolHive `failureHandling`) is never
    /// rejected for a value the user did not write (DESIGN §3.5). Returns
    /// `(health_check_interval, health_check_timeout, connect_timeout)`:
    ///
    /// * interval: as written, else `max(30s, 2 × timeout)` (so it exceeds a written timeout);
    /// * timeout: as written, else `min(10s, interval / 2)` (so it is below a written interval);
    /// * connect timeout: as written, else `min(5s, timeout)`.
    ///
    /// Written values are kept even when they break a rule: validation then names them.
    pub fn derive_defaults(
        interval: Option<Duration>,
        timeout: Option<Duration>,
        connect_timeout: Option<Duration>,
    ) -> (Duration, Duration, Duration) {
        let (interval, timeout) = match (interval, timeout) {
            (Some(i), Some(t)) => (i, t),
            (Some(i), None) => (i, DEFAULT_TIMEOUT.min(i / 2)),
            (None, Some(t)) => (DEFAULT_INTERVAL.max(t.saturating_mul(2)), t),
            (None, None) => (DEFAULT_INTERVAL, DEFAULT_TIMEOUT),
        };
        let connect_timeout = connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT.min(timeout));
        (interval, timeout, connect_timeout)
    }

    /// Check every setting and the relations between them (DESIGN §3.5).
    ///
    /// Deserialization already calls this; call it again after changing fields by hand.
    pub fn validate(&self) -> Result<(), ConfigError> {
        within(
            "health_check_interval",
            self.health_check_interval,
            MIN_HEALTH_CHECK_INTERVAL,
        )?;
        within(
            "health_check_timeout",
            self.health_check_timeout,
            MIN_PROBE_TIMEOUT,
        )?;
        // Probes of one backend never overlap, so a probe must end before the next one is due.
        if self.health_check_timeout >= self.health_check_interval {
            return Err(ConfigError::invalid_value(
                "health_check_timeout",
                duration::format(self.health_check_timeout),
                format!(
                    "must be less than health_check_interval ({})",
                    duration::format(self.health_check_interval)
                ),
            ));
        }
        at_least_one("unhealthy_threshold", self.unhealthy_threshold)?;
        at_least_one("healthy_threshold", self.healthy_threshold)?;
        within(
            "degraded_threshold",
            self.degraded_threshold,
            MIN_DEGRADED_THRESHOLD,
        )?;
        within(
            "status_reporting_interval",
            self.status_reporting_interval,
            MIN_STATUS_REPORTING_INTERVAL,
        )?;
        within(
            "registry_poll_interval",
            self.registry_poll_interval,
            MIN_REGISTRY_POLL_INTERVAL,
        )?;
        at_most_a_week("initial_jitter", self.initial_jitter)?;
        within("connect_timeout", self.connect_timeout, MIN_PROBE_TIMEOUT)?;
        // Connecting is part of the probe, so it cannot be given longer than the whole probe.
        if self.connect_timeout > self.health_check_timeout {
            return Err(ConfigError::invalid_value(
                "connect_timeout",
                duration::format(self.connect_timeout),
                format!(
                    "must not exceed health_check_timeout ({})",
                    duration::format(self.health_check_timeout)
                ),
            ));
        }
        if self.max_body_bytes < MIN_MAX_BODY_BYTES {
            return Err(ConfigError::invalid_value(
                "max_body_bytes",
                self.max_body_bytes.to_string(),
                format!(
                    "must be at least {} ({MIN_MAX_BODY_BYTES} bytes)",
                    byte_size::format(MIN_MAX_BODY_BYTES)
                ),
            ));
        }
        if self.max_body_bytes > MAX_MAX_BODY_BYTES {
            return Err(ConfigError::invalid_value(
                "max_body_bytes",
                byte_size::format(self.max_body_bytes),
                format!("must be at most {}", byte_size::format(MAX_MAX_BODY_BYTES)),
            ));
        }
        self.circuit_breaker
            .validate()
            .map_err(|e| e.prefixed("circuit_breaker"))
    }
}
