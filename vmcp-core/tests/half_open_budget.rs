//! The half-open budget (DESIGN §3.3, `half_open_max_probes = N`): at most N requests in flight
//! while half-open, the circuit closes after N successes and re-opens on the first failure, and
//! requests beyond the budget are refused. Checked on the breaker itself (probe and call
//! permits) and through the monitor under paused time, with N = 1 and N = 3.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::ScriptedProbe;
use tokio::time::Instant;
use vmcp_core::clock::{EpochClock, Timestamp};
use vmcp_core::config::{CircuitBreakerConfig, FailureHandling};
use vmcp_core::health::CircuitBreaker;
use vmcp_core::health::CircuitState;
use vmcp_core::health::{HealthMonitor, Refusal};
use vmcp_core::registry::Backend;

const SEC: Duration = Duration::from_secs(1);

fn breaker_config(n: u32) -> CircuitBreakerConfig {
    CircuitBreakerConfig {
        enabled: true,
        failure_threshold: 1,
        timeout: 10 * SEC,
        half_open_max_probes: n,
        ..CircuitBreakerConfig::default()
    }
}

/// A breaker opened at `t0`, past its deadline: HalfOpen on the next acquire.
fn half_open_breaker(n: u32) -> (CircuitBreaker, Instant) {
    let t0 = Instant::now();
    let mut b = CircuitBreaker::new(&breaker_config(n), 1);
    let (permit, _) = b.acquire(t0);
    assert!(b.complete(permit.unwrap(), false, t0).is_some(), "opens");
    (b, t0 + 10 * SEC)
}

#[test]
fn budget_of_one_admits_one_and_the_success_closes() {
    let (mut b, t) = half_open_breaker(1);
    let (first, transition) = b.acquire(t);
    assert_eq!(transition.map(|t| t.to), Some(CircuitState::HalfOpen));
    let first = first.expect("the trial is admitted");
    assert_eq!(
        b.acquire(t).0,
        Err(None),
        "a second request is beyond the budget"
    );
    let closed = b
        .complete(first, true, t + SEC)
        .expect("one success closes");
    assert_eq!(closed.to, CircuitState::Closed);
}

#[test]
fn budget_of_three_admits_three_in_flight_and_closes_after_three_successes() {
    let (mut b, t) = half_open_breaker(3);
    let permits: Vec<_> = (0..3)
        .map(|_| b.acquire(t).0.expect("within budget"))
        .collect();
    assert_eq!(b.snapshot().half_open_in_flight, 3);
    assert_eq!(b.acquire(t).0, Err(None), "the fourth is refused");
    let mut permits = permits.into_iter();
    assert_eq!(b.complete(permits.next().unwrap(), true, t), None);
    assert_eq!(
        b.state(),
        CircuitState::HalfOpen,
        "one success is not enough"
    );
    // A success does not free its slot: the budget is per half-open period.
    assert_eq!(b.acquire(t).0, Err(None));
    assert_eq!(b.complete(permits.next().unwrap(), true, t), None);
    assert_eq!(b.snapshot().half_open_successes, 2);
    let closed = b
        .complete(permits.next().unwrap(), true, t)
        .expect("closes");
    assert_eq!(
        (closed.from, closed.to),
        (CircuitState::HalfOpen, CircuitState::Closed)
    );
}

#[test]
fn budget_of_three_reopens_on_the_first_failure_and_ignores_the_stale_rest() {
    let (mut b, t) = half_open_breaker(3);
    let a = b.acquire(t).0.unwrap();
    let c = b.acquire(t).0.unwrap();
    let d = b.acquire(t).0.unwrap();
    assert_eq!(b.complete(a, true, t), None);
    let reopened = b.complete(c, false, t).expect("the first failure re-opens");
    assert_eq!(reopened.to, CircuitState::Open);
    // The last permit belongs to the finished half-open period: its result is stale.
    let deadline = b.open_deadline().unwrap();
    let fresh = b.acquire(deadline).0.unwrap();
    assert_eq!(b.complete(d, true, deadline), None, "stale success ignored");
    assert_eq!(b.snapshot().half_open_successes, 0);
    assert_eq!(b.snapshot().half_open_in_flight, 1);
    drop(fresh);
}

