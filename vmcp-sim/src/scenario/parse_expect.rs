//! From `[[expect]]` tables to validated [`Expectation`]s: kinds, windows, conditions, counters.
//!
//! Windows are resolved here (defaults applied, `within` turned into absolute times from the
//! referenced event), so the runner only compares instants.

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;
use vmcp_core::config::duration::{self, HumanDuration};

use super::context::Ctx;
use super::error::ScenarioError;
use super::expect::{
    BackendCondition, CallFilter, Condition, CountBounds, Counter, ExpectKind, Expectation,
    Observed, Trigger, Window,
};
use super::location::Location;
use super::parse::{Declared, first_unused, one_of};
use super::raw::{RawEquals, RawExpect};
use super::values::{self, CATEGORIES, CIRCUITS, CRD_STATUSES, PHASES, REASONS, STATUSES};
use crate::trace::CallOutcome;

type Result<T> = std::result::Result<T, ScenarioError>;

/// The keys of a condition (see [`Condition`]), used by every kind but `count`.
const CONDITION_KEYS: &[&str] = &[
    "backend",
    "present",
    "status",
    "crd_status",
    "reason",
    "circuit",
    "category",
    "message",
    "url",
    "phase",
    "on",
];

/// Each kind with its own keys (besides `kind` and `description`) and whether it takes a
/// condition (then the [`CONDITION_KEYS`] are allowed too).
const KINDS: &[(&str, &[&str], bool)] = &[
    ("eventually", &["from", "by"], true),
    ("always", &["from", "to"], true),
    ("never", &["from", "to"], true),
    ("within", &["after", "within"], true),
    (
        "count",
        &[
            "counter",
            "from",
            "to",
            "min",
            "max",
            "equals",
            "backend",
            "url",
            "pod",
            "client",
            "tool",
            "outcome",
            "method",
            "authorized",
        ],
        false,
    ),
    (
        "call_latency",
        &[
            "client",
            "tool",
            "backend",
            "outcome",
            "from",
            "to",
            "max_latency",
        ],
        false,
    ),
    (
        "tools",
        &["client", "at", "contains", "excludes", "equals"],
        false,
    ),
    (
        "notified",
        &[
            "client",
            "after",
            "within",
            "from",
            "backend",
            "present",
            "status",
            "crd_status",
            "reason",
            "circuit",
            "category",
            "message",
        ],
        false,
    ),
];

const COUNTERS: &[&str] = &[
    "probes",
    "skips",
    "connections",
    "reports",
    "calls",
    "pod_requests",
    "list_changed",
    "backend_sessions",
    "client_sessions",
];

const OUTCOMES: &[&str] = &[
    "ok",
    "tool_error",
    "rpc_error",
    "timeout",
    "transport_error",
];

