//! One backend session held for one client session (DESIGN §3.6 "Routing").
//!
//! Opened lazily on the first call to the backend, over a client from the same per-backend pool
//! as probes ([`McpClient::lease`]). A session the backend forgot (404 for our session id, or the
//! 400 some SDKs send for an unknown one, after a pod replacement) is re-initialized **once** and
//! the request retried: both answers mean the request was refused before it reached the tool.
//! Any other failure is returned as is, never retried (the call may have run).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, Response};
use hyper::body::Incoming;
use rmcp::model::{ProtocolVersion, RequestId};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::client::McpClient;
use crate::client::connector::{self, BackendConnector};
use crate::client::session::{self as wire, MCP_SESSION_ID, RpcReply, requested_protocol_version};
use crate::client::target::Target;
use crate::error::{BackendError, ProbeStep};
use crate::frontend::raw_reply::{RawReply, find_raw_reply};
use crate::registry::Backend;

/// An established backend session.
#[derive(Clone, Debug)]
struct Established {
    session_id: Option<HeaderValue>,
    protocol_version: HeaderValue,
    /// Bumped on every (re-)initialize, so a stale failure re-initializes only once.
    epoch: u64,
}

/// A JSON-RPC request as sent to a backend, serialized straight from borrowed parts.
#[derive(serde::Serialize)]
struct OutgoingRequest<'a> {
    jsonrpc: &'static str,
    id: &'a RequestId,
    method: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a Value>,
}

/// How a forwarded request ended.
#[derive(Debug)]
pub(crate) enum Forwarded {
    /// The backend's `result` object, as it wrote it (passed to the client without a parse
    /// into a value tree and a second encoding).
    Result(Box<RawValue>),
    /// The backend's JSON-RPC `error` object, passed to the client as is.
    Error(rmcp::model::ErrorData),
}

/// The backend session of one (client session, backend) pair.
pub(crate) struct Upstream<C> {
    backend: Backend,
    /// The backend's name for connection attribution, shared instead of copied per call.
    attribution: Arc<str>,
    target: Target,
    client: Arc<McpClient<C>>,
    max_body_bytes: u64,
    state: tokio::sync::Mutex<Option<Established>>,
    next_epoch: AtomicI64,
    next_id: AtomicI64,
    reinitializations: AtomicI64,
}

impl<C> std::fmt::Debug for Upstream<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("backend", &self.backend.name)
            .finish_non_exhaustive()
    }
}

impl<C: BackendConnector> Upstream<C> {
    /// A not-yet-initialized session to `backend`.
    pub(crate) fn new(
        backend: Backend,
        client: Arc<McpClient<C>>,
        max_body_bytes: u64,
    ) -> Result<Self, BackendError> {
        let target = Target::new(&backend)?;
        Ok(Self {
            attribution: Arc::from(backend.name.as_str()),
            backend,
            target,
            client,
            max_body_bytes,
            state: tokio::sync::Mutex::new(None),
            next_epoch: AtomicI64::new(0),
            next_id: AtomicI64::new(1),
            reinitializations: AtomicI64::new(0),
        })
    }

    /// The backend this session talks to.
    pub(crate) fn backend(&self) -> &Backend {
        &self.backend
    }

