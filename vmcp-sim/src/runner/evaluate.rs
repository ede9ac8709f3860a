//! Checking a scenario's expectations against a finished run.
//!
//! Conditions are evaluated on what the expectation's `on` names. With `on = "state"` the
//! samples are the monitor's state after each change (see [`super::state`]), with the same window
//! rules as reports. With `on = "reports"` (the default), backend and phase conditions are
//! evaluated against the **latest published report** at each instant: inside a window `[from, to]` the relevant reports are the one in force at `from` (the
//! last published at or before it) and every report published in `(from, to]`. `within` is a
//! reaction to an event, so for it only reports published after the event count. Before the first
//! report nothing is published, so no condition holds: an `always` whose window starts before the
//! first report fails, a `never` is not broken by that stretch. Counts come from the merged trace.

use std::collections::BTreeMap;
use std::time::Duration;

use std::cell::OnceCell;

use super::state::{StateTimeline, endpoint_urls, state_timeline};
use crate::clock::millis;
use crate::scenario::expect::{BackendState, Observed};
use crate::scenario::{Condition, Counter, ExpectKind, Expectation, Scenario, Trigger, Window};
use crate::trace::{TimedReport, Trace, TraceEntry, TraceEvent, format_ms};

/// One expectation that did not hold.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ExpectationFailure {
    /// `file:line:column` of the `[[expect]]`.
    pub location: String,
    /// `eventually`, `always`, ...
    pub kind: &'static str,
    /// The author's description, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What was expected and what happened instead.
    pub message: String,
    /// The window, in milliseconds, for slicing the timeline.
    pub window_ms: (u64, u64),
    /// The backend the expectation is about, if any (for slicing the timeline).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
}

/// Evaluate every expectation; returns the failures in file order.
///
/// Cost: what every expectation needs is derived once per run (the state timeline, the count
/// index, the probes' URLs, each only if some expectation uses it), and each expectation then
/// looks only at its window (binary searches), so one expectation per backend of a
/// 500-backend `count` group stays O(N·log) per run instead of O(N²).
pub fn evaluate(
    scenario: &Scenario,
    reports: &[TimedReport],
    trace: &Trace,
) -> Vec<ExpectationFailure> {
    let observed = Observations {
        scenario,
        reports,
        trace,
        states: OnceCell::new(),
        counts: OnceCell::new(),
        urls: OnceCell::new(),
    };
    scenario
        .expects
        .iter()
        .filter_map(|e| check(scenario, e, &observed))
        .collect()
}

/// Everything an expectation can look at, each part derived on first use.
struct Observations<'a> {
    scenario: &'a Scenario,
    reports: &'a [TimedReport],
    trace: &'a Trace,
    states: OnceCell<StateTimeline>,
    counts: OnceCell<CountIndex>,
    /// URL of the endpoint of each probe/skip entry, by trace index.
    urls: OnceCell<BTreeMap<usize, String>>,
}

/// One instant of the observed timeline: when, whether the condition holds, and which sample
/// (for describing it: a report index, or the index into the subject backend's state samples).
#[derive(Clone, Copy)]
struct Point {
    at: Duration,
    holds: bool,
    index: usize,
}

/// Which points of a window an expectation looks at.
#[derive(Clone, Copy, PartialEq)]
enum Span {
    /// The point in force at `from` (the last at or before it), then every point in
    /// `(from, to]`.
    InForce,
    /// Only the points in `(from, to]`: what happened after the window opened.
    After,
}

