//! One client's HTTP side of MCP Streamable HTTP: JSON-RPC requests as `POST`s (answers in JSON
//! or as an SSE stream, parsed with the core's [`SseParser`]), the GET stream, the session and
//! protocol-version headers.
//!
//! Requests are printed from typed structs and a JSON answer is split into its `result` or
//! `error` member without building a `serde_json::Value` tree (most of a simulated call's CPU
//! was those trees, issue 13); the bytes sent and what is read are what the `Value` code sent and
//! read (the tests pin both).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use vmcp_core::client::SseParser;

use super::connect::DirectConnector;

/// The largest answer a simulated client reads (an SSE event or a JSON body).
const MAX_BODY: u64 = 4 * 1024 * 1024;

/// How long an idle keep-alive connection to the front end stays in a client's pool: 5 s, the
/// default `keepalive_expiry` of httpx, the HTTP client under the Python MCP SDK. It must stay
/// below the front end's idle close (its header read timeout, 10 s, also runs while a keep-alive
/// connection waits for its next request): a pool that keeps a connection longer hands it out
/// at the instant the server closes it, and the request written on it is lost mid-flight
/// (hyper's `IncompleteMessage`, not retried because it was sent).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// The session header.
const SESSION: &str = "mcp-session-id";
/// The protocol-version header.
const VERSION: &str = "mcp-protocol-version";
/// The revision the clients ask for.
pub(crate) const PROTOCOL_VERSION: &str = "2025-06-18";

/// Why a request got no JSON-RPC answer.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// 404 for the session id sent: the server does not know the session (any more).
    #[error("the server does not know the session")]
    SessionUnknown,
    /// Another HTTP error status.
    #[error("HTTP {0}")]
    Status(u16),
    /// The connection failed or broke.
    #[error("transport: {0}")]
    Transport(String),
    /// The answer was not what MCP prescribes.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

/// A JSON-RPC answer: its `result` or `error` member as JSON text, for the caller to read what
/// it needs.
#[derive(Clone, Debug)]
pub enum Answer {
    /// The `result` member.
    Result(Box<RawValue>),
    /// The `error` member.
    Error(Box<RawValue>),
}

/// The body of a JSON-RPC request, members in the order `serde_json::json!` prints them (sorted).
#[derive(Serialize)]
struct RequestBody<'a, P> {
    id: i64,
    jsonrpc: &'static str,
    method: &'a str,
    params: &'a P,
}

/// The members of a JSON-RPC answer a client reads. Only used on a body that starts with `{` (a
/// derived struct would also accept a JSON array, positionally).
#[derive(Deserialize)]
struct ReplyMembers<'a> {
    #[serde(default, borrow, deserialize_with = "present")]
    result: Option<&'a RawValue>,
    #[serde(default, borrow, deserialize_with = "present")]
    error: Option<&'a RawValue>,
}

