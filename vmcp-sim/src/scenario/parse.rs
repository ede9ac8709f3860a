//! From file text to a validated [`Scenario`]: the header, `[[backend]]` and `[[event]]` rules.
//! Expectations are in `parse_expect`.
//!
//! Rules run in a fixed order (the shape and `[vmcp]` while deserializing, then the header,
//! backends, events and expectations, each list in file order; inside a table: the kind/action,
//! keys it does not use, missing keys, then each value) and the first broken rule is reported,
//! so the same file always gives the same message.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use vmcp_core::config::duration;
use vmcp_core::registry::{OutgoingAuth, Secret};

use super::behaviour::Behaviour;
use super::context::Ctx;
use super::error::ScenarioError;
use super::location::Location;
use super::raw::{RawAuth, RawBackend, RawEvent, RawScenario};
use super::{
    BackendSpec, DEFAULT_PATH, DEFAULT_PORT, EventAction, EventSpec, LinkLatency, OldPod, Scenario,
    SimUrl, parse_client, parse_expect,
};

type Result<T> = std::result::Result<T, ScenarioError>;

/// Parse and validate a whole scenario.
pub(super) fn parse(text: &str, file: &str) -> Result<Scenario> {
    let ctx = Ctx::new(file, text);
    let raw: RawScenario = toml::from_str(text).map_err(|e| ctx.toml_error(&e))?;

    let name = scenario_name(&ctx, &raw.name)?;
    let description = non_empty(&ctx, "description", &raw.description)?;
    let duration = positive(&ctx, "duration", &raw.duration)?;
    let tick = match &raw.tick {
        Some(tick) => {
            let value = positive(&ctx, "tick", tick)?;
            if value >= duration {
                return Err(ctx.error(
                    &tick.span(),
                    format!(
                        "tick ({}) must be less than duration ({})",
                        duration::format(value),
                        duration::format(duration)
                    ),
                ));
            }
            let steps = duration.as_nanos() / value.as_nanos().max(1);
            if steps > MAX_STEPS {
                return Err(ctx.error(
                    &tick.span(),
                    format!(
                        "tick ({}) is too small for duration ({}): {steps} simulation steps, at \
                         most {MAX_STEPS}",
                        duration::format(value),
                        duration::format(duration)
                    ),
                ));
            }
            Some(value)
        }
        None => None,
    };
    let latency = latency(&ctx, &raw)?;
    let reproduces_bug = raw
        .reproduces_bug
        .as_ref()
        .map(|text| non_empty(&ctx, "reproduces_bug", text))
        .transpose()?;
    let fixed_schedule = match &raw.fixed_schedule {
        Some(why) if why.get_ref().trim().is_empty() => {
            return Err(ctx.error(
                &why.span(),
                "fixed_schedule must say why this scenario runs one schedule whatever the seed \
                 (it must not be empty)",
            ));
        }
        Some(why) => Some(why.get_ref().clone()),
        None => None,
    };
    let swarm = super::swarm::settings(&ctx, raw.swarm.as_ref())?;

    let mut backends = Vec::with_capacity(raw.backend.len());
    let mut first_declared: BTreeMap<String, Location> = BTreeMap::new();
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for spanned in &raw.backend {
        let (group, members) = backend(&ctx, spanned)?;
        let name_span = spanned.get_ref().name.span();
        let here = ctx.location(&name_span);
        if let Some(group) = &group {
            // A group name is a reference target too: it must not also name a backend.
            if let Some(first) = first_declared.get(group) {
                return Err(ctx.error(
                    &name_span,
                    format!("duplicate backend name \"{group}\" (first declared at {first})"),
                ));
            }
            first_declared.insert(group.clone(), here);
            groups.insert(
                group.clone(),
                members.iter().map(|b| b.name.clone()).collect(),
            );
        }
        for backend in members {
            if let Some(first) = first_declared.get(&backend.name) {
                return Err(ctx.error(
                    &name_span,
                    format!(
                        "duplicate backend name \"{}\" (first declared at {first})",
                        backend.name
                    ),
                ));
            }
            first_declared.insert(backend.name.clone(), here);
            backends.push(backend);
            if backends.len() > MAX_BACKENDS {
                return Err(ctx.error(
                    &name_span,
                    format!(
                        "too many backends: at most {MAX_BACKENDS} per scenario (the \
                         simulation's memory grows with backends × duration)"
                    ),
                ));
            }
        }
    }
    let mut declared = Declared {
        names: backends.iter().map(|b| b.name.clone()).collect(),
        ports: backends.iter().map(|b| (b.name.clone(), b.port)).collect(),
        urls: backends.iter().map(BackendSpec::url).collect(),
        pods: backends.iter().map(|b| (b.name.clone(), 1)).collect(),
        shared: backends
            .iter()
            .filter(|b| b.shared_host)
            .map(|b| b.name.clone())
            .collect(),
        groups,
        clients: BTreeSet::new(),
    };

    let mut events = Vec::with_capacity(raw.event.len());
    let mut ids: BTreeMap<String, (Duration, Location)> = BTreeMap::new();
    for event in &raw.event {
        let event = self::event(&ctx, event, duration, &declared, &mut ids)?;
        // An event about a group happens to each member, in member order.
        match event.action.backend().and_then(|b| declared.groups.get(b)) {
            Some(members) => events.extend(members.iter().map(|member| {
                let mut one = event.clone();
                set_backend(&mut one.action, member);
                one
            })),
            None => events.push(event),
        }
    }
    for event in &events {
        match &event.action {
            EventAction::RegistryChangeUrl { url, .. } => {
                declared.urls.insert(url.url.clone());
            }
            EventAction::ReplacePod { backend, .. } => {
                *declared.pods.entry(backend.clone()).or_default() += 1;
            }
            _ => {}
        }
    }
    let names: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
    let clients = parse_client::clients(&ctx, &raw.client, duration, &names)?;
    declared.clients = clients.iter().map(|c| c.name.clone()).collect();
    let mut expects = Vec::with_capacity(raw.expect.len());
    for expect in &raw.expect {
        let expectation = parse_expect::expectation(&ctx, expect, duration, &declared, &ids)?;
        expects.extend(parse_expect::for_each_member(expectation, &declared));
    }
    let frontend = parse_client::frontend(&ctx, &raw, &names)?;
    let vmcp = raw.vmcp.clone().unwrap_or_default();
    check_cost(&ctx, &raw, &backends, &events, duration, &vmcp)?;
    // Stable: events at the same instant keep their file order.
    events.sort_by_key(|event| event.at);
    check_registry_order(&ctx, &backends, &events)?;

    Ok(Scenario {
        file: file.to_owned(),
        name,
        description,
        seed: raw.seed,
        duration,
        tick,
        latency,
        reproduces_bug,
        fixed_schedule,
        vmcp,
        swarm,
        frontend,
        backends,
        clients,
        events,
        expects,
    })
}

