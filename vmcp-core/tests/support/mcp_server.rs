//! A small in-process MCP Streamable-HTTP server on 127.0.0.1:0 with switchable behaviour, for
//! testing the client against real sockets.
//!
//! Sessions get deterministic ids (`session-1`, `session-2`, ...). Every request is recorded
//! (method, JSON-RPC method, relevant headers) and every accepted TCP connection counted, so tests
//! can assert what went over the wire.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use http_body_util::Full;
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

/// How the server answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A healthy server answering in JSON.
    Json,
    /// A healthy server answering requests as SSE streams, each starting with the 2025-11-25
    /// priming event (id, empty data) and an interleaved notification and server request.
    Sse,
    /// Every request gets this status.
    Status(u16),
    /// `initialize` gets this status; the rest would be fine.
    StatusOnInitialize(u16),
    /// `tools/list` and `ping` get this status.
    StatusOnList(u16),
    /// The first request carrying a session id gets 404 (the server "forgot" its sessions), then
    /// the server is healthy (JSON).
    ForgetSessionsOnce,
    /// Every request carrying a session id gets 404.
    ForgetSessionsAlways,
    /// `initialize` gets a JSON-RPC error.
    RpcErrorOnInitialize,
    /// `tools/list` and `ping` get a JSON-RPC error.
    RpcErrorOnList,
    /// 200 `application/json` with a body that is not JSON.
    Garbage,
    /// 200 `text/event-stream` with a broken event (invalid UTF-8).
    GarbageSse,
    /// 200 `text/html`.
    WrongContentType,
    /// `initialize` answers with a protocol version nobody knows.
    UnknownProtocolVersion,
    /// 200 `application/json` whose body is this many bytes, streamed without Content-Length.
    HugeChunked(usize),
    /// 200 `application/json` whose body is this many bytes, with Content-Length.
    HugeDeclared(usize),
    /// 200 `text/event-stream` with one event of this many bytes, streamed.
    HugeSseEvent(usize),
    /// An SSE stream that ends without the response.
    SseWithoutResponse,
    /// Never answers (the connection stays open).
    Hang,
    /// Reads the request, then closes the connection without answering (EOF).
    Close,
    /// Reads the request, then resets the connection (RST).
    Reset,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    /// HTTP method.
    pub method: Method,
    /// JSON-RPC method, if the body had one.
    pub rpc_method: Option<String>,
    /// All headers.
    pub headers: HeaderMap,
}

impl Recorded {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    /// `POST initialize` → "initialize", `DELETE` → "DELETE".
    pub fn label(&self) -> String {
        match (&self.method, &self.rpc_method) {
            (&Method::POST, Some(m)) => m.clone(),
            (m, _) => m.to_string(),
        }
    }
}

#[derive(Debug)]
struct State {
    mode: Mode,
    tools: bool,
    issue_session_ids: bool,
    next_session: u64,
    sessions: BTreeSet<String>,
    requests: Vec<Recorded>,
    connections: u64,
    handshakes_failed: u64,
}

/// A running test server. Dropping it stops accepting (open connections live on until closed).
pub struct McpTestServer {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    accept_task: tokio::task::JoinHandle<()>,
    /// Serving `https://` (see [`McpTestServer::start_tls`]).
    tls: bool,
}

impl Drop for McpTestServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl McpTestServer {
    /// Start a healthy JSON server advertising tools and issuing session ids.
    pub async fn start() -> Self {
        Self::start_with(Mode::Json).await
    }

    /// Start with a given mode.
    pub async fn start_with(mode: Mode) -> Self {
        Self::start_inner(mode, None).await
    }

    /// Start a healthy JSON server behind TLS: every accepted connection first completes a
    /// rustls handshake with `acceptor` (a failed handshake is counted, see
    /// [`McpTestServer::handshakes_failed`]), then is served like a plain one. `Close`/`Reset`
    /// modes are not available over TLS.
    pub async fn start_tls(acceptor: tokio_rustls::TlsAcceptor) -> Self {
        Self::start_inner(Mode::Json, Some(acceptor)).await
    }

