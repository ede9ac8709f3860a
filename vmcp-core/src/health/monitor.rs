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
use crate::health::{BreakerSnapshot, CircuitBreaker, CircuitTransition, Permit};
use crate::health::{CircuitState, ErrorCategory, FailureStatus, ProbeFailure, ProbeOutcome};
use crate::health::{HealthState, HealthTracker, StatusChange, TrackerConfig};
use crate::registry::{Backend, DynamicRegistry};
use crate::sync::lock;

/// Runs one probe (a full MCP session) against a backend. The real implementation is the HTTP
/// client; tests and the simulation may script it.
pub trait Probe: Send + Sync + 'static {
    /// Probe `backend` once. The monitor also bounds the call with `health_check_timeout`.
    fn probe(&self, backend: &Backend) -> impl Future<Output = ProbeOutcome> + Send;
    /// The backend's endpoint changed (new generation): drop its connections.
    fn endpoint_changed(&self, _backend: &Backend) {
        // Nothing is held per endpoint by default.
    }
    /// The backend was removed: drop everything held for it.
    fn backend_removed(&self, _name: &str) {
        // Nothing is held per backend by default.
    }
    /// The monitor cut a probe of `backend` at `health_check_timeout` (the probe's own deadline
    /// did not end it first): treat it as a failed probe, e.g. drop pooled connections.
    fn probe_abandoned(&self, _backend: &Backend) {
        // Nothing to drop by default.
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

    /// Apply a breaker transition that happened outside a probe result (an acquire past the
    /// deadline, a call's result, an endpoint reset): stamp it, and let the tracker follow the
    /// new circuit state; the events go to `events`.
    fn circuit_moved(
        &mut self,
        name: &str,
        transition: CircuitTransition,
        at: Timestamp,
        events: &mut Vec<MonitorEvent>,
    ) {
        self.circuit_last_changed = Some(at);
        events.push(MonitorEvent::CircuitChanged {
            backend: name.to_owned(),
            transition,
        });
        if let Some(change) = self.tracker.circuit_changed(transition.to, at) {
            events.push(MonitorEvent::StatusChanged {
                backend: name.to_owned(),
                change,
            });
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
    /// The probe task of every backend generation, by backend name.
    tasks: Mutex<BTreeMap<String, JoinHandle<()>>>,
    spawner: Spawner,
    hooks: Arc<dyn ProbeHooks>,
    /// The registry the monitor follows ([`HealthMonitor::follow`]), and the version of it last
    /// applied. A probe task checks the version before every probe, so a change applies at its
    /// instant even when the task wakes before the registry watcher does.
    registry: Option<Arc<DynamicRegistry>>,
    applied_version: Mutex<Option<u64>>,
    /// The task that applies registry changes as they are notified.
    watcher: Mutex<Option<JoinHandle<()>>>,
}

impl Shared {
    fn cells(&self) -> MutexGuard<'_, BTreeMap<String, Cell>> {
        lock(&self.cells)
    }

    fn tasks(&self) -> MutexGuard<'_, BTreeMap<String, JoinHandle<()>>> {
        lock(&self.tasks)
    }

    /// Apply the followed registry if it moved on since the last application. Returns whether
    /// anything was applied.
    fn sync_registry(self: &Arc<Self>) -> bool {
        let Some(registry) = &self.registry else {
            return false;
        };
        let mut applied = lock(&self.applied_version);
        if *applied == Some(registry.version()) {
            return false;
        }
        let (version, backends) = registry.versioned_list();
        *applied = Some(version);
        // Held while applying, so two tasks noticing the same change apply it once, in order.
        self.apply(&backends, false);
        true
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
}

/// Spawns the probe task of one backend generation (name, generation, whether `initial_jitter`
/// applies); erases the probe type from the handle.
type Spawner = Box<dyn Fn(&Arc<Shared>, String, u64, bool) -> JoinHandle<()> + Send + Sync>;

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
    /// does not change the random draws of the others. `initial_jitter` delays only these
    /// backends' first probes; backends added later are probed at once.
    pub fn start<P: Probe>(
        config: FailureHandling,
        probe: Arc<P>,
        clock: SharedClock,
        observer: Option<Arc<dyn MonitorObserver>>,
        rng_seed: u64,
        backends: Vec<Backend>,
    ) -> Self {
        let monitor = Self::new(config, probe, clock, observer, rng_seed, None);
        monitor.shared.apply(&backends, true);
        monitor
    }

    /// Start monitoring the backends of `registry` and follow it (DESIGN §3.4): every change
    /// takes effect at its instant, from a watcher task and, before every probe, from the probe
    /// task itself, so no probe starts on an old endpoint, or for a removed backend, at or
    /// after the instant of the change. Otherwise as [`start`](Self::start).
    pub fn follow<P: Probe>(
        config: FailureHandling,
        probe: Arc<P>,
        clock: SharedClock,
        observer: Option<Arc<dyn MonitorObserver>>,
        rng_seed: u64,
        registry: Arc<DynamicRegistry>,
    ) -> Self {
        let mut changes = registry.subscribe();
        let monitor = Self::new(config, probe, clock, observer, rng_seed, Some(registry));
        {
            let shared = &monitor.shared;
            let mut applied = lock(&shared.applied_version);
            changes.borrow_and_update();
            if let Some(registry) = &shared.registry {
                let (version, backends) = registry.versioned_list();
                *applied = Some(version);
                shared.apply(&backends, true);
            }
        }
        let weak = Arc::downgrade(&monitor.shared);
        let watcher = tokio::spawn(async move {
            while changes.changed().await.is_ok() {
                changes.borrow_and_update();
                let Some(shared) = weak.upgrade() else { return };
                shared.sync_registry();
            }
        });
        *lock(&monitor.shared.watcher) = Some(watcher);
        monitor
    }

    fn new<P: Probe>(
        config: FailureHandling,
        probe: Arc<P>,
        clock: SharedClock,
        observer: Option<Arc<dyn MonitorObserver>>,
        rng_seed: u64,
        registry: Option<Arc<DynamicRegistry>>,
    ) -> Self {
        let (changes, _) = watch::channel(0);
        let (progress, _) = watch::channel(0);
        let hooks: Arc<dyn ProbeHooks> = probe.clone();
        let spawner: Spawner = Box::new(
            move |shared: &Arc<Shared>, name: String, generation: u64, jitter: bool| {
                tokio::spawn(backend_task(
                    Arc::clone(shared),
                    Arc::clone(&probe),
                    name,
                    generation,
                    jitter,
                ))
            },
        );
        let shared = Arc::new(Shared {
            config,
            clock,
            observer,
            rng_seed,
            cells: Mutex::new(BTreeMap::new()),
            changes,
            progress,
            tasks: Mutex::new(BTreeMap::new()),
            spawner,
            hooks,
            registry,
            applied_version: Mutex::new(None),
            watcher: Mutex::new(None),
        });
        Self { shared }
    }

    /// Add, remove, and restart (endpoint change) backends to match `backends`.
    ///
    /// Added backends are probed immediately. Removed ones have their task cancelled and their
    /// state dropped; a result that was in flight is ignored. A backend whose URL or credentials
    /// changed keeps its status history, gets a reset breaker and a new task that probes the new
    /// endpoint immediately.
    pub fn update_backends(&self, backends: &[Backend]) {
        self.shared.apply(backends, false);
    }
}

