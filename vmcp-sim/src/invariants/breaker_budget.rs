//! No probe starts while a circuit is open beyond the half-open budget (DESIGN §3.3).
//!
//! Per backend, from the breaker transitions in the trace: while `open`, no probe starts at
//! all; in one `half-open` period at most `half_open_max_probes` probes start (the circuit
//! closes after that many successes and re-opens on the first failure, and probes of one
//! backend never overlap, so the budget is also the number of trial probes per period). A
//! disabled breaker never changes state and never skips a probe.

use std::collections::BTreeMap;

use vmcp_core::health::CircuitState;

use super::{Limits, Violation, at};
use crate::trace::{TraceEntry, TraceEvent};

const NAME: &str = "breaker_budget";

#[derive(Default)]
struct Backend {
    circuit: CircuitState,
    /// Probes started in the current half-open period.
    trials: u32,
}

/// Check the trace.
pub fn check(entries: &[TraceEntry], limits: &Limits) -> Vec<Violation> {
    let breaker = &limits.config.circuit_breaker;
    let budget = breaker.half_open_max_probes;
    let mut backends: BTreeMap<&str, Backend> = BTreeMap::new();
    let mut out = Vec::new();
    for entry in entries {
        match &entry.event {
            TraceEvent::VmcpStarted => backends.clear(),
            TraceEvent::BackendAdded { backend } => {
                backends.insert(backend, Backend::default());
            }
            TraceEvent::BackendRemoved { backend } => {
                backends.remove(backend.as_str());
            }
            TraceEvent::Circuit { backend, from, to } => {
                if !breaker.enabled {
                    out.push(Violation::new(
                        NAME,
                        Some(backend),
                        entry.at_ms,
                        format!(
                            "the circuit breaker is disabled, yet {backend}'s circuit went \
                             {from} -> {to} at {}",
                            at(entry)
                        ),
                    ));
                }
                let state = backends.entry(backend).or_default();
                state.circuit = *to;
                state.trials = 0;
            }
            TraceEvent::ProbeSkipped { backend, circuit } if !breaker.enabled => {
                out.push(Violation::new(
                    NAME,
                    Some(backend),
                    entry.at_ms,
                    format!(
                        "the circuit breaker is disabled, yet a probe of {backend} was skipped \
                         (circuit {circuit}) at {}",
                        at(entry)
                    ),
                ));
            }
            TraceEvent::ProbeStarted { backend, .. } => {
                let state = backends.entry(backend).or_default();
                match state.circuit {
                    CircuitState::Closed => {}
                    CircuitState::Open => out.push(Violation::new(
                        NAME,
                        Some(backend),
                        entry.at_ms,
                        format!(
                            "a probe of {backend} started at {} while its circuit was open \
                             (an open circuit sends no traffic)",
                            at(entry)
                        ),
                    )),
                    CircuitState::HalfOpen => {
                        state.trials += 1;
                        if state.trials > budget {
                            out.push(Violation::new(
                                NAME,
                                Some(backend),
                                entry.at_ms,
                                format!(
                                    "probe {} of {backend} in one half-open period started at \
                                     {}: the half-open budget (half_open_max_probes) is {budget}",
                                    state.trials,
                                    at(entry)
                                ),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out
}
