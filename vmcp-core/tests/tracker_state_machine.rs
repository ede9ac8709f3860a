//! Model-based property test of the status tracker (DESIGN §3.3, "Tracker rules" and the breaker's
//! forcing).
//!
//! A small reference model ([`Model`]) says what [`HealthTracker`] must publish after every step of
//! a random sequence; the harness ([`Harness`]) drives the real tracker with the same steps and
//! compares the whole [`HealthState`], the returned [`StatusChange`], the unforced status and the
//! remembered breaker state. Why a model: the tracker's rules (first result, fall and rise
//! thresholds, failure kind switching, recovery, breaker forcing, a half-open success that closes
//! the breaker) interact in ways that hand-written examples cover only partly.
//!
//! The model is written from the DESIGN text, not from the implementation: the unforced status is
//! an enum of phases ([`Phase`]) and the published pair is derived from it, the breaker state and
//! the last failure.
//!
//! The breaker input comes from one of two sources, chosen per case:
//! * [`CircuitSource::Modelled`]: a simple breaker kept in the model (consecutive failures in
//!   Closed open it, or never when disabled; one half-open trial decides; probes are skipped
//!   while Open, as the monitor does);
//! * [`CircuitSource::Legal`]: any circuit state the real breaker could report after a result,
//!   including stale results that leave it Open or HalfOpen;
//! * [`CircuitSource::Any`]: any circuit state at all, in any order, including ones a real
//!   breaker never produces (the tracker's rules still define the result: forcing by the given
//!   state, and a recovery whenever a non-Closed breaker becomes Closed with a success).

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, FileFailurePersistence};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use vmcp_core::clock::Timestamp;
use vmcp_core::health::{
    CircuitState, ErrorCategory, FailureStatus, HealthReason, HealthStatus, ProbeFailure,
    ProbeOutcome,
};
use vmcp_core::health::{HealthState, HealthTracker, StatusChange, TrackerConfig};

/// Where the clock starts (an arbitrary wall-clock instant).
const EPOCH_MS: u64 = 1_767_225_600_000;

/// Longest gap between two steps.
const MAX_GAP_MS: u64 = 90_000;

/// The kinds of probe result a test step can produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Success within `degraded_threshold` (exactly at it included).
    Fast,
    /// Success strictly slower than `degraded_threshold`.
    Slow,
    /// Any failure but refused credentials.
    Fail,
    /// Refused credentials.
    Auth,
}

impl Kind {
    fn is_success(self) -> bool {
        matches!(self, Kind::Fast | Kind::Slow)
    }
}

/// One probe result, concrete enough to build a [`ProbeOutcome`].
#[derive(Clone, Debug, PartialEq, Eq)]
struct Outcome {
    kind: Kind,
    latency: Duration,
    /// For failures: the category and the (redacted) message.
    error: Option<(ErrorCategory, String)>,
}

impl Outcome {
    fn to_probe(&self) -> ProbeOutcome {
        match (&self.error, self.kind) {
            (Some((category, message)), Kind::Auth | Kind::Fail) => ProbeOutcome::failure(
                self.latency,
                ProbeFailure {
                    status: if self.kind == Kind::Auth {
                        FailureStatus::Unauthenticated
                    } else {
                        FailureStatus::Unhealthy
                    },
                    category: *category,
                    message: message.clone(),
                },
            ),
            _ => ProbeOutcome::success(self.latency),
        }
    }
}

/// One operation on the tracker.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    /// `record(outcome, circuit, now + gap)`: `circuit` is the breaker state after the result.
    Record {
        gap_ms: u64,
        outcome: Outcome,
        circuit: CircuitState,
    },
    /// `circuit_changed(HalfOpen, now + gap)`: the Open deadline passed.
    Deadline { gap_ms: u64 },
    /// `circuit_changed(Closed, now + gap)`: the breaker was reset (endpoint change).
    Reset { gap_ms: u64 },
    /// `circuit_changed(circuit, now + gap)` with any state (only with [`CircuitSource::Any`]).
    Circuit { gap_ms: u64, circuit: CircuitState },
    /// `state()`, `unforced()`, `circuit()`, `config()`: must change nothing.
    Read,
}

/// Where the circuit argument comes from in one case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CircuitSource {
    /// A simple breaker in the model; `None` is a disabled breaker (always Closed).
    Modelled { threshold: Option<u32> },
    /// Any state the breaker could legally report.
    Legal,
    /// Any state, legal or not.
    Any,
}