impl Shared {
    /// Add, remove, and restart backends to match `backends`; `initial_set`: these are the
    /// backends the monitor started with, whose first probes `initial_jitter` spreads.
    fn apply(self: &Arc<Self>, backends: &[Backend], initial_set: bool) {
        let wanted: BTreeMap<&str, &Backend> =
            backends.iter().map(|b| (b.name.as_str(), b)).collect();
        let mut events = Vec::new();
        let mut to_spawn = Vec::new();
        let mut to_abort = Vec::new();
        let mut removed = Vec::new();
        let mut changed = Vec::new();
        {
            let mut cells = self.cells();
            let now = crate::clock::monotonic_now();
            let at = self.clock.now();
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
                        let seed = backend_seed(self.rng_seed, name);
                        let cell = Cell {
                            backend: (*backend).clone(),
                            generation: 0,
                            tracker: HealthTracker::new(TrackerConfig::from(&self.config)),
                            breaker: CircuitBreaker::new(&self.config.circuit_breaker, seed),
                            circuit_last_changed: None,
                            probes_started: 0,
                            probes_skipped: 0,
                        };
                        cells.insert((*name).to_owned(), cell);
                        events.push(MonitorEvent::BackendAdded {
                            backend: (*name).to_owned(),
                        });
                        to_spawn.push(((*name).to_owned(), 0, initial_set));
                    }
                    Some(cell) if cell.backend.endpoint_differs(backend) => {
                        cell.backend = (*backend).clone();
                        cell.generation += 1;
                        events.push(MonitorEvent::EndpointChanged {
                            backend: (*name).to_owned(),
                            generation: cell.generation,
                        });
                        if let Some(transition) = cell.breaker.reset(now) {
                            cell.circuit_moved(name, transition, at, &mut events);
                        }
                        to_abort.push((*name).to_owned());
                        to_spawn.push(((*name).to_owned(), cell.generation, false));
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
            for (name, generation, jitter) in to_spawn {
                let handle = (self.spawner)(self, name.clone(), generation, jitter);
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
            Shared::bump(&self.changes);
            Shared::bump(&self.progress);
        }
        self.emit(&events);
    }
}

impl HealthMonitor {
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
        if let Some(watcher) = lock(&self.shared.watcher).take() {
            watcher.abort();
        }
        let handles: Vec<JoinHandle<()>> = std::mem::take(&mut *self.shared.tasks())
            .into_values()
            .collect();
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
        if let Some(watcher) = lock(&self.shared.watcher).take() {
            watcher.abort();
        }
        for handle in self.shared.tasks().values() {
            handle.abort();
        }
    }
}

/// Why [`HealthMonitor::acquire`] refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The backend is not monitored (unknown or removed).
    UnknownBackend,
    /// The circuit breaker refused: Open (with its deadline), or HalfOpen with its budget used
    /// (`until: None`).
    Circuit {
        /// The breaker state that refused.
        state: CircuitState,
        /// When asking again can succeed, if time (rather than a result) decides.
        until: Option<Instant>,
    },
}

/// Admission of one request (e.g. a tool call) to a backend by its circuit breaker, taken with
/// [`HealthMonitor::acquire`]. In HalfOpen it holds one slot of the half-open budget (DESIGN
/// §3.3), shared with the trial probes.
///
/// Hand it back with [`complete`](Self::complete) once the request has a result that should
/// count for the breaker. Dropping it without completing gives the slot back without a result
/// (a cancelled call, or a result the caller's policy does not count, e.g. a call failure with
/// `call_failures_trip_breaker = false`). A permit that outlived its breaker phase, endpoint
/// generation or backend changes nothing.
#[derive(Debug)]
pub struct CallPermit {
    shared: std::sync::Weak<Shared>,
    backend: Backend,
    generation: u64,
    permit: Option<Permit>,
}

impl CallPermit {
    /// The backend as configured when the permit was taken: send the request here.
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The breaker state the request was admitted in.
    pub fn circuit(&self) -> CircuitState {
        self.permit
            .as_ref()
            .map_or(CircuitState::Closed, Permit::state)
    }

