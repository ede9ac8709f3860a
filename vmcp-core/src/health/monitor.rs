//! One probe task per backend (DESIGN §3.3, "Monitor").
//!
//! Each backend gets a task that probes it on a fixed grid (`start + k × interval`), never two
//! probes at once, asks the circuit breaker before every probe (skipping it entirely while the
//! circuit is Open) and wakes at the breaker's deadline so that the half-open trial probe runs
//! exactly when the open timeout elapses. Results go through the breaker and then the tracker;
//! the merged view lives in one ordered map that reporters read with [`HealthMonitor::snapshot`].
//!
//! The tracker and breaker of a backend live in that shared map rather than in the task, so an
//! endpoint change (new task, new generation) keeps the status history, and a late result from
//! a cancelled task is recognised by its stale generation and dropped.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::clock::{SharedClock, Timestamp};
use crate::config::FailureHandling;
use crate::health::breaker::{Admission, BreakerSnapshot, CircuitBreaker, CircuitTransition};
use crate::health::tracker::{HealthState, HealthTracker, StatusChange, TrackerConfig};
use crate::health::{CircuitState, ErrorCategory, FailureStatus, ProbeFailure, ProbeOutcome};
use crate::registry::{Backend, DynamicRegistry};

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
    /// The monitor cut a probe of `backend` at `health_check_timeout` (the probe's own deadline
    /// did not end it first): treat it as a failed probe, e.g. drop pooled connections.
    fn probe_abandoned(&self, backend: &Backend) {
        let _ = backend;
    }
}

/// What the monitor tells its observer, in the order it happens. The observer stamps time
/// itself (the simulation uses simulated time), so events carry no clock readings.
#[derive(Clone, Debug, PartialEq)]
pub enum MonitorEvent {
    /// A probe call is about to be made.
    ProbeStarted {
        /// Backend name.
        backend: String,
        /// Endpoint generation the probe belongs to.
        generation: u64,
    },
    /// A probe call returned (or hit `health_check_timeout`).
    ProbeFinished {
        /// Backend name.
        backend: String,
        /// Endpoint generation the probe belongs to.
        generation: u64,
        /// The classified result.
        outcome: ProbeOutcome,
    },
    /// No probe call was made: the breaker refused it.
    ProbeSkipped {
        /// Backend name.
        backend: String,
        /// Endpoint generation.
        generation: u64,
        /// The breaker state that refused.
        circuit: CircuitState,
        /// When the breaker will admit a probe again, if known.
        until: Option<Instant>,
    },
    /// The published (status, reason) changed.
    StatusChanged {
        /// Backend name.
        backend: String,
        /// Old and new status.
        change: StatusChange,
    },
    /// The circuit breaker changed state.
    CircuitChanged {
        /// Backend name.
        backend: String,
        /// The transition.
        transition: CircuitTransition,
    },
    /// A backend started being monitored.
    BackendAdded {
        /// Backend name.
        backend: String,
    },
    /// A backend stopped being monitored; its state is gone.
    BackendRemoved {
        /// Backend name.
        backend: String,
    },
    /// A backend's URL or credentials changed: a new task and generation, breaker reset.
    EndpointChanged {
        /// Backend name.
        backend: String,
        /// The new generation.
        generation: u64,
    },
}

/// Receives monitor events synchronously, in the order they happen.
pub trait MonitorObserver: Send + Sync {
    /// Called for every event, outside any monitor lock.
    fn on_event(&self, event: &MonitorEvent);
}

/// The monitor's view of one backend, read by the status reporter.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendHealth {
    /// The backend as currently configured.
    pub backend: Backend,
    /// Tracker state: status, reason, counters, last error.
    pub health: HealthState,
    /// Breaker state.
    pub circuit: BreakerSnapshot,
    /// Wall-clock time of the last breaker transition (injected clock).
    pub circuit_last_changed: Option<Timestamp>,
    /// Probe calls made since the backend was added.
    pub probes_started: u64,
    /// Probes skipped because the breaker refused them.
    pub probes_skipped: u64,
    /// Endpoint generation: bumped on every URL/credential change.
    pub generation: u64,
}

/// Health of every monitored backend, keyed and ordered by name.
pub type HealthSnapshot = BTreeMap<String, BackendHealth>;

/// Mutable per-backend state, shared by the backend's task and the monitor handle.
struct Cell {
    backend: Backend,
    generation: u64,
    tracker: HealthTracker,
    breaker: CircuitBreaker,
    circuit_last_changed: Option<Timestamp>,
    probes_started: u64,
    probes_skipped: u64,
}

