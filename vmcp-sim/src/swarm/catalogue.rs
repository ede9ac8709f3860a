//! The perturbation catalogue and the per-seed choice of perturbations (after TigerBeetle's VOPR
//! swarm testing and FoundationDB's BUGGIFY): each seed enables a random subset of the
//! perturbations, each at a random rate, and schedules them as concrete scenario events.

use std::time::Duration;

use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::scenario::{Behaviour, EventAction, EventSpec, Location, Scenario, SwarmSettings};

use super::state::Replay;

pub use crate::scenario::{CATALOGUE, Perturbation};

/// One scheduled perturbation: its events (a start and an end, or one timed event) on one
/// backend, dropped or kept together when shrinking.
#[derive(Clone, Debug, PartialEq)]
pub struct Scheduled {
    /// What kind.
    pub kind: Perturbation,
    /// The declared backend it acts on.
    pub backend: String,
    /// When it starts.
    pub start: Duration,
    /// When it is over (the backend is as before).
    pub end: Duration,
    /// Its events.
    pub events: Vec<EventSpec>,
}

/// A seed's choice: enabled perturbations with their rates, and the schedule.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    /// Enabled perturbations and the probability each is drawn per backend and time slot.
    pub enabled: Vec<(Perturbation, f64)>,
    /// The scheduled perturbations, by start time.
    pub scheduled: Vec<Scheduled>,
}

/// Generated events have no place in a file until written; they point at its start.
const GENERATED: Location = Location { line: 1, column: 1 };

fn ev(at: Duration, action: EventAction) -> EventSpec {
    EventSpec {
        at,
        id: None,
        action,
        location: GENERATED,
    }
}

/// Round to whole milliseconds so written files read well and parse back exactly.
fn ms(d: f64) -> Duration {
    Duration::from_millis(d.max(1.0) as u64)
}

/// Choose and schedule the perturbations of `seed` over the scenario's run, never inside a
/// stretch where the scenario itself acts on the same backend (so a perturbation's end, e.g.
/// restoring a behaviour, cannot undo or freeze the scenario's own change).
pub fn choose(scenario: &Scenario, seed: u64) -> Choice {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5357_4152_4d5f_5631);
    let enabled = enable(&scenario.swarm, &mut rng);
    let interval = scenario.vmcp.health_check_interval;
    let slot = (interval * 2).clamp(Duration::from_secs(2), Duration::from_secs(30));
    let tick = crate::runner::tick_of(scenario);
    let margin = tick * 2;
    let mut scheduled = Vec::new();
    for backend in &scenario.backends {
        let busy = busy_instants(scenario, &backend.name);
        let mut slot_start = Duration::from_secs(1);
        while slot_start + slot < scenario.duration {
            let fired: Vec<Perturbation> = enabled
                .iter()
                .filter(|(_, rate)| rng.random::<f64>() < *rate)
                .map(|(p, _)| *p)
                .collect();
            let pick = fired.choose(&mut rng).copied();
            let secs = slot.as_secs_f64();
            let length = ms(secs * 1000.0 * (0.1 + rng.random::<f64>() * 0.5));
            let offset =
                ms((secs * 1000.0 - length.as_secs_f64() * 1000.0) * rng.random::<f64>() * 0.9);
            let magnitude = rng.random::<f64>();
            if let Some(kind) = pick {
                let start = slot_start + offset;
                let (start, stop) = (on_tick(start, tick), on_tick(start + length, tick));
                let events = events_for(
                    scenario,
                    kind,
                    &backend.name,
                    start,
                    stop.max(start + tick),
                    magnitude,
                )
                .map(|events| align(events, tick));
                if let Some(events) = events {
                    let end = events.iter().map(|e| e.at).max().unwrap_or(start);
                    let quiet = busy
                        .iter()
                        .all(|t| *t + margin < start || *t > end + margin);
                    if quiet && end + margin < scenario.duration {
                        scheduled.push(Scheduled {
                            kind,
                            backend: backend.name.clone(),
                            start,
                            end,
                            events,
                        });
                    }
                }
            }
            slot_start += slot;
        }
    }
    scheduled.sort_by_key(|s| (s.start, s.backend.clone()));
    Choice { enabled, scheduled }
}

