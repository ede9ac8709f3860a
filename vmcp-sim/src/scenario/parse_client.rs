//! From `[[client]]`, `[server]` and `[aggregation]` tables to validated [`ClientSpec`]s and
//! the front end's [`FrontendConfig`].

use std::collections::BTreeMap;
use std::time::Duration;

use toml::Spanned;
use vmcp_core::config::FrontendConfig;
use vmcp_core::config::duration::{self, HumanDuration};
use vmcp_core::config::frontend::MIN_CALL_TIMEOUT;

use super::client::{
    CLIENT_HOST_PREFIX, CallSchedule, CallSpec, ClientSpec, DEFAULT_CALL_TIMEOUT, MAX_CALLS,
    MIN_CALL_PERIOD,
};
use super::context::Ctx;
use super::error::ScenarioError;
use super::location::Location;
use super::parse::{bounded, first_unused};
use super::raw::{RawCall, RawClient, RawScenario};

type Result<T> = std::result::Result<T, ScenarioError>;

fn fmt(d: Duration) -> String {
    duration::format(d)
}

/// The front-end settings: `[server]` and `[aggregation]`, validated against the backend names.
/// Both only make sense with clients.
pub(super) fn frontend(
    ctx: &Ctx<'_>,
    raw: &RawScenario,
    backends: &[&str],
) -> Result<FrontendConfig> {
    let server = raw.server.as_ref();
    let aggregation = raw.aggregation.as_ref();
    if raw.client.is_empty() {
        let span = server
            .map(Spanned::span)
            .or_else(|| aggregation.map(Spanned::span));
        if let Some(span) = span {
            return Err(ctx.key_error(
                &span,
                "the front end runs only when the scenario has clients: [server] and \
                 [aggregation] need at least one [[client]]",
            ));
        }
    }
    let config = FrontendConfig {
        server: server.map(|s| s.get_ref().clone()).unwrap_or_default(),
        aggregation: aggregation.map(|a| a.get_ref().clone()).unwrap_or_default(),
    };
    if let Err(err) = config.server.validate() {
        let span = server.map_or(0..0, Spanned::span);
        return Err(ctx.key_error(&span, format!("[server]: {err}")));
    }
    if let Err(err) = config.validate(backends) {
        let span = aggregation
            .map(Spanned::span)
            .or_else(|| server.map(Spanned::span))
            .unwrap_or(0..0);
        return Err(ctx.key_error(&span, err.to_string()));
    }
    Ok(config)
}

/// Every `[[client]]`, in file order; names unique and not clashing with backend host names.
pub(super) fn clients(
    ctx: &Ctx<'_>,
    raw: &[Spanned<RawClient>],
    run: Duration,
    backends: &[&str],
) -> Result<Vec<ClientSpec>> {
    let mut seen: BTreeMap<String, Location> = BTreeMap::new();
    let mut out = Vec::with_capacity(raw.len());
    let mut calls = 0_u64;
    for spanned in raw {
        let client = client(ctx, spanned, run)?;
        let name_span = spanned.get_ref().name.span();
        if let Some(first) = seen.get(&client.name) {
            return Err(ctx.error(
                &name_span,
                format!(
                    "duplicate client name \"{}\" (first declared at {first})",
                    client.name
                ),
            ));
        }
        let host = client.host();
        if backends.contains(&host.as_str()) {
            return Err(ctx.error(
                &name_span,
                format!("client host \"{host}\" clashes with the backend of that name"),
            ));
        }
        seen.insert(client.name.clone(), ctx.location(&name_span));
        calls = calls.saturating_add(client.calls.iter().map(|c| c.schedule.count()).sum());
        if calls > MAX_CALLS {
            return Err(ctx.error(
                &name_span,
                format!(
                    "the clients make {calls} calls or more, at most {MAX_CALLS} per scenario: \
                     call less often or shorten the schedules"
                ),
            ));
        }
        out.push(client);
    }
    Ok(out)
}

