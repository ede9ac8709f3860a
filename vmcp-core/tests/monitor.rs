//! Monitor scheduling under tokio paused time with a scripted probe: exact probe instants,
//! breaker-driven skips and half-open trials, add/remove/change, stop.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ScriptedProbe;

use tokio::time::Instant;
use vmcp_core::clock::{EpochClock, Timestamp};
use vmcp_core::config::{CircuitBreakerConfig, FailureHandling};
use vmcp_core::health::{CircuitState, ErrorCategory, HealthReason, HealthStatus};
use vmcp_core::health::{HealthMonitor, MonitorEvent, MonitorObserver};
use vmcp_core::registry::Backend;

/// Records events with their offset from the start in whole milliseconds.
struct Recorder {
    start: Instant,
    events: Mutex<Vec<(u128, MonitorEvent)>>,
}

impl Recorder {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            events: Mutex::new(Vec::new()),
        })
    }

    /// A compact, human-readable transition timeline.
    fn timeline(&self) -> Vec<String> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .map(|(ms, e)| {
                let t = format!("{:>4}s", ms / 1000);
                match e {
                    MonitorEvent::ProbeStarted { backend, .. } => {
                        format!("{t} {backend} probe")
                    }
                    MonitorEvent::ProbeFinished {
                        backend, outcome, ..
                    } => format!(
                        "{t} {backend} probe {}",
                        if outcome.is_success() { "ok" } else { "failed" }
                    ),
                    MonitorEvent::ProbeSkipped {
                        backend, circuit, ..
                    } => format!("{t} {backend} skipped (circuit {circuit})"),
                    MonitorEvent::StatusChanged { backend, change } => format!(
                        "{t} {backend} status {}/{} -> {}/{}",
                        change.from, change.from_reason, change.to, change.to_reason
                    ),
                    MonitorEvent::CircuitChanged {
                        backend,
                        transition,
                    } => format!(
                        "{t} {backend} circuit {} -> {}",
                        transition.from, transition.to
                    ),
                    MonitorEvent::BackendAdded { backend } => format!("{t} {backend} added"),
                    MonitorEvent::BackendRemoved { backend } => {
                        format!("{t} {backend} removed")
                    }
                    MonitorEvent::EndpointChanged {
                        backend,
                        generation,
                    } => format!("{t} {backend} endpoint changed (generation {generation})"),
                }
            })
            .collect()
    }
}

impl MonitorObserver for Recorder {
    fn on_event(&self, event: &MonitorEvent) {
        self.events
            .lock()
            .unwrap()
            .push((self.start.elapsed().as_millis(), event.clone()));
    }
}

fn config(breaker: bool) -> FailureHandling {
    FailureHandling {
        health_check_interval: Duration::from_secs(30),
        health_check_timeout: Duration::from_secs(10),
        unhealthy_threshold: 3,
        healthy_threshold: 2,
        circuit_breaker: CircuitBreakerConfig {
            enabled: breaker,
            failure_threshold: 5,
            timeout: Duration::from_secs(60),
            ..CircuitBreakerConfig::default()
        },
        ..FailureHandling::default()
    }
}

fn clock() -> Arc<EpochClock> {
    Arc::new(EpochClock::new(Timestamp::from_unix_millis(
        1_767_225_600_000,
    )))
}

/// Sleep until `secs` after `start` (plus a millisecond, so that zero-latency probes scheduled
/// at exactly that instant have completed).
async fn at(start: Instant, secs: u64) {
    tokio::time::sleep_until(start + Duration::from_secs(secs) + Duration::from_millis(1)).await;
}

