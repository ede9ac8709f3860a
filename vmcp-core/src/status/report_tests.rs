//! Tests of report building: snapshots of typical reports and the phase table.

use std::time::Duration;

use crate::health::{CircuitState, CrdStatus, ErrorCategory, HealthReason, HealthStatus};
use crate::registry::{Backend, OutgoingAuth, Secret};
use crate::status::report::{ConditionStatus, Phase, StatusReport, build_report, condition_types};
use crate::status::test_support::*;

fn backends(names: &[&str]) -> Vec<Backend> {
    names
        .iter()
        .map(|n| Backend::new(*n, format!("http://{n}:8080/mcp")))
        .collect()
}

fn phase_of(states: &[(&str, Option<(HealthStatus, HealthReason)>)]) -> Phase {
    let list: Vec<Backend> = states
        .iter()
        .map(|(n, _)| Backend::new(*n, format!("http://{n}/mcp")))
        .collect();
    let snap = snapshot(
        states
            .iter()
            .zip(&list)
            .filter_map(|((_, s), b)| {
                s.map(|(status, reason)| {
                    let mut st = state(status, reason);
                    if reason != HealthReason::Pending {
                        st.last_check = Some(at(1));
                    }
                    if reason == HealthReason::ProbeFailed {
                        st.consecutive_failures = 1;
                    }
                    entry(b, st, no_breaker(), None)
                })
            })
            .collect(),
    );
    build_report(&list, &snap, at(2)).phase
}

use HealthReason as R;
use HealthStatus as S;

// ---- snapshots -------------------------------------------------------------------------------

#[test]
fn snapshot_pending() {
    let list = backends(&["github", "jira", "slack"]);
    // One entry exists but was never probed; the others are not in the snapshot yet.
    let snap = snapshot(vec![entry(
        &list[1],
        state(S::Unknown, R::Pending),
        no_breaker(),
        None,
    )]);
    let report = build_report(&list, &snap, at(0));
    assert_eq!(report.phase, Phase::Pending);
    insta::assert_yaml_snapshot!("pending", report);
}

#[test]
fn snapshot_all_healthy() {
    let list = backends(&["slack", "github", "jira"]);
    let snap = snapshot(
        list.iter()
            .map(|b| entry(b, healthy(at(30)), no_breaker(), None))
            .collect(),
    );
    let report = build_report(&list, &snap, at(31));
    assert_eq!(report.phase, Phase::Ready);
    insta::assert_yaml_snapshot!("all_healthy", report);
}

#[test]
fn snapshot_one_slow_degraded() {
    let list = backends(&["github", "jira", "slack"]);
    let mut slow = healthy(at(30));
    slow.status = S::Degraded;
    slow.reason = R::Slow;
    slow.last_latency = Some(Duration::from_millis(6_200));
    let snap = snapshot(vec![
        entry(&list[0], healthy(at(30)), no_breaker(), None),
        entry(&list[1], slow, no_breaker(), None),
        entry(&list[2], healthy(at(30)), no_breaker(), None),
    ]);
    let report = build_report(&list, &snap, at(31));
    assert_eq!(report.phase, Phase::Degraded);
    insta::assert_yaml_snapshot!("one_slow_degraded", report);
}

#[test]
fn snapshot_mixed_unhealthy_unauthenticated() {
    let mut list = backends(&["github", "jira", "legacy", "slack"]);
    // Credentials in the URL and in outgoing auth must not show, even if echoed in a message.
    list[1].url = "https://svc-user:hunter2@jira:8443/mcp".to_owned();
    list[1].auth = Some(OutgoingAuth::Bearer {
        token: Secret::new("jira-token-123"),
    });
    let snap = snapshot(vec![
        entry(&list[0], healthy(at(60)), no_breaker(), None),
        entry(
            &list[1],
            failing(
                S::Unauthenticated,
                R::ProbeFailed,
                3,
                ErrorCategory::AuthenticationFailed,
                "401 Unauthorized from https://svc-user:hunter2@jira:8443/mcp (token jira-token-123)",
                at(60),
            ),
            no_breaker(),
            None,
        ),
        entry(
            &list[2],
            failing(
                S::Unknown,
                R::ProbeFailed,
                1,
                ErrorCategory::Timeout,
                "health check timed out after 10s",
                at(60),
            ),
            no_breaker(),
            None,
        ),
        entry(
            &list[3],
            failing(
                S::Unhealthy,
                R::ProbeFailed,
                4,
                ErrorCategory::ConnectionFailed,
                "connection refused",
                at(60),
            ),
            no_breaker(),
            None,
        ),
    ]);
    let report = build_report(&list, &snap, at(61));
    assert_eq!(report.phase, Phase::Degraded);
    let json = serde_json::to_string(&report).unwrap();
    for secret in ["hunter2", "svc-user", "jira-token-123"] {
        assert!(!json.contains(secret), "{secret} leaked: {json}");
    }
    insta::assert_yaml_snapshot!("mixed_unhealthy_unauthenticated", report);
}

