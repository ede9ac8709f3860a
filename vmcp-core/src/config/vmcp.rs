//! The `vmcp` binary's YAML config: backends, operational settings, status endpoint.
//!
//! Loading has two steps with separate types, so the file can be printed back without secrets:
//!
//! 1. [`VmcpConfigFile`]: the file as written (credentials as references: a variable name or a
//!    file path). Parsing rejects unknown keys and validates the failure-handling block.
//! 2. [`VmcpConfig`]: the resolved, runnable config: backends as [`Backend`]s with their
//!    credentials read into [`Secret`]s, names unique, URLs checked.
//!
//! Credentials are read through a [`SecretSource`], so tests resolve them from a map instead of
//! mutating the process environment. No error message contains a credential.
//!
//! ```yaml
//! backends:
//!   - name: github
//!     url: http://127.0.0.1:8081/mcp
//!     auth: {type: bearer, token_env: GITHUB_TOKEN}
//! operational:
//!   failure_handling:
//!     health_check_interval: 30s
//! status:
//!   listen: 127.0.0.1:8080
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use super::file::{FileError, read_text_file};
use super::yaml_guard::{self, MAX_NESTING};
use super::{ConfigError, FailureHandling};
use crate::registry::{Backend, OutgoingAuth, Secret};

/// The config file as written. Serializes back to YAML without any credential value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VmcpConfigFile {
    /// The backends to monitor, in file order (reports sort by name).
    pub backends: Vec<BackendConfig>,
    /// Operational settings.
    pub operational: OperationalConfig,
    /// The HTTP status endpoint; absent: no endpoint is served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusConfig>,
    /// The MCP front end (DESIGN §3.6); absent: vmcp serves no MCP clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<super::ServerConfig>,
    /// Naming and advertising of the front end; needs `server`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregation: Option<super::AggregationConfig>,
}

/// One backend as written in the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    /// Unique, non-empty name.
    pub name: String,
    /// Streamable-HTTP endpoint: `http://host[:port][/path]`, or `https://` when vmcp is built
    /// with the `tls` feature (the default; see `operational.tls`).
    pub url: String,
    /// Where the backend's credentials come from, if it needs any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
}

/// Where a backend's credentials come from. Exactly one of the `*_env` / `*_file` keys is set.
///
/// Files are read whole and trimmed of surrounding whitespace (a trailing newline is usual);
/// relative paths are resolved against the config file's directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthConfig {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// Environment variable holding the token.
        #[serde(default, alias = "tokenEnv", skip_serializing_if = "Option::is_none")]
        token_env: Option<String>,
        /// File holding the token.
        #[serde(default, alias = "tokenFile", skip_serializing_if = "Option::is_none")]
        token_file: Option<PathBuf>,
    },
    /// A custom header such as `X-API-Key: <value>`.
    Header {
        /// Header name.
        name: String,
        /// Environment variable holding the header value.
        #[serde(default, alias = "valueEnv", skip_serializing_if = "Option::is_none")]
        value_env: Option<String>,
        /// File holding the header value.
        #[serde(default, alias = "valueFile", skip_serializing_if = "Option::is_none")]
        value_file: Option<PathBuf>,
    },
}

/// The `operational` block: `failure_handling` and `tls`. ToolHive's `logLevel` and `timeouts`
/// are rejected as unknown keys rather than silently ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OperationalConfig {
    /// Probing, thresholds, reporting, breaker and client settings.
    #[serde(alias = "failureHandling")]
    pub failure_handling: FailureHandling,
    /// How `https://` backends are verified (see [`super::tls`]).
    #[serde(skip_serializing_if = "super::TlsConfig::is_empty")]
    pub tls: super::TlsConfig,
}

/// The HTTP status endpoint of the `vmcp` binary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StatusConfig {
    /// Address to listen on, an IP and a port. Default `127.0.0.1:8080` (loopback: reports name
    /// every backend, so exposing them is an explicit choice).
    #[serde(deserialize_with = "deserialize_listen")]
    pub listen: SocketAddr,
    /// Connections served at once; one more is accepted and closed at once. Default 256.
    #[serde(alias = "maxConnections")]
    pub max_connections: u32,
    /// Deadline for a whole request head, from when a connection starts waiting for one (new,
    /// or kept alive after a response): closes slowloris and idle clients. Default 10 s.
    #[serde(alias = "headerReadTimeout", with = "super::duration")]
    pub header_read_timeout: std::time::Duration,
    /// A response write that makes no progress this long closes the connection. Default 10 s.
    #[serde(alias = "writeTimeout", with = "super::duration")]
    pub write_timeout: std::time::Duration,
}

