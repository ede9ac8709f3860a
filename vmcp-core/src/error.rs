//! Typed backend errors and their classification into probe outcomes (DESIGN §3.3,
//! "Error classification").
//!
//! The client produces a [`BackendError`] for every failed probe; [`BackendError::to_probe_failure`]
//! turns it into the [`ProbeFailure`] the tracker and the reports consume. Classification is typed
//! first: the HTTP status, the I/O error kind or the JSON-RPC shape decides. Only errors that reach
//! us as opaque text from foreign code go through the string fallback
//! ([`is_authentication_error`], [`classify_message`]); that fallback is what upstream got wrong
//! (401 answers reported as "unavailable"), so it is word-boundary aware and tested with negatives.
//!
//! Every message that leaves this module goes through [`redact`](crate::redact::redact): reports are published to
//! Kubernetes and logs, so they must never carry credentials.

use std::fmt;
use std::time::Duration;

use crate::health::{ErrorCategory, FailureStatus, ProbeFailure};
use crate::redact::{redact, scrub};

/// The step of a probe (one MCP session) an error happened in. Shown in messages so an operator
/// can tell "refused at initialize" from "dropped during tools/list".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProbeStep {
    /// Checking the backend's endpoint and credentials before any traffic.
    Prepare,
    /// The `initialize` request.
    Initialize,
    /// The `notifications/initialized` notification.
    Initialized,
    /// The `tools/list` request (the server advertised tools).
    ListTools,
    /// The `ping` request (the server advertised no tools).
    Ping,
    /// The best-effort `DELETE` that ends the session.
    DeleteSession,
    /// `resources/list` (the probe fills the front end's capability cache).
    ListResources,
    /// `prompts/list` (the probe fills the front end's capability cache).
    ListPrompts,
    /// A request the front end forwards for a client (`tools/call`, `resources/read`,
    /// `prompts/get`, `notifications/cancelled`).
    Forward,
}

impl ProbeStep {
    /// The name used in messages (the JSON-RPC method where there is one).
    pub const fn as_str(self) -> &'static str {
        match self {
            ProbeStep::Prepare => "prepare",
            ProbeStep::Initialize => "initialize",
            ProbeStep::Initialized => "notifications/initialized",
            ProbeStep::ListTools => "tools/list",
            ProbeStep::Ping => "ping",
            ProbeStep::DeleteSession => "delete session",
            ProbeStep::ListResources => "resources/list",
            ProbeStep::ListPrompts => "prompts/list",
            ProbeStep::Forward => "forwarded request",
        }
    }
}

impl fmt::Display for ProbeStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a backend could not be reached or answered with a server-side failure.
///
/// The split matters for reports: connection-level causes are `connection_failed` (nothing
/// answered), the others `backend_unavailable` (something answered, badly).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnavailableCause {
    /// The TCP connect was refused (nothing listening, pod not ready).
    ConnectionRefused,
    /// The connection was reset or aborted by the peer.
    ConnectionReset,
    /// The TCP connect did not complete within `connect_timeout` (a blackholed or crashed host).
    ConnectTimeout(Duration),
    /// Connecting failed for another reason (DNS, unsupported scheme, ...). Redacted detail.
    ConnectFailed(String),
    /// The backend answered with this 5xx status.
    ServerError(u16),
    /// The connection closed before a complete response (EOF, "closed before message completed").
    ClosedEarly,
    /// Another transport failure after the connection was established. Redacted detail.
    Transport(String),
}

impl UnavailableCause {
    /// The report category of this cause.
    pub const fn category(&self) -> ErrorCategory {
        match self {
            UnavailableCause::ConnectionRefused
            | UnavailableCause::ConnectionReset
            | UnavailableCause::ConnectTimeout(_)
            | UnavailableCause::ConnectFailed(_) => ErrorCategory::ConnectionFailed,
            UnavailableCause::ServerError(_)
            | UnavailableCause::ClosedEarly
            | UnavailableCause::Transport(_) => ErrorCategory::BackendUnavailable,
        }
    }
}

