//! The `/mcp` endpoint: MCP Streamable HTTP, revisions 2025-03-26, 2025-06-18 and 2025-11-25.
//!
//! * `POST` carries one JSON-RPC message (or, in 2025-03-26 only, a batch). Requests get an
//!   `application/json` response; notifications and responses get `202 Accepted`.
//! * `GET` opens the session's server→client SSE stream (`list_changed` notifications).
//! * `DELETE` ends the session.
//!
//! Bad input never panics or hangs: malformed JSON → 400 with -32700, a forbidden batch or a
//! message that is not JSON-RPC → 400 with -32600, unknown method → -32601, a missing session id
//! → 400, an unknown or expired one → 404, a body over `max_body_bytes` → 413.
//!
//! [`Frontend::handle`] is generic over the request body, and [`Frontend::serve_connection`] over
//! the connection I/O, so a turmoil stream (or an in-memory duplex) can drive the same code.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::BodyExt;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rmcp::model::{ErrorCode, ErrorData, JsonObject, ProtocolVersion, RequestId};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::client::BackendConnector;
use crate::client::session::{Collected, MCP_PROTOCOL_VERSION, MCP_SESSION_ID};
use crate::config::PartialFailureMode;
use crate::frontend::aggregate::Kind;
use crate::frontend::body::{FrontendBody, sse_event};
use crate::frontend::routing::close_soon;
use crate::frontend::session::{ClientSession, Pushed};
use crate::frontend::{Frontend, FrontendEvent, MCP_PATH, WriteDeadline};

/// The protocol revisions the front end speaks, oldest first.
pub(super) const SUPPORTED_VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V_2025_03_26,
    ProtocolVersion::V_2025_06_18,
    ProtocolVersion::V_2025_11_25,
];

/// Pick the revision for a client that asked for `requested`: that one when supported, else
/// the newest supported (the client then decides whether it can continue).
pub(super) fn negotiate(requested: &str) -> &'static ProtocolVersion {
    SUPPORTED_VERSIONS
        .iter()
        .find(|v| v.as_str() == requested)
        .unwrap_or(&SUPPORTED_VERSIONS[2])
}

/// Whether a revision still allows JSON-RPC batches (only 2025-03-26).
fn allows_batches(version: &str) -> bool {
    version == ProtocolVersion::V_2025_03_26.as_str()
}

fn response(status: StatusCode, body: FrontendBody) -> Response<FrontendBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<FrontendBody> {
    bytes_response(status, encode(value))
}

/// Encode a message. Values and raw JSON always encode; the empty fallback is unreachable.
fn encode<T: serde::Serialize>(message: &T) -> Vec<u8> {
    serde_json::to_vec(message).unwrap_or_default()
}

/// A `result` to send: a value built here, or a backend's result as it wrote it.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Payload {
    Object(JsonObject),
    Raw(Box<RawValue>),
}

/// A JSON-RPC response, encoded straight from its parts (no value tree for the result).
#[derive(serde::Serialize)]
struct ResultMessage<'a> {
    jsonrpc: &'static str,
    id: &'a Value,
    result: &'a Payload,
}

/// A response with an already encoded JSON body.
fn bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response<FrontendBody> {
    let mut response = response(status, FrontendBody::full(bytes));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error_value(id: Option<&Value>, error: &ErrorData) -> Value {
    json!({"jsonrpc": "2.0", "id": id.cloned().unwrap_or(Value::Null), "error": error})
}

/// An HTTP error with a JSON-RPC error body (id null).
fn http_error(
    status: StatusCode,
    code: ErrorCode,
    message: impl Into<String>,
) -> Response<FrontendBody> {
    let error = ErrorData::new(code, message.into(), None);
    json_response(status, &error_value(None, &error))
}

fn accepted() -> Response<FrontendBody> {
    response(StatusCode::ACCEPTED, FrontendBody::empty())
}

/// One parsed JSON-RPC message from a client.
enum Incoming {
    Request {
        id: Value,
        method: String,
        params: Option<Value>,
    },
    Notification {
        method: String,
        params: Option<Value>,
    },
    /// A response to a server request; vmcp sends none, so these are acknowledged and dropped.
    Response,
}

/// Take one message apart (by value: params are moved, never deep-copied).
fn classify(message: Value) -> Result<Incoming, ErrorData> {
    let invalid = |why: &str| ErrorData::new(ErrorCode::INVALID_REQUEST, why.to_owned(), None);
    let Value::Object(mut object) = message else {
        return Err(invalid("a JSON-RPC message must be an object"));
    };
    if object.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid("jsonrpc must be \"2.0\""));
    }
    let params = object.remove("params");
    if let Some(params) = &params {
        if !params.is_object() && !params.is_array() {
            return Err(invalid("params must be an object"));
        }
    }
    match (object.remove("id"), object.remove("method")) {
        (Some(id), Some(Value::String(method))) => {
            if !(id.is_string() || id.is_i64() || id.is_u64()) {
                return Err(invalid("id must be a string or an integer"));
            }
            Ok(Incoming::Request { id, method, params })
        }
        (None, Some(Value::String(method))) => Ok(Incoming::Notification { method, params }),
        (Some(_), None) if object.contains_key("result") || object.contains_key("error") => {
            Ok(Incoming::Response)
        }
        _ => Err(invalid("not a JSON-RPC request, notification or response")),
    }
}

