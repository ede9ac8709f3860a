//! The monitor's state timeline and the endpoint URLs, rebuilt from a run's trace (typed events,
//! never rendered strings), for `on = "state"` expectations and per-URL counters.

use std::collections::BTreeMap;
use std::time::Duration;

use vmcp_core::health::{CircuitState, HealthReason, HealthStatus};

use crate::scenario::expect::BackendState;
use crate::scenario::{EventAction, Scenario};
use crate::trace::{Trace, TraceEvent};

/// The monitor's state after every change, kept per backend: a change of one backend costs
/// O(log N), not a copy of every backend's state (a 500-backend herd has tens of thousands of
/// transitions).
///
/// Samples are per millisecond (all same-millisecond events applied together, so no
/// half-applied transition is seen). `instants` are the milliseconds at which any backend's
/// state changed, starting with 0 (nothing is monitored before vmcp starts): exactly the samples
/// of a timeline of whole-monitor snapshots, which the window rules of `on = "state"` are
/// defined over.
#[derive(Debug, Default)]
pub(super) struct StateTimeline {
    /// Every instant at which some backend's state changed, ascending, 0 first.
    pub(super) instants: Vec<Duration>,
    /// Per backend: its state from each instant on (`None`: not monitored), ascending, a change
    /// in every sample, `(0, None)` first.
    backends: BTreeMap<String, Vec<(Duration, Option<BackendState>)>>,
}

/// One backend's samples when it was never monitored.
const NEVER: &[(Duration, Option<BackendState>)] = &[(Duration::ZERO, None)];

impl StateTimeline {
    /// `backend`'s samples (`(0, None)` alone if it was never monitored).
    pub(super) fn of(&self, backend: &str) -> &[(Duration, Option<BackendState>)] {
        self.backends.get(backend).map_or(NEVER, Vec::as_slice)
    }
}

/// The state timeline of a run's trace.
pub(super) fn state_timeline(trace: &Trace) -> StateTimeline {
    let mut state: BTreeMap<String, BackendState> = BTreeMap::new();
    // The last probe of each backend failed (reports show the error only while failing).
    let mut last_failed: BTreeMap<String, bool> = BTreeMap::new();
    let mut samples: BTreeMap<String, Vec<(Duration, Option<BackendState>)>> = BTreeMap::new();
    let mut record = |backend: &str, at: Duration, value: Option<BackendState>| {
        let list = samples
            .entry(backend.to_owned())
            .or_insert_with(|| vec![(Duration::ZERO, None)]);
        match list.last_mut() {
            Some((last_at, last)) if *last_at == at => *last = value,
            _ => list.push((at, value)),
        }
    };
    for entry in &trace.entries {
        let at = Duration::from_millis(entry.at_ms);
        for backend in apply(&mut state, &mut last_failed, &entry.event) {
            record(&backend, at, state.get(&backend).cloned());
        }
    }
    let mut instants = vec![Duration::ZERO];
    for list in samples.values_mut() {
        list.dedup_by(|later, earlier| later.1 == earlier.1);
        instants.extend(list.iter().map(|(at, _)| *at));
    }
    instants.sort_unstable();
    instants.dedup();
    StateTimeline {
        instants,
        backends: samples,
    }
}

