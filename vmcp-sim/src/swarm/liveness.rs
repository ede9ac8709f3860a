//! The liveness phase of a swarm run: once the faults are off, every reachable backend is
//! reported healthy with its breaker closed within a bound derived from the configuration, and
//! stays so (DESIGN §4.4–4.5).
//!
//! A backend must converge when, after the scenario's own events, it is registered and its URL
//! leads to a pod that is running, answers like a healthy MCP server (`healthy`, `sse`, or
//! `starting_for` once started), on a link that is neither cut, held nor slowed, accepting the
//! credentials vMCP sends, with the vMCP host up. Its faults are over at `F`: the last instant
//! the scenario or a perturbation touched it (its registry entry or the pod its URL leads to),
//! a `starting_for` pod's start-up, or the last vMCP restart. The bound is the one
//! `tests/liveness.rs` derives (see its `Schedule::bound` for the argument):
//!
//! ```text
//! bound = F + O + (H + 1) × I + T + R + J + slack
//! ```
//!
//! `O` the longest open period of the breaker (capped back-off × (1 + jitter); 0 when
//! disabled), `H` the healthy threshold, `I` the interval, `T` the probe timeout, `R` the
//! registry poll interval, `J` the initial jitter (a restarted vMCP or a re-added backend waits
//! for it), and a slack of 1 s plus 16 × `max_latency` plus 4 ticks for the probe's own duration
//! and stamp quantisation. A scenario that declares `reproduces_bug` is exempt: its buggy
//! behaviour is the point.

use std::fmt::Write as _;
use std::time::Duration;

use vmcp_core::config::duration::format;

use super::catalogue::Scheduled;
use super::state::Replay;
use crate::scenario::{Behaviour, EventSpec, Scenario};

/// One backend's liveness obligation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Obligation {
    /// Registered backend.
    pub backend: String,
    /// Its faults are over.
    pub faults_over: Duration,
    /// Healthy and closed by then, and from then on.
    pub bound: Duration,
}

/// The liveness phase: obligations, and the run length that covers them plus a quiet stretch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Phase {
    /// Per backend that must converge.
    pub obligations: Vec<Obligation>,
    /// The run length.
    pub duration: Duration,
}

/// The host of `http://host[:port]/path`.
fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// The liveness phase of `scenario` run with `events` (its own and the perturbations').
pub fn phase(scenario: &Scenario, events: &[EventSpec], perturbations: &[Scheduled]) -> Phase {
    let c = &scenario.vmcp;
    let tick = crate::runner::tick_of(scenario);
    let max_latency = scenario.latency.map_or(Duration::from_millis(5), |l| l.max);
    let slack = Duration::from_secs(1) + max_latency * 16 + tick * 4;
    let breaker = &c.circuit_breaker;
    let open = if breaker.enabled {
        let cap = if breaker.timeout_multiplier > 1.0 {
            breaker
                .max_timeout
                .unwrap_or(breaker.timeout)
                .max(breaker.timeout)
        } else {
            breaker.timeout
        };
        cap.mul_f64(1.0 + breaker.timeout_jitter.max(0.0))
    } else {
        Duration::ZERO
    };
    let recovery = open
        + c.health_check_interval * (c.healthy_threshold + 1)
        + c.health_check_timeout
        + c.registry_poll_interval
        + c.initial_jitter
        + slack;
    let quiet =
        (c.health_check_interval * 3).max(c.status_reporting_interval) + Duration::from_secs(5);
    let end = Replay::of(scenario, events, Duration::MAX);
    let mut obligations = Vec::new();
    if scenario.reproduces_bug.is_none() && end.vmcp_up {
        for (name, url) in &end.registry {
            let target = host(url);
            let (Some(pod), Some(target_spec), Some(spec)) = (
                end.pods.get(target),
                scenario.backend(target),
                scenario.backend(name),
            ) else {
                continue;
            };
            let answers = match pod.behaviour {
                Behaviour::Healthy | Behaviour::Sse => Some(Duration::ZERO),
                Behaviour::StartingFor(d) => Some(pod.started.max(pod.behaviour_since) + d),
                _ => None,
            };
            let auth_ok = !target_spec.require_auth
                || (target_spec.auth.is_some() && target_spec.auth == spec.auth);
            let reachable = !pod.crashed && !pod.partitioned && !pod.held && pod.latency.is_zero();
            let (Some(up_at), true, true) = (answers, auth_ok, reachable) else {
                continue;
            };
            let touched = perturbations
                .iter()
                .filter(|p| p.backend == *name || p.backend == target)
                .map(|p| p.end)
                .max()
                .unwrap_or(Duration::ZERO);
            let faults_over = [
                up_at,
                pod.last_change,
                end.registry_changed.get(name).copied().unwrap_or_default(),
                end.vmcp_restarted,
                touched,
            ]
            .into_iter()
            .max()
            .unwrap_or_default();
            obligations.push(Obligation {
                backend: name.clone(),
                faults_over,
                bound: faults_over + recovery,
            });
        }
    }
    let last_event = events.iter().map(|e| e.at).max().unwrap_or_default();
    let duration = obligations
        .iter()
        .map(|o| o.bound + quiet)
        .chain([scenario.duration, last_event + tick * 2])
        .max()
        .unwrap_or(scenario.duration);
    Phase {
        obligations,
        duration,
    }
}

/// The obligations as `[[expect]]` TOML: eventually healthy and closed between `F` and the
/// bound, always so from the bound to the end.
pub fn expectations(phase: &Phase) -> String {
    let mut t = String::new();
    for o in &phase.obligations {
        let _ = write!(
            t,
            "[[expect]]\nkind = \"eventually\"\nfrom = \"{}\"\nby = \"{}\"\nbackend = \"{}\"\n\
             status = \"healthy\"\ncircuit = \"closed\"\ndescription = \"liveness: faults over at \
             {}, healthy with the breaker closed by the bound\"\n\n",
            format(o.faults_over),
            format(o.bound),
            o.backend,
            format(o.faults_over),
        );
        let _ = write!(
            t,
            "[[expect]]\nkind = \"always\"\nfrom = \"{}\"\nbackend = \"{}\"\nstatus = \"healthy\"\n\
             circuit = \"closed\"\ndescription = \"liveness: stays healthy, breaker closed, to the \
             end\"\n\n",
            format(o.bound),
            o.backend,
        );
    }
    t
}
