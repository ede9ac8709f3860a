//! Table-driven tests of the tracker rules (DESIGN §3.3, "Tracker rules" and breaker forcing).
//!
//! The example half of the tracker's tests; the other half is the model-based
//! `tracker_state_machine.rs`, which checks the whole published state after every step of random
//! sequences (any breaker input, latencies on both sides of the degraded threshold, all
//! bookkeeping fields). Here:
//!
//! * `tracker_rules_table`: each row replays some prior events on a fresh tracker, then applies
//!   one event and checks the published status/reason, the counters, the returned `StatusChange`
//!   and the `last_transition` stamp;
//! * `reference_timeline`: the DESIGN's worked example (fall 3, rise 2, breaker threshold 5,
//!   60 s open timeout, probes every 30 s), step by step;
//! * the initial state, config validation, the defaults and the serialised field names.

use std::time::Duration;

use vmcp_core::clock::Timestamp;
use vmcp_core::config::FailureHandling;
use vmcp_core::health::{
    CircuitState, ErrorCategory, FailureStatus, HealthReason, HealthStatus, ProbeFailure,
    ProbeOutcome,
};
use vmcp_core::health::{HealthTracker, StatusChange, TrackerConfig, TrackerConfigError};

use CircuitState::{Closed, HalfOpen, Open};
use HealthReason as R;
use HealthStatus as S;

/// What a probe returned.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Success within the degraded threshold.
    Fast,
    /// Success exactly at the degraded threshold (not slow: slow is strictly above).
    Edge,
    /// Success 1 ms slower than the degraded threshold.
    Slow,
    /// A failure pointing to `unhealthy`.
    Fail,
    /// A failure pointing to `unauthenticated`.
    Auth,
}

/// One input to the tracker.
#[derive(Clone, Copy, Debug)]
enum Ev {
    /// A probe result, with the breaker state after the breaker saw it.
    Probe(Kind, CircuitState),
    /// A breaker transition not caused by a probe.
    Circuit(CircuitState),
}

const OK: Ev = Ev::Probe(Kind::Fast, Closed);
const SLOW: Ev = Ev::Probe(Kind::Slow, Closed);
const EDGE: Ev = Ev::Probe(Kind::Edge, Closed);
const F: Ev = Ev::Probe(Kind::Fail, Closed);
const A: Ev = Ev::Probe(Kind::Auth, Closed);

fn outcome(kind: Kind) -> ProbeOutcome {
    match kind {
        Kind::Fast => ProbeOutcome::success(Duration::from_millis(50)),
        Kind::Edge => ProbeOutcome::success(Duration::from_secs(5)),
        Kind::Slow => ProbeOutcome::success(Duration::from_millis(5_001)),
        Kind::Fail => ProbeOutcome::failure(
            Duration::from_secs(1),
            ProbeFailure {
                status: FailureStatus::Unhealthy,
                category: ErrorCategory::BackendUnavailable,
                message: "HTTP 503".into(),
            },
        ),
        Kind::Auth => ProbeOutcome::failure(
            Duration::from_millis(30),
            ProbeFailure {
                status: FailureStatus::Unauthenticated,
                category: ErrorCategory::AuthenticationFailed,
                message: "HTTP 401".into(),
            },
        ),
    }
}

fn apply(tr: &mut HealthTracker, ev: Ev, at: Timestamp) -> Option<StatusChange> {
    match ev {
        Ev::Probe(kind, circuit) => tr.record(&outcome(kind), circuit, at),
        Ev::Circuit(circuit) => tr.circuit_changed(circuit, at),
    }
}

fn cfg(fall: u32, rise: u32) -> TrackerConfig {
    TrackerConfig {
        unhealthy_threshold: fall,
        healthy_threshold: rise,
        degraded_threshold: Duration::from_secs(5),
    }
}