/// Parse one `[[expect]]` table.
pub(super) fn expectation(
    ctx: &Ctx<'_>,
    spanned: &Spanned<RawExpect>,
    run: Duration,
    declared: &Declared,
    event_ids: &BTreeMap<String, (Duration, Location)>,
) -> Result<Expectation> {
    let raw = spanned.get_ref();
    let kind_span = raw.kind.span();
    let kind = raw.kind.get_ref().as_str();
    let Some((_, own, takes_condition)) = KINDS.iter().find(|(name, ..)| *name == kind) else {
        let names: Vec<&str> = KINDS.iter().map(|(name, ..)| *name).collect();
        return Err(ctx.error(
            &kind_span,
            format!(
                "invalid kind \"{kind}\": expected one of {}",
                one_of(&names)
            ),
        ));
    };
    let mut allowed = own.to_vec();
    if *takes_condition {
        allowed.extend_from_slice(CONDITION_KEYS);
    }
    if let Some((key, span)) = first_unused(raw.present_keys(), &allowed) {
        return Err(ctx.key_error(&span, format!("key `{key}` is not used by kind `{kind}`")));
    }
    let description = match &raw.description {
        Some(text) if text.get_ref().trim().is_empty() => {
            return Err(ctx.error(&text.span(), "description must not be empty"));
        }
        Some(text) => Some(text.get_ref().clone()),
        None => None,
    };
    let needs = |key: &str| ctx.error(&kind_span, format!("kind `{kind}` needs `{key}`"));

    let kind = match kind {
        "eventually" => {
            let by = raw.by.as_ref().ok_or_else(|| needs("by"))?;
            let window = eventually_window(ctx, raw.from.as_ref(), by, run)?;
            let condition = condition(ctx, raw, kind, &kind_span, declared)?;
            ExpectKind::Eventually { window, condition }
        }
        "always" | "never" => {
            let window = span_window(ctx, raw.from.as_ref(), raw.to.as_ref(), run)?;
            let condition = condition(ctx, raw, kind, &kind_span, declared)?;
            if kind == "always" {
                ExpectKind::Always { window, condition }
            } else {
                ExpectKind::Never { window, condition }
            }
        }
        "within" => {
            let after = raw.after.as_ref().ok_or_else(|| needs("after"))?;
            let within = raw.within.as_ref().ok_or_else(|| needs("within"))?;
            let window = within_window(ctx, after, within, run, event_ids)?;
            let condition = condition(ctx, raw, kind, &kind_span, declared)?;
            ExpectKind::Within {
                after: after.get_ref().clone(),
                window,
                condition,
            }
        }
        "call_latency" => {
            let max = raw
                .max_latency
                .as_ref()
                .ok_or_else(|| needs("max_latency"))?;
            let window = span_window(ctx, raw.from.as_ref(), raw.to.as_ref(), run)?;
            ExpectKind::CallLatency {
                calls: call_filter(ctx, raw, declared)?,
                window,
                max: max.get_ref().0,
            }
        }
        "tools" => {
            let client = client_ref(
                ctx,
                raw.client.as_ref().ok_or_else(|| needs("client"))?,
                declared,
            )?;
            let at = raw.at.as_ref().ok_or_else(|| needs("at"))?;
            let at_value = at.get_ref().0;
            if at_value > run {
                return Err(ctx.error(
                    &at.span(),
                    format!(
                        "at ({}) is after the end of the run (duration = {})",
                        fmt(at_value),
                        fmt(run)
                    ),
                ));
            }
            let equals = match &raw.equals {
                Some(e) => match e.get_ref() {
                    RawEquals::Names(names) => Some(names.clone()),
                    RawEquals::Count(_) => {
                        return Err(ctx.error(
                            &e.span(),
                            "kind `tools` takes `equals = [\"name\", ...]` (the listed names), \
                             not a number",
                        ));
                    }
                },
                None => None,
            };
            let contains = raw
                .contains
                .as_ref()
                .map(|c| c.get_ref().clone())
                .unwrap_or_default();
            let excludes = raw
                .excludes
                .as_ref()
                .map(|c| c.get_ref().clone())
                .unwrap_or_default();
            if equals.is_none() && contains.is_empty() && excludes.is_empty() {
                return Err(ctx.error(
                    &kind_span,
                    "kind `tools` needs `contains`, `excludes` or `equals` (lists of tool names)",
                ));
            }
            if let Some(name) = contains.iter().find(|n| excludes.contains(n)) {
                return Err(ctx.error(
                    &kind_span,
                    format!("tool \"{name}\" is in both `contains` and `excludes`"),
                ));
            }
            ExpectKind::Tools {
                client,
                window: Window {
                    from: at_value,
                    to: at_value,
                },
                contains,
                excludes,
                equals,
            }
        }
        "notified" => {
            let client = client_ref(
                ctx,
                raw.client.as_ref().ok_or_else(|| needs("client"))?,
                declared,
            )?;
            let within = raw.within.as_ref().ok_or_else(|| needs("within"))?;
            match (&raw.after, &raw.backend) {
                (Some(after), None) => {
                    if let Some(from) = &raw.from {
                        return Err(ctx.key_error(
                            &from.span(),
                            "key `from` is not used with `after` (the event's time starts the \
                             clock)",
                        ));
                    }
                    let window = within_window(ctx, after, within, run, event_ids)?;
                    ExpectKind::Notified {
                        client,
                        trigger: Trigger::Event(after.get_ref().clone()),
                        within: within.get_ref().0,
                        window,
                    }
                }
                (None, Some(_)) => {
                    let condition = condition(ctx, raw, kind, &kind_span, declared)?;
                    let window = span_window(ctx, raw.from.as_ref(), None, run)?;
                    ExpectKind::Notified {
                        client,
                        trigger: Trigger::State(condition),
                        within: within.get_ref().0,
                        window,
                    }
                }
                (Some(after), Some(_)) => {
                    return Err(ctx.key_error(
                        &after.span(),
                        "kind `notified` is triggered by `after = \"<event id>\"` or by a state \
                         change (`backend` and a condition), not both",
                    ));
                }
                (None, None) => {
                    return Err(ctx.error(
                        &kind_span,
                        "kind `notified` needs a trigger: `after = \"<event id>\"`, or `backend` \
                         with a condition on its state (status, circuit, ...)",
                    ));
                }
            }
        }
        _ => {
            let counter_value = raw.counter.as_ref().ok_or_else(|| needs("counter"))?;
            let counter = counter(ctx, counter_value, raw, declared)?;
            let window = span_window(ctx, raw.from.as_ref(), raw.to.as_ref(), run)?;
            let bounds = bounds(ctx, raw, &kind_span)?;
            ExpectKind::Count {
                counter,
                window,
                bounds,
            }
        }
    };
    let on = observed(ctx, raw)?;
    Ok(Expectation {
        kind,
        on,
        description,
        location: ctx.location(&spanned.span()),
    })
}

