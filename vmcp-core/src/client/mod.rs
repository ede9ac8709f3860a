//! The MCP Streamable-HTTP backend client: health probes over hyper, generic over the connector
//! (DESIGN §3.1, §3.3 "Probe", "Pool policies").
//!
//! * [`McpClient`] runs probes and implements [`Probe`] for the monitor; [`ClientSettings`] is
//!   what it takes from the configuration, [`ProbeReport`] a probe's detailed result.
//! * The connector seam: [`BackendConnector`], [`ConnectTimeout`], and the per-backend
//!   [`ConnectionCounters`] kept by the [`CountingConnector`] wrapper.
//! * [`SseParser`]: the bounded `text/event-stream` parser; [`Target`]: backend validation and
//!   credential headers.
//! * [`SessionSummary`]: what a probe's session learned, with the backend's [`Catalog`].
//! * The production connector: [`production_connector`] → [`ProductionConnector`] (with the
//!   `tls` feature, [`HttpsConnector`]: rustls through hyper-rustls for `https://` backends).
//!
//! Private parts: `catalog` (the capability cache the probe fills for the front end), `pool`
//! (the pool policies `per_backend`, `per_probe`, `shared`), `session` (one MCP session,
//! `initialize` … `DELETE`), `tls` (feature `tls`: the rustls configuration and the TLS error
//! classification) and `transport` (typed classification of hyper/I/O/TLS errors).

pub(crate) mod catalog;
pub(crate) mod connector;
mod pool;
pub(crate) mod session;
mod sse;
pub(crate) mod target;
#[cfg(feature = "tls")]
mod tls;
pub(crate) mod transport;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::Instant;

use crate::config::{FailureHandling, PoolPolicy};
use crate::error::{BackendError, ProbeStep};
use crate::health::Probe;
use crate::health::ProbeOutcome;
use crate::registry::Backend;

pub use catalog::Catalog;
pub use connector::{
    BackendConnector, ConnectTimeout, ConnectionCounters, ConnectionStats, CountingConnector,
    UNATTRIBUTED,
};
pub use session::SessionSummary;
pub use sse::{SseError, SseEvent, SseParser};
pub use target::Target;
#[cfg(feature = "tls")]
pub use tls::{HttpsConnector, TlsSetupError};

/// Upper bound for the best-effort `DELETE` that ends a probe's session. It also never runs past
/// the probe deadline.
pub const DEFAULT_DELETE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the client needs from the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSettings {
    /// Deadline of one whole probe (the session, including a re-initialize).
    pub health_check_timeout: Duration,
    /// Deadline of one TCP connect.
    pub connect_timeout: Duration,
    /// Largest accepted response body or SSE event.
    pub max_body_bytes: u64,
    /// Pooling policy.
    pub pool: PoolPolicy,
    /// Upper bound of the best-effort session `DELETE`.
    pub delete_timeout: Duration,
}

impl ClientSettings {
    /// The client settings of a `failure_handling` block.
    pub fn from_config(config: &FailureHandling) -> Self {
        Self {
            health_check_timeout: config.health_check_timeout,
            connect_timeout: config.connect_timeout,
            max_body_bytes: config.max_body_bytes,
            pool: config.pool,
            delete_timeout: DEFAULT_DELETE_TIMEOUT,
        }
    }
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self::from_config(&FailureHandling::default())
    }
}

/// A successful probe, in detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeSuccess {
    /// What the session learned.
    pub session: SessionSummary,
    /// Whether the first session hit a 404 on its session id and the probe re-initialized.
    pub reinitialized: bool,
}

/// A probe's detailed result: typed, for tests, the simulation trace and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeReport {
    /// Time from the first byte sent to the end of `tools/list`/`ping` (the `DELETE` excluded),
    /// measured with `tokio::time` (virtual under a simulation).
    pub latency: Duration,
    /// The session's outcome.
    pub result: Result<ProbeSuccess, BackendError>,
}