impl fmt::Display for UnavailableCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnavailableCause::ConnectionRefused => f.write_str("connection refused"),
            UnavailableCause::ConnectionReset => f.write_str("connection reset"),
            UnavailableCause::ConnectTimeout(d) => {
                write!(
                    f,
                    "connect timed out after {}",
                    humantime::format_duration(*d)
                )
            }
            UnavailableCause::ConnectFailed(detail) => write!(f, "connect failed: {detail}"),
            UnavailableCause::ServerError(status) => write!(f, "HTTP {status}"),
            UnavailableCause::ClosedEarly => {
                f.write_str("connection closed before the response completed")
            }
            UnavailableCause::Transport(detail) => write!(f, "transport error: {detail}"),
        }
    }
}

/// Why a TLS connection to an `https://` backend failed (DESIGN §3.7). Reported under the
/// [`ErrorCategory::Tls`] category: a certificate problem is a configuration problem on one side
/// or the other, which an operator must be able to tell from "the backend is down".
///
/// Feature-independent on purpose: the rustls errors are mapped in `client::tls` (feature
/// `tls`), but the vocabulary exists in every build, so reports, scenarios and the simulation
/// never depend on the feature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    /// The certificate chain does not lead to a trusted root: a private CA that is not in
    /// `operational.tls.ca_file` (or the platform store), or a self-signed certificate.
    UnknownIssuer,
    /// The certificate is not valid for the host name (or IP address) of the backend URL.
    /// Redacted, bounded detail (the expected and the presented names, as rustls tells them).
    NameMismatch(String),
    /// The certificate's validity period has ended.
    Expired,
    /// The certificate's validity period has not begun.
    NotYetValid,
    /// The certificate was revoked.
    Revoked,
    /// Another certificate problem (bad encoding, bad signature, wrong key usage, ...).
    /// Redacted, bounded detail.
    InvalidCertificate(String),
    /// The TLS handshake failed for a reason other than the certificate: the peer does not speak
    /// TLS, sent an alert, or shares no protocol version or cipher suite. Redacted, bounded
    /// detail.
    Handshake(String),
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::UnknownIssuer => f.write_str(
                "invalid certificate: unknown issuer (not signed by a trusted CA; set \
                 operational.tls.ca_file to the CA that signed it)",
            ),
            TlsFailure::NameMismatch(detail) => write!(
                f,
                "invalid certificate: not valid for the backend's host name ({detail})"
            ),
            TlsFailure::Expired => f.write_str("invalid certificate: expired"),
            TlsFailure::NotYetValid => f.write_str("invalid certificate: not valid yet"),
            TlsFailure::Revoked => f.write_str("invalid certificate: revoked"),
            TlsFailure::InvalidCertificate(detail) => write!(f, "invalid certificate: {detail}"),
            TlsFailure::Handshake(detail) => write!(f, "handshake failed: {detail}"),
        }
    }
}