/// Applies one trace event; the backends whose state it may have changed.
fn apply(
    state: &mut BTreeMap<String, BackendState>,
    last_failed: &mut BTreeMap<String, bool>,
    event: &TraceEvent,
) -> Vec<String> {
    let touched: Vec<String> = match event {
        // A (re)started vmcp rebuilds its monitor from scratch.
        TraceEvent::VmcpStarted => {
            last_failed.clear();
            std::mem::take(state).into_keys().collect()
        }
        TraceEvent::BackendAdded { backend } => {
            state.insert(
                backend.clone(),
                BackendState {
                    status: HealthStatus::Unknown,
                    reason: HealthReason::Pending,
                    circuit: CircuitState::Closed,
                    category: None,
                    message: None,
                },
            );
            last_failed.remove(backend);
            vec![backend.clone()]
        }
        TraceEvent::BackendRemoved { backend } => {
            state.remove(backend);
            last_failed.remove(backend);
            vec![backend.clone()]
        }
        TraceEvent::Status {
            backend,
            to,
            to_reason,
            ..
        } => {
            if let Some(s) = state.get_mut(backend) {
                s.status = *to;
                s.reason = *to_reason;
            }
            vec![backend.clone()]
        }
        TraceEvent::Circuit { backend, to, .. } => {
            if let Some(s) = state.get_mut(backend) {
                s.circuit = *to;
            }
            vec![backend.clone()]
        }
        TraceEvent::ProbeFinished {
            backend,
            ok,
            category,
            message,
            ..
        } => {
            last_failed.insert(backend.clone(), !ok);
            if let Some(s) = state.get_mut(backend) {
                if !ok {
                    s.category = *category;
                    s.message = message.clone();
                }
            }
            vec![backend.clone()]
        }
        _ => Vec::new(),
    };
    // As in reports, the last error is shown only while the backend is failing.
    for name in &touched {
        if let Some(s) = state.get_mut(name) {
            let failing = last_failed.get(name).copied().unwrap_or(false)
                || matches!(
                    s.status,
                    HealthStatus::Unhealthy | HealthStatus::Unauthenticated
                )
                || s.reason == HealthReason::CircuitOpen;
            if !failing {
                s.category = None;
                s.message = None;
            }
        }
    }
    touched
}

/// The URL each backend's registry entry has at each instant, from the scenario (declared URL,
/// `registry_add`, `registry_change_url`), sorted by time.
fn registry_urls(scenario: &Scenario) -> BTreeMap<String, Vec<(Duration, String)>> {
    let mut urls: BTreeMap<String, Vec<(Duration, String)>> = scenario
        .backends
        .iter()
        .map(|b| (b.name.clone(), vec![(Duration::ZERO, b.url())]))
        .collect();
    for event in &scenario.events {
        let change = match &event.action {
            EventAction::RegistryChangeUrl { backend, url } => Some((backend, url.url.clone())),
            EventAction::RegistryAdd { backend } => {
                scenario.backend(backend).map(|b| (backend, b.url()))
            }
            _ => None,
        };
        if let Some((backend, url)) = change {
            urls.entry(backend.clone())
                .or_default()
                .push((event.at, url));
        }
    }
    urls
}

/// For every probe and skip entry of the trace (by index), the URL of the endpoint it was for:
/// a probe's endpoint generation keeps the URL the registry had when that generation began (the
/// backend was added or its endpoint changed); a skip is for the backend's current generation.
pub(super) fn endpoint_urls(scenario: &Scenario, trace: &Trace) -> BTreeMap<usize, String> {
    let registry = registry_urls(scenario);
    let url_at = |backend: &str, at_ms: u64| -> Option<String> {
        registry.get(backend).and_then(|changes| {
            changes
                .iter()
                .rev()
                .find(|(at, _)| *at <= Duration::from_millis(at_ms))
                .map(|(_, url)| url.clone())
        })
    };
    // URL of the generation that began most recently, per backend; and per (backend, generation).
    let mut current: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut by_generation: BTreeMap<(String, u64), String> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (index, entry) in trace.entries.iter().enumerate() {
        match &entry.event {
            TraceEvent::BackendAdded { backend } => {
                current.insert(backend.clone(), url_at(backend, entry.at_ms));
            }
            TraceEvent::EndpointChanged {
                backend,
                generation,
            } => {
                let url = url_at(backend, entry.at_ms);
                if let Some(url) = &url {
                    by_generation.insert((backend.clone(), *generation), url.clone());
                }
                current.insert(backend.clone(), url);
            }
            TraceEvent::ProbeStarted {
                backend,
                generation,
            } => {
                let key = (backend.clone(), *generation);
                let url = match by_generation.get(&key) {
                    Some(url) => Some(url.clone()),
                    None => {
                        let url = current.get(backend).cloned().flatten();
                        if let Some(url) = &url {
                            by_generation.insert(key, url.clone());
                        }
                        url
                    }
                };
                if let Some(url) = url {
                    out.insert(index, url);
                }
            }
            TraceEvent::ProbeSkipped { backend, .. } => {
                if let Some(Some(url)) = current.get(backend) {
                    out.insert(index, url.clone());
                }
            }
            _ => {}
        }
    }
    out
}