    /// The next JSON-RPC id for this session (shown to the caller so it can cancel).
    pub(crate) fn next_request_id(&self) -> RequestId {
        RequestId::Number(self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    /// Send `method` with `params` under `id`, initializing the session first when needed and
    /// re-initializing once when the backend forgot it.
    pub(crate) async fn request(
        &self,
        id: &RequestId,
        method: &str,
        params: Option<Value>,
    ) -> Result<Forwarded, BackendError> {
        // Encoded once: a retry after a re-initialize resends the same bytes (same id).
        let body = wire::encode(
            ProbeStep::Forward,
            &OutgoingRequest {
                jsonrpc: "2.0",
                id,
                method,
                params: params.as_ref(),
            },
        )?;
        connector::attribute_to(Arc::clone(&self.attribution), async {
            let established = self.established(None).await?;
            match self.send_request(&established, id, body.clone()).await {
                Err(err) if forgot_session(&err, &established) => {
                    self.reinitializations.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        backend = %self.backend.name,
                        %err,
                        "backend session re-initialized (the backend forgot it); request retried"
                    );
                    let fresh = self.established(Some(established.epoch)).await?;
                    self.send_request(&fresh, id, body).await
                }
                other => other,
            }
        })
        .await
    }

    /// Send a notification on the current session (nothing when none is open). Best effort.
    pub(crate) async fn notify(&self, method: &str, params: Value) -> Result<(), BackendError> {
        let current = self.state.lock().await.clone();
        let Some(established) = current else {
            return Ok(());
        };
        let body = json!({"jsonrpc": "2.0", "method": method, "params": params});
        let body = wire::encode(ProbeStep::Forward, &body)?;
        let response = self
            .send(ProbeStep::Forward, Method::POST, body, Some(&established))
            .await?;
        wire::read_body(
            ProbeStep::Forward,
            response.into_body(),
            self.max_body_bytes,
        )
        .await?;
        Ok(())
    }

    /// End the backend session (best effort; the caller bounds it in time).
    pub(crate) async fn close(&self) {
        let current = self.state.lock().await.take();
        let Some(established) = current else {
            return;
        };
        if established.session_id.is_none() {
            return;
        }
        let _ = self
            .send(
                ProbeStep::DeleteSession,
                Method::DELETE,
                Bytes::new(),
                Some(&established),
            )
            .await
            .map(|mut response| wire::drain_ready(response.body_mut()));
    }

    /// The current session, or a new one. With `stale = Some(epoch)`, the session of that epoch
    /// died: replace it unless another request already did.
    async fn established(&self, stale: Option<u64>) -> Result<Established, BackendError> {
        let mut state = self.state.lock().await;
        if let Some(current) = state.as_ref() {
            if stale != Some(current.epoch) {
                return Ok(current.clone());
            }
        }
        *state = None;
        let fresh = self.initialize().await?;
        *state = Some(fresh.clone());
        Ok(fresh)
    }

    async fn initialize(&self) -> Result<Established, BackendError> {
        let step = ProbeStep::Initialize;
        let id = self.next_request_id();
        let message = json!({
            "jsonrpc": "2.0",
            "id": id,
            "method": "initialize",
            "params": {
                "protocolVersion": requested_protocol_version().as_str(),
                "capabilities": {},
                "clientInfo": {"name": "vmcp", "version": env!("CARGO_PKG_VERSION")},
            },
        });
        let body = wire::encode(step, &message)?;
        let response = self.send(step, Method::POST, body, None).await?;
        let session_id = match response.headers().get(&MCP_SESSION_ID) {
            Some(value)
                if !value.is_empty()
                    && value.as_bytes().iter().all(|b| (0x21..=0x7e).contains(b)) =>
            {
                let mut value = value.clone();
                value.set_sensitive(true);
                Some(value)
            }
            Some(_) => {
                return Err(BackendError::protocol(
                    step,
                    "Mcp-Session-Id is not visible ASCII",
                ));
            }
            None => None,
        };
        let result = match self.read_reply(step, response, &id).await? {
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
        let version = result
            .get("protocolVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let known = ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .any(|v| v.as_str() == version && v.has_initialize());
        if !known {
            return Err(BackendError::protocol(
                step,
                format!("unsupported protocol version {version:?}"),
            ));
        }
        let protocol_version = HeaderValue::from_str(&version)
            .map_err(|_| BackendError::protocol(step, "protocol version is not a header value"))?;
        let epoch = u64::try_from(self.next_epoch.fetch_add(1, Ordering::Relaxed)).unwrap_or(0);
        let established = Established {
            session_id,
            protocol_version,
            epoch,
        };
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let body = wire::encode(ProbeStep::Initialized, &note)?;
        let response = self
            .send(
                ProbeStep::Initialized,
                Method::POST,
                body,
                Some(&established),
            )
            .await?;
        wire::read_body(
            ProbeStep::Initialized,
            response.into_body(),
            self.max_body_bytes,
        )
        .await?;
        Ok(established)
    }

    async fn send_request(
        &self,
        established: &Established,
        id: &RequestId,
        body: Bytes,
    ) -> Result<Forwarded, BackendError> {
        let step = ProbeStep::Forward;
        let response = self
            .send(step, Method::POST, body, Some(established))
            .await?;
        let find = |bytes: &[u8]| find_raw_reply(step, bytes, id);
        let reply = match wire::content_type(&response).as_deref() {
            Some("application/json") => {
                let bytes =
                    wire::read_body(step, response.into_body(), self.max_body_bytes).await?;
                find(&bytes)?.ok_or_else(|| {
                    BackendError::protocol(step, "the JSON reply holds no response to our request")
                })?
            }
            Some("text/event-stream") => {
                wire::read_sse_reply_with(step, response.into_body(), self.max_body_bytes, find)
                    .await?
            }
            Some(other) => {
                return Err(BackendError::protocol(
                    step,
                    format!("unexpected content type {other:?}"),
                ));
            }
            None => return Err(BackendError::protocol(step, "reply has no content type")),
        };
        Ok(match reply {
            RawReply::Result(result) => Forwarded::Result(result),
            RawReply::Error(error) => Forwarded::Error(error),
        })
    }

    async fn read_reply(
        &self,
        step: ProbeStep,
        response: Response<Incoming>,
        id: &RequestId,
    ) -> Result<RpcReply, BackendError> {
        match wire::content_type(&response).as_deref() {
            Some("application/json") => {
                let bytes =
                    wire::read_body(step, response.into_body(), self.max_body_bytes).await?;
                wire::find_reply(step, &bytes, id)?.ok_or_else(|| {
                    BackendError::protocol(step, "the JSON reply holds no response to our request")
                })
            }
            Some("text/event-stream") => {
                wire::read_sse_reply(step, response.into_body(), self.max_body_bytes, id).await
            }
            Some(other) => Err(BackendError::protocol(
                step,
                format!("unexpected content type {other:?}"),
            )),
            None => Err(BackendError::protocol(step, "reply has no content type")),
        }
    }

    /// One HTTP exchange. A failed exchange flushes the backend's pool (`per_backend`), as a
    /// failed probe does: a connection-level failure, and also an HTTP error status, because the
    /// connection it came on may be a keep-alive connection to a replaced pod that answers 404 to
    /// everything (DESIGN §4.1). Without the flush, the re-initialize after that 404 would ride
    /// another pooled connection to the same stale pod, and calls would fail until the next probe
    /// failed. The shared pool is never flushed (the upstream bug it stands for).
    async fn send(
        &self,
        step: ProbeStep,
        method: Method,
        body: Bytes,
        established: Option<&Established>,
    ) -> Result<Response<Incoming>, BackendError> {
        let sent_session = established.is_some_and(|e| e.session_id.is_some());
        let request = self.target.request(
            method,
            body,
            established.and_then(|e| e.session_id.as_ref()),
            established.map(|e| &e.protocol_version),
        );
        let lease = self.client.lease(&self.backend.name);
        let response = match lease.client.request(request).await {
            Ok(response) => response,
            Err(err) => {
                let err = crate::client::transport::classify_request_error(step, &err);
                self.client.lease_failed(&self.backend.name, lease);
                return Err(err);
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        self.client.lease_failed(&self.backend.name, lease);
        Err(wire::status_error(step, status, sent_session))
    }
}

/// Whether `err` means the backend no longer knows the session we sent (404, or 400 as some
/// SDKs answer an unknown session id).
fn forgot_session(err: &BackendError, established: &Established) -> bool {
    established.session_id.is_some()
        && matches!(
            err,
            BackendError::SessionTerminated { .. } | BackendError::Rejected { status: 400, .. }
        )
}
