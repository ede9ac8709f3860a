//! Per-backend status tracking with fall/rise thresholds (DESIGN §3.3, "Tracker rules").
//!
//! The tracker turns a stream of probe outcomes (plus the circuit-breaker state) into the
//! published `(status, reason)` of one backend. It exists so that one failed probe does not make a
//! healthy backend flap, and one lucky probe does not make a failing backend look healthy.
//!
//! It works in two layers:
//!
//! 1. The **unforced** status follows the tracker rules from probe outcomes alone:
//!    * initial `unknown/pending`;
//!    * the first result decides: a success gives the probe's status (`healthy/ok`, or
//!      `degraded/slow` when the probe took longer than `degraded_threshold`); a failure gives
//!      `unknown/probe_failed` (or the failure status when `unhealthy_threshold` is 1);
//!    * failures below `unhealthy_threshold` leave the status as it is; from the threshold on the
//!      status is the failure's status (`unhealthy` or `unauthenticated`, reason `probe_failed`),
//!      switching at once between the two while past the threshold;
//!    * a success after failing (status `unknown` after a failure, `unhealthy`, `unauthenticated`,
//!      already `degraded/recovering`, or a breaker that a half-open success just closed) gives
//!      `degraded/recovering` until `healthy_threshold` consecutive successes, then the probe's
//!      status. **Choice:** a slow success while recovering stays `degraded/recovering` until the
//!      threshold, and at the threshold becomes `degraded/slow` (not `healthy`);
//!    * a backend that is `healthy/ok` or only `degraded/slow` simply follows each success's speed.
//! 2. The **published** status is the unforced one, overridden by the breaker: `Open` forces the
//!    last failure status with reason `circuit_open` (even below `unhealthy_threshold`), `HalfOpen`
//!    forces `degraded/half_open`. `Closed` publishes the unforced status.
//!
//! **Choice:** the last error category and message are kept after recovery (they are replaced by
//! the next failure only), so a report can still say what went wrong last time.

use std::time::Duration;

use serde::Serialize;

use crate::clock::Timestamp;
use crate::config::FailureHandling;
use crate::health::{
    CircuitState, ErrorCategory, FailureStatus, HealthReason, HealthStatus, ProbeOutcome,
};

/// Thresholds the tracker applies.
///
/// Kept separate from [`FailureHandling`] so the tracker depends only on the three numbers it
/// needs and can be unit-tested without a whole configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackerConfig {
    /// Consecutive failures before the status becomes `unhealthy`/`unauthenticated` (≥ 1).
    pub unhealthy_threshold: u32,
    /// Consecutive successes, after failing, before the status is `healthy` again (≥ 1).
    pub healthy_threshold: u32,
    /// A successful probe strictly slower than this yields `degraded/slow`.
    pub degraded_threshold: Duration,
}

impl TrackerConfig {
    /// Check the thresholds, so that a caller building a config by hand gets a typed error
    /// instead of a tracker with surprising behaviour.
    pub fn validate(&self) -> Result<(), TrackerConfigError> {
        if self.unhealthy_threshold == 0 {
            return Err(TrackerConfigError::ZeroUnhealthyThreshold);
        }
        if self.healthy_threshold == 0 {
            return Err(TrackerConfigError::ZeroHealthyThreshold);
        }
        Ok(())
    }
}

impl Default for TrackerConfig {
    /// The DESIGN §3.5 defaults: unhealthy 3, healthy 2, degraded 5 s — the same as
    /// `FailureHandling::default()`.
    fn default() -> Self {
        Self {
            unhealthy_threshold: 3,
            healthy_threshold: 2,
            degraded_threshold: Duration::from_secs(5),
        }
    }
}

impl From<&FailureHandling> for TrackerConfig {
    fn from(c: &FailureHandling) -> Self {
        Self {
            unhealthy_threshold: c.unhealthy_threshold,
            healthy_threshold: c.healthy_threshold,
            degraded_threshold: c.degraded_threshold,
        }
    }
}

/// Why a [`TrackerConfig`] was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TrackerConfigError {
    /// A zero fall threshold would make the status depend on no failure at all.
    #[error("unhealthy_threshold (0) must be at least 1")]
    ZeroUnhealthyThreshold,
    /// A zero rise threshold would make recovery need no success at all.
    #[error("healthy_threshold (0) must be at least 1")]
    ZeroHealthyThreshold,
}

