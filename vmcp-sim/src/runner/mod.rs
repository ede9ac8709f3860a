//! The scenario runner (DESIGN §4.3): build the world from a scenario and a seed, run the real
//! core in the `vmcp` host, apply events at their simulated instants, record the trace, check the
//! expectations.

mod adapter;
mod evaluate;
mod state;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use vmcp_core::client::McpClient;
use vmcp_core::registry::{Backend, DynamicRegistry};
use vmcp_core::runtime::{RuntimeParts, VmcpRuntime};
use vmcp_core::status::StatusReport;

pub use evaluate::{ExpectationFailure, evaluate};

use crate::invariants::{self, Limits, Violation};
use crate::pod::{PodBehaviour, ReplyMode};
use crate::rng::{CoreSeeds, SimRng, run_fingerprint};
use crate::scenario::{EventAction, EventSpec, Scenario};
use crate::trace::{RegistryLine, TimedReport, Trace, TraceEvent, TraceRecorder};
use crate::world::{self, World, WorldConfig, WorldError};
use adapter::{demanded, pod_retirement, required_auth, to_pod};

/// The tick used when a scenario does not set one (see [`WorldConfig::tick`]).
///
/// A run costs about one step of every host per tick (turmoil polls each host's runtime and
/// every link every step), so the tick is the main lever on speed: 30 ms instead of 20 ms takes
/// 40 % of the CPU off a seed of `stale-keepalive-default-pool` and a third of the steps off a
/// client scenario (docs/BENCHMARKS.md). It stays below the default latency range (1–80 ms,
/// [`Schedule::SEEDED`]), so a message still arrives one to three steps after it was sent,
/// depending on the seed (DESIGN §4.5). Scenarios with `[[client]]`s use it too (they ran at
/// 20 ms before; every client file passes and stays diverse across seeds at 30 ms, while at
/// 40 ms `client-bulkhead-sheds-load` fails a seed).
pub const DEFAULT_TICK: Duration = Duration::from_millis(30);

/// The tick `scenario` runs at: its own `tick`, else [`DEFAULT_TICK`].
pub fn tick_of(scenario: &Scenario) -> Duration {
    scenario.tick.unwrap_or(DEFAULT_TICK)
}

/// How the seed drives the schedule of a run (DESIGN §4.5); `scenarios/README.md` explains the
/// choice of the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// One-way message latency range (turmoil samples an exponential curve between the two,
    /// seeded); wider than the tick, so the seed changes in which step a message arrives.
    pub min_latency: Duration,
    /// See `min_latency`.
    pub max_latency: Duration,
    /// turmoil polls the hosts in a seeded order every step.
    pub random_order: bool,
    /// Largest seeded delay a pod adds before each response.
    pub pod_jitter: Duration,
    /// Largest seeded delay before a pod listens after each (re)start.
    pub pod_start_offset: Duration,
    /// The vmcp host starts `pod_start_offset` plus a seeded draw from `[0, vmcp_start_delay]`.
    pub vmcp_start_delay: Duration,
}

impl Schedule {
    /// The default: the seed moves every message by up to three 30 ms ticks, reorders hosts,
    /// delays pod replies by up to 15 ms and shifts the starts by up to 100 ms.
    pub const SEEDED: Schedule = Schedule {
        min_latency: Duration::from_millis(1),
        max_latency: Duration::from_millis(80),
        random_order: true,
        pod_jitter: Duration::from_millis(15),
        pod_start_offset: Duration::from_millis(40),
        vmcp_start_delay: Duration::from_millis(60),
    };

    /// A `fixed_schedule` scenario: constant 1 ms latency, hosts in creation order, no jitter,
    /// no start offsets. The seed still seeds the core's RNG (breaker jitter, initial jitter).
    pub const FIXED: Schedule = Schedule {
        min_latency: Duration::from_millis(1),
        max_latency: Duration::from_millis(1),
        random_order: false,
        pod_jitter: Duration::ZERO,
        pod_start_offset: Duration::ZERO,
        vmcp_start_delay: Duration::ZERO,
    };

    /// The schedule `scenario` runs: [`Schedule::FIXED`] or [`Schedule::SEEDED`], with the
    /// file's `min_latency` / `max_latency` if it sets them.
    pub fn of(scenario: &Scenario) -> Schedule {
        let base = if scenario.fixed_schedule.is_some() {
            Schedule::FIXED
        } else {
            Schedule::SEEDED
        };
        match scenario.latency {
            Some(l) => Schedule {
                min_latency: l.min,
                max_latency: l.max,
                ..base
            },
            None => base,
        }
    }
}