/// A member that is present is `Some`, even when it is `null` (as `Value::get` sees it).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// Whether `json` is an object (its first non-blank byte is `{`).
pub(super) fn is_object(json: &[u8]) -> bool {
    json.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// A client's HTTP connection pool and request ids.
pub(super) struct Wire {
    http: Client<DirectConnector, Full<Bytes>>,
    /// The front end's URL, parsed once (every request is sent to it).
    uri: Result<Uri, String>,
    next_id: AtomicI64,
}

impl Wire {
    pub(super) fn new(url: String) -> Self {
        Self {
            http: Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .build(DirectConnector::default()),
            uri: url.parse().map_err(|e| format!("bad url: {e}")),
            next_id: AtomicI64::new(1),
        }
    }

    fn uri(&self) -> Result<Uri, WireError> {
        self.uri.clone().map_err(WireError::Malformed)
    }

    fn post(
        &self,
        session: Option<(&str, &str)>,
        body: &impl Serialize,
    ) -> Result<Request<Full<Bytes>>, WireError> {
        let uri = self.uri()?;
        let mut builder = Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream");
        if let Some((id, version)) = session {
            builder = builder.header(SESSION, id).header(VERSION, version);
        }
        builder
            .body(Full::new(Bytes::from(
                serde_json::to_vec(body).map_err(|e| WireError::Malformed(e.to_string()))?,
            )))
            .map_err(|e| WireError::Malformed(e.to_string()))
    }

    async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, WireError> {
        self.http
            .request(request)
            .await
            .map_err(|e| WireError::Transport(e.to_string()))
    }

    /// `initialize` then `notifications/initialized`: the new session's id and the negotiated
    /// protocol version.
    pub(super) async fn initialize(&self) -> Result<(String, String), WireError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "vmcp-sim-client", "version": env!("CARGO_PKG_VERSION")},
            },
        });
        let response = self.send(self.post(None, &body)?).await?;
        let session = response
            .headers()
            .get(SESSION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let answer = read_answer(response, false, id).await?;
        let Answer::Result(result) = answer else {
            return Err(WireError::Malformed(
                "initialize answered an error".to_owned(),
            ));
        };
        let result: Value =
            serde_json::from_str(result.get()).map_err(|e| WireError::Malformed(e.to_string()))?;
        let session =
            session.ok_or_else(|| WireError::Malformed("no Mcp-Session-Id".to_owned()))?;
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(PROTOCOL_VERSION)
            .to_owned();
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = self
            .send(self.post(Some((&session, &version)), &note)?)
            .await?;
        let status = response.status();
        drain(response).await;
        if !status.is_success() {
            return Err(WireError::Status(status.as_u16()));
        }
        Ok((session, version))
    }

    /// One request on session `id`.
    pub(super) async fn request(
        &self,
        session: &str,
        version: &str,
        method: &str,
        params: &impl Serialize,
    ) -> Result<Answer, WireError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = RequestBody {
            id,
            jsonrpc: "2.0",
            method,
            params,
        };
        let response = self
            .send(self.post(Some((session, version)), &body)?)
            .await?;
        read_answer(response, true, id).await
    }

    /// Open the GET stream of session `id`.
    pub(super) async fn open_stream(
        &self,
        session: &str,
        version: &str,
    ) -> Result<EventStream, WireError> {
        let uri = self.uri()?;
        let request = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(header::ACCEPT, "text/event-stream")
            .header(SESSION, session)
            .header(VERSION, version)
            .body(Full::new(Bytes::new()))
            .map_err(|e| WireError::Malformed(e.to_string()))?;
        let response = self.send(request).await?;
        check_status(&response, true)?;
        Ok(EventStream {
            body: response.into_body(),
            parser: SseParser::new(MAX_BODY),
            ready: Vec::new(),
        })
    }
}

fn check_status(response: &http::Response<Incoming>, with_session: bool) -> Result<(), WireError> {
    let status = response.status();
    if status == StatusCode::NOT_FOUND && with_session {
        return Err(WireError::SessionUnknown);
    }
    if !status.is_success() {
        return Err(WireError::Status(status.as_u16()));
    }
    Ok(())
}

async fn drain(response: http::Response<Incoming>) {
    let _ = response.into_body().collect().await;
}

fn is_sse(response: &http::Response<Incoming>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"))
}

/// The JSON-RPC answer to request `id`, from a JSON body or an SSE stream.
async fn read_answer(
    response: http::Response<Incoming>,
    with_session: bool,
    id: i64,
) -> Result<Answer, WireError> {
    check_status(&response, with_session)?;
    if is_sse(&response) {
        let mut stream = EventStream {
            body: response.into_body(),
            parser: SseParser::new(MAX_BODY),
            ready: Vec::new(),
        };
        while let Some(message) = stream.next().await {
            if message.get("id").and_then(Value::as_i64) == Some(id) {
                return answer_of(&message);
            }
        }
        return Err(WireError::Malformed(
            "the SSE stream ended without the answer".to_owned(),
        ));
    }
    let bytes = http_body_util::Limited::new(response.into_body(), MAX_BODY as usize)
        .collect()
        .await
        .map_err(|e| WireError::Transport(e.to_string()))?
        .to_bytes();
    answer_of_json(&bytes)
}

