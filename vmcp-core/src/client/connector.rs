//! The connector seam: any `tower_service::Service<Uri>` that yields a hyper-compatible stream,
//! wrapped to enforce `connect_timeout` and to count connections per backend.
//!
//! Production passes hyper-util's `HttpConnector`; the simulation passes a turmoil connector
//! (DESIGN §3.1). Counting lives here, below the pool, because only the connector sees a *new*
//! connection: a request served from a pooled keep-alive connection never reaches it. That count
//! is what scenarios assert on ("a replaced pod gets fresh connections").
//!
//! **Attribution.** A pool may be shared by several backends (`PoolPolicy::Shared`), and hyper-util
//! pools by scheme + authority, so neither the URI nor the connector instance tells which backend
//! caused a connect. The probe therefore runs inside a task-local scope naming its backend
//! ([`attribute_to`]); hyper-util invokes the connector synchronously from the polling of the
//! request future (its lazy connect is first polled inside `Client::request`), so the connect is
//! attributed to the backend whose request triggered it. A connect started outside any scope is
//! counted under [`UNATTRIBUTED`].

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, Write};
use hyper_util::client::legacy::connect::Connection;
use tower_service::Service;

/// A boxed, thread-safe error (what hyper-util's connector contract expects).
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// Everything the client needs from a connector. Blanket-implemented: pass any
/// `Service<Uri>` whose response is a hyper `Read + Write` stream implementing hyper-util's
/// `Connection` (production: `HttpConnector`; the simulation: a turmoil stream newtype).
pub trait BackendConnector:
    Service<
        Uri,
        Response: Read + Write + Connection + Unpin + Send + 'static,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> BackendConnector for T
where
    T: Service<Uri> + Clone + Send + Sync + 'static,
    T::Response: Read + Write + Connection + Unpin + Send + 'static,
    T::Error: Into<BoxError>,
    T::Future: Send + 'static,
{
}

/// The counter key for connects started outside any [`attribute_to`] scope.
pub const UNATTRIBUTED: &str = "<unattributed>";

tokio::task_local! {
    static CURRENT_BACKEND: Arc<str>;
}

/// Run `fut` with every connect it triggers attributed to `backend`.
pub(crate) async fn attribute_to<F: Future>(backend: Arc<str>, fut: F) -> F::Output {
    CURRENT_BACKEND.scope(backend, fut).await
}

/// The connect did not complete within `connect_timeout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("connect timed out after {}", humantime::format_duration(*.0))]
pub struct ConnectTimeout(pub Duration);

/// Per-backend connection statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// Connects started (the connector was called).
    pub attempted: u64,
    /// Connects that produced a stream: new TCP connections.
    pub opened: u64,
}

/// Shared, cloneable counters of connections opened per backend. Clones see the same numbers,
/// so the simulation and benchmarks can keep a handle while the client moves into the monitor.
#[derive(Clone, Default)]
pub struct ConnectionCounters {
    inner: Arc<Mutex<BTreeMap<Arc<str>, ConnectionStats>>>,
}

impl ConnectionCounters {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<Arc<str>, ConnectionStats>> {
        // A poisoned lock only means another thread panicked while counting; the counts are
        // plain integers and stay meaningful.
        crate::sync::lock(&self.inner)
    }

    fn record(&self, backend: &Arc<str>, f: impl FnOnce(&mut ConnectionStats)) {
        let mut map = self.lock();
        f(map.entry(Arc::clone(backend)).or_default());
    }

    /// New connections opened on behalf of `backend` so far.
    pub fn opened(&self, backend: &str) -> u64 {
        self.lock().get(backend).map_or(0, |s| s.opened)
    }

    /// Connects started on behalf of `backend` (including failed and timed-out ones).
    pub fn attempted(&self, backend: &str) -> u64 {
        self.lock().get(backend).map_or(0, |s| s.attempted)
    }

    /// New connections opened for all backends (and unattributed ones).
    pub fn total_opened(&self) -> u64 {
        self.lock().values().map(|s| s.opened).sum()
    }

    /// Every backend's statistics, ordered by name.
    pub fn snapshot(&self) -> BTreeMap<String, ConnectionStats> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect()
    }
}

impl fmt::Debug for ConnectionCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.snapshot()).finish()
    }
}

/// Wraps a connector: bounds each connect by `connect_timeout` and counts it for the backend in
/// whose [`attribute_to`] scope it was started.
#[derive(Clone)]
pub struct CountingConnector<C> {
    inner: C,
    counters: ConnectionCounters,
    connect_timeout: Duration,
}

impl<C> CountingConnector<C> {
    /// Wrap `inner`.
    pub fn new(inner: C, counters: ConnectionCounters, connect_timeout: Duration) -> Self {
        Self {
            inner,
            counters,
            connect_timeout,
        }
    }
}

impl<C> fmt::Debug for CountingConnector<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingConnector")
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// The future of a counted connect.
pub(crate) type CountingFuture<T> = Pin<Box<dyn Future<Output = Result<T, BoxError>> + Send>>;

impl<C: BackendConnector> Service<Uri> for CountingConnector<C> {
    type Response = C::Response;
    type Error = BoxError;
    type Future = CountingFuture<C::Response>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let backend: Arc<str> = CURRENT_BACKEND
            .try_with(Arc::clone)
            .unwrap_or_else(|_| Arc::from(UNATTRIBUTED));
        let counters = self.counters.clone();
        let timeout = self.connect_timeout;
        counters.record(&backend, |s| s.attempted += 1);
        let connecting = self.inner.call(dst);
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(Ok(stream)) => {
                    counters.record(&backend, |s| s.opened += 1);
                    Ok(stream)
                }
                Ok(Err(err)) => Err(err.into()),
                Err(_elapsed) => Err(Box::new(ConnectTimeout(timeout)) as BoxError),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper_util::rt::TokioIo;
    use tokio::net::{TcpListener, TcpStream};

