//! Builders for health values in tests. The monitor, tracker and breaker are built elsewhere, so
//! tests construct their public structs directly instead of running them.

use std::sync::Mutex;
use std::time::Duration;

use crate::clock::Timestamp;
use crate::health::BreakerSnapshot;
use crate::health::HealthState;
use crate::health::{BackendHealth, HealthSnapshot};
use crate::health::{CircuitState, ErrorCategory, HealthReason, HealthStatus};
use crate::registry::Backend;

/// 2026-01-01T00:00:00Z.
pub(crate) const EPOCH_MILLIS: u64 = 1_767_225_600_000;

/// `secs` seconds after [`EPOCH_MILLIS`].
pub(crate) fn at(secs: u64) -> Timestamp {
    Timestamp::from_unix_millis(EPOCH_MILLIS + secs * 1000)
}

/// A tracker state with the given status and reason; no checks yet.
pub(crate) fn state(status: HealthStatus, reason: HealthReason) -> HealthState {
    HealthState {
        status,
        reason,
        ..HealthState::pending()
    }
}

/// A healthy state, last checked at `checked`.
pub(crate) fn healthy(checked: Timestamp) -> HealthState {
    HealthState {
        consecutive_successes: 3,
        last_check: Some(checked),
        last_transition: Some(checked),
        last_latency: Some(Duration::from_millis(40)),
        ..state(HealthStatus::Healthy, HealthReason::Ok)
    }
}

/// A failing state.
pub(crate) fn failing(
    status: HealthStatus,
    reason: HealthReason,
    failures: u32,
    category: ErrorCategory,
    message: &str,
    checked: Timestamp,
) -> HealthState {
    HealthState {
        consecutive_failures: failures,
        last_check: Some(checked),
        last_transition: Some(checked),
        last_error_category: Some(category),
        last_error_message: Some(message.to_owned()),
        last_latency: Some(Duration::from_millis(15)),
        ..state(status, reason)
    }
}

/// A breaker snapshot in `state` (enabled).
pub(crate) fn breaker(state: CircuitState, failures: u32) -> BreakerSnapshot {
    BreakerSnapshot {
        enabled: true,
        state,
        consecutive_failures: failures,
        open_until: None,
        half_open_in_flight: 0,
        half_open_successes: 0,
        current_timeout: Duration::from_secs(60),
        last_changed: None,
        times_opened: u64::from(state != CircuitState::Closed),
    }
}

/// A disabled breaker (always closed).
pub(crate) fn no_breaker() -> BreakerSnapshot {
    BreakerSnapshot {
        enabled: false,
        ..breaker(CircuitState::Closed, 0)
    }
}

/// A monitor entry for `backend`.
pub(crate) fn entry(
    backend: &Backend,
    health: HealthState,
    circuit: BreakerSnapshot,
    circuit_last_changed: Option<Timestamp>,
) -> BackendHealth {
    BackendHealth {
        backend: backend.clone(),
        health,
        circuit,
        circuit_last_changed,
        probes_started: 1,
        probes_skipped: 0,
        generation: 1,
    }
}

/// A snapshot of `entries`, keyed by backend name.
pub(crate) fn snapshot(entries: Vec<BackendHealth>) -> HealthSnapshot {
    entries
        .into_iter()
        .map(|e| (e.backend.name.clone(), e))
        .collect()
}

/// Serializes the tests that install a capturing subscriber, so their captures never overlap.
static CAPTURING: Mutex<()> = Mutex::new(());

/// A second dispatcher kept alive for the whole test run. tracing-core recomputes a callsite's
/// cached interest when another thread hits that callsite for the first time; while exactly one
/// dispatcher is registered it does so with the *global* default only (its `has_just_one` fast
/// path), which here is no subscriber, so a callsite first hit by another test while a capture
/// is installed was cached as "never" and the capture lost its events (a flaky test, and
/// mutants that survived only when the whole suite ran; docs/MUTATION.md). With this one alive
/// there are always two, and every recomputation asks the installed capture too. (A
/// `NoSubscriber` wants nothing, but `Dispatch::new` registers it, so it is counted.)
static SECOND_DISPATCHER: std::sync::OnceLock<tracing::Dispatch> = std::sync::OnceLock::new();

/// Run `f` with a [`Capture`] as this thread's subscriber, one capturing test at a time, and
/// return its result with the events it logged.
pub(crate) fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<(tracing::Level, String)>) {
    SECOND_DISPATCHER
        .get_or_init(|| tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default()));
    let _one_at_a_time = crate::sync::lock(&CAPTURING);
    let capture = std::sync::Arc::new(Capture::default());
    let result = tracing::subscriber::with_default(std::sync::Arc::clone(&capture), f);
    let events = std::mem::take(&mut *crate::sync::lock(&capture.events));
    (result, events)
}

/// Captures `tracing` events as text, to check what is logged (level, then `field=value ` pairs).
/// Install it with [`capture`].
#[derive(Default)]
pub(crate) struct Capture {
    pub(crate) events: Mutex<Vec<(tracing::Level, String)>>,
}

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!("{}={:?} ", field.name(), value));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        self.events
            .lock()
            .unwrap()
            .push((*event.metadata().level(), fields.0));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
