//! How fast the timeline picture renders, for big runs: 1 000 backends over 3 minutes, 20
//! backends over 30 minutes, and 1 000 backends over 30 minutes (synthetic traces with probes
//! every 10 s, outages with an open circuit on every 7th backend, and a report every 30 s).
//! `docs/BENCHMARKS.md` records the figures. With `VMCP_TIMELINE_BENCH_OUT=<dir>` the pages
//! are also written there, to look at.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use vmcp_core::clock::Timestamp;
use vmcp_core::health::{CircuitState, ErrorCategory, HealthReason, HealthStatus};
use vmcp_core::status::{DiscoveredBackend, Phase, StatusReport};
use vmcp_sim::timeline::{Picture, render_html};
use vmcp_sim::trace::{TimedReport, Trace, TraceEntry, TraceEvent};

/// The allocator the `vmcp-sim` binary runs with (vmcp-sim/src/main.rs says why), so the bench
/// measures what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PROBE_EVERY_MS: u64 = 10_000;

struct Run {
    trace: Trace,
    reports: Vec<TimedReport>,
    end_ms: u64,
}

/// One backend's state while its trace is generated.
struct Lane {
    name: String,
    status: (HealthStatus, HealthReason),
    circuit: CircuitState,
}

type Changes = Vec<(u64, HealthStatus, HealthReason, CircuitState)>;

impl Lane {
    fn set(
        &mut self,
        entries: &mut Vec<TraceEntry>,
        changes: &mut Changes,
        at: u64,
        to: (HealthStatus, HealthReason),
        circuit: CircuitState,
    ) {
        if circuit != self.circuit {
            entries.push(entry(
                at,
                TraceEvent::Circuit {
                    backend: self.name.clone(),
                    from: self.circuit,
                    to: circuit,
                },
            ));
            self.circuit = circuit;
        }
        if to != self.status {
            entries.push(entry(
                at,
                TraceEvent::Status {
                    backend: self.name.clone(),
                    from: self.status.0,
                    from_reason: self.status.1,
                    to: to.0,
                    to_reason: to.1,
                },
            ));
            self.status = to;
        }
        changes.push((at, self.status.0, self.status.1, self.circuit));
    }
}

fn entry(at_ms: u64, event: TraceEvent) -> TraceEntry {
    TraceEntry { at_ms, event }
}

