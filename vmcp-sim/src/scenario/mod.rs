//! Scenario files (DESIGN §4.2): the typed model, parsing and validation.
//!
//! A scenario is a TOML file that describes one simulated incident: the vMCP configuration, the
//! backends, timed fault events, and expectations over the published status reports and the
//! trace. [`Scenario::load`] / [`Scenario::from_toml_str`] turn a file into a [`Scenario`] whose
//! values are all resolved and valid (defaults applied, references checked, windows computed),
//! so the simulated world and the runner never re-validate anything. Every problem is a
//! [`ScenarioError`] displayed as `file:line:column: message`; no input makes the parser panic.
//!
//! The file format is documented for authors in `scenarios/README.md`.
//!
//! Submodules, one job each: [`behaviour`] (pod behaviours), [`expect`] (expectations and their
//! evaluation against a report), [`location`] (byte offset → line:column), [`error`], and the
//! private `raw` (file shape), `parse` / `parse_expect` (rules), `values` (vocabularies),
//! `context` (error positions), `discover` (finding scenario files).

pub mod behaviour;
pub mod client;
mod context;
mod discover;
pub mod error;
pub mod expect;
pub mod location;
mod parse;
pub use parse::{
    MAX_BACKENDS, MAX_OWN_HOSTS, MAX_PROBES, MAX_REPORTED_ENTRIES, MAX_SIMULATED, MAX_STEPS,
};
mod parse_client;
mod parse_expect;
mod raw;
mod swarm;
mod values;
pub mod write;

use std::fmt;
use std::path::Path;
use std::time::Duration;

use vmcp_core::config::{FailureHandling, FileError, FrontendConfig};
use vmcp_core::registry::{Backend, OutgoingAuth};

pub use behaviour::Behaviour;
pub use client::{CallSchedule, CallSpec, ClientSpec};
pub use discover::discover;
pub use error::ScenarioError;
pub use expect::{
    BackendCondition, BackendState, CallFilter, Condition, CountBounds, Counter, ExpectKind,
    Expectation, Observed, Trigger, Window,
};
pub use location::Location;
pub use swarm::{CATALOGUE, Perturbation, SwarmOverrides, SwarmSettings, parse_rate_flag};

/// A parsed, validated scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file name it was read from (as given to the parser), for `file:line:column` messages.
    pub file: String,
    /// Short identifier, `[a-z0-9-]+`; names snapshots and reports.
    pub name: String,
    /// The incident the scenario captures.
    pub description: String,
    /// The file's seed. The runner gives `--seed` / `VMCP_SIM_SEED` precedence over it.
    pub seed: u64,
    /// Simulated run length. Every event is strictly before it; every window ends at or before it.
    pub duration: Duration,
    /// The turmoil tick, if the file sets one (`None`: the world's default).
    pub tick: Option<Duration>,
    /// The range turmoil draws every message's one-way latency from (seeded), if the file sets
    /// `min_latency`/`max_latency` (`None`: the world's default). A range wider than the tick
    /// makes the seed change message timings.
    pub latency: Option<LinkLatency>,
    /// Set when the scenario reproduces a known bug (e.g. with `pool = "shared"`): its
    /// expectations describe the buggy behaviour and hold only while the bug is present.
    pub reproduces_bug: Option<String>,
    /// Set when the scenario must run one schedule whatever the seed (the text says why): the
    /// runner then turns off every seeded source of timing (random latency and host order, pod
    /// jitter, start offsets), and the release gate accepts that its seeds all give one trace.
    pub fixed_schedule: Option<String>,
    /// The `[vmcp]` table: the real binary's failure-handling config, validated by `vmcp-core`
    /// (defaults when the table is absent).
    pub vmcp: FailureHandling,
    /// The `[swarm]` table: what `explore --swarm` may do to this scenario (defaults when the
    /// table is absent).
    pub swarm: SwarmSettings,
    /// The front end's `[server]` and `[aggregation]` (defaults when absent); it runs only
    /// when the scenario has clients.
    pub frontend: FrontendConfig,
    /// The `[[backend]]` tables, in file order; names are unique.
    pub backends: Vec<BackendSpec>,
    /// The `[[client]]` tables, in file order; names are unique.
    pub clients: Vec<ClientSpec>,
    /// The `[[event]]` tables sorted by `at` (stable: events at the same time keep file order).
    pub events: Vec<EventSpec>,
    /// The `[[expect]]` tables, in file order.
    pub expects: Vec<Expectation>,
}

impl Scenario {
    /// Parse and validate scenario `text`; `file_name` labels error messages and
    /// [`Scenario::file`].
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<Self, ScenarioError> {
        parse::parse(text, file_name)
    }

