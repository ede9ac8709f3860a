//! Shared helpers for the client integration tests.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "integration-test helpers: the test binary is its own crate, so `pub` here means \"for the test files\"; not every test file uses every helper"
)]

pub mod mcp_server;
pub mod tls;
