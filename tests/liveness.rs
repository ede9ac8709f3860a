//! Liveness under random fault schedules (DESIGN §4.4, "Properties").
//!
//! proptest generates a **fault schedule** for a world of three backends: a vMCP configuration
//! (intervals, thresholds, breaker on/off, pool policy), then per backend a sequence of faults
//! inside a fault phase (pod replacements, HTTP error windows, hangs, partitions, held links,
//! latency, pod crashes), optionally a vMCP crash and restart, then a quiet phase. The schedule is
//! rendered as **scenario TOML text** and run by the real runner, so a counterexample is directly a
//! runnable scenario file.
//!
//! The property is written into that file as `[[expect]]` entries: once the last fault is over,
//! every backend is reported `healthy` with its breaker `closed` within a bound derived from the
//! configuration ([`Schedule::bound`]), and stays so until the end of the run. A failing case is
//! written to `target/liveness-failures/liveness-counterexample.toml` on every failure; proptest
//! shrinks, so the file left behind is the minimal one, and the panic message prints the command
//! that replays it.
//!
//! The pool policy is `per_backend` or `per_probe`, never `shared`: the shared pool is the known
//! startup-race bug (PR 4290) and has its own scenario asserting the buggy behaviour.

use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use vmcp_core::config::duration::format as fmt_duration;
use vmcp_sim::runner::{RunOutcome, run};
use vmcp_sim::scenario::Scenario;

/// Cases per `cargo test` run. A case simulates 1–4 minutes in ~0.1–0.3 s (debug build): 64 cases
/// took ~10 s on the 2-core dev machine, well under a minute, and draw every fault kind many times
/// over.
const CASES: u32 = 64;

/// [`CASES`], or `PROPTEST_CASES` when set (to sweep many more schedules locally:
/// `PROPTEST_CASES=2000 cargo test --release --test liveness`).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CASES)
}

/// The three backends of the generated world.
const BACKENDS: [&str; 3] = ["fetch", "github", "jira"];

/// Faults start before this instant; a fault that would start later is dropped from the schedule.
/// Each lasts at most [`MAX_FAULT`], so every fault is over by 85 s.
const FAULT_PHASE: Duration = Duration::from_secs(60);

/// Longest single fault.
const MAX_FAULT: Duration = Duration::from_secs(25);

/// Added to the bound for what the bound does not model: the duration of the successful probes
/// on a fault-free network (a handful of hops of one 20 ms tick each, so well under 200 ms per
/// probe) and the quantisation of events and reports to ticks.
const SLACK: Duration = Duration::from_secs(1);

/// The file a counterexample is written to, relative to the workspace root. One fixed name: every
/// failure overwrites it, so after shrinking it holds the minimal case.
const COUNTEREXAMPLE: &str = "target/liveness-failures/liveness-counterexample.toml";

/// `n` tenths of a second: generated times are whole deciseconds so files read well.
fn ds(n: u64) -> Duration {
    Duration::from_millis(n * 100)
}

/// The circuit-breaker block of a generated configuration.
#[derive(Clone, Debug)]
struct BreakerSettings {
    failure_threshold: u32,
    timeout: Duration,
    half_open_max_probes: u32,
    /// `timeout_multiplier` in tenths (10 = 1.0, no backoff).
    multiplier_tenths: u32,
    /// `max_timeout`, always ≥ `timeout`, so the backoff is capped and the bound finite.
    max_timeout: Duration,
    /// `timeout_jitter` in percent (< 100).
    jitter_percent: u32,
}

impl BreakerSettings {
    /// The longest one Open period can last: the capped, backed-off timeout (just `timeout`
    /// without backoff) stretched by the maximum jitter `× (1 + timeout_jitter)`.
    fn longest_open(&self) -> Duration {
        let cap = if self.multiplier_tenths > 10 {
            self.max_timeout
        } else {
            self.timeout
        };
        cap + cap * self.jitter_percent / 100
    }
}

