//! Probe outcomes against a real in-process MCP server (loopback sockets): one test per server
//! behaviour, asserting the typed error, the classified outcome and what went over the wire.
mod support;

use std::time::Duration;

use support::mcp_server::{McpTestServer, Mode};
use vmcp_core::client::{ClientSettings, McpClient};
use vmcp_core::config::FailureHandling;
use vmcp_core::error::{BackendError, ProbeStep, UnavailableCause};
use vmcp_core::health::Probe;
use vmcp_core::health::{ErrorCategory, FailureStatus};
use vmcp_core::registry::Backend;

fn client() -> McpClient<hyper_util::client::legacy::connect::HttpConnector> {
    McpClient::http(&FailureHandling::default())
}

fn small_body_client() -> McpClient<hyper_util::client::legacy::connect::HttpConnector> {
    McpClient::http(&FailureHandling {
        max_body_bytes: 64 * 1024,
        ..FailureHandling::default()
    })
}

/// Probe once through the `Probe` trait and return the typed error and the classified failure.
async fn failing_probe(
    client: &McpClient<hyper_util::client::legacy::connect::HttpConnector>,
    server: &McpTestServer,
) -> (BackendError, FailureStatus, ErrorCategory) {
    let backend = Backend::new("b", server.url());
    let report = client.probe_detailed(&backend).await;
    let err = report.result.expect_err("probe should fail");
    let outcome = client.probe(&backend).await;
    let failure = outcome.result.expect_err("probe should fail");
    assert_eq!(failure.category, err.category());
    (err, failure.status, failure.category)
}

async fn probe_with_mode(mode: Mode) -> (BackendError, FailureStatus, ErrorCategory) {
    let server = McpTestServer::start_with(mode).await;
    failing_probe(&small_body_client(), &server).await
}

#[tokio::test]
async fn healthy_json_server_runs_the_full_session() {
    let server = McpTestServer::start().await;
    let client = client();
    let report = client
        .probe_detailed(&Backend::new("b", server.url()))
        .await;
    let success = report.result.expect("healthy server");
    assert_eq!(success.session.protocol_version, "2025-11-25");
    assert_eq!(success.session.tools, Some(1));
    assert!(success.session.had_session_id);
    assert!(!success.reinitialized);
    assert_eq!(
        server.labels(),
        [
            "initialize",
            "notifications/initialized",
            "tools/list",
            "DELETE"
        ]
    );
    assert!(server.open_sessions().is_empty(), "the session was deleted");
}

#[tokio::test]
async fn requests_carry_the_streamable_http_headers() {
    let server = McpTestServer::start().await;
    client()
        .probe_detailed(&Backend::new("b", server.url()))
        .await
        .result
        .unwrap();
    let requests = server.requests();
    for r in &requests {
        assert_eq!(
            r.header("accept").as_deref(),
            Some("application/json, text/event-stream"),
            "{}",
            r.label()
        );
    }
    for r in requests.iter().filter(|r| r.method == http::Method::POST) {
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/json")
        );
    }
    let init = &requests[0];
    assert_eq!(init.label(), "initialize");
    assert_eq!(init.header("mcp-session-id"), None);
    assert_eq!(init.header("mcp-protocol-version"), None);
    for r in &requests[1..] {
        assert_eq!(
            r.header("mcp-session-id").as_deref(),
            Some("session-1"),
            "{}",
            r.label()
        );
        assert_eq!(
            r.header("mcp-protocol-version").as_deref(),
            Some("2025-11-25"),
            "{}",
            r.label()
        );
    }
}

#[tokio::test]
async fn server_without_tools_is_pinged() {
    let server = McpTestServer::start().await;
    server.set_tools(false);
    let report = client()
        .probe_detailed(&Backend::new("b", server.url()))
        .await;
    assert_eq!(report.result.unwrap().session.tools, None);
    assert_eq!(
        server.labels(),
        ["initialize", "notifications/initialized", "ping", "DELETE"]
    );
}

#[tokio::test]
async fn server_without_session_ids_gets_no_session_header_and_no_delete() {
    let server = McpTestServer::start().await;
    server.set_issue_session_ids(false);
    let report = client()
        .probe_detailed(&Backend::new("b", server.url()))
        .await;
    assert!(!report.result.unwrap().session.had_session_id);
    assert_eq!(
        server.labels(),
        ["initialize", "notifications/initialized", "tools/list"]
    );
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.header("mcp-session-id").is_none())
    );
}

