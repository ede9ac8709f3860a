//! Response bodies a pod sends.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// The body type of every pod response.
pub(crate) type PodBody = BoxBody<Bytes, Infallible>;

/// A complete body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> PodBody {
    Full::new(bytes.into()).boxed()
}

/// An empty body.
pub(crate) fn empty() -> PodBody {
    Empty::new().boxed()
}

/// A body that sends `first` and then never ends: a long-lived SSE stream (legacy SSE servers keep
/// their `GET` stream open). Nothing ever wakes it; dropping the connection drops it.
pub(crate) fn endless(first: impl Into<Bytes>) -> PodBody {
    Endless {
        first: Some(first.into()),
    }
    .boxed()
}

struct Endless {
    first: Option<Bytes>,
}

impl Body for Endless {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.first.take() {
            Some(bytes) => Poll::Ready(Some(Ok(Frame::data(bytes)))),
            None => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        false
    }
}