/// Registry events must make sense in time order: a backend can only be removed or re-pointed
/// while it is registered, and only added while it is not (its `registered` flag says where it
/// starts).
fn check_registry_order(
    ctx: &Ctx<'_>,
    backends: &[BackendSpec],
    events: &[EventSpec],
) -> Result<()> {
    let mut registered: BTreeMap<&str, bool> = backends
        .iter()
        .map(|b| (b.name.as_str(), b.registered))
        .collect();
    for event in events {
        let (backend, wants_registered, becomes) = match &event.action {
            EventAction::RegistryAdd { backend } => (backend, false, true),
            EventAction::RegistryRemove { backend } => (backend, true, false),
            EventAction::RegistryChangeUrl { backend, .. }
            | EventAction::RegistryChangeAuth { backend, .. } => (backend, true, true),
            _ => continue,
        };
        let is = registered.get(backend.as_str()).copied().unwrap_or(false);
        if is != wants_registered {
            let state = if is {
                "already registered"
            } else {
                "not registered"
            };
            return Err(ScenarioError::invalid(
                ctx.file_name(),
                event.location,
                format!(
                    "{} at {}: backend \"{backend}\" is {state} then (see its `registered` flag \
                     and the earlier registry events)",
                    event.action.name(),
                    duration::format(event.at)
                ),
            ));
        }
        registered.insert(backend.as_str(), becomes);
    }
    Ok(())
}

/// `min_latency` / `max_latency`: both or neither, `min <= max`.
fn latency(ctx: &Ctx<'_>, raw: &RawScenario) -> Result<Option<LinkLatency>> {
    match (&raw.min_latency, &raw.max_latency) {
        (None, None) => Ok(None),
        (Some(min), Some(max)) => {
            let (lo, hi) = (
                bounded(ctx, "min_latency", min)?,
                bounded(ctx, "max_latency", max)?,
            );
            if hi < lo {
                return Err(ctx.error(
                    &max.span(),
                    format!(
                        "max_latency ({}) must not be less than min_latency ({})",
                        duration::format(hi),
                        duration::format(lo)
                    ),
                ));
            }
            Ok(Some(LinkLatency { min: lo, max: hi }))
        }
        (Some(one), None) | (None, Some(one)) => Err(ctx.error(
            &one.span(),
            "min_latency and max_latency go together: set both".to_owned(),
        )),
    }
}

