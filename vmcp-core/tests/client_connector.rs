//! The connector seam: the client works over any `Service<Uri>` connector (as the simulation's
//! turmoil connector will be), enforces `connect_timeout` on it, and counts what it opens.
mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use support::mcp_server::McpTestServer;
use tokio::net::TcpStream;
use tower_service::Service;
use vmcp_core::client::{ClientSettings, McpClient};
use vmcp_core::config::PoolPolicy;
use vmcp_core::error::{BackendError, ProbeStep, UnavailableCause};
use vmcp_core::health::ErrorCategory;
use vmcp_core::health::Probe;
use vmcp_core::registry::Backend;

type ConnectFuture = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<TcpStream>>> + Send>>;

/// A hand-written connector, like the simulation's: resolves every URI to one fixed address
/// (connect-time resolution) and counts calls.
#[derive(Clone)]
struct FixedAddressConnector {
    addr: std::net::SocketAddr,
    calls: Arc<AtomicU64>,
}

impl Service<Uri> for FixedAddressConnector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _dst: Uri) -> Self::Future {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let addr = self.addr;
        Box::pin(async move { TcpStream::connect(addr).await.map(TokioIo::new) })
    }
}

/// A connector whose connects never complete (a crashed host in turmoil: neither delivered nor
/// refused).
#[derive(Clone)]
struct BlackholeConnector;

impl Service<Uri> for BlackholeConnector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _dst: Uri) -> Self::Future {
        Box::pin(std::future::pending())
    }
}

#[tokio::test]
async fn a_custom_connector_carries_the_probe() {
    let server = McpTestServer::start().await;
    let calls = Arc::new(AtomicU64::new(0));
    let connector = FixedAddressConnector {
        addr: server.url()[7..].trim_end_matches("/mcp").parse().unwrap(),
        calls: Arc::clone(&calls),
    };
    let client = McpClient::with_settings(connector, ClientSettings::default());
    // The host name does not resolve anywhere: only the connector decides where it goes.
    let backend = Backend::new("svc", "http://github-mcp.default.svc:8080/mcp");
    for _ in 0..2 {
        let outcome = client.probe(&backend).await;
        assert!(outcome.is_success(), "{outcome:?}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(client.connections_opened("svc"), 1);
    let host = server.requests()[0].header("host");
    assert_eq!(host.as_deref(), Some("github-mcp.default.svc:8080"));
}

#[tokio::test(start_paused = true)]
async fn connect_timeout_bounds_a_blackholed_connect() {
    let client = McpClient::with_settings(
        BlackholeConnector,
        ClientSettings {
            connect_timeout: Duration::from_secs(2),
            health_check_timeout: Duration::from_secs(10),
            ..ClientSettings::default()
        },
    );
    let backend = Backend::new("dead", "http://dead:8080/mcp");
    let report = client.probe_detailed(&backend).await;
    assert_eq!(
        report.result.unwrap_err(),
        BackendError::Unavailable {
            step: ProbeStep::Initialize,
            cause: UnavailableCause::ConnectTimeout(Duration::from_secs(2))
        }
    );
    assert_eq!(report.latency, Duration::from_secs(2));
    let failure = client.probe(&backend).await.result.unwrap_err();
    assert_eq!(failure.category, ErrorCategory::ConnectionFailed);
    assert_eq!(client.counters().attempted("dead"), 2);
    assert_eq!(client.connections_opened("dead"), 0);
}

#[tokio::test(start_paused = true)]
async fn probe_deadline_wins_over_a_longer_connect_timeout() {
    let client = McpClient::with_settings(
        BlackholeConnector,
        ClientSettings {
            connect_timeout: Duration::from_secs(30),
            health_check_timeout: Duration::from_secs(3),
            pool: PoolPolicy::PerProbe,
            ..ClientSettings::default()
        },
    );
    let report = client
        .probe_detailed(&Backend::new("dead", "http://dead:8080/mcp"))
        .await;
    assert_eq!(
        report.result.unwrap_err(),
        BackendError::Timeout {
            step: ProbeStep::Initialize,
            after: Duration::from_secs(3)
        }
    );
    assert_eq!(report.latency, Duration::from_secs(3));
}

/// The root cause of an unclassified connect failure, e.g. the resolver's answer.
#[derive(Debug)]
struct ResolverSaid;

impl std::fmt::Display for ResolverSaid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such host: github-mcp.default.svc")
    }
}

impl std::error::Error for ResolverSaid {}

/// A connector whose connects fail with an error no I/O kind names (a resolver failure): the
/// detail wraps the root cause.
#[derive(Clone)]
struct UnresolvableConnector;

impl Service<Uri> for UnresolvableConnector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = ConnectFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _dst: Uri) -> Self::Future {
        Box::pin(async { Err(std::io::Error::other(ResolverSaid)) })
    }
}

/// An unclassified connect failure is `connect failed: <the innermost error's text>`, so the
/// report names the real cause (here the resolver's), not one of the wrappers around it.
#[tokio::test]
async fn an_unnamed_connect_failure_reports_its_root_cause() {
    let client = McpClient::with_settings(UnresolvableConnector, ClientSettings::default());
    let backend = Backend::new("svc", "http://github-mcp.default.svc:8080/mcp");
    let report = client.probe_detailed(&backend).await;
    assert_eq!(
        report.result.unwrap_err(),
        BackendError::Unavailable {
            step: ProbeStep::Initialize,
            cause: UnavailableCause::ConnectFailed(
                "no such host: github-mcp.default.svc".to_owned()
            )
        }
    );
    assert_eq!(client.counters().attempted("svc"), 1);
    assert_eq!(client.connections_opened("svc"), 0);
}
