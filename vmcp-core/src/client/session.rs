//! One MCP Streamable-HTTP session, as a probe runs it: `initialize` →
//! `notifications/initialized` → `tools/list` (or `ping`) → `DELETE`.
//!
//! Messages are built and parsed with `rmcp`'s `model` types (compiled without any of rmcp's
//! features), so the wire format follows the reference SDK. Replies may be plain JSON or an SSE
//! stream; in a stream, events with empty data (the 2025-11-25 priming event), non-`message`
//! events and interleaved server requests/notifications are skipped until the response with our
//! request id arrives. Every body and every SSE event is read under `max_body_bytes`.

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use rmcp::model::{
    ClientCapabilities, ErrorData, Implementation, InitializeRequest, InitializeRequestParams,
    InitializeResult, InitializedNotification, JsonObject, JsonRpcMessage, JsonRpcNotification,
    JsonRpcRequest, JsonRpcVersion2_0, ListToolsRequest, ListToolsResult, NumberOrString,
    PaginatedRequestParams, PingRequest, ProtocolVersion, RequestId,
};
use serde::Serialize;

use crate::client::catalog::Catalog;
use crate::client::connector::BackendConnector;
use crate::client::pool::HttpClient;
use crate::client::sse::{SseError, SseParser};
use crate::client::target::Target;
use crate::client::transport::{classify_body_error, classify_request_error};
use crate::error::{BackendError, ProbeStep, UnavailableCause};

pub(crate) use crate::client::target::{MCP_PROTOCOL_VERSION, MCP_SESSION_ID};

/// The protocol version the probe asks for: the newest one that still has an `initialize`
/// handshake (later revisions moved the lifecycle into per-request metadata).
pub(crate) fn requested_protocol_version() -> ProtocolVersion {
    ProtocolVersion::LATEST_WITH_INITIALIZE
}

/// What a successful session learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionSummary {
    /// The protocol version the server chose.
    pub protocol_version: String,
    /// Whether the server assigned a session id.
    pub had_session_id: bool,
    /// Tools listed (`Some`) when the server advertised tools; `None` when `ping` was used.
    pub tools: Option<usize>,
    /// Everything listed (all pages of tools, resources, prompts), when the session was asked
    /// to fill the capability cache ([`Session::with_catalog`]).
    pub catalog: Option<Catalog>,
}

/// The most pages one `*/list` may span: a backend that keeps returning cursors must not keep a
/// probe busy until its deadline.
pub(crate) const MAX_LIST_PAGES: usize = 64;

/// How a JSON-RPC request was answered.
pub(crate) enum RpcReply {
    /// The `result` object.
    Result(JsonObject),
    /// The `error` object.
    Error(ErrorData),
}

/// One session against one target.
pub(crate) struct Session<'a, C> {
    client: &'a HttpClient<C>,
    target: &'a Target,
    max_body_bytes: u64,
    session_id: Option<HeaderValue>,
    protocol_version: Option<HeaderValue>,
    next_id: i64,
    list_catalog: bool,
}

impl<'a, C: BackendConnector> Session<'a, C> {
    /// A fresh session (no id yet).
    pub(crate) fn new(client: &'a HttpClient<C>, target: &'a Target, max_body_bytes: u64) -> Self {
        Self {
            client,
            target,
            max_body_bytes,
            session_id: None,
            protocol_version: None,
            next_id: 1,
            list_catalog: false,
        }
    }

    /// Also list every page of tools, resources and prompts (each when advertised), for the
    /// capability cache. The probe then still fails on the first error, as for `tools/list`.
    pub(crate) fn with_catalog(mut self, list: bool) -> Self {
        self.list_catalog = list;
        self
    }

    /// Whether the server gave this session an id (then it should be deleted at the end).
    pub(crate) fn has_session_id(&self) -> bool {
        self.session_id.is_some()
    }

    /// Run the session up to and including `tools/list`/`ping`. `step` always names the step in
    /// progress, so a caller that times the session out can tell where it was.
    pub(crate) async fn run(
        &mut self,
        step: &mut ProbeStep,
    ) -> Result<SessionSummary, BackendError> {
        *step = ProbeStep::Initialize;
        let init = self.initialize().await?;

        *step = ProbeStep::Initialized;
        let notification = JsonRpcNotification {
            jsonrpc: JsonRpcVersion2_0,
            notification: InitializedNotification {
                method: Default::default(),
                extensions: Default::default(),
            },
        };
        self.notify(ProbeStep::Initialized, &notification).await?;

        if self.list_catalog {
            let catalog = self.list_catalog(step, &init).await?;
            return Ok(SessionSummary {
                protocol_version: init.protocol_version.as_str().to_owned(),
                had_session_id: self.session_id.is_some(),
                tools: catalog.tools.as_ref().map(Vec::len),
                catalog: Some(catalog),
            });
        }

        let tools = if init.capabilities.tools.is_some() {
            *step = ProbeStep::ListTools;
            let request: ListToolsRequest = ListToolsRequest {
                method: Default::default(),
                params: Some(PaginatedRequestParams::default()),
                extensions: Default::default(),
            };
            match self.request(ProbeStep::ListTools, request).await? {
                RpcReply::Result(result) => {
                    let list: ListToolsResult = from_object(ProbeStep::ListTools, result)?;
                    Some(list.tools.len())
                }
                RpcReply::Error(error) => return Err(rpc_error(ProbeStep::ListTools, &error)),
            }
        } else {
            *step = ProbeStep::Ping;
            let request = PingRequest {
                method: Default::default(),
                extensions: Default::default(),
            };
            match self.request(ProbeStep::Ping, request).await? {
                RpcReply::Result(_) => None,
                RpcReply::Error(error) => return Err(rpc_error(ProbeStep::Ping, &error)),
            }
        };

        Ok(SessionSummary {
            protocol_version: init.protocol_version.as_str().to_owned(),
            had_session_id: self.session_id.is_some(),
            tools,
            catalog: None,
        })
    }

