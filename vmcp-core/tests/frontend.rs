//! The front end (DESIGN §3.6) against in-memory backends, on paused time: advertising per
//! status, conflict naming, routing, fast-fail without backend traffic, bulkhead, call timeout,
//! cancellation, session expiry and cap, list_changed coalescing, pagination both ways, a
//! transparently re-initialized backend session, and bad input.

#[path = "support/mem_backend.rs"]
mod mem_backend;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use mem_backend::{MemBackend, MemConnector};
use serde_json::{Value, json};
use vmcp_core::client::McpClient;
use vmcp_core::clock::{EpochClock, SharedClock, Timestamp};
use vmcp_core::config::{
    CircuitBreakerConfig, FailureHandling, FrontendConfig, PartialFailureMode,
};
use vmcp_core::frontend::{Frontend, FrontendBody};
use vmcp_core::registry::{Backend, DynamicRegistry};
use vmcp_core::runtime::{RuntimeParts, VmcpRuntime};

const INTERVAL: Duration = Duration::from_secs(10);

struct Harness {
    runtime: VmcpRuntime,
    frontend: Arc<Frontend<MemConnector>>,
    connector: MemConnector,
}

fn failure_handling() -> FailureHandling {
    FailureHandling {
        health_check_interval: INTERVAL,
        health_check_timeout: Duration::from_secs(5),
        unhealthy_threshold: 1,
        healthy_threshold: 1,
        ..FailureHandling::default()
    }
}

async fn start_with(
    backends: &[MemBackend],
    config: FrontendConfig,
    failure: FailureHandling,
) -> Harness {
    let connector = MemConnector::default();
    for backend in backends {
        connector.add(backend);
    }
    let client = Arc::new(McpClient::new(connector.clone(), &failure));
    let registry = Arc::new(
        DynamicRegistry::new(
            backends
                .iter()
                .map(|b| Backend {
                    name: b.name.clone(),
                    url: b.url(),
                    auth: None,
                })
                .collect(),
        )
        .unwrap(),
    );
    let clock: SharedClock = Arc::new(EpochClock::new(Timestamp::from_unix_millis(0)));
    let mut runtime = VmcpRuntime::start(RuntimeParts {
        config: failure,
        probe: Arc::clone(&client),
        registry,
        clock,
        observer: None,
        rng_seed: 7,
        reporters: Vec::new(),
    })
    .unwrap();
    let frontend = runtime.start_frontend(config, client, 7).unwrap();
    // First probes (they list the catalogs) and the notifier's debounce.
    tokio::time::sleep(Duration::from_secs(1)).await;
    Harness {
        runtime,
        frontend,
        connector,
    }
}

async fn start(backends: &[MemBackend]) -> Harness {
    start_with(backends, FrontendConfig::default(), failure_handling()).await
}

/// A client session driven through `Frontend::handle`.
struct Client {
    frontend: Arc<Frontend<MemConnector>>,
    session: Option<String>,
    next_id: i64,
}

fn request(method: Method, session: Option<&str>, body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let mut builder = Request::builder()
        .method(method)
        .uri("/mcp")
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(session) = session {
        builder = builder.header("mcp-session-id", session);
    }
    builder.body(Full::new(body.into())).unwrap()
}

async fn json_of(response: Response<FrontendBody>) -> (StatusCode, Value) {
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, value)
}

impl Client {
    async fn connect(h: &Harness) -> Self {
        Self::connect_version(h, "2025-06-18").await
    }

    async fn connect_version(h: &Harness, version: &str) -> Self {
        let mut client = Client {
            frontend: Arc::clone(&h.frontend),
            session: None,
            next_id: 1,
        };
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
        let response = h
            .frontend
            .handle(request(Method::POST, None, init.to_string()))
            .await;
        let session = response
            .headers()
            .get("mcp-session-id")
            .map(|v| v.to_str().unwrap().to_owned());
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["result"]["protocolVersion"], version);
        client.session = Some(session.expect("a session id"));
        client.notify("notifications/initialized", json!({})).await;
        client
    }

    async fn post(&self, message: Value) -> (StatusCode, Value) {
        json_of(
            self.frontend
                .handle(request(
                    Method::POST,
                    self.session.as_deref(),
                    message.to_string(),
                ))
                .await,
        )
        .await
    }

    async fn rpc(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let (status, body) = self
            .post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], id);
        body
    }

    async fn notify(&self, method: &str, params: Value) {
        let (status, _) = self
            .post(json!({"jsonrpc": "2.0", "method": method, "params": params}))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }

    async fn tool_names(&mut self) -> Vec<String> {
        let body = self.rpc("tools/list", json!({})).await;
        body["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn call(&mut self, tool: &str) -> Value {
        self.rpc("tools/call", json!({"name": tool, "arguments": {"q": 1}}))
            .await
    }

    /// `DELETE` the session; returns the HTTP status.
    async fn delete(&self) -> StatusCode {
        self.frontend
            .handle(request(
                Method::DELETE,
                self.session.as_deref(),
                Bytes::new(),
            ))
            .await
            .status()
    }

    async fn open_stream(&self) -> FrontendBody {
        let response = self
            .frontend
            .handle(request(Method::GET, self.session.as_deref(), Bytes::new()))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        response.into_body()
    }
}