    /// Record the request's result with the breaker (a HalfOpen success counts toward closing,
    /// a failure re-opens; in Closed a failure counts toward `failure_threshold`).
    pub fn complete(mut self, success: bool) {
        if let (Some(permit), Some(shared)) = (self.permit.take(), self.shared.upgrade()) {
            shared.complete_call(&self.backend.name, self.generation, permit, success);
        }
    }
}

impl Drop for CallPermit {
    fn drop(&mut self) {
        if let (Some(permit), Some(shared)) = (self.permit.take(), self.shared.upgrade()) {
            if let Some(cell) = shared
                .cells()
                .get_mut(&self.backend.name)
                .filter(|c| c.generation == self.generation)
            {
                cell.breaker.give_back(permit);
            }
        }
    }
}

impl Shared {
    /// Apply a call result to the breaker, with the same events and status effects as a
    /// probe's breaker transition.
    fn complete_call(&self, name: &str, generation: u64, permit: Permit, success: bool) {
        let mut events = Vec::new();
        {
            let mut cells = self.cells();
            let Some(cell) = cells.get_mut(name).filter(|c| c.generation == generation) else {
                return;
            };
            let now = crate::clock::monotonic_now();
            let at = self.clock.now();
            if let Some(transition) = cell.breaker.complete(permit, success, now) {
                cell.circuit_moved(name, transition, at, &mut events);
            }
        }
        if !events.is_empty() {
            Shared::bump(&self.changes);
        }
        self.emit(&events);
    }
}

