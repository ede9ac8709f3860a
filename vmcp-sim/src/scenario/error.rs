//! [`ScenarioError`]: why a scenario file (or a set of them) cannot be used.
//!
//! Every problem inside a file is one [`ScenarioError::Invalid`], displayed as
//! `file:line:column: message`, the form compilers use, so editors and CI annotations can jump to
//! the spot. Problems with the paths themselves (missing file, unreadable directory) carry the
//! path instead, since there is no position to point at.

use std::io;
use std::path::PathBuf;

use super::location::Location;

/// A scenario that cannot be loaded, or scenario paths that cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The file is not valid TOML, does not have the scenario shape, or breaks a rule.
    #[error("{file}:{line}:{column}: {message}")]
    Invalid {
        /// The file name as given to the parser (usually the path as typed).
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column, in characters.
        column: usize,
        /// What is wrong, without the position.
        message: String,
    },

    /// A path given on the command line (or to [`discover`](super::discover)) does not exist.
    #[error("{}: no such file or directory", path.display())]
    Missing {
        /// The path as given.
        path: PathBuf,
    },

    /// A directory holds no `*.toml` file: running it would silently test nothing.
    #[error("{}: directory contains no *.toml scenario files", path.display())]
    EmptyDirectory {
        /// The directory as given.
        path: PathBuf,
    },

    /// The path is not a regular file, or the file is larger than 1 MiB.
    #[error(transparent)]
    Refused(vmcp_core::config::FileError),

    /// A file or directory exists but cannot be read (permissions, not UTF-8, I/O error).
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl ScenarioError {
    /// An [`ScenarioError::Invalid`] at `location` of `file`.
    pub fn invalid(file: &str, location: Location, message: impl Into<String>) -> Self {
        ScenarioError::Invalid {
            file: file.to_owned(),
            line: location.line,
            column: location.column,
            message: message.into(),
        }
    }

    /// The position of an [`ScenarioError::Invalid`] error, `None` for path errors.
    pub fn location(&self) -> Option<Location> {
        match self {
            ScenarioError::Invalid { line, column, .. } => Some(Location {
                line: *line,
                column: *column,
            }),
            _ => None,
        }
    }
}