    /// List every advertised kind, all pages; `ping` when the server advertised none of them.
    async fn list_catalog(
        &mut self,
        step: &mut ProbeStep,
        init: &InitializeResult,
    ) -> Result<Catalog, BackendError> {
        let caps = &init.capabilities;
        let mut catalog = Catalog::default();
        if caps.tools.is_some() {
            *step = ProbeStep::ListTools;
            catalog.tools = Some(self.list_all(*step, "tools/list", "tools", "name").await?);
        }
        if caps.resources.is_some() {
            *step = ProbeStep::ListResources;
            catalog.resources = Some(
                self.list_all(*step, "resources/list", "resources", "uri")
                    .await?,
            );
        }
        if caps.prompts.is_some() {
            *step = ProbeStep::ListPrompts;
            catalog.prompts = Some(
                self.list_all(*step, "prompts/list", "prompts", "name")
                    .await?,
            );
        }
        if catalog == Catalog::default() {
            *step = ProbeStep::Ping;
            let request = PingRequest {
                method: Default::default(),
                extensions: Default::default(),
            };
            if let RpcReply::Error(error) = self.request(ProbeStep::Ping, request).await? {
                return Err(rpc_error(ProbeStep::Ping, &error));
            }
        }
        Ok(catalog)
    }

    /// Follow `nextCursor` through every page of `method`, collecting the `field` array. Every
    /// item must carry a string `key` (`name` or `uri`): the front end routes by it.
    async fn list_all(
        &mut self,
        step: ProbeStep,
        method: &str,
        field: &str,
        key: &str,
    ) -> Result<Vec<JsonObject>, BackendError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_LIST_PAGES {
            let params = match &cursor {
                Some(cursor) => serde_json::json!({ "cursor": cursor }),
                None => serde_json::json!({}),
            };
            let request = serde_json::json!({ "method": method, "params": params });
            let mut result = match self.request(step, request).await? {
                RpcReply::Result(result) => result,
                RpcReply::Error(error) => return Err(rpc_error(step, &error)),
            };
            let Some(serde_json::Value::Array(page)) = result.remove(field) else {
                return Err(BackendError::protocol(
                    step,
                    format!("{method} result has no {field} array"),
                ));
            };
            for item in page {
                match item {
                    serde_json::Value::Object(object)
                        if object.get(key).is_some_and(serde_json::Value::is_string) =>
                    {
                        items.push(object);
                    }
                    _ => {
                        return Err(BackendError::protocol(
                            step,
                            format!("a {method} item has no string {key}"),
                        ));
                    }
                }
            }
            match result.remove("nextCursor") {
                Some(serde_json::Value::String(next)) => {
                    if cursor.as_deref() == Some(next.as_str()) {
                        return Err(BackendError::protocol(
                            step,
                            format!("{method} returned the same cursor twice"),
                        ));
                    }
                    cursor = Some(next);
                }
                None | Some(serde_json::Value::Null) => return Ok(items),
                Some(_) => {
                    return Err(BackendError::protocol(
                        step,
                        format!("{method} nextCursor is not a string"),
                    ));
                }
            }
        }
        Err(BackendError::protocol(
            step,
            format!("{method} spans more than {MAX_LIST_PAGES} pages"),
        ))
    }

    async fn initialize(&mut self) -> Result<InitializeResult, BackendError> {
        let step = ProbeStep::Initialize;
        let params = InitializeRequestParams::new(
            ClientCapabilities::default(),
            Implementation::new("vmcp", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(requested_protocol_version());
        let request = InitializeRequest::new(params);
        let result = match self.request(step, request).await? {
            RpcReply::Result(result) => result,
            RpcReply::Error(error) => {
                return Err(BackendError::protocol(
                    step,
                    format!(
                        "JSON-RPC error {} to initialize: {}",
                        error.code.0, error.message
                    ),
                ));
            }
        };
        let init: InitializeResult = from_object(step, result)?;
        let version = &init.protocol_version;
        let known = ProtocolVersion::KNOWN_VERSIONS.contains(version) && version.has_initialize();
        if !known {
            return Err(BackendError::protocol(
                step,
                format!("unsupported protocol version {:?}", version.as_str()),
            ));
        }
        let header = HeaderValue::from_str(version.as_str())
            .map_err(|_| BackendError::protocol(step, "protocol version is not a header value"))?;
        self.protocol_version = Some(header);
        Ok(init)
    }

    /// Send a JSON-RPC request and wait for the response with its id.
    async fn request<R: Serialize>(
        &mut self,
        step: ProbeStep,
        request: R,
    ) -> Result<RpcReply, BackendError> {
        let id = RequestId::Number(self.next_id);
        self.next_id += 1;
        let message = JsonRpcRequest::new(id.clone(), request);
        let body = encode(step, &message)?;
        let response = self.send(step, Method::POST, body).await?;
        if step == ProbeStep::Initialize {
            self.capture_session_id(&response)?;
        }
        match content_type(&response).as_deref() {
            Some("application/json") => {
                let bytes = read_body(step, response.into_body(), self.max_body_bytes).await?;
                match find_reply(step, &bytes, &id)? {
                    Some(reply) => Ok(reply),
                    None => Err(BackendError::protocol(
                        step,
                        format!(
                            "the JSON reply holds no response to request {}",
                            show_id(&id)
                        ),
                    )),
                }
            }
            Some("text/event-stream") => {
                read_sse_reply(step, response.into_body(), self.max_body_bytes, &id).await
            }
            Some(other) => Err(BackendError::protocol(
                step,
                format!("unexpected content type {other:?}"),
            )),
            None => Err(BackendError::protocol(step, "reply has no content type")),
        }
    }

    /// Send a JSON-RPC notification; the server answers 202 (or 200) without a response.
    async fn notify<N: Serialize>(
        &mut self,
        step: ProbeStep,
        notification: &N,
    ) -> Result<(), BackendError> {
        let body = encode(step, notification)?;
        let response = self.send(step, Method::POST, body).await?;
        // Read what little body there is so the connection can go back to the pool.
        read_body(step, response.into_body(), self.max_body_bytes).await?;
        Ok(())
    }

    /// End the session on the server. Best effort: the caller bounds it in time and ignores the
    /// result.
    pub(crate) async fn delete(&mut self) -> Result<(), BackendError> {
        if self.session_id.is_none() {
            return Ok(());
        }
        let step = ProbeStep::DeleteSession;
        let request = self.build(Method::DELETE, Bytes::new());
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| classify_request_error(step, &e))?;
        let mut body = response.into_body();
        drain_ready(&mut body);
        Ok(())
    }

    fn build(&self, method: Method, body: Bytes) -> Request<Full<Bytes>> {
        self.target.request(
            method,
            body,
            self.session_id.as_ref(),
            self.protocol_version.as_ref(),
        )
    }

    /// Send one request and check the status.
    async fn send(
        &mut self,
        step: ProbeStep,
        method: Method,
        body: Bytes,
    ) -> Result<Response<Incoming>, BackendError> {
        let sent_session = self.session_id.is_some();
        let request = self.build(method, body);
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| classify_request_error(step, &e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        Err(status_error(step, status, sent_session))
    }

    fn capture_session_id(&mut self, response: &Response<Incoming>) -> Result<(), BackendError> {
        let Some(value) = response.headers().get(&MCP_SESSION_ID) else {
            return Ok(());
        };
        // The spec limits session ids to visible ASCII.
        if value.is_empty() || !value.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b)) {
            return Err(BackendError::protocol(
                ProbeStep::Initialize,
                "Mcp-Session-Id is not visible ASCII",
            ));
        }
        let mut value = value.clone();
        value.set_sensitive(true);
        self.session_id = Some(value);
        Ok(())
    }
}

