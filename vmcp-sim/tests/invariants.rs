//! Each invariant can fail: a hand-made trace that breaks it is reported, and the same trace
//! with the breaking entry fixed is not (so the check is not vacuous either way).

use std::time::Duration;

use vmcp_core::config::FailureHandling;
use vmcp_core::health::{
    CircuitState, CrdStatus, ErrorCategory, FailureStatus, HealthReason, HealthStatus,
};
use vmcp_core::status::Phase;
use vmcp_sim::invariants::{self, Limits};
use vmcp_sim::trace::{RegistryLine, ReportLine, Trace, TraceEntry, TraceEvent};

fn limits(breaker: bool) -> Limits {
    let mut config = FailureHandling {
        health_check_interval: Duration::from_secs(5),
        health_check_timeout: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
        unhealthy_threshold: 2,
        healthy_threshold: 2,
        registry_poll_interval: Duration::from_secs(1),
        ..FailureHandling::default()
    };
    config.circuit_breaker.enabled = breaker;
    config.circuit_breaker.failure_threshold = 2;
    config.circuit_breaker.half_open_max_probes = 1;
    Limits {
        config,
        tick: Duration::from_millis(20),
        end: Duration::from_secs(120),
        frontend: None,
        tool_routes: Default::default(),
    }
}

fn e(at_ms: u64, event: TraceEvent) -> TraceEntry {
    TraceEntry { at_ms, event }
}

fn registry(names: &[(&str, &str)]) -> TraceEvent {
    TraceEvent::Registry {
        backends: names
            .iter()
            .map(|(n, u)| RegistryLine {
                name: (*n).to_owned(),
                url: (*u).to_owned(),
            })
            .collect(),
    }
}

fn added(b: &str) -> TraceEvent {
    TraceEvent::BackendAdded {
        backend: b.to_owned(),
    }
}

fn started(b: &str, generation: u64) -> TraceEvent {
    TraceEvent::ProbeStarted {
        backend: b.to_owned(),
        generation,
    }
}

fn finished(b: &str, failure: Option<FailureStatus>) -> TraceEvent {
    TraceEvent::ProbeFinished {
        backend: b.to_owned(),
        ok: failure.is_none(),
        latency_ms: 40,
        category: failure.map(|_| ErrorCategory::BackendUnavailable),
        message: failure.map(|_| "503".to_owned()),
        failure,
        latency: Duration::from_millis(40),
    }
}

fn status(
    b: &str,
    from: (HealthStatus, HealthReason),
    to: (HealthStatus, HealthReason),
) -> TraceEvent {
    TraceEvent::Status {
        backend: b.to_owned(),
        from: from.0,
        from_reason: from.1,
        to: to.0,
        to_reason: to.1,
    }
}

fn circuit(b: &str, from: CircuitState, to: CircuitState) -> TraceEvent {
    TraceEvent::Circuit {
        backend: b.to_owned(),
        from,
        to,
    }
}

fn report(phase: Phase, lines: &[(&str, HealthStatus, HealthReason, CircuitState)]) -> TraceEvent {
    TraceEvent::Report {
        phase,
        backends: lines
            .iter()
            .map(|(b, h, r, c)| ReportLine {
                backend: (*b).to_owned(),
                status: h.crd(),
                health: *h,
                reason: *r,
                circuit: *c,
            })
            .collect(),
    }
}

const PENDING: (HealthStatus, HealthReason) = (HealthStatus::Unknown, HealthReason::Pending);
const HEALTHY: (HealthStatus, HealthReason) = (HealthStatus::Healthy, HealthReason::Ok);
const UNHEALTHY: (HealthStatus, HealthReason) =
    (HealthStatus::Unhealthy, HealthReason::ProbeFailed);
const OPEN: (HealthStatus, HealthReason) = (HealthStatus::Unhealthy, HealthReason::CircuitOpen);
const HALF: (HealthStatus, HealthReason) = (HealthStatus::Degraded, HealthReason::HalfOpen);
const INCONCLUSIVE: (HealthStatus, HealthReason) =
    (HealthStatus::Unknown, HealthReason::ProbeFailed);
const URL: &str = "http://a:8080/mcp";

