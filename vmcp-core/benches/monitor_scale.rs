//! The production monitor and reporting loop at 1 000 and 10 000 backends (issue 11): RSS per
//! backend over 10 simulated minutes, time to build one report, CPU per simulated minute.
//!
//! A `harness = false` bench printing a table (figures in `docs/BENCHMARKS.md`). The real
//! `VmcpRuntime` (registry, monitor with one task per backend, reporting loop) runs on a
//! current-thread tokio runtime with a **paused** clock, so ten simulated minutes take as long as
//! the work in them; the probe is a fake that answers at once, so what is measured is the core's
//! own cost. RSS is read from `/proc/self/statm`, CPU time from `/proc/thread-self/schedstat`.
//!
//! ```sh
//! cargo bench -p vmcp-core --bench monitor_scale
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures real elapsed time (Instant::now), outside any simulation"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use vmcp_core::clock::{EpochClock, Timestamp};
use vmcp_core::config::FailureHandling;
use vmcp_core::health::Probe;
use vmcp_core::health::ProbeOutcome;
use vmcp_core::registry::{Backend, DynamicRegistry};
use vmcp_core::runtime::{RuntimeParts, VmcpRuntime};
use vmcp_core::status::{ReportError, Reporter, StatusReport, build_report};

/// Answers every probe at once, successfully.
struct InstantProbe;

impl Probe for InstantProbe {
    async fn probe(&self, _backend: &Backend) -> ProbeOutcome {
        ProbeOutcome::success(Duration::ZERO)
    }
}

/// Counts published reports (and keeps nothing).
#[derive(Default)]
struct Counting(AtomicU64);

impl Reporter for Counting {
    fn report(&self, report: &StatusReport) -> Result<(), ReportError> {
        std::hint::black_box(report);
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns: u64 = stat
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Row {
    backends: usize,
    rss_per_backend: Vec<f64>,
    cpu_per_minute: Vec<Duration>,
    build_report: Duration,
    build_report_cpu: Duration,
    reports: u64,
}

fn measure(n: usize) -> Row {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let backends: Vec<Backend> = (0..n)
            .map(|i| Backend::new(format!("b{i:05}"), format!("http://b{i:05}:8080/mcp")))
            .collect();
        let before = rss_bytes();
        let registry = Arc::new(DynamicRegistry::new(backends.clone()).expect("registry"));
        let reporter = Arc::new(Counting::default());
        let vmcp = VmcpRuntime::start(RuntimeParts {
            config: FailureHandling::default(),
            probe: Arc::new(InstantProbe),
            registry,
            clock: Arc::new(EpochClock::new(Timestamp::from_unix_millis(0))),
            observer: None,
            rng_seed: 1,
            reporters: vec![reporter.clone()],
        })
        .expect("runtime starts");
        let mut rss_per_backend = Vec::new();
        let mut cpu_per_minute = Vec::new();
        for _minute in 0..10 {
            let cpu = thread_cpu();
            tokio::time::sleep(Duration::from_secs(60)).await;
            cpu_per_minute.push(thread_cpu().saturating_sub(cpu));
            rss_per_backend.push(rss_bytes().saturating_sub(before) as f64 / n as f64);
        }
        // One report as the reporting loop builds it: snapshot, then build.
        let (mut builds, mut build_cpu) = (Vec::new(), Vec::new());
        for _ in 0..21 {
            let (started, cpu) = (Instant::now(), thread_cpu());
            let snapshot = vmcp.snapshot();
            let report = build_report(&backends, &snapshot, Timestamp::from_unix_millis(0));
            builds.push(started.elapsed());
            build_cpu.push(thread_cpu().saturating_sub(cpu));
            assert_eq!(report.discovered_backends.len(), n);
            std::hint::black_box(report);
        }
        let reports = reporter.0.load(Ordering::Relaxed);
        vmcp.stop().await;
        Row {
            backends: n,
            rss_per_backend,
            cpu_per_minute,
            build_report: median(builds),
            build_report_cpu: median(build_cpu),
            reports,
        }
    })
}

fn main() {
    println!(
        "| backends | RSS per backend after 1 / 5 / 10 simulated min | CPU per simulated minute \
         (median of 10; min-max) | one report: snapshot + build, wall / CPU (medians of 21) | reports in 10 min |"
    );
    println!("|---:|---|---|---:|---:|");
    for n in [1_000, 10_000] {
        let row = measure(n);
        let cpu = row.cpu_per_minute.clone();
        let (lo, hi) = (
            cpu.iter().min().copied().unwrap_or_default(),
            cpu.iter().max().copied().unwrap_or_default(),
        );
        println!(
            "| {} | {:.0} / {:.0} / {:.0} B | {:.1} ms ({:.1}-{:.1}) | {:.2} ms / {:.2} ms | {} |",
            row.backends,
            row.rss_per_backend[0],
            row.rss_per_backend[4],
            row.rss_per_backend[9],
            median(row.cpu_per_minute).as_secs_f64() * 1e3,
            lo.as_secs_f64() * 1e3,
            hi.as_secs_f64() * 1e3,
            row.build_report.as_secs_f64() * 1e3,
            row.build_report_cpu.as_secs_f64() * 1e3,
            row.reports,
        );
    }
}