/// Everything known about one backend's health: what reports and traces show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthState {
    /// The published fine-grained status (after breaker forcing).
    pub status: HealthStatus,
    /// Why the backend has `status`.
    pub reason: HealthReason,
    /// Probe failures in a row, counted by the tracker (not the breaker's count).
    pub consecutive_failures: u32,
    /// Probe successes in a row.
    pub consecutive_successes: u32,
    /// The `at` of the last recorded probe result; breaker-only transitions do not touch it.
    pub last_check: Option<Timestamp>,
    /// When the published `(status, reason)` last changed; `None` until the first change.
    pub last_transition: Option<Timestamp>,
    /// Category of the last failure. Kept after recovery, replaced by the next failure.
    pub last_error_category: Option<ErrorCategory>,
    /// Message of the last failure. Redacted: never holds credentials. Kept like the category.
    pub last_error_message: Option<String>,
    /// Latency of the last recorded probe, failed or not.
    pub last_latency: Option<Duration>,
}

impl HealthState {
    /// The state before any probe: `unknown/pending`, nothing recorded.
    pub fn pending() -> Self {
        Self {
            status: HealthStatus::Unknown,
            reason: HealthReason::Pending,
            consecutive_failures: 0,
            consecutive_successes: 0,
            last_check: None,
            last_transition: None,
            last_error_category: None,
            last_error_message: None,
            last_latency: None,
        }
    }
}

/// A change of the published (status, reason).
///
/// Returned by [`HealthTracker::record`] and [`HealthTracker::circuit_changed`] exactly when the
/// published pair changed, so callers can emit events and trigger reports without diffing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    /// Status before.
    pub from: HealthStatus,
    /// Reason before.
    pub from_reason: HealthReason,
    /// Status after.
    pub to: HealthStatus,
    /// Reason after.
    pub to_reason: HealthReason,
}

/// The status tracker of one backend.
///
/// A pure state machine: time is passed in as `at`, it never reads a clock, and the same inputs
/// always give the same states.
#[derive(Clone, Debug)]
pub struct HealthTracker {
    config: TrackerConfig,
    /// The published state (unforced status overridden by the breaker).
    state: HealthState,
    /// The status the tracker rules give without the breaker.
    unforced: (HealthStatus, HealthReason),
    /// The last breaker state the tracker was told about.
    circuit: CircuitState,
    /// The status the last failure pointed to; what an Open breaker forces.
    last_failure_status: Option<FailureStatus>,
}

impl HealthTracker {
    /// A tracker in `unknown/pending` with a closed breaker.
    ///
    /// The config is expected to be validated (the configuration layer requires thresholds
    /// ≥ 1); should a threshold be 0 anyway it behaves exactly like 1. Use [`Self::try_new`] to
    /// get a typed error instead.
    pub fn new(config: TrackerConfig) -> Self {
        Self {
            config,
            state: HealthState::pending(),
            unforced: (HealthStatus::Unknown, HealthReason::Pending),
            circuit: CircuitState::Closed,
            last_failure_status: None,
        }
    }

    /// Like [`Self::new`], but rejects a config whose thresholds are 0.
    pub fn try_new(config: TrackerConfig) -> Result<Self, TrackerConfigError> {
        config.validate()?;
        Ok(Self::new(config))
    }

    /// Record a probe result. `circuit` is the breaker state after the breaker saw this result.
    ///
    /// A success that moves the breaker from `HalfOpen` (or `Open`) to `Closed` counts as a
    /// success after failing: the recovery rule applies and this success counts towards
    /// `healthy_threshold`.
    pub fn record(
        &mut self,
        outcome: &ProbeOutcome,
        circuit: CircuitState,
        at: Timestamp,
    ) -> Option<StatusChange> {
        let breaker_just_closed =
            self.circuit != CircuitState::Closed && circuit == CircuitState::Closed;
        self.state.last_check = Some(at);
        self.state.last_latency = Some(outcome.latency);
        match &outcome.result {
            Ok(()) => self.on_success(outcome.latency, breaker_just_closed),
            Err(failure) => {
                self.state.last_error_category = Some(failure.category);
                self.state.last_error_message = Some(failure.message.clone());
                self.last_failure_status = Some(failure.status);
                self.on_failure(failure.status);
            }
        }
        self.circuit = circuit;
        self.publish(at)
    }

