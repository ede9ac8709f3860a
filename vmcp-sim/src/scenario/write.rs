//! Writing a [`Scenario`] back as scenario-file TOML, so a generated run (a swarm seed with its
//! perturbations as explicit `[[event]]`s) becomes a standalone file that `vmcp-sim run`
//! replays.
//!
//! Everything but the expectations is written from the model (header, `[vmcp]`, backends,
//! events); expectations are passed in as ready TOML text, because a generated file carries
//! its own (the swarm's liveness expectations), never the original ones. The output parses back
//! to the same header, configuration, backends and events (tested).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;
use vmcp_core::config::FailureHandling;
use vmcp_core::config::duration::format;
use vmcp_core::registry::OutgoingAuth;

use super::{CallSchedule, ClientSpec, EventAction, EventSpec, OldPod, Scenario};

/// A TOML string literal (quoted and escaped).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn dur(d: Duration) -> String {
    quoted(&format(d))
}

/// The scenario file for `scenario` with `events` (instead of its own), run length `duration`,
/// and `expectations` (TOML text of `[[expect]]` tables, appended as given).
pub fn to_toml(
    scenario: &Scenario,
    description: &str,
    duration: Duration,
    events: &[EventSpec],
    expectations: &str,
) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "name = {}", quoted(&scenario.name));
    let _ = writeln!(t, "description = {}", quoted(description));
    let _ = writeln!(t, "seed = {}", scenario.seed);
    let _ = writeln!(t, "duration = {}", dur(duration));
    if let Some(tick) = scenario.tick {
        let _ = writeln!(t, "tick = {}", dur(tick));
    }
    if let Some(latency) = scenario.latency {
        let _ = writeln!(t, "min_latency = {}", dur(latency.min));
        let _ = writeln!(t, "max_latency = {}", dur(latency.max));
    }
    if let Some(bug) = &scenario.reproduces_bug {
        let _ = writeln!(t, "reproduces_bug = {}", quoted(bug));
    }
    if let Some(why) = &scenario.fixed_schedule {
        // Without it the written file would run the seeded schedule, not the original's.
        let _ = writeln!(t, "fixed_schedule = {}", quoted(why));
    }
    #[derive(Serialize)]
    struct Vmcp<'a> {
        vmcp: &'a FailureHandling,
    }
    match toml::to_string(&Vmcp {
        vmcp: &scenario.vmcp,
    }) {
        Ok(vmcp) => {
            t.push('\n');
            t.push_str(&vmcp);
        }
        Err(e) => {
            let _ = writeln!(t, "# [vmcp] could not be written ({e}); defaults apply");
        }
    }
    for b in &scenario.backends {
        let _ = write!(t, "\n[[backend]]\nname = {}\n", quoted(&b.name));
        let _ = writeln!(t, "port = {}", b.port);
        let _ = writeln!(t, "path = {}", quoted(&b.path));
        let _ = writeln!(t, "behaviour = {}", b.behaviour);
        let _ = writeln!(t, "registered = {}", b.registered);
        match &b.auth {
            Some(OutgoingAuth::Bearer { token }) => {
                let _ = writeln!(
                    t,
                    "auth = {{ type = \"bearer\", token = {} }}",
                    quoted(token.expose())
                );
            }
            Some(OutgoingAuth::Header { name, value }) => {
                let _ = writeln!(
                    t,
                    "auth = {{ type = \"header\", name = {}, value = {} }}",
                    quoted(name),
                    quoted(value.expose())
                );
            }
            None => {}
        }
        let _ = writeln!(t, "require_auth = {}", b.require_auth);
        if b.shared_host {
            let _ = writeln!(t, "shared_host = true");
        }
        if let Some(tools) = &b.tools {
            let names: Vec<String> = tools.iter().map(|n| quoted(n)).collect();
            let _ = writeln!(t, "tools = [{}]", names.join(", "));
        }
        if b.unknown_session_status != 404 {
            let _ = writeln!(t, "unknown_session_status = {}", b.unknown_session_status);
        }
    }
    if !scenario.clients.is_empty() {
        // The front end's settings only exist with clients (the parser refuses them otherwise).
        #[derive(Serialize)]
        struct Frontend<'a> {
            server: &'a vmcp_core::config::ServerConfig,
            aggregation: &'a vmcp_core::config::AggregationConfig,
        }
        match toml::to_string(&Frontend {
            server: &scenario.frontend.server,
            aggregation: &scenario.frontend.aggregation,
        }) {
            Ok(frontend) => {
                t.push('\n');
                t.push_str(&frontend);
            }
            Err(e) => {
                let _ = writeln!(t, "# [server]/[aggregation] could not be written ({e})");
            }
        }
        for c in &scenario.clients {
            t.push_str(&client(c));
        }
    }
    // An event about a `count` group was expanded into one event per member, all with the
    // group event's id; ids must be unique in a file, and only expectations refer to them (to
    // the first event with the id), so the id is written on the first of them only.
    let mut ids = std::collections::BTreeSet::new();
    for e in events {
        match &e.id {
            Some(id) if !ids.insert(id.clone()) => t.push_str(&event(&EventSpec {
                id: None,
                ..e.clone()
            })),
            _ => t.push_str(&event(e)),
        }
    }
    if !expectations.is_empty() {
        t.push('\n');
        t.push_str(expectations);
    }
    t
}

