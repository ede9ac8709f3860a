//! The response body of the front end: a whole buffer, or a `text/event-stream` fed by a
//! channel (the GET stream). Ends when the sender side is dropped (session ended).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// A front-end response body.
#[derive(Debug)]
pub enum FrontendBody {
    /// A complete body (possibly empty).
    Full(Option<Bytes>),
    /// Server-sent events, one chunk per event, until the channel closes.
    Stream(mpsc::Receiver<Bytes>),
}

impl FrontendBody {
    /// An empty body.
    pub fn empty() -> Self {
        FrontendBody::Full(None)
    }

    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        if bytes.is_empty() {
            FrontendBody::Full(None)
        } else {
            FrontendBody::Full(Some(bytes))
        }
    }
}

impl Body for FrontendBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            FrontendBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            FrontendBody::Stream(rx) => rx.poll_recv(cx).map(|b| b.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, FrontendBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            FrontendBody::Full(None) => SizeHint::with_exact(0),
            FrontendBody::Full(Some(bytes)) => SizeHint::with_exact(bytes.len() as u64),
            FrontendBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// One SSE `message` event carrying `json`.
pub(super) fn sse_event(json: &[u8]) -> Bytes {
    let mut event = Vec::with_capacity(json.len() + 20);
    event.extend_from_slice(b"event: message\ndata: ");
    event.extend_from_slice(json);
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}