pub(crate) fn status_error(
    step: ProbeStep,
    status: StatusCode,
    sent_session: bool,
) -> BackendError {
    if status.is_informational() || status.is_redirection() {
        return BackendError::Rejected {
            step,
            status: status.as_u16(),
        };
    }
    BackendError::from_status(step, status.as_u16(), sent_session)
}

pub(crate) fn encode<T: Serialize>(step: ProbeStep, message: &T) -> Result<Bytes, BackendError> {
    serde_json::to_vec(message)
        .map(Bytes::from)
        .map_err(|e| BackendError::protocol(step, format!("cannot encode request: {e}")))
}

fn from_object<T: serde::de::DeserializeOwned>(
    step: ProbeStep,
    object: JsonObject,
) -> Result<T, BackendError> {
    serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| BackendError::protocol(step, format!("invalid {step} result: {e}")))
}

pub(crate) fn rpc_error(step: ProbeStep, error: &ErrorData) -> BackendError {
    BackendError::Rpc {
        step,
        code: error.code.0,
        message: crate::error::sanitize(&error.message),
    }
}

fn show_id(id: &RequestId) -> String {
    match id {
        NumberOrString::Number(n) => n.to_string(),
        NumberOrString::String(s) => format!("{s:?}"),
    }
}

/// The media type of a response, lower-cased, without parameters.
pub(crate) fn content_type(response: &Response<Incoming>) -> Option<String> {
    let value = response
        .headers()
        .get(header::CONTENT_TYPE)?
        .to_str()
        .ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// Read a whole body, failing as soon as it exceeds `limit`.
pub(crate) async fn read_body(
    step: ProbeStep,
    mut body: Incoming,
    limit: u64,
) -> Result<Bytes, BackendError> {
    use http_body::Body as _;
    if body.size_hint().lower() > limit {
        return Err(BackendError::BodyTooLarge { step, limit });
    }
    let mut buf = Collected::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify_body_error(step, &e))?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > limit {
                return Err(BackendError::BodyTooLarge { step, limit });
            }
            buf.push(data);
        }
    }
    Ok(buf.finish())
}

/// A body's data frames joined. A body that arrives as one frame (hyper hands a small body over
/// as one slice of its read buffer) is kept as that frame, without a copy.
#[derive(Debug, Default)]
pub(crate) struct Collected {
    /// The only frame so far.
    whole: Option<Bytes>,
    /// The frames joined, once there is more than one.
    joined: BytesMut,
}

impl Collected {
    /// Bytes collected so far.
    pub(crate) fn len(&self) -> usize {
        self.whole.as_ref().map_or(0, Bytes::len) + self.joined.len()
    }

