//! The per-backend circuit breaker (DESIGN §3.3): a pure state machine, time passed in.
//!
//! Why a pure state machine: the monitor, the simulation and the property tests all drive the
//! same code, and none of them may depend on when the breaker happens to read a clock. Every
//! operation therefore takes `now` as an argument, performs no I/O and reads no clock; the only
//! hidden input is a ChaCha8 RNG seeded by the caller, used for the open-timeout jitter.
//!
//! ```text
//!            failure_threshold consecutive failures
//!   Closed ──────────────────────────────────────────▶ Open ◀──────────┐
//!     ▲                                                 │              │ trial failure
//!     │ trial success                   now >= deadline │              │ (timer restarted,
//!     │                                                 ▼              │  timeout backed off)
//!     └──────────────────────────────────────────── HalfOpen ──────────┘
//! ```
//!
//! The half-open budget (`half_open_max_probes = N`, DESIGN §3.3, as resilience4j's
//! `permittedNumberOfCallsInHalfOpenState`): a half-open period admits at most N requests in
//! total (the trial probe and, through the front end, tool calls), so never more than N are in
//! flight; the circuit closes after N successes and re-opens on the first failure; requests
//! beyond the budget are refused. A permit returned without a result ([`CircuitBreaker::release`],
//! e.g. a cancelled call) gives its slot back.
//!
//! Two ways to use it:
//! * the raw state machine: [`try_acquire`](CircuitBreaker::try_acquire), then
//!   [`record_success`](CircuitBreaker::record_success) / [`record_failure`](CircuitBreaker::record_failure)
//!   / [`release`](CircuitBreaker::release) for an admission of the current phase;
//! * [`Permit`]s, for callers whose requests may outlive a phase (concurrent tool calls):
//!   [`acquire`](CircuitBreaker::acquire) hands out a permit naming the phase it was taken in, and
//!   [`complete`](CircuitBreaker::complete) / [`give_back`](CircuitBreaker::give_back) apply it
//!   only while that phase lasts (a result from an earlier phase is stale and ignored).
//!
//! Rules beyond the diagram (all documented on the methods):
//! * Results that do not belong to an admitted probe are ignored while Open or HalfOpen: a result
//!   recorded while Open, or while HalfOpen with no permit outstanding, is stale (its probe was
//!   admitted in an earlier phase) and must not decide the trial.
//! * `record_*` never applies the deadline transition; only `advance` and `try_acquire` do, so
//!   each call reports at most one transition.
//! * A disabled breaker is inert: always `Allowed`, always `Closed`, records change nothing.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use crate::config::CircuitBreakerConfig;
use crate::health::CircuitState;

/// The ceiling for any open timeout, before jitter (30 years, tokio's own "far future").
///
/// Why: with `timeout_multiplier > 1` and no `max_timeout` the backed-off timeout grows
/// without bound; clamping it keeps every deadline representable as an `Instant` instead of
/// overflowing (which would panic) after enough failed trials.
pub const MAX_OPEN_TIMEOUT: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);

/// A state change of the breaker, returned by the call that caused it so the caller can trace
/// it and update the backend's status without polling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitTransition {
    /// The state before the change.
    pub from: CircuitState,
    /// The state after the change.
    pub to: CircuitState,
    /// When it happened. For Open→HalfOpen this is the deadline itself, not the time it was noticed.
    pub at: Instant,
}

/// Whether a probe may run now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Run the probe, then report its result with `record_success`/`record_failure`.
    Allowed,
    /// Skip the probe. `until` is the Open deadline (`None` when HalfOpen is saturated).
    Refused {
        /// When asking again can succeed: the Open deadline. `None` when HalfOpen is
        /// saturated, because then a recorded result, not time, frees a slot.
        until: Option<Instant>,
    },
}

/// An admission taken with [`CircuitBreaker::acquire`]: hand it back exactly once, with
/// [`CircuitBreaker::complete`] (the request's result) or [`CircuitBreaker::give_back`] (no
/// result, e.g. cancelled before it reached the backend).
///
/// It names the breaker phase it was taken in (how many times the breaker had opened, and the
/// state), so a result arriving after the phase ended is recognised as stale and ignored.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a permit must be completed or given back, or a half-open slot stays taken"]
pub struct Permit {
    times_opened: u64,
    state: CircuitState,
}

impl Permit {
    /// The state the breaker was in when the permit was taken.
    pub fn state(&self) -> CircuitState {
        self.state
    }
}

