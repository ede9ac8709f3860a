//! The `[[expect]]` model: what must hold during a run, and over which window.
//!
//! Kinds (DESIGN §4.2): `eventually` (by a time), `always` / `never` (over a window), `within`
//! (a window that opens at an event), `count` (trace counters within bounds). Backend and phase
//! conditions are evaluated by the runner against the **latest published status report** at each
//! instant (what vMCP publishes, so they lag a transition by up to `registry_poll_interval`);
//! counts come from the trace. [`Condition::holds`] is that evaluation for one report, kept here
//! so the meaning of every key lives next to its definition.

use std::fmt;
use std::time::Duration;

use vmcp_core::config::duration;
use vmcp_core::health::{CircuitState, CrdStatus, ErrorCategory, HealthReason, HealthStatus};
use vmcp_core::status::{Phase, StatusReport};

use super::location::Location;

/// One `[[expect]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expectation {
    /// What must hold, and when.
    pub kind: ExpectKind,
    /// What a condition is evaluated on (`on = "reports"`, the default, or `on = "state"`);
    /// irrelevant for `count`.
    pub on: Observed,
    /// Why it must hold (the optional `description` key), printed when it fails.
    pub description: Option<String>,
    /// Where the `[[expect]]` table starts, for `file:line:column` in failure messages.
    pub location: Location,
}

/// What backend conditions are evaluated on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Observed {
    /// The latest **published** status report at each instant (the default): what vMCP's users
    /// see, lagging a transition by up to `registry_poll_interval`.
    #[default]
    Reports,
    /// The monitor's own state as it changes (every status and circuit transition, backend
    /// added/removed, probe result, from the trace): a state that begins and ends between two
    /// reports is visible here. Same-millisecond transitions count as one change.
    State,
}

impl Observed {
    /// As written in the file.
    pub fn as_str(self) -> &'static str {
        match self {
            Observed::Reports => "reports",
            Observed::State => "state",
        }
    }
}

/// The monitor's view of one backend at an instant (the `on = "state"` counterpart of a report
/// entry), rebuilt from the trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendState {
    /// Fine status.
    pub status: HealthStatus,
    /// Reason.
    pub reason: HealthReason,
    /// Breaker state.
    pub circuit: CircuitState,
    /// Category of the last failure, while the backend is failing (as reports carry it).
    pub category: Option<ErrorCategory>,
    /// Message of the last failure, while the backend is failing.
    pub message: Option<String>,
}

/// A closed interval of simulated time since the start of the run: `[from, to]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// First instant of the window.
    pub from: Duration,
    /// Last instant of the window (inclusive).
    pub to: Duration,
}

impl Window {
    /// Whether `t` lies in `[from, to]`.
    pub fn contains(&self, t: Duration) -> bool {
        self.from <= t && t <= self.to
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}, {}]",
            duration::format(self.from),
            duration::format(self.to)
        )
    }
}

/// The expectation kinds, each with its resolved window (defaults applied, event times looked up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpectKind {
    /// The condition holds at some instant of the window (`from` default 0, `to` = `by`).
    Eventually {
        /// `[from, by]`.
        window: Window,
        /// What must hold.
        condition: Condition,
    },
    /// The condition holds at every instant of the window (`from` default 0, `to` default the
    /// end of the run).
    Always {
        /// `[from, to]`.
        window: Window,
        /// What must hold.
        condition: Condition,
    },
    /// The condition holds at no instant of the window (defaults as for `Always`).
    Never {
        /// `[from, to]`.
        window: Window,
        /// What must not hold.
        condition: Condition,
    },
    /// The condition holds at some instant of `[event.at, event.at + within]`.
    Within {
        /// The `id` of the event that opens the window.
        after: String,
        /// `[event.at, event.at + within]`, already resolved from the event's time.
        window: Window,
        /// What must hold.
        condition: Condition,
    },
    /// The number of trace entries of `counter` inside the window lies within `bounds`.
    Count {
        /// What is counted.
        counter: Counter,
        /// `[from, to]` (defaults 0 and the end of the run).
        window: Window,
        /// The accepted range.
        bounds: CountBounds,
    },
    /// Every client call that finished in the window (at least one did) took at most `max`
    /// (a call the client gave up on counts with its `call_timeout`).
    CallLatency {
        /// Which calls.
        calls: CallFilter,
        /// `[from, to]`.
        window: Window,
        /// The worst latency accepted.
        max: Duration,
    },
    /// The tool names `client` last listed at or before `at` (it must have listed by then).
    Tools {
        /// The client.
        client: String,
        /// `[at, at]`.
        window: Window,
        /// Names that must be listed.
        contains: Vec<String>,
        /// Names that must not be listed.
        excludes: Vec<String>,
        /// The exact set (any order), if given.
        equals: Option<Vec<String>>,
    },
    /// `client` receives `notifications/tools/list_changed` within `within` of the trigger.
    Notified {
        /// The client.
        client: String,
        /// What starts the clock.
        trigger: Trigger,
        /// The bound.
        within: Duration,
        /// Where the trigger is looked for: `[event.at, event.at + within]` for an event, `[from,
        /// end of run]` for a state change.
        window: Window,
    },
}