/// The declared backend names, for reference checks.
pub(super) struct Declared {
    names: BTreeSet<String>,
    /// The port each backend's pods listen on, by name.
    ports: BTreeMap<String, u16>,
    /// Every URL the registry can hold during the run (declared URLs, `registry_change_url`s).
    pub urls: BTreeSet<String>,
    /// How many pods each backend has by the end (1 + its `replace_pod` events).
    pub pods: BTreeMap<String, usize>,
    /// Backends whose pods run in the shared pod host.
    shared: BTreeSet<String>,
    /// `count` groups: group name → member names, in order. A reference to a group means each
    /// member.
    pub(super) groups: BTreeMap<String, Vec<String>>,
    /// Declared client names.
    pub(super) clients: BTreeSet<String>,
}

impl Declared {
    /// The port `name`'s pods listen on.
    pub(super) fn port(&self, name: &str) -> Option<u16> {
        self.ports.get(name).copied()
    }

    /// Whether `name` is a declared backend.
    pub(super) fn contains(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    /// Whether `name` (a backend or a group) runs in the shared pod host.
    pub(super) fn is_shared(&self, name: &str) -> bool {
        self.shared.contains(name) || self.groups.contains_key(name)
    }

    /// `(declared: a, b)` or `(no backend is declared)`, for messages; long lists are cut.
    pub(super) fn hint(&self) -> String {
        const SHOWN: usize = 10;
        if self.names.is_empty() {
            return "(no backend is declared)".to_owned();
        }
        let mut names: Vec<&str> = self.groups.keys().map(String::as_str).collect();
        let grouped: BTreeSet<&str> = self.groups.values().flatten().map(String::as_str).collect();
        names.extend(
            self.names
                .iter()
                .map(String::as_str)
                .filter(|n| !grouped.contains(n)),
        );
        let more = names.len().saturating_sub(SHOWN);
        names.truncate(SHOWN);
        let tail = if more > 0 {
            format!(", and {more} more")
        } else {
            String::new()
        };
        format!("(declared: {}{tail})", names.join(", "))
    }

    /// The referenced backend (or `count` group) name, if declared.
    pub(super) fn reference(&self, ctx: &Ctx<'_>, name: &Spanned<String>) -> Result<String> {
        let value = name.get_ref();
        if self.contains(value) || self.groups.contains_key(value) {
            Ok(value.clone())
        } else {
            Err(ctx.error(
                &name.span(),
                format!("undeclared backend \"{value}\" {}", self.hint()),
            ))
        }
    }
}

fn scenario_name(ctx: &Ctx<'_>, name: &Spanned<String>) -> Result<String> {
    let value = name.get_ref();
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(value.clone())
    } else {
        Err(ctx.error(
            &name.span(),
            format!(
                "invalid scenario name \"{value}\": use lowercase letters, digits and `-` only"
            ),
        ))
    }
}

/// A required free-text value that must say something.
fn non_empty(ctx: &Ctx<'_>, key: &str, text: &Spanned<String>) -> Result<String> {
    if text.get_ref().trim().is_empty() {
        Err(ctx.error(&text.span(), format!("{key} must not be empty")))
    } else {
        Ok(text.get_ref().clone())
    }
}

/// A duration that must be greater than zero.
pub(super) fn positive(
    ctx: &Ctx<'_>,
    key: &str,
    value: &Spanned<duration::HumanDuration>,
) -> Result<Duration> {
    let d = value.get_ref().0;
    if d.is_zero() {
        Err(ctx.error(
            &value.span(),
            format!("{key} ({}) must be greater than 0", duration::format(d)),
        ))
    } else {
        bounded(ctx, key, value)
    }
}

/// The longest simulated time any scenario value may name: a day of simulated time is already
/// far beyond what an incident needs, and the bound keeps every `at + duration` computation far
/// from overflow.
pub const MAX_SIMULATED: Duration = Duration::from_secs(24 * 3600);

/// The most simulation steps (`duration / tick`) a scenario may ask for: about a minute of CPU.
pub const MAX_STEPS: u128 = 5_000_000;

/// The most backends a scenario may declare (members of `count` groups included).
pub const MAX_BACKENDS: usize = 10_000;

/// The most turmoil hosts with software a scenario may need: vMCP, every backend with a pod host
/// of its own, every replacement pod, and the shared pod hosts (one per 100 shared pods, at most
/// 10: `crate::shared_host`). turmoil 0.7.2 walks every
/// pair of hosts once per host on each step (O(hosts³) per step; see `docs/BENCHMARKS.md`): 40
/// hosts already make a 2-minute run take seconds. Larger scenarios use `count` groups or
/// `shared_host = true`.
pub const MAX_OWN_HOSTS: usize = 40;

/// The most probes a run may make (backends × duration / `health_check_interval`): at the
/// measured cost of a simulated probe, about a minute of CPU.
pub const MAX_PROBES: u64 = 2_000_000;

