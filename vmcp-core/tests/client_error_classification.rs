//! The classification table of DESIGN §3.3 ("Error classification"), one test per row, plus the
//! string fallback (one test per phrase, with negatives) and redaction.

use std::time::Duration;

use vmcp_core::error::{
    BackendError, ProbeStep, UnavailableCause, classify_foreign_error, classify_message,
    is_authentication_error,
};
use vmcp_core::health::{ErrorCategory, FailureStatus};
use vmcp_core::redact::{REDACTED, redact, scrub};

fn classified(err: &BackendError) -> (FailureStatus, ErrorCategory) {
    let failure = err.to_probe_failure();
    (failure.status, failure.category)
}

const INIT: ProbeStep = ProbeStep::Initialize;

// ---- typed classification: one test per table row -------------------------------------------

#[test]
fn row_http_401_is_authentication_failed_and_unauthenticated() {
    let err = BackendError::from_status(INIT, 401, false);
    assert_eq!(err, BackendError::AuthenticationFailed { step: INIT });
    assert_eq!(
        classified(&err),
        (
            FailureStatus::Unauthenticated,
            ErrorCategory::AuthenticationFailed
        )
    );
    // A 401 later in the session, with a session id, is still an authentication failure.
    let later = BackendError::from_status(ProbeStep::ListTools, 401, true);
    assert_eq!(classified(&later).0, FailureStatus::Unauthenticated);
}

#[test]
fn row_http_403_is_authorization_failed_and_unauthenticated() {
    let err = BackendError::from_status(INIT, 403, false);
    assert_eq!(err, BackendError::AuthorizationFailed { step: INIT });
    assert_eq!(
        classified(&err),
        (
            FailureStatus::Unauthenticated,
            ErrorCategory::AuthenticationFailed
        )
    );
}

#[test]
fn row_other_4xx_on_initialize_is_rejected_and_unhealthy() {
    for status in [400, 404, 405, 406, 409, 415, 429] {
        let err = BackendError::from_status(INIT, status, false);
        assert_eq!(err, BackendError::Rejected { step: INIT, status });
        assert_eq!(
            classified(&err),
            (FailureStatus::Unhealthy, ErrorCategory::BackendUnavailable),
            "{status}"
        );
    }
}

#[test]
fn row_404_with_a_session_id_is_session_terminated() {
    let err = BackendError::from_status(ProbeStep::ListTools, 404, true);
    assert_eq!(
        err,
        BackendError::SessionTerminated {
            step: ProbeStep::ListTools
        }
    );
    assert_eq!(
        classified(&err),
        (FailureStatus::Unhealthy, ErrorCategory::BackendUnavailable)
    );
    // Without a session id a 404 is an ordinary rejection.
    assert_eq!(
        BackendError::from_status(ProbeStep::ListTools, 404, false),
        BackendError::Rejected {
            step: ProbeStep::ListTools,
            status: 404
        }
    );
}

#[test]
fn row_5xx_is_unavailable_backend_unavailable() {
    for status in [500, 502, 503, 504, 599] {
        let err = BackendError::from_status(INIT, status, true);
        assert_eq!(
            err,
            BackendError::Unavailable {
                step: INIT,
                cause: UnavailableCause::ServerError(status)
            }
        );
        assert_eq!(
            classified(&err),
            (FailureStatus::Unhealthy, ErrorCategory::BackendUnavailable)
        );
    }
}

#[test]
fn row_connection_refused_is_connection_failed() {
    let err = BackendError::Unavailable {
        step: INIT,
        cause: UnavailableCause::ConnectionRefused,
    };
    assert_eq!(
        classified(&err),
        (FailureStatus::Unhealthy, ErrorCategory::ConnectionFailed)
    );
}

#[test]
fn row_connection_reset_is_connection_failed() {
    let err = BackendError::Unavailable {
        step: ProbeStep::ListTools,
        cause: UnavailableCause::ConnectionReset,
    };
    assert_eq!(
        classified(&err),
        (FailureStatus::Unhealthy, ErrorCategory::ConnectionFailed)
    );
}

#[test]
fn row_connect_timeout_is_connection_failed() {
    let err = BackendError::Unavailable {
        step: INIT,
        cause: UnavailableCause::ConnectTimeout(Duration::from_secs(5)),
    };
    assert_eq!(
        classified(&err),
        (FailureStatus::Unhealthy, ErrorCategory::ConnectionFailed)
    );
    assert_eq!(
        err.to_string(),
        "initialize: backend unavailable: connect timed out after 5s"
    );
}

#[test]
fn row_eof_closed_before_message_completed_is_backend_unavailable() {
    let err = BackendError::Unavailable {
        step: INIT,
        cause: UnavailableCause::ClosedEarly,
    };
    assert_eq!(
        classified(&err),
        (FailureStatus::Unhealthy, ErrorCategory::BackendUnavailable)
    );
}

#[test]
fn row_deadline_is_timeout() {
    let err = BackendError::Timeout {
        step: ProbeStep::ListTools,
        after: Duration::from_secs(10),
    };
    assert_eq!(
        classified(&err),
        (FailureStatus::Unhealthy, ErrorCategory::Timeout)
    );
    assert_eq!(err.to_string(), "tools/list: probe timed out after 10s");
}