struct Row {
    name: &'static str,
    fall: u32,
    rise: u32,
    prior: &'static [Ev],
    event: Ev,
    status: HealthStatus,
    reason: HealthReason,
    failures: u32,
    successes: u32,
    /// The expected change as (from, from_reason); `to` is always (status, reason).
    change_from: Option<(HealthStatus, HealthReason)>,
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    // First result.
    Row { name: "first fast success is healthy", fall: 3, rise: 2, prior: &[], event: OK,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 1, change_from: Some((S::Unknown, R::Pending)) },
    Row { name: "first slow success is degraded/slow", fall: 3, rise: 2, prior: &[], event: SLOW,
          status: S::Degraded, reason: R::Slow, failures: 0, successes: 1, change_from: Some((S::Unknown, R::Pending)) },
    Row { name: "a success exactly at the degraded threshold is healthy", fall: 3, rise: 2, prior: &[], event: EDGE,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 1, change_from: Some((S::Unknown, R::Pending)) },
    Row { name: "degraded/slow, success exactly at the threshold: healthy", fall: 3, rise: 2, prior: &[SLOW], event: EDGE,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 2, change_from: Some((S::Degraded, R::Slow)) },
    Row { name: "first failure stays unknown", fall: 3, rise: 2, prior: &[], event: F,
          status: S::Unknown, reason: R::ProbeFailed, failures: 1, successes: 0, change_from: Some((S::Unknown, R::Pending)) },
    Row { name: "first failure with threshold 1 is unhealthy", fall: 1, rise: 2, prior: &[], event: F,
          status: S::Unhealthy, reason: R::ProbeFailed, failures: 1, successes: 0, change_from: Some((S::Unknown, R::Pending)) },
    Row { name: "first auth failure with threshold 1 is unauthenticated", fall: 1, rise: 2, prior: &[], event: A,
          status: S::Unauthenticated, reason: R::ProbeFailed, failures: 1, successes: 0, change_from: Some((S::Unknown, R::Pending)) },
    // Failures up to and past the threshold.
    Row { name: "second failure below threshold: no change", fall: 3, rise: 2, prior: &[F], event: F,
          status: S::Unknown, reason: R::ProbeFailed, failures: 2, successes: 0, change_from: None },
    Row { name: "failures reaching threshold: unhealthy", fall: 3, rise: 2, prior: &[F, F], event: F,
          status: S::Unhealthy, reason: R::ProbeFailed, failures: 3, successes: 0, change_from: Some((S::Unknown, R::ProbeFailed)) },
    Row { name: "auth failures reaching threshold: unauthenticated", fall: 3, rise: 2, prior: &[A, A], event: A,
          status: S::Unauthenticated, reason: R::ProbeFailed, failures: 3, successes: 0, change_from: Some((S::Unknown, R::ProbeFailed)) },
    Row { name: "mixed failures count together; the last kind decides", fall: 3, rise: 2, prior: &[F, F], event: A,
          status: S::Unauthenticated, reason: R::ProbeFailed, failures: 3, successes: 0, change_from: Some((S::Unknown, R::ProbeFailed)) },
    Row { name: "past threshold, same kind: no change", fall: 3, rise: 2, prior: &[F, F, F], event: F,
          status: S::Unhealthy, reason: R::ProbeFailed, failures: 4, successes: 0, change_from: None },
    Row { name: "past threshold, unhealthy switches to unauthenticated at once", fall: 3, rise: 2, prior: &[F, F, F], event: A,
          status: S::Unauthenticated, reason: R::ProbeFailed, failures: 4, successes: 0, change_from: Some((S::Unhealthy, R::ProbeFailed)) },
    Row { name: "past threshold, unauthenticated switches to unhealthy at once", fall: 3, rise: 2, prior: &[A, A, A], event: F,
          status: S::Unhealthy, reason: R::ProbeFailed, failures: 4, successes: 0, change_from: Some((S::Unauthenticated, R::ProbeFailed)) },
    Row { name: "healthy does not flap on one failure", fall: 3, rise: 2, prior: &[OK], event: F,
          status: S::Healthy, reason: R::Ok, failures: 1, successes: 0, change_from: None },
    Row { name: "healthy stays healthy below threshold", fall: 3, rise: 2, prior: &[OK, F], event: A,
          status: S::Healthy, reason: R::Ok, failures: 2, successes: 0, change_from: None },
    Row { name: "healthy becomes unhealthy at threshold", fall: 3, rise: 2, prior: &[OK, F, F], event: F,
          status: S::Unhealthy, reason: R::ProbeFailed, failures: 3, successes: 0, change_from: Some((S::Healthy, R::Ok)) },
    Row { name: "degraded/slow does not change on one failure", fall: 3, rise: 2, prior: &[SLOW], event: F,
          status: S::Degraded, reason: R::Slow, failures: 1, successes: 0, change_from: None },
    Row { name: "a success breaks the failure run", fall: 3, rise: 2, prior: &[OK, F, F, OK, F], event: F,
          status: S::Healthy, reason: R::Ok, failures: 2, successes: 0, change_from: None },
    // Recovery.
    Row { name: "unhealthy, success: recovering", fall: 3, rise: 2, prior: &[F, F, F], event: OK,
          status: S::Degraded, reason: R::Recovering, failures: 0, successes: 1, change_from: Some((S::Unhealthy, R::ProbeFailed)) },
    Row { name: "unhealthy, two successes: healthy", fall: 3, rise: 2, prior: &[F, F, F, OK], event: OK,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 2, change_from: Some((S::Degraded, R::Recovering)) },
    Row { name: "unauthenticated, success: recovering", fall: 3, rise: 2, prior: &[A, A, A], event: OK,
          status: S::Degraded, reason: R::Recovering, failures: 0, successes: 1, change_from: Some((S::Unauthenticated, R::ProbeFailed)) },
    Row { name: "unknown after a failure, success: recovering", fall: 3, rise: 2, prior: &[F], event: OK,
          status: S::Degraded, reason: R::Recovering, failures: 0, successes: 1, change_from: Some((S::Unknown, R::ProbeFailed)) },
    Row { name: "unknown after a failure, two successes: healthy", fall: 3, rise: 2, prior: &[F, OK], event: OK,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 2, change_from: Some((S::Degraded, R::Recovering)) },
    Row { name: "rise 3: two successes still recovering", fall: 3, rise: 3, prior: &[F, F, F, OK], event: OK,
          status: S::Degraded, reason: R::Recovering, failures: 0, successes: 2, change_from: None },
    Row { name: "rise 1: unhealthy straight to healthy", fall: 3, rise: 1, prior: &[F, F, F], event: OK,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 1, change_from: Some((S::Unhealthy, R::ProbeFailed)) },
    Row { name: "rise 1, slow: unhealthy straight to degraded/slow", fall: 3, rise: 1, prior: &[F, F, F], event: SLOW,
          status: S::Degraded, reason: R::Slow, failures: 0, successes: 1, change_from: Some((S::Unhealthy, R::ProbeFailed)) },
    Row { name: "slow success while recovering stays recovering", fall: 3, rise: 3, prior: &[F, F, F, OK], event: SLOW,
          status: S::Degraded, reason: R::Recovering, failures: 0, successes: 2, change_from: None },
    Row { name: "slow success reaching rise: degraded/slow", fall: 3, rise: 2, prior: &[F, F, F, OK], event: SLOW,
          status: S::Degraded, reason: R::Slow, failures: 0, successes: 2, change_from: Some((S::Degraded, R::Recovering)) },
    Row { name: "failure while recovering (below fall) keeps recovering", fall: 3, rise: 2, prior: &[F, F, F, OK], event: F,
          status: S::Degraded, reason: R::Recovering, failures: 1, successes: 0, change_from: None },
    Row { name: "after a failure while recovering, the rise count restarts", fall: 3, rise: 2, prior: &[F, F, F, OK, F], event: OK,
          status: S::Degraded, reason: R::Recovering, failures: 0, successes: 1, change_from: None },
    Row { name: "... and completes after rise new successes", fall: 3, rise: 2, prior: &[F, F, F, OK, F, OK], event: OK,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 2, change_from: Some((S::Degraded, R::Recovering)) },
    // Speed.
    Row { name: "degraded/slow becomes healthy on the next fast success", fall: 3, rise: 2, prior: &[SLOW], event: OK,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 2, change_from: Some((S::Degraded, R::Slow)) },
    Row { name: "healthy becomes degraded/slow on a slow success", fall: 3, rise: 2, prior: &[OK], event: SLOW,
          status: S::Degraded, reason: R::Slow, failures: 0, successes: 2, change_from: Some((S::Healthy, R::Ok)) },
    Row { name: "healthy, fast success: no change", fall: 3, rise: 2, prior: &[OK], event: OK,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 2, change_from: None },
    Row { name: "degraded/slow, one failure, fast success: healthy", fall: 3, rise: 2, prior: &[SLOW, F], event: OK,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 1, change_from: Some((S::Degraded, R::Slow)) },
    // Breaker forcing.
    Row { name: "open below the fall threshold forces unhealthy/circuit_open", fall: 3, rise: 2, prior: &[OK, F], event: Ev::Probe(Kind::Fail, Open),
          status: S::Unhealthy, reason: R::CircuitOpen, failures: 2, successes: 0, change_from: Some((S::Healthy, R::Ok)) },
    Row { name: "open on auth failures forces unauthenticated/circuit_open", fall: 3, rise: 2, prior: &[OK, A], event: Ev::Probe(Kind::Auth, Open),
          status: S::Unauthenticated, reason: R::CircuitOpen, failures: 2, successes: 0, change_from: Some((S::Healthy, R::Ok)) },
    Row { name: "open forces the LAST failure's status", fall: 3, rise: 2, prior: &[OK, F], event: Ev::Probe(Kind::Auth, Open),
          status: S::Unauthenticated, reason: R::CircuitOpen, failures: 2, successes: 0, change_from: Some((S::Healthy, R::Ok)) },
    Row { name: "open on the very first failure (breaker threshold 1)", fall: 3, rise: 2, prior: &[], event: Ev::Probe(Kind::Fail, Open),
          status: S::Unhealthy, reason: R::CircuitOpen, failures: 1, successes: 0, change_from: Some((S::Unknown, R::Pending)) },
    Row { name: "open past the fall threshold changes only the reason", fall: 3, rise: 2, prior: &[F, F, F], event: Ev::Probe(Kind::Fail, Open),
          status: S::Unhealthy, reason: R::CircuitOpen, failures: 4, successes: 0, change_from: Some((S::Unhealthy, R::ProbeFailed)) },
    Row { name: "half-open at the deadline: degraded/half_open, counters kept", fall: 3, rise: 2, prior: &[F, F, F, Ev::Probe(Kind::Fail, Open)], event: Ev::Circuit(HalfOpen),
          status: S::Degraded, reason: R::HalfOpen, failures: 4, successes: 0, change_from: Some((S::Unhealthy, R::CircuitOpen)) },
    Row { name: "half-open failure: open again", fall: 3, rise: 2, prior: &[F, F, F, Ev::Probe(Kind::Fail, Open), Ev::Circuit(HalfOpen)], event: Ev::Probe(Kind::Fail, Open),
          status: S::Unhealthy, reason: R::CircuitOpen, failures: 5, successes: 0, change_from: Some((S::Degraded, R::HalfOpen)) },
    Row { name: "half-open auth failure: open again as unauthenticated", fall: 3, rise: 2, prior: &[F, F, F, Ev::Probe(Kind::Fail, Open), Ev::Circuit(HalfOpen)], event: Ev::Probe(Kind::Auth, Open),
          status: S::Unauthenticated, reason: R::CircuitOpen, failures: 5, successes: 0, change_from: Some((S::Degraded, R::HalfOpen)) },
    Row { name: "half-open success closes: recovering", fall: 3, rise: 2, prior: &[F, F, F, Ev::Probe(Kind::Fail, Open), Ev::Circuit(HalfOpen)], event: OK,
          status: S::Degraded, reason: R::Recovering, failures: 0, successes: 1, change_from: Some((S::Degraded, R::HalfOpen)) },
    Row { name: "breaker closed by a success: recovering even below the fall threshold", fall: 3, rise: 2, prior: &[OK, F, Ev::Probe(Kind::Fail, Open), Ev::Circuit(HalfOpen)], event: OK,
          status: S::Degraded, reason: R::Recovering, failures: 0, successes: 1, change_from: Some((S::Degraded, R::HalfOpen)) },
    Row { name: "after a breaker close, rise successes: healthy", fall: 3, rise: 2, prior: &[OK, F, Ev::Probe(Kind::Fail, Open), Ev::Circuit(HalfOpen), OK], event: OK,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 2, change_from: Some((S::Degraded, R::Recovering)) },
    Row { name: "half-open success closes with rise 1: healthy", fall: 3, rise: 1, prior: &[F, F, F, Ev::Probe(Kind::Fail, Open), Ev::Circuit(HalfOpen)], event: OK,
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 1, change_from: Some((S::Degraded, R::HalfOpen)) },
    Row { name: "half-open slow success closes with rise 1: degraded/slow", fall: 3, rise: 1, prior: &[F, F, F, Ev::Probe(Kind::Fail, Open), Ev::Circuit(HalfOpen)], event: SLOW,
          status: S::Degraded, reason: R::Slow, failures: 0, successes: 1, change_from: Some((S::Degraded, R::HalfOpen)) },
    Row { name: "reset from open: the unforced status (past fall)", fall: 3, rise: 2, prior: &[F, F, F, Ev::Probe(Kind::Fail, Open)], event: Ev::Circuit(Closed),
          status: S::Unhealthy, reason: R::ProbeFailed, failures: 4, successes: 0, change_from: Some((S::Unhealthy, R::CircuitOpen)) },
    Row { name: "reset from open: the unforced status (below fall)", fall: 3, rise: 2, prior: &[OK, F, Ev::Probe(Kind::Fail, Open)], event: Ev::Circuit(Closed),
          status: S::Healthy, reason: R::Ok, failures: 2, successes: 0, change_from: Some((S::Unhealthy, R::CircuitOpen)) },
    Row { name: "reset from half-open: the unforced status", fall: 3, rise: 2, prior: &[F, F, F, Ev::Probe(Kind::Fail, Open), Ev::Circuit(HalfOpen)], event: Ev::Circuit(Closed),
          status: S::Unhealthy, reason: R::ProbeFailed, failures: 4, successes: 0, change_from: Some((S::Degraded, R::HalfOpen)) },
    Row { name: "reset keeps history: the next success is a recovery", fall: 3, rise: 2, prior: &[F, F, F, Ev::Probe(Kind::Fail, Open), Ev::Circuit(Closed)], event: OK,
          status: S::Degraded, reason: R::Recovering, failures: 0, successes: 1, change_from: Some((S::Unhealthy, R::ProbeFailed)) },
    Row { name: "reset while closed: no change", fall: 3, rise: 2, prior: &[OK], event: Ev::Circuit(Closed),
          status: S::Healthy, reason: R::Ok, failures: 0, successes: 1, change_from: None },
    Row { name: "half-open twice: no change", fall: 3, rise: 2, prior: &[F, Ev::Probe(Kind::Fail, Open), Ev::Circuit(HalfOpen)], event: Ev::Circuit(HalfOpen),
          status: S::Degraded, reason: R::HalfOpen, failures: 2, successes: 0, change_from: None },
];