/// The unforced status, as the DESIGN's phases rather than as a (status, reason) pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No result yet.
    Pending,
    /// The first result(s) failed, fewer than `unhealthy_threshold` in a row.
    Inconclusive,
    /// At or past `unhealthy_threshold` failures; the last failure's status.
    Down(FailureStatus),
    /// Succeeding after failing, fewer than `healthy_threshold` successes in a row.
    Recovering,
    /// Following the speed of each success: fast → healthy/ok, slow → degraded/slow.
    Up { slow: bool },
}

impl Phase {
    fn pair(self) -> (HealthStatus, HealthReason) {
        match self {
            Phase::Pending => (HealthStatus::Unknown, HealthReason::Pending),
            Phase::Inconclusive => (HealthStatus::Unknown, HealthReason::ProbeFailed),
            Phase::Down(FailureStatus::Unhealthy) => {
                (HealthStatus::Unhealthy, HealthReason::ProbeFailed)
            }
            Phase::Down(FailureStatus::Unauthenticated) => {
                (HealthStatus::Unauthenticated, HealthReason::ProbeFailed)
            }
            Phase::Recovering => (HealthStatus::Degraded, HealthReason::Recovering),
            Phase::Up { slow: false } => (HealthStatus::Healthy, HealthReason::Ok),
            Phase::Up { slow: true } => (HealthStatus::Degraded, HealthReason::Slow),
        }
    }

    /// Whether a success now is a "success after failing" (DESIGN: `unknown` after a failure,
    /// `unhealthy`, `unauthenticated`, or still recovering).
    fn owes_recovery(self) -> bool {
        matches!(
            self,
            Phase::Inconclusive | Phase::Down(_) | Phase::Recovering
        )
    }
}

/// The reference model.
#[derive(Clone, Debug)]
struct Model {
    config: TrackerConfig,
    source: CircuitSource,
    /// Consecutive failures the modelled breaker counted while Closed.
    breaker_failures: u32,
    /// The last circuit state the tracker was told.
    circuit: CircuitState,
    phase: Phase,
    fail_run: u32,
    succ_run: u32,
    last_failure: Option<FailureStatus>,
    now_ms: u64,
    last_check: Option<u64>,
    last_transition: Option<u64>,
    last_error: Option<(ErrorCategory, String)>,
    last_latency: Option<Duration>,
    /// The published pair.
    published: (HealthStatus, HealthReason),
    /// What the last step must have returned.
    expected_change: Option<StatusChange>,
    /// The last result's kind, to make runs of equal results likely.
    last_kind: Option<Kind>,
}

impl Model {
    fn new(config: TrackerConfig, source: CircuitSource) -> Self {
        Self {
            config,
            source,
            breaker_failures: 0,
            circuit: CircuitState::Closed,
            phase: Phase::Pending,
            fail_run: 0,
            succ_run: 0,
            last_failure: None,
            now_ms: EPOCH_MS,
            last_check: None,
            last_transition: None,
            last_error: None,
            last_latency: None,
            published: (HealthStatus::Unknown, HealthReason::Pending),
            expected_change: None,
            last_kind: None,
        }
    }