/// Which pool policy the generated vMCP uses (never `shared`, the known bug).
#[derive(Clone, Copy, Debug)]
enum Pool {
    PerBackend,
    PerProbe,
}

/// The `[vmcp]` block of a generated scenario.
#[derive(Clone, Debug)]
struct Settings {
    interval: Duration,
    timeout: Duration,
    connect_timeout: Duration,
    unhealthy_threshold: u32,
    healthy_threshold: u32,
    /// Always well above a clean probe's latency: a lower value would make a healthy backend
    /// `degraded/slow` for good, which is correct behaviour, not a liveness failure.
    degraded_threshold: Duration,
    status_reporting_interval: Duration,
    registry_poll_interval: Duration,
    /// Always ≤ `interval`, so the first probe after a vMCP restart falls inside the bound's
    /// "one interval until the next probe" term.
    initial_jitter: Duration,
    pool: Pool,
    breaker: Option<BreakerSettings>,
}

/// What a replacement does with the old pod.
#[derive(Clone, Copy, Debug)]
enum OldPod {
    Terminate,
    /// Keeps serving its existing connections with this behaviour (TOML text).
    Stale(&'static str),
    Blackhole,
}

/// The behaviour of the pod a replacement starts.
#[derive(Clone, Copy, Debug)]
enum NewPod {
    Healthy,
    Sse,
    /// Refuses connections for the fault's duration, then healthy.
    StartingFor,
}

/// One fault on one backend. Each fault is over at `start + duration` (a replacement to a
/// healthy pod is over at once).
#[derive(Clone, Debug)]
enum Fault {
    /// `set_behaviour` of the current pod for the fault's duration (TOML text of the behaviour).
    Behaviour(String),
    /// `partition` … `repair`.
    Partition,
    /// `crash_pod` … `restart_pod`.
    Crash,
    /// `hold` … `release`.
    Hold,
    /// `latency` … `latency = "0s"`.
    Latency(Duration),
    /// `replace_pod`.
    Replace { old: OldPod, new: NewPod },
}

/// A fault with its place in its backend's sequence.
#[derive(Clone, Debug)]
struct TimedFault {
    /// Time after the previous fault of the same backend ended (after 0 s for the first); at
    /// least 1 s, so a fault never starts at the instant the previous one ends (the automatic end
    /// of a `set_behaviour … for` applies after the file's events of the same instant).
    gap: Duration,
    duration: Duration,
    fault: Fault,
}

/// One backend: its first pod's reply mode and its faults.
#[derive(Clone, Debug)]
struct BackendPlan {
    sse: bool,
    faults: Vec<TimedFault>,
}

/// Everything one case runs.
#[derive(Clone, Debug)]
struct Schedule {
    seed: u64,
    settings: Settings,
    backends: Vec<BackendPlan>,
    /// `crash_vmcp` at `.0`, `restart_vmcp` `.1` later.
    vmcp_restart: Option<(Duration, Duration)>,
}

/// One `[[event]]` to render: its instant, the order it was laid out in (ties at one instant
/// apply in file order), and its keys after `at`.
struct Event {
    at: Duration,
    order: usize,
    body: String,
}

impl Schedule {
    /// The events of the schedule, and the instant the last fault is over (0 without faults).
    ///
    /// Faults of one backend are laid out one after the other (each starts `gap` after the
    /// previous one ended), never overlapping: every action addresses "the backend's current
    /// pod", so e.g. a `repair` after an intervening replacement would repair the new pod, and
    /// nested `set_behaviour … for` windows would restore the outer fault's behaviour forever.
    /// Faults of different backends overlap freely.
    ///
    /// A fault is over when the backend's current pod is reachable and healthy again: at the end
    /// of its window, at once for a replacement by a ready pod, when a replacement pod started
    /// with `starting_for` is up, and for a crash of such a pod its start-up time after the
    /// restart (a restarted container starts up again).
    fn events(&self) -> (Vec<Event>, Duration) {
        let mut events = Vec::new();
        let mut last_end = Duration::ZERO;
        let mut push = |at: Duration, body: String| {
            let order = events.len();
            events.push(Event { at, order, body });
        };
        for (name, plan) in BACKENDS.iter().zip(&self.backends) {
            let mut previous_end = Duration::ZERO;
            // The start-up time of the backend's current pod, if it was started with one.
            let mut starting_for: Option<Duration> = None;
            for timed in &plan.faults {
                let start = previous_end + timed.gap;
                if start >= FAULT_PHASE {
                    break;
                }
                let end = start + timed.duration;
                let b = format!("backend = \"{name}\"\n");
                let end = match &timed.fault {
                    Fault::Behaviour(behaviour) => {
                        push(
                            start,
                            format!(
                                "action = \"set_behaviour\"\n{b}behaviour = {behaviour}\nfor = \"{}\"\n",
                                fmt_duration(timed.duration)
                            ),
                        );
                        end
                    }
                    Fault::Partition => {
                        push(start, format!("action = \"partition\"\n{b}"));
                        push(end, format!("action = \"repair\"\n{b}"));
                        end
                    }
                    Fault::Crash => {
                        push(start, format!("action = \"crash_pod\"\n{b}"));
                        push(end, format!("action = \"restart_pod\"\n{b}"));
                        // A restarted pod that needs start-up time needs it again.
                        end + starting_for.unwrap_or(Duration::ZERO)
                    }
                    Fault::Hold => {
                        push(start, format!("action = \"hold\"\n{b}"));
                        push(end, format!("action = \"release\"\n{b}"));
                        end
                    }
                    Fault::Latency(latency) => {
                        let l = fmt_duration(*latency);
                        push(
                            start,
                            format!("action = \"latency\"\n{b}latency = \"{l}\"\n"),
                        );
                        push(end, format!("action = \"latency\"\n{b}latency = \"0s\"\n"));
                        end
                    }
                    Fault::Replace { old, new } => {
                        let mut body = format!("action = \"replace_pod\"\n{b}");
                        match old {
                            OldPod::Terminate => body.push_str("old_pod = \"terminate\"\n"),
                            OldPod::Blackhole => body.push_str("old_pod = \"blackhole\"\n"),
                            OldPod::Stale(behaviour) => {
                                let _ = writeln!(
                                    body,
                                    "old_pod = \"stale\"\nstale_behaviour = {behaviour}"
                                );
                            }
                        }
                        starting_for = None;
                        let over = match new {
                            NewPod::Healthy => {
                                body.push_str("behaviour = \"healthy\"\n");
                                start
                            }
                            NewPod::Sse => {
                                body.push_str("behaviour = \"sse\"\n");
                                start
                            }
                            NewPod::StartingFor => {
                                starting_for = Some(timed.duration);
                                let _ = writeln!(
                                    body,
                                    "behaviour = {{ starting_for = \"{}\" }}",
                                    fmt_duration(timed.duration)
                                );
                                end
                            }
                        };
                        push(start, body);
                        over
                    }
                };
                previous_end = end;
                last_end = last_end.max(end);
            }
        }
        if let Some((at, down)) = self.vmcp_restart {
            push(at, "action = \"crash_vmcp\"\n".to_owned());
            push(at + down, "action = \"restart_vmcp\"\n".to_owned());
            last_end = last_end.max(at + down);
        }
        events.sort_by_key(|e| (e.at, e.order));
        (events, last_end)
    }