impl HealthMonitor {
    /// Ask the breaker of `name` to admit one request now (the front end's calls, DESIGN §3.6):
    /// Closed admits, Open refuses, HalfOpen admits within its budget. Taking a permit may
    /// itself move an Open breaker past its deadline to HalfOpen (a reported transition).
    pub fn acquire(&self, name: &str) -> Result<CallPermit, Refusal> {
        let mut events = Vec::new();
        let result = {
            let mut cells = self.shared.cells();
            let cell = cells.get_mut(name).ok_or(Refusal::UnknownBackend)?;
            let now = crate::clock::monotonic_now();
            let at = self.shared.clock.now();
            let (admission, transition) = cell.breaker.acquire(now);
            if let Some(transition) = transition {
                cell.circuit_moved(name, transition, at, &mut events);
            }
            match admission {
                Ok(permit) => Ok(CallPermit {
                    shared: Arc::downgrade(&self.shared),
                    backend: cell.backend.clone(),
                    generation: cell.generation,
                    permit: Some(permit),
                }),
                Err(until) => Err(Refusal::Circuit {
                    state: cell.breaker.state(),
                    until,
                }),
            }
        };
        if !events.is_empty() {
            Shared::bump(&self.shared.changes);
        }
        self.shared.emit(&events);
        result
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

/// The probe loop of one backend generation.
async fn backend_task<P: Probe>(
    shared: Arc<Shared>,
    probe: Arc<P>,
    name: String,
    generation: u64,
    jitter: bool,
) {
    let interval = shared.config.health_check_interval;
    let initial_delay = if jitter {
        initial_delay(&shared, &name)
    } else {
        Duration::ZERO
    };
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
        let Some((backend, permit)) = admit(&shared, &name, generation) else {
            // Refused by the breaker (skip recorded) or the backend is gone.
            if !still_current(&shared, &name, generation) {
                return;
            }
            next_tick = crate::grid::next_after(origin, interval, crate::clock::monotonic_now());
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
        if !record(&shared, &name, generation, permit, outcome) {
            return;
        }
        // Ticks that passed while probing are not made up: the grid resumes after now.
        next_tick = crate::grid::next_after(origin, interval, crate::clock::monotonic_now());
    }
}

fn initial_delay(shared: &Shared, name: &str) -> Duration {
    let max = shared.config.initial_jitter;
    if max.is_zero() {
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
fn admit(shared: &Arc<Shared>, name: &str, generation: u64) -> Option<(Backend, Permit)> {
    // A registry change at this very instant applies before the probe may start.
    shared.sync_registry();
    let mut events = Vec::new();
    let admitted = {
        let mut cells = shared.cells();
        let cell = cells.get_mut(name).filter(|c| c.generation == generation)?;
        let now = crate::clock::monotonic_now();
        let at = shared.clock.now();
        let (admission, transition) = cell.breaker.acquire(now);
        if let Some(transition) = transition {
            cell.circuit_moved(name, transition, at, &mut events);
        }
        match admission {
            Ok(permit) => {
                cell.probes_started += 1;
                events.push(MonitorEvent::ProbeStarted {
                    backend: name.to_owned(),
                    generation,
                });
                Some((cell.backend.clone(), permit))
            }
            Err(until) => {
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

/// Feed a probe result to the breaker, then the tracker. Returns false when the backend was
/// removed or changed meanwhile (the result is then dropped).
fn record(
    shared: &Shared,
    name: &str,
    generation: u64,
    permit: Permit,
    outcome: ProbeOutcome,
) -> bool {
    let mut events = Vec::new();
    {
        let mut cells = shared.cells();
        let Some(cell) = cells.get_mut(name).filter(|c| c.generation == generation) else {
            return false;
        };
        let now = crate::clock::monotonic_now();
        let at = shared.clock.now();
        // A stale permit (the phase ended meanwhile, e.g. a call's failure re-opened the
        // circuit) leaves the breaker alone; the tracker still sees the result.
        let transition = cell.breaker.complete(permit, outcome.is_success(), now);
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

// ---------------------------------------------------------------------------------------------
// The call gate: the front end's narrow seam on the monitor (DESIGN §3.6 "Fast-fail", §3.3
// half-open budget). A client call asks here before any backend traffic.
// ---------------------------------------------------------------------------------------------

/// Why the front end may not send a call to a backend now. Carries what the client is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FastFail {
    /// The backend.
    pub backend: String,
    /// Its published status.
    pub status: crate::health::HealthStatus,
    /// Why it has that status.
    pub reason: crate::health::HealthReason,
    /// Its circuit state.
    pub circuit: CircuitState,
    /// Which rule refused the call.
    pub refusal: GateRefusal,
}

/// The rule that refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GateRefusal {
    /// The backend is not monitored (removed).
    Unknown,
    /// Its status hides it (unhealthy, unauthenticated, unknown, pending).
    Hidden,
    /// Its circuit is open.
    CircuitOpen,
    /// Its circuit is half-open and every half-open permit is in use.
    HalfOpenBudget,
}

impl std::fmt::Display for FastFail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let why = match self.refusal {
            GateRefusal::Unknown => "is not configured",
            GateRefusal::Hidden => "is unavailable",
            GateRefusal::CircuitOpen => "has an open circuit",
            GateRefusal::HalfOpenBudget => "is half-open and its trial budget is in use",
        };
        write!(
            f,
            "backend {:?} {why} (status {}, reason {}, circuit {}); the call was not sent",
            self.backend, self.status, self.reason, self.circuit
        )
    }
}

/// What a finished call says about its backend, for the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallOutcome {
    /// Nothing to record (the default unless `call_failures_trip_breaker`).
    Neutral,
    /// The backend answered.
    Success,
    /// A transport failure (connection, 5xx, timeout): counts toward the breaker.
    TransportFailure,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl CallPermit {
    /// Whether this call holds one of the half-open budget's slots.
    pub fn is_half_open(&self) -> bool {
        self.circuit() == CircuitState::HalfOpen
    }

    /// Record the call's outcome (see [`CallOutcome`]) and release the permit: a success or a
    /// transport failure counts for the breaker (in HalfOpen a success counts toward closing
    /// after `half_open_max_probes` successes, a failure re-opens, DESIGN §3.3); a neutral
    /// outcome gives the slot back without a result.
    pub fn finish(self, outcome: CallOutcome) {
        match outcome {
            CallOutcome::Neutral => drop(self),
            CallOutcome::Success => self.complete(true),
            CallOutcome::TransportFailure => self.complete(false),
        }
    }
}

impl HealthMonitor {
    /// May a client call go to `backend` now? A hidden backend (status neither healthy nor
    /// degraded) is refused without touching the breaker; otherwise the breaker admits the call
    /// through [`acquire`](Self::acquire) (Closed admits, Open refuses, HalfOpen admits within
    /// the `half_open_max_probes` budget it shares with the trial probes). Never sends anything.
    pub fn call_gate(&self, backend: &str) -> Result<CallPermit, FastFail> {
        use crate::health::{HealthReason, HealthStatus};
        let fast_fail = |refusal| {
            let cells = self.shared.cells();
            match cells.get(backend) {
                Some(cell) => {
                    let state = cell.tracker.state();
                    FastFail {
                        backend: backend.to_owned(),
                        status: state.status,
                        reason: state.reason,
                        circuit: cell.breaker.state(),
                        refusal,
                    }
                }
                None => FastFail {
                    backend: backend.to_owned(),
                    status: HealthStatus::Unknown,
                    reason: HealthReason::Pending,
                    circuit: CircuitState::Closed,
                    refusal: GateRefusal::Unknown,
                },
            }
        };
        let (status, circuit) = {
            let cells = self.shared.cells();
            let Some(cell) = cells.get(backend) else {
                drop(cells);
                return Err(fast_fail(GateRefusal::Unknown));
            };
            (cell.tracker.state().status, cell.breaker.state())
        };
        if circuit == CircuitState::Open {
            return Err(fast_fail(GateRefusal::CircuitOpen));
        }
        if !matches!(status, HealthStatus::Healthy | HealthStatus::Degraded) {
            return Err(fast_fail(GateRefusal::Hidden));
        }
        self.acquire(backend).map_err(|refusal| match refusal {
            Refusal::UnknownBackend => fast_fail(GateRefusal::Unknown),
            Refusal::Circuit {
                state: CircuitState::HalfOpen,
                ..
            } => fast_fail(GateRefusal::HalfOpenBudget),
            Refusal::Circuit { .. } => fast_fail(GateRefusal::CircuitOpen),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::backend_seed;

    /// Probes every 10 s on the grid, without jitter.
    fn every_10s() -> FailureHandling {
        FailureHandling {
            health_check_interval: Duration::from_secs(10),
            initial_jitter: Duration::ZERO,
            ..FailureHandling::default()
        }
    }

    /// A monitor of the one backend `a` under `config`, with `probe`, on an epoch clock.
    fn monitor_of_a<P: Probe>(config: FailureHandling, probe: Arc<P>) -> HealthMonitor {
        let clock: SharedClock = Arc::new(EpochClock::new(Timestamp::from_unix_millis(0)));
        HealthMonitor::start(
            config,
            probe,
            clock,
            None,
            1,
            vec![Backend::new("a", "http://a:8080/mcp")],
        )
    }

    /// As [`every_10s`], with a breaker that opens on the first failure for 25 s.
    fn every_10s_opening_for_25s() -> FailureHandling {
        FailureHandling {
            circuit_breaker: crate::config::CircuitBreakerConfig {
                enabled: true,
                failure_threshold: 1,
                timeout: Duration::from_secs(25),
                ..Default::default()
            },
            ..every_10s()
        }
    }

    /// `backend_seed` is FNV-1a 64 of the name, xor the monitor seed, through one SplitMix64
    /// step: a documented contract (stable across Rust versions, so a simulation seed means the
    /// same schedule everywhere). Checked against the published test vectors of both algorithms
    /// (FNV-1a 64: "" → cbf29ce484222325, "a" → af63dc4c8601ec8c, "foobar" → 85944171f73967e8;
    /// SplitMix64 from state 0: first output e220a8397b1dcdaf) and values from an independent
    /// implementation, so any change to the mixing is caught.
    #[test]
    fn backend_seed_is_fnv1a_then_splitmix64() {
        // seed == FNV-1a(name) makes the SplitMix64 state 0.
        for (seed, name) in [
            (0xcbf2_9ce4_8422_2325, ""),
            (0xaf63_dc4c_8601_ec8c, "a"),
            (0x8594_4171_f739_67e8, "foobar"),
        ] {
            assert_eq!(backend_seed(seed, name), 0xe220_a839_7b1d_cdaf, "{name:?}");
        }
        for (seed, name, expected) in [
            (0, "", 0xc381_7c01_6ba4_ff30_u64),
            (0, "a", 0x5f29_c2aa_dd9b_8527),
            (0, "alpha", 0x1253_c85b_0c81_7711),
            (42, "alpha", 0xdda7_74f8_98bb_cfb5),
            (42, "beta", 0xc408_0e70_b06f_0631),
            (7, "backend-1", 0x0c1e_b9d0_c829_a646),
            (0xdead_beef, "backend-7", 0x53a9_789a_7d5c_b27e),
            (u64::MAX, "ßeta", 0x4f33_612e_44fa_ce44),
        ] {
            assert_eq!(backend_seed(seed, name), expected, "{seed:#x} {name:?}");
        }
    }

    use super::*;
    use crate::clock::{EpochClock, Timestamp};
    use crate::health::{HealthReason, HealthStatus};

    /// Always succeeds at once.
    struct Up;
    impl Probe for Up {
        async fn probe(&self, _backend: &Backend) -> ProbeOutcome {
            ProbeOutcome::success(Duration::ZERO)
        }
    }

    fn monitor(names: &[&str]) -> HealthMonitor {
        let clock: SharedClock = Arc::new(EpochClock::new(Timestamp::from_unix_millis(0)));
        let backends = names
            .iter()
            .map(|n| Backend::new(*n, format!("http://{n}:8080/mcp")))
            .collect();
        HealthMonitor::start(
            FailureHandling::default(),
            Arc::new(Up),
            clock,
            None,
            1,
            backends,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn debug_names_the_monitored_backends() {
        let m = monitor(&["b", "a"]);
        assert_eq!(
            format!("{m:?}"),
            "HealthMonitor { backends: [\"a\", \"b\"], .. }"
        );
        assert_eq!(format!("{:?}", *m.shared), "Shared { .. }");
        m.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_backend_is_refused_with_what_the_client_is_told() {
        let m = monitor(&["a"]);
        let refused = m.call_gate("nope").unwrap_err();
        assert_eq!(
            refused,
            FastFail {
                backend: "nope".into(),
                status: HealthStatus::Unknown,
                reason: HealthReason::Pending,
                circuit: CircuitState::Closed,
                refusal: GateRefusal::Unknown,
            }
        );
        assert_eq!(
            refused.to_string(),
            "backend \"nope\" is not configured (status unknown, reason pending, circuit closed); \
             the call was not sent"
        );
        m.stop().await;
    }

    #[test]
    fn fast_fail_messages_name_the_rule() {
        let fail = |refusal| FastFail {
            backend: "gh".into(),
            status: HealthStatus::Degraded,
            reason: HealthReason::HalfOpen,
            circuit: CircuitState::HalfOpen,
            refusal,
        };
        let rules = [
            (GateRefusal::Hidden, "is unavailable"),
            (GateRefusal::CircuitOpen, "has an open circuit"),
            (
                GateRefusal::HalfOpenBudget,
                "is half-open and its trial budget is in use",
            ),
        ];
        for (refusal, why) in rules {
            assert_eq!(
                fail(refusal).to_string(),
                format!(
                    "backend \"gh\" {why} (status degraded, reason half_open, circuit half-open); \
                     the call was not sent"
                )
            );
        }
    }

    /// Fails the first probe, then succeeds; every probe takes 2 s.
    struct FailOnce(std::sync::atomic::AtomicBool);
    impl Probe for FailOnce {
        async fn probe(&self, _backend: &Backend) -> ProbeOutcome {
            tokio::time::sleep(Duration::from_secs(2)).await;
            if self.0.swap(true, std::sync::atomic::Ordering::SeqCst) {
                ProbeOutcome::success(Duration::from_secs(2))
            } else {
                ProbeOutcome::failure(
                    Duration::from_secs(2),
                    ProbeFailure {
                        status: FailureStatus::Unhealthy,
                        category: ErrorCategory::ConnectionFailed,
                        message: "refused".into(),
                    },
                )
            }
        }
    }

    /// Probes started and skipped are counted; the first results are awaited exactly until
    /// they exist. Breaker: opens on the first failure for 25 s; probes every 10 s.
    #[tokio::test(start_paused = true)]
    async fn probes_started_and_skipped_are_counted() {
        let start = crate::clock::monotonic_now();
        let m = monitor_of_a(
            every_10s_opening_for_25s(),
            Arc::new(FailOnce(Default::default())),
        );
        let counts = |m: &HealthMonitor| {
            let view = &m.snapshot()["a"];
            (view.probes_started, view.probes_skipped)
        };
        m.initial_probes_done(Duration::from_secs(60)).await;
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(2),
            "the first result, no later or sooner"
        );
        assert_eq!(counts(&m), (1, 0));
        assert_eq!(m.snapshot()["a"].circuit.state, CircuitState::Open);
        // Ticks at 10 s and 20 s are skipped; the trial at 27 s (open at 2 s + 25 s) succeeds.
        tokio::time::sleep_until(start + Duration::from_secs(21)).await;
        assert_eq!(counts(&m), (1, 2));
        tokio::time::sleep_until(start + Duration::from_secs(30)).await;
        assert_eq!(counts(&m), (2, 2));
        assert_eq!(m.snapshot()["a"].circuit.state, CircuitState::Closed);
        m.stop().await;
    }

    /// The first probe fails at once; every later one never answers. Counts its calls.
    #[derive(Default)]
    struct FailThenHang(std::sync::atomic::AtomicU64);
    impl Probe for FailThenHang {
        async fn probe(&self, _backend: &Backend) -> ProbeOutcome {
            if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                std::future::pending::<()>().await;
            }
            ProbeOutcome::failure(
                Duration::ZERO,
                ProbeFailure {
                    status: FailureStatus::Unhealthy,
                    category: ErrorCategory::ConnectionFailed,
                    message: "refused".into(),
                },
            )
        }
    }

    /// Breaker opens on one failure for 5 s, two half-open trials; probes every 100 s, each
    /// allowed 60 s.
    fn breaker_monitor(probe: Arc<FailThenHang>) -> HealthMonitor {
        let config = FailureHandling {
            health_check_interval: Duration::from_secs(100),
            health_check_timeout: Duration::from_secs(60),
            initial_jitter: Duration::ZERO,
            circuit_breaker: crate::config::CircuitBreakerConfig {
                enabled: true,
                failure_threshold: 1,
                timeout: Duration::from_secs(5),
                half_open_max_probes: 2,
                ..Default::default()
            },
            ..FailureHandling::default()
        };
        let clock: SharedClock = Arc::new(EpochClock::new(Timestamp::from_unix_millis(0)));
        let backends = vec![Backend::new("a", "http://a:8080/mcp")];
        HealthMonitor::start(config, probe, clock, None, 1, backends)
    }

    fn circuit(m: &HealthMonitor) -> CircuitState {
        m.snapshot()["a"].circuit.state
    }

    /// A call permit dropped without a result gives its half-open slot back; one finished with
    /// a transport failure re-opens the circuit and signals the change.
    #[tokio::test(start_paused = true)]
    async fn call_permits_give_back_or_record() {
        let t0 = crate::clock::monotonic_now();
        let m = breaker_monitor(Arc::default());
        m.initial_probes_done(Duration::from_secs(1)).await;
        assert_eq!(circuit(&m), CircuitState::Open);
        // At 5 s the probe task takes one trial (it hangs); calls get the other.
        tokio::time::sleep_until(t0 + Duration::from_secs(6)).await;
        assert_eq!(circuit(&m), CircuitState::HalfOpen);
        let call = m.acquire("a").expect("the second trial slot");
        assert!(call.is_half_open());
        assert!(matches!(
            m.acquire("a"),
            Err(Refusal::Circuit {
                state: CircuitState::HalfOpen,
                until: None
            })
        ));
        drop(call);
        let call = m
            .acquire("a")
            .expect("the dropped permit gave its slot back");
        let mut changes = m.changes();
        changes.mark_unchanged();
        call.finish(CallOutcome::TransportFailure);
        assert_eq!(circuit(&m), CircuitState::Open);
        assert!(
            changes.has_changed().unwrap(),
            "a breaker transition is a change"
        );
        m.stop().await;
    }

    /// A monitor dropped without `stop` cancels its tasks: no probe runs afterwards.
    #[tokio::test(start_paused = true)]
    async fn a_dropped_monitor_probes_no_more() {
        let probe = Arc::new(FailThenHang::default());
        let m = breaker_monitor(Arc::clone(&probe));
        m.initial_probes_done(Duration::from_secs(1)).await;
        assert_eq!(probe.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        drop(m);
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert_eq!(probe.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// Re-applying the same backends changes nothing and signals nothing.
    #[tokio::test(start_paused = true)]
    async fn an_unchanged_backend_list_signals_no_change() {
        let m = monitor(&["a"]);
        let mut changes = m.changes();
        changes.mark_unchanged();
        m.update_backends(&[Backend::new("a", "http://a:8080/mcp")]);
        assert!(!changes.has_changed().unwrap());
        m.update_backends(&[Backend::new("a", "http://a2:8080/mcp")]);
        assert!(changes.has_changed().unwrap(), "a new endpoint is a change");
        m.stop().await;
    }

    /// A first tick skipped by a breaker that calls opened (before any probe) is a first
    /// result: waiting for the initial probes ends there, not at the trial a minute later.
    #[tokio::test(start_paused = true)]
    async fn a_skipped_first_probe_ends_the_initial_wait() {
        let t0 = crate::clock::monotonic_now();
        let config = FailureHandling {
            initial_jitter: Duration::from_secs(10),
            circuit_breaker: crate::config::CircuitBreakerConfig {
                enabled: true,
                failure_threshold: 1,
                timeout: Duration::from_secs(60),
                ..Default::default()
            },
            ..FailureHandling::default()
        };
        let clock: SharedClock = Arc::new(EpochClock::new(Timestamp::from_unix_millis(0)));
        let backends = vec![Backend::new("a", "http://a:8080/mcp")];
        let m = HealthMonitor::start(config, Arc::new(Up), clock, None, 1, backends);
        m.acquire("a")
            .unwrap()
            .finish(CallOutcome::TransportFailure);
        m.initial_probes_done(Duration::from_secs(100)).await;
        let view = &m.snapshot()["a"];
        assert_eq!((view.probes_started, view.probes_skipped), (0, 1));
        assert!(view.health.last_check.is_none());
        assert!(
            t0.elapsed() <= Duration::from_secs(10),
            "{:?}",
            t0.elapsed()
        );
        m.stop().await;
    }

    /// Records the instant of every probe call.
    #[derive(Default)]
    struct When(Mutex<Vec<Instant>>);
    impl Probe for When {
        async fn probe(&self, _backend: &Backend) -> ProbeOutcome {
            lock(&self.0).push(crate::clock::monotonic_now());
            ProbeOutcome::success(Duration::ZERO)
        }
    }

    /// The first probe of a backend waits a jitter drawn from ChaCha8 seeded with the
    /// backend's seed xor 1 (the seeds are those of `backend_seed_is_fnv1a_then_splitmix64`),
    /// uniform in `0..=initial_jitter`: a stream of its own, not the breaker's (seeded with
    /// the backend seed itself), for an odd backend seed as for an even one. (tokio's timer
    /// wakes on the next whole millisecond.)
    #[tokio::test(start_paused = true)]
    async fn the_initial_jitter_has_a_stream_of_its_own() {
        let jitter = Duration::from_secs(10);
        let draw = |seed: u64| {
            let nanos = u64::try_from(jitter.as_nanos()).unwrap();
            let nanos = ChaCha8Rng::seed_from_u64(seed).random_range(0..=nanos);
            Duration::from_millis(nanos.div_ceil(1_000_000))
        };
        // (monitor seed, name, backend seed): one odd, one even.
        for (seed, name, backend) in [
            (42, "alpha", 0xdda7_74f8_98bb_cfb5_u64),
            (7, "backend-1", 0x0c1e_b9d0_c829_a646),
        ] {
            let config = FailureHandling {
                health_check_interval: Duration::from_secs(60),
                initial_jitter: jitter,
                ..FailureHandling::default()
            };
            let clock: SharedClock = Arc::new(EpochClock::new(Timestamp::from_unix_millis(0)));
            let probe = Arc::new(When::default());
            let t0 = crate::clock::monotonic_now();
            let m = HealthMonitor::start(
                config,
                Arc::clone(&probe),
                clock,
                None,
                seed,
                vec![Backend::new(name, format!("http://{name}:8080/mcp"))],
            );
            m.initial_probes_done(Duration::from_secs(60)).await;
            let first = lock(&probe.0)[0] - t0;
            assert_eq!(first, draw(backend ^ 1), "{name}");
            assert_ne!(first, draw(backend), "{name}: not the breaker's stream");
            m.stop().await;
        }
    }

    /// Records what the monitor asks of the probe: probes (`probe name url`) and hooks.
    #[derive(Default)]
    struct Hooked(Mutex<Vec<String>>);
    impl Probe for Hooked {
        async fn probe(&self, backend: &Backend) -> ProbeOutcome {
            lock(&self.0).push(format!("probe {} {}", backend.name, backend.url));
            ProbeOutcome::success(Duration::ZERO)
        }
        fn endpoint_changed(&self, backend: &Backend) {
            lock(&self.0).push(format!("endpoint_changed {} {}", backend.name, backend.url));
        }
        fn backend_removed(&self, name: &str) {
            lock(&self.0).push(format!("backend_removed {name}"));
        }
    }

    /// Records the observer's events, shortened.
    #[derive(Default)]
    struct Events(Mutex<Vec<String>>);
    impl MonitorObserver for Events {
        fn on_event(&self, event: &MonitorEvent) {
            let text = match event {
                MonitorEvent::ProbeStarted {
                    backend,
                    generation,
                } => format!("started {backend} {generation}"),
                MonitorEvent::ProbeFinished {
                    backend,
                    generation,
                    outcome,
                } => format!("finished {backend} {generation} {}", outcome.is_success()),
                MonitorEvent::ProbeSkipped { backend, .. } => format!("skipped {backend}"),
                MonitorEvent::StatusChanged { backend, change } => {
                    format!("status {backend} {}", change.to)
                }
                MonitorEvent::CircuitChanged { backend, .. } => format!("circuit {backend}"),
                MonitorEvent::BackendAdded { backend } => format!("added {backend}"),
                MonitorEvent::BackendRemoved { backend } => format!("removed {backend}"),
                MonitorEvent::EndpointChanged {
                    backend,
                    generation,
                } => format!("endpoint {backend} {generation}"),
            };
            lock(&self.0).push(text);
        }
    }

    fn take(log: &Mutex<Vec<String>>) -> Vec<String> {
        std::mem::take(&mut *lock(log))
    }

    /// A followed registry: every change reaches the monitor at its instant (watcher), in
    /// order: the probe's hooks after the old task is gone, the new endpoint probed at once
    /// (generation 1), a removed backend no longer probed; the observer sees each step; the
    /// `HealthSource` view is the monitor's; after `stop` nothing runs.
    #[tokio::test(start_paused = true)]
    async fn a_followed_registry_drives_probes_hooks_and_events() {
        let t0 = crate::clock::monotonic_now();
        let config = every_10s();
        let registry = Arc::new(
            DynamicRegistry::new(vec![
                Backend::new("a", "http://a1/mcp"),
                Backend::new("b", "http://b/mcp"),
            ])
            .unwrap(),
        );
        let probe = Arc::new(Hooked::default());
        let events = Arc::new(Events::default());
        let clock: SharedClock = Arc::new(EpochClock::new(Timestamp::from_unix_millis(0)));
        let observer: Arc<dyn MonitorObserver> = events.clone();
        let m = HealthMonitor::follow(
            config,
            Arc::clone(&probe),
            clock,
            Some(observer),
            1,
            Arc::clone(&registry),
        );
        m.initial_probes_done(Duration::from_secs(1)).await;
        assert_eq!(
            take(&probe.0),
            ["probe a http://a1/mcp", "probe b http://b/mcp"]
        );
        assert_eq!(
            take(&events.0),
            [
                "added a",
                "added b",
                "started a 0",
                "finished a 0 true",
                "status a healthy",
                "started b 0",
                "finished b 0 true",
                "status b healthy",
            ]
        );
        let mut changes = crate::status::HealthSource::changes(&m);
        changes.mark_unchanged();

        registry.upsert(Backend::new("a", "http://a2/mcp"));
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(
            take(&probe.0),
            ["endpoint_changed a http://a2/mcp", "probe a http://a2/mcp"]
        );
        assert_eq!(
            take(&events.0),
            ["endpoint a 1", "started a 1", "finished a 1 true"]
        );
        assert!(changes.has_changed().unwrap());
        assert_eq!(m.snapshot()["a"].generation, 1);

        registry.remove("b");
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(take(&probe.0), ["backend_removed b"]);
        assert_eq!(take(&events.0), ["removed b"]);
        assert_eq!(
            crate::status::HealthSource::snapshot(&m)
                .keys()
                .collect::<Vec<_>>(),
            ["a"]
        );

        // The grid of the first task (0 s, 10 s, ...) is gone with it; generation 1 ticks from
        // its own start.
        tokio::time::sleep_until(t0 + Duration::from_secs(15)).await;
        assert_eq!(take(&probe.0), ["probe a http://a2/mcp"]);
        let view = &m.snapshot()["a"];
        assert_eq!((view.probes_started, view.generation), (3, 1));

        crate::status::HealthSource::update_backends(&m, &[Backend::new("c", "http://c/mcp")]);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(
            take(&probe.0),
            ["backend_removed a", "probe c http://c/mcp"]
        );
        m.stop().await;
        tokio::time::sleep(Duration::from_secs(100)).await;
        assert!(take(&probe.0).is_empty(), "stopped: no probe runs");
    }

    /// A permit of a closed circuit: for the backend as configured, admitted in Closed, not a
    /// half-open trial; one of a half-open circuit is a trial.
    #[tokio::test(start_paused = true)]
    async fn a_permit_tells_its_backend_and_circuit() {
        let m = monitor(&["a"]);
        let permit = m.acquire("a").expect("a closed circuit admits");
        assert_eq!(permit.backend(), &Backend::new("a", "http://a:8080/mcp"));
        assert_eq!(permit.circuit(), CircuitState::Closed);
        assert!(!permit.is_half_open());
        drop(permit);
        m.stop().await;

        let t0 = crate::clock::monotonic_now();
        let m = breaker_monitor(Arc::default());
        m.initial_probes_done(Duration::from_secs(1)).await;
        tokio::time::sleep_until(t0 + Duration::from_secs(6)).await;
        let trial = m.acquire("a").expect("the second trial slot");
        assert_eq!(trial.circuit(), CircuitState::HalfOpen);
        assert!(trial.is_half_open());
        drop(trial);
        m.stop().await;
    }

    /// A probe result signals a change only when it moved the status or the circuit: the
    /// first result (unknown to healthy) does, a second healthy one does not.
    #[tokio::test(start_paused = true)]
    async fn only_results_that_move_something_are_changes() {
        let t0 = crate::clock::monotonic_now();
        let probe = Arc::new(When::default());
        let m = monitor_of_a(every_10s(), Arc::clone(&probe));
        let mut changes = m.changes();
        changes.mark_unchanged();
        m.initial_probes_done(Duration::from_secs(1)).await;
        assert!(changes.has_changed().unwrap(), "unknown -> healthy");
        changes.mark_unchanged();
        tokio::time::sleep_until(t0 + Duration::from_secs(15)).await;
        assert_eq!(lock(&probe.0).len(), 2, "a second probe ran");
        assert!(
            !changes.has_changed().unwrap(),
            "healthy again is no change"
        );
        m.stop().await;
    }

    /// Fails the first probe at once, then succeeds; records when each probe started.
    #[derive(Default)]
    struct FailFirst(Mutex<Vec<Instant>>);
    impl Probe for FailFirst {
        async fn probe(&self, _backend: &Backend) -> ProbeOutcome {
            let mut calls = lock(&self.0);
            calls.push(crate::clock::monotonic_now());
            if calls.len() > 1 {
                return ProbeOutcome::success(Duration::ZERO);
            }
            ProbeOutcome::failure(
                Duration::ZERO,
                ProbeFailure {
                    status: FailureStatus::Unhealthy,
                    category: ErrorCategory::ConnectionFailed,
                    message: "refused".into(),
                },
            )
        }
    }

    /// The half-open trial runs exactly when the open timeout ends, between two grid ticks
    /// (open at 0 s for 25 s, ticks every 10 s: the trial at 25 s, then the grid again at 30 s).
    #[tokio::test(start_paused = true)]
    async fn the_half_open_trial_runs_at_the_open_deadline_between_ticks() {
        let t0 = crate::clock::monotonic_now();
        let probe = Arc::new(FailFirst::default());
        let m = monitor_of_a(every_10s_opening_for_25s(), Arc::clone(&probe));
        tokio::time::sleep_until(t0 + Duration::from_secs(35)).await;
        let offsets: Vec<Duration> = lock(&probe.0).iter().map(|t| *t - t0).collect();
        assert_eq!(
            offsets,
            [0, 25, 30].map(Duration::from_secs),
            "first probe, trial at the deadline, next tick"
        );
        assert_eq!(
            m.snapshot()["a"].probes_skipped,
            2,
            "the ticks at 10 s and 20 s"
        );
        m.stop().await;
    }

    /// The call gate: a backend without a first result is hidden (nothing is sent), a healthy
    /// one with a closed circuit admits; a plain admission is no change.
    #[tokio::test(start_paused = true)]
    async fn the_call_gate_hides_unproven_backends_and_admits_healthy_ones() {
        let m = monitor(&["a"]);
        let hidden = m.call_gate("a").unwrap_err();
        assert_eq!(
            (hidden.refusal, hidden.status),
            (GateRefusal::Hidden, HealthStatus::Unknown)
        );
        m.initial_probes_done(Duration::from_secs(1)).await;
        let mut changes = m.changes();
        changes.mark_unchanged();
        let permit = m.call_gate("a").expect("healthy and closed: admitted");
        assert_eq!(permit.circuit(), CircuitState::Closed);
        assert!(
            !changes.has_changed().unwrap(),
            "an admission that moves no breaker is no change"
        );
        drop(permit);
        m.stop().await;
    }
}