impl Default for StatusConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8080)),
            max_connections: super::listener::DEFAULT_STATUS_MAX_CONNECTIONS,
            header_read_timeout: super::listener::DEFAULT_LISTENER_TIMEOUT,
            write_timeout: super::listener::DEFAULT_LISTENER_TIMEOUT,
        }
    }
}

impl StatusConfig {
    /// The listener limits of `status.listen`.
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
            "{text:?} is not an IP address and port such as \"127.0.0.1:8080\" or \"[::1]:8080\""
        ))
    })
}

/// Reads credentials referenced by the config. Injected so tests need no process-wide state.
pub trait SecretSource {
    /// The value of environment variable `name`, or `None` when it is unset.
    fn env_var(&self, name: &str) -> Option<String>;

    /// The content of a credential file. Defaults to reading the file system under the input
    /// file rules ([`read_text_file`]: regular files only, at most 1 MiB, UTF-8).
    fn read_file(&self, path: &Path) -> Result<String, FileError> {
        read_text_file(path)
    }
}

/// The real process environment and file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcessSecrets;

impl SecretSource for ProcessSecrets {
    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed environment (variable name → value); files come from the file system.
impl SecretSource for BTreeMap<String, String> {
    fn env_var(&self, name: &str) -> Option<String> {
        self.get(name).cloned()
    }
}

/// The resolved, validated config the `vmcp` binary runs with. `Debug` shows no credential.
#[derive(Clone, Debug, PartialEq)]
pub struct VmcpConfig {
    /// Backends with resolved credentials, in file order.
    pub backends: Vec<Backend>,
    /// Operational settings (`operational.failure_handling`).
    pub failure_handling: FailureHandling,
    /// The status endpoint, if configured.
    pub status: Option<StatusConfig>,
    /// The MCP front end, if `server` is configured.
    pub frontend: Option<super::FrontendConfig>,
    /// TLS for `https://` backends (`operational.tls`), with the CA file already read.
    pub tls: super::TlsSettings,
}

impl VmcpConfig {
    /// Parse, validate and resolve YAML text, reading credentials from the process environment.
    /// `source_name` labels errors (usually the file name). Relative credential file paths are
    /// resolved against the working directory.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        Self::from_yaml_str_with(text, source_name, &ProcessSecrets)
    }

    /// [`VmcpConfig::from_yaml_str`] with an explicit credential source.
    pub fn from_yaml_str_with(
        text: &str,
        source_name: &str,
        secrets: &dyn SecretSource,
    ) -> Result<Self, ConfigError> {
        VmcpConfigFile::from_yaml_str(text, source_name)?
            .resolve(secrets, None)
            .map_err(|e| e.in_source(source_name))
    }

    /// Read, parse, validate and resolve a YAML config file, reading credentials from the process
    /// environment. Relative credential file paths are resolved against the file's directory.
    pub fn from_yaml_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        Self::from_yaml_file_with(path, &ProcessSecrets)
    }

    /// [`VmcpConfig::from_yaml_file`] with an explicit credential source.
    pub fn from_yaml_file_with(
        path: impl AsRef<Path>,
        secrets: &dyn SecretSource,
    ) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = read_text_file(path).map_err(|error| match error {
            FileError::Io { path, source } => ConfigError::Read { path, source },
            other => ConfigError::File(other),
        })?;
        let source_name = path.display().to_string();
        VmcpConfigFile::from_yaml_str(&text, &source_name)?
            .resolve(secrets, path.parent())
            .map_err(|e| e.in_source(&source_name))
    }
}

impl VmcpConfigFile {
    /// Parse YAML text. Errors carry `source_name:line:column`. Validates the failure-handling
    /// block but resolves no credentials (see [`VmcpConfigFile::resolve`]).
    ///
    /// Nesting deeper than [`MAX_NESTING`] is refused before parsing (deep YAML parses in
    /// quadratic time), and a second document is named with its line.
    pub fn from_yaml_str(text: &str, source_name: &str) -> Result<Self, ConfigError> {
        if let Some((line, column)) = yaml_guard::check_nesting(text, MAX_NESTING) {
            return Err(ConfigError::Parse {
                source_name: source_name.to_owned(),
                line,
                column,
                message: format!(
                    "nesting deeper than {MAX_NESTING} levels (a config nests a handful; refused \
                     before parsing)"
                ),
            });
        }
        serde_yaml_ng::from_str(text).map_err(|e| {
            let second = yaml_guard::second_document(text);
            match second {
                Some(line) if e.location().is_none() => ConfigError::Parse {
                    source_name: source_name.to_owned(),
                    line,
                    column: 1,
                    message: "a second YAML document starts here; a config file holds exactly \
                              one document"
                        .to_owned(),
                },
                _ => ConfigError::from_yaml(source_name, &e),
            }
        })
    }

