//! Change notifications and session upkeep (DESIGN §3.6 "Change notifications").
//!
//! One task per front end watches the monitor's changes and the capability cache. After a
//! change it waits [`LIST_CHANGED_DEBOUNCE`] so a burst (a backend hidden, then its circuit
//! opening, then its catalog dropped) coalesces, recomputes what clients see, and sends
//! `notifications/{tools,resources,prompts}/list_changed` once for each kind whose advertised
//! list differs from the one last announced. Every [`SWEEP_INTERVAL`] it also ends idle sessions.

use std::sync::Weak;
use std::time::Duration;

use crate::client::BackendConnector;
use crate::frontend::Frontend;
use crate::frontend::aggregate::{Aggregate, Kind};
use crate::frontend::routing::close_soon;

/// How long a change burst may last and still produce one notification per kind.
pub(super) const LIST_CHANGED_DEBOUNCE: Duration = Duration::from_millis(100);

/// Upper bound between a session's idle expiry and its removal by the sweep.
pub(super) const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// The kinds whose advertised lists differ between `before` and `after`.
pub(super) fn changed_kinds(before: &Aggregate, after: &Aggregate) -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|kind| before.list(*kind) != after.list(*kind))
        .collect()
}

/// The notification task; ends when the front end is dropped or shut down.
pub(crate) async fn run<C: BackendConnector>(frontend: Weak<Frontend<C>>) {
    let (mut health, mut catalog, mut announced) = {
        let Some(frontend) = frontend.upgrade() else {
            return;
        };
        let health = frontend.monitor.changes();
        let catalog = frontend.catalog.changes();
        (health, catalog, frontend.view().advertised)
    };
    let mut next_sweep = crate::clock::monotonic_now() + SWEEP_INTERVAL;
    loop {
        let changed = tokio::select! {
            biased;
            result = health.changed() => result.is_ok(),
            result = catalog.changed() => result.is_ok(),
            () = tokio::time::sleep_until(next_sweep) => {
                let Some(frontend) = frontend.upgrade() else { return };
                close_soon(frontend.sessions.sweep());
                next_sweep = crate::clock::monotonic_now() + SWEEP_INTERVAL;
                continue;
            }
        };
        if !changed {
            return;
        }
        tokio::time::sleep(LIST_CHANGED_DEBOUNCE).await;
        health.mark_unchanged();
        catalog.mark_unchanged();
        let Some(frontend) = frontend.upgrade() else {
            return;
        };
        let view = frontend.view();
        for dropped in &view.advertised.dropped {
            if !announced.dropped.contains(dropped) {
                tracing::warn!(
                    kind = dropped.kind.field(),
                    name = %dropped.exposed,
                    backend = %dropped.backend,
                    winner = %dropped.winner,
                    "name clash: item dropped"
                );
            }
        }
        for kind in changed_kinds(&announced, &view.advertised) {
            let streams = frontend.broadcast_list_changed(kind);
            tracing::info!(
                method = kind.list_changed(),
                streams,
                "advertised list changed"
            );
        }
        announced = view.advertised;
    }
}