impl Observations<'_> {
    fn states(&self) -> &StateTimeline {
        self.states.get_or_init(|| state_timeline(self.trace))
    }

    fn counts(&self) -> &CountIndex {
        self.counts.get_or_init(|| CountIndex::new(self.trace))
    }

    fn urls(&self) -> &BTreeMap<usize, String> {
        self.urls
            .get_or_init(|| endpoint_urls(self.scenario, self.trace))
    }

    /// The points of `window` that `span` selects, with the condition evaluated at each.
    fn points(
        &self,
        on: Observed,
        condition: &Condition,
        window: Window,
        span: Span,
    ) -> Vec<Point> {
        match on {
            Observed::Reports => {
                // Reports are published in time order.
                let after = self.reports.partition_point(|r| r.at <= window.from);
                let end = self.reports.partition_point(|r| r.at <= window.to);
                let first = if span == Span::InForce && after > 0 {
                    after - 1
                } else {
                    after
                };
                (first..end.max(first))
                    .map(|index| Point {
                        at: self.reports[index].at,
                        holds: condition.holds(&self.reports[index].report),
                        index,
                    })
                    .collect()
            }
            Observed::State => self.state_points(condition, window, span),
        }
    }

    /// The state timeline's points, found from the subject backend's own samples: its state
    /// only changes at them, so at every other instant of the timeline it is the one in force.
    fn state_points(&self, condition: &Condition, window: Window, span: Span) -> Vec<Point> {
        let timeline = self.states();
        let instants = &timeline.instants;
        // The timeline instant the selection starts at.
        let start = match span {
            Span::InForce => {
                let i = instants.partition_point(|at| *at <= window.from);
                if i == 0 { None } else { Some(instants[i - 1]) }
            }
            Span::After => instants
                .get(instants.partition_point(|at| *at <= window.from))
                .copied()
                .filter(|at| *at <= window.to),
        };
        let Some(start) = start else {
            return Vec::new();
        };
        let Some(subject) = &condition.backend else {
            // Without a subject backend nothing holds on the state timeline; the instants are
            // still the points (for describing the last one).
            let i = instants.partition_point(|at| *at < start);
            let end = instants.partition_point(|at| *at <= window.to);
            return (i..end.max(i))
                .map(|index| Point {
                    at: instants[index],
                    holds: false,
                    index: 0,
                })
                .collect();
        };
        let samples = timeline.of(&subject.backend);
        let in_force = samples.partition_point(|(at, _)| *at <= start).max(1) - 1;
        let end = samples.partition_point(|(at, _)| *at <= window.to);
        let holds = |index: usize| condition.holds_for_state(samples[index].1.as_ref());
        std::iter::once(Point {
            at: start,
            holds: holds(in_force),
            index: in_force,
        })
        .chain(((in_force + 1)..end.max(in_force + 1)).map(|index| Point {
            at: samples[index].0,
            holds: holds(index),
            index,
        }))
        .collect()
    }

    /// When the first report was published / the first state sample is (0: the empty monitor).
    fn first_point(&self, on: Observed) -> Option<Duration> {
        match on {
            Observed::Reports => self.reports.first().map(|r| r.at),
            Observed::State => self.states().instants.first().copied(),
        }
    }

    fn describe(&self, on: Observed, point: &Point, condition: &Condition) -> String {
        match on {
            Observed::Reports => describe_report(&self.reports[point.index], condition),
            Observed::State => {
                let value = condition
                    .backend
                    .as_ref()
                    .and_then(|b| self.states().of(&b.backend).get(point.index))
                    .and_then(|(_, value)| value.as_ref());
                describe_state(point.at, value, condition)
            }
        }
    }
}

/// The trace entries each counter counts, per backend, in time order: a `count` expectation
/// is two binary searches plus a filter over its window.
#[derive(Default)]
struct CountIndex {
    /// `ProbeStarted` entries: (at_ms, trace index).
    probes: BTreeMap<String, Vec<(u64, usize)>>,
    /// `ProbeSkipped` entries: (at_ms, trace index).
    skips: BTreeMap<String, Vec<(u64, usize)>>,
    /// Connections opened, by service: (at_ms, the pod that served it).
    connections: BTreeMap<String, Vec<(u64, Option<String>)>>,
    /// Reports: at_ms.
    reports: Vec<u64>,
}

impl CountIndex {
    fn new(trace: &Trace) -> Self {
        let mut index = CountIndex::default();
        for (i, entry) in trace.entries.iter().enumerate() {
            let at = entry.at_ms;
            match &entry.event {
                TraceEvent::ProbeStarted { backend, .. } => {
                    index
                        .probes
                        .entry(backend.clone())
                        .or_default()
                        .push((at, i));
                }
                TraceEvent::ProbeSkipped { backend, .. } => {
                    index
                        .skips
                        .entry(backend.clone())
                        .or_default()
                        .push((at, i));
                }
                TraceEvent::Connection {
                    service,
                    outcome,
                    pod,
                } if outcome == "opened" => {
                    index
                        .connections
                        .entry(service.clone())
                        .or_default()
                        .push((at, pod.clone()));
                }
                TraceEvent::Report { .. } => index.reports.push(at),
                _ => {}
            }
        }
        index
    }
}

/// The entries of `list` (sorted by their first field) with `from <= at <= to`.
fn in_window<T>(list: &[(u64, T)], from: u64, to: u64) -> &[(u64, T)] {
    let start = list.partition_point(|(at, _)| *at < from);
    let end = list.partition_point(|(at, _)| *at <= to);
    &list[start..end.max(start)]
}

