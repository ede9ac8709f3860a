//! The status report and the pure function that builds it (DESIGN §3.4).
//!
//! A [`StatusReport`] is what a Kubernetes operator would write into a `VirtualMCPServer` status:
//! a phase, a message, conditions and one entry per backend. It is built by [`build_report`] from
//! the registry's backends and the monitor's [`HealthSnapshot`] only, with the timestamp passed
//! in, so the same inputs always give the same report (snapshot tests, deterministic simulation).

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::clock::Timestamp;
use crate::health::{BackendHealth, HealthSnapshot};
use crate::health::{CircuitState, CrdStatus, ErrorCategory, HealthReason, HealthStatus};
use crate::redact::redact_url;
use crate::registry::Backend;
use crate::status::redact::scrub_message;

/// The overall phase of the virtual MCP server.
///
/// Evaluated top to bottom over the backends in the registry; a backend without an entry in the
/// snapshot counts as `unknown/pending` (never probed):
///
/// | backends                                                      | phase      |
/// |---------------------------------------------------------------|------------|
/// | none configured                                               | `Ready`    |
/// | all `healthy`                                                 | `Ready`    |
/// | all never probed (`unknown` with reason `pending`)            | `Pending`  |
/// | at least one `healthy` or `degraded` (but not all `healthy`)  | `Degraded` |
/// | otherwise: each is `unhealthy`, `unauthenticated` or `unknown`, and at least one has a result | `Failed` |
///
/// Consequences worth knowing: `unknown` after a failed first probe plus a `healthy` backend is
/// `Degraded`; a newly added, never-probed backend next to healthy ones is `Degraded` until its
/// first result (it cannot serve yet); `unknown` after a failure with nothing usable is `Failed`
/// (a result exists, and nothing can serve). A half-open breaker makes its backend `degraded`,
/// an open one `unavailable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Phase {
    /// Backends are configured but none has been probed yet.
    Pending,
    /// Every backend is healthy, or there are no backends at all.
    Ready,
    /// Some backends can serve (healthy or degraded), but not all are healthy.
    Degraded,
    /// Backends exist and none can serve.
    Failed,
}

impl Phase {
    /// The CRD spelling (`Pending`, `Ready`, `Degraded`, `Failed`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Ready => "Ready",
            Phase::Degraded => "Degraded",
            Phase::Failed => "Failed",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Kubernetes condition status. `Unknown` is not used: every condition here is decidable from
/// the inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
}

impl ConditionStatus {
    fn from_bool(b: bool) -> Self {
        if b {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

/// One Kubernetes-style condition.
///
/// No `lastTransitionTime`: the report is built from the current state only, and a transition time
/// needs the previous report; whoever persists reports (an operator) owns that field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `BackendsDiscovered` or `Degraded` (see [`condition_types`]).
    #[serde(rename = "type")]
    pub type_: &'static str,
    /// Whether the condition holds.
    pub status: ConditionStatus,
    /// A CamelCase machine-readable reason (see [`reasons`]).
    pub reason: &'static str,
    /// A human-readable explanation.
    pub message: String,
}

/// The condition types, always present and in this order.
pub mod condition_types {
    /// The server can serve every backend (or has none).
    pub const READY: &str = "Ready";
    /// At least one backend is configured.
    pub const BACKENDS_DISCOVERED: &str = "BackendsDiscovered";
    /// At least one backend is `degraded` (slow, recovering or half-open breaker).
    pub const DEGRADED: &str = "Degraded";
}

/// The condition reasons.
pub mod reasons {
    /// `Ready=True`: every backend is healthy.
    pub const ALL_BACKENDS_HEALTHY: &str = "AllBackendsHealthy";
    /// `Ready=True`, `BackendsDiscovered=False`: nothing is configured.
    pub const NO_BACKENDS_CONFIGURED: &str = "NoBackendsConfigured";
    /// `Ready=False`: no backend has been probed yet.
    pub const BACKENDS_PENDING: &str = "BackendsPending";
    /// `Ready=False`: some but not all backends can serve.
    pub const BACKENDS_NOT_READY: &str = "BackendsNotReady";
    /// `Ready=False`: no backend can serve.
    pub const NO_HEALTHY_BACKENDS: &str = "NoHealthyBackends";
    /// `BackendsDiscovered=True`.
    pub const BACKENDS_DISCOVERED: &str = "BackendsDiscovered";
    /// `Degraded=True`: at least one backend is degraded.
    pub const BACKENDS_DEGRADED: &str = "BackendsDegraded";
    /// `Degraded=False`.
    pub const NO_BACKENDS_DEGRADED: &str = "NoBackendsDegraded";
}

/// One backend as reported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveredBackend {
    /// The backend's unique name.
    pub name: String,
    /// The URL as configured, with any userinfo redacted.
    pub url: String,
    /// The CRD value (`ready`, `degraded`, `unavailable`, `unknown`).
    pub status: CrdStatus,
    /// The fine status (`healthy`, `degraded`, `unhealthy`, `unauthenticated`, `unknown`).
    pub health: HealthStatus,
    /// Why the backend has this status.
    pub reason: HealthReason,
    /// The last error when failing (redacted), otherwise a short description of the state.
    pub message: String,
    /// When the last probe finished; absent before the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_health_check: Option<Timestamp>,
    /// Consecutive failed probes (0 when the last probe succeeded).
    pub consecutive_failures: u32,
    /// The breaker state; `closed` when the breaker is disabled.
    pub circuit_breaker_state: CircuitState,
    /// When the breaker last changed state; absent if it never did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub circuit_last_changed: Option<Timestamp>,
    /// The category of the last error, only while failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_category: Option<ErrorCategory>,
}

/// The status of the virtual MCP server, serialised like a `VirtualMCPServer` CRD status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    /// The overall phase.
    pub phase: Phase,
    /// A one-line human summary, e.g. `2/3 backends healthy; 1 unavailable`.
    pub message: String,
    /// When the report was built (injected clock).
    pub observed_at: Timestamp,
    /// How many backends are `healthy`.
    pub backend_count: u32,
    /// `Ready`, `BackendsDiscovered`, `Degraded`, always in this order.
    pub conditions: Vec<Condition>,
    /// One entry per configured backend, sorted by name.
    pub discovered_backends: Vec<DiscoveredBackend>,
}

