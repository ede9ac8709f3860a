//! The published status sequence is what the tracker rules give (DESIGN §3.3, "Tracker rules"
//! and "Circuit breaker"), re-derived by a reference model written from the spec.
//!
//! The model does not call `vmcp_core::health::HealthTracker`: it replays the probe results and the
//! breaker states recorded in the trace through its own reading of the rules and demands that
//! every published status change (`Status` entries) and every report line is exactly what it
//! derives. Where the spec leaves a choice open, the model takes the choice documented by the
//! core (a slow success while recovering stays `degraded/recovering` until the healthy
//! threshold, then is `degraded/slow`); the choice is written here so that a change to it is a
//! visible disagreement, not a silent one.
//!
//! The model:
//!
//! | condition (unforced) | published as |
//! |---|---|
//! | no result yet | `unknown/pending` |
//! | failed, below the unhealthy threshold, never conclusive | `unknown/probe_failed` |
//! | ≥ unhealthy threshold consecutive failures | the failure's status (`unhealthy` / `unauthenticated`) `/probe_failed` |
//! | succeeding after failing, fewer than the healthy threshold successes | `degraded/recovering` |
//! | up | `healthy/ok`, or `degraded/slow` when the probe took longer than `degraded_threshold` |
//!
//! and the breaker overrides it: `open` → the last failure's status `/circuit_open`,
//! `half-open` → `degraded/half_open`. A success that closes the circuit counts as a success
//! after failing. An endpoint change keeps the history (the breaker reset to `closed` shows the
//! unforced status again); a removed backend and a vMCP restart forget everything.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use vmcp_core::health::{CircuitState, FailureStatus, HealthReason, HealthStatus};

use super::{Limits, Violation, at};
use crate::trace::{TraceEntry, TraceEvent};

const NAME: &str = "tracker_model";

/// The unforced condition of a backend, by the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Condition {
    NoResult,
    Inconclusive,
    Down(FailureStatus),
    Recovering,
    Up { slow: bool },
}

/// The reference model of one backend.
#[derive(Clone, Debug)]
pub struct Model {
    unhealthy_threshold: u32,
    healthy_threshold: u32,
    degraded_threshold: Duration,
    condition: Condition,
    failures_in_a_row: u32,
    successes_in_a_row: u32,
    last_failure: Option<FailureStatus>,
    circuit: CircuitState,
}

impl Model {
    /// A backend that has just been added: no result, circuit closed.
    pub fn new(limits: &Limits) -> Self {
        Self {
            unhealthy_threshold: limits.config.unhealthy_threshold.max(1),
            healthy_threshold: limits.config.healthy_threshold.max(1),
            degraded_threshold: limits.config.degraded_threshold,
            condition: Condition::NoResult,
            failures_in_a_row: 0,
            successes_in_a_row: 0,
            last_failure: None,
            circuit: CircuitState::Closed,
        }
    }

    /// The published `(status, reason)`.
    pub fn published(&self) -> (HealthStatus, HealthReason) {
        match self.circuit {
            CircuitState::Open => (
                match self.last_failure {
                    Some(FailureStatus::Unauthenticated) => HealthStatus::Unauthenticated,
                    _ => HealthStatus::Unhealthy,
                },
                HealthReason::CircuitOpen,
            ),
            CircuitState::HalfOpen => (HealthStatus::Degraded, HealthReason::HalfOpen),
            CircuitState::Closed => match self.condition {
                Condition::NoResult => (HealthStatus::Unknown, HealthReason::Pending),
                Condition::Inconclusive => (HealthStatus::Unknown, HealthReason::ProbeFailed),
                Condition::Down(FailureStatus::Unhealthy) => {
                    (HealthStatus::Unhealthy, HealthReason::ProbeFailed)
                }
                Condition::Down(FailureStatus::Unauthenticated) => {
                    (HealthStatus::Unauthenticated, HealthReason::ProbeFailed)
                }
                Condition::Recovering => (HealthStatus::Degraded, HealthReason::Recovering),
                Condition::Up { slow: true } => (HealthStatus::Degraded, HealthReason::Slow),
                Condition::Up { slow: false } => (HealthStatus::Healthy, HealthReason::Ok),
            },
        }
    }

    /// The breaker state the model was last told.
    pub fn circuit(&self) -> CircuitState {
        self.circuit
    }

    /// A probe result; `circuit_after` is the breaker state once the breaker saw it.
    pub fn probe_result(
        &mut self,
        failure: Option<FailureStatus>,
        latency: Duration,
        circuit_after: CircuitState,
    ) {
        let circuit_closed_now =
            self.circuit != CircuitState::Closed && circuit_after == CircuitState::Closed;
        match failure {
            Some(kind) => {
                self.failures_in_a_row = self.failures_in_a_row.saturating_add(1);
                self.successes_in_a_row = 0;
                self.last_failure = Some(kind);
                if self.failures_in_a_row >= self.unhealthy_threshold {
                    self.condition = Condition::Down(kind);
                } else if self.condition == Condition::NoResult {
                    self.condition = Condition::Inconclusive;
                }
            }
            None => {
                self.successes_in_a_row = self.successes_in_a_row.saturating_add(1);
                self.failures_in_a_row = 0;
                let was_failing = circuit_closed_now
                    || matches!(
                        self.condition,
                        Condition::Inconclusive | Condition::Down(_) | Condition::Recovering
                    );
                self.condition = if was_failing && self.successes_in_a_row < self.healthy_threshold
                {
                    Condition::Recovering
                } else {
                    Condition::Up {
                        slow: latency > self.degraded_threshold,
                    }
                };
            }
        }
        self.circuit = circuit_after;
    }