    /// Append one frame.
    pub(crate) fn push(&mut self, data: Bytes) {
        if self.whole.is_none() && self.joined.is_empty() {
            self.whole = Some(data);
            return;
        }
        if let Some(whole) = self.whole.take() {
            self.joined.extend_from_slice(&whole);
        }
        self.joined.extend_from_slice(&data);
    }

    /// The whole body.
    pub(crate) fn finish(self) -> Bytes {
        match self.whole {
            Some(whole) => whole,
            None => self.joined.freeze(),
        }
    }
}

/// Consume whatever of the body is already buffered, without waiting: a fully read body lets
/// hyper put the connection back into the pool.
pub(crate) fn drain_ready(body: &mut Incoming) {
    while let Some(Some(Ok(_))) = body.frame().now_or_never() {}
}

/// Parse a JSON reply body that is one message or a batch (a JSON array) into its messages, typed
/// as the caller needs (the probe's shape-only messages, the front end's raw replies).
pub(crate) fn parse_messages<T: serde::de::DeserializeOwned>(
    step: ProbeStep,
    bytes: &[u8],
) -> Result<Vec<T>, BackendError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| BackendError::protocol(step, "reply is not UTF-8"))?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        serde_json::from_str(trimmed)
            .map_err(|e| BackendError::protocol(step, format!("invalid JSON-RPC batch: {e}")))
    } else {
        let message = serde_json::from_str(trimmed)
            .map_err(|e| BackendError::protocol(step, format!("invalid JSON-RPC message: {e}")))?;
        Ok(vec![message])
    }
}

/// An incoming JSON-RPC message, typed by shape only. Server requests and notifications are kept
/// as raw objects: a probe skips them, and must not fail on methods (or params) it does not know.
type WireMessage = JsonRpcMessage<JsonObject, JsonObject, JsonObject>;