    /// The circuit states a breaker could report after a result, given the state before it.
    fn legal_after(before: CircuitState, success: bool) -> &'static [CircuitState] {
        use CircuitState::{Closed, HalfOpen, Open};
        match (before, success) {
            (Closed, true) => &[Closed],
            (Closed, false) => &[Closed, Open],
            // A trial result decides; a stale result (no permit) leaves HalfOpen.
            (HalfOpen, true) => &[Closed, HalfOpen],
            (HalfOpen, false) => &[Open, HalfOpen],
            // Stale results are ignored while Open.
            (Open, _) => &[Open],
        }
    }

    /// What the modelled breaker reports after a result (`None`: no probe runs while Open).
    fn modelled_after(&self, threshold: Option<u32>, success: bool) -> Option<CircuitState> {
        match (self.circuit, success) {
            (CircuitState::Open, _) => None,
            (_, true) => Some(CircuitState::Closed),
            (CircuitState::HalfOpen, false) => Some(CircuitState::Open),
            (CircuitState::Closed, false) => Some(match threshold {
                Some(t) if self.breaker_failures + 1 >= t => CircuitState::Open,
                _ => CircuitState::Closed,
            }),
        }
    }

    /// Whether `circuit` is what the breaker may report after a result of `kind`.
    fn circuit_fits(&self, kind: Kind, circuit: CircuitState) -> bool {
        match self.source {
            CircuitSource::Modelled { threshold } => {
                self.modelled_after(threshold, kind.is_success()) == Some(circuit)
            }
            CircuitSource::Legal => {
                Self::legal_after(self.circuit, kind.is_success()).contains(&circuit)
            }
            CircuitSource::Any => true,
        }
    }

    fn slow(&self, latency: Duration) -> bool {
        latency > self.config.degraded_threshold
    }

    /// The tracker rules for one result, on the unforced phase and the counters.
    fn apply_result(&mut self, outcome: &Outcome, breaker_closed_by_it: bool) {
        if outcome.kind.is_success() {
            self.succ_run += 1;
            self.fail_run = 0;
            let after_failing = breaker_closed_by_it || self.phase.owes_recovery();
            self.phase = if after_failing && self.succ_run < self.config.healthy_threshold {
                Phase::Recovering
            } else {
                Phase::Up {
                    slow: self.slow(outcome.latency),
                }
            };
        } else {
            let status = if outcome.kind == Kind::Auth {
                FailureStatus::Unauthenticated
            } else {
                FailureStatus::Unhealthy
            };
            self.fail_run += 1;
            self.succ_run = 0;
            self.last_failure = Some(status);
            self.last_error = outcome.error.clone();
            if self.fail_run >= self.config.unhealthy_threshold {
                self.phase = Phase::Down(status);
            } else if self.phase == Phase::Pending {
                self.phase = Phase::Inconclusive;
            }
        }
    }

    /// The breaker forcing over the unforced phase.
    fn forced(&self) -> (HealthStatus, HealthReason) {
        match self.circuit {
            CircuitState::Closed => self.phase.pair(),
            CircuitState::HalfOpen => (HealthStatus::Degraded, HealthReason::HalfOpen),
            CircuitState::Open => (
                match self.last_failure {
                    Some(FailureStatus::Unauthenticated) => HealthStatus::Unauthenticated,
                    _ => HealthStatus::Unhealthy,
                },
                HealthReason::CircuitOpen,
            ),
        }
    }

    /// Publish the forced pair; a change is returned and stamped exactly when it differs.
    fn publish(&mut self) {
        let to = self.forced();
        let from = self.published;
        self.expected_change = (to != from).then_some(StatusChange {
            from: from.0,
            from_reason: from.1,
            to: to.0,
            to_reason: to.1,
        });
        if to != from {
            self.published = to;
            self.last_transition = Some(self.now_ms);
        }
    }

    /// The state the tracker must publish.
    fn expected_state(&self) -> HealthState {
        HealthState {
            status: self.published.0,
            reason: self.published.1,
            consecutive_failures: self.fail_run,
            consecutive_successes: self.succ_run,
            last_check: self.last_check.map(Timestamp::from_unix_millis),
            last_transition: self.last_transition.map(Timestamp::from_unix_millis),
            last_error_category: self.last_error.as_ref().map(|(c, _)| *c),
            last_error_message: self.last_error.as_ref().map(|(_, m)| m.clone()),
            last_latency: self.last_latency,
        }
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn config_strategy() -> impl Strategy<Value = (TrackerConfig, CircuitSource)> {
    let source = prop_oneof![
        2 => proptest::option::weighted(0.8, 1u32..=6)
            .prop_map(|threshold| CircuitSource::Modelled { threshold }),
        1 => Just(CircuitSource::Legal),
        1 => Just(CircuitSource::Any),
    ];
    (1u32..=5, 1u32..=4, 1u64..=10_000, source).prop_map(|(fall, rise, degraded, source)| {
        (
            TrackerConfig {
                unhealthy_threshold: fall,
                healthy_threshold: rise,
                degraded_threshold: ms(degraded),
            },
            source,
        )
    })
}

fn gap() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0u64), 6 => 1..=MAX_GAP_MS]
}

