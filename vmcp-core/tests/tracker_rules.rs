//! Table-driven tests of the tracker rules (DESIGN §3.3, "Tracker rules" and breaker forcing).
//!
//! Each row replays some prior events on a fresh tracker, then applies one event and checks the
//! published status/reason, the counters and the returned `StatusChange`.

use std::time::Duration;

use vmcp_core::clock::Timestamp;
use vmcp_core::health::tracker::{HealthTracker, StatusChange, TrackerConfig};
use vmcp_core::health::{
    CircuitState, ErrorCategory, FailureStatus, HealthReason, HealthStatus, ProbeFailure,
    ProbeOutcome,
};

use CircuitState::{Closed, HalfOpen, Open};
use HealthReason as R;
use HealthStatus as S;

/// What a probe returned.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Success within the degraded threshold.
    Fast,
    /// Success slower than the degraded threshold.
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
const F: Ev = Ev::Probe(Kind::Fail, Closed);
const A: Ev = Ev::Probe(Kind::Auth, Closed);

fn outcome(kind: Kind) -> ProbeOutcome {
    match kind {
        Kind::Fast => ProbeOutcome::success(Duration::from_millis(50)),
        Kind::Slow => ProbeOutcome::success(Duration::from_secs(6)),
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
fn tracker_slow_means_strictly_above_the_degraded_threshold() {
    let mut tr = HealthTracker::new(cfg(3, 2));
    let at = Timestamp::from_unix_millis(0);
    tr.record(&ProbeOutcome::success(Duration::from_secs(5)), Closed, at);
    assert_eq!((tr.state().status, tr.state().reason), (S::Healthy, R::Ok));
    tr.record(
        &ProbeOutcome::success(Duration::from_millis(5001)),
        Closed,
        at,
    );
    assert_eq!(
        (tr.state().status, tr.state().reason),
        (S::Degraded, R::Slow)
    );
}

#[test]
fn tracker_bookkeeping_fields() {
    let ts = |s: u64| Timestamp::from_unix_millis(s * 1000);
    let mut tr = HealthTracker::new(cfg(2, 2));

    tr.record(&outcome(Kind::Fast), Closed, ts(0));
    assert_eq!(tr.state().last_check, Some(ts(0)));
    assert_eq!(tr.state().last_transition, Some(ts(0)));
    assert_eq!(tr.state().last_latency, Some(Duration::from_millis(50)));

    // No change: last_check moves, last_transition does not; a failure's latency is recorded.
    tr.record(&outcome(Kind::Fail), Closed, ts(30));
    let s = tr.state();
    assert_eq!(s.last_check, Some(ts(30)));
    assert_eq!(s.last_transition, Some(ts(0)));
    assert_eq!(s.last_latency, Some(Duration::from_secs(1)));
    assert_eq!(
        s.last_error_category,
        Some(ErrorCategory::BackendUnavailable)
    );
    assert_eq!(s.last_error_message.as_deref(), Some("HTTP 503"));

    // The next failure replaces the last error.
    tr.record(&outcome(Kind::Auth), Closed, ts(60));
    let s = tr.state();
    assert_eq!(s.status, S::Unauthenticated);
    assert_eq!(s.last_transition, Some(ts(60)));
    assert_eq!(
        s.last_error_category,
        Some(ErrorCategory::AuthenticationFailed)
    );
    assert_eq!(s.last_error_message.as_deref(), Some("HTTP 401"));

    // Recovery keeps the last error.
    tr.record(&outcome(Kind::Fast), Closed, ts(90));
    tr.record(&outcome(Kind::Fast), Closed, ts(120));
    let s = tr.state();
    assert_eq!(s.status, S::Healthy);
    assert_eq!(
        s.last_error_category,
        Some(ErrorCategory::AuthenticationFailed)
    );
    assert_eq!(s.last_error_message.as_deref(), Some("HTTP 401"));

    // A breaker transition stamps last_transition, not last_check.
    tr.record(&outcome(Kind::Fail), Open, ts(150));
    assert_eq!(tr.circuit(), Open);
    tr.circuit_changed(HalfOpen, ts(210));
    let s = tr.state();
    assert_eq!(s.last_check, Some(ts(150)));
    assert_eq!(s.last_transition, Some(ts(210)));
    assert_eq!(tr.circuit(), HalfOpen);
    assert_eq!(tr.unforced(), (S::Healthy, R::Ok));
}

#[test]
fn tracker_serialises_in_camel_case() {
    let mut tr = HealthTracker::new(cfg(1, 2));
    tr.record(&outcome(Kind::Auth), Closed, Timestamp::from_unix_millis(0));
    let v = serde_json_value(tr.state());
    assert_eq!(v["status"], "unauthenticated");
    assert_eq!(v["reason"], "probe_failed");
    assert_eq!(v["consecutiveFailures"], 1);
    assert_eq!(v["lastErrorCategory"], "authentication_failed");
    assert_eq!(v["lastCheck"], "1970-01-01T00:00:00.000Z");
}

fn serde_json_value<T: serde::Serialize>(t: &T) -> serde_json::Value {
    serde_json::to_value(t).unwrap()
}