#[test]
fn tracker_rules_table() {
    let mut failed = Vec::new();
    for row in ROWS {
        let mut tr = HealthTracker::try_new(cfg(row.fall, row.rise)).unwrap();
        let mut secs = 0;
        for &ev in row.prior {
            apply(&mut tr, ev, Timestamp::from_unix_millis(secs * 1000));
            secs += 30;
        }
        let before = tr.state().clone();
        let at = Timestamp::from_unix_millis(secs * 1000);
        let got_change = apply(&mut tr, row.event, at);
        let s = tr.state();
        let want_change = row.change_from.map(|(from, from_reason)| StatusChange {
            from,
            from_reason,
            to: row.status,
            to_reason: row.reason,
        });
        let want_transition = if want_change.is_some() {
            Some(at)
        } else {
            before.last_transition
        };
        let got = (
            s.status,
            s.reason,
            s.consecutive_failures,
            s.consecutive_successes,
            got_change,
            s.last_transition,
        );
        let want = (
            row.status,
            row.reason,
            row.failures,
            row.successes,
            want_change,
            want_transition,
        );
        if got != want {
            failed.push(format!("{}:\n  got  {got:?}\n  want {want:?}", row.name));
        }
    }
    assert!(failed.is_empty(), "rows failed:\n{}", failed.join("\n"));
}

