//! Per-backend status tracking with fall/rise thresholds (DESIGN §3.3, "Tracker rules").
//!
//! SKELETON: the API contract below is final; bodies are delivered by the tracker work.
#![allow(dead_code, unused_variables, missing_docs)]

use std::time::Duration;

use serde::Serialize;

use crate::clock::Timestamp;
use crate::config::FailureHandling;
use crate::health::{CircuitState, ErrorCategory, HealthReason, HealthStatus, ProbeOutcome};

/// Thresholds the tracker applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrackerConfig {
    pub unhealthy_threshold: u32,
    pub healthy_threshold: u32,
    pub degraded_threshold: Duration,
}

impl From<&FailureHandling> for TrackerConfig {
    fn from(c: &FailureHandling) -> Self {
        Self {
            unhealthy_threshold: c.unhealthy_threshold,
            healthy_threshold: c.healthy_threshold,
            degraded_threshold: c.degraded_threshold,
        }
    }
}

/// Everything known about one backend's health.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthState {
    pub status: HealthStatus,
    pub reason: HealthReason,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    pub last_check: Option<Timestamp>,
    pub last_transition: Option<Timestamp>,
    pub last_error_category: Option<ErrorCategory>,
    /// Redacted: never holds credentials.
    pub last_error_message: Option<String>,
    pub last_latency: Option<Duration>,
}

/// A change of the published (status, reason).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StatusChange {
    pub from: HealthStatus,
    pub from_reason: HealthReason,
    pub to: HealthStatus,
    pub to_reason: HealthReason,
}

/// The status tracker of one backend.
#[derive(Clone, Debug)]
pub struct HealthTracker {
    config: TrackerConfig,
}

impl HealthTracker {
    /// A tracker in `unknown/pending`.
    pub fn new(config: TrackerConfig) -> Self {
        unimplemented!("tracker work")
    }
    /// Record a probe result. `circuit` is the breaker state after the breaker saw this result.
    pub fn record(
        &mut self,
        outcome: &ProbeOutcome,
        circuit: CircuitState,
        at: Timestamp,
    ) -> Option<StatusChange> {
        unimplemented!("tracker work")
    }
    /// A breaker transition not caused by a probe result (Open→HalfOpen at the deadline, reset).
    pub fn circuit_changed(
        &mut self,
        circuit: CircuitState,
        at: Timestamp,
    ) -> Option<StatusChange> {
        unimplemented!("tracker work")
    }
    pub fn state(&self) -> &HealthState {
        unimplemented!("tracker work")
    }
}
