//! Front-end settings (DESIGN §3.6): the `server` and `aggregation` blocks.
//!
//! The same types are read from the `vmcp` YAML file (top-level `server:` and `aggregation:`) and
//! can be embedded in a scenario's `[vmcp]` table. Keys are snake_case with camelCase aliases;
//! unknown keys are errors; durations use the [`duration`](super::duration) syntax. Deserializing
//! does not validate relations (a priority list naming an unknown backend needs the backend
//! list): [`FrontendConfig::validate`] does, naming the key and the value.
//!
//! ```yaml
//! server:
//!   listen: 127.0.0.1:4483        # serves /mcp and /health, /status, /api/backends/health
//!   call_timeout: 30s
//!   max_concurrent_calls: 64      # per backend
//!   session_idle_timeout: 30m
//!   max_sessions: 1000
//! aggregation:
//!   conflict_resolution: prefix   # prefix | priority | manual
//!   separator: "_"                # github + search → github_search
//!   priority: [github, jira]
//!   overrides: {github: {search: gh_search}}
//!   partial_failure_mode: best_effort   # fail | best_effort
//! ```

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use super::{ConfigError, MAX_SETTING_DURATION, duration};

/// How tools (and prompts) with the same name on several backends are told apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictResolution {
    /// Every name becomes `{backend}{separator}{name}`.
    #[default]
    Prefix,
    /// Names stay as they are; on a clash the backend listed first in `priority` wins (then the
    /// alphabetically first); the others are dropped and logged.
    Priority,
    /// Names stay as they are except for explicit `overrides`; remaining clashes are settled as
    /// for `priority`.
    Manual,
}

/// What an `initialize` gets when too few backends are usable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartialFailureMode {
    /// Refuse the `initialize` (JSON-RPC error) while fewer than `min_advertised` backends are
    /// advertised (default: all configured backends).
    Fail,
    /// Always answer, with whatever is advertised.
    #[default]
    #[serde(alias = "bestEffort")]
    BestEffort,
}

/// The `aggregation` block.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AggregationConfig {
    /// The naming strategy.
    #[serde(alias = "conflictResolution")]
    pub conflict_resolution: ConflictResolution,
    /// Between backend and tool name under `prefix`. Non-empty.
    pub separator: String,
    /// Backend order for clashes (first wins). Names must be configured backends.
    pub priority: Vec<String>,
    /// Explicit renames: backend → original tool/prompt name → exposed name. Applied under every
    /// strategy (an override is never prefixed).
    pub overrides: BTreeMap<String, BTreeMap<String, String>>,
    /// See [`PartialFailureMode`].
    #[serde(alias = "partialFailureMode")]
    pub partial_failure_mode: PartialFailureMode,
    /// With `partial_failure_mode: fail`: the fewest advertised backends an `initialize` accepts.
    #[serde(alias = "minAdvertised", skip_serializing_if = "Option::is_none")]
    pub min_advertised: Option<u32>,
}

impl Default for AggregationConfig {
    fn default() -> Self {
        Self {
            conflict_resolution: ConflictResolution::Prefix,
            separator: "_".to_owned(),
            priority: Vec::new(),
            overrides: BTreeMap::new(),
            partial_failure_mode: PartialFailureMode::BestEffort,
            min_advertised: None,
        }
    }
}

