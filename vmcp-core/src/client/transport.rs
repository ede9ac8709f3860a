//! Typed classification of transport errors (hyper, hyper-util, the connector, rustls, I/O) into
//! [`BackendError`]s. Decided by types and error kinds, never by message text: the text of these
//! errors is only used, redacted, as a detail. A rustls error anywhere in the chain (a refused
//! certificate, a failed handshake, a TLS alert later on) is [`BackendError::Tls`], checked
//! first: the I/O error that carries it would otherwise read as a generic failure.

use std::error::Error as StdError;

use crate::client::connector::ConnectTimeout;
use crate::error::{
    BackendError, ProbeStep, UnavailableCause, sanitize, unavailable_cause_from_io,
};

/// Classify an error from `Client::request` (connect, send, or receiving the response head).
pub(crate) fn classify_request_error(
    step: ProbeStep,
    err: &hyper_util::client::legacy::Error,
) -> BackendError {
    if let Some(tls) = tls_error(step, err) {
        return tls;
    }
    if err.is_connect() {
        return BackendError::Unavailable {
            step,
            cause: connect_cause(err),
        };
    }
    classify_chain(step, err)
}

/// Classify an error while reading a response body.
pub(crate) fn classify_body_error(step: ProbeStep, err: &hyper::Error) -> BackendError {
    if let Some(tls) = tls_error(step, err) {
        return tls;
    }
    classify_chain(step, err)
}

/// A TLS failure anywhere in `err`'s chain (only a build with the `tls` feature has any).
#[cfg(feature = "tls")]
fn tls_error(step: ProbeStep, err: &(dyn StdError + 'static)) -> Option<BackendError> {
    crate::client::tls::failure_in(err).map(|failure| BackendError::Tls { step, failure })
}

/// A TLS failure anywhere in `err`'s chain (only a build with the `tls` feature has any).
#[cfg(not(feature = "tls"))]
fn tls_error(_step: ProbeStep, _err: &(dyn StdError + 'static)) -> Option<BackendError> {
    None
}

fn connect_cause(err: &(dyn StdError + 'static)) -> UnavailableCause {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(timeout) = e.downcast_ref::<ConnectTimeout>() {
            return UnavailableCause::ConnectTimeout(timeout.0);
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(cause) = unavailable_cause_from_io(io) {
                // EOF while connecting still means the connection failed.
                return match cause {
                    UnavailableCause::ClosedEarly => UnavailableCause::ConnectionReset,
                    other => other,
                };
            }
        }
        current = e.source();
    }
    UnavailableCause::ConnectFailed(sanitize(&innermost_message(err)))
}

/// Walk the chain: hyper's kinds first (`is_parse` covers every parse error), then I/O kinds.
fn classify_chain(step: ProbeStep, err: &(dyn StdError + 'static)) -> BackendError {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_parse() {
                return BackendError::protocol(step, format!("malformed HTTP response: {h}"));
            }
            if h.is_incomplete_message() || h.is_canceled() || h.is_closed() {
                // hyper reports a connection that closed under us as canceled/closed/incomplete;
                // look one level deeper for a reset, which is a connection-level failure.
                if let Some(cause) = io_cause(h) {
                    return BackendError::Unavailable { step, cause };
                }
                return BackendError::Unavailable {
                    step,
                    cause: UnavailableCause::ClosedEarly,
                };
            }
            if h.is_timeout() {
                // hyper's own read timeouts are not configured; treat like a dead connection.
                return BackendError::Unavailable {
                    step,
                    cause: UnavailableCause::ClosedEarly,
                };
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(cause) = unavailable_cause_from_io(io) {
                return BackendError::Unavailable { step, cause };
            }
        }
        current = e.source();
    }
    // Nothing typed: a failure below HTTP we cannot name more precisely.
    BackendError::Unavailable {
        step,
        cause: UnavailableCause::Transport(sanitize(&innermost_message(err))),
    }
}

