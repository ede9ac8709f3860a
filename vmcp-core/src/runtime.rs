//! The vMCP health runtime: registry → monitor → reporting loop, wired together.
//!
//! Both the `vmcp` binary (real network) and the simulation (turmoil host) start exactly this,
//! with a different [`Probe`] connector, clock and reporters. Nothing here knows which.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::client::BackendConnector;
use crate::client::McpClient;
use crate::clock::SharedClock;
use crate::config::{ConfigError, FailureHandling, FrontendConfig};
use crate::frontend::{Frontend, FrontendControl};
use crate::health::{HealthMonitor, HealthSnapshot, MonitorObserver, Probe};
use crate::registry::DynamicRegistry;
use crate::status::{Reporter, ReportingConfig, ReportingConfigError, run_reporting_loop};

/// Why a runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The failure-handling settings are invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The reporting intervals are invalid.
    #[error(transparent)]
    Reporting(#[from] ReportingConfigError),
}

/// Everything needed to start a [`VmcpRuntime`].
pub struct RuntimeParts<P: Probe> {
    /// Probing, thresholds, breaker and reporting settings.
    pub config: FailureHandling,
    /// The probe (the HTTP client in production).
    pub probe: Arc<P>,
    /// The backends; edit it to add, remove or change backends while running.
    pub registry: Arc<DynamicRegistry>,
    /// Wall clock for report timestamps.
    pub clock: SharedClock,
    /// Optional observer of every monitor event (the simulation's trace).
    pub observer: Option<Arc<dyn MonitorObserver>>,
    /// Seed for breaker and initial jitter.
    pub rng_seed: u64,
    /// Where reports go.
    pub reporters: Vec<Arc<dyn Reporter>>,
}

/// A running registry + monitor + reporting loop on the current tokio runtime.
pub struct VmcpRuntime {
    registry: Arc<DynamicRegistry>,
    monitor: Arc<HealthMonitor>,
    shutdown: watch::Sender<bool>,
    reporting: JoinHandle<Result<(), ReportingConfigError>>,
    frontend: Option<Arc<dyn FrontendControl>>,
}

impl std::fmt::Debug for VmcpRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmcpRuntime")
            .field("monitor", &self.monitor)
            .finish_non_exhaustive()
    }
}

impl VmcpRuntime {
    /// Start monitoring the registry's backends and reporting their status.
    ///
    /// The config is validated again here ([`FailureHandling::validate`]), so a config built by
    /// hand cannot start a runtime that would spin (zero interval) or overflow its clock.
    pub fn start<P: Probe>(parts: RuntimeParts<P>) -> Result<Self, RuntimeError> {
        parts.config.validate()?;
        let reporting_config = ReportingConfig::from_failure_handling(&parts.config);
        reporting_config.validate()?;
        // The monitor follows the registry itself, so a change applies at its instant.
        let monitor = Arc::new(HealthMonitor::follow(
            parts.config,
            parts.probe,
            Arc::clone(&parts.clock),
            parts.observer,
            parts.rng_seed,
            Arc::clone(&parts.registry),
        ));

        let (shutdown, shutdown_rx) = watch::channel(false);
        let registry = Arc::clone(&parts.registry);
        let loop_monitor = Arc::clone(&monitor);
        let clock = parts.clock;
        let reporters = parts.reporters;
        let reporting = tokio::spawn(async move {
            run_reporting_loop(
                reporting_config,
                &registry,
                &loop_monitor,
                clock.as_ref(),
                &reporters,
                shutdown_rx,
            )
            .await
        });
        Ok(Self {
            registry: parts.registry,
            monitor,
            shutdown,
            reporting,
            frontend: None,
        })
    }

    /// Start the MCP front end (DESIGN §3.6) on this runtime's monitor. `client` must be the
    /// probe the runtime was started with: its probes fill the capability cache the front end
    /// answers from. The caller serves connections with [`Frontend::serve_connection`] or
    /// [`Frontend::handle`]; [`VmcpRuntime::stop`] shuts the front end down first.
    pub fn start_frontend<C: BackendConnector>(
        &mut self,
        config: FrontendConfig,
        client: Arc<McpClient<C>>,
        rng_seed: u64,
    ) -> Result<Arc<Frontend<C>>, ConfigError> {
        let frontend = Frontend::start(config, client, Arc::clone(&self.monitor), rng_seed)?;
        self.frontend = Some(Arc::clone(&frontend) as Arc<dyn FrontendControl>);
        Ok(frontend)
    }

    /// The registry the runtime follows.
    pub fn registry(&self) -> &Arc<DynamicRegistry> {
        &self.registry
    }

    /// The monitor, for snapshots and change notifications.
    pub fn monitor(&self) -> &Arc<HealthMonitor> {
        &self.monitor
    }

    /// Current health of every backend.
    pub fn snapshot(&self) -> HealthSnapshot {
        self.monitor.snapshot()
    }

    /// Stop reporting and probing; waits until no task is left, even if other parts of the
    /// process still hold the monitor.
    pub async fn stop(self) {
        if let Some(frontend) = &self.frontend {
            frontend.shutdown().await;
        }
        let _ = self.shutdown.send(true);
        if let Err(err) = self.reporting.await {
            // A panic in the loop (a bug) must not go unnoticed on shutdown.
            tracing::error!(%err, "the reporting loop ended abnormally");
        }
        self.monitor.stop().await;
    }
}
