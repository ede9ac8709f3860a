//! Tests of the reporting loop's schedule, with paused time and a scripted health source.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep_until};

use crate::clock::EpochClock;
use crate::config::FailureHandling;
use crate::health::HealthSnapshot;
use crate::health::HealthStatus;
use crate::registry::{Backend, DynamicRegistry};
use crate::status::report::{Phase, StatusReport};
use crate::status::reporter::{MemoryReporter, ReportError, Reporter};
use crate::status::reporting_loop::{
    HealthSource, ReportingConfig, ReportingConfigError, run_reporting_loop,
};
use crate::status::test_support::*;

const SEC: u64 = 1000;

/// How the scripted source's initial probes behave.
#[derive(Clone, Copy)]
enum Initial {
    /// Done after this long (or at `max_wait`, whichever is first), as the monitor promises.
    After(Duration),
    /// Never done: a buggy source that ignores `max_wait`.
    Hang,
}

/// A scripted health source that records what the loop pushes to it.
struct FakeSource {
    start: Instant,
    initial: Initial,
    snapshot: Mutex<HealthSnapshot>,
    changes: Mutex<Option<watch::Sender<u64>>>,
    changes_rx: watch::Receiver<u64>,
    /// (milliseconds since start, backend names) per `update_backends` call.
    updates: Mutex<Vec<(u64, Vec<String>)>>,
}

impl FakeSource {
    fn new(initial: Initial) -> Self {
        let (tx, rx) = watch::channel(0);
        Self {
            start: crate::clock::monotonic_now(),
            initial,
            snapshot: Mutex::new(HealthSnapshot::new()),
            changes: Mutex::new(Some(tx)),
            changes_rx: rx,
            updates: Mutex::new(Vec::new()),
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap()
    }

    /// Mark `backend` healthy and notify, as the monitor does on a transition.
    fn set_healthy(&self, backend: &Backend) {
        let now = at(self.elapsed_ms() / SEC);
        self.snapshot.lock().unwrap().insert(
            backend.name.clone(),
            entry(backend, healthy(now), no_breaker(), None),
        );
        self.bump();
    }

    fn bump(&self) {
        if let Some(tx) = self.changes.lock().unwrap().as_ref() {
            tx.send_modify(|v| *v += 1);
        }
    }

    /// Drop the change sender, as a stopped monitor would.
    fn close(&self) {
        self.changes.lock().unwrap().take();
    }

    fn updates(&self) -> Vec<(u64, Vec<String>)> {
        self.updates.lock().unwrap().clone()
    }
}

impl HealthSource for FakeSource {
    fn snapshot(&self) -> HealthSnapshot {
        self.snapshot.lock().unwrap().clone()
    }

    fn changes(&self) -> watch::Receiver<u64> {
        self.changes_rx.clone()
    }

    fn update_backends(&self, backends: &[Backend]) {
        let names = backends.iter().map(|b| b.name.clone()).collect();
        self.updates
            .lock()
            .unwrap()
            .push((self.elapsed_ms(), names));
    }

    fn initial_probes_done(&self, max_wait: Duration) -> impl Future<Output = ()> + Send {
        let initial = self.initial;
        async move {
            match initial {
                Initial::After(d) => tokio::time::sleep(d.min(max_wait)).await,
                Initial::Hang => std::future::pending().await,
            }
        }
    }
}

/// A reporter that always fails, counting attempts.
#[derive(Default)]
struct Failing {
    calls: AtomicUsize,
}

impl Reporter for Failing {
    fn report(&self, _: &StatusReport) -> Result<(), ReportError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Err(ReportError::Other {
            reporter: "failing".into(),
            message: "API server unavailable".into(),
        })
    }

    fn name(&self) -> &str {
        "failing"
    }
}

fn config() -> ReportingConfig {
    ReportingConfig {
        status_reporting_interval: Duration::from_secs(30),
        registry_poll_interval: Duration::from_secs(2),
        initial_report_max_wait: Duration::from_secs(11),
    }
}

