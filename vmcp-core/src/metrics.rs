//! Prometheus metrics (DESIGN §3.7), in the OpenMetrics text format of `prometheus-client`.
//!
//! Counting happens where the events happen: [`Metrics`] is a [`MonitorObserver`] (probe
//! outcomes, probe latency, skipped probes), a [`Reporter`] (reports published) and a
//! [`FrontendObserver`] (client calls by outcome, call latency, backend sessions, list_changed).
//! The gauges (backend status, circuit, consecutive failures; open client sessions and streams)
//! are not counted at all: they are read from the monitor's snapshot and the front end at scrape
//! time ([`Metrics::encode`]), so they can never drift from what `/status` shows, and a removed
//! backend's gauges disappear with it (its counters are removed on its `BackendRemoved`). No global registry: every
//! [`Metrics`] owns its own, so tests and simulations can run many side by side. Nothing here reads
//! a clock or starts a thread (probe latency comes with the outcome).
//!
//! Series (all prefixed `vmcp_`):
//!
//! | series | type | labels | meaning |
//! |---|---|---|---|
//! | `vmcp_backend_status` | gauge | `backend` | 0 unknown, 1 healthy, 2 degraded, 3 unhealthy, 4 unauthenticated ([`status_value`]) |
//! | `vmcp_backend_circuit_state` | gauge | `backend` | 0 closed (also: breaker disabled), 1 half-open, 2 open ([`circuit_value`]) |
//! | `vmcp_backend_consecutive_failures` | gauge | `backend` | probe failures in a row |
//! | `vmcp_probes_total` | counter | `backend`, `outcome` | finished probes; `outcome` is `success` or the error category (`connection_failed`, `timeout`, ...) |
//! | `vmcp_probes_skipped_total` | counter | `backend` | probes the circuit breaker refused |
//! | `vmcp_probe_duration_seconds` | histogram | `backend` | probe latency, failed probes included |
//! | `vmcp_reports_published_total` | counter | | status reports published |
//! | `vmcp_report_lines_dropped_total` | counter | | report lines dropped because the output did not keep up (only where an output queue exists) |
//!
//! With a front end (fed as a [`FrontendObserver`]; gauges from [`FrontendGauges`] at scrape
//! time). Labels are bounded: `backend` is a configured backend, `outcome`, `kind` and `list`
//! take the fixed values below; never a tool name or a session id.
//!
//! | series | type | labels | meaning |
//! |---|---|---|---|
//! | `vmcp_calls_total` | counter | `backend`, `outcome` | client calls (`tools/call`, `resources/read`, `prompts/get`) to a backend; `outcome` is a [`CallResult`] for forwarded calls (`ok`, `tool_error`, `rpc_error`, `backend_error`, `timeout`, `cancelled`, `abandoned`) or a [`CallRefusal`] for fast-fails (`fast_fail_hidden`, `fast_fail_circuit_open`, `fast_fail_half_open_budget`, `fast_fail_not_configured`, `fast_fail_bulkhead`, `fast_fail_invalid_target`) |
//! | `vmcp_call_duration_seconds` | histogram | `backend` | forwarded calls, from sending to their end (fast-fails excluded: they take no time) |
//! | `vmcp_backend_sessions_initialized_total` | counter | `backend`, `kind` | backend sessions opened for client sessions: `kind` `initial`, or `reinitialized` after the backend forgot one |
//! | `vmcp_list_changed_notifications_total` | counter | `list` | `notifications/{list}/list_changed` queued on GET streams (one per stream); `list` is `tools`, `resources` or `prompts` |
//! | `vmcp_list_changed_notifications_dropped_total` | counter | `list` | the same, dropped because the stream's buffer was full (its client does not read) |
//! | `vmcp_client_sessions_open` | gauge | | client sessions |
//! | `vmcp_client_streams_open` | gauge | | open GET (SSE) streams |

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::frontend::{CallRefusal, CallResult, FrontendEvent, FrontendObserver};
use crate::health::{CircuitState, HealthStatus};
use crate::health::{HealthSnapshot, MonitorEvent, MonitorObserver};
use crate::status::{ReportError, Reporter, StatusReport};
use crate::sync::lock;

