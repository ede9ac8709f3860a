//! Backends and the versioned dynamic registry (DESIGN §3.4).
//!
//! SKELETON: `DynamicRegistry` is completed by the registry/status work.

use std::fmt;

/// A credential value. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wrap a credential.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for putting on the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Credentials vMCP presents to one backend on every probe.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutgoingAuth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: Secret,
    },
    /// A custom header such as `X-API-Key: <value>`.
    Header {
        /// Header name.
        name: String,
        /// Header value.
        value: Secret,
    },
}

/// One MCP backend server.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Backend {
    /// Unique name; reports sort by it.
    pub name: String,
    /// The Streamable-HTTP endpoint, e.g. `http://github-mcp:8080/mcp`.
    pub url: String,
    /// Outgoing credentials, if the backend needs them.
    pub auth: Option<OutgoingAuth>,
}

impl Backend {
    /// A backend without credentials.
    pub fn new(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            auth: None,
        }
    }

    /// Whether `other` is the same backend at a different endpoint (URL or credentials changed),
    /// which starts a new endpoint generation in the monitor.
    pub fn endpoint_differs(&self, other: &Backend) -> bool {
        self.url != other.url || self.auth != other.auth
    }
}