#[tokio::test]
async fn sse_replies_with_priming_event_and_interleaved_messages_succeed() {
    let server = McpTestServer::start_with(Mode::Sse).await;
    let report = client()
        .probe_detailed(&Backend::new("b", server.url()))
        .await;
    let success = report.result.expect("SSE server is healthy");
    assert_eq!(success.session.tools, Some(1));
    assert_eq!(
        server.labels(),
        [
            "initialize",
            "notifications/initialized",
            "tools/list",
            "DELETE"
        ]
    );
}

#[tokio::test]
async fn http_401_is_authentication_failed() {
    let (err, status, category) = probe_with_mode(Mode::Status(401)).await;
    assert_eq!(
        err,
        BackendError::AuthenticationFailed {
            step: ProbeStep::Initialize
        }
    );
    assert_eq!(status, FailureStatus::Unauthenticated);
    assert_eq!(category, ErrorCategory::AuthenticationFailed);
}

#[tokio::test]
async fn http_403_is_authorization_failed_and_unauthenticated() {
    let (err, status, category) = probe_with_mode(Mode::Status(403)).await;
    assert_eq!(
        err,
        BackendError::AuthorizationFailed {
            step: ProbeStep::Initialize
        }
    );
    assert_eq!(status, FailureStatus::Unauthenticated);
    assert_eq!(category, ErrorCategory::AuthenticationFailed);
}

#[tokio::test]
async fn other_4xx_on_initialize_is_rejected_and_unhealthy() {
    for code in [400, 404, 405, 406, 429] {
        let (err, status, category) = probe_with_mode(Mode::StatusOnInitialize(code)).await;
        assert_eq!(
            err,
            BackendError::Rejected {
                step: ProbeStep::Initialize,
                status: code
            },
            "{code}"
        );
        assert_eq!(status, FailureStatus::Unhealthy);
        assert_eq!(category, ErrorCategory::BackendUnavailable);
    }
}

#[tokio::test]
async fn http_5xx_is_unavailable() {
    for code in [500, 502, 503] {
        let (err, status, category) = probe_with_mode(Mode::Status(code)).await;
        assert_eq!(
            err,
            BackendError::Unavailable {
                step: ProbeStep::Initialize,
                cause: UnavailableCause::ServerError(code)
            }
        );
        assert_eq!(status, FailureStatus::Unhealthy);
        assert_eq!(category, ErrorCategory::BackendUnavailable);
    }
}

#[tokio::test]
async fn session_404_reinitializes_once_and_succeeds() {
    let server = McpTestServer::start_with(Mode::ForgetSessionsOnce).await;
    let report = client()
        .probe_detailed(&Backend::new("b", server.url()))
        .await;
    let success = report.result.expect("the retry succeeds");
    assert!(success.reinitialized);
    assert_eq!(
        server.labels(),
        [
            "initialize",
            "notifications/initialized", // 404: the server forgot session-1
            "initialize",
            "notifications/initialized",
            "tools/list",
            "DELETE"
        ]
    );
    let second = &server.requests()[3];
    assert_eq!(
        second.header("mcp-session-id").as_deref(),
        Some("session-2")
    );
    assert!(server.open_sessions().is_empty());
}

#[tokio::test]
async fn session_404_twice_is_session_terminated() {
    let server = McpTestServer::start_with(Mode::ForgetSessionsAlways).await;
    let (err, status, category) = failing_probe(&client(), &server).await;
    assert_eq!(
        err,
        BackendError::SessionTerminated {
            step: ProbeStep::Initialized
        }
    );
    assert_eq!(status, FailureStatus::Unhealthy);
    assert_eq!(category, ErrorCategory::BackendUnavailable);
    // Two probes (detailed + trait), each: initialize, 404, re-initialize, 404. Never a third.
    let inits = server
        .labels()
        .iter()
        .filter(|l| *l == "initialize")
        .count();
    assert_eq!(inits, 4);
}

