//! Operational configuration (DESIGN §3.5).
//!
//! The types here are read from two places: the `vmcp` binary's YAML file
//! (`operational.failure_handling`, see [`VmcpConfig`]) and the `[vmcp]` table of simulation
//! scenario files (TOML). Their serde implementations are therefore format-agnostic:
//!
//! * keys are snake_case, with camelCase aliases so a ToolHive `failureHandling` block pastes in;
//! * missing keys take the defaults below; unknown keys are errors that name the key;
//! * durations are strings (`500ms`, `30s`, `1m30s`; see [`duration`]), byte sizes are integers or
//!   strings such as `10MiB` (see [`byte_size`]);
//! * deserializing validates ([`FailureHandling::validate`]), so a value that loads is a value the
//!   monitor can run with, and the parser reports the file position of a bad block.
//!
//! ToolHive compatibility: ToolHive's `failureHandling` has `healthCheckInterval`,
//! `healthCheckTimeout`, `unhealthyThreshold`, `statusReportingInterval`, `partialFailureMode` and
//! `circuitBreaker {enabled, failureThreshold, timeout}`. All are accepted. `partialFailureMode`
//! (`fail` | `best_effort`) governs how ToolHive answers client requests when some backends are
//! down; here it is validated, logged as having no effect, and not kept: the front end's setting is
//! `aggregation.partial_failure_mode` ([`frontend`]).

pub mod byte_size;
pub mod duration;
mod error;
pub mod file;
pub mod frontend;
mod listener;
mod repr;
mod tls;
mod validate;
mod vmcp;
mod yaml_guard;

pub use error::ConfigError;
pub use file::{FileError, MAX_FILE_BYTES, read_text_file};
pub use frontend::{
    AggregationConfig, ConflictResolution, FrontendConfig, PartialFailureMode, ServerConfig,
};
pub use listener::{
    DEFAULT_LISTENER_TIMEOUT, DEFAULT_SERVER_MAX_CONNECTIONS, DEFAULT_STATUS_MAX_CONNECTIONS,
    ListenerLimits, MIN_LISTENER_TIMEOUT,
};
pub use tls::{CaBundle, MAX_CA_FILE_BYTES, TlsConfig, TlsSettings};
pub use validate::{
    MAX_MAX_BODY_BYTES, MAX_SETTING_DURATION, MIN_BREAKER_TIMEOUT, MIN_DEGRADED_THRESHOLD,
    MIN_HEALTH_CHECK_INTERVAL, MIN_MAX_BODY_BYTES, MIN_PROBE_TIMEOUT, MIN_REGISTRY_POLL_INTERVAL,
    MIN_STATUS_REPORTING_INTERVAL,
};
pub use vmcp::{
    AuthConfig, BackendConfig, OperationalConfig, ProcessSecrets, SecretSource, StatusConfig,
    VmcpConfig, VmcpConfigFile,
};
pub use yaml_guard::MAX_NESTING;

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How connections to backends are pooled (DESIGN §3.3, "Pool policies").
///
/// Written `per_backend`, `per_probe` or `shared` (camelCase `perBackend`, `perProbe` accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolPolicy {
    /// One pool per backend, short idle timeout, flushed when a probe or a front-end exchange with
    /// the backend fails, and on an endpoint change.
    #[default]
    #[serde(alias = "perBackend")]
    PerBackend,
    /// A fresh pool for every probe.
    #[serde(alias = "perProbe")]
    PerProbe,
    /// One process-wide pool, never flushed, 90 s idle timeout. The pre-fix behaviour: unsafe,
    /// kept only to reproduce the stale keep-alive bug.
    Shared,
}

/// Circuit-breaker settings. Validated only when `enabled`.
///
/// Keys: `enabled`, `failure_threshold`, `timeout`, `half_open_max_probes`, `timeout_multiplier`,
/// `max_timeout`, `timeout_jitter` (camelCase aliases accepted).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(into = "repr::CircuitBreakerRepr")]
pub struct CircuitBreakerConfig {
    /// Off by default: a disabled breaker never skips a probe and reports `closed`.
    pub enabled: bool,
    /// Consecutive failures (any kind) in Closed that open the circuit. ≥ 1.
    pub failure_threshold: u32,
    /// How long the circuit stays Open before half-open. ≥ 1 s.
    pub timeout: Duration,
    /// Trial probes allowed while HalfOpen. ≥ 1.
    pub half_open_max_probes: u32,
    /// Each re-open after a failed half-open trial multiplies the open timeout by this. ≥ 1.0.
    pub timeout_multiplier: f64,
    /// Upper bound for the backed-off timeout (none: unbounded).
    pub max_timeout: Option<Duration>,
    /// Random spread of each open timeout, as a ratio in `[0, 1)`: the timeout is drawn from
    /// `[t, t * (1 + jitter)]` with the injected seeded RNG.
    pub timeout_jitter: f64,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            failure_threshold: 5,
            timeout: Duration::from_secs(60),
            half_open_max_probes: 1,
            timeout_multiplier: 1.0,
            max_timeout: None,
            timeout_jitter: 0.0,
        }
    }
}

/// The operational block: probing, thresholds, reporting, breaker and client settings.
///
/// The same keys appear under `operational.failure_handling` in the `vmcp` YAML config and in the
/// `[vmcp]` table of scenario files. Every key is optional; see the module docs for the syntax.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(into = "repr::FailureHandlingRepr")]
pub struct FailureHandling {
    /// Time between probe starts of one backend.
    pub health_check_interval: Duration,
    /// Deadline for one whole probe (MCP session). Must be < interval.
    pub health_check_timeout: Duration,
    /// Consecutive failures before the status turns `unhealthy`/`unauthenticated`. ≥ 1.
    pub unhealthy_threshold: u32,
    /// Consecutive successes after failures before `healthy` again. ≥ 1.
    pub healthy_threshold: u32,
    /// A successful probe slower than this yields `degraded` (reason `slow`).
    pub degraded_threshold: Duration,
    /// Time between periodic status reports.
    pub status_reporting_interval: Duration,
    /// Upper bound between a registry change or status transition and the report showing it.
    pub registry_poll_interval: Duration,
    /// Random delay (seeded) before each backend's first probe, up to this. Zero: none.
    pub initial_jitter: Duration,
    /// Connection pooling policy.
    pub pool: PoolPolicy,
    /// Deadline for establishing one TCP connection (inside the probe deadline).
    pub connect_timeout: Duration,
    /// Largest accepted response body or SSE event, in bytes.
    pub max_body_bytes: u64,
    /// The per-backend circuit breaker.
    pub circuit_breaker: CircuitBreakerConfig,
}

impl Default for FailureHandling {
    fn default() -> Self {
        Self {
            health_check_interval: Duration::from_secs(30),
            health_check_timeout: Duration::from_secs(10),
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            degraded_threshold: Duration::from_secs(5),
            status_reporting_interval: Duration::from_secs(30),
            registry_poll_interval: Duration::from_secs(2),
            initial_jitter: Duration::ZERO,
            pool: PoolPolicy::PerBackend,
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 10 * 1024 * 1024,
            circuit_breaker: CircuitBreakerConfig::default(),
        }
    }
}

#[cfg(test)]
mod tests;
