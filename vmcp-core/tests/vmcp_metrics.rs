//! `/metrics` of the real `vmcp` binary after a known sequence, parsed by real Prometheus parsers
//! (the Python `prometheus_client` OpenMetrics and text-format parsers,
//! `tests/fixtures/parse_metrics.py`; `source ci/setup-python` installs them).
//!
//! The sequence: `live` is a healthy in-process MCP server; `dead` refuses connections, and its
//! breaker opens after exactly 3 failures with a 60 s open timeout, so for the rest of the test
//! it has exactly 3 probes, all `connection_failed`. Then a SIGHUP removes `dead`: its series go.

mod process;
mod support;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use process::{Bound, Proc, free_addr, get, start_vmcp, test_python};
use serde_json::Value;
use support::mcp_server::McpTestServer;

/// One parsed sample.
#[derive(Debug)]
struct Sample {
    family: String,
    kind: String,
    name: String,
    labels: serde_json::Map<String, Value>,
    value: f64,
}

/// Scrape `/metrics` and parse it with both Python parsers (which must agree).
fn scrape(python: &Path, addr: SocketAddr) -> Vec<Sample> {
    let (code, body) = get(addr, "/metrics").expect("/metrics answers");
    assert_eq!(code, 200, "/metrics: {body}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/parse_metrics.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the parser");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(body.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parsers refused the scrape: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    parsed
        .into_iter()
        .map(|s| Sample {
            family: s["family"].as_str().unwrap().to_owned(),
            kind: s["type"].as_str().unwrap().to_owned(),
            name: s["name"].as_str().unwrap().to_owned(),
            labels: s["labels"].as_object().unwrap().clone(),
            value: s["value"].as_f64().unwrap(),
        })
        .collect()
}

/// The value of the one sample `name` with exactly `labels`; panics (listing all) otherwise.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == name
                && s.labels.len() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k) == Some(&Value::from(*v)))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one sample {name}{labels:?}, found {found:?}; all samples: {samples:#?}"
    );
    found[0].value
}

/// Every `(family, type)` pair as the scrape's `# TYPE` lines declare it.
fn assert_kinds(samples: &[Sample], kinds: &[(&str, &str)]) {
    for (family, kind) in kinds {
        let found = samples
            .iter()
            .find(|s| s.family == *family)
            .unwrap_or_else(|| panic!("no family {family}: {samples:#?}"));
        assert_eq!(found.kind, *kind, "type of {family}");
    }
}

/// A runtime (kept alive by the caller) hosting the healthy in-process MCP server `live`, and a
/// scratch directory of its own for the test's config, log and report files.
fn set_up(name: &str) -> (tokio::runtime::Runtime, McpTestServer, PathBuf) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let live = runtime.block_on(McpTestServer::start());
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    (runtime, live, dir)
}

fn health(addr: SocketAddr) -> Option<Value> {
    let (code, body) = get(addr, "/api/backends/health")?;
    (code == 200).then(|| serde_json::from_str(&body).expect("JSON"))
}

fn write_config(path: &Path, backends: &[(&str, String)]) {
    let mut text = String::from("backends:\n");
    for (name, url) in backends {
        text.push_str(&format!("  - name: {name}\n    url: {url}\n"));
    }
    text.push_str(FAILURE_HANDLING);
    std::fs::write(path, text).unwrap();
}

const FAILURE_HANDLING: &str = "operational:
  failure_handling:
    health_check_interval: 300ms
    health_check_timeout: 200ms
    unhealthy_threshold: 1
    healthy_threshold: 1
    status_reporting_interval: 1s
    registry_poll_interval: 100ms
    circuit_breaker:
      enabled: true
      failure_threshold: 3
      timeout: 60s
";

/// From start to `dead`'s circuit open and `live` healthy: 3 probes one interval apart (each
/// bounded by the 200 ms timeout) and one registry poll: 3 × 300 ms + 200 ms + 100 ms.
const SETTLED: Bound = Bound::new(
    Duration::from_millis(1_200),
    "failure_threshold (3) x interval (300ms) + timeout (200ms) + registry_poll_interval (100ms)",
);

/// A reload applies within one registry poll (100 ms), plus the SIGHUP itself.
const RELOADED: Bound = Bound::new(
    Duration::from_millis(500),
    "registry_poll_interval (100ms) + signal delivery and file read",
);