/// A failed probe, typed. Its `Display` is credential-free (only statuses, steps and redacted
/// details), so it can go to logs as is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// HTTP 401: the backend refused our credentials (or wants some).
    #[error("{step}: authentication failed (HTTP 401)")]
    AuthenticationFailed {
        /// Where it happened.
        step: ProbeStep,
    },
    /// HTTP 403: the credentials were accepted but not allowed.
    #[error("{step}: authorization failed (HTTP 403)")]
    AuthorizationFailed {
        /// Where it happened.
        step: ProbeStep,
    },
    /// Another 4xx (or an unexpected 1xx/3xx) answer: a legacy SSE-only server, a pod that is not
    /// ready, a proxy in the way. The startup-race bug lives here.
    #[error("{step}: rejected with HTTP {status}")]
    Rejected {
        /// Where it happened.
        step: ProbeStep,
        /// The HTTP status.
        status: u16,
    },
    /// HTTP 404 on a request that carried a session id: the server forgot the session. The probe
    /// re-initializes once; this is the outcome only if that retry hits it again.
    #[error("{step}: session terminated by the server (HTTP 404)")]
    SessionTerminated {
        /// Where it happened.
        step: ProbeStep,
    },
    /// 5xx, refused or reset connections, EOF before a complete response.
    #[error("{step}: backend unavailable: {cause}")]
    Unavailable {
        /// Where it happened.
        step: ProbeStep,
        /// What exactly.
        cause: UnavailableCause,
    },
    /// The TLS connection to an `https://` backend failed: its certificate was refused or the
    /// handshake failed. Nothing was sent over HTTP.
    #[error("{step}: TLS error: {failure}")]
    Tls {
        /// Where it happened.
        step: ProbeStep,
        /// What exactly.
        failure: TlsFailure,
    },
    /// The whole probe did not finish within `health_check_timeout`.
    #[error("{step}: probe timed out after {}", humantime::format_duration(*after))]
    Timeout {
        /// The step that was running when the deadline passed.
        step: ProbeStep,
        /// The deadline that passed.
        after: Duration,
    },
    /// Malformed HTTP, JSON-RPC or SSE, an unsupported protocol version, or a JSON-RPC error
    /// answer to `initialize`.
    #[error("{step}: protocol error: {detail}")]
    Protocol {
        /// Where it happened.
        step: ProbeStep,
        /// What was wrong (redacted, bounded).
        detail: String,
    },
    /// A response body or one SSE event exceeded `max_body_bytes`. Reading stops at the limit:
    /// a backend can never make the core buffer without bound.
    #[error("{step}: response larger than {limit} bytes")]
    BodyTooLarge {
        /// Where it happened.
        step: ProbeStep,
        /// The limit that was exceeded.
        limit: u64,
    },
    /// A well-formed JSON-RPC error answer to `tools/list` or `ping`: the session works but the
    /// server says it cannot serve.
    #[error("{step}: JSON-RPC error {code}: {message}")]
    Rpc {
        /// Where it happened.
        step: ProbeStep,
        /// The JSON-RPC error code.
        code: i32,
        /// The server's message (redacted, bounded).
        message: String,
    },
    /// The probe was cancelled (shutdown, endpoint change) before it finished.
    #[error("probe cancelled")]
    Cancelled,
    /// The backend's configured endpoint or credentials cannot be used (bad URL, credentials in
    /// the URL, an invalid header name). Nothing was sent.
    #[error("invalid backend endpoint: {detail}")]
    InvalidEndpoint {
        /// What is wrong (never the credential itself).
        detail: String,
    },
}

impl BackendError {
    /// Build a [`BackendError::Protocol`] with a redacted, length-bounded detail.
    pub fn protocol(step: ProbeStep, detail: impl AsRef<str>) -> Self {
        BackendError::Protocol {
            step,
            detail: bounded(&redact(detail.as_ref())),
        }
    }

    /// Classify a non-success HTTP status answered to `step`. `sent_session` tells whether the
    /// request carried an `Mcp-Session-Id` (only then is a 404 a terminated session).
    pub fn from_status(step: ProbeStep, status: u16, sent_session: bool) -> Self {
        match status {
            401 => BackendError::AuthenticationFailed { step },
            403 => BackendError::AuthorizationFailed { step },
            404 if sent_session => BackendError::SessionTerminated { step },
            500..=599 => BackendError::Unavailable {
                step,
                cause: UnavailableCause::ServerError(status),
            },
            _ => BackendError::Rejected { step, status },
        }
    }

    /// The status this error points the backend to.
    pub const fn status(&self) -> FailureStatus {
        match self {
            BackendError::AuthenticationFailed { .. }
            | BackendError::AuthorizationFailed { .. } => FailureStatus::Unauthenticated,
            _ => FailureStatus::Unhealthy,
        }
    }

    /// The report category of this error.
    pub const fn category(&self) -> ErrorCategory {
        match self {
            BackendError::AuthenticationFailed { .. }
            | BackendError::AuthorizationFailed { .. } => ErrorCategory::AuthenticationFailed,
            BackendError::Rejected { .. } | BackendError::SessionTerminated { .. } => {
                ErrorCategory::BackendUnavailable
            }
            BackendError::Unavailable { cause, .. } => cause.category(),
            BackendError::Tls { .. } => ErrorCategory::Tls,
            BackendError::Timeout { .. } => ErrorCategory::Timeout,
            BackendError::Protocol { .. } | BackendError::BodyTooLarge { .. } => {
                ErrorCategory::ProtocolError
            }
            BackendError::Cancelled => ErrorCategory::Cancelled,
            BackendError::Rpc { .. } | BackendError::InvalidEndpoint { .. } => {
                ErrorCategory::HealthCheckFailed
            }
        }
    }

