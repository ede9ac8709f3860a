//! The simulated network seam: a hyper-util connector over turmoil TCP (DESIGN §3.1).
//!
//! `vmcp-core`'s client is generic over a `tower_service::Service<Uri>` connector. In production it
//! gets hyper-util's `HttpConnector`; inside the simulation it gets [`TurmoilConnector`], which
//! opens `turmoil::net::TcpStream`s and resolves backend service names through the shared
//! [`ServiceRoutes`] at connect time. Because hyper-util pools connections by scheme + authority
//! (the *service* name), a pooled connection opened before a pod replacement keeps reaching the old
//! pod — exactly the upstream bug the simulation must be able to reproduce.
//!
//! ```
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::{TokioExecutor, TokioTimer};
//!
//! let world = vmcp_sim::World::new(vmcp_sim::WorldConfig::default());
//! // Build inside the `vmcp` host's software; requests must run inside the simulation.
//! let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
//!     .pool_timer(TokioTimer::new())
//!     .build(world.connector());
//! ```

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use tower_service::Service;

use crate::service::{ConnectOutcome, ConnectionLog, Resolution, ServiceRoutes};
use crate::teardown::{OrderedStream, Teardown};

/// Why the simulated connector could not open a connection.
///
/// Every variant is returned promptly except a connect to a crashed or held host, which turmoil
/// neither delivers nor refuses: that connect hangs until the caller's timeout fires.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URI has no host to connect to.
    #[error("uri `{uri}` has no host")]
    MissingHost {
        /// The offending URI.
        uri: String,
    },
    /// Only plain `http` is simulated (no TLS inside the simulation).
    #[error("unsupported scheme `{scheme}` (the simulated network only speaks http)")]
    UnsupportedScheme {
        /// The scheme found in the URI.
        scheme: String,
    },
    /// The connector was used outside a turmoil host, where no simulated network exists.
    #[error("the turmoil connector was used outside a turmoil simulation host")]
    NotInSimulation,
    /// The service exists but has no ready pod, like a Kubernetes Service without endpoints
    /// (kube-proxy rejects the connect at once).
    #[error("connection refused: service `{service}` has no ready endpoints")]
    NoEndpoints {
        /// The service (backend) name.
        service: String,
    },
    /// The TCP connect itself failed (refused because nothing listens, unknown host, ...).
    #[error("connect to `{pod}` for `{service}` failed: {}: {source}", source.kind())]
    Io {
        /// The host name in the URI.
        service: String,
        /// The host the connect was sent to.
        pod: String,
        /// The turmoil I/O error (`ConnectionRefused`, `NotFound`, ...).
        #[source]
        source: io::Error,
    },
}

impl ConnectError {
    /// The I/O error kind this failure corresponds to, for typed classification: a service with no
    /// endpoints is a refused connect; a connector misuse has none.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            Self::NoEndpoints { .. } => Some(io::ErrorKind::ConnectionRefused),
            Self::Io { source, .. } => Some(source.kind()),
            Self::MissingHost { .. } | Self::UnsupportedScheme { .. } | Self::NotInSimulation => {
                None
            }
        }
    }
}

/// Which pod a connection reached; attached to every connection as hyper-util `Connected` extra
/// data, so a response's extensions tell the caller (and the trace) which pod served it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedBy {
    /// The host name in the URI (usually the backend's service name).
    pub service: String,
    /// The pod host the connection is bound to for its whole life.
    pub pod: String,
    /// The connection's `seq` in the [`ConnectionLog`].
    pub connection: u64,
}

/// A hyper-util connector that opens turmoil TCP connections, resolving service names at connect
/// time.
///
/// Cheap to clone; clones share the routing table and the connection log. Must be *used* inside a
/// turmoil host (it is created anywhere).
#[derive(Clone, Debug)]
pub struct TurmoilConnector {
    routes: ServiceRoutes,
    log: ConnectionLog,
    /// Numbers the streams it opens, so a crash of the host using it closes them in a fixed
    /// order ([`crate::teardown`]).
    teardown: Teardown,
}

impl TurmoilConnector {
    /// A connector resolving through `routes` and recording into `log`.
    pub fn new(routes: ServiceRoutes, log: ConnectionLog) -> Self {
        Self {
            routes,
            log,
            teardown: Teardown::new(),
        }
    }