/// `on = "reports"` (default) or `on = "state"`; the state has no phase and no URL.
fn observed(ctx: &Ctx<'_>, raw: &RawExpect) -> Result<Observed> {
    let Some(on) = &raw.on else {
        return Ok(Observed::Reports);
    };
    let on_value = match on.get_ref().as_str() {
        "reports" => Observed::Reports,
        "state" => Observed::State,
        other => {
            return Err(ctx.error(
                &on.span(),
                format!(
                    "invalid on \"{}\": expected one of \"reports\" (published status reports, \
                     the default) or \"state\" (the monitor's state as it changes)",
                    other.escape_debug()
                ),
            ));
        }
    };
    if on_value == Observed::State {
        for (key, value) in [("phase", &raw.phase), ("url", &raw.url)] {
            if let Some(value) = value {
                return Err(ctx.key_error(
                    &value.span(),
                    format!(
                        "condition `{key}` is a property of published reports, not of the \
                         monitor's state: use on = \"reports\" (the default)"
                    ),
                ));
            }
        }
        if raw.backend.is_none() {
            return Err(ctx.error(
                &on.span(),
                "on = \"state\" needs `backend = \"<name>\"`: the state is per backend",
            ));
        }
    }
    Ok(on_value)
}

/// A `url` condition or counter filter: one of the URLs the registry can hold in this run.
fn registered_url(ctx: &Ctx<'_>, url: &Spanned<String>, declared: &Declared) -> Result<String> {
    let value = url.get_ref();
    if declared.urls.contains(value) {
        return Ok(value.clone());
    }
    let known: Vec<&str> = declared.urls.iter().map(String::as_str).collect();
    Err(ctx.error(
        &url.span(),
        format!(
            "url \"{}\" is never registered in this scenario: expected one of {}",
            value.escape_debug(),
            known.join(", ")
        ),
    ))
}

/// A `pod` counter filter: `<backend>-pod-<n>`, a pod the backend has at some point of the run.
fn pod_of(
    ctx: &Ctx<'_>,
    pod: &Spanned<String>,
    backend: &str,
    declared: &Declared,
) -> Result<String> {
    let value = pod.get_ref();
    let count = declared.pods.get(backend).copied().unwrap_or(1);
    let n = value
        .strip_prefix(backend)
        .and_then(|rest| rest.strip_prefix("-pod-"))
        .and_then(|n| n.parse::<usize>().ok());
    match n {
        Some(n) if (1..=count).contains(&n) && *value == format!("{backend}-pod-{n}") => {
            Ok(value.clone())
        }
        _ => Err(ctx.error(
            &pod.span(),
            format!(
                "pod \"{}\" is not a pod of backend \"{backend}\": it has {count} in this run \
                 ({backend}-pod-1 .. {backend}-pod-{count}, one more per replace_pod)",
                value.escape_debug()
            ),
        )),
    }
}

/// An expectation about a `count` group: one expectation per member, in member order, each
/// checked (and failing) on its own. Any other expectation is returned as it is.
pub(super) fn for_each_member(expectation: Expectation, declared: &Declared) -> Vec<Expectation> {
    let members = subject(&expectation).and_then(|name| declared.groups.get(name));
    let Some(members) = members else {
        return vec![expectation];
    };
    members
        .iter()
        .map(|member| {
            let mut one = expectation.clone();
            set_subject(&mut one, member);
            one
        })
        .collect()
}

