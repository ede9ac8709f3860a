//! Loading the config file off the runtime thread, with a deadline.
//!
//! Reading and parsing is blocking work on input nobody vetted: `vmcp-core` already refuses
//! FIFOs, devices, files over 1 MiB and deep nesting (`config::file`, `MAX_NESTING`), but a hung
//! file system can still block a read. So the load runs on a blocking thread (the binary's only
//! one besides the report writer; the core stays single-threaded) and the runtime waits for it at
//! most [`LOAD_DEADLINE`]: probing and the status endpoints go on meanwhile. A load that misses
//! the deadline is abandoned (its thread finishes or hangs on its own), and while it is still
//! running no second one starts, so a stuck file system cannot pile up threads.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use vmcp_core::config::{ConfigError, VmcpConfig};

/// The longest a config load may take (read, parse, validate, credential files).
pub(crate) const LOAD_DEADLINE: Duration = Duration::from_secs(5);

/// Why a load gave no config.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// The file or its content was refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Reading and parsing took longer than the deadline.
    #[error("reading {} took longer than {deadline:?}; abandoned", path.display())]
    TimedOut {
        /// The config file.
        path: PathBuf,
        /// The deadline it missed.
        deadline: Duration,
    },
    /// An earlier load has not finished yet (it missed its deadline and is still blocked).
    #[error("an earlier load of {} is still running (blocked reading it)", path.display())]
    Busy {
        /// The config file.
        path: PathBuf,
    },
    /// The loading thread could not run or ended without an answer.
    #[error("the config loader failed: {0}")]
    Loader(String),
}

/// Loads the config file off the runtime thread, one load at a time.
#[derive(Clone, Debug)]
pub(crate) struct Loader {
    path: PathBuf,
    deadline: Duration,
    running: Arc<AtomicBool>,
}

impl Loader {
    /// A loader of `path` with [`LOAD_DEADLINE`].
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            deadline: LOAD_DEADLINE,
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The config file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Read, parse and validate the file on a blocking thread; wait at most the deadline.
    pub(crate) async fn load(&self) -> Result<VmcpConfig, LoadError> {
        if self.running.swap(true, Ordering::AcqRel) {
            return Err(LoadError::Busy {
                path: self.path.clone(),
            });
        }
        let path = self.path.clone();
        let running = Arc::clone(&self.running);
        let task = tokio::task::spawn_blocking(move || {
            let result = VmcpConfig::from_yaml_file(&path);
            running.store(false, Ordering::Release);
            result
        });
        match tokio::time::timeout(self.deadline, task).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(join)) => {
                self.running.store(false, Ordering::Release);
                Err(LoadError::Loader(join.to_string()))
            }
            Err(_) => Err(LoadError::TimedOut {
                path: self.path.clone(),
                deadline: self.deadline,
            }),
        }
    }
}