/// `n` backends over `end_ms`. Backend `k` with `k % 7 == 0` fails from a start spread over
/// the first half of the run: three failures, circuit open for 30 s (skips), a half-open trial
/// that succeeds, then recovery. The others are healthy throughout.
fn synthetic(n: usize, end_ms: u64) -> Run {
    let mut entries = Vec::new();
    let mut health = vec![
        (
            HealthStatus::Unknown,
            HealthReason::Pending,
            CircuitState::Closed
        );
        n
    ];
    // Per backend: (time, new status, reason, circuit) changes, to build the reports from.
    let mut changes: Vec<Vec<(u64, HealthStatus, HealthReason, CircuitState)>> =
        vec![Vec::new(); n];
    for (k, changes) in changes.iter_mut().enumerate() {
        let name = format!("backend-{k:04}");
        entries.push(entry(
            0,
            TraceEvent::BackendAdded {
                backend: name.clone(),
            },
        ));
        let outage = (k % 7 == 0)
            .then(|| (k as u64 * 13_000) % (end_ms / 2) / PROBE_EVERY_MS * PROBE_EVERY_MS);
        let mut lane = Lane {
            name: name.clone(),
            status: (HealthStatus::Unknown, HealthReason::Pending),
            circuit: CircuitState::Closed,
        };
        let mut failures = 0;
        let mut t = 0;
        while t < end_ms {
            let failing = outage.is_some_and(|o| t >= o && t < o + 3 * PROBE_EVERY_MS);
            let open =
                outage.is_some_and(|o| t >= o + 3 * PROBE_EVERY_MS && t < o + 6 * PROBE_EVERY_MS);
            if open {
                entries.push(entry(
                    t,
                    TraceEvent::ProbeSkipped {
                        backend: name.clone(),
                        circuit: CircuitState::Open,
                    },
                ));
                t += PROBE_EVERY_MS;
                continue;
            }
            entries.push(entry(
                t,
                TraceEvent::ProbeStarted {
                    backend: name.clone(),
                    generation: 0,
                },
            ));
            entries.push(entry(
                t + 20,
                TraceEvent::Connection {
                    service: name.clone(),
                    pod: Some(format!("{name}-pod-1")),
                    outcome: "opened".into(),
                },
            ));
            let done = t + 60;
            entries.push(entry(
                done,
                TraceEvent::ProbeFinished {
                    backend: name.clone(),
                    ok: !failing,
                    latency_ms: 60,
                    category: failing.then_some(ErrorCategory::BackendUnavailable),
                    message: failing.then(|| "initialize: backend unavailable: HTTP 503".into()),
                    failure: failing.then_some(vmcp_core::health::FailureStatus::Unhealthy),
                    latency: Duration::from_millis(60),
                },
            ));
            if failing {
                failures += 1;
                if failures == 3 {
                    lane.set(
                        &mut entries,
                        changes,
                        done,
                        (HealthStatus::Unhealthy, HealthReason::CircuitOpen),
                        CircuitState::Open,
                    );
                }
            } else if lane.circuit == CircuitState::Open {
                lane.set(
                    &mut entries,
                    changes,
                    t,
                    (HealthStatus::Degraded, HealthReason::HalfOpen),
                    CircuitState::HalfOpen,
                );
                lane.set(
                    &mut entries,
                    changes,
                    done,
                    (HealthStatus::Degraded, HealthReason::Recovering),
                    CircuitState::Closed,
                );
                failures = 0;
            } else {
                failures = 0;
                lane.set(
                    &mut entries,
                    changes,
                    done,
                    (HealthStatus::Healthy, HealthReason::Ok),
                    lane.circuit,
                );
            }
            t += PROBE_EVERY_MS;
        }
    }
    entries.sort_by_key(|e| e.at_ms);
    let mut reports = Vec::new();
    let mut next = vec![0_usize; n];
    let mut at = 100;
    while at < end_ms {
        for k in 0..n {
            while next[k] < changes[k].len() && changes[k][next[k]].0 <= at {
                let (_, s, r, c) = changes[k][next[k]];
                health[k] = (s, r, c);
                next[k] += 1;
            }
        }
        let backends = (0..n)
            .map(|k| {
                let (s, r, c) = health[k];
                DiscoveredBackend {
                    name: format!("backend-{k:04}"),
                    url: format!("http://backend-{k:04}:8080/mcp"),
                    status: s.crd(),
                    health: s,
                    reason: r,
                    message: String::new(),
                    last_health_check: None,
                    consecutive_failures: 0,
                    circuit_breaker_state: c,
                    circuit_last_changed: None,
                    error_category: None,
                }
            })
            .collect::<Vec<_>>();
        let phase = if backends.iter().all(|b| b.health == HealthStatus::Healthy) {
            Phase::Ready
        } else {
            Phase::Degraded
        };
        reports.push(TimedReport {
            at: Duration::from_millis(at),
            report: StatusReport {
                phase,
                message: String::new(),
                observed_at: Timestamp::from_unix_millis(at),
                backend_count: 0,
                conditions: Vec::new(),
                discovered_backends: backends,
            },
        });
        at += 30_000;
    }
    Run {
        trace: Trace { entries },
        reports,
        end_ms,
    }
}

fn picture(run: &Run) -> Picture<'_> {
    Picture {
        scenario: "synthetic",
        file: "synthetic.toml",
        seed: 1,
        end_ms: run.end_ms,
        trace: &run.trace,
        reports: &run.reports,
        failures: &[],
        reproduce: String::new(),
    }
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("timeline_render");
    group.sample_size(10);
    for (name, n, end_ms) in [
        ("1000_backends_3min", 1000, 180_000),
        ("20_backends_30min", 20, 1_800_000),
        ("1000_backends_30min", 1000, 1_800_000),
    ] {
        let run = synthetic(n, end_ms);
        let html = render_html(&picture(&run));
        eprintln!(
            "{name}: {} trace entries, {} reports, {} KiB of HTML",
            run.trace.entries.len(),
            run.reports.len(),
            html.len() / 1024
        );
        if let Ok(dir) = std::env::var("VMCP_TIMELINE_BENCH_OUT") {
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(format!("{dir}/{name}.html"), &html);
        }
        group.bench_function(name, |b| b.iter(|| render_html(&picture(&run)).len()));
    }
    group.finish();
}

criterion_group!(benches, render);
criterion_main!(benches);