#[test]
fn snapshot_all_failing() {
    let list = backends(&["github", "slack"]);
    let snap = snapshot(vec![
        entry(
            &list[0],
            failing(
                S::Unhealthy,
                R::ProbeFailed,
                3,
                ErrorCategory::BackendUnavailable,
                "HTTP 503 Service Unavailable",
                at(90),
            ),
            no_breaker(),
            None,
        ),
        entry(
            &list[1],
            failing(
                S::Unauthenticated,
                R::ProbeFailed,
                5,
                ErrorCategory::AuthenticationFailed,
                "HTTP 403 Forbidden",
                at(90),
            ),
            no_breaker(),
            None,
        ),
    ]);
    let report = build_report(&list, &snap, at(91));
    assert_eq!(report.phase, Phase::Failed);
    insta::assert_yaml_snapshot!("all_failing", report);
}

#[test]
fn snapshot_breaker_open() {
    let list = backends(&["github", "jira"]);
    let mut open = failing(
        S::Unhealthy,
        R::CircuitOpen,
        5,
        ErrorCategory::BackendUnavailable,
        "HTTP 502 Bad Gateway",
        at(150),
    );
    open.last_transition = Some(at(150));
    let snap = snapshot(vec![
        entry(
            &list[0],
            healthy(at(150)),
            breaker(CircuitState::Closed, 0),
            None,
        ),
        entry(
            &list[1],
            open,
            breaker(CircuitState::Open, 5),
            Some(at(150)),
        ),
    ]);
    let report = build_report(&list, &snap, at(170));
    assert_eq!(report.phase, Phase::Degraded);
    insta::assert_yaml_snapshot!("breaker_open", report);
}

#[test]
fn snapshot_breaker_half_open() {
    let list = backends(&["github", "jira"]);
    let mut half_open = failing(
        S::Degraded,
        R::HalfOpen,
        5,
        ErrorCategory::BackendUnavailable,
        "HTTP 502 Bad Gateway",
        at(150),
    );
    half_open.last_transition = Some(at(210));
    let snap = snapshot(vec![
        entry(
            &list[0],
            healthy(at(210)),
            breaker(CircuitState::Closed, 0),
            None,
        ),
        entry(
            &list[1],
            half_open,
            breaker(CircuitState::HalfOpen, 5),
            Some(at(210)),
        ),
    ]);
    let report = build_report(&list, &snap, at(211));
    assert_eq!(report.phase, Phase::Degraded);
    insta::assert_yaml_snapshot!("breaker_half_open", report);
}

#[test]
fn snapshot_no_backends() {
    let report = build_report(&[], &snapshot(vec![]), at(0));
    assert_eq!(report.phase, Phase::Ready);
    insta::assert_yaml_snapshot!("no_backends", report);
}

// ---- phase table ---------------------------------------------------------------------------

#[test]
fn phase_ready_when_no_backends_or_all_healthy() {
    assert_eq!(phase_of(&[]), Phase::Ready);
    assert_eq!(
        phase_of(&[
            ("a", Some((S::Healthy, R::Ok))),
            ("b", Some((S::Healthy, R::Ok)))
        ]),
        Phase::Ready
    );
}

#[test]
fn phase_pending_only_when_every_backend_is_never_probed() {
    assert_eq!(phase_of(&[("a", None), ("b", None)]), Phase::Pending);
    assert_eq!(
        phase_of(&[("a", Some((S::Unknown, R::Pending))), ("b", None)]),
        Phase::Pending
    );
    // A result for one of them ends Pending.
    assert_eq!(
        phase_of(&[("a", Some((S::Unknown, R::ProbeFailed))), ("b", None)]),
        Phase::Failed
    );
    assert_eq!(
        phase_of(&[("a", Some((S::Healthy, R::Ok))), ("b", None)]),
        Phase::Degraded
    );
}

