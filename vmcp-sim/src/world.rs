//! The simulated world (DESIGN §4.1): a seeded turmoil simulation with a fixed epoch, the `vmcp`
//! host, backend services and their pods, and the faults a scenario applies between steps.
//!
//! Typical use (the runner):
//!
//! ```
//! use std::time::Duration;
//! use http::StatusCode;
//! use vmcp_sim::{PodBehaviour, PodRetirement, World, WorldConfig};
//!
//! # fn main() -> Result<(), vmcp_sim::WorldError> {
//! let mut world = World::new(WorldConfig { seed: 7, ..WorldConfig::default() });
//! let pod = world.add_backend("github", PodBehaviour::Healthy)?; // `github-pod-1`, routed
//! let url = world.backend_url("github"); // http://github:8080/mcp
//! let connector = world.connector();
//! world.add_vmcp_host(move || {
//!     let (connector, url) = (connector.clone(), url.clone());
//!     async move {
//!         // run the real core here with `connector` and `url`
//!         Ok(())
//!     }
//! })?;
//! world.run_until(Duration::from_secs(30))?;
//! let stale = PodBehaviour::Status { code: StatusCode::BAD_REQUEST, only_initialize: false };
//! let new_pod = world.replace_pod("github", PodBehaviour::Healthy, PodRetirement::Stale(stale))?;
//! world.run_until(Duration::from_secs(120))?;
//! let log = world.connection_log().records();
//! let stats = world.pod_stats(&new_pod)?;
//! # let _ = (pod, log, stats);
//! # Ok(())
//! # }
//! ```
//!
//! Service routing is connect-time resolution in [`crate::net::TurmoilConnector`]: a backend's name
//! resolves, when a connection is opened, to the pod the world last routed it to; existing
//! connections stay on their pod. The world never changes routing by itself — a crashed pod stays
//! routed (connects to it hang, as turmoil neither delivers nor refuses traffic to a crashed host),
//! and a pod in `StartingFor` is routed while it still refuses connects. Scenarios that want
//! Kubernetes readiness semantics call [`World::route`] explicitly.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use vmcp_core::clock::Timestamp;

use crate::clock::SimClock;
use crate::net::TurmoilConnector;
use crate::pod::{
    PodBehaviour, PodHandle, PodSchedule, PodStats, ReplyMode, RequestLog, RequiredAuth,
};
use crate::rng::Fingerprint;
use crate::service::{ConnectionLog, ServiceRoutes};
use crate::shared_host::{self, MAX_SHARED_PODS, SharedPods, Slot};
use crate::teardown::Teardown;

/// Unix seconds of the default epoch, 2026-01-01T00:00:00Z.
pub const DEFAULT_EPOCH_UNIX_SECS: u64 = 1_767_225_600;

/// The port pods listen on unless configured otherwise.
pub const DEFAULT_POD_PORT: u16 = 8080;

/// The host name of the host running the core.
pub const DEFAULT_VMCP_HOST: &str = "vmcp";

/// How a world is built. Every field has a deterministic default.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldConfig {
    /// Seeds turmoil's RNG (message latencies, host order if `random_order`).
    pub seed: u64,
    /// Wall-clock time at simulated time zero.
    pub epoch: SystemTime,
    /// Simulated time per step (default 10 ms; scenarios that set no tick run at the runner's
    /// [`crate::runner::tick_of`]: 30 ms).
    /// Network delivery is quantised to it: every hop takes at least one tick, so two messages
    /// less than a tick apart may arrive in the same step. Timers are not quantised (each host's
    /// paused tokio clock jumps to its next timer within a tick). The cost of a run grows with
    /// its number of steps (duration / tick) times the running hosts, so pick the largest tick
    /// below the smallest network-timing difference the run must observe.
    pub tick: Duration,
    /// Horizon for client-driven runs ([`World::run`]): turmoil fails a run whose clients have not
    /// finished by then. [`World::run_until`] is bounded by its argument instead.
    pub duration: Duration,
    /// Minimum one-way message latency on every link.
    pub min_latency: Duration,
    /// Maximum one-way message latency (turmoil samples an exponential curve between the two).
    pub max_latency: Duration,
    /// Port every pod listens on; URIs name it (`http://<backend>:<pod_port>/mcp`).
    pub pod_port: u16,
    /// Host name of the core's host.
    pub vmcp_host: String,
    /// Run hosts in a seeded random order each step, to explore more interleavings.
    pub random_order: bool,
    /// Largest seeded delay a pod adds before each response (0: none). See [`PodSchedule`].
    pub pod_jitter: Duration,
    /// Largest seeded delay between a pod's (re)start and its listening (0: none).
    pub pod_start_offset: Duration,
    /// The `vmcp` host's software starts `pod_start_offset` plus a seeded draw from
    /// `[0, vmcp_start_delay]` after each (re)start, so the pods present at time zero are
    /// listening before the first probe while the probe grid still moves with the seed.
    pub vmcp_start_delay: Duration,
}