struct Harness {
    start: Instant,
    registry: Arc<DynamicRegistry>,
    source: Arc<FakeSource>,
    memory: Arc<MemoryReporter>,
    stop: watch::Sender<bool>,
    task: JoinHandle<Result<(), ReportingConfigError>>,
}

impl Harness {
    fn start(initial: Initial, backends: &[&str], extra: Vec<Arc<dyn Reporter>>) -> Self {
        Self::start_with(config(), initial, backends, extra)
    }

    fn start_with(
        config: ReportingConfig,
        initial: Initial,
        backends: &[&str],
        extra: Vec<Arc<dyn Reporter>>,
    ) -> Self {
        let registry =
            Arc::new(DynamicRegistry::new(backends.iter().map(|n| backend(n)).collect()).unwrap());
        let source = Arc::new(FakeSource::new(initial));
        let memory = Arc::new(MemoryReporter::new());
        let mut reporters = extra;
        reporters.push(memory.clone());
        let (stop, stop_rx) = watch::channel(false);
        let clock = EpochClock::new(at(0));
        let task = tokio::spawn({
            let registry = registry.clone();
            let source = source.clone();
            async move {
                run_reporting_loop(config, &registry, &*source, &clock, &reporters, stop_rx).await
            }
        });
        Self {
            start: crate::clock::monotonic_now(),
            registry,
            source,
            memory,
            stop,
            task,
        }
    }

    /// Sleep until `ms` milliseconds after start.
    async fn until(&self, ms: u64) {
        sleep_until(self.start + Duration::from_millis(ms)).await;
    }

    /// Milliseconds since start of every report so far.
    fn report_times(&self) -> Vec<u64> {
        self.memory
            .reports()
            .iter()
            .map(|r| r.observed_at.unix_millis() - EPOCH_MILLIS)
            .collect()
    }

    async fn stop(self) -> Vec<StatusReport> {
        self.stop.send(true).unwrap();
        self.task.await.unwrap().unwrap();
        self.memory.reports()
    }
}

fn backend(name: &str) -> Backend {
    Backend::new(name, format!("http://{name}:8080/mcp"))
}

fn names(report: &StatusReport) -> Vec<&str> {
    report
        .discovered_backends
        .iter()
        .map(|d| d.name.as_str())
        .collect()
}