/// The perturbations `seed` enables with their rates, within what `settings` allow. Every
/// catalogue entry consumes the same draws whether it is allowed or not, so narrowing the
/// allowed set does not change which of the remaining ones a seed enables; with the default
/// settings this is the historical choice (each entry on with probability 1/2, rate uniform in
/// [0.05, 0.6]; one drawn at random if none came up).
fn enable(settings: &SwarmSettings, rng: &mut ChaCha8Rng) -> Vec<(Perturbation, f64)> {
    let (min, max) = (settings.min_rate, settings.max_rate);
    let rate = |u: f64| min + u * (max - min);
    let mut enabled: Vec<(Perturbation, f64)> = Vec::new();
    for (_, p) in CATALOGUE {
        let on = rng.random_bool(0.5);
        let u = rng.random::<f64>();
        if let Some(fixed) = settings.fixed_rates.get(p) {
            enabled.push((*p, *fixed));
        } else if on && settings.perturbations.contains(p) {
            enabled.push((*p, rate(u)));
        }
    }
    if enabled.is_empty() && !settings.perturbations.is_empty() {
        let p = settings.perturbations[rng.random_range(0..settings.perturbations.len())];
        enabled.push((p, rate(rng.random::<f64>())));
    }
    enabled
}

/// `d` rounded up to a whole number of ticks: the runner applies events between simulation
/// steps, so an instant inside a tick would be applied at its end anyway, and two events inside
/// one tick could not be applied in order.
fn on_tick(d: Duration, tick: Duration) -> Duration {
    let tick_ns = tick.as_nanos().max(1);
    let steps = d.as_nanos().div_ceil(tick_ns);
    Duration::from_nanos(u64::try_from(steps * tick_ns).unwrap_or(u64::MAX))
}

/// Every instant and timed length of `events` on the tick grid.
fn align(mut events: Vec<EventSpec>, tick: Duration) -> Vec<EventSpec> {
    for e in &mut events {
        e.at = on_tick(e.at, tick);
        if let EventAction::SetBehaviour { for_: Some(d), .. } = &mut e.action {
            *d = on_tick(*d, tick);
        }
    }
    events
}

/// The instants at which the scenario acts on `backend`'s pod, link or registry entry
/// (including the automatic end of a timed `set_behaviour`).
fn busy_instants(scenario: &Scenario, backend: &str) -> Vec<Duration> {
    let mut out = Vec::new();
    for e in &scenario.events {
        let about = e.action.backend() == Some(backend)
            || matches!(&e.action, EventAction::RegistryChangeUrl { url, .. } if url.host == backend);
        if about {
            out.push(e.at);
            if let EventAction::SetBehaviour { for_: Some(d), .. } = &e.action {
                out.push(e.at + *d);
            }
        }
    }
    out
}

/// The events of one perturbation, or `None` when the backend's state at `start` does not
/// allow it (e.g. a partition of a link the scenario already cut).
fn events_for(
    scenario: &Scenario,
    kind: Perturbation,
    backend: &str,
    start: Duration,
    end: Duration,
    magnitude: f64,
) -> Option<Vec<EventSpec>> {
    let state = Replay::until(scenario, start);
    let pod = state.pods.get(backend)?;
    let b = || backend.to_owned();
    let length = end - start;
    Some(match kind {
        Perturbation::LatencySpike if pod.latency.is_zero() && !pod.crashed => {
            let latency = ms(100.0 + magnitude * 2_900.0);
            vec![
                ev(
                    start,
                    EventAction::Latency {
                        backend: b(),
                        latency,
                    },
                ),
                ev(
                    end,
                    EventAction::Latency {
                        backend: b(),
                        latency: Duration::ZERO,
                    },
                ),
            ]
        }
        Perturbation::SlowReplies if !pod.crashed => {
            let delay = ms(200.0 + magnitude * 2_800.0);
            vec![ev(
                start,
                EventAction::SetBehaviour {
                    backend: b(),
                    behaviour: Behaviour::Slow(delay),
                    for_: Some(length),
                },
            )]
        }
        Perturbation::HangingReplies if !pod.crashed => vec![ev(
            start,
            EventAction::SetBehaviour {
                backend: b(),
                behaviour: Behaviour::Hang,
                for_: Some(length),
            },
        )],
        Perturbation::ResetMidResponse if !pod.crashed => vec![
            ev(start, EventAction::CrashPod { backend: b() }),
            ev(
                start + ms(100.0 + magnitude * 900.0),
                EventAction::RestartPod { backend: b() },
            ),
        ],
        Perturbation::PodRestart if !pod.crashed => vec![
            ev(start, EventAction::CrashPod { backend: b() }),
            ev(end, EventAction::RestartPod { backend: b() }),
        ],
        Perturbation::Partition if !pod.partitioned && !pod.crashed => vec![
            ev(start, EventAction::Partition { backend: b() }),
            ev(end, EventAction::Repair { backend: b() }),
        ],
        Perturbation::RegistryChurn => {
            let declared = scenario.backend(backend)?.url();
            if state.registry.get(backend) != Some(&declared) {
                return None;
            }
            vec![
                ev(start, EventAction::RegistryRemove { backend: b() }),
                ev(end, EventAction::RegistryAdd { backend: b() }),
            ]
        }
        _ => return None,
    })
}