/// The most backend entries all published reports together may hold (backends × the most
/// reports `duration`, `registry_poll_interval` and `status_reporting_interval` allow). The run
/// keeps every report for the expectations, so this bounds its memory (a few hundred bytes per
/// entry: well under 2 GiB).
pub const MAX_REPORTED_ENTRIES: u64 = 5_000_000;

/// The guard rails: refuse a scenario the simulator cannot run within the bounds above, pointing
/// at what to change.
fn check_cost(
    ctx: &Ctx<'_>,
    raw: &RawScenario,
    backends: &[BackendSpec],
    events: &[EventSpec],
    duration: Duration,
    vmcp: &vmcp_core::config::FailureHandling,
) -> Result<()> {
    let own: Vec<&BackendSpec> = backends.iter().filter(|b| !b.shared_host).collect();
    let replacements = events
        .iter()
        .filter(|e| matches!(e.action, EventAction::ReplacePod { .. }))
        .count();
    let shared = crate::shared_host::hosts_for(backends.len() - own.len());
    let hosts = 1 + own.len() + replacements + shared;
    if hosts > MAX_OWN_HOSTS {
        // Point at the first backend past the limit when there is one, else at the first event.
        let limit_backend = own.get(MAX_OWN_HOSTS.saturating_sub(1 + shared));
        let location = limit_backend.map_or_else(
            || {
                events
                    .first()
                    .map_or(Location { line: 1, column: 1 }, |e| e.location)
            },
            |b| b.location,
        );
        return Err(ScenarioError::invalid(
            ctx.file_name(),
            location,
            format!(
                "this scenario needs {hosts} simulated hosts (vmcp, {} backends with a pod host of \
                 their own, {replacements} replacement pods{}), at most {MAX_OWN_HOSTS}: the \
                 simulator's cost per step grows with the cube of the host count. Put backends \
                 into the shared pod host (`count = <n>` or `shared_host = true`)",
                own.len(),
                match shared {
                    0 => String::new(),
                    1 => ", the shared pod host".to_owned(),
                    n => format!(", {n} shared pod hosts"),
                }
            ),
        ));
    }
    let n = u64::try_from(backends.len()).unwrap_or(u64::MAX);
    let per = |interval: Duration| {
        u64::try_from(duration.as_nanos() / interval.as_nanos().max(1))
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    };
    let probes = n.saturating_mul(per(vmcp.health_check_interval));
    if probes > MAX_PROBES {
        return Err(ctx.error(
            &raw.duration.span(),
            format!(
                "{n} backends probed every {} for {} make {probes} probes, at most {MAX_PROBES}: \
                 shorten the run, probe less often or use fewer backends",
                duration::format(vmcp.health_check_interval),
                duration::format(duration)
            ),
        ));
    }
    let reports =
        per(vmcp.registry_poll_interval).saturating_add(per(vmcp.status_reporting_interval));
    let entries = n.saturating_mul(reports);
    if entries > MAX_REPORTED_ENTRIES {
        return Err(ctx.error(
            &raw.duration.span(),
            format!(
                "{n} backends in up to {reports} reports (one per registry_poll_interval {} and \
                 status_reporting_interval {} over {}) make {entries} reported entries, at most \
                 {MAX_REPORTED_ENTRIES} (every report is kept for the expectations): shorten the \
                 run, lengthen the intervals or use fewer backends",
                duration::format(vmcp.registry_poll_interval),
                duration::format(vmcp.status_reporting_interval),
                duration::format(duration)
            ),
        ));
    }
    Ok(())
}

/// `value <= MAX_SIMULATED`.
pub(super) fn bounded(
    ctx: &Ctx<'_>,
    key: &str,
    value: &Spanned<duration::HumanDuration>,
) -> Result<Duration> {
    let d = value.get_ref().0;
    if d > MAX_SIMULATED {
        return Err(ctx.error(
            &value.span(),
            format!(
                "{key} ({}) must be at most {}",
                duration::format(d),
                duration::format(MAX_SIMULATED)
            ),
        ));
    }
    Ok(d)
}