/// Backends per CRD status, for summaries and logs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BackendCounts {
    /// All reported backends.
    pub total: u32,
    /// `ready`.
    pub healthy: u32,
    /// `degraded`.
    pub degraded: u32,
    /// `unavailable` (unhealthy or unauthenticated).
    pub unavailable: u32,
    /// `unknown`.
    pub unknown: u32,
}

impl BackendCounts {
    fn add(&mut self, status: CrdStatus) {
        self.total = self.total.saturating_add(1);
        let slot = match status {
            CrdStatus::Ready => &mut self.healthy,
            CrdStatus::Degraded => &mut self.degraded,
            CrdStatus::Unavailable => &mut self.unavailable,
            CrdStatus::Unknown => &mut self.unknown,
        };
        *slot = slot.saturating_add(1);
    }
}

impl StatusReport {
    /// Backends per CRD status.
    pub fn counts(&self) -> BackendCounts {
        let mut counts = BackendCounts::default();
        for b in &self.discovered_backends {
            counts.add(b.status);
        }
        counts
    }

    /// The condition of type `type_`, if present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }
}

/// Build the report for `backends` (the registry's contents) from `health` at `observed_at`.
///
/// Pure: no clock, no I/O. Backends are reported sorted by name; if `backends` names one twice,
/// the first wins (the registry never does). A backend missing from `health` is reported as
/// `unknown/pending`; snapshot entries for backends no longer in `backends` are ignored (the
/// monitor may not have dropped them yet).
pub fn build_report(
    backends: &[Backend],
    health: &HealthSnapshot,
    observed_at: Timestamp,
) -> StatusReport {
    let mut configured: Vec<&Backend> = backends.iter().collect();
    configured.sort_by(|a, b| a.name.cmp(&b.name));
    configured.dedup_by(|later, earlier| later.name == earlier.name);

    let discovered: Vec<DiscoveredBackend> = configured
        .iter()
        .map(|b| discovered_backend(b, health.get(&b.name)))
        .collect();

    let mut counts = BackendCounts::default();
    for d in &discovered {
        counts.add(d.status);
    }
    let all_never_probed = discovered.iter().all(is_never_probed);

    let phase = if counts.total == 0 || counts.healthy == counts.total {
        Phase::Ready
    } else if all_never_probed {
        Phase::Pending
    } else if counts.healthy > 0 || counts.degraded > 0 {
        Phase::Degraded
    } else {
        Phase::Failed
    };

    let message = summary_message(phase, &counts);
    let conditions = vec![
        ready_condition(phase, &counts, &message),
        discovered_condition(&counts),
        degraded_condition(&discovered),
    ];

    StatusReport {
        phase,
        message,
        observed_at,
        backend_count: counts.healthy,
        conditions,
        discovered_backends: discovered,
    }
}

fn is_never_probed(d: &DiscoveredBackend) -> bool {
    d.health == HealthStatus::Unknown && d.reason == HealthReason::Pending
}