impl Default for WorldConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            epoch: UNIX_EPOCH + Duration::from_secs(DEFAULT_EPOCH_UNIX_SECS),
            tick: Duration::from_millis(10),
            duration: Duration::from_secs(600),
            min_latency: Duration::from_millis(1),
            max_latency: Duration::from_millis(5),
            pod_port: DEFAULT_POD_PORT,
            vmcp_host: DEFAULT_VMCP_HOST.to_owned(),
            random_order: false,
            pod_jitter: Duration::ZERO,
            pod_start_offset: Duration::ZERO,
            vmcp_start_delay: Duration::ZERO,
        }
    }
}

/// What happens to the pod a replacement takes out of service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodRetirement {
    /// The pod terminates: its host crashes and every peer sees its connections closed (EOF).
    Terminate,
    /// The pod leaves the service but keeps running: it stops accepting, and serves the
    /// connections it already has with this behaviour (e.g. a 4xx on every request). With a
    /// shared keep-alive pool this is the upstream startup-race bug.
    Stale(PodBehaviour),
    /// The pod leaves the service and every packet between it and `vmcp` is held (turmoil `hold`):
    /// requests on existing connections are never answered, closes never arrive.
    Blackhole,
}

/// Errors of world operations: always a precise message, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// A backend name must be usable as a URI host and a turmoil host-name prefix.
    #[error(
        "invalid backend name `{0}`: use 1-63 lowercase ASCII letters, digits, '-' or '.', starting and ending with a letter or digit"
    )]
    InvalidBackendName(String),
    /// The backend already exists.
    #[error("backend `{0}` already exists")]
    DuplicateBackend(String),
    /// No backend of that name.
    #[error("unknown backend `{0}`")]
    UnknownBackend(String),
    /// No pod of that name.
    #[error("unknown pod `{0}`")]
    UnknownPod(String),
    /// The pod exists but belongs to another backend.
    #[error("pod `{pod}` does not belong to backend `{backend}`")]
    ForeignPod {
        /// The backend named in the call.
        backend: String,
        /// The pod named in the call.
        pod: String,
    },
    /// A host (or service) of that name already exists; turmoil names are bound to one IP forever.
    #[error("name `{0}` is already taken by a host or service")]
    NameTaken(String),
    /// The operation needs the `vmcp` host, which was not added yet.
    #[error("the vmcp host `{0}` has not been added")]
    NoVmcpHost(String),
    /// The `vmcp` host was already added.
    #[error("the vmcp host `{0}` was already added")]
    VmcpHostExists(String),
    /// Asked to run to a time that has already passed.
    #[error("cannot run until {target:?}: simulated time is already {now:?}")]
    TimeInPast {
        /// The requested time.
        target: Duration,
        /// The current simulated time.
        now: Duration,
    },
    /// The pod runs inside the shared pod host, where a host- or link-level fault would hit every
    /// pod of that host.
    #[error(
        "{operation} is not possible for pod `{pod}`: it runs in the shared pod host (declare its backend with a host of its own)"
    )]
    SharedPod {
        /// The pod named in the call.
        pod: String,
        /// What was asked (`crash_pod`, `partition`, ...).
        operation: &'static str,
    },
    /// The shared pod hosts have a port for every pod they can serve, and all are taken.
    #[error("the shared pod hosts are full: at most {MAX_SHARED_PODS} pods")]
    SharedHostFull,
    /// Host software returned an error or panicked, or turmoil's horizon was exceeded.
    #[error("simulation failed at {at:?}: {message}")]
    Simulation {
        /// Simulated time of the failing step.
        at: Duration,
        /// turmoil's error.
        message: String,
    },
}

#[derive(Debug)]
struct BackendState {
    /// Pods in creation order.
    pods: Vec<String>,
    /// Credentials every pod of this backend requires (set on pods created later too).
    auth: Option<RequiredAuth>,
    /// The port its pods listen on.
    port: u16,
    /// Its pods run in the shared pod host ([`crate::shared_host`]) instead of hosts of their own.
    shared: bool,
    /// The tools its pods serve (`None`: the pod default).
    tools: Option<Vec<String>>,
    /// What its pods answer for an unknown session.
    unknown_session: http::StatusCode,
}

#[derive(Debug)]
struct PodEntry {
    handle: PodHandle,
    backend: String,
}

/// The simulated world. Owns the turmoil [`turmoil::Sim`]; not `Send` (turmoil runs everything on
/// one thread).
pub struct World {
    sim: turmoil::Sim<'static>,
    config: WorldConfig,
    routes: ServiceRoutes,
    log: ConnectionLog,
    backends: BTreeMap<String, BackendState>,
    pods: BTreeMap<String, PodEntry>,
    /// Every host name registered with turmoil (pods, vmcp, clients).
    hosts: BTreeMap<String, HostKind>,
    /// Seeds the pods' and the vmcp host's RNGs, in creation order (independent of turmoil's).
    rng: ChaCha8Rng,
    /// The vmcp host's start-delay stream (seeded from `rng` when the host is added).
    vmcp_rng: Option<Arc<Mutex<ChaCha8Rng>>>,
    /// The shared pod hosts and their pods ([`crate::shared_host`]).
    shared: SharedPods,
    /// Every pod, now and later, logs its requests here once [`World::log_requests`] was called.
    requests: Option<RequestLog>,
    /// Numbers every stream the hosts open or accept, so a crashed host closes them in a fixed
    /// order ([`crate::teardown`]).
    teardown: Teardown,
}

