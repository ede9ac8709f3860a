//! A crashed or restarted host closes its TCP connections in a fixed order (DESIGN §4.5: the seed,
//! and nothing else, decides the schedule).
//!
//! turmoil crashes a host (`Sim::crash`, and `Sim::bounce` before restarting it) by dropping its
//! tokio runtime, and tokio drops the runtime's tasks in the order of its owned-task list: sharded
//! by task id, and task ids come from one *process-global* counter. Every TCP stream a dropped
//! task owned sends its FIN (or RST) through turmoil's network, and each send draws that
//! message's latency from the seeded RNG. So the order of the closes — which draw each close
//! gets, and with it the whole schedule after the crash — depended on how many tokio tasks the
//! process had spawned before (another seed on the same `explore` thread, another test).
//!
//! The fix does not touch turmoil. Every stream the simulation's hosts open or accept is an
//! [`OrderedStream`], numbered when it is created. While the world tears a host down
//! ([`Teardown::begin`] … [`Teardown::end`] around `Sim::crash` / `Sim::bounce`), a dropped
//! [`OrderedStream`] does not close its socket; it parks it. When the host's own software future
//! is dropped — after the runtime's tasks, still inside turmoil's crash (so the host is current
//! and the closes reach the network) — [`Drained`] closes the parked sockets in creation order.

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use turmoil::net::TcpStream;

use crate::service::lock;

/// The world's register of the sockets its hosts open, and the switch that parks them while a
/// host is torn down. Cheap to clone; clones share one register.
#[derive(Clone, Debug, Default)]
pub(crate) struct Teardown {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    /// The number the next stream gets: creation order, the order parked sockets close in.
    next: u64,
    /// A host is being torn down: dropped streams park their sockets.
    active: bool,
    /// Sockets dropped during the teardown, by creation number.
    parked: BTreeMap<u64, TcpStream>,
}

impl Teardown {
    /// A register of its own (nothing ever parks unless [`Teardown::begin`] is called on it).
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Numbers `stream` and wraps it.
    pub(crate) fn track(&self, stream: TcpStream) -> OrderedStream {
        let seq = {
            let mut state = lock(&self.inner);
            state.next += 1;
            state.next
        };
        OrderedStream {
            stream: Some(stream),
            seq,
            teardown: self.clone(),
        }
    }

    /// From now on dropped streams park their sockets (call right before `Sim::crash` or
    /// `Sim::bounce` of a host whose software is running).
    pub(crate) fn begin(&self) {
        lock(&self.inner).active = true;
    }

    /// Ends the teardown. Returns how many sockets were parked and never closed: always 0 when
    /// the torn-down host's software was wrapped in [`Drained`] and was still running (anything
    /// else is a harness bug, reported by the world).
    pub(crate) fn end(&self) -> usize {
        let leftover = {
            let mut state = lock(&self.inner);
            state.active = false;
            std::mem::take(&mut state.parked)
        };
        // Outside any host these drops send nothing; they only release memory.
        leftover.len()
    }

    /// Wraps a host's software future so that, when turmoil drops it, the parked sockets close.
    pub(crate) fn drained<F: Future>(&self, software: F) -> Drained<F> {
        Drained {
            software: Some(Box::pin(software)),
            teardown: self.clone(),
        }
    }

    /// Closes every parked socket, in creation order (inside the torn-down host).
    fn close_parked(&self) {
        let parked = std::mem::take(&mut lock(&self.inner).parked);
        for (_, stream) in parked {
            drop(stream);
        }
    }

    /// A dropped stream's socket: parked during a teardown, else closed now.
    fn release(&self, seq: u64, stream: TcpStream) {
        let mut state = lock(&self.inner);
        if state.active {
            state.parked.insert(seq, stream);
        } else {
            drop(state);
            drop(stream);
        }
    }
}

/// A host's software future that closes the sockets parked by a teardown when it is dropped
/// (turmoil drops it last, after the host runtime's tasks, with the host still current).
pub(crate) struct Drained<F> {
    software: Option<Pin<Box<F>>>,
    teardown: Teardown,
}

impl<F: Future> Future for Drained<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        match self.software.as_mut() {
            Some(software) => software.as_mut().poll(cx),
            // Dropped only in `Drop`; a future is never polled after that.
            None => Poll::Pending,
        }
    }
}

impl<F> Drop for Drained<F> {
    fn drop(&mut self) {
        // The software first: its own streams park too, then all close in creation order.
        self.software = None;
        self.teardown.close_parked();
    }
}

/// A turmoil TCP stream numbered by creation, whose socket is closed in that order when its host
/// is torn down (see the module docs). Reads and writes go straight to the stream.
#[derive(Debug)]
pub(crate) struct OrderedStream {
    stream: Option<TcpStream>,
    seq: u64,
    teardown: Teardown,
}

impl OrderedStream {
    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.stream
            .as_mut()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotConnected))
    }
}

impl Drop for OrderedStream {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            self.teardown.release(self.seq, stream);
        }
    }
}

impl AsyncRead for OrderedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.stream() {
            Ok(stream) => Pin::new(stream).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for OrderedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.stream() {
            Ok(stream) => Pin::new(stream).poll_write(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream() {
            Ok(stream) => Pin::new(stream).poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.stream() {
            Ok(stream) => Pin::new(stream).poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}
