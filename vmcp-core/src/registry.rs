//! Backends and the versioned dynamic registry (DESIGN §3.4).
//!
//! SKELETON: completed by the registry/status work.

/// One MCP backend server.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Backend {
    /// Unique name; reports sort by it.
    pub name: String,
    /// The Streamable-HTTP endpoint, e.g. `http://github-mcp:8080/mcp`.
    pub url: String,
}