/// The `server` block: where clients connect and how their calls are bounded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address of the MCP endpoint (`/mcp`), also serving the status endpoints. Default
    /// `127.0.0.1:4483`.
    #[serde(deserialize_with = "deserialize_listen")]
    pub listen: SocketAddr,
    /// Deadline of one forwarded call. Default 30 s.
    #[serde(alias = "callTimeout", with = "duration")]
    pub call_timeout: Duration,
    /// Calls in flight per backend; excess calls fast-fail (a bulkhead). Default 64.
    #[serde(alias = "maxConcurrentCalls")]
    pub max_concurrent_calls: u32,
    /// A client session without requests (and without an open stream) for this long expires.
    /// Default 30 min.
    #[serde(alias = "sessionIdleTimeout", with = "duration")]
    pub session_idle_timeout: Duration,
    /// At most this many client sessions; a new one evicts the least recently used. Default 1000.
    #[serde(alias = "maxSessions")]
    pub max_sessions: u32,
    /// Whether transport failures of calls count toward the circuit breaker. Default false.
    #[serde(alias = "callFailuresTripBreaker")]
    pub call_failures_trip_breaker: bool,
    /// Items per page of the front end's own `*/list` answers. Default 100.
    #[serde(alias = "listPageSize")]
    pub list_page_size: u32,
    /// Connections served at once on `listen`; one more is accepted and closed at once.
    /// Default 1024 (a client may hold a GET stream per session).
    #[serde(alias = "maxConnections")]
    pub max_connections: u32,
    /// Deadline for a whole request head, from when a connection starts waiting for one.
    /// Default 10 s.
    #[serde(alias = "headerReadTimeout", with = "duration")]
    pub header_read_timeout: Duration,
    /// A response write that makes no progress this long closes the connection. Default 10 s.
    #[serde(alias = "writeTimeout", with = "duration")]
    pub write_timeout: Duration,
    /// Deadline for a whole `/mcp` POST body, from the end of its head: a body that trickles
    /// (slowloris on the body, which `header_read_timeout` does not cover) gets 408 and the
    /// connection is closed. Default 10 s.
    #[serde(alias = "bodyReadTimeout", with = "duration")]
    pub body_read_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 4483)),
            call_timeout: Duration::from_secs(30),
            max_concurrent_calls: 64,
            session_idle_timeout: Duration::from_secs(30 * 60),
            max_sessions: 1000,
            call_failures_trip_breaker: false,
            list_page_size: 100,
            max_connections: super::listener::DEFAULT_SERVER_MAX_CONNECTIONS,
            header_read_timeout: super::listener::DEFAULT_LISTENER_TIMEOUT,
            write_timeout: super::listener::DEFAULT_LISTENER_TIMEOUT,
            body_read_timeout: super::listener::DEFAULT_LISTENER_TIMEOUT,
        }
    }
}

impl ServerConfig {
    /// The listener limits of `server.listen`.
    pub fn limits(&self) -> super::ListenerLimits {
        super::ListenerLimits {
            max_connections: self.max_connections,
            header_read_timeout: self.header_read_timeout,
            write_timeout: self.write_timeout,
        }
    }
}

fn deserialize_listen<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(deserializer)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format_args!(
            "{text:?} is not an IP address and port such as \"127.0.0.1:4483\" or \"[::1]:4483\""
        ))
    })
}

/// Everything the front end runs with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FrontendConfig {
    /// Listener and call bounds.
    pub server: ServerConfig,
    /// Naming and advertising.
    pub aggregation: AggregationConfig,
}

/// The smallest accepted `call_timeout` and `session_idle_timeout`.
pub const MIN_CALL_TIMEOUT: Duration = Duration::from_millis(10);

fn duration_in(key: &str, value: Duration, min: Duration) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::invalid_value(
            key,
            duration::format(value),
            format!("must be at least {}", duration::format(min)),
        ));
    }
    if value > MAX_SETTING_DURATION {
        return Err(ConfigError::invalid_value(
            key,
            duration::format(value),
            format!("must be at most {}", duration::format(MAX_SETTING_DURATION)),
        ));
    }
    Ok(())
}

fn at_least_one(key: &str, value: u32) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::invalid_value(key, "0", "must be at least 1"));
    }
    Ok(())
}

impl ServerConfig {
    /// Check the bounds. Keys are relative to the block (`call_timeout`, …).
    pub fn validate(&self) -> Result<(), ConfigError> {
        duration_in("call_timeout", self.call_timeout, MIN_CALL_TIMEOUT)?;
        at_least_one("max_concurrent_calls", self.max_concurrent_calls)?;
        duration_in(
            "session_idle_timeout",
            self.session_idle_timeout,
            Duration::from_secs(1),
        )?;
        at_least_one("max_sessions", self.max_sessions)?;
        at_least_one("list_page_size", self.list_page_size)?;
        duration_in(
            "body_read_timeout",
            self.body_read_timeout,
            super::listener::MIN_LISTENER_TIMEOUT,
        )?;
        self.limits().validate()
    }
}