/// A correct run of backend `a`: healthy, two failures open the breaker (threshold 2), the
/// half-open trial succeeds, reports follow within the poll interval.
fn good_run() -> Vec<TraceEntry> {
    use CircuitState::{Closed, HalfOpen, Open};
    vec![
        e(0, registry(&[("a", URL)])),
        e(0, TraceEvent::VmcpStarted),
        e(0, added("a")),
        e(0, started("a", 0)),
        e(40, finished("a", None)),
        e(40, status("a", PENDING, HEALTHY)),
        e(
            40,
            report(Phase::Ready, &[("a", HEALTHY.0, HEALTHY.1, Closed)]),
        ),
        e(5_000, started("a", 0)),
        e(5_040, finished("a", Some(FailureStatus::Unhealthy))),
        e(10_000, started("a", 0)),
        e(10_040, finished("a", Some(FailureStatus::Unhealthy))),
        e(10_040, circuit("a", Closed, Open)),
        e(10_040, status("a", HEALTHY, OPEN)),
        e(
            11_040,
            report(Phase::Failed, &[("a", OPEN.0, OPEN.1, Open)]),
        ),
        e(
            15_000,
            TraceEvent::ProbeSkipped {
                backend: "a".to_owned(),
                circuit: Open,
            },
        ),
        e(70_040, circuit("a", Open, HalfOpen)),
        e(70_040, status("a", OPEN, HALF)),
        e(70_040, started("a", 0)),
        e(70_080, finished("a", None)),
        e(70_080, circuit("a", HalfOpen, Closed)),
        e(
            70_080,
            status(
                "a",
                HALF,
                (HealthStatus::Degraded, HealthReason::Recovering),
            ),
        ),
        e(
            71_000,
            report(
                Phase::Degraded,
                &[(
                    "a",
                    HealthStatus::Degraded,
                    HealthReason::Recovering,
                    Closed,
                )],
            ),
        ),
    ]
}

fn violations_of(name: &str, entries: Vec<TraceEntry>, breaker: bool) -> Vec<String> {
    invariants::check(&Trace { entries }, &limits(breaker))
        .into_iter()
        .filter(|v| v.invariant == name)
        .map(|v| v.message)
        .collect()
}

#[test]
fn the_good_run_breaks_no_invariant() {
    let all = invariants::check(
        &Trace {
            entries: good_run(),
        },
        &limits(true),
    );
    assert!(all.is_empty(), "{all:#?}");
}

#[test]
fn breaker_budget_fails_on_a_probe_while_open_or_beyond_the_half_open_budget() {
    let mut open = good_run();
    open.insert(15, e(16_000, started("a", 0)));
    let v = violations_of("breaker_budget", open, true);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("while its circuit was open"), "{v:?}");

    let mut second_trial = good_run();
    second_trial.insert(18, e(70_050, started("a", 0)));
    let v = violations_of("breaker_budget", second_trial, true);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("half-open budget"), "{v:?}");

    // A disabled breaker must never act.
    let v = violations_of("breaker_budget", good_run(), false);
    assert!(v.iter().any(|m| m.contains("disabled")), "{v:?}");
}

#[test]
fn tracker_model_fails_on_a_status_the_rules_do_not_give() {
    // One failure below the threshold (2) must not change a healthy backend...
    let mut flap = good_run();
    flap.insert(9, e(5_040, status("a", HEALTHY, UNHEALTHY)));
    let v = violations_of("tracker_model", flap, true);
    assert!(v.iter().any(|m| m.contains("keep healthy/ok")), "{v:?}");

    // ...a required change must be published...
    let mut missing = good_run();
    missing.remove(5);
    let v = violations_of("tracker_model", missing, true);
    assert!(
        v.iter()
            .any(|m| m.contains("no status change was published")),
        "{v:?}"
    );

    // ...with the right target (the first success after the circuit closed is recovering, not healthy)...
    let mut wrong = good_run();
    wrong[20] = e(70_080, status("a", HALF, HEALTHY));
    let v = violations_of("tracker_model", wrong, true);
    assert!(
        v.iter()
            .any(|m| m.contains("give degraded/half_open -> degraded/recovering")),
        "{v:?}"
    );

    // ...and reports show the derived state.
    let mut report_lies = good_run();
    report_lies[13] = e(
        11_040,
        report(
            Phase::Failed,
            &[("a", UNHEALTHY.0, UNHEALTHY.1, CircuitState::Open)],
        ),
    );
    let v = violations_of("tracker_model", report_lies, true);
    assert!(
        v.iter()
            .any(|m| m.contains("the tracker rules give unhealthy/circuit_open")),
        "{v:?}"
    );

    // A first failure below the threshold is inconclusive, not unhealthy.
    let first_fail = vec![
        e(0, TraceEvent::VmcpStarted),
        e(0, added("a")),
        e(40, finished("a", Some(FailureStatus::Unhealthy))),
        e(40, status("a", PENDING, UNHEALTHY)),
    ];
    let v = violations_of("tracker_model", first_fail, true);
    assert!(
        v.iter()
            .any(|m| m.contains(&format!("{}/{}", INCONCLUSIVE.0, INCONCLUSIVE.1))),
        "{v:?}"
    );
}

