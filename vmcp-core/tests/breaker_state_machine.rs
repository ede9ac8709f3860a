//! Model-based property test of the circuit breaker (DESIGN §3.3).
//!
//! A small reference model ([`Model`]) says what the breaker must do after every step of a random
//! sequence; the harness ([`Harness`]) drives the real [`CircuitBreaker`] with the same steps and
//! compares. Why a model: the breaker's rules interact (thresholds, deadlines, permits, backoff,
//! jitter, reset) in ways that hand-written examples cover only partly.
//!
//! Jitter makes the exact Open deadline unknowable to the model, so the model does not replay the
//! RNG. It knows only the bounds `[t, t + t * jitter]` of the open duration, and time steps while
//! Open are chosen so that the outcome is certain: strictly before the lower bound, at or past the
//! upper bound, or relative to the breaker's actual deadline ("exactly at it", "1 ns before it").
//! The harness checks separately that every actual deadline lies within the bounds.
//!
//! The backoff is modelled independently of the implementation: the model counts the failed
//! half-open trials `k` since the breaker last closed and computes the timeout in closed form from
//! the spec, `min(cap, timeout × multiplier^k)` with `cap` = `max_timeout` raised to at least
//! `timeout`, at most [`MAX_OPEN_TIMEOUT`] (the implementation multiplies step by step, rounding
//! to nanoseconds each time). The two agree within a rounding tolerance that grows with `k`
//! ([`Model::tolerance`]: a few nanoseconds and parts in 10¹³ per trial), far below any
//! difference a wrong rule would make; with no failed trial (or a multiplier of 1) they must be
//! equal exactly.

use std::time::Duration;

use proptest::prelude::*;
use proptest::strategy::Union;
use proptest::test_runner::{Config, FileFailurePersistence};
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};
use tokio::time::Instant;
use vmcp_core::config::CircuitBreakerConfig;
use vmcp_core::health::CircuitState;
use vmcp_core::health::{
    Admission, BreakerSnapshot, CircuitBreaker, CircuitTransition, MAX_OPEN_TIMEOUT,
};

/// Longest single time step outside the deadline-relative ones.
const MAX_WAIT_MS: u64 = 600_000;

/// One operation on the breaker (or on the clock that feeds it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Move the clock forward without telling the breaker.
    Wait(Duration),
    /// Move the clock to exactly the Open deadline (only while Open and before it).
    WaitToDeadline,
    /// Move the clock to 1 ns before the Open deadline (only while Open and before it).
    WaitToJustBefore,
    Advance,
    TryAcquire,
    RecordSuccess,
    RecordFailure,
    /// `state()`, `open_deadline()` and `snapshot()`: must change nothing.
    Read,
    Reset,
}

/// Where the clock is relative to the Open deadline, as far as the model can know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpenClock {
    /// This much time has passed since opening, less than the lower bound of the duration.
    Elapsed(Duration),
    /// Exactly 1 ns before the deadline.
    JustBefore,
    /// At or past the deadline (not yet applied by `advance`).
    Due,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Closed,
    Open(OpenClock),
    /// The half-open budget: `in_flight + successes <= half_open_max_probes` (DESIGN §3.3).
    HalfOpen {
        in_flight: u32,
        successes: u32,
    },
}

