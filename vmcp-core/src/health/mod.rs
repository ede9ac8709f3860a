//! Backend health: the vocabulary shared by the breaker, the tracker, the monitor and reports.
//!
//! The three parts live in private modules; their types are re-exported here:
//!
//! * breaker: [`CircuitBreaker`], the per-backend circuit breaker, a pure state machine
//!   (DESIGN §3.3), with [`Admission`], [`Permit`], [`CircuitTransition`], [`BreakerSnapshot`].
//! * tracker: [`HealthTracker`], per-backend status tracking with fall/rise thresholds
//!   ([`TrackerConfig`], [`HealthState`], [`StatusChange`]).
//! * monitor: [`HealthMonitor`], one probe task per backend, scheduling, add/remove/change, the
//!   [`Probe`] seam, the call gate ([`CallPermit`], [`CallOutcome`]) and [`MonitorEvent`]s for a
//!   [`MonitorObserver`].

mod breaker;
mod monitor;
mod tracker;

pub use breaker::{
    Admission, BreakerSnapshot, CircuitBreaker, CircuitTransition, MAX_OPEN_TIMEOUT, Permit,
};
pub use monitor::{
    BackendHealth, CallOutcome, CallPermit, FastFail, GateRefusal, HealthMonitor, HealthSnapshot,
    MonitorEvent, MonitorObserver, Probe, Refusal,
};
pub use tracker::{HealthState, HealthTracker, StatusChange, TrackerConfig, TrackerConfigError};

use std::fmt;
use std::time::Duration;

use serde::Serialize;

/// Fine-grained health of one backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// The last probes succeeded quickly.
    Healthy,
    /// Reachable but not fully well: slow, recovering, or a half-open breaker.
    Degraded,
    /// Failing probes past the threshold (network, 5xx, 4xx on initialize, timeouts, protocol).
    Unhealthy,
    /// Failing probes past the threshold because credentials were refused (401/403).
    Unauthenticated,
    /// No conclusive result yet.
    Unknown,
}

impl HealthStatus {
    /// The Kubernetes CRD value for this status (DESIGN §3.3).
    pub const fn crd(self) -> CrdStatus {
        match self {
            HealthStatus::Healthy => CrdStatus::Ready,
            HealthStatus::Degraded => CrdStatus::Degraded,
            HealthStatus::Unhealthy | HealthStatus::Unauthenticated => CrdStatus::Unavailable,
            HealthStatus::Unknown => CrdStatus::Unknown,
        }
    }

    /// The snake_case name used in reports, traces and scenario files.
    pub const fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
            HealthStatus::Unauthenticated => "unauthenticated",
            HealthStatus::Unknown => "unknown",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The coarse status published in a `VirtualMCPServer` CRD status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CrdStatus {
    /// Healthy.
    Ready,
    /// Degraded.
    Degraded,
    /// Unhealthy or unauthenticated.
    Unavailable,
    /// No result yet.
    Unknown,
}

impl CrdStatus {
    /// The name used in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            CrdStatus::Ready => "ready",
            CrdStatus::Degraded => "degraded",
            CrdStatus::Unavailable => "unavailable",
            CrdStatus::Unknown => "unknown",
        }
    }
}

impl fmt::Display for CrdStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a backend has its current status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthReason {
    /// No probe has completed yet.
    Pending,
    /// Probes succeed within the degraded threshold.
    Ok,
    /// The last probe succeeded but took longer than `degraded_threshold`.
    Slow,
    /// Succeeding again after failures, not yet `healthy_threshold` successes in a row.
    Recovering,
    /// The circuit breaker is half-open: a trial probe decides.
    HalfOpen,
    /// The circuit breaker is open: probes are skipped until its deadline.
    CircuitOpen,
    /// Probes fail (below or past the threshold; see the status).
    ProbeFailed,
}

impl HealthReason {
    /// The snake_case name used in reports and scenario files.
    pub const fn as_str(self) -> &'static str {
        match self {
            HealthReason::Pending => "pending",
            HealthReason::Ok => "ok",
            HealthReason::Slow => "slow",
            HealthReason::Recovering => "recovering",
            HealthReason::HalfOpen => "half_open",
            HealthReason::CircuitOpen => "circuit_open",
            HealthReason::ProbeFailed => "probe_failed",
        }
    }
}

