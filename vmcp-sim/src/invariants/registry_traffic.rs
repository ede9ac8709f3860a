//! Nothing is sent for a removed backend or to an old endpoint after a registry change
//! (DESIGN §3.4: "a change takes effect at its instant: no probe starts on an old endpoint, or
//! for a removed backend, at or after the instant of the change").
//!
//! From the runner's `Registry` entries (stamped at the instant the registry changed; entries
//! after it in the trace happened at or after that instant):
//!
//! * no `ProbeStarted` of a backend after its removal, until it is registered again;
//! * after a backend's URL changed, no `ProbeStarted` of an endpoint generation the monitor had
//!   before the change (the new generation is announced by `EndpointChanged`);
//! * no connection to a service that no registered backend points at any more: an attempt
//!   *started* at or after the change (`abandoned` attempts are stamped when they started), or
//!   one that *ended* later than `connect_timeout` (plus one tick of stamp quantisation) after
//!   it, so it cannot have started before.

use std::collections::BTreeMap;

use super::{Limits, Violation, at, millis};
use crate::trace::{TraceEntry, TraceEvent, format_ms};

const NAME: &str = "registry_traffic";

/// The host of `http://host[:port]/path`.
fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// Check the trace.
pub fn check(entries: &[TraceEntry], limits: &Limits) -> Vec<Violation> {
    let connect_grace = millis(limits.config.connect_timeout) + limits.tick_ms();
    let mut registry: Option<BTreeMap<&str, &str>> = None;
    // Backend → when it was removed (while it stays unregistered).
    let mut removed: BTreeMap<&str, u64> = BTreeMap::new();
    // Backend → the latest endpoint generation the running monitor announced.
    let mut generation: BTreeMap<&str, u64> = BTreeMap::new();
    // Backend → (highest stale generation, when its URL changed).
    let mut stale: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    // Service host → when the last backend pointing at it stopped doing so.
    let mut abandoned_services: BTreeMap<&str, u64> = BTreeMap::new();
    let mut out = Vec::new();
    for entry in entries {
        match &entry.event {
            TraceEvent::Registry { backends } => {
                let now: BTreeMap<&str, &str> = backends
                    .iter()
                    .map(|b| (b.name.as_str(), b.url.as_str()))
                    .collect();
                if let Some(before) = &registry {
                    for (name, url) in before {
                        match now.get(name) {
                            None => {
                                removed.insert(name, entry.at_ms);
                                stale.remove(name);
                            }
                            Some(new_url) if new_url != url => {
                                if let Some(g) = generation.get(name) {
                                    stale.insert(name, (*g, entry.at_ms));
                                }
                            }
                            Some(_) => {}
                        }
                    }
                    let hosts_now: Vec<&str> = now.values().map(|u| host(u)).collect();
                    for url in before.values() {
                        let h = host(url);
                        if !hosts_now.contains(&h) {
                            abandoned_services.entry(h).or_insert(entry.at_ms);
                        }
                    }
                }
                for (name, url) in &now {
                    removed.remove(name);
                    abandoned_services.remove(host(url));
                }
                registry = Some(now);
            }
            TraceEvent::VmcpStarted => {
                generation.clear();
                stale.clear();
            }
            TraceEvent::BackendAdded { backend } => {
                generation.insert(backend, 0);
            }
            TraceEvent::EndpointChanged {
                backend,
                generation: g,
            } => {
                generation.insert(backend, *g);
            }
            TraceEvent::ProbeStarted {
                backend,
                generation: g,
            } => {
                if let Some(since) = removed.get(backend.as_str()) {
                    out.push(
                        Violation::new(
                            NAME,
                            Some(backend),
                            entry.at_ms,
                            format!(
                                "a probe of {backend} started at {}, after it was removed from \
                                 the registry at {}",
                                at(entry),
                                format_ms(*since)
                            ),
                        )
                        .caused_by(*since),
                    );
                } else if let Some((old, since)) = stale.get(backend.as_str())
                    && g <= old
                {
                    out.push(
                        Violation::new(
                            NAME,
                            Some(backend),
                            entry.at_ms,
                            format!(
                                "a probe of {backend} started at {} on endpoint generation {g}, \
                                 but its URL changed at {} (generation {old} is the old \
                                 endpoint)",
                                at(entry),
                                format_ms(*since)
                            ),
                        )
                        .caused_by(*since),
                    );
                }
            }
            TraceEvent::Connection {
                service, outcome, ..
            } => {
                let Some(since) = abandoned_services.get(service.as_str()) else {
                    continue;
                };
                let started_after = if outcome == "abandoned" {
                    entry.at_ms >= *since
                } else {
                    entry.at_ms > since + connect_grace
                };
                if started_after {
                    out.push(
                        Violation::new(
                            NAME,
                            Some(service),
                            entry.at_ms,
                            format!(
                                "a connection to service {service} ({outcome}) at {}, but no \
                                 registered backend has pointed at it since {}",
                                at(entry),
                                format_ms(*since)
                            ),
                        )
                        .caused_by(*since),
                    );
                }
            }
            _ => {}
        }
    }
    out
}
