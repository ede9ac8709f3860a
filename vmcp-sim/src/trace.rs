//! The run trace (DESIGN §4.3): every probe, skip, status and circuit transition, report, fault and
//! connection, stamped with simulated time, plus a stable hash of the whole.
//!
//! Inside the `vmcp` host the [`TraceRecorder`] is both the monitor's observer and a status
//! reporter, so the core reports into the trace through its ordinary seams. Faults are recorded by
//! the runner between simulation steps, and connections come from the world's connection log; the
//! three are merged by time when the run ends.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use vmcp_core::frontend::{FrontendEvent, FrontendObserver};
use vmcp_core::health::{
    CircuitState, CrdStatus, ErrorCategory, FailureStatus, HealthReason, HealthStatus,
};
use vmcp_core::health::{MonitorEvent, MonitorObserver};
use vmcp_core::status::{Phase, ReportError, Reporter, StatusReport};

use crate::clock::{millis, sim_now};
use crate::service::{ConnectOutcome, ConnectionRecord};

/// One entry: what happened, and when (simulated time since the start of the run).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TraceEntry {
    /// Simulated time since the start, in milliseconds.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: TraceEvent,
}

/// A compact line of a report in the trace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReportLine {
    /// Backend name.
    pub backend: String,
    /// CRD status.
    pub status: CrdStatus,
    /// Fine status.
    pub health: HealthStatus,
    /// Reason.
    pub reason: HealthReason,
    /// Breaker state.
    pub circuit: CircuitState,
}

/// One registry entry in the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RegistryLine {
    /// Backend name.
    pub name: String,
    /// Its configured URL.
    pub url: String,
}

/// Everything the trace records.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum TraceEvent {
    /// The `vmcp` host (re)started its runtime.
    VmcpStarted,
    /// A probe call started.
    ProbeStarted {
        /// Backend name.
        backend: String,
        /// Endpoint generation.
        generation: u64,
    },
    /// A probe call finished.
    ProbeFinished {
        /// Backend name.
        backend: String,
        /// Success?
        ok: bool,
        /// Probe latency in milliseconds.
        latency_ms: u64,
        /// Failure category, if it failed.
        #[serde(skip_serializing_if = "Option::is_none")]
        category: Option<ErrorCategory>,
        /// Failure message, if it failed (redacted by the core).
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        /// The status the failure points to (`unhealthy` / `unauthenticated`), if it failed:
        /// what the tracker rules need, typed (the invariants re-derive statuses from it).
        #[serde(skip_serializing_if = "Option::is_none")]
        failure: Option<FailureStatus>,
        /// The exact probe latency (`latency_ms` is rounded down, too coarse to compare with
        /// `degraded_threshold`). Not serialized: `latency_ms` already puts it in the hash.
        #[serde(skip)]
        latency: Duration,
    },
    /// The breaker refused a probe: no traffic.
    ProbeSkipped {
        /// Backend name.
        backend: String,
        /// Breaker state that refused.
        circuit: CircuitState,
    },
    /// The published (status, reason) changed.
    Status {
        /// Backend name.
        backend: String,
        /// Previous status.
        from: HealthStatus,
        /// Previous reason.
        from_reason: HealthReason,
        /// New status.
        to: HealthStatus,
        /// New reason.
        to_reason: HealthReason,
    },
    /// The breaker changed state.
    Circuit {
        /// Backend name.
        backend: String,
        /// Previous state.
        from: CircuitState,
        /// New state.
        to: CircuitState,
    },
    /// The monitor started watching a backend.
    BackendAdded {
        /// Backend name.
        backend: String,
    },
    /// The monitor stopped watching a backend.
    BackendRemoved {
        /// Backend name.
        backend: String,
    },
    /// A backend's endpoint changed.
    EndpointChanged {
        /// Backend name.
        backend: String,
        /// New generation.
        generation: u64,
    },
    /// A status report was published.
    Report {
        /// Phase.
        phase: Phase,
        /// One line per backend, sorted by name.
        backends: Vec<ReportLine>,
    },
    /// The runner applied a scenario event.
    Fault {
        /// The action (`replace_pod`, `crash_vmcp`, ...).
        action: String,
        /// Details (backend, pods involved, behaviour).
        detail: String,
    },
    /// The registry's content after a change (and once at the start): what vMCP is configured
    /// to monitor, recorded by the runner at the instant it changes the registry.
    Registry {
        /// Every registered backend, sorted by name.
        backends: Vec<RegistryLine>,
    },
    /// A simulated client's `initialize` ended (DESIGN §4.6).
    ClientSession {
        /// The client's name.
        client: String,
        /// It got a session.
        ok: bool,
        /// It had had a session before (the server forgot it, or the connection broke).
        reinitialize: bool,
    },
    /// A client's `tools/list` (every page) answered.
    ToolsListed {
        /// The client's name.
        client: String,
        /// The names, in the order listed.
        tools: Vec<String>,
    },
    /// A client received `notifications/tools/list_changed` on its GET stream.
    ListChanged {
        /// The client's name.
        client: String,
    },
    /// A client sent a `tools/call`.
    CallStarted {
        /// The client's name.
        client: String,
        /// The tool name it called.
        tool: String,
        /// The call's number within the client (from 1).
        call: u64,
    },
    /// A client's call ended.
    CallFinished {
        /// The client's name.
        client: String,
        /// The tool name it called.
        tool: String,
        /// The call's number within the client.
        call: u64,
        /// The backend the front end routes the tool to (from the aggregation rules), if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// The pod that ran the tool (from the result), if one did.
        #[serde(skip_serializing_if = "Option::is_none")]
        pod: Option<String>,
        /// How it ended, as the client saw it.
        outcome: CallOutcome,
        /// From sending to the answer (or to giving up), in milliseconds.
        latency_ms: u64,
    },
    /// The front end opened a backend session (the pod saw `initialize` on a session that then
    /// carried a `tools/call`); stamped with the `initialize`.
    BackendSession {
        /// The backend.
        backend: String,
        /// The pod.
        pod: String,
    },
    /// The front end forwarded a call to a backend (it passed the call gate and the bulkhead).
    CallForwarded {
        /// The backend.
        backend: String,
    },
    /// A call the front end forwarded ended.
    CallEnded {
        /// The backend.
        backend: String,
        /// From forwarding to the end, in milliseconds.
        elapsed_ms: u64,
        /// The exact duration (`elapsed_ms` is rounded down). Not serialized.
        #[serde(skip)]
        elapsed: Duration,
    },
    /// A pod received a request (recorded only in runs with clients).
    PodRequest {
        /// The backend the pod belongs to.
        backend: String,
        /// The pod.
        pod: String,
        /// JSON-RPC method (`POST`) or HTTP method.
        method: String,
        /// It carried the credentials the pod requires.
        authorized: bool,
    },
    /// A connection attempt to a backend ended.
    Connection {
        /// Service (backend) name in the URI.
        service: String,
        /// The pod that served it, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        pod: Option<String>,
        /// How it ended.
        outcome: String,
    },
}