impl fmt::Display for HealthReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error categories shown in reports (DESIGN §3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    /// 401/403: credentials refused.
    AuthenticationFailed,
    /// The probe deadline passed.
    Timeout,
    /// The probe was cancelled by something outside the monitor. (Probes the monitor cancels
    /// itself, on shutdown or an endpoint change, have their results discarded, never reported.)
    Cancelled,
    /// The backend answered with an error (5xx, 4xx on initialize, EOF mid-message).
    BackendUnavailable,
    /// The connection could not be established or was reset.
    ConnectionFailed,
    /// Malformed HTTP, JSON-RPC or SSE, or a JSON-RPC error to `initialize`.
    ProtocolError,
    /// The TLS connection to an `https://` backend failed: certificate invalid, unknown issuer,
    /// name mismatch, expired, or a failed handshake (DESIGN §3.7).
    Tls,
    /// Any other probe failure.
    HealthCheckFailed,
}

impl ErrorCategory {
    /// The snake_case name used in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::AuthenticationFailed => "authentication_failed",
            ErrorCategory::Timeout => "timeout",
            ErrorCategory::Cancelled => "cancelled",
            ErrorCategory::BackendUnavailable => "backend_unavailable",
            ErrorCategory::ConnectionFailed => "connection_failed",
            ErrorCategory::ProtocolError => "protocol_error",
            ErrorCategory::Tls => "tls",
            ErrorCategory::HealthCheckFailed => "health_check_failed",
        }
    }
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status a failed probe points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureStatus {
    /// Any failure but refused credentials.
    Unhealthy,
    /// Credentials refused (401/403).
    Unauthenticated,
}

impl From<FailureStatus> for HealthStatus {
    fn from(s: FailureStatus) -> Self {
        match s {
            FailureStatus::Unhealthy => HealthStatus::Unhealthy,
            FailureStatus::Unauthenticated => HealthStatus::Unauthenticated,
        }
    }
}

/// A classified probe failure. The message is already redacted: it never holds credentials.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeFailure {
    /// The status this failure points to once past the threshold.
    pub status: FailureStatus,
    /// The report category.
    pub category: ErrorCategory,
    /// A short human-readable, credential-free description.
    pub message: String,
}

/// The result of one probe of one backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeOutcome {
    /// How long the probe took (simulated time under a simulation).
    pub latency: Duration,
    /// `Ok` when the MCP session completed, otherwise the classified failure.
    pub result: Result<(), ProbeFailure>,
}

impl ProbeOutcome {
    /// A successful probe that took `latency`.
    pub fn success(latency: Duration) -> Self {
        Self {
            latency,
            result: Ok(()),
        }
    }

    /// A failed probe.
    pub fn failure(latency: Duration, failure: ProbeFailure) -> Self {
        Self {
            latency,
            result: Err(failure),
        }
    }

    /// Whether the probe succeeded.
    pub fn is_success(&self) -> bool {
        self.result.is_ok()
    }
}

/// Circuit-breaker state as reported (`closed` / `open` / `half-open`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CircuitState {
    /// Probes flow; consecutive failures are counted.
    #[default]
    Closed,
    /// Probes are skipped until the deadline.
    Open,
    /// A limited number of trial probes decide.
    HalfOpen,
}

impl CircuitState {
    /// The name used in reports (`half-open` with a dash, as the CRD does).
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half-open",
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_outcomes_say_whether_they_succeeded() {
        let latency = Duration::from_millis(42);
        let ok = ProbeOutcome::success(latency);
        assert!(ok.is_success());
        assert_eq!((ok.latency, ok.result.clone()), (latency, Ok(())));
        let failure = ProbeFailure {
            status: FailureStatus::Unauthenticated,
            category: ErrorCategory::AuthenticationFailed,
            message: "HTTP 401".into(),
        };
        let failed = ProbeOutcome::failure(latency, failure.clone());
        assert!(!failed.is_success());
        assert_eq!((failed.latency, failed.result), (latency, Err(failure)));
    }

    #[test]
    fn statuses_map_to_the_crd_and_failures_to_statuses() {
        use HealthStatus as S;
        let crd: Vec<_> = [
            S::Healthy,
            S::Degraded,
            S::Unhealthy,
            S::Unauthenticated,
            S::Unknown,
        ]
        .into_iter()
        .map(HealthStatus::crd)
        .collect();
        assert_eq!(
            crd,
            [
                CrdStatus::Ready,
                CrdStatus::Degraded,
                CrdStatus::Unavailable,
                CrdStatus::Unavailable,
                CrdStatus::Unknown,
            ]
        );
        assert_eq!(S::from(FailureStatus::Unhealthy), S::Unhealthy);
        assert_eq!(S::from(FailureStatus::Unauthenticated), S::Unauthenticated);
        assert_eq!(CircuitState::default(), CircuitState::Closed);
    }
}