    /// The same connector registering its streams with the world's teardown register.
    pub(crate) fn with_teardown(mut self, teardown: Teardown) -> Self {
        self.teardown = teardown;
        self
    }

    /// The connection log this connector records into.
    pub fn log(&self) -> &ConnectionLog {
        &self.log
    }

    async fn connect(self, uri: Uri) -> Result<TurmoilStream, ConnectError> {
        let scheme = uri.scheme_str().unwrap_or("http");
        if scheme != "http" {
            return Err(ConnectError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
        let Some(host) = uri.host() else {
            return Err(ConnectError::MissingHost {
                uri: uri.to_string(),
            });
        };
        if !turmoil::in_simulation() {
            return Err(ConnectError::NotInSimulation);
        }
        let port = uri.port_u16().unwrap_or(80);
        let pod = match self.routes.resolve(host) {
            Resolution::Pod(pod) => pod,
            Resolution::Direct => host.to_owned(),
            Resolution::NoEndpoints => {
                let _ = self
                    .log
                    .record(now(), host, None, port, ConnectOutcome::NoEndpoints);
                return Err(ConnectError::NoEndpoints {
                    service: host.to_owned(),
                });
            }
        };
        let mut attempt = PendingAttempt {
            log: &self.log,
            started: now(),
            service: host,
            pod: &pod,
            port,
            armed: true,
        };
        // A pod inside a shared host is reached at its own port of that host.
        let result = match self.routes.placement(&pod) {
            Some((host, internal)) => {
                turmoil::net::TcpStream::connect((host.as_str(), internal)).await
            }
            None => turmoil::net::TcpStream::connect((pod.as_str(), port)).await,
        };
        attempt.armed = false;
        drop(attempt);
        match result {
            Ok(stream) => {
                let connection =
                    self.log
                        .record(now(), host, Some(&pod), port, ConnectOutcome::Opened);
                Ok(TurmoilStream {
                    io: TokioIo::new(self.teardown.track(stream)),
                    served_by: ServedBy {
                        service: host.to_owned(),
                        pod,
                        connection,
                    },
                })
            }
            Err(source) => {
                let _ = self.log.record(
                    now(),
                    host,
                    Some(&pod),
                    port,
                    ConnectOutcome::Failed(format!("{:?}", source.kind())),
                );
                Err(ConnectError::Io {
                    service: host.to_owned(),
                    pod,
                    source,
                })
            }
        }
    }
}

/// Records an [`ConnectOutcome::Abandoned`] attempt if the connect future is dropped before the
/// handshake ends (a connect to a crashed or held host never ends on its own).
struct PendingAttempt<'a> {
    log: &'a ConnectionLog,
    started: Duration,
    service: &'a str,
    pod: &'a str,
    port: u16,
    armed: bool,
}

impl Drop for PendingAttempt<'_> {
    fn drop(&mut self) {
        if self.armed {
            // Stamped with the start time: no clock is read on the drop path, which may run while
            // a crashed host's runtime is torn down.
            let _ = self.log.record(
                self.started,
                self.service,
                Some(self.pod),
                self.port,
                ConnectOutcome::Abandoned,
            );
        }
    }
}

/// Simulated time since the simulation started, as seen by the current host.
fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or(Duration::ZERO)
}

impl Service<Uri> for TurmoilConnector {
    type Response = TurmoilStream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TurmoilStream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

/// A turmoil TCP connection usable by hyper: implements hyper's `Read`/`Write` and hyper-util's
/// `Connection` (which a foreign `TokioIo<TcpStream>` cannot, hence the newtype).
#[derive(Debug)]
pub struct TurmoilStream {
    io: TokioIo<OrderedStream>,
    served_by: ServedBy,
}

impl TurmoilStream {
    /// A connection opened directly to a host (no service resolution, not logged): what the
    /// simulated MCP clients use to reach the `vmcp` host.
    pub(crate) fn direct(stream: OrderedStream, host: &str) -> Self {
        Self {
            io: TokioIo::new(stream),
            served_by: ServedBy {
                service: host.to_owned(),
                pod: host.to_owned(),
                connection: 0,
            },
        }
    }

    /// Which pod this connection is bound to.
    pub fn served_by(&self) -> &ServedBy {
        &self.served_by
    }
}

impl Connection for TurmoilStream {
    fn connected(&self) -> Connected {
        Connected::new().extra(self.served_by.clone())
    }
}

impl Read for TurmoilStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl Write for TurmoilStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