#[test]
fn row_malformed_reply_is_protocol_error() {
    let err = BackendError::protocol(INIT, "invalid JSON-RPC message");
    assert_eq!(
        classified(&err),
        (FailureStatus::Unhealthy, ErrorCategory::ProtocolError)
    );
}

#[test]
fn row_body_too_large_is_protocol_error() {
    let err = BackendError::BodyTooLarge {
        step: INIT,
        limit: 10,
    };
    assert_eq!(
        classified(&err),
        (FailureStatus::Unhealthy, ErrorCategory::ProtocolError)
    );
}

#[test]
fn row_cancelled_is_cancelled() {
    assert_eq!(
        classified(&BackendError::Cancelled),
        (FailureStatus::Unhealthy, ErrorCategory::Cancelled)
    );
}

#[test]
fn row_rpc_error_to_list_and_invalid_endpoint_are_health_check_failed() {
    let rpc = BackendError::Rpc {
        step: ProbeStep::Ping,
        code: -32000,
        message: "down".into(),
    };
    assert_eq!(
        classified(&rpc),
        (FailureStatus::Unhealthy, ErrorCategory::HealthCheckFailed)
    );
    let invalid = BackendError::InvalidEndpoint {
        detail: "bad".into(),
    };
    assert_eq!(
        classified(&invalid),
        (FailureStatus::Unhealthy, ErrorCategory::HealthCheckFailed)
    );
}

#[test]
fn unexpected_informational_and_redirect_statuses_are_rejected() {
    for status in [100, 301, 302, 307] {
        assert_eq!(
            classified(&BackendError::from_status(INIT, status, false)),
            (FailureStatus::Unhealthy, ErrorCategory::BackendUnavailable)
        );
    }
}

// ---- foreign errors -------------------------------------------------------------------------

