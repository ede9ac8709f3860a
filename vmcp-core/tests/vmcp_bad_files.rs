//! Bad files for the real `vmcp` binary (issue 10): a config or `token_file` that is a FIFO or a
//! device, a 50 000-level nested config, several documents. At start-up: exit 2 with a clear
//! message, fast. On SIGHUP: an ERROR log, the old backends kept, probing and endpoints going on.

mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use process::{Bound, free_addr, get, start_vmcp};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmcp-bad-files-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A start that fails on its config: the refusal needs no I/O beyond a `stat` and one linear
/// pass, so 1 s (times SLACK) is generous.
const REFUSED_START: Bound =
    Bound::new(Duration::from_secs(1), "a refused config: stat + one pass");

/// Run `vmcp --config config`; expect exit 2 within [`REFUSED_START`]; return stderr.
#[allow(
    clippy::disallowed_methods,
    reason = "bounds a real process in real time"
)]
fn refused(config: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vmcp"))
        .arg("--config")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > REFUSED_START.limit() {
            let _ = child.kill();
            panic!(
                "vmcp --config {} still running after {:?} ({})",
                config.display(),
                REFUSED_START.limit(),
                REFUSED_START.why
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(status.code(), Some(2), "{stderr}");
    stderr
}

#[test]
fn bad_config_files_exit_2_at_once_with_a_clear_message() {
    let dir = scratch("start");
    assert_eq!(
        refused(Path::new("/dev/zero")).trim(),
        "vmcp: invalid config: /dev/zero is a character device, not a regular file"
    );
    let fifo = dir.join("fifo.yaml");
    mkfifo(&fifo);
    assert_eq!(
        refused(&fifo).trim(),
        format!(
            "vmcp: invalid config: {} is a FIFO, not a regular file",
            fifo.display()
        )
    );
    let token = dir.join("token");
    mkfifo(&token);
    let with_fifo_token = dir.join("token.yaml");
    std::fs::write(
        &with_fifo_token,
        format!(
            "backends:\n  - name: a\n    url: http://127.0.0.1:1/mcp\n    auth: {{type: bearer, token_file: {}}}\n",
            token.display()
        ),
    )
    .unwrap();
    assert_eq!(
        refused(&with_fifo_token).trim(),
        format!(
            "vmcp: invalid config: {}: backends[0].auth.token_file: {} is a FIFO, not a regular file",
            with_fifo_token.display(),
            token.display()
        )
    );
    let deep = dir.join("deep.yaml");
    std::fs::write(
        &deep,
        format!("backends: {}{}\n", "[".repeat(50_000), "]".repeat(50_000)),
    )
    .unwrap();
    assert_eq!(
        refused(&deep).trim(),
        format!(
            "vmcp: invalid config: {}:1:74: nesting deeper than 64 levels (a config nests a \
             handful; refused before parsing)",
            deep.display()
        )
    );
    let two = dir.join("two.yaml");
    std::fs::write(&two, "backends: []\n---\nbackends: []\n").unwrap();
    assert_eq!(
        refused(&two).trim(),
        format!(
            "vmcp: invalid config: {}:2:1: a second YAML document starts here; a config file \
             holds exactly one document",
            two.display()
        )
    );
}

#[test]
fn a_bad_reload_is_logged_and_probing_goes_on_with_the_old_backends() {
    let dir = scratch("reload");
    let config = dir.join("vmcp.yaml");
    let dead = free_addr();
    let good = format!(
        "backends:\n  - name: a\n    url: http://{dead}/mcp\noperational:\n  failure_handling:\n    \
         health_check_interval: 200ms\n    health_check_timeout: 100ms\n    \
         registry_poll_interval: 100ms\n"
    );
    std::fs::write(&config, &good).unwrap();
    let (mut vmcp, addr) = start_vmcp(&config, &[], &[], Stdio::null(), &dir.join("vmcp.log"));
    let last_check = || -> Option<serde_json::Value> {
        let (code, body) = get(addr, "/status")?;
        let status: serde_json::Value =
            (code == 200).then(|| serde_json::from_str(&body).ok())??;
        let check = status["discoveredBackends"][0]["lastHealthCheck"].clone();
        (!check.is_null()).then_some(check)
    };
    let probe = Bound::new(
        Duration::from_millis(400),
        "interval (200ms) + timeout (100ms) + registry_poll_interval (100ms)",
    );
    let token = dir.join("token");
    mkfifo(&token);
    let bad_configs = [
        format!(
            "backends:\n  - name: b\n    url: http://{dead}/mcp\n    auth: {{type: bearer, token_file: {}}}\n",
            token.display()
        ),
        format!("backends: {}{}\n", "[".repeat(50_000), "]".repeat(50_000)),
        "backends: []\n---\nbackends: []\n".to_owned(),
    ];
    for (round, bad) in bad_configs.iter().enumerate() {
        let before = vmcp.wait_for(probe, "a probe result in /status", last_check);
        std::fs::write(&config, bad).unwrap();
        let sent = Command::new("kill")
            .args(["-HUP", &vmcp.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let failures = round + 1;
        vmcp.wait_for(
            Bound::new(Duration::from_secs(1), "a refused reload: stat + one pass"),
            "the reload ERROR log",
            || {
                (vmcp_log_count(&dir, "reload failed; keeping the running backends") >= failures)
                    .then_some(())
            },
        );
        // Probing goes on, for the old backend.
        vmcp.wait_for(probe, "a newer probe result", || {
            last_check().filter(|c| *c != before)
        });
        let (_, body) = get(addr, "/status").unwrap();
        assert!(body.contains("\"name\":\"a\""), "{body}");
        assert!(!body.contains("\"name\":\"b\""), "{body}");
    }
    let log = std::fs::read_to_string(dir.join("vmcp.log")).unwrap();
    assert!(log.contains("is a FIFO, not a regular file"), "{log}");
    assert!(log.contains("nesting deeper than 64 levels"), "{log}");
    assert!(log.contains("a second YAML document starts here"), "{log}");
}

fn vmcp_log_count(dir: &Path, needle: &str) -> usize {
    std::fs::read_to_string(dir.join("vmcp.log"))
        .unwrap_or_default()
        .matches(needle)
        .count()
}
