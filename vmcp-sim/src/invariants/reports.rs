//! Every report lists exactly the registry's backends, sorted by name, with a phase consistent
//! with their statuses (DESIGN §3.4).
//!
//! The registry's content at each instant comes from the runner's `Registry` entries (the
//! reporting loop reads the registry when it publishes, and the runner changes it between
//! simulation steps, so the last `Registry` entry before a report is what it read). Phase:
//! `Ready` when there is no backend or all are healthy; `Pending` when backends exist and none
//! has a result yet (all `unknown/pending`); otherwise `Degraded` when some are healthy or
//! degraded, `Failed` when none is. Each line's CRD status is the one its fine status maps to.

use vmcp_core::health::{HealthReason, HealthStatus};
use vmcp_core::status::Phase;

use super::{Limits, Violation, at};
use crate::trace::{ReportLine, TraceEntry, TraceEvent};

const NAME: &str = "reports";

/// The phase the spec gives for these lines.
pub fn expected_phase(lines: &[ReportLine]) -> Phase {
    let healthy = lines
        .iter()
        .filter(|l| l.health == HealthStatus::Healthy)
        .count();
    let degraded = lines
        .iter()
        .filter(|l| l.health == HealthStatus::Degraded)
        .count();
    let no_result = lines
        .iter()
        .all(|l| l.health == HealthStatus::Unknown && l.reason == HealthReason::Pending);
    if lines.is_empty() || healthy == lines.len() {
        Phase::Ready
    } else if no_result {
        Phase::Pending
    } else if healthy + degraded > 0 {
        Phase::Degraded
    } else {
        Phase::Failed
    }
}

/// Check the trace.
pub fn check(entries: &[TraceEntry], _limits: &Limits) -> Vec<Violation> {
    let mut registry: Option<Vec<&str>> = None;
    let mut out = Vec::new();
    for entry in entries {
        match &entry.event {
            TraceEvent::Registry { backends } => {
                registry = Some(backends.iter().map(|b| b.name.as_str()).collect());
            }
            TraceEvent::Report { phase, backends } => {
                let listed: Vec<&str> = backends.iter().map(|b| b.backend.as_str()).collect();
                let mut sorted = listed.clone();
                sorted.sort_unstable();
                if listed != sorted {
                    out.push(Violation::new(
                        NAME,
                        None,
                        entry.at_ms,
                        format!(
                            "the report at {} lists backends out of order: [{}]",
                            at(entry),
                            listed.join(", ")
                        ),
                    ));
                }
                if let Some(registered) = &registry {
                    let mut want = registered.clone();
                    want.sort_unstable();
                    if sorted != want {
                        out.push(Violation::new(
                            NAME,
                            None,
                            entry.at_ms,
                            format!(
                                "the report at {} lists [{}], the registry holds [{}]",
                                at(entry),
                                listed.join(", "),
                                want.join(", ")
                            ),
                        ));
                    }
                }
                let phase_wanted = expected_phase(backends);
                if *phase != phase_wanted {
                    out.push(Violation::new(
                        NAME,
                        None,
                        entry.at_ms,
                        format!(
                            "the report at {} has phase {phase}; its backends ({}) give {phase_wanted}",
                            at(entry),
                            backends
                                .iter()
                                .map(|b| format!("{}={}/{}", b.backend, b.health, b.reason))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
                for line in backends {
                    if line.status != line.health.crd() {
                        out.push(Violation::new(
                            NAME,
                            Some(&line.backend),
                            entry.at_ms,
                            format!(
                                "the report at {} shows {} with status {} but health {}, which \
                                 maps to {}",
                                at(entry),
                                line.backend,
                                line.status,
                                line.health,
                                line.health.crd()
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
