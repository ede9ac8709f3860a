//! Property tests of the tracker (DESIGN §3.3, "Tracker rules").
//!
//! * `tracker_closed_changes_only_at_crossings`: with the breaker always closed, every
//!   `StatusChange` happens exactly at a threshold crossing of a small incremental reference
//!   model, and the published status always equals an independent, history-based definition of
//!   the rules.
//! * `tracker_with_breaker_forcing_holds`: a simple breaker model drives the circuit argument;
//!   forcing, counters, change reporting and recovery after a half-open success hold throughout.
//! * `tracker_arbitrary_circuit_inputs_never_break_invariants`: even nonsensical circuit
//!   sequences keep the published state consistent and never panic.

use std::time::Duration;

use proptest::prelude::*;

use vmcp_core::clock::Timestamp;
use vmcp_core::health::tracker::{HealthState, HealthTracker, StatusChange, TrackerConfig};
use vmcp_core::health::{
    CircuitState, ErrorCategory, FailureStatus, HealthReason, HealthStatus, ProbeFailure,
    ProbeOutcome,
};

use HealthReason as R;
use HealthStatus as S;

const DEGRADED: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Fast,
    Slow,
    Fail,
    Auth,
}

impl Kind {
    fn is_success(self) -> bool {
        matches!(self, Kind::Fast | Kind::Slow)
    }

    fn failure_status(self) -> HealthStatus {
        match self {
            Kind::Auth => S::Unauthenticated,
            _ => S::Unhealthy,
        }
    }

    /// The status a success of this speed gives on its own.
    fn speed_status(self) -> (HealthStatus, HealthReason) {
        match self {
            Kind::Slow => (S::Degraded, R::Slow),
            _ => (S::Healthy, R::Ok),
        }
    }

    fn outcome(self) -> ProbeOutcome {
        match self {
            Kind::Fast => ProbeOutcome::success(Duration::from_millis(40)),
            Kind::Slow => ProbeOutcome::success(DEGRADED + Duration::from_millis(1)),
            Kind::Fail => ProbeOutcome::failure(
                Duration::from_secs(2),
                ProbeFailure {
                    status: FailureStatus::Unhealthy,
                    category: ErrorCategory::Timeout,
                    message: "deadline".into(),
                },
            ),
            Kind::Auth => ProbeOutcome::failure(
                Duration::from_millis(20),
                ProbeFailure {
                    status: FailureStatus::Unauthenticated,
                    category: ErrorCategory::AuthenticationFailed,
                    message: "HTTP 403".into(),
                },
            ),
        }
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Fast),
        Just(Kind::Slow),
        Just(Kind::Fail),
        Just(Kind::Auth)
    ]
}

/// Outcomes generated in runs, so that runs long enough to cross thresholds are common.
fn outcomes() -> impl Strategy<Value = Vec<Kind>> {
    prop::collection::vec((kind(), 1usize..=6), 0..20).prop_map(|runs| {
        runs.into_iter()
            .flat_map(|(k, n)| std::iter::repeat_n(k, n))
            .collect()
    })
}

fn config(fall: u32, rise: u32) -> TrackerConfig {
    TrackerConfig {
        unhealthy_threshold: fall,
        healthy_threshold: rise,
        degraded_threshold: DEGRADED,
    }
}

fn ts(i: usize) -> Timestamp {
    Timestamp::from_unix_millis(i as u64 * 30_000)
}

fn pair(s: &HealthState) -> (HealthStatus, HealthReason) {
    (s.status, s.reason)
}

/// Length of the run at the end of `h` whose elements satisfy `p`.
fn trailing(h: &[Kind], p: impl Fn(Kind) -> bool) -> usize {
    h.iter().rev().take_while(|k| p(**k)).count()
}