/// The MCP backend client.
///
/// `C` is the connector: `HttpConnector` in production ([`McpClient::http`]), a turmoil
/// connector in the simulation ([`McpClient::new`]). Holds one pool per backend, per probe or
/// one shared pool, as configured, and counts the connections each backend caused.
pub struct McpClient<C> {
    settings: ClientSettings,
    pools: pool::PoolManager<C>,
    counters: ConnectionCounters,
    /// Filled by successful probes while `list_catalog` is on (the front end turns it on).
    catalog: catalog::CatalogCache,
    list_catalog: AtomicBool,
}

impl McpClient<HttpConnector> {
    /// The plain-HTTP client: TCP (`http://` only, no TLS) through hyper-util's
    /// `HttpConnector` with `TCP_NODELAY`. `connect_timeout` is enforced by the counting wrapper
    /// (not by `HttpConnector`, so a connect timeout is always classified the same way whatever
    /// the connector).
    pub fn http(config: &FailureHandling) -> Self {
        Self::new(plain_connector(), config)
    }
}

/// hyper-util's `HttpConnector` with `TCP_NODELAY`: the plain-HTTP production connector.
fn plain_connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector
}

/// The connector the `vmcp` binary uses: with the `tls` feature, hyper-rustls over
/// `HttpConnector` (`https://` and `http://`); without it, the plain `HttpConnector`.
#[cfg(feature = "tls")]
pub type ProductionConnector = HttpsConnector;

/// The connector the `vmcp` binary uses: with the `tls` feature, hyper-rustls over
/// `HttpConnector` (`https://` and `http://`); without it, the plain `HttpConnector`.
#[cfg(not(feature = "tls"))]
pub type ProductionConnector = HttpConnector;

/// Why the production connector could not be built.
#[cfg(feature = "tls")]
pub type ConnectorSetupError = TlsSetupError;

/// Why the production connector could not be built (never, without the `tls` feature).
#[cfg(not(feature = "tls"))]
pub type ConnectorSetupError = std::convert::Infallible;

/// The production connector for `tls`. With the `tls` feature this reads the platform trust
/// store when no CA file is configured (file I/O): call it at start-up, before or outside the
/// runtime that probes.
#[cfg(feature = "tls")]
pub fn production_connector(
    tls: &crate::config::TlsSettings,
) -> Result<ProductionConnector, ConnectorSetupError> {
    Ok(tls::https_connector(tls::client_config(tls)?))
}

/// The production connector (plain HTTP: this build has no `tls` feature, and the config loader
/// refuses `https://` backends and `operational.tls.ca_file`).
#[cfg(not(feature = "tls"))]
pub fn production_connector(
    _tls: &crate::config::TlsSettings,
) -> Result<ProductionConnector, ConnectorSetupError> {
    Ok(plain_connector())
}

impl<C: BackendConnector> McpClient<C> {
    /// A client over `connector` with the settings of `config`.
    pub fn new(connector: C, config: &FailureHandling) -> Self {
        Self::with_settings(connector, ClientSettings::from_config(config))
    }

    /// A client over `connector` with explicit settings.
    pub fn with_settings(connector: C, settings: ClientSettings) -> Self {
        let counters = ConnectionCounters::default();
        let pools = pool::PoolManager::new(
            settings.pool,
            connector,
            counters.clone(),
            settings.connect_timeout,
        );
        Self {
            settings,
            pools,
            counters,
            catalog: catalog::CatalogCache::default(),
            list_catalog: AtomicBool::new(false),
        }
    }

    /// The capability cache the probes fill (shared handle).
    pub(crate) fn catalog(&self) -> catalog::CatalogCache {
        self.catalog.clone()
    }

    /// Make every probe list all pages of tools, resources and prompts into [`Self::catalog`]
    /// (the front end does this when it starts). Off by default: without a front end the probe
    /// stays the minimal session of DESIGN §3.3.
    pub fn set_list_catalog(&self, list: bool) {
        self.list_catalog.store(list, Ordering::Relaxed);
    }

    /// A client from `backend`'s pool, under the same pool policy as probes (the front end's
    /// backend sessions use it). Give it back with [`Self::lease_failed`] after a
    /// connection-level failure.
    pub(crate) fn lease(&self, backend: &str) -> pool::Lease<C> {
        self.pools.lease(backend)
    }