impl TraceEvent {
    /// The backend this event concerns, if any.
    pub fn backend(&self) -> Option<&str> {
        match self {
            TraceEvent::ProbeStarted { backend, .. }
            | TraceEvent::ProbeFinished { backend, .. }
            | TraceEvent::ProbeSkipped { backend, .. }
            | TraceEvent::Status { backend, .. }
            | TraceEvent::Circuit { backend, .. }
            | TraceEvent::BackendAdded { backend }
            | TraceEvent::BackendRemoved { backend }
            | TraceEvent::EndpointChanged { backend, .. } => Some(backend),
            TraceEvent::Connection { service, .. } => Some(service),
            TraceEvent::BackendSession { backend, .. }
            | TraceEvent::PodRequest { backend, .. }
            | TraceEvent::CallForwarded { backend }
            | TraceEvent::CallEnded { backend, .. } => Some(backend),
            TraceEvent::CallFinished { backend, .. } => backend.as_deref(),
            TraceEvent::ClientSession { .. }
            | TraceEvent::ToolsListed { .. }
            | TraceEvent::ListChanged { .. }
            | TraceEvent::CallStarted { .. } => None,
            TraceEvent::VmcpStarted
            | TraceEvent::Report { .. }
            | TraceEvent::Fault { .. }
            | TraceEvent::Registry { .. } => None,
        }
    }

