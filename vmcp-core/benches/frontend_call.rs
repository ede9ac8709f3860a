//! Criterion benchmark of the front end's call path (DESIGN §3.6): the same `tools/call` from the
//! same client, once straight to an MCP backend and once through vmcp's front end, both on
//! loopback TCP. Latency: one call at a time (criterion's per-iteration time, median recorded in
//! `docs/BENCHMARKS.md`). Throughput: batches of 16 concurrent calls.
//!
//! Everything (client, vmcp, backend) shares one current-thread tokio runtime, so the vmcp figure
//! includes vmcp's own CPU time on the same core: a conservative view of its overhead.
//!
//! The peer, FastMCP's own proxy (`benches/fastmcp_proxy.py`), is benchmarked the same way when
//! `VMCP_BENCH_FASTMCP_PYTHON` names a Python with the `fastmcp` package; it runs in its own
//! process (and so on the second core), which favours it.
//!
//! Run: `cargo bench -p vmcp-core --bench frontend_call`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde_json::{Value, json};
use vmcp_core::client::McpClient;
use vmcp_core::clock::{SharedClock, SystemClock};
use vmcp_core::config::{FailureHandling, FrontendConfig};
use vmcp_core::registry::{Backend, DynamicRegistry};
use vmcp_core::runtime::{RuntimeParts, VmcpRuntime};

#[allow(
    dead_code,
    unreachable_pub,
    reason = "the integration tests' server module: benches use only part of it, and its `pub` items are for the test files"
)]
#[path = "../tests/support/mcp_server.rs"]
mod mcp_server;

use mcp_server::McpTestServer;

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Concurrent calls per throughput iteration.
const BATCH: usize = 16;

/// One JSON-RPC POST; returns the session id header (if any) and the JSON body.
async fn post(
    client: &HttpClient,
    url: &str,
    session: Option<&str>,
    body: Value,
) -> (Option<String>, Value) {
    let mut request = http::Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let session = response
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("json")
    };
    (session, value)
}

/// Initialize a session at `url`; returns its id.
async fn session(client: &HttpClient, url: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}});
    let (session, _) = post(client, url, None, init).await;
    let session = session.expect("a session id");
    post(
        client,
        url,
        Some(&session),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    session
}

async fn call(client: &HttpClient, url: &str, session: &str, tool: &str) {
    let (_, reply) = post(
        client,
        url,
        Some(session),
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {"text": "hi"}}}),
    )
    .await;
    assert_eq!(reply["result"]["content"][0]["text"], "hi", "{reply}");
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (backend, _vmcp, vmcp_url) = rt.block_on(async {
        let backend = McpTestServer::start().await;
        let failure = FailureHandling {
            health_check_interval: Duration::from_secs(5),
            health_check_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            ..FailureHandling::default()
        };
        let probe = Arc::new(McpClient::http(&failure));
        let registry = Arc::new(
            DynamicRegistry::new(vec![Backend {
                name: "echo".into(),
                url: backend.url(),
                auth: None,
            }])
            .expect("registry"),
        );
        let clock: SharedClock = Arc::new(SystemClock);
        let mut vmcp = VmcpRuntime::start(RuntimeParts {
            config: failure,
            probe: Arc::clone(&probe),
            registry,
            clock,
            observer: None,
            rng_seed: 1,
            reporters: Vec::new(),
        })
        .expect("runtime");
        let frontend = vmcp
            .start_frontend(FrontendConfig::default(), probe, 1)
            .expect("front end");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/mcp", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(Arc::clone(&frontend).serve_connection(stream));
            }
        });
        vmcp.monitor()
            .initial_probes_done(Duration::from_secs(5))
            .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        (backend, vmcp, url)
    });
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: HttpClient = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build(connector);
    let direct_url = backend.url();
    let (direct, via) = rt.block_on(async {
        (
            session(&client, &direct_url).await,
            session(&client, &vmcp_url).await,
        )
    });

    let mut group = c.benchmark_group("tools_call");
    group.bench_function("direct", |b| {
        b.iter(|| rt.block_on(call(&client, &direct_url, &direct, "echo")))
    });
    group.bench_function("via_vmcp", |b| {
        b.iter(|| rt.block_on(call(&client, &vmcp_url, &via, "echo_echo")))
    });
    group.bench_function("direct_x16", |b| {
        b.iter(|| {
            rt.block_on(futures_util::future::join_all(
                (0..BATCH).map(|_| call(&client, &direct_url, &direct, "echo")),
            ))
        })
    });
    group.bench_function("via_vmcp_x16", |b| {
        b.iter(|| {
            rt.block_on(futures_util::future::join_all(
                (0..BATCH).map(|_| call(&client, &vmcp_url, &via, "echo_echo")),
            ))
        })
    });
    if let Some(python) = std::env::var_os("VMCP_BENCH_FASTMCP_PYTHON") {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fastmcp_proxy.py");
        let mut proxy = std::process::Command::new(python)
            .arg(script)
            .arg(&direct_url)
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start the FastMCP proxy");
        let proxy_url = format!("http://127.0.0.1:{port}/mcp");
        rt.block_on(async {
            for _ in 0..600 {
                if tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the FastMCP proxy did not start");
        });
        let peer = rt.block_on(session(&client, &proxy_url));
        group.bench_function("via_fastmcp_proxy", |b| {
            b.iter(|| rt.block_on(call(&client, &proxy_url, &peer, "echo")))
        });
        group.bench_function("via_fastmcp_proxy_x16", |b| {
            b.iter(|| {
                rt.block_on(futures_util::future::join_all(
                    (0..BATCH).map(|_| call(&client, &proxy_url, &peer, "echo")),
                ))
            })
        });
        let _ = proxy.kill();
        let _ = proxy.wait();
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