    /// A request with `lease` failed at the connection level: flush the pool as after a
    /// failed probe (`per_backend` only).
    pub(crate) fn lease_failed(&self, backend: &str, lease: pool::Lease<C>) {
        self.pools.probe_failed(backend, lease);
    }

    /// The settings in force.
    pub fn settings(&self) -> &ClientSettings {
        &self.settings
    }

    /// A handle on the connection counters; it stays valid after the client moved elsewhere.
    pub fn counters(&self) -> ConnectionCounters {
        self.counters.clone()
    }

    /// New connections opened on behalf of `backend` so far.
    pub fn connections_opened(&self, backend: &str) -> u64 {
        self.counters.opened(backend)
    }

    /// New connections opened for all backends.
    pub fn total_connections_opened(&self) -> u64 {
        self.counters.total_opened()
    }

    /// Drop the pool held for `backend` (`per_backend` only; the shared pool is never flushed).
    pub fn flush(&self, backend: &str) {
        self.pools.flush(backend);
    }

    /// Probe `backend` once and classify the outcome for the tracker.
    pub async fn probe_backend(&self, backend: &Backend) -> ProbeOutcome {
        let report = self.probe_detailed(backend).await;
        match &report.result {
            Ok(success) => {
                if let Some(catalog) = &success.session.catalog {
                    self.catalog
                        .update(&backend.name, &backend.url, catalog.clone());
                }
                ProbeOutcome::success(report.latency)
            }
            Err(err) => {
                let secrets = backend.secrets();
                ProbeOutcome::failure(report.latency, err.to_probe_failure_scrubbed(&secrets))
            }
        }
    }

    /// Probe `backend` once (one MCP session, re-initialized once on a 404 for its session id)
    /// under `health_check_timeout`, then end the session with a bounded best-effort `DELETE`.
    pub async fn probe_detailed(&self, backend: &Backend) -> ProbeReport {
        let start = crate::clock::monotonic_now();
        let deadline = start + self.settings.health_check_timeout;
        let target = match Target::new(backend) {
            Ok(target) => target,
            Err(err) => {
                return ProbeReport {
                    latency: start.elapsed(),
                    result: Err(err),
                };
            }
        };
        let name: Arc<str> = Arc::from(backend.name.as_str());
        let lease = self.pools.lease(&backend.name);

        let list_catalog = self.list_catalog.load(Ordering::Relaxed);
        let (result, latency) = connector::attribute_to(name, async {
            let mut step = ProbeStep::Initialize;
            let mut session =
                session::Session::new(&lease.client, &target, self.settings.max_body_bytes)
                    .with_catalog(list_catalog);
            let timed = tokio::time::timeout_at(
                deadline,
                run_with_reinitialize(
                    &mut session,
                    &mut step,
                    &lease.client,
                    &target,
                    &self.settings,
                    list_catalog,
                ),
            )
            .await;
            let latency = start.elapsed();
            let result = match timed {
                Ok((result, mut second_session)) => {
                    if should_end_session(&result) {
                        let last = second_session.as_mut().unwrap_or(&mut session);
                        self.end_session(last, deadline).await;
                    }
                    result
                }
                Err(_elapsed) => Err(BackendError::Timeout {
                    step,
                    after: self.settings.health_check_timeout,
                }),
            };
            (result, latency)
        })
        .await;

        if result.is_err() {
            self.pools.probe_failed(&backend.name, lease);
        }
        ProbeReport { latency, result }
    }

    /// Best-effort `DELETE` of the session, bounded by `delete_timeout` and the probe deadline.
    async fn end_session(&self, session: &mut session::Session<'_, C>, deadline: Instant) {
        if !session.has_session_id() {
            return;
        }
        let bound = deadline.min(crate::clock::monotonic_now() + self.settings.delete_timeout);
        // Errors and timeouts are irrelevant here: the probe's outcome is already decided.
        let _ = tokio::time::timeout_at(bound, session.delete()).await;
    }
}

