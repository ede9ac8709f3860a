//! Where status reports go: logs, JSON lines, memory (DESIGN §3.4).
//!
//! A [`Reporter`] publishes one report synchronously. Publishing may fail (a full disk, a closed
//! pipe); the reporting loop logs the [`ReportError`] and carries on, so a reporter must not panic
//! and must be usable again after an error.

use std::fs::{File, OpenOptions};
use std::io::{self, Stdout, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::status::report::StatusReport;
use crate::sync::lock;

/// Why a report could not be published.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report could not be serialised.
    #[error("cannot serialise status report: {0}")]
    Serialize(#[from] serde_json::Error),
    /// Writing the report failed.
    #[error("cannot write status report: {0}")]
    Io(#[from] io::Error),
    /// Opening the output file failed.
    #[error("cannot open status report file {path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// A reporter outside this crate failed (e.g. a Kubernetes status update).
    #[error("status reporter {reporter} failed: {message}")]
    Other {
        /// The reporter's name.
        reporter: String,
        /// What went wrong, credential-free.
        message: String,
    },
}

/// Publishes status reports.
///
/// `Send + Sync` because the reporting loop is a tokio task that may run on any worker thread.
pub trait Reporter: Send + Sync {
    /// Publish `report`. An error is logged by the caller; the next report is tried as usual.
    fn report(&self, report: &StatusReport) -> Result<(), ReportError>;

    /// A short name for logs when this reporter fails.
    fn name(&self) -> &str {
        "reporter"
    }
}

impl<R: Reporter + ?Sized> Reporter for Arc<R> {
    fn report(&self, report: &StatusReport) -> Result<(), ReportError> {
        (**self).report(report)
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

impl<R: Reporter + ?Sized> Reporter for Box<R> {
    fn report(&self, report: &StatusReport) -> Result<(), ReportError> {
        (**self).report(report)
    }

    fn name(&self) -> &str {
        (**self).name()
    }
}

/// Logs a one-line summary of each report with `tracing` at info level: phase, counts, message.
///
/// The default for the `vmcp` binary: an operator tailing logs sees every phase change.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogReporter;

impl Reporter for LogReporter {
    fn report(&self, report: &StatusReport) -> Result<(), ReportError> {
        let counts = report.counts();
        tracing::info!(
            phase = %report.phase,
            total = counts.total,
            healthy = counts.healthy,
            degraded = counts.degraded,
            unavailable = counts.unavailable,
            unknown = counts.unknown,
            observed_at = %report.observed_at,
            "status report: {}",
            report.message
        );
        Ok(())
    }

    fn name(&self) -> &str {
        "log"
    }
}

/// Writes each report as one compact JSON line (JSON Lines), for machines: `jq`, log shippers,
/// and tests that parse the output.
///
/// Generic over the writer so tests can write into a `Vec<u8>`. Each line is written with a
/// single `write_all` and flushed, so concurrent readers never see half a report.
#[derive(Debug)]
pub struct JsonLinesReporter<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonLinesReporter<W> {
    /// Write reports to `out`.
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }

    /// The writer back (e.g. the bytes written, in tests).
    pub fn into_inner(self) -> W {
        self.out
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl JsonLinesReporter<Stdout> {
    /// Write reports to standard output.
    pub fn stdout() -> Self {
        Self::new(io::stdout())
    }
}

impl JsonLinesReporter<File> {
    /// Append reports to the file at `path`, creating it if needed. Existing lines are kept, so
    /// restarts add to one history.
    pub fn append_to_file(path: impl AsRef<Path>) -> Result<Self, ReportError> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| ReportError::Open {
                path: path.display().to_string(),
                source,
            })?;
        Ok(Self::new(file))
    }
}

impl<W: Write + Send> Reporter for JsonLinesReporter<W> {
    fn report(&self, report: &StatusReport) -> Result<(), ReportError> {
        let mut line = serde_json::to_vec(report)?;
        line.push(b'\n');
        let mut out = lock(&self.out);
        out.write_all(&line)?;
        out.flush()?;
        Ok(())
    }

    fn name(&self) -> &str {
        "json-lines"
    }
}

/// Keeps every report in memory, in order: the simulation and tests read them back.
#[derive(Debug, Default)]
pub struct MemoryReporter {
    reports: Mutex<Vec<StatusReport>>,
}

impl MemoryReporter {
    /// An empty reporter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every report so far, oldest first.
    pub fn reports(&self) -> Vec<StatusReport> {
        lock(&self.reports).clone()
    }

    /// The latest report, if any.
    pub fn last(&self) -> Option<StatusReport> {
        lock(&self.reports).last().cloned()
    }

    /// How many reports were received.
    pub fn len(&self) -> usize {
        lock(&self.reports).len()
    }

    /// Whether no report was received.
    pub fn is_empty(&self) -> bool {
        lock(&self.reports).is_empty()
    }
}

impl Reporter for MemoryReporter {
    fn report(&self, report: &StatusReport) -> Result<(), ReportError> {
        lock(&self.reports).push(report.clone());
        Ok(())
    }

    fn name(&self) -> &str {
        "memory"
    }
}