impl Cell {
    fn view(&self) -> BackendHealth {
        BackendHealth {
            backend: self.backend.clone(),
            health: self.tracker.state().clone(),
            circuit: self.breaker.snapshot(),
            circuit_last_changed: self.circuit_last_changed,
            probes_started: self.probes_started,
            probes_skipped: self.probes_skipped,
            generation: self.generation,
        }
    }
}

/// State shared by the handle and all tasks.
struct Shared {
    config: FailureHandling,
    clock: SharedClock,
    observer: Option<Arc<dyn MonitorObserver>>,
    rng_seed: u64,
    cells: Mutex<BTreeMap<String, Cell>>,
    /// Bumped on every status/circuit transition and backend add/remove/change.
    changes: watch::Sender<u64>,
    /// Bumped after every finished or skipped probe (for `initial_probes_done`).
    progress: watch::Sender<u64>,
    /// The registry the monitor follows, if any ([`HealthMonitor::follow_registry`]): a probe
    /// is only started on an endpoint the registry still holds.
    registry: Mutex<Option<Arc<DynamicRegistry>>>,
}

impl Shared {
    /// Lock the cells. A poisoned lock only means another task panicked mid-update; the map
    /// itself stays structurally valid, so keep going rather than cascade the panic.
    fn cells(&self) -> MutexGuard<'_, BTreeMap<String, Cell>> {
        self.cells
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn emit(&self, events: &[MonitorEvent]) {
        if let Some(observer) = &self.observer {
            for event in events {
                observer.on_event(event);
            }
        }
    }

    fn bump(sender: &watch::Sender<u64>) {
        sender.send_modify(|v| *v = v.wrapping_add(1));
    }
}

/// The running monitor.
pub struct HealthMonitor {
    shared: Arc<Shared>,
    tasks: Mutex<BTreeMap<String, JoinHandle<()>>>,
    spawner: Spawner,
    hooks: Arc<dyn ProbeHooks>,
}

/// Spawns the probe task of one backend generation; erases the probe type from the handle.
type Spawner = Box<dyn Fn(&Arc<Shared>, String, u64) -> JoinHandle<()> + Send + Sync>;

/// The object-safe part of [`Probe`], so the monitor handle need not be generic.
trait ProbeHooks: Send + Sync {
    fn endpoint_changed(&self, backend: &Backend);
    fn backend_removed(&self, name: &str);
}

impl<P: Probe> ProbeHooks for P {
    fn endpoint_changed(&self, backend: &Backend) {
        Probe::endpoint_changed(self, backend);
    }
    fn backend_removed(&self, name: &str) {
        Probe::backend_removed(self, name);
    }
}

