//! The monitor following the registry itself (DESIGN §3.4) under paused time: a change applies
//! at its instant, an added backend is probed at once even with `initial_jitter`, and a backend
//! removed or re-pointed while its probe is in flight has the late result ignored.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ScriptedProbe;
use tokio::time::Instant;
use vmcp_core::clock::{EpochClock, Timestamp};
use vmcp_core::config::FailureHandling;
use vmcp_core::health::HealthStatus;
use vmcp_core::health::{HealthMonitor, MonitorEvent, MonitorObserver};
use vmcp_core::registry::{Backend, DynamicRegistry};

/// Every monitor event with its offset from the start.
struct Events {
    start: Instant,
    events: Mutex<Vec<(Duration, MonitorEvent)>>,
}

impl Events {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            events: Mutex::new(Vec::new()),
        })
    }

    fn all(&self) -> Vec<(Duration, MonitorEvent)> {
        self.events.lock().unwrap().clone()
    }

    /// (offset, generation, success) of every recorded probe result of `name`.
    fn finished(&self, name: &str) -> Vec<(Duration, u64, bool)> {
        self.all()
            .into_iter()
            .filter_map(|(t, e)| match e {
                MonitorEvent::ProbeFinished {
                    backend,
                    generation,
                    outcome,
                } if backend == name => Some((t, generation, outcome.is_success())),
                _ => None,
            })
            .collect()
    }
}

impl MonitorObserver for Events {
    fn on_event(&self, event: &MonitorEvent) {
        self.events
            .lock()
            .unwrap()
            .push((self.start.elapsed(), event.clone()));
    }
}

fn config() -> FailureHandling {
    FailureHandling {
        health_check_interval: Duration::from_secs(30),
        health_check_timeout: Duration::from_secs(10),
        ..FailureHandling::default()
    }
}

