//! The wired runtime (registry → monitor → reporting loop) under paused time: the first report
//! after the initial probes, registry changes reported within `registry_poll_interval`, `stop`
//! with a shared monitor, and config validation at start. (Status transitions reaching reports
//! promptly is pinned down by the scenario library, e.g. `breaker-lifecycle`.)

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ScriptedProbe;
use tokio::time::Instant;
use vmcp_core::clock::{EpochClock, Timestamp};
use vmcp_core::config::FailureHandling;
use vmcp_core::registry::{Backend, DynamicRegistry};
use vmcp_core::runtime::{RuntimeParts, VmcpRuntime};
use vmcp_core::status::{MemoryReporter, Phase, Reporter};

fn start(probe: Arc<ScriptedProbe>, backends: Vec<Backend>) -> (VmcpRuntime, Arc<MemoryReporter>) {
    let memory = Arc::new(MemoryReporter::new());
    let reporters: Vec<Arc<dyn Reporter>> = vec![memory.clone()];
    let runtime = VmcpRuntime::start(RuntimeParts {
        config: FailureHandling::default(),
        probe,
        registry: Arc::new(DynamicRegistry::new(backends).unwrap()),
        clock: Arc::new(EpochClock::new(Timestamp::from_unix_millis(
            1_767_225_600_000,
        ))),
        observer: None,
        rng_seed: 1,
        reporters,
    })
    .unwrap();
    (runtime, memory)
}

/// (seconds since start, phase, backend names) of every report so far.
fn reports(memory: &MemoryReporter, start_ms: u64) -> Vec<(u64, Phase, Vec<String>)> {
    memory
        .reports()
        .iter()
        .map(|r| {
            (
                (r.observed_at.unix_millis() - start_ms) / 1000,
                r.phase,
                r.discovered_backends
                    .iter()
                    .map(|b| b.name.clone())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test(start_paused = true)]
async fn registry_changes_are_reported_within_the_poll_interval() {
    let t0 = Instant::now();
    let probe = ScriptedProbe::new(|b, _| (Duration::from_millis(200), b.name != "down"));
    let (runtime, memory) = start(probe.clone(), vec![Backend::new("a", "http://a/mcp")]);
    let start_ms = 1_767_225_600_000;

    tokio::time::sleep_until(t0 + Duration::from_secs(10)).await;
    runtime.registry().upsert(Backend::new("b", "http://b/mcp"));
    tokio::time::sleep_until(t0 + Duration::from_millis(12_500)).await;
    assert_eq!(
        probe.call_secs("b"),
        vec![10],
        "the monitor probes a new backend at once"
    );
    runtime.registry().remove("a");
    // One report per change window: the add at 10 s is reported at 12 s (b already probed),
    // the removal at 12.5 s at 14 s; the periodic report follows at 30 s.
    tokio::time::sleep_until(t0 + Duration::from_secs(40)).await;

    assert_eq!(
        reports(&memory, start_ms),
        vec![
            (0, Phase::Ready, vec!["a".to_owned()]),
            (12, Phase::Ready, vec!["a".to_owned(), "b".to_owned()]),
            (14, Phase::Ready, vec!["b".to_owned()]),
            (30, Phase::Ready, vec!["b".to_owned()]),
        ]
    );
    let snapshot = runtime.snapshot();
    assert_eq!(
        snapshot.keys().collect::<Vec<_>>(),
        vec!["b"],
        "a removed leaves no state"
    );
    runtime.stop().await;
}

/// `stop` cancels the probe tasks even while someone else (a status endpoint) still holds the
/// monitor.
#[tokio::test(start_paused = true)]
async fn stop_cancels_probing_even_with_the_monitor_shared() {
    let t0 = Instant::now();
    let probe = ScriptedProbe::new(|_, _| (Duration::from_millis(10), true));
    let (runtime, _memory) = start(probe.clone(), vec![Backend::new("a", "http://a/mcp")]);
    let held_elsewhere = Arc::clone(runtime.monitor());
    tokio::time::sleep_until(t0 + Duration::from_secs(31)).await;
    assert_eq!(probe.call_secs("a"), vec![0, 30]);
    runtime.stop().await;
    tokio::time::sleep_until(t0 + Duration::from_secs(300)).await;
    assert_eq!(probe.call_secs("a"), vec![0, 30], "no probe after stop");
    assert_eq!(
        held_elsewhere.snapshot().len(),
        1,
        "the shared handle still reads state"
    );
}

/// A config built by hand is validated at start: a zero interval would spin, a huge one would
/// overflow the clock.
#[tokio::test(start_paused = true)]
async fn start_rejects_an_invalid_config() {
    let probe = ScriptedProbe::new(|_, _| (Duration::ZERO, true));
    for config in [
        FailureHandling {
            health_check_interval: Duration::ZERO,
            ..FailureHandling::default()
        },
        FailureHandling {
            status_reporting_interval: Duration::from_secs(u64::MAX / 4),
            ..FailureHandling::default()
        },
    ] {
        let err = VmcpRuntime::start(RuntimeParts {
            config,
            probe: probe.clone(),
            registry: Arc::new(DynamicRegistry::empty()),
            clock: Arc::new(EpochClock::new(Timestamp::from_unix_millis(0))),
            observer: None,
            rng_seed: 1,
            reporters: Vec::new(),
        })
        .expect_err("an invalid config must not start");
        assert!(err.to_string().contains("must be"), "{err}");
    }
    assert!(probe.calls().is_empty());
}