/// A concrete outcome of `kind`, with latencies on both sides of (and at) the degraded threshold.
fn outcome(kind: Kind, degraded: Duration) -> BoxedStrategy<Outcome> {
    let d = u64::try_from(degraded.as_millis()).expect("small threshold");
    match kind {
        Kind::Fast => prop_oneof![1 => Just(d), 4 => 0..=d]
            .prop_map(|l| Outcome {
                kind: Kind::Fast,
                latency: ms(l),
                error: None,
            })
            .boxed(),
        Kind::Slow => prop_oneof![
            1 => Just(degraded + Duration::from_nanos(1)),
            4 => (d + 1..=d + 20_000).prop_map(ms),
        ]
        .prop_map(|latency| Outcome {
            kind: Kind::Slow,
            latency,
            error: None,
        })
        .boxed(),
        Kind::Fail => (
            prop_oneof![
                Just(ErrorCategory::Timeout),
                Just(ErrorCategory::ConnectionFailed),
                Just(ErrorCategory::BackendUnavailable),
                Just(ErrorCategory::ProtocolError),
                Just(ErrorCategory::Cancelled),
                Just(ErrorCategory::HealthCheckFailed),
            ],
            prop_oneof![
                Just("connection refused"),
                Just("HTTP 503"),
                Just("deadline")
            ],
            0u64..=30_000,
        )
            .prop_map(|(category, message, l)| Outcome {
                kind: Kind::Fail,
                latency: ms(l),
                error: Some((category, message.to_owned())),
            })
            .boxed(),
        Kind::Auth => (
            prop_oneof![Just("HTTP 401"), Just("HTTP 403")],
            0u64..=5_000,
        )
            .prop_map(|(message, l)| Outcome {
                kind: Kind::Auth,
                latency: ms(l),
                error: Some((ErrorCategory::AuthenticationFailed, message.to_owned())),
            })
            .boxed(),
    }
}

/// A record step of `kind` with a circuit state that fits the case's breaker source.
fn record(m: &Model, kind: Kind) -> Option<BoxedStrategy<Step>> {
    let circuits: Vec<CircuitState> = match m.source {
        CircuitSource::Modelled { threshold } => m
            .modelled_after(threshold, kind.is_success())
            .into_iter()
            .collect(),
        CircuitSource::Legal => Model::legal_after(m.circuit, kind.is_success()).to_vec(),
        CircuitSource::Any => vec![
            CircuitState::Closed,
            CircuitState::Open,
            CircuitState::HalfOpen,
        ],
    };
    if circuits.is_empty() {
        return None;
    }
    Some(
        (
            gap(),
            outcome(kind, m.config.degraded_threshold),
            proptest::sample::select(circuits),
        )
            .prop_map(|(gap_ms, outcome, circuit)| Step::Record {
                gap_ms,
                outcome,
                circuit,
            })
            .boxed(),
    )
}

struct TrackerModel;

impl ReferenceStateMachine for TrackerModel {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        config_strategy()
            .prop_map(|(config, source)| Model::new(config, source))
            .boxed()
    }

    fn transitions(m: &Model) -> BoxedStrategy<Step> {
        let mut options: Vec<(u32, BoxedStrategy<Step>)> = vec![
            (2, Just(Step::Read).boxed()),
            (1, gap().prop_map(|gap_ms| Step::Reset { gap_ms }).boxed()),
        ];
        if m.circuit == CircuitState::Open {
            options.push((
                6,
                gap().prop_map(|gap_ms| Step::Deadline { gap_ms }).boxed(),
            ));
        }
        if m.source == CircuitSource::Any {
            let circuit = prop_oneof![
                Just(CircuitState::Closed),
                Just(CircuitState::Open),
                Just(CircuitState::HalfOpen),
            ];
            options.push((
                3,
                (gap(), circuit)
                    .prop_map(|(gap_ms, circuit)| Step::Circuit { gap_ms, circuit })
                    .boxed(),
            ));
        }
        for (kind, weight) in [
            (Kind::Fast, 4),
            (Kind::Slow, 2),
            (Kind::Fail, 4),
            (Kind::Auth, 2),
        ] {
            // Runs of equal results cross the thresholds.
            let weight = if m.last_kind == Some(kind) {
                weight + 6
            } else {
                weight
            };
            if let Some(s) = record(m, kind) {
                options.push((weight, s));
            }
        }
        Union::new_weighted(options).boxed()
    }

    fn preconditions(m: &Model, step: &Step) -> bool {
        match step {
            Step::Record {
                outcome, circuit, ..
            } => m.circuit_fits(outcome.kind, *circuit),
            Step::Deadline { .. } => m.circuit == CircuitState::Open,
            Step::Circuit { .. } => m.source == CircuitSource::Any,
            Step::Reset { .. } | Step::Read => true,
        }
    }

    fn apply(mut m: Model, step: &Step) -> Model {
        m.expected_change = None;
        match step {
            Step::Record {
                gap_ms,
                outcome,
                circuit,
            } => {
                m.now_ms += gap_ms;
                let closed_by_it =
                    m.circuit != CircuitState::Closed && *circuit == CircuitState::Closed;
                m.apply_result(outcome, closed_by_it);
                m.last_check = Some(m.now_ms);
                m.last_latency = Some(outcome.latency);
                m.last_kind = Some(outcome.kind);
                if m.circuit == CircuitState::Closed {
                    m.breaker_failures = if outcome.kind.is_success() {
                        0
                    } else {
                        m.breaker_failures + 1
                    };
                }
                if *circuit == CircuitState::Closed && m.circuit != CircuitState::Closed {
                    m.breaker_failures = 0;
                }
                m.circuit = *circuit;
                m.publish();
            }
            Step::Deadline { gap_ms } => {
                m.now_ms += gap_ms;
                m.circuit = CircuitState::HalfOpen;
                m.publish();
            }
            Step::Reset { gap_ms } => {
                m.now_ms += gap_ms;
                m.circuit = CircuitState::Closed;
                m.breaker_failures = 0;
                m.publish();
            }
            Step::Circuit { gap_ms, circuit } => {
                m.now_ms += gap_ms;
                m.circuit = *circuit;
                m.publish();
            }
            Step::Read => {}
        }
        m
    }
}

