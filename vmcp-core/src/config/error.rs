//! [`ConfigError`]: every way a configuration can be refused.
//!
//! Messages name the key path and the offending value (`health_check_timeout (30s) must be less
//! than health_check_interval (30s)`) so an operator can fix the file without reading code, and
//! they never contain a credential: secret-related errors name the variable or file, not its
//! content.

use std::io;
use std::path::PathBuf;

use super::file::FileError;

/// A configuration that cannot be loaded or is not valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The config file is not a regular file, too large, or not UTF-8.
    #[error(transparent)]
    File(FileError),

    /// The text is not valid YAML, or does not match the expected shape: unknown key, wrong type,
    /// bad duration, or a value refused by validation while deserializing. `message` starts with
    /// the key path when the parser knows it (`operational.failure_handling: unknown field ...`).
    #[error("{source_name}:{line}:{column}: {message}")]
    Parse {
        /// File name or other label of the input.
        source_name: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong, without the location.
        message: String,
    },

    /// Like [`ConfigError::Parse`], for the rare parser errors that carry no location.
    #[error("{source_name}: {message}")]
    Syntax {
        /// File name or other label of the input.
        source_name: String,
        /// What is wrong.
        message: String,
    },

    /// A key holds a value outside its allowed range or relation to another key.
    #[error("{key} ({value}) {reason}")]
    InvalidValue {
        /// Dotted key path, e.g. `circuit_breaker.timeout` or `backends[1].url`.
        key: String,
        /// The offending value as written in config syntax (`30s`, `0`, `"api"`).
        value: String,
        /// The rule it breaks, e.g. `must be at least 1`.
        reason: String,
    },

    /// A block is inconsistent as a whole, e.g. both `token_env` and `token_file` are set.
    #[error("{key}: {message}")]
    Invalid {
        /// Dotted key path of the block.
        key: String,
        /// What is wrong.
        message: String,
    },

    /// A credential could not be resolved (unset variable, unreadable or empty file, a value that
    /// cannot be sent in an HTTP header). The message never contains the credential.
    #[error("{key}: {message}")]
    Secret {
        /// Dotted key path, e.g. `backends[0].auth.token_env`.
        key: String,
        /// What is wrong, naming the variable or file.
        message: String,
    },

    /// An error found after parsing, labelled with the input it came from.
    #[error("{source_name}: {error}")]
    InSource {
        /// File name or other label of the input.
        source_name: String,
        /// The underlying error.
        #[source]
        error: Box<ConfigError>,
    },
}

impl ConfigError {
    /// Shorthand for [`ConfigError::InvalidValue`].
    pub fn invalid_value(
        key: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ConfigError::InvalidValue {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// Put `prefix.` in front of the key path, so an error found by a nested block's validation
    /// reads with the path the user wrote (`circuit_breaker.timeout`, `vmcp.health_check_interval`).
    /// Errors without a key path are returned unchanged.
    #[must_use]
    pub fn prefixed(self, prefix: &str) -> Self {
        let join = |key: String| format!("{prefix}.{key}");
        match self {
            ConfigError::InvalidValue { key, value, reason } => ConfigError::InvalidValue {
                key: join(key),
                value,
                reason,
            },
            ConfigError::Invalid { key, message } => ConfigError::Invalid {
                key: join(key),
                message,
            },
            ConfigError::Secret { key, message } => ConfigError::Secret {
                key: join(key),
                message,
            },
            ConfigError::InSource { source_name, error } => ConfigError::InSource {
                source_name,
                error: Box::new(error.prefixed(prefix)),
            },
            other @ (ConfigError::Read { .. }
            | ConfigError::File(_)
            | ConfigError::Parse { .. }
            | ConfigError::Syntax { .. }) => other,
        }
    }

    /// Label an error with the input it came from (no-op for errors that already carry one).
    #[must_use]
    pub fn in_source(self, source_name: &str) -> Self {
        match self {
            already @ (ConfigError::Read { .. }
            | ConfigError::File(_)
            | ConfigError::Parse { .. }
            | ConfigError::Syntax { .. }
            | ConfigError::InSource { .. }) => already,
            other => ConfigError::InSource {
                source_name: source_name.to_owned(),
                error: Box::new(other),
            },
        }
    }

    /// Turn a YAML error into [`ConfigError::Parse`] (or [`ConfigError::Syntax`] without a
    /// location), moving the location from the end of the message to the front.
    pub fn from_yaml(source_name: &str, error: &serde_yaml_ng::Error) -> Self {
        let text = error.to_string();
        match error.location() {
            Some(location) => {
                let suffix = format!(" at line {} column {}", location.line(), location.column());
                let message = match text.find(&suffix) {
                    Some(at) => format!("{}{}", &text[..at], &text[at + suffix.len()..]),
                    None => text,
                };
                ConfigError::Parse {
                    source_name: source_name.to_owned(),
                    line: location.line(),
                    column: location.column(),
                    message,
                }
            }
            None => ConfigError::Syntax {
                source_name: source_name.to_owned(),
                message: text,
            },
        }
    }
}
