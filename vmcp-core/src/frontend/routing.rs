//! Routing a client call to its owning backend (DESIGN §3.6 "Routing", "Fast-fail", "Every call
//! is bounded").
//!
//! Order of checks, none of which sends anything to the backend until the last:
//! 1. the name resolves (advertised first, then among hidden backends, so the refusal can name
//!    the backend) — otherwise a JSON-RPC error (-32602 / -32002);
//! 2. the monitor's call gate (status, circuit, half-open budget) — otherwise a fast-fail;
//! 3. the backend's bulkhead (`max_concurrent_calls`) — otherwise a fast-fail;
//! 4. the call, under `call_timeout`, cancellable by the client's `notifications/cancelled`.
//!
//! A fast-fail of `tools/call` is a tool result with `isError: true` whose text names the
//! backend, its status and its circuit state; `resources/read` and `prompts/get` have no such
//! result shape and get a JSON-RPC error with the same text.

use std::sync::Arc;

use rmcp::model::{ErrorCode, ErrorData, JsonObject, RequestId};
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::client::BackendConnector;
use crate::client::DEFAULT_DELETE_TIMEOUT;
use crate::error::BackendError;
use crate::frontend::aggregate::Kind;
use crate::frontend::session::ClientSession;
use crate::frontend::upstream::{Forwarded, Upstream};
use crate::frontend::{CallRefusal, CallResult, Frontend, FrontendEvent};
use crate::health::CallOutcome;
use crate::registry::Backend;

/// JSON-RPC code for a request the client cancelled.
pub(super) const REQUEST_CANCELLED: i32 = -32800;

/// The method a kind's call is forwarded as.
pub(super) const fn call_method(kind: Kind) -> &'static str {
    match kind {
        Kind::Tools => "tools/call",
        Kind::Resources => "resources/read",
        Kind::Prompts => "prompts/get",
    }
}

/// What the call path produced: a `result` object (raw JSON: the backend's as it wrote it, or
/// vmcp's own refusal) or a JSON-RPC error.
pub(super) type CallReply = Result<Box<RawValue>, ErrorData>;

/// A refusal or failure the client sees: an `isError` tool result, or a JSON-RPC error.
fn refused(kind: Kind, text: String) -> CallReply {
    match kind {
        Kind::Tools => {
            let value = json!({"content": [{"type": "text", "text": text}], "isError": true});
            serde_json::value::to_raw_value(&value)
                .map_err(|_| ErrorData::new(ErrorCode::INTERNAL_ERROR, text, None))
        }
        Kind::Resources | Kind::Prompts => {
            Err(ErrorData::new(ErrorCode::INTERNAL_ERROR, text, None))
        }
    }
}