/// One step of the reference timeline: when, what, and what must follow.
struct Step {
    secs: u64,
    event: Ev,
    /// The returned change, as (from, from_reason, to, to_reason).
    change: Option<(HealthStatus, HealthReason, HealthStatus, HealthReason)>,
    failures: u32,
    successes: u32,
    /// `last_check` after the step, in seconds (a breaker transition is not a check).
    last_check: u64,
}

/// The DESIGN reference timeline: fall 3, rise 2, breaker threshold 5 and timeout 60 s, probes
/// every 30 s, backend down from t=0 and up from t=200 s. The circuit states are what the breaker
/// reports; the tracker only follows them.
#[rustfmt::skip]
const TIMELINE: &[Step] = &[
    // t0: first failure, below the threshold: unknown.
    Step { secs: 0, event: F, change: Some((S::Unknown, R::Pending, S::Unknown, R::ProbeFailed)), failures: 1, successes: 0, last_check: 0 },
    Step { secs: 30, event: F, change: None, failures: 2, successes: 0, last_check: 30 },
    // t60: the third failure reaches the threshold.
    Step { secs: 60, event: F, change: Some((S::Unknown, R::ProbeFailed, S::Unhealthy, R::ProbeFailed)), failures: 3, successes: 0, last_check: 60 },
    Step { secs: 90, event: F, change: None, failures: 4, successes: 0, last_check: 90 },
    // t120: the fifth failure opens the breaker.
    Step { secs: 120, event: Ev::Probe(Kind::Fail, Open), change: Some((S::Unhealthy, R::ProbeFailed, S::Unhealthy, R::CircuitOpen)), failures: 5, successes: 0, last_check: 120 },
    // t180: half-open at the deadline; the trial probe fails: open again.
    Step { secs: 180, event: Ev::Circuit(HalfOpen), change: Some((S::Unhealthy, R::CircuitOpen, S::Degraded, R::HalfOpen)), failures: 5, successes: 0, last_check: 120 },
    Step { secs: 180, event: Ev::Probe(Kind::Fail, Open), change: Some((S::Degraded, R::HalfOpen, S::Unhealthy, R::CircuitOpen)), failures: 6, successes: 0, last_check: 180 },
    // t240: half-open again; the backend is up since t200: the trial succeeds and closes.
    Step { secs: 240, event: Ev::Circuit(HalfOpen), change: Some((S::Unhealthy, R::CircuitOpen, S::Degraded, R::HalfOpen)), failures: 6, successes: 0, last_check: 180 },
    Step { secs: 240, event: OK, change: Some((S::Degraded, R::HalfOpen, S::Degraded, R::Recovering)), failures: 0, successes: 1, last_check: 240 },
    // t270: the second success in a row: healthy.
    Step { secs: 270, event: OK, change: Some((S::Degraded, R::Recovering, S::Healthy, R::Ok)), failures: 0, successes: 2, last_check: 270 },
];

