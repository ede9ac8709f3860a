//! The simulated clients' connector: turmoil TCP straight to the host named in the URI (the
//! `vmcp` host), with no service resolution and no entry in the backends' connection log.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use tower_service::Service;

use crate::net::TurmoilStream;
use crate::teardown::Teardown;

/// A hyper-util connector for the simulated MCP clients.
#[derive(Clone, Debug, Default)]
pub struct DirectConnector {
    /// Numbers the streams (client hosts are never crashed, so nothing ever parks here).
    teardown: Teardown,
}

impl Service<Uri> for DirectConnector {
    type Response = TurmoilStream;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TurmoilStream>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let teardown = self.teardown.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "uri has no host"))?
                .to_owned();
            let port = uri.port_u16().unwrap_or(80);
            let stream = turmoil::net::TcpStream::connect((host.as_str(), port)).await?;
            Ok(TurmoilStream::direct(teardown.track(stream), &host))
        })
    }
}