/// One `[[client]]` table with its `[[client.call]]`s.
pub fn client(c: &ClientSpec) -> String {
    let mut t = format!("\n[[client]]\nname = {}\n", quoted(&c.name));
    let _ = writeln!(t, "start = {}", dur(c.start));
    let _ = writeln!(t, "stream = {}", c.stream);
    let times: Vec<String> = c.list_tools.iter().map(|d| dur(*d)).collect();
    let _ = writeln!(t, "list_tools = [{}]", times.join(", "));
    let _ = writeln!(t, "relist_on_change = {}", c.relist_on_change);
    let _ = writeln!(t, "call_timeout = {}", dur(c.call_timeout));
    for call in &c.calls {
        let _ = write!(t, "[[client.call]]\ntool = {}\n", quoted(&call.tool));
        if !call.arguments.is_empty() {
            match toml::Value::try_from(&call.arguments) {
                Ok(value) => {
                    let _ = writeln!(t, "arguments = {value}");
                }
                Err(e) => {
                    let _ = writeln!(t, "# arguments could not be written ({e})");
                }
            }
        }
        match call.schedule {
            CallSchedule::At(at) => {
                let _ = writeln!(t, "at = {}", dur(at));
            }
            CallSchedule::Every { every, from, to } => {
                let _ = writeln!(
                    t,
                    "every = {}\nfrom = {}\nto = {}",
                    dur(every),
                    dur(from),
                    dur(to)
                );
            }
        }
    }
    t
}

fn auth_value(auth: &OutgoingAuth) -> String {
    match auth {
        OutgoingAuth::Bearer { token } => {
            format!(
                "{{ type = \"bearer\", token = {} }}",
                quoted(token.expose())
            )
        }
        OutgoingAuth::Header { name, value } => format!(
            "{{ type = \"header\", name = {}, value = {} }}",
            quoted(name),
            quoted(value.expose())
        ),
    }
}

/// One `[[event]]` table.
pub fn event(e: &EventSpec) -> String {
    let mut t = format!("\n[[event]]\nat = {}\n", dur(e.at));
    if let Some(id) = &e.id {
        let _ = writeln!(t, "id = {}", quoted(id));
    }
    let _ = writeln!(t, "action = {}", quoted(e.action.name()));
    if let Some(backend) = e.action.backend() {
        let _ = writeln!(t, "backend = {}", quoted(backend));
    }
    match &e.action {
        EventAction::ReplacePod {
            old_pod, behaviour, ..
        } => {
            match old_pod {
                OldPod::Terminate => t.push_str("old_pod = \"terminate\"\n"),
                OldPod::Blackhole => t.push_str("old_pod = \"blackhole\"\n"),
                OldPod::Stale(b) => {
                    let _ = writeln!(t, "old_pod = \"stale\"\nstale_behaviour = {b}");
                }
            }
            let _ = writeln!(t, "behaviour = {behaviour}");
        }
        EventAction::SetBehaviour {
            behaviour, for_, ..
        } => {
            let _ = writeln!(t, "behaviour = {behaviour}");
            if let Some(d) = for_ {
                let _ = writeln!(t, "for = {}", dur(*d));
            }
        }
        EventAction::Latency { latency, .. } => {
            let _ = writeln!(t, "latency = {}", dur(*latency));
        }
        EventAction::RegistryChangeUrl { url, .. } => {
            let _ = writeln!(t, "url = {}", quoted(&url.url));
        }
        EventAction::RegistryChangeAuth { auth, .. } | EventAction::SetPodAuth { auth, .. } => {
            if let Some(auth) = auth {
                let _ = writeln!(t, "auth = {}", auth_value(auth));
            }
        }
        _ => {}
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::Location;

    /// Every library scenario survives the round trip: header, config, backends and events
    /// parse back equal (locations aside; expectations are not written).
    #[test]
    fn library_scenarios_round_trip() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios");
        let files = crate::scenario::discover(&[std::path::PathBuf::from(dir)]).expect("library");
        assert!(files.len() >= 20);
        for file in files {
            let original = Scenario::load(&file).expect("valid");
            let text = to_toml(
                &original,
                &original.description,
                original.duration,
                &original.events,
                "",
            );
            let back = Scenario::from_toml_str(&text, "written.toml")
                .unwrap_or_else(|e| panic!("{}: {e}\n{text}", file.display()));
            assert_eq!(back.name, original.name);
            assert_eq!(back.seed, original.seed);
            assert_eq!(back.duration, original.duration);
            assert_eq!(back.tick, original.tick);
            assert_eq!(back.latency, original.latency);
            assert_eq!(back.reproduces_bug, original.reproduces_bug);
            assert_eq!(back.fixed_schedule, original.fixed_schedule);
            assert_eq!(back.vmcp, original.vmcp, "{}", file.display());
            assert_eq!(back.frontend, original.frontend, "{}", file.display());
            let clients = |s: &Scenario| {
                s.clients
                    .iter()
                    .map(|c| {
                        let mut c = c.clone();
                        c.location = Location { line: 0, column: 0 };
                        for call in &mut c.calls {
                            call.location = c.location;
                        }
                        c
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(clients(&back), clients(&original), "{}", file.display());
            let strip = |s: &Scenario| {
                (
                    s.backends
                        .iter()
                        .map(|b| {
                            (
                                b.name.clone(),
                                b.port,
                                b.path.clone(),
                                b.behaviour,
                                b.registered,
                                b.auth.clone(),
                                b.require_auth,
                                b.shared_host,
                                b.tools.clone(),
                                b.unknown_session_status,
                            )
                        })
                        .collect::<Vec<_>>(),
                    {
                        // As written: a repeated id (a group event's members) only on the first.
                        let mut ids = std::collections::BTreeSet::new();
                        s.events
                            .iter()
                            .map(|e| {
                                let id = e.id.clone().filter(|id| ids.insert(id.clone()));
                                (e.at, id, e.action.clone())
                            })
                            .collect::<Vec<_>>()
                    },
                )
            };
            assert_eq!(strip(&back), strip(&original), "{}", file.display());
        }
    }
}