/// How many entries `counter` counts in `[from, to]` (ms).
fn count(observed: &Observations<'_>, counter: &Counter, from: u64, to: u64) -> u64 {
    let index = observed.counts();
    let by_url = |list: Option<&Vec<(u64, usize)>>, url: &Option<String>| -> u64 {
        let entries = in_window(list.map_or(&[][..], Vec::as_slice), from, to);
        match url {
            None => entries.len() as u64,
            Some(wanted) => {
                let urls = observed.urls();
                entries
                    .iter()
                    .filter(|(_, i)| urls.get(i) == Some(wanted))
                    .count() as u64
            }
        }
    };
    match counter {
        Counter::Probes { backend, url } => by_url(index.probes.get(backend), url),
        Counter::Skips { backend, url } => by_url(index.skips.get(backend), url),
        Counter::Connections { backend, pod } => {
            let list = index
                .connections
                .get(backend)
                .map_or(&[][..], Vec::as_slice);
            in_window(list, from, to)
                .iter()
                .filter(|(_, served)| pod.as_ref().is_none_or(|w| served.as_ref() == Some(w)))
                .count() as u64
        }
        Counter::Reports => {
            let start = index.reports.partition_point(|at| *at < from);
            let end = index.reports.partition_point(|at| *at <= to);
            end.saturating_sub(start) as u64
        }
        // Client-side counters: few expectations use them and client runs are short, so the
        // window's slice of the trace (entries are in time order) is scanned.
        Counter::Calls(_)
        | Counter::PodRequests { .. }
        | Counter::ListChanged { .. }
        | Counter::BackendSessions { .. }
        | Counter::ClientSessions { .. } => {
            let entries = &observed.trace.entries;
            let start = entries.partition_point(|e| e.at_ms < from);
            let end = entries.partition_point(|e| e.at_ms <= to);
            entries[start..end.max(start)]
                .iter()
                .filter(|e| counts_client_entry(counter, e))
                .count() as u64
        }
    }
}

fn describe_report(r: &TimedReport, condition: &Condition) -> String {
    let mut text = format!(
        "report at {} phase {}",
        format_ms(millis(r.at)),
        r.report.phase
    );
    if let Some(b) = &condition.backend {
        match r
            .report
            .discovered_backends
            .iter()
            .find(|d| d.name == b.backend)
        {
            Some(d) => {
                text.push_str(&format!(
                    ", {} {}/{} ({}), circuit {}",
                    d.name, d.health, d.reason, d.status, d.circuit_breaker_state
                ));
                if let Some(c) = d.error_category {
                    text.push_str(&format!(", last error {c}"));
                }
                if b.message.is_some() {
                    text.push_str(&format!(", message {:?}", d.message));
                }
                if b.url.is_some() {
                    text.push_str(&format!(", url {}", d.url));
                }
            }
            None => text.push_str(&format!(", {} absent", b.backend)),
        }
    }
    text
}

fn describe_state(at: Duration, value: Option<&BackendState>, condition: &Condition) -> String {
    let mut text = format!("state at {}", format_ms(millis(at)));
    if let Some(b) = &condition.backend {
        match value {
            Some(s) => {
                text.push_str(&format!(
                    ", {} {}/{} ({}), circuit {}",
                    b.backend,
                    s.status,
                    s.reason,
                    s.status.crd(),
                    s.circuit
                ));
                if let Some(c) = s.category {
                    text.push_str(&format!(", last error {c}"));
                }
                if let Some(m) = &s.message {
                    text.push_str(&format!(", message {m:?}"));
                }
            }
            None => text.push_str(&format!(", {} not monitored", b.backend)),
        }
    }
    text
}

/// `window` (opened by an event at `window.from`) moved to start where the runner applied the
/// event: the first multiple of `tick` at or after `window.from`; it keeps its length.
fn from_applied(window: Window, tick: Duration) -> Window {
    let tick_ns = tick.as_nanos().max(1);
    let from_ns = window.from.as_nanos();
    let late_ns = (tick_ns - from_ns % tick_ns) % tick_ns;
    let late = Duration::from_nanos(u64::try_from(late_ns).unwrap_or(u64::MAX));
    Window {
        from: window.from.saturating_add(late),
        to: window.to.saturating_add(late),
    }
}