impl std::fmt::Debug for HealthMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthMonitor")
            .field("backends", &self.shared.cells().keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl HealthMonitor {
    /// Start probing `backends` on the current tokio runtime. `rng_seed` seeds breaker jitter
    /// and initial jitter, per backend (mixed with the backend's name), so that adding a backend
    /// does not change the random draws of the others.
    pub fn start<P: Probe>(
        config: FailureHandling,
        probe: Arc<P>,
        clock: SharedClock,
        observer: Option<Arc<dyn MonitorObserver>>,
        rng_seed: u64,
        backends: Vec<Backend>,
    ) -> Self {
        let (changes, _) = watch::channel(0);
        let (progress, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            config,
            clock,
            observer,
            rng_seed,
            cells: Mutex::new(BTreeMap::new()),
            changes,
            progress,
            registry: Mutex::new(None),
        });
        let hooks: Arc<dyn ProbeHooks> = probe.clone();
        let spawner = Box::new(move |shared: &Arc<Shared>, name: String, generation: u64| {
            tokio::spawn(backend_task(
                Arc::clone(shared),
                Arc::clone(&probe),
                name,
                generation,
            ))
        });
        let monitor = Self {
            shared,
            tasks: Mutex::new(BTreeMap::new()),
            spawner,
            hooks,
        };
        monitor.update_backends(&backends);
        monitor
    }

    fn tasks(&self) -> MutexGuard<'_, BTreeMap<String, JoinHandle<()>>> {
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Add, remove, and restart (endpoint change) backends to match `backends`.
    ///
    /// Added backends are probed immediately. Removed ones have their task cancelled and their
    /// state dropped; a result that was in flight is ignored. A backend whose URL or credentials
    /// changed keeps its status history, gets a reset breaker and a new task that probes the new
    /// endpoint immediately.
    pub fn update_backends(&self, backends: &[Backend]) {
        let wanted: BTreeMap<&str, &Backend> =
            backends.iter().map(|b| (b.name.as_str(), b)).collect();
        let mut events = Vec::new();
        let mut to_spawn = Vec::new();
        let mut to_abort = Vec::new();
        let mut removed = Vec::new();
        let mut changed = Vec::new();
        {
            let mut cells = self.shared.cells();
            let now = crate::clock::monotonic_now();
            let at = self.shared.clock.now();
            let gone: Vec<String> = cells
                .keys()
                .filter(|n| !wanted.contains_key(n.as_str()))
                .cloned()
                .collect();
            for name in gone {
                cells.remove(&name);
                to_abort.push(name.clone());
                removed.push(name.clone());
                events.push(MonitorEvent::BackendRemoved { backend: name });
            }
            for (name, backend) in &wanted {
                match cells.get_mut(*name) {
                    None => {
                        let seed = backend_seed(self.shared.rng_seed, name);
                        let cell = Cell {
                            backend: (*backend).clone(),
                            generation: 0,
                            tracker: HealthTracker::new(TrackerConfig::from(&self.shared.config)),
                            breaker: CircuitBreaker::new(&self.shared.config.circuit_breaker, seed),
                            circuit_last_changed: None,
                            probes_started: 0,
                            probes_skipped: 0,
                        };
                        cells.insert((*name).to_owned(), cell);
                        events.push(MonitorEvent::BackendAdded {
                            backend: (*name).to_owned(),
                        });
                        to_spawn.push(((*name).to_owned(), 0));
                    }
                    Some(cell) if cell.backend.endpoint_differs(backend) => {
                        cell.backend = (*backend).clone();
                        cell.generation += 1;
                        events.push(MonitorEvent::EndpointChanged {
                            backend: (*name).to_owned(),
                            generation: cell.generation,
                        });
                        if let Some(transition) = cell.breaker.reset(now) {
                            cell.circuit_last_changed = Some(at);
                            events.push(MonitorEvent::CircuitChanged {
                                backend: (*name).to_owned(),
                                transition,
                            });
                            if let Some(change) =
                                cell.tracker.circuit_changed(CircuitState::Closed, at)
                            {
                                events.push(MonitorEvent::StatusChanged {
                                    backend: (*name).to_owned(),
                                    change,
                                });
                            }
                        }
                        to_abort.push((*name).to_owned());
                        to_spawn.push(((*name).to_owned(), cell.generation));
                        changed.push((*backend).clone());
                    }
                    Some(cell) => {
                        // Same endpoint; keep non-endpoint fields (none today) in sync.
                        cell.backend = (*backend).clone();
                    }
                }
            }
        }
        {
            let mut tasks = self.tasks();
            for name in &to_abort {
                if let Some(handle) = tasks.remove(name) {
                    handle.abort();
                }
            }
            for (name, generation) in to_spawn {
                let handle = (self.spawner)(&self.shared, name.clone(), generation);
                tasks.insert(name, handle);
            }
        }
        // The probe drops connections after the old tasks were cancelled, so no old-generation
        // probe can repopulate a pool afterwards.
        for name in &removed {
            self.hooks.backend_removed(name);
        }
        for backend in &changed {
            self.hooks.endpoint_changed(backend);
        }
        if !events.is_empty() {
            Shared::bump(&self.shared.changes);
            Shared::bump(&self.shared.progress);
        }
        self.shared.emit(&events);
    }

    /// Follow `registry`: from now on a probe only starts while the registry still holds the
    /// backend with the endpoint being probed. A registry change takes effect at its instant
    /// (DESIGN §3.4): until `update_backends` brings the change in (the reporting loop does at
    /// once, but possibly after a probe tick of the same instant), a due probe of a removed or
    /// re-pointed backend is held back instead of reaching the old endpoint.
    pub fn follow_registry(&self, registry: Arc<DynamicRegistry>) {
        *self
            .shared
            .registry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(registry);
    }

    /// The health of every monitored backend, ordered by name.
    pub fn snapshot(&self) -> HealthSnapshot {
        self.shared
            .cells()
            .iter()
            .map(|(name, cell)| (name.clone(), cell.view()))
            .collect()
    }

    /// A receiver bumped on every status or circuit transition and backend add/remove/change.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// Resolves once every monitored backend has a first result (a finished or skipped probe),
    /// or `max_wait` passed, whichever is first. A hanging backend cannot block it past
    /// `max_wait`.
    pub async fn initial_probes_done(&self, max_wait: Duration) {
        let mut progress = self.shared.progress.subscribe();
        let all_done = async {
            loop {
                let done = self
                    .shared
                    .cells()
                    .values()
                    .all(|c| c.tracker.state().last_check.is_some() || c.probes_skipped > 0);
                if done || progress.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(max_wait, all_done).await;
    }

    /// Cancel every task and wait until each has finished. Works through a shared handle, so
    /// a runtime can stop the monitor even while other parts (e.g. a status endpoint) still hold
    /// it; afterwards no probe runs, and `update_backends` starts tasks again only if called.
    pub async fn stop(&self) {
        let handles: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks()).into_values().collect();
        for handle in &handles {
            handle.abort();
        }
        for handle in handles {
            // A cancelled task reports JoinError::Cancelled; that is the expected outcome.
            let _ = handle.await;
        }
    }
}

impl Drop for HealthMonitor {
    /// A monitor dropped without `stop` still cancels its tasks.
    fn drop(&mut self) {
        for handle in self.tasks().values() {
            handle.abort();
        }
    }
}

/// A per-backend seed: the monitor seed mixed with the backend name (FNV-1a, then SplitMix64),
/// stable across Rust versions and independent of the other backends.
fn backend_seed(seed: u64, name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let mut z = seed ^ hash;
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The first grid instant at or after `now` for a grid starting at `origin` with step `interval`.
fn next_grid_point(origin: Instant, interval: Duration, now: Instant) -> Instant {
    if now <= origin || interval.is_zero() {
        return origin.max(now);
    }
    let elapsed = now - origin;
    let steps = elapsed.as_nanos().div_ceil(interval.as_nanos());
    let steps = u32::try_from(steps).unwrap_or(u32::MAX);
    origin + interval.saturating_mul(steps)
}

/// The probe loop of one backend generation.
async fn backend_task<P: Probe>(shared: Arc<Shared>, probe: Arc<P>, name: String, generation: u64) {
    let interval = shared.config.health_check_interval;
    let initial_delay = initial_delay(&shared, &name, generation);
    let origin = crate::clock::monotonic_now() + initial_delay;
    let mut next_tick = origin;
    loop {
        // Wake at the next grid tick, or earlier at the breaker's open deadline so the
        // half-open trial runs exactly when the open timeout elapses.
        let deadline = {
            let cells = shared.cells();
            match cells.get(&name) {
                Some(cell) if cell.generation == generation => cell.breaker.open_deadline(),
                _ => return,
            }
        };
        let wake = match deadline {
            Some(d) if d < next_tick => d.max(crate::clock::monotonic_now()),
            _ => next_tick,
        };
        tokio::time::sleep_until(wake).await;
        let Some(backend) = admit(&shared, &name, generation) else {
            // Refused by the breaker (skip recorded) or the backend is gone.
            if !still_current(&shared, &name, generation) {
                return;
            }
            next_tick = next_grid_point(
                origin,
                interval,
                crate::clock::monotonic_now() + Duration::from_nanos(1),
            );
            continue;
        };
        let started = crate::clock::monotonic_now();
        let outcome =
            match tokio::time::timeout(shared.config.health_check_timeout, probe.probe(&backend))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => {
                    probe.probe_abandoned(&backend);
                    ProbeOutcome::failure(
                        started.elapsed(),
                        ProbeFailure {
                            status: FailureStatus::Unhealthy,
                            category: ErrorCategory::Timeout,
                            message: format!(
                                "probe timed out after {}",
                                humantime::format_duration(shared.config.health_check_timeout)
                            ),
                        },
                    )
                }
            };
        if !record(&shared, &name, generation, outcome) {
            return;
        }
        // Ticks that passed while probing are not made up: the grid resumes after now.
        next_tick = next_grid_point(
            origin,
            interval,
            crate::clock::monotonic_now() + Duration::from_nanos(1),
        );
    }
}

fn initial_delay(shared: &Shared, name: &str, generation: u64) -> Duration {
    let max = shared.config.initial_jitter;
    if max.is_zero() || generation > 0 {
        return Duration::ZERO;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(backend_seed(shared.rng_seed, name) ^ 0x1);
    let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.random_range(0..=nanos))
}

fn still_current(shared: &Shared, name: &str, generation: u64) -> bool {
    shared
        .cells()
        .get(name)
        .is_some_and(|c| c.generation == generation)
}

/// Ask the breaker for a probe. Returns the backend to probe when admitted; records the skip
/// (and any Open→HalfOpen transition) otherwise.
fn admit(shared: &Shared, name: &str, generation: u64) -> Option<Backend> {
    let mut events = Vec::new();
    let admitted = {
        let mut cells = shared.cells();
        let cell = cells.get_mut(name).filter(|c| c.generation == generation)?;
        if !registry_holds(shared, &cell.backend) {
            // A registry change not brought in yet: this endpoint is no longer wanted.
            return None;
        }
        let now = crate::clock::monotonic_now();
        let at = shared.clock.now();
        let (admission, transition) = cell.breaker.try_acquire(now);
        if let Some(transition) = transition {
            cell.circuit_last_changed = Some(at);
            events.push(MonitorEvent::CircuitChanged {
                backend: name.to_owned(),
                transition,
            });
            if let Some(change) = cell.tracker.circuit_changed(transition.to, at) {
                events.push(MonitorEvent::StatusChanged {
                    backend: name.to_owned(),
                    change,
                });
            }
        }
        match admission {
            Admission::Allowed => {
                cell.probes_started += 1;
                events.push(MonitorEvent::ProbeStarted {
                    backend: name.to_owned(),
                    generation,
                });
                Some(cell.backend.clone())
            }
            Admission::Refused { until } => {
                cell.probes_skipped += 1;
                events.push(MonitorEvent::ProbeSkipped {
                    backend: name.to_owned(),
                    generation,
                    circuit: cell.breaker.state(),
                    until,
                });
                None
            }
        }
    };
    // Only transitions are changes: a plain start or skip alters nothing a report shows, and
    // signalling it would publish a report after every skipped tick of an open circuit.
    if events.iter().any(|e| {
        matches!(
            e,
            MonitorEvent::CircuitChanged { .. } | MonitorEvent::StatusChanged { .. }
        )
    }) {
        Shared::bump(&shared.changes);
    }
    if admitted.is_none() {
        Shared::bump(&shared.progress);
    }
    shared.emit(&events);
    admitted
}

/// Whether the followed registry (if any) still holds `backend` with this endpoint.
fn registry_holds(shared: &Shared, backend: &Backend) -> bool {
    let registry = shared
        .registry
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    registry.is_none_or(|registry| {
        registry
            .get(&backend.name)
            .is_some_and(|current| !current.endpoint_differs(backend))
    })
}

/// Feed a probe result to the breaker, then the tracker. Returns false when the backend was
/// removed or changed meanwhile (the result is then dropped).
fn record(shared: &Shared, name: &str, generation: u64, outcome: ProbeOutcome) -> bool {
    let mut events = Vec::new();
    {
        let mut cells = shared.cells();
        let Some(cell) = cells.get_mut(name).filter(|c| c.generation == generation) else {
            return false;
        };
        let now = crate::clock::monotonic_now();
        let at = shared.clock.now();
        let transition = if outcome.is_success() {
            cell.breaker.record_success(now)
        } else {
            cell.breaker.record_failure(now)
        };
        events.push(MonitorEvent::ProbeFinished {
            backend: name.to_owned(),
            generation,
            outcome: outcome.clone(),
        });
        if let Some(transition) = transition {
            cell.circuit_last_changed = Some(at);
            events.push(MonitorEvent::CircuitChanged {
                backend: name.to_owned(),
                transition,
            });
        }
        if let Some(change) = cell.tracker.record(&outcome, cell.breaker.state(), at) {
            events.push(MonitorEvent::StatusChanged {
                backend: name.to_owned(),
                change,
            });
        }
    }
    if events.len() > 1 {
        Shared::bump(&shared.changes);
    }
    Shared::bump(&shared.progress);
    shared.emit(&events);
    true
}

impl crate::status::HealthSource for HealthMonitor {
    fn snapshot(&self) -> HealthSnapshot {
        HealthMonitor::snapshot(self)
    }

    fn changes(&self) -> watch::Receiver<u64> {
        HealthMonitor::changes(self)
    }

    fn update_backends(&self, backends: &[Backend]) {
        HealthMonitor::update_backends(self, backends);
    }

    fn initial_probes_done(&self, max_wait: Duration) -> impl Future<Output = ()> + Send {
        HealthMonitor::initial_probes_done(self, max_wait)
    }
}