    /// The instant by which every backend must be reported `healthy` with a `closed` breaker:
    ///
    /// ```text
    /// bound = F + O + (H + 1) × I + T + R + SLACK
    /// ```
    ///
    /// with `F` the instant the last fault is over, `I` the health-check interval, `T` the
    /// health-check timeout, `H` the healthy threshold, `R` the registry poll interval, and
    /// `O` the longest Open period of the breaker (0 without breaker): the capped back-off
    /// timeout × (1 + jitter), see [`BreakerSettings::longest_open`].
    ///
    /// Why it suffices, for one backend after `F` (the network is clean and every routed pod is
    /// healthy from then on; `d` is the duration of a successful probe on a clean network, a few
    /// 20 ms ticks, so `2d` fits in `SLACK`; validation guarantees `T < I`, so a probe always ends
    /// before the next grid point):
    ///
    /// 1. **The last failed probe starts by `F + I` and ends by `F + I + T`.** A probe in flight
    ///    at `F` started on the grid at `g ≤ F`; the next one starts at `g + I ≤ F + I`. That one
    ///    may still fail, once, on a stale pooled keep-alive connection (to a replaced pod kept
    ///    stale or blackholed, or a connection whose packets a partition dropped), at the latest
    ///    at its deadline. A failure flushes the `per_backend` pool (`per_probe` has nothing to
    ///    flush), so every later probe connects afresh to the current pod and succeeds.
    /// 2. **A breaker closes by `F + I + T + O`.** It can (re)open at the latest on that last
    ///    failure, the Open period lasts at most `O`, and the half-open trial runs exactly at the
    ///    deadline and succeeds (the failure that opened the breaker flushed the pool, and no
    ///    probe ran since). A breaker already Open at `F` opened before `F`: its deadline is
    ///    earlier still.
    /// 3. **`H` successes.** Without breaker, the `H` probes after the last failed one start
    ///    one interval apart and succeed: the `H`-th ends by `F + (H + 1) × I + d`. With the
    ///    breaker, the trial at `D ≤ F + I + T + O` is the first success and the other `H − 1`
    ///    follow on the grid, the first within one interval after the trial: the `H`-th ends by
    ///    `D + (H − 1) × I + 2d ≤ F + O + H × I + T + 2d`. Both are below
    ///    `F + O + (H + 1) × I + T + 2d`; the status is then `healthy` (reason `ok`), the
    ///    breaker `closed`.
    /// 4. **Published within `R`**: a report follows every status or circuit transition within
    ///    the registry poll interval.
    ///
    /// A vMCP restart is a fault too: it is over at the restart, after which the first probe of
    /// each backend starts within `initial_jitter ≤ I` on fresh pools, its success is reported
    /// `healthy` at once (a first result needs no recovery), and the first report follows the
    /// initial probes.
    fn bound(&self) -> Duration {
        let (_, last_end) = self.events();
        let s = &self.settings;
        let open = s
            .breaker
            .as_ref()
            .map_or(Duration::ZERO, BreakerSettings::longest_open);
        last_end
            + open
            + s.interval * (s.healthy_threshold + 1)
            + s.timeout
            + s.registry_poll_interval
            + SLACK
    }

