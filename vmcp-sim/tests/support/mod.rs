//! A minimal MCP-over-HTTP test client on hyper-util's legacy client and the turmoil connector,
//! plus helpers to run test code as the `vmcp` host and collect what it saw.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "integration-test helpers: the test binary is its own crate, so `pub` here means \"for the test files\"; not every test file uses every helper"
)]

use std::error::Error as _;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::{Value, json};
use vmcp_sim::{ServedBy, TurmoilConnector, World};

/// A hyper-util client with its own connection pool.
#[derive(Clone)]
pub struct Http {
    client: Client<TurmoilConnector, Full<Bytes>>,
}

/// A collected response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub served_by: Option<ServedBy>,
}

impl Reply {
    pub fn session(&self) -> Option<String> {
        self.headers
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("json body")
    }

    pub fn pod(&self) -> String {
        self.served_by.as_ref().expect("served_by").pod.clone()
    }
}

/// Why a request failed, reduced to what tests assert on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The connector failed; holds its message.
    Connect(String),
    /// The connection closed before a complete response.
    Incomplete,
    /// Anything else.
    Other(String),
}

impl Http {
    pub fn new(connector: TurmoilConnector) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .build(connector),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        url: &str,
        session: Option<&str>,
        body: Option<Value>,
    ) -> Result<Reply, Failure> {
        let mut req = Request::builder()
            .method(method)
            .uri(url)
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json");
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        let body = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let req = req.body(Full::new(body)).expect("request");
        let res = self.client.request(req).await.map_err(classify)?;
        let served_by = res.extensions().get::<ServedBy>().cloned();
        let status = res.status();
        let headers = res.headers().clone();
        let body = res
            .into_body()
            .collect()
            .await
            .map_err(|e| Failure::Other(e.to_string()))?
            .to_bytes();
        Ok(Reply {
            status,
            headers,
            body,
            served_by,
        })
    }

    pub async fn post(
        &self,
        url: &str,
        session: Option<&str>,
        body: Value,
    ) -> Result<Reply, Failure> {
        self.send(Method::POST, url, session, Some(body)).await
    }

    /// Response head of a request whose body may never end (legacy SSE `GET`), plus the first
    /// body frame.
    pub async fn first_frame(
        &self,
        method: Method,
        url: &str,
    ) -> Result<(StatusCode, Bytes), Failure> {
        let req = Request::builder()
            .method(method)
            .uri(url)
            .header("accept", "text/event-stream")
            .body(Full::new(Bytes::new()))
            .expect("request");
        let res = self.client.request(req).await.map_err(classify)?;
        let status = res.status();
        let mut body = res.into_body();
        let frame = body
            .frame()
            .await
            .expect("a frame")
            .map_err(|e| Failure::Other(e.to_string()))?;
        Ok((status, frame.into_data().unwrap_or_default()))
    }

    /// `initialize` → session id.
    pub async fn initialize(&self, url: &str) -> Result<Reply, Failure> {
        self.post(url, None, initialize_msg(1)).await
    }
}

fn classify(e: hyper_util::client::legacy::Error) -> Failure {
    if e.is_connect() {
        let msg = e.source().map(ToString::to_string).unwrap_or_default();
        return Failure::Connect(msg);
    }
    let hyper_error = e.source().and_then(|s| s.downcast_ref::<hyper::Error>());
    if hyper_error.is_some_and(hyper::Error::is_incomplete_message) {
        return Failure::Incomplete;
    }
    Failure::Other(format!("{e:?}"))
}

pub fn initialize_msg(id: u64) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "sim-test", "version": "0" }
        }
    })
}

pub fn initialized_msg() -> Value {
    json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
}

pub fn request_msg(id: u64, method: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method})
}

/// Simulated time now, inside a host.
pub fn now() -> Duration {
    turmoil::sim_elapsed().expect("inside a host")
}

/// Sleeps until simulated time `t`, inside a host.
pub async fn sleep_until(t: Duration) {
    tokio::time::sleep(t.saturating_sub(now())).await;
}

/// Observations recorded by test code running inside the simulation.
pub struct Notes<T>(Arc<Mutex<Vec<T>>>);

impl<T> Default for Notes<T> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<T> Clone for Notes<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Clone> Notes<T> {
    pub fn push(&self, t: T) {
        self.0.lock().unwrap().push(t);
    }

    pub fn all(&self) -> Vec<T> {
        self.0.lock().unwrap().clone()
    }
}

/// Runs `body` once as the `vmcp` host's software (a restart would run it again).
pub fn vmcp<F, Fut>(world: &mut World, body: F)
where
    F: Fn() -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    world
        .add_vmcp_host(move || {
            let fut = body();
            async move {
                fut.await;
                Ok(())
            }
        })
        .expect("vmcp host");
}

/// Runs `body` as the `vmcp` host with an HTTP client over the world's connector and `backend`'s
/// URL; returns the notes `body` records. The common shape of the world tests.
pub fn client<T, F, Fut>(world: &mut World, backend: &str, body: F) -> Notes<T>
where
    T: Clone + 'static,
    F: Fn(Http, String, Notes<T>) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let url = world.backend_url(backend);
    let conn = world.connector();
    let seen = Notes::<T>::default();
    let notes = seen.clone();
    vmcp(world, move || {
        body(Http::new(conn.clone()), url.clone(), notes.clone())
    });
    seen
}

/// `text` with every seeded session-id suffix removed: `<pod>-s<n>-<8 hex>` becomes
/// `<pod>-s<n>`. Pods draw the suffix from their seeded RNG (so ids differ between seeds), and a
/// test about which pod and which session answered compares the stable part. Panics if a
/// `-s<n>` session id lacks the suffix (the seeded part must be there).
#[allow(
    dead_code,
    reason = "used by some of the test binaries that include this module"
)]
pub fn without_session_suffix(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        out.push(bytes[i] as char);
        if bytes[i] == b'-' && bytes.get(i + 1) == Some(&b's') {
            let digits = bytes[i + 2..]
                .iter()
                .take_while(|b| b.is_ascii_digit())
                .count();
            let tail = i + 2 + digits;
            let hex = bytes.get(tail + 1..tail + 9);
            if digits > 0
                && bytes.get(tail) == Some(&b'-')
                && hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
                && bytes
                    .get(tail + 9)
                    .is_none_or(|b| !b.is_ascii_alphanumeric())
            {
                out.push_str(&text[i + 1..tail]);
                i = tail + 9;
                continue;
            }
        }
        i += 1;
    }
    out
}