/// The rules, defined on the whole history (breaker closed). Deliberately structured differently
/// from the implementation: it looks at the trailing run and recurses on what came before.
fn expected_status(h: &[Kind], fall: u32, rise: u32) -> (HealthStatus, HealthReason) {
    let Some(&last) = h.last() else {
        return (S::Unknown, R::Pending);
    };
    if last.is_success() {
        let run = trailing(h, Kind::is_success);
        let prefix = &h[..h.len() - run];
        if prefix.is_empty() {
            return last.speed_status();
        }
        let before = expected_status(prefix, fall, rise);
        let was_failing = matches!(
            before,
            (S::Unknown, _)
                | (S::Unhealthy, _)
                | (S::Unauthenticated, _)
                | (S::Degraded, R::Recovering)
        );
        if was_failing && run < rise as usize {
            (S::Degraded, R::Recovering)
        } else {
            last.speed_status()
        }
    } else {
        let run = trailing(h, |k| !k.is_success());
        let prefix = &h[..h.len() - run];
        if run >= fall as usize {
            (last.failure_status(), R::ProbeFailed)
        } else if prefix.is_empty() {
            (S::Unknown, R::ProbeFailed)
        } else {
            expected_status(prefix, fall, rise)
        }
    }
}

/// The crossings the DESIGN names, tracked incrementally. `step` says which crossings an outcome
/// causes; the published status must change exactly when there is at least one.
#[derive(Debug)]
struct CrossingModel {
    fall: u32,
    rise: u32,
    results: u32,
    fail_run: u32,
    succ_run: u32,
    last_failure: Option<Kind>,
    last_success: Option<Kind>,
    /// Status is `unknown` after a failure, or past the fall threshold.
    failing: bool,
    /// Succeeding after failing, below the rise threshold.
    recovering: bool,
}

impl CrossingModel {
    fn new(fall: u32, rise: u32) -> Self {
        Self {
            fall,
            rise,
            results: 0,
            fail_run: 0,
            succ_run: 0,
            last_failure: None,
            last_success: None,
            failing: false,
            recovering: false,
        }
    }

    fn step(&mut self, k: Kind) -> Vec<&'static str> {
        let mut crossed = Vec::new();
        if self.results == 0 {
            crossed.push("first result");
        }
        if k.is_success() {
            self.succ_run += 1;
            self.fail_run = 0;
            if self.failing {
                crossed.push("success ends a failing streak");
                self.failing = false;
                self.recovering = self.succ_run < self.rise;
            } else if self.recovering {
                if self.succ_run == self.rise {
                    crossed.push("successes reach healthy_threshold");
                    self.recovering = false;
                }
            } else if self.last_success.is_some_and(|s| s != k) {
                crossed.push("slow <-> fast");
            }
            self.last_success = Some(k);
        } else {
            self.fail_run += 1;
            self.succ_run = 0;
            if self.fail_run == self.fall {
                crossed.push("failures reach unhealthy_threshold");
            } else if self.fail_run > self.fall && self.last_failure != Some(k) {
                crossed.push("failure kind switches past the threshold");
            }
            if self.fail_run >= self.fall || self.results == 0 {
                self.failing = true;
                self.recovering = false;
            }
            self.last_failure = Some(k);
        }
        self.results += 1;
        crossed
    }
}

/// Checks shared by every property: the change is reported exactly when the published pair
/// changed, it names both pairs, and `last_transition` is stamped exactly then.
fn check_change(
    before: &HealthState,
    after: &HealthState,
    change: Option<StatusChange>,
    at: Timestamp,
) -> Result<(), TestCaseError> {
    if pair(before) == pair(after) {
        prop_assert_eq!(change, None);
        prop_assert_eq!(after.last_transition, before.last_transition);
    } else {
        prop_assert_eq!(
            change,
            Some(StatusChange {
                from: before.status,
                from_reason: before.reason,
                to: after.status,
                to_reason: after.reason,
            })
        );
        prop_assert_eq!(after.last_transition, Some(at));
    }
    Ok(())
}

fn check_counters(state: &HealthState, recorded: &[Kind]) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        state.consecutive_failures as usize,
        trailing(recorded, |k| !k.is_success())
    );
    prop_assert_eq!(
        state.consecutive_successes as usize,
        trailing(recorded, Kind::is_success)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tracker_closed_changes_only_at_crossings(
        fall in 1u32..=5,
        rise in 1u32..=5,
        seq in outcomes(),
    ) {
        let mut tr = HealthTracker::new(config(fall, rise));
        let mut model = CrossingModel::new(fall, rise);
        for (i, &k) in seq.iter().enumerate() {
            let before = tr.state().clone();
            let change = tr.record(&k.outcome(), CircuitState::Closed, ts(i));
            let after = tr.state().clone();
            let crossed = model.step(k);
            prop_assert_eq!(
                change.is_some(),
                !crossed.is_empty(),
                "step {} ({:?}) of {:?}: change {:?}, crossings {:?}",
                i, k, &seq[..=i], change, crossed
            );
            check_change(&before, &after, change, ts(i))?;
            prop_assert_eq!(pair(&after), expected_status(&seq[..=i], fall, rise), "after {:?}", &seq[..=i]);
            prop_assert_eq!(tr.unforced(), pair(&after));
            check_counters(&after, &seq[..=i])?;
            prop_assert_eq!(after.last_check, Some(ts(i)));
        }
    }
}