    /// The run length: the bound plus a quiet stretch in which the backends must stay healthy,
    /// long enough for three more probes and a periodic report.
    fn duration(&self) -> Duration {
        let s = &self.settings;
        self.bound() + (s.interval * 3).max(s.status_reporting_interval) + Duration::from_secs(5)
    }

    /// The scenario file of this case: configuration, backends, events, and the liveness
    /// property as `eventually`/`always` expectations per backend.
    fn to_toml(&self) -> String {
        let (events, last_end) = self.events();
        let bound = self.bound();
        let s = &self.settings;
        let d = fmt_duration;
        let mut t = String::new();
        let _ = writeln!(t, "name = \"liveness-counterexample\"");
        let _ = writeln!(
            t,
            "description = \"\"\"\nGenerated by tests/liveness.rs: a fault schedule on three backends. \
             Once the last fault is over ({}), every backend must be reported healthy with its \
             breaker closed by {} and stay so.\"\"\"",
            d(last_end),
            d(bound)
        );
        let _ = writeln!(t, "seed = {}", self.seed);
        let _ = writeln!(t, "duration = \"{}\"", d(self.duration()));
        let open = s
            .breaker
            .as_ref()
            .map_or(Duration::ZERO, BreakerSettings::longest_open);
        let _ = writeln!(
            t,
            "# bound {} = last fault end {} + longest open {} + (healthy_threshold {} + 1) x \
             interval {} + timeout {} + registry_poll_interval {} + slack {}",
            d(bound),
            d(last_end),
            d(open),
            s.healthy_threshold,
            d(s.interval),
            d(s.timeout),
            d(s.registry_poll_interval),
            d(SLACK)
        );
        t.push_str("\n[vmcp]\n");
        let _ = writeln!(t, "health_check_interval = \"{}\"", d(s.interval));
        let _ = writeln!(t, "health_check_timeout = \"{}\"", d(s.timeout));
        let _ = writeln!(t, "connect_timeout = \"{}\"", d(s.connect_timeout));
        let _ = writeln!(t, "unhealthy_threshold = {}", s.unhealthy_threshold);
        let _ = writeln!(t, "healthy_threshold = {}", s.healthy_threshold);
        let _ = writeln!(t, "degraded_threshold = \"{}\"", d(s.degraded_threshold));
        let _ = writeln!(
            t,
            "status_reporting_interval = \"{}\"",
            d(s.status_reporting_interval)
        );
        let _ = writeln!(
            t,
            "registry_poll_interval = \"{}\"",
            d(s.registry_poll_interval)
        );
        let _ = writeln!(t, "initial_jitter = \"{}\"", d(s.initial_jitter));
        let pool = match s.pool {
            Pool::PerBackend => "per_backend",
            Pool::PerProbe => "per_probe",
        };
        let _ = writeln!(t, "pool = \"{pool}\"");
        if let Some(b) = &s.breaker {
            t.push_str("\n[vmcp.circuit_breaker]\nenabled = true\n");
            let _ = writeln!(t, "failure_threshold = {}", b.failure_threshold);
            let _ = writeln!(t, "timeout = \"{}\"", d(b.timeout));
            let _ = writeln!(t, "half_open_max_probes = {}", b.half_open_max_probes);
            let _ = writeln!(
                t,
                "timeout_multiplier = {}.{}",
                b.multiplier_tenths / 10,
                b.multiplier_tenths % 10
            );
            let _ = writeln!(t, "max_timeout = \"{}\"", d(b.max_timeout));
            let _ = writeln!(
                t,
                "timeout_jitter = {:.2}",
                f64::from(b.jitter_percent) / 100.0
            );
        }
        for (name, plan) in BACKENDS.iter().zip(&self.backends) {
            let _ = writeln!(t, "\n[[backend]]\nname = \"{name}\"");
            if plan.sse {
                t.push_str("behaviour = \"sse\"\n");
            }
        }
        for event in &events {
            let _ = write!(t, "\n[[event]]\nat = \"{}\"\n{}", d(event.at), event.body);
        }
        for name in BACKENDS {
            let _ = write!(
                t,
                "\n[[expect]]\nkind = \"eventually\"\nfrom = \"{}\"\nby = \"{}\"\n\
                 backend = \"{name}\"\nstatus = \"healthy\"\ncircuit = \"closed\"\n\
                 description = \"liveness: healthy, breaker closed, at some instant between the end of the faults and the bound\"\n",
                d(last_end),
                d(bound)
            );
            let _ = write!(
                t,
                "\n[[expect]]\nkind = \"always\"\nfrom = \"{}\"\nbackend = \"{name}\"\n\
                 status = \"healthy\"\ncircuit = \"closed\"\n\
                 description = \"liveness: healthy, breaker closed, from the bound to the end of the run\"\n",
                d(bound)
            );
        }
        t
    }
}

prop_compose! {
    fn breaker_strategy()(
        failure_threshold in 1_u32..=5,
        timeout_s in 1_u64..=20,
        half_open_max_probes in 1_u32..=2,
        multiplier_tenths in 10_u32..=30,
        extra_max_s in 0_u64..=30,
        jitter_percent in 0_u32..=50,
    ) -> BreakerSettings {
        let timeout = Duration::from_secs(timeout_s);
        BreakerSettings {
            failure_threshold,
            timeout,
            half_open_max_probes,
            multiplier_tenths,
            max_timeout: timeout + Duration::from_secs(extra_max_s),
            jitter_percent,
        }
    }
}

prop_compose! {
    fn settings_strategy()(
        interval_ds in 20_u64..=80,
        timeout_percent in 20_u64..=90,
        connect_percent in 20_u64..=100,
        unhealthy_threshold in 1_u32..=4,
        healthy_threshold in 1_u32..=3,
        degraded_ds in 10_u64..=60,
        status_reporting_s in 5_u64..=60,
        registry_poll_ds in 2_u64..=30,
        initial_jitter_ds in 0_u64..=20,
        per_probe in any::<bool>(),
        breaker in prop::option::weighted(0.6, breaker_strategy()),
    ) -> Settings {
        // Fractions of the interval keep timeout < interval and connect ≤ timeout by
        // construction; deciseconds, at least 500 ms and 100 ms.
        let timeout_ds = (interval_ds * timeout_percent / 100).max(5);
        let connect_ds = (timeout_ds * connect_percent / 100).max(1);
        Settings {
            interval: ds(interval_ds),
            timeout: ds(timeout_ds),
            connect_timeout: ds(connect_ds),
            unhealthy_threshold,
            healthy_threshold,
            degraded_threshold: ds(degraded_ds),
            status_reporting_interval: Duration::from_secs(status_reporting_s),
            registry_poll_interval: ds(registry_poll_ds),
            initial_jitter: ds(initial_jitter_ds.min(interval_ds)),
            pool: if per_probe { Pool::PerProbe } else { Pool::PerBackend },
            breaker,
        }
    }
}

/// A pod behaviour for a `set_behaviour … for` window, as TOML text.
fn window_behaviour() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            prop::sample::select(vec![503_u16, 500, 502, 401, 403, 404, 429]),
            any::<bool>()
        )
            .prop_map(|(code, only_initialize)| if only_initialize {
                format!("{{ status = {code}, only_initialize = true }}")
            } else {
                format!("{{ status = {code} }}")
            }),
        Just("\"hang\"".to_owned()),
        Just("\"close\"".to_owned()),
        Just("\"refuse\"".to_owned()),
        Just("\"legacy_sse\"".to_owned()),
        Just("\"forget_sessions\"".to_owned()),
        (1_u64..=80).prop_map(|n| format!("{{ slow = \"{}\" }}", fmt_duration(ds(n)))),
    ]
}