/// What starts the clock of a `notified` expectation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The event with this id.
    Event(String),
    /// The first instant in the window at which the monitor's state starts to satisfy this
    /// condition (a transition into it).
    State(Condition),
}

/// Which client calls an expectation is about; every given part must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallFilter {
    /// Only this client's calls.
    pub client: Option<String>,
    /// Only calls of this tool name.
    pub tool: Option<String>,
    /// Only calls routed to this backend.
    pub backend: Option<String>,
    /// Only calls that ended like this.
    pub outcome: Option<crate::trace::CallOutcome>,
}

impl CallFilter {
    /// Whether a finished call matches.
    pub fn matches(
        &self,
        client: &str,
        tool: &str,
        backend: Option<&str>,
        outcome: crate::trace::CallOutcome,
    ) -> bool {
        self.client.as_deref().is_none_or(|c| c == client)
            && self.tool.as_deref().is_none_or(|t| t == tool)
            && self.backend.as_deref().is_none_or(|b| Some(b) == backend)
            && self.outcome.is_none_or(|o| o == outcome)
    }
}

impl fmt::Display for CallFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = match &self.outcome {
            Some(o) => format!("{o} calls"),
            None => "calls".to_owned(),
        };
        if let Some(t) = &self.tool {
            text.push_str(&format!(" of {t}"));
        }
        if let Some(c) = &self.client {
            text.push_str(&format!(" by client {c}"));
        }
        if let Some(b) = &self.backend {
            text.push_str(&format!(" routed to {b}"));
        }
        f.write_str(&text)
    }
}

impl ExpectKind {
    /// The kind as written in the file (`eventually`, `always`, `never`, `within`, `count`).
    pub fn name(&self) -> &'static str {
        match self {
            ExpectKind::Eventually { .. } => "eventually",
            ExpectKind::Always { .. } => "always",
            ExpectKind::Never { .. } => "never",
            ExpectKind::Within { .. } => "within",
            ExpectKind::Count { .. } => "count",
            ExpectKind::CallLatency { .. } => "call_latency",
            ExpectKind::Tools { .. } => "tools",
            ExpectKind::Notified { .. } => "notified",
        }
    }

    /// The window the expectation looks at.
    pub fn window(&self) -> Window {
        match self {
            ExpectKind::Eventually { window, .. }
            | ExpectKind::Always { window, .. }
            | ExpectKind::Never { window, .. }
            | ExpectKind::Within { window, .. }
            | ExpectKind::Count { window, .. }
            | ExpectKind::CallLatency { window, .. }
            | ExpectKind::Tools { window, .. }
            | ExpectKind::Notified { window, .. } => *window,
        }
    }

    /// The report condition, for every kind but `count`.
    pub fn condition(&self) -> Option<&Condition> {
        match self {
            ExpectKind::Eventually { condition, .. }
            | ExpectKind::Always { condition, .. }
            | ExpectKind::Never { condition, .. }
            | ExpectKind::Within { condition, .. } => Some(condition),
            ExpectKind::Count { .. }
            | ExpectKind::CallLatency { .. }
            | ExpectKind::Tools { .. }
            | ExpectKind::Notified { .. } => None,
        }
    }
}

/// A condition on one status report. Every given part must hold together; at least one part is
/// given (the parser refuses empty conditions).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Condition {
    /// Conditions on one backend's entry (`backend` plus status/reason/... keys).
    pub backend: Option<BackendCondition>,
    /// The report phase.
    pub phase: Option<Phase>,
}

