//! What a simulated pod does with the requests it receives.

use std::time::Duration;

use http::StatusCode;

/// A pod's runtime behaviour (DESIGN §4.1). Set through [`super::PodHandle::set_behaviour`].
///
/// What a client of the pod observes, per variant, is documented on the variant; the table in
/// DESIGN §3.3 maps those observations to error kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PodBehaviour {
    /// A correct MCP server: sessions, `initialize`, `tools/list` (one tool), `ping`, `DELETE`.
    Healthy,
    /// Answers `code` with a short text body: to every request, or only to `initialize` (other
    /// requests are then served normally). A 401 carries `WWW-Authenticate: Bearer`.
    Status {
        /// The HTTP status to answer.
        code: StatusCode,
        /// Only `initialize` requests get `code`.
        only_initialize: bool,
    },
    /// Healthy, but every response is delayed by this much simulated time.
    Slow(Duration),
    /// Accepts connections and reads requests but never answers; the client needs a timeout.
    Hang,
    /// Reads each request, then closes the connection without answering: the client sees the
    /// connection closed before the response (hyper `IncompleteMessage`).
    Close,
    /// The process is not running: the pod has no listening socket, so a connect is refused at
    /// once (turmoil drops a SYN to an unbound port, which fails the connect with
    /// `ConnectionRefused`); connections it had are closed.
    Refuse,
    /// A legacy HTTP+SSE MCP server: `POST` answers 405, `GET` opens an SSE stream whose first
    /// event is `endpoint`. A Streamable-HTTP client's `initialize` therefore gets a 4xx.
    LegacySse,
    /// The server lost its session table (e.g. restarted behind the client's back): every request
    /// other than `initialize` answers 404.
    ForgetSessions,
    /// The process is still starting: behaves like [`PodBehaviour::Refuse`] until this much simulated
    /// time has passed since the later of the pod's (re)start and the moment this behaviour was
    /// set, then like [`PodBehaviour::Healthy`].
    StartingFor(Duration),
}

/// How successful JSON-RPC replies are framed, orthogonal to [`PodBehaviour`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplyMode {
    /// `Content-Type: application/json`, the JSON-RPC response as the body.
    #[default]
    Json,
    /// `Content-Type: text/event-stream`: a priming event (an event id and empty data), then one
    /// `message` event carrying the JSON-RPC response; the stream then ends.
    Sse,
}