/// Mixed into the seed of the world's own RNG so its stream differs from turmoil's.
const WORLD_RNG_SALT: u64 = 0x766d_6370_2d73_696d; // "vmcp-sim"

/// How [`World::tear_down`] stops a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    /// `Sim::crash`: the software stays down.
    Crash,
    /// `Sim::bounce`: the software starts again at once.
    Restart,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostKind {
    Vmcp,
    Pod,
    Client,
}

impl World {
    /// Builds the turmoil simulation from `config`. No host exists yet.
    pub fn new(config: WorldConfig) -> Self {
        let mut builder = turmoil::Builder::new();
        builder
            .rng_seed(config.seed)
            .epoch(config.epoch)
            .tick_duration(config.tick)
            .simulation_duration(config.duration)
            .min_message_latency(config.min_latency)
            .max_message_latency(config.max_latency.max(config.min_latency));
        if config.random_order {
            builder.enable_random_order();
        }
        Self {
            sim: builder.build(),
            routes: ServiceRoutes::new(),
            log: ConnectionLog::new(),
            backends: BTreeMap::new(),
            pods: BTreeMap::new(),
            hosts: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(config.seed ^ WORLD_RNG_SALT),
            vmcp_rng: None,
            config,
            shared: SharedPods::new(),
            requests: None,
            teardown: Teardown::new(),
        }
    }

    /// Log every request every pod (now and later) receives, with its simulated time; returns
    /// the shared log. Off by default: a large scenario's probes would fill it for nothing.
    pub fn log_requests(&mut self) -> RequestLog {
        let log = self.requests.get_or_insert_with(RequestLog::new).clone();
        for entry in self.pods.values() {
            entry.handle.log_requests(log.clone());
        }
        log
    }

    /// The tools every pod of `backend` (now and later) serves.
    pub fn set_tools(&mut self, backend: &str, tools: &[String]) -> Result<(), WorldError> {
        let state = self
            .backends
            .get_mut(backend)
            .ok_or_else(|| WorldError::UnknownBackend(backend.to_owned()))?;
        state.tools = Some(tools.to_vec());
        for pod in &state.pods {
            if let Some(entry) = self.pods.get(pod) {
                entry.handle.set_tools(tools);
            }
        }
        Ok(())
    }

    /// What every pod of `backend` (now and later) answers to a request naming a session it does
    /// not know: 404 (the spec) or 400 (what some SDKs send).
    pub fn set_unknown_session_status(
        &mut self,
        backend: &str,
        status: http::StatusCode,
    ) -> Result<(), WorldError> {
        let state = self
            .backends
            .get_mut(backend)
            .ok_or_else(|| WorldError::UnknownBackend(backend.to_owned()))?;
        state.unknown_session = status;
        for pod in &state.pods {
            if let Some(entry) = self.pods.get(pod) {
                entry.handle.set_unknown_session_status(status);
            }
        }
        Ok(())
    }

    /// The configuration the world was built with.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// A connector for hyper-util clients running inside the simulation (normally in `vmcp`).
    pub fn connector(&self) -> TurmoilConnector {
        TurmoilConnector::new(self.routes.clone(), self.log.clone())
            .with_teardown(self.teardown.clone())
    }

    /// The register the hosts' streams are numbered in: a host's software that accepts
    /// connections itself (the front end's listener) tracks them here.
    pub(crate) fn teardown(&self) -> &Teardown {
        &self.teardown
    }

    /// The URL of a backend's MCP endpoint as the core should be configured with it.
    pub fn backend_url(&self, backend: &str) -> String {
        let port = self
            .backends
            .get(backend)
            .map_or(self.config.pod_port, |b| b.port);
        format!("http://{backend}:{port}/mcp")
    }

    /// The shared service routing table.
    pub fn routes(&self) -> &ServiceRoutes {
        &self.routes
    }

    /// The shared log of every connection attempt made through the world's connectors.
    pub fn connection_log(&self) -> &ConnectionLog {
        &self.log
    }

