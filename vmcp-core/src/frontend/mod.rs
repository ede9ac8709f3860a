//! The front end: vMCP as an MCP Streamable-HTTP server (DESIGN §3.6).
//!
//! `vmcp` presents all its backends as one MCP server. The health engine decides what clients
//! see and where calls may go. [`Frontend`] is the entry point; [`FrontendBody`] its response
//! body; [`View`] and [`Aggregate`] what clients currently see. The parts are private modules:
//!
//! * aggregate: advertising policy and name-conflict resolution (pure).
//! * server: the HTTP/JSON-RPC handling of `/mcp` (POST, GET stream, DELETE), generic over
//!   the request body and the connection I/O, so a turmoil listener can drive it.
//! * routing: a call to its owning backend, or a fast-fail with no backend traffic.
//! * session: client sessions (seeded ids, expiry, LRU cap, streams, calls in flight).
//! * upstream: one backend session per (client session, backend), re-initialized once.
//! * notify: `notifications/*/list_changed` once per change burst, session expiry sweeps.
//! * body: the response body type (whole JSON, or an SSE stream).
//! * raw_reply: a backend's reply read in one pass, its `result` kept as raw JSON for the client.
//! * write_deadline: [`WriteDeadline`], a connection whose stalled writes fail (a client that
//!   stops reading its reply or its GET stream is closed after `write_timeout`).
//!
//! Client `initialize` and `*/list` are answered from the capability cache the probe fills
//! and never wait on a backend.

mod aggregate;
mod body;
mod notify;
mod raw_reply;
mod routing;
mod server;
mod session;
mod upstream;
mod write_deadline;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::client::BackendConnector;
use crate::client::McpClient;
use crate::client::catalog::CatalogCache;
use crate::config::{ConfigError, FrontendConfig};
use crate::frontend::session::SessionStore;
use crate::health::{GateRefusal, HealthMonitor, HealthSnapshot};

pub use aggregate::{Aggregate, Dropped, Entry, Kind, Offer, advertises, aggregate};
pub use body::FrontendBody;
pub use write_deadline::WriteDeadline;

/// The path clients connect to.
pub const MCP_PATH: &str = "/mcp";

/// What clients currently see, and the full routing table for fast-fail naming.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// Items of advertised backends only.
    pub advertised: Aggregate,
    /// Items of every backend with a cached catalog (hidden ones included), so a call to a
    /// hidden backend's tool can name the backend instead of "unknown tool".
    pub all: Aggregate,
    /// Advertised backends, by name.
    pub advertised_backends: Vec<String>,
    /// Configured backends.
    pub configured_backends: usize,
}

/// What the front end reports to an observer (the simulation's trace, the metrics), as it
/// happens. Every backend named here is a configured one (a bounded label set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrontendEvent {
    /// A call passed the call gate and the bulkhead: it is being sent to `backend`.
    CallForwarded {
        /// The owning backend.
        backend: String,
    },
    /// A forwarded call ended (an answer, an error, `call_timeout` or a cancellation).
    CallEnded {
        /// The owning backend.
        backend: String,
        /// From being forwarded to its end.
        elapsed: Duration,
        /// How it ended.
        result: CallResult,
    },
    /// A call was refused before any traffic to its backend (a fast-fail).
    CallRefused {
        /// The owning backend.
        backend: String,
        /// Which rule refused it.
        refusal: CallRefusal,
    },
    /// A backend session of a client session was set up (`initialize` answered).
    BackendSessionInitialized {
        /// The backend.
        backend: String,
        /// Whether it replaced a session the backend forgot (404, or 400 for an unknown
        /// session id); false for a first one.
        reinitialized: bool,
    },
    /// `notifications/{kind}/list_changed` was queued on the open GET streams.
    ListChanged {
        /// The list that changed.
        kind: Kind,
        /// Streams that got it.
        delivered: usize,
        /// Streams whose buffer was full (a client that does not read): dropped there.
        dropped: usize,
    },
}

/// How a forwarded call ended, as the front end classifies it. A bounded set: these are the
/// `outcome` label values of `vmcp_calls_total` ([`CallResult::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallResult {
    /// A result (for `tools/call`: `isError` absent or false).
    Ok,
    /// A `tools/call` result with `isError: true`: the tool ran and reported a failure.
    ToolError,
    /// The backend answered with a JSON-RPC error.
    RpcError,
    /// The exchange failed (connection, HTTP status, unreadable reply); the client got a
    /// refusal naming the backend.
    BackendError,
    /// `call_timeout` elapsed.
    Timeout,
    /// The client cancelled it (`notifications/cancelled`, or its session ended).
    Cancelled,
    /// The client went away (its request was dropped) before the call ended.
    Abandoned,
}

