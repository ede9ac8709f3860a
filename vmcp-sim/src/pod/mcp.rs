//! The pod's request handler: MCP Streamable HTTP (one endpoint, `POST` JSON-RPC, `DELETE` to end
//! a session) with the pod's behaviour applied in front of it.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{Value, json};

use super::body::{self, PodBody};
use super::server::{Incarnation, PodSession};
use super::{PodBehaviour, PodHandle, PodRequestRecord, ReplyMode};
use crate::clock::sim_now;
use crate::service::lock;

/// The session header of MCP Streamable HTTP.
pub(crate) const SESSION_HEADER: &str = "mcp-session-id";

/// The `_meta` key of a `tools/call` result naming the pod that ran the tool.
pub(crate) const POD_META: &str = "sim/pod";

/// The protocol version answered when the client did not ask for one.
const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";

/// Returned by the handler to make hyper close the connection without answering.
#[derive(Debug, thiserror::Error)]
#[error("the pod closed the connection without answering")]
pub(crate) struct CloseConnection;

/// What kind of request arrived, decided once the body is read.
struct Classified {
    method: Method,
    session: Option<String>,
    /// The JSON-RPC message for a `POST`, if the body parsed.
    message: Option<Value>,
    /// Counter key: JSON-RPC method for `POST`, HTTP method otherwise.
    label: String,
}

/// Handles one HTTP request according to the pod's current behaviour.
pub(crate) async fn handle(
    pod: PodHandle,
    inc: Arc<Incarnation>,
    req: Request<Incoming>,
) -> Result<Response<PodBody>, CloseConnection> {
    let control = pod.shared.control.borrow().clone();
    let (parts, body) = req.into_parts();
    let Ok(collected) = body.collect().await else {
        pod.with_stats(|s| s.closed_without_reply += 1);
        return Err(CloseConnection);
    };
    let request = classify(parts.method, &parts.headers, &collected.to_bytes());
    pod.with_stats(|s| *s.requests.entry(request.label.clone()).or_default() += 1);
    let arrived = sim_now();
    // Seeded processing time: the same seed gives the same delays, another seed reorders
    // replies relative to other hosts (DESIGN §4.5).
    let jitter = pod.next_jitter();
    if !jitter.is_zero() {
        tokio::time::sleep(jitter).await;
    }

    let behaviour = if control.is_up(inc.start, sim_now()) {
        control.behaviour.clone()
    } else {
        // The process went down while this request was in flight: no answer.
        PodBehaviour::Close
    };
    let unauthorized = control.required_auth.as_ref().is_some_and(|auth| {
        parts
            .headers
            .get(&auth.header)
            .and_then(|v| v.to_str().ok())
            != Some(auth.value.as_str())
    });
    let first_call = if request.label == "tools/call" && !unauthorized {
        request.session.as_ref().and_then(|sid| {
            let mut sessions = lock(&inc.sessions);
            let session = sessions.get_mut(sid).filter(|s| !s.called)?;
            session.called = true;
            Some(session.initialized_at)
        })
    } else {
        None
    };
    pod.log(|| PodRequestRecord {
        at: arrived,
        pod: pod.name().to_owned(),
        method: request.label.clone(),
        authorized: !unauthorized,
        first_call_of_session: first_call,
    });
    let response = match behaviour {
        PodBehaviour::Close | PodBehaviour::Refuse => {
            pod.with_stats(|s| s.closed_without_reply += 1);
            return Err(CloseConnection);
        }
        PodBehaviour::Hang => std::future::pending().await,
        _ if unauthorized => status_reply(StatusCode::UNAUTHORIZED),
        PodBehaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            serve_mcp(&pod, &inc, &control, request)
        }
        PodBehaviour::Status {
            code,
            only_initialize,
        } if !only_initialize || request.label == "initialize" => status_reply(code),
        PodBehaviour::LegacySse => legacy_sse(&pod, &request),
        PodBehaviour::ForgetSessions if request.label != "initialize" => {
            text(control.unknown_session, "session not found")
        }
        PodBehaviour::Healthy
        | PodBehaviour::Status { .. }
        | PodBehaviour::ForgetSessions
        | PodBehaviour::StartingFor(_) => serve_mcp(&pod, &inc, &control, request),
    };
    pod.with_stats(|s| *s.responses.entry(response.status().as_u16()).or_default() += 1);
    Ok(response)
}

fn classify(method: Method, headers: &http::HeaderMap, body: &Bytes) -> Classified {
    let session = headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if method != Method::POST {
        return Classified {
            label: method.as_str().to_owned(),
            method,
            session,
            message: None,
        };
    }
    let message: Option<Value> = serde_json::from_slice(body).ok();
    let label = match &message {
        None => "<invalid-json>".to_owned(),
        Some(m) => match m.get("method").and_then(Value::as_str) {
            Some(name) => name.to_owned(),
            None => "<response>".to_owned(),
        },
    };
    Classified {
        method,
        session,
        message,
        label,
    }
}

