//! What the picture shows, read out of a trace: per backend its status and circuit spans, probes,
//! connections and endpoint changes; faults; reports. No geometry here (that is
//! [`super::layout`]), so the reading of the trace can be checked on its own.

use std::collections::BTreeMap;

use vmcp_core::health::{CircuitState, ErrorCategory, HealthReason, HealthStatus};

use crate::trace::{Trace, TraceEvent};

/// A value that held over `[from_ms, to_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span<T> {
    pub(crate) from_ms: u64,
    pub(crate) to_ms: u64,
    pub(crate) value: T,
}

/// The monitor's published state of a backend: fine status and reason.
pub(crate) type Status = (HealthStatus, HealthReason);

/// How a probe ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProbeResult {
    /// The probe succeeded.
    Ok,
    /// The probe failed, with its category and (redacted) message.
    Failed(Option<ErrorCategory>, String),
    /// The breaker refused the probe; no traffic.
    Skipped(CircuitState),
}

impl ProbeResult {
    /// Worst first when several probes share one pixel: failed, skipped, ok.
    pub(crate) fn severity(&self) -> u8 {
        match self {
            ProbeResult::Ok => 0,
            ProbeResult::Skipped(_) => 1,
            ProbeResult::Failed(..) => 2,
        }
    }
}

/// One probe: when it started and finished (equal for a skip) and how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) start_ms: u64,
    pub(crate) end_ms: u64,
    pub(crate) result: ProbeResult,
}

/// One connection attempt to a backend's service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Connection {
    pub(crate) at_ms: u64,
    /// The pod that served it, if it opened.
    pub(crate) pod: Option<String>,
    /// `opened`, `no_endpoints`, `failed:<kind>`, `abandoned`.
    pub(crate) outcome: String,
}

/// Everything drawn in one backend's lane.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct BackendStory {
    pub(crate) status: Vec<Span<Status>>,
    pub(crate) circuit: Vec<Span<CircuitState>>,
    pub(crate) probes: Vec<Probe>,
    pub(crate) connections: Vec<Connection>,
    /// Endpoint changes: time and new generation.
    pub(crate) endpoint_changes: Vec<(u64, u64)>,
    /// Pods in order of first connection (their index picks the mark colour).
    pub(crate) pods: Vec<String>,
}

impl BackendStory {
    /// Nothing worth a full lane in a crowded picture: only `unknown/pending` and `healthy`
    /// spans, a closed circuit, no failed or skipped probe.
    pub(crate) fn is_uneventful(&self) -> bool {
        self.status.iter().all(|s| {
            s.value.0 == HealthStatus::Healthy
                || (s.value.0 == HealthStatus::Unknown && s.value.1 == HealthReason::Pending)
        }) && self.circuit.iter().all(|c| c.value == CircuitState::Closed)
            && self.probes.iter().all(|p| p.result == ProbeResult::Ok)
    }
}

/// A scenario event the runner applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fault {
    pub(crate) at_ms: u64,
    pub(crate) action: String,
    pub(crate) detail: String,
}

/// The whole story of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Story {
    /// One entry per backend seen in the trace, sorted by name.
    pub(crate) backends: BTreeMap<String, BackendStory>,
    pub(crate) faults: Vec<Fault>,
    /// `vmcp` (re)starts: the first is at 0 in every run; later ones follow a crash.
    pub(crate) vmcp_starts: Vec<u64>,
    /// Every finished client call, in time order (the client-calls lane).
    pub(crate) calls: Vec<CallMark>,
}

/// One finished client call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CallMark {
    /// When it finished.
    pub(crate) at_ms: u64,
    /// Which client, which tool, routed where.
    pub(crate) label: String,
    /// How it ended.
    pub(crate) outcome: crate::trace::CallOutcome,
    /// How long it took.
    pub(crate) latency_ms: u64,
}

/// Open spans and the probe in flight, while the trace is read.
#[derive(Default)]
struct Open {
    status: Option<(u64, Status)>,
    circuit: Option<(u64, CircuitState)>,
    probe_started: Option<u64>,
}

fn close<T: Copy>(spans: &mut Vec<Span<T>>, open: &mut Option<(u64, T)>, at_ms: u64) {
    if let Some((from_ms, value)) = open.take()
        && at_ms > from_ms
    {
        spans.push(Span {
            from_ms,
            to_ms: at_ms,
            value,
        });
    }
}

