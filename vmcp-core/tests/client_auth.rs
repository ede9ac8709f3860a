//! Outgoing auth: credentials go on every request of a probe, and never into `Debug` output,
//! error messages or probe failure messages.
mod support;

use hyper_util::client::legacy::connect::HttpConnector;
use support::mcp_server::{McpTestServer, Mode};
use vmcp_core::client::McpClient;
use vmcp_core::client::Target;
use vmcp_core::config::FailureHandling;
use vmcp_core::error::BackendError;
use vmcp_core::health::Probe;
use vmcp_core::health::{ErrorCategory, FailureStatus};
use vmcp_core::registry::{Backend, OutgoingAuth, Secret};

const TOKEN: &str = "tok-9f8e7d6c5b4a";

fn client() -> McpClient<HttpConnector> {
    McpClient::http(&FailureHandling::default())
}

fn bearer_backend(url: String) -> Backend {
    Backend {
        name: "secured".into(),
        url,
        auth: Some(OutgoingAuth::Bearer {
            token: Secret::new(TOKEN),
        }),
    }
}

fn header_backend(url: String, name: &str, value: &str) -> Backend {
    Backend {
        name: "secured".into(),
        url,
        auth: Some(OutgoingAuth::Header {
            name: name.into(),
            value: Secret::new(value),
        }),
    }
}

#[tokio::test]
async fn bearer_token_is_sent_on_every_request_including_delete() {
    let server = McpTestServer::start().await;
    let outcome = client().probe(&bearer_backend(server.url())).await;
    assert!(outcome.is_success(), "{outcome:?}");
    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Bearer {TOKEN}")),
            "{}",
            r.label()
        );
    }
    assert_eq!(requests[3].label(), "DELETE");
}

#[tokio::test]
async fn custom_header_is_sent_on_every_request() {
    let server = McpTestServer::start().await;
    let outcome = client()
        .probe(&header_backend(server.url(), "X-API-Key", TOKEN))
        .await;
    assert!(outcome.is_success(), "{outcome:?}");
    for r in server.requests() {
        assert_eq!(
            r.header("x-api-key").as_deref(),
            Some(TOKEN),
            "{}",
            r.label()
        );
        assert_eq!(r.header("authorization"), None);
    }
}

#[tokio::test]
async fn refused_credentials_never_appear_in_messages() {
    let server = McpTestServer::start_with(Mode::Status(401)).await;
    let client = client();
    let backend = bearer_backend(server.url());
    let report = client.probe_detailed(&backend).await;
    let err = report.result.unwrap_err();
    assert!(!err.to_string().contains(TOKEN));
    assert!(!format!("{err:?}").contains(TOKEN));
    let failure = client.probe(&backend).await.result.unwrap_err();
    assert_eq!(failure.status, FailureStatus::Unauthenticated);
    assert_eq!(failure.category, ErrorCategory::AuthenticationFailed);
    assert!(!failure.message.contains(TOKEN), "{}", failure.message);
    assert!(!format!("{failure:?}").contains(TOKEN));
}

#[tokio::test]
async fn debug_output_never_shows_credentials() {
    let server = McpTestServer::start().await;
    let client = client();
    let backend = bearer_backend(server.url());
    client.probe(&backend).await;
    let header = header_backend(server.url(), "X-API-Key", TOKEN);
    client.probe(&header).await;
    for text in [
        format!("{client:?}"),
        format!("{backend:?}"),
        format!("{header:?}"),
        format!("{:?}", Target::new(&backend).unwrap()),
        format!("{:?}", Target::new(&header).unwrap()),
    ] {
        assert!(!text.contains(TOKEN), "{text}");
    }
}

#[tokio::test]
async fn invalid_credential_headers_are_typed_errors_without_the_secret() {
    let client = client();
    let cases = [
        header_backend(
            "http://h:1/mcp".into(),
            "X-API-Key",
            "bad\nvalue-tok-9f8e7d6c5b4a",
        ),
        header_backend("http://h:1/mcp".into(), "bad header name", TOKEN),
        header_backend("http://h:1/mcp".into(), "Mcp-Session-Id", TOKEN),
        Backend {
            auth: Some(OutgoingAuth::Bearer {
                token: Secret::new("tok\r\n-9f8e7d6c5b4a"),
            }),
            ..Backend::new("secured", "http://h:1/mcp")
        },
    ];
    for backend in cases {
        let err = client.probe_detailed(&backend).await.result.unwrap_err();
        assert!(
            matches!(err, BackendError::InvalidEndpoint { .. }),
            "{err:?}"
        );
        let failure = client.probe(&backend).await.result.unwrap_err();
        assert_eq!(failure.category, ErrorCategory::HealthCheckFailed);
        for text in [err.to_string(), failure.message] {
            assert!(!text.contains("9f8e7d6c5b4a"), "{text}");
        }
    }
    assert_eq!(client.total_connections_opened(), 0);
}

#[tokio::test]
async fn credentials_in_the_url_are_refused_without_echoing_them() {
    let client = client();
    let backend = Backend::new("secured", "http://alice:pw-9f8e7d6c5b4a@h:1/mcp");
    let err = client.probe_detailed(&backend).await.result.unwrap_err();
    assert!(
        matches!(err, BackendError::InvalidEndpoint { .. }),
        "{err:?}"
    );
    let failure = client.probe(&backend).await.result.unwrap_err();
    for text in [err.to_string(), failure.message] {
        assert!(!text.contains("9f8e7d6c5b4a"), "{text}");
        assert!(!text.contains("alice"), "{text}");
    }
    assert_eq!(client.counters().attempted("secured"), 0);
}