    /// The step the error happened in, if it belongs to one.
    pub const fn step(&self) -> Option<ProbeStep> {
        match self {
            BackendError::AuthenticationFailed { step }
            | BackendError::AuthorizationFailed { step }
            | BackendError::Rejected { step, .. }
            | BackendError::SessionTerminated { step }
            | BackendError::Unavailable { step, .. }
            | BackendError::Tls { step, .. }
            | BackendError::Timeout { step, .. }
            | BackendError::Protocol { step, .. }
            | BackendError::BodyTooLarge { step, .. }
            | BackendError::Rpc { step, .. } => Some(*step),
            BackendError::Cancelled | BackendError::InvalidEndpoint { .. } => None,
        }
    }

    /// The classified, redacted failure for the tracker and the reports.
    pub fn to_probe_failure(&self) -> ProbeFailure {
        ProbeFailure {
            status: self.status(),
            category: self.category(),
            message: redact(&self.to_string()),
        }
    }

    /// Like [`BackendError::to_probe_failure`], also scrubbing the given secret values verbatim
    /// (defence in depth: the client knows the exact credentials it sent).
    pub fn to_probe_failure_scrubbed(&self, secrets: &[&str]) -> ProbeFailure {
        let mut failure = self.to_probe_failure();
        failure.message = scrub(&failure.message, secrets);
        failure
    }
}

impl From<&BackendError> for ProbeFailure {
    fn from(err: &BackendError) -> Self {
        err.to_probe_failure()
    }
}

/// Classify an opaque error chain from foreign code: a [`BackendError`] or an I/O error anywhere
/// in the chain is classified by type; otherwise the rendered chain goes through
/// [`classify_message`].
pub fn classify_foreign_error(err: &(dyn std::error::Error + 'static)) -> ProbeFailure {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(backend) = e.downcast_ref::<BackendError>() {
            return backend.to_probe_failure();
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(cause) = unavailable_cause_from_io(io) {
                return BackendError::Unavailable {
                    step: ProbeStep::Prepare,
                    cause,
                }
                .to_probe_failure();
            }
            if io.kind() == std::io::ErrorKind::TimedOut {
                return ProbeFailure {
                    status: FailureStatus::Unhealthy,
                    category: ErrorCategory::Timeout,
                    message: redact(&render_chain(err)),
                };
            }
        }
        current = e.source();
    }
    classify_message(&render_chain(err))
}

/// The connection-level cause an I/O error stands for, if it is one of the typed ones.
pub fn unavailable_cause_from_io(err: &std::io::Error) -> Option<UnavailableCause> {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::ConnectionRefused => Some(UnavailableCause::ConnectionRefused),
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Some(UnavailableCause::ConnectionReset)
        }
        ErrorKind::UnexpectedEof => Some(UnavailableCause::ClosedEarly),
        _ => None,
    }
}

/// The string fallback for an opaque message: authentication-looking text (see
/// [`is_authentication_error`]) is `unauthenticated`/`authentication_failed`, anything else
/// `unhealthy`/`health_check_failed`. The message is redacted.
pub fn classify_message(msg: &str) -> ProbeFailure {
    let message = bounded(&redact(msg));
    if is_authentication_error(msg) {
        ProbeFailure {
            status: FailureStatus::Unauthenticated,
            category: ErrorCategory::AuthenticationFailed,
            message,
        }
    } else {
        ProbeFailure {
            status: FailureStatus::Unhealthy,
            category: ErrorCategory::HealthCheckFailed,
            message,
        }
    }
}

/// Phrases that mean "credentials refused" in messages of HTTP libraries and proxies. Matched
/// case-insensitively, with runs of whitespace collapsed, on word boundaries.
const AUTH_PHRASES: &[&str] = &[
    "401 unauthorized",
    "unauthorized (401)",
    "403 forbidden",
    "forbidden (403)",
    "authorization required",
    "authentication required",
    "status code 401",
    "status code 403",
    "status 401",
    "status 403",
    "http 401",
    "http 403",
    "http/1.0 401",
    "http/1.1 401",
    "http/1.0 403",
    "http/1.1 403",
    "access denied",
];

