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
