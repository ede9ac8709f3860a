//! Criterion benchmark of the probe path: one full probe (`initialize` → `notifications/initialized`
//! → `tools/list` → `DELETE`) of `McpClient` against an in-process hyper MCP server on loopback,
//! once per pool policy. The mean time per probe gives probes/s (recorded in
//! `docs/BENCHMARKS.md`).
//!
//! Client and server share one current-thread tokio runtime, as the probe path runs on a single
//! task in production: the figure is the CPU cost of both ends of a probe plus loopback TCP, and
//! for `per_probe` also the TCP handshake of the fresh connection each probe opens.
//!
//! Run: `cargo bench -p vmcp-core --bench probe_path`.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hyper_util::client::legacy::connect::HttpConnector;
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

use mcp_server::McpTestServer;

/// The policies benchmarked, with their configuration names.
const POLICIES: [(&str, PoolPolicy); 3] = [
    ("per_backend", PoolPolicy::PerBackend),
    ("per_probe", PoolPolicy::PerProbe),
    ("shared", PoolPolicy::Shared),
];

fn client(pool: PoolPolicy) -> McpClient<HttpConnector> {
    McpClient::http(&FailureHandling {
        pool,
        ..FailureHandling::default()
    })
}

fn probe_path(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut group = c.benchmark_group("probe_path");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    for (name, policy) in POLICIES {
        // A fresh server per policy: the server records every request, so memory stays bounded
        // by one policy's run.
        let server = rt.block_on(McpTestServer::start());
        let backend = Backend::new("bench", server.url());
        let client = client(policy);
        // A probe that fails here would benchmark an error path: check once before measuring.
        let first = rt.block_on(client.probe_detailed(&backend));
        assert!(first.result.is_ok(), "{name}: {first:?}");
        group.bench_function(name, |b| {
            b.iter(|| {
                let outcome = rt.block_on(client.probe_backend(&backend));
                assert!(outcome.is_success(), "{name}: {outcome:?}");
                outcome
            });
        });
        let opened = client.connections_opened("bench");
        let accepted = server.connections_accepted();
        assert_eq!(opened, accepted, "{name}: client and server disagree");
        drop(client);
        drop(server);
    }
    group.finish();
}

criterion_group!(benches, probe_path);
criterion_main!(benches);