    /// Check backend names and URLs and read every credential. Relative credential file paths
    /// are joined to `base_dir` when given. The first problem found, in file order, is returned.
    pub fn resolve(
        &self,
        secrets: &dyn SecretSource,
        base_dir: Option<&Path>,
    ) -> Result<VmcpConfig, ConfigError> {
        self.operational
            .failure_handling
            .validate()
            .map_err(|e| e.prefixed("operational.failure_handling"))?;
        if let Some(status) = &self.status {
            status
                .limits()
                .validate()
                .map_err(|e| e.prefixed("status"))?;
        }
        let mut first_index_of: BTreeMap<&str, usize> = BTreeMap::new();
        let mut backends = Vec::with_capacity(self.backends.len());
        for (index, backend) in self.backends.iter().enumerate() {
            let key = format!("backends[{index}]");
            validate_name(&key, &backend.name)?;
            if let Some(first) = first_index_of.insert(&backend.name, index) {
                return Err(ConfigError::invalid_value(
                    format!("{key}.name"),
                    format!("{:?}", backend.name),
                    format!("duplicates backends[{first}].name"),
                ));
            }
            validate_url(&format!("{key}.url"), &backend.url)?;
            let auth = match &backend.auth {
                Some(auth) => Some(resolve_auth(
                    &format!("{key}.auth"),
                    auth,
                    secrets,
                    base_dir,
                )?),
                None => None,
            };
            backends.push(Backend {
                name: backend.name.clone(),
                url: backend.url.clone(),
                auth,
            });
        }
        let tls = self.operational.tls.resolve("operational.tls", base_dir)?;
        let frontend = self.resolve_frontend()?;
        Ok(VmcpConfig {
            backends,
            failure_handling: self.operational.failure_handling.clone(),
            status: self.status.clone(),
            frontend,
            tls,
        })
    }

    /// The front-end blocks, validated against the backend names.
    fn resolve_frontend(&self) -> Result<Option<super::FrontendConfig>, ConfigError> {
        let Some(server) = &self.server else {
            if self.aggregation.is_some() {
                return Err(ConfigError::Invalid {
                    key: "aggregation".to_owned(),
                    message: "is set but server is not; add a server block (server.listen) to \
                              serve MCP clients"
                        .to_owned(),
                });
            }
            return Ok(None);
        };
        if let Some(status) = &self.status {
            if status.listen == server.listen {
                return Err(ConfigError::invalid_value(
                    "status.listen",
                    status.listen.to_string(),
                    "is also server.listen; server.listen already serves the status endpoints, \
                     drop the status block",
                ));
            }
        }
        let config = super::FrontendConfig {
            server: server.clone(),
            aggregation: self.aggregation.clone().unwrap_or_default(),
        };
        let names: Vec<&str> = self.backends.iter().map(|b| b.name.as_str()).collect();
        config.validate(&names)?;
        Ok(Some(config))
    }
}

fn validate_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name.trim() != name {
        "must not have leading or trailing whitespace"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else {
        return Ok(());
    };
    Err(ConfigError::invalid_value(
        format!("{key}.name"),
        format!("{name:?}"),
        reason,
    ))
}

/// Accept `http://host[:port][/path][?query]`, and `https://` in a build with the `tls` feature;
/// nothing else can be probed. A build without the feature refuses `https://` naming the feature
/// (TLS can then terminate in front of vMCP, e.g. in a sidecar). Credentials in the URL would leak
/// into reports (which show the URL), so they are refused without echoing it.
fn validate_url(key: &str, url: &str) -> Result<(), ConfigError> {
    // The value shown is redacted: a bad URL may still carry a secret in its query.
    let shown = crate::redact::redact_url(url);
    let bad = |reason: &str| ConfigError::invalid_value(key, format!("{shown:?}"), reason);
    let expected = "is not a URL of the form http://host[:port]/path";
    const SCHEME_HINT: &str = if cfg!(feature = "tls") {
        "must start with http:// or https://"
    } else {
        "must start with http://"
    };

    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(SCHEME_HINT));
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if rest[..authority_end].contains('@') {
        return Err(ConfigError::invalid_value(
            key,
            "<redacted>",
            "must not contain credentials (user:password@host); use the backend's auth block",
        ));
    }
    if scheme.eq_ignore_ascii_case("https") && !cfg!(feature = "tls") {
        return Err(bad(
            "uses https, but this vmcp was built without TLS support (cargo feature `tls` of \
             vmcp-core); rebuild with it, or terminate TLS in front of vmcp (e.g. in a sidecar)",
        ));
    }
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad(SCHEME_HINT));
    }
    if url.contains('#') {
        return Err(bad("must not contain a fragment (#...)"));
    }
    let uri: http::Uri = url.parse().map_err(|_| bad(expected))?;
    let Some(authority) = uri.authority() else {
        return Err(bad(expected));
    };
    if authority.host().is_empty() {
        return Err(bad("has no host"));
    }
    let port_text = authority
        .as_str()
        .rsplit_once(']')
        .map_or(authority.as_str(), |(_, after)| after)
        .split_once(':')
        .map(|(_, port)| port);
    if let Some(port_text) = port_text {
        match port_text.parse::<u16>() {
            Ok(port) if port != 0 => {}
            _ => return Err(bad("has an invalid port (expected 1-65535)")),
        }
    }
    Ok(())
}