fn old_pod() -> impl Strategy<Value = OldPod> {
    prop_oneof![
        Just(OldPod::Terminate),
        prop::sample::select(vec![
            "{ status = 404 }",
            "{ status = 400 }",
            "{ status = 401 }",
            "{ status = 403 }",
            "{ status = 410 }",
            "{ status = 503 }",
            "\"hang\"",
            "\"close\"",
        ])
        .prop_map(OldPod::Stale),
        Just(OldPod::Blackhole),
    ]
}

fn new_pod() -> impl Strategy<Value = NewPod> {
    prop_oneof![
        Just(NewPod::Healthy),
        Just(NewPod::Sse),
        Just(NewPod::StartingFor)
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        window_behaviour().prop_map(Fault::Behaviour),
        Just(Fault::Partition),
        Just(Fault::Crash),
        Just(Fault::Hold),
        (1_u64..=400).prop_map(|n| Fault::Latency(Duration::from_millis(n * 10))),
        (old_pod(), new_pod()).prop_map(|(old, new)| Fault::Replace { old, new }),
    ]
}

prop_compose! {
    fn timed_fault()(
        gap_ds in 10_u64..=200,
        duration_ds in 10_u64..=250,
        fault in fault(),
    ) -> TimedFault {
        TimedFault {
            gap: ds(gap_ds),
            duration: ds(duration_ds).min(MAX_FAULT),
            fault,
        }
    }
}