fn subject(expectation: &Expectation) -> Option<&str> {
    match &expectation.kind {
        ExpectKind::Eventually { condition, .. }
        | ExpectKind::Always { condition, .. }
        | ExpectKind::Never { condition, .. }
        | ExpectKind::Within { condition, .. } => {
            condition.backend.as_ref().map(|b| b.backend.as_str())
        }
        ExpectKind::Count { counter, .. } => match counter {
            Counter::Probes { backend, .. }
            | Counter::Skips { backend, .. }
            | Counter::Connections { backend, .. } => Some(backend),
            _ => None,
        },
        ExpectKind::CallLatency { .. } | ExpectKind::Tools { .. } | ExpectKind::Notified { .. } => {
            None
        }
    }
}

fn set_subject(expectation: &mut Expectation, member: &str) {
    match &mut expectation.kind {
        ExpectKind::Eventually { condition, .. }
        | ExpectKind::Always { condition, .. }
        | ExpectKind::Never { condition, .. }
        | ExpectKind::Within { condition, .. } => {
            if let Some(b) = &mut condition.backend {
                member.clone_into(&mut b.backend);
            }
        }
        ExpectKind::Count { counter, .. } => match counter {
            Counter::Probes { backend, .. }
            | Counter::Skips { backend, .. }
            | Counter::Connections { backend, .. } => member.clone_into(backend),
            _ => {}
        },
        ExpectKind::CallLatency { .. } | ExpectKind::Tools { .. } | ExpectKind::Notified { .. } => {
        }
    }
}

fn fmt(d: Duration) -> String {
    duration::format(d)
}

/// `[from (default 0), by]`, inside the run.
fn eventually_window(
    ctx: &Ctx<'_>,
    from: Option<&Spanned<HumanDuration>>,
    by: &Spanned<HumanDuration>,
    run: Duration,
) -> Result<Window> {
    let to = by.get_ref().0;
    if to > run {
        return Err(ctx.error(
            &by.span(),
            format!(
                "by ({}) is after the end of the run (duration = {})",
                fmt(to),
                fmt(run)
            ),
        ));
    }
    let from_value = from.map_or(Duration::ZERO, |f| f.get_ref().0);
    if let Some(from) = from {
        if from_value > to {
            return Err(ctx.error(
                &from.span(),
                format!(
                    "from ({}) must not be after by ({})",
                    fmt(from_value),
                    fmt(to)
                ),
            ));
        }
    }
    Ok(Window {
        from: from_value,
        to,
    })
}

/// `[from (default 0), to (default end of run)]`, non-empty, inside the run.
fn span_window(
    ctx: &Ctx<'_>,
    from: Option<&Spanned<HumanDuration>>,
    to: Option<&Spanned<HumanDuration>>,
    run: Duration,
) -> Result<Window> {
    let to_value = to.map_or(run, |t| t.get_ref().0);
    if let Some(to) = to {
        if to_value > run {
            return Err(ctx.error(
                &to.span(),
                format!(
                    "to ({}) is after the end of the run (duration = {})",
                    fmt(to_value),
                    fmt(run)
                ),
            ));
        }
    }
    let from_value = from.map_or(Duration::ZERO, |f| f.get_ref().0);
    if from_value >= to_value {
        let end = match to {
            Some(_) => format!("to ({})", fmt(to_value)),
            None => format!("the end of the run (duration = {})", fmt(run)),
        };
        // `from` is given here: with from = 0 the window can only be empty when `to` is 0.
        let span = match (from, to) {
            (Some(from), _) => from.span(),
            (None, Some(to)) => to.span(),
            (None, None) => 0..0,
        };
        return Err(ctx.error(
            &span,
            format!("from ({}) must be before {end}", fmt(from_value)),
        ));
    }
    Ok(Window {
        from: from_value,
        to: to_value,
    })
}