/// The key (of `keys`) written first in the file that `allowed` does not contain.
pub(super) fn first_unused(
    keys: Vec<(&'static str, Range<usize>)>,
    allowed: &[&str],
) -> Option<(&'static str, Range<usize>)> {
    keys.into_iter()
        .filter(|(key, _)| !allowed.contains(key))
        .min_by_key(|(_, span)| span.start)
}

/// `a, b, c` from a list of names, for "expected one of" messages.
pub(super) fn one_of(names: &[&str]) -> String {
    names.join(", ")
}

// -------------------------------------------------------------------------------------------------
// Backends

/// One `[[backend]]` table: the backend, or with `count` the group name and its members
/// `<name>-<i>` (1-based, zero-padded to the width of `count`), all in the shared pod host.
fn backend(
    ctx: &Ctx<'_>,
    spanned: &Spanned<RawBackend>,
) -> Result<(Option<String>, Vec<BackendSpec>)> {
    let raw = spanned.get_ref();
    let name = backend_name(ctx, &raw.name)?;
    let shared_host = raw.shared_host.as_ref().map(|s| *s.get_ref());
    let Some(count) = &raw.count else {
        let mut one = backend_spec(ctx, spanned, name)?;
        one.shared_host = shared_host.unwrap_or(false);
        return Ok((None, vec![one]));
    };
    let n = *count.get_ref();
    let max = i64::try_from(MAX_BACKENDS).unwrap_or(i64::MAX);
    if !(1..=max).contains(&n) {
        return Err(ctx.error(
            &count.span(),
            format!("count ({n}) must be between 1 and {MAX_BACKENDS}"),
        ));
    }
    if let Some(own) = &raw.shared_host
        && !*own.get_ref()
    {
        return Err(ctx.key_error(
            &own.span(),
            "a `count` group always runs in the shared pod host: drop `shared_host = false`, or \
             declare the backends one by one to give each a host of its own",
        ));
    }
    let width = n.to_string().len();
    let mut members = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
    for i in 1..=n {
        let member = format!("{name}-{i:0width$}");
        let member_name = Spanned::new(raw.name.span(), member.clone());
        let valid = backend_name(ctx, &member_name).map_err(|_| {
            ctx.error(
                &raw.name.span(),
                format!(
                    "group \"{name}\" with count = {n} gives member names like \"{member}\", \
                     which are not valid backend names: keep the name at most {} characters and \
                     not ending in `-pod`",
                    62 - width
                ),
            )
        })?;
        let mut one = backend_spec(ctx, spanned, valid)?;
        one.shared_host = true;
        members.push(one);
    }
    Ok((Some(name), members))
}

fn backend_spec(ctx: &Ctx<'_>, spanned: &Spanned<RawBackend>, name: String) -> Result<BackendSpec> {
    let raw = spanned.get_ref();
    let port = match &raw.port {
        Some(port) if *port.get_ref() == 0 => {
            return Err(ctx.error(&port.span(), "port 0 is not a valid port: use 1..=65535"));
        }
        Some(port) => *port.get_ref(),
        None => DEFAULT_PORT,
    };
    let path = match &raw.path {
        Some(path) => {
            let value = path.get_ref();
            if !value.starts_with('/') {
                return Err(ctx.error(
                    &path.span(),
                    format!("path \"{value}\" must start with `/`"),
                ));
            }
            if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(ctx.error(
                    &path.span(),
                    format!(
                        "path \"{}\" must not contain whitespace",
                        value.escape_debug()
                    ),
                ));
            }
            value.clone()
        }
        None => DEFAULT_PATH.to_owned(),
    };
    let auth = raw
        .auth
        .as_ref()
        .map(|auth| self::auth(ctx, auth))
        .transpose()?;
    let tools = match &raw.tools {
        Some(list) => {
            let mut tools: Vec<String> = Vec::new();
            if list.get_ref().is_empty() {
                return Err(ctx.error(
                    &list.span(),
                    "tools must not be empty (leave the key out for the default tool `echo`)",
                ));
            }
            for tool in list.get_ref() {
                let name = tool.get_ref();
                let ok = !name.is_empty()
                    && name.len() <= 64
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
                if !ok {
                    return Err(ctx.error(
                        &tool.span(),
                        format!(
                            "invalid tool name \"{}\": use 1 to 64 ASCII letters, digits, `_`, `-` \
                             or `.`",
                            name.escape_debug()
                        ),
                    ));
                }
                if tools.contains(name) {
                    return Err(ctx.error(&tool.span(), format!("duplicate tool \"{name}\"")));
                }
                tools.push(name.clone());
            }
            Some(tools)
        }
        None => None,
    };
    let unknown_session_status = match &raw.unknown_session_status {
        Some(status) if ![400, 404].contains(status.get_ref()) => {
            return Err(ctx.error(
                &status.span(),
                format!(
                    "unknown_session_status ({}) must be 404 (the spec) or 400 (what some SDKs \
                     answer)",
                    status.get_ref()
                ),
            ));
        }
        Some(status) => *status.get_ref(),
        None => 404,
    };
    Ok(BackendSpec {
        tools,
        unknown_session_status,
        name,
        port,
        path,
        behaviour: raw.behaviour.unwrap_or_default(),
        registered: raw.registered.unwrap_or(true),
        auth,
        require_auth: raw.require_auth.unwrap_or(false),
        shared_host: false,
        location: ctx.location(&spanned.span()),
    })
}