    /// Read, parse and validate the scenario file at `path` (labelled with the path as given).
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        // Regular files only, at most 1 MiB, UTF-8 (an error names the line and column).
        let text = vmcp_core::config::read_text_file(path).map_err(|error| match error {
            FileError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ScenarioError::Missing {
                    path: path.to_path_buf(),
                }
            }
            FileError::Io { source, .. } => ScenarioError::Read {
                path: path.to_path_buf(),
                source,
            },
            FileError::InvalidUtf8 {
                offset,
                line,
                column,
                ..
            } => ScenarioError::Invalid {
                file: path.display().to_string(),
                line,
                column,
                message: format!("invalid UTF-8 (byte offset {offset}); scenario files are UTF-8"),
            },
            other @ (FileError::NotRegular { .. } | FileError::TooLarge { .. }) => {
                ScenarioError::Refused(other)
            }
        })?;
        Self::from_toml_str(&text, &path.display().to_string())
    }

    /// The declared backend called `name`.
    pub fn backend(&self, name: &str) -> Option<&BackendSpec> {
        self.backends.iter().find(|backend| backend.name == name)
    }

    /// The event whose `id` is `id`.
    pub fn event(&self, id: &str) -> Option<&EventSpec> {
        self.events
            .iter()
            .find(|event| event.id.as_deref() == Some(id))
    }

    /// `file:line:column` of `location` in this scenario's file, as failure messages print it.
    pub fn position(&self, location: Location) -> String {
        format!("{}:{location}", self.file)
    }
}

/// A latency range for every link of the simulated network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkLatency {
    /// Lower bound.
    pub min: Duration,
    /// Upper bound.
    pub max: Duration,
}

/// Default service port of a backend.
pub const DEFAULT_PORT: u16 = 8080;

/// Default MCP endpoint path of a backend.
pub const DEFAULT_PATH: &str = "/mcp";

/// One `[[backend]]`: a service (host named like the backend) and its pods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendSpec {
    /// Unique name; also the service host name in the simulated network (a DNS label).
    pub name: String,
    /// Service port (default 8080).
    pub port: u16,
    /// MCP endpoint path (default `/mcp`).
    pub path: String,
    /// Behaviour of the first pod (default healthy).
    pub behaviour: Behaviour,
    /// In the registry from the start (default true); `false` waits for a `registry_add` event.
    pub registered: bool,
    /// Credentials vMCP sends to this backend.
    pub auth: Option<OutgoingAuth>,
    /// Pods answer 401 unless vMCP presents exactly `auth` (default false).
    pub require_auth: bool,
    /// Its pods run in the simulation's shared pod host (`shared_host = true`, and every member
    /// of a `count` group): cheap at any scale, but no host- or link-level fault can target it.
    pub shared_host: bool,
    /// The tools its pods serve (`tools = [...]`; `None`: the pods' default, one `echo`).
    pub tools: Option<Vec<String>>,
    /// What its pods answer to a request for a session they do not know: 404 (default, the
    /// spec) or 400 (what some SDKs send).
    pub unknown_session_status: u16,
    /// Where the `[[backend]]` table starts.
    pub location: Location,
}

impl BackendSpec {
    /// The tools its pods serve.
    pub fn served_tools(&self) -> Vec<String> {
        match &self.tools {
            Some(tools) => tools.clone(),
            None => crate::pod::DEFAULT_TOOLS
                .iter()
                .map(|t| (*t).to_owned())
                .collect(),
        }
    }

    /// The endpoint vMCP is configured with: `http://<name>:<port><path>`.
    pub fn url(&self) -> String {
        format!("http://{}:{}{}", self.name, self.port, self.path)
    }

    /// The registry entry for this backend (name, [`BackendSpec::url`], auth).
    pub fn registry_backend(&self) -> Backend {
        Backend {
            name: self.name.clone(),
            url: self.url(),
            auth: self.auth.clone(),
        }
    }
}

/// One `[[event]]`: something that happens to the world at a simulated time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSpec {
    /// Simulated time since the start of the run; always `< duration`.
    pub at: Duration,
    /// Optional unique id, referenced by `within` expectations.
    pub id: Option<String>,
    /// What happens.
    pub action: EventAction,
    /// Where the `[[event]]` table starts.
    pub location: Location,
}

