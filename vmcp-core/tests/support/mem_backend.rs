//! In-memory MCP backends for front-end tests on paused time: a connector that answers each
//! connect with a `tokio::io::duplex` pipe served by a scripted MCP server. No sockets, so
//! paused-time auto-advance only happens when every task is genuinely waiting on a timer.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "integration-test helpers: the test binary is its own crate, so `pub` here means \"for the test files\"; not every test uses every helper"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::DuplexStream;

/// One scripted backend.
#[derive(Debug, Default)]
pub struct BackendState {
    /// Tool names offered.
    pub tools: Vec<String>,
    /// Resource URIs offered (none: capability not advertised).
    pub resources: Vec<String>,
    /// Prompt names offered (none: capability not advertised).
    pub prompts: Vec<String>,
    /// Items per `*/list` page (0: everything on one page).
    pub page_size: usize,
    /// Every request: (JSON-RPC method or HTTP method, session id sent).
    pub requests: Vec<(String, Option<String>)>,
    /// `params` of every `notifications/cancelled` received.
    pub cancelled: Vec<Value>,
    /// Ids of `tools/call` requests received.
    pub call_ids: Vec<Value>,
    /// Live session ids.
    pub sessions: BTreeSet<String>,
    next_session: u64,
    /// How long `tools/call` takes.
    pub call_delay: Duration,
    /// Every request gets this status (e.g. 500) when set.
    pub fail_with: Option<u16>,
    /// The status for a request carrying an unknown session id (404 per spec; some SDKs 400).
    pub stale_status: u16,
    /// Connections are refused.
    pub down: bool,
    /// Every request waits this long before it is answered (a stalled backend).
    pub stall: Duration,
    /// `tools/call` (only) gets this status when set.
    pub fail_calls: Option<u16>,
    /// `tools/call` in flight now, and the most ever at once.
    pub calls_in_flight: usize,
    /// The most `tools/call` in flight at once.
    pub max_calls_in_flight: usize,
    /// Tools whose calls return a result with `isError: true` (the tool ran and failed).
    pub error_tools: Vec<String>,
}

/// A scripted backend, shared between the connector and the test.
#[derive(Clone, Debug)]
pub struct MemBackend {
    /// Its name (also the URL host).
    pub name: String,
    /// Its state.
    pub state: Arc<Mutex<BackendState>>,
}

impl MemBackend {
    /// A backend offering `tools`.
    pub fn new(name: &str, tools: &[&str]) -> Self {
        let state = BackendState {
            tools: tools.iter().map(|t| (*t).to_owned()).collect(),
            stale_status: 404,
            ..BackendState::default()
        };
        Self {
            name: name.to_owned(),
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.name)
    }