#[test]
fn phase_degraded_when_something_serves_but_not_all_healthy() {
    for other in [
        (S::Degraded, R::Slow),
        (S::Unhealthy, R::ProbeFailed),
        (S::Unauthenticated, R::ProbeFailed),
        (S::Unknown, R::ProbeFailed),
        (S::Unhealthy, R::CircuitOpen),
    ] {
        assert_eq!(
            phase_of(&[("a", Some((S::Healthy, R::Ok))), ("b", Some(other))]),
            Phase::Degraded,
            "healthy + {other:?}"
        );
    }
    // Only degraded backends still serve.
    assert_eq!(
        phase_of(&[
            ("a", Some((S::Degraded, R::HalfOpen))),
            ("b", Some((S::Unhealthy, R::CircuitOpen)))
        ]),
        Phase::Degraded
    );
    assert_eq!(
        phase_of(&[("a", Some((S::Degraded, R::Recovering)))]),
        Phase::Degraded
    );
}

#[test]
fn phase_failed_when_nothing_serves() {
    assert_eq!(
        phase_of(&[("a", Some((S::Unhealthy, R::ProbeFailed)))]),
        Phase::Failed
    );
    assert_eq!(
        phase_of(&[("a", Some((S::Unknown, R::ProbeFailed)))]),
        Phase::Failed
    );
    assert_eq!(
        phase_of(&[
            ("a", Some((S::Unauthenticated, R::ProbeFailed))),
            ("b", Some((S::Unknown, R::Pending))),
            ("c", None),
        ]),
        Phase::Failed
    );
}

// ---- contents --------------------------------------------------------------------------------

#[test]
fn registry_decides_which_backends_are_reported() {
    let list = backends(&["b", "a"]);
    let gone = Backend::new("removed", "http://removed/mcp");
    let snap = snapshot(vec![
        entry(&list[0], healthy(at(5)), no_breaker(), None),
        entry(&gone, healthy(at(5)), no_breaker(), None),
    ]);
    let report = build_report(&list, &snap, at(6));
    let names: Vec<&str> = report
        .discovered_backends
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let a = &report.discovered_backends[0];
    assert_eq!(
        (a.status, a.health, a.reason),
        (CrdStatus::Unknown, S::Unknown, R::Pending)
    );
    assert_eq!(a.last_health_check, None);
    assert_eq!(report.backend_count, 1);
    assert_eq!(report.message, "1/2 backends healthy; 1 unknown");
}

#[test]
fn duplicate_names_in_input_report_the_first() {
    let list = vec![
        Backend::new("a", "http://first/mcp"),
        Backend::new("a", "http://second/mcp"),
    ];
    let report = build_report(&list, &snapshot(vec![]), at(0));
    assert_eq!(report.discovered_backends.len(), 1);
    assert_eq!(report.discovered_backends[0].url, "http://first/mcp");
}

#[test]
fn conditions_are_always_present_in_order() {
    let list = backends(&["a"]);
    let report = build_report(&list, &snapshot(vec![]), at(0));
    let types: Vec<&str> = report.conditions.iter().map(|c| c.type_).collect();
    assert_eq!(
        types,
        [
            condition_types::READY,
            condition_types::BACKENDS_DISCOVERED,
            condition_types::DEGRADED
        ]
    );
    let ready = report.condition(condition_types::READY).unwrap();
    assert_eq!(ready.status, ConditionStatus::False);
    assert_eq!(ready.reason, "BackendsPending");
}

#[test]
fn disabled_breaker_reports_closed() {
    let list = backends(&["a"]);
    let mut snap_breaker = no_breaker();
    snap_breaker.state = CircuitState::Open;
    let snap = snapshot(vec![entry(&list[0], healthy(at(1)), snap_breaker, None)]);
    let report = build_report(&list, &snap, at(2));
    assert_eq!(
        report.discovered_backends[0].circuit_breaker_state,
        CircuitState::Closed
    );
}

#[test]
fn failure_below_threshold_shows_error_on_healthy_backend() {
    let list = backends(&["a"]);
    let mut st = healthy(at(10));
    st.consecutive_failures = 1;
    st.last_error_category = Some(ErrorCategory::ConnectionFailed);
    st.last_error_message = Some("connection reset".into());
    let snap = snapshot(vec![entry(&list[0], st, no_breaker(), None)]);
    let d = &build_report(&list, &snap, at(11)).discovered_backends[0];
    assert_eq!(d.health, S::Healthy);
    assert_eq!(d.message, "connection reset");
    assert_eq!(d.error_category, Some(ErrorCategory::ConnectionFailed));
}

#[test]
fn failing_without_details_gets_generic_message_and_category() {
    let list = backends(&["a"]);
    let mut st = state(S::Unhealthy, R::ProbeFailed);
    st.consecutive_failures = 3;
    let snap = snapshot(vec![entry(&list[0], st, no_breaker(), None)]);
    let d = &build_report(&list, &snap, at(1)).discovered_backends[0];
    assert_eq!(d.message, "health check failed");
    assert_eq!(d.error_category, Some(ErrorCategory::HealthCheckFailed));
}