/// The answer in a JSON body: the typed split when the body is an object of the usual shape,
/// else through a `Value` (duplicate keys, no member, not an object, not JSON).
fn answer_of_json(bytes: &[u8]) -> Result<Answer, WireError> {
    if is_object(bytes)
        && let Ok(members) = serde_json::from_slice::<ReplyMembers<'_>>(bytes)
    {
        match (members.result, members.error) {
            (Some(result), _) => return Ok(Answer::Result(result.to_owned())),
            (None, Some(error)) => return Ok(Answer::Error(error.to_owned())),
            (None, None) => {}
        }
    }
    let message: Value =
        serde_json::from_slice(bytes).map_err(|e| WireError::Malformed(e.to_string()))?;
    answer_of(&message)
}

fn answer_of(message: &Value) -> Result<Answer, WireError> {
    let raw = |v: &Value| {
        serde_json::value::to_raw_value(v).map_err(|e| WireError::Malformed(e.to_string()))
    };
    if let Some(result) = message.get("result") {
        return Ok(Answer::Result(raw(result)?));
    }
    if let Some(error) = message.get("error") {
        return Ok(Answer::Error(raw(error)?));
    }
    Err(WireError::Malformed(
        "neither result nor error in the answer".to_owned(),
    ))
}

/// JSON-RPC messages arriving on an SSE body.
pub(super) struct EventStream {
    body: Incoming,
    parser: SseParser,
    ready: Vec<Value>,
}

impl EventStream {
    /// The next JSON message; `None` when the stream ended or broke.
    pub(super) async fn next(&mut self) -> Option<Value> {
        loop {
            if !self.ready.is_empty() {
                return Some(self.ready.remove(0));
            }
            let frame = self.body.frame().await?.ok()?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let events = self.parser.feed(&data).ok()?;
            self.ready.extend(
                events
                    .into_iter()
                    .filter(|e| e.is_message() && !e.data.is_empty())
                    .filter_map(|e| serde_json::from_str::<Value>(&e.data).ok()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Map;

    use super::*;

    /// The request bodies print what `json!` printed.
    #[test]
    fn request_bodies_print_what_the_value_code_printed() {
        let mut arguments = Map::new();
        arguments.insert("text".to_owned(), json!("a \"quoted\" word"));
        arguments.insert("count".to_owned(), json!(3));
        #[derive(Serialize)]
        struct Call<'a> {
            arguments: &'a Map<String, Value>,
            name: &'a str,
        }
        let typed = serde_json::to_string(&RequestBody {
            id: 41,
            jsonrpc: "2.0",
            method: "tools/call",
            params: &Call {
                arguments: &arguments,
                name: "github_echo",
            },
        })
        .unwrap_or_default();
        let params = json!({"name": "github_echo", "arguments": Value::Object(arguments)});
        let old = json!({"jsonrpc": "2.0", "id": 41, "method": "tools/call", "params": params});
        assert_eq!(typed, old.to_string());
    }

    /// Bodies whose split is easy to get wrong: the typed split must give what the `Value` code
    /// gave (the same member, read back to the same `Value`).
    #[test]
    fn the_answer_split_matches_the_value_code() {
        let bodies = [
            r#"{"jsonrpc":"2.0","id":3,"result":{"content":[],"isError":false}}"#,
            r#"{"id":3,"error":{"code":-32601,"message":"nope"},"jsonrpc":"2.0"}"#,
            r#"{"result":null,"id":1}"#,
            r#"{"error":null}"#,
            r#"{"result":1,"error":2}"#,
            r#"{"result":1,"result":2}"#,
            r#"  {"result":"a\u0041"}"#,
            r#"{"id":1}"#,
            r#"[{"result":1}]"#,
            r#""result""#,
            "not json",
        ];
        let old = |body: &str| -> Option<(bool, Value)> {
            let message: Value = serde_json::from_str(body).ok()?;
            if let Some(r) = message.get("result") {
                return Some((true, r.clone()));
            }
            message.get("error").map(|e| (false, e.clone()))
        };
        for body in bodies {
            let new = answer_of_json(body.as_bytes()).ok().map(|a| match a {
                Answer::Result(r) => (true, serde_json::from_str(r.get()).unwrap_or_default()),
                Answer::Error(e) => (false, serde_json::from_str(e.get()).unwrap_or_default()),
            });
            assert_eq!(new, old(body), "body {body}");
        }
    }
}
