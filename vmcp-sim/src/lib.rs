//! Deterministic simulation harness for `vmcp-core` (see DESIGN §4). Filled in by the simulation issue.
pub mod scenario;