/// Why a scenario could not be run (as opposed to an expectation failing).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The simulated world refused an operation or a host failed.
    #[error("{location}: {source}")]
    World {
        /// `file:line:column` of the event or backend that caused it.
        location: String,
        /// The world's error.
        source: WorldError,
    },
    /// The run panicked: a bug in the core or the harness, never a scenario problem.
    #[error("{scenario}: the run panicked (a bug; please report it with the seed): {message}")]
    Panicked {
        /// The scenario file.
        scenario: String,
        /// The panic message.
        message: String,
    },
    /// The scenario asks for something the simulation cannot do.
    #[error("{location}: {message}")]
    Unsupported {
        /// `file:line:column`.
        location: String,
        /// What and why.
        message: String,
    },
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Scenario name.
    pub scenario: String,
    /// Scenario file.
    pub file: String,
    /// The seed the run used.
    pub seed: u64,
    /// The declared bug this scenario reproduces, if any.
    pub reproduces_bug: Option<String>,
    /// The merged trace.
    pub trace: Trace,
    /// Every published report, with its simulated time.
    pub reports: Vec<TimedReport>,
    /// Expectations that did not hold (empty: passed).
    pub failures: Vec<ExpectationFailure>,
    /// Invariants the run broke (DESIGN §4.5; empty: passed).
    pub violations: Vec<Violation>,
    /// Simulated time covered.
    pub sim_elapsed: Duration,
    /// Fingerprint of the final state of every seeded stream of the run (see [`crate::rng`]).
    pub rng_fingerprint: String,
}

impl RunOutcome {
    /// Every expectation and every invariant held.
    pub fn passed(&self) -> bool {
        self.failures.is_empty() && self.violations.is_empty()
    }

    /// The stable hash of the trace.
    pub fn trace_hash(&self) -> String {
        self.trace.hash()
    }

    /// The last published report.
    pub fn final_report(&self) -> Option<&StatusReport> {
        self.reports.last().map(|r| &r.report)
    }
}

/// What the event queue holds: a scenario event, or the automatic end of a `set_behaviour ... for`.
enum Pending {
    /// The scenario event with this index.
    Event(usize),
    /// The end of the timed `set_behaviour` with index `of`.
    Revert {
        /// What to restore.
        revert: Revert,
        /// The index of the event that set the behaviour.
        of: usize,
    },
}

/// What a timed `set_behaviour` restores when its time is up: the pod's state before the event.
struct Revert {
    /// The backend whose pod the event changed.
    backend: String,
    /// The pod the event changed.
    pod: String,
    /// The behaviour before the event.
    behaviour: PodBehaviour,
    /// When `behaviour` had been set, restored with it
    /// (see [`crate::PodHandle::behaviour_since`]).
    since: Duration,
    /// The reply mode before the event.
    reply: ReplyMode,
    /// What the event itself set (behaviour and its instant): if the pod no longer has it,
    /// a later event or a replacement changed the pod, and the restore is skipped.
    set: (PodBehaviour, Duration),
}

/// Queue order at one instant: the end of a timed `set_behaviour` comes before the file's events,
/// so an event at that instant has the last word.
const REVERT_FIRST: u8 = 0;
const EVENT: u8 = 1;

/// [`run`], with a panic anywhere in the run (a bug in the core or the harness) turned into a
/// [`RunError::Panicked`] so that one broken seed does not take a whole sweep down.
pub fn run_catching_panics(scenario: &Scenario, seed: u64) -> Result<RunOutcome, RunError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(scenario, seed))).unwrap_or_else(
        |payload| {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".to_owned());
            Err(RunError::Panicked {
                scenario: scenario.file.clone(),
                message,
            })
        },
    )
}

