//! Simulated MCP clients (DESIGN §4.6): a real MCP Streamable-HTTP client in a host of its own
//! (`client-<name>`), talking to the front end of the `vmcp` host over turmoil TCP.
//!
//! What a client does, from its [`ClientSpec`]: at `start` it sends `initialize` (then
//! `notifications/initialized`), retried every [`RETRY`] until it gets a session; with `stream`
//! it holds the GET stream open (reopened when it ends) and records every
//! `notifications/tools/list_changed`, listing tools again when `relist_on_change`; it sends
//! `tools/list` (every page) at the `list_tools` instants; and it sends every scheduled
//! `tools/call` at its instant, each concurrently, each bounded by its `call_timeout`. A 404 for
//! its session id (the server forgot the session, e.g. after a vMCP restart) makes it start a new
//! session, as the MCP specification requires. Every step is a trace entry.
//!
//! Module map: `connect` (turmoil TCP to the `vmcp` host), `routes` (tool name → backend by the
//! front end's aggregation rules), `wire` (one JSON-RPC request over HTTP, answers in JSON or
//! SSE, through the core's SSE parser), `call_result` (what a client reads from a `tools/call`
//! result).

mod call_result;
mod connect;
mod routes;
mod wire;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};

pub use connect::DirectConnector;
pub use routes::tool_routes;
pub use wire::{Answer, WireError};

use crate::clock::{millis, sim_now};
use crate::scenario::ClientSpec;
use crate::trace::{CallOutcome, TraceEvent, TraceRecorder};
use call_result::CallResult;
use wire::Wire;

/// `params` of `tools/list`: `{}` or `{"cursor":…}`.
#[derive(Serialize)]
struct ListParams<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<&'a str>,
}

/// `params` of `tools/call`, members in the order `serde_json::json!` prints them (sorted).
#[derive(Serialize)]
struct CallParams<'a> {
    arguments: &'a Map<String, Value>,
    name: &'a str,
}

/// Pause between failed attempts to initialize or to open the GET stream.
pub const RETRY: Duration = Duration::from_millis(500);

/// Bound on one `initialize`, `tools/list` page or GET stream opening: a connect to a crashed
/// host never ends by itself.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a client host needs; shared by its tasks.
#[derive(Debug)]
pub struct ClientPlan {
    /// What the client does.
    pub spec: ClientSpec,
    /// The front end's URL (`http://vmcp:<port>/mcp`).
    pub url: String,
    /// Exposed tool name → backend ([`tool_routes`]).
    pub routes: BTreeMap<String, String>,
}

/// The boxed future of one client incarnation, as `turmoil::Sim::host` wants it.
pub type ClientFuture = Pin<Box<dyn Future<Output = turmoil::Result>>>;

/// The client host's software.
pub fn software(plan: Arc<ClientPlan>, recorder: TraceRecorder) -> impl Fn() -> ClientFuture {
    move || Box::pin(run(Arc::clone(&plan), recorder.clone()))
}

/// The session the client holds, with a generation so one lost session is replaced once.
#[derive(Debug, Default)]
struct SessionState {
    id: Option<String>,
    version: String,
    generation: u64,
}

/// What the client's tasks share.
struct Client {
    plan: Arc<ClientPlan>,
    recorder: TraceRecorder,
    wire: Wire,
    session: tokio::sync::Mutex<SessionState>,
    had_session: AtomicBool,
    calls: AtomicU64,
}

/// A session to use: its id, protocol version and generation.
#[derive(Clone, Debug)]
struct Held {
    id: String,
    version: String,
    generation: u64,
}

async fn sleep_until(at: Duration) {
    let now = sim_now();
    if at > now {
        tokio::time::sleep(at - now).await;
    }
}

async fn run(plan: Arc<ClientPlan>, recorder: TraceRecorder) -> turmoil::Result {
    let client = Arc::new(Client {
        wire: Wire::new(plan.url.clone()),
        plan,
        recorder,
        session: tokio::sync::Mutex::new(SessionState::default()),
        had_session: AtomicBool::new(false),
        calls: AtomicU64::new(0),
    });
    let spec = &client.plan.spec;
    sleep_until(spec.start).await;
    client.session().await;
    if spec.stream {
        tokio::spawn(stream_loop(Arc::clone(&client)));
    }
    // The agenda: every list and call instant, in time order (lists first at one instant).
    let mut agenda: Vec<(Duration, u8, usize)> = spec
        .list_tools
        .iter()
        .map(|t| (*t, 0, 0))
        .chain(spec.call_times().into_iter().map(|(t, i)| (t, 1, i)))
        .collect();
    agenda.sort();
    for (at, what, index) in agenda {
        sleep_until(at).await;
        let client = Arc::clone(&client);
        if what == 0 {
            tokio::spawn(async move { client.list_tools().await });
        } else {
            tokio::spawn(async move { client.call(index).await });
        }
    }
    std::future::pending::<()>().await;
    Ok(())
}

impl Client {
    fn name(&self) -> &str {
        &self.plan.spec.name
    }

    fn record(&self, event: TraceEvent) {
        self.recorder.record(event);
    }