#[test]
fn metrics_after_a_known_sequence_parse_with_the_right_series_labels_and_values() {
    let Some(python) = test_python("the /metrics scrape test") else {
        return;
    };
    let (_runtime, live, dir) = set_up("vmcp-metrics");
    let config = dir.join("vmcp.yaml");
    let dead_url = format!("http://{}/mcp", free_addr());
    write_config(&config, &[("live", live.url()), ("dead", dead_url)]);
    let reports = dir.join("reports.jsonl");
    let _ = std::fs::remove_file(&reports);
    let (mut vmcp, addr) = start_vmcp(
        &config,
        &["--report-file", reports.to_str().unwrap()],
        &[],
        Stdio::null(),
        &dir.join("vmcp.log"),
    );
    vmcp.wait_for(SETTLED, "dead's circuit open and live healthy", || {
        let h = health(addr)?;
        (h["backends"]["dead"]["circuitBreakerState"] == "open"
            && h["backends"]["live"]["health"] == "healthy")
            .then_some(())
    });

    let samples = scrape(&python, addr);
    // Types as declared by the # TYPE lines.
    assert_kinds(
        &samples,
        &[
            ("vmcp_backend_status", "gauge"),
            ("vmcp_backend_circuit_state", "gauge"),
            ("vmcp_backend_consecutive_failures", "gauge"),
            ("vmcp_probes", "counter"),
            ("vmcp_probe_duration_seconds", "histogram"),
            ("vmcp_reports_published", "counter"),
            ("vmcp_report_lines_dropped", "counter"),
        ],
    );
    // Gauges: the documented values.
    let dead = [("backend", "dead")];
    let live_labels = [("backend", "live")];
    assert_eq!(
        value(&samples, "vmcp_backend_status", &dead),
        3.0,
        "unhealthy = 3"
    );
    assert_eq!(
        value(&samples, "vmcp_backend_status", &live_labels),
        1.0,
        "healthy = 1"
    );
    assert_eq!(
        value(&samples, "vmcp_backend_circuit_state", &dead),
        2.0,
        "open = 2"
    );
    assert_eq!(
        value(&samples, "vmcp_backend_circuit_state", &live_labels),
        0.0
    );
    assert_eq!(
        value(&samples, "vmcp_backend_consecutive_failures", &dead),
        3.0
    );
    // Exactly the three probes that opened the circuit, all refused connections.
    assert_eq!(
        value(
            &samples,
            "vmcp_probes_total",
            &[("backend", "dead"), ("outcome", "connection_failed")]
        ),
        3.0
    );
    let dead_outcomes: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "vmcp_probes_total" && s.labels["backend"] == "dead")
        .collect();
    assert_eq!(
        dead_outcomes.len(),
        1,
        "dead has no other outcome: {dead_outcomes:?}"
    );
    assert_eq!(
        value(&samples, "vmcp_probe_duration_seconds_count", &dead),
        3.0
    );
    let dead_sum = value(&samples, "vmcp_probe_duration_seconds_sum", &dead);
    assert!(
        dead_sum > 0.0 && dead_sum <= 3.0 * 0.2,
        "three probes, each within the 200 ms timeout: {dead_sum}"
    );
    // live: only successes, and the histogram counted each one.
    let live_success = value(
        &samples,
        "vmcp_probes_total",
        &[("backend", "live"), ("outcome", "success")],
    );
    assert!(live_success >= 1.0);
    assert_eq!(
        value(&samples, "vmcp_probe_duration_seconds_count", &live_labels),
        live_success
    );
    let inf_bucket = value(
        &samples,
        "vmcp_probe_duration_seconds_bucket",
        &[("backend", "live"), ("le", "+Inf")],
    );
    assert_eq!(inf_bucket, live_success);
    // Reports: every counted one reaches the report file; none dropped.
    let published = value(&samples, "vmcp_reports_published_total", &[]);
    assert!(published >= 1.0);
    let lines = || {
        std::fs::read_to_string(&reports)
            .unwrap_or_default()
            .lines()
            .count()
    };
    vmcp.wait_for(
        Bound::new(Duration::from_millis(200), "the writer thread's next write"),
        "every counted report in the report file",
        || (lines() as f64 >= published).then_some(()),
    );
    assert_eq!(value(&samples, "vmcp_report_lines_dropped_total", &[]), 0.0);

    // A reload without `dead`: its series are gone, live's stay.
    write_config(&config, &[("live", live.url())]);
    signal_hup(&vmcp);
    vmcp.wait_for(RELOADED, "dead gone from /api/backends/health", || {
        health(addr)?["backends"]
            .get("dead")
            .is_none()
            .then_some(())
    });
    let after = scrape(&python, addr);
    let leftover: Vec<&Sample> = after
        .iter()
        .filter(|s| s.labels.get("backend") == Some(&Value::from("dead")))
        .collect();
    assert!(leftover.is_empty(), "dead's series remain: {leftover:?}");
    assert!(
        value(
            &after,
            "vmcp_probes_total",
            &[("backend", "live"), ("outcome", "success")]
        ) >= live_success
    );
    drop(vmcp);
    drop(live);
    let _ = std::fs::remove_dir_all(&dir);
}

