//! Connection pool policies (DESIGN §3.3, "Pool policies"): which hyper-util `Client` — and so
//! which keep-alive pool — a probe uses, and when that pool is thrown away.
//!
//! hyper-util pools by scheme + authority. After a Kubernetes pod replacement the service name
//! stays the same, so a pooled keep-alive connection still leads to the *old* pod. Dropping the
//! `Client` (its last clone) drops its pool and closes the idle connections: that is the only
//! flush hyper-util offers, and what `PerBackend` does on a failed probe and an endpoint change.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::client::connector::{BackendConnector, ConnectionCounters, CountingConnector};
use crate::config::PoolPolicy;

/// The hyper-util client type the probes use.
pub(super) type HttpClient<C> = Client<CountingConnector<C>, Full<Bytes>>;

/// Idle timeout of a `PerBackend` pool: short, so a connection to a replaced pod does not
/// outlive a probe interval for long even when no probe fails.
pub(super) const PER_BACKEND_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Idle timeout of the `Shared` pool, as in the pre-fix upstream code (Go's default transport).
pub(super) const SHARED_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Idle timeout of a `PerProbe` pool; irrelevant in practice, the pool dies with the probe.
pub(super) const PER_PROBE_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Build one hyper-util client. Always with `pool_timer(TokioTimer)`: without it, idle expiry
/// reads the real clock and breaks both paused-time tests and the simulation (DESIGN §3.1).
pub(super) fn build_client<C: BackendConnector>(
    connector: CountingConnector<C>,
    idle_timeout: Duration,
) -> HttpClient<C> {
    Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new())
        .pool_idle_timeout(idle_timeout)
        .build(connector)
}

/// A client handed to one probe, with the identity needed to flush exactly that pool later.
pub(crate) struct Lease<C> {
    /// The client to send the probe's requests with.
    pub client: HttpClient<C>,
    /// Identifies the pool the client belongs to (`PerBackend` only), so a late failure of an old
    /// probe never flushes a newer pool.
    pool_id: Option<u64>,
}

struct BackendPool<C> {
    id: u64,
    client: HttpClient<C>,
}

enum Pools<C> {
    PerBackend {
        pools: BTreeMap<String, BackendPool<C>>,
        next_id: u64,
    },
    PerProbe,
    Shared(HttpClient<C>),
}

/// Hands out clients according to the pool policy.
pub(super) struct PoolManager<C> {
    policy: PoolPolicy,
    connector: CountingConnector<C>,
    pools: Mutex<Pools<C>>,
}

impl<C: BackendConnector> PoolManager<C> {
    /// A manager for `policy` over `connector`, counting into `counters`.
    pub(super) fn new(
        policy: PoolPolicy,
        connector: C,
        counters: ConnectionCounters,
        connect_timeout: Duration,
    ) -> Self {
        let connector = CountingConnector::new(connector, counters, connect_timeout);
        let pools = match policy {
            PoolPolicy::PerBackend => Pools::PerBackend {
                pools: BTreeMap::new(),
                next_id: 0,
            },
            PoolPolicy::PerProbe => Pools::PerProbe,
            PoolPolicy::Shared => {
                Pools::Shared(build_client(connector.clone(), SHARED_IDLE_TIMEOUT))
            }
        };
        Self {
            policy,
            connector,
            pools: Mutex::new(pools),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pools<C>> {
        // Pool bookkeeping is a map of clients; after a panic elsewhere it is still consistent.
        crate::sync::lock(&self.pools)
    }

    /// The client for one probe of `backend`.
    pub(super) fn lease(&self, backend: &str) -> Lease<C> {
        let mut pools = self.lock();
        match &mut *pools {
            Pools::PerBackend { pools, next_id } => {
                // Looked up first: the key is allocated only when the pool is created, not on
                // every call of the front end.
                if let Some(pool) = pools.get(backend) {
                    return Lease {
                        client: pool.client.clone(),
                        pool_id: Some(pool.id),
                    };
                }
                let pool = pools.entry(backend.to_owned()).or_insert_with(|| {
                    let id = *next_id;
                    *next_id += 1;
                    BackendPool {
                        id,
                        client: build_client(self.connector.clone(), PER_BACKEND_IDLE_TIMEOUT),
                    }
                });
                Lease {
                    client: pool.client.clone(),
                    pool_id: Some(pool.id),
                }
            }
            Pools::PerProbe => Lease {
                client: build_client(self.connector.clone(), PER_PROBE_IDLE_TIMEOUT),
                pool_id: None,
            },
            Pools::Shared(client) => Lease {
                client: client.clone(),
                pool_id: None,
            },
        }
    }

    /// A probe with `lease` failed: under `PerBackend`, drop that pool (if it is still the
    /// current one) so the next probe opens a fresh connection. Other policies: nothing.
    pub(super) fn probe_failed(&self, backend: &str, lease: Lease<C>) {
        let Some(pool_id) = lease.pool_id else {
            return;
        };
        drop(lease.client);
        let removed = {
            let mut pools = self.lock();
            match &mut *pools {
                Pools::PerBackend { pools, .. } => {
                    if pools.get(backend).is_some_and(|p| p.id == pool_id) {
                        pools.remove(backend)
                    } else {
                        None
                    }
                }
                Pools::PerProbe | Pools::Shared(_) => None,
            }
        };
        // Dropped outside the lock: dropping a client drops its idle connections.
        drop(removed);
    }

    /// Drop everything held for `backend` (`PerBackend`; the shared pool is never flushed).
    pub(super) fn flush(&self, backend: &str) {
        let removed = {
            let mut pools = self.lock();
            match &mut *pools {
                Pools::PerBackend { pools, .. } => pools.remove(backend),
                Pools::PerProbe | Pools::Shared(_) => None,
            }
        };
        drop(removed);
    }
}

impl<C> fmt::Debug for PoolManager<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolManager")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}