    /// The epoch as a report timestamp.
    pub fn epoch(&self) -> Timestamp {
        let since = self
            .config
            .epoch
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_unix_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// A wall clock for the core: epoch plus simulated time.
    pub fn clock(&self) -> SimClock {
        SimClock::new(self.epoch())
    }

    /// Folds the state of the world's seeded streams into `fingerprint`: its own stream (which
    /// seeds pods and the vmcp host), the vmcp host's start-delay stream, and every pod's stream
    /// by pod name (see [`crate::rng`]).
    pub fn fold_rng_state(&self, fingerprint: &mut Fingerprint) {
        fingerprint.add_stream(&self.rng);
        if let Some(vmcp) = &self.vmcp_rng {
            fingerprint.add_stream(&vmcp.lock().unwrap_or_else(|p| p.into_inner()));
        }
        for entry in self.pods.values() {
            entry.handle.fold_rng_state(fingerprint);
        }
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    // ----- hosts -------------------------------------------------------------------------------

    /// Adds the `vmcp` host running `software`. It is a restartable turmoil host: `software` is
    /// called again on [`World::restart_vmcp`]. Each start waits the seeded delay of
    /// [`WorldConfig::vmcp_start_delay`] first.
    pub fn add_vmcp_host<F, Fut>(&mut self, software: F) -> Result<(), WorldError>
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = turmoil::Result> + 'static,
    {
        let name = self.config.vmcp_host.clone();
        if self.hosts.values().any(|k| *k == HostKind::Vmcp) {
            return Err(WorldError::VmcpHostExists(name));
        }
        self.claim_name(&name, HostKind::Vmcp)?;
        let rng = Arc::new(Mutex::new(ChaCha8Rng::seed_from_u64(self.rng.next_u64())));
        self.vmcp_rng = Some(Arc::clone(&rng));
        let (base, spread) = (self.config.pod_start_offset, self.config.vmcp_start_delay);
        let teardown = self.teardown.clone();
        self.sim.host(name.as_str(), move || {
            let delay = {
                let mut rng = rng.lock().unwrap_or_else(|p| p.into_inner());
                base + crate::pod::draw_up_to(&mut rng, spread)
            };
            let started = software();
            teardown.drained(async move {
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                started.await
            })
        });
        Ok(())
    }

    /// Adds a turmoil *client* (test code that runs to completion; see [`World::run`]).
    pub fn add_client<Fut>(&mut self, name: &str, client: Fut) -> Result<(), WorldError>
    where
        Fut: Future<Output = turmoil::Result> + 'static,
    {
        self.claim_name(name, HostKind::Client)?;
        self.sim.client(name, client);
        Ok(())
    }

    /// Adds a long-running host named `name` (a simulated MCP client, [`crate::client`]) running
    /// `software`. Unlike [`World::add_client`], the run does not wait for it to finish.
    pub fn add_client_host<F, Fut>(&mut self, name: &str, software: F) -> Result<(), WorldError>
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = turmoil::Result> + 'static,
    {
        self.claim_name(name, HostKind::Client)?;
        let teardown = self.teardown.clone();
        self.sim.host(name, move || teardown.drained(software()));
        Ok(())
    }

    fn claim_name(&mut self, name: &str, kind: HostKind) -> Result<(), WorldError> {
        if self.hosts.contains_key(name) || self.backends.contains_key(name) {
            return Err(WorldError::NameTaken(name.to_owned()));
        }
        self.hosts.insert(name.to_owned(), kind);
        Ok(())
    }

    fn vmcp_host(&self) -> Result<&str, WorldError> {
        let name = self.config.vmcp_host.as_str();
        match self.hosts.get(name) {
            Some(HostKind::Vmcp) => Ok(name),
            _ => Err(WorldError::NoVmcpHost(name.to_owned())),
        }
    }

    // ----- backends and pods -------------------------------------------------------------------

    /// Adds a backend service with its first pod (`<name>-pod-1`) running `behaviour`, routed,
    /// its pods listening on the world's `pod_port`. Returns the pod's name.
    pub fn add_backend(
        &mut self,
        name: &str,
        behaviour: PodBehaviour,
    ) -> Result<String, WorldError> {
        let port = self.config.pod_port;
        self.add_backend_on_port(name, port, behaviour)
    }

    /// [`World::add_backend_on_port`] for a backend whose pods run in the shared pod host
    /// ([`crate::shared_host`]): no turmoil host of their own, so thousands cost little, but no
    /// crash, restart, partition, hold or link latency for them ([`WorldError::SharedPod`]).
    pub fn add_shared_backend(
        &mut self,
        name: &str,
        port: u16,
        behaviour: PodBehaviour,
    ) -> Result<String, WorldError> {
        self.insert_backend(name, port, behaviour, true)
    }

    /// Whether `pod` runs in the shared pod host.
    pub fn is_shared_pod(&self, pod: &str) -> bool {
        self.pods
            .get(pod)
            .and_then(|e| self.backends.get(&e.backend))
            .is_some_and(|b| b.shared)
    }

    /// Refuses a host- or link-level `operation` on a pod of the shared host.
    fn own_host(&self, pod: &str, operation: &'static str) -> Result<(), WorldError> {
        self.pod_entry(pod)?;
        if self.is_shared_pod(pod) {
            return Err(WorldError::SharedPod {
                pod: pod.to_owned(),
                operation,
            });
        }
        Ok(())
    }

    /// [`World::add_backend`] with the backend's pods listening on `port`.
    pub fn add_backend_on_port(
        &mut self,
        name: &str,
        port: u16,
        behaviour: PodBehaviour,
    ) -> Result<String, WorldError> {
        self.insert_backend(name, port, behaviour, false)
    }

    fn insert_backend(
        &mut self,
        name: &str,
        port: u16,
        behaviour: PodBehaviour,
        shared: bool,
    ) -> Result<String, WorldError> {
        if !valid_backend_name(name) {
            return Err(WorldError::InvalidBackendName(name.to_owned()));
        }
        if self.backends.contains_key(name) || self.hosts.contains_key(name) {
            return Err(if self.backends.contains_key(name) {
                WorldError::DuplicateBackend(name.to_owned())
            } else {
                WorldError::NameTaken(name.to_owned())
            });
        }
        self.backends.insert(
            name.to_owned(),
            BackendState {
                pods: Vec::new(),
                auth: None,
                port,
                shared,
                tools: None,
                unknown_session: http::StatusCode::NOT_FOUND,
            },
        );
        let pod = self.add_pod(name, behaviour)?;
        self.routes.set(name, Some(&pod));
        Ok(pod)
    }

    /// Starts a new pod `<backend>-pod-<n>` for `backend` *without* routing to it (e.g. a pod that
    /// must become ready before the service switches). Returns its name.
    pub fn add_pod(
        &mut self,
        backend: &str,
        behaviour: PodBehaviour,
    ) -> Result<String, WorldError> {
        let state = self
            .backends
            .get(backend)
            .ok_or_else(|| WorldError::UnknownBackend(backend.to_owned()))?;
        let name = format!("{backend}-pod-{}", state.pods.len() + 1);
        let (auth, port, shared) = (state.auth.clone(), state.port, state.shared);
        let (tools, unknown_session) = (state.tools.clone(), state.unknown_session);
        let slot = if shared {
            Some(self.shared.next_slot().ok_or(WorldError::SharedHostFull)?)
        } else {
            None
        };
        self.claim_name(&name, HostKind::Pod)?;
        let schedule = PodSchedule {
            seed: self.rng.next_u64(),
            max_jitter: self.config.pod_jitter,
            max_start_offset: self.config.pod_start_offset,
        };
        let handle = PodHandle::with_schedule(
            &name,
            slot.as_ref().map_or(port, |s| s.port),
            PodBehaviour::Healthy,
            schedule,
        );
        handle.set_behaviour(behaviour, self.sim.elapsed());
        handle.require_auth(auth);
        if let Some(tools) = &tools {
            handle.set_tools(tools);
        }
        handle.set_unknown_session_status(unknown_session);
        if let Some(log) = &self.requests {
            handle.log_requests(log.clone());
        }
        handle.set_teardown(self.teardown.clone());
        match slot {
            Some(slot) => self.add_to_shared_host(&name, &slot, &handle)?,
            None => {
                let (software, teardown) = (handle.software(), self.teardown.clone());
                self.sim
                    .host(name.as_str(), move || teardown.drained(software()));
            }
        }
        if let Some(state) = self.backends.get_mut(backend) {
            state.pods.push(name.clone());
        }
        self.pods.insert(
            name.clone(),
            PodEntry {
                handle,
                backend: backend.to_owned(),
            },
        );
        Ok(name)
    }

    /// Puts a pod into its shared pod host (created with its first pod) and routes its address.
    fn add_to_shared_host(
        &mut self,
        pod: &str,
        slot: &Slot,
        handle: &PodHandle,
    ) -> Result<(), WorldError> {
        let host = shared_host::host_name(slot.host);
        if slot.new_host {
            self.claim_name(&host, HostKind::Pod)?;
        }
        if let Some(software) = self.shared.push(slot, handle.clone()) {
            let teardown = self.teardown.clone();
            self.sim
                .host(host.as_str(), move || teardown.drained(software()));
        }
        self.routes.place(pod, &host, slot.port);
        Ok(())
    }

    /// Every pod of `backend`, now and later, answers 401 to requests without `auth` (an auth
    /// proxy in front of the MCP server); `None` lifts the requirement.
    pub fn require_auth(
        &mut self,
        backend: &str,
        auth: Option<RequiredAuth>,
    ) -> Result<(), WorldError> {
        let state = self
            .backends
            .get_mut(backend)
            .ok_or_else(|| WorldError::UnknownBackend(backend.to_owned()))?;
        state.auth = auth.clone();
        for pod in &state.pods {
            if let Some(entry) = self.pods.get(pod) {
                entry.handle.require_auth(auth.clone());
            }
        }
        Ok(())
    }

    /// Points `backend`'s service at `pod` (`None`: no ready endpoint, connects are refused).
    /// Only connections opened afterwards follow.
    pub fn route(&mut self, backend: &str, pod: Option<&str>) -> Result<(), WorldError> {
        if !self.backends.contains_key(backend) {
            return Err(WorldError::UnknownBackend(backend.to_owned()));
        }
        if let Some(pod) = pod {
            let entry = self.pod_entry(pod)?;
            if entry.backend != backend {
                return Err(WorldError::ForeignPod {
                    backend: backend.to_owned(),
                    pod: pod.to_owned(),
                });
            }
        }
        self.routes.set(backend, pod);
        Ok(())
    }

    /// Replaces `backend`'s current pod: starts a new pod running `behaviour`, routes the service
    /// to it, and disposes of the previously routed pod as `old` says (nothing to dispose of when
    /// the service had no routed pod). Returns the new pod's name.
    pub fn replace_pod(
        &mut self,
        backend: &str,
        behaviour: PodBehaviour,
        old: PodRetirement,
    ) -> Result<String, WorldError> {
        if !self.backends.contains_key(backend) {
            return Err(WorldError::UnknownBackend(backend.to_owned()));
        }
        if matches!(old, PodRetirement::Blackhole) {
            // Fail before changing anything.
            self.vmcp_host()?;
        }
        let previous = self.routes.current(backend);
        if let Some(previous) = &previous {
            match old {
                PodRetirement::Terminate => {
                    self.own_host(previous, "replace_pod (old pod terminated)")?
                }
                PodRetirement::Blackhole => {
                    self.own_host(previous, "replace_pod (old pod blackholed)")?
                }
                PodRetirement::Stale(_) => {}
            }
        }
        let new = self.add_pod(backend, behaviour)?;
        self.routes.set(backend, Some(&new));
        if let Some(previous) = previous {
            let now = self.sim.elapsed();
            match old {
                PodRetirement::Terminate => self.tear_down(&previous, Stop::Crash)?,
                PodRetirement::Stale(b) => self.pod_entry(&previous)?.handle.retire(b, now),
                PodRetirement::Blackhole => {
                    let handle = &self.pod_entry(&previous)?.handle;
                    handle.retire(handle.behaviour(), now);
                    let vmcp = self.vmcp_host()?.to_owned();
                    self.sim.hold(vmcp.as_str(), previous.as_str());
                }
            }
        }
        Ok(new)
    }

    /// Switches a pod's behaviour, effective for requests arriving from now on.
    pub fn set_behaviour(&mut self, pod: &str, behaviour: PodBehaviour) -> Result<(), WorldError> {
        let now = self.sim.elapsed();
        self.pod_entry(pod)?.handle.set_behaviour(behaviour, now);
        Ok(())
    }

    /// Switches a pod between JSON and SSE replies.
    pub fn set_reply_mode(&mut self, pod: &str, reply: ReplyMode) -> Result<(), WorldError> {
        self.pod_entry(pod)?.handle.set_reply_mode(reply);
        Ok(())
    }

    /// Crashes a pod's host: its connections close (peers see EOF), later connects to it hang
    /// until [`World::restart_pod`]. Routing is unchanged.
    pub fn crash_pod(&mut self, pod: &str) -> Result<(), WorldError> {
        self.own_host(pod, "crash_pod")?;
        self.tear_down(pod, Stop::Crash)
    }

    /// Restarts a pod's software (crashed or not): a fresh incarnation with no sessions.
    pub fn restart_pod(&mut self, pod: &str) -> Result<(), WorldError> {
        self.own_host(pod, "restart_pod")?;
        self.tear_down(pod, Stop::Restart)
    }

    /// Crashes the `vmcp` host.
    pub fn crash_vmcp(&mut self) -> Result<(), WorldError> {
        let vmcp = self.vmcp_host()?.to_owned();
        self.tear_down(&vmcp, Stop::Crash)
    }

    /// Restarts the `vmcp` host's software.
    pub fn restart_vmcp(&mut self) -> Result<(), WorldError> {
        let vmcp = self.vmcp_host()?.to_owned();
        self.tear_down(&vmcp, Stop::Restart)
    }

    /// Crashes or restarts `host` with its sockets closed in creation order and the connection
    /// attempts its crash abandons logged in a fixed order, whatever order tokio drops the
    /// host's tasks in ([`crate::teardown`]).
    fn tear_down(&mut self, host: &str, stop: Stop) -> Result<(), WorldError> {
        // A host whose software has ended is not torn down by a crash, and on a restart has no
        // software future left to close the parked sockets: nothing to order then.
        let running = self.sim.is_host_running(host);
        if running {
            self.teardown.begin();
        }
        let logged = self.log.len();
        match stop {
            Stop::Crash => self.sim.crash(host),
            Stop::Restart => self.sim.bounce(host),
        }
        self.log.order_from(logged);
        let unclosed = self.teardown.end();
        if unclosed > 0 {
            return Err(WorldError::Simulation {
                at: self.sim.elapsed(),
                message: format!(
                    "the teardown of `{host}` left {unclosed} sockets unclosed (its software                      future was not dropped with it)"
                ),
            });
        }
        Ok(())
    }

    /// Whether a pod's software is running (not crashed).
    pub fn is_pod_running(&mut self, pod: &str) -> Result<bool, WorldError> {
        self.pod_entry(pod)?;
        let host = match self.routes.placement(pod) {
            Some((host, _)) => host,
            None => pod.to_owned(),
        };
        Ok(self.sim.is_host_running(host.as_str()))
    }

    // ----- network faults between vmcp and a pod -----------------------------------------------

    /// Drops every packet between `vmcp` and `pod` (in flight and future). A connect attempt fails
    /// as refused (turmoil drops the SYN); existing connections see nothing, so requests hang.
    pub fn partition(&mut self, pod: &str) -> Result<(), WorldError> {
        let (vmcp, pod) = self.link(pod)?;
        self.sim.partition(vmcp.as_str(), pod.as_str());
        Ok(())
    }

    /// Undoes [`World::partition`]; dropped packets stay lost.
    pub fn repair(&mut self, pod: &str) -> Result<(), WorldError> {
        let (vmcp, pod) = self.link(pod)?;
        self.sim.repair(vmcp.as_str(), pod.as_str());
        Ok(())
    }

    /// Holds every packet between `vmcp` and `pod` until [`World::release`]: connects and requests
    /// hang, nothing is lost.
    pub fn hold(&mut self, pod: &str) -> Result<(), WorldError> {
        let (vmcp, pod) = self.link(pod)?;
        self.sim.hold(vmcp.as_str(), pod.as_str());
        Ok(())
    }

    /// Delivers everything held by [`World::hold`] and lets traffic flow again.
    pub fn release(&mut self, pod: &str) -> Result<(), WorldError> {
        let (vmcp, pod) = self.link(pod)?;
        self.sim.release(vmcp.as_str(), pod.as_str());
        Ok(())
    }

    /// Fixes the one-way latency between `vmcp` and `pod` to exactly `latency`.
    pub fn set_link_latency(&mut self, pod: &str, latency: Duration) -> Result<(), WorldError> {
        let (vmcp, pod) = self.link(pod)?;
        self.sim
            .set_link_latency(vmcp.as_str(), pod.as_str(), latency);
        Ok(())
    }

    fn link(&self, pod: &str) -> Result<(String, String), WorldError> {
        self.own_host(pod, "a link fault (partition, hold, latency)")?;
        Ok((self.vmcp_host()?.to_owned(), pod.to_owned()))
    }

    // ----- running -----------------------------------------------------------------------------

    /// Steps the simulation until simulated time reaches `target` (the end of the first step at
    /// or past it). Apply events between calls.
    ///
    /// A host whose software fails fails the call; the world should then be discarded.
    pub fn run_until(&mut self, target: Duration) -> Result<(), WorldError> {
        let now = self.sim.elapsed();
        if target < now {
            return Err(WorldError::TimeInPast { target, now });
        }
        while self.sim.elapsed() < target {
            self.step()?;
        }
        Ok(())
    }

    /// Advances the simulation by one tick.
    pub fn step(&mut self) -> Result<(), WorldError> {
        let at = self.sim.elapsed();
        self.sim
            .step()
            .map(|_| ())
            .map_err(|e| WorldError::Simulation {
                at,
                message: e.to_string(),
            })
    }

    /// Runs until every client added with [`World::add_client`] has finished (or the configured
    /// `duration` is exceeded, which is an error).
    pub fn run(&mut self) -> Result<(), WorldError> {
        let at = self.sim.elapsed();
        self.sim.run().map_err(|e| WorldError::Simulation {
            at,
            message: e.to_string(),
        })
    }

    // ----- inspection --------------------------------------------------------------------------

    /// The handle of a pod (shared with its software), e.g. to flip behaviour from test code.
    pub fn pod(&self, pod: &str) -> Option<&PodHandle> {
        self.pods.get(pod).map(|e| &e.handle)
    }

    /// A copy of a pod's counters.
    pub fn pod_stats(&self, pod: &str) -> Result<PodStats, WorldError> {
        Ok(self.pod_entry(pod)?.handle.stats())
    }

    /// Every pod's counters, sorted by pod name.
    pub fn all_pod_stats(&self) -> BTreeMap<String, PodStats> {
        self.pods
            .iter()
            .map(|(name, e)| (name.clone(), e.handle.stats()))
            .collect()
    }

    /// The pod a new connection to `backend` would reach now.
    pub fn current_pod(&self, backend: &str) -> Option<String> {
        self.routes.current(backend)
    }

    /// A backend's pods in creation order.
    pub fn backend_pods(&self, backend: &str) -> Result<&[String], WorldError> {
        self.backends
            .get(backend)
            .map(|s| s.pods.as_slice())
            .ok_or_else(|| WorldError::UnknownBackend(backend.to_owned()))
    }

    /// Backend names, sorted.
    pub fn backends(&self) -> impl Iterator<Item = &str> {
        self.backends.keys().map(String::as_str)
    }

    fn pod_entry(&self, pod: &str) -> Result<&PodEntry, WorldError> {
        self.pods
            .get(pod)
            .ok_or_else(|| WorldError::UnknownPod(pod.to_owned()))
    }
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("elapsed", &self.sim.elapsed())
            .field("config", &self.config)
            .field("routes", &self.routes.snapshot())
            .field("pods", &self.pods.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A backend name is a DNS-label-like URI host: lowercase letters, digits, `-` and `.`, starting
/// and ending with a letter or digit, at most 63 characters.
fn valid_backend_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(edge_ok)
        && bytes.last().is_some_and(edge_ok)
        && bytes
            .iter()
            .all(|b| edge_ok(b) || *b == b'-' || *b == b'.')
        // A name that parses as an IP would bypass turmoil's DNS.
        && name.parse::<std::net::IpAddr>().is_err()
}

#[cfg(test)]
mod tests {

    #[test]
    fn required_credentials_apply_to_existing_and_replacement_pods() {
        let mut world = World::new(WorldConfig::default());
        let auth = RequiredAuth {
            header: http::header::AUTHORIZATION,
            value: "Bearer t".to_owned(),
        };
        let first = world.add_backend("gh", PodBehaviour::Healthy).unwrap();
        world.require_auth("gh", Some(auth.clone())).unwrap();
        assert_eq!(
            world.pod(&first).unwrap().required_auth(),
            Some(auth.clone())
        );
        world.add_vmcp_host(|| async { Ok(()) }).unwrap();
        let second = world
            .replace_pod("gh", PodBehaviour::Healthy, PodRetirement::Terminate)
            .unwrap();
        assert_eq!(world.pod(&second).unwrap().required_auth(), Some(auth));
        world.require_auth("gh", None).unwrap();
        assert_eq!(world.pod(&second).unwrap().required_auth(), None);
        assert!(matches!(
            world.require_auth("nope", None),
            Err(WorldError::UnknownBackend(_))
        ));
    }

    use super::*;

    fn fingerprint(world: &World) -> String {
        let mut f = Fingerprint::new();
        world.fold_rng_state(&mut f);
        f.hex()
    }

    /// `--check-determinism` compares fingerprints: a run that drew once more from any of the
    /// world's streams (its own, the vmcp host's start delay, any pod's) must differ.
    #[test]
    fn the_fingerprint_covers_every_stream_of_the_world() {
        let build = || {
            let mut world = World::new(WorldConfig::default());
            world.add_backend("a", PodBehaviour::Healthy).unwrap();
            world.add_backend("b", PodBehaviour::Healthy).unwrap();
            world.add_vmcp_host(|| async { Ok(()) }).unwrap();
            world
        };
        let (reference, mut world) = (build(), build());
        assert_eq!(fingerprint(&reference), fingerprint(&world), "same seed");
        let _ = world.pod("b-pod-1").unwrap().next_session_id();
        let after_pod = fingerprint(&world);
        assert_ne!(fingerprint(&reference), after_pod, "a pod's stream");
        if let Some(vmcp) = &world.vmcp_rng {
            let _ = vmcp.lock().unwrap().next_u32();
        }
        let after_vmcp = fingerprint(&world);
        assert_ne!(after_pod, after_vmcp, "the vmcp host's start-delay stream");
        let _ = world.rng.next_u64();
        assert_ne!(after_vmcp, fingerprint(&world), "the world's own stream");
        let other = World::new(WorldConfig {
            seed: 99,
            ..WorldConfig::default()
        });
        assert_ne!(
            fingerprint(&other),
            fingerprint(&World::new(WorldConfig::default()))
        );
    }

    #[test]
    fn backend_names_are_validated() {
        assert!(valid_backend_name("github"));
        assert!(valid_backend_name("mcp-1.tools"));
        assert!(!valid_backend_name(""));
        assert!(!valid_backend_name("-x"));
        assert!(!valid_backend_name("Upper"));
        assert!(!valid_backend_name("a b"));
        assert!(!valid_backend_name(&"a".repeat(64)));
        let mut world = World::new(WorldConfig::default());
        assert!(matches!(
            world.add_backend("Bad", PodBehaviour::Healthy),
            Err(WorldError::InvalidBackendName(_))
        ));
    }

    #[test]
    fn names_and_references_are_checked() {
        let mut world = World::new(WorldConfig::default());
        assert_eq!(
            world.add_backend("a", PodBehaviour::Healthy).unwrap(),
            "a-pod-1"
        );
        assert!(matches!(
            world.add_backend("a", PodBehaviour::Healthy),
            Err(WorldError::DuplicateBackend(_))
        ));
        assert!(matches!(
            world.add_backend("a-pod-1", PodBehaviour::Healthy),
            Err(WorldError::NameTaken(_))
        ));
        world.add_backend("b", PodBehaviour::Healthy).unwrap();
        assert!(matches!(
            world.route("a", Some("b-pod-1")),
            Err(WorldError::ForeignPod { .. })
        ));
        assert!(matches!(
            world.set_behaviour("nope", PodBehaviour::Hang),
            Err(WorldError::UnknownPod(_))
        ));
        assert!(matches!(
            world.partition("a-pod-1"),
            Err(WorldError::NoVmcpHost(_))
        ));
        assert!(matches!(
            world.replace_pod("a", PodBehaviour::Healthy, PodRetirement::Blackhole),
            Err(WorldError::NoVmcpHost(_))
        ));
        // The failed replacement changed nothing.
        assert_eq!(world.backend_pods("a").unwrap(), ["a-pod-1".to_owned()]);
        world.run_until(Duration::from_millis(5)).unwrap();
        assert!(matches!(
            world.run_until(Duration::from_millis(1)),
            Err(WorldError::TimeInPast { .. })
        ));
    }

    #[test]
    fn default_epoch_is_2026() {
        let world = World::new(WorldConfig::default());
        assert_eq!(world.epoch().to_string(), "2026-01-01T00:00:00.000Z");
    }
}