/// Run `scenario` with `seed` (the caller resolves the seed precedence).
pub fn run(scenario: &Scenario, seed: u64) -> Result<RunOutcome, RunError> {
    let schedule = Schedule::of(scenario);
    let mut world = World::new(WorldConfig {
        seed,
        tick: tick_of(scenario),
        duration: scenario.duration + Duration::from_secs(1),
        pod_port: world::DEFAULT_POD_PORT,
        min_latency: schedule.min_latency,
        max_latency: schedule.max_latency,
        random_order: schedule.random_order,
        pod_jitter: schedule.pod_jitter,
        pod_start_offset: schedule.pod_start_offset,
        vmcp_start_delay: schedule.vmcp_start_delay,
        ..WorldConfig::default()
    });
    let at_backend = |name: &str| {
        scenario
            .backend(name)
            .map_or_else(|| scenario.file.clone(), |b| scenario.position(b.location))
    };
    // Runs with clients log every pod request (the client expectations count them).
    let requests = (!scenario.clients.is_empty()).then(|| world.log_requests());
    for backend in &scenario.backends {
        let (behaviour, reply) = to_pod(backend.behaviour);
        let added = if backend.shared_host {
            world.add_shared_backend(&backend.name, backend.port, behaviour)
        } else {
            world.add_backend_on_port(&backend.name, backend.port, behaviour)
        };
        let pod = added.map_err(|source| RunError::World {
            location: scenario.position(backend.location),
            source,
        })?;
        world
            .require_auth(&backend.name, required_auth(backend))
            .map_err(|source| RunError::World {
                location: scenario.position(backend.location),
                source,
            })?;
        world
            .set_reply_mode(&pod, reply)
            .map_err(|source| RunError::World {
                location: at_backend(&backend.name),
                source,
            })?;
        if let Some(tools) = &backend.tools {
            world
                .set_tools(&backend.name, tools)
                .map_err(|source| RunError::World {
                    location: at_backend(&backend.name),
                    source,
                })?;
        }
        let unknown_session = http::StatusCode::from_u16(backend.unknown_session_status)
            .unwrap_or(http::StatusCode::NOT_FOUND);
        world
            .set_unknown_session_status(&backend.name, unknown_session)
            .map_err(|source| RunError::World {
                location: at_backend(&backend.name),
                source,
            })?;
    }
    let registered: Vec<Backend> = scenario
        .backends
        .iter()
        .filter(|b| b.registered)
        .map(|b| b.registry_backend())
        .collect();
    let registry =
        Arc::new(
            DynamicRegistry::new(registered).map_err(|e| RunError::Unsupported {
                location: scenario.file.clone(),
                message: e.to_string(),
            })?,
        );
    let recorder = TraceRecorder::new();
    recorder.record_at(Duration::ZERO, registry_event(&registry));
    let rng = SimRng::new(seed);
    let core_seeds = CoreSeeds::default();
    add_vmcp_host(
        &mut world,
        scenario,
        seed,
        (&rng, &core_seeds),
        &registry,
        &recorder,
    )
    .map_err(|source| RunError::World {
        location: scenario.file.clone(),
        source,
    })?;
    add_clients(&mut world, scenario, &recorder)?;

    let mut queue: BTreeMap<(Duration, u8, u64), Pending> = BTreeMap::new();
    let mut seq = 0_u64;
    for (index, event) in scenario.events.iter().enumerate() {
        queue.insert((event.at, EVENT, seq), Pending::Event(index));
        seq += 1;
    }
    while let Some(((at, _, _), pending)) = queue.pop_first() {
        let location = match &pending {
            Pending::Event(i) | Pending::Revert { of: i, .. } => {
                scenario.position(scenario.events[*i].location)
            }
        };
        let world_err = |source| RunError::World {
            location: location.clone(),
            source,
        };
        // An event takes effect at the end of the first step at or past its instant; when the
        // tick does not divide the instant, an earlier event at (or just before) the same
        // instant may already have carried the world past it.
        if at > world.elapsed() {
            world.run_until(at).map_err(world_err)?;
        }
        let now = world.elapsed();
        match pending {
            Pending::Event(index) => {
                let event = &scenario.events[index];
                let revert = apply(&mut world, scenario, &registry, event, &recorder, now)
                    .map_err(world_err)?;
                if let (Some(revert), Some(duration)) = (revert, set_for(event)) {
                    let end = at.saturating_add(duration);
                    if end < scenario.duration {
                        queue.insert(
                            (end, REVERT_FIRST, seq),
                            Pending::Revert { revert, of: index },
                        );
                        seq += 1;
                    }
                }
            }
            Pending::Revert {
                revert:
                    Revert {
                        backend,
                        pod,
                        behaviour,
                        since,
                        reply,
                        set,
                    },
                ..
            } => {
                let handle = world
                    .pod(&pod)
                    .ok_or_else(|| WorldError::UnknownPod(pod.clone()))
                    .map_err(world_err)?;
                let untouched = (handle.behaviour(), handle.behaviour_since()) == set;
                let detail = if untouched {
                    // Restored with the instant it was first set, so a `StartingFor` window that
                    // had already elapsed stays elapsed: setting it afresh would restart it.
                    handle.set_behaviour(behaviour.clone(), since);
                    world.set_reply_mode(&pod, reply).map_err(world_err)?;
                    format!("{backend}: {pod} back to {behaviour:?}")
                } else {
                    format!("{backend}: {pod} changed since; not restored")
                };
                recorder.record_at(
                    now,
                    TraceEvent::Fault {
                        action: "set_behaviour_end".to_owned(),
                        detail,
                    },
                );
            }
        }
    }
    world
        .run_until(scenario.duration)
        .map_err(|source| RunError::World {
            location: scenario.file.clone(),
            source,
        })?;

    let mut trace = Trace::merge(recorder.entries(), &world.connection_log().records());
    if let Some(requests) = &requests {
        trace = trace.with_pod_requests(&requests.records());
    }
    let reports = recorder.reports();
    let failures = evaluate(scenario, &reports, &trace);
    let tick = tick_of(scenario);
    let violations = check_invariants(scenario, &trace, tick);
    Ok(RunOutcome {
        scenario: scenario.name.clone(),
        file: scenario.file.clone(),
        seed,
        reproduces_bug: scenario.reproduces_bug.clone(),
        trace,
        reports,
        failures,
        violations,
        sim_elapsed: world.elapsed(),
        rng_fingerprint: run_fingerprint(&rng, &world, &core_seeds),
    })
}