/// The `Content-Type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds (seconds) of the probe latency buckets: from a local answer (5 ms) to the
/// longest sensible `health_check_timeout`.
const PROBE_LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The value of `vmcp_backend_status` for `status`.
pub const fn status_value(status: HealthStatus) -> i64 {
    match status {
        HealthStatus::Unknown => 0,
        HealthStatus::Healthy => 1,
        HealthStatus::Degraded => 2,
        HealthStatus::Unhealthy => 3,
        HealthStatus::Unauthenticated => 4,
    }
}

/// The value of `vmcp_backend_circuit_state` for `state`.
pub const fn circuit_value(state: CircuitState) -> i64 {
    match state {
        CircuitState::Closed => 0,
        CircuitState::HalfOpen => 1,
        CircuitState::Open => 2,
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    backend: String,
    outcome: String,
}

/// Upper bounds (seconds) of the call latency buckets: from a local answer to well past the
/// default 30 s `call_timeout` (tools may run for minutes).
const CALL_LATENCY_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    backend: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SessionInitLabels {
    backend: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListLabels {
    list: &'static str,
}

/// The `kind` label values of `vmcp_backend_sessions_initialized_total`.
const SESSION_INIT_KINDS: [&str; 2] = ["initial", "reinitialized"];

fn probe_latency_histogram() -> Histogram {
    Histogram::new(PROBE_LATENCY_BUCKETS)
}

fn call_latency_histogram() -> Histogram {
    Histogram::new(CALL_LATENCY_BUCKETS)
}

/// What the front end has open, read at scrape time (like the backend gauges, so they cannot
/// drift from the session store).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrontendGauges {
    /// Open client sessions ([`Frontend::session_count`](crate::frontend::Frontend::session_count)).
    pub client_sessions: usize,
    /// Open GET streams ([`Frontend::stream_count`](crate::frontend::Frontend::stream_count)).
    pub client_streams: usize,
}

/// The process's metrics: event counters fed as a [`MonitorObserver`] and a [`Reporter`], and the
/// per-backend gauges read from a [`HealthSnapshot`] when encoded.
pub struct Metrics {
    registry: Registry,
    probes: Family<ProbeLabels, Counter>,
    probes_skipped: Family<BackendLabels, Counter>,
    probe_duration: Family<BackendLabels, Histogram, fn() -> Histogram>,
    reports: Counter,
    calls: Family<CallLabels, Counter>,
    call_duration: Family<BackendLabels, Histogram, fn() -> Histogram>,
    backend_sessions: Family<SessionInitLabels, Counter>,
    list_changed: Family<ListLabels, Counter>,
    list_changed_dropped: Family<ListLabels, Counter>,
    /// The `outcome` labels seen per backend, so a removed backend's series can be removed.
    outcomes: Mutex<BTreeMap<String, BTreeSet<String>>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("reports", &self.reports.get())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty metrics with their own registry.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("vmcp");
        let probes = Family::<ProbeLabels, Counter>::default();
        registry.register(
            "probes",
            "Finished probes by backend and outcome (success or the error category)",
            probes.clone(),
        );
        let probes_skipped = Family::<BackendLabels, Counter>::default();
        registry.register(
            "probes_skipped",
            "Probes the circuit breaker refused",
            probes_skipped.clone(),
        );
        let probe_duration: Family<BackendLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(probe_latency_histogram);
        registry.register_with_unit(
            "probe_duration",
            "Probe latency, failed probes included",
            Unit::Seconds,
            probe_duration.clone(),
        );
        let reports = Counter::default();
        registry.register(
            "reports_published",
            "Status reports published",
            reports.clone(),
        );
        let calls = Family::<CallLabels, Counter>::default();
        registry.register(
            "calls",
            "Client calls by backend and outcome (a forwarded call's end, or a fast-fail)",
            calls.clone(),
        );
        let call_duration: Family<BackendLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(call_latency_histogram);
        registry.register_with_unit(
            "call_duration",
            "Latency of forwarded client calls, failed ones included",
            Unit::Seconds,
            call_duration.clone(),
        );
        let backend_sessions = Family::<SessionInitLabels, Counter>::default();
        registry.register(
            "backend_sessions_initialized",
            "Backend sessions opened for client sessions (initial, or reinitialized after the backend forgot one)",
            backend_sessions.clone(),
        );
        let list_changed = Family::<ListLabels, Counter>::default();
        registry.register(
            "list_changed_notifications",
            "list_changed notifications queued on client GET streams",
            list_changed.clone(),
        );
        let list_changed_dropped = Family::<ListLabels, Counter>::default();
        registry.register(
            "list_changed_notifications_dropped",
            "list_changed notifications dropped because a GET stream's buffer was full",
            list_changed_dropped.clone(),
        );
        Self {
            registry,
            probes,
            probes_skipped,
            probe_duration,
            reports,
            calls,
            call_duration,
            backend_sessions,
            list_changed,
            list_changed_dropped,
            outcomes: Mutex::new(BTreeMap::new()),
        }
    }

    /// The whole exposition: the counters and histograms, the gauges of every backend in
    /// `snapshot`, `report_lines_dropped` when the process has an output queue, and the front
    /// end's gauges when it runs one.
    pub fn encode(
        &self,
        snapshot: &HealthSnapshot,
        report_lines_dropped: Option<u64>,
        frontend: Option<FrontendGauges>,
    ) -> String {
        let mut state = Registry::with_prefix("vmcp");
        let status = Family::<BackendLabels, Gauge>::default();
        let circuit = Family::<BackendLabels, Gauge>::default();
        let failures = Family::<BackendLabels, Gauge>::default();
        for (name, health) in snapshot {
            let labels = BackendLabels {
                backend: name.clone(),
            };
            status
                .get_or_create(&labels)
                .set(status_value(health.health.status));
            let circuit_state = if health.circuit.enabled {
                health.circuit.state
            } else {
                CircuitState::Closed
            };
            circuit
                .get_or_create(&labels)
                .set(circuit_value(circuit_state));
            failures
                .get_or_create(&labels)
                .set(i64::from(health.health.consecutive_failures));
        }
        state.register(
            "backend_status",
            "Backend health: 0 unknown, 1 healthy, 2 degraded, 3 unhealthy, 4 unauthenticated",
            status,
        );
        state.register(
            "backend_circuit_state",
            "Circuit breaker: 0 closed (or disabled), 1 half-open, 2 open",
            circuit,
        );
        state.register(
            "backend_consecutive_failures",
            "Probe failures in a row",
            failures,
        );
        if let Some(dropped) = report_lines_dropped {
            state.register(
                "report_lines_dropped",
                "Report lines dropped because the output did not keep up",
                ConstCounter::new(dropped),
            );
        }
        if let Some(gauges) = frontend {
            let gauge = |value: usize| {
                let gauge = Gauge::<i64>::default();
                gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
                gauge
            };
            state.register(
                "client_sessions_open",
                "Open client sessions of the MCP front end",
                gauge(gauges.client_sessions),
            );
            state.register(
                "client_streams_open",
                "Open GET (SSE) streams of client sessions",
                gauge(gauges.client_streams),
            );
        }
        let mut out = String::new();
        // Writing into a String cannot fail; the encoder's only error is the writer's.
        let encoded = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &state))
            .and_then(|()| encode_eof(&mut out));
        debug_assert!(encoded.is_ok(), "encoding into a String failed");
        out
    }

    fn forget_backend(&self, backend: &str) {
        let labels = BackendLabels {
            backend: backend.to_owned(),
        };
        self.probes_skipped.remove(&labels);
        self.probe_duration.remove(&labels);
        self.call_duration.remove(&labels);
        for outcome in CallResult::ALL
            .map(CallResult::as_str)
            .into_iter()
            .chain(CallRefusal::ALL.map(CallRefusal::as_str))
        {
            self.calls.remove(&CallLabels {
                backend: backend.to_owned(),
                outcome,
            });
        }
        for kind in SESSION_INIT_KINDS {
            self.backend_sessions.remove(&SessionInitLabels {
                backend: backend.to_owned(),
                kind,
            });
        }
        let outcomes = lock(&self.outcomes).remove(backend).unwrap_or_default();
        for outcome in outcomes {
            self.probes.remove(&ProbeLabels {
                backend: backend.to_owned(),
                outcome,
            });
        }
    }
}

