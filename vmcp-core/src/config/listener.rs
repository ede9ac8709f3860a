//! Limits of an HTTP listener of the `vmcp` binary (DESIGN §3.7: every listener has a connection
//! limit; every read and write has a deadline).
//!
//! The same three keys appear in the `status` block and in the `server` block; each listener gets
//! its own [`ListenerLimits`]. Why each exists:
//!
//! * `max_connections`: connections served at once. One more is accepted and closed at once, so
//!   10 000 idle clients cost 10 000 short-lived sockets, never 10 000 tasks.
//! * `header_read_timeout`: from the moment a connection waits for a request (a new connection,
//!   or a kept-alive one after its last response) until the whole request head has arrived. It
//!   closes slowloris clients (a byte now and then) and idle keep-alive connections alike.
//! * `write_timeout`: a response write that makes no progress this long (the client stopped
//!   reading) closes the connection.

use std::time::Duration;

use super::{ConfigError, MAX_SETTING_DURATION, duration};

/// The smallest accepted `header_read_timeout` and `write_timeout`.
pub const MIN_LISTENER_TIMEOUT: Duration = Duration::from_millis(100);

/// Default `status.max_connections`: plenty for probes, scrapers and operators.
pub const DEFAULT_STATUS_MAX_CONNECTIONS: u32 = 256;

/// Default `server.max_connections`: an MCP client may hold a GET stream per session.
pub const DEFAULT_SERVER_MAX_CONNECTIONS: u32 = 1024;

/// Default `header_read_timeout` and `write_timeout`.
pub const DEFAULT_LISTENER_TIMEOUT: Duration = Duration::from_secs(10);

/// What one listener enforces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Connections served at once; further ones are closed on accept.
    pub max_connections: u32,
    /// Deadline for a whole request head, counted from when the connection starts waiting.
    pub header_read_timeout: Duration,
    /// Deadline for a response write to make progress.
    pub write_timeout: Duration,
}

impl ListenerLimits {
    /// Check the bounds; keys are relative to the block (`max_connections`, ...).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_connections == 0 {
            return Err(ConfigError::invalid_value(
                "max_connections",
                "0",
                "must be at least 1",
            ));
        }
        for (key, value) in [
            ("header_read_timeout", self.header_read_timeout),
            ("write_timeout", self.write_timeout),
        ] {
            if value < MIN_LISTENER_TIMEOUT {
                return Err(ConfigError::invalid_value(
                    key,
                    duration::format(value),
                    format!(
                        "must be at least {}",
                        duration::format(MIN_LISTENER_TIMEOUT)
                    ),
                ));
            }
            if value > MAX_SETTING_DURATION {
                return Err(ConfigError::invalid_value(
                    key,
                    duration::format(value),
                    format!("must be at most {}", duration::format(MAX_SETTING_DURATION)),
                ));
            }
        }
        Ok(())
    }
}