/// Whether to `DELETE` the session after this result: after a success, or after a failure the
/// server answered at the HTTP level (so it is up and holds our session). Never after connection
/// failures or a terminated session: that would only open new connections to a failing backend
/// and distort its connection count.
fn should_end_session(result: &Result<ProbeSuccess, BackendError>) -> bool {
    match result {
        Ok(_) => true,
        Err(err) => matches!(
            err,
            BackendError::AuthenticationFailed { .. }
                | BackendError::AuthorizationFailed { .. }
                | BackendError::Rejected { .. }
                | BackendError::Protocol { .. }
                | BackendError::Rpc { .. }
        ),
    }
}

/// Run a session; on `SessionTerminated` (404 for our session id) run one fresh session. Returns
/// the result and, when a second session was started, that session (for the `DELETE`).
async fn run_with_reinitialize<'a, C: BackendConnector>(
    first: &mut session::Session<'a, C>,
    step: &mut ProbeStep,
    client: &'a pool::HttpClient<C>,
    target: &'a Target,
    settings: &ClientSettings,
    list_catalog: bool,
) -> (
    Result<ProbeSuccess, BackendError>,
    Option<session::Session<'a, C>>,
) {
    match first.run(step).await {
        Ok(summary) => (
            Ok(ProbeSuccess {
                session: summary,
                reinitialized: false,
            }),
            None,
        ),
        Err(BackendError::SessionTerminated { .. }) => {
            let mut second = session::Session::new(client, target, settings.max_body_bytes)
                .with_catalog(list_catalog);
            let result = second.run(step).await.map(|summary| ProbeSuccess {
                session: summary,
                reinitialized: true,
            });
            (result, Some(second))
        }
        Err(err) => (Err(err), None),
    }
}

/// The raw credential values of `backend`, to scrub from messages.
impl<C: BackendConnector> Probe for McpClient<C> {
    fn probe(&self, backend: &Backend) -> impl Future<Output = ProbeOutcome> + Send {
        self.probe_backend(backend)
    }

    fn endpoint_changed(&self, backend: &Backend) {
        self.pools.flush(&backend.name);
        self.catalog.remove(&backend.name);
    }

    fn backend_removed(&self, name: &str) {
        self.pools.flush(name);
        self.catalog.remove(name);
    }

    fn probe_abandoned(&self, backend: &Backend) {
        // A cut probe is a failed probe: its connection may be the problem.
        self.pools.flush(&backend.name);
    }
}