impl MonitorObserver for Metrics {
    fn on_event(&self, event: &MonitorEvent) {
        match event {
            MonitorEvent::ProbeFinished {
                backend, outcome, ..
            } => {
                let label = match &outcome.result {
                    Ok(()) => "success",
                    Err(failure) => failure.category.as_str(),
                };
                lock(&self.outcomes)
                    .entry(backend.clone())
                    .or_default()
                    .insert(label.to_owned());
                self.probes
                    .get_or_create(&ProbeLabels {
                        backend: backend.clone(),
                        outcome: label.to_owned(),
                    })
                    .inc();
                self.probe_duration
                    .get_or_create(&BackendLabels {
                        backend: backend.clone(),
                    })
                    .observe(outcome.latency.as_secs_f64());
            }
            MonitorEvent::ProbeSkipped { backend, .. } => {
                self.probes_skipped
                    .get_or_create(&BackendLabels {
                        backend: backend.clone(),
                    })
                    .inc();
            }
            MonitorEvent::BackendRemoved { backend } => self.forget_backend(backend),
            MonitorEvent::ProbeStarted { .. }
            | MonitorEvent::StatusChanged { .. }
            | MonitorEvent::CircuitChanged { .. }
            | MonitorEvent::BackendAdded { .. }
            | MonitorEvent::EndpointChanged { .. } => {}
        }
    }
}

