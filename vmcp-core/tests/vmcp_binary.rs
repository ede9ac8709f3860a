//! The `vmcp` binary as a process: the documented example config starts it, it serves the three
//! endpoints and prints JSON report lines; SIGHUP reloads the backends; SIGTERM exits cleanly; a
//! bad config exits 2 naming the key. Backends here are unreachable on purpose: that must never
//! stop the process. Real processes, so waits are real but bounded.

mod process;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use process::{Bound, get, start_vmcp};

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/vmcp.yaml")
}

/// A scratch directory for one test, named after it and the test process.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmcp-binary-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
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

/// The example config's first report: after the initial probes, each bounded by its
/// `health_check_timeout` (10 s; the example's backends refuse at once, but the bound must hold
/// whatever they do), plus the report itself.
const EXAMPLE_FIRST_REPORT: Bound = Bound::new(
    Duration::from_secs(11),
    "the example's health_check_timeout (10s) + 1s for the report",
);

/// A SIGTERM'd `vmcp` stops its probes (cancelled, not awaited to their timeout) and exits.
const EXIT_AFTER_SIGTERM: Bound = Bound::new(
    Duration::from_secs(2),
    "shutdown: cancel probes, stop the reporting loop (no config figure; 2s of work at most)",
);

#[test]
fn the_example_config_serves_the_endpoints_and_prints_json_reports() {
    let dir = scratch("example");
    let (mut vmcp, listen) =
        start_vmcp(&example(), &[], &[], Stdio::piped(), &dir.join("vmcp.log"));
    // Report lines are read on a thread so the wait for the first one is bounded.
    let stdout = vmcp.child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx
        .recv_timeout(EXAMPLE_FIRST_REPORT.limit())
        .unwrap_or_else(|_| {
            panic!(
                "no report line within {:?} ({}); vmcp's log:\n{}",
                EXAMPLE_FIRST_REPORT.limit(),
                EXAMPLE_FIRST_REPORT.why,
                vmcp.log()
            )
        })
        .expect("utf-8");
    let report: serde_json::Value = serde_json::from_str(&first).expect("a JSON report line");
    assert_eq!(names(&report), vec!["fetch", "github"]);
    assert!(report["phase"].is_string() && report["observedAt"].is_string());

    // The endpoints answer as soon as the listening line is logged.
    let (code, body) = get(listen, "/health").expect("/health");
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
    let pid = vmcp.child.id().to_string();
    signal(&pid, "TERM");
    let mut exited = None;
    let log = vmcp.log.clone();
    process::wait_for(
        EXIT_AFTER_SIGTERM.limit(),
        "vmcp to exit after SIGTERM",
        || {
            exited = vmcp.child.try_wait().unwrap();
            exited
        },
    );
    assert_eq!(
        exited.and_then(|s| s.code()),
        Some(0),
        "vmcp's log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The reload test's config: probes every 2 s (1 s timeout, 500 ms connect), registry polled
/// every 500 ms.
const RELOAD_TIMINGS: &str = "operational:\n  failure_handling:\n    health_check_interval: 2s\n    \
     health_check_timeout: 1s\n    connect_timeout: 500ms\n    registry_poll_interval: 500ms\n";

/// From SIGHUP to /status listing the new backends: the reload itself (read and validate a small
/// file), then /status reads the registry directly.
const RELOAD_APPLIED: Bound = Bound::new(
    Duration::from_secs(1),
    "SIGHUP handling + one registry_poll_interval (500ms)",
);

#[test]
fn sighup_reloads_the_backends_and_a_broken_reload_keeps_them() {
    let dir = scratch("reload");
    let config = dir.join("vmcp.yaml");
    let write = |backends: &[&str]| {
        let mut text = String::from("backends:\n");
        for (i, name) in backends.iter().enumerate() {
            text.push_str(&format!(
                "  - name: {name}\n    url: http://127.0.0.1:{}/mcp\n",
                1 + i
            ));
        }
        text.push_str(RELOAD_TIMINGS);
        std::fs::write(&config, text).unwrap();
    };
    write(&["alpha", "beta"]);
    let log = dir.join("vmcp.log");
    let (mut vmcp, listen) = start_vmcp(&config, &[], &[], Stdio::null(), &log);
    let pid = vmcp.child.id().to_string();
    let backends = || -> Option<Vec<String>> {
        let (code, body) = get(listen, "/status")?;
        (code == 200).then(|| names(&serde_json::from_str(&body).unwrap()))
    };
    assert_eq!(
        backends(),
        Some(vec!["alpha".to_owned(), "beta".to_owned()]),
        "/status lists the configured backends once vmcp listens"
    );

    write(&["beta", "gamma"]);
    signal(&pid, "HUP");
    vmcp.wait_for(RELOAD_APPLIED, "the reloaded backends", || {
        backends().filter(|b| b == &["beta", "gamma"])
    });

    // A broken config on reload is logged and ignored: monitoring goes on with what it has,
    // and the next valid reload still applies.
    std::fs::write(&config, "backends: [{ name: x, url: not-a-url }]\n").unwrap();
    signal(&pid, "HUP");
    let logged = vmcp.wait_for(RELOAD_APPLIED, "the failed reload in the log", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("reload failed; keeping the running backends")
            .then_some(text)
    });
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
    vmcp.wait_for(RELOAD_APPLIED, "the next valid reload", || {
        backends().filter(|b| b == &["gamma"])
    });
    drop(vmcp);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_config_exits_2_naming_the_key_and_value() {
    let dir = scratch("bad");
    let config = dir.join("bad.yaml");
    std::fs::write(
        &config,
        // Both keys written: a timeout written alone derives the interval from it (a pasted
        // ToolHive block loads), so only values the user wrote can clash.
        "backends: []\noperational:\n  failure_handling:\n    health_check_interval: 30s\n    health_check_timeout: 45s\n",
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
