//! Turmoil hosts serving many pods each, every pod on its own port: what makes 1 000-backend
//! scenarios affordable.
//!
//! Why: turmoil 0.7.2 keeps a link for every *pair* of hosts and, on every step, walks all of them
//! once per host (`Topology::deliver_messages`), so a step costs O(hosts³) before any software
//! runs (measured in `docs/BENCHMARKS.md`: 40 pod hosts already spend a third of the run there).
//! Pods in a shared host add no host and no link.
//!
//! Why more than one shared host: all messages between `vmcp` and one host travel on one turmoil
//! link, and turmoil rescans the whole in-flight queue of a link on every message sent on it
//! (`Link::process_deliverables`). With every pod in one host, a probe round of N backends puts
//! O(N) messages in flight on that link and each costs O(N): the simulation cost per backend grew
//! with N (a quarter of all instructions at N = 1 000). So pods fill hosts of
//! [`PODS_PER_SHARED_HOST`] each, which bounds a link's queue, and at most [`MAX_SHARED_HOSTS`]
//! hosts exist, which bounds the cubic step cost; past `PODS_PER_SHARED_HOST × MAX_SHARED_HOSTS`
//! pods, further pods go round-robin into the existing hosts. Both bounds were picked by
//! measurement (`docs/BENCHMARKS.md`, "Scale (issue 11)").
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

/// The turmoil host name of the first shared pod host; the others are `shared_pods_2`,
/// `shared_pods_3`, ... The names contain `_`, which no backend or pod name may contain, so they
/// cannot clash with one.
pub(crate) const SHARED_POD_HOST: &str = "shared_pods";

/// The first port handed out to a pod of a shared host.
pub(crate) const FIRST_SHARED_PORT: u16 = 1_024;

/// How many pods fill one shared host before the next host is opened.
pub(crate) const PODS_PER_SHARED_HOST: usize = 100;

/// The most shared pod hosts: turmoil's idle step costs O(hosts³).
pub(crate) const MAX_SHARED_HOSTS: usize = 10;

/// The most pods all shared hosts together can serve: one port each, from [`FIRST_SHARED_PORT`]
/// to 65535, in every host.
pub(crate) const MAX_SHARED_PODS: usize =
    ((u16::MAX - FIRST_SHARED_PORT) as usize + 1) * MAX_SHARED_HOSTS;

/// The name of shared host number `index` (0-based).
pub(crate) fn host_name(index: usize) -> String {
    if index == 0 {
        SHARED_POD_HOST.to_owned()
    } else {
        format!("{SHARED_POD_HOST}_{}", index + 1)
    }
}

/// Where a new pod goes: which shared host, on which port, and whether that host must be
/// created first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Slot {
    /// The host's index (0-based; its name is [`host_name`]).
    pub(crate) host: usize,
    /// The pod's port in that host.
    pub(crate) port: u16,
    /// The host does not exist yet.
    pub(crate) new_host: bool,
}

/// One shared host: its pods, in the order they were added. New pods may be added while the
/// simulation runs (a replacement pod): the host's software starts them as they appear.
#[derive(Debug)]
struct SharedHost {
    pods: watch::Sender<Vec<PodHandle>>,
}

/// The shared pod hosts, in creation order.
#[derive(Debug, Default)]
pub(crate) struct SharedPods {
    hosts: Vec<SharedHost>,
    /// Pods placed so far, over all hosts.
    placed: usize,
}

impl SharedPods {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Where the next pod goes, or `None` when every shared host is full.
    pub(crate) fn next_slot(&self) -> Option<Slot> {
        let host = placement(self.placed);
        let used = self.hosts.get(host).map_or(0, |h| h.pods.borrow().len());
        let port = u16::try_from(used)
            .ok()
            .and_then(|n| FIRST_SHARED_PORT.checked_add(n))?;
        Some(Slot {
            host,
            port,
            new_host: host >= self.hosts.len(),
        })
    }

