//! Deterministic simulation harness for `vmcp-core` (DESIGN §4).
//!
//! The real core runs on a turmoil-simulated network against simulated MCP pods:
//!
//! * [`world`]: the turmoil simulation (seed, fixed epoch, tick), backends and their pods, faults.
//! * [`service`]: service-name routing (connect-time resolution) and the connection log.
//! * [`shared_host`]: one turmoil host serving many pods (turmoil's cost per step is cubic in hosts).
//! * [`net`]: the hyper-util connector over turmoil TCP that the core's client is given.
//! * [`pod`]: simulated MCP Streamable-HTTP servers with runtime-switchable behaviour.
//! * [`client`]: simulated MCP clients of the front end (DESIGN §4.6).
//! * [`clock`]: the report wall clock inside the simulation (epoch + simulated time).
//! * [`runner`]: runs a scenario: world + the real core + events + expectations.
//! * [`trace`]: the run trace and its stable hash.
//! * [`scenario`]: scenario files: the typed model, parsing and validation.
//! * [`rng`]: the harness's seeded random stream and its final-state fingerprint.
//! * [`swarm`]: swarm runs: perturbations, liveness phase, shrinking.
//! * [`invariants`]: properties every run must have, checked on the trace (DESIGN §4.5).
//! * [`timeline`]: the timeline picture of a run (self-contained HTML/SVG).

pub mod client;
pub mod clock;
pub mod invariants;
pub mod net;
pub mod pod;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod service;
pub mod shared_host;
pub mod swarm;
pub mod timeline;
pub mod trace;
pub mod world;

pub use clock::SimClock;
pub use net::{ConnectError, ServedBy, TurmoilConnector, TurmoilStream};
pub use pod::{Behaviour, PodHandle, PodSchedule, PodStats, ReplyMode, RequiredAuth};
pub use service::{ConnectOutcome, ConnectionLog, ConnectionRecord, ServiceRoutes};
pub use world::{OldPod, World, WorldConfig, WorldError};