impl AggregationConfig {
    /// Check the block against the configured backend names. Keys are relative to the block.
    pub fn validate(&self, backends: &[&str]) -> Result<(), ConfigError> {
        if self.separator.is_empty() {
            return Err(ConfigError::invalid_value(
                "separator",
                "\"\"",
                "must not be empty",
            ));
        }
        if self.separator.chars().any(char::is_control) {
            return Err(ConfigError::invalid_value(
                "separator",
                format!("{:?}", self.separator),
                "must not contain control characters",
            ));
        }
        let known = |name: &str| backends.contains(&name);
        for (index, name) in self.priority.iter().enumerate() {
            if !known(name) {
                return Err(ConfigError::invalid_value(
                    format!("priority[{index}]"),
                    format!("{name:?}"),
                    "is not a configured backend",
                ));
            }
            if self.priority[..index].contains(name) {
                return Err(ConfigError::invalid_value(
                    format!("priority[{index}]"),
                    format!("{name:?}"),
                    "is listed twice",
                ));
            }
        }
        for (backend, renames) in &self.overrides {
            if !known(backend) {
                return Err(ConfigError::invalid_value(
                    format!("overrides.{backend}"),
                    format!("{backend:?}"),
                    "is not a configured backend",
                ));
            }
            for (from, to) in renames {
                if to.is_empty() || to.trim() != to || to.chars().any(char::is_control) {
                    return Err(ConfigError::invalid_value(
                        format!("overrides.{backend}.{from}"),
                        format!("{to:?}"),
                        "must be a non-empty name without surrounding whitespace",
                    ));
                }
            }
        }
        match (self.partial_failure_mode, self.min_advertised) {
            (PartialFailureMode::BestEffort, Some(min)) => Err(ConfigError::invalid_value(
                "min_advertised",
                min.to_string(),
                "has no effect with partial_failure_mode best_effort (use fail)",
            )),
            (PartialFailureMode::Fail, Some(min)) if min as usize > backends.len() => {
                Err(ConfigError::invalid_value(
                    "min_advertised",
                    min.to_string(),
                    format!(
                        "is more than the {} configured backends; initialize could never succeed",
                        backends.len()
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

impl FrontendConfig {
    /// Check both blocks; keys in errors are `server.…` and `aggregation.…`.
    pub fn validate(&self, backends: &[&str]) -> Result<(), ConfigError> {
        self.server.validate().map_err(|e| e.prefixed("server"))?;
        self.aggregation
            .validate(backends)
            .map_err(|e| e.prefixed("aggregation"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(text: &str) -> FrontendConfig {
        serde_yaml_ng::from_str(text).expect("valid yaml")
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let config = yaml("{}");
        assert_eq!(config.server.call_timeout, Duration::from_secs(30));
        assert_eq!(
            config.server.session_idle_timeout,
            Duration::from_secs(1800)
        );
        assert_eq!(config.server.max_sessions, 1000);
        assert_eq!(config.server.body_read_timeout, Duration::from_secs(10));
        assert!(!config.server.call_failures_trip_breaker);
        assert_eq!(
            config.aggregation.conflict_resolution,
            ConflictResolution::Prefix
        );
        assert_eq!(config.aggregation.separator, "_");
        assert_eq!(
            config.aggregation.partial_failure_mode,
            PartialFailureMode::BestEffort
        );
        config.validate(&[]).unwrap();
    }

    #[test]
    fn camel_case_aliases_load() {
        let config = yaml(
            "server: {callTimeout: 5s, maxConcurrentCalls: 2, sessionIdleTimeout: 1m, maxSessions: 3}\n\
             aggregation: {conflictResolution: priority, partialFailureMode: fail, minAdvertised: 1, priority: [a]}",
        );
        assert_eq!(config.server.call_timeout, Duration::from_secs(5));
        assert_eq!(config.server.max_concurrent_calls, 2);
        assert_eq!(config.server.max_sessions, 3);
        assert_eq!(
            config.aggregation.conflict_resolution,
            ConflictResolution::Priority
        );
        assert_eq!(config.aggregation.min_advertised, Some(1));
        config.validate(&["a"]).unwrap();
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = serde_yaml_ng::from_str::<FrontendConfig>("server: {call_timeout_s: 3}")
            .unwrap_err()
            .to_string();
        assert!(err.contains("call_timeout_s"), "{err}");
    }

    #[test]
    fn validation_names_key_and_value() {
        let cases: &[(&str, &[&str], &str)] = &[
            (
                "server: {call_timeout: 0s}",
                &[],
                "server.call_timeout (0s) must be at least 10ms",
            ),
            (
                "server: {max_sessions: 0}",
                &[],
                "server.max_sessions (0) must be at least 1",
            ),
            (
                "server: {max_concurrent_calls: 0}",
                &[],
                "server.max_concurrent_calls (0) must be at least 1",
            ),
            (
                "server: {body_read_timeout: 50ms}",
                &[],
                "server.body_read_timeout (50ms) must be at least 100ms",
            ),
            (
                "server: {bodyReadTimeout: 192h}",
                &[],
                "server.body_read_timeout (192h) must be at most 168h",
            ),
            (
                "aggregation: {separator: ''}",
                &[],
                "aggregation.separator (\"\") must not be empty",
            ),
            (
                "aggregation: {priority: [a, x]}",
                &["a"],
                "aggregation.priority[1] (\"x\") is not a configured backend",
            ),
            (
                "aggregation: {priority: [a, a]}",
                &["a"],
                "aggregation.priority[1] (\"a\") is listed twice",
            ),
            (
                "aggregation: {overrides: {x: {t: u}}}",
                &["a"],
                "aggregation.overrides.x (\"x\") is not a configured backend",
            ),
            (
                "aggregation: {min_advertised: 1}",
                &["a"],
                "aggregation.min_advertised (1) has no effect with partial_failure_mode best_effort (use fail)",
            ),
            (
                "aggregation: {partial_failure_mode: fail, min_advertised: 3}",
                &["a"],
                "aggregation.min_advertised (3) is more than the 1 configured backends; initialize could never succeed",
            ),
        ];
        for (text, backends, expected) in cases {
            let err = yaml(text).validate(backends).unwrap_err().to_string();
            assert_eq!(&err, expected, "{text}");
        }
    }

    #[test]
    fn the_vmcp_file_takes_server_and_aggregation_blocks() {
        use crate::config::VmcpConfig;
        let secrets = BTreeMap::new();
        let load = |text: &str| VmcpConfig::from_yaml_str_with(text, "vmcp.yaml", &secrets);
        let backends = "backends:\n  - {name: a, url: 'http://a/mcp'}\n";
        let config = load(&format!(
            "{backends}server: {{listen: '127.0.0.1:9000', callTimeout: 3s}}\naggregation: {{separator: '.'}}\n"
        ))
        .unwrap();
        let frontend = config.frontend.expect("a front end");
        assert_eq!(frontend.server.listen.port(), 9000);
        assert_eq!(frontend.server.call_timeout, Duration::from_secs(3));
        assert_eq!(frontend.aggregation.separator, ".");
        assert!(load(backends).unwrap().frontend.is_none());

        let err = load(&format!("{backends}aggregation: {{separator: '.'}}\n")).unwrap_err();
        assert!(
            err.to_string()
                .contains("aggregation: is set but server is not"),
            "{err}"
        );
        let err = load(&format!(
            "{backends}server: {{listen: '127.0.0.1:9000'}}\nstatus: {{listen: '127.0.0.1:9000'}}\n"
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("status.listen (127.0.0.1:9000) is also server.listen"),
            "{err}"
        );
        let err = load(&format!(
            "{backends}server: {{listen: '127.0.0.1:9000'}}\naggregation: {{priority: [zz]}}\n"
        ))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("aggregation.priority[0] (\"zz\") is not a configured backend"),
            "{err}"
        );
        let err = load(&format!("{backends}server: {{listen: nowhere}}\n")).unwrap_err();
        assert!(
            err.to_string()
                .contains("\"nowhere\" is not an IP address and port"),
            "{err}"
        );
    }
}