/// `[event.at, event.at + within]`, inside the run.
fn within_window(
    ctx: &Ctx<'_>,
    after: &Spanned<String>,
    within: &Spanned<HumanDuration>,
    run: Duration,
    event_ids: &BTreeMap<String, (Duration, Location)>,
) -> Result<Window> {
    let id = after.get_ref();
    let Some((at, _)) = event_ids.get(id) else {
        let hint = if event_ids.is_empty() {
            "(no event has an id)".to_owned()
        } else {
            let ids: Vec<&str> = event_ids.keys().map(String::as_str).collect();
            format!("(event ids: {})", ids.join(", "))
        };
        return Err(ctx.error(
            &after.span(),
            format!("unknown event id \"{id}\" in `after` {hint}"),
        ));
    };
    let length = within.get_ref().0;
    let end = at.checked_add(length).filter(|end| *end <= run);
    let Some(end) = end else {
        return Err(ctx.error(
            &within.span(),
            format!(
                "within ({}) after event \"{id}\" at {} ends after the end of the run \
                 (duration = {})",
                fmt(length),
                fmt(*at),
                fmt(run)
            ),
        ));
    };
    Ok(Window { from: *at, to: end })
}

/// The report condition of an `eventually` / `always` / `never` / `within` expectation.
fn condition(
    ctx: &Ctx<'_>,
    raw: &RawExpect,
    kind: &str,
    kind_span: &std::ops::Range<usize>,
    declared: &Declared,
) -> Result<Condition> {
    let backend_keys = raw.backend_condition_keys();
    let phase = raw
        .phase
        .as_ref()
        .map(|p| value(ctx, "phase", p, PHASES))
        .transpose()?;
    let backend = match &raw.backend {
        None => {
            if let Some((key, span)) = backend_keys.iter().min_by_key(|(_, s)| s.start) {
                return Err(ctx.key_error(
                    span,
                    format!(
                        "condition `{key}` needs a subject: add `backend = \"<name>\"` (the \
                         backend it is about)"
                    ),
                ));
            }
            None
        }
        Some(subject) => {
            if backend_keys.is_empty() {
                return Err(ctx.key_error(
                    &subject.span(),
                    "`backend` is given but no condition is about it: add status, crd_status, \
                     reason, circuit, category, message, url or present",
                ));
            }
            if raw.present.as_ref().is_some_and(|p| !*p.get_ref()) {
                if let Some((key, span)) = backend_keys
                    .iter()
                    .filter(|(key, _)| *key != "present")
                    .min_by_key(|(_, s)| s.start)
                {
                    return Err(ctx.key_error(
                        span,
                        format!(
                            "condition `{key}` cannot be combined with `present = false`: a \
                             backend missing from the report has no {key}"
                        ),
                    ));
                }
            }
            Some(BackendCondition {
                backend: declared.reference(ctx, subject)?,
                present: raw.present.as_ref().map(|p| *p.get_ref()),
                status: optional_value(ctx, "status", &raw.status, STATUSES)?,
                crd_status: optional_value(ctx, "crd_status", &raw.crd_status, CRD_STATUSES)?,
                reason: optional_value(ctx, "reason", &raw.reason, REASONS)?,
                circuit: optional_value(ctx, "circuit", &raw.circuit, CIRCUITS)?,
                category: optional_value(ctx, "category", &raw.category, CATEGORIES)?,
                message: match &raw.message {
                    Some(m) if m.get_ref().is_empty() => {
                        return Err(ctx.error(&m.span(), "message must not be empty"));
                    }
                    Some(m) => Some(m.get_ref().clone()),
                    None => None,
                },
                url: raw
                    .url
                    .as_ref()
                    .map(|u| registered_url(ctx, u, declared))
                    .transpose()?,
            })
        }
    };
    if backend.is_none() && phase.is_none() {
        return Err(ctx.error(
            kind_span,
            format!(
                "kind `{kind}` needs a condition: one or more of status, crd_status, reason, \
                 circuit, category, message, url, present (with backend) or phase"
            ),
        ));
    }
    Ok(Condition { backend, phase })
}

/// An optional enumerated condition value.
fn optional_value<T: Copy>(
    ctx: &Ctx<'_>,
    key: &str,
    text: &Option<Spanned<String>>,
    table: &[(&str, T)],
) -> Result<Option<T>> {
    text.as_ref()
        .map(|text| value(ctx, key, text, table))
        .transpose()
}

/// One enumerated condition value, or an error listing the valid spellings.
fn value<T: Copy>(
    ctx: &Ctx<'_>,
    key: &str,
    text: &Spanned<String>,
    table: &[(&str, T)],
) -> Result<T> {
    values::lookup(table, text.get_ref()).ok_or_else(|| {
        ctx.error(
            &text.span(),
            format!(
                "invalid {key} \"{}\": expected one of {}",
                text.get_ref().escape_debug(),
                values::spellings(table)
            ),
        )
    })
}