impl Story {
    /// Read `trace` up to `end_ms` (spans still open then end there).
    pub(crate) fn read(trace: &Trace, end_ms: u64) -> Self {
        let mut story = Story::default();
        // Lanes sorted by name, found with a guess first: traces run through the backends in the
        // same order instant after instant, so the lane after the last one used is usually next
        // (a binary search otherwise). An ordered map costs a string comparison per tree level
        // on every event, which dominated the time for 1 000 backends.
        let mut lanes: Vec<(String, BackendStory, Open)> = Vec::new();
        let mut hint = 0_usize;
        for entry in &trace.entries {
            let at = entry.at_ms;
            match &entry.event {
                TraceEvent::VmcpStarted => story.vmcp_starts.push(at),
                TraceEvent::Fault { action, detail } => {
                    story.faults.push(Fault {
                        at_ms: at,
                        action: action.clone(),
                        detail: detail.clone(),
                    });
                    if action == "crash_vmcp" {
                        // The monitor's state dies with the host: the lanes show a gap until the
                        // restarted monitor adds the backends again.
                        for (_, lane, o) in &mut lanes {
                            close(&mut lane.status, &mut o.status, at);
                            close(&mut lane.circuit, &mut o.circuit, at);
                            o.probe_started = None;
                        }
                    }
                }
                TraceEvent::Report { .. } => {}
                TraceEvent::CallFinished {
                    client,
                    tool,
                    backend,
                    pod,
                    outcome,
                    latency_ms,
                    ..
                } => story.calls.push(CallMark {
                    at_ms: at,
                    label: format!(
                        "{client}: {tool}{}",
                        pod.as_deref()
                            .or(backend.as_deref())
                            .map(|p| format!(" ({p})"))
                            .unwrap_or_default()
                    ),
                    outcome: *outcome,
                    latency_ms: *latency_ms,
                }),
                event => {
                    let Some(name) = event.backend() else {
                        continue;
                    };
                    hint = find_or_insert(&mut lanes, name, hint);
                    let (_, lane, o) = &mut lanes[hint];
                    read_backend_event(lane, o, at, event);
                }
            }
        }
        for (name, mut lane, mut o) in lanes {
            close(&mut lane.status, &mut o.status, end_ms);
            close(&mut lane.circuit, &mut o.circuit, end_ms);
            story.backends.insert(name, lane);
        }
        story
    }
}

/// The index of `name`'s lane in `lanes` (sorted by name), inserted if new; `hint` is tried
/// first, then the lane after it.
fn find_or_insert(lanes: &mut Vec<(String, BackendStory, Open)>, name: &str, hint: usize) -> usize {
    for guess in [hint, hint + 1] {
        if lanes.get(guess).is_some_and(|(n, _, _)| n == name) {
            return guess;
        }
    }
    match lanes.binary_search_by(|(n, _, _)| n.as_str().cmp(name)) {
        Ok(i) => i,
        Err(i) => {
            lanes.insert(
                i,
                (name.to_owned(), BackendStory::default(), Open::default()),
            );
            i
        }
    }
}

fn read_backend_event(lane: &mut BackendStory, o: &mut Open, at: u64, event: &TraceEvent) {
    match event {
        TraceEvent::BackendAdded { .. } => {
            if o.status.is_none() {
                o.status = Some((at, (HealthStatus::Unknown, HealthReason::Pending)));
            }
            if o.circuit.is_none() {
                o.circuit = Some((at, CircuitState::Closed));
            }
        }
        TraceEvent::BackendRemoved { .. } => {
            close(&mut lane.status, &mut o.status, at);
            close(&mut lane.circuit, &mut o.circuit, at);
            o.probe_started = None;
        }
        TraceEvent::Status {
            from,
            from_reason,
            to,
            to_reason,
            ..
        } => {
            if o.status.is_none() {
                o.status = Some((at, (*from, *from_reason)));
            }
            close(&mut lane.status, &mut o.status, at);
            o.status = Some((at, (*to, *to_reason)));
        }
        TraceEvent::Circuit { from, to, .. } => {
            if o.circuit.is_none() {
                o.circuit = Some((at, *from));
            }
            close(&mut lane.circuit, &mut o.circuit, at);
            o.circuit = Some((at, *to));
        }
        TraceEvent::ProbeStarted { .. } => o.probe_started = Some(at),
        TraceEvent::ProbeFinished {
            ok,
            latency_ms,
            category,
            message,
            ..
        } => {
            let start_ms = o
                .probe_started
                .take()
                .unwrap_or_else(|| at.saturating_sub(*latency_ms));
            let result = if *ok {
                ProbeResult::Ok
            } else {
                ProbeResult::Failed(*category, message.clone().unwrap_or_default())
            };
            lane.probes.push(Probe {
                start_ms,
                end_ms: at,
                result,
            });
        }
        TraceEvent::ProbeSkipped { circuit, .. } => lane.probes.push(Probe {
            start_ms: at,
            end_ms: at,
            result: ProbeResult::Skipped(*circuit),
        }),
        TraceEvent::EndpointChanged { generation, .. } => {
            lane.endpoint_changes.push((at, *generation));
        }
        TraceEvent::Connection { pod, outcome, .. } => {
            if let Some(pod) = pod
                && !lane.pods.contains(pod)
            {
                lane.pods.push(pod.clone());
            }
            lane.connections.push(Connection {
                at_ms: at,
                pod: pod.clone(),
                outcome: outcome.clone(),
            });
        }
        // Registry contents are not per backend (a backend's own add/remove events draw it).
        TraceEvent::VmcpStarted
        | TraceEvent::Report { .. }
        | TraceEvent::Fault { .. }
        | TraceEvent::Registry { .. } => {}
        // Client traffic has its own lane (`Story::calls`); pod requests are not drawn.
        TraceEvent::ClientSession { .. }
        | TraceEvent::ToolsListed { .. }
        | TraceEvent::ListChanged { .. }
        | TraceEvent::CallStarted { .. }
        | TraceEvent::CallFinished { .. }
        | TraceEvent::BackendSession { .. }
        | TraceEvent::CallForwarded { .. }
        | TraceEvent::CallEnded { .. }
        | TraceEvent::PodRequest { .. } => {}
    }
}
