//! Colours and severities: one place that says how each state looks, so the legend and the marks
//! can never disagree.

use vmcp_core::health::{CircuitState, ErrorCategory, HealthStatus};
use vmcp_core::status::Phase;

/// Fill colour of a fine status.
pub(crate) fn status(s: HealthStatus) -> &'static str {
    match s {
        HealthStatus::Healthy => "#2f9e44",
        HealthStatus::Degraded => "#f0ad00",
        HealthStatus::Unhealthy => "#d9363e",
        HealthStatus::Unauthenticated => "#8e44ad",
        HealthStatus::Unknown => "#a0a7b0",
    }
}

/// Text colour that reads on top of [`status`].
pub(crate) fn status_text(s: HealthStatus) -> &'static str {
    match s {
        HealthStatus::Degraded | HealthStatus::Unknown => "#1d1d1d",
        _ => "#ffffff",
    }
}

/// How bad a status is, for choosing what a too-small pixel shows (worst wins).
pub(crate) fn status_severity(s: HealthStatus) -> u8 {
    match s {
        HealthStatus::Healthy => 0,
        HealthStatus::Unknown => 1,
        HealthStatus::Degraded => 2,
        HealthStatus::Unauthenticated => 3,
        HealthStatus::Unhealthy => 4,
    }
}

/// Fill colour of a circuit state (closed is quiet on purpose: only trouble should stand out).
pub(crate) fn circuit(c: CircuitState) -> &'static str {
    match c {
        CircuitState::Closed => "#dde2e8",
        CircuitState::HalfOpen => "#f76707",
        CircuitState::Open => "#3b0d0f",
    }
}

/// How bad a circuit state is (worst wins in a crowded pixel).
pub(crate) fn circuit_severity(c: CircuitState) -> u8 {
    match c {
        CircuitState::Closed => 0,
        CircuitState::HalfOpen => 1,
        CircuitState::Open => 2,
    }
}

/// Colour of a successful probe.
pub(crate) const PROBE_OK: &str = "#2f9e44";
/// Colour of a skipped probe (the breaker refused it: no traffic).
pub(crate) const PROBE_SKIPPED: &str = "#868e96";

/// Colour of a failed probe, by error category.
pub(crate) fn category(c: Option<ErrorCategory>) -> &'static str {
    match c {
        Some(ErrorCategory::AuthenticationFailed) => "#8e44ad",
        Some(ErrorCategory::Timeout) => "#e8590c",
        Some(ErrorCategory::Cancelled) => "#495057",
        Some(ErrorCategory::BackendUnavailable) => "#d9363e",
        Some(ErrorCategory::ConnectionFailed) => "#a61e4d",
        Some(ErrorCategory::ProtocolError) => "#1c7ed6",
        Some(ErrorCategory::Tls) => "#0b7285",
        Some(ErrorCategory::HealthCheckFailed) | None => "#6b3e26",
    }
}

/// Every error category a simulated probe can fail with, in legend order. Not `tls`: turmoil has
/// no TLS, so no simulated backend is `https://` and no probe fails that way; a legend entry for
/// it would only be noise (it still has a colour above, for completeness).
pub(crate) const CATEGORIES: [ErrorCategory; 7] = [
    ErrorCategory::BackendUnavailable,
    ErrorCategory::Timeout,
    ErrorCategory::ConnectionFailed,
    ErrorCategory::AuthenticationFailed,
    ErrorCategory::ProtocolError,
    ErrorCategory::Cancelled,
    ErrorCategory::HealthCheckFailed,
];

/// Every fine status, in legend order.
pub(crate) const STATUSES: [HealthStatus; 5] = [
    HealthStatus::Healthy,
    HealthStatus::Degraded,
    HealthStatus::Unhealthy,
    HealthStatus::Unauthenticated,
    HealthStatus::Unknown,
];

/// Every circuit state, in legend order.
pub(crate) const CIRCUITS: [CircuitState; 3] = [
    CircuitState::Closed,
    CircuitState::HalfOpen,
    CircuitState::Open,
];

/// Colour of a report dot, by phase.
pub(crate) fn phase(p: Phase) -> &'static str {
    match p {
        Phase::Ready => "#2f9e44",
        Phase::Degraded => "#f0ad00",
        Phase::Failed => "#d9363e",
        Phase::Pending => "#a0a7b0",
    }
}

/// Colours of connection marks: one per pod of a backend in order of first use, so a switch to
/// a new pod (or back to an old one) shows as a change of colour.
pub(crate) const PODS: [&str; 4] = ["#1c7ed6", "#0ca678", "#ae3ec9", "#f08c00"];

/// Colour of a connection attempt that did not open.
pub(crate) const CONNECTION_FAILED: &str = "#d9363e";

/// Colour of fault markers.
pub(crate) const FAULT: &str = "#5f3dc4";

/// Colour of failed-expectation highlights.
pub(crate) const FAILURE: &str = "#e03131";