/// A read-only view of the breaker, for reports, traces and tests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerSnapshot {
    /// Whether the breaker is enabled at all (a disabled breaker reports `Closed` forever).
    pub enabled: bool,
    /// The stored state (no deadline is applied by reading it).
    pub state: CircuitState,
    /// Failures recorded since the last success or reset, in Closed and in HalfOpen trials; so
    /// while Open it is at least `failure_threshold`.
    pub consecutive_failures: u32,
    /// The Open deadline; `Some` exactly while Open.
    pub open_until: Option<Instant>,
    /// HalfOpen permits handed out whose results are not recorded yet; 0 unless HalfOpen.
    pub half_open_in_flight: u32,
    /// Successes recorded in the current HalfOpen period; 0 unless HalfOpen. The circuit closes
    /// when this reaches `half_open_max_probes`.
    pub half_open_successes: u32,
    /// The un-jittered open timeout of the current Open period (or of the next one, when not
    /// Open): the base `timeout`, grown by backoff after failed trials, reset on close.
    pub current_timeout: Duration,
    /// When the state last changed; `None` if it never did.
    pub last_changed: Option<Instant>,
    /// How many times the breaker entered Open over its lifetime (not cleared by `reset`).
    pub times_opened: u64,
}

/// The configuration after defensive normalisation: validation lives in `config`, but the
/// breaker must never panic or misbehave on values that slipped through.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Params {
    enabled: bool,
    /// ≥ 1 (0 is treated as 1).
    failure_threshold: u32,
    /// ≤ [`MAX_OPEN_TIMEOUT`].
    base_timeout: Duration,
    /// ≥ 1 (0 is treated as 1).
    max_probes: u32,
    /// ≥ 1.0 (NaN and smaller values are treated as 1.0).
    multiplier: f64,
    /// The backoff cap: `max_timeout` raised to at least `base_timeout` (a cap below the base
    /// would make backoff shrink the timeout), at most [`MAX_OPEN_TIMEOUT`].
    cap: Duration,
    /// In `[0, 1]` (NaN and negatives are treated as 0).
    jitter: f64,
}

impl Params {
    fn from_config(c: &CircuitBreakerConfig) -> Self {
        let base_timeout = c.timeout.min(MAX_OPEN_TIMEOUT);
        let multiplier = if c.timeout_multiplier >= 1.0 {
            c.timeout_multiplier
        } else {
            1.0
        };
        let jitter = if c.timeout_jitter > 0.0 {
            c.timeout_jitter.min(1.0)
        } else {
            0.0
        };
        let cap = c
            .max_timeout
            .map_or(MAX_OPEN_TIMEOUT, |m| m.max(base_timeout))
            .min(MAX_OPEN_TIMEOUT);
        Self {
            enabled: c.enabled,
            failure_threshold: c.failure_threshold.max(1),
            base_timeout,
            max_probes: c.half_open_max_probes.max(1),
            multiplier,
            cap,
            jitter,
        }
    }
}

/// Where the breaker is. Holding the deadline and the permit count inside the variants makes
/// "a deadline while not Open" and "permits while not HalfOpen" unrepresentable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    /// `in_flight + successes <= max_probes`: the budget of one half-open period.
    HalfOpen {
        in_flight: u32,
        successes: u32,
    },
}

impl Phase {
    fn state(self) -> CircuitState {
        match self {
            Phase::Closed => CircuitState::Closed,
            Phase::Open { .. } => CircuitState::Open,
            Phase::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }
}

/// The circuit breaker of one backend.
///
/// Cloning copies the jitter RNG too, so a clone draws the same timeouts as the original.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    params: Params,
    phase: Phase,
    consecutive_failures: u32,
    current_timeout: Duration,
    last_changed: Option<Instant>,
    times_opened: u64,
    rng: ChaCha8Rng,
}

impl CircuitBreaker {
    /// A closed breaker. `rng_seed` seeds the jitter RNG (ChaCha8): same seed, same timeouts.
    ///
    /// Out-of-range settings are normalised instead of rejected (validation is the config's job;
    /// the breaker must never panic): a zero threshold or probe count acts as 1, a multiplier
    /// below 1 (or NaN) as 1, a jitter outside `[0, 1]` is clamped (NaN: 0), a `max_timeout`
    /// below `timeout` acts as `timeout`, and every timeout is capped at [`MAX_OPEN_TIMEOUT`].
    pub fn new(config: &CircuitBreakerConfig, rng_seed: u64) -> Self {
        let params = Params::from_config(config);
        let breaker = Self {
            params,
            phase: Phase::Closed,
            consecutive_failures: 0,
            current_timeout: params.base_timeout,
            last_changed: None,
            times_opened: 0,
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
        };
        breaker.check_invariants();
        breaker
    }

    /// The stored state; never changes anything.
    ///
    /// An Open breaker whose deadline has passed still reads `Open` until `advance` or
    /// `try_acquire` is called: reading must not be an event.
    pub fn state(&self) -> CircuitState {
        self.phase.state()
    }

