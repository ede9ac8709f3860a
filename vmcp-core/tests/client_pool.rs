//! Connection counts under each pool policy, against a real in-process MCP server: the client's
//! per-backend counter and the server's accept count must agree.
mod support;

use std::time::Duration;

use hyper_util::client::legacy::connect::HttpConnector;
use support::mcp_server::{McpTestServer, Mode};
use vmcp_core::client::McpClient;
use vmcp_core::config::{FailureHandling, PoolPolicy};
use vmcp_core::health::Probe;
use vmcp_core::registry::Backend;

fn client(pool: PoolPolicy) -> McpClient<HttpConnector> {
    McpClient::http(&FailureHandling {
        pool,
        ..FailureHandling::default()
    })
}

async fn probe_ok(client: &McpClient<HttpConnector>, backend: &Backend) {
    let report = client.probe_detailed(backend).await;
    assert!(report.result.is_ok(), "{report:?}");
}

async fn probe_fails(client: &McpClient<HttpConnector>, backend: &Backend) {
    let report = client.probe_detailed(backend).await;
    assert!(report.result.is_err(), "{report:?}");
}

#[tokio::test]
async fn per_backend_reuses_one_connection_across_probes() {
    let server = McpTestServer::start().await;
    let client = client(PoolPolicy::PerBackend);
    let backend = Backend::new("alpha", server.url());
    for _ in 0..3 {
        probe_ok(&client, &backend).await;
    }
    assert_eq!(client.connections_opened("alpha"), 1);
    assert_eq!(client.total_connections_opened(), 1);
    assert_eq!(server.connections_accepted(), 1);
}

#[tokio::test]
async fn per_probe_opens_one_connection_per_probe() {
    let server = McpTestServer::start().await;
    let client = client(PoolPolicy::PerProbe);
    let backend = Backend::new("alpha", server.url());
    for _ in 0..3 {
        probe_ok(&client, &backend).await;
    }
    assert_eq!(client.connections_opened("alpha"), 3);
    assert_eq!(server.connections_accepted(), 3);
}

#[tokio::test]
async fn per_backend_flushes_its_pool_after_a_failed_probe() {
    let server = McpTestServer::start().await;
    let client = client(PoolPolicy::PerBackend);
    let backend = Backend::new("alpha", server.url());
    probe_ok(&client, &backend).await;
    server.set_mode(Mode::Status(503));
    // The failing probe still rides the pooled connection ...
    probe_fails(&client, &backend).await;
    assert_eq!(client.connections_opened("alpha"), 1);
    // ... but the pool is dropped, so the next probe opens a fresh one.
    server.set_mode(Mode::Json);
    probe_ok(&client, &backend).await;
    assert_eq!(client.connections_opened("alpha"), 2);
    assert_eq!(server.connections_accepted(), 2);
    probe_ok(&client, &backend).await;
    assert_eq!(client.connections_opened("alpha"), 2);
}

#[tokio::test]
async fn shared_pool_is_never_flushed() {
    let server = McpTestServer::start().await;
    let client = client(PoolPolicy::Shared);
    let backend = Backend::new("alpha", server.url());
    probe_ok(&client, &backend).await;
    server.set_mode(Mode::Status(503));
    probe_fails(&client, &backend).await;
    server.set_mode(Mode::Json);
    probe_ok(&client, &backend).await;
    client.endpoint_changed(&backend);
    probe_ok(&client, &backend).await;
    assert_eq!(client.connections_opened("alpha"), 1);
    assert_eq!(server.connections_accepted(), 1);
}

#[tokio::test]
async fn endpoint_change_and_removal_flush_the_per_backend_pool() {
    let server = McpTestServer::start().await;
    let client = client(PoolPolicy::PerBackend);
    let backend = Backend::new("alpha", server.url());
    probe_ok(&client, &backend).await;
    client.endpoint_changed(&backend);
    probe_ok(&client, &backend).await;
    assert_eq!(client.connections_opened("alpha"), 2);
    client.backend_removed("alpha");
    probe_ok(&client, &backend).await;
    assert_eq!(client.connections_opened("alpha"), 3);
    assert_eq!(server.connections_accepted(), 3);
}

#[tokio::test]
async fn per_backend_pools_are_separate_even_for_the_same_authority() {
    let server = McpTestServer::start().await;
    let client = client(PoolPolicy::PerBackend);
    let alpha = Backend::new("alpha", server.url());
    let beta = Backend::new("beta", server.url());
    for _ in 0..2 {
        probe_ok(&client, &alpha).await;
        probe_ok(&client, &beta).await;
    }
    assert_eq!(client.connections_opened("alpha"), 1);
    assert_eq!(client.connections_opened("beta"), 1);
    assert_eq!(server.connections_accepted(), 2);
}

#[tokio::test]
async fn shared_pool_shares_connections_across_backends_and_attributes_the_opener() {
    let server = McpTestServer::start().await;
    let client = client(PoolPolicy::Shared);
    let alpha = Backend::new("alpha", server.url());
    let beta = Backend::new("beta", server.url());
    for _ in 0..2 {
        probe_ok(&client, &alpha).await;
        probe_ok(&client, &beta).await;
    }
    // hyper-util pools by authority: beta rides alpha's connection.
    assert_eq!(client.connections_opened("alpha"), 1);
    assert_eq!(client.connections_opened("beta"), 0);
    assert_eq!(client.total_connections_opened(), 1);
    assert_eq!(server.connections_accepted(), 1);
    let snapshot = client.counters().snapshot();
    assert_eq!(snapshot.keys().collect::<Vec<_>>(), ["alpha"]);
}

#[tokio::test]
async fn shared_pool_attributes_connections_per_authority_to_the_backend_that_caused_them() {
    let one = McpTestServer::start().await;
    let two = McpTestServer::start().await;
    let client = client(PoolPolicy::Shared);
    let alpha = Backend::new("alpha", one.url());
    let beta = Backend::new("beta", two.url());
    probe_ok(&client, &alpha).await;
    probe_ok(&client, &beta).await;
    probe_ok(&client, &alpha).await;
    assert_eq!(client.connections_opened("alpha"), 1);
    assert_eq!(client.connections_opened("beta"), 1);
}

#[tokio::test(start_paused = true)]
async fn per_backend_idle_connections_expire_on_tokio_time() {
    let server = McpTestServer::start().await;
    let client = client(PoolPolicy::PerBackend);
    let backend = Backend::new("alpha", server.url());
    probe_ok(&client, &backend).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    probe_ok(&client, &backend).await;
    assert_eq!(client.connections_opened("alpha"), 1, "4 s idle < 5 s");
    // Virtual time only: this expires the idle connection only because the pool uses TokioTimer.
    tokio::time::sleep(Duration::from_secs(6)).await;
    probe_ok(&client, &backend).await;
    assert_eq!(client.connections_opened("alpha"), 2, "6 s idle > 5 s");
}

#[tokio::test(start_paused = true)]
async fn shared_pool_keeps_idle_connections_for_90_seconds() {
    let server = McpTestServer::start().await;
    let client = client(PoolPolicy::Shared);
    let backend = Backend::new("alpha", server.url());
    probe_ok(&client, &backend).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    probe_ok(&client, &backend).await;
    assert_eq!(client.connections_opened("alpha"), 1);
    tokio::time::sleep(Duration::from_secs(91)).await;
    probe_ok(&client, &backend).await;
    assert_eq!(client.connections_opened("alpha"), 2);
}