    /// One human-readable line (without the time).
    pub fn describe(&self) -> String {
        match self {
            TraceEvent::VmcpStarted => "vmcp runtime started".to_owned(),
            TraceEvent::ProbeStarted { backend, .. } => format!("{backend}: probe"),
            TraceEvent::ProbeFinished {
                backend,
                ok: true,
                latency_ms,
                ..
            } => {
                format!("{backend}: probe ok ({latency_ms} ms)")
            }
            TraceEvent::ProbeFinished {
                backend,
                category,
                message,
                latency_ms,
                ..
            } => format!(
                "{backend}: probe failed ({}, {latency_ms} ms): {}",
                category.map_or("?", |c| c.as_str()),
                message.as_deref().unwrap_or("")
            ),
            TraceEvent::ProbeSkipped { backend, circuit } => {
                format!("{backend}: probe skipped (circuit {circuit})")
            }
            TraceEvent::Status {
                backend,
                from,
                from_reason,
                to,
                to_reason,
            } => {
                format!("{backend}: status {from}/{from_reason} -> {to}/{to_reason}")
            }
            TraceEvent::Circuit { backend, from, to } => {
                format!("{backend}: circuit {from} -> {to}")
            }
            TraceEvent::BackendAdded { backend } => format!("{backend}: monitored"),
            TraceEvent::BackendRemoved { backend } => format!("{backend}: no longer monitored"),
            TraceEvent::EndpointChanged {
                backend,
                generation,
            } => {
                format!("{backend}: endpoint changed (generation {generation})")
            }
            TraceEvent::Report { phase, backends } => {
                let mut line = format!("report {phase}:");
                for b in backends {
                    let _ = write!(line, " {}={}/{}", b.backend, b.health, b.reason);
                    if b.circuit != CircuitState::Closed {
                        let _ = write!(line, "[{}]", b.circuit);
                    }
                }
                line
            }
            TraceEvent::Fault { action, detail } => format!("FAULT {action} {detail}"),
            TraceEvent::Registry { backends } => {
                let mut line = "registry:".to_owned();
                for b in backends {
                    let _ = write!(line, " {}={}", b.name, b.url);
                }
                line
            }
            TraceEvent::ClientSession {
                client,
                ok,
                reinitialize,
            } => format!(
                "client {client}: {}initialize {}",
                if *reinitialize { "re-" } else { "" },
                if *ok { "ok" } else { "failed" }
            ),
            TraceEvent::ToolsListed { client, tools } => {
                format!("client {client}: tools/list [{}]", tools.join(", "))
            }
            TraceEvent::ListChanged { client } => {
                format!("client {client}: notifications/tools/list_changed")
            }
            TraceEvent::CallStarted { client, tool, call } => {
                format!("client {client}: call #{call} {tool}")
            }
            TraceEvent::CallFinished {
                client,
                tool,
                call,
                backend,
                pod,
                outcome,
                latency_ms,
            } => format!(
                "client {client}: call #{call} {tool} {outcome} ({latency_ms} ms){}",
                match (backend, pod) {
                    (_, Some(pod)) => format!(" by {pod}"),
                    (Some(backend), None) => format!(" [{backend}]"),
                    (None, None) => String::new(),
                }
            ),
            TraceEvent::CallForwarded { backend } => format!("{backend}: call forwarded"),
            TraceEvent::CallEnded {
                backend,
                elapsed_ms,
                ..
            } => format!("{backend}: forwarded call ended ({elapsed_ms} ms)"),
            TraceEvent::BackendSession { backend, pod } => {
                format!("{backend}: front end opened a backend session on {pod}")
            }
            TraceEvent::PodRequest {
                pod,
                method,
                authorized,
                ..
            } => format!(
                "{pod}: {method}{}",
                if *authorized { "" } else { " (unauthorized)" }
            ),
            TraceEvent::Connection {
                service,
                pod,
                outcome,
            } => format!(
                "{service}: connection {outcome}{}",
                pod.as_ref().map(|p| format!(" -> {p}")).unwrap_or_default()
            ),
        }
    }
}

/// How a client call ended, as the client saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    /// A tool result without `isError`.
    Ok,
    /// A tool result with `isError: true` (a fast-fail, a timeout inside vMCP, a tool failure).
    ToolError,
    /// A JSON-RPC error, or an HTTP error status from vMCP.
    RpcError,
    /// The client's own `call_timeout` expired.
    Timeout,
    /// The connection to vMCP failed or broke.
    TransportError,
}

impl CallOutcome {
    /// Every outcome, in order.
    pub const ALL: [CallOutcome; 5] = [
        CallOutcome::Ok,
        CallOutcome::ToolError,
        CallOutcome::RpcError,
        CallOutcome::Timeout,
        CallOutcome::TransportError,
    ];

    /// As written in scenario files and the trace.
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::ToolError => "tool_error",
            CallOutcome::RpcError => "rpc_error",
            CallOutcome::Timeout => "timeout",
            CallOutcome::TransportError => "transport_error",
        }
    }
}

impl std::fmt::Display for CallOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A published report with its simulated time, for evaluating expectations.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedReport {
    /// Simulated time since the start of the run.
    pub at: Duration,
    /// The report.
    pub report: StatusReport,
}

#[derive(Default)]
struct RecorderState {
    entries: Vec<TraceEntry>,
    reports: Vec<TimedReport>,
}

