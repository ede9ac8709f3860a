//! The `vmcp` binary as a process: the documented example config starts it, it serves the three
//! endpoints and prints JSON report lines; SIGHUP reloads the backends; SIGTERM exits cleanly; a
//! bad config exits 2 naming the key. Backends here are unreachable on purpose: that must never
//! stop the process. Real processes, so waits are real but bounded.

use std::io::{BufRead, BufReader};
mod process;

use process::{free_addr, get, wait_for};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/vmcp.yaml")
}

struct Vmcp(Child);

impl Drop for Vmcp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &Path, listen: SocketAddr) -> Vmcp {
    start_logging_to(config, listen, Stdio::null())
}

fn start_logging_to(config: &Path, listen: SocketAddr, stderr: Stdio) -> Vmcp {
    Vmcp(
        Command::new(env!("CARGO_BIN_EXE_vmcp"))
            .arg("--config")
            .arg(config)
            .arg("--listen")
            .arg(listen.to_string())
            .env("VMCP_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start vmcp"),
    )
}

/// Send `SIG<name>` to the process `pid`.
fn signal(pid: &str, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), pid])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name} {pid}");
}

fn names(report: &serde_json::Value) -> Vec<String> {
    report["discoveredBackends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_example_config_serves_the_endpoints_and_prints_json_reports() {
    let listen = free_addr();
    let mut vmcp = start(&example(), listen);
    let stdout = vmcp.0.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // The first report comes after the initial probes (the example's backends are not
    // listening: refused at once), bounded by health_check_timeout + 1 s anyway.
    let first = lines.next().expect("a report line").expect("utf-8");
    let report: serde_json::Value = serde_json::from_str(&first).expect("a JSON report line");
    assert_eq!(names(&report), vec!["fetch", "github"]);
    assert!(report["phase"].is_string() && report["observedAt"].is_string());

    let (code, body) = wait_for(Duration::from_secs(10), "/health", || {
        get(listen, "/health")
    });
    assert_eq!((code, body.as_str()), (200, "ok\n"));
    let (code, body) = get(listen, "/status").unwrap();
    assert_eq!(code, 200);
    let status: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(names(&status), vec!["fetch", "github"]);
    let (code, body) = get(listen, "/api/backends/health").unwrap();
    assert_eq!(code, 200);
    let summary: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(summary["summary"]["total"], 2);
    assert_eq!(get(listen, "/nope").unwrap().0, 404);

    // SIGTERM: a clean exit.
    let pid = vmcp.0.id().to_string();
    signal(&pid, "TERM");
    let status = wait_for(Duration::from_secs(10), "vmcp to exit", || {
        vmcp.0.try_wait().unwrap()
    });
    assert_eq!(status.code(), Some(0));
}

#[test]
fn sighup_reloads_the_backends_and_a_broken_reload_keeps_them() {
    let dir = std::env::temp_dir().join(format!("vmcp-binary-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("vmcp.yaml");
    let write = |backends: &[&str]| {
        let mut text = String::from("backends:\n");
        for (i, name) in backends.iter().enumerate() {
            text.push_str(&format!(
                "  - name: {name}\n    url: http://127.0.0.1:{}/mcp\n",
                1 + i
            ));
        }
        text.push_str(
            "operational:\n  failure_handling:\n    health_check_interval: 2s\n    \
             health_check_timeout: 1s\n    connect_timeout: 500ms\n    \
             registry_poll_interval: 500ms\n",
        );
        std::fs::write(&config, text).unwrap();
    };
    write(&["alpha", "beta"]);
    let listen = free_addr();
    let log = dir.join("vmcp.log");
    let vmcp = start_logging_to(&config, listen, std::fs::File::create(&log).unwrap().into());
    let pid = vmcp.0.id().to_string();
    let backends = || -> Option<Vec<String>> {
        let (code, body) = get(listen, "/status")?;
        (code == 200).then(|| names(&serde_json::from_str(&body).unwrap()))
    };
    wait_for(Duration::from_secs(10), "the first status", || {
        backends().filter(|b| b == &["alpha", "beta"])
    });

    write(&["beta", "gamma"]);
    signal(&pid, "HUP");
    wait_for(Duration::from_secs(5), "the reloaded backends", || {
        backends().filter(|b| b == &["beta", "gamma"])
    });

    // A broken config on reload is logged and ignored: monitoring goes on with what it has,
    // and the next valid reload still applies.
    std::fs::write(&config, "backends: [{ name: x, url: not-a-url }]\n").unwrap();
    signal(&pid, "HUP");
    let logged = wait_for(
        Duration::from_secs(5),
        "the failed reload in the log",
        || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            text.contains("reload failed; keeping the running backends")
                .then_some(text)
        },
    );
    assert!(
        logged.contains("backends[0].url"),
        "the error names the key: {logged}"
    );
    assert_eq!(
        backends(),
        Some(vec!["beta".to_owned(), "gamma".to_owned()])
    );
    write(&["gamma"]);
    signal(&pid, "HUP");
    wait_for(Duration::from_secs(5), "the next valid reload", || {
        backends().filter(|b| b == &["gamma"])
    });
    drop(vmcp);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_config_exits_2_naming_the_key_and_value() {
    let dir = std::env::temp_dir().join(format!("vmcp-binary-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("bad.yaml");
    std::fs::write(
        &config,
        "backends: []\noperational:\n  failure_handling:\n    health_check_timeout: 45s\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vmcp"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("health_check_timeout (45s) must be less than health_check_interval (30s)"),
        "{stderr}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_vmcp"))
        .arg("--config")
        .arg(dir.join("missing.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