/// What happens to the simulated backend and its breaker.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// A probe is due; skipped while the breaker is open.
    Probe(Kind),
    /// The open deadline passes (Open → HalfOpen).
    Deadline,
    /// The endpoint changed: the breaker resets to Closed.
    Reset,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => kind().prop_map(Step::Probe),
        2 => Just(Step::Deadline),
        1 => Just(Step::Reset),
    ]
}

/// A minimal circuit breaker: consecutive failures in Closed open it; one half-open trial decides.
struct BreakerModel {
    threshold: u32,
    failures: u32,
    state: CircuitState,
}

impl BreakerModel {
    fn probe(&mut self, k: Kind) -> CircuitState {
        self.state = match (self.state, k.is_success()) {
            (CircuitState::Closed, true) => {
                self.failures = 0;
                CircuitState::Closed
            }
            (CircuitState::Closed, false) => {
                self.failures += 1;
                if self.failures >= self.threshold {
                    CircuitState::Open
                } else {
                    CircuitState::Closed
                }
            }
            (CircuitState::HalfOpen, true) => {
                self.failures = 0;
                CircuitState::Closed
            }
            (_, false) => CircuitState::Open,
            (CircuitState::Open, true) => CircuitState::Open,
        };
        self.state
    }
}

/// The published pair the breaker state forces over the tracker's own status.
fn forced(
    circuit: CircuitState,
    unforced: (HealthStatus, HealthReason),
    last_failure: Option<Kind>,
) -> (HealthStatus, HealthReason) {
    match circuit {
        CircuitState::Closed => unforced,
        CircuitState::HalfOpen => (S::Degraded, R::HalfOpen),
        CircuitState::Open => (
            last_failure.map_or(S::Unhealthy, Kind::failure_status),
            R::CircuitOpen,
        ),
    }
}