fn request_id(id: &Value) -> RequestId {
    match id {
        Value::Number(n) => n.as_i64().map_or_else(
            || RequestId::String(n.to_string().into()),
            RequestId::Number,
        ),
        Value::String(s) => RequestId::String(s.as_str().into()),
        other => RequestId::String(other.to_string().into()),
    }
}

fn params_object(params: Option<Value>) -> Result<JsonObject, ErrorData> {
    match params {
        None | Some(Value::Null) => Ok(JsonObject::new()),
        Some(Value::Object(object)) => Ok(object),
        Some(_) => Err(ErrorData::invalid_params("params must be an object", None)),
    }
}

fn header_str<'a, B>(request: &'a Request<B>, name: &header::HeaderName) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

impl<C: BackendConnector> Frontend<C> {
    /// Handle one HTTP request to `/mcp` (any other path: 404).
    pub async fn handle<B>(self: &Arc<Self>, request: Request<B>) -> Response<FrontendBody>
    where
        B: Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        if request.uri().path() != MCP_PATH {
            return response(
                StatusCode::NOT_FOUND,
                FrontendBody::full("not found; MCP is served at /mcp\n"),
            );
        }
        match *request.method() {
            Method::POST => self.post(request).await,
            Method::GET => self.get(&request),
            Method::DELETE => self.delete(&request),
            _ => {
                let mut response = response(StatusCode::METHOD_NOT_ALLOWED, FrontendBody::empty());
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
                response
            }
        }
    }

    /// Serve one client connection (HTTP/1.1) until it closes, answering `/mcp` only, under
    /// the `server` block's deadlines as the binary's listener applies them: a request head
    /// within `header_read_timeout`, a POST body within `body_read_timeout`, writes making
    /// progress within `write_timeout`. (How many connections are served at once is the
    /// caller's accept loop's business: the binary bounds it with `max_connections`.)
    pub async fn serve_connection<I>(self: Arc<Self>, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let limits = self.config.server.limits();
        let service = service_fn(move |request: Request<hyper::body::Incoming>| {
            let frontend = Arc::clone(&self);
            async move { Ok::<_, Infallible>(frontend.handle(request).await) }
        });
        let io = TokioIo::new(WriteDeadline::new(io, limits.write_timeout));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(io, service);
        if let Err(err) = connection.await {
            tracing::debug!(%err, "MCP client connection ended with an error");
        }
    }

    /// The session a request names: 400 without an id, 404 for an unknown or expired one, 400
    /// for an unsupported `MCP-Protocol-Version`.
    #[allow(
        clippy::result_large_err,
        reason = "the error is the HTTP response to send, built once per refused request"
    )]
    fn session_of<B>(
        &self,
        request: &Request<B>,
    ) -> Result<Arc<ClientSession<C>>, Response<FrontendBody>> {
        let Some(id) = header_str(request, &MCP_SESSION_ID) else {
            return Err(http_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::INVALID_REQUEST,
                "missing Mcp-Session-Id header; send initialize first",
            ));
        };
        if let Some(version) = header_str(request, &MCP_PROTOCOL_VERSION) {
            if !SUPPORTED_VERSIONS.iter().any(|v| v.as_str() == version) {
                return Err(http_error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::INVALID_REQUEST,
                    format!("unsupported MCP-Protocol-Version {version:?}"),
                ));
            }
        }
        match self.sessions.get(id) {
            Ok(session) => Ok(session),
            Err((_, closed)) => {
                close_soon(closed);
                Err(http_error(
                    StatusCode::NOT_FOUND,
                    ErrorCode::INVALID_REQUEST,
                    "unknown or expired session; initialize a new one",
                ))
            }
        }
    }

    /// The whole request body, within `max_body_bytes` (else 413) and `body_read_timeout`
    /// (else 408 with `Connection: close`: hyper's `header_read_timeout` ends with the head, so
    /// without this a client trickling a byte a second would hold the connection, its task
    /// and its buffer for as long as its `Content-Length` allows).
    async fn read_body<B>(&self, body: B) -> Result<Bytes, Response<FrontendBody>>
    where
        B: Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let timeout = self.config.server.body_read_timeout;
        match tokio::time::timeout(timeout, self.read_body_unbounded(body)).await {
            Ok(read) => read,
            Err(_) => {
                let mut response = http_error(
                    StatusCode::REQUEST_TIMEOUT,
                    ErrorCode::INVALID_REQUEST,
                    format!(
                        "request body not received within body_read_timeout ({})",
                        humantime::format_duration(timeout)
                    ),
                );
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                Err(response)
            }
        }
    }

    async fn read_body_unbounded<B>(&self, body: B) -> Result<Bytes, Response<FrontendBody>>
    where
        B: Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        let limit = self.max_body_bytes;
        let too_large = || {
            http_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::INVALID_REQUEST,
                format!("request body larger than {limit} bytes"),
            )
        };
        if body.size_hint().lower() > limit {
            return Err(too_large());
        }
        let mut body = std::pin::pin!(body);
        let mut buffer = Collected::default();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| {
                http_error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::INVALID_REQUEST,
                    format!("cannot read the request body: {err}"),
                )
            })?;
            if let Ok(data) = frame.into_data() {
                if (buffer.len() + data.len()) as u64 > limit {
                    return Err(too_large());
                }
                buffer.push(data);
            }
        }
        Ok(buffer.finish())
    }

    async fn post<B>(self: &Arc<Self>, request: Request<B>) -> Response<FrontendBody>
    where
        B: Body<Data = Bytes>,
        B::Error: std::fmt::Display,
    {
        if let Some(content_type) = header_str(&request, &header::CONTENT_TYPE) {
            let essence = content_type.split(';').next().unwrap_or_default().trim();
            if !essence.eq_ignore_ascii_case("application/json") {
                return http_error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::INVALID_REQUEST,
                    format!("Content-Type must be application/json, not {content_type:?}"),
                );
            }
        }
        let (parts, body) = request.into_parts();
        let head = Request::from_parts(parts, ());
        let bytes = match self.read_body(body).await {
            Ok(bytes) => bytes,
            Err(response) => return response,
        };
        let message: Value = match serde_json::from_slice(&bytes) {
            Ok(message) => message,
            Err(err) => {
                return http_error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::PARSE_ERROR,
                    format!("invalid JSON: {err}"),
                );
            }
        };
        if let Value::Array(batch) = message {
            return self.post_batch(&head, batch).await;
        }
        let incoming = match classify(message) {
            Ok(Incoming::Request { id, method, params }) if method == "initialize" => {
                return self.initialize(&id, params);
            }
            Ok(incoming) => incoming,
            Err(error) => {
                return json_response(StatusCode::BAD_REQUEST, &error_value(None, &error));
            }
        };
        let session = match self.session_of(&head) {
            Ok(session) => session,
            Err(response) => return response,
        };
        match self.dispatch(&session, incoming).await {
            Some(reply) => bytes_response(StatusCode::OK, reply),
            None => accepted(),
        }
    }

    async fn post_batch(
        self: &Arc<Self>,
        head: &Request<()>,
        batch: Vec<Value>,
    ) -> Response<FrontendBody> {
        let session = match self.session_of(head) {
            Ok(session) => session,
            Err(_) if head.headers().get(&MCP_SESSION_ID).is_none() => {
                return http_error(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::INVALID_REQUEST,
                    "initialize must be sent alone, not in a batch",
                );
            }
            Err(response) => return response,
        };
        if !allows_batches(session.protocol_version()) {
            return http_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::INVALID_REQUEST,
                format!(
                    "JSON-RPC batches are not allowed in protocol revision {}",
                    session.protocol_version()
                ),
            );
        }
        if batch.is_empty() {
            return http_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::INVALID_REQUEST,
                "empty JSON-RPC batch",
            );
        }
        let replies = futures_util::future::join_all(batch.into_iter().map(|message| {
            let session = Arc::clone(&session);
            async move {
                match classify(message) {
                    Ok(Incoming::Request { id, method, .. }) if method == "initialize" => {
                        let error = ErrorData::new(
                            ErrorCode::INVALID_REQUEST,
                            "initialize must be sent alone, not in a batch",
                            None,
                        );
                        Some(encode(&error_value(Some(&id), &error)))
                    }
                    Ok(incoming) => self.dispatch(&session, incoming).await,
                    Err(error) => Some(encode(&error_value(None, &error))),
                }
            }
        }))
        .await;
        let replies: Vec<Vec<u8>> = replies.into_iter().flatten().collect();
        if replies.is_empty() {
            return accepted();
        }
        // A JSON array of the encoded replies, in the order of the batch.
        let mut body = Vec::with_capacity(replies.iter().map(|r| r.len() + 1).sum::<usize>() + 1);
        body.push(b'[');
        for (i, reply) in replies.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(reply);
        }
        body.push(b']');
        bytes_response(StatusCode::OK, body)
    }

    fn initialize(self: &Arc<Self>, id: &Value, params: Option<Value>) -> Response<FrontendBody> {
        let params = match params_object(params) {
            Ok(params) => params,
            Err(error) => return json_response(StatusCode::OK, &error_value(Some(id), &error)),
        };
        let Some(requested) = params.get("protocolVersion").and_then(Value::as_str) else {
            let error =
                ErrorData::invalid_params("initialize needs a string protocolVersion", None);
            return json_response(StatusCode::OK, &error_value(Some(id), &error));
        };
        let version = negotiate(requested);
        let view = self.view();
        let aggregation = &self.config.aggregation;
        if aggregation.partial_failure_mode == PartialFailureMode::Fail {
            let required = aggregation
                .min_advertised
                .map_or(view.configured_backends, |m| m as usize);
            if view.advertised_backends.len() < required {
                let error = ErrorData::new(
                    ErrorCode::INTERNAL_ERROR,
                    format!(
                        "only {} of {} backends are available (partial_failure_mode fail needs {required}); try again later",
                        view.advertised_backends.len(),
                        view.configured_backends
                    ),
                    None,
                );
                return json_response(StatusCode::OK, &error_value(Some(id), &error));
            }
        }
        let (session, evicted) = self.sessions.create(version.as_str().to_owned());
        close_soon(evicted);
        let result = json!({
            "protocolVersion": version.as_str(),
            "capabilities": {
                "tools": {"listChanged": true},
                "resources": {"listChanged": true},
                "prompts": {"listChanged": true},
            },
            "serverInfo": {"name": "vmcp", "version": env!("CARGO_PKG_VERSION")},
        });
        let mut response = json_response(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": id, "result": result}),
        );
        if let Ok(value) = HeaderValue::from_str(session.id()) {
            response.headers_mut().insert(MCP_SESSION_ID.clone(), value);
        }
        response
    }

    /// Answer one message of a session, encoded; `None` for notifications and responses.
    async fn dispatch(
        &self,
        session: &Arc<ClientSession<C>>,
        incoming: Incoming,
    ) -> Option<Vec<u8>> {
        match incoming {
            Incoming::Response => None,
            Incoming::Notification { method, params } => {
                self.notification(session, &method, params);
                None
            }
            Incoming::Request { id, method, params } => {
                let reply = self.request(session, &id, &method, params).await;
                Some(match reply {
                    Ok(result) => encode(&ResultMessage {
                        jsonrpc: "2.0",
                        id: &id,
                        result: &result,
                    }),
                    Err(error) => encode(&error_value(Some(&id), &error)),
                })
            }
        }
    }

    fn notification(&self, session: &ClientSession<C>, method: &str, params: Option<Value>) {
        match method {
            "notifications/initialized" => session.mark_initialized(),
            "notifications/cancelled" => {
                let id = params
                    .as_ref()
                    .and_then(|p| p.get("requestId"))
                    .map(|id| serde_json::to_string(&request_id(id)).unwrap_or_default());
                if let Some(id) = id {
                    if !session.cancel_call(&id) {
                        tracing::debug!(request = %id, "cancellation for a request not in flight");
                    }
                }
            }
            _ => tracing::debug!(%method, "client notification ignored"),
        }
    }

    async fn request(
        &self,
        session: &Arc<ClientSession<C>>,
        id: &Value,
        method: &str,
        params: Option<Value>,
    ) -> Result<Payload, ErrorData> {
        let params = params_object(params)?;
        let kind = match method {
            "ping" => return Ok(Payload::Object(JsonObject::new())),
            "initialize" => {
                return Err(ErrorData::new(
                    ErrorCode::INVALID_REQUEST,
                    "the session is already initialized",
                    None,
                ));
            }
            "tools/list" => return self.list(Kind::Tools, &params).map(Payload::Object),
            "resources/list" => {
                return self.list(Kind::Resources, &params).map(Payload::Object);
            }
            "prompts/list" => return self.list(Kind::Prompts, &params).map(Payload::Object),
            "tools/call" => Kind::Tools,
            "resources/read" => Kind::Resources,
            "prompts/get" => Kind::Prompts,
            other => {
                return Err(ErrorData::new(
                    ErrorCode::METHOD_NOT_FOUND,
                    format!("method not found: {other}"),
                    None,
                ));
            }
        };
        self.route_call(session, kind, params, &request_id(id))
            .await
            .map(Payload::Raw)
    }

    /// One page of the merged list. The cursor is the last name of the previous page, so pages
    /// stay consistent (sorted by name) even if the list changes between them.
    fn list(&self, kind: Kind, params: &JsonObject) -> Result<JsonObject, ErrorData> {
        let after = match params.get("cursor") {
            None | Some(Value::Null) => None,
            Some(Value::String(cursor)) => match cursor.strip_prefix("after:") {
                Some(name) => Some(name.to_owned()),
                None => {
                    return Err(ErrorData::invalid_params(
                        format!("invalid cursor {cursor:?}"),
                        None,
                    ));
                }
            },
            Some(_) => return Err(ErrorData::invalid_params("cursor must be a string", None)),
        };
        let view = self.view();
        let list = view.advertised.list(kind);
        let start = match &after {
            Some(name) => list.partition_point(|e| e.exposed.as_str() <= name.as_str()),
            None => 0,
        };
        let page_size = usize::try_from(self.config.server.list_page_size).unwrap_or(100);
        let end = list.len().min(start.saturating_add(page_size));
        let items: Vec<Value> = list[start..end]
            .iter()
            .map(|e| Value::Object(e.item.clone()))
            .collect();
        let mut result = JsonObject::new();
        result.insert(kind.field().to_owned(), Value::Array(items));
        if end < list.len() {
            if let Some(last) = list.get(end - 1) {
                result.insert(
                    "nextCursor".to_owned(),
                    Value::String(format!("after:{}", last.exposed)),
                );
            }
        }
        Ok(result)
    }

    fn get<B>(&self, request: &Request<B>) -> Response<FrontendBody> {
        let accepts_sse = header_str(request, &header::ACCEPT)
            .is_some_and(|a| a.contains("text/event-stream") || a.contains("*/*"));
        if !accepts_sse {
            return http_error(
                StatusCode::NOT_ACCEPTABLE,
                ErrorCode::INVALID_REQUEST,
                "GET opens an SSE stream; Accept must include text/event-stream",
            );
        }
        let session = match self.session_of(request) {
            Ok(session) => session,
            Err(response) => return response,
        };
        let stream = session.open_stream();
        let mut response = response(StatusCode::OK, FrontendBody::Stream(stream));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }

    fn delete<B>(&self, request: &Request<B>) -> Response<FrontendBody> {
        let Some(id) = header_str(request, &MCP_SESSION_ID) else {
            return http_error(
                StatusCode::BAD_REQUEST,
                ErrorCode::INVALID_REQUEST,
                "missing Mcp-Session-Id header",
            );
        };
        match self.sessions.remove(id) {
            Some(closed) => {
                close_soon(closed);
                response(StatusCode::OK, FrontendBody::empty())
            }
            None => http_error(
                StatusCode::NOT_FOUND,
                ErrorCode::INVALID_REQUEST,
                "unknown or expired session",
            ),
        }
    }

    /// Send `notifications/{kind}/list_changed` to every session with an open GET stream;
    /// returns how many streams got it.
    pub fn broadcast_list_changed(&self, kind: Kind) -> usize {
        let message = json!({"jsonrpc": "2.0", "method": kind.list_changed()});
        let event = sse_event(&serde_json::to_vec(&message).unwrap_or_default());
        let mut total = Pushed::default();
        for session in self.sessions.all() {
            let pushed = session.push(&event);
            total.delivered += pushed.delivered;
            total.dropped += pushed.dropped;
        }
        self.emit(|| FrontendEvent::ListChanged {
            kind,
            delivered: total.delivered,
            dropped: total.dropped,
        });
        total.delivered
    }
}