fn check(
    scenario: &Scenario,
    expectation: &Expectation,
    observed: &Observations<'_>,
) -> Option<ExpectationFailure> {
    let kind = &expectation.kind;
    let on = expectation.on;
    let window = match kind {
        // The event takes effect at the end of the first step at or past its instant (the
        // runner applies events between steps), so its reaction window opens then.
        ExpectKind::Within { window, .. } => from_applied(*window, super::tick_of(scenario)),
        _ => kind.window(),
    };
    let fail = |message: String, backend: Option<String>| ExpectationFailure {
        location: scenario.position(expectation.location),
        kind: kind.name(),
        description: expectation.description.clone(),
        message,
        window_ms: (millis(window.from), millis(window.to)),
        backend,
    };
    let span = format!("{window}");
    // "report" or "state": what the messages talk about.
    let noun = match on {
        Observed::Reports => "report",
        Observed::State => "state change",
    };
    match kind {
        ExpectKind::Eventually { condition, .. } | ExpectKind::Within { condition, .. } => {
            let selection = match kind {
                // A reaction to the event: only what is observed after it counts, so the
                // expectation cannot pass on the state from before the event.
                ExpectKind::Within { .. } => Span::After,
                _ => Span::InForce,
            };
            let seen = observed.points(on, condition, window, selection);
            if seen.iter().any(|p| p.holds) {
                return None;
            }
            let last = seen
                .last()
                .map(|p| observed.describe(on, p, condition))
                .unwrap_or_else(|| format!("no {noun} in the window"));
            let what = match kind {
                ExpectKind::Within { after, .. } => format!("within {span} after event `{after}`"),
                _ => format!("eventually in {span}"),
            };
            Some(fail(
                format!(
                    "expected {what}{}: {condition}; it never held (last: {last})",
                    on_suffix(on)
                ),
                subject(condition),
            ))
        }
        ExpectKind::Always { condition, .. } => {
            let seen = observed.points(on, condition, window, Span::InForce);
            if seen.first().is_none_or(|first| first.at > window.from) {
                let verb = match on {
                    Observed::Reports => "published",
                    Observed::State => "observed",
                };
                let first = observed
                    .first_point(on)
                    .map_or(format!("none was ever {verb}"), |at| {
                        format!("the first was {verb} at {}", format_ms(millis(at)))
                    });
                return Some(fail(
                    format!(
                        "expected always in {span}{}: {condition}; no {noun} was in force at the \
                         start of the window ({first})",
                        on_suffix(on)
                    ),
                    subject(condition),
                ));
            }
            let broken = seen.iter().find(|p| !p.holds)?;
            Some(fail(
                format!(
                    "expected always in {span}{}: {condition}; broken by {}",
                    on_suffix(on),
                    observed.describe(on, broken, condition)
                ),
                subject(condition),
            ))
        }
        ExpectKind::Never { condition, .. } => {
            let seen = observed.points(on, condition, window, Span::InForce);
            let held = seen.iter().find(|p| p.holds)?;
            Some(fail(
                format!(
                    "expected never in {span}{}: {condition}; but it held in the {}",
                    on_suffix(on),
                    observed.describe(on, held, condition)
                ),
                subject(condition),
            ))
        }
        ExpectKind::Count {
            counter, bounds, ..
        } => {
            let count = count(observed, counter, millis(window.from), millis(window.to));
            if bounds.contains(count) {
                return None;
            }
            Some(fail(
                format!(
                    "expected {} {} in {span}; counted {count}",
                    bounds,
                    counter_name(counter)
                ),
                counter_backend(counter),
            ))
        }
        ExpectKind::CallLatency { calls, max, .. } => {
            let (from, to) = (millis(window.from), millis(window.to));
            let mut worst: Option<(u64, u64)> = None;
            for e in &observed.trace.entries {
                if e.at_ms < from || e.at_ms > to {
                    continue;
                }
                if let TraceEvent::CallFinished {
                    client,
                    tool,
                    backend,
                    outcome,
                    latency_ms,
                    ..
                } = &e.event
                {
                    if calls.matches(client, tool, backend.as_deref(), *outcome)
                        && worst.is_none_or(|(w, _)| *latency_ms > w)
                    {
                        worst = Some((*latency_ms, e.at_ms));
                    }
                }
            }
            match worst {
                None => Some(fail(
                    format!(
                        "expected {calls} in {span} to take at most {}; none finished",
                        vmcp_core::config::duration::format(*max)
                    ),
                    calls.backend.clone(),
                )),
                Some((ms, _)) if u128::from(ms) <= max.as_millis() => None,
                Some((ms, at)) => Some(fail(
                    format!(
                        "expected {calls} in {span} to take at most {}; the worst took {ms} ms \
                         (finished at {})",
                        vmcp_core::config::duration::format(*max),
                        format_ms(at)
                    ),
                    calls.backend.clone(),
                )),
            }
        }
        ExpectKind::Tools {
            client,
            contains,
            excludes,
            equals,
            ..
        } => {
            let at = millis(window.to);
            let listed = observed
                .trace
                .entries
                .iter()
                .rev()
                .find_map(|e| match &e.event {
                    TraceEvent::ToolsListed { client: c, tools }
                        if c == client && e.at_ms <= at =>
                    {
                        Some((e.at_ms, tools))
                    }
                    _ => None,
                });
            let Some((listed_at, tools)) = listed else {
                return Some(fail(
                    format!("client {client} had not listed tools by {}", format_ms(at)),
                    None,
                ));
            };
            let missing: Vec<&String> = contains.iter().filter(|t| !tools.contains(t)).collect();
            let unwanted: Vec<&String> = excludes.iter().filter(|t| tools.contains(t)).collect();
            let unequal = equals.as_ref().is_some_and(|want| {
                let mut a = want.clone();
                let mut b = tools.clone();
                a.sort();
                b.sort();
                a != b
            });
            if missing.is_empty() && unwanted.is_empty() && !unequal {
                return None;
            }
            Some(fail(
                format!(
                    "client {client}'s last tools/list before {} (at {}) was [{}]: {}",
                    format_ms(at),
                    format_ms(listed_at),
                    tools.join(", "),
                    [
                        (!missing.is_empty()).then(|| format!("missing {missing:?}")),
                        (!unwanted.is_empty()).then(|| format!("unexpected {unwanted:?}")),
                        unequal.then(|| format!(
                            "expected exactly {:?}",
                            equals.clone().unwrap_or_default()
                        )),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ")
                ),
                None,
            ))
        }
        ExpectKind::Notified {
            client,
            trigger,
            within,
            ..
        } => {
            let start = match trigger {
                Trigger::Event(_) => Some(window.from),
                Trigger::State(condition) => {
                    // From one nanosecond before the window: the sample in force then says
                    // whether the condition already held, so a change exactly at `from` counts.
                    let scan = Window {
                        from: window.from.saturating_sub(Duration::from_nanos(1)),
                        to: window.to,
                    };
                    let points = observed.points(Observed::State, condition, scan, Span::InForce);
                    let mut before = points
                        .iter()
                        .rev()
                        .find(|p| p.at < window.from)
                        .is_some_and(|p| p.holds);
                    let mut found = None;
                    for p in points.iter().filter(|p| p.at >= window.from) {
                        if p.holds && !before {
                            found = Some(p.at);
                            break;
                        }
                        before = p.holds;
                    }
                    found
                }
            };
            let what = match trigger {
                Trigger::Event(id) => format!("event `{id}`"),
                Trigger::State(condition) => format!("the state change to {condition}"),
            };
            let Some(start) = start else {
                return Some(fail(
                    format!("{what} never happened in {span}, so nothing could be notified"),
                    None,
                ));
            };
            let end = start.saturating_add(*within);
            let got = observed.trace.entries.iter().any(|e| {
                matches!(&e.event, TraceEvent::ListChanged { client: c } if c == client)
                    && e.at_ms >= millis(start)
                    && e.at_ms <= millis(end)
            });
            if got {
                return None;
            }
            Some(fail(
                format!(
                    "client {client} received no notifications/tools/list_changed within {} of \
                     {what} at {}",
                    vmcp_core::config::duration::format(*within),
                    format_ms(millis(start))
                ),
                None,
            ))
        }
    }
}

/// ` (on the monitor's state)` for state expectations, nothing for reports.
fn on_suffix(on: Observed) -> &'static str {
    match on {
        Observed::Reports => "",
        Observed::State => " (on the monitor's state)",
    }
}

