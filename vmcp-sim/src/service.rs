//! Kubernetes-style services: which pod a *new* connection to a backend's name reaches, and the log
//! of every connection the simulated network opened.
//!
//! DESIGN §4.1 allows the ClusterIP service to be modelled as **connect-time resolution** inside the
//! simulated connector: when a connection is opened to `http://<backend>:<port>`, the service name is
//! looked up here and the connection goes to the pod that is current *at that moment*. Connections
//! that already exist are never re-routed (conntrack keeps them on their pod), which is what lets a
//! pooled keep-alive connection keep talking to a replaced pod — the upstream startup-race bug.
//!
//! Both tables are shared (`Arc<Mutex<..>>`) between the world, which mutates them between
//! simulation steps, and the connector, which reads them from inside the `vmcp` host. Everything is
//! single-threaded under turmoil, so the locks are never contended; they exist to make the types
//! `Send + Sync` as hyper-util's client requires of a connector.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;

/// Locks `m`, recovering the data if a panicking thread poisoned it.
///
/// A poisoned lock here only means a test panicked mid-update of a plain table; the table itself is
/// still consistent (every update is a single insert/push), so recovering is safe and avoids a
/// cascade of unrelated panics.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where a connection to a host name goes, as decided by [`ServiceRoutes::resolve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The name is a service whose current ready pod is this host.
    Pod(String),
    /// The name is a service with no ready pod: like a Service without endpoints, a connect is
    /// refused at once.
    NoEndpoints,
    /// The name is not a service; the connection goes to the host of that name directly.
    Direct,
}

/// The service routing table: service (backend) name → its current ready pod, if any.
///
/// Cheap to clone; all clones share one table.
#[derive(Clone, Debug, Default)]
pub struct ServiceRoutes {
    inner: Arc<Mutex<BTreeMap<String, Option<String>>>>,
    /// Pods that do not have a turmoil host of their own (see [`crate::shared_host`]): pod name →
    /// the host and port that actually serve it. A pod not listed is its own host.
    placed: Arc<Mutex<BTreeMap<String, (String, u16)>>>,
}

impl ServiceRoutes {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Points `service` at `pod` (or at no pod at all with `None`).
    ///
    /// Only connections opened afterwards are affected.
    pub fn set(&self, service: &str, pod: Option<&str>) {
        lock(&self.inner).insert(service.to_owned(), pod.map(str::to_owned));
    }

    /// Forgets `service`; its name then resolves [`Resolution::Direct`].
    pub fn remove(&self, service: &str) {
        lock(&self.inner).remove(service);
    }

    /// Where a new connection to `host` goes right now.
    pub fn resolve(&self, host: &str) -> Resolution {
        match lock(&self.inner).get(host) {
            Some(Some(pod)) => Resolution::Pod(pod.clone()),
            Some(None) => Resolution::NoEndpoints,
            None => Resolution::Direct,
        }
    }

    /// The current pod of `service`, if it is a service with a ready pod.
    pub fn current(&self, service: &str) -> Option<String> {
        lock(&self.inner).get(service).cloned().flatten()
    }

    /// Records that `pod` is served by `host` on `port` (a pod inside a shared host).
    pub fn place(&self, pod: &str, host: &str, port: u16) {
        lock(&self.placed).insert(pod.to_owned(), (host.to_owned(), port));
    }

    /// The turmoil host and port a connection to `pod` goes to, when `pod` is not a host of its
    /// own (`None`: connect to the host named `pod`, on the port of the URI).
    pub fn placement(&self, pod: &str) -> Option<(String, u16)> {
        lock(&self.placed).get(pod).cloned()
    }

    /// A copy of the whole table, sorted by service name.
    pub fn snapshot(&self) -> BTreeMap<String, Option<String>> {
        lock(&self.inner).clone()
    }
}

/// How a connection attempt through the simulated connector ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum ConnectOutcome {
    /// The TCP handshake completed; the connection is open.
    Opened,
    /// The service had no ready pod; nothing was sent on the network.
    NoEndpoints,
    /// The connect failed (refused, unknown host, ...). Holds the `std::io::ErrorKind` name, which
    /// is stable across runs, unlike addresses or ports.
    Failed(String),
    /// The caller gave up (dropped the connect: a timeout, or its host crashed) before the
    /// handshake ended, as happens when connecting to a crashed or held host. The record's `at`
    /// is when the attempt *started*.
    Abandoned,
}

