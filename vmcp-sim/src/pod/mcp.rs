//! The pod's request handler: MCP Streamable HTTP (one endpoint, `POST` JSON-RPC, `DELETE` to end
//! a session) with the pod's behaviour applied in front of it.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::Value;

use super::body::{self, PodBody};
use super::jsonrpc::{self, RpcMessage};
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
    message: Option<RpcMessage>,
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
    let message = RpcMessage::parse(body);
    let label = match &message {
        None => "<invalid-json>".to_owned(),
        Some(m) => match &m.method {
            Some(name) => name.clone(),
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
        return json_error_response(StatusCode::BAD_REQUEST, &Value::Null, -32700, "parse error");
    };
    let id = message.id;
    if req.label == "initialize" {
        let Some(id) = id else {
            return json_error_response(
                StatusCode::BAD_REQUEST,
                &Value::Null,
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
            .protocol_version
            .as_deref()
            .unwrap_or(DEFAULT_PROTOCOL_VERSION);
        let mut response = rpc_reply(
            pod,
            reply,
            jsonrpc::initialize_reply(&id, version, pod.name()),
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
    let payload = match req.label.as_str() {
        "tools/list" => jsonrpc::tools_list_reply(&id, &control.tools),
        "tools/call" => {
            let name = message.name.as_deref();
            match name.filter(|n| control.tools.iter().any(|t| t == n)) {
                // Which pod answered, for the client's trace (a result may carry `_meta`).
                Some(tool) => jsonrpc::call_reply(&id, tool, pod.name()),
                None => jsonrpc::error_reply(
                    &id,
                    -32602,
                    &format!("unknown tool: {}", name.unwrap_or("")),
                ),
            }
        }
        "ping" => jsonrpc::empty_reply(&id),
        other => jsonrpc::error_reply(&id, -32601, &format!("method not found: {other}")),
    };
    rpc_reply(pod, reply, payload)
}

/// A 200 carrying one JSON-RPC message (printed), framed as JSON or SSE.
fn rpc_reply(pod: &PodHandle, reply: ReplyMode, payload: String) -> Response<PodBody> {
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
    id: &Value,
    code: i64,
    message: &str,
) -> Response<PodBody> {
    let body = jsonrpc::error_reply(id, code, message);
    let mut r = with_status(status, body::full(body));
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