/// A backend name is a host name in the simulated network: one DNS label, and not one the world
/// uses for its own hosts (`vmcp`, `<backend>-pod-<n>`).
fn backend_name(ctx: &Ctx<'_>, name: &Spanned<String>) -> Result<String> {
    let value = name.get_ref();
    let label = !value.is_empty()
        && value.len() <= 63
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if !label {
        return Err(ctx.error(
            &name.span(),
            format!(
                "invalid backend name \"{}\": it is a host name, so use 1 to 63 lowercase \
                 letters, digits and `-`, starting and ending with a letter or digit",
                value.escape_debug()
            ),
        ));
    }
    if value == "vmcp" {
        return Err(ctx.error(
            &name.span(),
            "backend name \"vmcp\" is reserved for the vMCP host",
        ));
    }
    if let Some((_, n)) = value.rsplit_once("-pod-") {
        if !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()) {
            return Err(ctx.error(
                &name.span(),
                format!(
                    "backend name \"{value}\" looks like a pod host name (`<backend>-pod-<n>`) \
                     and could clash with one: choose another name"
                ),
            ));
        }
    }
    Ok(value.clone())
}

const AUTH_TYPES: &[&str] = &["bearer", "header"];

fn auth(ctx: &Ctx<'_>, spanned: &Spanned<RawAuth>) -> Result<OutgoingAuth> {
    let raw = spanned.get_ref();
    let type_ = raw.type_.get_ref().as_str();
    let allowed: &[&str] = match type_ {
        "bearer" => &["token"],
        "header" => &["name", "value"],
        other => {
            return Err(ctx.error(
                &raw.type_.span(),
                format!(
                    "invalid auth type \"{other}\": expected one of {}",
                    one_of(AUTH_TYPES)
                ),
            ));
        }
    };
    let mut keys = Vec::new();
    for (key, value) in [
        ("token", &raw.token),
        ("name", &raw.name),
        ("value", &raw.value),
    ] {
        if let Some(value) = value {
            keys.push((key, value.span()));
        }
    }
    if let Some((key, span)) = first_unused(keys, allowed) {
        return Err(ctx.key_error(
            &span,
            format!("key `{key}` is not used by auth type `{type_}`"),
        ));
    }
    let required = |key: &str, value: &Option<Spanned<String>>| -> Result<Spanned<String>> {
        match value {
            Some(value) if value.get_ref().is_empty() => {
                Err(ctx.error(&value.span(), format!("auth {key} must not be empty")))
            }
            Some(value) if !header_value_ok(value.get_ref()) => Err(ctx.error(
                &value.span(),
                format!(
                    "auth {key} must be visible ASCII (it is sent in an HTTP header), \
                     without leading or trailing spaces"
                ),
            )),
            Some(value) => Ok(value.clone()),
            None => Err(ctx.error(
                &raw.type_.span(),
                format!("auth type `{type_}` needs `{key}`"),
            )),
        }
    };
    match type_ {
        "bearer" => Ok(OutgoingAuth::Bearer {
            token: Secret::new(required("token", &raw.token)?.into_inner()),
        }),
        _ => {
            let name = required("name", &raw.name)?;
            if !name.get_ref().bytes().all(is_tchar) {
                return Err(ctx.error(
                    &name.span(),
                    format!(
                        "invalid header name \"{}\": use letters, digits and !#$%&'*+-.^_`|~",
                        name.get_ref().escape_debug()
                    ),
                ));
            }
            let value = required("value", &raw.value)?;
            Ok(OutgoingAuth::Header {
                name: name.into_inner(),
                value: Secret::new(value.into_inner()),
            })
        }
    }
}

/// RFC 9110 `tchar`: the bytes allowed in a header name.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible ASCII and inner spaces: what can be sent as a header value without surprises.
fn header_value_ok(value: &str) -> bool {
    value.bytes().all(|b| b == b' ' || b.is_ascii_graphic())
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}

// -------------------------------------------------------------------------------------------------
// Events

/// Each action with the optional keys it uses (besides `at`, `id`, `action`).
const ACTIONS: &[(&str, &[&str])] = &[
    (
        "replace_pod",
        &["backend", "old_pod", "stale_behaviour", "behaviour"],
    ),
    ("set_behaviour", &["backend", "behaviour", "for"]),
    ("crash_pod", &["backend"]),
    ("restart_pod", &["backend"]),
    ("crash_vmcp", &[]),
    ("restart_vmcp", &[]),
    ("partition", &["backend"]),
    ("repair", &["backend"]),
    ("hold", &["backend"]),
    ("release", &["backend"]),
    ("latency", &["backend", "latency"]),
    ("registry_add", &["backend"]),
    ("registry_remove", &["backend"]),
    ("registry_change_url", &["backend", "url"]),
    ("registry_change_auth", &["backend", "auth"]),
    ("set_pod_auth", &["backend", "auth"]),
];