/// The invariants of DESIGN §4.5 over the trace, each violation pointed at the scenario event
/// that caused it when there is one (a registry change), else at the file.
fn check_invariants(scenario: &Scenario, trace: &Trace, tick: Duration) -> Vec<Violation> {
    let limits = Limits {
        config: scenario.vmcp.clone(),
        tick,
        end: scenario.duration,
        frontend: (!scenario.clients.is_empty()).then(|| scenario.frontend.clone()),
        tool_routes: crate::client::tool_routes(scenario),
    };
    let mut violations = invariants::check(trace, &limits);
    for v in &mut violations {
        let cause = v.cause_ms.and_then(|ms| {
            scenario.events.iter().rev().find(|e| {
                e.at.as_millis() <= u128::from(ms)
                    && e.action.backend() == v.backend.as_deref()
                    && e.action.name().starts_with("registry_")
            })
        });
        v.location = match cause {
            Some(event) => scenario.position(event.location),
            None => scenario.file.clone(),
        };
    }
    violations
}

fn set_for(event: &EventSpec) -> Option<Duration> {
    match &event.action {
        EventAction::SetBehaviour { for_, .. } => *for_,
        _ => None,
    }
}

/// The `vmcp` host: the real core with the turmoil connector, reporting into the trace. The
/// registry lives outside the host (like the Kubernetes API), so it survives a `vmcp` restart
/// while everything else is rebuilt from scratch.
fn add_vmcp_host(
    world: &mut World,
    scenario: &Scenario,
    seed: u64,
    (rng, core_seeds): (&SimRng, &CoreSeeds),
    registry: &Arc<DynamicRegistry>,
    recorder: &TraceRecorder,
) -> Result<(), WorldError> {
    let connector = world.connector();
    let teardown = world.teardown().clone();
    let rng = rng.clone();
    let core_seeds = Arc::clone(core_seeds);
    let starts = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let clock = world.clock();
    let config = scenario.vmcp.clone();
    let registry = Arc::clone(registry);
    let recorder = recorder.clone();
    // The front end runs when the scenario has clients.
    let frontend = (!scenario.clients.is_empty()).then(|| scenario.frontend.clone());
    world.add_vmcp_host(move || {
        let connector = connector.clone();
        let config = config.clone();
        let registry = Arc::clone(&registry);
        let recorder = recorder.clone();
        let frontend = frontend.clone();
        let teardown = teardown.clone();
        // A restarted vMCP is a new process: its jitter seed is a fresh draw from the run's
        // stream (the first start keeps the run's seed).
        let rng_seed = if starts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
            seed
        } else {
            rng.next_u64()
        };
        core_seeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(rng_seed);
        let recorder_for_frontend = recorder.clone();
        async move {
            recorder.record(TraceEvent::VmcpStarted);
            let probe = Arc::new(McpClient::new(connector, &config));
            // Held, never stopped: the core runs until the host is crashed (its tasks die with
            // the host) or the simulation ends, so this future never completes.
            let mut runtime = VmcpRuntime::start(RuntimeParts {
                config,
                probe: Arc::clone(&probe),
                registry,
                clock: Arc::new(clock),
                observer: Some(Arc::new(recorder.clone())),
                rng_seed,
                reporters: vec![Arc::new(recorder)],
            })?;
            if let Some(frontend_config) = frontend {
                // The real front end on a turmoil listener: every client connection is served
                // by `Frontend::serve_connection`, as the binary serves real TCP.
                let port = frontend_config.server.listen.port();
                let frontend = runtime.start_frontend(frontend_config, probe, rng_seed)?;
                frontend.observe(Arc::new(recorder_for_frontend));
                let listener = turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?;
                loop {
                    let (stream, _) = listener.accept().await?;
                    let stream = teardown.track(stream);
                    tokio::spawn(Arc::clone(&frontend).serve_connection(stream));
                }
            }
            let _runtime = runtime;
            std::future::pending::<Result<(), Box<dyn std::error::Error>>>().await
        }
    })
}