fn counter(
    ctx: &Ctx<'_>,
    name: &Spanned<String>,
    raw: &RawExpect,
    declared: &Declared,
) -> Result<Counter> {
    let backend = raw.backend.as_ref();
    let counter = name.get_ref().as_str();
    if !COUNTERS.contains(&counter) {
        return Err(ctx.error(
            &name.span(),
            format!(
                "invalid counter \"{}\": expected one of {}",
                counter.escape_debug(),
                one_of(COUNTERS)
            ),
        ));
    }
    let client_keys = [
        ("client", raw.client.as_ref().map(Spanned::span)),
        ("tool", raw.tool.as_ref().map(Spanned::span)),
        ("outcome", raw.outcome.as_ref().map(Spanned::span)),
        ("method", raw.method.as_ref().map(Spanned::span)),
        ("authorized", raw.authorized.as_ref().map(Spanned::span)),
    ];
    let allowed: &[&str] = match counter {
        "calls" => &["client", "tool", "outcome"],
        "pod_requests" => &["method", "authorized"],
        "list_changed" | "client_sessions" => &["client"],
        _ => &[],
    };
    if let Some((key, Some(span))) = client_keys
        .iter()
        .filter(|(key, span)| span.is_some() && !allowed.contains(key))
        .min_by_key(|(_, span)| span.as_ref().map(|s| s.start))
    {
        return Err(ctx.key_error(
            span,
            format!("key `{key}` is not used by counter `{counter}`"),
        ));
    }
    if matches!(counter, "calls" | "list_changed" | "client_sessions") {
        for (key, value) in [("url", &raw.url), ("pod", &raw.pod)] {
            if let Some(value) = value {
                return Err(ctx.key_error(
                    &value.span(),
                    format!("key `{key}` is not used by counter `{counter}`"),
                ));
            }
        }
        if counter != "calls" {
            if let Some(backend) = backend {
                return Err(ctx.key_error(
                    &backend.span(),
                    format!("key `backend` is not used by counter `{counter}` (it is per client)"),
                ));
            }
        }
        let client = raw
            .client
            .as_ref()
            .map(|c| client_ref(ctx, c, declared))
            .transpose()?;
        return Ok(match counter {
            "calls" => Counter::Calls(call_filter(ctx, raw, declared)?),
            "list_changed" => Counter::ListChanged { client },
            _ => Counter::ClientSessions { client },
        });
    }
    if counter == "reports" {
        if let Some(backend) = backend {
            return Err(ctx.key_error(
                &backend.span(),
                "key `backend` is not used by counter `reports` (reports cover every backend)",
            ));
        }
        for (key, value) in [("url", &raw.url), ("pod", &raw.pod)] {
            if let Some(value) = value {
                return Err(ctx.key_error(
                    &value.span(),
                    format!(
                        "key `{key}` is not used by counter `reports` (reports cover every backend)"
                    ),
                ));
            }
        }
        return Ok(Counter::Reports);
    }
    let Some(backend) = backend else {
        return Err(ctx.error(
            &name.span(),
            format!("counter `{counter}` needs `backend = \"<name>\"` (whose {counter} to count)"),
        ));
    };
    let backend = declared.reference(ctx, backend)?;
    let filter_error = |key: &str, span: &std::ops::Range<usize>, hint: &str| {
        ctx.key_error(
            span,
            format!("key `{key}` is not used by counter `{counter}` ({hint})"),
        )
    };
    if matches!(counter, "pod_requests" | "backend_sessions") {
        if let Some(url) = &raw.url {
            return Err(filter_error(
                "url",
                &url.span(),
                "pods are counted: use `pod`",
            ));
        }
        if declared.clients.is_empty() {
            return Err(ctx.error(
                &name.span(),
                format!(
                    "counter `{counter}` needs a run with clients (pod requests are logged \
                     only then): add a [[client]]"
                ),
            ));
        }
        let pod = raw
            .pod
            .as_ref()
            .map(|p| pod_of(ctx, p, &backend, declared))
            .transpose()?;
        return Ok(if counter == "pod_requests" {
            Counter::PodRequests {
                backend,
                pod,
                method: match &raw.method {
                    Some(m) if m.get_ref().trim().is_empty() => {
                        return Err(ctx.error(&m.span(), "method must not be empty"));
                    }
                    Some(m) => Some(m.get_ref().clone()),
                    None => None,
                },
                authorized: raw.authorized.as_ref().map(|a| *a.get_ref()),
            }
        } else {
            Counter::BackendSessions { backend, pod }
        });
    }
    if counter == "connections" {
        if let Some(url) = &raw.url {
            return Err(filter_error(
                "url",
                &url.span(),
                "connections are counted per pod: use `pod`",
            ));
        }
    } else if let Some(pod) = &raw.pod {
        return Err(filter_error(
            "pod",
            &pod.span(),
            "a probe is not sent to one pod: count `connections` per pod, or probes per `url`",
        ));
    }
    let url = raw
        .url
        .as_ref()
        .map(|u| registered_url(ctx, u, declared))
        .transpose()?;
    Ok(match counter {
        "probes" => Counter::Probes { backend, url },
        "skips" => Counter::Skips { backend, url },
        _ => Counter::Connections {
            pod: raw
                .pod
                .as_ref()
                .map(|p| pod_of(ctx, p, &backend, declared))
                .transpose()?,
            backend,
        },
    })
}

