//! `vmcp-core`: the production core of a virtual MCP server.
//!
//! It probes MCP backend servers over Streamable HTTP, classifies failures, tracks health with
//! thresholds, runs a per-backend circuit breaker and publishes Kubernetes-style status reports.
//! Everything here is written so that it can run unchanged inside a deterministic simulation
//! (see `ARCHITECTURE.md` and DESIGN §3.1–3.2): time comes from `tokio::time`, wall-clock stamps
//! from an injected [`clock::Clock`], randomness from an injected seed, and maps are ordered.
//!
//! # Main entry points
//!
//! * [`runtime::VmcpRuntime`] starts the whole health runtime (registry → monitor → reporting
//!   loop, optionally the front end) from [`runtime::RuntimeParts`].
//! * [`config::VmcpConfig`]: the configuration file, parsed and validated.
//! * [`registry::DynamicRegistry`] and [`registry::Backend`]: the backends to probe.
//! * [`client::McpClient`]: the MCP Streamable-HTTP client, the production [`health::Probe`].
//! * [`health`]: the monitor ([`health::HealthMonitor`]), the circuit breaker
//!   ([`health::CircuitBreaker`]), the threshold tracker ([`health::HealthTracker`]) and the
//!   health vocabulary ([`health::HealthStatus`], [`health::CircuitState`], …).
//! * [`status`]: [`status::StatusReport`], its reporters and the reporting loop.
//! * [`frontend::Frontend`]: vMCP as an MCP server in front of its backends.
//! * [`error::BackendError`] and [`redact`]: typed probe errors and credential redaction.
//!
//! Module layout: the modules above are public; their parts are private modules whose public
//! types are re-exported by the parent (e.g. `health::CircuitBreaker`, not
//! `health::breaker::CircuitBreaker`). `sync` and `grid` are crate-internal helpers.

pub mod client;
pub mod clock;
pub mod config;
pub mod error;
pub mod frontend;
mod grid;
pub mod health;
pub mod redact;
pub mod registry;
pub mod runtime;
pub mod status;
mod sync;
