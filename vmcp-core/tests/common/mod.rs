//! Test support shared by the integration tests: a scripted probe.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "integration-test helpers: the test binary is its own crate, so `pub` here means \"for the test files\"; not every test file uses every helper"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use vmcp_core::health::Probe;
use vmcp_core::health::{ErrorCategory, FailureStatus, ProbeFailure, ProbeOutcome};
use vmcp_core::registry::Backend;

/// Given a backend and the seconds since the start: (probe latency, success?).
type Script = Box<dyn Fn(&Backend, f64) -> (Duration, bool) + Send + Sync>;

pub struct ScriptedProbe {
    start: Instant,
    script: Script,
    pub calls: Mutex<Vec<(String, String, Duration)>>,
    pub hooks: Mutex<Vec<String>>,
}

impl ScriptedProbe {
    pub fn new(
        script: impl Fn(&Backend, f64) -> (Duration, bool) + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            script: Box::new(script),
            calls: Mutex::new(Vec::new()),
            hooks: Mutex::new(Vec::new()),
        })
    }

    pub fn calls(&self) -> Vec<(String, String, Duration)> {
        self.calls.lock().unwrap().clone()
    }

    pub fn call_secs(&self, backend: &str) -> Vec<u64> {
        self.calls()
            .iter()
            .filter(|(b, _, _)| b == backend)
            .map(|(_, _, at)| at.as_secs())
            .collect()
    }
}

impl Probe for ScriptedProbe {
    async fn probe(&self, backend: &Backend) -> ProbeOutcome {
        let at = self.start.elapsed();
        self.calls
            .lock()
            .unwrap()
            .push((backend.name.clone(), backend.url.clone(), at));
        let (latency, ok) = (self.script)(backend, at.as_secs_f64());
        tokio::time::sleep(latency).await;
        if ok {
            ProbeOutcome::success(latency)
        } else {
            ProbeOutcome::failure(
                latency,
                ProbeFailure {
                    status: FailureStatus::Unhealthy,
                    category: ErrorCategory::ConnectionFailed,
                    message: "connection refused".into(),
                },
            )
        }
    }

    fn endpoint_changed(&self, backend: &Backend) {
        self.hooks
            .lock()
            .unwrap()
            .push(format!("changed {}", backend.name));
    }

    fn backend_removed(&self, name: &str) {
        self.hooks.lock().unwrap().push(format!("removed {name}"));
    }

    fn probe_abandoned(&self, backend: &Backend) {
        self.hooks
            .lock()
            .unwrap()
            .push(format!("abandoned {}", backend.name));
    }
}