#[test]
fn json_is_camel_case_with_crd_spellings() {
    let list = backends(&["a"]);
    let snap = snapshot(vec![entry(
        &list[0],
        state(S::Degraded, R::HalfOpen),
        breaker(CircuitState::HalfOpen, 5),
        Some(at(3)),
    )]);
    let report: StatusReport = build_report(&list, &snap, at(4));
    let v = serde_json::to_value(&report).unwrap();
    assert_eq!(v["phase"], "Degraded");
    assert_eq!(v["observedAt"], "2026-01-01T00:00:04.000Z");
    assert_eq!(v["backendCount"], 0);
    assert_eq!(v["conditions"][2]["type"], "Degraded");
    assert_eq!(v["conditions"][2]["status"], "True");
    let d = &v["discoveredBackends"][0];
    assert_eq!(d["status"], "degraded");
    assert_eq!(d["health"], "degraded");
    assert_eq!(d["reason"], "half_open");
    assert_eq!(d["circuitBreakerState"], "half-open");
    assert_eq!(d["circuitLastChanged"], "2026-01-01T00:00:03.000Z");
    assert_eq!(d["consecutiveFailures"], 0);
    assert!(d.get("errorCategory").is_none());
    assert!(d.get("lastHealthCheck").is_none());
}

/// Every status word has one spelling: the name a log line or message shows (`Display`, which
/// is `as_str`) is the one the JSON report carries (serde), for every variant.
#[test]
fn display_names_are_the_report_json_names() {
    fn check<T: std::fmt::Display + serde::Serialize>(values: &[T]) {
        for v in values {
            let json = serde_json::to_value(v).unwrap();
            assert_eq!(json.as_str(), Some(v.to_string().as_str()), "{json}");
            assert!(!v.to_string().is_empty());
        }
    }
    check(&[
        CrdStatus::Ready,
        CrdStatus::Degraded,
        CrdStatus::Unavailable,
        CrdStatus::Unknown,
    ]);
    check(&[
        S::Healthy,
        S::Degraded,
        S::Unhealthy,
        S::Unauthenticated,
        S::Unknown,
    ]);
    check(&[
        R::Pending,
        R::Ok,
        R::Slow,
        R::Recovering,
        R::HalfOpen,
        R::CircuitOpen,
        R::ProbeFailed,
    ]);
    check(&[
        ErrorCategory::AuthenticationFailed,
        ErrorCategory::Timeout,
        ErrorCategory::Cancelled,
        ErrorCategory::BackendUnavailable,
        ErrorCategory::ConnectionFailed,
        ErrorCategory::ProtocolError,
        ErrorCategory::Tls,
        ErrorCategory::HealthCheckFailed,
    ]);
    check(&[
        CircuitState::Closed,
        CircuitState::Open,
        CircuitState::HalfOpen,
    ]);
}

/// The status alone marks a backend failing: a health source that keeps no failure count
/// (any `HealthSource`, not only the monitor) still gets its error shown.
#[test]
fn a_failing_status_shows_the_error_without_a_failure_count() {
    let list = backends(&["a"]);
    for status in [S::Unhealthy, S::Unauthenticated] {
        let st = failing(
            status,
            R::ProbeFailed,
            0,
            ErrorCategory::AuthenticationFailed,
            "HTTP 401",
            at(10),
        );
        let snap = snapshot(vec![entry(&list[0], st, no_breaker(), None)]);
        let d = &build_report(&list, &snap, at(11)).discovered_backends[0];
        assert_eq!(d.message, "HTTP 401", "{status}");
        assert_eq!(d.error_category, Some(ErrorCategory::AuthenticationFailed));
    }
}

/// A blank error message (only whitespace) says nothing, so the report says "health check
/// failed" instead of printing the blank.
#[test]
fn a_blank_error_message_gets_the_generic_message() {
    let list = backends(&["a"]);
    for blank in ["", " ", " \t\n"] {
        let mut st = state(S::Unhealthy, R::ProbeFailed);
        st.consecutive_failures = 3;
        st.last_error_message = Some(blank.to_owned());
        let snap = snapshot(vec![entry(&list[0], st, no_breaker(), None)]);
        let d = &build_report(&list, &snap, at(1)).discovered_backends[0];
        assert_eq!(d.message, "health check failed", "for {blank:?}");
    }
}