#[derive(Debug, thiserror::Error)]
#[error("foreign wrapper")]
struct Wrapper(#[source] Box<dyn std::error::Error + Send + Sync>);

#[test]
fn foreign_chain_holding_a_backend_error_is_classified_by_type() {
    let err = Wrapper(Box::new(BackendError::from_status(INIT, 401, false)));
    let failure = classify_foreign_error(&err);
    assert_eq!(failure.status, FailureStatus::Unauthenticated);
    assert_eq!(failure.category, ErrorCategory::AuthenticationFailed);
}

#[test]
fn foreign_chain_holding_an_io_error_is_classified_by_kind() {
    let refused = Wrapper(Box::new(std::io::Error::from(
        std::io::ErrorKind::ConnectionRefused,
    )));
    assert_eq!(
        classify_foreign_error(&refused).category,
        ErrorCategory::ConnectionFailed
    );
    let eof = Wrapper(Box::new(std::io::Error::from(
        std::io::ErrorKind::UnexpectedEof,
    )));
    assert_eq!(
        classify_foreign_error(&eof).category,
        ErrorCategory::BackendUnavailable
    );
    let timed_out = Wrapper(Box::new(std::io::Error::from(std::io::ErrorKind::TimedOut)));
    assert_eq!(
        classify_foreign_error(&timed_out).category,
        ErrorCategory::Timeout
    );
}

#[test]
fn opaque_foreign_error_falls_back_to_its_text() {
    let auth = Wrapper(Box::new(std::io::Error::other(
        "upstream said: 401 Unauthorized",
    )));
    let failure = classify_foreign_error(&auth);
    assert_eq!(failure.status, FailureStatus::Unauthenticated);
    assert_eq!(failure.category, ErrorCategory::AuthenticationFailed);
    let other = Wrapper(Box::new(std::io::Error::other("something odd")));
    let failure = classify_foreign_error(&other);
    assert_eq!(failure.status, FailureStatus::Unhealthy);
    assert_eq!(failure.category, ErrorCategory::HealthCheckFailed);
    assert_eq!(failure.message, "foreign wrapper: something odd");
}

// ---- string fallback: one test per phrase, each with negatives --------------------------------

fn assert_auth(positives: &[&str], negatives: &[&str]) {
    for p in positives {
        assert!(is_authentication_error(p), "should match: {p:?}");
        assert_eq!(
            classify_message(p).category,
            ErrorCategory::AuthenticationFailed,
            "{p:?}"
        );
    }
    for n in negatives {
        assert!(!is_authentication_error(n), "should not match: {n:?}");
        assert_eq!(
            classify_message(n).category,
            ErrorCategory::HealthCheckFailed,
            "{n:?}"
        );
    }
}

#[test]
fn phrase_401_unauthorized() {
    assert_auth(
        &[
            "401 Unauthorized",
            "HTTP/1.1 401 Unauthorized",
            "request failed: 401   UNAUTHORIZED.",
            "got (401 unauthorized)",
        ],
        &[
            "1401 unauthorized",
            "4401 unauthorized attempts counter",
            "http://backend401 unauthorized.example.com",
        ],
    );
}

#[test]
fn phrase_unauthorized_401_in_parentheses() {
    assert_auth(
        &[
            "Unauthorized (401)",
            "server replied unauthorized (401): bad token",
        ],
        &["unauthorized (4011)", "unauthorized (401x)"],
    );
}

#[test]
fn phrase_authorization_required() {
    assert_auth(
        &[
            "Authorization Required",
            "401 Authorization Required by proxy",
        ],
        &[
            "no-authorization-required-flag set",
            "preauthorization required",
        ],
    );
}

#[test]
fn phrase_status_code_401() {
    assert_auth(
        &[
            "unexpected status code 401",
            "Status Code 401 returned",
            "status code 401: invalid token",
        ],
        &["status code 4010", "status code 1401", "status code 404"],
    );
}

#[test]
fn phrase_status_code_403() {
    assert_auth(
        &["unexpected status code 403", "STATUS CODE 403."],
        &["status code 4031", "status code 503"],
    );
}

#[test]
fn phrase_http_401() {
    assert_auth(
        &["HTTP 401", "backend returned http 401", "http 401: go away"],
        &[
            "http://backend401.example.com",
            "GET http://backend401.example.com/mcp failed",
            "https://api.example.com/v1/401",
            "http 4010",
            "http 500",
        ],
    );
}

#[test]
fn phrase_http_403() {
    assert_auth(
        &["HTTP 403", "Http 403 forbidden"],
        &[
            "http://backend403.example.com:8080/mcp",
            "http 4031",
            "http 503",
        ],
    );
}

#[test]
fn phrase_access_denied() {
    assert_auth(
        &[
            "Access Denied",
            "error: access denied for user",
            "ACCESS DENIED.",
        ],
        &["access deniedness", "s3.access.denied.example.com"],
    );
}

#[test]
fn plain_failures_are_not_authentication_errors() {
    assert_auth(
        &[],
        &[
            "",
            "connection refused",
            "HTTP 500 Internal Server Error",
            "status code 404",
            "timeout after 10s talking to http://auth401.internal/mcp",
        ],
    );
}

// ---- redaction ------------------------------------------------------------------------------

#[test]
fn redact_removes_userinfo_from_urls() {
    let msg = "connect to http://alice:s3cr3t@backend.example.com:8080/mcp failed";
    let out = redact(msg);
    assert!(!out.contains("s3cr3t") && !out.contains("alice"), "{out}");
    // Userinfo is dropped entirely (DESIGN §3.7 / issue 10): scheme, host, port and path stay.
    assert_eq!(out, "connect to http://backend.example.com:8080/mcp failed");
    assert_eq!(
        redact("see https://example.com/a@b"),
        "see https://example.com/a@b"
    );
}

#[test]
fn redact_removes_bearer_and_basic_tokens() {
    let out = redact("sent Authorization: Bearer abc.DEF-123_xyz= and Basic dXNlcjpwYXNz");
    assert!(!out.contains("abc.DEF-123_xyz="), "{out}");
    assert!(!out.contains("dXNlcjpwYXNz"), "{out}");
    let out = redact("bearer t0k3n rejected");
    assert_eq!(out, format!("bearer {REDACTED} rejected"));
}

#[test]
fn redact_removes_header_values() {
    let out = redact(r#"headers: {"x-api-key": "k-123", "accept": "application/json"}"#);
    assert!(!out.contains("k-123"), "{out}");
    assert!(out.contains("application/json"), "{out}");
    let out = redact("Proxy-Authorization: Digest username=\"u\", response=\"r\"\nnext line");
    assert_eq!(out, format!("Proxy-Authorization: {REDACTED}\nnext line"));
}

#[test]
fn redact_removes_credential_query_parameters() {
    let out = redact("GET http://h/mcp?access_token=abc123&page=2&api_key=zzz failed");
    // Every query value is redacted, whatever its key; the keys stay, for debugging.
    assert_eq!(
        out,
        format!(
            "GET http://h/mcp?access_token={REDACTED}&page={REDACTED}&api_key={REDACTED} failed"
        )
    );
}

#[test]
fn redact_leaves_clean_messages_alone() {
    for msg in [
        "initialize: rejected with HTTP 404",
        "tools/list: probe timed out after 10s",
        "connect to http://backend.example.com:8080/mcp refused",
    ] {
        assert_eq!(redact(msg), msg);
    }
}

#[test]
fn scrub_removes_exact_secret_values() {
    assert_eq!(
        scrub("token hunter2 leaked", &["hunter2", ""]),
        format!("token {REDACTED} leaked")
    );
}

#[test]
fn probe_failure_messages_are_redacted() {
    let err = BackendError::protocol(INIT, "bad reply from http://u:pw@h/mcp with Bearer xyz");
    let failure = err.to_probe_failure();
    assert!(!failure.message.contains("pw@"), "{}", failure.message);
    assert!(!failure.message.contains("xyz"), "{}", failure.message);
    let failure = BackendError::Rpc {
        step: ProbeStep::Ping,
        code: 1,
        message: "echo my-secret".into(),
    }
    .to_probe_failure_scrubbed(&["my-secret"]);
    assert!(
        !failure.message.contains("my-secret"),
        "{}",
        failure.message
    );
}