#[test]
fn reference_timeline() {
    let ts = |s: u64| Timestamp::from_unix_millis(s * 1000);
    let mut tr = HealthTracker::new(TrackerConfig::default());
    let mut last_transition = None;
    for (i, step) in TIMELINE.iter().enumerate() {
        let got = apply(&mut tr, step.event, ts(step.secs));
        let want = step
            .change
            .map(|(from, from_reason, to, to_reason)| StatusChange {
                from,
                from_reason,
                to,
                to_reason,
            });
        if want.is_some() {
            last_transition = Some(ts(step.secs));
        }
        let s = tr.state();
        assert_eq!(got, want, "step {i} (t={}s): change", step.secs);
        assert_eq!(
            (s.consecutive_failures, s.consecutive_successes),
            (step.failures, step.successes),
            "step {i} (t={}s): counters",
            step.secs
        );
        assert_eq!(
            s.last_check,
            Some(ts(step.last_check)),
            "step {i}: last_check"
        );
        assert_eq!(
            s.last_transition, last_transition,
            "step {i}: last_transition"
        );
    }
    let s = tr.state();
    assert_eq!((s.status, s.reason), (S::Healthy, R::Ok));
    assert_eq!(s.last_latency, Some(Duration::from_millis(50)));
    // The last error survives recovery.
    assert_eq!(
        s.last_error_category,
        Some(ErrorCategory::BackendUnavailable)
    );
    assert_eq!(s.last_error_message.as_deref(), Some("HTTP 503"));
}