impl FrontendObserver for Metrics {
    fn on_frontend_event(&self, event: &FrontendEvent) {
        match event {
            FrontendEvent::CallEnded {
                backend,
                elapsed,
                result,
            } => {
                self.count_call(backend, result.as_str());
                self.call_duration
                    .get_or_create(&BackendLabels {
                        backend: backend.clone(),
                    })
                    .observe(elapsed.as_secs_f64());
            }
            FrontendEvent::CallRefused { backend, refusal } => {
                self.count_call(backend, refusal.as_str());
            }
            FrontendEvent::BackendSessionInitialized {
                backend,
                reinitialized,
            } => {
                self.backend_sessions
                    .get_or_create(&SessionInitLabels {
                        backend: backend.clone(),
                        kind: SESSION_INIT_KINDS[usize::from(*reinitialized)],
                    })
                    .inc();
            }
            FrontendEvent::ListChanged {
                kind,
                delivered,
                dropped,
            } => {
                let labels = ListLabels { list: kind.field() };
                self.list_changed
                    .get_or_create(&labels)
                    .inc_by(*delivered as u64);
                self.list_changed_dropped
                    .get_or_create(&labels)
                    .inc_by(*dropped as u64);
            }
            FrontendEvent::CallForwarded { .. } => {}
        }
    }
}

impl Metrics {
    fn count_call(&self, backend: &str, outcome: &'static str) {
        self.calls
            .get_or_create(&CallLabels {
                backend: backend.to_owned(),
                outcome,
            })
            .inc();
    }
}

impl Reporter for Metrics {
    fn report(&self, _report: &StatusReport) -> Result<(), ReportError> {
        self.reports.inc();
        Ok(())
    }