    /// Adds a pod at `slot` (from [`SharedPods::next_slot`]); returns the host's software for
    /// `turmoil::Sim::host` when the slot opened a new host.
    pub(crate) fn push(
        &mut self,
        slot: &Slot,
        pod: PodHandle,
    ) -> Option<impl Fn() -> std::pin::Pin<Box<dyn Future<Output = turmoil::Result>>> + 'static>
    {
        let software = if slot.new_host {
            assert_eq!(
                slot.host,
                self.hosts.len(),
                "a new shared host is the next one"
            );
            self.hosts.push(SharedHost {
                pods: watch::Sender::new(Vec::new()),
            });
            self.hosts.last().map(SharedHost::software)
        } else {
            None
        };
        // Slots come from `next_slot` in order, so a new host is always the next index and an
        // existing one exists: anything else would lose the pod without a word.
        let host = self.hosts.get(slot.host).unwrap_or_else(|| {
            panic!(
                "slot {slot:?} names no shared host (of {})",
                self.hosts.len()
            )
        });
        host.pods.send_modify(|pods| pods.push(pod));
        self.placed += 1;
        software
    }
}

/// How many shared hosts `pods` shared pods occupy.
pub(crate) fn hosts_for(pods: usize) -> usize {
    pods.div_ceil(PODS_PER_SHARED_HOST).min(MAX_SHARED_HOSTS)
}

/// The host index of the `k`-th shared pod (0-based): fill hosts of [`PODS_PER_SHARED_HOST`]
/// in order, then, once [`MAX_SHARED_HOSTS`] are full, round-robin.
fn placement(k: usize) -> usize {
    let filled = k / PODS_PER_SHARED_HOST;
    if filled < MAX_SHARED_HOSTS {
        filled
    } else {
        k % MAX_SHARED_HOSTS
    }
}

impl SharedHost {
    /// The host's software for `turmoil::Sim::host`: every incarnation starts every pod (a fresh
    /// incarnation of each) and then each pod added later, and fails when a pod's server fails.
    fn software(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_fill_hosts_in_order_then_go_round_robin() {
        assert_eq!(placement(0), 0);
        assert_eq!(placement(PODS_PER_SHARED_HOST - 1), 0);
        assert_eq!(placement(PODS_PER_SHARED_HOST), 1);
        let full = PODS_PER_SHARED_HOST * MAX_SHARED_HOSTS;
        assert_eq!(placement(full - 1), MAX_SHARED_HOSTS - 1);
        assert_eq!(placement(full), full % MAX_SHARED_HOSTS);
        assert_eq!(placement(full + 1), (full + 1) % MAX_SHARED_HOSTS);
        assert!((0..full * 3).all(|k| placement(k) < MAX_SHARED_HOSTS));
    }

    #[test]
    fn the_host_count_follows_the_placement() {
        for pods in [0, 1, 99, 100, 101, 999, 1_000, 1_001, 10_000] {
            let used = (0..pods).map(placement).max().map_or(0, |h| h + 1);
            assert_eq!(hosts_for(pods), used, "{pods} pods");
        }
    }

    #[test]
    fn host_names_keep_the_first_one_and_number_the_others() {
        assert_eq!(host_name(0), "shared_pods");
        assert_eq!(host_name(1), "shared_pods_2");
        assert_eq!(host_name(9), "shared_pods_10");
    }

    #[test]
    fn slots_number_ports_per_host_and_open_hosts_once() {
        let mut pods = SharedPods::new();
        let mut opened = 0;
        for k in 0..PODS_PER_SHARED_HOST + 2 {
            let slot = pods.next_slot().unwrap();
            let expected = if k < PODS_PER_SHARED_HOST {
                (0, k)
            } else {
                (1, k - PODS_PER_SHARED_HOST)
            };
            assert_eq!(
                (slot.host, usize::from(slot.port - FIRST_SHARED_PORT)),
                expected
            );
            let handle = PodHandle::new(&format!("p{k}"), slot.port, crate::PodBehaviour::Healthy);
            opened += usize::from(pods.push(&slot, handle).is_some());
        }
        assert_eq!(opened, 2);
    }
}