impl CallResult {
    /// Every value, in the order documented.
    pub const ALL: [CallResult; 7] = [
        CallResult::Ok,
        CallResult::ToolError,
        CallResult::RpcError,
        CallResult::BackendError,
        CallResult::Timeout,
        CallResult::Cancelled,
        CallResult::Abandoned,
    ];

    /// The metric label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            CallResult::Ok => "ok",
            CallResult::ToolError => "tool_error",
            CallResult::RpcError => "rpc_error",
            CallResult::BackendError => "backend_error",
            CallResult::Timeout => "timeout",
            CallResult::Cancelled => "cancelled",
            CallResult::Abandoned => "abandoned",
        }
    }
}

/// Why a call was refused with no backend traffic (DESIGN §3.6 "Fast-fail"). The `outcome`
/// label values `fast_fail_*` of `vmcp_calls_total` ([`CallRefusal::as_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallRefusal {
    /// The monitor's call gate refused it (hidden, circuit open, half-open budget used, or the
    /// backend is no longer configured).
    Gate(GateRefusal),
    /// The backend already had `max_concurrent_calls` calls in flight.
    Bulkhead,
    /// No request could be built for the backend (its URL or credentials are unusable).
    InvalidTarget,
}

impl CallRefusal {
    /// Every value, in the order documented.
    pub const ALL: [CallRefusal; 6] = [
        CallRefusal::Gate(GateRefusal::Hidden),
        CallRefusal::Gate(GateRefusal::CircuitOpen),
        CallRefusal::Gate(GateRefusal::HalfOpenBudget),
        CallRefusal::Gate(GateRefusal::Unknown),
        CallRefusal::Bulkhead,
        CallRefusal::InvalidTarget,
    ];

    /// The metric label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            CallRefusal::Gate(GateRefusal::Hidden) => "fast_fail_hidden",
            CallRefusal::Gate(GateRefusal::CircuitOpen) => "fast_fail_circuit_open",
            CallRefusal::Gate(GateRefusal::HalfOpenBudget) => "fast_fail_half_open_budget",
            CallRefusal::Gate(GateRefusal::Unknown) => "fast_fail_not_configured",
            CallRefusal::Bulkhead => "fast_fail_bulkhead",
            CallRefusal::InvalidTarget => "fast_fail_invalid_target",
        }
    }
}

/// Receives front-end events synchronously, in the order they happen.
pub trait FrontendObserver: Send + Sync {
    /// Called for every event, outside any front-end lock.
    fn on_frontend_event(&self, event: &FrontendEvent);
}

/// The running front end. Share it as `Arc<Frontend<C>>`.
pub struct Frontend<C> {
    config: FrontendConfig,
    client: Arc<McpClient<C>>,
    monitor: Arc<HealthMonitor>,
    catalog: CatalogCache,
    sessions: SessionStore<C>,
    bulkheads: Mutex<BTreeMap<String, Arc<Semaphore>>>,
    max_body_bytes: u64,
    notifier: Mutex<Option<JoinHandle<()>>>,
    /// Version counters of the health snapshot and of the capability cache: the view depends
    /// on nothing else, so it is recomputed only when one of them moved.
    health_version: watch::Receiver<u64>,
    catalog_version: watch::Receiver<u64>,
    view_cache: Mutex<Option<CachedView>>,
    observer: OnceLock<Arc<dyn FrontendObserver>>,
}

/// The view computed at a pair of (health, catalog) versions.
struct CachedView {
    health: u64,
    catalog: u64,
    view: Arc<View>,
}

impl<C> std::fmt::Debug for Frontend<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontend")
            .field("config", &self.config)
            .field("sessions", &self.sessions)
            .finish_non_exhaustive()
    }
}

impl<C: BackendConnector> Frontend<C> {
    /// Start the front end over `client` (the same client the monitor probes with: its probes
    /// fill the capability cache, which this turns on) and `monitor`. Spawns the notification
    /// task on the current runtime. Session ids come from `rng_seed`.
    pub fn start(
        config: FrontendConfig,
        client: Arc<McpClient<C>>,
        monitor: Arc<HealthMonitor>,
        rng_seed: u64,
    ) -> Result<Arc<Self>, ConfigError> {
        let names: Vec<String> = monitor.snapshot().keys().cloned().collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        config.validate(&names)?;
        client.set_list_catalog(true);
        let catalog = client.catalog();
        let monitor_changes = monitor.changes();
        let catalog_version = catalog.changes();
        let max_body_bytes = client.settings().max_body_bytes;
        let frontend = Arc::new(Self {
            sessions: SessionStore::new(
                rng_seed,
                config.server.session_idle_timeout,
                config.server.max_sessions,
            ),
            config,
            client,
            monitor,
            catalog,
            bulkheads: Mutex::new(BTreeMap::new()),
            max_body_bytes,
            notifier: Mutex::new(None),
            health_version: monitor_changes,
            catalog_version,
            view_cache: Mutex::new(None),
            observer: OnceLock::new(),
        });
        let task = tokio::spawn(notify::run(Arc::downgrade(&frontend)));
        *frontend.notifier.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
        Ok(frontend)
    }

