//! One turmoil host serving many pods, each on its own port: what makes 1 000-backend scenarios
//! affordable.
//!
//! Why: turmoil 0.7.2 keeps a link for every *pair* of hosts and, on every step, walks all of them
//! once per host (`Topology::deliver_messages`), so a step costs O(hosts³) before any software
//! runs (measured in `docs/BENCHMARKS.md`: 40 pod hosts already spend a third of the run there).
//! Pods in a shared host add no host and no link: the cost of a step grows with the traffic only.
//!
//! What a shared pod keeps: its behaviour switches, credentials, stats, sessions, `StartingFor`
//! windows and retirement all live in its [`PodHandle`], exactly as for a pod with its own host.
//! What it gives up: host-level and link-level faults (crash, restart, partition, hold, fixed link
//! latency, a replacement that terminates or blackholes the old pod), because they would hit every
//! pod of the host. The world refuses those with [`crate::WorldError::SharedPod`]; the scenario
//! loader refuses them earlier, at the event's `file:line:column`.

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::pod::PodHandle;

/// The turmoil host name of the shared pod host. It contains `_`, which no backend or pod name
/// may contain, so it cannot clash with one.
pub(crate) const SHARED_POD_HOST: &str = "shared_pods";

/// The first port handed out to a pod of the shared host.
pub(crate) const FIRST_SHARED_PORT: u16 = 1_024;

/// The most pods one shared host can serve: one port each, from [`FIRST_SHARED_PORT`] to 65535.
pub(crate) const MAX_SHARED_PODS: usize = (u16::MAX - FIRST_SHARED_PORT) as usize + 1;

/// The pods of the shared host. New pods may be added while the simulation runs (a replacement
/// pod): the host's software starts them as they appear.
#[derive(Debug)]
pub(crate) struct SharedPods {
    pods: watch::Sender<Vec<PodHandle>>,
}

impl SharedPods {
    pub(crate) fn new() -> Self {
        Self {
            pods: watch::Sender::new(Vec::new()),
        }
    }

    /// The port the next pod gets, or `None` when the host is full.
    pub(crate) fn next_port(&self) -> Option<u16> {
        let used = self.pods.borrow().len();
        if used >= MAX_SHARED_PODS {
            return None;
        }
        u16::try_from(used)
            .ok()
            .and_then(|n| FIRST_SHARED_PORT.checked_add(n))
    }

    /// Adds a pod (created with the port [`SharedPods::next_port`] gave).
    pub(crate) fn push(&self, pod: PodHandle) {
        self.pods.send_modify(|pods| pods.push(pod));
    }

    /// The host's software for `turmoil::Sim::host`: every incarnation starts every pod (a fresh
    /// incarnation of each) and then each pod added later, and fails when a pod's server fails.
    pub(crate) fn software(
        &self,
    ) -> impl Fn() -> std::pin::Pin<Box<dyn Future<Output = turmoil::Result>>> + 'static {
        let pods = self.pods.clone();
        move || {
            let mut added = pods.subscribe();
            Box::pin(async move {
                let mut running = JoinSet::new();
                let mut started = 0;
                loop {
                    let new: Vec<PodHandle> = added.borrow_and_update()[started..].to_vec();
                    started += new.len();
                    for pod in new {
                        running.spawn_local(pod.serve());
                    }
                    tokio::select! {
                        biased;
                        Some(done) = running.join_next() => match done {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => return Err(error),
                            Err(join) => return Err(join.to_string().into()),
                        },
                        changed = added.changed() => {
                            if changed.is_err() {
                                // The world is gone; nothing can be added any more.
                                std::future::pending::<()>().await;
                            }
                        }
                    }
                }
            })
        }
    }
}