/// Every event that arrives on `stream` within `wait`.
async fn events(stream: &mut FrontendBody, wait: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(deadline, stream.frame()).await {
        if let Ok(data) = frame.into_data() {
            let text = String::from_utf8(data.to_vec()).unwrap();
            let json = text.trim().strip_prefix("event: message\ndata: ").unwrap();
            let value: Value = serde_json::from_str(json).unwrap();
            out.push(value["method"].as_str().unwrap().to_owned());
        }
    }
    out
}

fn text_of(result: &Value) -> String {
    result["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(start_paused = true)]
async fn merged_tools_are_prefixed_sorted_and_routed_with_the_original_name() {
    let github = MemBackend::new("github", &["search", "issue"]);
    let jira = MemBackend::new("jira", &["search"]);
    let h = start(&[jira.clone(), github.clone()]).await;
    let mut client = Client::connect(&h).await;
    assert_eq!(
        client.tool_names().await,
        ["github_issue", "github_search", "jira_search"]
    );
    let result = client.call("jira_search").await;
    assert_eq!(text_of(&result), "jira:search:{\"q\":1}");
    assert_eq!(result["result"].get("isError"), None);
    let result = client.call("github_search").await;
    assert_eq!(text_of(&result), "github:search:{\"q\":1}");
    assert_eq!(jira.count("tools/call"), 1);
    assert_eq!(github.count("tools/call"), 1);
    // Initialize and lists never reached a backend: only probes and the lazily opened
    // backend session (one initialize per backend for the calls).
    let calls_session_inits = jira.count("initialize") - jira.count("DELETE");
    assert_eq!(calls_session_inits, 1, "{:?}", jira.methods());
    h.runtime.stop().await;
}

/// The backend's answer reaches the client as the backend gave it (vmcp forwards the `result`
/// as raw JSON), under the client's own JSON-RPC id, never the one vmcp used upstream; a
/// backend's JSON-RPC error is passed through the same way, and batch replies keep their order.
#[tokio::test(start_paused = true)]
async fn forwarded_replies_keep_the_client_id_and_pass_results_and_errors_through() {
    let alpha = MemBackend::new("alpha", &["echo", "other"]);
    let h = start(std::slice::from_ref(&alpha)).await;
    let client = Client::connect(&h).await;
    let id = json!("call-\u{3b1}-1 \"quoted\"");
    let (status, body) = client
        .post(json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "alpha_echo", "arguments": {"q": [1, {"deep": "x"}]}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"jsonrpc": "2.0", "id": id, "result": {"content": [
            {"type": "text", "text": "alpha:echo:{\"q\":[1,{\"deep\":\"x\"}]}"}]}})
    );
    let upstream_ids = alpha.with(|s| s.call_ids.clone());
    assert_eq!(upstream_ids.len(), 1);
    assert!(
        upstream_ids[0].is_i64(),
        "vmcp numbers its own upstream requests: {upstream_ids:?}"
    );

    // The backend dropped `echo` (the cached catalog still has it): its JSON-RPC error is the
    // client's answer, with the client's id.
    alpha.with(|s| s.tools = vec!["other".into()]);
    let (status, body) = client
        .post(json!({"jsonrpc": "2.0", "id": 42, "method": "tools/call",
            "params": {"name": "alpha_echo", "arguments": {}}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"jsonrpc": "2.0", "id": 42, "error": {"code": -32602, "message": "no tool echo"}})
    );

    // A batch (2025-03-26): one reply per request, in order, each with its own id.
    let old = Client::connect_version(&h, "2025-03-26").await;
    let (status, body) = old
        .post(json!([
            {"jsonrpc": "2.0", "id": "b", "method": "tools/call", "params": {"name": "alpha_other", "arguments": {"n": 2}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "alpha_echo", "arguments": {}}},
            {"jsonrpc": "2.0", "id": 4, "method": "ping"},
        ]))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!([
            {"jsonrpc": "2.0", "id": "b", "result": {"content": [{"type": "text", "text": "alpha:other:{\"n\":2}"}]}},
            {"jsonrpc": "2.0", "id": 3, "error": {"code": -32602, "message": "no tool echo"}},
            {"jsonrpc": "2.0", "id": 4, "result": {}},
        ])
    );
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_backend_is_hidden_and_its_calls_fast_fail_without_traffic() {
    let good = MemBackend::new("good", &["a"]);
    let bad = MemBackend::new("bad", &["b"]);
    let h = start(&[good.clone(), bad.clone()]).await;
    let mut client = Client::connect(&h).await;
    assert_eq!(client.tool_names().await, ["bad_b", "good_a"]);
    bad.with(|s| s.fail_with = Some(500));
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(
        client.tool_names().await,
        ["good_a"],
        "hidden while unhealthy"
    );
    let before = bad.methods().len();
    let result = client.call("bad_b").await;
    assert_eq!(result["result"]["isError"], true);
    let text = text_of(&result);
    assert!(text.contains("\"bad\""), "{text}");
    assert!(text.contains("status unhealthy"), "{text}");
    assert!(text.contains("circuit closed"), "{text}");
    assert_eq!(
        bad.methods().len(),
        before,
        "no request reached the backend"
    );
    // Back to healthy: shown and callable again.
    bad.with(|s| s.fail_with = None);
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(client.tool_names().await, ["bad_b", "good_a"]);
    assert_eq!(text_of(&client.call("bad_b").await), "bad:b:{\"q\":1}");
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn pending_backends_are_hidden_and_degraded_ones_shown() {
    let b = MemBackend::new("b", &["s"]);
    let failure = FailureHandling {
        healthy_threshold: 2,
        ..failure_handling()
    };
    // Down at start: never probed successfully, so unknown (pending) → hidden.
    b.with(|s| s.down = true);
    let h = start_with(std::slice::from_ref(&b), FrontendConfig::default(), failure).await;
    let mut client = Client::connect(&h).await;
    assert!(client.tool_names().await.is_empty());
    let result = client.call("b_s").await;
    assert_eq!(
        result["error"]["code"], -32602,
        "never listed: the name is unknown"
    );
    // One success after failures: degraded (recovering) → shown and callable.
    b.with(|s| s.down = false);
    tokio::time::sleep(INTERVAL).await;
    let health = h.runtime.snapshot()["b"].health.clone();
    assert_eq!(health.status, vmcp_core::health::HealthStatus::Degraded);
    assert_eq!(client.tool_names().await, ["b_s"]);
    assert_eq!(text_of(&client.call("b_s").await), "b:s:{\"q\":1}");
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_open_circuit_fast_fails_naming_the_circuit() {
    let flaky = MemBackend::new("flaky", &["t"]);
    let failure = FailureHandling {
        circuit_breaker: CircuitBreakerConfig {
            enabled: true,
            failure_threshold: 1,
            timeout: Duration::from_secs(60),
            ..CircuitBreakerConfig::default()
        },
        ..failure_handling()
    };
    let h = start_with(
        std::slice::from_ref(&flaky),
        FrontendConfig::default(),
        failure,
    )
    .await;
    let mut client = Client::connect(&h).await;
    flaky.with(|s| s.fail_with = Some(503));
    tokio::time::sleep(INTERVAL).await;
    let before = flaky.methods().len();
    let result = client.call("flaky_t").await;
    let text = text_of(&result);
    assert_eq!(result["result"]["isError"], true);
    assert!(text.contains("circuit open"), "{text}");
    assert!(text.contains("open circuit"), "{text}");
    assert_eq!(flaky.methods().len(), before);
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_bulkhead_refuses_calls_beyond_max_concurrent_calls() {
    let busy = MemBackend::new("busy", &["t"]);
    busy.with(|s| s.call_delay = Duration::from_secs(5));
    let mut config = FrontendConfig::default();
    config.server.max_concurrent_calls = 2;
    let h = start_with(std::slice::from_ref(&busy), config, failure_handling()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(Client::connect(&h).await);
    }
    let mut third = clients.pop().unwrap();
    let mut tasks = Vec::new();
    for mut client in clients {
        tasks.push(tokio::spawn(async move { client.call("busy_t").await }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let refused = third.call("busy_t").await;
    assert_eq!(refused["result"]["isError"], true);
    assert!(
        text_of(&refused).contains("max_concurrent_calls (2)"),
        "{refused}"
    );
    for task in tasks {
        assert_eq!(text_of(&task.await.unwrap()), "busy:t:{\"q\":1}");
    }
    assert_eq!(busy.count("tools/call"), 2, "the refused call was not sent");
    assert_eq!(busy.with(|s| s.max_calls_in_flight), 2);
    // The permits came back.
    busy.with(|s| s.call_delay = Duration::ZERO);
    assert_eq!(text_of(&third.call("busy_t").await), "busy:t:{\"q\":1}");
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_call_over_call_timeout_fails_and_is_cancelled_at_the_backend() {
    let slow = MemBackend::new("slow", &["t"]);
    slow.with(|s| s.call_delay = Duration::from_secs(60));
    let mut config = FrontendConfig::default();
    config.server.call_timeout = Duration::from_secs(2);
    let h = start_with(std::slice::from_ref(&slow), config, failure_handling()).await;
    let mut client = Client::connect(&h).await;
    let started = tokio::time::Instant::now();
    let result = client.call("slow_t").await;
    assert_eq!(started.elapsed(), Duration::from_secs(2));
    assert_eq!(result["result"]["isError"], true);
    assert!(text_of(&result).contains("did not answer within call_timeout (2s)"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (cancelled, ids) = slow.with(|s| (s.cancelled.clone(), s.call_ids.clone()));
    assert_eq!(cancelled.len(), 1);
    assert_eq!(cancelled[0]["requestId"], ids[0]);
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_client_cancellation_is_forwarded_to_the_backend() {
    let slow = MemBackend::new("slow", &["t"]);
    slow.with(|s| s.call_delay = Duration::from_secs(60));
    let h = start(std::slice::from_ref(&slow)).await;
    let client = Client::connect(&h).await;
    let session = client.session.clone();
    let frontend = Arc::clone(&h.frontend);
    let call = tokio::spawn(async move {
        let client = Client {
            frontend,
            session,
            next_id: 1,
        };
        client
            .post(
                json!({"jsonrpc": "2.0", "id": "call-1", "method": "tools/call",
                "params": {"name": "slow_t", "arguments": {}}}),
            )
            .await
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    client
        .notify(
            "notifications/cancelled",
            json!({"requestId": "call-1", "reason": "user"}),
        )
        .await;
    let (status, body) = call.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["error"]["code"], -32800, "{body}");
    assert_eq!(body["id"], "call-1");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (cancelled, ids) = slow.with(|s| (s.cancelled.clone(), s.call_ids.clone()));
    assert_eq!(cancelled.len(), 1, "forwarded once");
    assert_eq!(
        cancelled[0]["requestId"], ids[0],
        "with the backend's request id"
    );
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn sessions_expire_when_idle_and_the_least_recently_used_is_evicted_at_the_cap() {
    let b = MemBackend::new("b", &["t"]);
    let mut config = FrontendConfig::default();
    config.server.session_idle_timeout = Duration::from_secs(60);
    config.server.max_sessions = 2;
    let h = start_with(std::slice::from_ref(&b), config, failure_handling()).await;
    let mut first = Client::connect(&h).await;
    let second = Client::connect(&h).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    // `first` is used again, so `second` is the least recently used.
    first.rpc("ping", json!({})).await;
    let mut third = Client::connect(&h).await;
    let (status, _) = second
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "evicted");
    assert_eq!(h.frontend.session_count(), 2);
    first.rpc("ping", json!({})).await;
    // Idle expiry: 59 s is fine, 60 s is not.
    tokio::time::sleep(Duration::from_secs(59)).await;
    third.rpc("ping", json!({})).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, _) = first
        .post(json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "expired after 60 s idle");
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn list_changed_is_sent_once_per_change_burst_to_open_streams() {
    let a = MemBackend::new("a", &["x"]);
    let b = MemBackend::new("b", &["y"]);
    let h = start(&[a.clone(), b.clone()]).await;
    let with_stream = Client::connect(&h).await;
    let mut without_stream = Client::connect(&h).await;
    let mut stream = with_stream.open_stream().await;
    assert!(events(&mut stream, Duration::from_secs(1)).await.is_empty());
    // Both backends fail in the same probe round: one burst, one notification.
    a.with(|s| s.fail_with = Some(500));
    b.with(|s| s.fail_with = Some(500));
    assert_eq!(
        events(&mut stream, INTERVAL).await,
        ["notifications/tools/list_changed"]
    );
    assert!(
        without_stream.tool_names().await.is_empty(),
        "never advertises a hidden backend"
    );
    // Nothing changes while they stay down.
    assert!(events(&mut stream, INTERVAL * 2).await.is_empty());
    a.with(|s| s.fail_with = None);
    assert_eq!(
        events(&mut stream, INTERVAL).await,
        ["notifications/tools/list_changed"]
    );
    // A changed tool list is a change too.
    a.with(|s| s.tools.push("z".into()));
    assert_eq!(
        events(&mut stream, INTERVAL).await,
        ["notifications/tools/list_changed"]
    );
    assert_eq!(without_stream.tool_names().await, ["a_x", "a_z"]);
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn pagination_is_followed_from_backends_and_offered_to_clients() {
    let big = MemBackend::new("big", &["t1", "t2", "t3", "t4", "t5"]);
    big.with(|s| {
        s.page_size = 2;
        s.resources = vec!["mem://1".into(), "mem://2".into(), "mem://3".into()];
        s.prompts = vec!["p1".into()];
    });
    let mut config = FrontendConfig::default();
    config.server.list_page_size = 2;
    let h = start_with(std::slice::from_ref(&big), config, failure_handling()).await;
    assert_eq!(big.count("tools/list"), 3, "three pages of two");
    assert_eq!(big.count("resources/list"), 2);
    let mut client = Client::connect(&h).await;
    let mut names = Vec::new();
    let mut cursor = Value::Null;
    let mut pages = 0;
    loop {
        let params = if cursor.is_null() {
            json!({})
        } else {
            json!({"cursor": cursor})
        };
        let body = client.rpc("tools/list", params).await;
        let page = body["result"]["tools"].as_array().unwrap().clone();
        assert!(page.len() <= 2);
        names.extend(page.iter().map(|t| t["name"].as_str().unwrap().to_owned()));
        pages += 1;
        cursor = body["result"]["nextCursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["big_t1", "big_t2", "big_t3", "big_t4", "big_t5"]);
    let resources = client.rpc("resources/list", json!({})).await;
    assert_eq!(
        resources["result"]["resources"].as_array().unwrap().len(),
        2
    );
    let read = client
        .rpc("resources/read", json!({"uri": "mem://3"}))
        .await;
    assert_eq!(
        read["result"]["contents"][0]["text"],
        "big read \"mem://3\""
    );
    let prompt = client.rpc("prompts/get", json!({"name": "big_p1"})).await;
    assert_eq!(
        prompt["result"]["messages"][0]["content"]["text"],
        "big prompt \"p1\""
    );
    let bad = client.rpc("tools/list", json!({"cursor": "garbage"})).await;
    assert_eq!(bad["error"]["code"], -32602);
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_forgotten_backend_session_is_reinitialized_once_transparently() {
    for stale_status in [404, 400] {
        let b = MemBackend::new("b", &["t"]);
        b.with(|s| s.stale_status = stale_status);
        let h = start(std::slice::from_ref(&b)).await;
        let mut client = Client::connect(&h).await;
        assert_eq!(text_of(&client.call("b_t").await), "b:t:{\"q\":1}");
        b.forget_sessions();
        let inits = b.count("initialize");
        let result = client.call("b_t").await;
        assert_eq!(
            text_of(&result),
            "b:t:{\"q\":1}",
            "{stale_status}: {result}"
        );
        assert_eq!(b.count("initialize"), inits + 1, "one re-initialize");
        assert_eq!(b.count("tools/call"), 3, "refused once, then retried");
        h.runtime.stop().await;
    }
}

/// A pod replacement seen by calls (DESIGN §4.1, the stale keep-alive bug): the backend session
/// and its pooled connection belong to the old pod, which now answers 404 to everything on the
/// connections it kept; new connections reach the new pod. With `per_backend` the 404 flushes the
/// pool, so the one re-initialize opens a connection to the new pod and the call succeeds; with
/// the `shared` pool (never flushed, the pre-fix behaviour) the re-initialize rides the stale
/// connection again and the call fails.
#[tokio::test(start_paused = true)]
async fn a_call_on_a_stale_keep_alive_connection_recovers_through_a_fresh_one() {
    use vmcp_core::config::PoolPolicy;
    for pool in [PoolPolicy::PerBackend, PoolPolicy::Shared] {
        let old = MemBackend::new("b", &["t"]);
        let failure = FailureHandling {
            pool,
            ..failure_handling()
        };
        let h = start_with(
            std::slice::from_ref(&old),
            FrontendConfig::default(),
            failure,
        )
        .await;
        let mut client = Client::connect(&h).await;
        assert_eq!(text_of(&client.call("b_t").await), "b:t:{\"q\":1}");
        // The replacement: new connections reach `new`; the old pod answers 404 on its own.
        let new = MemBackend::new("b", &["t"]);
        h.connector.add(&new);
        old.with(|s| s.fail_with = Some(404));
        let result = client.call("b_t").await;
        match pool {
            PoolPolicy::Shared => {
                assert_eq!(result["result"]["isError"], true, "{result}");
                assert_eq!(new.count("tools/call"), 0, "{:?}", new.methods());
            }
            _ => {
                assert_eq!(text_of(&result), "b:t:{\"q\":1}", "{result}");
                assert_eq!(new.count("initialize"), 1, "{:?}", new.methods());
                assert_eq!(new.count("tools/call"), 1, "{:?}", new.methods());
                // The next call stays on the new pod's connection and session.
                assert_eq!(text_of(&client.call("b_t").await), "b:t:{\"q\":1}");
                assert_eq!(new.count("initialize"), 1, "{:?}", new.methods());
                assert_eq!(new.count("tools/call"), 2, "{:?}", new.methods());
            }
        }
        h.runtime.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn initialize_and_lists_never_wait_on_a_backend() {
    let stalled = MemBackend::new("stalled", &["t"]);
    let h = start(std::slice::from_ref(&stalled)).await;
    // From now on the backend takes an hour to answer anything (probes included).
    stalled.with(|s| s.stall = Duration::from_secs(3600));
    let started = tokio::time::Instant::now();
    let mut client = Client::connect(&h).await;
    assert_eq!(
        client.tool_names().await,
        ["stalled_t"],
        "answered from the cache"
    );
    client.rpc("prompts/list", json!({})).await;
    assert_eq!(started.elapsed(), Duration::ZERO, "no backend round trip");
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn call_failures_trip_the_breaker_only_when_configured() {
    for trip in [false, true] {
        let b = MemBackend::new("b", &["t"]);
        let failure = FailureHandling {
            circuit_breaker: CircuitBreakerConfig {
                enabled: true,
                failure_threshold: 2,
                ..CircuitBreakerConfig::default()
            },
            ..failure_handling()
        };
        let mut config = FrontendConfig::default();
        config.server.call_failures_trip_breaker = trip;
        let h = start_with(std::slice::from_ref(&b), config, failure).await;
        let mut client = Client::connect(&h).await;
        b.with(|s| s.fail_calls = Some(502));
        for _ in 0..2 {
            let result = client.call("b_t").await;
            assert!(text_of(&result).contains("HTTP 502"), "{result}");
        }
        let circuit = h.runtime.snapshot()["b"].circuit.state;
        let sent = b.count("tools/call");
        let third = client.call("b_t").await;
        if trip {
            assert_eq!(circuit, vmcp_core::health::CircuitState::Open);
            assert!(text_of(&third).contains("open circuit"), "{third}");
            assert_eq!(b.count("tools/call"), sent, "fast-failed without traffic");
        } else {
            assert_eq!(circuit, vmcp_core::health::CircuitState::Closed);
            assert_eq!(b.count("tools/call"), sent + 1);
        }
        h.runtime.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn bad_input_gets_json_rpc_errors() {
    let b = MemBackend::new("b", &["t"]);
    let h = start(std::slice::from_ref(&b)).await;
    let fe = &h.frontend;
    let send = |req| async move { json_of(fe.handle(req).await).await };

    let (status, body) = send(request(Method::POST, None, "{not json")).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32700))
    );

    let (status, _) = send(request(
        Method::POST,
        None,
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    ))
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "no session id");
    let (status, _) = send(request(
        Method::POST,
        Some("nope"),
        r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    ))
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown session id");

    let mut client = Client::connect(&h).await;
    let body = client.rpc("frobnicate", json!({})).await;
    assert_eq!(body["error"]["code"], -32601);
    let body = client.call("b_nope").await;
    assert_eq!(body["error"]["code"], -32602);
    let (status, body) = client
        .post(json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}]))
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "no batches in 2025-06-18: {body}"
    );
    let (status, body) = client
        .post(json!({"jsonrpc": "1.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32600))
    );

    let old = Client::connect_version(&h, "2025-03-26").await;
    let (status, body) = old
        .post(json!([{"jsonrpc": "2.0", "id": 1, "method": "ping"}, {"jsonrpc": "2.0", "method": "notifications/initialized"}]))
        .await;
    assert_eq!(status, StatusCode::OK, "batches are fine in 2025-03-26");
    assert_eq!(body, json!([{"jsonrpc": "2.0", "id": 1, "result": {}}]));

    let huge = vec![b' '; 11 * 1024 * 1024];
    let (status, _) = send(request(Method::POST, client.session.as_deref(), huge)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    // Unknown protocol versions negotiate to the newest supported one.
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "1999-01-01", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (_, body) = send(request(Method::POST, None, init.to_string())).await;
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25");
    assert_eq!(body["result"]["capabilities"]["tools"]["listChanged"], true);

    let (status, _) = send(request(
        Method::DELETE,
        client.session.as_deref(),
        Bytes::new(),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = client
        .post(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "deleted");
    h.runtime.stop().await;
}

/// A raw `initialize`: HTTP status, the `Mcp-Session-Id` it set (if any), the body.
async fn initialize(h: &Harness) -> (StatusCode, Option<String>, Value) {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let response = h
        .frontend
        .handle(request(Method::POST, None, init.to_string()))
        .await;
    let session = response
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let (status, body) = json_of(response).await;
    (status, session, body)
}

#[tokio::test(start_paused = true)]
async fn partial_failure_mode_fail_refuses_initialize_while_too_few_backends_are_advertised() {
    // (mode, min_advertised, advertised backends an initialize needs)
    let cases = [
        (PartialFailureMode::Fail, None, 2),
        (PartialFailureMode::Fail, Some(1), 1),
        (PartialFailureMode::BestEffort, None, 0),
    ];
    for (mode, min_advertised, required) in cases {
        let a = MemBackend::new("a", &["x"]);
        let b = MemBackend::new("b", &["y"]);
        let mut config = FrontendConfig::default();
        config.aggregation.partial_failure_mode = mode;
        config.aggregation.min_advertised = min_advertised;
        let h = start_with(&[a.clone(), b.clone()], config, failure_handling()).await;
        let mut open = Client::connect(&h).await;
        // Take the backends down one by one: 1 advertised, then 0.
        for (down, advertised) in [(&b, 1), (&a, 0)] {
            down.with(|s| s.fail_with = Some(500));
            tokio::time::sleep(INTERVAL).await;
            let sessions = h.frontend.session_count();
            let (status, session, body) = initialize(&h).await;
            assert_eq!(status, StatusCode::OK, "{mode:?}: {body}");
            if advertised >= required {
                assert!(session.is_some(), "{mode:?} {advertised}: {body}");
                assert_eq!(body["result"]["protocolVersion"], "2025-06-18");
                assert_eq!(h.frontend.session_count(), sessions + 1);
                continue;
            }
            assert_eq!(session, None, "{mode:?} {advertised}: no session id");
            assert_eq!(h.frontend.session_count(), sessions, "no session created");
            assert_eq!(body["id"], 0);
            assert_eq!(body["error"]["code"], -32603, "{body}");
            let message = body["error"]["message"].as_str().unwrap();
            assert!(
                message.contains(&format!("only {advertised} of 2 backends")),
                "{message}"
            );
            assert!(message.contains(&format!("needs {required}")), "{message}");
        }
        // A session opened before keeps working, with what is advertised now (nothing).
        assert!(open.tool_names().await.is_empty());
        // Both back: initialize is accepted again.
        a.with(|s| s.fail_with = None);
        b.with(|s| s.fail_with = None);
        tokio::time::sleep(INTERVAL).await;
        let (_, session, body) = initialize(&h).await;
        assert!(session.is_some(), "{mode:?}: {body}");
        h.runtime.stop().await;
    }
}

#[tokio::test(start_paused = true)]
async fn resource_and_prompt_changes_are_announced_for_their_own_kind() {
    let a = MemBackend::new("a", &["x"]);
    a.with(|s| {
        s.resources = vec!["mem://1".into()];
        s.prompts = vec!["p".into()];
    });
    let h = start(std::slice::from_ref(&a)).await;
    let client = Client::connect(&h).await;
    let mut stream = client.open_stream().await;
    a.with(|s| s.resources.push("mem://2".into()));
    assert_eq!(
        events(&mut stream, INTERVAL).await,
        ["notifications/resources/list_changed"]
    );
    a.with(|s| s.prompts.push("q".into()));
    assert_eq!(
        events(&mut stream, INTERVAL).await,
        ["notifications/prompts/list_changed"]
    );
    // Hidden: all three lists changed in one burst, one notification each.
    a.with(|s| s.fail_with = Some(500));
    assert_eq!(
        events(&mut stream, INTERVAL).await,
        [
            "notifications/tools/list_changed",
            "notifications/resources/list_changed",
            "notifications/prompts/list_changed"
        ]
    );
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn resource_reads_and_prompt_gets_are_routed_and_fast_fail_with_a_json_rpc_error() {
    let a = MemBackend::new("a", &["x"]);
    a.with(|s| {
        s.resources = vec!["mem://1".into()];
        s.prompts = vec!["p".into()];
    });
    let h = start(std::slice::from_ref(&a)).await;
    let mut client = Client::connect(&h).await;
    let read = client
        .rpc("resources/read", json!({"uri": "mem://1"}))
        .await;
    assert_eq!(read["result"]["contents"][0]["text"], "a read \"mem://1\"");
    let prompt = client.rpc("prompts/get", json!({"name": "a_p"})).await;
    assert_eq!(
        prompt["result"]["messages"][0]["content"]["text"],
        "a prompt \"p\""
    );
    let unknown = client
        .rpc("resources/read", json!({"uri": "mem://nope"}))
        .await;
    assert_eq!(unknown["error"]["code"], -32002, "{unknown}");
    let unknown = client.rpc("prompts/get", json!({"name": "a_nope"})).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    a.with(|s| s.fail_with = Some(500));
    tokio::time::sleep(INTERVAL).await;
    let before = a.methods().len();
    for (method, params) in [
        ("resources/read", json!({"uri": "mem://1"})),
        ("prompts/get", json!({"name": "a_p"})),
    ] {
        let body = client.rpc(method, params).await;
        assert_eq!(body["error"]["code"], -32603, "{method}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("\"a\""), "{message}");
        assert!(message.contains("status unhealthy"), "{message}");
    }
    assert_eq!(a.methods().len(), before, "nothing reached the backend");
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_call_is_retried_only_after_a_session_refusal_and_at_most_once() {
    let b = MemBackend::new("b", &["t"]);
    let h = start(std::slice::from_ref(&b)).await;
    let mut client = Client::connect(&h).await;
    assert_eq!(text_of(&client.call("b_t").await), "b:t:{\"q\":1}");
    let (inits, calls) = (b.count("initialize"), b.count("tools/call"));
    // 404 to every call: one re-initialize and one retry, then the failure is the client's.
    b.with(|s| s.fail_calls = Some(404));
    let result = client.call("b_t").await;
    assert_eq!(result["result"]["isError"], true, "{result}");
    assert!(text_of(&result).contains("backend \"b\""), "{result}");
    assert_eq!(b.count("initialize"), inits + 1, "re-initialized once");
    assert_eq!(b.count("tools/call"), calls + 2, "retried once");
    // 500: the call may have run, so it is neither retried nor re-initialized.
    b.with(|s| s.fail_calls = Some(500));
    let result = client.call("b_t").await;
    assert_eq!(result["result"]["isError"], true, "{result}");
    assert!(text_of(&result).contains("HTTP 500"), "{result}");
    assert_eq!(b.count("initialize"), inits + 1);
    assert_eq!(b.count("tools/call"), calls + 3);
    h.runtime.stop().await;
}

#[tokio::test(start_paused = true)]
async fn backend_sessions_are_per_client_session_lazy_and_end_with_it() {
    let b = MemBackend::new("b", &["t"]);
    let mut config = FrontendConfig::default();
    config.server.max_sessions = 2;
    config.server.session_idle_timeout = Duration::from_secs(60);
    let h = start_with(std::slice::from_ref(&b), config, failure_handling()).await;
    let live = || b.with(|s| s.sessions.len());
    let mut one = Client::connect(&h).await;
    let mut two = Client::connect(&h).await;
    assert_eq!(live(), 0, "opened on the first call, not at initialize");
    assert_eq!(text_of(&one.call("b_t").await), "b:t:{\"q\":1}");
    assert_eq!(text_of(&two.call("b_t").await), "b:t:{\"q\":1}");
    assert_eq!(text_of(&one.call("b_t").await), "b:t:{\"q\":1}");
    assert_eq!(live(), 2, "one backend session per client session");
    let used: std::collections::BTreeSet<Option<String>> = b.with(|s| {
        s.requests
            .iter()
            .filter(|(m, _)| m == "tools/call")
            .map(|(_, sid)| sid.clone())
            .collect()
    });
    assert_eq!(used.len(), 2, "{used:?}");
    // DELETE of a client session ends its backend session.
    assert_eq!(one.delete().await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(live(), 1);
    // Eviction at max_sessions ends the evicted session's backend session.
    let mut three = Client::connect(&h).await;
    assert_eq!(text_of(&three.call("b_t").await), "b:t:{\"q\":1}");
    assert_eq!(live(), 2);
    let _four = Client::connect(&h).await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(live(), 1, "`two`, the least recently used, was evicted");
    // Idle expiry (found by the sweep) ends the last one.
    tokio::time::sleep(Duration::from_secs(60) + notify_sweep()).await;
    assert_eq!(live(), 0, "`three` expired");
    h.runtime.stop().await;
}

/// The front end's session sweep period (`frontend::notify::SWEEP_INTERVAL`, 30 s).
fn notify_sweep() -> Duration {
    Duration::from_secs(30)
}

#[tokio::test(start_paused = true)]
async fn an_endpoint_change_moves_calls_to_the_new_endpoint() {
    let old = MemBackend::new("b", &["t"]);
    let h = start(std::slice::from_ref(&old)).await;
    let mut client = Client::connect(&h).await;
    assert_eq!(text_of(&client.call("b_t").await), "b:t:{\"q\":1}");
    assert_eq!(old.with(|s| s.sessions.len()), 1);
    let new = MemBackend::new("b-new", &["t"]);
    h.connector.add(&new);
    h.runtime.registry().upsert(Backend {
        name: "b".into(),
        url: new.url(),
        auth: None,
    });
    tokio::time::sleep(INTERVAL).await;
    assert_eq!(client.tool_names().await, ["b_t"]);
    assert_eq!(text_of(&client.call("b_t").await), "b-new:t:{\"q\":1}");
    assert_eq!(
        old.count("tools/call"),
        1,
        "nothing more to the old endpoint"
    );
    assert_eq!(new.count("tools/call"), 1);
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        old.with(|s| s.sessions.len()),
        0,
        "the old backend session was closed"
    );
    h.runtime.stop().await;
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Whatever the body, the handler answers (no panic, no hang) with a JSON-RPC error or
        /// result and a status from the spec's set.
        #[test]
        fn arbitrary_bodies_get_an_answer(
            body in prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..256),
                "[\\[\\]{}\":,0-9a-z\\- ]{0,64}".prop_map(String::into_bytes),
                Just(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}"#.to_vec()),
                Just(br#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#.to_vec()),
                Just(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"cursor":[]}}"#.to_vec()),
            ],
            with_session in any::<bool>(),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            runtime.block_on(async {
                let b = MemBackend::new("b", &["t"]);
                let h = start(&[b]).await;
                let client = Client::connect(&h).await;
                let session = with_session.then(|| client.session.clone().unwrap());
                let response = tokio::time::timeout(
                    Duration::from_secs(60),
                    h.frontend.handle(request(Method::POST, session.as_deref(), body)),
                )
                .await
                .expect("the handler answers");
                let status = response.status();
                prop_assert!(
                    [200, 202, 400, 404].contains(&status.as_u16()),
                    "status {status}"
                );
                let bytes = response.into_body().collect().await.unwrap().to_bytes();
                if status != StatusCode::ACCEPTED {
                    let value: Value = serde_json::from_slice(&bytes).expect("a JSON body");
                    prop_assert!(value.is_object() || value.is_array());
                }
                h.runtime.stop().await;
                Ok(())
            })?;
        }
    }
}

/// The call gate's half-open budget (DESIGN §3.3): calls and the trial probe share
/// `half_open_max_probes` permits; beyond them a call fast-fails; a finished call gives its
/// permit back.
mod half_open_budget {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use vmcp_core::health::{CallOutcome, GateRefusal, HealthMonitor, Probe};
    use vmcp_core::health::{
        CircuitState, ErrorCategory, FailureStatus, ProbeFailure, ProbeOutcome,
    };

    /// Fails while `failing`, then succeeds after hanging `hang` (the trial probe holds its
    /// permit that long).
    struct Script {
        failing: AtomicBool,
        hang: Duration,
    }

    impl Probe for Script {
        async fn probe(&self, _: &Backend) -> ProbeOutcome {
            if self.failing.load(Ordering::SeqCst) {
                return ProbeOutcome::failure(
                    Duration::ZERO,
                    ProbeFailure {
                        status: FailureStatus::Unhealthy,
                        category: ErrorCategory::BackendUnavailable,
                        message: "down".into(),
                    },
                );
            }
            tokio::time::sleep(self.hang).await;
            ProbeOutcome::success(self.hang)
        }
    }

    fn monitor(max_probes: u32) -> (HealthMonitor, Arc<Script>) {
        let probe = Arc::new(Script {
            failing: AtomicBool::new(true),
            hang: Duration::from_secs(4),
        });
        let config = FailureHandling {
            circuit_breaker: CircuitBreakerConfig {
                enabled: true,
                failure_threshold: 1,
                timeout: Duration::from_secs(30),
                half_open_max_probes: max_probes,
                ..CircuitBreakerConfig::default()
            },
            ..failure_handling()
        };
        let backend = Backend {
            name: "b".into(),
            url: "http://b/mcp".into(),
            auth: None,
        };
        let monitor = HealthMonitor::start(
            config,
            Arc::clone(&probe),
            Arc::new(EpochClock::new(Timestamp::from_unix_millis(0))),
            None,
            1,
            vec![backend],
        );
        (monitor, probe)
    }

    #[tokio::test(start_paused = true)]
    async fn calls_share_the_half_open_permits_with_the_trial_probe() {
        let (monitor, probe) = monitor(2);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let refused = monitor.call_gate("b").unwrap_err();
        assert_eq!(refused.refusal, GateRefusal::CircuitOpen);
        assert_eq!(refused.circuit, CircuitState::Open);
        // At the open deadline the trial probe starts and hangs, holding one of two permits.
        probe.failing.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(30)).await;
        let snapshot = monitor.snapshot();
        assert_eq!(snapshot["b"].circuit.state, CircuitState::HalfOpen);
        assert_eq!(snapshot["b"].circuit.half_open_in_flight, 1);
        let permit = monitor.call_gate("b").expect("the second permit");
        assert!(permit.is_half_open());
        let refused = monitor.call_gate("b").unwrap_err();
        assert_eq!(refused.refusal, GateRefusal::HalfOpenBudget);
        assert!(refused.to_string().contains("half-open"), "{refused}");
        // A finished call gives its permit back (a neutral outcome decides nothing).
        permit.finish(CallOutcome::Neutral);
        let again = monitor.call_gate("b").expect("the permit came back");
        drop(again);
        assert_eq!(monitor.snapshot()["b"].circuit.half_open_in_flight, 1);
        monitor.stop().await;
    }

    #[tokio::test(start_paused = true)]
    async fn with_one_permit_the_trial_probe_leaves_none_for_calls() {
        let (monitor, probe) = monitor(1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        probe.failing.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(30)).await;
        let refused = monitor.call_gate("b").unwrap_err();
        assert_eq!(refused.refusal, GateRefusal::HalfOpenBudget);
        assert_eq!(refused.circuit, CircuitState::HalfOpen);
        // The trial succeeds: closed, calls pass again.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(monitor.call_gate("b").is_ok());
        monitor.stop().await;
    }
}