#[tokio::test]
async fn json_rpc_error_to_initialize_is_a_protocol_error() {
    let (err, status, category) = probe_with_mode(Mode::RpcErrorOnInitialize).await;
    assert!(
        matches!(err, BackendError::Protocol { step: ProbeStep::Initialize, ref detail } if detail.contains("-32603")),
        "{err:?}"
    );
    assert_eq!(status, FailureStatus::Unhealthy);
    assert_eq!(category, ErrorCategory::ProtocolError);
}

#[tokio::test]
async fn json_rpc_error_to_tools_list_is_a_failed_health_check() {
    let (err, status, category) = probe_with_mode(Mode::RpcErrorOnList).await;
    assert_eq!(
        err,
        BackendError::Rpc {
            step: ProbeStep::ListTools,
            code: -32000,
            message: "backend database down".into()
        }
    );
    assert_eq!(status, FailureStatus::Unhealthy);
    assert_eq!(category, ErrorCategory::HealthCheckFailed);
}

#[tokio::test]
async fn garbage_json_body_is_a_protocol_error() {
    let (err, _, category) = probe_with_mode(Mode::Garbage).await;
    assert!(
        matches!(
            err,
            BackendError::Protocol {
                step: ProbeStep::Initialize,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(category, ErrorCategory::ProtocolError);
}

#[tokio::test]
async fn garbage_sse_event_is_a_protocol_error() {
    let (err, _, category) = probe_with_mode(Mode::GarbageSse).await;
    assert!(matches!(err, BackendError::Protocol { .. }), "{err:?}");
    assert_eq!(category, ErrorCategory::ProtocolError);
}

#[tokio::test]
async fn unexpected_content_type_is_a_protocol_error() {
    let (err, _, category) = probe_with_mode(Mode::WrongContentType).await;
    assert!(
        matches!(err, BackendError::Protocol { ref detail, .. } if detail.contains("text/html")),
        "{err:?}"
    );
    assert_eq!(category, ErrorCategory::ProtocolError);
}

#[tokio::test]
async fn unknown_protocol_version_is_a_protocol_error() {
    let (err, _, category) = probe_with_mode(Mode::UnknownProtocolVersion).await;
    assert!(
        matches!(err, BackendError::Protocol { ref detail, .. } if detail.contains("1999-01-01")),
        "{err:?}"
    );
    assert_eq!(category, ErrorCategory::ProtocolError);
}

#[tokio::test]
async fn huge_chunked_body_stops_at_the_limit() {
    let (err, status, category) = probe_with_mode(Mode::HugeChunked(8 * 1024 * 1024)).await;
    assert_eq!(
        err,
        BackendError::BodyTooLarge {
            step: ProbeStep::Initialize,
            limit: 64 * 1024
        }
    );
    assert_eq!(status, FailureStatus::Unhealthy);
    assert_eq!(category, ErrorCategory::ProtocolError);
}

#[tokio::test]
async fn huge_declared_body_is_refused_before_reading() {
    let (err, _, _) = probe_with_mode(Mode::HugeDeclared(1024 * 1024)).await;
    assert_eq!(
        err,
        BackendError::BodyTooLarge {
            step: ProbeStep::Initialize,
            limit: 64 * 1024
        }
    );
}

#[tokio::test]
async fn huge_sse_event_stops_at_the_limit() {
    let (err, _, category) = probe_with_mode(Mode::HugeSseEvent(8 * 1024 * 1024)).await;
    assert_eq!(
        err,
        BackendError::BodyTooLarge {
            step: ProbeStep::Initialize,
            limit: 64 * 1024
        }
    );
    assert_eq!(category, ErrorCategory::ProtocolError);
}

#[tokio::test]
async fn sse_stream_ending_without_the_response_is_unavailable() {
    let (err, _, category) = probe_with_mode(Mode::SseWithoutResponse).await;
    assert_eq!(
        err,
        BackendError::Unavailable {
            step: ProbeStep::Initialize,
            cause: UnavailableCause::ClosedEarly
        }
    );
    assert_eq!(category, ErrorCategory::BackendUnavailable);
}

#[tokio::test]
async fn connection_closed_without_answer_is_backend_unavailable() {
    let (err, status, category) = probe_with_mode(Mode::Close).await;
    assert_eq!(
        err,
        BackendError::Unavailable {
            step: ProbeStep::Initialize,
            cause: UnavailableCause::ClosedEarly
        }
    );
    assert_eq!(status, FailureStatus::Unhealthy);
    assert_eq!(category, ErrorCategory::BackendUnavailable);
}

#[tokio::test]
async fn connection_reset_is_connection_failed() {
    let (err, status, category) = probe_with_mode(Mode::Reset).await;
    assert_eq!(
        err,
        BackendError::Unavailable {
            step: ProbeStep::Initialize,
            cause: UnavailableCause::ConnectionReset
        }
    );
    assert_eq!(status, FailureStatus::Unhealthy);
    assert_eq!(category, ErrorCategory::ConnectionFailed);
}

#[tokio::test]
async fn connection_refused_is_connection_failed() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let backend = Backend::new("gone", format!("http://{addr}/mcp"));
    let client = client();
    let report = client.probe_detailed(&backend).await;
    assert_eq!(
        report.result.unwrap_err(),
        BackendError::Unavailable {
            step: ProbeStep::Initialize,
            cause: UnavailableCause::ConnectionRefused
        }
    );
    let failure = client.probe(&backend).await.result.unwrap_err();
    assert_eq!(failure.status, FailureStatus::Unhealthy);
    assert_eq!(failure.category, ErrorCategory::ConnectionFailed);
    assert_eq!(client.connections_opened("gone"), 0);
    assert_eq!(client.counters().attempted("gone"), 2);
}

#[tokio::test(start_paused = true)]
async fn hanging_server_times_out_at_the_probe_deadline() {
    let server = McpTestServer::start_with(Mode::Hang).await;
    let client = McpClient::with_settings(
        hyper_util::client::legacy::connect::HttpConnector::new(),
        ClientSettings {
            health_check_timeout: Duration::from_secs(7),
            // Longer than the probe deadline: only the probe deadline can fire.
            connect_timeout: Duration::from_secs(30),
            ..ClientSettings::default()
        },
    );
    let backend = Backend::new("b", server.url());
    let report = client.probe_detailed(&backend).await;
    assert_eq!(
        report.result.unwrap_err(),
        BackendError::Timeout {
            step: ProbeStep::Initialize,
            after: Duration::from_secs(7)
        }
    );
    assert_eq!(report.latency, Duration::from_secs(7));
    let outcome = client.probe(&backend).await;
    let failure = outcome.result.unwrap_err();
    assert_eq!(failure.status, FailureStatus::Unhealthy);
    assert_eq!(failure.category, ErrorCategory::Timeout);
    assert_eq!(outcome.latency, Duration::from_secs(7));
}

#[tokio::test]
async fn invalid_endpoint_is_reported_without_traffic() {
    let client = client();
    for url in ["not a url", "ftp://host/mcp", "/relative/path"] {
        let report = client.probe_detailed(&Backend::new("bad", url)).await;
        assert!(
            matches!(report.result, Err(BackendError::InvalidEndpoint { .. })),
            "{url}: {report:?}"
        );
        let failure = client
            .probe(&Backend::new("bad", url))
            .await
            .result
            .unwrap_err();
        assert_eq!(failure.category, ErrorCategory::HealthCheckFailed);
    }
    assert_eq!(client.counters().attempted("bad"), 0);
}

#[tokio::test]
async fn server_error_mid_session_is_not_followed_by_a_delete() {
    let server = McpTestServer::start_with(Mode::StatusOnList(502)).await;
    let report = client()
        .probe_detailed(&Backend::new("b", server.url()))
        .await;
    assert_eq!(
        report.result.unwrap_err(),
        BackendError::Unavailable {
            step: ProbeStep::ListTools,
            cause: UnavailableCause::ServerError(502)
        }
    );
    assert_eq!(
        server.labels(),
        ["initialize", "notifications/initialized", "tools/list"]
    );
}

#[tokio::test]
async fn json_rpc_error_mid_session_still_deletes_the_session() {
    let server = McpTestServer::start_with(Mode::RpcErrorOnList).await;
    let report = client()
        .probe_detailed(&Backend::new("b", server.url()))
        .await;
    assert!(report.result.is_err());
    assert_eq!(
        server.labels(),
        [
            "initialize",
            "notifications/initialized",
            "tools/list",
            "DELETE"
        ]
    );
    assert!(server.open_sessions().is_empty());
}
