//! `https://` backends (DESIGN §3.7): the production connector (rustls through hyper-rustls)
//! against a local TLS MCP server whose certificates are made in the test (rcgen). With
//! `operational.tls.ca_file` naming the test CA, probes succeed; an unknown issuer, a wrong host
//! name, an expired or not-yet-valid certificate and a peer that speaks no TLS are each a failure
//! of category `tls` with a message that says which. The connector keeps `connect_timeout`
//! (it bounds the handshake too) and the per-backend connection counters. No network: loopback
//! only.
#![cfg(feature = "tls")]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::mcp_server::McpTestServer;
use support::tls::{TestCa, Validity};
use vmcp_core::client::{McpClient, ProductionConnector, production_connector};
use vmcp_core::clock::Timestamp;
use vmcp_core::config::{FailureHandling, TlsSettings, VmcpConfig};
use vmcp_core::error::{BackendError, ProbeStep, TlsFailure, UnavailableCause};
use vmcp_core::health::{CircuitState, ErrorCategory, FailureStatus, HealthStatus, ProbeFailure};
use vmcp_core::health::{HealthTracker, TrackerConfig};
use vmcp_core::registry::Backend;

/// A scratch directory for one test, named after it and the test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmcp-tls-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The TLS settings a config with `operational.tls.ca_file` pointing at `ca`'s PEM loads to
/// (through the real loader, file rules included).
fn settings_trusting(ca: &TestCa, test: &str) -> TlsSettings {
    let dir = scratch(test);
    let path = dir.join("ca.pem");
    std::fs::write(&path, ca.pem()).unwrap();
    let yaml = format!("operational:\n  tls:\n    ca_file: {}\n", path.display());
    VmcpConfig::from_yaml_str_with(&yaml, "t.yaml", &std::collections::BTreeMap::new())
        .unwrap()
        .tls
}

fn client(tls: &TlsSettings) -> McpClient<ProductionConnector> {
    McpClient::new(
        production_connector(tls).unwrap(),
        &FailureHandling::default(),
    )
}

fn backend(url: String) -> Backend {
    Backend {
        name: "secure".to_owned(),
        url,
        auth: None,
    }
}

/// The typed error of one probe of `url`.
async fn probe_error(client: &McpClient<ProductionConnector>, url: String) -> BackendError {
    match client.probe_detailed(&backend(url)).await.result {
        Ok(success) => panic!("the probe succeeded: {success:?}"),
        Err(err) => err,
    }
}

/// The reported failure of one probe of `url`.
async fn probe_failure(client: &McpClient<ProductionConnector>, url: String) -> ProbeFailure {
    match client.probe_backend(&backend(url)).await.result {
        Ok(()) => panic!("the probe succeeded"),
        Err(failure) => failure,
    }
}

#[tokio::test]
async fn probes_succeed_with_the_configured_ca_and_the_backend_is_healthy() {
    let ca = TestCa::new("vmcp test CA");
    let server = McpTestServer::start_tls(ca.leaf(&["localhost", "127.0.0.1"]).acceptor()).await;
    let client = client(&settings_trusting(&ca, "healthy"));
    let backend = backend(server.url());
    assert!(
        backend.url.starts_with("https://127.0.0.1:"),
        "{}",
        backend.url
    );

    let mut tracker = HealthTracker::new(TrackerConfig {
        unhealthy_threshold: 3,
        healthy_threshold: 2,
        degraded_threshold: Duration::from_secs(5),
    });
    for round in 1..=2u64 {
        let outcome = client.probe_backend(&backend).await;
        assert_eq!(outcome.result, Ok(()), "probe {round}");
        tracker.record(
            &outcome,
            CircuitState::Closed,
            Timestamp::from_unix_millis(round * 1000),
        );
        assert_eq!(
            tracker.state().status,
            HealthStatus::Healthy,
            "probe {round}"
        );
    }
    // The whole MCP session went over TLS, twice.
    assert_eq!(
        server.labels(),
        [
            "initialize",
            "notifications/initialized",
            "tools/list",
            "DELETE",
            "initialize",
            "notifications/initialized",
            "tools/list",
            "DELETE"
        ]
    );
    assert_eq!(server.handshakes_failed(), 0);
    // The counting connector sits on top of the TLS connector: it saw the connects.
    let opened = client.connections_opened("secure");
    assert!(opened >= 1, "opened {opened}");
    assert_eq!(opened, server.connections_accepted());
}

#[tokio::test]
async fn a_name_the_certificate_does_not_cover_is_a_tls_name_mismatch() {
    let ca = TestCa::new("vmcp test CA");
    // Valid for localhost only; the URL names 127.0.0.1.
    let server = McpTestServer::start_tls(ca.leaf(&["localhost"]).acceptor()).await;
    let client = client(&settings_trusting(&ca, "name"));

    let err = probe_error(&client, server.url()).await;
    let BackendError::Tls {
        step: ProbeStep::Initialize,
        failure: TlsFailure::NameMismatch(detail),
    } = &err
    else {
        panic!("expected a TLS name mismatch at initialize, got {err:?}");
    };
    assert!(detail.contains("127.0.0.1"), "{detail}");
    assert!(detail.contains("localhost"), "{detail}");

    let failure = probe_failure(&client, server.url()).await;
    assert_eq!(failure.category, ErrorCategory::Tls);
    assert_eq!(failure.status, FailureStatus::Unhealthy);
    assert!(
        failure.message.starts_with(
            "initialize: TLS error: invalid certificate: not valid for the backend's host name ("
        ),
        "{}",
        failure.message
    );
    // Nothing went over HTTP.
    assert!(server.requests().is_empty(), "{:?}", server.labels());
}

