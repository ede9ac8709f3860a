//! The reporting loop: when to build and publish a status report (DESIGN §3.4).
//!
//! Reports are published
//!
//! 1. once after the initial probes, waiting at most
//!    [`initial_report_max_wait`](ReportingConfig::initial_report_max_wait) so one hanging backend
//!    cannot hold back the first report;
//! 2. every [`status_reporting_interval`](ReportingConfig::status_reporting_interval), on a fixed
//!    schedule counted from the first report;
//! 3. at most [`registry_poll_interval`](ReportingConfig::registry_poll_interval) after a registry
//!    change or a health change notification. The first unreported change opens a window of that
//!    length; every change inside it is covered by the one report at its end (bursts coalesce),
//!    and any report (periodic included) closes the window, since it shows everything so far.
//!
//! Registry changes are pushed to the health source (`update_backends`) as soon as they are
//! noticed, so new backends are probed at once and not 30 s later (the PR 4290 delay), and again
//! right before a report if the registry moved on in between. (The runtime's monitor also follows
//! the registry itself, so for it these pushes are no-ops; they keep the loop correct over any
//! [`HealthSource`].) The change window is armed from the first instant, during the wait for the
//! initial probes too.
//!
//! A failing reporter is logged with `tracing::warn!` and tried again with the next report; it
//! never stops the loop or the other reporters. Only `tokio::time` is used, and every `select!`
//! is `biased;` with shutdown first, then report deadlines, then change notifications.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};

use crate::clock::Clock;
use crate::config::{
    FailureHandling, MIN_REGISTRY_POLL_INTERVAL, MIN_STATUS_REPORTING_INTERVAL, duration,
};
use crate::health::HealthSnapshot;
use crate::registry::{Backend, DynamicRegistry};
use crate::status::report::build_report;
use crate::status::reporter::Reporter;

/// What the reporting loop needs from the health monitor.
///
/// A trait so the loop can be tested with a scripted source and so it does not depend on the
/// monitor's internals. `HealthMonitor` has inherent methods of exactly these names.
pub trait HealthSource: Send + Sync {
    /// The current health of every monitored backend.
    fn snapshot(&self) -> HealthSnapshot;
    /// Notified on every status or circuit transition and backend add/remove.
    fn changes(&self) -> watch::Receiver<u64>;
    /// Make the monitored set match `backends` (add, remove, restart changed endpoints).
    /// Called with an unchanged set it must do nothing.
    fn update_backends(&self, backends: &[Backend]);
    /// Resolves once every backend has a first result, or after `max_wait`.
    fn initial_probes_done(&self, max_wait: Duration) -> impl Future<Output = ()> + Send;
}

impl<H: HealthSource> HealthSource for Arc<H> {
    fn snapshot(&self) -> HealthSnapshot {
        (**self).snapshot()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        (**self).changes()
    }

    fn update_backends(&self, backends: &[Backend]) {
        (**self).update_backends(backends);
    }

    fn initial_probes_done(&self, max_wait: Duration) -> impl Future<Output = ()> + Send {
        (**self).initial_probes_done(max_wait)
    }
}

/// Timing of the reporting loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportingConfig {
    /// Time between periodic reports. > 0.
    pub status_reporting_interval: Duration,
    /// Upper bound between a change and the report showing it; also the coalescing window. > 0.
    pub registry_poll_interval: Duration,
    /// Longest wait for the initial probes before the first report. Zero: report at once.
    pub initial_report_max_wait: Duration,
}

impl ReportingConfig {
    /// Added to the probe deadline (and initial jitter) to get the first report's wait bound:
    /// room for a probe that finishes right at its deadline to be recorded.
    pub const INITIAL_REPORT_MARGIN: Duration = Duration::from_secs(1);

    /// The timing for `config`: its intervals, and a first-report wait of
    /// `initial_jitter + health_check_timeout + INITIAL_REPORT_MARGIN`, by which every first probe
    /// has finished or timed out.
    pub fn from_failure_handling(config: &FailureHandling) -> Self {
        Self {
            status_reporting_interval: config.status_reporting_interval,
            registry_poll_interval: config.registry_poll_interval,
            initial_report_max_wait: config
                .initial_jitter
                .saturating_add(config.health_check_timeout)
                .saturating_add(Self::INITIAL_REPORT_MARGIN),
        }
    }