fn subject(condition: &Condition) -> Option<String> {
    condition.backend.as_ref().map(|b| b.backend.clone())
}

/// Whether `entry` counts for one of the client-side counters (the probe, skip, connection and
/// report counters go through the [`CountIndex`]).
fn counts_client_entry(counter: &Counter, entry: &TraceEntry) -> bool {
    match (counter, &entry.event) {
        (
            Counter::Calls(filter),
            TraceEvent::CallFinished {
                client,
                tool,
                backend,
                outcome,
                ..
            },
        ) => filter.matches(client, tool, backend.as_deref(), *outcome),
        (
            Counter::PodRequests {
                backend,
                pod,
                method,
                authorized,
            },
            TraceEvent::PodRequest {
                backend: b,
                pod: p,
                method: m,
                authorized: a,
            },
        ) => {
            b == backend
                && pod.as_ref().is_none_or(|w| w == p)
                && method.as_ref().is_none_or(|w| w == m)
                && authorized.is_none_or(|w| w == *a)
        }
        (Counter::ListChanged { client }, TraceEvent::ListChanged { client: c }) => {
            client.as_ref().is_none_or(|w| w == c)
        }
        (
            Counter::BackendSessions { backend, pod },
            TraceEvent::BackendSession { backend: b, pod: p },
        ) => b == backend && pod.as_ref().is_none_or(|w| w == p),
        (
            Counter::ClientSessions { client },
            TraceEvent::ClientSession {
                client: c,
                ok: true,
                ..
            },
        ) => client.as_ref().is_none_or(|w| w == c),
        _ => false,
    }
}