    /// A breaker transition not caused by a probe result (Open→HalfOpen at the deadline, or a
    /// reset to Closed on an endpoint change).
    ///
    /// Counters and history are kept; a reset to `Closed` publishes the unforced tracker status
    /// again (it does not start a recovery, since no probe succeeded).
    pub fn circuit_changed(
        &mut self,
        circuit: CircuitState,
        at: Timestamp,
    ) -> Option<StatusChange> {
        self.circuit = circuit;
        self.publish(at)
    }

    /// The published state.
    pub fn state(&self) -> &HealthState {
        &self.state
    }

    /// The thresholds in use.
    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// The last breaker state the tracker was told about.
    pub fn circuit(&self) -> CircuitState {
        self.circuit
    }

    /// The `(status, reason)` the tracker rules give without breaker forcing: what a reset
    /// breaker would publish.
    pub fn unforced(&self) -> (HealthStatus, HealthReason) {
        self.unforced
    }

    /// Apply a failure to the counters and the unforced status.
    fn on_failure(&mut self, kind: FailureStatus) {
        self.state.consecutive_failures = self.state.consecutive_failures.saturating_add(1);
        self.state.consecutive_successes = 0;
        if self.state.consecutive_failures >= self.config.unhealthy_threshold {
            self.unforced = (HealthStatus::from(kind), HealthReason::ProbeFailed);
        } else if self.unforced.1 == HealthReason::Pending {
            // First result, below the threshold: not conclusive yet.
            self.unforced = (HealthStatus::Unknown, HealthReason::ProbeFailed);
        }
        // Otherwise below the threshold: the status does not change.
    }

    /// Apply a success to the counters and the unforced status.
    fn on_success(&mut self, latency: Duration, breaker_just_closed: bool) {
        self.state.consecutive_successes = self.state.consecutive_successes.saturating_add(1);
        self.state.consecutive_failures = 0;
        let probe_status = if latency > self.config.degraded_threshold {
            (HealthStatus::Degraded, HealthReason::Slow)
        } else {
            (HealthStatus::Healthy, HealthReason::Ok)
        };
        let recovering = breaker_just_closed
            || matches!(
                self.unforced,
                (HealthStatus::Unknown, HealthReason::ProbeFailed)
                    | (HealthStatus::Unhealthy, _)
                    | (HealthStatus::Unauthenticated, _)
                    | (HealthStatus::Degraded, HealthReason::Recovering)
            );
        self.unforced =
            if recovering && self.state.consecutive_successes < self.config.healthy_threshold {
                (HealthStatus::Degraded, HealthReason::Recovering)
            } else {
                probe_status
            };
    }

    /// The published pair for the current unforced status and breaker state.
    fn forced(&self) -> (HealthStatus, HealthReason) {
        match self.circuit {
            CircuitState::Closed => self.unforced,
            CircuitState::HalfOpen => (HealthStatus::Degraded, HealthReason::HalfOpen),
            // An Open breaker with no failure on record cannot come from the breaker (it opens
            // on failures); `unhealthy` is the safe reading should a caller do it anyway.
            CircuitState::Open => (
                self.last_failure_status
                    .map_or(HealthStatus::Unhealthy, HealthStatus::from),
                HealthReason::CircuitOpen,
            ),
        }
    }

