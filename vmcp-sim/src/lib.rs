//! Deterministic simulation harness for `vmcp-core` (DESIGN §4).
//!
//! The real core runs on a turmoil-simulated network against simulated MCP pods. Main entry
//! points:
//!
//! * [`runner::run`]: runs a [`scenario::Scenario`] (world + the real core + events +
//!   expectations) and returns its [`runner::RunOutcome`] with the [`trace::Trace`].
//! * [`World`]: the turmoil simulation (seed, fixed epoch, tick), backends and their pods,
//!   faults; configured by [`WorldConfig`], pods driven through [`PodHandle`] with a
//!   [`PodBehaviour`] and retired with a [`PodRetirement`].
//! * [`TurmoilConnector`]: the hyper-util connector over turmoil TCP that the core's client is
//!   given; [`ServiceRoutes`] and the [`ConnectionLog`]: service-name routing and what each
//!   connection reached. [`SimClock`]: the report wall clock (epoch + simulated time).
//!
//! Public modules:
//!
//! * [`runner`]: runs a scenario and checks its expectations.
//! * [`client`]: simulated MCP clients of the front end (DESIGN §4.6).
//! * [`trace`]: the run trace and its stable hash.
//! * [`scenario`]: scenario files: the typed model, parsing and validation.
//! * [`rng`]: the harness's seeded random stream and its final-state fingerprint.
//! * [`swarm`]: swarm runs: perturbations, liveness phase, shrinking.
//! * [`invariants`]: properties every run must have, checked on the trace (DESIGN §4.5).
//! * [`timeline`]: the timeline picture of a run (self-contained HTML/SVG).
//!
//! Private modules, re-exported above: `world`, `service` (routing, connection log), `shared_host`
//! (one turmoil host serving many pods: turmoil's cost per step is cubic in hosts), `net` (the
//! connector), `pod` (simulated MCP Streamable-HTTP servers with runtime-switchable behaviour)
//! and `clock`. The turmoil `Sim` itself stays inside [`World`].

pub mod client;
mod clock;
pub mod invariants;
mod net;
mod pod;
pub mod rng;
pub mod runner;
pub mod scenario;
mod service;
mod shared_host;
mod teardown;
pub mod swarm;
pub mod timeline;
pub mod trace;
mod world;

pub use clock::SimClock;
pub use net::{ConnectError, ServedBy, TurmoilConnector, TurmoilStream};
pub use pod::{
    PodBehaviour, PodHandle, PodRequestRecord, PodSchedule, PodStats, ReplyMode, RequestLog,
    RequiredAuth,
};
pub use service::{ConnectOutcome, ConnectionLog, ConnectionRecord, ServiceRoutes};
pub use world::{
    DEFAULT_EPOCH_UNIX_SECS, DEFAULT_POD_PORT, DEFAULT_VMCP_HOST, PodRetirement, World,
    WorldConfig, WorldError,
};