/// One connection attempt, as recorded for the trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionRecord {
    /// Position in the log (0-based), so records can be referred to.
    pub seq: u64,
    /// Simulated time since the start of the simulation when the attempt *ended* (for `Opened`:
    /// when the handshake completed; for `Abandoned`: when it started).
    #[serde(rename = "at_ms", serialize_with = "serialize_millis")]
    pub at: Duration,
    /// The host name in the URI (the backend's service name, or a plain host name).
    pub service: String,
    /// The pod host the connection went to; `None` when the service had no ready pod.
    pub pod: Option<String>,
    /// The destination port.
    pub port: u16,
    /// How the attempt ended.
    pub outcome: ConnectOutcome,
}

fn serialize_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u128(d.as_millis())
}

/// The shared, append-only log of connection attempts, in the order they ended.
///
/// Cheap to clone; all clones share one log.
#[derive(Clone, Debug, Default)]
pub struct ConnectionLog {
    inner: Arc<Mutex<Vec<ConnectionRecord>>>,
}

impl ConnectionLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a record, numbering it; returns its `seq`.
    pub(crate) fn record(
        &self,
        at: Duration,
        service: &str,
        pod: Option<&str>,
        port: u16,
        outcome: ConnectOutcome,
    ) -> u64 {
        let mut log = lock(&self.inner);
        let seq = u64::try_from(log.len()).unwrap_or(u64::MAX);
        log.push(ConnectionRecord {
            seq,
            at,
            service: service.to_owned(),
            pod: pod.map(str::to_owned),
            port,
            outcome,
        });
        seq
    }

    /// Puts the records from position `start` on in a fixed order (time, then content) and
    /// renumbers them: records written while a crashed host's tasks were dropped (abandoned
    /// connects) arrive in tokio's drop order, which the seed does not decide.
    pub(crate) fn order_from(&self, start: usize) {
        let mut log = lock(&self.inner);
        let Some(tail) = log.get_mut(start..) else {
            return;
        };
        if tail.len() < 2 {
            return;
        }
        tail.sort_by(|a, b| {
            (a.at, &a.service, &a.pod, a.port, format!("{:?}", a.outcome)).cmp(&(
                b.at,
                &b.service,
                &b.pod,
                b.port,
                format!("{:?}", b.outcome),
            ))
        });
        for (offset, record) in log.iter_mut().enumerate().skip(start) {
            record.seq = u64::try_from(offset).unwrap_or(u64::MAX);
        }
    }

    /// A copy of every record so far.
    pub fn records(&self) -> Vec<ConnectionRecord> {
        lock(&self.inner).clone()
    }

    /// How many connections were opened to `pod`.
    pub fn opened_to(&self, pod: &str) -> usize {
        lock(&self.inner)
            .iter()
            .filter(|r| r.outcome == ConnectOutcome::Opened && r.pod.as_deref() == Some(pod))
            .count()
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_follows_the_table() {
        let routes = ServiceRoutes::new();
        assert_eq!(routes.resolve("github"), Resolution::Direct);
        routes.set("github", Some("github-pod-1"));
        assert_eq!(
            routes.resolve("github"),
            Resolution::Pod("github-pod-1".into())
        );
        routes.set("github", None);
        assert_eq!(routes.resolve("github"), Resolution::NoEndpoints);
        assert_eq!(routes.current("github"), None);
        routes.remove("github");
        assert_eq!(routes.resolve("github"), Resolution::Direct);
    }

    #[test]
    fn log_numbers_records_and_serialises_millis() {
        let log = ConnectionLog::new();
        log.record(
            Duration::from_millis(12),
            "a",
            Some("a-pod-1"),
            8080,
            ConnectOutcome::Opened,
        );
        log.record(
            Duration::from_millis(40),
            "a",
            None,
            8080,
            ConnectOutcome::NoEndpoints,
        );
        let recs = log.records();
        assert_eq!(recs[1].seq, 1);
        assert_eq!(log.opened_to("a-pod-1"), 1);
        let json = serde_json::to_value(&recs[0]).unwrap();
        assert_eq!(json["at_ms"], 12);
        assert_eq!(json["outcome"]["kind"], "opened");
    }
}