/// A correct MCP Streamable-HTTP server.
fn serve_mcp(
    pod: &PodHandle,
    inc: &Incarnation,
    control: &super::Control,
    req: Classified,
) -> Response<PodBody> {
    let reply = control.reply;
    match req.method {
        Method::POST => {}
        Method::DELETE => {
            return match req.session {
                None => text(StatusCode::BAD_REQUEST, "missing mcp-session-id"),
                Some(sid) if lock(&inc.sessions).remove(&sid).is_some() => {
                    text(StatusCode::OK, "session terminated")
                }
                Some(_) => text(control.unknown_session, "session not found"),
            };
        }
        // No standalone server-to-client stream is offered.
        _ => return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed"),
    }
    let Some(message) = req.message else {
        return json_error_response(StatusCode::BAD_REQUEST, Value::Null, -32700, "parse error");
    };
    let id = message.get("id").cloned();
    if req.label == "initialize" {
        let Some(id) = id else {
            return json_error_response(
                StatusCode::BAD_REQUEST,
                Value::Null,
                -32600,
                "initialize must be a request",
            );
        };
        let sid = pod.next_session_id();
        lock(&inc.sessions).insert(
            sid.clone(),
            PodSession {
                initialized_at: sim_now(),
                called: false,
            },
        );
        pod.with_stats(|s| s.sessions_created += 1);
        let version = message
            .pointer("/params/protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or(DEFAULT_PROTOCOL_VERSION);
        let result = json!({
            "protocolVersion": version,
            "capabilities": { "tools": {} },
            "serverInfo": { "name": pod.name(), "version": "0.0.0-sim" },
        });
        let mut response = rpc_reply(
            pod,
            reply,
            json!({"jsonrpc": "2.0", "id": id, "result": result}),
        );
        if let Ok(value) = HeaderValue::from_str(&sid) {
            response.headers_mut().insert(SESSION_HEADER, value);
        }
        return response;
    }
    match req.session {
        None => return text(StatusCode::BAD_REQUEST, "missing mcp-session-id"),
        Some(sid) if !lock(&inc.sessions).contains_key(&sid) => {
            return text(control.unknown_session, "session not found");
        }
        Some(_) => {}
    }
    // Notifications and client responses carry no id: acknowledged, nothing to answer.
    let Some(id) = id else {
        return with_status(StatusCode::ACCEPTED, body::empty());
    };
    let result = match req.label.as_str() {
        "tools/list" => {
            let tools: Vec<Value> = control
                .tools
                .iter()
                .map(|name| {
                    json!({
                        "name": name,
                        "description": format!("The simulated tool {name}."),
                        "inputSchema": {
                            "type": "object",
                            "properties": { "text": { "type": "string" } },
                        },
                    })
                })
                .collect();
            json!({ "tools": tools })
        }
        "tools/call" => {
            let name = message.pointer("/params/name").and_then(Value::as_str);
            match name.filter(|n| control.tools.iter().any(|t| t == n)) {
                Some(tool) => json!({
                    "content": [{"type": "text", "text": format!("{tool} served by {}", pod.name())}],
                    "isError": false,
                    // Which pod answered, for the client's trace (a result may carry `_meta`).
                    "_meta": {POD_META: pod.name()},
                }),
                None => {
                    let error = json!({
                        "jsonrpc": "2.0",
                        "id": id,
                        "error": {"code": -32602, "message": format!("unknown tool: {}", name.unwrap_or(""))},
                    });
                    return rpc_reply(pod, reply, error);
                }
            }
        }
        "ping" => json!({}),
        other => {
            let error = json!({
                "jsonrpc": "2.0",
                "id": id,
                "error": { "code": -32601, "message": format!("method not found: {other}") },
            });
            return rpc_reply(pod, reply, error);
        }
    };
    rpc_reply(
        pod,
        reply,
        json!({"jsonrpc": "2.0", "id": id, "result": result}),
    )
}

/// A 200 carrying one JSON-RPC message, framed as JSON or SSE.
fn rpc_reply(pod: &PodHandle, reply: ReplyMode, message: Value) -> Response<PodBody> {
    let payload = message.to_string();
    match reply {
        ReplyMode::Json => {
            let mut r = with_status(StatusCode::OK, body::full(payload));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        ReplyMode::Sse => {
            let prime = pod.next_event_id();
            let event = pod.next_event_id();
            let stream =
                format!("id: {prime}\ndata: \n\nevent: message\nid: {event}\ndata: {payload}\n\n");
            let mut r = with_status(StatusCode::OK, body::full(stream));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            r
        }
    }
}

/// A legacy HTTP+SSE server: `GET` opens the event stream, everything else is not allowed.
fn legacy_sse(pod: &PodHandle, req: &Classified) -> Response<PodBody> {
    if req.method != Method::GET {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return r;
    }
    let event = format!(
        "event: endpoint\ndata: /messages?sessionId={}\n\n",
        pod.next_session_id()
    );
    let mut r = with_status(StatusCode::OK, body::endless(event));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r
}

/// The fixed-status answer of [`PodBehaviour::Status`].
fn status_reply(code: StatusCode) -> Response<PodBody> {
    let reason = code.canonical_reason().unwrap_or("error");
    let mut r = text(code, &format!("{} {reason}", code.as_u16()));
    if code == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

fn json_error_response(
    status: StatusCode,
    id: Value,
    code: i64,
    message: &str,
) -> Response<PodBody> {
    let body = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    let mut r = with_status(status, body::full(body.to_string()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn text(status: StatusCode, message: &str) -> Response<PodBody> {
    let mut r = with_status(status, body::full(message.to_owned()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

fn with_status(status: StatusCode, body: PodBody) -> Response<PodBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}