/// What an event does. `backend` always names a declared backend; "its pod" is the backend's
/// current pod when the event fires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventAction {
    /// Start a new pod (new host) running `behaviour`, route new connections to it, and deal with
    /// the old pod as `old_pod` says.
    ReplacePod {
        /// The backend.
        backend: String,
        /// What happens to the old pod.
        old_pod: OldPod,
        /// Behaviour of the new pod (default healthy).
        behaviour: Behaviour,
    },
    /// Switch the current pod's behaviour; with `for`, switch back to the previous one after that
    /// long.
    SetBehaviour {
        /// The backend.
        backend: String,
        /// The new behaviour.
        behaviour: Behaviour,
        /// How long the new behaviour lasts (`None`: until changed again).
        for_: Option<Duration>,
    },
    /// The current pod's host crashes (peers see EOF; traffic to it is not delivered).
    CrashPod {
        /// The backend.
        backend: String,
    },
    /// The crashed pod's host comes back (same host name and address).
    RestartPod {
        /// The backend.
        backend: String,
    },
    /// The vMCP host crashes.
    CrashVmcp,
    /// The vMCP host comes back and starts from scratch (state is not persisted).
    RestartVmcp,
    /// Partition the link between vMCP and the backend's current pod.
    Partition {
        /// The backend.
        backend: String,
    },
    /// Repair a partition.
    Repair {
        /// The backend.
        backend: String,
    },
    /// Hold (buffer) messages on the link between vMCP and the current pod.
    Hold {
        /// The backend.
        backend: String,
    },
    /// Release held messages.
    Release {
        /// The backend.
        backend: String,
    },
    /// Fixed one-way latency on the link between vMCP and the current pod (zero clears it).
    Latency {
        /// The backend.
        backend: String,
        /// The latency.
        latency: Duration,
    },
    /// Add the backend to the registry (with its declared URL and auth).
    RegistryAdd {
        /// The backend.
        backend: String,
    },
    /// Remove the backend from the registry.
    RegistryRemove {
        /// The backend.
        backend: String,
    },
    /// Change the backend's registry URL (a new endpoint generation in the monitor).
    RegistryChangeUrl {
        /// The registry entry that changes.
        backend: String,
        /// The new URL; its host is a declared backend's service.
        url: SimUrl,
    },
    /// Change the credentials the registry gives vMCP for the backend (a new endpoint
    /// generation: credential rotation on the vMCP side).
    RegistryChangeAuth {
        /// The registry entry that changes.
        backend: String,
        /// The new credentials (`None`: none).
        auth: Option<OutgoingAuth>,
    },
    /// Change the credentials the backend's pods (now and later) require (credential rotation
    /// on the backend side; `None`: accept anything).
    SetPodAuth {
        /// The backend.
        backend: String,
        /// What they require from now on.
        auth: Option<OutgoingAuth>,
    },
}

impl EventAction {
    /// The action as written in the file (`replace_pod`, `crash_vmcp`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            EventAction::ReplacePod { .. } => "replace_pod",
            EventAction::SetBehaviour { .. } => "set_behaviour",
            EventAction::CrashPod { .. } => "crash_pod",
            EventAction::RestartPod { .. } => "restart_pod",
            EventAction::CrashVmcp => "crash_vmcp",
            EventAction::RestartVmcp => "restart_vmcp",
            EventAction::Partition { .. } => "partition",
            EventAction::Repair { .. } => "repair",
            EventAction::Hold { .. } => "hold",
            EventAction::Release { .. } => "release",
            EventAction::Latency { .. } => "latency",
            EventAction::RegistryAdd { .. } => "registry_add",
            EventAction::RegistryRemove { .. } => "registry_remove",
            EventAction::RegistryChangeUrl { .. } => "registry_change_url",
            EventAction::RegistryChangeAuth { .. } => "registry_change_auth",
            EventAction::SetPodAuth { .. } => "set_pod_auth",
        }
    }

    /// The backend the action applies to (`None` for the vMCP host actions).
    pub fn backend(&self) -> Option<&str> {
        match self {
            EventAction::ReplacePod { backend, .. }
            | EventAction::SetBehaviour { backend, .. }
            | EventAction::CrashPod { backend }
            | EventAction::RestartPod { backend }
            | EventAction::Partition { backend }
            | EventAction::Repair { backend }
            | EventAction::Hold { backend }
            | EventAction::Release { backend }
            | EventAction::Latency { backend, .. }
            | EventAction::RegistryAdd { backend }
            | EventAction::RegistryRemove { backend }
            | EventAction::RegistryChangeUrl { backend, .. }
            | EventAction::RegistryChangeAuth { backend, .. }
            | EventAction::SetPodAuth { backend, .. } => Some(backend),
            EventAction::CrashVmcp | EventAction::RestartVmcp => None,
        }
    }
}

/// What happens to the old pod when a pod is replaced (the heart of the startup-race bug).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OldPod {
    /// The old pod shuts down: its connections are closed (peers see EOF).
    #[default]
    Terminate,
    /// The old pod keeps serving the connections it already has, with this behaviour (e.g. a
    /// `{ status = 404 }` answering stale keep-alive connections); new connections go to the new
    /// pod.
    Stale(Behaviour),
    /// The old pod's host vanishes: its existing connections get no answer at all.
    Blackhole,
}

/// A URL inside the simulated network: `http://<declared backend>[:port][/path]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimUrl {
    /// The URL as written.
    pub url: String,
    /// The host: a declared backend's service name.
    pub host: String,
    /// The port (80 when the URL has none, as for any `http` URL).
    pub port: u16,
    /// The path (`/` when the URL has none).
    pub path: String,
}

impl fmt::Display for SimUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}