    /// Update the published pair; report and stamp a change.
    fn publish(&mut self, at: Timestamp) -> Option<StatusChange> {
        let (to, to_reason) = self.forced();
        let (from, from_reason) = (self.state.status, self.state.reason);
        if (from, from_reason) == (to, to_reason) {
            return None;
        }
        self.state.status = to;
        self.state.reason = to_reason;
        self.state.last_transition = Some(at);
        Some(StatusChange {
            from,
            from_reason,
            to,
            to_reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::{ProbeFailure, ProbeOutcome};
    use HealthReason as R;
    use HealthStatus as S;

    const FAST: Duration = Duration::from_millis(10);
    const LIMIT: Duration = Duration::from_millis(100);

    fn config() -> TrackerConfig {
        TrackerConfig {
            unhealthy_threshold: 2,
            healthy_threshold: 2,
            degraded_threshold: LIMIT,
        }
    }

    fn ok(latency: Duration) -> ProbeOutcome {
        ProbeOutcome::success(latency)
    }

    fn fail(status: FailureStatus) -> ProbeOutcome {
        ProbeOutcome::failure(
            Duration::from_millis(7),
            ProbeFailure {
                status,
                category: match status {
                    FailureStatus::Unhealthy => ErrorCategory::ConnectionFailed,
                    FailureStatus::Unauthenticated => ErrorCategory::AuthenticationFailed,
                },
                message: format!("{status:?} failure"),
            },
        )
    }

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_unix_millis(ms)
    }

    /// One step: a probe result (with the breaker state after it) or a breaker-only change.
    enum Step {
        Record(ProbeOutcome, CircuitState),
        Circuit(CircuitState),
    }
    use Step::{Circuit, Record};

    /// Run `steps` on a fresh tracker; after each, the published pair and whether it was
    /// reported as a change (with the right `from`) must be `expected[i]`.
    fn run(steps: Vec<Step>, expected: &[(S, R, bool)]) -> HealthTracker {
        assert_eq!(steps.len(), expected.len());
        let mut t = HealthTracker::try_new(config()).unwrap();
        for (i, (step, &(status, reason, changed))) in steps.into_iter().zip(expected).enumerate() {
            let before = (t.state().status, t.state().reason);
            let (change, circuit) = match step {
                Record(outcome, circuit) => (t.record(&outcome, circuit, at(i as u64)), circuit),
                Circuit(circuit) => (t.circuit_changed(circuit, at(i as u64)), circuit),
            };
            assert_eq!(t.circuit(), circuit, "step {i}");
            assert_eq!(
                (t.state().status, t.state().reason),
                (status, reason),
                "step {i}"
            );
            let want = changed.then_some(StatusChange {
                from: before.0,
                from_reason: before.1,
                to: status,
                to_reason: reason,
            });
            assert_eq!(change, want, "step {i}");
            if changed {
                assert_eq!(t.state().last_transition, Some(at(i as u64)), "step {i}");
            }
        }
        t
    }

    #[test]
    fn thresholds_of_zero_are_refused() {
        let zero_fall = TrackerConfig {
            unhealthy_threshold: 0,
            ..config()
        };
        let zero_rise = TrackerConfig {
            healthy_threshold: 0,
            ..config()
        };
        assert_eq!(
            zero_fall.validate(),
            Err(TrackerConfigError::ZeroUnhealthyThreshold)
        );
        assert_eq!(
            zero_rise.validate(),
            Err(TrackerConfigError::ZeroHealthyThreshold)
        );
        assert_eq!(config().validate(), Ok(()));
        assert!(HealthTracker::try_new(zero_rise).is_err());
        assert_eq!(
            zero_fall.validate().unwrap_err().to_string(),
            "unhealthy_threshold (0) must be at least 1"
        );
    }

    #[test]
    fn the_config_comes_from_failure_handling() {
        let fh = FailureHandling {
            unhealthy_threshold: 7,
            healthy_threshold: 4,
            degraded_threshold: Duration::from_millis(1234),
            ..FailureHandling::default()
        };
        let c = TrackerConfig::from(&fh);
        assert_eq!((c.unhealthy_threshold, c.healthy_threshold), (7, 4));
        assert_eq!(c.degraded_threshold, Duration::from_millis(1234));
        let t = HealthTracker::new(c);
        assert_eq!(*t.config(), c);
        assert_eq!(*t.state(), HealthState::pending());
        assert_eq!(t.state().status, S::Unknown);
        assert_eq!(t.state().reason, R::Pending);
        assert_eq!(t.unforced(), (S::Unknown, R::Pending));
        assert_eq!(t.circuit(), CircuitState::Closed);
    }

    #[test]
    fn failures_fall_at_the_threshold_and_successes_rise_through_recovering() {
        use CircuitState::Closed;
        use FailureStatus::Unhealthy;
        let t = run(
            vec![
                Record(fail(Unhealthy), Closed),
                Record(fail(Unhealthy), Closed),
                Record(fail(Unhealthy), Closed),
                Record(ok(FAST), Closed),
                Record(ok(FAST), Closed),
                Record(ok(FAST), Closed),
                // Strictly slower than the threshold is slow; exactly at it is not.
                Record(ok(LIMIT + Duration::from_millis(1)), Closed),
                Record(ok(LIMIT), Closed),
                // One failure below the threshold changes nothing once a status is known.
                Record(fail(Unhealthy), Closed),
                Record(ok(FAST), Closed),
            ],
            &[
                (S::Unknown, R::ProbeFailed, true),
                (S::Unhealthy, R::ProbeFailed, true),
                (S::Unhealthy, R::ProbeFailed, false),
                (S::Degraded, R::Recovering, true),
                (S::Healthy, R::Ok, true),
                (S::Healthy, R::Ok, false),
                (S::Degraded, R::Slow, true),
                (S::Healthy, R::Ok, true),
                (S::Healthy, R::Ok, false),
                (S::Healthy, R::Ok, false),
            ],
        );
        let s = t.state();
        assert_eq!((s.consecutive_successes, s.consecutive_failures), (1, 0));
        assert_eq!(s.last_check, Some(at(9)));
        assert_eq!(s.last_latency, Some(FAST));
        // The last failure is remembered after recovery.
        assert_eq!(s.last_error_category, Some(ErrorCategory::ConnectionFailed));
        assert_eq!(s.last_error_message.as_deref(), Some("Unhealthy failure"));
    }

    #[test]
    fn a_first_success_is_healthy_and_counters_reset_each_other() {
        use CircuitState::Closed;
        let t = run(
            vec![
                Record(ok(FAST), Closed),
                Record(fail(FailureStatus::Unhealthy), Closed),
            ],
            &[(S::Healthy, R::Ok, true), (S::Healthy, R::Ok, false)],
        );
        let s = t.state();
        assert_eq!((s.consecutive_successes, s.consecutive_failures), (0, 1));
        assert_eq!(s.last_latency, Some(Duration::from_millis(7)));
    }

    #[test]
    fn a_slow_first_success_is_degraded_slow() {
        run(
            vec![Record(ok(LIMIT * 2), CircuitState::Closed)],
            &[(S::Degraded, R::Slow, true)],
        );
    }

    #[test]
    fn refused_credentials_fall_to_unauthenticated_and_the_breaker_forces_its_states() {
        use CircuitState::{Closed, HalfOpen, Open};
        use FailureStatus::Unauthenticated;
        let t = run(
            vec![
                Record(fail(Unauthenticated), Closed),
                Record(fail(Unauthenticated), Closed),
                Record(fail(Unauthenticated), Open),
                Circuit(HalfOpen),
                // The success that closes the breaker counts towards recovery.
                Record(ok(FAST), Closed),
                Record(ok(FAST), Closed),
            ],
            &[
                (S::Unknown, R::ProbeFailed, true),
                (S::Unauthenticated, R::ProbeFailed, true),
                (S::Unauthenticated, R::CircuitOpen, true),
                (S::Degraded, R::HalfOpen, true),
                (S::Degraded, R::Recovering, true),
                (S::Healthy, R::Ok, true),
            ],
        );
        assert_eq!(t.circuit(), Closed);
        assert_eq!(t.unforced(), (S::Healthy, R::Ok));
        assert_eq!(t.state().last_check, Some(at(5)));
    }

    #[test]
    fn a_success_that_closes_the_breaker_starts_a_recovery() {
        use CircuitState::{Closed, HalfOpen, Open};
        // No failure on record: an open breaker reads as unhealthy; the closing success is the
        // first of `healthy_threshold`.
        let t = run(
            vec![
                Circuit(Open),
                Circuit(HalfOpen),
                Record(ok(FAST), Closed),
                Record(ok(FAST), Closed),
            ],
            &[
                (S::Unhealthy, R::CircuitOpen, true),
                (S::Degraded, R::HalfOpen, true),
                (S::Degraded, R::Recovering, true),
                (S::Healthy, R::Ok, true),
            ],
        );
        // Breaker-only changes do not count as checks.
        assert_eq!(t.state().last_check, Some(at(3)));
    }

    #[test]
    fn a_breaker_reset_publishes_the_unforced_status() {
        use CircuitState::{Closed, Open};
        use FailureStatus::Unhealthy;
        let t = run(
            vec![
                Record(fail(Unhealthy), Closed),
                Record(fail(Unhealthy), Open),
                Circuit(Closed),
                Circuit(Closed),
            ],
            &[
                (S::Unknown, R::ProbeFailed, true),
                (S::Unhealthy, R::CircuitOpen, true),
                (S::Unhealthy, R::ProbeFailed, true),
                (S::Unhealthy, R::ProbeFailed, false),
            ],
        );
        assert_eq!(t.state().last_check, Some(at(1)));
        assert_eq!(t.state().consecutive_failures, 2);
    }
}
