//! The time-stamped log of every request pods receive (when a run asks for it), so expectations
//! can count requests per pod and method inside a window ("zero requests while the circuit is
//! open") and the trace can show which backend sessions the front end opened.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::service::lock;

/// One request as a pod received it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRequestRecord {
    /// Simulated time of arrival (before the pod's jitter).
    pub at: Duration,
    /// The pod host.
    pub pod: String,
    /// JSON-RPC method for `POST`, HTTP method otherwise (as [`super::PodStats::requests`]).
    pub method: String,
    /// The request carried the credentials the pod requires (always true without a
    /// requirement).
    pub authorized: bool,
    /// For the first `tools/call` of a pod session: when that session was initialized. A
    /// probe never calls a tool, so such a session is a backend session the front end opened.
    pub first_call_of_session: Option<Duration>,
}

/// A shared, append-only request log. Cheap to clone; clones share the records.
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    records: Arc<Mutex<Vec<PodRequestRecord>>>,
}

impl RequestLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&self, record: PodRequestRecord) {
        lock(&self.records).push(record);
    }

    /// Every record so far, in arrival order.
    pub fn records(&self) -> Vec<PodRequestRecord> {
        lock(&self.records).clone()
    }
}