/// Parse a JSON body (one message or a batch) and pick the reply to `id`. Messages that are not
/// replies (server requests, notifications) and replies to other ids are skipped.
pub(crate) fn find_reply(
    step: ProbeStep,
    bytes: &[u8],
    id: &RequestId,
) -> Result<Option<RpcReply>, BackendError> {
    let messages: Vec<WireMessage> = parse_messages(step, bytes)?;
    for message in messages {
        match message {
            JsonRpcMessage::Response(response) if response.id == *id => {
                return Ok(Some(RpcReply::Result(response.result)));
            }
            // An error without an id answers a request the server could not read: ours.
            JsonRpcMessage::Error(error) if error.id.as_ref().is_none_or(|e| e == id) => {
                return Ok(Some(RpcReply::Error(error.error)));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Read an SSE reply until the response to `id`.
pub(crate) async fn read_sse_reply(
    step: ProbeStep,
    body: Incoming,
    limit: u64,
    id: &RequestId,
) -> Result<RpcReply, BackendError> {
    read_sse_reply_with(step, body, limit, |data| find_reply(step, data, id)).await
}

/// Read an SSE reply until `find` recognizes an event's data as the answer (the front end
/// passes a parser that keeps the result as raw JSON).
pub(crate) async fn read_sse_reply_with<R>(
    step: ProbeStep,
    mut body: Incoming,
    limit: u64,
    find: impl Fn(&[u8]) -> Result<Option<R>, BackendError>,
) -> Result<R, BackendError> {
    let mut parser = SseParser::new(limit);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify_body_error(step, &e))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let events = parser.feed(&data).map_err(|e| match e {
            SseError::EventTooLarge { limit } => BackendError::BodyTooLarge { step, limit },
            SseError::InvalidUtf8 => BackendError::protocol(step, e.to_string()),
        })?;
        for event in events {
            if !event.is_message() || event.data.trim().is_empty() {
                continue;
            }
            if let Some(reply) = find(event.data.as_bytes())? {
                drain_ready(&mut body);
                return Ok(reply);
            }
        }
    }
    parser.finish();
    Err(BackendError::Unavailable {
        step,
        cause: UnavailableCause::ClosedEarly,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_frames_are_joined_in_order_and_one_frame_is_kept_as_is() {
        let one = Bytes::from_static(b"{\"a\":1}");
        let mut single = Collected::default();
        single.push(one.clone());
        assert_eq!(single.len(), 7);
        let whole = single.finish();
        assert_eq!(whole, one);
        assert_eq!(whole.as_ptr(), one.as_ptr(), "one frame is not copied");

        let mut joined = Collected::default();
        for part in ["{\"a\"", "", ":1", "}"] {
            joined.push(Bytes::from(part));
        }
        assert_eq!(joined.len(), 7);
        assert_eq!(joined.finish(), one);

        let mut empty_first = Collected::default();
        empty_first.push(Bytes::new());
        empty_first.push(Bytes::from_static(b"x"));
        assert_eq!(empty_first.finish(), Bytes::from_static(b"x"));
        assert!(Collected::default().finish().is_empty());
    }

    fn reply(json: &str, id: i64) -> Result<Option<RpcReply>, BackendError> {
        find_reply(ProbeStep::Ping, json.as_bytes(), &RequestId::Number(id))
    }

    #[test]
    fn picks_the_reply_with_our_id_from_a_batch() {
        let batch = r#"[
            {"jsonrpc":"2.0","method":"notifications/tools/list_changed"},
            {"jsonrpc":"2.0","id":"x","method":"sampling/createMessage"},
            {"jsonrpc":"2.0","id":1,"result":{"other":true}},
            {"jsonrpc":"2.0","id":2,"result":{"mine":true}}
        ]"#;
        match reply(batch, 2) {
            Ok(Some(RpcReply::Result(obj))) => assert!(obj.contains_key("mine")),
            _ => panic!("expected the result for id 2"),
        }
    }

    #[test]
    fn an_error_without_id_answers_our_request() {
        let text = r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"parse error"}}"#;
        assert!(matches!(reply(text, 7), Ok(Some(RpcReply::Error(e))) if e.code.0 == -32700));
        let other = r#"{"jsonrpc":"2.0","id":8,"error":{"code":-1,"message":"x"}}"#;
        assert!(matches!(reply(other, 7), Ok(None)));
    }

    #[test]
    fn malformed_messages_are_protocol_errors() {
        for text in [
            "",
            "null",
            "{}",
            r#"{"jsonrpc":"2.0","id":1}"#,
            "[1,2]",
            "\u{0}",
        ] {
            assert!(
                matches!(reply(text, 1), Err(BackendError::Protocol { .. })),
                "{text:?}"
            );
        }
        assert!(matches!(
            find_reply(ProbeStep::Ping, b"\xff", &RequestId::Number(1)),
            Err(BackendError::Protocol { .. })
        ));
    }

    #[test]
    fn requests_serialize_as_mcp_expects() {
        let init = InitializeRequest::new(
            InitializeRequestParams::new(
                ClientCapabilities::default(),
                Implementation::new("vmcp", "1"),
            )
            .with_protocol_version(requested_protocol_version()),
        );
        let value = serde_json::to_value(JsonRpcRequest::new(RequestId::Number(1), init)).unwrap();
        assert_eq!(value["jsonrpc"], "2.0");
        assert_eq!(value["id"], 1);
        assert_eq!(value["method"], "initialize");
        assert_eq!(value["params"]["protocolVersion"], "2025-11-25");
        assert_eq!(value["params"]["clientInfo"]["name"], "vmcp");
        assert!(value["params"]["capabilities"].is_object());

        let list = ListToolsRequest {
            method: Default::default(),
            params: Some(PaginatedRequestParams::default()),
            extensions: Default::default(),
        };
        let value = serde_json::to_value(JsonRpcRequest::new(RequestId::Number(2), list)).unwrap();
        assert_eq!(value["method"], "tools/list");
        assert_eq!(value["params"], serde_json::json!({}));

        let ping = PingRequest {
            method: Default::default(),
            extensions: Default::default(),
        };
        let value = serde_json::to_value(JsonRpcRequest::new(RequestId::Number(3), ping)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"jsonrpc":"2.0","id":3,"method":"ping"})
        );

        let note = JsonRpcNotification {
            jsonrpc: JsonRpcVersion2_0,
            notification: InitializedNotification {
                method: Default::default(),
                extensions: Default::default(),
            },
        };
        let value = serde_json::to_value(note).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"jsonrpc":"2.0","method":"notifications/initialized"})
        );
    }

    #[test]
    fn informational_and_redirect_statuses_are_rejections() {
        let step = ProbeStep::Initialize;
        for code in [101, 302, 307] {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(
                status_error(step, status, true),
                BackendError::Rejected { step, status: code },
                "{code}"
            );
        }
        assert_eq!(
            status_error(step, StatusCode::NOT_FOUND, true),
            BackendError::SessionTerminated { step }
        );
        assert_eq!(
            status_error(step, StatusCode::UNAUTHORIZED, false),
            BackendError::AuthenticationFailed { step }
        );
    }

    #[test]
    fn ids_and_rpc_errors_are_shown_safely() {
        assert_eq!(show_id(&RequestId::Number(7)), "7");
        assert_eq!(show_id(&RequestId::String("a\"b".into())), "\"a\\\"b\"");
        let error = ErrorData::new(
            rmcp::model::ErrorCode(-32000),
            "failed for Bearer s3cr3t",
            None,
        );
        assert_eq!(
            rpc_error(ProbeStep::Ping, &error),
            BackendError::Rpc {
                step: ProbeStep::Ping,
                code: -32000,
                message: "failed for Bearer <redacted>".into(),
            }
        );
    }

    /// A local MCP server over real HTTP/1.1 (hyper), for the tests of the session as it runs
    /// on the wire: it records every request and answers with `answer`.
    mod wire {
        use std::convert::Infallible;
        use std::net::SocketAddr;
        use std::sync::{Arc, Mutex};
        use std::time::Duration;

        use bytes::Bytes;
        use http::{Request, Response};
        use http_body_util::{BodyExt, Full};
        use hyper::body::Incoming;
        use hyper::service::service_fn;
        use hyper_util::client::legacy::connect::HttpConnector;
        use hyper_util::rt::TokioIo;
        use tokio::net::TcpListener;

        use crate::client::connector::{ConnectionCounters, CountingConnector};
        use crate::client::pool::{HttpClient, build_client};

        /// One request as the server saw it.
        #[derive(Clone, Debug)]
        pub(super) struct Seen {
            pub method: http::Method,
            pub body: serde_json::Value,
        }

        pub(super) type Answer = fn(&http::Method, &serde_json::Value) -> Response<Full<Bytes>>;

        /// Serve `answer` on a local port; returns the address and the requests seen.
        pub(super) async fn serve(answer: Answer) -> (SocketAddr, Arc<Mutex<Vec<Seen>>>) {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = Arc::clone(&seen);
            tokio::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    let log = Arc::clone(&log);
                    let service = service_fn(move |request: Request<Incoming>| {
                        let log = Arc::clone(&log);
                        async move {
                            let method = request.method().clone();
                            let bytes = request.into_body().collect().await.unwrap().to_bytes();
                            let body =
                                serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
                            let response = answer(&method, &body);
                            crate::sync::lock(&log).push(Seen { method, body });
                            Ok::<_, Infallible>(response)
                        }
                    });
                    tokio::spawn(
                        hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service),
                    );
                }
            });
            (addr, seen)
        }

        /// A pooled client over plain TCP and the counters of its connections.
        pub(super) fn client() -> (HttpClient<HttpConnector>, ConnectionCounters) {
            let counters = ConnectionCounters::default();
            let connector = CountingConnector::new(
                HttpConnector::new(),
                counters.clone(),
                Duration::from_secs(5),
            );
            (build_client(connector, Duration::from_secs(60)), counters)
        }

        /// A server that answers every request on one connection with `reply` (raw bytes,
        /// after reading the request head), then keeps the connection open.
        pub(super) async fn serve_raw(reply: &'static [u8]) -> SocketAddr {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let mut seen = Vec::new();
                let mut buf = [0; 4096];
                loop {
                    let n = stream.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        seen.clear();
                        stream.write_all(reply).await.unwrap();
                    }
                }
            });
            addr
        }

        /// A JSON reply with `body` (a JSON-RPC response to `id` when `result` is given).
        pub(super) fn json(body: String) -> Response<Full<Bytes>> {
            Response::builder()
                .header("content-type", "application/json")
                .header("mcp-session-id", "s-1")
                .body(Full::new(Bytes::from(body)))
                .unwrap()
        }

        /// An MCP server with tools and a session id: initialize, the notification (202),
        /// `tools/list` (one tool), `DELETE` (200 with a short body).
        pub(super) fn mcp(
            method: &http::Method,
            body: &serde_json::Value,
        ) -> Response<Full<Bytes>> {
            if method == http::Method::DELETE {
                return Response::new(Full::new(Bytes::from_static(b"bye")));
            }
            let id = body["id"].clone();
            match body["method"].as_str() {
                Some("initialize") => json(
                    serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {"tools": {}},
                        "serverInfo": {"name": "wire", "version": "1"}
                    }})
                    .to_string(),
                ),
                Some("tools/list") => json(
                    serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {
                        "tools": [{"name": "t", "inputSchema": {"type": "object"}}]
                    }})
                    .to_string(),
                ),
                _ => Response::builder()
                    .status(202)
                    .body(Full::default())
                    .unwrap(),
            }
        }
    }

    /// A whole session on the wire: requests are numbered 1, 2, ... in order (the notification
    /// has no id), the session id is sent back, and the session ends with a `DELETE`.
    #[tokio::test]
    async fn a_session_numbers_its_requests_from_one() {
        let (addr, seen) = wire::serve(wire::mcp).await;
        let (client, _) = wire::client();
        let target = Target::new(&crate::registry::Backend::new(
            "w",
            format!("http://{addr}/mcp"),
        ))
        .unwrap();
        let mut session = Session::new(&client, &target, 1 << 20);
        let mut step = ProbeStep::Initialize;
        let summary = session.run(&mut step).await.expect("a healthy session");
        assert_eq!(summary.tools, Some(1));
        assert!(summary.had_session_id);
        session.delete().await.expect("deleted");
        let seen = crate::sync::lock(&seen).clone();
        let calls: Vec<_> = seen
            .iter()
            .map(|s| {
                (
                    s.method.as_str(),
                    s.body["method"].clone(),
                    s.body["id"].clone(),
                )
            })
            .collect();
        use serde_json::Value::Null;
        assert_eq!(
            calls,
            [
                ("POST", "initialize".into(), 1.into()),
                ("POST", "notifications/initialized".into(), Null),
                ("POST", "tools/list".into(), 2.into()),
                ("DELETE", Null, Null),
            ]
        );
    }

    /// `read_body` of a response from a raw server with `limit`.
    async fn read_raw(reply: &'static [u8], limit: u64) -> Result<Bytes, BackendError> {
        let addr = wire::serve_raw(reply).await;
        let (client, _) = wire::client();
        let request = Request::get(format!("http://{addr}/mcp"))
            .body(Full::default())
            .unwrap();
        let response = client.request(request).await.expect("a response head");
        read_body(ProbeStep::Ping, response.into_body(), limit).await
    }

    /// `max_body_bytes` is inclusive, for a body of known length (refused before reading) as for
    /// a chunked one (refused at the frame that crosses the limit).
    #[tokio::test]
    async fn bodies_up_to_the_limit_are_read_and_longer_ones_refused() {
        let too_large = Err(BackendError::BodyTooLarge {
            step: ProbeStep::Ping,
            limit: 10,
        });
        let sized = read_raw(
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n0123456789",
            10,
        );
        assert_eq!(sized.await, Ok(Bytes::from_static(b"0123456789")));
        let small = read_raw(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nabc", 10);
        assert_eq!(small.await, Ok(Bytes::from_static(b"abc")));
        let sized_over = read_raw(
            b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n0123456789a",
            10,
        );
        assert_eq!(sized_over.await, too_large);
        let chunked = read_raw(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n",
            10,
        );
        assert_eq!(chunked.await, Ok(Bytes::from_static(b"0123456789")));
        let chunked_over = read_raw(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nb\r\n0123456789a\r\n0\r\n\r\n",
            10,
        );
        assert_eq!(chunked_over.await, too_large);
    }

    /// The short body of the `DELETE` answer is drained, so its connection goes back to the
    /// pool: a second session on the same client opens no new connection.
    #[tokio::test]
    async fn the_delete_answer_is_drained_and_its_connection_reused() {
        let (addr, seen) = wire::serve(wire::mcp).await;
        let (client, counters) = wire::client();
        let target = Target::new(&crate::registry::Backend::new(
            "w",
            format!("http://{addr}/mcp"),
        ))
        .unwrap();
        for _ in 0..2 {
            let mut session = Session::new(&client, &target, 1 << 20);
            let mut step = ProbeStep::Initialize;
            session.run(&mut step).await.expect("a healthy session");
            session.delete().await.expect("deleted");
        }
        assert_eq!(crate::sync::lock(&seen).len(), 8);
        assert_eq!(counters.total_opened(), 1);
    }

    /// Scripted servers for the session tests below (`wire::Answer`s).
    mod servers {
        use bytes::Bytes;
        use http::Response;
        use http_body_util::Full;
        use serde_json::{Value, json};

        use super::wire::json as reply;

        /// The JSON-RPC response to `body`'s request with `result`.
        pub(super) fn result(body: &Value, result: Value) -> Response<Full<Bytes>> {
            reply(json!({"jsonrpc": "2.0", "id": body["id"], "result": result}).to_string())
        }

        fn initialized(body: &Value, version: &str, capabilities: Value) -> Response<Full<Bytes>> {
            result(
                body,
                json!({
                    "protocolVersion": version,
                    "capabilities": capabilities,
                    "serverInfo": {"name": "s", "version": "1"}
                }),
            )
        }

        fn accepted() -> Response<Full<Bytes>> {
            Response::builder()
                .status(202)
                .body(Full::default())
                .unwrap()
        }

        /// Tools over two pages, one resource, one prompt.
        pub(super) fn catalog(method: &http::Method, body: &Value) -> Response<Full<Bytes>> {
            if method == http::Method::DELETE {
                return accepted();
            }
            let caps = json!({"tools": {}, "resources": {}, "prompts": {}});
            match (body["method"].as_str(), body["params"]["cursor"].as_str()) {
                (Some("initialize"), _) => initialized(body, "2025-06-18", caps),
                (Some("tools/list"), None) => result(
                    body,
                    json!({"tools": [{"name": "a", "inputSchema": {}}], "nextCursor": "p2"}),
                ),
                (Some("tools/list"), Some("p2")) => result(
                    body,
                    json!({"tools": [{"name": "b", "inputSchema": {}}], "nextCursor": null}),
                ),
                (Some("resources/list"), _) => result(
                    body,
                    json!({"resources": [{"uri": "file:///r", "name": "r"}]}),
                ),
                (Some("prompts/list"), _) => result(body, json!({"prompts": [{"name": "p"}]})),
                _ => accepted(),
            }
        }

        /// Advertises nothing; answers `ping`.
        pub(super) fn bare(_: &http::Method, body: &Value) -> Response<Full<Bytes>> {
            match body["method"].as_str() {
                Some("initialize") => initialized(body, "2025-06-18", json!({})),
                Some("ping") => result(body, json!({})),
                _ => accepted(),
            }
        }

        /// A tool without a name.
        pub(super) fn keyless(_: &http::Method, body: &Value) -> Response<Full<Bytes>> {
            match body["method"].as_str() {
                Some("initialize") => initialized(body, "2025-06-18", json!({"tools": {}})),
                Some("tools/list") => result(body, json!({"tools": [{"title": "t"}]})),
                _ => accepted(),
            }
        }

        /// Every page points to the same next page.
        pub(super) fn same_cursor(_: &http::Method, body: &Value) -> Response<Full<Bytes>> {
            match body["method"].as_str() {
                Some("initialize") => initialized(body, "2025-06-18", json!({"tools": {}})),
                Some("tools/list") => result(body, json!({"tools": [], "nextCursor": "again"})),
                _ => accepted(),
            }
        }

        /// A known version without the `initialize` handshake.
        pub(super) fn v2026(_: &http::Method, body: &Value) -> Response<Full<Bytes>> {
            initialized(body, "2026-07-28", json!({}))
        }

        /// A version this SDK does not know (older than all).
        pub(super) fn v1999(_: &http::Method, body: &Value) -> Response<Full<Bytes>> {
            initialized(body, "1999-01-01", json!({}))
        }

        fn with_session_id(id: &'static str, body: &Value) -> Response<Full<Bytes>> {
            let mut response = initialized(body, "2025-06-18", json!({}));
            response
                .headers_mut()
                .insert("mcp-session-id", http::HeaderValue::from_static(id));
            response
        }

        /// A session id with a space.
        pub(super) fn spaced_id(_: &http::Method, body: &Value) -> Response<Full<Bytes>> {
            with_session_id("a b", body)
        }

        /// An empty session id.
        pub(super) fn empty_id(_: &http::Method, body: &Value) -> Response<Full<Bytes>> {
            with_session_id("", body)
        }

        /// Answers `ping` as an SSE stream: a priming event without data, an event of another
        /// type whose data is not JSON, then the response.
        pub(super) fn sse(_: &http::Method, body: &Value) -> Response<Full<Bytes>> {
            match body["method"].as_str() {
                Some("initialize") => initialized(body, "2025-06-18", json!({})),
                Some("ping") => {
                    let response = json!({"jsonrpc": "2.0", "id": body["id"], "result": {}});
                    let stream = format!(
                        "id: 0\ndata:\n\nevent: other\ndata: not json\n\ndata: {response}\n\n"
                    );
                    Response::builder()
                        .header("content-type", "text/event-stream")
                        .body(Full::new(Bytes::from(stream)))
                        .unwrap()
                }
                _ => accepted(),
            }
        }
    }

    /// Run one session against `answer`, with the catalog listed when `catalog`.
    async fn run_against(
        answer: wire::Answer,
        catalog: bool,
    ) -> (Result<SessionSummary, BackendError>, Vec<wire::Seen>) {
        let (addr, seen) = wire::serve(answer).await;
        let (client, _) = wire::client();
        let target = Target::new(&crate::registry::Backend::new(
            "w",
            format!("http://{addr}/mcp"),
        ))
        .unwrap();
        let mut session = Session::new(&client, &target, 1 << 20).with_catalog(catalog);
        let mut step = ProbeStep::Initialize;
        let result = session.run(&mut step).await;
        let seen = crate::sync::lock(&seen).clone();
        (result, seen)
    }

    fn names(items: &[JsonObject], key: &str) -> Vec<String> {
        items
            .iter()
            .map(|item| item[key].as_str().unwrap().to_owned())
            .collect()
    }

    /// With the catalog on, every advertised kind is listed, all pages (following
    /// `nextCursor`), and no `ping` is sent.
    #[tokio::test]
    async fn a_catalog_session_lists_every_page_of_every_kind() {
        let (result, seen) = run_against(servers::catalog, true).await;
        let summary = result.expect("a healthy session");
        let catalog = summary.catalog.expect("the catalog");
        assert_eq!(names(catalog.tools.as_ref().unwrap(), "name"), ["a", "b"]);
        assert_eq!(summary.tools, Some(2));
        assert_eq!(
            names(catalog.resources.as_ref().unwrap(), "uri"),
            ["file:///r"]
        );
        assert_eq!(names(catalog.prompts.as_ref().unwrap(), "name"), ["p"]);
        let calls: Vec<_> = seen
            .iter()
            .map(|s| (s.body["method"].clone(), s.body["params"]["cursor"].clone()))
            .collect();
        use serde_json::Value::Null;
        assert_eq!(
            calls,
            [
                ("initialize".into(), Null),
                ("notifications/initialized".into(), Null),
                ("tools/list".into(), Null),
                ("tools/list".into(), "p2".into()),
                ("resources/list".into(), Null),
                ("prompts/list".into(), Null),
            ]
        );
    }

    /// With the catalog on and nothing advertised, the session pings (and the catalog is empty).
    #[tokio::test]
    async fn a_catalog_session_with_nothing_advertised_pings() {
        let (result, seen) = run_against(servers::bare, true).await;
        let summary = result.expect("a healthy session");
        assert_eq!(summary.catalog, Some(Catalog::default()));
        assert_eq!(summary.tools, None);
        assert!(summary.had_session_id);
        let methods: Vec<_> = seen.iter().map(|s| s.body["method"].clone()).collect();
        assert_eq!(methods, ["initialize", "notifications/initialized", "ping"]);
    }

    /// An item the front end could not route (no string `name`) fails the listing.
    #[tokio::test]
    async fn a_listed_item_without_its_key_is_a_protocol_error() {
        let (result, _) = run_against(servers::keyless, true).await;
        assert_eq!(
            result,
            Err(BackendError::protocol(
                ProbeStep::ListTools,
                "a tools/list item has no string name"
            ))
        );
    }

    /// A server that hands out the same cursor again is stopped at once, not after the page cap.
    #[tokio::test]
    async fn the_same_cursor_twice_is_a_protocol_error() {
        let (result, seen) = run_against(servers::same_cursor, true).await;
        assert_eq!(
            result,
            Err(BackendError::protocol(
                ProbeStep::ListTools,
                "tools/list returned the same cursor twice"
            ))
        );
        assert_eq!(seen.len(), 4, "initialize, initialized, two pages");
    }

    /// The server's protocol version must be one this SDK knows *and* one with an `initialize`
    /// handshake.
    #[tokio::test]
    async fn unknown_and_initialize_less_protocol_versions_are_refused() {
        for (answer, version) in [
            (servers::v2026 as wire::Answer, "2026-07-28"),
            (servers::v1999, "1999-01-01"),
        ] {
            let (result, seen) = run_against(answer, false).await;
            assert_eq!(
                result,
                Err(BackendError::protocol(
                    ProbeStep::Initialize,
                    format!("unsupported protocol version {version:?}")
                ))
            );
            assert_eq!(seen.len(), 1, "nothing after initialize");
        }
    }

    /// A session id must be visible ASCII, and not empty.
    #[tokio::test]
    async fn session_ids_that_are_not_visible_ascii_are_refused() {
        for answer in [servers::spaced_id as wire::Answer, servers::empty_id] {
            let (result, _) = run_against(answer, false).await;
            assert_eq!(
                result,
                Err(BackendError::protocol(
                    ProbeStep::Initialize,
                    "Mcp-Session-Id is not visible ASCII"
                ))
            );
        }
    }

    /// In an SSE reply, events without data (the priming event) and events of other types are
    /// skipped; the response with our id answers.
    #[tokio::test]
    async fn an_sse_reply_skips_priming_and_foreign_events() {
        let (result, seen) = run_against(servers::sse, false).await;
        assert_eq!(
            result,
            Ok(SessionSummary {
                protocol_version: "2025-06-18".into(),
                had_session_id: true,
                tools: None,
                catalog: None,
            })
        );
        assert_eq!(seen.len(), 3);
    }
}