impl<C: BackendConnector> Frontend<C> {
    /// Route one `tools/call` / `resources/read` / `prompts/get` of `session`. `client_id` is
    /// the client's request id (for cancellation).
    pub(crate) async fn route_call(
        &self,
        session: &Arc<ClientSession<C>>,
        kind: Kind,
        mut params: JsonObject,
        client_id: &RequestId,
    ) -> CallReply {
        let key = kind.key();
        // Taken out by value (no copy of the name); the original name goes back in below.
        let Some(Value::String(name)) = params.remove(key) else {
            return Err(ErrorData::invalid_params(
                format!("{} needs a string {key}", call_method(kind)),
                None,
            ));
        };
        let view = self.view();
        let Some(entry) = view
            .advertised
            .find(kind, &name)
            .or_else(|| view.all.find(kind, &name))
        else {
            return Err(match kind {
                Kind::Tools => ErrorData::invalid_params(format!("unknown tool {name:?}"), None),
                Kind::Prompts => {
                    ErrorData::invalid_params(format!("unknown prompt {name:?}"), None)
                }
                Kind::Resources => {
                    ErrorData::resource_not_found(format!("unknown resource {name:?}"), None)
                }
            });
        };
        let permit = match self.monitor.call_gate(&entry.backend) {
            Ok(permit) => permit,
            Err(fast_fail) => {
                tracing::info!(backend = %entry.backend, %fast_fail, "call fast-failed");
                self.refusal(&entry.backend, CallRefusal::Gate(fast_fail.refusal));
                return refused(kind, fast_fail.to_string());
            }
        };
        let Ok(_slot) = self.bulkhead(&entry.backend).try_acquire_owned() else {
            self.refusal(&entry.backend, CallRefusal::Bulkhead);
            return refused(
                kind,
                format!(
                    "backend {:?} already has max_concurrent_calls ({}) calls in flight; the \
                     call was not sent",
                    entry.backend, self.config.server.max_concurrent_calls
                ),
            );
        };
        let upstream = match self.upstream_for(session, permit.backend()) {
            Ok(upstream) => upstream,
            Err(err) => {
                self.refusal(&entry.backend, CallRefusal::InvalidTarget);
                return refused(kind, format!("backend {:?}: {err}", entry.backend));
            }
        };
        params.insert(key.to_owned(), Value::String(entry.original.clone()));

        let call_key = serde_json::to_string(client_id).unwrap_or_default();
        let in_flight = session.begin_call(call_key.clone());
        // Unregisters the call however this future ends (a client that disconnects drops it).
        let _registered = Registered {
            session: session.as_ref(),
            key: &call_key,
        };
        let upstream_id = upstream.next_request_id();
        let timeout = self.config.server.call_timeout;
        let forwarded_at = crate::clock::monotonic_now();
        self.emit(|| FrontendEvent::CallForwarded {
            backend: entry.backend.clone(),
        });
        let mut ended = CallEndGuard {
            frontend: self,
            backend: &entry.backend,
            since: forwarded_at,
            result: CallResult::Abandoned,
        };
        // Boxed: the call's state (the backend request and its reply reading) is the largest
        // part of the request future; on the heap, the timeout, the select and every future
        // above it stay small, and are not copied around at their full size on each request.
        let call = Box::pin(upstream.request(
            &upstream_id,
            call_method(kind),
            Some(Value::Object(params)),
        ));
        let outcome = tokio::select! {
            biased;
            () = in_flight.cancel.notified() => Ended::Cancelled,
            result = tokio::time::timeout(timeout, call) => match result {
                Ok(result) => Ended::Done(result),
                Err(_) => Ended::TimedOut,
            },
        };

        let trip = self.config.server.call_failures_trip_breaker;
        let neutral_unless =
            |outcome: CallOutcome| if trip { outcome } else { CallOutcome::Neutral };
        match outcome {
            Ended::Cancelled => {
                ended.result = CallResult::Cancelled;
                permit.finish(CallOutcome::Neutral);
                spawn_cancel(upstream, upstream_id, "cancelled by the client");
                Err(ErrorData::new(
                    ErrorCode(REQUEST_CANCELLED),
                    "request cancelled",
                    None,
                ))
            }
            Ended::TimedOut => {
                ended.result = CallResult::Timeout;
                permit.finish(neutral_unless(CallOutcome::TransportFailure));
                spawn_cancel(Arc::clone(&upstream), upstream_id, "call_timeout elapsed");
                refused(
                    kind,
                    format!(
                        "backend {:?} did not answer within call_timeout ({})",
                        entry.backend,
                        humantime::format_duration(timeout)
                    ),
                )
            }
            Ended::Done(Ok(Forwarded::Result(result))) => {
                // Only an observer needs to know, and finding out scans the result.
                ended.result = if kind == Kind::Tools && self.observed() && is_tool_error(&result) {
                    CallResult::ToolError
                } else {
                    CallResult::Ok
                };
                permit.finish(neutral_unless(CallOutcome::Success));
                Ok(result)
            }
            Ended::Done(Ok(Forwarded::Error(error))) => {
                ended.result = CallResult::RpcError;
                permit.finish(neutral_unless(CallOutcome::Success));
                Err(error)
            }
            Ended::Done(Err(err)) => {
                ended.result = CallResult::BackendError;
                let transport = is_transport_failure(&err);
                permit.finish(if transport {
                    neutral_unless(CallOutcome::TransportFailure)
                } else {
                    CallOutcome::Neutral
                });
                tracing::info!(backend = %entry.backend, %err, "call failed");
                refused(
                    kind,
                    format!("backend {:?} failed the call: {err}", entry.backend),
                )
            }
        }
    }

    /// The backend session of `session` to `current` (the backend as configured when the
    /// call was admitted), replaced when the backend's endpoint changed since it was opened.
    fn upstream_for(
        &self,
        session: &ClientSession<C>,
        current: &Backend,
    ) -> Result<Arc<Upstream<C>>, BackendError> {
        let open = || {
            Upstream::new(
                current.clone(),
                Arc::clone(&self.client),
                self.max_body_bytes,
                self.observer(),
            )
        };
        let upstream = session.upstream(&current.name, open)?;
        if !upstream.backend().endpoint_differs(current) {
            return Ok(upstream);
        }
        // Only the URL moved: the old backend session is closed (DELETE with the credentials it
        // was opened with, which are still the configured ones). Credentials changed: it is
        // dropped without a word, since a DELETE would carry the old credential after the
        // change (ToolHive #6509); the backend expires it on its own.
        if let Some(old) = session.forget_upstream(&current.name) {
            if old.backend().auth == current.auth {
                close_soon(vec![old]);
            }
        }
        session.upstream(&current.name, open)
    }
}

