//! `vmcp-core`: the production core of a virtual MCP server.
//!
//! It probes MCP backend servers over Streamable HTTP, classifies failures, tracks health with
//! thresholds, runs a per-backend circuit breaker and publishes Kubernetes-style status reports.
//! Everything here is written so that it can run unchanged inside a deterministic simulation
//! (see `ARCHITECTURE.md` and DESIGN §3.1–3.2): time comes from `tokio::time`, wall-clock stamps
//! from an injected [`clock::Clock`], randomness from an injected seed, and maps are ordered.

pub mod client;
pub mod clock;
pub mod config;
pub mod error;
pub mod frontend;
mod grid;
pub mod health;
pub mod metrics;
pub mod redact;
pub mod registry;
pub mod runtime;
pub mod status;
pub mod sync;
