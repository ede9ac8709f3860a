//! The HTTP status endpoints: `GET /health`, `GET /status`, `GET /api/backends/health`,
//! `GET /metrics`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use vmcp_core::client::ProductionConnector;
use vmcp_core::clock::{SharedClock, Timestamp};
use vmcp_core::config::ListenerLimits;
use vmcp_core::frontend::{Frontend, FrontendBody, MCP_PATH, WriteDeadline};
use vmcp_core::health::HealthMonitor;
use vmcp_core::health::{CircuitState, CrdStatus, ErrorCategory, HealthReason, HealthStatus};
use vmcp_core::metrics::{self, Metrics};
use vmcp_core::registry::DynamicRegistry;
use vmcp_core::status::{LineQueue, StatusReport, build_report};

/// What the endpoints read.
#[derive(Clone)]
pub(crate) struct StatusState {
    /// The backends as configured now.
    pub registry: Arc<DynamicRegistry>,
    /// Their health.
    pub monitor: Arc<HealthMonitor>,
    /// Report timestamps.
    pub clock: SharedClock,
    /// The MCP front end, served at `/mcp` when configured.
    pub frontend: Option<Arc<Frontend<ProductionConnector>>>,
    /// The report output queue (its dropped-line count is exported).
    pub output: Arc<LineQueue>,
    /// Probe and report counters, exported at `/metrics`.
    pub metrics: Arc<Metrics>,
}

impl StatusState {
    /// The current report, built fresh from the registry and the monitor.
    fn report(&self) -> StatusReport {
        build_report(
            &self.registry.list(),
            &self.monitor.snapshot(),
            self.clock.now(),
        )
    }
}

/// `/api/backends/health`: summary counts and per-backend state.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BackendsHealth {
    observed_at: Timestamp,
    summary: Summary,
    backends: BTreeMap<String, BackendEntry>,
    /// Report lines dropped because the output (stdout or `--report-file`) did not keep up.
    report_lines_dropped: u64,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    total: u32,
    healthy: u32,
    degraded: u32,
    unhealthy: u32,
    unauthenticated: u32,
    unknown: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct BackendEntry {
    url: String,
    status: CrdStatus,
    health: HealthStatus,
    reason: HealthReason,
    circuit_breaker_state: CircuitState,
    consecutive_failures: u32,
    last_health_check: Option<Timestamp>,
    error_category: Option<ErrorCategory>,
}

impl StatusState {
    fn backends_health(&self) -> BackendsHealth {
        let report = self.report();
        let mut summary = Summary::default();
        let mut backends = BTreeMap::new();
        for b in &report.discovered_backends {
            summary.total += 1;
            match b.health {
                HealthStatus::Healthy => summary.healthy += 1,
                HealthStatus::Degraded => summary.degraded += 1,
                HealthStatus::Unhealthy => summary.unhealthy += 1,
                HealthStatus::Unauthenticated => summary.unauthenticated += 1,
                HealthStatus::Unknown => summary.unknown += 1,
            }
            backends.insert(
                b.name.clone(),
                BackendEntry {
                    url: b.url.clone(), // already redacted by build_report
                    status: b.status,
                    health: b.health,
                    reason: b.reason,
                    circuit_breaker_state: b.circuit_breaker_state,
                    consecutive_failures: b.consecutive_failures,
                    last_health_check: b.last_health_check,
                    error_category: b.error_category,
                },
            );
        }
        BackendsHealth {
            observed_at: report.observed_at,
            summary,
            backends,
            report_lines_dropped: self.output.dropped(),
        }
    }
}

/// First pause after a failed `accept`; doubled on each further failure.
const ACCEPT_BACKOFF_MIN: std::time::Duration = std::time::Duration::from_millis(50);
/// Longest pause between `accept` retries.
const ACCEPT_BACKOFF_MAX: std::time::Duration = std::time::Duration::from_secs(2);

/// Serve the endpoints until the task is aborted, within `limits`: at most `max_connections`
/// connections at once (one more is accepted and closed at once, so the backlog never holds
/// clients waiting for nothing), request heads within `header_read_timeout`, writes making
/// progress within `write_timeout`. A failing connection is logged, never fatal.
pub(crate) async fn serve(listener: TcpListener, state: StatusState, limits: ListenerLimits) {
    let slots = Arc::new(Semaphore::new(
        usize::try_from(limits.max_connections).unwrap_or(usize::MAX),
    ));
    let mut backoff = ACCEPT_BACKOFF_MIN;
    // Whether the refusal of the current burst over the limit was logged (once per burst).
    let mut refusing = false;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF_MIN;
                accepted
            }
            Err(err) => {
                // E.g. out of file descriptors: retrying at once would spin and flood the log.
                tracing::warn!(%err, retry_in = ?backoff, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_MAX);
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            if !refusing {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    "connection limit reached; closing new connections until one ends"
                );
                refusing = true;
            }
            tracing::debug!(%peer, "connection refused: limit reached");
            drop(stream);
            continue;
        };
        refusing = false;
        // Responses are small and written whole; never let Nagle hold one back waiting for
        // the client's delayed ACK.
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%err, %peer, "cannot set TCP_NODELAY");
        }
        let state = state.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service = service_fn(move |req: Request<Incoming>| {
                let state = state.clone();
                async move {
                    if let Some(frontend) = state.frontend.as_ref() {
                        if req.uri().path() == MCP_PATH {
                            return Ok::<_, Infallible>(frontend.handle(req).await);
                        }
                    }
                    Ok::<_, Infallible>(into_frontend_body(route(&state, &req)).await)
                }
            });
            let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .serve_connection(io, service);
            if let Err(err) = conn.await {
                tracing::debug!(%err, %peer, "status connection ended with an error");
            }
        });
    }
}

/// A status response in the body type the front end uses, so one connection serves both.
async fn into_frontend_body(response: Response<Full<Bytes>>) -> Response<FrontendBody> {
    let (parts, body) = response.into_parts();
    let bytes = match http_body_util::BodyExt::collect(body).await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    Response::from_parts(parts, FrontendBody::full(bytes))
}

fn route(state: &StatusState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET is supported\n");
    }
    match req.uri().path() {
        "/health" => text(StatusCode::OK, "ok\n"),
        "/status" => json(&state.report()),
        "/api/backends/health" => json(&state.backends_health()),
        "/metrics" => {
            let frontend = state.frontend.as_ref().map(|f| metrics::FrontendGauges {
                client_sessions: f.session_count(),
                client_streams: f.stream_count(),
            });
            let body = state.metrics.encode(
                &state.monitor.snapshot(),
                Some(state.output.dropped()),
                frontend,
            );
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(metrics::CONTENT_TYPE),
            );
            response
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /health, /status, /api/backends/health, /metrics\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn json<T: Serialize>(value: &T) -> Response<Full<Bytes>> {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(err) => {
            tracing::error!(%err, "cannot serialise a status response");
            text(StatusCode::INTERNAL_SERVER_ERROR, "serialisation failed\n")
        }
    }
}