fn io_cause(err: &(dyn StdError + 'static)) -> Option<UnavailableCause> {
    let mut current = err.source();
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return unavailable_cause_from_io(io);
        }
        current = e.source();
    }
    None
}

fn innermost_message(err: &(dyn StdError + 'static)) -> String {
    let mut current: &(dyn StdError + 'static) = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::{Connect, HttpConnector};
    use hyper_util::rt::TokioExecutor;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const STEP: ProbeStep = ProbeStep::ListTools;

    /// A server that reads the first request head (or, for TLS, the first flight) on one
    /// connection, answers `reply` (raw bytes) and closes the connection.
    async fn serve_once(reply: &'static [u8], whole_head: bool) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut seen = Vec::new();
            let mut buf = [0; 4096];
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
                if n == 0 || !whole_head || seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            stream.write_all(reply).await.unwrap();
            stream.shutdown().await.unwrap();
        });
        addr
    }

    async fn get<C: Connect + Clone + Send + Sync + 'static>(
        connector: C,
        uri: String,
    ) -> Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error> {
        let client: Client<C, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
        let request = http::Request::get(uri).body(Full::default()).unwrap();
        client.request(request).await
    }

    /// A response head hyper cannot parse (a header line without a colon) is a protocol error,
    /// not a transport failure.
    #[tokio::test]
    async fn an_unparsable_response_head_is_a_protocol_error() {
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", true).await;
        let err = get(HttpConnector::new(), format!("http://{addr}/mcp"))
            .await
            .unwrap_err();
        let classified = classify_request_error(STEP, &err);
        assert!(
            matches!(&classified, BackendError::Protocol { step: STEP, detail }
                if detail.starts_with("malformed HTTP response: ")),
            "{classified:?}"
        );
    }

    /// A body cut short by the server closing the connection (hyper: a body error over an
    /// unexpected EOF) is a connection that closed early.
    #[tokio::test]
    async fn a_body_cut_short_is_a_connection_closed_early() {
        let addr = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc", true).await;
        let response = get(HttpConnector::new(), format!("http://{addr}/mcp"))
            .await
            .expect("the head is complete");
        let mut body = response.into_body();
        let err = loop {
            match body.frame().await {
                Some(Ok(_)) => continue,
                Some(Err(err)) => break err,
                None => panic!("the body ended without an error"),
            }
        };
        assert!(
            err.source().is_some_and(|e| e.is::<std::io::Error>()),
            "{err:?}"
        );
        assert_eq!(
            classify_body_error(STEP, &err),
            BackendError::Unavailable {
                step: STEP,
                cause: UnavailableCause::ClosedEarly
            }
        );
    }

    /// A server that closes the connection without answering (hyper: incomplete message): the
    /// request fails as a connection that closed early.
    #[tokio::test]
    async fn no_answer_at_all_is_a_connection_closed_early() {
        let addr = serve_once(b"", true).await;
        let err = get(HttpConnector::new(), format!("http://{addr}/mcp"))
            .await
            .unwrap_err();
        let hyper_err = err
            .source()
            .and_then(|e| e.downcast_ref::<hyper::Error>())
            .expect("a hyper error under the client's");
        assert!(hyper_err.is_incomplete_message(), "{hyper_err:?}");
        assert_eq!(
            classify_request_error(STEP, &err),
            BackendError::Unavailable {
                step: STEP,
                cause: UnavailableCause::ClosedEarly
            }
        );
    }

    /// An `https://` backend that answers in plain HTTP fails the TLS handshake: a TLS error,
    /// found inside the connect error, not a connect failure.
    #[cfg(feature = "tls")]
    #[tokio::test]
    async fn a_peer_that_does_not_speak_tls_is_a_tls_error() {
        let addr = serve_once(
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
            false,
        )
        .await;
        let config = crate::client::tls::client_config(&crate::config::TlsSettings::default())
            .expect("a TLS configuration");
        let connector = crate::client::tls::https_connector(config);
        let err = get(connector, format!("https://localhost:{}/mcp", addr.port()))
            .await
            .unwrap_err();
        let classified = classify_request_error(STEP, &err);
        assert!(
            matches!(
                &classified,
                BackendError::Tls {
                    step: STEP,
                    failure: crate::error::TlsFailure::Handshake(_)
                }
            ),
            "{classified:?}"
        );
    }

    /// hyper's "closed" (the connection task is gone) and "canceled" (a request the connection
    /// never started) kinds, without an I/O cause under them, are connections that closed early.
    #[tokio::test]
    async fn closed_and_canceled_connections_closed_early() {
        let (io, _peer) = tokio::io::duplex(1024);
        let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
            hyper_util::rt::TokioIo::new(io),
        )
        .await
        .unwrap();
        drop(connection);
        let closed = std::future::poll_fn(|cx| sender.poll_ready(cx))
            .await
            .unwrap_err();
        assert!(closed.is_closed(), "{closed:?}");
        let canceled = sender
            .send_request(http::Request::get("/mcp").body(Full::default()).unwrap())
            .await
            .unwrap_err();
        assert!(canceled.is_canceled(), "{canceled:?}");
        for err in [closed, canceled] {
            assert_eq!(
                classify_body_error(STEP, &err),
                BackendError::Unavailable {
                    step: STEP,
                    cause: UnavailableCause::ClosedEarly
                },
                "{err:?}"
            );
        }
    }

    /// An error with a message and an optional source, to build chains.
    #[derive(Debug)]
    struct Chained(&'static str, Option<Box<Chained>>);

    impl std::fmt::Display for Chained {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Chained {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn StdError + 'static))
        }
    }

    /// A connect failure nothing typed explains is detailed by the innermost error of the chain
    /// (the wrappers' own texts, "client error (Connect)", say nothing), redacted.
    #[test]
    fn an_untyped_connect_failure_is_detailed_by_its_innermost_error() {
        let root = Chained("dns lookup of b-1 failed", None);
        let chain = Chained(
            "client error",
            Some(Box::new(Chained("connect", Some(Box::new(root))))),
        );
        assert_eq!(innermost_message(&chain), "dns lookup of b-1 failed");
        assert_eq!(
            connect_cause(&chain),
            UnavailableCause::ConnectFailed("dns lookup of b-1 failed".to_owned())
        );
        let alone = Chained("refused by policy", None);
        assert_eq!(innermost_message(&alone), "refused by policy");
        assert_eq!(
            classify_chain(STEP, &alone),
            BackendError::Unavailable {
                step: STEP,
                cause: UnavailableCause::Transport("refused by policy".to_owned())
            }
        );
    }

    /// A connection whose reads fail with a reset (writes are swallowed).
    struct ResetOnRead;

    impl tokio::io::AsyncRead for ResetOnRead {
        fn poll_read(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Err(std::io::ErrorKind::ConnectionReset.into()))
        }
    }

    impl tokio::io::AsyncWrite for ResetOnRead {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    /// hyper cancels a request that was queued but never started when the connection fails
    /// under it, with the connection's error as the cause: a reset inside a "canceled" is a
    /// reset, not a generic early close.
    #[tokio::test]
    async fn a_reset_under_a_canceled_request_is_a_connection_reset() {
        let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
            hyper_util::rt::TokioIo::new(ResetOnRead),
        )
        .await
        .unwrap();
        // Queued before the connection task first runs, so its first read fails under it.
        let response =
            sender.send_request(http::Request::get("/mcp").body(Full::default()).unwrap());
        let connection = tokio::spawn(connection);
        let err = response.await.unwrap_err();
        assert!(err.is_canceled(), "{err:?}");
        assert_eq!(
            classify_body_error(STEP, &err),
            BackendError::Unavailable {
                step: STEP,
                cause: UnavailableCause::ConnectionReset
            },
            "{err:?}"
        );
        let _ = connection.await;
    }
}