#[test]
fn reports_fail_on_missing_unsorted_or_inconsistent_contents() {
    let base = |report_event| {
        vec![
            e(0, registry(&[("a", URL), ("b", "http://b:8080/mcp")])),
            e(0, TraceEvent::VmcpStarted),
            e(10, report_event),
        ]
    };
    let p = |b| {
        (
            b,
            HealthStatus::Unknown,
            HealthReason::Pending,
            CircuitState::Closed,
        )
    };
    assert!(
        violations_of(
            "reports",
            base(report(Phase::Pending, &[p("a"), p("b")])),
            true
        )
        .is_empty()
    );
    let v = violations_of("reports", base(report(Phase::Pending, &[p("a")])), true);
    assert!(v[0].contains("the registry holds [a, b]"), "{v:?}");
    let v = violations_of(
        "reports",
        base(report(Phase::Pending, &[p("b"), p("a")])),
        true,
    );
    assert!(v[0].contains("out of order"), "{v:?}");
    let v = violations_of(
        "reports",
        base(report(Phase::Ready, &[p("a"), p("b")])),
        true,
    );
    assert!(v[0].contains("give Pending"), "{v:?}");
    let mut bad_crd = report(Phase::Pending, &[p("a"), p("b")]);
    if let TraceEvent::Report { backends, .. } = &mut bad_crd {
        backends[0].status = CrdStatus::Ready;
    }
    let v = violations_of("reports", base(bad_crd), true);
    assert!(v[0].contains("maps to unknown"), "{v:?}");
}

#[test]
fn timeliness_fails_when_a_transition_is_reported_late_or_never() {
    let mut late = good_run();
    // The open transition at 10.040 s reported only at 11.100 s: past 1 s + one 20 ms tick.
    late[13] = e(
        11_100,
        report(Phase::Failed, &[("a", OPEN.0, OPEN.1, CircuitState::Open)]),
    );
    let v = violations_of("timeliness", late, true);
    assert_eq!(v.len(), 2, "the circuit and the status transition: {v:?}");
    assert!(
        v.iter()
            .all(|m| m.contains("at 10.040s: no report by 11.060s")),
        "{v:?}"
    );

    let mut at_the_bound = good_run();
    at_the_bound[13] = e(
        11_060,
        report(Phase::Failed, &[("a", OPEN.0, OPEN.1, CircuitState::Open)]),
    );
    assert!(violations_of("timeliness", at_the_bound, true).is_empty());

    let mut never = good_run();
    never.pop();
    let v = violations_of("timeliness", never, true);
    assert_eq!(
        v.len(),
        4,
        "two circuit and two status transitions at 70 s: {v:?}"
    );

    // The first report is bounded too: initial_jitter 0 + timeout 2 s + 1 s.
    let no_initial = vec![
        e(0, registry(&[("a", URL)])),
        e(0, TraceEvent::VmcpStarted),
        e(
            3_100,
            report(
                Phase::Pending,
                &[("a", PENDING.0, PENDING.1, CircuitState::Closed)],
            ),
        ),
    ];
    let v = violations_of("timeliness", no_initial, true);
    assert!(v[0].contains("vmcp started"), "{v:?}");
}

#[test]
fn registry_traffic_fails_on_probes_or_connections_after_removal_or_url_change() {
    let base = vec![
        e(0, registry(&[("a", URL)])),
        e(0, TraceEvent::VmcpStarted),
        e(0, added("a")),
        e(0, started("a", 0)),
    ];
    let mut removed = base.clone();
    removed.push(e(1_000, registry(&[])));
    removed.push(e(1_000, started("a", 0)));
    let v = violations_of("registry_traffic", removed.clone(), true);
    assert!(v[0].contains("after it was removed"), "{v:?}");
    removed.pop();
    removed.push(e(
        1_000,
        TraceEvent::BackendRemoved {
            backend: "a".to_owned(),
        },
    ));
    assert!(violations_of("registry_traffic", removed.clone(), true).is_empty());
    // A connection to the abandoned service that started after the removal.
    removed.push(e(
        2_100,
        TraceEvent::Connection {
            service: "a".to_owned(),
            pod: Some("a-pod-1".to_owned()),
            outcome: "opened".to_owned(),
        },
    ));
    let v = violations_of("registry_traffic", removed, true);
    assert!(
        v[0].contains("no registered backend has pointed at it"),
        "{v:?}"
    );

    let mut moved = base;
    moved.push(e(1_000, registry(&[("a", "http://b:8080/mcp")])));
    moved.push(e(1_000, started("a", 0)));
    let v = violations_of("registry_traffic", moved.clone(), true);
    assert!(v[0].contains("generation 0 is the old endpoint"), "{v:?}");
    moved.pop();
    moved.push(e(
        1_000,
        TraceEvent::EndpointChanged {
            backend: "a".to_owned(),
            generation: 1,
        },
    ));
    moved.push(e(1_000, started("a", 1)));
    assert!(violations_of("registry_traffic", moved, true).is_empty());
}

