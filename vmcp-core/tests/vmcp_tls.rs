//! The real `vmcp` binary with `https://` backends, configured through YAML: with
//! `operational.tls.ca_file` naming the test CA (a path relative to the config file), a TLS MCP
//! server is `healthy` in `/status`; a certificate for another name and one from an unknown CA
//! are `unhealthy` with `errorCategory: tls` and a message saying which. The TLS servers run in
//! this test process (rustls over a tokio listener on port 0, certificates made by rcgen); real
//! processes, so waits are real but bounded by figures derived from the config.
#![cfg(feature = "tls")]

mod process;
mod support;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use process::{Bound, Proc, backend, start_vmcp, status};
use support::mcp_server::McpTestServer;
use support::tls::TestCa;

/// Probe every 500 ms with a 400 ms timeout; one failure or success decides.
const FAILURE_HANDLING: &str = "
  failure_handling:
    health_check_interval: 500ms
    health_check_timeout: 400ms
    unhealthy_threshold: 1
    healthy_threshold: 1
    status_reporting_interval: 5s
    registry_poll_interval: 200ms
";

/// The first verdict on every backend: the initial probe (bounded by its 400 ms timeout), one
/// more interval in case the first probe raced the start, and one registry_poll_interval for
/// the report.
const FIRST_VERDICT: Bound = Bound::new(
    Duration::from_millis(1_100),
    "timeout (400ms) + interval (500ms) + registry_poll_interval (200ms)",
);

/// Wait until every backend has its expected fine health; return that report.
fn wait_for_health(
    vmcp: &mut Proc,
    addr: SocketAddr,
    expected: &[(&str, &str)],
) -> serde_json::Value {
    vmcp.wait_for(FIRST_VERDICT, &format!("{expected:?} in /status"), || {
        let report = status(addr)?;
        expected
            .iter()
            .all(|(name, health)| backend(&report, name)["health"] == *health)
            .then_some(report)
    })
}

#[test]
fn the_binary_probes_https_backends_with_the_configured_ca() {
    let dir = std::env::temp_dir().join(format!("vmcp-binary-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let ca = TestCa::new("vmcp test CA");
    let stranger = TestCa::new("a CA vmcp does not know");
    let (secure, wrong_name, unknown_ca) = runtime.block_on(async {
        (
            McpTestServer::start_tls(ca.leaf(&["127.0.0.1"]).acceptor()).await,
            McpTestServer::start_tls(ca.leaf(&["localhost"]).acceptor()).await,
            McpTestServer::start_tls(stranger.leaf(&["127.0.0.1"]).acceptor()).await,
        )
    });
    std::fs::write(dir.join("backend-ca.pem"), ca.pem()).unwrap();
    let config = dir.join("vmcp.yaml");
    std::fs::write(
        &config,
        format!(
            "backends:
  - name: secure
    url: {}
  - name: wrong-name
    url: {}
  - name: unknown-ca
    url: {}
operational:{FAILURE_HANDLING}
  tls:
    ca_file: backend-ca.pem
",
            secure.url(),
            wrong_name.url(),
            unknown_ca.url()
        ),
    )
    .unwrap();

    let (mut vmcp, addr) = start_vmcp(&config, &[], &[], Stdio::null(), &dir.join("vmcp.log"));
    let report = wait_for_health(
        &mut vmcp,
        addr,
        &[
            ("secure", "healthy"),
            ("wrong-name", "unhealthy"),
            ("unknown-ca", "unhealthy"),
        ],
    );

    let ok = backend(&report, "secure");
    assert_eq!(ok["status"], "ready", "{ok}");
    assert!(ok.get("errorCategory").is_none(), "{ok}");
    assert!(
        secure.labels().starts_with(&[
            "initialize".to_owned(),
            "notifications/initialized".to_owned(),
            "tools/list".to_owned(),
        ]),
        "{:?}",
        secure.labels()
    );

    let mismatch = backend(&report, "wrong-name");
    assert_eq!(mismatch["errorCategory"], "tls", "{mismatch}");
    let message = mismatch["message"].as_str().unwrap();
    assert!(
        message.contains(
            "initialize: TLS error: invalid certificate: not valid for the backend's host name"
        ),
        "{message}"
    );

    let unknown = backend(&report, "unknown-ca");
    assert_eq!(unknown["errorCategory"], "tls", "{unknown}");
    let message = unknown["message"].as_str().unwrap();
    assert!(
        message.contains("initialize: TLS error: invalid certificate: unknown issuer"),
        "{message}"
    );
    // Neither failing backend got an HTTP request: the handshake stopped it.
    assert!(
        wrong_name.requests().is_empty(),
        "{:?}",
        wrong_name.labels()
    );
    assert!(
        unknown_ca.requests().is_empty(),
        "{:?}",
        unknown_ca.labels()
    );
    vmcp.kill();
    drop((secure, wrong_name, unknown_ca));
}

#[test]
fn an_unreadable_ca_file_exits_2_naming_the_key() {
    let dir = std::env::temp_dir().join(format!("vmcp-binary-tls-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("vmcp.yaml");
    std::fs::write(
        &config,
        "backends:\n  - name: a\n    url: https://127.0.0.1:1/mcp\noperational:\n  tls:\n    \
         ca_file: /dev/zero\n",
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vmcp"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "vmcp: invalid config: {}: operational.tls.ca_file: /dev/zero is a character device, \
             not a regular file",
            config.display()
        )
    );
}
