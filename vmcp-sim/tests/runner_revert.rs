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