fn signal_hup(vmcp: &Proc) {
    let sent = Command::new("kill")
        .args(["-HUP", &vmcp.child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// A minimal HTTP/1.0 `POST /mcp` of `body`; returns (status, `Mcp-Session-Id`, body).
fn post_mcp(addr: SocketAddr, session: Option<&str>, body: &Value) -> (u16, Option<String>, Value) {
    use std::io::Read;
    let body = body.to_string();
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let session = session
        .map(|s| format!("Mcp-Session-Id: {s}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "POST /mcp HTTP/1.0\r\nHost: vmcp\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\n{session}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP response");
    let code = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let session = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("mcp-session-id")
            .then(|| value.trim().to_owned())
    });
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).expect("a JSON body")
    };
    (code, session, body)
}

/// The probe lists `live`'s tools within one interval of start (300 ms) plus its timeout.
const LISTED: Bound = Bound::new(
    Duration::from_millis(500),
    "health_check_interval (300ms) + health_check_timeout (200ms)",
);

/// The front-end series of the real binary (wired to its front end, served at `/metrics`) after
/// one client session made one call, parsed by the Python parsers.
#[test]
fn front_end_series_after_a_call_through_the_real_binary() {
    let Some(python) = test_python("the front-end /metrics scrape test") else {
        return;
    };
    let (_runtime, live, dir) = set_up("vmcp-metrics-fe");
    let config = dir.join("vmcp.yaml");
    write_config(&config, &[("live", live.url())]);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("server:\n  listen: 127.0.0.1:0\n");
    std::fs::write(&config, text).unwrap();
    let (mut vmcp, addr) = start_vmcp(&config, &[], &[], Stdio::null(), &dir.join("vmcp.log"));
    let front = vmcp.logged_addr("MCP front end listening", LISTED);

    let init = serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}});
    let (code, session, body) = post_mcp(front, None, &init);
    assert_eq!(code, 200, "{body}");
    let session = session.expect("a session id");
    let list = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    vmcp.wait_for(LISTED, "live_echo listed by the front end", || {
        let (_, _, body) = post_mcp(front, Some(&session), &list);
        (body["result"]["tools"][0]["name"] == "live_echo").then_some(())
    });
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "live_echo", "arguments": {"text": "hi"}}});
    let (code, _, body) = post_mcp(front, Some(&session), &call);
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["result"]["content"][0]["text"], "hi", "{body}");

    let samples = scrape(&python, addr);
    assert_kinds(
        &samples,
        &[
            ("vmcp_calls", "counter"),
            ("vmcp_call_duration_seconds", "histogram"),
            ("vmcp_backend_sessions_initialized", "counter"),
            ("vmcp_client_sessions_open", "gauge"),
            ("vmcp_client_streams_open", "gauge"),
        ],
    );
    let live_labels = [("backend", "live")];
    assert_eq!(
        value(
            &samples,
            "vmcp_calls_total",
            &[("backend", "live"), ("outcome", "ok")]
        ),
        1.0
    );
    let calls: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "vmcp_calls_total")
        .collect();
    assert_eq!(calls.len(), 1, "one outcome only: {calls:?}");
    assert_eq!(
        value(&samples, "vmcp_call_duration_seconds_count", &live_labels),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "vmcp_backend_sessions_initialized_total",
            &[("backend", "live"), ("kind", "initial")]
        ),
        1.0
    );
    assert_eq!(value(&samples, "vmcp_client_sessions_open", &[]), 1.0);
    assert_eq!(value(&samples, "vmcp_client_streams_open", &[]), 0.0);
    drop(vmcp);
    drop(live);
    let _ = std::fs::remove_dir_all(&dir);
}