/// One host per `[[client]]` (`client-<name>`), running [`crate::client`] against the front end.
fn add_clients(
    world: &mut World,
    scenario: &Scenario,
    recorder: &TraceRecorder,
) -> Result<(), RunError> {
    if scenario.clients.is_empty() {
        return Ok(());
    }
    let routes = crate::client::tool_routes(scenario);
    let url = format!(
        "http://{}:{}{}",
        world.config().vmcp_host,
        scenario.frontend.server.listen.port(),
        vmcp_core::frontend::MCP_PATH
    );
    for spec in &scenario.clients {
        let plan = Arc::new(crate::client::ClientPlan {
            spec: spec.clone(),
            url: url.clone(),
            routes: routes.clone(),
        });
        world
            .add_client_host(
                &spec.host(),
                crate::client::software(plan, recorder.clone()),
            )
            .map_err(|source| RunError::World {
                location: scenario.position(spec.location),
                source,
            })?;
    }
    Ok(())
}

fn current_pod(world: &World, backend: &str) -> Result<String, WorldError> {
    world
        .current_pod(backend)
        .ok_or_else(|| WorldError::UnknownBackend(backend.to_owned()))
}

/// A world operation on a backend's current pod; returns the trace detail.
type PodOp = fn(&mut World, &str) -> Result<(), WorldError>;

/// Apply `op` to the backend's current pod (`<backend>: <pod>` in the trace).
fn on_pod(world: &mut World, backend: &str, op: PodOp) -> Result<String, WorldError> {
    let pod = current_pod(world, backend)?;
    op(world, &pod)?;
    Ok(format!("{backend}: {pod}"))
}

/// Apply `op` to the link between `vmcp` and the backend's current pod.
fn on_link(world: &mut World, backend: &str, op: PodOp) -> Result<String, WorldError> {
    let pod = current_pod(world, backend)?;
    op(world, &pod)?;
    Ok(format!("vmcp <-> {pod}"))
}

