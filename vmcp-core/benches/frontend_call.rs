//! Criterion benchmark of the front end's call path (DESIGN §3.6): the same `tools/call` from the
//! same client, straight to an MCP backend, through vmcp's front end, and (when available)
//! through FastMCP's own proxy, all on loopback TCP. Latency: one call at a time (criterion's
//! per-iteration time, median recorded in `docs/BENCHMARKS.md`). Throughput: batches of 16
//! concurrent calls.
//!
//! Three set-ups, one criterion group each:
//!
//! * `tools_call`: **as deployed**. The client, the backend and vmcp each run on their own OS
//!   thread with their own current-thread tokio runtime (vmcp's binary runs a current-thread
//!   runtime too), so vmcp is a separate party as it is in production and as FastMCP's proxy
//!   (its own process) is. The peer is measured here.
//! * `tools_call_one_core`: everything on **one** current-thread runtime, so vmcp's CPU time
//!   competes with the client's and the backend's: the CPU cost view (conservative for vmcp).
//! * `tools_call_fastmcp_backend`: the backend users have, the official Python SDK's FastMCP
//!   server (`tests/fixtures/fastmcp_server.py`, its own process; needs `VMCP_BENCH_MCP_PYTHON`
//!   or `VMCP_TEST_PYTHON`), with vmcp as deployed. The first two groups use the in-process
//!   echo server, which does no work: the worst case for a proxy (pure proxy overhead).
//!
//! The peer, FastMCP's proxy (`benches/fastmcp_proxy.py`), runs when `VMCP_BENCH_FASTMCP_PYTHON`
//! names a Python with the `fastmcp` package; without it the bench says so on stderr and skips
//! only the peer.
//!
//! Before the criterion groups of the first and the third set-up, the bench prints on stderr
//! the **CPU time per call** of each party (`cpu/call …`: the client thread, vmcp's thread, the
//! backend's thread or Python process, from Linux `/proc`), one call at a time and 16 at a
//! time: on a shared machine CPU time is a steadier measure of vmcp's cost than wall time.
//! `VMCP_BENCH_CPU_CALLS=N` sets the number of calls (0 skips it).
//!
//! Run: `cargo bench -p vmcp-core --bench frontend_call`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, criterion_group, criterion_main, measurement::WallTime,
};
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

/// The longest any one request of the bench may take: a target that stops answering fails the
/// bench loudly instead of hanging it (FastMCP's proxy once stalled for ten minutes).
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// JSON-RPC ids, unique across the whole bench: the 16 concurrent calls of a throughput
/// iteration share one session, and a server keys its in-flight requests by id (duplicate ids
/// are a client bug that the Python SDK's server answers by mixing up or losing responses).
static NEXT_ID: AtomicI64 = AtomicI64::new(1);

fn next_id() -> i64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// One JSON-RPC POST; returns the session id header (if any) and the JSON body (the first
/// `data:` line of an SSE reply). Panics after [`CALL_TIMEOUT`].
async fn post(
    client: &HttpClient,
    url: &str,
    session: Option<&str>,
    body: Value,
) -> (Option<String>, Value) {
    let what = format!("{} to {url}", body["method"]);
    match tokio::time::timeout(CALL_TIMEOUT, post_unbounded(client, url, session, body)).await {
        Ok(reply) => reply,
        Err(_) => panic!("{what} did not answer within {CALL_TIMEOUT:?}"),
    }
}

async fn post_unbounded(
    client: &HttpClient,
    url: &str,
    session: Option<&str>,
    body: Value,
) -> (Option<String>, Value) {
    let mut request = http::Request::post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream");
    if let Some(session) = session {
        request = request
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", PROTOCOL_VERSION);
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
    let json = match std::str::from_utf8(&bytes).expect("UTF-8") {
        text if text.starts_with("event:")
            || text.starts_with("data:")
            || text.starts_with("id:") =>
        {
            text.lines()
                .find_map(|line| line.strip_prefix("data:").map(str::trim))
                .filter(|data| !data.is_empty())
                .unwrap_or_default()
        }
        text => text,
    };
    let value = if json.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(json).expect("json")
    };
    (session, value)
}

/// The revision the bench's client asks for (all three targets speak it).
const PROTOCOL_VERSION: &str = "2025-06-18";