#[test]
fn a_permit_given_back_frees_its_slot_without_deciding() {
    let (mut b, t) = half_open_breaker(1);
    let first = b.acquire(t).0.unwrap();
    b.give_back(first);
    assert_eq!(b.state(), CircuitState::HalfOpen);
    let again = b.acquire(t).0.expect("the slot is free again");
    assert!(b.complete(again, true, t).is_some());
}

fn monitor(n: u32, probe: &Arc<ScriptedProbe>) -> HealthMonitor {
    HealthMonitor::start(
        FailureHandling {
            health_check_interval: 30 * SEC,
            health_check_timeout: 10 * SEC,
            circuit_breaker: CircuitBreakerConfig {
                timeout: 60 * SEC,
                ..breaker_config(n)
            },
            ..FailureHandling::default()
        },
        Arc::clone(probe),
        Arc::new(EpochClock::new(Timestamp::from_unix_millis(0))),
        None,
        3,
        vec![Backend::new("a", "http://a/mcp")],
    )
}

/// Down until 100 s, then up. Threshold 1, open 60 s: open at 0, half-open at 60 s (trial
/// fails, re-open), half-open at 120 s (trial succeeds).
fn probe() -> Arc<ScriptedProbe> {
    ScriptedProbe::new(|_, t| (Duration::ZERO, t >= 100.0))
}

async fn at(start: Instant, secs: u64) {
    tokio::time::sleep_until(start + Duration::from_secs(secs) + Duration::from_millis(1)).await;
}

#[tokio::test(start_paused = true)]
async fn monitor_budget_one_closes_on_the_first_successful_trial() {
    let start = Instant::now();
    let probe = probe();
    let m = monitor(1, &probe);
    at(start, 120).await;
    assert_eq!(probe.call_secs("a"), [0, 60, 120]);
    assert_eq!(m.snapshot()["a"].circuit.state, CircuitState::Closed);
    m.stop().await;
}

#[tokio::test(start_paused = true)]
async fn monitor_budget_three_needs_three_successes_and_shares_the_budget_with_calls() {
    let start = Instant::now();
    let probe = probe();
    let m = monitor(3, &probe);
    at(start, 120).await;
    // Half-open since 120 s; the trial probe at 120 s succeeded: 1 of 3.
    assert_eq!(probe.call_secs("a"), [0, 60, 120]);
    let s = m.snapshot()["a"].circuit;
    assert_eq!(
        (s.state, s.half_open_successes, s.half_open_in_flight),
        (CircuitState::HalfOpen, 1, 0)
    );
    // Two calls take the rest of the budget; a third is refused with no traffic.
    let c1 = m.acquire("a").expect("within budget");
    let c2 = m.acquire("a").expect("within budget");
    assert_eq!(c1.circuit(), CircuitState::HalfOpen);
    assert_eq!(
        m.acquire("a").unwrap_err(),
        Refusal::Circuit {
            state: CircuitState::HalfOpen,
            until: None
        }
    );
    // The probe at 150 s is skipped too: the budget is used.
    at(start, 150).await;
    assert_eq!(probe.call_secs("a"), [0, 60, 120]);
    assert_eq!(
        m.snapshot()["a"].probes_skipped,
        3,
        "skipped at 30 s and 90 s (open) and 150 s (budget used)"
    );
    c1.complete(true);
    assert_eq!(m.snapshot()["a"].circuit.state, CircuitState::HalfOpen);
    c2.complete(true);
    assert_eq!(
        m.snapshot()["a"].circuit.state,
        CircuitState::Closed,
        "the third success closes"
    );
    assert_eq!(m.acquire("b").unwrap_err(), Refusal::UnknownBackend);
    m.stop().await;
}