    fn name(&self) -> &str {
        "metrics"
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::CircuitBreakerConfig;
    use crate::health::BackendHealth;
    use crate::health::CircuitBreaker;
    use crate::health::HealthState;
    use crate::health::{ErrorCategory, FailureStatus, ProbeFailure, ProbeOutcome};
    use crate::registry::Backend;

    fn finished(backend: &str, outcome: ProbeOutcome) -> MonitorEvent {
        MonitorEvent::ProbeFinished {
            backend: backend.to_owned(),
            generation: 1,
            outcome,
        }
    }

    fn refused(ms: u64) -> ProbeOutcome {
        ProbeOutcome::failure(
            Duration::from_millis(ms),
            ProbeFailure {
                status: FailureStatus::Unhealthy,
                category: ErrorCategory::ConnectionFailed,
                message: "refused".to_owned(),
            },
        )
    }

    fn health(name: &str, status: HealthStatus, circuit: CircuitState) -> BackendHealth {
        let mut state = HealthState::pending();
        state.status = status;
        state.consecutive_failures = 2;
        let config = CircuitBreakerConfig {
            enabled: true,
            ..CircuitBreakerConfig::default()
        };
        let mut breaker = CircuitBreaker::new(&config, 0).snapshot();
        breaker.state = circuit;
        BackendHealth {
            backend: Backend::new(name, "http://h/mcp"),
            health: state,
            circuit: breaker,
            circuit_last_changed: None,
            probes_started: 0,
            probes_skipped: 0,
            generation: 1,
        }
    }

    fn lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn events_are_counted_and_gauges_come_from_the_snapshot() {
        let metrics = Metrics::new();
        metrics.on_event(&finished(
            "a",
            ProbeOutcome::success(Duration::from_millis(20)),
        ));
        metrics.on_event(&finished("a", refused(3)));
        metrics.on_event(&finished("a", refused(7)));
        metrics.on_event(&MonitorEvent::ProbeSkipped {
            backend: "a".to_owned(),
            generation: 1,
            circuit: CircuitState::Open,
            until: None,
        });
        let report = crate::status::build_report(
            &[],
            &HealthSnapshot::new(),
            crate::clock::Timestamp::from_unix_millis(0),
        );
        metrics.report(&report).unwrap();
        let snapshot: HealthSnapshot = [(
            "a".to_owned(),
            health("a", HealthStatus::Unhealthy, CircuitState::Open),
        )]
        .into_iter()
        .collect();
        let text = metrics.encode(&snapshot, Some(5), None);
        let got = lines(&text);
        for want in [
            "vmcp_probes_total{backend=\"a\",outcome=\"success\"} 1",
            "vmcp_probes_total{backend=\"a\",outcome=\"connection_failed\"} 2",
            "vmcp_probes_skipped_total{backend=\"a\"} 1",
            "vmcp_probe_duration_seconds_count{backend=\"a\"} 3",
            "vmcp_probe_duration_seconds_bucket{le=\"0.005\",backend=\"a\"} 1",
            "vmcp_probe_duration_seconds_bucket{le=\"0.01\",backend=\"a\"} 2",
            "vmcp_probe_duration_seconds_bucket{le=\"0.025\",backend=\"a\"} 3",
            "vmcp_reports_published_total 1",
            "vmcp_backend_status{backend=\"a\"} 3",
            "vmcp_backend_circuit_state{backend=\"a\"} 2",
            "vmcp_backend_consecutive_failures{backend=\"a\"} 2",
            "vmcp_report_lines_dropped_total 5",
        ] {
            assert!(got.contains(&want), "missing {want:?} in:\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(
            text.contains("# TYPE vmcp_backend_status gauge\n"),
            "{text}"
        );
        assert!(
            text.contains("# UNIT vmcp_probe_duration_seconds seconds\n"),
            "{text}"
        );

        // Without an output queue there is no dropped-lines series; a removed backend's
        // counters go, and with an empty snapshot so do its gauges.
        metrics.on_event(&MonitorEvent::BackendRemoved {
            backend: "a".to_owned(),
        });
        let text = metrics.encode(&HealthSnapshot::new(), None, None);
        assert!(!text.contains("backend=\"a\""), "{text}");
        assert!(!text.contains("vmcp_report_lines_dropped"), "{text}");
        assert!(
            lines(&text).contains(&"vmcp_reports_published_total 1"),
            "{text}"
        );
    }

    #[test]
    fn front_end_events_are_counted_and_a_removed_backend_loses_its_series() {
        use crate::frontend::Kind;
        use crate::health::GateRefusal;
        let metrics = Metrics::new();
        let ended = |ms, result| FrontendEvent::CallEnded {
            backend: "a".to_owned(),
            elapsed: Duration::from_millis(ms),
            result,
        };
        metrics.on_frontend_event(&FrontendEvent::CallForwarded {
            backend: "a".to_owned(),
        });
        metrics.on_frontend_event(&ended(3, CallResult::Ok));
        metrics.on_frontend_event(&ended(40, CallResult::Ok));
        metrics.on_frontend_event(&ended(2_000, CallResult::Timeout));
        metrics.on_frontend_event(&FrontendEvent::CallRefused {
            backend: "a".to_owned(),
            refusal: CallRefusal::Gate(GateRefusal::CircuitOpen),
        });
        metrics.on_frontend_event(&FrontendEvent::CallRefused {
            backend: "b".to_owned(),
            refusal: CallRefusal::Bulkhead,
        });
        for reinitialized in [false, true, true] {
            metrics.on_frontend_event(&FrontendEvent::BackendSessionInitialized {
                backend: "a".to_owned(),
                reinitialized,
            });
        }
        metrics.on_frontend_event(&FrontendEvent::ListChanged {
            kind: Kind::Prompts,
            delivered: 3,
            dropped: 1,
        });
        let gauges = FrontendGauges {
            client_sessions: 4,
            client_streams: 2,
        };
        let text = metrics.encode(&HealthSnapshot::new(), None, Some(gauges));
        let got = lines(&text);
        for want in [
            "vmcp_calls_total{backend=\"a\",outcome=\"ok\"} 2",
            "vmcp_calls_total{backend=\"a\",outcome=\"timeout\"} 1",
            "vmcp_calls_total{backend=\"a\",outcome=\"fast_fail_circuit_open\"} 1",
            "vmcp_calls_total{backend=\"b\",outcome=\"fast_fail_bulkhead\"} 1",
            "vmcp_call_duration_seconds_count{backend=\"a\"} 3",
            "vmcp_call_duration_seconds_sum{backend=\"a\"} 2.043",
            "vmcp_call_duration_seconds_bucket{le=\"0.005\",backend=\"a\"} 1",
            "vmcp_call_duration_seconds_bucket{le=\"0.05\",backend=\"a\"} 2",
            "vmcp_call_duration_seconds_bucket{le=\"2.5\",backend=\"a\"} 3",
            "vmcp_backend_sessions_initialized_total{backend=\"a\",kind=\"initial\"} 1",
            "vmcp_backend_sessions_initialized_total{backend=\"a\",kind=\"reinitialized\"} 2",
            "vmcp_list_changed_notifications_total{list=\"prompts\"} 3",
            "vmcp_list_changed_notifications_dropped_total{list=\"prompts\"} 1",
            "vmcp_client_sessions_open 4",
            "vmcp_client_streams_open 2",
        ] {
            assert!(got.contains(&want), "missing {want:?} in:\n{text}");
        }
        assert!(
            text.contains("# UNIT vmcp_call_duration_seconds seconds\n"),
            "{text}"
        );
        // Without a front end there are no session gauges; a removed backend's series go.
        metrics.on_event(&MonitorEvent::BackendRemoved {
            backend: "a".to_owned(),
        });
        let text = metrics.encode(&HealthSnapshot::new(), None, None);
        assert!(!text.contains("backend=\"a\""), "{text}");
        assert!(text.contains("backend=\"b\""), "{text}");
        assert!(!text.contains("vmcp_client_sessions_open"), "{text}");
    }

    #[test]
    fn the_documented_gauge_values() {
        let values: Vec<i64> = [
            HealthStatus::Unknown,
            HealthStatus::Healthy,
            HealthStatus::Degraded,
            HealthStatus::Unhealthy,
            HealthStatus::Unauthenticated,
        ]
        .map(status_value)
        .to_vec();
        assert_eq!(values, [0, 1, 2, 3, 4]);
        let circuit: Vec<i64> = [
            CircuitState::Closed,
            CircuitState::HalfOpen,
            CircuitState::Open,
        ]
        .map(circuit_value)
        .to_vec();
        assert_eq!(circuit, [0, 1, 2]);
        // A disabled breaker reads closed, whatever its stored state.
        let metrics = Metrics::new();
        let mut h = health("b", HealthStatus::Healthy, CircuitState::Open);
        h.circuit.enabled = false;
        let text = metrics.encode(&[("b".to_owned(), h)].into_iter().collect(), None, None);
        assert!(
            lines(&text).contains(&"vmcp_backend_circuit_state{backend=\"b\"} 0"),
            "{text}"
        );
    }
}
