//! The real `vmcp` binary serving a real MCP client nobody here wrote: the official Python SDK's
//! `ClientSession` over its Streamable-HTTP client (`tests/fixtures/mcp_client.py`), with two
//! real FastMCP backends behind vmcp (DESIGN §3.6).
//!
//! Real processes in real time; every wait is bounded by a figure derived from the config. Needs
//! `VMCP_TEST_PYTHON` (`source ci/setup-python`); skipped loudly without it, unless `CI=true`.

mod process;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use process::{free_port, wait_for};

/// Probe every second; two failures hide a backend; one success shows it again.
const FAILURE_HANDLING: &str = "
operational:
  failure_handling:
    health_check_interval: 1s
    health_check_timeout: 800ms
    connect_timeout: 500ms
    unhealthy_threshold: 2
    healthy_threshold: 1
";

/// Python startup (SDK imports) on a cold, loaded machine.
const START_BOUND: Duration = Duration::from_secs(60);

/// One step of the client script: its own notification wait is 30 s; plus Python overhead.
const STEP_BOUND: Duration = Duration::from_secs(60);

fn python() -> Option<PathBuf> {
    match std::env::var_os("VMCP_TEST_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !in_ci,
                "CI=true but VMCP_TEST_PYTHON is not set: the real-client test must run in CI \
                 (ci/run sources ci/setup-python)"
            );
            eprintln!(
                "\n!!! SKIPPING the real-client test: VMCP_TEST_PYTHON is not set.\n\
                 !!! Run `source ci/setup-python` (a venv with the Python MCP SDK) to enable it.\n"
            );
            None
        }
    }
}

/// A child process killed when dropped.
struct Proc(Child);

impl Proc {
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn start_backend(python: &Path, dir: &Path, port: u16, name: &str, tag: &str) -> Proc {
    let log = std::fs::File::create(dir.join(format!("{name}-{tag}.log"))).unwrap();
    let child = Command::new(python)
        .arg(fixture("fastmcp_server.py"))
        .arg(port.to_string())
        .arg("--name")
        .arg(name)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start a FastMCP backend");
    let backend = Proc(child);
    wait_for(START_BOUND, &format!("backend {name} to listen"), || {
        TcpStream::connect(("127.0.0.1", port))
            .is_ok()
            .then_some(())
    });
    backend
}

#[test]
fn the_python_sdk_client_uses_vmcp_as_one_server() {
    let Some(python) = python() else { return };
    let dir = std::env::temp_dir().join(format!("vmcp-real-client-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (alpha_port, beta_port) = (free_port(), free_port());
    let listen: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();

    let _alpha = start_backend(&python, &dir, alpha_port, "alpha", "1");
    let mut beta = start_backend(&python, &dir, beta_port, "beta", "1");
    let config = dir.join("vmcp.yaml");
    std::fs::write(
        &config,
        format!(
            "backends:
  - name: alpha
    url: http://127.0.0.1:{alpha_port}/mcp
  - name: beta
    url: http://127.0.0.1:{beta_port}/mcp
server:
  listen: {listen}
{FAILURE_HANDLING}"
        ),
    )
    .unwrap();
    let _vmcp = Proc(
        Command::new(env!("CARGO_BIN_EXE_vmcp"))
            .arg("--config")
            .arg(&config)
            .arg("--report-file")
            .arg(dir.join("reports.jsonl"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("vmcp.log")).unwrap())
            .spawn()
            .expect("start vmcp"),
    );
    // Both backends advertised (the status endpoints share the front end's port).
    wait_for(Duration::from_secs(20), "both backends healthy", || {
        let (code, body) = process::get(listen, "/api/backends/health")?;
        let health: serde_json::Value = serde_json::from_str(&body).ok()?;
        (code == 200 && health["summary"]["healthy"] == 2).then_some(())
    });

    let mut client = Proc(
        Command::new(&python)
            .arg(fixture("mcp_client.py"))
            .arg(format!("http://{listen}/mcp"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("client.log")).unwrap())
            .spawn()
            .expect("start the Python MCP client"),
    );
    let mut stdin = client.0.stdin.take().unwrap();
    let stdout = client.0.stdout.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let client_log = || std::fs::read_to_string(dir.join("client.log")).unwrap_or_default();
    let expect_line = |expected: &str| {
        let line = lines.recv_timeout(STEP_BOUND).unwrap_or_else(|_| {
            panic!(
                "no {expected:?} from the client; its log:\n{}",
                client_log()
            )
        });
        if !expected.is_empty() {
            assert_eq!(line, expected, "client log:\n{}", client_log());
        }
        line
    };

    expect_line("KILL");
    beta.kill();
    writeln!(stdin, "killed").unwrap();
    expect_line("RESTART");
    let _beta = start_backend(&python, &dir, beta_port, "beta", "2");
    writeln!(stdin, "restarted").unwrap();
    let line = expect_line("");
    let seen: serde_json::Value = serde_json::from_str(&line).expect("the client's JSON summary");

    assert_eq!(seen["protocol_version"], "2025-11-25", "{seen}");
    assert_eq!(seen["list_changed_capability"], true);
    let all = serde_json::json!(["alpha_echo", "alpha_whoami", "beta_echo", "beta_whoami"]);
    assert_eq!(seen["tools_before"], all);
    assert_eq!(seen["alpha"], "alpha");
    assert_eq!(seen["beta"], "beta");
    assert_eq!(seen["echo"], "hi");
    assert_eq!(
        seen["tools_after_kill"],
        serde_json::json!(["alpha_echo", "alpha_whoami"])
    );
    assert_eq!(seen["dead_call"]["isError"], true, "{seen}");
    let dead_text = seen["dead_call"]["text"].as_str().unwrap();
    assert!(dead_text.contains("\"beta\""), "{dead_text}");
    assert!(dead_text.contains("the call was not sent"), "{dead_text}");
    assert_eq!(seen["tools_after_restart"], all);
    assert_eq!(seen["beta_again"], "beta");
    assert_eq!(
        seen["list_changed_count"], 2,
        "one per change burst: {seen}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