/// Apply one event; returns what to restore if it was a timed `set_behaviour`.
fn apply(
    world: &mut World,
    scenario: &Scenario,
    registry: &DynamicRegistry,
    event: &EventSpec,
    recorder: &TraceRecorder,
    now: Duration,
) -> Result<Option<Revert>, WorldError> {
    let mut revert = None;
    let detail = match &event.action {
        EventAction::ReplacePod {
            backend,
            old_pod,
            behaviour,
        } => {
            let old = current_pod(world, backend)?;
            let (new_behaviour, reply) = to_pod(*behaviour);
            let old_mode = pod_retirement(old_pod);
            let new = recorder
                .in_fixed_order(|| world.replace_pod(backend, new_behaviour, old_mode.clone()))?;
            world.set_reply_mode(&new, reply)?;
            format!("{backend}: {old} -> {new} (old pod: {old_mode:?}; new pod: {behaviour})")
        }
        EventAction::SetBehaviour {
            backend,
            behaviour,
            for_,
        } => {
            let pod = current_pod(world, backend)?;
            let handle = world
                .pod(&pod)
                .ok_or_else(|| WorldError::UnknownPod(pod.clone()))?;
            let previous = (
                handle.behaviour(),
                handle.behaviour_since(),
                handle.reply_mode(),
            );
            let (b, reply) = to_pod(*behaviour);
            world.set_behaviour(&pod, b)?;
            world.set_reply_mode(&pod, reply)?;
            let handle = world
                .pod(&pod)
                .ok_or_else(|| WorldError::UnknownPod(pod.clone()))?;
            let set = (handle.behaviour(), handle.behaviour_since());
            revert = Some(Revert {
                backend: backend.clone(),
                pod: pod.clone(),
                behaviour: previous.0,
                since: previous.1,
                reply: previous.2,
                set,
            });
            match for_ {
                Some(d) => format!(
                    "{backend}: {pod} {behaviour} for {}",
                    vmcp_core::config::duration::format(*d)
                ),
                None => format!("{backend}: {pod} {behaviour}"),
            }
        }
        EventAction::CrashPod { backend } => {
            recorder.in_fixed_order(|| on_pod(world, backend, World::crash_pod))?
        }
        EventAction::RestartPod { backend } => {
            recorder.in_fixed_order(|| on_pod(world, backend, World::restart_pod))?
        }
        EventAction::CrashVmcp => {
            recorder.in_fixed_order(|| world.crash_vmcp())?;
            "vmcp".to_owned()
        }
        EventAction::RestartVmcp => {
            recorder.in_fixed_order(|| world.restart_vmcp())?;
            "vmcp".to_owned()
        }
        EventAction::Partition { backend } => on_link(world, backend, World::partition)?,
        EventAction::Repair { backend } => on_link(world, backend, World::repair)?,
        EventAction::Hold { backend } => on_link(world, backend, World::hold)?,
        EventAction::Release { backend } => on_link(world, backend, World::release)?,
        EventAction::Latency { backend, latency } => {
            let pod = current_pod(world, backend)?;
            world.set_link_latency(&pod, *latency)?;
            format!(
                "vmcp <-> {pod}: {}",
                vmcp_core::config::duration::format(*latency)
            )
        }
        EventAction::RegistryAdd { backend } => {
            if let Some(spec) = scenario.backend(backend) {
                registry.upsert(spec.registry_backend());
            }
            backend.clone()
        }
        EventAction::RegistryRemove { backend } => {
            registry.remove(backend);
            backend.clone()
        }
        EventAction::RegistryChangeAuth { backend, auth } => {
            let url = registry
                .list()
                .into_iter()
                .find(|b| &b.name == backend)
                .map_or_else(
                    || {
                        scenario
                            .backend(backend)
                            .map(|b| b.url())
                            .unwrap_or_default()
                    },
                    |b| b.url,
                );
            registry.upsert(Backend {
                name: backend.clone(),
                url,
                auth: auth.clone(),
            });
            format!(
                "{backend}: {}",
                if auth.is_some() {
                    "new credentials"
                } else {
                    "no credentials"
                }
            )
        }
        EventAction::SetPodAuth { backend, auth } => {
            world.require_auth(backend, auth.as_ref().map(|a| demanded(Some(a))))?;
            format!(
                "{backend}: pods {}",
                if auth.is_some() {
                    "require new credentials"
                } else {
                    "accept any credentials"
                }
            )
        }
        EventAction::RegistryChangeUrl { backend, url } => {
            // The credentials in force (a `registry_change_auth` may have rotated them).
            let auth = registry
                .list()
                .into_iter()
                .find(|b| &b.name == backend)
                .map_or_else(
                    || scenario.backend(backend).and_then(|b| b.auth.clone()),
                    |b| b.auth,
                );
            registry.upsert(Backend {
                name: backend.clone(),
                url: url.url.clone(),
                auth,
            });
            format!("{backend}: {url}")
        }
    };
    recorder.record_at(
        now,
        TraceEvent::Fault {
            action: event.action.name().to_owned(),
            detail,
        },
    );
    if matches!(
        event.action,
        EventAction::RegistryAdd { .. }
            | EventAction::RegistryRemove { .. }
            | EventAction::RegistryChangeUrl { .. }
            | EventAction::RegistryChangeAuth { .. }
    ) {
        recorder.record_at(now, registry_event(registry));
    }
    Ok(revert)
}

/// The registry's content as a trace event (the invariants know from it what vMCP must monitor).
fn registry_event(registry: &DynamicRegistry) -> TraceEvent {
    TraceEvent::Registry {
        backends: registry
            .list()
            .into_iter()
            .map(|b| RegistryLine {
                name: b.name,
                url: b.url,
            })
            .collect(),
    }
}
