//! Shared helpers for the client integration tests.
#![allow(dead_code)]

pub mod mcp_server;