/// Records monitor events and reports from inside the `vmcp` host, stamped with simulated time.
/// Cheap to clone; clones share one record (it survives `vmcp` restarts).
#[derive(Clone, Default)]
pub struct TraceRecorder {
    state: Arc<Mutex<RecorderState>>,
}

impl std::fmt::Debug for TraceRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceRecorder")
            .field("entries", &self.lock().entries.len())
            .finish()
    }
}

impl TraceRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, RecorderState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Record `event` at simulated time `at`.
    pub fn record_at(&self, at: Duration, event: TraceEvent) {
        self.lock().entries.push(TraceEntry {
            at_ms: millis(at),
            event,
        });
    }

    /// Record `event` now (inside a host).
    pub fn record(&self, event: TraceEvent) {
        self.record_at(sim_now(), event);
    }

    /// Runs `teardown` (a crash or restart of a host) and puts what it recorded in a fixed order
    /// (time, then content): a crashed host's tasks are dropped in tokio's order, which the seed
    /// does not decide, and a dropped call still reports its end ([`crate::teardown`]).
    pub(crate) fn in_fixed_order<T>(&self, teardown: impl FnOnce() -> T) -> T {
        let start = self.lock().entries.len();
        let result = teardown();
        let mut state = self.lock();
        if let Some(tail) = state.entries.get_mut(start..) {
            tail.sort_by_cached_key(|e| (e.at_ms, format!("{:?}", e.event)));
        }
        result
    }

    /// Every report published so far, in order.
    pub fn reports(&self) -> Vec<TimedReport> {
        self.lock().reports.clone()
    }

    /// The entries recorded so far (unmerged).
    pub fn entries(&self) -> Vec<TraceEntry> {
        self.lock().entries.clone()
    }
}

impl MonitorObserver for TraceRecorder {
    fn on_event(&self, event: &MonitorEvent) {
        let event = match event {
            MonitorEvent::ProbeStarted {
                backend,
                generation,
            } => TraceEvent::ProbeStarted {
                backend: backend.clone(),
                generation: *generation,
            },
            MonitorEvent::ProbeFinished {
                backend, outcome, ..
            } => {
                let failure = outcome.result.as_ref().err();
                TraceEvent::ProbeFinished {
                    backend: backend.clone(),
                    ok: outcome.is_success(),
                    latency_ms: millis(outcome.latency),
                    category: failure.map(|f| f.category),
                    message: failure.map(|f| f.message.clone()),
                    failure: failure.map(|f| f.status),
                    latency: outcome.latency,
                }
            }
            MonitorEvent::ProbeSkipped {
                backend, circuit, ..
            } => TraceEvent::ProbeSkipped {
                backend: backend.clone(),
                circuit: *circuit,
            },
            MonitorEvent::StatusChanged { backend, change } => TraceEvent::Status {
                backend: backend.clone(),
                from: change.from,
                from_reason: change.from_reason,
                to: change.to,
                to_reason: change.to_reason,
            },
            MonitorEvent::CircuitChanged {
                backend,
                transition,
            } => TraceEvent::Circuit {
                backend: backend.clone(),
                from: transition.from,
                to: transition.to,
            },
            MonitorEvent::BackendAdded { backend } => TraceEvent::BackendAdded {
                backend: backend.clone(),
            },
            MonitorEvent::BackendRemoved { backend } => TraceEvent::BackendRemoved {
                backend: backend.clone(),
            },
            MonitorEvent::EndpointChanged {
                backend,
                generation,
            } => TraceEvent::EndpointChanged {
                backend: backend.clone(),
                generation: *generation,
            },
        };
        self.record(event);
    }
}

impl FrontendObserver for TraceRecorder {
    fn on_frontend_event(&self, event: &FrontendEvent) {
        let event = match event {
            FrontendEvent::CallForwarded { backend } => TraceEvent::CallForwarded {
                backend: backend.clone(),
            },
            FrontendEvent::CallEnded {
                backend, elapsed, ..
            } => TraceEvent::CallEnded {
                backend: backend.clone(),
                elapsed_ms: millis(*elapsed),
                elapsed: *elapsed,
            },
            // Counted by the metrics; the trace records forwarded calls only.
            FrontendEvent::CallRefused { .. }
            | FrontendEvent::BackendSessionInitialized { .. }
            | FrontendEvent::ListChanged { .. } => return,
        };
        self.record(event);
    }
}