/// Conditions on the entry of one backend in a report. At least one field besides `backend` is
/// given. Every field but `present = false` requires the backend to be in the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendCondition {
    /// The subject: a declared backend name.
    pub backend: String,
    /// `Some(true)`: listed in the report; `Some(false)`: not listed (then no other field is set).
    pub present: Option<bool>,
    /// Fine status (`health` in the report).
    pub status: Option<HealthStatus>,
    /// CRD status (`status` in the report).
    pub crd_status: Option<CrdStatus>,
    /// Health reason.
    pub reason: Option<HealthReason>,
    /// Circuit-breaker state.
    pub circuit: Option<CircuitState>,
    /// Category of the last error (reports carry one only while the backend is failing).
    pub category: Option<ErrorCategory>,
    /// The entry's message contains this text.
    pub message: Option<String>,
    /// The entry's URL is exactly this (reports only).
    pub url: Option<String>,
}

impl Condition {
    /// Whether the condition holds in `report` (the latest published report at some instant).
    ///
    /// Before the first report is published no condition can be evaluated; the runner treats
    /// that as "does not hold".
    pub fn holds(&self, report: &StatusReport) -> bool {
        if self.phase.is_some_and(|phase| phase != report.phase) {
            return false;
        }
        let Some(expected) = &self.backend else {
            return true;
        };
        // Reports list backends sorted by name (`build_report`): a binary search keeps checking
        // an expectation about each of N backends against R reports at O(N·R·log N).
        let entry = report
            .discovered_backends
            .binary_search_by(|entry| entry.name.as_str().cmp(expected.backend.as_str()))
            .ok()
            .and_then(|i| report.discovered_backends.get(i));
        let Some(entry) = entry else {
            // Absent: only `present = false` can hold.
            return expected.present == Some(false);
        };
        expected.present != Some(false)
            && expected.status.is_none_or(|s| s == entry.health)
            && expected.crd_status.is_none_or(|s| s == entry.status)
            && expected.reason.is_none_or(|r| r == entry.reason)
            && expected
                .circuit
                .is_none_or(|c| c == entry.circuit_breaker_state)
            && expected
                .category
                .is_none_or(|c| entry.error_category == Some(c))
            && expected
                .message
                .as_ref()
                .is_none_or(|m| entry.message.contains(m.as_str()))
            && expected.url.as_ref().is_none_or(|u| *u == entry.url)
    }

    /// Whether the condition holds in the monitor's state at some instant (`on = "state"`):
    /// `monitored` maps every backend the monitor watches then to its state. The parser
    /// guarantees that no report-only part (`phase`, `url`) is set.
    pub fn holds_in_state(
        &self,
        monitored: &std::collections::BTreeMap<String, BackendState>,
    ) -> bool {
        let Some(expected) = &self.backend else {
            return false;
        };
        self.holds_for_state(monitored.get(&expected.backend))
    }

    /// [`Condition::holds_in_state`] given only the subject backend's state (`None`: not
    /// monitored then).
    pub fn holds_for_state(&self, state: Option<&BackendState>) -> bool {
        let Some(expected) = &self.backend else {
            return false;
        };
        let Some(state) = state else {
            return expected.present == Some(false);
        };
        expected.present != Some(false)
            && expected.status.is_none_or(|s| s == state.status)
            && expected.crd_status.is_none_or(|s| s == state.status.crd())
            && expected.reason.is_none_or(|r| r == state.reason)
            && expected.circuit.is_none_or(|c| c == state.circuit)
            && expected.category.is_none_or(|c| state.category == Some(c))
            && expected.message.as_ref().is_none_or(|m| {
                state
                    .message
                    .as_ref()
                    .is_some_and(|text| text.contains(m.as_str()))
            })
            && expected.url.is_none()
    }
}

/// Writes the condition in scenario-file syntax (`backend = "github", status = "healthy"`).
impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(b) = &self.backend {
            parts.push(format!("backend = \"{}\"", b.backend));
            if let Some(present) = b.present {
                parts.push(format!("present = {present}"));
            }
            if let Some(s) = b.status {
                parts.push(format!("status = \"{s}\""));
            }
            if let Some(s) = b.crd_status {
                parts.push(format!("crd_status = \"{s}\""));
            }
            if let Some(r) = b.reason {
                parts.push(format!("reason = \"{r}\""));
            }
            if let Some(c) = b.circuit {
                parts.push(format!("circuit = \"{}\"", c.as_str()));
            }
            if let Some(c) = b.category {
                parts.push(format!("category = \"{c}\""));
            }
            if let Some(m) = &b.message {
                parts.push(format!("message = \"{}\"", m.escape_debug()));
            }
            if let Some(u) = &b.url {
                parts.push(format!("url = \"{u}\""));
            }
        }
        if let Some(phase) = self.phase {
            parts.push(format!("phase = \"{phase}\""));
        }
        f.write_str(&parts.join(", "))
    }
}