    async fn start_inner(mode: Mode, tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let is_tls = tls.is_some();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            mode,
            tools: true,
            issue_session_ids: true,
            next_session: 1,
            sessions: BTreeSet::new(),
            requests: Vec::new(),
            connections: 0,
            handshakes_failed: 0,
        }));
        let accept_state = Arc::clone(&state);
        let accept_task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let state = Arc::clone(&accept_state);
                let mode = {
                    let mut s = state.lock().unwrap();
                    s.connections += 1;
                    s.mode.clone()
                };
                let tls = tls.clone();
                tokio::spawn(async move {
                    if let Some(acceptor) = tls {
                        match acceptor.accept(stream).await {
                            Ok(stream) => serve(stream, state).await,
                            Err(_) => state.lock().unwrap().handshakes_failed += 1,
                        }
                        return;
                    }
                    match mode {
                        Mode::Close => close_after_request(stream, false).await,
                        Mode::Reset => close_after_request(stream, true).await,
                        _ => serve(stream, state).await,
                    }
                });
            }
        });
        Self {
            addr,
            state,
            accept_task,
            tls: is_tls,
        }
    }

    /// The MCP endpoint URL (`https://` for a TLS server).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/mcp", self.addr)
    }

    /// The MCP endpoint URL with `host` instead of the IP address (same port and scheme).
    pub fn url_with_host(&self, host: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{host}:{}/mcp", self.addr.port())
    }

    /// The address the server listens on.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// TLS handshakes that failed (the client refused the certificate, or spoke no TLS).
    pub fn handshakes_failed(&self) -> u64 {
        self.state.lock().unwrap().handshakes_failed
    }

    /// Switch behaviour for subsequent requests (`Close`/`Reset`: for new connections).
    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    /// Whether `initialize` advertises the tools capability (default true).
    pub fn set_tools(&self, tools: bool) {
        self.state.lock().unwrap().tools = tools;
    }

    /// Whether `initialize` assigns a session id (default true).
    pub fn set_issue_session_ids(&self, issue: bool) {
        self.state.lock().unwrap().issue_session_ids = issue;
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }

    /// `label()` of every request so far.
    pub fn labels(&self) -> Vec<String> {
        self.requests().iter().map(Recorded::label).collect()
    }

    /// TCP connections accepted so far.
    pub fn connections_accepted(&self) -> u64 {
        self.state.lock().unwrap().connections
    }

    /// Sessions currently open on the server.
    pub fn open_sessions(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .sessions
            .iter()
            .cloned()
            .collect()
    }
}

/// Serve HTTP/1.1 on one connection, plain or TLS.
async fn serve<IO>(io: IO, state: Arc<Mutex<State>>)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(handle(state, req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// Read one request (head and Content-Length body), then close or reset.
async fn close_after_request(mut stream: tokio::net::TcpStream, reset: bool) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(head_end) = find(&buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= head_end + 4 + len {
                break;
            }
        }
    }
    if reset {
        #[allow(
            deprecated,
            reason = "set_linger is deprecated for blocking-close surprises, which is what this reset wants"
        )]
        let _ = stream.set_linger(Some(std::time::Duration::ZERO));
    }
    drop(stream);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

type ResBody = BoxBody<Bytes, Infallible>;

fn full(bytes: impl Into<Bytes>) -> ResBody {
    Full::new(bytes.into()).boxed()
}

fn status(code: u16) -> Response<ResBody> {
    let mut res = Response::new(full(Bytes::new()));
    *res.status_mut() = StatusCode::from_u16(code).unwrap();
    res
}

fn json_response(value: &Value) -> Response<ResBody> {
    Response::builder()
        .header("content-type", "application/json")
        .body(full(serde_json::to_vec(value).unwrap()))
        .unwrap()
}

fn sse_response(messages: &[Value], id: &Value) -> Response<ResBody> {
    // Priming event (2025-11-25): an id and an empty data field.
    let mut text = String::from("id: prime-0\ndata:\n\n: keep-alive comment\n\n");
    // Interleaved traffic the client must skip.
    text.push_str(
        "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"hello\"}}\n\n",
    );
    text.push_str("data: {\"jsonrpc\":\"2.0\",\"id\":\"srv-1\",\"method\":\"roots/list\"}\n\n");
    // A reply to some other id.
    text.push_str(&format!(
        "data: {}\n\n",
        json!({"jsonrpc":"2.0","id": 999_999,"result":{}})
    ));
    let _ = id;
    for m in messages {
        // Spread one JSON value over several data lines to exercise joining.
        text.push_str("id: ev-1\n");
        for line in serde_json::to_string_pretty(m).unwrap().lines() {
            text.push_str(&format!("data: {line}\n"));
        }
        text.push('\n');
    }
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(full(text))
        .unwrap()
}

/// A body of `remaining` bytes in 16 KiB chunks, without a declared length.
struct Chunked {
    remaining: usize,
    prefix: Option<Bytes>,
}

impl Body for Chunked {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(prefix) = self.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let n = self.remaining.min(16 * 1024);
        self.remaining -= n;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; n])))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Response<ResBody> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    match respond(&state, &parts, &body) {
        Some(response) => response,
        None => std::future::pending().await,
    }
}