const OLD_POD: &[&str] = &["terminate", "stale", "blackhole"];

/// Actions that act on a pod's host or on its link to vMCP, which a pod in the shared pod host
/// does not have to itself (see `vmcp_sim::shared_host`).
const OWN_HOST_ACTIONS: &[&str] = &[
    "replace_pod",
    "crash_pod",
    "restart_pod",
    "partition",
    "repair",
    "hold",
    "release",
    "latency",
];

/// Points an event about a group at one of its members.
fn set_backend(action: &mut EventAction, member: &str) {
    match action {
        EventAction::ReplacePod { backend, .. }
        | EventAction::SetBehaviour { backend, .. }
        | EventAction::CrashPod { backend }
        | EventAction::RestartPod { backend }
        | EventAction::Partition { backend }
        | EventAction::Repair { backend }
        | EventAction::Hold { backend }
        | EventAction::Release { backend }
        | EventAction::Latency { backend, .. }
        | EventAction::RegistryAdd { backend }
        | EventAction::RegistryRemove { backend }
        | EventAction::RegistryChangeUrl { backend, .. }
        | EventAction::RegistryChangeAuth { backend, .. }
        | EventAction::SetPodAuth { backend, .. } => member.clone_into(backend),
        EventAction::CrashVmcp | EventAction::RestartVmcp => {}
    }
}

fn event(
    ctx: &Ctx<'_>,
    spanned: &Spanned<RawEvent>,
    run: Duration,
    declared: &Declared,
    ids: &mut BTreeMap<String, (Duration, Location)>,
) -> Result<EventSpec> {
    let raw = spanned.get_ref();
    let location = ctx.location(&spanned.span());
    let action_span = raw.action.span();
    let action = raw.action.get_ref().as_str();
    let Some((_, allowed)) = ACTIONS.iter().find(|(name, _)| *name == action) else {
        let names: Vec<&str> = ACTIONS.iter().map(|(name, _)| *name).collect();
        return Err(ctx.error(
            &action_span,
            format!(
                "invalid action \"{action}\": expected one of {}",
                one_of(&names)
            ),
        ));
    };
    if let Some((key, span)) = first_unused(raw.present_keys(), allowed) {
        return Err(ctx.key_error(
            &span,
            format!("key `{key}` is not used by action `{action}`"),
        ));
    }

    let at = raw.at.get_ref().0;
    if at >= run {
        return Err(ctx.error(
            &raw.at.span(),
            format!(
                "event at {} is at or after the end of the run (duration = {})",
                duration::format(at),
                duration::format(run)
            ),
        ));
    }
    let id = match &raw.id {
        Some(id) => Some(event_id(ctx, id, at, ids)?),
        None => None,
    };

    let needs = |key: &str| ctx.error(&action_span, format!("action `{action}` needs `{key}`"));
    let backend = match (&raw.backend, allowed.contains(&"backend")) {
        (Some(backend), _) => declared.reference(ctx, backend)?,
        (None, true) => return Err(needs("backend")),
        (None, false) => String::new(),
    };
    if OWN_HOST_ACTIONS.contains(&action)
        && declared.is_shared(&backend)
        && let Some(span) = raw.backend.as_ref().map(Spanned::span)
    {
        return Err(ctx.error(
            &span,
            format!(
                "action `{action}` needs a backend with a pod host of its own, but \"{backend}\" \
                 runs in the shared pod host (`count` or `shared_host = true`): declare it as \
                 its own [[backend]]"
            ),
        ));
    }
    let action = match action {
        "replace_pod" => {
            let old_pod = old_pod(ctx, raw)?;
            EventAction::ReplacePod {
                backend,
                old_pod,
                behaviour: raw
                    .behaviour
                    .as_ref()
                    .map_or(Behaviour::Healthy, |b| *b.get_ref()),
            }
        }
        "set_behaviour" => EventAction::SetBehaviour {
            backend,
            behaviour: *raw
                .behaviour
                .as_ref()
                .ok_or_else(|| needs("behaviour"))?
                .get_ref(),
            for_: raw
                .for_
                .as_ref()
                .map(|d| positive(ctx, "for", d))
                .transpose()?,
        },
        "crash_pod" => EventAction::CrashPod { backend },
        "restart_pod" => EventAction::RestartPod { backend },
        "crash_vmcp" => EventAction::CrashVmcp,
        "restart_vmcp" => EventAction::RestartVmcp,
        "partition" => EventAction::Partition { backend },
        "repair" => EventAction::Repair { backend },
        "hold" => EventAction::Hold { backend },
        "release" => EventAction::Release { backend },
        "latency" => EventAction::Latency {
            backend,
            latency: bounded(
                ctx,
                "latency",
                raw.latency.as_ref().ok_or_else(|| needs("latency"))?,
            )?,
        },
        "registry_add" => EventAction::RegistryAdd { backend },
        "registry_remove" => EventAction::RegistryRemove { backend },
        "registry_change_auth" => EventAction::RegistryChangeAuth {
            backend,
            auth: raw.auth.as_ref().map(|a| auth(ctx, a)).transpose()?,
        },
        "set_pod_auth" => EventAction::SetPodAuth {
            backend,
            auth: raw.auth.as_ref().map(|a| auth(ctx, a)).transpose()?,
        },
        _ => EventAction::RegistryChangeUrl {
            backend,
            url: sim_url(ctx, raw.url.as_ref().ok_or_else(|| needs("url"))?, declared)?,
        },
    };
    Ok(EventSpec {
        at,
        id,
        action,
        location,
    })
}