/// The DESIGN §3.3 reference timeline: interval 30 s, timeout 10 s, fall 3, rise 2, breaker
/// 5 failures / 60 s, instant probes, backend down from t=0 and up from t=200 s.
#[tokio::test(start_paused = true)]
async fn breaker_timeline_matches_the_reference() {
    let start = Instant::now();
    let probe = ScriptedProbe::new(|_, t| (Duration::ZERO, t >= 200.0));
    let recorder = Recorder::new();
    let monitor = HealthMonitor::start(
        config(true),
        probe.clone(),
        clock(),
        Some(recorder.clone()),
        7,
        vec![Backend::new("github", "http://github:8080/mcp")],
    );

    // (t, status, reason, circuit, probe calls so far)
    type Row = (u64, HealthStatus, HealthReason, CircuitState, usize);
    let expected: Vec<Row> = vec![
        (
            0,
            HealthStatus::Unknown,
            HealthReason::ProbeFailed,
            CircuitState::Closed,
            1,
        ),
        (
            30,
            HealthStatus::Unknown,
            HealthReason::ProbeFailed,
            CircuitState::Closed,
            2,
        ),
        (
            60,
            HealthStatus::Unhealthy,
            HealthReason::ProbeFailed,
            CircuitState::Closed,
            3,
        ),
        (
            90,
            HealthStatus::Unhealthy,
            HealthReason::ProbeFailed,
            CircuitState::Closed,
            4,
        ),
        (
            120,
            HealthStatus::Unhealthy,
            HealthReason::CircuitOpen,
            CircuitState::Open,
            5,
        ),
        (
            150,
            HealthStatus::Unhealthy,
            HealthReason::CircuitOpen,
            CircuitState::Open,
            5,
        ),
        (
            180,
            HealthStatus::Unhealthy,
            HealthReason::CircuitOpen,
            CircuitState::Open,
            6,
        ),
        (
            210,
            HealthStatus::Unhealthy,
            HealthReason::CircuitOpen,
            CircuitState::Open,
            6,
        ),
        (
            240,
            HealthStatus::Degraded,
            HealthReason::Recovering,
            CircuitState::Closed,
            7,
        ),
        (
            270,
            HealthStatus::Healthy,
            HealthReason::Ok,
            CircuitState::Closed,
            8,
        ),
    ];
    let mut observed: Vec<Row> = Vec::new();
    for row in &expected {
        at(start, row.0).await;
        let snap = monitor.snapshot();
        let b = &snap["github"];
        observed.push((
            row.0,
            b.health.status,
            b.health.reason,
            b.circuit.state,
            probe.calls().len(),
        ));
    }
    assert_eq!(observed, expected);
    assert_eq!(
        probe.call_secs("github"),
        vec![0, 30, 60, 90, 120, 180, 240, 270]
    );
    let snap = monitor.snapshot();
    assert_eq!(
        snap["github"].probes_skipped, 2,
        "skipped at 150 s and 210 s, while open"
    );
    monitor.stop().await;
    insta::assert_yaml_snapshot!(recorder.timeline());
}

/// Without a breaker, probing never stops and the status follows the thresholds only.
#[tokio::test(start_paused = true)]
async fn disabled_breaker_never_skips() {
    let start = Instant::now();
    let probe = ScriptedProbe::new(|_, _| (Duration::ZERO, false));
    let monitor = HealthMonitor::start(
        config(false),
        probe.clone(),
        clock(),
        None,
        1,
        vec![Backend::new("a", "http://a/mcp")],
    );
    at(start, 600).await;
    let snap = monitor.snapshot();
    assert_eq!(snap["a"].circuit.state, CircuitState::Closed);
    assert_eq!(snap["a"].probes_skipped, 0);
    assert_eq!(
        probe.call_secs("a"),
        (0..=20).map(|k| k * 30).collect::<Vec<_>>()
    );
    assert_eq!(snap["a"].health.status, HealthStatus::Unhealthy);
    monitor.stop().await;
}

/// A probe skipped by an open breaker is not a status or circuit transition: it must not signal
/// `changes()`, or every skipped tick would trigger a status report (DESIGN §3.4 reports follow
/// transitions only). The Open→HalfOpen→Open transitions at the deadline still signal.
#[tokio::test(start_paused = true)]
async fn skipped_probe_does_not_signal_a_change() {
    let start = Instant::now();
    let probe = ScriptedProbe::new(|_, _| (Duration::ZERO, false));
    let monitor = HealthMonitor::start(
        config(true),
        probe.clone(),
        clock(),
        None,
        5,
        vec![Backend::new("down", "http://down/mcp")],
    );
    // Five failures (0, 30, ..., 120 s) open the breaker at 120 s until 180 s.
    at(start, 121).await;
    assert_eq!(monitor.snapshot()["down"].circuit.state, CircuitState::Open);
    let mut changes = monitor.changes();
    changes.borrow_and_update();

    at(start, 151).await;
    assert_eq!(
        monitor.snapshot()["down"].probes_skipped,
        1,
        "the 150 s tick is skipped"
    );
    assert!(
        !changes.has_changed().unwrap(),
        "a skip changes neither status nor circuit"
    );

    // At 180 s: HalfOpen, the trial fails, Open again: transitions, so a change is signalled.
    at(start, 181).await;
    assert_eq!(probe.call_secs("down"), vec![0, 30, 60, 90, 120, 180]);
    assert!(changes.has_changed().unwrap());
    monitor.stop().await;
}