/// Whether an opaque error message says the backend refused our credentials.
///
/// Case-insensitive, whitespace-tolerant and word-boundary aware: a phrase only matches when the
/// characters around it are not letters, digits or URL-ish joiners, so
/// `http://backend401.example.com` or `status code 4010` do not count.
pub fn is_authentication_error(msg: &str) -> bool {
    let normalized = normalize(msg);
    AUTH_PHRASES
        .iter()
        .any(|phrase| contains_on_word_boundary(&normalized, phrase))
}

/// Lower-case and collapse every run of whitespace into one space.
fn normalize(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut in_space = false;
    for c in msg.chars() {
        if c.is_whitespace() {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.extend(c.to_lowercase());
            in_space = false;
        }
    }
    out
}

/// Characters that glue a phrase to a larger token (a word, a number, a host name, a path).
fn is_joiner(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '/' | '-' | '@')
}

fn contains_on_word_boundary(haystack: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = haystack[from..].find(needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = haystack[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_joiner(c));
        // A phrase may be followed by punctuation that ends a clause ("... 401: ..."), but not by
        // something that continues the token ("4010", "401.example").
        let after_ok = match haystack[end..].chars().next() {
            None => true,
            Some(c) => !c.is_alphanumeric() && !matches!(c, '_' | '.' | '/' | '-' | '@'),
        };
        // "401 ." at sentence end is fine: a dot followed by nothing or a space ends the token.
        let after_ok = after_ok
            || (haystack[end..].starts_with('.')
                && haystack[end + 1..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace));
        if before_ok && after_ok {
            return true;
        }
        from = start + needle.chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// Redact and bound a detail taken from a foreign source (a server message, a library error).
pub fn sanitize(msg: &str) -> String {
    bounded(&redact(msg))
}

/// Bound a detail taken from a foreign source, so a hostile backend cannot flood reports.
fn bounded(msg: &str) -> String {
    const MAX: usize = 300;
    if msg.len() <= MAX {
        return msg.to_owned();
    }
    let mut end = MAX;
    while !msg.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &msg[..end])
}

fn render_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut current = err.source();
    while let Some(e) = current {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        current = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redact::REDACTED;
    use std::io::{Error as IoError, ErrorKind};

    const INIT: ProbeStep = ProbeStep::Initialize;

    #[test]
    fn steps_have_their_message_names() {
        use ProbeStep as P;
        let steps = [
            (P::Prepare, "prepare"),
            (P::Initialize, "initialize"),
            (P::Initialized, "notifications/initialized"),
            (P::ListTools, "tools/list"),
            (P::Ping, "ping"),
            (P::DeleteSession, "delete session"),
            (P::ListResources, "resources/list"),
            (P::ListPrompts, "prompts/list"),
            (P::Forward, "forwarded request"),
        ];
        for (step, name) in steps {
            assert_eq!(step.as_str(), name);
            assert_eq!(step.to_string(), name);
        }
    }

    #[test]
    fn http_statuses_are_classified() {
        use BackendError as E;
        let cases = [
            (401, false, E::AuthenticationFailed { step: INIT }),
            (401, true, E::AuthenticationFailed { step: INIT }),
            (403, false, E::AuthorizationFailed { step: INIT }),
            (404, true, E::SessionTerminated { step: INIT }),
            (
                404,
                false,
                E::Rejected {
                    step: INIT,
                    status: 404,
                },
            ),
            (
                400,
                true,
                E::Rejected {
                    step: INIT,
                    status: 400,
                },
            ),
            (
                302,
                false,
                E::Rejected {
                    step: INIT,
                    status: 302,
                },
            ),
            (
                499,
                false,
                E::Rejected {
                    step: INIT,
                    status: 499,
                },
            ),
            (
                600,
                false,
                E::Rejected {
                    step: INIT,
                    status: 600,
                },
            ),
            (
                500,
                false,
                E::Unavailable {
                    step: INIT,
                    cause: UnavailableCause::ServerError(500),
                },
            ),
            (
                599,
                true,
                E::Unavailable {
                    step: INIT,
                    cause: UnavailableCause::ServerError(599),
                },
            ),
        ];
        for (status, sent_session, expected) in cases {
            assert_eq!(
                BackendError::from_status(INIT, status, sent_session),
                expected,
                "{status}"
            );
        }
    }

    /// Every variant: status, category, step and message (DESIGN §3.3's table).
    #[test]
    fn every_error_has_its_status_category_step_and_message() {
        use BackendError as E;
        use ErrorCategory as C;
        use FailureStatus::{Unauthenticated as Auth, Unhealthy as Down};
        use UnavailableCause as U;
        let ping = ProbeStep::Ping;
        let cases: Vec<(E, FailureStatus, C, Option<ProbeStep>, &str)> = vec![
            (
                E::AuthenticationFailed { step: INIT },
                Auth,
                C::AuthenticationFailed,
                Some(INIT),
                "initialize: authentication failed (HTTP 401)",
            ),
            (
                E::AuthorizationFailed { step: ping },
                Auth,
                C::AuthenticationFailed,
                Some(ping),
                "ping: authorization failed (HTTP 403)",
            ),
            (
                E::Rejected {
                    step: INIT,
                    status: 405,
                },
                Down,
                C::BackendUnavailable,
                Some(INIT),
                "initialize: rejected with HTTP 405",
            ),
            (
                E::SessionTerminated { step: ping },
                Down,
                C::BackendUnavailable,
                Some(ping),
                "ping: session terminated by the server (HTTP 404)",
            ),
            (
                E::Unavailable {
                    step: INIT,
                    cause: U::ConnectionRefused,
                },
                Down,
                C::ConnectionFailed,
                Some(INIT),
                "initialize: backend unavailable: connection refused",
            ),
            (
                E::Unavailable {
                    step: INIT,
                    cause: U::ConnectionReset,
                },
                Down,
                C::ConnectionFailed,
                Some(INIT),
                "initialize: backend unavailable: connection reset",
            ),
            (
                E::Unavailable {
                    step: INIT,
                    cause: U::ConnectTimeout(Duration::from_millis(1500)),
                },
                Down,
                C::ConnectionFailed,
                Some(INIT),
                "initialize: backend unavailable: connect timed out after 1s 500ms",
            ),
            (
                E::Unavailable {
                    step: INIT,
                    cause: U::ConnectFailed("dns error".into()),
                },
                Down,
                C::ConnectionFailed,
                Some(INIT),
                "initialize: backend unavailable: connect failed: dns error",
            ),
            (
                E::Unavailable {
                    step: ping,
                    cause: U::ServerError(503),
                },
                Down,
                C::BackendUnavailable,
                Some(ping),
                "ping: backend unavailable: HTTP 503",
            ),
            (
                E::Unavailable {
                    step: ping,
                    cause: U::ClosedEarly,
                },
                Down,
                C::BackendUnavailable,
                Some(ping),
                "ping: backend unavailable: connection closed before the response completed",
            ),
            (
                E::Unavailable {
                    step: ping,
                    cause: U::Transport("h2 frame".into()),
                },
                Down,
                C::BackendUnavailable,
                Some(ping),
                "ping: backend unavailable: transport error: h2 frame",
            ),
            (
                E::Tls {
                    step: INIT,
                    failure: TlsFailure::Expired,
                },
                Down,
                C::Tls,
                Some(INIT),
                "initialize: TLS error: invalid certificate: expired",
            ),
            (
                E::Timeout {
                    step: ping,
                    after: Duration::from_secs(2),
                },
                Down,
                C::Timeout,
                Some(ping),
                "ping: probe timed out after 2s",
            ),
            (
                E::protocol(INIT, "bad json"),
                Down,
                C::ProtocolError,
                Some(INIT),
                "initialize: protocol error: bad json",
            ),
            (
                E::BodyTooLarge {
                    step: ping,
                    limit: 10,
                },
                Down,
                C::ProtocolError,
                Some(ping),
                "ping: response larger than 10 bytes",
            ),
            (
                E::Rpc {
                    step: ping,
                    code: -32603,
                    message: "boom".into(),
                },
                Down,
                C::HealthCheckFailed,
                Some(ping),
                "ping: JSON-RPC error -32603: boom",
            ),
            (E::Cancelled, Down, C::Cancelled, None, "probe cancelled"),
            (
                E::InvalidEndpoint {
                    detail: "no host".into(),
                },
                Down,
                C::HealthCheckFailed,
                None,
                "invalid backend endpoint: no host",
            ),
        ];
        for (err, status, category, step, message) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.category(), category, "{err:?}");
            assert_eq!(err.step(), step, "{err:?}");
            assert_eq!(err.to_string(), message);
            let expected = ProbeFailure {
                status,
                category,
                message: message.to_owned(),
            };
            assert_eq!(err.to_probe_failure(), expected);
            assert_eq!(ProbeFailure::from(&err), expected);
        }
    }

    #[test]
    fn tls_failures_say_what_is_wrong_with_the_certificate() {
        use TlsFailure as T;
        let cases = [
            (
                T::UnknownIssuer,
                "invalid certificate: unknown issuer (not signed by a trusted CA; set operational.tls.ca_file to the CA that signed it)",
            ),
            (
                T::NameMismatch("a vs b".into()),
                "invalid certificate: not valid for the backend's host name (a vs b)",
            ),
            (T::Expired, "invalid certificate: expired"),
            (T::NotYetValid, "invalid certificate: not valid yet"),
            (T::Revoked, "invalid certificate: revoked"),
            (
                T::InvalidCertificate("bad sig".into()),
                "invalid certificate: bad sig",
            ),
            (T::Handshake("alert".into()), "handshake failed: alert"),
        ];
        for (failure, message) in cases {
            assert_eq!(failure.to_string(), message);
        }
    }

    #[test]
    fn messages_are_redacted_and_scrubbed() {
        let err = BackendError::protocol(INIT, "echo Authorization: Bearer s3cr3t here");
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
        // A message built without the constructor is redacted on the way out.
        let rpc = BackendError::Rpc {
            step: ProbeStep::Ping,
            code: 1,
            message: "see http://u:pw@h/x?token=t0k plain-secret".into(),
        };
        let failure = rpc.to_probe_failure();
        assert!(
            !failure.message.contains("pw@") && !failure.message.contains("t0k"),
            "{failure:?}"
        );
        assert!(failure.message.contains("plain-secret"));
        let scrubbed = rpc.to_probe_failure_scrubbed(&["plain-secret"]);
        assert!(!scrubbed.message.contains("plain-secret"), "{scrubbed:?}");
        assert!(scrubbed.message.contains(REDACTED));
        assert_eq!(
            (scrubbed.status, scrubbed.category),
            (failure.status, failure.category)
        );
    }

    #[test]
    fn io_errors_map_to_connection_causes() {
        let cases = [
            (
                ErrorKind::ConnectionRefused,
                Some(UnavailableCause::ConnectionRefused),
            ),
            (
                ErrorKind::ConnectionReset,
                Some(UnavailableCause::ConnectionReset),
            ),
            (
                ErrorKind::ConnectionAborted,
                Some(UnavailableCause::ConnectionReset),
            ),
            (
                ErrorKind::BrokenPipe,
                Some(UnavailableCause::ConnectionReset),
            ),
            (
                ErrorKind::UnexpectedEof,
                Some(UnavailableCause::ClosedEarly),
            ),
            (ErrorKind::TimedOut, None),
            (ErrorKind::NotFound, None),
        ];
        for (kind, cause) in cases {
            assert_eq!(
                unavailable_cause_from_io(&IoError::from(kind)),
                cause,
                "{kind:?}"
            );
        }
    }

    /// An error whose source is `inner`, for chains.
    #[derive(Debug)]
    struct Wrap(&'static str, Box<dyn std::error::Error + 'static>);
    impl fmt::Display for Wrap {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Wrap {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    #[test]
    fn foreign_error_chains_are_classified_by_type_first() {
        let typed = Wrap("request failed", Box::new(BackendError::Cancelled));
        assert_eq!(
            classify_foreign_error(&typed),
            BackendError::Cancelled.to_probe_failure()
        );

        let refused = Wrap(
            "connect",
            Box::new(IoError::new(ErrorKind::ConnectionRefused, "nope")),
        );
        let f = classify_foreign_error(&refused);
        assert_eq!(
            (f.status, f.category),
            (FailureStatus::Unhealthy, ErrorCategory::ConnectionFailed)
        );
        assert_eq!(
            f.message,
            "prepare: backend unavailable: connection refused"
        );

        let timed_out = Wrap(
            "call",
            Box::new(IoError::new(ErrorKind::TimedOut, "too slow")),
        );
        let f = classify_foreign_error(&timed_out);
        assert_eq!(
            (f.status, f.category),
            (FailureStatus::Unhealthy, ErrorCategory::Timeout)
        );
        assert_eq!(f.message, "call: too slow");

        // An untyped I/O error falls through to the text, whole chain rendered once.
        let other = Wrap(
            "HTTP 401 from proxy",
            Box::new(IoError::other("HTTP 401 from proxy")),
        );
        let f = classify_foreign_error(&other);
        assert_eq!(
            (f.status, f.category),
            (
                FailureStatus::Unauthenticated,
                ErrorCategory::AuthenticationFailed
            )
        );
        assert_eq!(f.message, "HTTP 401 from proxy");
        let opaque = Wrap(
            "outer",
            Box::new(Wrap("inner", Box::new(IoError::other("root")))),
        );
        let f = classify_foreign_error(&opaque);
        assert_eq!(
            (f.status, f.category),
            (FailureStatus::Unhealthy, ErrorCategory::HealthCheckFailed)
        );
        assert_eq!(f.message, "outer: inner: root");
    }

    #[test]
    fn the_text_fallback_matches_auth_phrases_on_word_boundaries() {
        let yes = [
            "HTTP 401",
            "got  http\t401 from upstream",
            "401 Unauthorized",
            "server said: 403 FORBIDDEN.",
            "status code 401: denied",
            "error (status code 401)",
            "Access denied.",
            "status code 4010, then status code 401",
            "http 401. retrying",
        ];
        let no = [
            "",
            "all fine",
            "http://backend401.example.com",
            "status code 4010",
            "xhttp 401",
            "http 401.example",
            "http 401_x",
            "see /http 401",
            "http 401.x",
            "a.http 401",
            "http 401-2",
        ];
        for msg in yes {
            assert!(is_authentication_error(msg), "{msg:?} should match");
            let f = classify_message(msg);
            assert_eq!(
                (f.status, f.category),
                (
                    FailureStatus::Unauthenticated,
                    ErrorCategory::AuthenticationFailed
                ),
                "{msg:?}"
            );
            assert_eq!(f.message, msg);
        }
        for msg in no {
            assert!(!is_authentication_error(msg), "{msg:?} should not match");
            let f = classify_message(msg);
            assert_eq!(
                (f.status, f.category),
                (FailureStatus::Unhealthy, ErrorCategory::HealthCheckFailed),
                "{msg:?}"
            );
        }
        // Non-ASCII around a phrase is walked correctly.
        assert!(is_authentication_error("é http 401 é"));
        assert!(!is_authentication_error("éhttp 401"));
    }

    #[test]
    fn normalize_lowercases_and_collapses_whitespace() {
        assert_eq!(normalize("  A\t\nB  C "), " a b c ");
        assert_eq!(normalize("ÄB"), "äb");
    }

    #[test]
    fn foreign_details_are_bounded_at_a_character_boundary() {
        let exact = "a".repeat(300);
        assert_eq!(bounded(&exact), exact);
        assert_eq!(sanitize(&exact), exact);
        let long = "b".repeat(301);
        assert_eq!(bounded(&long), format!("{}…", "b".repeat(300)));
        // 'é' is two bytes, at 299..301: the cut goes before it.
        let straddling = format!("{}é{}", "c".repeat(299), "d".repeat(10));
        assert_eq!(bounded(&straddling), format!("{}…", "c".repeat(299)));
        assert_eq!(
            sanitize("token=x Bearer abc.def"),
            format!("token=x Bearer {REDACTED}")
        );
    }

    #[test]
    fn chains_render_each_distinct_message_once() {
        let err = Wrap("a: b", Box::new(Wrap("b", Box::new(IoError::other("c")))));
        assert_eq!(render_chain(&err), "a: b: c");
        assert_eq!(render_chain(&IoError::other("solo")), "solo");
    }
}