fn counter_name(counter: &Counter) -> String {
    match counter {
        Counter::Probes { backend, url } => match url {
            Some(url) => format!("probes of {backend} at {url}"),
            None => format!("probes of {backend}"),
        },
        Counter::Skips { backend, url } => match url {
            Some(url) => format!("skipped probes of {backend} at {url}"),
            None => format!("skipped probes of {backend}"),
        },
        Counter::Connections { backend, pod } => match pod {
            Some(pod) => format!("connections opened to {backend} served by {pod}"),
            None => format!("connections opened to {backend}"),
        },
        Counter::Reports => "reports".to_owned(),
        Counter::Calls(filter) => format!("finished {filter}"),
        Counter::PodRequests {
            backend,
            pod,
            method,
            authorized,
        } => {
            let mut text = match method {
                Some(m) => format!("{m} requests"),
                None => "requests".to_owned(),
            };
            match authorized {
                Some(true) => text.push_str(" with the required credentials"),
                Some(false) => text.push_str(" without the required credentials"),
                None => {}
            }
            match pod {
                Some(pod) => text.push_str(&format!(" received by {pod}")),
                None => text.push_str(&format!(" received by the pods of {backend}")),
            }
            text
        }
        Counter::ListChanged { client } => match client {
            Some(c) => format!("list_changed notifications received by client {c}"),
            None => "list_changed notifications received by clients".to_owned(),
        },
        Counter::BackendSessions { backend, pod } => match pod {
            Some(pod) => format!("backend sessions the front end opened on {pod}"),
            None => format!("backend sessions the front end opened to {backend}"),
        },
        Counter::ClientSessions { client } => match client {
            Some(c) => format!("sessions client {c} obtained"),
            None => "sessions clients obtained".to_owned(),
        },
    }
}

