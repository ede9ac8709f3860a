//! Simulated pods: real MCP Streamable-HTTP servers whose behaviour is switchable at runtime
//! (DESIGN §4.1).
//!
//! A pod is a turmoil host running [`PodHandle::software`]. The [`PodHandle`] is shared between the
//! world (outside the simulation, between steps) and the pod's software (inside its host), so a
//! scenario can flip a pod to 401s, make it hang, stop it listening, or retire it after a
//! replacement while its stale keep-alive connections stay open.
//!
//! Module map (all private; the types are re-exported here): `behaviour` (what a pod does:
//! [`PodBehaviour`], [`ReplyMode`]), `stats` (what it saw: [`PodStats`]), `server` (listener and
//! connection lifecycle), `mcp` (the request handler), `jsonrpc` (the JSON-RPC messages it reads and
//! writes, typed), `body` (response bodies).

mod behaviour;
mod body;
mod jsonrpc;
mod log;
mod mcp;
mod server;
mod stats;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::sync::watch;

pub use behaviour::{PodBehaviour, ReplyMode};
pub use log::{PodRequestRecord, RequestLog};
pub(crate) use mcp::POD_META;
pub(crate) use server::PodFuture;
pub use stats::PodStats;

/// A pod's printed answer to a `tools/call` of `tool` (for the client's tests).
#[cfg(test)]
pub(crate) fn call_reply_for_test(tool: &str, pod: &str) -> String {
    jsonrpc::call_reply(&serde_json::json!(1), tool, pod)
}

use crate::service::lock;
use crate::teardown::{OrderedStream, Teardown};

/// The pod's control state as the software sees it: a snapshot of what the world last set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Control {
    pub(crate) behaviour: PodBehaviour,
    /// Simulated time at which `behaviour` was set (start of a `StartingFor` window).
    pub(crate) since: Duration,
    pub(crate) reply: ReplyMode,
    /// Removed from its service after a replacement: accepts no new connection.
    pub(crate) retired: bool,
    /// Credentials every request must carry (an auth proxy in front of the server): a request
    /// without this exact header value is answered 401.
    pub(crate) required_auth: Option<RequiredAuth>,
    /// The tools the server offers (`tools/list`, `tools/call`), in this order.
    pub(crate) tools: Arc<[String]>,
    /// What a request naming a session the pod does not know gets: 404 (the spec) or the 400
    /// some SDKs send.
    pub(crate) unknown_session: http::StatusCode,
}

/// The tool set of a pod nobody configured: one tool.
pub(crate) const DEFAULT_TOOLS: &[&str] = &["echo"];

/// A header a pod requires on every request, e.g. `authorization: Bearer <token>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredAuth {
    /// Header name (case-insensitive).
    pub header: http::HeaderName,
    /// The exact value expected.
    pub value: String,
}

impl Control {
    /// When (simulated time) the pod's process is up, given the incarnation started at `start`;
    /// `None` while it is down indefinitely (`Refuse`).
    pub(crate) fn up_at(&self, start: Duration) -> Option<Duration> {
        match self.behaviour {
            PodBehaviour::Refuse => None,
            PodBehaviour::StartingFor(d) => Some(start.max(self.since).saturating_add(d)),
            _ => Some(Duration::ZERO),
        }
    }

    /// Whether the process is up (answers at all) at simulated time `now`.
    pub(crate) fn is_up(&self, start: Duration, now: Duration) -> bool {
        self.up_at(start).is_some_and(|at| now >= at)
    }

    /// Whether the pod should have a listening socket at `now`.
    pub(crate) fn should_listen(&self, start: Duration, now: Duration) -> bool {
        !self.retired && self.is_up(start, now)
    }
}

/// Monotonic counters shared by all incarnations of a pod, so ids are never reused after a
/// restart (a client holding an old session id must not accidentally hit a new session), and the
/// pod's seeded RNG (session ids, response jitter, start offsets).
#[derive(Debug)]
pub(crate) struct Counters {
    pub(crate) sessions: u64,
    pub(crate) events: u64,
    pub(crate) rng: ChaCha8Rng,
}

/// The seeded part of a pod's timing (DESIGN §4.5): every draw comes from one ChaCha8 stream per
/// pod, seeded by the world, so a seed gives the same pod timings on every run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PodSchedule {
    /// Seed of the pod's RNG.
    pub seed: u64,
    /// Each response is delayed by a uniform draw from `[0, max_jitter]` (0: no jitter).
    pub max_jitter: Duration,
    /// Each (re)start of the pod's process waits a uniform draw from `[0, max_start_offset]`
    /// before it listens (connects are refused meanwhile).
    pub max_start_offset: Duration,
}

/// A uniform draw from `[0, max]` at millisecond resolution (0 when `max` is 0).
pub(crate) fn draw_up_to(rng: &mut ChaCha8Rng, max: Duration) -> Duration {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if max_ms == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rng.random_range(0..=max_ms))
}

