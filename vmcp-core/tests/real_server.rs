//! The real `vmcp` binary against a real MCP server that nobody here wrote: the official Python
//! SDK's FastMCP over Streamable HTTP (`tests/fixtures/fastmcp_server.py`).
//!
//! Real processes on a real network, so this test waits in real time; every wait is bounded by a
//! figure derived from the config below, never a bare sleep-and-hope. Needs `VMCP_TEST_PYTHON`
//! (a Python with `mcp<2`; `source ci/setup-python` makes one). Without it the test is skipped
//! loudly, unless `CI=true`, where that is a failure.

mod process;

use process::{Bound, Proc, SLACK, backend, get, spawn_logged_to, start_vmcp, status, test_python};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Probe every second with a 1 s timeout; two failures make a backend unavailable.
const CONFIG_FAILURE_HANDLING: &str = "
operational:
  failureHandling:
    healthCheckInterval: 1s
    healthCheckTimeout: 800ms
    connect_timeout: 500ms
    unhealthyThreshold: 2
    healthy_threshold: 1
    status_reporting_interval: 5s
    registry_poll_interval: 500ms
";

/// From a server's death (or start, or a credential check) to the new health in /status: up to
/// one interval until the next probe, `unhealthy_threshold` (2) probes one interval apart each
/// bounded by the 800 ms timeout, plus one `registry_poll_interval`: 1 + 2×1 + 0.8 + 0.5 ≈ 4.3 s.
const HEALTH_CHANGE: Bound = Bound::new(
    Duration::from_millis(4_300),
    "interval (1s) + unhealthy_threshold (2) x interval (1s) + timeout (800ms) + registry_poll_interval (500ms)",
);

/// vmcp's first verdict on a backend after start: the initial probe (timeout 800 ms) and the
/// probes up to the thresholds, as for [`HEALTH_CHANGE`].
const FIRST_VERDICT: Bound = HEALTH_CHANGE;

/// Python startup (imports of the MCP SDK) on a cold machine: not derived from any config.
const SERVER_START: Bound = Bound::new(
    Duration::from_secs(60 / SLACK as u64),
    "a Python start with the MCP SDK imports on a cold machine",
);

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fastmcp_server.py")
}

/// Start the FastMCP server on `port` (0: any free port) and wait until it listens; returns it
/// with its port, read back from its `listening on` line.
fn start_server(python: &Path, dir: &Path, port: u16, token: Option<&str>, tag: &str) -> Server {
    let mut cmd = Command::new(python);
    cmd.arg(fixture()).arg(port.to_string());
    if let Some(token) = token {
        cmd.arg("--require-token").arg(token);
    }
    // stdout (the `listening on` line) and stderr share one log: dup'ed descriptors share the
    // file offset, so neither overwrites the other.
    let log = dir.join(format!("server-{tag}.log"));
    let file = std::fs::File::create(&log).unwrap();
    cmd.stdout(file.try_clone().unwrap());
    let mut proc = spawn_logged_to(cmd, file, &log);
    let addr = proc.logged_addr("listening on", SERVER_START);
    Server {
        proc,
        port: addr.port(),
    }
}

/// A running FastMCP server and the port it listens on.
struct Server {
    proc: Proc,
    port: u16,
}

fn wait_for_backend(
    vmcp: &mut Proc,
    addr: SocketAddr,
    name: &str,
    health: &str,
    bound: Bound,
) -> serde_json::Value {
    vmcp.wait_for(bound, &format!("{name} to be {health} in /status"), || {
        let report = status(addr)?;
        (backend(&report, name)["health"] == health).then_some(report)
    })
}