/// What a `count` expectation counts in the trace.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Counter {
    /// Probes started against the backend (skipped probes are not started).
    Probes {
        /// The backend.
        backend: String,
        /// Only probes of the endpoint with this URL (`url` key).
        url: Option<String>,
    },
    /// Probes skipped because the backend's circuit was open.
    Skips {
        /// The backend.
        backend: String,
        /// Only skips while the backend's endpoint had this URL (`url` key).
        url: Option<String>,
    },
    /// TCP connections opened to any pod of the backend.
    Connections {
        /// The backend.
        backend: String,
        /// Only connections served by this pod (`pod` key, `<backend>-pod-<n>`).
        pod: Option<String>,
    },
    /// Status reports published.
    Reports,
    /// Client calls that finished.
    Calls(CallFilter),
    /// Requests a backend's pods received (runs with clients only).
    PodRequests {
        /// The backend.
        backend: String,
        /// Only this pod's.
        pod: Option<String>,
        /// Only this method (JSON-RPC method for POST, else the HTTP method).
        method: Option<String>,
        /// Only requests that did (`true`) or did not (`false`) carry the credentials the pod
        /// required.
        authorized: Option<bool>,
    },
    /// `notifications/tools/list_changed` received by clients.
    ListChanged {
        /// Only this client's.
        client: Option<String>,
    },
    /// Backend sessions the front end opened (initial and re-initialized).
    BackendSessions {
        /// The backend.
        backend: String,
        /// Only on this pod.
        pod: Option<String>,
    },
    /// Sessions clients obtained (`initialize` answered).
    ClientSessions {
        /// Only this client's.
        client: Option<String>,
    },
}

impl Counter {
    /// The counter as written in the file (`probes`, `skips`, `connections`, `reports`,
    /// `calls`, `pod_requests`, `list_changed`, `backend_sessions`, `client_sessions`).
    pub fn name(&self) -> &'static str {
        match self {
            Counter::Probes { .. } => "probes",
            Counter::Skips { .. } => "skips",
            Counter::Connections { .. } => "connections",
            Counter::Reports => "reports",
            Counter::Calls(_) => "calls",
            Counter::PodRequests { .. } => "pod_requests",
            Counter::ListChanged { .. } => "list_changed",
            Counter::BackendSessions { .. } => "backend_sessions",
            Counter::ClientSessions { .. } => "client_sessions",
        }
    }

    /// The backend whose trace entries are counted (`None` for reports).
    pub fn backend(&self) -> Option<&str> {
        match self {
            Counter::Probes { backend, .. }
            | Counter::Skips { backend, .. }
            | Counter::Connections { backend, .. }
            | Counter::PodRequests { backend, .. }
            | Counter::BackendSessions { backend, .. } => Some(backend),
            Counter::Calls(filter) => filter.backend.as_deref(),
            Counter::Reports | Counter::ListChanged { .. } | Counter::ClientSessions { .. } => None,
        }
    }
}

/// Inclusive bounds of a count. `equals = n` is `min = max = n`. At least one bound is set and
/// `min <= max` (the parser guarantees both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CountBounds {
    /// Smallest accepted count.
    pub min: Option<u64>,
    /// Largest accepted count.
    pub max: Option<u64>,
}

impl CountBounds {
    /// Whether `count` is accepted.
    pub fn contains(&self, count: u64) -> bool {
        self.min.is_none_or(|min| count >= min) && self.max.is_none_or(|max| count <= max)
    }
}