impl Reporter for TraceRecorder {
    fn report(&self, report: &StatusReport) -> Result<(), ReportError> {
        let at = sim_now();
        let backends = report
            .discovered_backends
            .iter()
            .map(|b| ReportLine {
                backend: b.name.clone(),
                status: b.status,
                health: b.health,
                reason: b.reason,
                circuit: b.circuit_breaker_state,
            })
            .collect();
        let mut state = self.lock();
        state.entries.push(TraceEntry {
            at_ms: millis(at),
            event: TraceEvent::Report {
                phase: report.phase,
                backends,
            },
        });
        state.reports.push(TimedReport {
            at,
            report: report.clone(),
        });
        Ok(())
    }

    fn name(&self) -> &str {
        "trace"
    }
}

/// The merged, time-ordered trace of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Trace {
    /// Entries ordered by time; same-time entries keep their recording order.
    pub entries: Vec<TraceEntry>,
}

impl Trace {
    /// Merge the host's entries with the connection log (the sort is stable, so entries with
    /// equal times keep the host-then-connections order).
    pub fn merge(mut entries: Vec<TraceEntry>, connections: &[ConnectionRecord]) -> Self {
        entries.extend(connections.iter().map(|c| TraceEntry {
            at_ms: millis(c.at),
            event: TraceEvent::Connection {
                service: c.service.clone(),
                pod: c.pod.clone(),
                outcome: match &c.outcome {
                    ConnectOutcome::Opened => "opened".to_owned(),
                    ConnectOutcome::NoEndpoints => "no_endpoints".to_owned(),
                    ConnectOutcome::Failed(kind) => format!("failed:{kind}"),
                    ConnectOutcome::Abandoned => "abandoned".to_owned(),
                },
            },
        }));
        entries.sort_by_key(|e| e.at_ms);
        Self { entries }
    }

    /// Add the pods' request log: every request as a [`TraceEvent::PodRequest`], and every
    /// first `tools/call` of a pod session as a [`TraceEvent::BackendSession`] at the session's
    /// `initialize` (the sort is stable: same-time entries keep their order, the new ones
    /// after).
    pub fn with_pod_requests(mut self, records: &[crate::pod::PodRequestRecord]) -> Self {
        for r in records {
            let backend = backend_of_pod(&r.pod).to_owned();
            if let Some(initialized) = r.first_call_of_session {
                self.entries.push(TraceEntry {
                    at_ms: millis(initialized),
                    event: TraceEvent::BackendSession {
                        backend: backend.clone(),
                        pod: r.pod.clone(),
                    },
                });
            }
            self.entries.push(TraceEntry {
                at_ms: millis(r.at),
                event: TraceEvent::PodRequest {
                    backend,
                    pod: r.pod.clone(),
                    method: r.method.clone(),
                    authorized: r.authorized,
                },
            });
        }
        self.entries.sort_by_key(|e| e.at_ms);
        self
    }

    /// A stable 64-bit FNV-1a hash of the whole trace (its JSON lines), as 16 hex digits.
    /// Same seed and scenario → same hash, on any machine.
    pub fn hash(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        // One buffer for every line: a run with clients has thousands of entries.
        let mut line = Vec::new();
        for entry in &self.entries {
            line.clear();
            if serde_json::to_writer(&mut line, entry).is_err() {
                line.clear();
            }
            // The line, then its newline (a plain loop over the buffer: a chained iterator
            // tested which half it was in on every byte of a multi-megabyte trace).
            line.push(b'\n');
            hash = fnv1a(hash, &line);
        }
        format!("{hash:016x}")
    }

    /// The readable timeline: one `  12.345s  what happened` line per entry.
    pub fn render(&self, entries: &[TraceEntry]) -> String {
        let mut out = String::new();
        for e in entries {
            let _ = writeln!(out, "{:>10}  {}", format_ms(e.at_ms), e.event.describe());
        }
        out
    }

    /// Entries within `[from_ms, to_ms]`, optionally only those about `backend` (plus reports
    /// and faults, which give context).
    pub fn slice(&self, from_ms: u64, to_ms: u64, backend: Option<&str>) -> Vec<TraceEntry> {
        self.entries
            .iter()
            .filter(|e| e.at_ms >= from_ms && e.at_ms <= to_ms)
            .filter(|e| match (backend, e.event.backend()) {
                (Some(wanted), Some(about)) => wanted == about,
                _ => true,
            })
            .cloned()
            .collect()
    }
}

/// FNV-1a over `bytes`, continuing from `hash`.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The backend of a pod host name `<backend>-pod-<n>` (the name itself if it is not one).
pub fn backend_of_pod(pod: &str) -> &str {
    pod.rsplit_once("-pod-").map_or(pod, |(backend, _)| backend)
}

/// `12345` → `12.345s`.
pub fn format_ms(ms: u64) -> String {
    format!("{}.{:03}s", ms / 1000, ms % 1000)
}
