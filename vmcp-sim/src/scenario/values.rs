//! The closed vocabularies of scenario values (statuses, reasons, circuit states, phases, error
//! categories, actions, kinds, counters) and their spellings.
//!
//! Why tables rather than serde enums: the `vmcp-core` report types only serialize, and a table
//! lets every "invalid value" message list exactly the valid spellings, in documentation order.

use vmcp_core::health::{CircuitState, CrdStatus, ErrorCategory, HealthReason, HealthStatus};
use vmcp_core::status::Phase;

/// Fine statuses, as written in `status = "..."`.
pub(super) const STATUSES: &[(&str, HealthStatus)] = &[
    ("healthy", HealthStatus::Healthy),
    ("degraded", HealthStatus::Degraded),
    ("unhealthy", HealthStatus::Unhealthy),
    ("unauthenticated", HealthStatus::Unauthenticated),
    ("unknown", HealthStatus::Unknown),
];

/// CRD statuses, as written in `crd_status = "..."`.
pub(super) const CRD_STATUSES: &[(&str, CrdStatus)] = &[
    ("ready", CrdStatus::Ready),
    ("degraded", CrdStatus::Degraded),
    ("unavailable", CrdStatus::Unavailable),
    ("unknown", CrdStatus::Unknown),
];

/// Health reasons, as written in `reason = "..."`.
pub(super) const REASONS: &[(&str, HealthReason)] = &[
    ("pending", HealthReason::Pending),
    ("ok", HealthReason::Ok),
    ("slow", HealthReason::Slow),
    ("recovering", HealthReason::Recovering),
    ("half_open", HealthReason::HalfOpen),
    ("circuit_open", HealthReason::CircuitOpen),
    ("probe_failed", HealthReason::ProbeFailed),
];

/// Circuit states, as written in `circuit = "..."` (the report spelling, `half-open` with a dash).
pub(super) const CIRCUITS: &[(&str, CircuitState)] = &[
    ("closed", CircuitState::Closed),
    ("open", CircuitState::Open),
    ("half-open", CircuitState::HalfOpen),
];

/// Report error categories, as written in `category = "..."`.
pub(super) const CATEGORIES: &[(&str, ErrorCategory)] = &[
    ("authentication_failed", ErrorCategory::AuthenticationFailed),
    ("timeout", ErrorCategory::Timeout),
    ("cancelled", ErrorCategory::Cancelled),
    ("backend_unavailable", ErrorCategory::BackendUnavailable),
    ("connection_failed", ErrorCategory::ConnectionFailed),
    ("protocol_error", ErrorCategory::ProtocolError),
    ("tls", ErrorCategory::Tls),
    ("health_check_failed", ErrorCategory::HealthCheckFailed),
];

/// Report phases, as written in `phase = "..."` (the CRD spelling, capitalised).
pub(super) const PHASES: &[(&str, Phase)] = &[
    ("Pending", Phase::Pending),
    ("Ready", Phase::Ready),
    ("Degraded", Phase::Degraded),
    ("Failed", Phase::Failed),
];

/// The value spelled `name` in `table`.
pub(super) fn lookup<T: Copy>(table: &[(&str, T)], name: &str) -> Option<T> {
    table
        .iter()
        .find(|(candidate, _)| *candidate == name)
        .map(|(_, value)| *value)
}

/// The spellings of `table`, comma-separated, for "expected one of ..." messages.
pub(super) fn spellings<T>(table: &[(&str, T)]) -> String {
    table
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tables must spell values exactly as the reports do, or conditions could never match.
    #[test]
    fn spellings_match_the_report_spellings() {
        for (name, value) in STATUSES {
            assert_eq!(*name, value.as_str());
        }
        for (name, value) in CRD_STATUSES {
            assert_eq!(*name, value.as_str());
        }
        for (name, value) in REASONS {
            assert_eq!(*name, value.as_str());
        }
        for (name, value) in CIRCUITS {
            assert_eq!(*name, value.as_str());
        }
        for (name, value) in CATEGORIES {
            assert_eq!(*name, value.as_str());
        }
        for (name, value) in PHASES {
            assert_eq!(*name, value.as_str());
        }
    }

    #[test]
    fn lookup_and_spellings() {
        assert_eq!(lookup(CIRCUITS, "half-open"), Some(CircuitState::HalfOpen));
        assert_eq!(lookup(CIRCUITS, "half_open"), None);
        assert_eq!(spellings(CIRCUITS), "closed, open, half-open");
    }
}
