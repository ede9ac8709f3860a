//! The simulated world (DESIGN §4.1): a seeded turmoil simulation with a fixed epoch, the `vmcp`
//! host, backend services and their pods, and the faults a scenario applies between steps.
//!
//! Typical use (the runner):
//!
//! ```
//! use std::time::Duration;
//! use http::StatusCode;
//! use vmcp_sim::{Behaviour, OldPod, World, WorldConfig};
//!
//! # fn main() -> Result<(), vmcp_sim::WorldError> {
//! let mut world = World::new(WorldConfig { seed: 7, ..WorldConfig::default() });
//! let pod = world.add_backend("github", Behaviour::Healthy)?; // `github-pod-1`, routed
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
//! let stale = Behaviour::Status { code: StatusCode::BAD_REQUEST, only_initialize: false };
//! let new_pod = world.replace_pod("github", Behaviour::Healthy, OldPod::Stale(stale))?;
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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vmcp_core::clock::Timestamp;

use crate::clock::SimClock;
use crate::net::TurmoilConnector;
use crate::pod::{Behaviour, PodHandle, PodStats, ReplyMode, RequiredAuth};
use crate::service::{ConnectionLog, ServiceRoutes};

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
    /// [`crate::runner::DEFAULT_TICK`], 20 ms).
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
        }
    }
}

/// What happens to the pod a replacement takes out of service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OldPod {
    /// The pod terminates: its host crashes and every peer sees its connections closed (EOF).
    Terminate,
    /// The pod leaves the service but keeps running: it stops accepting, and serves the
    /// connections it already has with this behaviour (e.g. a 4xx on every request). With a
    /// shared keep-alive pool this is the upstream startup-race bug.
    Stale(Behaviour),
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
            config,
            routes: ServiceRoutes::new(),
            log: ConnectionLog::new(),
            backends: BTreeMap::new(),
            pods: BTreeMap::new(),
            hosts: BTreeMap::new(),
        }
    }

    /// The configuration the world was built with.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// A connector for hyper-util clients running inside the simulation (normally in `vmcp`).
    pub fn connector(&self) -> TurmoilConnector {
        TurmoilConnector::new(self.routes.clone(), self.log.clone())
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

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    // ----- hosts -------------------------------------------------------------------------------

    /// Adds the `vmcp` host running `software`. It is a restartable turmoil host: `software` is
    /// called again on [`World::restart_vmcp`].
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
        self.sim.host(name.as_str(), software);
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
    pub fn add_backend(&mut self, name: &str, behaviour: Behaviour) -> Result<String, WorldError> {
        let port = self.config.pod_port;
        self.add_backend_on_port(name, port, behaviour)
    }

    /// [`World::add_backend`] with the backend's pods listening on `port`.
    pub fn add_backend_on_port(
        &mut self,
        name: &str,
        port: u16,
        behaviour: Behaviour,
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
            },
        );
        let pod = self.add_pod(name, behaviour)?;
        self.routes.set(name, Some(&pod));
        Ok(pod)
    }

    /// Starts a new pod `<backend>-pod-<n>` for `backend` *without* routing to it (e.g. a pod that
    /// must become ready before the service switches). Returns its name.
    pub fn add_pod(&mut self, backend: &str, behaviour: Behaviour) -> Result<String, WorldError> {
        let state = self
            .backends
            .get(backend)
            .ok_or_else(|| WorldError::UnknownBackend(backend.to_owned()))?;
        let name = format!("{backend}-pod-{}", state.pods.len() + 1);
        let (auth, port) = (state.auth.clone(), state.port);
        self.claim_name(&name, HostKind::Pod)?;
        let handle = PodHandle::new(&name, port, Behaviour::Healthy);
        handle.set_behaviour(behaviour, self.sim.elapsed());
        handle.require_auth(auth);
        self.sim.host(name.as_str(), handle.software());
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
        behaviour: Behaviour,
        old: OldPod,
    ) -> Result<String, WorldError> {
        if !self.backends.contains_key(backend) {
            return Err(WorldError::UnknownBackend(backend.to_owned()));
        }
        if matches!(old, OldPod::Blackhole) {
            // Fail before changing anything.
            self.vmcp_host()?;
        }
        let previous = self.routes.current(backend);
        let new = self.add_pod(backend, behaviour)?;
        self.routes.set(backend, Some(&new));
        if let Some(previous) = previous {
            let now = self.sim.elapsed();
            match old {
                OldPod::Terminate => self.sim.crash(previous.as_str()),
                OldPod::Stale(b) => self.pod_entry(&previous)?.handle.retire(b, now),
                OldPod::Blackhole => {
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
    pub fn set_behaviour(&mut self, pod: &str, behaviour: Behaviour) -> Result<(), WorldError> {
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
        self.pod_entry(pod)?;
        self.sim.crash(pod);
        Ok(())
    }

    /// Restarts a pod's software (crashed or not): a fresh incarnation with no sessions.
    pub fn restart_pod(&mut self, pod: &str) -> Result<(), WorldError> {
        self.pod_entry(pod)?;
        self.sim.bounce(pod);
        Ok(())
    }

    /// Crashes the `vmcp` host.
    pub fn crash_vmcp(&mut self) -> Result<(), WorldError> {
        let vmcp = self.vmcp_host()?.to_owned();
        self.sim.crash(vmcp.as_str());
        Ok(())
    }

    /// Restarts the `vmcp` host's software.
    pub fn restart_vmcp(&mut self) -> Result<(), WorldError> {
        let vmcp = self.vmcp_host()?.to_owned();
        self.sim.bounce(vmcp.as_str());
        Ok(())
    }

    /// Whether a pod's software is running (not crashed).
    pub fn is_pod_running(&mut self, pod: &str) -> Result<bool, WorldError> {
        self.pod_entry(pod)?;
        Ok(self.sim.is_host_running(pod))
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
        self.pod_entry(pod)?;
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
        let first = world.add_backend("gh", Behaviour::Healthy).unwrap();
        world.require_auth("gh", Some(auth.clone())).unwrap();
        assert_eq!(
            world.pod(&first).unwrap().required_auth(),
            Some(auth.clone())
        );
        world.add_vmcp_host(|| async { Ok(()) }).unwrap();
        let second = world
            .replace_pod("gh", Behaviour::Healthy, OldPod::Terminate)
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
            world.add_backend("Bad", Behaviour::Healthy),
            Err(WorldError::InvalidBackendName(_))
        ));
    }

    #[test]
    fn names_and_references_are_checked() {
        let mut world = World::new(WorldConfig::default());
        assert_eq!(
            world.add_backend("a", Behaviour::Healthy).unwrap(),
            "a-pod-1"
        );
        assert!(matches!(
            world.add_backend("a", Behaviour::Healthy),
            Err(WorldError::DuplicateBackend(_))
        ));
        assert!(matches!(
            world.add_backend("a-pod-1", Behaviour::Healthy),
            Err(WorldError::NameTaken(_))
        ));
        world.add_backend("b", Behaviour::Healthy).unwrap();
        assert!(matches!(
            world.route("a", Some("b-pod-1")),
            Err(WorldError::ForeignPod { .. })
        ));
        assert!(matches!(
            world.set_behaviour("nope", Behaviour::Hang),
            Err(WorldError::UnknownPod(_))
        ));
        assert!(matches!(
            world.partition("a-pod-1"),
            Err(WorldError::NoVmcpHost(_))
        ));
        assert!(matches!(
            world.replace_pod("a", Behaviour::Healthy, OldPod::Blackhole),
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