impl<C> fmt::Debug for McpClient<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpClient")
            .field("settings", &self.settings)
            .field("pools", &self.pools)
            .field("connections", &self.counters)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UnavailableCause;

    /// The session is ended after a success or an HTTP-level answer (the server is up and holds
    /// it), never after connection failures, timeouts or a terminated session.
    #[test]
    fn sessions_are_deleted_only_where_the_server_answered() {
        use BackendError as E;
        let step = ProbeStep::ListTools;
        let ok: Result<ProbeSuccess, BackendError> = Ok(ProbeSuccess {
            session: SessionSummary {
                protocol_version: "2025-06-18".into(),
                had_session_id: true,
                tools: Some(1),
                catalog: None,
            },
            reinitialized: false,
        });
        assert!(should_end_session(&ok));
        let cases = [
            (E::AuthenticationFailed { step }, true),
            (E::AuthorizationFailed { step }, true),
            (E::Rejected { step, status: 400 }, true),
            (E::protocol(step, "bad"), true),
            (
                E::Rpc {
                    step,
                    code: -1,
                    message: "no".into(),
                },
                true,
            ),
            (E::SessionTerminated { step }, false),
            (
                E::Unavailable {
                    step,
                    cause: UnavailableCause::ConnectionRefused,
                },
                false,
            ),
            (
                E::Unavailable {
                    step,
                    cause: UnavailableCause::ServerError(503),
                },
                false,
            ),
            (
                E::Timeout {
                    step,
                    after: Duration::from_secs(1),
                },
                false,
            ),
            (E::BodyTooLarge { step, limit: 1 }, false),
            (E::Cancelled, false),
            (E::InvalidEndpoint { detail: "x".into() }, false),
        ];
        for (err, end) in cases {
            assert_eq!(should_end_session(&Err(err.clone())), end, "{err:?}");
        }
    }

    /// A keep-alive HTTP/1.1 server on a local port that answers every request `200 ok`.
    async fn keep_alive_server() -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let service = hyper::service::service_fn(|_request| async {
                    Ok::<_, std::convert::Infallible>(http::Response::new(
                        http_body_util::Full::new(bytes::Bytes::from_static(b"ok")),
                    ))
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        addr
    }

    /// A request with a lease's client, attributed to `backend`, its body read to the end.
    async fn get_with<C: BackendConnector>(lease: &pool::Lease<C>, backend: &str, url: &str) {
        use http_body_util::BodyExt;
        let request = http::Request::get(url)
            .body(http_body_util::Full::default())
            .unwrap();
        let response = connector::attribute_to(Arc::from(backend), lease.client.request(request))
            .await
            .expect("a response");
        response.into_body().collect().await.expect("the body");
    }

    /// A client with the `per_backend` pool policy.
    fn per_backend_client() -> McpClient<HttpConnector> {
        let settings = ClientSettings {
            pool: PoolPolicy::PerBackend,
            ..ClientSettings::default()
        };
        McpClient::with_settings(HttpConnector::new(), settings)
    }

    /// A `per_backend` client and the `/mcp` URL of a fresh local keep-alive server.
    async fn per_backend_client_of_a_keep_alive_server() -> (McpClient<HttpConnector>, String) {
        let addr = keep_alive_server().await;
        (per_backend_client(), format!("http://{addr}/mcp"))
    }

    /// Leases of one backend share its keep-alive pool (`per_backend`); after `lease_failed` the
    /// next lease opens a fresh connection, as after a failed probe.
    #[tokio::test]
    async fn a_failed_lease_flushes_its_backends_pool() {
        let (client, url) = per_backend_client_of_a_keep_alive_server().await;
        let lease = client.lease("a");
        get_with(&lease, "a", &url).await;
        drop(lease);
        let lease = client.lease("a");
        get_with(&lease, "a", &url).await;
        assert_eq!(
            client.connections_opened("a"),
            1,
            "the pooled connection is reused"
        );
        client.lease_failed("a", lease);
        let lease = client.lease("a");
        get_with(&lease, "a", &url).await;
        assert_eq!(
            client.connections_opened("a"),
            2,
            "a fresh pool, a new connection"
        );
    }

    /// The settings are those of the `failure_handling` block, and the client keeps them.
    #[test]
    fn settings_come_from_the_failure_handling_block() {
        let config = FailureHandling {
            health_check_timeout: Duration::from_secs(7),
            connect_timeout: Duration::from_millis(1500),
            max_body_bytes: 12_345,
            pool: PoolPolicy::PerProbe,
            ..FailureHandling::default()
        };
        let settings = ClientSettings::from_config(&config);
        assert_eq!(
            settings,
            ClientSettings {
                health_check_timeout: Duration::from_secs(7),
                connect_timeout: Duration::from_millis(1500),
                max_body_bytes: 12_345,
                pool: PoolPolicy::PerProbe,
                delete_timeout: DEFAULT_DELETE_TIMEOUT,
            }
        );
        assert_eq!(McpClient::http(&config).settings(), &settings);
    }

    /// A CA bundle rustls refuses fails the production connector (it is not silently replaced
    /// by a default one).
    #[cfg(feature = "tls")]
    #[test]
    fn the_production_connector_refuses_a_bad_ca_bundle() {
        let settings = crate::config::TlsSettings {
            ca: Some(crate::config::CaBundle {
                path: "/etc/ca.pem".into(),
                certificates: vec![vec![0x30, 0x03, 0x01, 0x02, 0x03]],
            }),
        };
        assert!(matches!(
            production_connector(&settings),
            Err(TlsSetupError::BadCaCertificate { index: 1, .. })
        ));
        assert!(production_connector(&crate::config::TlsSettings::default()).is_ok());
    }

    /// A minimal MCP server over real HTTP/1.1 on a local port (tools, a session id, one tool;
    /// `DELETE` answered 200); records the method of every request (`DELETE` as "DELETE").
    async fn mcp_server() -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
        mcp_server_with(false).await
    }

    /// As [`mcp_server`], with session ids `s-1`, `s-2`, ... (one per `initialize`; logged as
    /// `METHOD@ID`, `DELETE@ID`) and, when `expire_first`, a 404 to the first session's
    /// `tools/list` (the server forgot it).
    async fn mcp_server_with(
        expire_first: bool,
    ) -> (std::net::SocketAddr, Arc<std::sync::Mutex<Vec<String>>>) {
        use http_body_util::BodyExt;
        use std::sync::atomic::AtomicU64;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sessions = Arc::new(AtomicU64::new(0));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let log = Arc::clone(&log);
                let sessions = Arc::clone(&sessions);
                let service = hyper::service::service_fn(
                    move |request: http::Request<hyper::body::Incoming>| {
                        let log = Arc::clone(&log);
                        let sessions = Arc::clone(&sessions);
                        async move {
                            let delete = request.method() == http::Method::DELETE;
                            let sid = request
                                .headers()
                                .get("mcp-session-id")
                                .map(|v| v.to_str().unwrap().to_owned())
                                .unwrap_or_default();
                            let bytes = request.into_body().collect().await.unwrap().to_bytes();
                            let body: serde_json::Value =
                                serde_json::from_slice(&bytes).unwrap_or_default();
                            let method = if delete {
                                "DELETE".to_owned()
                            } else {
                                body["method"].as_str().unwrap_or_default().to_owned()
                            };
                            let mut new_sid = sid.clone();
                            let result = match method.as_str() {
                                "initialize" => {
                                    let n = sessions.fetch_add(1, Ordering::SeqCst) + 1;
                                    new_sid = format!("s-{n}");
                                    Some(serde_json::json!({
                                        "protocolVersion": "2025-06-18",
                                        "capabilities": {"tools": {}},
                                        "serverInfo": {"name": "t", "version": "1"}
                                    }))
                                }
                                "tools/list" => Some(serde_json::json!({
                                    "tools": [{"name": "echo", "inputSchema": {"type": "object"}}]
                                })),
                                _ => None,
                            };
                            crate::sync::lock(&log).push(if expire_first {
                                format!("{method}@{sid}")
                            } else {
                                method.clone()
                            });
                            let forgotten = expire_first && method == "tools/list" && sid == "s-1";
                            let response = match result {
                                _ if forgotten => http::Response::builder()
                                    .status(404)
                                    .body(http_body_util::Full::default()),
                                Some(result) => http::Response::builder()
                                    .header("content-type", "application/json")
                                    .header("mcp-session-id", new_sid)
                                    .body(http_body_util::Full::new(bytes::Bytes::from(
                                        serde_json::json!({
                                            "jsonrpc": "2.0", "id": body["id"], "result": result
                                        })
                                        .to_string(),
                                    ))),
                                None => http::Response::builder()
                                    .status(if delete { 200 } else { 202 })
                                    .body(http_body_util::Full::default()),
                            };
                            Ok::<_, std::convert::Infallible>(response.unwrap())
                        }
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        (addr, seen)
    }

    /// A probe runs one session and ends it with a `DELETE` before it returns; with the catalog
    /// on it fills the client's cache; connections are counted per backend through the
    /// client's handles; `per_backend` reuses the connection until `flush`.
    #[tokio::test]
    async fn a_probe_runs_one_session_fills_the_catalog_and_counts_its_connection() {
        let (addr, seen) = mcp_server().await;
        let client = per_backend_client();
        client.set_list_catalog(true);
        let backend = Backend::new("a", format!("http://{addr}/mcp"));
        let outcome = client.probe_backend(&backend).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(
            *crate::sync::lock(&seen),
            [
                "initialize",
                "notifications/initialized",
                "tools/list",
                "DELETE"
            ]
        );
        let cached = client.catalog().snapshot();
        let entry = cached.get("a").expect("the probe filled the catalog");
        assert_eq!(entry.url, backend.url);
        assert_eq!(entry.catalog.tools.as_ref().map(Vec::len), Some(1));
        let counters = client.counters();
        assert_eq!(counters.opened("a"), 1);
        assert_eq!(client.connections_opened("a"), 1);
        assert!(client.probe_backend(&backend).await.is_success());
        assert_eq!(client.total_connections_opened(), 1, "the pool is reused");
        client.flush("a");
        assert!(client.probe_backend(&backend).await.is_success());
        assert_eq!(
            client.connections_opened("a"),
            2,
            "flushed: a new connection"
        );
        assert_eq!(client.total_connections_opened(), 2);
        assert_eq!(counters.opened("a"), 2, "the handle stays valid");
        assert_eq!(client.connections_opened("b"), 0);
    }

    /// A 404 to the session id means the server forgot the session: the probe runs one fresh
    /// session, succeeds as re-initialized, and deletes the second session (the first is gone).
    #[tokio::test]
    async fn a_forgotten_session_is_initialized_once_more_and_the_new_one_deleted() {
        let (addr, seen) = mcp_server_with(true).await;
        let client = McpClient::with_settings(HttpConnector::new(), ClientSettings::default());
        let report = client
            .probe_detailed(&Backend::new("a", format!("http://{addr}/mcp")))
            .await;
        let success = report.result.expect("the second session succeeds");
        assert!(success.reinitialized);
        assert_eq!(success.session.tools, Some(1));
        assert_eq!(
            *crate::sync::lock(&seen),
            [
                "initialize@",
                "notifications/initialized@s-1",
                "tools/list@s-1",
                "initialize@",
                "notifications/initialized@s-2",
                "tools/list@s-2",
                "DELETE@s-2",
            ]
        );
    }

    /// The probe hooks: a new endpoint or a removed backend drops its pool and its cached
    /// catalog; an abandoned probe drops the pool only.
    #[tokio::test]
    async fn the_probe_hooks_flush_pools_and_forget_catalogs() {
        let (addr, _) = mcp_server().await;
        let client = per_backend_client();
        client.set_list_catalog(true);
        let backend = Backend::new("a", format!("http://{addr}/mcp"));
        let probe = |expected: u64| {
            let client = &client;
            let backend = &backend;
            async move {
                assert!(client.probe_backend(backend).await.is_success());
                assert_eq!(client.connections_opened("a"), expected);
                assert!(client.catalog().snapshot().contains_key("a"));
            }
        };
        probe(1).await;
        probe(1).await;
        Probe::endpoint_changed(&client, &backend);
        assert!(client.catalog().snapshot().is_empty());
        probe(2).await;
        Probe::backend_removed(&client, "a");
        assert!(client.catalog().snapshot().is_empty());
        probe(3).await;
        Probe::probe_abandoned(&client, &backend);
        assert!(client.catalog().snapshot().contains_key("a"));
        probe(4).await;
    }

    #[test]
    fn debug_shows_settings_pool_policy_and_counters() {
        let client = McpClient::with_settings(HttpConnector::new(), ClientSettings::default());
        let shown = format!("{client:?}");
        let expected = format!(
            "McpClient {{ settings: {:?}, pools: PoolManager {{ policy: {:?}, .. }}, \
             connections: {:?} }}",
            ClientSettings::default(),
            ClientSettings::default().pool,
            client.counters()
        );
        assert_eq!(shown, expected);
    }

    /// A late failure of a lease from a pool that was flushed meanwhile leaves the newer pool
    /// alone (pools are told apart by id).
    #[tokio::test]
    async fn a_stale_lease_does_not_flush_the_newer_pool() {
        let (client, url) = per_backend_client_of_a_keep_alive_server().await;
        let stale = client.lease("a");
        get_with(&stale, "a", &url).await;
        client.flush("a");
        let lease = client.lease("a");
        get_with(&lease, "a", &url).await;
        drop(lease);
        assert_eq!(client.connections_opened("a"), 2);
        client.lease_failed("a", stale);
        let lease = client.lease("a");
        get_with(&lease, "a", &url).await;
        assert_eq!(
            client.connections_opened("a"),
            2,
            "the newer pool and its connection survive"
        );
    }
}