    /// Check the intervals against the config's lower bounds: a tiny interval would report in a
    /// busy loop.
    pub fn validate(&self) -> Result<(), ReportingConfigError> {
        for (key, value, min) in [
            (
                "status_reporting_interval",
                self.status_reporting_interval,
                MIN_STATUS_REPORTING_INTERVAL,
            ),
            (
                "registry_poll_interval",
                self.registry_poll_interval,
                MIN_REGISTRY_POLL_INTERVAL,
            ),
        ] {
            if value < min {
                return Err(ReportingConfigError::TooShort {
                    key,
                    value: duration::format(value),
                    min: duration::format(min),
                });
            }
        }
        Ok(())
    }
}

impl From<&FailureHandling> for ReportingConfig {
    fn from(config: &FailureHandling) -> Self {
        Self::from_failure_handling(config)
    }
}

/// Why the reporting loop refused to start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReportingConfigError {
    /// An interval is below its lower bound.
    #[error("{key} ({value}) must be at least {min}")]
    TooShort {
        /// The configuration key.
        key: &'static str,
        /// The value given, in config syntax.
        value: String,
        /// The lower bound, in config syntax.
        min: String,
    },
}

/// Why a report is being published (for logs).
#[derive(Clone, Copy, Debug)]
enum Trigger {
    Initial,
    Periodic,
    Change,
}

impl Trigger {
    const fn as_str(self) -> &'static str {
        match self {
            Trigger::Initial => "initial",
            Trigger::Periodic => "periodic",
            Trigger::Change => "change",
        }
    }
}

/// Publish status reports until `shutdown` turns `true` (or its sender is dropped: then nobody
/// could ever stop the loop, so it stops).
///
/// Reports are built from `registry` and `health` and stamped with `clock`; each goes to every
/// reporter in `reporters`, in order. Registry changes are pushed to `health`; the current
/// registry contents are pushed once at start, so changes made before the loop started are not
/// lost. See the module docs for the schedule.
///
/// Fails only at start, on an invalid `config`.
pub async fn run_reporting_loop<H: HealthSource>(
    config: ReportingConfig,
    registry: &DynamicRegistry,
    health: &H,
    clock: &dyn Clock,
    reporters: &[Arc<dyn Reporter>],
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ReportingConfigError> {
    config.validate()?;
    if *shutdown.borrow_and_update() {
        return Ok(());
    }
    let mut state = LoopState {
        registry,
        health,
        clock,
        reporters,
        registry_rx: registry.subscribe(),
        health_rx: health.changes(),
        pushed_version: None,
        registry_open: true,
        health_open: true,
    };
    state.push_registry();

    // (1) The first report, after the initial probes or the bound, whichever comes first. The
    // source promises to honour `max_wait`; the timeout makes sure of it.
    // A registry change during this wait is reported within `registry_poll_interval` like any
    // other (the change deadline is armed from the first instant), not held back until the
    // initial report.
    let max_wait = config.initial_report_max_wait;
    let initial = tokio::time::timeout(max_wait, health.initial_probes_done(max_wait));
    tokio::pin!(initial);
    let mut change_deadline: Option<Instant> = None;
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => return Ok(()),
            done = &mut initial => {
                if done.is_err() {
                    tracing::warn!(
                        max_wait = %humantime::format_duration(max_wait),
                        "initial health probes not finished in time; reporting anyway"
                    );
                }
                break;
            }
            () = sleep_until(change_deadline.unwrap_or_else(crate::clock::monotonic_now)), if change_deadline.is_some() => {
                state.publish(Trigger::Change);
                change_deadline = None;
            }
            changed = state.registry_rx.changed(), if state.registry_open => {
                if state.on_registry_notification(changed.is_ok()) {
                    change_deadline.get_or_insert_with(|| crate::clock::monotonic_now() + config.registry_poll_interval);
                }
            }
        }
    }
    state.publish(Trigger::Initial);
    change_deadline = None;

    // (2) and (3): periodic reports and coalesced change reports.
    let origin = crate::clock::monotonic_now();
    let mut next_periodic = origin + config.status_reporting_interval;
    loop {
        tokio::select! {
            biased;
            () = stopped(&mut shutdown) => return Ok(()),
            () = sleep_until(next_periodic) => {
                state.publish(Trigger::Periodic);
                change_deadline = None;
                // Periods missed while publishing are skipped, computed in one step (a loop
                // adding the interval until it passes `now` would spin on a tiny interval).
                next_periodic = crate::grid::next_after(
                    origin,
                    config.status_reporting_interval,
                    crate::clock::monotonic_now(),
                );
            }
            () = sleep_until(change_deadline.unwrap_or(next_periodic)), if change_deadline.is_some() => {
                state.publish(Trigger::Change);
                change_deadline = None;
            }
            changed = state.registry_rx.changed(), if state.registry_open => {
                if state.on_registry_notification(changed.is_ok()) {
                    change_deadline.get_or_insert_with(|| crate::clock::monotonic_now() + config.registry_poll_interval);
                }
            }
            changed = state.health_rx.changed(), if state.health_open => {
                if changed.is_ok() {
                    change_deadline.get_or_insert_with(|| crate::clock::monotonic_now() + config.registry_poll_interval);
                } else {
                    // The source is gone (monitor stopped): periodic reports only.
                    state.health_open = false;
                }
            }
        }
    }
}