    /// A breaker transition without a probe result (deadline, reset).
    pub fn circuit_changed(&mut self, to: CircuitState) {
        self.circuit = to;
    }
}

fn pair((s, r): (HealthStatus, HealthReason)) -> String {
    format!("{s}/{r}")
}

/// Check the trace.
pub fn check(entries: &[TraceEntry], limits: &Limits) -> Vec<Violation> {
    let mut models: BTreeMap<&str, Model> = BTreeMap::new();
    let mut consumed: BTreeSet<usize> = BTreeSet::new();
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if consumed.contains(&i) {
            continue;
        }
        match &entry.event {
            TraceEvent::VmcpStarted => models.clear(),
            TraceEvent::BackendAdded { backend } => {
                models.insert(backend, Model::new(limits));
            }
            TraceEvent::BackendRemoved { backend } => {
                models.remove(backend.as_str());
            }
            TraceEvent::ProbeFinished {
                backend,
                ok,
                failure,
                latency,
                ..
            } => {
                let model = models.entry(backend).or_insert_with(|| Model::new(limits));
                let before = model.published();
                // The breaker transition this result caused, recorded right after it.
                let mut next = i + 1;
                let mut circuit_after = model.circuit();
                if let Some(TraceEntry {
                    event: TraceEvent::Circuit { backend: b, to, .. },
                    ..
                }) = entries.get(next)
                    && b == backend
                {
                    circuit_after = *to;
                    consumed.insert(next);
                    next += 1;
                }
                let failure = match (ok, failure) {
                    (true, _) => None,
                    (false, Some(kind)) => Some(*kind),
                    (false, None) => Some(FailureStatus::Unhealthy),
                };
                model.probe_result(failure, *latency, circuit_after);
                let expected = model.published();
                expect_change(
                    entries,
                    next,
                    backend,
                    before,
                    expected,
                    &mut consumed,
                    &mut out,
                );
            }
            TraceEvent::Circuit { backend, to, .. } => {
                let model = models.entry(backend).or_insert_with(|| Model::new(limits));
                let before = model.published();
                model.circuit_changed(*to);
                let expected = model.published();
                expect_change(
                    entries,
                    i + 1,
                    backend,
                    before,
                    expected,
                    &mut consumed,
                    &mut out,
                );
            }
            TraceEvent::Status {
                backend,
                from,
                from_reason,
                to,
                to_reason,
            } => out.push(Violation::new(
                NAME,
                Some(backend),
                entry.at_ms,
                format!(
                    "{backend} published {} -> {} at {} with no probe result or breaker \
                     transition that the tracker rules turn into a change",
                    pair((*from, *from_reason)),
                    pair((*to, *to_reason)),
                    at(entry)
                ),
            )),
            TraceEvent::Report { backends, .. } => {
                for line in backends {
                    let Some(model) = models.get(line.backend.as_str()) else {
                        continue;
                    };
                    let expected = model.published();
                    if (line.health, line.reason) != expected || line.circuit != model.circuit() {
                        out.push(Violation::new(
                            NAME,
                            Some(&line.backend),
                            entry.at_ms,
                            format!(
                                "the report at {} shows {} {} (circuit {}); the tracker rules \
                                 give {} (circuit {})",
                                at(entry),
                                line.backend,
                                pair((line.health, line.reason)),
                                line.circuit,
                                pair(expected),
                                model.circuit()
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// The entry at `index` must be the `Status` change `before -> expected` of `backend` when
/// they differ, and must not be a `Status` change of `backend` when they are equal.
fn expect_change(
    entries: &[TraceEntry],
    index: usize,
    backend: &str,
    before: (HealthStatus, HealthReason),
    expected: (HealthStatus, HealthReason),
    consumed: &mut BTreeSet<usize>,
    out: &mut Vec<Violation>,
) {
    let cause = &entries[index - 1];
    let published = match entries.get(index) {
        Some(TraceEntry {
            event:
                TraceEvent::Status {
                    backend: b,
                    from,
                    from_reason,
                    to,
                    to_reason,
                },
            ..
        }) if b == backend => {
            consumed.insert(index);
            Some(((*from, *from_reason), (*to, *to_reason)))
        }
        _ => None,
    };
    let message = match published {
        None if before == expected => return,
        Some((from, to)) if from == before && to == expected => return,
        None => format!(
            "after `{}` at {} the tracker rules give {} -> {}, but no status change was \
             published",
            cause.event.describe(),
            at(cause),
            pair(before),
            pair(expected)
        ),
        Some((from, to)) if before == expected => format!(
            "after `{}` at {} the tracker rules keep {}, but {} -> {} was published",
            cause.event.describe(),
            at(cause),
            pair(before),
            pair(from),
            pair(to)
        ),
        Some((from, to)) => format!(
            "after `{}` at {} the tracker rules give {} -> {}, but {} -> {} was published",
            cause.event.describe(),
            at(cause),
            pair(before),
            pair(expected),
            pair(from),
            pair(to)
        ),
    };
    out.push(Violation::new(NAME, Some(backend), cause.at_ms, message));
}