#[tokio::test]
async fn without_the_ca_file_the_issuer_is_unknown_and_the_status_says_tls() {
    let ca = TestCa::new("vmcp test CA");
    let server = McpTestServer::start_tls(ca.leaf(&["127.0.0.1"]).acceptor()).await;
    // No ca_file: the platform trust store, which does not know the test CA.
    let client = client(&TlsSettings::default());

    let err = probe_error(&client, server.url()).await;
    assert_eq!(
        err,
        BackendError::Tls {
            step: ProbeStep::Initialize,
            failure: TlsFailure::UnknownIssuer,
        }
    );
    let failure = probe_failure(&client, server.url()).await;
    assert_eq!(
        failure,
        ProbeFailure {
            status: FailureStatus::Unhealthy,
            category: ErrorCategory::Tls,
            message: "initialize: TLS error: invalid certificate: unknown issuer (not signed by \
                      a trusted CA; set operational.tls.ca_file to the CA that signed it)"
                .to_owned(),
        }
    );
    // The tracker carries the category into the status (threshold 1: at once).
    let mut tracker = HealthTracker::new(TrackerConfig {
        unhealthy_threshold: 1,
        healthy_threshold: 1,
        degraded_threshold: Duration::from_secs(5),
    });
    tracker.record(
        &client.probe_backend(&backend(server.url())).await,
        CircuitState::Closed,
        Timestamp::from_unix_millis(1000),
    );
    let state = tracker.state();
    assert_eq!(state.status, HealthStatus::Unhealthy);
    assert_eq!(state.last_error_category, Some(ErrorCategory::Tls));
    assert!(server.requests().is_empty(), "{:?}", server.labels());
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_an_unknown_issuer_even_with_a_ca_file() {
    let trusted = TestCa::new("trusted CA");
    let other = TestCa::new("other CA");
    let server = McpTestServer::start_tls(other.leaf(&["127.0.0.1"]).acceptor()).await;
    let client = client(&settings_trusting(&trusted, "other-ca"));
    assert_eq!(
        probe_error(&client, server.url()).await,
        BackendError::Tls {
            step: ProbeStep::Initialize,
            failure: TlsFailure::UnknownIssuer,
        }
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates_are_named() {
    let ca = TestCa::new("vmcp test CA");
    let tls = settings_trusting(&ca, "validity");
    let client = client(&tls);
    for (validity, expected, text) in [
        (
            Validity::Expired,
            TlsFailure::Expired,
            "invalid certificate: expired",
        ),
        (
            Validity::Future,
            TlsFailure::NotYetValid,
            "invalid certificate: not valid yet",
        ),
    ] {
        let server =
            McpTestServer::start_tls(ca.leaf_with(&["127.0.0.1"], validity).acceptor()).await;
        assert_eq!(
            probe_error(&client, server.url()).await,
            BackendError::Tls {
                step: ProbeStep::Initialize,
                failure: expected,
            },
            "{validity:?}"
        );
        let failure = probe_failure(&client, server.url()).await;
        assert_eq!(failure.category, ErrorCategory::Tls, "{validity:?}");
        assert_eq!(failure.message, format!("initialize: TLS error: {text}"));
    }
}

#[tokio::test]
async fn a_peer_that_speaks_no_tls_is_a_tls_handshake_failure() {
    let ca = TestCa::new("vmcp test CA");
    // A plain-HTTP MCP server behind an https:// URL.
    let plain = McpTestServer::start().await;
    let url = plain.url().replacen("http://", "https://", 1);
    let client = client(&settings_trusting(&ca, "plain-peer"));

    let err = probe_error(&client, url.clone()).await;
    let BackendError::Tls {
        step: ProbeStep::Initialize,
        failure: TlsFailure::Handshake(detail),
    } = &err
    else {
        panic!("expected a TLS handshake failure, got {err:?}");
    };
    assert!(!detail.is_empty());
    let failure = probe_failure(&client, url).await;
    assert_eq!(failure.category, ErrorCategory::Tls);
    assert!(
        failure
            .message
            .starts_with("initialize: TLS error: handshake failed: "),
        "{}",
        failure.message
    );
}

#[tokio::test]
async fn plain_http_backends_still_work_through_the_tls_connector() {
    let server = McpTestServer::start().await;
    let client = client(&TlsSettings::default());
    let outcome = client.probe_backend(&backend(server.url())).await;
    assert_eq!(outcome.result, Ok(()));
    assert_eq!(client.connections_opened("secure"), 1);
}

/// A listener that accepts TCP connections and never says a word: the TLS handshake hangs.
/// `connect_timeout` must cut it (the counting connector wraps TCP connect *and* handshake), so
/// the probe fails as a connect timeout, not at `health_check_timeout`.
#[tokio::test(start_paused = true)]
async fn connect_timeout_bounds_the_tls_handshake() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let ca = TestCa::new("vmcp test CA");
    let config = FailureHandling {
        health_check_interval: Duration::from_secs(30),
        health_check_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_millis(500),
        ..FailureHandling::default()
    };
    let client = McpClient::new(
        production_connector(&settings_trusting(&ca, "handshake-timeout")).unwrap(),
        &config,
    );
    let report = client
        .probe_detailed(&backend(format!("https://{addr}/mcp")))
        .await;
    assert_eq!(
        report.result,
        Err(BackendError::Unavailable {
            step: ProbeStep::Initialize,
            cause: UnavailableCause::ConnectTimeout(Duration::from_millis(500)),
        })
    );
    assert_eq!(report.latency, Duration::from_millis(500));
    assert_eq!(client.counters().attempted("secure"), 1);
    assert_eq!(client.connections_opened("secure"), 0);
    held.abort();
}
