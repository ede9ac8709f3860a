//! What the scenario's own events have done to the world by an instant: each backend's current
//! pod (behaviour, crashed, link cut or held, fixed latency), the registry, the vMCP host.
//!
//! The swarm needs it twice: to schedule only perturbations that make sense at their instant
//! (no partition of a link the scenario already cut), and to know, once faults are off, which
//! backends must converge (a backend the scenario leaves answering 401 is not supposed to
//! become healthy) and from when.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::scenario::{Behaviour, EventAction, EventSpec, Scenario};

/// A backend's current pod and its link to vMCP.
#[derive(Clone, Debug, PartialEq)]
pub struct PodState {
    /// Its behaviour.
    pub behaviour: Behaviour,
    /// When that behaviour was set.
    pub behaviour_since: Duration,
    /// When the pod (re)started.
    pub started: Duration,
    /// Crashed and not restarted.
    pub crashed: bool,
    /// The link is partitioned.
    pub partitioned: bool,
    /// The link is held.
    pub held: bool,
    /// A fixed link latency.
    pub latency: Duration,
    /// The last instant anything happened to it.
    pub last_change: Duration,
}

/// The replayed state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replay {
    /// Declared backend → its current pod.
    pub pods: BTreeMap<String, PodState>,
    /// Registered backend → URL.
    pub registry: BTreeMap<String, String>,
    /// Registered backend → the last instant its registry entry changed.
    pub registry_changed: BTreeMap<String, Duration>,
    /// The vMCP host is running.
    pub vmcp_up: bool,
    /// The last vMCP restart.
    pub vmcp_restarted: Duration,
}

impl Replay {
    /// The state after every event at or before `until` (and timed behaviours that ended).
    pub fn until(scenario: &Scenario, until: Duration) -> Self {
        Self::of(scenario, &scenario.events, until)
    }

    /// The same for an explicit event list.
    pub fn of(scenario: &Scenario, events: &[EventSpec], until: Duration) -> Self {
        let mut state = Replay {
            vmcp_up: true,
            ..Replay::default()
        };
        for b in &scenario.backends {
            state.pods.insert(
                b.name.clone(),
                PodState {
                    behaviour: b.behaviour,
                    behaviour_since: Duration::ZERO,
                    started: Duration::ZERO,
                    crashed: false,
                    partitioned: false,
                    held: false,
                    latency: Duration::ZERO,
                    last_change: Duration::ZERO,
                },
            );
            if b.registered {
                state.registry.insert(b.name.clone(), b.url());
            }
        }
        // (instant, order, event, a revert to (behaviour, since) set at `set`).
        let mut queue: Vec<(Duration, usize, Step<'_>)> = events
            .iter()
            .enumerate()
            .map(|(i, e)| (e.at, i * 2 + 1, Step::Event(e)))
            .collect();
        queue.sort_by_key(|(at, order, _)| (*at, *order));
        let mut i = 0;
        while i < queue.len() {
            let (at, _, step) = queue[i].clone();
            i += 1;
            if at > until {
                break;
            }
            match step {
                Step::Revert {
                    backend,
                    behaviour,
                    since,
                    set,
                } => {
                    if let Some(pod) = state.pods.get_mut(&backend)
                        && (pod.behaviour, pod.behaviour_since) == set
                    {
                        pod.behaviour = behaviour;
                        pod.behaviour_since = since;
                        pod.last_change = at;
                    }
                }
                Step::Event(e) => {
                    if let Some((end, revert)) = state.apply(scenario, e, at) {
                        // Reverts come before the file's events of the same instant.
                        let pos = queue[i..]
                            .iter()
                            .position(|(t, o, _)| (*t, *o) > (end, 0))
                            .map_or(queue.len(), |p| p + i);
                        queue.insert(pos, (end, 0, revert));
                    }
                }
            }
        }
        state
    }

    fn apply(
        &mut self,
        scenario: &Scenario,
        e: &EventSpec,
        at: Duration,
    ) -> Option<(Duration, Step<'static>)> {
        let mut revert = None;
        match &e.action {
            EventAction::CrashVmcp => self.vmcp_up = false,
            EventAction::RestartVmcp => {
                self.vmcp_up = true;
                self.vmcp_restarted = at;
            }
            EventAction::RegistryAdd { backend } => {
                if let Some(spec) = scenario.backend(backend) {
                    self.registry.insert(backend.clone(), spec.url());
                    self.registry_changed.insert(backend.clone(), at);
                }
            }
            EventAction::RegistryRemove { backend } => {
                self.registry.remove(backend);
                self.registry_changed.insert(backend.clone(), at);
            }
            EventAction::RegistryChangeUrl { backend, url } => {
                self.registry.insert(backend.clone(), url.url.clone());
                self.registry_changed.insert(backend.clone(), at);
            }
            action => {
                let backend = action.backend()?;
                let pod = self.pods.get_mut(backend)?;
                pod.last_change = at;
                match action {
                    EventAction::ReplacePod { behaviour, .. } => {
                        *pod = PodState {
                            behaviour: *behaviour,
                            behaviour_since: at,
                            started: at,
                            crashed: false,
                            partitioned: false,
                            held: false,
                            latency: Duration::ZERO,
                            last_change: at,
                        };
                    }
                    EventAction::SetBehaviour {
                        behaviour, for_, ..
                    } => {
                        let previous = (pod.behaviour, pod.behaviour_since);
                        pod.behaviour = *behaviour;
                        pod.behaviour_since = at;
                        if let Some(d) = for_ {
                            revert = Some((
                                at + *d,
                                Step::Revert {
                                    backend: backend.to_owned(),
                                    behaviour: previous.0,
                                    since: previous.1,
                                    set: (*behaviour, at),
                                },
                            ));
                        }
                    }
                    EventAction::CrashPod { .. } => pod.crashed = true,
                    EventAction::RestartPod { .. } => {
                        pod.crashed = false;
                        pod.started = at;
                    }
                    EventAction::Partition { .. } => pod.partitioned = true,
                    EventAction::Repair { .. } => pod.partitioned = false,
                    EventAction::Hold { .. } => pod.held = true,
                    EventAction::Release { .. } => pod.held = false,
                    EventAction::Latency { latency, .. } => pod.latency = *latency,
                    _ => {}
                }
            }
        }
        revert
    }
}

#[derive(Clone, Debug)]
enum Step<'a> {
    Event(&'a EventSpec),
    Revert {
        backend: String,
        behaviour: Behaviour,
        since: Duration,
        set: (Behaviour, Duration),
    },
}