fn follow(
    config: FailureHandling,
    probe: &Arc<ScriptedProbe>,
    events: &Arc<Events>,
    backends: Vec<Backend>,
) -> (HealthMonitor, Arc<DynamicRegistry>) {
    let registry = Arc::new(DynamicRegistry::new(backends).unwrap());
    let observer: Arc<dyn MonitorObserver> = events.clone();
    let monitor = HealthMonitor::follow(
        config,
        Arc::clone(probe),
        Arc::new(EpochClock::new(Timestamp::from_unix_millis(0))),
        Some(observer),
        5,
        Arc::clone(&registry),
    );
    (monitor, registry)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// (url, offset) of every probe call of `name`.
fn calls(probe: &ScriptedProbe, name: &str) -> Vec<(String, Duration)> {
    probe
        .calls()
        .into_iter()
        .filter(|(n, _, _)| n == name)
        .map(|(_, url, at)| (url, at))
        .collect()
}

/// A registry change made at the very instant the probes are due (t = 30 s) applies before they
/// start: the re-pointed backends are probed on their new endpoint only, the removed ones not
/// at all, whichever task the runtime happens to wake first.
#[tokio::test(start_paused = true)]
async fn a_change_at_a_probe_instant_applies_before_any_probe_starts() {
    let start = Instant::now();
    let probe = ScriptedProbe::new(|_, _| (Duration::ZERO, true));
    let events = Events::new();
    let names: Vec<String> = (0..8).map(|i| format!("b{i}")).collect();
    let (monitor, registry) = follow(
        config(),
        &probe,
        &events,
        names
            .iter()
            .map(|n| Backend::new(n.clone(), format!("http://{n}-old/mcp")))
            .collect(),
    );
    tokio::time::sleep_until(start + secs(30)).await;
    // Even-numbered backends are re-pointed, odd-numbered ones removed, all at once.
    let kept: Vec<Backend> = names
        .iter()
        .step_by(2)
        .map(|n| Backend::new(n.clone(), format!("http://{n}-new/mcp")))
        .collect();
    registry.replace_all(kept).unwrap();
    tokio::time::sleep_until(start + secs(31)).await;
    for (i, name) in names.iter().enumerate() {
        let got = calls(&probe, name);
        if i % 2 == 0 {
            assert_eq!(
                got,
                [
                    (format!("http://{name}-old/mcp"), Duration::ZERO),
                    (format!("http://{name}-new/mcp"), secs(30)),
                ],
                "{name}: no probe on the old endpoint at the change instant"
            );
        } else {
            assert_eq!(
                got,
                [(format!("http://{name}-old/mcp"), Duration::ZERO)],
                "{name}: no probe for a removed backend at the change instant"
            );
        }
    }
    assert_eq!(monitor.snapshot().len(), 4);
    monitor.stop().await;
}

/// `initial_jitter` spreads the first probes of the backends the monitor starts with; a backend
/// added later is probed at once (DESIGN §3.3).
#[tokio::test(start_paused = true)]
async fn an_added_backend_is_probed_at_once_despite_initial_jitter() {
    let start = Instant::now();
    let probe = ScriptedProbe::new(|_, _| (Duration::ZERO, true));
    let events = Events::new();
    let config = FailureHandling {
        initial_jitter: secs(30),
        health_check_interval: secs(60),
        ..config()
    };
    let initial: Vec<Backend> = (0..4)
        .map(|i| Backend::new(format!("i{i}"), format!("http://i{i}/mcp")))
        .collect();
    let (monitor, registry) = follow(config, &probe, &events, initial);
    tokio::time::sleep_until(start + secs(10)).await;
    registry.upsert(Backend::new("added", "http://added/mcp"));
    tokio::time::sleep_until(start + secs(40)).await;
    assert_eq!(
        calls(&probe, "added"),
        [("http://added/mcp".to_owned(), secs(10))]
    );
    // The initial set is spread over the jitter window (not all at 0, all within 30 s).
    let firsts: Vec<Duration> = (0..4)
        .map(|i| calls(&probe, &format!("i{i}"))[0].1)
        .collect();
    assert!(firsts.iter().all(|t| *t <= secs(30)), "{firsts:?}");
    assert!(firsts.iter().any(|t| *t > Duration::ZERO), "{firsts:?}");
    monitor.stop().await;
}

/// A backend removed while its probe is in flight: the probe is cancelled, its result never
/// recorded, its state dropped, and the probe told to forget the backend.
#[tokio::test(start_paused = true)]
async fn a_backend_removed_mid_probe_has_its_late_result_ignored() {
    let start = Instant::now();
    let probe = ScriptedProbe::new(|_, _| (secs(5), true));
    let events = Events::new();
    let (monitor, registry) = follow(
        config(),
        &probe,
        &events,
        vec![
            Backend::new("slow", "http://slow/mcp"),
            Backend::new("other", "http://other/mcp"),
        ],
    );
    tokio::time::sleep_until(start + secs(2)).await;
    assert!(registry.remove("slow"));
    tokio::time::sleep_until(start + secs(60)).await;
    assert_eq!(events.finished("slow"), []);
    assert_eq!(calls(&probe, "slow").len(), 1);
    assert_eq!(
        monitor.snapshot().keys().collect::<Vec<_>>(),
        ["other"],
        "the removed backend's state is dropped"
    );
    assert_eq!(
        events.finished("other"),
        [(secs(5), 0, true), (secs(35), 0, true)]
    );
    assert!(
        probe
            .hooks
            .lock()
            .unwrap()
            .contains(&"removed slow".to_owned())
    );
    monitor.stop().await;
}

/// A backend re-pointed while its probe is in flight: the old-generation probe's result is
/// ignored, the new endpoint is probed at once as generation 1, and its result counts.
#[tokio::test(start_paused = true)]
async fn a_backend_repointed_mid_probe_starts_a_new_generation() {
    let start = Instant::now();
    // The old endpoint would fail after 5 s; the new one answers in 1 s.
    let probe = ScriptedProbe::new(|b, _| {
        if b.url.contains("old") {
            (secs(5), false)
        } else {
            (secs(1), true)
        }
    });
    let events = Events::new();
    let (monitor, registry) = follow(
        config(),
        &probe,
        &events,
        vec![Backend::new("a", "http://a-old/mcp")],
    );
    tokio::time::sleep_until(start + secs(2)).await;
    registry.upsert(Backend::new("a", "http://a-new/mcp"));
    tokio::time::sleep_until(start + secs(20)).await;
    assert_eq!(
        calls(&probe, "a"),
        [
            ("http://a-old/mcp".to_owned(), Duration::ZERO),
            ("http://a-new/mcp".to_owned(), secs(2)),
        ]
    );
    assert_eq!(events.finished("a"), [(secs(3), 1, true)]);
    let snap = monitor.snapshot();
    assert_eq!(snap["a"].generation, 1);
    assert_eq!(snap["a"].health.status, HealthStatus::Healthy);
    assert_eq!(snap["a"].health.consecutive_failures, 0);
    monitor.stop().await;
}