#[test]
fn tracker_initial_state_is_unknown_pending() {
    let tr = HealthTracker::new(TrackerConfig::default());
    let s = tr.state();
    assert_eq!((s.status, s.reason), (S::Unknown, R::Pending));
    assert_eq!((s.consecutive_failures, s.consecutive_successes), (0, 0));
    assert_eq!(s.last_check, None);
    assert_eq!(s.last_transition, None);
    assert_eq!(s.last_error_category, None);
    assert_eq!(s.last_error_message, None);
    assert_eq!(s.last_latency, None);
    assert_eq!(tr.circuit(), Closed);
    assert_eq!(tr.unforced(), (S::Unknown, R::Pending));
}

#[test]
fn tracker_config_validation() {
    #[rustfmt::skip]
    let rows: &[(u32, u32, Result<(), TrackerConfigError>)] = &[
        (0, 2, Err(TrackerConfigError::ZeroUnhealthyThreshold)),
        (3, 0, Err(TrackerConfigError::ZeroHealthyThreshold)),
        (0, 0, Err(TrackerConfigError::ZeroUnhealthyThreshold)),
        (1, 1, Ok(())),
        (3, 2, Ok(())),
    ];
    for &(fall, rise, want) in rows {
        let c = cfg(fall, rise);
        assert_eq!(c.validate(), want, "fall {fall}, rise {rise}");
        assert_eq!(
            HealthTracker::try_new(c).map(|t| *t.config()),
            want.map(|()| c),
            "try_new with fall {fall}, rise {rise}"
        );
    }
    assert_eq!(
        TrackerConfigError::ZeroUnhealthyThreshold.to_string(),
        "unhealthy_threshold (0) must be at least 1"
    );
    assert_eq!(
        TrackerConfigError::ZeroHealthyThreshold.to_string(),
        "healthy_threshold (0) must be at least 1"
    );
}