/// Whether a probe result with the breaker closed before and after crosses a threshold, judged
/// from the observable state before it.
fn closed_crossing(
    cfg: &TrackerConfig,
    unforced_before: (HealthStatus, HealthReason),
    before: &HealthState,
    last_failure: Option<Kind>,
    k: Kind,
) -> bool {
    if unforced_before == (S::Unknown, R::Pending) {
        return true;
    }
    if k.is_success() {
        match unforced_before {
            (S::Unknown, _) | (S::Unhealthy, _) | (S::Unauthenticated, _) => true,
            (S::Degraded, R::Recovering) => {
                before.consecutive_successes + 1 == cfg.healthy_threshold
            }
            other => other != k.speed_status(),
        }
    } else {
        let run = before.consecutive_failures + 1;
        run == cfg.unhealthy_threshold
            || (run > cfg.unhealthy_threshold && last_failure.is_some_and(|f| f != k))
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn tracker_with_breaker_forcing_holds(
        fall in 1u32..=5,
        rise in 1u32..=4,
        breaker_threshold in 1u32..=6,
        steps in prop::collection::vec(step(), 0..80),
    ) {
        let cfg = config(fall, rise);
        let mut tr = HealthTracker::new(cfg);
        let mut breaker = BreakerModel { threshold: breaker_threshold, failures: 0, state: CircuitState::Closed };
        let mut recorded: Vec<Kind> = Vec::new();
        let mut last_check = None;
        for (i, &st) in steps.iter().enumerate() {
            let at = ts(i);
            let before = tr.state().clone();
            let unforced_before = tr.unforced();
            let circuit_before = breaker.state;
            let last_failure = recorded.iter().rev().find(|k| !k.is_success()).copied();
            let mut probed = None;
            let change = match st {
                Step::Probe(_) if breaker.state == CircuitState::Open => None, // skipped
                Step::Probe(k) => {
                    let circuit = breaker.probe(k);
                    recorded.push(k);
                    last_check = Some(at);
                    probed = Some(k);
                    tr.record(&k.outcome(), circuit, at)
                }
                Step::Deadline if breaker.state == CircuitState::Open => {
                    breaker.state = CircuitState::HalfOpen;
                    tr.circuit_changed(CircuitState::HalfOpen, at)
                }
                Step::Deadline => None,
                Step::Reset => {
                    breaker.state = CircuitState::Closed;
                    breaker.failures = 0;
                    let c = tr.circuit_changed(CircuitState::Closed, at);
                    if circuit_before == CircuitState::Closed {
                        prop_assert_eq!(c, None, "a reset of a closed breaker changes nothing");
                    }
                    c
                }
            };
            let after = tr.state().clone();
            let last_failure_now = recorded.iter().rev().find(|k| !k.is_success()).copied();

            check_change(&before, &after, change, at)?;
            check_counters(&after, &recorded)?;
            prop_assert_eq!(after.last_check, last_check);
            prop_assert_eq!(tr.circuit(), breaker.state);
            prop_assert_eq!(pair(&after), forced(breaker.state, tr.unforced(), last_failure_now));
            if breaker.state == CircuitState::Closed {
                prop_assert!(!matches!(after.reason, R::CircuitOpen | R::HalfOpen));
            }

            // Past the fall threshold the tracker's own status is the last failure's status.
            if let Some(k) = probed
                && !k.is_success()
                && after.consecutive_failures >= fall
            {
                prop_assert_eq!(tr.unforced(), (k.failure_status(), R::ProbeFailed));
            }

            // A half-open success that closes the breaker starts a recovery.
            if let Some(k) = probed
                && k.is_success()
                && circuit_before == CircuitState::HalfOpen
            {
                let want = if after.consecutive_successes < rise {
                    (S::Degraded, R::Recovering)
                } else {
                    k.speed_status()
                };
                prop_assert_eq!(pair(&after), want);
            }

            // While the breaker stays open or half-open, nothing changes the published status.
            if circuit_before == breaker.state && breaker.state != CircuitState::Closed {
                prop_assert_eq!(change, None);
            }

            // With the breaker closed before and after a probe, changes happen exactly at
            // threshold crossings.
            if let Some(k) = probed
                && circuit_before == CircuitState::Closed
                && breaker.state == CircuitState::Closed
            {
                prop_assert_eq!(
                    change.is_some(),
                    closed_crossing(&cfg, unforced_before, &before, last_failure, k),
                    "step {}: {:?} from {:?} (unforced {:?}), change {:?}",
                    i, k, pair(&before), unforced_before, change
                );
            }
        }
    }
}

/// Any circuit argument, in any order, including ones a real breaker never produces.
#[derive(Clone, Copy, Debug)]
enum Input {
    Record(Kind, CircuitState),
    Circuit(CircuitState),
}

fn circuit() -> impl Strategy<Value = CircuitState> {
    prop_oneof![
        Just(CircuitState::Closed),
        Just(CircuitState::Open),
        Just(CircuitState::HalfOpen)
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => (kind(), circuit()).prop_map(|(k, c)| Input::Record(k, c)),
        1 => circuit().prop_map(Input::Circuit),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn tracker_arbitrary_circuit_inputs_never_break_invariants(
        fall in 1u32..=4,
        rise in 1u32..=4,
        inputs in prop::collection::vec(input(), 0..60),
    ) {
        let mut tr = HealthTracker::new(config(fall, rise));
        let mut recorded: Vec<Kind> = Vec::new();
        for (i, &inp) in inputs.iter().enumerate() {
            let at = ts(i);
            let before = tr.state().clone();
            let (change, circuit) = match inp {
                Input::Record(k, c) => {
                    recorded.push(k);
                    (tr.record(&k.outcome(), c, at), c)
                }
                Input::Circuit(c) => (tr.circuit_changed(c, at), c),
            };
            let after = tr.state().clone();
            let last_failure = recorded.iter().rev().find(|k| !k.is_success()).copied();
            check_change(&before, &after, change, at)?;
            check_counters(&after, &recorded)?;
            prop_assert_eq!(tr.circuit(), circuit);
            prop_assert_eq!(pair(&after), forced(circuit, tr.unforced(), last_failure));
            prop_assert!(!matches!(tr.unforced().1, R::CircuitOpen | R::HalfOpen));
        }
    }
}