#[derive(Debug)]
pub(crate) struct PodShared {
    pub(crate) name: String,
    pub(crate) port: u16,
    pub(crate) control: watch::Sender<Control>,
    pub(crate) stats: Mutex<PodStats>,
    pub(crate) counters: Mutex<Counters>,
    pub(crate) schedule: PodSchedule,
    /// Where every request is logged with its time, when the run asks for it.
    pub(crate) log: Mutex<Option<RequestLog>>,
    /// Numbers the connections the pod accepts, so a crash closes them in a fixed order (the
    /// world's register once the pod is in a world; [`crate::teardown`]).
    pub(crate) teardown: Mutex<Teardown>,
}

/// A shared handle to one simulated pod: its name, runtime behaviour switches and counters.
///
/// Cheap to clone; all clones control the same pod. Setting a behaviour takes effect for requests
/// that *arrive* afterwards (a request already being answered finishes with the behaviour it
/// started with).
#[derive(Clone, Debug)]
pub struct PodHandle {
    pub(crate) shared: Arc<PodShared>,
}

impl PodHandle {
    /// A pod named `name` (its turmoil host name) listening on `port`, starting with `behaviour`,
    /// without jitter or start offset (its session ids are seeded with 0).
    pub fn new(name: &str, port: u16, behaviour: PodBehaviour) -> Self {
        Self::with_schedule(name, port, behaviour, PodSchedule::default())
    }

    /// [`PodHandle::new`] with seeded timings.
    pub fn with_schedule(
        name: &str,
        port: u16,
        behaviour: PodBehaviour,
        schedule: PodSchedule,
    ) -> Self {
        let control = Control {
            behaviour,
            since: Duration::ZERO,
            reply: ReplyMode::Json,
            retired: false,
            required_auth: None,
            tools: DEFAULT_TOOLS.iter().map(|t| (*t).to_owned()).collect(),
            unknown_session: http::StatusCode::NOT_FOUND,
        };
        Self {
            shared: Arc::new(PodShared {
                name: name.to_owned(),
                port,
                control: watch::Sender::new(control),
                stats: Mutex::new(PodStats::default()),
                counters: Mutex::new(Counters {
                    sessions: 0,
                    events: 0,
                    rng: ChaCha8Rng::seed_from_u64(schedule.seed),
                }),
                schedule,
                log: Mutex::new(None),
                teardown: Mutex::new(Teardown::new()),
            }),
        }
    }

    /// The pod's host name (`<backend>-pod-<n>` when created by the world).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The port the pod listens on.
    pub fn port(&self) -> u16 {
        self.shared.port
    }

    /// Require `auth` on every request from now on (`None`: accept anything). A request without
    /// it is answered 401 whatever the behaviour, unless the process does not answer at all
    /// (`hang`, `close`, `refuse`, down).
    pub fn require_auth(&self, auth: Option<RequiredAuth>) {
        self.shared.control.send_modify(|c| c.required_auth = auth);
    }

    /// The credentials the pod currently requires, if any.
    pub fn required_auth(&self) -> Option<RequiredAuth> {
        self.shared.control.borrow().required_auth.clone()
    }

    /// The tools the pod serves from now on (`tools/list` order; `tools/call` accepts these).
    pub fn set_tools(&self, tools: &[String]) {
        let tools: Arc<[String]> = tools.iter().cloned().collect();
        self.shared.control.send_modify(|c| c.tools = tools);
    }

    /// The tools the pod serves.
    pub fn tools(&self) -> Vec<String> {
        self.shared.control.borrow().tools.to_vec()
    }

    /// The status a request for a session the pod does not know gets (404 by default; some
    /// SDKs answer 400).
    pub fn set_unknown_session_status(&self, status: http::StatusCode) {
        self.shared
            .control
            .send_modify(|c| c.unknown_session = status);
    }

    /// Register the connections the pod accepts from now on with `teardown` (the world's).
    pub(crate) fn set_teardown(&self, teardown: Teardown) {
        *lock(&self.shared.teardown) = teardown;
    }

    /// An accepted connection, numbered in the pod's teardown register.
    pub(crate) fn track(&self, stream: turmoil::net::TcpStream) -> OrderedStream {
        lock(&self.shared.teardown).track(stream)
    }

    /// Log every request from now on into `log` (with its simulated time).
    pub fn log_requests(&self, log: RequestLog) {
        *lock(&self.shared.log) = Some(log);
    }

    /// The current behaviour.
    pub fn behaviour(&self) -> PodBehaviour {
        self.shared.control.borrow().behaviour.clone()
    }

    /// When the current behaviour was set (simulated time; 0 for the initial one): the start of
    /// a [`PodBehaviour::StartingFor`] window. Passing it back to [`PodHandle::set_behaviour`]
    /// restores the behaviour exactly, without opening a new window.
    pub fn behaviour_since(&self) -> Duration {
        self.shared.control.borrow().since
    }

    /// Switches the behaviour. `now` is the current simulated time (the world passes
    /// `Sim::elapsed()`, code inside a host `turmoil::sim_elapsed()`); it starts the window of a
    /// [`PodBehaviour::StartingFor`].
    pub fn set_behaviour(&self, behaviour: PodBehaviour, now: Duration) {
        self.shared.control.send_modify(|c| {
            c.behaviour = behaviour;
            c.since = now;
        });
    }

