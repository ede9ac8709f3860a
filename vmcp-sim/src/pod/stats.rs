//! Per-pod counters, so scenarios and tests can assert what reached which pod.

use std::collections::BTreeMap;

use serde::Serialize;

/// What one pod has seen, over all its incarnations.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PodStats {
    /// How many times the pod's software started (1 + restarts).
    pub starts: u64,
    /// TCP connections accepted.
    pub connections_accepted: u64,
    /// Requests received, keyed by JSON-RPC method for `POST` (`initialize`, `tools/list`, ...;
    /// `<invalid-json>` / `<response>` for bodies that are not a request or notification) and by
    /// HTTP method otherwise (`GET`, `DELETE`).
    pub requests: BTreeMap<String, u64>,
    /// Responses sent, keyed by HTTP status code.
    pub responses: BTreeMap<u16, u64>,
    /// Requests whose connection was closed without an answer (behaviour `Close`, or the process
    /// going down).
    pub closed_without_reply: u64,
    /// MCP sessions created by `initialize`.
    pub sessions_created: u64,
}

impl PodStats {
    /// Requests received with this method label (0 if none).
    pub fn requests_for(&self, method: &str) -> u64 {
        self.requests.get(method).copied().unwrap_or(0)
    }

    /// Total requests received.
    pub fn total_requests(&self) -> u64 {
        self.requests.values().sum()
    }

    /// Responses sent with this status (0 if none).
    pub fn responses_with(&self, status: u16) -> u64 {
        self.responses.get(&status).copied().unwrap_or(0)
    }
}