fn client(ctx: &Ctx<'_>, spanned: &Spanned<RawClient>, run: Duration) -> Result<ClientSpec> {
    let raw = spanned.get_ref();
    let name = raw.name.get_ref();
    let valid = !name.is_empty()
        && name.len() + CLIENT_HOST_PREFIX.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !valid {
        return Err(ctx.error(
            &raw.name.span(),
            format!(
                "invalid client name \"{}\": its host is `client-<name>`, so use 1 to 56 \
                 lowercase letters, digits and `-`, starting and ending with a letter or digit",
                name.escape_debug()
            ),
        ));
    }
    let before_end = |key: &str, value: &Spanned<HumanDuration>| -> Result<Duration> {
        let d = bounded(ctx, key, value)?;
        if d >= run {
            return Err(ctx.error(
                &value.span(),
                format!(
                    "{key} ({}) is at or after the end of the run (duration = {})",
                    fmt(d),
                    fmt(run)
                ),
            ));
        }
        Ok(d)
    };
    let start = raw
        .start
        .as_ref()
        .map(|s| before_end("start", s))
        .transpose()?
        .unwrap_or(Duration::ZERO);
    let mut list_tools = Vec::new();
    for at in raw.list_tools.iter().flatten() {
        let t = before_end("list_tools", at)?;
        if t < start {
            return Err(ctx.error(
                &at.span(),
                format!(
                    "list_tools at {} is before the client starts (start = {})",
                    fmt(t),
                    fmt(start)
                ),
            ));
        }
        list_tools.push(t);
    }
    list_tools.sort();
    let call_timeout = match &raw.call_timeout {
        Some(t) => {
            let d = bounded(ctx, "call_timeout", t)?;
            if d < MIN_CALL_TIMEOUT {
                return Err(ctx.error(
                    &t.span(),
                    format!(
                        "call_timeout ({}) must be at least {}",
                        fmt(d),
                        fmt(MIN_CALL_TIMEOUT)
                    ),
                ));
            }
            d
        }
        None => DEFAULT_CALL_TIMEOUT,
    };
    let calls = raw
        .call
        .iter()
        .map(|c| call(ctx, c, start, run))
        .collect::<Result<Vec<_>>>()?;
    Ok(ClientSpec {
        name: name.clone(),
        start,
        stream: raw.stream.unwrap_or(true),
        list_tools,
        relist_on_change: raw.relist_on_change.unwrap_or(true),
        call_timeout,
        calls,
        location: ctx.location(&spanned.span()),
    })
}

fn call(
    ctx: &Ctx<'_>,
    spanned: &Spanned<RawCall>,
    start: Duration,
    run: Duration,
) -> Result<CallSpec> {
    let raw = spanned.get_ref();
    let tool = raw.tool.get_ref();
    if tool.trim().is_empty() {
        return Err(ctx.error(&raw.tool.span(), "tool must not be empty"));
    }
    let mut keys = Vec::new();
    for (key, value) in [
        ("at", &raw.at),
        ("every", &raw.every),
        ("from", &raw.from),
        ("to", &raw.to),
    ] {
        if let Some(value) = value {
            keys.push((key, value.span()));
        }
    }
    let in_run = |key: &str, value: &Spanned<HumanDuration>, inclusive: bool| -> Result<Duration> {
        let d = bounded(ctx, key, value)?;
        if d > run || (!inclusive && d == run) {
            return Err(ctx.error(
                &value.span(),
                format!(
                    "{key} ({}) is after the end of the run (duration = {})",
                    fmt(d),
                    fmt(run)
                ),
            ));
        }
        if d < start {
            return Err(ctx.error(
                &value.span(),
                format!(
                    "{key} ({}) is before the client starts (start = {})",
                    fmt(d),
                    fmt(start)
                ),
            ));
        }
        Ok(d)
    };
    let schedule = match (&raw.at, &raw.every) {
        (Some(at), None) => {
            if let Some((key, span)) = first_unused(keys, &["at"]) {
                return Err(ctx.key_error(
                    &span,
                    format!(
                        "key `{key}` is not used by a one-shot call (`at`); drop it or use `every`"
                    ),
                ));
            }
            let t = in_run("at", at, false)?;
            CallSchedule::At(t)
        }
        (None, Some(every)) => {
            let period = bounded(ctx, "every", every)?;
            if period < MIN_CALL_PERIOD {
                return Err(ctx.error(
                    &every.span(),
                    format!(
                        "every ({}) must be at least {}",
                        fmt(period),
                        fmt(MIN_CALL_PERIOD)
                    ),
                ));
            }
            let from = raw
                .from
                .as_ref()
                .map(|f| in_run("from", f, false))
                .transpose()?
                .unwrap_or(start);
            let to = raw
                .to
                .as_ref()
                .map(|t| in_run("to", t, true))
                .transpose()?
                .unwrap_or(run);
            if from >= to {
                let span = raw
                    .from
                    .as_ref()
                    .or(raw.to.as_ref())
                    .map_or(0..0, Spanned::span);
                return Err(ctx.error(
                    &span,
                    format!("from ({}) must be before to ({})", fmt(from), fmt(to)),
                ));
            }
            CallSchedule::Every {
                every: period,
                from,
                to,
            }
        }
        (Some(at), Some(_)) => {
            return Err(ctx.key_error(
                &at.span(),
                "a call has either `at` (once) or `every` (with optional `from`/`to`), not both",
            ));
        }
        (None, None) => {
            return Err(ctx.error(
                &raw.tool.span(),
                "a call needs `at` (once) or `every` (periodic, with optional `from`/`to`)",
            ));
        }
    };
    Ok(CallSpec {
        tool: tool.clone(),
        arguments: raw.arguments.clone().unwrap_or_default(),
        schedule,
        location: ctx.location(&spanned.span()),
    })
}