#[test]
fn tracker_defaults_are_the_design_defaults() {
    let d = TrackerConfig::default();
    assert_eq!(
        (
            d.unhealthy_threshold,
            d.healthy_threshold,
            d.degraded_threshold
        ),
        (3, 2, Duration::from_secs(5))
    );
    assert_eq!(TrackerConfig::from(&FailureHandling::default()), d);
}

#[test]
fn tracker_config_comes_from_failure_handling() {
    let fh = FailureHandling {
        unhealthy_threshold: 7,
        healthy_threshold: 4,
        degraded_threshold: Duration::from_millis(1_234),
        ..FailureHandling::default()
    };
    assert_eq!(
        TrackerConfig::from(&fh),
        TrackerConfig {
            unhealthy_threshold: 7,
            healthy_threshold: 4,
            degraded_threshold: Duration::from_millis(1_234),
        }
    );
}

#[test]
fn tracker_serialises_in_camel_case() {
    let mut tr = HealthTracker::new(cfg(1, 2));
    tr.record(&outcome(Kind::Auth), Closed, Timestamp::from_unix_millis(0));
    let v = serde_json::to_value(tr.state()).unwrap();
    assert_eq!(v["status"], "unauthenticated");
    assert_eq!(v["reason"], "probe_failed");
    assert_eq!(v["consecutiveFailures"], 1);
    assert_eq!(v["consecutiveSuccesses"], 0);
    assert_eq!(v["lastErrorCategory"], "authentication_failed");
    assert_eq!(v["lastErrorMessage"], "HTTP 401");
    assert_eq!(v["lastCheck"], "1970-01-01T00:00:00.000Z");
    assert_eq!(v["lastTransition"], "1970-01-01T00:00:00.000Z");
}