    /// The instant an Open breaker becomes HalfOpen; `None` unless Open.
    ///
    /// The monitor sleeps until this instant so the transition happens exactly on time.
    pub fn open_deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Open { until } => Some(until),
            Phase::Closed | Phase::HalfOpen { .. } => None,
        }
    }

    /// Apply deadline-driven transitions: Open → HalfOpen once `now >= deadline`.
    ///
    /// The returned transition is stamped with the deadline, not `now`, so a late caller still
    /// reports when the breaker actually became half-open.
    pub fn advance(&mut self, now: Instant) -> Option<CircuitTransition> {
        let transition = match self.phase {
            Phase::Open { until } if now >= until => Some(self.change(
                Phase::HalfOpen {
                    in_flight: 0,
                    successes: 0,
                },
                until,
            )),
            Phase::Open { .. } | Phase::Closed | Phase::HalfOpen { .. } => None,
        };
        self.check_invariants();
        transition
    }

    /// Ask to send one request (a probe or a call) at `now` (calls `advance` first). In
    /// HalfOpen, each `Allowed` uses one of the period's `half_open_max_probes` slots: the slot
    /// stays used after a success (the budget is per period) and is given back by `release`.
    ///
    /// Closed always admits (without counting: only HalfOpen limits concurrency). Open refuses
    /// with its deadline; a HalfOpen whose budget is used refuses with `until: None`.
    pub fn try_acquire(&mut self, now: Instant) -> (Admission, Option<CircuitTransition>) {
        let transition = self.advance(now);
        let admission = match self.phase {
            Phase::Closed => Admission::Allowed,
            Phase::Open { until } => Admission::Refused { until: Some(until) },
            Phase::HalfOpen {
                in_flight,
                successes,
            } if in_flight + successes < self.params.max_probes => {
                self.phase = Phase::HalfOpen {
                    in_flight: in_flight + 1,
                    successes,
                };
                Admission::Allowed
            }
            Phase::HalfOpen { .. } => Admission::Refused { until: None },
        };
        self.check_invariants();
        (admission, transition)
    }

    /// An admission of the current phase ended without a result (cancelled before it reached
    /// the backend): in HalfOpen its slot is free again; otherwise nothing changes.
    pub fn release(&mut self) {
        if let Phase::HalfOpen {
            in_flight,
            successes,
        } = self.phase
        {
            self.phase = Phase::HalfOpen {
                in_flight: in_flight.saturating_sub(1),
                successes,
            };
        }
        self.check_invariants();
    }

    /// [`try_acquire`](Self::try_acquire) for a caller whose request may outlive the phase: the
    /// admission comes as a [`Permit`] to hand back with [`complete`](Self::complete) or
    /// [`give_back`](Self::give_back). Refused: `Err(until)`, as in [`Admission::Refused`].
    pub fn acquire(
        &mut self,
        now: Instant,
    ) -> (Result<Permit, Option<Instant>>, Option<CircuitTransition>) {
        let (admission, transition) = self.try_acquire(now);
        let permit = match admission {
            Admission::Allowed => Ok(self.permit()),
            Admission::Refused { until } => Err(until),
        };
        (permit, transition)
    }

    /// The result of a permitted request: recorded as `record_success` / `record_failure` would,
    /// if the permit belongs to the current phase; a stale permit changes nothing.
    pub fn complete(
        &mut self,
        permit: Permit,
        success: bool,
        now: Instant,
    ) -> Option<CircuitTransition> {
        if permit != self.permit() {
            return None;
        }
        if success {
            self.record_success(now)
        } else {
            self.record_failure(now)
        }
    }

    /// A permitted request ended without a result: as [`release`](Self::release), if the permit
    /// belongs to the current phase.
    pub fn give_back(&mut self, permit: Permit) {
        if permit == self.permit() {
            self.release();
        }
    }

    /// The permit of the current phase: `(times_opened, state)` names a phase uniquely, since
    /// every Open period (and the HalfOpen and Closed periods after it) bumps `times_opened`.
    fn permit(&self) -> Permit {
        Permit {
            times_opened: self.times_opened,
            state: self.phase.state(),
        }
    }

    /// A request succeeded. Closed resets the failure count; in HalfOpen it counts toward the
    /// budget, and the `half_open_max_probes`-th success closes the circuit.
    ///
    /// Closing resets the failure count and the backoff. A success recorded while Open, or while
    /// HalfOpen with no permit outstanding, is stale and ignored (returns `None`).
    pub fn record_success(&mut self, now: Instant) -> Option<CircuitTransition> {
        if !self.params.enabled {
            return None;
        }
        let transition = match self.phase {
            Phase::Closed => {
                self.consecutive_failures = 0;
                None
            }
            Phase::HalfOpen {
                in_flight,
                successes,
            } if in_flight > 0 => {
                if successes + 1 < self.params.max_probes {
                    self.phase = Phase::HalfOpen {
                        in_flight: in_flight - 1,
                        successes: successes + 1,
                    };
                    None
                } else {
                    self.consecutive_failures = 0;
                    self.current_timeout = self.params.base_timeout;
                    Some(self.change(Phase::Closed, now))
                }
            }
            Phase::Open { .. } | Phase::HalfOpen { .. } => None,
        };
        self.check_invariants();
        transition
    }

    /// A probe failed. Closed counts up to the threshold → Open; HalfOpen → Open (timer restarted).
    ///
    /// The first opening lasts the base `timeout`; each re-open from HalfOpen first multiplies the
    /// current timeout by `timeout_multiplier` (capped). Either way the actual open duration is
    /// drawn from `[t, t * (1 + timeout_jitter)]`. A failure recorded while Open, or while
    /// HalfOpen with no permit outstanding, is stale and ignored (returns `None`).
    pub fn record_failure(&mut self, now: Instant) -> Option<CircuitTransition> {
        if !self.params.enabled {
            return None;
        }
        let transition = match self.phase {
            Phase::Closed => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                if self.consecutive_failures >= self.params.failure_threshold {
                    Some(self.open(now))
                } else {
                    None
                }
            }
            Phase::HalfOpen { in_flight, .. } if in_flight > 0 => {
                self.consecutive_failures = self.consecutive_failures.saturating_add(1);
                self.current_timeout = self.backed_off(self.current_timeout);
                Some(self.open(now))
            }
            Phase::Open { .. } | Phase::HalfOpen { .. } => None,
        };
        self.check_invariants();
        transition
    }

    /// Back to Closed with counters and backoff cleared (endpoint change).
    ///
    /// Returns the transition only if the state was not already Closed. `times_opened` is a
    /// lifetime statistic and survives. A disabled breaker has nothing to reset.
    pub fn reset(&mut self, now: Instant) -> Option<CircuitTransition> {
        if !self.params.enabled {
            return None;
        }
        self.consecutive_failures = 0;
        self.current_timeout = self.params.base_timeout;
        let transition = match self.phase {
            Phase::Closed => None,
            Phase::Open { .. } | Phase::HalfOpen { .. } => Some(self.change(Phase::Closed, now)),
        };
        self.check_invariants();
        transition
    }

    /// Everything observable about the breaker, at once; never changes anything.
    pub fn snapshot(&self) -> BreakerSnapshot {
        BreakerSnapshot {
            enabled: self.params.enabled,
            state: self.phase.state(),
            consecutive_failures: self.consecutive_failures,
            open_until: self.open_deadline(),
            half_open_in_flight: match self.phase {
                Phase::HalfOpen { in_flight, .. } => in_flight,
                Phase::Closed | Phase::Open { .. } => 0,
            },
            half_open_successes: match self.phase {
                Phase::HalfOpen { successes, .. } => successes,
                Phase::Closed | Phase::Open { .. } => 0,
            },
            current_timeout: self.current_timeout,
            last_changed: self.last_changed,
            times_opened: self.times_opened,
        }
    }

    /// Enter Open at `now` for the (jittered) current timeout.
    fn open(&mut self, now: Instant) -> CircuitTransition {
        let duration = self.jittered(self.current_timeout);
        // Unreachable with MAX_OPEN_TIMEOUT, but an overflow must not panic: fall back to the
        // ceiling, then to `now`.
        let until = now
            .checked_add(duration)
            .or_else(|| now.checked_add(MAX_OPEN_TIMEOUT))
            .unwrap_or(now);
        self.times_opened = self.times_opened.saturating_add(1);
        self.change(Phase::Open { until }, now)
    }

    /// Switch phase and stamp the change.
    fn change(&mut self, to: Phase, at: Instant) -> CircuitTransition {
        let from = self.phase.state();
        debug_assert_ne!(from, to.state(), "a transition must change the state");
        self.phase = to;
        self.last_changed = Some(at);
        CircuitTransition {
            from,
            to: to.state(),
            at,
        }
    }

    /// The timeout after one more failed trial: multiplied, then capped.
    fn backed_off(&self, t: Duration) -> Duration {
        // A multiplier of exactly 1 must keep `t` bit-exact, which the f64 round trip does not
        // guarantee for arbitrary nanosecond values.
        if self.params.multiplier == 1.0 {
            return t;
        }
        Duration::try_from_secs_f64(t.as_secs_f64() * self.params.multiplier)
            .unwrap_or(Duration::MAX)
            .min(self.params.cap)
    }

    /// An open duration drawn uniformly from `[t, t * (1 + jitter)]`; no draw when jitter is 0,
    /// so configurations without jitter do not consume the RNG.
    fn jittered(&mut self, t: Duration) -> Duration {
        if self.params.jitter == 0.0 {
            return t;
        }
        let u: f64 = self.rng.random(); // [0, 1)
        // `jitter * u <= jitter`, so `extra <= t * jitter` with the same rounding.
        let extra =
            Duration::try_from_secs_f64(t.as_secs_f64() * (self.params.jitter * u)).unwrap_or(t);
        t.saturating_add(extra)
    }

    /// Cheap structural invariants, checked after every mutation in debug builds.
    fn check_invariants(&self) {
        let p = &self.params;
        debug_assert!(p.failure_threshold >= 1 && p.max_probes >= 1);
        debug_assert!(
            self.current_timeout >= p.base_timeout && self.current_timeout <= p.cap,
            "current timeout {:?} outside [{:?}, {:?}]",
            self.current_timeout,
            p.base_timeout,
            p.cap
        );
        if !p.enabled {
            debug_assert_eq!(
                self.phase,
                Phase::Closed,
                "a disabled breaker never leaves Closed"
            );
            debug_assert_eq!(self.consecutive_failures, 0);
            debug_assert_eq!(self.times_opened, 0);
            debug_assert_eq!(self.last_changed, None);
        }
        match self.phase {
            Phase::Closed => debug_assert!(
                self.consecutive_failures < p.failure_threshold,
                "Closed with {} failures, threshold {}",
                self.consecutive_failures,
                p.failure_threshold
            ),
            Phase::Open { until } => {
                debug_assert!(self.times_opened >= 1);
                debug_assert!(self.consecutive_failures >= p.failure_threshold);
                debug_assert!(self.last_changed.is_some_and(|at| at <= until));
            }
            Phase::HalfOpen {
                in_flight,
                successes,
            } => {
                debug_assert!(self.times_opened >= 1);
                debug_assert!(
                    in_flight + successes <= p.max_probes && successes < p.max_probes,
                    "{in_flight} half-open probes in flight, max {}",
                    p.max_probes
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn config(threshold: u32, timeout_secs: u64) -> CircuitBreakerConfig {
        CircuitBreakerConfig {
            enabled: true,
            failure_threshold: threshold,
            timeout: Duration::from_secs(timeout_secs),
            ..CircuitBreakerConfig::default()
        }
    }

    /// An arbitrary origin; the breaker never reads the clock itself.
    fn t0() -> Instant {
        crate::clock::monotonic_now()
    }

    /// Drive a fresh breaker into Open at `at` and return its deadline.
    fn open_at(b: &mut CircuitBreaker, at: Instant) -> Instant {
        let threshold = b.params.failure_threshold;
        for _ in 1..threshold {
            assert_eq!(b.record_failure(at), None);
        }
        let tr = b.record_failure(at).expect("opens at the threshold");
        assert_eq!(
            (tr.from, tr.to, tr.at),
            (CircuitState::Closed, CircuitState::Open, at)
        );
        b.open_deadline().expect("open has a deadline")
    }

    #[test]
    fn new_breaker_is_closed_and_admits() {
        let now = t0();
        let mut b = CircuitBreaker::new(&config(3, 60), 1);
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.open_deadline(), None);
        assert_eq!(b.try_acquire(now), (Admission::Allowed, None));
        let s = b.snapshot();
        assert!(s.enabled);
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.current_timeout, 60 * SEC);
        assert_eq!(s.last_changed, None);
        assert_eq!(s.times_opened, 0);
    }

    #[test]
    fn opens_exactly_at_the_failure_threshold() {
        let now = t0();
        let mut b = CircuitBreaker::new(&config(3, 60), 1);
        assert_eq!(b.record_failure(now), None);
        assert_eq!(b.record_failure(now), None);
        assert_eq!(b.state(), CircuitState::Closed);
        assert_eq!(b.snapshot().consecutive_failures, 2);
        let tr = b.record_failure(now).unwrap();
        assert_eq!(
            tr,
            CircuitTransition {
                from: CircuitState::Closed,
                to: CircuitState::Open,
                at: now
            }
        );
        let s = b.snapshot();
        assert_eq!(s.state, CircuitState::Open);
        assert_eq!(s.open_until, Some(now + 60 * SEC));
        assert_eq!(s.last_changed, Some(now));
        assert_eq!(s.times_opened, 1);
        assert_eq!(s.consecutive_failures, 3);
    }

    #[test]
    fn success_in_closed_resets_the_count() {
        let now = t0();
        let mut b = CircuitBreaker::new(&config(3, 60), 1);
        b.record_failure(now);
        b.record_failure(now);
        assert_eq!(b.record_success(now), None);
        assert_eq!(b.snapshot().consecutive_failures, 0);
        b.record_failure(now);
        b.record_failure(now);
        assert_eq!(
            b.state(),
            CircuitState::Closed,
            "the count restarted after the success"
        );
        assert!(b.record_failure(now).is_some());
    }

    #[test]
    fn open_refuses_before_the_deadline_and_admits_exactly_at_it() {
        let now = t0();
        let mut b = CircuitBreaker::new(&config(1, 60), 1);
        let deadline = open_at(&mut b, now);
        assert_eq!(deadline, now + 60 * SEC);
        let just_before = deadline - Duration::from_nanos(1);
        assert_eq!(b.advance(just_before), None);
        assert_eq!(
            b.try_acquire(just_before),
            (
                Admission::Refused {
                    until: Some(deadline)
                },
                None
            )
        );
        assert_eq!(b.state(), CircuitState::Open);
        let (admission, tr) = b.try_acquire(deadline);
        assert_eq!(admission, Admission::Allowed);
        assert_eq!(
            tr,
            Some(CircuitTransition {
                from: CircuitState::Open,
                to: CircuitState::HalfOpen,
                at: deadline
            })
        );
        assert_eq!(b.snapshot().half_open_in_flight, 1);
    }

    #[test]
    fn late_advance_stamps_the_deadline_not_now() {
        let now = t0();
        let mut b = CircuitBreaker::new(&config(1, 60), 1);
        let deadline = open_at(&mut b, now);
        let late = deadline + 5 * SEC;
        let tr = b.advance(late).unwrap();
        assert_eq!(tr.at, deadline);
        assert_eq!(b.snapshot().last_changed, Some(deadline));
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert_eq!(b.advance(late), None, "advance is idempotent");
    }

    #[test]
    fn reading_never_changes_the_state_even_past_the_deadline() {
        let now = t0();
        let mut b = CircuitBreaker::new(&config(1, 60), 1);
        let deadline = open_at(&mut b, now);
        let before = b.snapshot();
        // Reads take no `now`: even long after the deadline they report the stored state, and
        // only advance() performs the transition.
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.open_deadline(), Some(deadline));
        assert_eq!(b.snapshot(), before);
        assert_eq!(b.snapshot(), before);
        assert!(b.advance(deadline + 100 * SEC).is_some());
        assert_eq!(b.state(), CircuitState::HalfOpen);
    }

    #[test]
    fn half_open_admits_at_most_max_probes() {
        let now = t0();
        let mut b = CircuitBreaker::new(
            &CircuitBreakerConfig {
                half_open_max_probes: 2,
                ..config(1, 10)
            },
            1,
        );
        let deadline = open_at(&mut b, now);
        assert_eq!(b.try_acquire(deadline).0, Admission::Allowed);
        assert_eq!(b.try_acquire(deadline).0, Admission::Allowed);
        assert_eq!(
            b.try_acquire(deadline),
            (Admission::Refused { until: None }, None)
        );
        assert_eq!(b.snapshot().half_open_in_flight, 2);
        // Time does not free a slot; a result does (and decides the trial).
        assert_eq!(
            b.try_acquire(deadline + 1000 * SEC).0,
            Admission::Refused { until: None }
        );
    }

    #[test]
    fn half_open_success_closes_and_resets_counters_and_backoff() {
        let now = t0();
        let mut b = CircuitBreaker::new(
            &CircuitBreakerConfig {
                timeout_multiplier: 2.0,
                ..config(2, 10)
            },
            1,
        );
        let d1 = open_at(&mut b, now);
        b.try_acquire(d1);
        b.record_failure(d1); // re-open with 20 s
        assert_eq!(b.snapshot().current_timeout, 20 * SEC);
        let d2 = b.open_deadline().unwrap();
        b.try_acquire(d2);
        let tr = b.record_success(d2 + SEC).unwrap();
        assert_eq!(
            tr,
            CircuitTransition {
                from: CircuitState::HalfOpen,
                to: CircuitState::Closed,
                at: d2 + SEC
            }
        );
        let s = b.snapshot();
        assert_eq!(s.state, CircuitState::Closed);
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.half_open_in_flight, 0);
        assert_eq!(s.current_timeout, 10 * SEC, "backoff reset on close");
        assert_eq!(s.times_opened, 2);
        // The next opening needs the full threshold again and uses the base timeout.
        let later = d2 + 100 * SEC;
        assert_eq!(b.record_failure(later), None);
        assert!(b.record_failure(later).is_some());
        assert_eq!(b.open_deadline(), Some(later + 10 * SEC));
    }

    #[test]
    fn half_open_failure_reopens_with_backoff_capped_at_max_timeout() {
        let now = t0();
        let mut b = CircuitBreaker::new(
            &CircuitBreakerConfig {
                timeout_multiplier: 3.0,
                max_timeout: Some(50 * SEC),
                ..config(1, 10)
            },
            1,
        );
        let mut deadline = open_at(&mut b, now);
        assert_eq!(
            deadline,
            now + 10 * SEC,
            "the first opening uses the base timeout"
        );
        for expected in [30, 50, 50] {
            b.try_acquire(deadline);
            let failed_at = deadline + SEC;
            let tr = b.record_failure(failed_at).unwrap();
            assert_eq!(
                (tr.from, tr.to, tr.at),
                (CircuitState::HalfOpen, CircuitState::Open, failed_at)
            );
            assert_eq!(b.snapshot().current_timeout, expected * SEC);
            deadline = b.open_deadline().unwrap();
            assert_eq!(
                deadline,
                failed_at + expected * SEC,
                "timer restarted from the failure"
            );
        }
        assert_eq!(b.snapshot().times_opened, 4);
    }

    #[test]
    fn max_timeout_below_timeout_acts_as_timeout() {
        let now = t0();
        let mut b = CircuitBreaker::new(
            &CircuitBreakerConfig {
                timeout_multiplier: 2.0,
                max_timeout: Some(SEC),
                ..config(1, 10)
            },
            1,
        );
        let d = open_at(&mut b, now);
        assert_eq!(d, now + 10 * SEC);
        b.try_acquire(d);
        b.record_failure(d);
        assert_eq!(b.snapshot().current_timeout, 10 * SEC);
    }

    #[test]
    fn unbounded_backoff_saturates_without_panicking() {
        let now = t0();
        let mut b = CircuitBreaker::new(
            &CircuitBreakerConfig {
                timeout_multiplier: f64::INFINITY,
                ..config(1, 10)
            },
            1,
        );
        let d = open_at(&mut b, now);
        b.try_acquire(d);
        b.record_failure(d);
        assert_eq!(b.snapshot().current_timeout, MAX_OPEN_TIMEOUT);
        assert_eq!(b.open_deadline(), Some(d + MAX_OPEN_TIMEOUT));
        // The ceiling is the documented 30 years (tokio's "far future"), not merely some cap.
        assert_eq!(MAX_OPEN_TIMEOUT, Duration::from_secs(30 * 365 * 86_400));
    }

    fn jittered_deadlines(seed: u64, n: usize) -> Vec<Duration> {
        let now = t0();
        let mut b = CircuitBreaker::new(
            &CircuitBreakerConfig {
                timeout_jitter: 0.5,
                ..config(1, 10)
            },
            seed,
        );
        let mut out = Vec::new();
        let mut opened_at = now;
        let mut deadline = open_at(&mut b, now);
        for _ in 0..n {
            out.push(deadline - opened_at);
            b.try_acquire(deadline);
            opened_at = deadline;
            b.record_failure(opened_at);
            deadline = b.open_deadline().unwrap();
        }
        out
    }

    #[test]
    fn jitter_stays_in_range_and_is_determined_by_the_seed() {
        let a = jittered_deadlines(7, 50);
        for d in &a {
            assert!(
                *d >= 10 * SEC && *d <= 15 * SEC,
                "{d:?} outside [10 s, 15 s]"
            );
        }
        assert!(a.iter().any(|d| *d != a[0]), "jitter actually varies");
        assert_eq!(a, jittered_deadlines(7, 50), "same seed, same sequence");
        assert_ne!(
            a,
            jittered_deadlines(8, 50),
            "another seed, another sequence"
        );
    }

    #[test]
    fn zero_jitter_is_exact_and_draws_nothing() {
        let now = t0();
        let mut b = CircuitBreaker::new(&config(1, 10), 1);
        let rng_before = b.rng.clone();
        let d = open_at(&mut b, now);
        assert_eq!(d, now + 10 * SEC);
        assert_eq!(b.rng, rng_before, "no draw without jitter");
    }

    #[test]
    fn disabled_breaker_is_inert() {
        let now = t0();
        let mut b = CircuitBreaker::new(
            &CircuitBreakerConfig {
                enabled: false,
                ..config(1, 10)
            },
            1,
        );
        for i in 0..10 {
            let at = now + i * SEC;
            assert_eq!(b.record_failure(at), None);
            assert_eq!(b.try_acquire(at), (Admission::Allowed, None));
            assert_eq!(b.advance(at), None);
        }
        assert_eq!(b.record_success(now), None);
        assert_eq!(b.reset(now), None);
        let s = b.snapshot();
        assert!(!s.enabled);
        assert_eq!(s.state, CircuitState::Closed);
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.times_opened, 0);
        assert_eq!(s.last_changed, None);
    }

    #[test]
    fn reset_closes_and_clears_and_reports_only_real_changes() {
        let now = t0();
        let mut b = CircuitBreaker::new(
            &CircuitBreakerConfig {
                timeout_multiplier: 2.0,
                ..config(2, 10)
            },
            1,
        );
        b.record_failure(now);
        assert_eq!(b.reset(now), None, "Closed stays Closed: no transition");
        assert_eq!(b.snapshot().consecutive_failures, 0);
        let d = open_at(&mut b, now);
        b.try_acquire(d);
        b.record_failure(d);
        assert_eq!(b.snapshot().current_timeout, 20 * SEC);
        let at = d + SEC;
        assert_eq!(
            b.reset(at),
            Some(CircuitTransition {
                from: CircuitState::Open,
                to: CircuitState::Closed,
                at
            })
        );
        let s = b.snapshot();
        assert_eq!(s.state, CircuitState::Closed);
        assert_eq!(s.consecutive_failures, 0);
        assert_eq!(s.current_timeout, 10 * SEC);
        assert_eq!(s.open_until, None);
        assert_eq!(s.times_opened, 2, "lifetime statistic survives reset");
        // HalfOpen resets too, and its permits are gone.
        let d = open_at(&mut b, at);
        b.try_acquire(d);
        assert_eq!(b.reset(d).map(|t| t.from), Some(CircuitState::HalfOpen));
        assert_eq!(b.snapshot().half_open_in_flight, 0);
    }

    #[test]
    fn zero_threshold_and_zero_probes_act_as_one() {
        let now = t0();
        let mut b = CircuitBreaker::new(
            &CircuitBreakerConfig {
                half_open_max_probes: 0,
                ..config(0, 10)
            },
            1,
        );
        assert_eq!(
            b.state(),
            CircuitState::Closed,
            "threshold 0 does not open spontaneously"
        );
        let d = open_at(&mut b, now);
        assert_eq!(b.snapshot().consecutive_failures, 1);
        assert_eq!(b.try_acquire(d).0, Admission::Allowed);
        assert_eq!(b.try_acquire(d).0, Admission::Refused { until: None });
    }

    #[test]
    fn stale_results_do_not_decide_anything() {
        let now = t0();
        let mut b = CircuitBreaker::new(&config(1, 10), 1);
        let d = open_at(&mut b, now);
        let open = b.snapshot();
        assert_eq!(b.record_success(now + SEC), None, "Open ignores a success");
        assert_eq!(b.record_failure(now + SEC), None, "Open ignores a failure");
        assert_eq!(b.snapshot(), open);
        // HalfOpen without an outstanding permit: the result belongs to no trial.
        b.advance(d);
        let half_open = b.snapshot();
        assert_eq!(b.record_success(d), None);
        assert_eq!(b.record_failure(d), None);
        assert_eq!(b.snapshot(), half_open);
    }

    #[test]
    fn record_does_not_apply_the_deadline() {
        let now = t0();
        let mut b = CircuitBreaker::new(&config(1, 10), 1);
        let d = open_at(&mut b, now);
        assert_eq!(b.record_failure(d + SEC), None);
        assert_eq!(b.state(), CircuitState::Open);
        assert_eq!(b.open_deadline(), Some(d));
    }

    /// `complete` records a result of the current phase and ignores a stale permit.
    #[test]
    fn permits_of_the_current_phase_count_and_stale_ones_do_not() {
        let now = t0();
        let mut b = CircuitBreaker::new(&config(1, 10), 1);
        let closed = b.acquire(now).0.expect("closed admits");
        let stale = b.acquire(now).0.expect("closed admits");
        let tr = b
            .complete(closed, false, now)
            .expect("the failure opens at threshold 1");
        assert_eq!((tr.from, tr.to), (CircuitState::Closed, CircuitState::Open));
        // The other permit belongs to the Closed phase that ended: nothing changes.
        assert_eq!(b.complete(stale, true, now), None);
        assert_eq!(b.state(), CircuitState::Open);
        let later = now + 10 * SEC;
        let (trial, tr) = b.acquire(later);
        assert_eq!(tr.map(|t| t.to), Some(CircuitState::HalfOpen));
        let trial = trial.expect("half-open admits a trial");
        let tr = b.complete(trial, true, later).expect("the trial closes it");
        assert_eq!(
            (tr.from, tr.to),
            (CircuitState::HalfOpen, CircuitState::Closed)
        );
    }

    /// With `half_open_max_probes = 2` the second trial success closes, not the first; a trial
    /// that already succeeded still uses its share of the budget, so one success and one trial
    /// in flight admit no third probe.
    #[test]
    fn the_last_of_the_half_open_budget_closes() {
        let now = t0();
        let mut b = CircuitBreaker::new(
            &CircuitBreakerConfig {
                half_open_max_probes: 2,
                ..config(1, 10)
            },
            1,
        );
        let deadline = open_at(&mut b, now);
        let (first, _) = b.acquire(deadline);
        let (second, _) = b.acquire(deadline);
        assert_eq!(b.complete(first.unwrap(), true, deadline), None);
        assert_eq!(b.state(), CircuitState::HalfOpen);
        assert_eq!(
            b.try_acquire(deadline),
            (Admission::Refused { until: None }, None)
        );
        let tr = b.complete(second.unwrap(), true, deadline).expect("closes");
        assert_eq!(
            (tr.from, tr.to),
            (CircuitState::HalfOpen, CircuitState::Closed)
        );
    }

    /// The invariant check is itself tested: each corrupted state below is one a bug in the
    /// transitions could produce, and the check must stop on it (debug builds, where it runs).
    #[cfg(debug_assertions)]
    #[test]
    fn check_invariants_stops_on_corrupted_states() {
        type Corruption = (&'static str, fn(&mut CircuitBreaker));
        let corruptions: [Corruption; 5] = [
            ("timeout above the cap", |b| {
                b.current_timeout = b.params.cap + SEC
            }),
            ("Closed at the threshold", |b| {
                b.consecutive_failures = b.params.failure_threshold
            }),
            ("Open never opened", |b| {
                b.phase = Phase::Open { until: t0() };
                b.consecutive_failures = b.params.failure_threshold;
            }),
            ("half-open over budget", |b| {
                b.times_opened = 1;
                b.phase = Phase::HalfOpen {
                    in_flight: b.params.max_probes + 1,
                    successes: 0,
                };
            }),
            ("disabled but opened", |b| {
                b.params.enabled = false;
                b.times_opened = 1;
            }),
        ];
        for (what, corrupt) in corruptions {
            let mut b = CircuitBreaker::new(&config(3, 10), 1);
            b.check_invariants();
            corrupt(&mut b);
            let caught =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.check_invariants()));
            assert!(caught.is_err(), "check_invariants accepted: {what}");
        }
    }
}