fn counter_backend(counter: &Counter) -> Option<String> {
    counter.backend().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vmcp_core::clock::Timestamp;
    use vmcp_core::health::{CircuitState, HealthReason, HealthStatus};
    use vmcp_core::status::{DiscoveredBackend, Phase, StatusReport};

    use super::*;

    /// A `within` window opens where the runner applied its event: the first step boundary at
    /// or after the event's instant (62 s with a 30 ms tick is step 2 067, 62.010 s).
    #[test]
    fn a_within_window_opens_at_the_step_that_applied_the_event() {
        let ms = Duration::from_millis;
        let window = |from, to| Window {
            from: ms(from),
            to: ms(to),
        };
        assert_eq!(
            from_applied(window(62_000, 64_000), ms(30)),
            window(62_010, 64_010)
        );
        assert_eq!(
            from_applied(window(60_000, 62_000), ms(30)),
            window(60_000, 62_000),
            "on a boundary: unchanged"
        );
        assert_eq!(
            from_applied(window(62_000, 64_000), ms(20)),
            window(62_000, 64_000)
        );
    }
    use crate::trace::TraceEntry;

    fn report(at_s: u64, health: HealthStatus) -> TimedReport {
        TimedReport {
            at: Duration::from_secs(at_s),
            report: StatusReport {
                phase: if health == HealthStatus::Healthy {
                    Phase::Ready
                } else {
                    Phase::Failed
                },
                message: String::new(),
                observed_at: Timestamp::from_unix_millis(at_s * 1000),
                backend_count: 0,
                conditions: Vec::new(),
                discovered_backends: vec![DiscoveredBackend {
                    name: "a".into(),
                    url: "http://a:8080/mcp".into(),
                    status: health.crd(),
                    health,
                    reason: HealthReason::Ok,
                    message: String::new(),
                    last_health_check: None,
                    consecutive_failures: 0,
                    circuit_breaker_state: CircuitState::Closed,
                    circuit_last_changed: None,
                    error_category: None,
                }],
            },
        }
    }

    fn scenario(expect: &str) -> Scenario {
        let text = format!(
            "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"100s\"\n\
             [[backend]]\nname = \"a\"\n[[expect]]\n{expect}\n"
        );
        Scenario::from_toml_str(&text, "t.toml").unwrap()
    }

    /// Reports: unknown... healthy at 10 s, unhealthy at 50 s, healthy again at 70 s.
    fn timeline() -> Vec<TimedReport> {
        vec![
            report(10, HealthStatus::Healthy),
            report(50, HealthStatus::Unhealthy),
            report(70, HealthStatus::Healthy),
        ]
    }

    fn failures(expect: &str) -> Vec<ExpectationFailure> {
        evaluate(&scenario(expect), &timeline(), &Trace::default())
    }

    #[test]
    fn eventually_sees_the_report_in_force_at_the_window_start() {
        let e = "kind = \"eventually\"\nfrom = \"55s\"\nby = \"60s\"\nbackend = \"a\"\nstatus = \"unhealthy\"";
        assert!(
            failures(e).is_empty(),
            "the 50 s report is in force at 55 s"
        );
        let e = "kind = \"eventually\"\nby = \"49s\"\nbackend = \"a\"\nstatus = \"unhealthy\"";
        let f = failures(e);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].location, "t.toml:7:1");
        assert!(f[0].message.contains("never held"), "{}", f[0].message);
    }

    #[test]
    fn always_fails_when_the_window_starts_before_the_first_report() {
        let e =
            "kind = \"always\"\nfrom = \"5s\"\nto = \"40s\"\nbackend = \"a\"\nstatus = \"healthy\"";
        let f = failures(e);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.contains("first was published at 10.000s"),
            "{}",
            f[0].message
        );
        let e = "kind = \"always\"\nfrom = \"10s\"\nto = \"49s\"\nbackend = \"a\"\nstatus = \"healthy\"";
        assert!(failures(e).is_empty());
        let e = "kind = \"always\"\nfrom = \"10s\"\nto = \"50s\"\nbackend = \"a\"\nstatus = \"healthy\"";
        assert!(
            failures(e)[0]
                .message
                .contains("broken by report at 50.000s")
        );
    }

    #[test]
    fn within_counts_only_reports_published_after_the_event() {
        let text = "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"100s\"\n\
             [[backend]]\nname = \"a\"\n[[event]]\nat = \"55s\"\nid = \"e\"\n\
             action = \"crash_pod\"\nbackend = \"a\"\n[[expect]]\nkind = \"within\"\n\
             after = \"e\"\nwithin = \"10s\"\nbackend = \"a\"\nstatus = \"unhealthy\"\n";
        let s = Scenario::from_toml_str(text, "t.toml").unwrap();
        let f = evaluate(&s, &timeline(), &Trace::default());
        assert_eq!(f.len(), 1, "the 50 s report predates the event: {f:?}");
        let mut reports = timeline();
        reports.insert(2, report(60, HealthStatus::Unhealthy));
        assert!(evaluate(&s, &reports, &Trace::default()).is_empty());
    }

    #[test]
    fn never_and_within() {
        let e = "kind = \"never\"\nfrom = \"71s\"\nbackend = \"a\"\nstatus = \"unhealthy\"";
        assert!(failures(e).is_empty());
        let e = "kind = \"never\"\nfrom = \"60s\"\nbackend = \"a\"\nstatus = \"unhealthy\"";
        assert_eq!(failures(e).len(), 1, "the 50 s report is in force at 60 s");
    }

    #[test]
    fn counts_are_bounded_and_windowed() {
        let trace = Trace {
            entries: [5_u64, 15, 25]
                .iter()
                .map(|s| TraceEntry {
                    at_ms: s * 1000,
                    event: TraceEvent::ProbeStarted {
                        backend: "a".into(),
                        generation: 0,
                    },
                })
                .collect(),
        };
        let s = scenario(
            "kind = \"count\"\ncounter = \"probes\"\nbackend = \"a\"\nfrom = \"10s\"\nequals = 2",
        );
        assert!(evaluate(&s, &[], &trace).is_empty());
        let s = scenario("kind = \"count\"\ncounter = \"probes\"\nbackend = \"a\"\nmax = 2");
        let f = evaluate(&s, &[], &trace);
        assert!(f[0].message.contains("counted 3"), "{}", f[0].message);
    }

    fn circuit(at_ms: u64, from: CircuitState, to: CircuitState) -> TraceEntry {
        TraceEntry {
            at_ms,
            event: TraceEvent::Circuit {
                backend: "a".into(),
                from,
                to,
            },
        }
    }

    fn status(at_ms: u64, to: HealthStatus, to_reason: HealthReason) -> TraceEntry {
        TraceEntry {
            at_ms,
            event: TraceEvent::Status {
                backend: "a".into(),
                from: HealthStatus::Unknown,
                from_reason: HealthReason::Pending,
                to,
                to_reason,
            },
        }
    }

    /// The breaker goes half-open at 70 s and re-opens 40 ms later (the trial failed): no report
    /// ever shows it (reports at 60 s and 75 s both say open), the state timeline does.
    fn short_half_open() -> (Trace, Vec<TimedReport>) {
        let open = |at_s: u64| {
            let mut r = report(at_s, HealthStatus::Unhealthy);
            r.report.discovered_backends[0].circuit_breaker_state = CircuitState::Open;
            r.report.discovered_backends[0].reason = HealthReason::CircuitOpen;
            r
        };
        let trace = Trace {
            entries: vec![
                TraceEntry {
                    at_ms: 10,
                    event: TraceEvent::BackendAdded {
                        backend: "a".into(),
                    },
                },
                status(40_000, HealthStatus::Unhealthy, HealthReason::CircuitOpen),
                circuit(40_000, CircuitState::Closed, CircuitState::Open),
                circuit(70_000, CircuitState::Open, CircuitState::HalfOpen),
                status(70_000, HealthStatus::Degraded, HealthReason::HalfOpen),
                TraceEntry {
                    at_ms: 70_040,
                    event: TraceEvent::ProbeFinished {
                        backend: "a".into(),
                        ok: false,
                        latency_ms: 40,
                        category: Some(vmcp_core::health::ErrorCategory::BackendUnavailable),
                        message: Some("initialize: HTTP 503".into()),
                        failure: Some(vmcp_core::health::FailureStatus::Unhealthy),
                        latency: Duration::from_millis(40),
                    },
                },
                circuit(70_040, CircuitState::HalfOpen, CircuitState::Open),
                status(70_040, HealthStatus::Unhealthy, HealthReason::CircuitOpen),
            ],
        };
        (trace, vec![open(60), open(75)])
    }

    #[test]
    fn a_40_ms_half_open_state_is_visible_on_the_state_timeline_only() {
        let (trace, reports) = short_half_open();
        let half_open = |on: &str| {
            scenario(&format!(
                "kind = \"eventually\"\nfrom = \"69s\"\nby = \"72s\"\non = \"{on}\"\n\
                 backend = \"a\"\ncircuit = \"half-open\"\nstatus = \"degraded\"\n\
                 reason = \"half_open\""
            ))
        };
        assert!(evaluate(&half_open("state"), &reports, &trace).is_empty());
        let f = evaluate(&half_open("reports"), &reports, &trace);
        assert_eq!(f.len(), 1, "no report shows the half-open state");
        // Both ends of the 40 ms are exact: half-open in [70 s, 70.039 s], open again at 70.040 s.
        let always = |from: &str, to: &str, circuit: &str| {
            scenario(&format!(
                "kind = \"always\"\nfrom = \"{from}\"\nto = \"{to}\"\non = \"state\"\n\
                 backend = \"a\"\ncircuit = \"{circuit}\""
            ))
        };
        assert!(evaluate(&always("70s", "70.039s", "half-open"), &reports, &trace).is_empty());
        let f = evaluate(&always("70s", "70.040s", "half-open"), &reports, &trace);
        assert!(
            f[0].message.contains("broken by state at 70.040s")
                && f[0].message.contains("circuit open"),
            "{}",
            f[0].message
        );
        assert!(evaluate(&always("70.040s", "99s", "open"), &reports, &trace).is_empty());
        // The same-instant status and circuit changes apply together: no sample has the circuit
        // half-open with the status still unhealthy/circuit_open.
        let torn = scenario(
            "kind = \"never\"\non = \"state\"\nbackend = \"a\"\ncircuit = \"half-open\"\n\
             reason = \"circuit_open\"",
        );
        assert!(evaluate(&torn, &reports, &trace).is_empty());
    }

    #[test]
    fn state_conditions_see_the_last_error_while_failing() {
        let (trace, reports) = short_half_open();
        let message = |text: &str| {
            scenario(&format!(
                "kind = \"eventually\"\nby = \"71s\"\non = \"state\"\nbackend = \"a\"\n\
                 message = \"{text}\"\ncategory = \"backend_unavailable\""
            ))
        };
        assert!(evaluate(&message("HTTP 503"), &reports, &trace).is_empty());
        assert_eq!(evaluate(&message("HTTP 404"), &reports, &trace).len(), 1);
        let absent = scenario(
            "kind = \"always\"\nto = \"0.009s\"\non = \"state\"\nbackend = \"a\"\npresent = false",
        );
        assert!(evaluate(&absent, &reports, &trace).is_empty());
        let present = scenario(
            "kind = \"always\"\nfrom = \"0.010s\"\non = \"state\"\nbackend = \"a\"\npresent = true",
        );
        assert!(evaluate(&present, &reports, &trace).is_empty());
    }

    #[test]
    fn report_conditions_on_message_and_url() {
        let mut reports = timeline();
        reports[1].report.discovered_backends[0].message = "initialize: HTTP 503".into();
        let e = "kind = \"eventually\"\nby = \"60s\"\nbackend = \"a\"\nmessage = \"503\"";
        assert!(evaluate(&scenario(e), &reports, &Trace::default()).is_empty());
        let e = "kind = \"always\"\nfrom = \"10s\"\nbackend = \"a\"\nurl = \"http://a:8080/mcp\"";
        assert!(evaluate(&scenario(e), &reports, &Trace::default()).is_empty());
        reports[2].report.discovered_backends[0].url = "http://b:8080/mcp".into();
        let f = evaluate(&scenario(e), &reports, &Trace::default());
        assert!(
            f[0].message.contains("url http://b:8080/mcp"),
            "{}",
            f[0].message
        );
    }
}