/// The answer to one request; `None` means "never answer".
fn respond(
    state: &Mutex<State>,
    parts: &http::request::Parts,
    body: &[u8],
) -> Option<Response<ResBody>> {
    let message: Option<Value> = serde_json::from_slice(body).ok();
    let rpc_method = message
        .as_ref()
        .and_then(|m| m.get("method"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let id = message.as_ref().and_then(|m| m.get("id")).cloned();
    let session = parts
        .headers
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);

    let mut s = state.lock().unwrap();
    s.requests.push(Recorded {
        method: parts.method.clone(),
        rpc_method: rpc_method.clone(),
        headers: parts.headers.clone(),
    });
    let mode = s.mode.clone();
    let is_initialize = rpc_method.as_deref() == Some("initialize");

    match &mode {
        Mode::Hang => return None,
        Mode::Status(code) => return Some(status(*code)),
        Mode::StatusOnInitialize(code) if is_initialize => return Some(status(*code)),
        Mode::StatusOnList(code)
            if matches!(rpc_method.as_deref(), Some("tools/list") | Some("ping")) =>
        {
            return Some(status(*code));
        }
        Mode::ForgetSessionsOnce if session.is_some() => {
            s.sessions.clear();
            s.mode = Mode::Json;
            return Some(status(404));
        }
        Mode::ForgetSessionsAlways if session.is_some() => {
            s.sessions.clear();
            return Some(status(404));
        }
        Mode::Garbage => {
            return Some(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(full("<html>this is not JSON</html>"))
                    .unwrap(),
            );
        }
        Mode::GarbageSse => {
            return Some(
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(full(&b"data: \xff\xfe\n\n"[..]))
                    .unwrap(),
            );
        }
        Mode::WrongContentType => {
            return Some(
                Response::builder()
                    .header("content-type", "text/html")
                    .body(full("<html></html>"))
                    .unwrap(),
            );
        }
        Mode::HugeChunked(n) => {
            return Some(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(
                        Chunked {
                            remaining: *n,
                            prefix: None,
                        }
                        .boxed(),
                    )
                    .unwrap(),
            );
        }
        Mode::HugeDeclared(n) => {
            return Some(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(full(vec![b'x'; *n]))
                    .unwrap(),
            );
        }
        Mode::HugeSseEvent(n) => {
            return Some(
                Response::builder()
                    .header("content-type", "text/event-stream")
                    .body(
                        Chunked {
                            remaining: *n,
                            prefix: Some(Bytes::from_static(b"id: 0\ndata:\n\ndata: ")),
                        }
                        .boxed(),
                    )
                    .unwrap(),
            );
        }
        _ => {}
    }

    // Session checks, as a real Streamable-HTTP server does them.
    if !is_initialize {
        match &session {
            Some(id) if !s.sessions.contains(id) => return Some(status(404)),
            None if s.issue_session_ids => return Some(status(400)),
            _ => {}
        }
    }

    if parts.method == Method::DELETE {
        if let Some(id) = &session {
            s.sessions.remove(id);
        }
        return Some(status(200));
    }
    if parts.method != Method::POST {
        return Some(status(405));
    }
    let Some(rpc_method) = rpc_method else {
        return Some(status(400));
    };
    let Some(id) = id else {
        // A notification.
        return Some(status(202));
    };

    let mut new_session = None;
    let reply = match rpc_method.as_str() {
        "initialize" => {
            if mode == Mode::RpcErrorOnInitialize {
                json!({"jsonrpc":"2.0","id":id,"error":{"code":-32603,"message":"not ready"}})
            } else {
                let requested = message
                    .as_ref()
                    .and_then(|m| m.pointer("/params/protocolVersion"))
                    .cloned()
                    .unwrap_or(json!("2025-06-18"));
                let version = if mode == Mode::UnknownProtocolVersion {
                    json!("1999-01-01")
                } else {
                    requested
                };
                let capabilities = if s.tools {
                    json!({"tools": {"listChanged": false}})
                } else {
                    json!({})
                };
                if s.issue_session_ids {
                    let sid = format!("session-{}", s.next_session);
                    s.next_session += 1;
                    s.sessions.insert(sid.clone());
                    new_session = Some(sid);
                }
                json!({"jsonrpc":"2.0","id":id,"result":{
                    "protocolVersion": version,
                    "capabilities": capabilities,
                    "serverInfo": {"name":"test-server","version":"0.0.1"}
                }})
            }
        }
        "tools/list" | "ping" if mode == Mode::RpcErrorOnList => {
            json!({"jsonrpc":"2.0","id":id,"error":{"code":-32000,"message":"backend database down"}})
        }
        "tools/list" => json!({"jsonrpc":"2.0","id":id,"result":{"tools":[
            {"name":"echo","description":"Echo","inputSchema":{"type":"object"}}
        ]}}),
        "ping" => json!({"jsonrpc":"2.0","id":id,"result":{}}),
        "tools/call" => json!({"jsonrpc":"2.0","id":id,"result":{
            "content": [{"type":"text","text": message
                .as_ref()
                .and_then(|m| m.pointer("/params/arguments/text"))
                .cloned()
                .unwrap_or_default()}]
        }}),
        _ => {
            json!({"jsonrpc":"2.0","id":id,"error":{"code":-32601,"message":"method not found"}})
        }
    };

    let mut res = match mode {
        Mode::Sse => sse_response(&[reply], &id),
        Mode::SseWithoutResponse => {
            let mut res = sse_response(&[], &id);
            *res.status_mut() = StatusCode::OK;
            res
        }
        _ => json_response(&reply),
    };
    if let Some(sid) = new_session {
        res.headers_mut()
            .insert("mcp-session-id", sid.parse().unwrap());
    }
    Some(res)
}
