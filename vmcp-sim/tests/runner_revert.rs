//! The end of a timed `set_behaviour … for` restores the pod exactly as it was.
//!
//! Found by the liveness property (`tests/liveness.rs` at the workspace root): a pod started with
//! `{ starting_for = "5s" }` was up and healthy; a 503 window on it ended by setting
//! `StartingFor(5s)` again, which opened a *new* starting window, so the pod refused connections
//! for another 5 s after the fault was over.

use vmcp_sim::runner::run;
use vmcp_sim::scenario::Scenario;

const SCENARIO: &str = r#"
name = "revert-starting-for"
description = "a 503 window on a pod that finished starting ends with the pod healthy, not starting again"
seed = 0
duration = "30s"

[vmcp]
health_check_interval = "2s"
health_check_timeout = "500ms"
connect_timeout = "100ms"
unhealthy_threshold = 1
healthy_threshold = 1
registry_poll_interval = "200ms"

[[backend]]
name = "jira"

[[event]]
at = "1s"
action = "replace_pod"
backend = "jira"
old_pod = "terminate"
behaviour = { starting_for = "5s" }

[[event]]
at = "10s"
id = "window"
action = "set_behaviour"
backend = "jira"
behaviour = { status = 503 }
for = "2s"

[[expect]]
kind = "always"
from = "9s"
to = "10s"
backend = "jira"
status = "healthy"
description = "the new pod finished starting at 6 s"

[[expect]]
kind = "always"
from = "15s"
backend = "jira"
status = "healthy"
description = "the window ended at 12 s and the pod had already started: the probe at 14 s succeeds"

[[expect]]
kind = "count"
counter = "connections"
backend = "jira"
from = "12s"
to = "15s"
min = 1
description = "the probe at 14 s connects to the pod (it does not refuse)"
"#;

#[test]
fn reverting_a_window_does_not_restart_a_starting_for_window() {
    let scenario = Scenario::from_toml_str(SCENARIO, "revert-starting-for.toml").unwrap();
    let outcome = run(&scenario, scenario.seed).unwrap();
    assert!(
        outcome.passed(),
        "{:#?}\n{}",
        outcome.failures,
        outcome.trace.render(&outcome.trace.entries)
    );
}

/// The trace details of the `set_behaviour_end` entries of a run.
fn ends(text: &str) -> Vec<String> {
    let scenario = Scenario::from_toml_str(text, "t.toml").unwrap();
    let outcome = run(&scenario, scenario.seed).unwrap();
    outcome
        .trace
        .entries
        .iter()
        .filter_map(|e| match &e.event {
            vmcp_sim::trace::TraceEvent::Fault { action, detail }
                if action == "set_behaviour_end" =>
            {
                Some(format!("{} {detail}", e.at_ms))
            }
            _ => None,
        })
        .collect()
}

// A tick that divides every event instant below, so events apply exactly at their `at`.
const HEAD: &str = "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"60s\"\ntick = \"20ms\"\n\
                    [vmcp]\nhealth_check_interval = \"2s\"\nhealth_check_timeout = \"1s\"\n\
                    connect_timeout = \"500ms\"\n[[backend]]\nname = \"a\"\n";

/// An event at the instant a window ends has the last word: the window's end is applied first.
#[test]
fn an_event_at_the_end_of_a_window_wins() {
    let text = format!(
        "{HEAD}[[event]]\nat = \"10s\"\naction = \"set_behaviour\"\nbackend = \"a\"\n\
         behaviour = \"hang\"\nfor = \"10s\"\n\
         [[event]]\nat = \"20s\"\naction = \"set_behaviour\"\nbackend = \"a\"\n\
         behaviour = {{ status = 503 }}\n\
         [[expect]]\nkind = \"always\"\nfrom = \"40s\"\nbackend = \"a\"\nstatus = \"unhealthy\"\n"
    );
    assert_eq!(
        ends(&text),
        vec!["20000 a: a-pod-1 back to Healthy".to_owned()]
    );
    let scenario = Scenario::from_toml_str(&text, "t.toml").unwrap();
    let outcome = run(&scenario, 1).unwrap();
    assert!(
        outcome.passed(),
        "the 503 set at 20 s stays: {:?}",
        outcome.failures
    );
}

/// A window on a pod that was replaced meanwhile (its behaviour is now the stale one) is not
/// restored: restoring would heal a retired pod that must keep answering 404.
#[test]
fn a_window_on_a_pod_changed_meanwhile_is_not_restored() {
    let text = format!(
        "{HEAD}[[event]]\nat = \"10s\"\naction = \"set_behaviour\"\nbackend = \"a\"\n\
         behaviour = {{ slow = \"100ms\" }}\nfor = \"20s\"\n\
         [[event]]\nat = \"15s\"\naction = \"replace_pod\"\nbackend = \"a\"\n\
         old_pod = \"stale\"\nstale_behaviour = {{ status = 404 }}\n"
    );
    assert_eq!(
        ends(&text),
        vec!["30000 a: a-pod-1 changed since; not restored".to_owned()]
    );
}
