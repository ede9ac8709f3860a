//! The per-backend circuit breaker (DESIGN §3.3): a pure state machine, time passed in.
//!
//! SKELETON: the API contract below is final; bodies are delivered by the breaker work.
#![allow(dead_code, unused_variables, missing_docs)]

use std::time::Duration;

use tokio::time::Instant;

use crate::config::CircuitBreakerConfig;
use crate::health::CircuitState;

/// A state change of the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CircuitTransition {
    pub from: CircuitState,
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
    Refused { until: Option<Instant> },
}

/// A read-only view of the breaker.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerSnapshot {
    pub enabled: bool,
    pub state: CircuitState,
    pub consecutive_failures: u32,
    pub open_until: Option<Instant>,
    pub half_open_in_flight: u32,
    pub current_timeout: Duration,
    pub last_changed: Option<Instant>,
    pub times_opened: u64,
}

/// The circuit breaker of one backend.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    config: CircuitBreakerConfig,
}

impl CircuitBreaker {
    /// A closed breaker. `rng_seed` seeds the jitter RNG (ChaCha8): same seed, same timeouts.
    pub fn new(config: &CircuitBreakerConfig, rng_seed: u64) -> Self {
        unimplemented!("breaker work")
    }
    /// The stored state; never changes anything.
    pub fn state(&self) -> CircuitState {
        unimplemented!("breaker work")
    }
    /// The instant an Open breaker becomes HalfOpen; `None` unless Open.
    pub fn open_deadline(&self) -> Option<Instant> {
        unimplemented!("breaker work")
    }
    /// Apply deadline-driven transitions: Open → HalfOpen once `now >= deadline`.
    pub fn advance(&mut self, now: Instant) -> Option<CircuitTransition> {
        unimplemented!("breaker work")
    }
    /// Ask to run a probe at `now` (calls `advance` first). In HalfOpen, each `Allowed` takes one
    /// of `half_open_max_probes` slots until its result is recorded.
    pub fn try_acquire(&mut self, now: Instant) -> (Admission, Option<CircuitTransition>) {
        unimplemented!("breaker work")
    }
    /// A probe succeeded. HalfOpen → Closed; Closed resets the failure count.
    pub fn record_success(&mut self, now: Instant) -> Option<CircuitTransition> {
        unimplemented!("breaker work")
    }
    /// A probe failed. Closed counts up to the threshold → Open; HalfOpen → Open (timer restarted).
    pub fn record_failure(&mut self, now: Instant) -> Option<CircuitTransition> {
        unimplemented!("breaker work")
    }
    /// Back to Closed with counters and backoff cleared (endpoint change).
    pub fn reset(&mut self, now: Instant) -> Option<CircuitTransition> {
        unimplemented!("breaker work")
    }
    pub fn snapshot(&self) -> BreakerSnapshot {
        unimplemented!("breaker work")
    }
}