fn event_id(
    ctx: &Ctx<'_>,
    id: &Spanned<String>,
    at: Duration,
    ids: &mut BTreeMap<String, (Duration, Location)>,
) -> Result<String> {
    let value = id.get_ref();
    let valid = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        return Err(ctx.error(
            &id.span(),
            format!(
                "invalid event id \"{}\": use lowercase letters, digits, `-` and `_` only",
                value.escape_debug()
            ),
        ));
    }
    let location = ctx.location(&id.span());
    if let Some((_, first)) = ids.get(value) {
        return Err(ctx.error(
            &id.span(),
            format!("duplicate event id \"{value}\" (first defined at {first})"),
        ));
    }
    ids.insert(value.clone(), (at, location));
    Ok(value.clone())
}

/// `old_pod` and `stale_behaviour` of a `replace_pod` event: the behaviour is required exactly
/// when the old pod stays stale.
fn old_pod(ctx: &Ctx<'_>, raw: &RawEvent) -> Result<OldPod> {
    let kind = raw
        .old_pod
        .as_ref()
        .map_or("terminate", |k| k.get_ref().as_str());
    match (kind, &raw.stale_behaviour) {
        ("stale", Some(behaviour)) => Ok(OldPod::Stale(*behaviour.get_ref())),
        ("stale", None) => Err(ctx.error(
            &raw.old_pod.as_ref().map_or(0..0, Spanned::span),
            "old_pod = \"stale\" needs `stale_behaviour` (how the old pod answers its existing \
             connections)",
        )),
        (_, Some(behaviour)) if OLD_POD.contains(&kind) => Err(ctx.key_error(
            &behaviour.span(),
            format!("key `stale_behaviour` is only used with old_pod = \"stale\", not \"{kind}\""),
        )),
        ("terminate", None) => Ok(OldPod::Terminate),
        ("blackhole", None) => Ok(OldPod::Blackhole),
        (other, _) => Err(ctx.error(
            &raw.old_pod.as_ref().map_or(0..0, Spanned::span),
            format!(
                "invalid old_pod \"{other}\": expected one of {}",
                one_of(OLD_POD)
            ),
        )),
    }
}

/// `http://<declared backend>[:port][/path]`: vMCP can only reach hosts of the simulated network.
fn sim_url(ctx: &Ctx<'_>, url: &Spanned<String>, declared: &Declared) -> Result<SimUrl> {
    let text = url.get_ref();
    let bad = |why: String| {
        ctx.error(
            &url.span(),
            format!("url \"{}\" {why}", text.escape_debug()),
        )
    };
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain whitespace".to_owned()));
    }
    let Some(rest) = text.strip_prefix("http://") else {
        return Err(bad(
            "must start with `http://` (the simulated network speaks plain HTTP)".to_owned(),
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err(bad(
            "must not contain user info: credentials go in the backend's `auth`".to_owned(),
        ));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => match port.parse::<u16>() {
            Ok(port) if port != 0 => (host, port),
            _ => {
                return Err(bad(format!(
                    "has an invalid port \"{port}\": use 1..=65535"
                )));
            }
        },
        None => (authority, 80),
    };
    if host.is_empty() {
        return Err(bad("has no host".to_owned()));
    }
    if !declared.contains(host) {
        return Err(bad(format!(
            "names host \"{host}\", which is not a declared backend {}",
            declared.hint()
        )));
    }
    if let Some(listening) = declared.port(host)
        && listening != port
    {
        return Err(bad(format!(
            "names port {port}, but the pods of \"{host}\" listen on port {listening}"
        )));
    }
    Ok(SimUrl {
        url: text.clone(),
        host: host.to_owned(),
        port,
        path: path.to_owned(),
    })
}
