//! A pod's process: the listening socket's lifecycle and one hyper HTTP/1 server per connection.
//!
//! The supervisor loop binds the port while the pod should listen (process up and not retired) and
//! drops the listener otherwise, which makes turmoil refuse new connects. Each accepted connection
//! runs in its own task and is dropped (the peer sees FIN/RST) as soon as the process goes down
//! (`Refuse`, or a `StartingFor` window set at runtime). A retired pod keeps its connections.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::watch;

use super::{Control, PodHandle, mcp};
use crate::clock::sim_now;
use crate::teardown::OrderedStream;

/// The boxed future of one pod incarnation, as `turmoil::Sim::host` wants it.
pub(crate) type PodFuture = Pin<Box<dyn Future<Output = turmoil::Result>>>;

/// State of one run of the pod's software; lost on crash/restart, like process memory.
#[derive(Debug)]
pub(crate) struct Incarnation {
    /// Simulated time at which this incarnation started.
    pub(crate) start: Duration,
    /// Live MCP sessions, by id.
    pub(crate) sessions: Mutex<BTreeMap<String, PodSession>>,
}

/// One MCP session of a pod.
#[derive(Debug)]
pub(crate) struct PodSession {
    /// When `initialize` created it.
    pub(crate) initialized_at: Duration,
    /// Whether a `tools/call` arrived on it yet.
    pub(crate) called: bool,
}

/// Runs one incarnation of the pod until the host is crashed (turmoil then drops this future).
pub(crate) async fn run(handle: PodHandle) -> turmoil::Result {
    // A process does not listen the instant its container starts: a seeded offset, after which
    // this incarnation counts as started (a `StartingFor` window counts from then).
    let offset = handle.next_start_offset();
    if !offset.is_zero() {
        tokio::time::sleep(offset).await;
    }
    let inc = Arc::new(Incarnation {
        start: sim_now(),
        sessions: Mutex::new(BTreeMap::new()),
    });
    handle.with_stats(|s| s.starts += 1);
    let mut rx = handle.shared.control.subscribe();
    loop {
        let ctl = rx.borrow_and_update().clone();
        if ctl.should_listen(inc.start, sim_now()) {
            listen(&handle, &inc, &mut rx).await?;
        } else if !wait_for_change(&ctl, &inc, &mut rx).await {
            return Ok(());
        }
    }
}

/// Accepts connections until the pod should stop listening; the listener is dropped on return.
async fn listen(
    handle: &PodHandle,
    inc: &Arc<Incarnation>,
    rx: &mut watch::Receiver<Control>,
) -> turmoil::Result {
    let listener = turmoil::net::TcpListener::bind(("0.0.0.0", handle.port())).await?;
    loop {
        tokio::select! {
            biased;
            changed = rx.changed() => {
                if changed.is_err() {
                    return Ok(());
                }
                if !rx.borrow_and_update().should_listen(inc.start, sim_now()) {
                    return Ok(());
                }
            }
            accepted = listener.accept() => {
                let (stream, _peer) = accepted?;
                handle.with_stats(|s| s.connections_accepted += 1);
                tokio::spawn(serve_connection(handle.clone(), inc.clone(), handle.track(stream)));
            }
        }
    }
}

/// While not listening: waits for a control change or the end of a `StartingFor` window.
/// Returns `false` if the control channel is gone (cannot happen while the handle lives).
async fn wait_for_change(
    ctl: &Control,
    inc: &Incarnation,
    rx: &mut watch::Receiver<Control>,
) -> bool {
    let wake = if ctl.retired {
        None
    } else {
        ctl.up_at(inc.start)
    };
    let sleep = async {
        match wake {
            Some(at) => tokio::time::sleep(at.saturating_sub(sim_now())).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        changed = rx.changed() => changed.is_ok(),
        () = sleep => true,
    }
}

/// Serves one connection with hyper until the peer closes it or the process goes down.
async fn serve_connection(
    handle: PodHandle,
    inc: Arc<Incarnation>,
    stream: OrderedStream,
) {
    let mut rx = handle.shared.control.subscribe();
    let start = inc.start;
    let service = service_fn(move |req| mcp::handle(handle.clone(), inc.clone(), req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        // No server-side idle/header timeout: a stale pod must be able to keep a pooled keep-alive
        // connection open indefinitely, as the upstream stale pod did.
        .header_read_timeout(None)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        biased;
        () = until_down(&mut rx, start) => {}
        _ = conn => {}
    }
}

/// Resolves once the pod's process is down (its connections must then be dropped).
async fn until_down(rx: &mut watch::Receiver<Control>, start: Duration) {
    loop {
        if !rx.borrow_and_update().is_up(start, sim_now()) {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