/// The system under test plus its clock.
struct Harness {
    tracker: HealthTracker,
    now_ms: u64,
}

impl Harness {
    fn at(&mut self, gap_ms: u64) -> Timestamp {
        self.now_ms += gap_ms;
        Timestamp::from_unix_millis(self.now_ms)
    }
}

impl StateMachineTest for Harness {
    type SystemUnderTest = Self;
    type Reference = TrackerModel;

    fn init_test(m: &Model) -> Self {
        let tracker = HealthTracker::try_new(m.config).expect("thresholds are at least 1");
        Harness {
            tracker,
            now_ms: EPOCH_MS,
        }
    }

    fn apply(mut h: Self, m: &Model, step: Step) -> Self {
        let got = match step {
            Step::Record {
                gap_ms,
                outcome,
                circuit,
            } => {
                let at = h.at(gap_ms);
                h.tracker.record(&outcome.to_probe(), circuit, at)
            }
            Step::Deadline { gap_ms } => {
                let at = h.at(gap_ms);
                h.tracker.circuit_changed(CircuitState::HalfOpen, at)
            }
            Step::Reset { gap_ms } => {
                let at = h.at(gap_ms);
                h.tracker.circuit_changed(CircuitState::Closed, at)
            }
            Step::Circuit { gap_ms, circuit } => {
                let at = h.at(gap_ms);
                h.tracker.circuit_changed(circuit, at)
            }
            Step::Read => {
                let before = h.tracker.clone();
                let state = h.tracker.state().clone();
                let unforced = h.tracker.unforced();
                let circuit = h.tracker.circuit();
                let config = *h.tracker.config();
                assert_eq!(h.tracker.state(), &state, "reading twice gives the same");
                assert_eq!(state, *before.state(), "reading changes nothing");
                assert_eq!(unforced, before.unforced());
                assert_eq!(circuit, before.circuit());
                assert_eq!(config, *before.config());
                None
            }
        };
        assert_eq!(got, m.expected_change, "returned change");
        h
    }

    fn check_invariants(h: &Self, m: &Model) {
        assert_eq!(h.tracker.state(), &m.expected_state(), "published state");
        assert_eq!(h.tracker.unforced(), m.phase.pair(), "unforced status");
        assert_eq!(h.tracker.circuit(), m.circuit, "remembered circuit");
        assert_eq!(h.tracker.config(), &m.config);
    }
}

prop_state_machine! {
    #![proptest_config(Config {
        cases: 1024,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/tracker_state_machine.txt"
        )))),
        ..Config::default()
    })]

    /// Random sequences of up to 40 steps against the reference model.
    #[test]
    fn tracker_follows_the_reference_model(sequential 1..40 => Harness);
}