    /// How successful replies are framed (JSON body or SSE stream).
    pub fn reply_mode(&self) -> ReplyMode {
        self.shared.control.borrow().reply
    }

    /// Switches reply framing; independent of the behaviour, so e.g. a slow pod can answer in SSE.
    pub fn set_reply_mode(&self, reply: ReplyMode) {
        self.shared.control.send_modify(|c| c.reply = reply);
    }

    /// Takes the pod out of its service after a replacement: it closes its listening socket (new
    /// connects are refused) but keeps serving the connections it already has, with `behaviour`
    /// (for instance a 4xx on every request, as the upstream stale pod did).
    pub fn retire(&self, behaviour: PodBehaviour, now: Duration) {
        self.shared.control.send_modify(|c| {
            c.behaviour = behaviour;
            c.since = now;
            c.retired = true;
        });
    }

    /// Whether [`PodHandle::retire`] was called.
    pub fn is_retired(&self) -> bool {
        self.shared.control.borrow().retired
    }

    /// A copy of the pod's counters.
    pub fn stats(&self) -> PodStats {
        lock(&self.shared.stats).clone()
    }

    /// The pod's host software, for `turmoil::Sim::host`: a factory called again on every
    /// (re)start, each call a fresh incarnation with no sessions.
    pub fn software(&self) -> impl Fn() -> PodFuture + 'static {
        let handle = self.clone();
        move || Box::pin(server::run(handle.clone()))
    }

    /// Runs one incarnation of the pod's server; what [`PodHandle::software`] starts.
    pub fn serve(&self) -> impl Future<Output = turmoil::Result> + 'static {
        server::run(self.clone())
    }

    /// A session id that is unique in the pod (a counter) and seeded (a random suffix), as a
    /// real server's random ids would be, but replayable.
    pub(crate) fn next_session_id(&self) -> String {
        let mut c = lock(&self.shared.counters);
        c.sessions += 1;
        let suffix: u32 = c.rng.random();
        format!("{}-s{}-{suffix:08x}", self.shared.name, c.sessions)
    }

    /// The seeded delay before the next response.
    pub(crate) fn next_jitter(&self) -> Duration {
        let max = self.shared.schedule.max_jitter;
        draw_up_to(&mut lock(&self.shared.counters).rng, max)
    }

    /// The seeded delay before this (re)start of the process listens.
    pub(crate) fn next_start_offset(&self) -> Duration {
        let max = self.shared.schedule.max_start_offset;
        draw_up_to(&mut lock(&self.shared.counters).rng, max)
    }

    /// Folds the seed and position of the pod's stream into `fingerprint`.
    pub(crate) fn fold_rng_state(&self, fingerprint: &mut crate::rng::Fingerprint) {
        fingerprint.add_stream(&lock(&self.shared.counters).rng);
    }

    pub(crate) fn next_event_id(&self) -> String {
        let mut c = lock(&self.shared.counters);
        c.events += 1;
        format!("{}-e{}", self.shared.name, c.events)
    }

    pub(crate) fn with_stats(&self, f: impl FnOnce(&mut PodStats)) {
        f(&mut lock(&self.shared.stats));
    }

    /// Append `record` to the request log, if one is attached.
    pub(crate) fn log(&self, record: impl FnOnce() -> PodRequestRecord) {
        if let Some(log) = lock(&self.shared.log).as_ref() {
            log.push(record());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn control(behaviour: PodBehaviour, since: Duration, retired: bool) -> Control {
        Control {
            behaviour,
            since,
            reply: ReplyMode::Json,
            retired,
            required_auth: None,
            tools: Arc::from(Vec::new()),
            unknown_session: http::StatusCode::NOT_FOUND,
        }
    }

    #[test]
    fn starting_for_counts_from_the_later_of_start_and_set_time() {
        let s = Duration::from_secs;
        // Set before the incarnation started (initial behaviour): counts from the start.
        let c = control(PodBehaviour::StartingFor(s(3)), s(0), false);
        assert_eq!(c.up_at(s(10)), Some(s(13)));
        assert!(!c.is_up(s(10), s(12)));
        assert!(c.is_up(s(10), s(13)));
        // Set at runtime, after the start: counts from the set time.
        let c = control(PodBehaviour::StartingFor(s(3)), s(20), false);
        assert_eq!(c.up_at(s(10)), Some(s(23)));
    }

    #[test]
    fn listening_needs_up_and_not_retired() {
        let s = Duration::from_secs;
        assert!(control(PodBehaviour::Hang, s(0), false).should_listen(s(0), s(0)));
        assert!(!control(PodBehaviour::Refuse, s(0), false).should_listen(s(0), s(100)));
        assert_eq!(control(PodBehaviour::Refuse, s(0), false).up_at(s(0)), None);
        let retired = control(PodBehaviour::Healthy, s(0), true);
        assert!(
            retired.is_up(s(0), s(1)),
            "a retired pod still serves its connections"
        );
        assert!(!retired.should_listen(s(0), s(1)));
    }
}