#[test]
fn vmcp_follows_a_real_fastmcp_server() {
    let Some(python) = test_python("the real-server test") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("vmcp-real-server-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let token = "real-server-test-token";

    let mut open = start_server(&python, &dir, 0, None, "open-1");
    let open_port = open.port;
    let authed = start_server(&python, &dir, 0, Some(token), "authed");
    let auth_port = authed.port;

    let config = dir.join("vmcp.yaml");
    std::fs::write(
        &config,
        format!(
            "backends:
  - name: echo
    url: http://127.0.0.1:{open_port}/mcp
  - name: guarded-no-token
    url: http://127.0.0.1:{auth_port}/mcp
  - name: guarded-with-token
    url: http://127.0.0.1:{auth_port}/mcp
    auth:
      type: bearer
      token_env: VMCP_REAL_SERVER_TOKEN
{CONFIG_FAILURE_HANDLING}"
        ),
    )
    .unwrap();
    let reports = dir.join("reports.jsonl");
    let reports_arg = reports.to_str().expect("a UTF-8 temp path");
    let (mut vmcp, listen) = start_vmcp(
        &config,
        &["--report-file", reports_arg],
        &[("VMCP_REAL_SERVER_TOKEN", token), ("VMCP_LOG", "info")],
        Stdio::null(),
        &dir.join("vmcp.log"),
    );

    // Up and healthy; the backend behind a bearer check is unauthenticated without the token
    // (authentication_failed, CRD unavailable) and healthy with it.
    wait_for_backend(&mut vmcp, listen, "echo", "healthy", FIRST_VERDICT);
    assert_eq!(get(listen, "/health").map(|(c, _)| c), Some(200));
    let report = wait_for_backend(
        &mut vmcp,
        listen,
        "guarded-no-token",
        "unauthenticated",
        FIRST_VERDICT,
    );
    let guarded = backend(&report, "guarded-no-token");
    assert_eq!(guarded["status"], "unavailable");
    assert_eq!(guarded["errorCategory"], "authentication_failed");
    wait_for_backend(
        &mut vmcp,
        listen,
        "guarded-with-token",
        "healthy",
        FIRST_VERDICT,
    );

    // Killed → unavailable within the bound.
    open.proc.kill();
    #[allow(
        clippy::disallowed_methods,
        reason = "the real vmcp process runs in real time; this only reports the elapsed figure"
    )]
    let killed_at = Instant::now();
    let report = wait_for_backend(&mut vmcp, listen, "echo", "unhealthy", HEALTH_CHANGE);
    assert_eq!(backend(&report, "echo")["status"], "unavailable");
    eprintln!("echo unavailable {:?} after the kill", killed_at.elapsed());

    // Restarted on the same port → healthy again, through a new MCP session on the new process.
    // (The one port bound by number: the one the config names, just released by the killed
    // server; SO_REUSEADDR lets the new one take it over.)
    let restarted = start_server(&python, &dir, open_port, None, "open-2");
    assert_eq!(restarted.port, open_port);
    let report = wait_for_backend(&mut vmcp, listen, "echo", "healthy", HEALTH_CHANGE);
    assert_eq!(backend(&report, "echo")["status"], "ready");
    assert!(
        restarted
            .proc
            .log()
            .contains("Created new transport with session ID"),
        "the restarted server saw a new session:\n{}",
        restarted.proc.log()
    );

    // /api/backends/health summarises the same state.
    let (code, body) = get(listen, "/api/backends/health").expect("/api/backends/health");
    assert_eq!(code, 200);
    let summary: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(summary["summary"]["total"], 3);
    assert_eq!(summary["summary"]["unauthenticated"], 1);

    // Reports were written as JSON lines, and no secret leaked anywhere.
    let lines = std::fs::read_to_string(&reports).unwrap();
    assert!(lines.lines().count() >= 2, "reports: {lines}");
    for line in lines.lines() {
        let report: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert!(report["phase"].is_string());
    }
    vmcp.kill();
    for text in [lines, vmcp.log(), body] {
        assert!(!text.contains(token), "the token leaked");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `failureHandling` block pasted from ToolHive as is: camelCase keys, a sub-second probe
/// timeout and no `connectTimeout` (DESIGN §3.5: the unwritten connect timeout is derived as
/// `min(5s, healthCheckTimeout)`, so the block loads), run against the FastMCP server.
const TOOLHIVE_PASTED_BLOCK: &str = "
operational:
  failureHandling:
    healthCheckInterval: 2s
    healthCheckTimeout: 500ms
    unhealthyThreshold: 3
    statusReportingInterval: 5s
    partialFailureMode: fail
    circuitBreaker:
      enabled: true
      failureThreshold: 5
      timeout: 60s
";

#[test]
fn a_pasted_toolhive_block_loads_and_probes_a_real_fastmcp_server() {
    let Some(python) = test_python("the real-server test") else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("vmcp-toolhive-paste-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let server = start_server(&python, &dir, 0, None, "toolhive");
    let port = server.port;
    let config = dir.join("vmcp.yaml");
    std::fs::write(
        &config,
        format!("backends:\n  - name: echo\n    url: http://127.0.0.1:{port}/mcp\n{TOOLHIVE_PASTED_BLOCK}"),
    )
    .unwrap();
    let log = dir.join("vmcp.log");
    // Loaded (no exit 2: `start_vmcp` fails at once with the log if vmcp dies) and probing:
    // the backend turns healthy within the first verdict's bound (interval 2 s, timeout 500 ms,
    // one registry poll: 2 + 0.5 + 2 = 4.5 s).
    let (mut vmcp, listen) = start_vmcp(&config, &[], &[], Stdio::null(), &log);
    let report = wait_for_backend(
        &mut vmcp,
        listen,
        "echo",
        "healthy",
        Bound::new(
            Duration::from_millis(4_500),
            "interval (2s) + timeout (500ms) + registry_poll_interval (2s)",
        ),
    );
    assert_eq!(backend(&report, "echo")["status"], "ready");
    assert_eq!(backend(&report, "echo")["circuitBreakerState"], "closed");
    vmcp.kill();
    let _ = std::fs::remove_dir_all(&dir);
}