prop_compose! {
    fn backend_plan()(
        sse in any::<bool>(),
        faults in prop::collection::vec(timed_fault(), 0..=3),
    ) -> BackendPlan {
        BackendPlan { sse, faults }
    }
}

prop_compose! {
    fn schedule()(
        seed in any::<u64>(),
        settings in settings_strategy(),
        backends in prop::collection::vec(backend_plan(), BACKENDS.len()),
        vmcp_restart in prop::option::weighted(0.15, (10_u64..=600, 10_u64..=150)),
    ) -> Schedule {
        Schedule {
            seed,
            settings,
            backends,
            vmcp_restart: vmcp_restart.map(|(at, down)| (ds(at), ds(down))),
        }
    }
}

/// Where the counterexample goes: under the workspace root (the working directory of `cargo
/// test`, and where the printed command is meant to be run).
fn counterexample_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(COUNTEREXAMPLE)
}

/// Write the failing case (overwriting the previous one) and build the failure message.
fn report_failure(text: &str, seed: u64, what: &str) -> String {
    let path = counterexample_path();
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&path, text));
    let saved = match written {
        Ok(()) => format!("scenario written to {}", path.display()),
        Err(e) => format!(
            "could not write {}: {e}\n--- scenario ---\n{text}",
            path.display()
        ),
    };
    format!(
        "{what}\n{saved}\nreplay: cargo run --release -p vmcp-sim -- run {COUNTEREXAMPLE} --seed {seed} --trace"
    )
}