/// Header names the MCP client sets itself; a credential must not replace them.
fn resolve_auth(
    key: &str,
    auth: &AuthConfig,
    secrets: &dyn SecretSource,
    base_dir: Option<&Path>,
) -> Result<OutgoingAuth, ConfigError> {
    match auth {
        AuthConfig::Bearer {
            token_env,
            token_file,
        } => {
            let token = resolve_secret(
                key,
                ("token_env", token_env.as_deref()),
                ("token_file", token_file.as_deref()),
                secrets,
                base_dir,
            )?;
            Ok(OutgoingAuth::Bearer { token })
        }
        AuthConfig::Header {
            name,
            value_env,
            value_file,
        } => {
            let header = http::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError::invalid_value(
                    format!("{key}.name"),
                    format!("{name:?}"),
                    "is not a valid HTTP header name",
                )
            })?;
            if crate::registry::CLIENT_MANAGED_HEADERS.contains(&header.as_str()) {
                return Err(ConfigError::invalid_value(
                    format!("{key}.name"),
                    format!("{name:?}"),
                    "is set by the MCP client itself and cannot carry credentials",
                ));
            }
            let value = resolve_secret(
                key,
                ("value_env", value_env.as_deref()),
                ("value_file", value_file.as_deref()),
                secrets,
                base_dir,
            )?;
            Ok(OutgoingAuth::Header {
                name: name.clone(),
                value,
            })
        }
    }
}

/// Read one credential from exactly one of an environment variable or a file.
fn resolve_secret(
    key: &str,
    (env_key, env): (&str, Option<&str>),
    (file_key, file): (&str, Option<&Path>),
    secrets: &dyn SecretSource,
    base_dir: Option<&Path>,
) -> Result<Secret, ConfigError> {
    let (value_key, value, origin) = match (env, file) {
        (Some(var), None) => {
            let value_key = format!("{key}.{env_key}");
            if var.is_empty() {
                return Err(ConfigError::invalid_value(
                    value_key,
                    "\"\"",
                    "must name an environment variable",
                ));
            }
            let Some(value) = secrets.env_var(var) else {
                return Err(ConfigError::Secret {
                    key: value_key,
                    message: format!("environment variable {var} is not set"),
                });
            };
            (value_key, value, Origin::Env(var))
        }
        (None, Some(path)) => {
            let value_key = format!("{key}.{file_key}");
            let path = match base_dir {
                Some(base) if path.is_relative() => base.join(path),
                _ => path.to_owned(),
            };
            let value = secrets
                .read_file(&path)
                .map_err(|error| ConfigError::Secret {
                    key: value_key.clone(),
                    message: error.to_string(),
                })?;
            (value_key, value, Origin::File(path))
        }
        _ => {
            return Err(ConfigError::Invalid {
                key: key.to_owned(),
                message: format!("set exactly one of {env_key} or {file_key}"),
            });
        }
    };
    let value = value.trim();
    if value.is_empty() {
        return Err(ConfigError::Secret {
            key: value_key,
            message: format!("{origin} is empty"),
        });
    }
    if http::HeaderValue::from_str(value).is_err() {
        return Err(ConfigError::Secret {
            key: value_key,
            message: format!("{origin} contains characters that cannot be sent in an HTTP header"),
        });
    }
    Ok(Secret::new(value))
}

/// Where a credential came from, for messages (never the credential itself).
enum Origin<'a> {
    Env(&'a str),
    File(PathBuf),
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::File(path) => write!(f, "file {}", path.display()),
        }
    }
}