/// Initialize a session at `url`; returns its id.
async fn session(client: &HttpClient, url: &str) -> String {
    let init = json!({"jsonrpc": "2.0", "id": next_id(), "method": "initialize", "params": {
        "protocolVersion": PROTOCOL_VERSION, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}});
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
        json!({"jsonrpc": "2.0", "id": next_id(), "method": "tools/call", "params": {"name": tool, "arguments": {"text": "hi"}}}),
    )
    .await;
    assert_eq!(reply["result"]["content"][0]["text"], "hi", "{reply}");
}

/// Start vmcp (monitor + front end on a loopback listener) in front of `backend_url` on the
/// current runtime; returns the runtime (keep it alive) and the front end's URL.
async fn start_vmcp(backend_url: String) -> (VmcpRuntime, String) {
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
            url: backend_url,
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
    // The probe fills the capability cache; the notifier settles its first burst.
    tokio::time::sleep(Duration::from_millis(300)).await;
    (vmcp, url)
}

/// A party on its own OS thread and current-thread runtime, alive until dropped.
struct Party {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The thread's CPU-time source (Linux), for the CPU-per-call figures.
    cpu: Cpu,
}

impl Party {
    /// Run `start` on a new thread's runtime; it returns a URL and a guard kept alive until the
    /// party is dropped.
    fn spawn<F, G>(start: F) -> (Self, String)
    where
        F: FnOnce() -> std::pin::Pin<Box<dyn Future<Output = (G, String)>>> + Send + 'static,
        G: 'static,
    {
        let (url_tx, url_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let (guard, url) = start().await;
                url_tx
                    .send((url, Cpu::this_thread()))
                    .expect("send the URL");
                let _ = stopped.await;
                drop(guard);
            });
        });
        let (url, cpu) = url_rx.recv().expect("the party started");
        (
            Self {
                stop: Some(stop),
                thread: Some(thread),
                cpu,
            },
            url,
        )
    }
}