/// Reports [`FrontendEvent::CallEnded`] however the call future ends (answered, timed out,
/// cancelled, or dropped with its client connection: then as [`CallResult::Abandoned`]).
struct CallEndGuard<'a, C: BackendConnector> {
    frontend: &'a Frontend<C>,
    backend: &'a str,
    since: tokio::time::Instant,
    result: CallResult,
}

impl<C: BackendConnector> Drop for CallEndGuard<'_, C> {
    fn drop(&mut self) {
        self.frontend.emit(|| FrontendEvent::CallEnded {
            backend: self.backend.to_owned(),
            elapsed: crate::clock::monotonic_now().saturating_duration_since(self.since),
            result: self.result,
        });
    }
}

impl<C: BackendConnector> Frontend<C> {
    /// Report a fast-fail.
    fn refusal(&self, backend: &str, refusal: CallRefusal) {
        self.emit(|| FrontendEvent::CallRefused {
            backend: backend.to_owned(),
            refusal,
        });
    }
}

/// Whether a `tools/call` result says `isError: true` (a tool that ran and failed). Scans the
/// result without building a value tree; an unreadable one counts as no.
fn is_tool_error(result: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct Flag {
        #[serde(rename = "isError", default)]
        is_error: Option<bool>,
    }
    let text = result.get();
    // Most results have no `isError` member at all: without the key's name in the text (or an
    // escape, which could spell it as `is\u0045rror`) there is nothing to parse for.
    if !text.contains("isError") && !text.contains('\\') {
        return false;
    }
    serde_json::from_str::<Flag>(text)
        .ok()
        .and_then(|flag| flag.is_error)
        .unwrap_or(false)
}

/// Removes a call from its session's in-flight table when dropped.
struct Registered<'a, C> {
    session: &'a ClientSession<C>,
    key: &'a str,
}

impl<C> Drop for Registered<'_, C> {
    fn drop(&mut self) {
        self.session.end_call(self.key);
    }
}

enum Ended {
    Cancelled,
    TimedOut,
    Done(Result<Forwarded, BackendError>),
}

/// Connection-level failures and 5xx: what `call_failures_trip_breaker` counts.
fn is_transport_failure(err: &BackendError) -> bool {
    matches!(
        err,
        BackendError::Unavailable { .. } | BackendError::Timeout { .. }
    )
}

/// Forward `notifications/cancelled` for `id` to the backend, best effort, bounded.
fn spawn_cancel<C: BackendConnector>(upstream: Arc<Upstream<C>>, id: RequestId, reason: &str) {
    let params = json!({"requestId": id, "reason": reason});
    tokio::spawn(async move {
        let sent = tokio::time::timeout(
            DEFAULT_DELETE_TIMEOUT,
            upstream.notify("notifications/cancelled", params),
        )
        .await;
        if !matches!(sent, Ok(Ok(()))) {
            tracing::debug!(backend = %upstream.backend().name, "could not forward a cancellation");
        }
    });
}

/// Close backend sessions of ended client sessions in the background.
pub(crate) fn close_soon<C: BackendConnector>(closed: Vec<Arc<Upstream<C>>>) {
    if closed.is_empty() {
        return;
    }
    tokio::spawn(close_all(closed));
}

/// Close backend sessions, each bounded by [`DEFAULT_DELETE_TIMEOUT`].
pub(crate) async fn close_all<C: BackendConnector>(closed: Vec<Arc<Upstream<C>>>) {
    for upstream in closed {
        let _ = tokio::time::timeout(DEFAULT_DELETE_TIMEOUT, upstream.close()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).expect("valid JSON")
    }

    #[test]
    fn a_tool_error_is_the_top_level_is_error_flag_only() {
        for (text, expected) in [
            (r#"{"content":[{"type":"text","text":"hi"}]}"#, false),
            (r#"{"content":[],"isError":true}"#, true),
            (r#"{"isError":false,"content":[]}"#, false),
            (r#"{"isError":null}"#, false),
            // Spelled with an escape: the same key to a JSON reader.
            (r#"{"is\u0045rror":true}"#, true),
            // The name inside a text, or a nested member, is not the flag.
            (r#"{"content":[{"type":"text","text":"isError"}]}"#, false),
            (
                r#"{"content":[{"type":"text","text":"a\nb"}],"_meta":{"isError":true}}"#,
                false,
            ),
            // Unreadable as the flag: counts as no.
            (r#"{"isError":"yes"}"#, false),
        ] {
            assert_eq!(is_tool_error(&raw(text)), expected, "{text}");
        }
    }
}