/// A probe slower than the interval's timeout is cut at `health_check_timeout` and the next
/// probe still starts on the grid: probes never overlap.
#[tokio::test(start_paused = true)]
async fn hanging_probe_times_out_and_never_overlaps() {
    let start = Instant::now();
    let probe = ScriptedProbe::new(|_, _| (Duration::from_secs(3600), true));
    let monitor = HealthMonitor::start(
        config(false),
        probe.clone(),
        clock(),
        None,
        1,
        vec![Backend::new("slow", "http://slow/mcp")],
    );
    at(start, 95).await;
    assert_eq!(probe.call_secs("slow"), vec![0, 30, 60, 90]);
    let snap = monitor.snapshot();
    assert_eq!(snap["slow"].health.status, HealthStatus::Unhealthy);
    assert_eq!(
        snap["slow"].health.last_error_category,
        Some(ErrorCategory::Timeout)
    );
    assert_eq!(
        snap["slow"].health.last_latency,
        Some(Duration::from_secs(10))
    );
    assert_eq!(
        probe.hooks.lock().unwrap().clone(),
        vec!["abandoned slow".to_owned(); 3],
        "each cut probe (0, 30, 60 s; the 90 s one is still running) is reported to the probe, \
         so the client can flush its pool"
    );
    monitor.stop().await;
}

/// Adding probes immediately; removing drops state and stops probes; a URL change keeps the
/// status history, resets the breaker and probes the new URL immediately.
#[tokio::test(start_paused = true)]
async fn update_backends_adds_removes_and_restarts() {
    let start = Instant::now();
    let probe = ScriptedProbe::new(|b, _| (Duration::ZERO, !b.url.contains("bad")));
    let recorder = Recorder::new();
    let monitor = HealthMonitor::start(
        config(true),
        probe.clone(),
        clock(),
        Some(recorder.clone()),
        3,
        vec![
            Backend::new("a", "http://a/mcp"),
            Backend::new("b", "http://bad-b/mcp"),
        ],
    );
    at(start, 45).await;
    monitor.update_backends(&[
        Backend::new("b", "http://good-b/mcp"),
        Backend::new("c", "http://c/mcp"),
    ]);
    at(start, 100).await;
    let snap = monitor.snapshot();
    assert_eq!(snap.keys().collect::<Vec<_>>(), vec!["b", "c"]);
    assert_eq!(
        probe.call_secs("a"),
        vec![0, 30],
        "a removed at 45 s: no more probes"
    );
    assert_eq!(
        probe.call_secs("c"),
        vec![45, 75],
        "c added at 45 s: probed immediately"
    );
    let b_calls: Vec<(String, u64)> = probe
        .calls()
        .into_iter()
        .filter(|(n, _, _)| n == "b")
        .map(|(_, url, at)| (url, at.as_secs()))
        .collect();
    assert_eq!(
        b_calls,
        vec![
            ("http://bad-b/mcp".to_owned(), 0),
            ("http://bad-b/mcp".to_owned(), 30),
            ("http://good-b/mcp".to_owned(), 45),
            ("http://good-b/mcp".to_owned(), 75),
        ]
    );
    // b was unknown after 2 failures; its history is kept, so two successes are needed.
    assert_eq!(snap["b"].generation, 1);
    assert_eq!(snap["b"].health.status, HealthStatus::Healthy);
    assert_eq!(
        probe.hooks.lock().unwrap().clone(),
        vec!["removed a".to_owned(), "changed b".to_owned()]
    );
    monitor.stop().await;
    insta::assert_yaml_snapshot!(recorder.timeline());
}

/// `stop` cancels every task: no probe happens afterwards.
#[tokio::test(start_paused = true)]
async fn stop_leaves_no_task_behind() {
    let start = Instant::now();
    let probe = ScriptedProbe::new(|_, _| (Duration::from_secs(5), true));
    let monitor = HealthMonitor::start(
        config(false),
        probe.clone(),
        clock(),
        None,
        1,
        vec![
            Backend::new("a", "http://a/mcp"),
            Backend::new("b", "http://b/mcp"),
        ],
    );
    at(start, 31).await;
    monitor.stop().await;
    let before = probe.calls().len();
    at(start, 300).await;
    assert_eq!(probe.calls().len(), before);
    assert_eq!(before, 4);
}

/// `initial_probes_done` returns when every backend has a first result, and is bounded.
#[tokio::test(start_paused = true)]
async fn initial_probes_done_is_bounded() {
    let start = Instant::now();
    let probe = ScriptedProbe::new(|b, _| {
        (
            if b.name == "hang" {
                Duration::from_secs(3600)
            } else {
                Duration::from_secs(1)
            },
            true,
        )
    });
    let monitor = HealthMonitor::start(
        config(false),
        probe.clone(),
        clock(),
        None,
        1,
        vec![Backend::new("fast", "http://f/mcp")],
    );
    monitor.initial_probes_done(Duration::from_secs(60)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    monitor.update_backends(&[
        Backend::new("fast", "http://f/mcp"),
        Backend::new("hang", "http://h/mcp"),
    ]);
    monitor.initial_probes_done(Duration::from_secs(4)).await;
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    monitor.stop().await;
}