impl Drop for Party {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// Benchmark one target: one call at a time (`name`) and 16 concurrent (`name_x16`).
fn bench_target(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    client: &HttpClient,
    name: &str,
    url: &str,
    tool: &str,
) {
    let session = rt.block_on(session(client, url));
    group.bench_function(name, |b| {
        b.iter(|| rt.block_on(call(client, url, &session, tool)))
    });
    group.bench_function(format!("{name}_x16"), |b| {
        b.iter(|| {
            rt.block_on(futures_util::future::join_all(
                (0..BATCH).map(|_| call(client, url, &session, tool)),
            ))
        })
    });
}

/// Benchmark FastMCP's proxy in front of `backend_url` as `via_fastmcp_proxy`, when configured.
/// Tens of milliseconds per call: few samples, flat sampling, so the peer's figures take a
/// bounded time (criterion's default of 100 linear samples would need thousands of iterations).
fn bench_peer(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    client: &HttpClient,
    backend_url: &str,
) {
    let Some(peer) = Peer::start(rt, backend_url) else {
        return;
    };
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    bench_target(group, rt, client, "via_fastmcp_proxy", &peer.url, "echo");
}

/// FastMCP's proxy in front of `backend_url`, in its own process, when configured.
struct Peer {
    process: std::process::Child,
    url: String,
}

impl Peer {
    fn start(rt: &tokio::runtime::Runtime, backend_url: &str) -> Option<Self> {
        let Some(python) = std::env::var_os("VMCP_BENCH_FASTMCP_PYTHON") else {
            eprintln!(
                "frontend_call: VMCP_BENCH_FASTMCP_PYTHON is not set: the FastMCP proxy peer \
                 is NOT measured (see docs/BENCHMARKS.md for the venv)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let script =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/fastmcp_proxy.py");
        let process = std::process::Command::new(python)
            .arg(script)
            .arg(backend_url)
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start the FastMCP proxy");
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
        Some(Self {
            process,
            url: format!("http://127.0.0.1:{port}/mcp"),
        })
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The official Python SDK's FastMCP server (`tests/fixtures/fastmcp_server.py`, the backend
/// of the real-process tests) in its own process, when `VMCP_BENCH_MCP_PYTHON` (or
/// `VMCP_TEST_PYTHON`, as `ci/setup-python` exports it) names a Python with the `mcp` package.
struct FastMcpBackend {
    process: std::process::Child,
    /// Kept open: a closed pipe would fail a later print of the server.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
    url: String,
}

impl FastMcpBackend {
    fn start() -> Option<Self> {
        use std::io::BufRead;
        let Some(python) = std::env::var_os("VMCP_BENCH_MCP_PYTHON")
            .or_else(|| std::env::var_os("VMCP_TEST_PYTHON"))
        else {
            eprintln!(
                "frontend_call: neither VMCP_BENCH_MCP_PYTHON nor VMCP_TEST_PYTHON is set: the \
                 FastMCP-backend set-up is NOT measured (`source ci/setup-python`)"
            );
            return None;
        };
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fastmcp_server.py");
        let mut process = std::process::Command::new(python)
            .arg(script)
            .arg("0")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the FastMCP server");
        // The fixture binds, listens, then prints `listening on 127.0.0.1:<port>` (flushed).
        let stdout = process.stdout.take().expect("piped stdout");
        let mut stdout = std::io::BufReader::new(stdout);
        let mut line = String::new();
        stdout
            .read_line(&mut line)
            .expect("read the FastMCP server's first line");
        let Some(addr) = line.trim().strip_prefix("listening on ") else {
            let _ = process.kill();
            panic!("the FastMCP server did not start: {line:?}");
        };
        let url = format!("http://{addr}/mcp");
        Some(Self {
            process,
            _stdout: stdout,
            url,
        })
    }
}

impl Drop for FastMcpBackend {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The backend users have: the same three paths in front of a real FastMCP server (Python, its
/// own process), vmcp on its own thread as deployed. Few samples, flat sampling: a call takes
/// milliseconds, and the peer's hundreds of them.
fn fastmcp_backend(c: &mut Criterion) {
    let Some(server) = FastMcpBackend::start() else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let backend_url = server.url.clone();
    let (vmcp, vmcp_url) = Party::spawn(move || Box::pin(start_vmcp(backend_url)));
    let client = client();
    let python = Cpu::Process(server.process.id());
    cpu_per_call(
        &rt,
        &client,
        "fastmcp direct",
        &server.url,
        "echo",
        &[("backend", &python)],
        400,
    );
    cpu_per_call(
        &rt,
        &client,
        "fastmcp via_vmcp",
        &vmcp_url,
        "echo_echo",
        &[("vmcp", &vmcp.cpu), ("backend", &python)],
        400,
    );
    let mut group = c.benchmark_group("tools_call_fastmcp_backend");
    group
        .sample_size(20)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    bench_target(&mut group, &rt, &client, "direct", &server.url, "echo");
    bench_target(&mut group, &rt, &client, "via_vmcp", &vmcp_url, "echo_echo");
    bench_peer(&mut group, &rt, &client, &server.url);
    group.finish();
    drop(vmcp);
    drop(server);
}

/// Where a party's CPU time is read (Linux `/proc`; elsewhere the figures are not printed).
#[derive(Clone, Debug)]
enum Cpu {
    /// One thread: `/proc/<pid>/task/<tid>/schedstat`, nanoseconds on CPU.
    Thread(Option<std::path::PathBuf>),
    /// A whole process: `/proc/<pid>/stat`, user + system clock ticks (1/100 s).
    Process(u32),
}

impl Cpu {
    fn this_thread() -> Self {
        Cpu::Thread(
            std::fs::read_link("/proc/thread-self")
                .ok()
                .map(|task| std::path::Path::new("/proc").join(task)),
        )
    }

    /// CPU time so far, in nanoseconds.
    fn ns(&self) -> Option<u64> {
        match self {
            Cpu::Thread(task) => std::fs::read_to_string(task.as_ref()?.join("schedstat"))
                .ok()?
                .split_whitespace()
                .next()?
                .parse()
                .ok(),
            Cpu::Process(pid) => {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                // Fields after the parenthesised command name: utime and stime are the 12th
                // and 13th of them.
                let rest = stat.rsplit_once(')')?.1;
                let fields: Vec<&str> = rest.split_whitespace().collect();
                let ticks: u64 =
                    fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
                Some(ticks * 10_000_000)
            }
        }
    }
}

/// CPU time per call of every party on one path, measured over `calls` calls one at a time
/// and the same number 16 at a time (CPU time does not depend on the machine's load the way
/// wall time does). Printed on stderr; `VMCP_BENCH_CPU_CALLS=0` skips it.
fn cpu_per_call(
    rt: &tokio::runtime::Runtime,
    client: &HttpClient,
    path: &str,
    url: &str,
    tool: &str,
    parties: &[(&str, &Cpu)],
    default_calls: usize,
) {
    let calls = std::env::var("VMCP_BENCH_CPU_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default_calls);
    if calls == 0 {
        return;
    }
    let session = rt.block_on(session(client, url));
    let client_cpu = Cpu::this_thread();
    let mut all: Vec<(&str, &Cpu)> = vec![("client", &client_cpu)];
    all.extend_from_slice(parties);
    for concurrent in [1, BATCH] {
        // Warm-up: connections opened, pools filled.
        rt.block_on(async {
            for _ in 0..(calls / 10).max(BATCH) / concurrent {
                futures_util::future::join_all(
                    (0..concurrent).map(|_| call(client, url, &session, tool)),
                )
                .await;
            }
        });
        let before: Vec<Option<u64>> = all.iter().map(|(_, cpu)| cpu.ns()).collect();
        let batches = (calls / concurrent).max(1);
        rt.block_on(async {
            for _ in 0..batches {
                futures_util::future::join_all(
                    (0..concurrent).map(|_| call(client, url, &session, tool)),
                )
                .await;
            }
        });
        let done = batches * concurrent;
        let figures: Vec<String> = all
            .iter()
            .zip(before)
            .filter_map(|((name, cpu), before)| {
                let spent = cpu.ns()?.checked_sub(before?)?;
                Some(format!(
                    "{name} {:.1} µs",
                    spent as f64 / done as f64 / 1000.0
                ))
            })
            .collect();
        eprintln!(
            "cpu/call {path} x{concurrent} ({done} calls, load {}): {}",
            std::fs::read_to_string("/proc/loadavg")
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .unwrap_or("?"),
            figures.join(", ")
        );
    }
}

/// As deployed: backend, vmcp and client on three threads.
fn as_deployed(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (backend, direct_url) = Party::spawn(|| {
        Box::pin(async {
            let server = McpTestServer::start().await;
            let url = server.url();
            (server, url)
        })
    });
    let backend_url = direct_url.clone();
    let (vmcp, vmcp_url) = Party::spawn(move || Box::pin(start_vmcp(backend_url)));
    let client = client();
    cpu_per_call(
        &rt,
        &client,
        "echo direct",
        &direct_url,
        "echo",
        &[("backend", &backend.cpu)],
        3000,
    );
    cpu_per_call(
        &rt,
        &client,
        "echo via_vmcp",
        &vmcp_url,
        "echo_echo",
        &[("vmcp", &vmcp.cpu), ("backend", &backend.cpu)],
        3000,
    );
    let mut group = c.benchmark_group("tools_call");
    bench_target(&mut group, &rt, &client, "direct", &direct_url, "echo");
    bench_target(&mut group, &rt, &client, "via_vmcp", &vmcp_url, "echo_echo");
    bench_peer(&mut group, &rt, &client, &direct_url);
    group.finish();
    drop(vmcp);
    drop(backend);
}

/// The CPU cost view: backend, vmcp and client on one current-thread runtime.
fn one_core(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (backend, direct_url) = rt.block_on(async {
        let server = McpTestServer::start().await;
        let url = server.url();
        (server, url)
    });
    let (vmcp, vmcp_url) = rt.block_on(start_vmcp(direct_url.clone()));
    let client = client();
    let mut group = c.benchmark_group("tools_call_one_core");
    bench_target(&mut group, &rt, &client, "direct", &direct_url, "echo");
    bench_target(&mut group, &rt, &client, "via_vmcp", &vmcp_url, "echo_echo");
    group.finish();
    rt.block_on(vmcp.stop());
    drop(backend);
}

criterion_group!(benches, as_deployed, one_core, fastmcp_backend);
criterion_main!(benches);
