//! Deterministic measurement (not a timing benchmark): connections opened per 100 probes, for
//! each pool policy and several intervals between probes, against an in-process hyper MCP server
//! on loopback.
//!
//! Connection reuse depends on the time between probes versus the pool's idle timeout
//! (`per_backend` 5 s, `shared` 90 s). Sleeping for real would take minutes, so every run uses a
//! current-thread tokio runtime with paused time and `tokio::time::advance(interval)` between
//! probes; the pools use `TokioTimer`, so their idle expiry follows the paused clock while the
//! sockets stay real. Each run also checks that no virtual time passed *during* a probe (tokio
//! auto-advances a paused clock when the runtime is idle, which would silently distort a run) and
//! that the client's connection counter matches the server's accept count.
//!
//! Run: `cargo bench -p vmcp-core --bench pool_connections` (prints a Markdown table; results in
//! `docs/BENCHMARKS.md`).

use std::process::ExitCode;
use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use tokio::time::Instant;
use vmcp_core::client::McpClient;
use vmcp_core::config::{FailureHandling, PoolPolicy};
use vmcp_core::registry::Backend;

// The integration tests' MCP server, shared rather than duplicated. Benches use only part of it.
#[allow(
    dead_code,
    unreachable_pub,
    reason = "the integration tests' server module: benches use only part of it, and its `pub` items are for the test files"
)]
#[path = "../tests/support/mcp_server.rs"]
mod mcp_server;

use mcp_server::{McpTestServer, Mode};

/// Probes per run.
const PROBES: u32 = 100;

/// The policies measured, with their configuration names.
const POLICIES: [(&str, PoolPolicy); 3] = [
    ("per_backend", PoolPolicy::PerBackend),
    ("per_probe", PoolPolicy::PerProbe),
    ("shared", PoolPolicy::Shared),
];

/// One column of the table: the time between probes and whether some probes fail.
#[derive(Clone, Copy)]
struct Schedule {
    label: &'static str,
    interval: Duration,
    /// Every `n`-th probe (n, 2n, ...) is answered `503` on `initialize`.
    fail_every: Option<u32>,
}

const SCHEDULES: [Schedule; 6] = [
    Schedule {
        label: "0 s (back-to-back)",
        interval: Duration::ZERO,
        fail_every: None,
    },
    Schedule {
        label: "1 s",
        interval: Duration::from_secs(1),
        fail_every: None,
    },
    Schedule {
        label: "10 s",
        interval: Duration::from_secs(10),
        fail_every: None,
    },
    Schedule {
        label: "30 s",
        interval: Duration::from_secs(30),
        fail_every: None,
    },
    Schedule {
        label: "120 s",
        interval: Duration::from_secs(120),
        fail_every: None,
    },
    Schedule {
        label: "1 s, every 10th probe 503",
        interval: Duration::from_secs(1),
        fail_every: Some(10),
    },
];

/// The result of one run.
struct Run {
    /// Connections the client's counter saw opened.
    opened: u64,
    /// Connections the server accepted.
    accepted: u64,
    /// Probes that failed.
    failed: u32,
    /// Probes during which the paused clock moved (should be zero).
    clock_moved: u32,
}

impl Run {
    /// Why this run cannot be trusted, if it cannot.
    fn problem(&self, schedule: &Schedule) -> Option<String> {
        let expected_failures = schedule.fail_every.map_or(0, |n| PROBES / n);
        if self.opened != self.accepted {
            return Some(format!(
                "client counted {} connections, server accepted {}",
                self.opened, self.accepted
            ));
        }
        if self.failed != expected_failures {
            return Some(format!(
                "{} probes failed, expected {expected_failures}",
                self.failed
            ));
        }
        if self.clock_moved != 0 {
            return Some(format!(
                "the paused clock auto-advanced during {} probes",
                self.clock_moved
            ));
        }
        None
    }
}

async fn run(policy: PoolPolicy, schedule: Schedule) -> Run {
    let server = McpTestServer::start().await;
    let backend = Backend::new("bench", server.url());
    let client: McpClient<HttpConnector> = McpClient::http(&FailureHandling {
        pool: policy,
        ..FailureHandling::default()
    });
    let mut failed = 0;
    let mut clock_moved = 0;
    for probe in 1..=PROBES {
        if probe > 1 {
            tokio::time::advance(schedule.interval).await;
        }
        let fails = schedule.fail_every.is_some_and(|n| probe % n == 0);
        server.set_mode(if fails {
            Mode::StatusOnInitialize(503)
        } else {
            Mode::Json
        });
        let start = Instant::now();
        let outcome = client.probe_backend(&backend).await;
        if Instant::now() != start {
            clock_moved += 1;
        }
        if !outcome.is_success() {
            failed += 1;
        }
    }
    Run {
        opened: client.connections_opened("bench"),
        accepted: server.connections_accepted(),
        failed,
        clock_moved,
    }
}

fn main() -> ExitCode {
    let mut problems = Vec::new();
    let header: Vec<&str> = SCHEDULES.iter().map(|s| s.label).collect();
    println!("Connections opened per {PROBES} probes, by interval between probes:\n");
    println!("| pool policy | {} |", header.join(" | "));
    println!("|---|{}", "---:|".repeat(SCHEDULES.len()));
    for (name, policy) in POLICIES {
        let mut cells = Vec::new();
        for schedule in SCHEDULES {
            // A fresh paused runtime per run, so every run starts from the same clock and pools.
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
            {
                Ok(rt) => rt,
                Err(err) => {
                    eprintln!("cannot build a tokio runtime: {err}");
                    return ExitCode::FAILURE;
                }
            };
            let result = rt.block_on(run(policy, schedule));
            if let Some(problem) = result.problem(&schedule) {
                problems.push(format!("{name} @ {}: {problem}", schedule.label));
            }
            cells.push(result.opened.to_string());
        }
        println!("| `{name}` | {} |", cells.join(" | "));
    }
    if problems.is_empty() {
        println!(
            "\nAll runs: client count = server accept count, no clock movement during a probe."
        );
        ExitCode::SUCCESS
    } else {
        for problem in &problems {
            eprintln!("INVALID RUN: {problem}");
        }
        ExitCode::FAILURE
    }
}