/// A declared client name.
fn client_ref(ctx: &Ctx<'_>, name: &Spanned<String>, declared: &Declared) -> Result<String> {
    let value = name.get_ref();
    if declared.clients.contains(value) {
        return Ok(value.clone());
    }
    let hint = if declared.clients.is_empty() {
        "(no client is declared)".to_owned()
    } else {
        let names: Vec<&str> = declared.clients.iter().map(String::as_str).collect();
        format!("(declared: {})", names.join(", "))
    };
    Err(ctx.error(
        &name.span(),
        format!("undeclared client \"{}\" {hint}", value.escape_debug()),
    ))
}

/// The call filter of a `calls` counter or a `call_latency` expectation.
fn call_filter(ctx: &Ctx<'_>, raw: &RawExpect, declared: &Declared) -> Result<CallFilter> {
    if declared.clients.is_empty() {
        return Err(ctx.error(
            &raw.kind.span(),
            "client calls need a [[client]]: this scenario declares none",
        ));
    }
    let outcome = match &raw.outcome {
        Some(o) => Some(
            CallOutcome::ALL
                .into_iter()
                .find(|c| c.as_str() == o.get_ref())
                .ok_or_else(|| {
                    ctx.error(
                        &o.span(),
                        format!(
                            "invalid outcome \"{}\": expected one of {}",
                            o.get_ref().escape_debug(),
                            one_of(OUTCOMES)
                        ),
                    )
                })?,
        ),
        None => None,
    };
    Ok(CallFilter {
        client: raw
            .client
            .as_ref()
            .map(|c| client_ref(ctx, c, declared))
            .transpose()?,
        tool: match &raw.tool {
            Some(t) if t.get_ref().trim().is_empty() => {
                return Err(ctx.error(&t.span(), "tool must not be empty"));
            }
            Some(t) => Some(t.get_ref().clone()),
            None => None,
        },
        backend: raw
            .backend
            .as_ref()
            .map(|b| declared.reference(ctx, b))
            .transpose()?,
        outcome,
    })
}

fn bounds(
    ctx: &Ctx<'_>,
    raw: &RawExpect,
    kind_span: &std::ops::Range<usize>,
) -> Result<CountBounds> {
    let get = |v: &Option<Spanned<u64>>| v.as_ref().map(|v| *v.get_ref());
    if let Some(equals) = &raw.equals {
        if raw.min.is_some() || raw.max.is_some() {
            return Err(ctx.key_error(
                &equals.span(),
                "`equals` cannot be combined with `min` or `max`",
            ));
        }
        let RawEquals::Count(n) = *equals.get_ref() else {
            return Err(ctx.error(&equals.span(), "kind `count` takes `equals = <number>`"));
        };
        return Ok(CountBounds {
            min: Some(n),
            max: Some(n),
        });
    }
    let (min, max) = (get(&raw.min), get(&raw.max));
    match (min, max, &raw.min) {
        (None, None, _) => Err(ctx.error(kind_span, "kind `count` needs `min`, `max` or `equals`")),
        (Some(lo), Some(hi), Some(min_value)) if lo > hi => Err(ctx.error(
            &min_value.span(),
            format!("min ({lo}) must not exceed max ({hi})"),
        )),
        _ => Ok(CountBounds { min, max }),
    }
}