// ----- front end -------------------------------------------------------------------------------

fn frontend_limits() -> Limits {
    let mut limits = limits(true);
    let mut frontend = vmcp_core::config::FrontendConfig::default();
    frontend.server.call_timeout = Duration::from_secs(2);
    limits.frontend = Some(frontend);
    limits.tool_routes = [("a_echo".to_owned(), "a".to_owned())]
        .into_iter()
        .collect();
    limits
}

fn frontend_violations(entries: Vec<TraceEntry>) -> Vec<String> {
    invariants::frontend_calls::check(&entries, &frontend_limits())
        .into_iter()
        .map(|v| v.message)
        .collect()
}

fn forwarded(b: &str) -> TraceEvent {
    TraceEvent::CallForwarded {
        backend: b.to_owned(),
    }
}

fn ended(b: &str, ms: u64) -> TraceEvent {
    TraceEvent::CallEnded {
        backend: b.to_owned(),
        elapsed_ms: ms,
        elapsed: Duration::from_millis(ms),
    }
}

fn listed(tools: &[&str]) -> TraceEvent {
    TraceEvent::ToolsListed {
        client: "alice".to_owned(),
        tools: tools.iter().map(|t| (*t).to_owned()).collect(),
    }
}

/// `a` healthy from 100 ms, failing from 10 s: unhealthy and open at 12 s, half-open at 20 s,
/// closed and recovering at 20.1 s.
fn frontend_run() -> Vec<TraceEntry> {
    use CircuitState::{Closed, HalfOpen, Open};
    use HealthReason::{
        HalfOpen as HalfOpenReason, Ok as OkReason, Pending, ProbeFailed, Recovering,
    };
    use HealthStatus::{Degraded, Healthy, Unhealthy, Unknown};
    vec![
        e(0, TraceEvent::VmcpStarted),
        e(0, added("a")),
        e(100, status("a", (Unknown, Pending), (Healthy, OkReason))),
        e(1_000, forwarded("a")),
        e(1_100, ended("a", 100)),
        e(1_200, listed(&["a_echo"])),
        e(12_000, circuit("a", Closed, Open)),
        e(
            12_000,
            status("a", (Healthy, OkReason), (Unhealthy, ProbeFailed)),
        ),
        e(12_500, listed(&["a_echo"])),
        e(14_000, listed(&[])),
        e(20_000, circuit("a", Open, HalfOpen)),
        e(
            20_000,
            status("a", (Unhealthy, ProbeFailed), (Degraded, HalfOpenReason)),
        ),
        e(20_000, started("a", 0)),
        e(20_100, circuit("a", HalfOpen, Closed)),
        e(
            20_100,
            status("a", (Degraded, HalfOpenReason), (Degraded, Recovering)),
        ),
        e(21_000, forwarded("a")),
        e(23_020, ended("a", 2_020)),
    ]
}

#[test]
fn frontend_calls_pass_on_a_run_that_keeps_the_rules() {
    let v = frontend_violations(frontend_run());
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn frontend_calls_fail_on_a_call_to_a_hidden_or_open_backend() {
    let mut open = frontend_run();
    open.insert(9, e(13_000, forwarded("a")));
    let v = frontend_violations(open);
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v[0].contains("while it was hidden"), "{v:?}");
    assert!(v[1].contains("while its circuit was open"), "{v:?}");
    // Without the front end the invariant does not apply.
    let mut open = frontend_run();
    open.insert(9, e(13_000, forwarded("a")));
    assert!(invariants::frontend_calls::check(&open, &limits(true)).is_empty());
}

#[test]
fn frontend_calls_fail_beyond_the_shared_half_open_budget() {
    let mut extra = frontend_run();
    // The trial probe already used the budget (1) of the half-open period.
    extra.insert(13, e(20_050, forwarded("a")));
    let v = frontend_violations(extra);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("beyond half_open_max_probes"), "{v:?}");
}

#[test]
fn frontend_calls_fail_on_a_call_past_call_timeout_plus_a_tick() {
    let mut late = frontend_run();
    let last = late.len() - 1;
    late[last] = e(23_021, ended("a", 2_021));
    let v = frontend_violations(late);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("beyond call_timeout"), "{v:?}");
}

#[test]
fn frontend_calls_fail_when_a_stale_tool_is_listed() {
    let mut stale = frontend_run();
    // Hidden since 12 s; registry_poll_interval is 1 s: a listing at 13.5 s is stale.
    stale.insert(9, e(13_500, listed(&["a_echo"])));
    let v = frontend_violations(stale);
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("had been hidden since 12.000s"), "{v:?}");
}