/// The failed expectations of a run, one per line.
fn describe(outcome: &RunOutcome) -> String {
    outcome
        .failures
        .iter()
        .map(|f| format!("  {} ({}): {}", f.location, f.kind, f.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Parse and run one schedule; `Err` carries the failure message (the file is written then).
fn check(schedule: &Schedule) -> Result<RunOutcome, String> {
    let text = schedule.to_toml();
    let scenario = Scenario::from_toml_str(&text, COUNTEREXAMPLE).map_err(|e| {
        report_failure(
            &text,
            schedule.seed,
            &format!("generated scenario is invalid: {e}"),
        )
    })?;
    let result = catch_unwind(AssertUnwindSafe(|| run(&scenario, schedule.seed)));
    match result {
        Ok(Ok(outcome)) if outcome.passed() => Ok(outcome),
        Ok(Ok(outcome)) => Err(report_failure(
            &text,
            schedule.seed,
            &format!("liveness violated:\n{}", describe(&outcome)),
        )),
        Ok(Err(e)) => Err(report_failure(
            &text,
            schedule.seed,
            &format!("run error: {e}"),
        )),
        Err(_) => Err(report_failure(
            &text,
            schedule.seed,
            "the simulation panicked",
        )),
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/liveness.txt"
        )))),
        ..ProptestConfig::default()
    })]

    /// Once faults stop, every backend is reported healthy with its breaker closed within the
    /// configuration-derived bound, and stays so (the expectations are inside the scenario).
    #[test]
    fn every_backend_recovers_once_faults_stop(schedule in schedule()) {
        if let Err(message) = check(&schedule) {
            prop_assert!(false, "{}", message);
        }
    }
}