    /// Change the state.
    pub fn with<R>(&self, f: impl FnOnce(&mut BackendState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// The JSON-RPC methods received, in order.
    pub fn methods(&self) -> Vec<String> {
        self.with(|s| s.requests.iter().map(|(m, _)| m.clone()).collect())
    }

    /// How many requests of `method` were received.
    pub fn count(&self, method: &str) -> usize {
        self.methods().iter().filter(|m| *m == method).count()
    }

    /// Forget every session (a restarted pod).
    pub fn forget_sessions(&self) {
        self.with(|s| s.sessions.clear());
    }
}

/// The connector: host name → backend.
#[derive(Clone, Debug, Default)]
pub struct MemConnector {
    backends: Arc<Mutex<BTreeMap<String, MemBackend>>>,
}

impl MemConnector {
    /// Make `backend` reachable.
    pub fn add(&self, backend: &MemBackend) {
        self.backends
            .lock()
            .unwrap()
            .insert(backend.name.clone(), backend.clone());
    }
}

/// The client end of a pipe.
pub struct MemStream(TokioIo<DuplexStream>);

impl Connection for MemStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for MemStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for MemStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl tower_service::Service<Uri> for MemConnector {
    type Response = MemStream;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<MemStream, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let host = uri.host().unwrap_or_default().to_owned();
        let backend = self.backends.lock().unwrap().get(&host).cloned();
        Box::pin(async move {
            let refused = || std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
            let backend = backend.ok_or_else(refused)?;
            if backend.with(|s| s.down) {
                return Err(refused());
            }
            let (client, server) = tokio::io::duplex(64 * 1024);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let backend = backend.clone();
                    async move { Ok::<_, Infallible>(handle(&backend, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(server), service)
                    .await;
            });
            Ok(MemStream(TokioIo::new(client)))
        })
    }
}

fn reply(status: u16, body: Option<Value>) -> Response<Full<Bytes>> {
    let bytes = body
        .map(|b| serde_json::to_vec(&b).unwrap())
        .unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    if status == 200 {
        response
            .headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
    }
    response
}

fn page(items: &[String], page_size: usize, cursor: Option<&str>) -> (Vec<String>, Option<String>) {
    let start: usize = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
    if page_size == 0 {
        return (items[start.min(items.len())..].to_vec(), None);
    }
    let end = (start + page_size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    (items[start.min(end)..end].to_vec(), next)
}

async fn handle(backend: &MemBackend, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let session = req
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let method = req.method().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let rpc = message["method"].as_str().unwrap_or("").to_owned();
    let label = if method == Method::POST {
        rpc.clone()
    } else {
        method.to_string()
    };
    let stall = backend.with(|s| s.stall);
    tokio::time::sleep(stall).await;
    let fail_call = backend.with(|s| s.fail_calls.filter(|_| rpc == "tools/call"));
    if let Some(status) = fail_call {
        backend.with(|s| s.requests.push((rpc.clone(), session.clone())));
        return reply(status, None);
    }
    let (fail, stale) = backend.with(|s| {
        s.requests.push((label, session.clone()));
        let stale = session.as_ref().is_some_and(|id| !s.sessions.contains(id));
        (s.fail_with, stale.then_some(s.stale_status))
    });
    if let Some(status) = fail {
        return reply(status, None);
    }
    if method == Method::DELETE {
        backend.with(|s| session.as_ref().map(|id| s.sessions.remove(id)));
        return reply(200, None);
    }
    if rpc != "initialize" {
        if let Some(status) = stale {
            return reply(status, None);
        }
    }
    let id = message.get("id").cloned();
    let Some(id) = id else {
        if rpc == "notifications/cancelled" {
            backend.with(|s| s.cancelled.push(message["params"].clone()));
        }
        return reply(202, None);
    };
    let params = &message["params"];
    let cursor = params["cursor"].as_str();
    let name = backend.name.clone();
    let result = match rpc.as_str() {
        "initialize" => {
            let (sid, has_resources, has_prompts) = backend.with(|s| {
                s.next_session += 1;
                let sid = format!("{}-s{}", s.tools.len(), s.next_session);
                s.sessions.insert(sid.clone());
                (sid, !s.resources.is_empty(), !s.prompts.is_empty())
            });
            let mut capabilities = json!({"tools": {"listChanged": true}});
            if has_resources {
                capabilities["resources"] = json!({});
            }
            if has_prompts {
                capabilities["prompts"] = json!({});
            }
            let body = json!({"jsonrpc": "2.0", "id": id, "result": {
                "protocolVersion": params["protocolVersion"],
                "capabilities": capabilities,
                "serverInfo": {"name": name, "version": "1"},
            }});
            let mut response = reply(200, Some(body));
            response
                .headers_mut()
                .insert("mcp-session-id", sid.parse().unwrap());
            return response;
        }
        "ping" => json!({}),
        "tools/list" | "resources/list" | "prompts/list" => {
            let (items, next) = backend.with(|s| {
                let items = match rpc.as_str() {
                    "tools/list" => &s.tools,
                    "resources/list" => &s.resources,
                    _ => &s.prompts,
                };
                page(items, s.page_size, cursor)
            });
            let (field, objects): (&str, Vec<Value>) = match rpc.as_str() {
                "tools/list" => (
                    "tools",
                    items
                        .iter()
                        .map(|t| json!({"name": t, "inputSchema": {"type": "object"}}))
                        .collect(),
                ),
                "resources/list" => (
                    "resources",
                    items.iter().map(|u| json!({"uri": u, "name": u})).collect(),
                ),
                _ => (
                    "prompts",
                    items.iter().map(|p| json!({"name": p})).collect(),
                ),
            };
            let mut result = json!({ field: objects });
            if let Some(next) = next {
                result["nextCursor"] = json!(next);
            }
            result
        }
        "tools/call" => {
            let delay = backend.with(|s| {
                s.call_ids.push(id.clone());
                s.calls_in_flight += 1;
                s.max_calls_in_flight = s.max_calls_in_flight.max(s.calls_in_flight);
                s.call_delay
            });
            tokio::time::sleep(delay).await;
            backend.with(|s| s.calls_in_flight -= 1);
            let tool = params["name"].as_str().unwrap_or("").to_owned();
            let known = backend.with(|s| s.tools.contains(&tool));
            if !known {
                return reply(
                    200,
                    Some(
                        json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32602, "message": format!("no tool {tool}")}}),
                    ),
                );
            }
            let text = format!("{name}:{tool}:{}", params["arguments"]);
            if backend.with(|s| s.error_tools.contains(&tool)) {
                json!({"content": [{"type": "text", "text": text}], "isError": true})
            } else {
                json!({"content": [{"type": "text", "text": text}]})
            }
        }
        "resources/read" => {
            json!({"contents": [{"uri": params["uri"], "text": format!("{name} read {}", params["uri"])}]})
        }
        "prompts/get" => {
            json!({"messages": [{"role": "user", "content": {"type": "text", "text": format!("{name} prompt {}", params["name"])}}]})
        }
        _ => {
            return reply(
                200,
                Some(
                    json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "no such method"}}),
                ),
            );
        }
    };
    reply(
        200,
        Some(json!({"jsonrpc": "2.0", "id": id, "result": result})),
    )
}
