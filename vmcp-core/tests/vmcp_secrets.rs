//! Secrets in backend URLs never leave the real `vmcp` binary (issue 10): query values of any
//! name (`api_key`, `private_token`, `X-Amz-Signature`, encoded `api%5Fkey`, `apikey;token`),
//! userinfo and fragments. Invalid URLs are refused at start-up (stderr) and on reload (the
//! ERROR log); valid ones are probed against a backend that echoes the whole request back in a
//! 500 body. Then stderr, the log, `/status`, `/api/backends/health`, the JSON report lines and
//! `/metrics` are searched for every secret: zero hits.

mod process;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use process::{Bound, get, start_vmcp};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmcp-secrets-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every secret planted below; none may appear in any output.
const SECRETS: [&str; 14] = [
    "LEAKA1", "LEAKA2", "LEAKA3", "LEAKA4", "LEAKA5", "LEAKA6", "LEAKA7", "LEAKV1", "LEAKV2",
    "LEAKV3", "LEAKV4", "LEAKV5", "LEAKV6", "LEAKV7",
];

/// URLs the config refuses, each carrying secrets.
fn invalid_urls() -> Vec<String> {
    vec![
        "ftp://h:1/mcp?api_key=LEAKA1".to_owned(),
        "http://h:99999/mcp?private_token=LEAKA2".to_owned(),
        "http://h:1/mcp?X-Amz-Signature=LEAKA3#frag".to_owned(),
        "http://user:LEAKA4@h:1/mcp".to_owned(),
        "http://h:1/m cp?api%5Fkey=LEAKA5".to_owned(),
        "http://h:1/mcp?apikey;token=LEAKA6#LEAKA6".to_owned(),
        "https://h:99999/mcp?access_token=LEAKA7".to_owned(),
    ]
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} leaks {secret}:\n{text}");
    }
}

fn config_with(url: &str) -> String {
    format!(
        "backends:\n  - name: a\n    url: \"{url}\"\noperational:\n  failure_handling:\n    \
         health_check_interval: 200ms\n    health_check_timeout: 100ms\n    \
         registry_poll_interval: 100ms\n    status_reporting_interval: 1s\n"
    )
}

/// A backend that answers every request with a 500 whose body is the request head, so any
/// part of the URL the probe reports back comes from the wire.
fn echo_backend() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = String::new();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{head}",
                head.len()
            );
        }
    });
    port
}

#[test]
fn invalid_urls_with_secrets_are_refused_without_echoing_them() {
    let dir = scratch("invalid");
    for (i, url) in invalid_urls().iter().enumerate() {
        let path = dir.join(format!("bad-{i}.yaml"));
        std::fs::write(&path, config_with(url)).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_vmcp"))
            .arg("--config")
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(stderr.contains("backends[0].url"), "{url}: {stderr}");
        assert_no_secret(&format!("stderr for {url}"), &stderr);
    }
}

#[test]
fn secrets_in_urls_appear_in_no_output_of_a_running_vmcp() {
    let dir = scratch("running");
    let port = echo_backend();
    let valid = [
        format!("http://127.0.0.1:{port}/mcp?api_key=LEAKV1&private_token=LEAKV2"),
        format!("http://127.0.0.1:{port}/mcp?X-Amz-Signature=LEAKV3&api%5Fkey=LEAKV4"),
        format!("http://127.0.0.1:{port}/mcp?apikey;token=LEAKV5&code=LEAKV6"),
        // TLS to a plain-HTTP server: the handshake fails, and its `tls` error names the URL.
        format!("https://127.0.0.1:{port}/mcp?access_token=LEAKV7"),
    ];
    let config = dir.join("vmcp.yaml");
    let mut text = String::from("backends:\n");
    for (i, url) in valid.iter().enumerate() {
        text.push_str(&format!("  - name: b{i}\n    url: \"{url}\"\n"));
    }
    text.push_str(
        "operational:\n  failure_handling:\n    health_check_interval: 200ms\n    \
         health_check_timeout: 100ms\n    unhealthy_threshold: 1\n    \
         registry_poll_interval: 100ms\n    status_reporting_interval: 1s\n",
    );
    std::fs::write(&config, &text).unwrap();
    let reports = dir.join("reports.jsonl");
    let log = dir.join("vmcp.log");
    let (mut vmcp, addr) = start_vmcp(
        &config,
        &["--report-file", reports.to_str().unwrap()],
        &[("VMCP_LOG", "trace")],
        Stdio::null(),
        &log,
    );
    // Every backend probed and failed (the echo is a 500 carrying the request line; the https
    // one fails its handshake).
    vmcp.wait_for(
        Bound::new(
            Duration::from_millis(400),
            "interval (200ms) + timeout (100ms) + registry_poll_interval (100ms)",
        ),
        "every backend unhealthy with an error in /status",
        || {
            let (_, body) = get(addr, "/status")?;
            (body.matches("\"health\":\"unhealthy\"").count() == valid.len()).then_some(())
        },
    );
    // Reloads with each invalid URL: refused and logged, never echoed.
    for (i, url) in invalid_urls().iter().enumerate() {
        std::fs::write(&config, config_with(url)).unwrap();
        assert!(
            Command::new("kill")
                .args(["-HUP", &vmcp.child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        vmcp.wait_for(
            Bound::new(Duration::from_secs(1), "a refused reload"),
            "the reload ERROR log",
            || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                (text.matches("reload failed").count() > i).then_some(())
            },
        );
    }
    let outputs = [
        ("/status", get(addr, "/status").unwrap().1),
        (
            "/api/backends/health",
            get(addr, "/api/backends/health").unwrap().1,
        ),
        ("/metrics", get(addr, "/metrics").unwrap().1),
    ];
    for (what, body) in &outputs {
        assert!(body.contains("b0"), "{what} names the backends: {body}");
        assert_no_secret(what, body);
    }
    // The https backend failed in its TLS handshake, so the `tls` error path was exercised.
    assert!(
        outputs[0].1.contains("\"errorCategory\":\"tls\""),
        "{}",
        outputs[0].1
    );
    // The reports show the redacted URLs (keys kept, values gone).
    assert!(
        outputs[0].1.contains("api_key=<redacted>"),
        "{}",
        outputs[0].1
    );
    let lines = std::fs::read_to_string(&reports).unwrap();
    assert!(lines.lines().count() >= 1);
    assert_no_secret("the JSON report lines", &lines);
    vmcp.kill();
    let log_text = std::fs::read_to_string(Path::new(&log)).unwrap();
    assert!(log_text.contains("reload failed"), "{log_text}");
    // The URLs do reach the log (so an unredacted one would be caught), with values replaced.
    assert!(log_text.contains("private_token=<redacted>"), "{log_text}");
    assert_no_secret("the log (VMCP_LOG=trace)", &log_text);
}