fn plural(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn summary_message(phase: Phase, counts: &BackendCounts) -> String {
    if counts.total == 0 {
        return "no backends configured".to_owned();
    }
    if phase == Phase::Pending {
        return format!(
            "waiting for the first health check of {}",
            plural(counts.total, "backend", "backends")
        );
    }
    let mut message = format!("{}/{} backends healthy", counts.healthy, counts.total);
    let others: Vec<String> = [
        (counts.degraded, "degraded"),
        (counts.unavailable, "unavailable"),
        (counts.unknown, "unknown"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}"))
    .collect();
    if !others.is_empty() {
        message.push_str("; ");
        message.push_str(&others.join(", "));
    }
    message
}

fn ready_condition(phase: Phase, counts: &BackendCounts, message: &str) -> Condition {
    let reason = match phase {
        Phase::Ready if counts.total == 0 => reasons::NO_BACKENDS_CONFIGURED,
        Phase::Ready => reasons::ALL_BACKENDS_HEALTHY,
        Phase::Pending => reasons::BACKENDS_PENDING,
        Phase::Degraded => reasons::BACKENDS_NOT_READY,
        Phase::Failed => reasons::NO_HEALTHY_BACKENDS,
    };
    Condition {
        type_: condition_types::READY,
        status: ConditionStatus::from_bool(phase == Phase::Ready),
        reason,
        message: message.to_owned(),
    }
}

fn discovered_condition(counts: &BackendCounts) -> Condition {
    let found = counts.total > 0;
    Condition {
        type_: condition_types::BACKENDS_DISCOVERED,
        status: ConditionStatus::from_bool(found),
        reason: if found {
            reasons::BACKENDS_DISCOVERED
        } else {
            reasons::NO_BACKENDS_CONFIGURED
        },
        message: if found {
            format!("{} discovered", plural(counts.total, "backend", "backends"))
        } else {
            "no backends configured".to_owned()
        },
    }
}

fn degraded_condition(discovered: &[DiscoveredBackend]) -> Condition {
    let degraded: Vec<String> = discovered
        .iter()
        .filter(|d| d.health == HealthStatus::Degraded)
        .map(|d| format!("{} ({})", d.name, d.reason))
        .collect();
    if degraded.is_empty() {
        return Condition {
            type_: condition_types::DEGRADED,
            status: ConditionStatus::False,
            reason: reasons::NO_BACKENDS_DEGRADED,
            message: "no backend is degraded".to_owned(),
        };
    }
    let n = u32::try_from(degraded.len()).unwrap_or(u32::MAX);
    Condition {
        type_: condition_types::DEGRADED,
        status: ConditionStatus::True,
        reason: reasons::BACKENDS_DEGRADED,
        message: format!(
            "{} degraded: {}",
            plural(n, "backend", "backends"),
            degraded.join(", ")
        ),
    }
}

fn discovered_backend(backend: &Backend, health: Option<&BackendHealth>) -> DiscoveredBackend {
    let url = redact_url(&backend.url);
    let Some(h) = health else {
        return DiscoveredBackend {
            name: backend.name.clone(),
            url,
            status: CrdStatus::Unknown,
            health: HealthStatus::Unknown,
            reason: HealthReason::Pending,
            message: describe(HealthReason::Pending, None, 0),
            last_health_check: None,
            consecutive_failures: 0,
            circuit_breaker_state: CircuitState::Closed,
            circuit_last_changed: None,
            error_category: None,
        };
    };
    let state = &h.health;
    let failing = state.consecutive_failures > 0
        || matches!(
            state.status,
            HealthStatus::Unhealthy | HealthStatus::Unauthenticated
        )
        || state.reason == HealthReason::CircuitOpen;
    let (message, error_category) = if failing {
        let error = match &state.last_error_message {
            Some(m) if !m.trim().is_empty() => scrub_message(m, backend),
            _ => "health check failed".to_owned(),
        };
        // With the breaker involved, say so: the error may be old (probes are being skipped).
        let message = match state.reason {
            HealthReason::CircuitOpen => {
                format!("circuit breaker open, health checks skipped; last error: {error}")
            }
            HealthReason::HalfOpen => {
                format!(
                    "circuit breaker half-open, trial health check pending; last error: {error}"
                )
            }
            _ => error,
        };
        (
            message,
            Some(
                state
                    .last_error_category
                    .unwrap_or(ErrorCategory::HealthCheckFailed),
            ),
        )
    } else {
        (
            describe(
                state.reason,
                state.last_latency,
                state.consecutive_successes,
            ),
            None,
        )
    };
    DiscoveredBackend {
        name: backend.name.clone(),
        url,
        status: state.status.crd(),
        health: state.status,
        reason: state.reason,
        message,
        last_health_check: state.last_check,
        consecutive_failures: state.consecutive_failures,
        circuit_breaker_state: if h.circuit.enabled {
            h.circuit.state
        } else {
            CircuitState::Closed
        },
        circuit_last_changed: h.circuit_last_changed,
        error_category,
    }
}

/// A short description of a non-failing state.
fn describe(reason: HealthReason, latency: Option<Duration>, successes: u32) -> String {
    match reason {
        HealthReason::Pending => "waiting for the first health check".to_owned(),
        HealthReason::Ok => "health check passed".to_owned(),
        HealthReason::Slow => match latency {
            Some(l) => format!(
                "health check passed slowly (took {})",
                humantime::format_duration(l)
            ),
            None => "health check passed slowly".to_owned(),
        },
        HealthReason::Recovering => format!(
            "recovering after failures: {} in a row",
            plural(
                successes,
                "successful health check",
                "successful health checks"
            )
        ),
        HealthReason::HalfOpen => {
            "circuit breaker half-open: a trial health check decides".to_owned()
        }
        HealthReason::CircuitOpen => "circuit breaker open: health checks are skipped".to_owned(),
        HealthReason::ProbeFailed => "health check failed".to_owned(),
    }
}