impl Mode {
    fn state(self) -> CircuitState {
        match self {
            Mode::Closed => CircuitState::Closed,
            Mode::Open(_) => CircuitState::Open,
            Mode::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpectedAdmission {
    Allowed,
    /// Refused with the Open deadline.
    RefusedOpen,
    /// Refused with `until: None`.
    RefusedSaturated,
}

type Change = Option<(CircuitState, CircuitState)>;

/// What the last step must have returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expected {
    Nothing,
    Transition(Change),
    Acquire(ExpectedAdmission, Change),
}

/// The reference model.
#[derive(Clone, Debug)]
struct Model {
    config: CircuitBreakerConfig,
    seed: u64,
    mode: Mode,
    failures: u32,
    /// Failed half-open trials since the breaker last closed: the backoff exponent.
    failed_trials: u32,
    times_opened: u64,
    /// Permits handed out whose results were not recorded yet (any phase): only these may be
    /// recorded while Open (stale results).
    unrecorded: u32,
    expected: Expected,
}

impl Model {
    fn new(config: CircuitBreakerConfig, seed: u64) -> Self {
        Self {
            failed_trials: 0,
            config,
            seed,
            mode: Mode::Closed,
            failures: 0,
            times_opened: 0,
            unrecorded: 0,
            expected: Expected::Nothing,
        }
    }

    /// The un-jittered timeout of the current (or next) Open period, from the spec in closed
    /// form: `min(cap, timeout × multiplier^k)`, k = failed trials since the last close.
    fn timeout(&self) -> Duration {
        let base = self.config.timeout;
        if self.failed_trials == 0 || self.config.timeout_multiplier == 1.0 {
            return base;
        }
        let cap = match self.config.max_timeout {
            Some(max) if max < base => base,
            Some(max) => max,
            None => MAX_OPEN_TIMEOUT,
        };
        let cap = if cap > MAX_OPEN_TIMEOUT {
            MAX_OPEN_TIMEOUT
        } else {
            cap
        };
        let k = i32::try_from(self.failed_trials).expect("few trials");
        let secs = base.as_secs_f64() * self.config.timeout_multiplier.powi(k);
        if secs >= cap.as_secs_f64() {
            cap
        } else {
            Duration::from_secs_f64(secs)
        }
    }

    /// How far the implementation's step-by-step rounding may drift from [`Self::timeout`].
    ///
    /// Each backoff step rounds to whole nanoseconds (up to 2 ns off, counting the f64 round
    /// trip), and every later step multiplies that error by the multiplier again, so after `k`
    /// trials the drift is at most `2 ns × (1 + m + … + m^(k-1))`, plus 10⁻¹³ of the timeout per
    /// step for the f64 products themselves (f64 carries about 16 digits).
    fn tolerance(&self) -> Duration {
        let k = self.failed_trials;
        let m = self.config.timeout_multiplier.max(1.0);
        let steps: f64 = (0..k)
            .map(|i| m.powi(i32::try_from(i).unwrap_or(i32::MAX)))
            .sum();
        let rounding = (2e-9 * steps).min(MAX_OPEN_TIMEOUT.as_secs_f64());
        let relative = self.timeout().as_secs_f64() * 1e-13 * f64::from(k);
        Duration::from_secs_f64(rounding + relative) + Duration::from_nanos(1)
    }

    /// Shortest possible open duration for the current timeout.
    fn lo(&self) -> Duration {
        self.timeout().saturating_sub(self.tolerance())
    }

    /// Longest possible open duration for the current timeout: `t * (1 + jitter)`.
    fn hi(&self) -> Duration {
        let t = self.timeout() + self.tolerance();
        let extra = Duration::try_from_secs_f64(t.as_secs_f64() * self.config.timeout_jitter)
            .expect("jitter spread is representable");
        // One more nanosecond for the rounding of the jittered draw.
        t + extra + Duration::from_nanos(1)
    }

    /// Whether the breaker's timeout is the model's, within the rounding tolerance.
    fn timeout_matches(&self, got: Duration) -> bool {
        got.abs_diff(self.timeout()) <= self.tolerance()
    }

    fn open(&mut self) -> Change {
        let from = self.mode.state();
        self.mode = Mode::Open(OpenClock::Elapsed(Duration::ZERO));
        self.times_opened += 1;
        Some((from, CircuitState::Open))
    }

    fn close(&mut self) {
        self.mode = Mode::Closed;
        self.failures = 0;
        self.failed_trials = 0;
    }

    fn advance(&mut self) -> Change {
        if self.mode == Mode::Open(OpenClock::Due) {
            self.mode = Mode::HalfOpen {
                in_flight: 0,
                successes: 0,
            };
            Some((CircuitState::Open, CircuitState::HalfOpen))
        } else {
            None
        }
    }

    fn wait_is_decidable(&self, d: Duration) -> bool {
        match self.mode {
            Mode::Open(OpenClock::Elapsed(e)) => e + d < self.lo() || e + d >= self.hi(),
            _ => true,
        }
    }

    fn may_record(&self) -> bool {
        match self.mode {
            Mode::Closed => true,
            Mode::HalfOpen { in_flight, .. } => in_flight > 0,
            Mode::Open(_) => self.unrecorded > 0,
        }
    }

    fn open_before_deadline(&self) -> bool {
        matches!(
            self.mode,
            Mode::Open(OpenClock::Elapsed(_) | OpenClock::JustBefore)
        )
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn any_wait() -> BoxedStrategy<Step> {
    prop_oneof![
        1 => Just(Step::Wait(Duration::ZERO)),
        4 => (1..=MAX_WAIT_MS).prop_map(|n| Step::Wait(ms(n))),
    ]
    .boxed()
}

/// A wait whose outcome the model can decide while Open with `elapsed` known.
fn decidable_wait(m: &Model, elapsed: Duration) -> BoxedStrategy<Step> {
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).expect("fits in u64");
    let before = nanos(m.lo() - elapsed); // ≥ 1: elapsed < lo
    let past = nanos(m.hi() - elapsed);
    prop_oneof![
        (0..before).prop_map(|n| Step::Wait(Duration::from_nanos(n))),
        (past..=past + MAX_WAIT_MS * 1_000_000).prop_map(|n| Step::Wait(Duration::from_nanos(n))),
    ]
    .boxed()
}

fn config_strategy() -> impl Strategy<Value = (CircuitBreakerConfig, u64)> {
    (
        prop::bool::weighted(0.85),
        1u32..=6,
        1_000u64..=120_000,
        1u32..=3,
        prop_oneof![Just(1.0), 1.0f64..3.0],
        prop::option::of(1_000u64..=600_000),
        prop_oneof![Just(0.0), 0.0f64..0.5],
        any::<u64>(),
    )
        .prop_map(
            |(enabled, threshold, timeout, probes, multiplier, max_timeout, jitter, seed)| {
                let config = CircuitBreakerConfig {
                    enabled,
                    failure_threshold: threshold,
                    timeout: ms(timeout),
                    half_open_max_probes: probes,
                    timeout_multiplier: multiplier,
                    max_timeout: max_timeout.map(ms),
                    timeout_jitter: jitter,
                };
                (config, seed)
            },
        )
}

struct BreakerModel;

impl ReferenceStateMachine for BreakerModel {
    type State = Model;
    type Transition = Step;

    fn init_state() -> BoxedStrategy<Model> {
        config_strategy()
            .prop_map(|(config, seed)| Model::new(config, seed))
            .boxed()
    }

    fn transitions(m: &Model) -> BoxedStrategy<Step> {
        let mut options: Vec<(u32, BoxedStrategy<Step>)> = vec![
            (2, Just(Step::Read).boxed()),
            (1, Just(Step::Reset).boxed()),
            (2, Just(Step::Advance).boxed()),
            (6, Just(Step::TryAcquire).boxed()),
        ];
        match m.mode {
            Mode::Closed => {
                options.push((10, Just(Step::RecordFailure).boxed()));
                options.push((2, Just(Step::RecordSuccess).boxed()));
                options.push((2, any_wait()));
            }
            Mode::Open(clock) => {
                match clock {
                    OpenClock::Elapsed(e) => {
                        options.push((6, Just(Step::WaitToDeadline).boxed()));
                        options.push((2, Just(Step::WaitToJustBefore).boxed()));
                        options.push((4, decidable_wait(m, e)));
                    }
                    OpenClock::JustBefore => {
                        options.push((6, Just(Step::WaitToDeadline).boxed()));
                        options.push((4, any_wait()));
                    }
                    OpenClock::Due => options.push((2, any_wait())),
                }
                if m.unrecorded > 0 {
                    options.push((2, Just(Step::RecordFailure).boxed()));
                    options.push((2, Just(Step::RecordSuccess).boxed()));
                }
            }
            Mode::HalfOpen { in_flight, .. } => {
                if in_flight > 0 {
                    options.push((6, Just(Step::RecordFailure).boxed()));
                    options.push((4, Just(Step::RecordSuccess).boxed()));
                }
                options.push((2, any_wait()));
            }
        }
        Union::new_weighted(options).boxed()
    }

    fn preconditions(m: &Model, step: &Step) -> bool {
        match *step {
            Step::Wait(d) => m.wait_is_decidable(d),
            Step::WaitToDeadline | Step::WaitToJustBefore => m.open_before_deadline(),
            Step::RecordSuccess | Step::RecordFailure => m.may_record(),
            Step::Advance | Step::TryAcquire | Step::Read | Step::Reset => true,
        }
    }

    fn apply(mut m: Model, step: &Step) -> Model {
        m.expected = Expected::Nothing;
        let enabled = m.config.enabled;
        match *step {
            Step::Wait(d) => {
                if let Mode::Open(clock) = m.mode {
                    let next = match clock {
                        OpenClock::Elapsed(e) if e + d < m.lo() => OpenClock::Elapsed(e + d),
                        // Precondition: e + d >= hi >= the actual duration.
                        OpenClock::Elapsed(_) => OpenClock::Due,
                        OpenClock::JustBefore if d.is_zero() => OpenClock::JustBefore,
                        OpenClock::JustBefore | OpenClock::Due => OpenClock::Due,
                    };
                    m.mode = Mode::Open(next);
                }
            }
            Step::WaitToDeadline => m.mode = Mode::Open(OpenClock::Due),
            Step::WaitToJustBefore => m.mode = Mode::Open(OpenClock::JustBefore),
            Step::Advance => {
                let change = m.advance();
                m.expected = Expected::Transition(change);
            }
            Step::TryAcquire => {
                let change = m.advance();
                let admission = match m.mode {
                    Mode::Closed => ExpectedAdmission::Allowed,
                    Mode::Open(_) => ExpectedAdmission::RefusedOpen,
                    Mode::HalfOpen {
                        in_flight,
                        successes,
                    } if in_flight + successes < m.config.half_open_max_probes => {
                        m.mode = Mode::HalfOpen {
                            in_flight: in_flight + 1,
                            successes,
                        };
                        ExpectedAdmission::Allowed
                    }
                    Mode::HalfOpen { .. } => ExpectedAdmission::RefusedSaturated,
                };
                if admission == ExpectedAdmission::Allowed {
                    m.unrecorded += 1;
                }
                m.expected = Expected::Acquire(admission, change);
            }
            Step::RecordSuccess => {
                m.unrecorded = m.unrecorded.saturating_sub(1);
                let change = match m.mode {
                    _ if !enabled => None,
                    Mode::Closed => {
                        m.failures = 0;
                        None
                    }
                    // The budget's last success closes; earlier ones only count.
                    Mode::HalfOpen {
                        in_flight,
                        successes,
                    } if in_flight > 0 => {
                        if successes + 1 == m.config.half_open_max_probes {
                            m.close();
                            Some((CircuitState::HalfOpen, CircuitState::Closed))
                        } else {
                            m.mode = Mode::HalfOpen {
                                in_flight: in_flight - 1,
                                successes: successes + 1,
                            };
                            None
                        }
                    }
                    Mode::HalfOpen { .. } | Mode::Open(_) => None,
                };
                m.expected = Expected::Transition(change);
            }
            Step::RecordFailure => {
                m.unrecorded = m.unrecorded.saturating_sub(1);
                let change = match m.mode {
                    _ if !enabled => None,
                    Mode::Closed => {
                        m.failures += 1;
                        if m.failures >= m.config.failure_threshold {
                            m.open()
                        } else {
                            None
                        }
                    }
                    Mode::HalfOpen { in_flight, .. } if in_flight > 0 => {
                        m.failures += 1;
                        m.failed_trials += 1;
                        m.open()
                    }
                    Mode::HalfOpen { .. } | Mode::Open(_) => None,
                };
                m.expected = Expected::Transition(change);
            }
            Step::Read => {}
            Step::Reset => {
                let change = if enabled {
                    let from = m.mode.state();
                    m.close();
                    (from != CircuitState::Closed).then_some((from, CircuitState::Closed))
                } else {
                    None
                };
                m.expected = Expected::Transition(change);
            }
        }
        m
    }
}

/// The system under test plus the clock and what the harness has observed.
struct Harness {
    breaker: CircuitBreaker,
    now: Instant,
    /// The deadline of the current Open period, as observed when it opened.
    deadline: Option<Instant>,
}

impl Harness {
    /// Check a returned transition against the model and against the stamps it must carry.
    fn check_transition(
        &mut self,
        got: Option<CircuitTransition>,
        want: Change,
        before: &BreakerSnapshot,
        model: &Model,
    ) {
        assert_eq!(got.map(|t| (t.from, t.to)), want, "transition");
        let after = self.breaker.snapshot();
        let Some(t) = got else {
            assert_eq!(
                after.last_changed, before.last_changed,
                "no transition, no stamp"
            );
            return;
        };
        assert_eq!(
            after.last_changed,
            Some(t.at),
            "last_changed is the transition's time"
        );
        match (t.from, t.to) {
            (CircuitState::Open, CircuitState::HalfOpen) => {
                let deadline = self.deadline.expect("an observed Open deadline");
                assert_eq!(t.at, deadline, "Open→HalfOpen is stamped with the deadline");
                assert!(
                    self.now >= deadline,
                    "half-open only once the deadline is reached"
                );
            }
            (_, CircuitState::Open) => {
                assert_eq!(t.at, self.now);
                let deadline = after.open_until.expect("Open has a deadline");
                let d = deadline - self.now;
                assert!(
                    d >= model.lo() && d <= model.hi(),
                    "open duration {d:?} outside [{:?}, {:?}] (timeout {:?}, jitter {})",
                    model.lo(),
                    model.hi(),
                    model.timeout(),
                    model.config.timeout_jitter
                );
                if model.config.timeout_jitter == 0.0 {
                    assert_eq!(d, after.current_timeout, "no jitter: exactly the timeout");
                }
                self.deadline = Some(deadline);
            }
            _ => assert_eq!(t.at, self.now),
        }
    }
}

impl StateMachineTest for Harness {
    type SystemUnderTest = Self;
    type Reference = BreakerModel;

    fn init_test(m: &Model) -> Self {
        Harness {
            breaker: CircuitBreaker::new(&m.config, m.seed),
            now: Instant::now(),
            deadline: None,
        }
    }

    fn apply(mut h: Self, m: &Model, step: Step) -> Self {
        let before = h.breaker.snapshot();
        match step {
            Step::Wait(d) => h.now += d,
            Step::WaitToDeadline => {
                let deadline = h.breaker.open_deadline().expect("Open");
                assert!(
                    deadline > h.now,
                    "model and breaker agree the deadline is ahead"
                );
                h.now = deadline;
            }
            Step::WaitToJustBefore => {
                let deadline = h.breaker.open_deadline().expect("Open");
                assert!(deadline > h.now);
                h.now = deadline - Duration::from_nanos(1);
            }
            Step::Read => {
                let state = h.breaker.state();
                let deadline = h.breaker.open_deadline();
                let snapshot = h.breaker.snapshot();
                assert_eq!(state, before.state);
                assert_eq!(deadline, before.open_until);
                assert_eq!(snapshot, before);
            }
            Step::Advance => {
                let got = h.breaker.advance(h.now);
                let Expected::Transition(want) = m.expected else {
                    panic!("model expected {:?}", m.expected)
                };
                h.check_transition(got, want, &before, m);
            }
            Step::TryAcquire => {
                let (admission, got) = h.breaker.try_acquire(h.now);
                let Expected::Acquire(want_admission, want) = m.expected else {
                    panic!("model expected {:?}", m.expected)
                };
                match want_admission {
                    ExpectedAdmission::Allowed => assert_eq!(admission, Admission::Allowed),
                    ExpectedAdmission::RefusedOpen => {
                        assert_eq!(admission, Admission::Refused { until: h.deadline });
                        assert!(
                            h.deadline.is_some_and(|d| h.now < d),
                            "refused only before the deadline"
                        );
                    }
                    ExpectedAdmission::RefusedSaturated => {
                        assert_eq!(admission, Admission::Refused { until: None });
                    }
                }
                h.check_transition(got, want, &before, m);
            }
            Step::RecordSuccess | Step::RecordFailure | Step::Reset => {
                let got = match step {
                    Step::RecordSuccess => h.breaker.record_success(h.now),
                    Step::RecordFailure => h.breaker.record_failure(h.now),
                    _ => h.breaker.reset(h.now),
                };
                let Expected::Transition(want) = m.expected else {
                    panic!("model expected {:?}", m.expected)
                };
                h.check_transition(got, want, &before, m);
            }
        }
        if matches!(
            step,
            Step::Wait(_) | Step::WaitToDeadline | Step::WaitToJustBefore | Step::Read
        ) {
            assert_eq!(
                h.breaker.snapshot(),
                before,
                "time alone or reading changes nothing"
            );
        }
        if h.breaker.state() != CircuitState::Open {
            h.deadline = None;
        }
        h
    }

    fn check_invariants(h: &Self, m: &Model) {
        let s = h.breaker.snapshot();
        assert_eq!(s.enabled, m.config.enabled);
        assert_eq!(s.state, m.mode.state(), "state");
        assert_eq!(h.breaker.state(), s.state);
        assert_eq!(s.consecutive_failures, m.failures, "consecutive failures");
        let (in_flight, successes) = match m.mode {
            Mode::HalfOpen {
                in_flight,
                successes,
            } => (in_flight, successes),
            Mode::Closed | Mode::Open(_) => (0, 0),
        };
        assert_eq!(s.half_open_in_flight, in_flight, "half-open permits");
        assert_eq!(s.half_open_successes, successes, "half-open successes");
        assert!(
            s.half_open_in_flight + s.half_open_successes <= m.config.half_open_max_probes,
            "the half-open budget"
        );
        assert!(
            m.timeout_matches(s.current_timeout),
            "backed-off timeout {:?}, model {:?} ± {:?} after {} failed trials",
            s.current_timeout,
            m.timeout(),
            m.tolerance(),
            m.failed_trials
        );
        assert_eq!(s.times_opened, m.times_opened, "times opened");
        assert_eq!(s.open_until.is_some(), s.state == CircuitState::Open);
        assert_eq!(s.open_until, h.breaker.open_deadline());
        if let Mode::Open(clock) = m.mode {
            assert_eq!(s.open_until, h.deadline, "deadline unchanged while Open");
            let deadline = h.deadline.expect("Open has a deadline");
            match clock {
                OpenClock::Due => assert!(h.now >= deadline),
                OpenClock::JustBefore => assert_eq!(deadline - h.now, Duration::from_nanos(1)),
                OpenClock::Elapsed(_) => assert!(h.now < deadline),
            }
        }
        if !m.config.enabled {
            assert_eq!(
                s.state,
                CircuitState::Closed,
                "disabled never leaves Closed"
            );
            assert_eq!(s.times_opened, 0);
        }
    }
}

prop_state_machine! {
    #![proptest_config(Config {
        cases: 1024,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/breaker_state_machine.txt"
        )))),
        ..Config::default()
    })]

    /// Random sequences of up to 50 steps against the reference model.
    #[test]
    fn breaker_follows_the_reference_model(sequential 1..50 => Harness);
}
