//! One probe task per backend (DESIGN §3.3, "Monitor").
//!
//! SKELETON: the API contract below is final; bodies are delivered by the monitor work.
#![allow(dead_code, unused_variables, missing_docs)]

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::clock::{SharedClock, Timestamp};
use crate::config::FailureHandling;
use crate::health::breaker::{BreakerSnapshot, CircuitTransition};
use crate::health::tracker::{HealthState, StatusChange};
use crate::health::{CircuitState, ProbeOutcome};
use crate::registry::Backend;

/// Runs one probe (a full MCP session) against a backend. The real implementation is the HTTP
/// client; tests and the simulation may script it.
pub trait Probe: Send + Sync + 'static {
    /// Probe `backend` once. The monitor also bounds the call with `health_check_timeout`.
    fn probe(&self, backend: &Backend) -> impl Future<Output = ProbeOutcome> + Send;
    /// The backend's endpoint changed (new generation): drop its connections.
    fn endpoint_changed(&self, backend: &Backend) {
        let _ = backend;
    }
    /// The backend was removed: drop everything held for it.
    fn backend_removed(&self, name: &str) {
        let _ = name;
    }
}

/// What the monitor tells its observer, in order. The observer stamps time itself.
#[derive(Clone, Debug, PartialEq)]
pub enum MonitorEvent {
    ProbeStarted {
        backend: String,
        generation: u64,
    },
    ProbeFinished {
        backend: String,
        generation: u64,
        outcome: ProbeOutcome,
    },
    /// No probe call was made: the breaker refused it.
    ProbeSkipped {
        backend: String,
        generation: u64,
        circuit: CircuitState,
        until: Option<Instant>,
    },
    StatusChanged {
        backend: String,
        change: StatusChange,
    },
    CircuitChanged {
        backend: String,
        transition: CircuitTransition,
    },
    BackendAdded {
        backend: String,
    },
    BackendRemoved {
        backend: String,
    },
    EndpointChanged {
        backend: String,
        generation: u64,
    },
}

/// Receives monitor events synchronously, in the order they happen.
pub trait MonitorObserver: Send + Sync {
    fn on_event(&self, event: &MonitorEvent);
}

/// The monitor's view of one backend, read by the status reporter.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendHealth {
    pub backend: Backend,
    pub health: HealthState,
    pub circuit: BreakerSnapshot,
    pub circuit_last_changed: Option<Timestamp>,
    pub probes_started: u64,
    pub probes_skipped: u64,
    pub generation: u64,
}

/// Health of every monitored backend, keyed and ordered by name.
pub type HealthSnapshot = BTreeMap<String, BackendHealth>;

/// The running monitor.
pub struct HealthMonitor {
    _private: (),
}

impl HealthMonitor {
    /// Start probing `backends`. `rng_seed` seeds breaker jitter and initial jitter.
    pub fn start<P: Probe>(
        config: FailureHandling,
        probe: Arc<P>,
        clock: SharedClock,
        observer: Option<Arc<dyn MonitorObserver>>,
        rng_seed: u64,
        backends: Vec<Backend>,
    ) -> Self {
        unimplemented!("monitor work")
    }
    /// Add, remove, and restart (endpoint change) backends to match `backends`.
    pub fn update_backends(&self, backends: &[Backend]) {
        unimplemented!("monitor work")
    }
    pub fn snapshot(&self) -> HealthSnapshot {
        unimplemented!("monitor work")
    }
    /// Bumped on every status or circuit transition and backend add/remove.
    pub fn changes(&self) -> watch::Receiver<u64> {
        unimplemented!("monitor work")
    }
    /// Resolves once every backend has a first result or `max_wait` passed.
    pub async fn initial_probes_done(&self, max_wait: Duration) {
        unimplemented!("monitor work")
    }
    /// Cancel every task and wait for them to finish.
    pub async fn stop(self) {
        unimplemented!("monitor work")
    }
}