#[tokio::test(start_paused = true)]
async fn first_report_after_initial_probes_then_every_interval() {
    let h = Harness::start(Initial::After(Duration::from_secs(3)), &["a", "b"], vec![]);
    h.until(2_999).await;
    assert!(h.memory.is_empty(), "no report before the initial probes");
    h.until(100 * SEC).await;
    assert_eq!(h.report_times(), [3 * SEC, 33 * SEC, 63 * SEC, 93 * SEC]);
    let first = h.memory.reports()[0].clone();
    assert_eq!(first.phase, Phase::Pending);
    assert_eq!(names(&first), ["a", "b"]);
    // The registry is pushed once at start, and not again when nothing changed.
    assert_eq!(h.source.updates(), [(0, vec!["a".into(), "b".into()])]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn hanging_initial_probe_does_not_block_the_first_report() {
    let h = Harness::start(Initial::Hang, &["a"], vec![]);
    h.until(50 * SEC).await;
    assert_eq!(h.report_times(), [11 * SEC, 41 * SEC]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn zero_max_wait_reports_at_once() {
    let cfg = ReportingConfig {
        initial_report_max_wait: Duration::ZERO,
        ..config()
    };
    let h = Harness::start_with(cfg, Initial::Hang, &["a"], vec![]);
    h.until(SEC).await;
    assert_eq!(h.report_times(), [0]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn registry_change_is_pushed_at_once_and_reported_within_poll_interval() {
    let h = Harness::start(Initial::After(Duration::from_secs(3)), &["a"], vec![]);
    h.until(10 * SEC).await;
    assert!(h.registry.upsert(backend("b")));
    h.until(10 * SEC + 1).await;
    assert_eq!(
        h.source.updates().last().unwrap(),
        &(10 * SEC, vec!["a".to_owned(), "b".to_owned()])
    );
    h.until(12 * SEC - 1).await;
    assert_eq!(h.report_times(), [3 * SEC]);
    // Timers due at the same instant wake in no promised order: look just after.
    h.until(12 * SEC + 1).await;
    assert_eq!(h.report_times(), [3 * SEC, 12 * SEC]);
    assert_eq!(names(&h.memory.last().unwrap()), ["a", "b"]);

    h.until(40 * SEC).await;
    assert!(h.registry.remove("a"));
    h.until(50 * SEC).await;
    assert_eq!(h.report_times(), [3 * SEC, 12 * SEC, 33 * SEC, 42 * SEC]);
    assert_eq!(names(&h.memory.last().unwrap()), ["b"]);
    assert_eq!(
        h.source.updates().last().unwrap(),
        &(40 * SEC, vec!["b".to_owned()])
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn health_change_is_reported_within_poll_interval() {
    let h = Harness::start(Initial::After(Duration::from_secs(3)), &["a"], vec![]);
    h.until(15 * SEC).await;
    h.source.set_healthy(&backend("a"));
    h.until(20 * SEC).await;
    assert_eq!(h.report_times(), [3 * SEC, 17 * SEC]);
    let last = h.memory.last().unwrap();
    assert_eq!(last.phase, Phase::Ready);
    assert_eq!(last.discovered_backends[0].health, HealthStatus::Healthy);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_changes_within_one_poll_interval_gives_one_report() {
    let h = Harness::start(Initial::After(Duration::from_secs(3)), &["a"], vec![]);
    for (ms, step) in [
        (10_000, 0),
        (10_300, 1),
        (10_600, 2),
        (11_000, 3),
        (11_900, 4),
    ] {
        h.until(ms).await;
        match step {
            0 => assert!(h.registry.upsert(backend("b"))),
            1 => h.source.set_healthy(&backend("a")),
            2 => assert!(h.registry.upsert(backend("c"))),
            3 => h.source.set_healthy(&backend("b")),
            _ => assert!(h.registry.remove("c")),
        }
    }
    h.until(30 * SEC).await;
    assert_eq!(h.report_times(), [3 * SEC, 12 * SEC]);
    let last = h.memory.last().unwrap();
    assert_eq!(names(&last), ["a", "b"]);
    assert_eq!(last.phase, Phase::Ready);
    // Every registry change was pushed when it happened.
    let pushed: Vec<u64> = h.source.updates().iter().map(|(t, _)| *t).collect();
    assert_eq!(pushed, [0, 10_000, 10_600, 11_900]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn periodic_report_covers_a_pending_change() {
    let h = Harness::start(Initial::After(Duration::from_secs(3)), &["a"], vec![]);
    h.until(32 * SEC).await;
    h.source.set_healthy(&backend("a"));
    h.until(40 * SEC).await;
    // The periodic report at 33 s shows the change; no extra report at 34 s.
    assert_eq!(h.report_times(), [3 * SEC, 33 * SEC]);
    assert_eq!(h.memory.last().unwrap().phase, Phase::Ready);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn changes_during_the_initial_wait_are_covered_by_the_first_report() {
    let h = Harness::start(Initial::After(Duration::from_secs(3)), &["a"], vec![]);
    h.until(SEC).await;
    assert!(h.registry.upsert(backend("b")));
    h.source.set_healthy(&backend("a"));
    h.until(30 * SEC).await;
    assert_eq!(h.report_times(), [3 * SEC]);
    assert_eq!(names(&h.memory.last().unwrap()), ["a", "b"]);
    assert_eq!(
        h.source.updates(),
        [
            (0, vec!["a".to_owned()]),
            (SEC, vec!["a".to_owned(), "b".to_owned()])
        ]
    );
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn failing_reporter_does_not_stop_the_loop_or_other_reporters() {
    let failing = Arc::new(Failing::default());
    let h = Harness::start(
        Initial::After(Duration::from_secs(3)),
        &["a"],
        vec![failing.clone()],
    );
    h.until(10 * SEC).await;
    h.source.set_healthy(&backend("a"));
    h.until(70 * SEC).await;
    assert_eq!(h.report_times(), [3 * SEC, 12 * SEC, 33 * SEC, 63 * SEC]);
    assert_eq!(failing.calls.load(Ordering::SeqCst), 4);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn closed_health_source_leaves_periodic_reports_running() {
    let h = Harness::start(Initial::After(Duration::from_secs(3)), &["a"], vec![]);
    h.until(5 * SEC).await;
    h.source.close();
    h.until(70 * SEC).await;
    assert_eq!(h.report_times(), [3 * SEC, 33 * SEC, 63 * SEC]);
    h.stop().await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_the_loop_promptly() {
    let h = Harness::start(Initial::After(Duration::from_secs(3)), &["a"], vec![]);
    h.until(50 * SEC).await;
    let start = h.start;
    let memory = h.memory.clone();
    let reports = h.stop().await;
    assert_eq!(start.elapsed(), Duration::from_secs(50));
    assert_eq!(reports.len(), 2);
    // Nothing more after shutdown.
    tokio::time::sleep(Duration::from_secs(100)).await;
    assert_eq!(memory.len(), 2);
}

#[tokio::test(start_paused = true)]
async fn shutdown_during_the_initial_wait_publishes_nothing() {
    let h = Harness::start(Initial::Hang, &["a"], vec![]);
    h.until(5 * SEC).await;
    let reports = h.stop().await;
    assert!(reports.is_empty());
}

#[tokio::test(start_paused = true)]
async fn dropping_the_shutdown_sender_stops_the_loop() {
    let h = Harness::start(Initial::After(Duration::from_secs(3)), &["a"], vec![]);
    h.until(5 * SEC).await;
    drop(h.stop);
    h.task.await.unwrap().unwrap();
    assert_eq!(h.memory.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn already_stopped_loop_does_nothing() {
    let registry = DynamicRegistry::new(vec![backend("a")]).unwrap();
    let source = FakeSource::new(Initial::After(Duration::ZERO));
    let memory: Arc<dyn Reporter> = Arc::new(MemoryReporter::new());
    let (_tx, rx) = watch::channel(true);
    let clock = EpochClock::new(at(0));
    run_reporting_loop(config(), &registry, &source, &clock, &[memory], rx)
        .await
        .unwrap();
    assert!(source.updates().is_empty());
}

#[tokio::test(start_paused = true)]
async fn invalid_config_is_refused_with_the_key() {
    let registry = DynamicRegistry::empty();
    let source = FakeSource::new(Initial::After(Duration::ZERO));
    let (_tx, rx) = watch::channel(false);
    let clock = EpochClock::new(at(0));
    for (cfg, key) in [
        (
            ReportingConfig {
                status_reporting_interval: Duration::ZERO,
                ..config()
            },
            "status_reporting_interval",
        ),
        (
            ReportingConfig {
                registry_poll_interval: Duration::ZERO,
                ..config()
            },
            "registry_poll_interval",
        ),
    ] {
        let err = run_reporting_loop(cfg, &registry, &source, &clock, &[], rx.clone())
            .await
            .unwrap_err();
        let min = if key == "status_reporting_interval" {
            "100ms"
        } else {
            "10ms"
        };
        assert_eq!(
            err.to_string(),
            format!("{key} (0s) must be at least {min}")
        );
    }
    assert!(source.updates().is_empty());
}

#[test]
fn config_from_failure_handling_bounds_the_first_report_by_the_probe_deadline() {
    let mut fh = FailureHandling::default();
    let cfg = ReportingConfig::from(&fh);
    assert_eq!(cfg.status_reporting_interval, Duration::from_secs(30));
    assert_eq!(cfg.registry_poll_interval, Duration::from_secs(2));
    assert_eq!(cfg.initial_report_max_wait, Duration::from_secs(11));
    fh.initial_jitter = Duration::from_secs(4);
    fh.health_check_timeout = Duration::from_millis(500);
    assert_eq!(
        ReportingConfig::from_failure_handling(&fh).initial_report_max_wait,
        Duration::from_millis(5_500)
    );
    assert!(cfg.validate().is_ok());
}

/// A registry change while the initial probes still hang is reported within
/// `registry_poll_interval`, not first with the initial report at `initial_report_max_wait`
/// (the PR 4290 symptom class).
#[tokio::test(start_paused = true)]
async fn a_registry_change_during_the_initial_wait_is_reported_within_the_poll_interval() {
    let h = Harness::start(Initial::Hang, &["a"], vec![]);
    h.until(SEC).await;
    assert!(h.registry.upsert(backend("b")));
    h.until(3 * SEC + 1).await;
    assert_eq!(h.report_times(), [3 * SEC]);
    assert_eq!(names(&h.memory.last().unwrap()), ["a", "b"]);
    // The initial report still follows at its bound, then the periodic schedule from there.
    h.until(42 * SEC).await;
    assert_eq!(h.report_times(), [3 * SEC, 11 * SEC, 41 * SEC]);
    h.stop().await;
}

/// The lower bounds are inclusive: an interval of exactly the minimum is accepted, one
/// millisecond (or nanosecond) less names the key.
#[test]
fn validate_accepts_exactly_the_minimum_intervals() {
    use crate::config::{MIN_REGISTRY_POLL_INTERVAL, MIN_STATUS_REPORTING_INTERVAL};
    let mut cfg = ReportingConfig::from(&FailureHandling::default());
    cfg.status_reporting_interval = MIN_STATUS_REPORTING_INTERVAL;
    cfg.registry_poll_interval = MIN_REGISTRY_POLL_INTERVAL;
    assert_eq!(cfg.validate(), Ok(()));
    let mut short = cfg;
    short.registry_poll_interval = MIN_REGISTRY_POLL_INTERVAL - Duration::from_nanos(1);
    let err = short.validate().expect_err("below the minimum");
    assert!(err.to_string().contains("registry_poll_interval"), "{err}");
    let mut short = cfg;
    short.status_reporting_interval = MIN_STATUS_REPORTING_INTERVAL - Duration::from_nanos(1);
    let err = short.validate().expect_err("below the minimum");
    assert!(
        err.to_string().contains("status_reporting_interval"),
        "{err}"
    );
}

/// `Arc<H>` is a health source that forwards every call to `H` (the production loop is handed
/// an `Arc` of the monitor).
#[tokio::test(start_paused = true)]
async fn an_arc_of_a_source_forwards_every_call() {
    let source = Arc::new(FakeSource::new(Initial::After(Duration::from_secs(3))));
    let backend = Backend::new("a", "http://a/mcp");
    let changes = HealthSource::changes(&source);
    source.set_healthy(&backend);
    assert!(
        changes.has_changed().unwrap(),
        "the change reaches the Arc's receiver"
    );
    let snapshot = HealthSource::snapshot(&source);
    assert_eq!(snapshot, source.snapshot.lock().unwrap().clone());
    assert_eq!(snapshot.len(), 1);
    HealthSource::update_backends(&source, std::slice::from_ref(&backend));
    assert_eq!(source.updates(), vec![(0, vec!["a".to_owned()])]);
    let started = crate::clock::monotonic_now();
    HealthSource::initial_probes_done(&source, Duration::from_secs(10)).await;
    assert_eq!(started.elapsed(), Duration::from_secs(3));
}