/// Resolves when shutdown is requested or can no longer be requested.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Everything the loop body needs, so the `select!` arms stay short.
struct LoopState<'a, H> {
    registry: &'a DynamicRegistry,
    health: &'a H,
    clock: &'a dyn Clock,
    reporters: &'a [Arc<dyn Reporter>],
    registry_rx: watch::Receiver<u64>,
    health_rx: watch::Receiver<u64>,
    /// The registry version last pushed to the health source.
    pushed_version: Option<u64>,
    registry_open: bool,
    health_open: bool,
}

impl<H: HealthSource> LoopState<'_, H> {
    /// Handle a registry notification; returns whether it was a change (not a closed channel).
    fn on_registry_notification(&mut self, changed: bool) -> bool {
        if changed {
            self.push_registry();
        } else {
            self.registry_open = false;
        }
        changed
    }

    /// Push the registry contents to the health source if they moved on since the last push.
    /// The notification is consumed before reading, so a change after the read is noticed again.
    fn push_registry(&mut self) -> Vec<Backend> {
        self.registry_rx.borrow_and_update();
        let (version, backends) = self.registry.versioned_list();
        if self.pushed_version != Some(version) {
            tracing::debug!(
                version,
                backends = backends.len(),
                "pushing registry to health monitor"
            );
            self.health.update_backends(&backends);
            self.pushed_version = Some(version);
        }
        backends
    }

    /// Build one report from the current registry and health, and hand it to every reporter.
    fn publish(&mut self, trigger: Trigger) {
        // Consume pending notifications first: what they announce is in the state read below.
        self.health_rx.borrow_and_update();
        let backends = self.push_registry();
        let snapshot = self.health.snapshot();
        let report = build_report(&backends, &snapshot, self.clock.now());
        tracing::debug!(
            trigger = trigger.as_str(),
            phase = %report.phase,
            observed_at = %report.observed_at,
            "publishing status report"
        );
        for reporter in self.reporters {
            if let Err(error) = reporter.report(&report) {
                tracing::warn!(
                    reporter = reporter.name(),
                    %error,
                    "status reporter failed; the next report will be tried as usual"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Trigger;

    /// The trigger names are what the publish log line carries.
    #[test]
    fn triggers_have_their_log_names() {
        let names: Vec<_> = [Trigger::Initial, Trigger::Periodic, Trigger::Change]
            .into_iter()
            .map(Trigger::as_str)
            .collect();
        assert_eq!(names, ["initial", "periodic", "change"]);
    }
}
