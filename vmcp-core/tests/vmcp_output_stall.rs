//! The `vmcp` binary with a stdout nobody reads (DESIGN §3.7): report lines go through a
//! bounded queue to a writer thread, so a full pipe costs dropped lines, never a frozen process.
//! Probing goes on (`lastHealthCheck` advances in `/status`) and the dropped-line count rises.

mod process;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use process::{free_addr, get, start_vmcp, wait_for};

fn json(addr: SocketAddr, path: &str) -> Option<serde_json::Value> {
    let (code, body) = get(addr, path)?;
    (code == 200).then(|| serde_json::from_str(&body).expect("JSON"))
}

#[test]
fn a_stdout_nobody_reads_drops_report_lines_and_never_stops_probing() {
    let dir = std::env::temp_dir().join(format!("vmcp-output-stall-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 60 unreachable backends make every report line several KiB, so the 64 KiB pipe fills
    // after a few reports; each probe failure is a change, reported within 10 ms.
    let dead = free_addr();
    let mut config = String::from("backends:\n");
    for i in 0..60 {
        config.push_str(&format!(
            "  - name: backend-{i:02}-with-a-long-name-to-make-report-lines-big\n    url: http://{dead}/mcp/{i}\n"
        ));
    }
    config.push_str(
        "operational:\n  failure_handling:\n    health_check_interval: 100ms\n    \
         health_check_timeout: 50ms\n    unhealthy_threshold: 1\n    \
         status_reporting_interval: 100ms\n    registry_poll_interval: 10ms\n",
    );
    let path = dir.join("vmcp.yaml");
    std::fs::write(&path, config).unwrap();
    // Binds 127.0.0.1:0 and reads the status address back from its log.
    let (mut vmcp, listen) = start_vmcp(
        &path,
        &["--report-queue", "4"],
        &[],
        Stdio::piped(),
        &dir.join("vmcp.log"),
    );
    // Held open and never read: the pipe fills and stays full.
    let _stdout = vmcp.child.stdout.take();

    let last_check =
        |report: &serde_json::Value| report["discoveredBackends"][0]["lastHealthCheck"].clone();
    let dropped = |h: &serde_json::Value| h["reportLinesDropped"].as_u64().expect("a count");
    // Ten reports a second of several KiB each: lines are dropped within seconds.
    let first = wait_for(
        Duration::from_secs(20),
        "report lines to be dropped",
        || json(listen, "/api/backends/health").filter(|h| dropped(h) > 0),
    );
    let before = json(listen, "/status").expect("/status answers while stdout is stalled");
    let later = wait_for(
        Duration::from_secs(10),
        "probing to go on and more lines to be dropped",
        || {
            let status = json(listen, "/status")?;
            let health = json(listen, "/api/backends/health")?;
            (last_check(&status) != last_check(&before) && dropped(&health) > dropped(&first))
                .then_some(health)
        },
    );
    assert!(dropped(&later) > dropped(&first));
    assert_eq!(get(listen, "/health").map(|(c, _)| c), Some(200));
    assert!(
        vmcp.child.try_wait().unwrap().is_none(),
        "vmcp is still running"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
