//! Connection counts under each pool policy, against a real in-process MCP server.
mod support;

use support::mcp_server::{McpTestServer, Mode};
use vmcp_core::client::McpClient;
use vmcp_core::config::{FailureHandling, PoolPolicy};
use vmcp_core::registry::Backend;

fn config(pool: PoolPolicy) -> FailureHandling {
    FailureHandling {
        pool,
        ..FailureHandling::default()
    }
}

#[tokio::test]
async fn per_backend_reuses_one_connection_across_probes() {
    let server = McpTestServer::start().await;
    let client = McpClient::http(&config(PoolPolicy::PerBackend));
    let backend = Backend::new("alpha", server.url());
    for _ in 0..3 {
        let report = client.probe_detailed(&backend).await;
        assert!(report.result.is_ok(), "{report:?}");
    }
    eprintln!("{:?} {}", client.counters(), server.connections_accepted());
    assert_eq!(client.connections_opened("alpha"), 1);
    assert_eq!(server.connections_accepted(), 1);
    let _ = Mode::Json;
}