    /// The current session, or a new one (retried every [`RETRY`] until it succeeds).
    async fn session(&self) -> Held {
        let mut state = self.session.lock().await;
        if let Some(id) = &state.id {
            return Held {
                id: id.clone(),
                version: state.version.clone(),
                generation: state.generation,
            };
        }
        loop {
            let reinitialize = self.had_session.load(Ordering::Relaxed);
            match tokio::time::timeout(STEP_TIMEOUT, self.wire.initialize()).await {
                Ok(Ok((id, version))) => {
                    self.had_session.store(true, Ordering::Relaxed);
                    state.id = Some(id.clone());
                    state.version.clone_from(&version);
                    state.generation += 1;
                    self.record(TraceEvent::ClientSession {
                        client: self.name().to_owned(),
                        ok: true,
                        reinitialize,
                    });
                    return Held {
                        id,
                        version,
                        generation: state.generation,
                    };
                }
                Ok(Err(_)) | Err(_) => {
                    self.record(TraceEvent::ClientSession {
                        client: self.name().to_owned(),
                        ok: false,
                        reinitialize,
                    });
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }

    /// The server forgot session `generation`: the next request starts a new one.
    async fn lost(&self, generation: u64) {
        let mut state = self.session.lock().await;
        if state.generation == generation {
            state.id = None;
        }
    }

    /// `tools/list`, every page; recorded when complete. A forgotten session is replaced and
    /// the listing retried once.
    async fn list_tools(&self) {
        for _ in 0..2 {
            let held = self.session().await;
            let mut names = Vec::new();
            let mut cursor: Option<String> = None;
            let complete = loop {
                let params = ListParams {
                    cursor: cursor.as_deref(),
                };
                let answer = tokio::time::timeout(
                    STEP_TIMEOUT,
                    self.wire
                        .request(&held.id, &held.version, "tools/list", &params),
                )
                .await;
                match answer {
                    Ok(Ok(Answer::Result(result))) => {
                        let result: Value =
                            serde_json::from_str(result.get()).unwrap_or(Value::Null);
                        for tool in result
                            .get("tools")
                            .and_then(Value::as_array)
                            .into_iter()
                            .flatten()
                        {
                            if let Some(name) = tool.get("name").and_then(Value::as_str) {
                                names.push(name.to_owned());
                            }
                        }
                        match result.get("nextCursor").and_then(Value::as_str) {
                            Some(next) if !next.is_empty() => cursor = Some(next.to_owned()),
                            _ => break true,
                        }
                    }
                    Ok(Err(WireError::SessionUnknown)) => {
                        self.lost(held.generation).await;
                        break false;
                    }
                    _ => return,
                }
            };
            if complete {
                self.record(TraceEvent::ToolsListed {
                    client: self.name().to_owned(),
                    tools: names,
                });
                return;
            }
        }
    }

    /// One scheduled call (schedule `index` of the spec).
    async fn call(&self, index: usize) {
        let Some(spec) = self.plan.spec.calls.get(index) else {
            return;
        };
        let number = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        self.record(TraceEvent::CallStarted {
            client: self.name().to_owned(),
            tool: spec.tool.clone(),
            call: number,
        });
        let started = sim_now();
        let params = CallParams {
            arguments: &spec.arguments,
            name: &spec.tool,
        };
        let attempt = async {
            let held = self.session().await;
            let answer = self
                .wire
                .request(&held.id, &held.version, "tools/call", &params)
                .await;
            if matches!(answer, Err(WireError::SessionUnknown)) {
                self.lost(held.generation).await;
            }
            answer
        };
        let (outcome, pod) = match tokio::time::timeout(self.plan.spec.call_timeout, attempt).await
        {
            Err(_) => (CallOutcome::Timeout, None),
            Ok(Ok(Answer::Result(result))) => {
                let CallResult { is_error, pod } = CallResult::read(&result);
                if is_error {
                    (CallOutcome::ToolError, pod)
                } else {
                    (CallOutcome::Ok, pod)
                }
            }
            Ok(Ok(Answer::Error(_)))
            | Ok(Err(WireError::Status(_)))
            | Ok(Err(WireError::SessionUnknown)) => (CallOutcome::RpcError, None),
            Ok(Err(WireError::Transport(_) | WireError::Malformed(_))) => {
                (CallOutcome::TransportError, None)
            }
        };
        let latency = sim_now().saturating_sub(started);
        self.record(TraceEvent::CallFinished {
            client: self.name().to_owned(),
            tool: spec.tool.clone(),
            call: number,
            backend: self.plan.routes.get(&spec.tool).cloned(),
            pod,
            outcome,
            latency_ms: millis(latency),
        });
    }
}

/// Holds the GET stream open while the client runs: records `list_changed`, relists on it,
/// reopens an ended stream after [`RETRY`]; stops for good on 405 (the server offers no stream,
/// which the specification allows).
async fn stream_loop(client: Arc<Client>) {
    loop {
        let held = client.session().await;
        let opened = tokio::time::timeout(
            STEP_TIMEOUT,
            client.wire.open_stream(&held.id, &held.version),
        )
        .await;
        match opened {
            Ok(Ok(mut stream)) => {
                while let Some(message) = stream.next().await {
                    let method = message.get("method").and_then(Value::as_str);
                    if method == Some("notifications/tools/list_changed") {
                        client.record(TraceEvent::ListChanged {
                            client: client.name().to_owned(),
                        });
                        if client.plan.spec.relist_on_change {
                            let client = Arc::clone(&client);
                            tokio::spawn(async move { client.list_tools().await });
                        }
                    }
                }
            }
            Ok(Err(WireError::Status(405))) => return,
            Ok(Err(WireError::SessionUnknown)) => client.lost(held.generation).await,
            Ok(Err(_)) | Err(_) => {}
        }
        tokio::time::sleep(RETRY).await;
    }
}