/// `exactly 3`, `at least 2`, `at most 5`, `between 2 and 5`: for failure messages.
impl fmt::Display for CountBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.min, self.max) {
            (Some(min), Some(max)) if min == max => write!(f, "exactly {min}"),
            (Some(min), Some(max)) => write!(f, "between {min} and {max}"),
            (Some(min), None) => write!(f, "at least {min}"),
            (None, Some(max)) => write!(f, "at most {max}"),
            (None, None) => f.write_str("any number"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmcp_core::clock::Timestamp;
    use vmcp_core::status::DiscoveredBackend;

    fn entry(name: &str, health: HealthStatus) -> DiscoveredBackend {
        DiscoveredBackend {
            name: name.into(),
            url: format!("http://{name}:8080/mcp"),
            status: health.crd(),
            health,
            reason: HealthReason::ProbeFailed,
            message: String::new(),
            last_health_check: None,
            consecutive_failures: 3,
            circuit_breaker_state: CircuitState::Open,
            circuit_last_changed: None,
            error_category: Some(ErrorCategory::AuthenticationFailed),
        }
    }

    fn report(phase: Phase, backends: Vec<DiscoveredBackend>) -> StatusReport {
        StatusReport {
            phase,
            message: String::new(),
            observed_at: Timestamp::from_unix_millis(0),
            backend_count: 0,
            conditions: Vec::new(),
            discovered_backends: backends,
        }
    }

    fn on(backend: &str) -> BackendCondition {
        BackendCondition {
            backend: backend.into(),
            present: None,
            status: None,
            crd_status: None,
            reason: None,
            circuit: None,
            category: None,
            message: None,
            url: None,
        }
    }

    #[test]
    fn every_given_part_must_hold() {
        let r = report(
            Phase::Failed,
            vec![entry("github", HealthStatus::Unauthenticated)],
        );
        let all = Condition {
            backend: Some(BackendCondition {
                present: Some(true),
                status: Some(HealthStatus::Unauthenticated),
                crd_status: Some(CrdStatus::Unavailable),
                reason: Some(HealthReason::ProbeFailed),
                circuit: Some(CircuitState::Open),
                category: Some(ErrorCategory::AuthenticationFailed),
                ..on("github")
            }),
            phase: Some(Phase::Failed),
        };
        assert!(all.holds(&r));
        let wrong_phase = Condition {
            phase: Some(Phase::Ready),
            ..all.clone()
        };
        assert!(!wrong_phase.holds(&r));
        let wrong_circuit = Condition {
            backend: Some(BackendCondition {
                circuit: Some(CircuitState::Closed),
                ..on("github")
            }),
            phase: None,
        };
        assert!(!wrong_circuit.holds(&r));
        let wrong_category = Condition {
            backend: Some(BackendCondition {
                category: Some(ErrorCategory::Timeout),
                ..on("github")
            }),
            phase: None,
        };
        assert!(!wrong_category.holds(&r));
    }

    #[test]
    fn presence_and_absence() {
        let r = report(Phase::Ready, vec![entry("github", HealthStatus::Healthy)]);
        let absent = |name: &str| Condition {
            backend: Some(BackendCondition {
                present: Some(false),
                ..on(name)
            }),
            phase: None,
        };
        assert!(absent("jira").holds(&r));
        assert!(!absent("github").holds(&r));
        // A status condition on a backend missing from the report does not hold.
        let status = Condition {
            backend: Some(BackendCondition {
                status: Some(HealthStatus::Healthy),
                ..on("jira")
            }),
            phase: None,
        };
        assert!(!status.holds(&r));
    }

    #[test]
    fn bounds_and_windows() {
        let exactly = CountBounds {
            min: Some(3),
            max: Some(3),
        };
        assert!(exactly.contains(3) && !exactly.contains(2) && !exactly.contains(4));
        assert_eq!(exactly.to_string(), "exactly 3");
        let at_least = CountBounds {
            min: Some(1),
            max: None,
        };
        assert!(at_least.contains(99) && !at_least.contains(0));
        assert_eq!(at_least.to_string(), "at least 1");
        let window = Window {
            from: Duration::from_secs(1),
            to: Duration::from_secs(2),
        };
        assert!(window.contains(Duration::from_secs(1)) && window.contains(Duration::from_secs(2)));
        assert!(!window.contains(Duration::from_millis(2001)));
        assert_eq!(window.to_string(), "[1s, 2s]");
    }

    #[test]
    fn conditions_display_in_file_syntax() {
        let c = Condition {
            backend: Some(BackendCondition {
                status: Some(HealthStatus::Healthy),
                circuit: Some(CircuitState::HalfOpen),
                ..on("github")
            }),
            phase: Some(Phase::Ready),
        };
        assert_eq!(
            c.to_string(),
            "backend = \"github\", status = \"healthy\", circuit = \"half-open\", phase = \"Ready\""
        );
    }
}
