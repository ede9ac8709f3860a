//! The front end's invariants (DESIGN §4.5, §3.6), from the trace:
//!
//! * no call is forwarded to a backend that is hidden (status not `healthy`/`degraded`) or whose
//!   circuit is open, at the instant it is forwarded;
//! * in one half-open period, probes started plus calls forwarded stay within
//!   `half_open_max_probes` (the budget is shared);
//! * every forwarded call ends within `call_timeout` plus one tick;
//! * a client's `tools/list` never names a tool of a backend that had been hidden for longer
//!   than `registry_poll_interval` (plus one tick) when the list arrived.
//!
//! The monitor's state is followed from the same trace (status and circuit transitions;
//! `VmcpStarted` starts afresh: every backend unknown, hence hidden).

use std::collections::BTreeMap;
use std::time::Duration;

use vmcp_core::frontend::advertises;
use vmcp_core::health::{CircuitState, HealthStatus};

use super::{Limits, Violation, at, millis};
use crate::trace::{TraceEntry, TraceEvent};

const NAME: &str = "frontend_calls";

#[derive(Clone, Copy)]
struct Backend {
    status: HealthStatus,
    circuit: CircuitState,
    /// Since when (ms) the backend is hidden, while it is.
    hidden_since: Option<u64>,
    /// Probes and calls admitted in the current half-open period.
    admitted: u32,
}

impl Backend {
    fn new(at_ms: u64) -> Self {
        Self {
            status: HealthStatus::Unknown,
            circuit: CircuitState::Closed,
            hidden_since: Some(at_ms),
            admitted: 0,
        }
    }
}

/// Check the trace.
pub fn check(entries: &[TraceEntry], limits: &Limits) -> Vec<Violation> {
    let Some(frontend) = &limits.frontend else {
        return Vec::new();
    };
    let budget = limits.config.circuit_breaker.half_open_max_probes;
    let breaker = limits.config.circuit_breaker.enabled;
    let bound = frontend.server.call_timeout + limits.tick;
    let stale_ms = millis(limits.config.registry_poll_interval) + limits.tick_ms();
    let mut backends: BTreeMap<String, Backend> = BTreeMap::new();
    let mut out = Vec::new();
    for entry in entries {
        let now = entry.at_ms;
        match &entry.event {
            TraceEvent::VmcpStarted => backends.clear(),
            TraceEvent::BackendAdded { backend } => {
                backends.insert(backend.clone(), Backend::new(now));
            }
            TraceEvent::BackendRemoved { backend } => {
                backends.remove(backend);
            }
            TraceEvent::Status { backend, to, .. } => {
                let b = backends
                    .entry(backend.clone())
                    .or_insert_with(|| Backend::new(now));
                b.status = *to;
                b.hidden_since = match (advertises(*to), b.hidden_since) {
                    (true, _) => None,
                    (false, Some(since)) => Some(since),
                    (false, None) => Some(now),
                };
            }
            TraceEvent::Circuit { backend, to, .. } => {
                let b = backends
                    .entry(backend.clone())
                    .or_insert_with(|| Backend::new(now));
                b.circuit = *to;
                b.admitted = 0;
            }
            TraceEvent::ProbeStarted { backend, .. } => {
                if let Some(b) = backends.get_mut(backend)
                    && b.circuit == CircuitState::HalfOpen
                {
                    b.admitted += 1;
                }
            }
            TraceEvent::CallForwarded { backend } => {
                let Some(b) = backends.get_mut(backend) else {
                    out.push(Violation::new(
                        NAME,
                        Some(backend),
                        now,
                        format!(
                            "a call was forwarded to {backend} at {}, which vMCP does not monitor",
                            at(entry)
                        ),
                    ));
                    continue;
                };
                if !advertises(b.status) {
                    out.push(Violation::new(
                        NAME,
                        Some(backend),
                        now,
                        format!(
                            "a call was forwarded to {backend} at {} while it was hidden (status \
                             {}): a call to a hidden backend must fast-fail",
                            at(entry),
                            b.status
                        ),
                    ));
                }
                match b.circuit {
                    CircuitState::Open => out.push(Violation::new(
                        NAME,
                        Some(backend),
                        now,
                        format!(
                            "a call was forwarded to {backend} at {} while its circuit was open",
                            at(entry)
                        ),
                    )),
                    CircuitState::HalfOpen if breaker => {
                        b.admitted += 1;
                        if b.admitted > budget {
                            out.push(Violation::new(
                                NAME,
                                Some(backend),
                                now,
                                format!(
                                    "a call was forwarded to {backend} at {} as request {} of a \
                                     half-open period, beyond half_open_max_probes ({budget})",
                                    at(entry),
                                    b.admitted
                                ),
                            ));
                        }
                    }
                    _ => {}
                }
            }
            TraceEvent::CallEnded {
                backend, elapsed, ..
            } if *elapsed > bound => {
                out.push(Violation::new(
                    NAME,
                    Some(backend),
                    now,
                    format!(
                        "a call forwarded to {backend} ended at {} after {}, beyond \
                             call_timeout ({}) plus one tick",
                        at(entry),
                        fmt(*elapsed),
                        fmt(frontend.server.call_timeout)
                    ),
                ));
            }
            TraceEvent::ToolsListed { client, tools } => {
                for tool in tools {
                    let Some(owner) = limits.tool_routes.get(tool) else {
                        continue;
                    };
                    let since = match backends.get(owner) {
                        Some(b) => b.hidden_since,
                        // Not monitored at all: hidden since the start of the run at the latest.
                        None => Some(0),
                    };
                    if let Some(since) = since
                        && now.saturating_sub(since) > stale_ms
                    {
                        out.push(Violation::new(
                            NAME,
                            Some(owner),
                            now,
                            format!(
                                "client {client} was listed {tool} at {}, but its backend \
                                 {owner} had been hidden since {}, longer than \
                                 registry_poll_interval ({})",
                                at(entry),
                                crate::trace::format_ms(since),
                                fmt(limits.config.registry_poll_interval)
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn fmt(d: Duration) -> String {
    vmcp_core::config::duration::format(d)
}
