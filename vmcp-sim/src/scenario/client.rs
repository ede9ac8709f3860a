//! The `[[client]]` model (DESIGN §4.6): simulated MCP clients of the vMCP front end, each a host
//! `client-<name>` that initializes, may hold the GET stream open, lists tools at given times
//! and calls tools on a schedule.

use std::time::Duration;

use serde_json::{Map, Value};

use super::location::Location;

/// The host name prefix of a client (`client-<name>`).
pub const CLIENT_HOST_PREFIX: &str = "client-";

/// Default deadline of one client call (the client gives up and records `timeout`).
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest `every` of a call schedule.
pub const MIN_CALL_PERIOD: Duration = Duration::from_millis(10);

/// The most calls all clients of a scenario may make together (schedules expanded): each call is
/// a few simulated messages and trace entries.
pub const MAX_CALLS: u64 = 200_000;

/// One `[[client]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSpec {
    /// Unique name, `[a-z0-9-]+`; the host is `client-<name>`.
    pub name: String,
    /// When the client starts (sends `initialize`); default 0.
    pub start: Duration,
    /// Whether it opens the GET stream for notifications after initializing (default true).
    pub stream: bool,
    /// When it sends `tools/list` (besides after every `list_changed`, see `relist_on_change`).
    pub list_tools: Vec<Duration>,
    /// Whether a `notifications/tools/list_changed` makes it list tools again (default true,
    /// as real clients do).
    pub relist_on_change: bool,
    /// Its deadline per call.
    pub call_timeout: Duration,
    /// Its call schedules, in file order.
    pub calls: Vec<CallSpec>,
    /// Where the `[[client]]` table starts.
    pub location: Location,
}

impl ClientSpec {
    /// The client's host name in the simulated network.
    pub fn host(&self) -> String {
        format!("{CLIENT_HOST_PREFIX}{}", self.name)
    }

    /// Every call the client makes, as (instant, index of its schedule), in time order (file
    /// order at one instant).
    pub fn call_times(&self) -> Vec<(Duration, usize)> {
        let mut times = Vec::new();
        for (i, call) in self.calls.iter().enumerate() {
            times.extend(call.schedule.instants().into_iter().map(|t| (t, i)));
        }
        times.sort();
        times
    }
}

/// One `[[client.call]]`: a tool called once or periodically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallSpec {
    /// The tool name as the client sees it (the front end's exposed name, e.g. `github_echo`).
    pub tool: String,
    /// The call's `arguments` object.
    pub arguments: Map<String, Value>,
    /// When.
    pub schedule: CallSchedule,
    /// Where the table starts.
    pub location: Location,
}

/// When a call is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallSchedule {
    /// Once.
    At(Duration),
    /// At `from`, `from + every`, ... while `< to`.
    Every {
        /// The period.
        every: Duration,
        /// The first call.
        from: Duration,
        /// No call at or after this instant.
        to: Duration,
    },
}

impl CallSchedule {
    /// The instants of the schedule.
    pub fn instants(&self) -> Vec<Duration> {
        match *self {
            CallSchedule::At(at) => vec![at],
            CallSchedule::Every { every, from, to } => {
                let mut out = Vec::new();
                let mut t = from;
                while t < to && !every.is_zero() {
                    out.push(t);
                    t += every;
                }
                out
            }
        }
    }

    /// How many calls the schedule makes.
    pub fn count(&self) -> u64 {
        match *self {
            CallSchedule::At(_) => 1,
            CallSchedule::Every { every, from, to } => {
                let span = to.saturating_sub(from).as_nanos();
                let every = every.as_nanos().max(1);
                u64::try_from(span.div_ceil(every)).unwrap_or(u64::MAX)
            }
        }
    }
}
