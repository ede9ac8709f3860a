//! Status reports (DESIGN §3.4): what the virtual MCP server tells the outside world about its
//! backends, and when. The parts are private modules; their types are re-exported here.
//!
//! * report: [`StatusReport`], shaped like a Kubernetes `VirtualMCPServer` status, and
//!   [`build_report`], the pure function that builds it from the registry and the monitor's
//!   [`HealthSnapshot`](crate::health::HealthSnapshot). The phase table is documented on
//!   [`Phase`].
//! * reporter: where reports go: [`LogReporter`], [`JsonLinesReporter`], [`MemoryReporter`],
//!   or anything implementing [`Reporter`].
//! * reporting_loop: [`run_reporting_loop`], which decides when to report (after the initial
//!   probes, periodically, and promptly after changes), over any [`HealthSource`].
//! * output_queue: [`LineQueue`] and [`QueuedJsonLinesReporter`], so a stalled output never
//!   blocks publishing (old lines are dropped and counted instead).
//! * redact (crate-internal): keeps credentials out of reports (URL userinfo, echoed secrets).
//!
//! Split this way so report contents can be snapshot-tested without time, and the schedule can be
//! tested with paused time and a scripted health source.

mod output_queue;
mod redact;
mod report;
mod reporter;
mod reporting_loop;

#[cfg(test)]
mod report_tests;
#[cfg(test)]
mod reporter_tests;
#[cfg(test)]
mod reporting_loop_tests;
#[cfg(test)]
pub(crate) mod test_support;

pub use output_queue::{LineQueue, QueuedJsonLinesReporter};
pub use report::{
    BackendCounts, Condition, ConditionStatus, DiscoveredBackend, Phase, StatusReport,
    build_report, condition_types, reasons,
};
pub use reporter::{JsonLinesReporter, LogReporter, MemoryReporter, ReportError, Reporter};
pub use reporting_loop::{HealthSource, ReportingConfig, ReportingConfigError, run_reporting_loop};