    type Connecting = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<TcpStream>>> + Send>>;

    /// Connects to a fixed local address, refuses (an error at once), or never completes; or is
    /// not ready to connect (busy: pending; broken: an error).
    #[derive(Clone)]
    enum Fake {
        To(std::net::SocketAddr),
        Refuse,
        Hang,
        Busy,
        Broken,
    }

    impl Service<Uri> for Fake {
        type Response = TokioIo<TcpStream>;
        type Error = std::io::Error;
        type Future = Connecting;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            match self {
                Fake::Busy => Poll::Pending,
                Fake::Broken => Poll::Ready(Err(std::io::Error::other("no capacity"))),
                _ => Poll::Ready(Ok(())),
            }
        }

        fn call(&mut self, _dst: Uri) -> Self::Future {
            match self.clone() {
                Fake::To(addr) => {
                    Box::pin(async move { TcpStream::connect(addr).await.map(TokioIo::new) })
                }
                Fake::Refuse => Box::pin(async {
                    Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionRefused,
                        "refused",
                    ))
                }),
                Fake::Hang | Fake::Busy | Fake::Broken => Box::pin(std::future::pending()),
            }
        }
    }

    /// The connector is called inside the scope, as hyper-util calls it from the polled request.
    fn uri() -> Uri {
        Uri::from_static("http://backend:8080/mcp")
    }

    #[tokio::test]
    async fn connects_are_counted_per_attributed_backend() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counters = ConnectionCounters::default();
        let mut ok =
            CountingConnector::new(Fake::To(addr), counters.clone(), Duration::from_secs(5));
        let mut refused =
            CountingConnector::new(Fake::Refuse, counters.clone(), Duration::from_secs(5));
        let a: Arc<str> = Arc::from("a");
        let b: Arc<str> = Arc::from("b");
        for _ in 0..2 {
            attribute_to(Arc::clone(&a), async { ok.call(uri()).await })
                .await
                .unwrap();
        }
        attribute_to(Arc::clone(&b), async { ok.call(uri()).await })
            .await
            .unwrap();
        let err = attribute_to(Arc::clone(&b), async { refused.call(uri()).await })
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "refused");
        // Outside any scope: counted apart.
        ok.call(uri()).await.unwrap();
        refused.call(uri()).await.unwrap_err();

        assert_eq!((counters.attempted("a"), counters.opened("a")), (2, 2));
        assert_eq!((counters.attempted("b"), counters.opened("b")), (2, 1));
        assert_eq!(
            (
                counters.attempted(UNATTRIBUTED),
                counters.opened(UNATTRIBUTED)
            ),
            (2, 1)
        );
        assert_eq!((counters.attempted("c"), counters.opened("c")), (0, 0));
        assert_eq!(counters.total_opened(), 4);
        let stats = |attempted, opened| ConnectionStats { attempted, opened };
        let expected: BTreeMap<String, ConnectionStats> = [
            (UNATTRIBUTED.to_string(), stats(2, 1)),
            ("a".to_string(), stats(2, 2)),
            ("b".to_string(), stats(2, 1)),
        ]
        .into_iter()
        .collect();
        assert_eq!(counters.snapshot(), expected);
        assert_eq!(
            format!("{counters:?}"),
            "{\"<unattributed>\": ConnectionStats { attempted: 2, opened: 1 }, \
             \"a\": ConnectionStats { attempted: 2, opened: 2 }, \
             \"b\": ConnectionStats { attempted: 2, opened: 1 }}"
        );
        // A clone shares the numbers.
        assert_eq!(counters.clone().opened("a"), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connect_past_the_timeout_fails_and_counts_as_attempted_only() {
        let counters = ConnectionCounters::default();
        let mut hang =
            CountingConnector::new(Fake::Hang, counters.clone(), Duration::from_millis(250));
        let started = crate::clock::monotonic_now();
        let err = attribute_to(Arc::from("a"), async { hang.call(uri()).await })
            .await
            .unwrap_err();
        assert_eq!(started.elapsed(), Duration::from_millis(250));
        let timeout = err
            .downcast_ref::<ConnectTimeout>()
            .expect("a ConnectTimeout");
        assert_eq!(*timeout, ConnectTimeout(Duration::from_millis(250)));
        assert_eq!(err.to_string(), "connect timed out after 250ms");
        assert_eq!((counters.attempted("a"), counters.opened("a")), (1, 0));
        assert_eq!(
            format!("{hang:?}"),
            "CountingConnector { connect_timeout: 250ms, .. }"
        );
    }

    /// Readiness is the wrapped connector's: a busy one keeps hyper-util waiting, a broken one's
    /// error reaches it (a user's connector may do either; the crate's own are always ready).
    #[test]
    fn readiness_is_the_inner_connectors() {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let counters = ConnectionCounters::default();
        let timeout = Duration::from_secs(5);
        let mut busy = CountingConnector::new(Fake::Busy, counters.clone(), timeout);
        assert!(busy.poll_ready(&mut cx).is_pending());
        let mut broken = CountingConnector::new(Fake::Broken, counters.clone(), timeout);
        match broken.poll_ready(&mut cx) {
            Poll::Ready(Err(err)) => assert_eq!(err.to_string(), "no capacity"),
            other => panic!("expected the inner error, got {other:?}"),
        }
        let mut ready = CountingConnector::new(Fake::Refuse, counters, timeout);
        assert!(matches!(ready.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    }
}