/// A fixed schedule with every fault kind renders a valid scenario that passes: the generator's
/// TOML is accepted by the parser for each variant, not just the ones a random run happened to
/// draw.
#[test]
fn every_fault_kind_renders_a_valid_passing_scenario() {
    let settings = Settings {
        interval: Duration::from_secs(3),
        timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        unhealthy_threshold: 2,
        healthy_threshold: 2,
        degraded_threshold: Duration::from_secs(3),
        status_reporting_interval: Duration::from_secs(30),
        registry_poll_interval: Duration::from_secs(1),
        initial_jitter: Duration::ZERO,
        pool: Pool::PerBackend,
        breaker: Some(BreakerSettings {
            failure_threshold: 2,
            timeout: Duration::from_secs(5),
            half_open_max_probes: 1,
            multiplier_tenths: 20,
            max_timeout: Duration::from_secs(10),
            jitter_percent: 10,
        }),
    };
    let timed = |gap: u64, fault: Fault| TimedFault {
        gap: Duration::from_secs(gap),
        duration: Duration::from_secs(8),
        fault,
    };
    let schedule = Schedule {
        seed: 7,
        settings,
        backends: vec![
            BackendPlan {
                sse: false,
                faults: vec![
                    timed(5, Fault::Behaviour("{ status = 401 }".to_owned())),
                    timed(3, Fault::Partition),
                    timed(3, Fault::Latency(Duration::from_secs(3))),
                    timed(
                        3,
                        Fault::Replace {
                            old: OldPod::Terminate,
                            new: NewPod::Healthy,
                        },
                    ),
                ],
            },
            BackendPlan {
                sse: true,
                faults: vec![
                    timed(4, Fault::Crash),
                    timed(3, Fault::Hold),
                    timed(
                        3,
                        Fault::Replace {
                            old: OldPod::Stale("{ status = 404 }"),
                            new: NewPod::Sse,
                        },
                    ),
                ],
            },
            BackendPlan {
                sse: false,
                faults: vec![
                    timed(
                        2,
                        Fault::Replace {
                            old: OldPod::Blackhole,
                            new: NewPod::StartingFor,
                        },
                    ),
                    timed(3, Fault::Behaviour("\"hang\"".to_owned())),
                    timed(3, Fault::Crash),
                ],
            },
        ],
        vmcp_restart: Some((Duration::from_secs(50), Duration::from_secs(4))),
    };
    let (events, last_end) = schedule.events();
    assert_eq!(
        last_end,
        Duration::from_secs(54),
        "the vMCP restart ends last"
    );
    assert_eq!(events.len(), 17);
    let without_restart = Schedule {
        vmcp_restart: None,
        ..schedule.clone()
    };
    assert_eq!(
        without_restart.events().0.len(),
        15,
        "jira: crash at 24 s, restart at 32 s, up 8 s later (it was started with starting_for)"
    );
    assert_eq!(without_restart.events().1, Duration::from_secs(40));
    // bound = 54 + 10 × 1.1 + 3 × 3 + 2 + 1 + 1 (slack)
    assert_eq!(schedule.bound(), Duration::from_secs(78));
    let outcome = check(&schedule).unwrap_or_else(|message| panic!("{message}"));
    assert!(outcome.passed());
}

/// The property can fail: with the bound's recovery allowance removed, a schedule whose last
/// fault leaves a backend unhealthy violates the `eventually` expectation.
#[test]
fn the_property_fails_when_the_backend_cannot_recover_in_time() {
    let schedule = Schedule {
        seed: 1,
        settings: Settings {
            interval: Duration::from_secs(3),
            timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(1),
            unhealthy_threshold: 1,
            healthy_threshold: 3,
            degraded_threshold: Duration::from_secs(3),
            status_reporting_interval: Duration::from_secs(30),
            registry_poll_interval: Duration::from_secs(1),
            initial_jitter: Duration::ZERO,
            pool: Pool::PerBackend,
            breaker: None,
        },
        backends: vec![
            BackendPlan {
                sse: false,
                faults: vec![TimedFault {
                    gap: Duration::from_secs(10),
                    duration: Duration::from_secs(10),
                    fault: Fault::Behaviour("{ status = 503 }".to_owned()),
                }],
            },
            BackendPlan {
                sse: false,
                faults: Vec::new(),
            },
            BackendPlan {
                sse: false,
                faults: Vec::new(),
            },
        ],
        vmcp_restart: None,
    };
    // The real bound passes...
    let text = schedule.to_toml();
    let scenario = Scenario::from_toml_str(&text, "recover.toml").expect("valid scenario");
    assert!(run(&scenario, schedule.seed).expect("runs").passed());
    // ...a bound of "at the last fault's end" does not: three successes take at least 6 s.
    let cut = text.replace(
        &format!("by = \"{}\"", fmt_duration(schedule.bound())),
        "by = \"20s\"",
    );
    assert_ne!(cut, text);
    let scenario = Scenario::from_toml_str(&cut, "cut.toml").expect("valid scenario");
    let outcome = run(&scenario, schedule.seed).expect("runs");
    assert_eq!(outcome.failures.len(), 1, "{:?}", outcome.failures);
    assert_eq!(outcome.failures[0].kind, "eventually");
}