    /// Stop the notification task and end every client session (backend sessions are closed
    /// best effort, bounded).
    pub async fn shutdown(&self) {
        let task = self
            .notifier
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        routing::close_all(self.sessions.clear()).await;
    }

    /// Report every [`FrontendEvent`] to `observer` from now on (the first observer set stays;
    /// set it before serving connections). Returns whether it was set.
    pub fn observe(&self, observer: Arc<dyn FrontendObserver>) -> bool {
        self.observer.set(observer).is_ok()
    }

    /// Report the event `make` builds, built only when an observer listens (the event owns
    /// strings: no allocation per call in a deployment without an observer).
    fn emit(&self, make: impl FnOnce() -> FrontendEvent) {
        if let Some(observer) = self.observer.get() {
            observer.on_frontend_event(&make());
        }
    }

    /// Whether an observer listens (so work done only to describe an event can be skipped).
    fn observed(&self) -> bool {
        self.observer.get().is_some()
    }

    /// The observer, for the backend sessions (they report their own initializations).
    fn observer(&self) -> Option<Arc<dyn FrontendObserver>> {
        self.observer.get().cloned()
    }

    /// The settings in force.
    pub fn config(&self) -> &FrontendConfig {
        &self.config
    }

    /// Open client sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Open GET streams, over all client sessions.
    pub fn stream_count(&self) -> usize {
        self.sessions.stream_count()
    }

    /// What clients see now, from the health snapshot and the capability cache.
    ///
    /// Computed once per change of either (both bump a version counter on every change that
    /// can alter the view) and shared: every call and list of a client reads it, and merging
    /// the catalogs of all backends per request would cost O(items) on the hot path.
    pub fn view(&self) -> Arc<View> {
        // Versions first: a change landing after this read bumps them again, so a view
        // computed from newer state than the versions say is recomputed on the next read.
        let health = *self.health_version.borrow();
        let catalog = *self.catalog_version.borrow();
        {
            let cache = crate::sync::lock(&self.view_cache);
            if let Some(cached) = cache.as_ref() {
                if cached.health == health && cached.catalog == catalog {
                    return Arc::clone(&cached.view);
                }
            }
        }
        let view = Arc::new(compute_view(
            &self.monitor.snapshot(),
            &self.catalog,
            &self.config,
        ));
        *crate::sync::lock(&self.view_cache) = Some(CachedView {
            health,
            catalog,
            view: Arc::clone(&view),
        });
        view
    }

    fn bulkhead(&self, backend: &str) -> Arc<Semaphore> {
        let mut bulkheads = self.bulkheads.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bulkhead) = bulkheads.get(backend) {
            // The common case: no key allocated per call.
            return Arc::clone(bulkhead);
        }
        let permits = usize::try_from(self.config.server.max_concurrent_calls).unwrap_or(1);
        Arc::clone(
            bulkheads
                .entry(backend.to_owned())
                .or_insert_with(|| Arc::new(Semaphore::new(permits))),
        )
    }
}

/// A boxed shutdown future.
pub type ShutdownFuture<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Stopping a front end without knowing its connector type (the runtime holds it this way).
pub trait FrontendControl: Send + Sync {
    /// See [`Frontend::shutdown`].
    fn shutdown(&self) -> ShutdownFuture<'_>;
}

impl<C: BackendConnector> FrontendControl for Frontend<C> {
    fn shutdown(&self) -> ShutdownFuture<'_> {
        Box::pin(Frontend::shutdown(self))
    }
}

/// The view for a health snapshot and a catalog cache (entries filled from another endpoint
/// than the backend's current one are ignored).
pub(crate) fn compute_view(
    snapshot: &HealthSnapshot,
    catalog: &CatalogCache,
    config: &FrontendConfig,
) -> View {
    let catalogs = catalog.snapshot();
    let mut visible = Vec::new();
    let mut every = Vec::new();
    let mut advertised_backends = Vec::new();
    for (name, health) in snapshot {
        let Some(entry) = catalogs.get(name).filter(|e| e.url == health.backend.url) else {
            continue;
        };
        let offer = Offer {
            backend: name,
            catalog: &entry.catalog,
        };
        if advertises(health.health.status) {
            visible.push(offer.clone());
            advertised_backends.push(name.clone());
        }
        every.push(offer);
    }
    View {
        advertised: aggregate(&visible, &config.aggregation),
        all: aggregate(&every, &config.aggregation),
        advertised_backends,
        configured_backends: snapshot.len(),
    }
}
