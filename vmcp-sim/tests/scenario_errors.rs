//! Every validation rule, one test each, asserting the exact `file:line:column: message` text.
//!
//! Most inputs start with [`HB`]: a valid header (lines 1-4) and two backends, `github` and
//! `jira` (lines 5-8), so the table under test starts on line 9.

use vmcp_sim::scenario::{Scenario, ScenarioError};

/// Valid header (lines 1-4) and two backends (lines 5-8).
const HB: &str = "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\n\
                  [[backend]]\nname = \"github\"\n[[backend]]\nname = \"jira\"\n";

/// The error message for `text` parsed as `t.toml`.
fn error(text: &str) -> String {
    match Scenario::from_toml_str(text, "t.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => {
            assert!(
                matches!(e, ScenarioError::Invalid { .. }),
                "not an Invalid error: {e:?}"
            );
            e.to_string()
        }
    }
}

/// `HB` followed by `rest`.
fn hb(rest: &str) -> String {
    format!("{HB}{rest}")
}

/// One `#[test]` per rule: `rejects!(test_name, input, "t.toml:line:col: message")`.
macro_rules! rejects {
    ($name:ident, $text:expr, $expected:expr) => {
        #[test]
        fn $name() {
            assert_eq!(error(&$text), $expected);
        }
    };
}

#[test]
fn the_base_text_is_valid() {
    Scenario::from_toml_str(HB, "t.toml").unwrap();
}

// ---------------------------------------------------------------------------------------------
// TOML syntax and shape (messages from the toml crate and the value deserializers)

rejects!(
    syntax_error,
    "name = \"t\"\ndescription = \"d\nseed = 1\n",
    "t.toml:2:17: invalid basic string, expected `\"`"
);

rejects!(
    unknown_top_level_key,
    "nmae = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\n",
    "t.toml:1:1: unknown field `nmae`, expected one of `name`, `description`, `seed`, \
     `duration`, `tick`, `min_latency`, `max_latency`, `reproduces_bug`, `fixed_schedule`, `vmcp`, `swarm`, `server`, `aggregation`, `backend`, `client`, `event`, `expect`"
);

rejects!(
    unknown_backend_key,
    hb("[[backend]]\nname = \"x\"\ncolour = \"red\"\n"),
    "t.toml:11:1: unknown field `colour`, expected one of `name`, `port`, `path`, \
     `behaviour`, `registered`, `auth`, `require_auth`, `count`, `shared_host`, `tools`, `unknown_session_status`"
);

rejects!(
    unknown_event_key,
    hb("[[event]]\nat = \"1s\"\naction = \"crash_vmcp\"\nbackned = \"github\"\n"),
    "t.toml:12:1: unknown field `backned`, expected one of `at`, `id`, `action`, `backend`, \
     `old_pod`, `stale_behaviour`, `behaviour`, `for`, `latency`, `url`, `auth`"
);

rejects!(
    unknown_expect_key,
    hb("[[expect]]\nkind = \"always\"\nphase = \"Ready\"\nstate = \"x\"\n"),
    "t.toml:12:1: unknown field `state`, expected one of `kind`, `description`, `from`, `to`, \
     `by`, `after`, `within`, `counter`, `min`, `max`, `equals`, `backend`, `status`, \
     `crd_status`, `reason`, `circuit`, `category`, `phase`, `present`, `on`, `message`, `url`, `pod`, `client`, `tool`, `outcome`, `method`, `authorized`, \
     `max_latency`, `at`, `contains`, `excludes`"
);

rejects!(
    unknown_auth_key,
    hb("[[backend]]\nname = \"x\"\nauth = { type = \"bearer\", tokn = \"t\" }\n"),
    "t.toml:11:27: unknown field `tokn`, expected one of `type`, `token`, `name`, `value`"
);

#[test]
fn unknown_vmcp_key_keeps_the_vmcp_core_message() {
    let message = error(&hb("[vmcp]\nhealth_check_intervall = \"5s\"\n"));
    assert!(
        message.starts_with(
            "t.toml:10:1: unknown field `health_check_intervall`, expected one of \
             `healthCheckInterval`, `health_check_interval`,"
        ),
        "{message}"
    );
}

rejects!(
    vmcp_validation_keeps_the_vmcp_core_message,
    hb("[vmcp]\nhealth_check_interval = \"30s\"\nhealth_check_timeout = \"45s\"\n"),
    "t.toml:9:1: health_check_timeout (45s) must be less than health_check_interval (30s)"
);

rejects!(
    vmcp_breaker_validation_points_at_its_table,
    hb("[vmcp.circuit_breaker]\nenabled = true\ntimeout = \"0s\"\n"),
    "t.toml:9:1: timeout (0s) must be at least 1s"
);

rejects!(
    vmcp_bad_pool_value,
    hb("[vmcp]\npool = \"pooled\"\n"),
    "t.toml:10:8: unknown variant `pooled`, expected one of `perBackend`, `per_backend`, \
     `perProbe`, `per_probe`, `shared`"
);

rejects!(
    bad_duration_syntax,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3 m\"\n",
    "t.toml:4:12: \"3 m\" is not a duration: write e.g. \"30s\", \"500ms\" or \"1m30s\" \
     (units: h, m, s, ms, us, ns)"
);

rejects!(
    bad_duration_unit,
    hb("[[event]]\nat = \"1sec\"\naction = \"crash_vmcp\"\n"),
    "t.toml:10:6: unknown unit \"sec\" in \"1sec\" (units: h, m, s, ms, us, ns)"
);

rejects!(
    bare_number_duration,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = 180\n",
    "t.toml:4:12: bare number 180 is not a duration: add a unit, e.g. \"180s\" or \"180ms\" \
     (units: h, m, s, ms, us, ns)"
);

rejects!(
    missing_required_header_key,
    "name = \"t\"\ndescription = \"d\"\nduration = \"3m\"\n",
    "t.toml:1:1: missing field `seed`"
);

rejects!(
    missing_event_at,
    hb("[[event]]\naction = \"crash_vmcp\"\n"),
    "t.toml:9:1: missing field `at`"
);

rejects!(
    negative_seed,
    "name = \"t\"\ndescription = \"d\"\nseed = -1\nduration = \"3m\"\n",
    "t.toml:3:8: invalid value: integer `-1`, expected u64"
);

rejects!(
    wrong_type,
    "name = \"t\"\ndescription = \"d\"\nseed = \"one\"\nduration = \"3m\"\n",
    "t.toml:3:8: invalid type: string \"one\", expected u64"
);

// ---------------------------------------------------------------------------------------------
// Behaviours

rejects!(
    unknown_behaviour_name,
    hb("[[backend]]\nname = \"x\"\nbehaviour = \"sleepy\"\n"),
    "t.toml:11:13: unknown behaviour \"sleepy\": expected a behaviour: \"healthy\", \"sse\", \
     \"hang\", \"close\", \"refuse\", \"legacy_sse\", \"forget_sessions\", { status = 503 }, \
     { status = 401, only_initialize = true }, { slow = \"6s\" } or { starting_for = \"20s\" }"
);

rejects!(
    behaviour_status_not_an_error_status,
    hb("[[backend]]\nname = \"x\"\nbehaviour = { status = 200 }\n"),
    "t.toml:11:24: status 200 is not an HTTP error status: use 400..=599 (e.g. 401, 403, 404, \
     503); a working pod is \"healthy\""
);

rejects!(
    behaviour_unknown_table_key,
    hb("[[backend]]\nname = \"x\"\nbehaviour = { fast = \"1s\" }\n"),
    "t.toml:11:15: unknown field `fast`, expected one of `status`, `only_initialize`, `slow`, \
     `starting_for`"
);

rejects!(
    behaviour_table_with_two_kinds,
    hb("[[backend]]\nname = \"x\"\nbehaviour = { status = 503, slow = \"1s\" }\n"),
    "t.toml:11:13: a behaviour table needs exactly one of `status`, `slow` or `starting_for`"
);

rejects!(
    behaviour_only_initialize_without_status,
    hb("[[backend]]\nname = \"x\"\nbehaviour = { slow = \"1s\", only_initialize = true }\n"),
    "t.toml:11:13: `only_initialize` is only used together with `status`"
);

rejects!(
    behaviour_zero_delay,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"set_behaviour\"\nbackend = \"jira\"\n\
        behaviour = { starting_for = \"0s\" }\n"
    ),
    "t.toml:13:13: starting_for (0s) must be greater than 0"
);

// ---------------------------------------------------------------------------------------------
// Header

rejects!(
    invalid_scenario_name,
    "name = \"Bad Name\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\n",
    "t.toml:1:8: invalid scenario name \"Bad Name\": use lowercase letters, digits and `-` only"
);

rejects!(
    empty_description,
    "name = \"t\"\ndescription = \"  \"\nseed = 1\nduration = \"3m\"\n",
    "t.toml:2:15: description must not be empty"
);

rejects!(
    zero_duration,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"0s\"\n",
    "t.toml:4:12: duration (0s) must be greater than 0"
);

rejects!(
    zero_tick,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\ntick = \"0s\"\n",
    "t.toml:5:8: tick (0s) must be greater than 0"
);

rejects!(
    tick_not_below_duration,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\ntick = \"3m\"\n",
    "t.toml:5:8: tick (3m) must be less than duration (3m)"
);

rejects!(
    empty_fixed_schedule,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\nfixed_schedule = \" \"\n",
    "t.toml:5:18: fixed_schedule must say why this scenario runs one schedule whatever the seed \
     (it must not be empty)"
);

rejects!(
    empty_reproduces_bug,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\nreproduces_bug = \"\"\n",
    "t.toml:5:18: reproduces_bug must not be empty"
);

// ---------------------------------------------------------------------------------------------
// Backends

rejects!(
    duplicate_backend_name,
    hb("[[backend]]\nname = \"github\"\n"),
    "t.toml:10:8: duplicate backend name \"github\" (first declared at 6:8)"
);

rejects!(
    invalid_backend_name,
    hb("[[backend]]\nname = \"GitHub\"\n"),
    "t.toml:10:8: invalid backend name \"GitHub\": it is a host name, so use 1 to 63 lowercase \
     letters, digits and `-`, starting and ending with a letter or digit"
);

rejects!(
    reserved_backend_name,
    hb("[[backend]]\nname = \"vmcp\"\n"),
    "t.toml:10:8: backend name \"vmcp\" is reserved for the vMCP host"
);

rejects!(
    pod_like_backend_name,
    hb("[[backend]]\nname = \"github-pod-1\"\n"),
    "t.toml:10:8: backend name \"github-pod-1\" looks like a pod host name \
     (`<backend>-pod-<n>`) and could clash with one: choose another name"
);

rejects!(
    zero_port,
    hb("[[backend]]\nname = \"x\"\nport = 0\n"),
    "t.toml:11:8: port 0 is not a valid port: use 1..=65535"
);

rejects!(
    port_out_of_range,
    hb("[[backend]]\nname = \"x\"\nport = 70000\n"),
    "t.toml:11:8: invalid value: integer `70000`, expected u16"
);

rejects!(
    path_without_slash,
    hb("[[backend]]\nname = \"x\"\npath = \"mcp\"\n"),
    "t.toml:11:8: path \"mcp\" must start with `/`"
);

rejects!(
    unknown_auth_type,
    hb("[[backend]]\nname = \"x\"\nauth = { type = \"basic\" }\n"),
    "t.toml:11:17: invalid auth type \"basic\": expected one of bearer, header"
);

rejects!(
    auth_missing_token,
    hb("[[backend]]\nname = \"x\"\nauth = { type = \"bearer\" }\n"),
    "t.toml:11:17: auth type `bearer` needs `token`"
);

rejects!(
    auth_key_not_used_by_type,
    hb("[[backend]]\nname = \"x\"\nauth = { type = \"bearer\", token = \"t\", name = \"X\" }\n"),
    "t.toml:11:40: key `name` is not used by auth type `bearer`"
);

rejects!(
    auth_empty_token,
    hb("[[backend]]\nname = \"x\"\nauth = { type = \"bearer\", token = \"\" }\n"),
    "t.toml:11:35: auth token must not be empty"
);

rejects!(
    auth_bad_header_name,
    hb(
        "[[backend]]\nname = \"x\"\nauth = { type = \"header\", name = \"X Key\", value = \"v\" }\n"
    ),
    "t.toml:11:34: invalid header name \"X Key\": use letters, digits and !#$%&'*+-.^_`|~"
);

rejects!(
    auth_bad_header_value,
    hb(
        "[[backend]]\nname = \"x\"\nauth = { type = \"header\", name = \"X\", value = \"a\\nb\" }\n"
    ),
    "t.toml:11:47: auth value must be visible ASCII (it is sent in an HTTP header), without \
     leading or trailing spaces"
);

// ---------------------------------------------------------------------------------------------
// Events

rejects!(
    unknown_action,
    hb("[[event]]\nat = \"1s\"\naction = \"explode\"\n"),
    "t.toml:11:10: invalid action \"explode\": expected one of replace_pod, set_behaviour, \
     crash_pod, restart_pod, crash_vmcp, restart_vmcp, partition, repair, hold, release, \
     latency, registry_add, registry_remove, registry_change_url, registry_change_auth, set_pod_auth"
);

rejects!(
    key_not_used_by_action,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"crash_pod\"\nbackend = \"github\"\n\
        stale_behaviour = \"hang\"\n"
    ),
    "t.toml:13:1: key `stale_behaviour` is not used by action `crash_pod`"
);

rejects!(
    backend_not_used_by_vmcp_action,
    hb("[[event]]\nat = \"1s\"\naction = \"crash_vmcp\"\nbackend = \"github\"\n"),
    "t.toml:12:1: key `backend` is not used by action `crash_vmcp`"
);

rejects!(
    first_unused_key_in_file_order_is_reported,
    hb(
        "[[event]]\nat = \"1s\"\nurl = \"http://jira\"\naction = \"hold\"\n\
        latency = \"1s\"\nbackend = \"github\"\n"
    ),
    "t.toml:11:1: key `url` is not used by action `hold`"
);

rejects!(
    event_at_the_end,
    hb("[[event]]\nat = \"3m\"\naction = \"crash_vmcp\"\n"),
    "t.toml:10:6: event at 3m is at or after the end of the run (duration = 3m)"
);

rejects!(
    event_after_the_end,
    hb("[[event]]\nat = \"1h\"\naction = \"crash_vmcp\"\n"),
    "t.toml:10:6: event at 1h is at or after the end of the run (duration = 3m)"
);

rejects!(
    event_undeclared_backend,
    hb("[[event]]\nat = \"1s\"\naction = \"crash_pod\"\nbackend = \"gitlab\"\n"),
    "t.toml:12:11: undeclared backend \"gitlab\" (declared: github, jira)"
);

rejects!(
    event_undeclared_backend_when_none_declared,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\n\
     [[event]]\nat = \"1s\"\naction = \"crash_pod\"\nbackend = \"gitlab\"\n",
    "t.toml:8:11: undeclared backend \"gitlab\" (no backend is declared)"
);

rejects!(
    action_needs_backend,
    hb("[[event]]\nat = \"1s\"\naction = \"partition\"\n"),
    "t.toml:11:10: action `partition` needs `backend`"
);

rejects!(
    duplicate_event_id,
    hb(
        "[[event]]\nat = \"1s\"\nid = \"boom\"\naction = \"crash_vmcp\"\n\
        [[event]]\nat = \"2s\"\nid = \"boom\"\naction = \"restart_vmcp\"\n"
    ),
    "t.toml:15:6: duplicate event id \"boom\" (first defined at 11:6)"
);

rejects!(
    invalid_event_id,
    hb("[[event]]\nat = \"1s\"\nid = \"Boom!\"\naction = \"crash_vmcp\"\n"),
    "t.toml:11:6: invalid event id \"Boom!\": use lowercase letters, digits, `-` and `_` only"
);

rejects!(
    stale_old_pod_needs_stale_behaviour,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"replace_pod\"\nbackend = \"github\"\n\
        old_pod = \"stale\"\n"
    ),
    "t.toml:13:11: old_pod = \"stale\" needs `stale_behaviour` (how the old pod answers its \
     existing connections)"
);

rejects!(
    stale_behaviour_without_stale_old_pod,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"replace_pod\"\nbackend = \"github\"\n\
        stale_behaviour = { status = 404 }\n"
    ),
    "t.toml:13:1: key `stale_behaviour` is only used with old_pod = \"stale\", not \"terminate\""
);

rejects!(
    invalid_old_pod,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"replace_pod\"\nbackend = \"github\"\n\
        old_pod = \"zombie\"\n"
    ),
    "t.toml:13:11: invalid old_pod \"zombie\": expected one of terminate, stale, blackhole"
);

rejects!(
    set_behaviour_needs_behaviour,
    hb("[[event]]\nat = \"1s\"\naction = \"set_behaviour\"\nbackend = \"github\"\n"),
    "t.toml:11:10: action `set_behaviour` needs `behaviour`"
);

rejects!(
    set_behaviour_zero_for,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"set_behaviour\"\nbackend = \"github\"\n\
        behaviour = \"hang\"\nfor = \"0s\"\n"
    ),
    "t.toml:14:7: for (0s) must be greater than 0"
);

rejects!(
    latency_needs_latency,
    hb("[[event]]\nat = \"1s\"\naction = \"latency\"\nbackend = \"github\"\n"),
    "t.toml:11:10: action `latency` needs `latency`"
);

rejects!(
    registry_change_url_needs_url,
    hb("[[event]]\nat = \"1s\"\naction = \"registry_change_url\"\nbackend = \"github\"\n"),
    "t.toml:11:10: action `registry_change_url` needs `url`"
);

rejects!(
    url_host_not_a_declared_backend,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"registry_change_url\"\nbackend = \"github\"\n\
        url = \"http://gitlab:8080/mcp\"\n"
    ),
    "t.toml:13:7: url \"http://gitlab:8080/mcp\" names host \"gitlab\", which is not a declared \
     backend (declared: github, jira)"
);

rejects!(
    url_not_http,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"registry_change_url\"\nbackend = \"github\"\n\
        url = \"https://jira/mcp\"\n"
    ),
    "t.toml:13:7: url \"https://jira/mcp\" must start with `http://` (the simulated network \
     speaks plain HTTP)"
);

rejects!(
    url_bad_port,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"registry_change_url\"\nbackend = \"github\"\n\
        url = \"http://jira:http/mcp\"\n"
    ),
    "t.toml:13:7: url \"http://jira:http/mcp\" has an invalid port \"http\": use 1..=65535"
);

rejects!(
    url_with_user_info,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"registry_change_url\"\nbackend = \"github\"\n\
        url = \"http://u:p@jira/mcp\"\n"
    ),
    "t.toml:13:7: url \"http://u:p@jira/mcp\" must not contain user info: credentials go in the \
     backend's `auth`"
);

// ---------------------------------------------------------------------------------------------
// Expectations: kinds and keys

rejects!(
    unknown_kind,
    hb("[[expect]]\nkind = \"sometimes\"\n"),
    "t.toml:10:8: invalid kind \"sometimes\": expected one of eventually, always, never, \
     within, count, call_latency, tools, notified"
);

rejects!(
    key_not_used_by_kind,
    hb("[[expect]]\nkind = \"eventually\"\nby = \"1m\"\nto = \"2m\"\nphase = \"Ready\"\n"),
    "t.toml:12:1: key `to` is not used by kind `eventually`"
);

rejects!(
    condition_key_not_used_by_count,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"reports\"\nmin = 1\nstatus = \"healthy\"\n"),
    "t.toml:13:1: key `status` is not used by kind `count`"
);

rejects!(
    eventually_needs_by,
    hb("[[expect]]\nkind = \"eventually\"\nphase = \"Ready\"\n"),
    "t.toml:10:8: kind `eventually` needs `by`"
);

rejects!(
    within_needs_after,
    hb("[[expect]]\nkind = \"within\"\nwithin = \"1s\"\nphase = \"Ready\"\n"),
    "t.toml:10:8: kind `within` needs `after`"
);

rejects!(
    count_needs_counter,
    hb("[[expect]]\nkind = \"count\"\nmin = 1\n"),
    "t.toml:10:8: kind `count` needs `counter`"
);

rejects!(
    empty_expect_description,
    hb("[[expect]]\nkind = \"always\"\nphase = \"Ready\"\ndescription = \"\"\n"),
    "t.toml:12:15: description must not be empty"
);

// ---------------------------------------------------------------------------------------------
// Expectations: windows and references

rejects!(
    by_after_the_end,
    hb("[[expect]]\nkind = \"eventually\"\nby = \"5m\"\nphase = \"Ready\"\n"),
    "t.toml:11:6: by (5m) is after the end of the run (duration = 3m)"
);

rejects!(
    from_after_by,
    hb("[[expect]]\nkind = \"eventually\"\nfrom = \"2m\"\nby = \"1m\"\nphase = \"Ready\"\n"),
    "t.toml:11:8: from (2m) must not be after by (1m)"
);

rejects!(
    to_after_the_end,
    hb("[[expect]]\nkind = \"always\"\nto = \"4m\"\nphase = \"Ready\"\n"),
    "t.toml:11:6: to (4m) is after the end of the run (duration = 3m)"
);

rejects!(
    empty_window,
    hb("[[expect]]\nkind = \"never\"\nfrom = \"1m\"\nto = \"1m\"\nphase = \"Failed\"\n"),
    "t.toml:11:8: from (1m) must be before to (1m)"
);

rejects!(
    from_at_the_end_with_default_to,
    hb("[[expect]]\nkind = \"always\"\nfrom = \"3m\"\nphase = \"Ready\"\n"),
    "t.toml:11:8: from (3m) must be before the end of the run (duration = 3m)"
);

rejects!(
    within_unknown_event_id,
    hb(
        "[[event]]\nat = \"1s\"\nid = \"boom\"\naction = \"crash_vmcp\"\n\
        [[expect]]\nkind = \"within\"\nafter = \"bang\"\nwithin = \"5s\"\nphase = \"Ready\"\n"
    ),
    "t.toml:15:9: unknown event id \"bang\" in `after` (event ids: boom)"
);

rejects!(
    within_unknown_event_id_without_ids,
    hb("[[expect]]\nkind = \"within\"\nafter = \"bang\"\nwithin = \"5s\"\nphase = \"Ready\"\n"),
    "t.toml:11:9: unknown event id \"bang\" in `after` (no event has an id)"
);

rejects!(
    within_window_past_the_end,
    hb(
        "[[event]]\nat = \"2m\"\nid = \"boom\"\naction = \"crash_vmcp\"\n\
        [[expect]]\nkind = \"within\"\nafter = \"boom\"\nwithin = \"2m\"\nphase = \"Ready\"\n"
    ),
    "t.toml:16:10: within (2m) after event \"boom\" at 2m ends after the end of the run \
     (duration = 3m)"
);

rejects!(
    expect_undeclared_backend,
    hb("[[expect]]\nkind = \"always\"\nbackend = \"gitlab\"\npresent = true\n"),
    "t.toml:11:11: undeclared backend \"gitlab\" (declared: github, jira)"
);

// ---------------------------------------------------------------------------------------------
// Expectations: conditions

rejects!(
    condition_without_subject,
    hb("[[expect]]\nkind = \"eventually\"\nby = \"1m\"\nstatus = \"healthy\"\n"),
    "t.toml:12:1: condition `status` needs a subject: add `backend = \"<name>\"` (the backend \
     it is about)"
);

rejects!(
    subject_without_condition,
    hb("[[expect]]\nkind = \"eventually\"\nby = \"1m\"\nbackend = \"github\"\nphase = \"Ready\"\n"),
    "t.toml:12:1: `backend` is given but no condition is about it: add status, crd_status, \
     reason, circuit, category, message, url or present"
);

rejects!(
    no_condition_at_all,
    hb("[[expect]]\nkind = \"always\"\nfrom = \"1s\"\n"),
    "t.toml:10:8: kind `always` needs a condition: one or more of status, crd_status, reason, \
     circuit, category, message, url, present (with backend) or phase"
);

rejects!(
    absent_backend_with_a_status,
    hb(
        "[[expect]]\nkind = \"always\"\nbackend = \"github\"\npresent = false\n\
        reason = \"ok\"\n"
    ),
    "t.toml:13:1: condition `reason` cannot be combined with `present = false`: a backend \
     missing from the report has no reason"
);

rejects!(
    invalid_status,
    hb("[[expect]]\nkind = \"always\"\nbackend = \"github\"\nstatus = \"up\"\n"),
    "t.toml:12:10: invalid status \"up\": expected one of healthy, degraded, unhealthy, \
     unauthenticated, unknown"
);

rejects!(
    invalid_crd_status,
    hb("[[expect]]\nkind = \"always\"\nbackend = \"github\"\ncrd_status = \"healthy\"\n"),
    "t.toml:12:14: invalid crd_status \"healthy\": expected one of ready, degraded, \
     unavailable, unknown"
);

rejects!(
    invalid_reason,
    hb("[[expect]]\nkind = \"always\"\nbackend = \"github\"\nreason = \"half-open\"\n"),
    "t.toml:12:10: invalid reason \"half-open\": expected one of pending, ok, slow, recovering, \
     half_open, circuit_open, probe_failed"
);

rejects!(
    invalid_circuit,
    hb("[[expect]]\nkind = \"always\"\nbackend = \"github\"\ncircuit = \"half_open\"\n"),
    "t.toml:12:11: invalid circuit \"half_open\": expected one of closed, open, half-open"
);

rejects!(
    invalid_category,
    hb("[[expect]]\nkind = \"always\"\nbackend = \"github\"\ncategory = \"auth\"\n"),
    "t.toml:12:12: invalid category \"auth\": expected one of authentication_failed, timeout, \
     cancelled, backend_unavailable, connection_failed, protocol_error, tls, health_check_failed"
);

rejects!(
    invalid_phase,
    hb("[[expect]]\nkind = \"always\"\nphase = \"ready\"\n"),
    "t.toml:11:9: invalid phase \"ready\": expected one of Pending, Ready, Degraded, Failed"
);

// ---------------------------------------------------------------------------------------------
// Expectations: counts

rejects!(
    count_without_bounds,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"reports\"\n"),
    "t.toml:10:8: kind `count` needs `min`, `max` or `equals`"
);

rejects!(
    count_equals_with_min,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"reports\"\nmin = 1\nequals = 2\n"),
    "t.toml:13:1: `equals` cannot be combined with `min` or `max`"
);

rejects!(
    count_min_above_max,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"reports\"\nmin = 5\nmax = 3\n"),
    "t.toml:12:7: min (5) must not exceed max (3)"
);

rejects!(
    count_negative_bound,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"reports\"\nmax = -1\n"),
    "t.toml:12:7: invalid value: integer `-1`, expected u64"
);

rejects!(
    invalid_counter,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"requests\"\nmin = 1\n"),
    "t.toml:11:11: invalid counter \"requests\": expected one of probes, skips, connections, \
     reports, calls, pod_requests, list_changed, backend_sessions, client_sessions"
);

rejects!(
    counter_needs_backend,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"probes\"\nmin = 1\n"),
    "t.toml:11:11: counter `probes` needs `backend = \"<name>\"` (whose probes to count)"
);

rejects!(
    reports_counter_takes_no_backend,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"reports\"\nbackend = \"github\"\nmin = 1\n"),
    "t.toml:12:1: key `backend` is not used by counter `reports` (reports cover every backend)"
);

rejects!(
    counter_undeclared_backend,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"skips\"\nbackend = \"gitlab\"\nmax = 0\n"),
    "t.toml:12:11: undeclared backend \"gitlab\" (declared: github, jira)"
);

rejects!(
    count_window_past_the_end,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"reports\"\nmin = 1\nto = \"10m\"\n"),
    "t.toml:13:6: to (10m) is after the end of the run (duration = 3m)"
);

// ---------------------------------------------------------------------------------------------
// Positions

rejects!(
    columns_count_characters_after_multibyte_text,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\n\
     [[backend]]\nname = \"github\"\n[[expect]]\nkind = \"always\"\n\
     description = \"ünïcödé\"\nbackend = \"github\"\nstatus = \"up\"\n",
    "t.toml:11:10: invalid status \"up\": expected one of healthy, degraded, unhealthy, \
     unauthenticated, unknown"
);

rejects!(
    same_line_inline_table_key_position,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\n\
     event = [{ at = \"1s\", action = \"crash_vmcp\", backend = \"github\" }]\n\
     [[backend]]\nname = \"github\"\n",
    "t.toml:5:46: key `backend` is not used by action `crash_vmcp`"
);

rejects!(
    crlf_line_endings,
    "name = \"t\"\r\ndescription = \"d\"\r\nseed = 1\r\nduration = \"0s\"\r\n",
    "t.toml:4:12: duration (0s) must be greater than 0"
);

rejects!(
    max_latency_below_min_latency,
    format!("min_latency = \"20ms\"\nmax_latency = \"5ms\"\n{HB}"),
    "t.toml:2:15: max_latency (5ms) must not be less than min_latency (20ms)"
);
rejects!(
    min_latency_without_max_latency,
    format!("min_latency = \"20ms\"\n{HB}"),
    "t.toml:1:15: min_latency and max_latency go together: set both"
);

#[test]
fn a_latency_range_is_parsed() {
    let text = format!("min_latency = \"1ms\"\nmax_latency = \"40ms\"\n{HB}");
    let scenario = Scenario::from_toml_str(&text, "t.toml").unwrap();
    let latency = scenario.latency.expect("a latency range");
    assert_eq!(latency.min, std::time::Duration::from_millis(1));
    assert_eq!(latency.max, std::time::Duration::from_millis(40));
}

rejects!(
    duration_beyond_a_day,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"25h\"\n",
    "t.toml:4:12: duration (25h) must be at most 24h"
);
rejects!(
    tick_too_small_for_the_duration,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"40s\"\ntick = \"1ns\"\n",
    "t.toml:5:8: tick (1ns) is too small for duration (40s): 40000000000 simulation steps, at most 5000000"
);
rejects!(
    latency_beyond_a_day,
    hb("[[event]]\nat = \"1s\"\naction = \"latency\"\nbackend = \"github\"\nlatency = \"100h\"\n"),
    "t.toml:13:11: latency (100h) must be at most 24h"
);

rejects!(
    change_url_of_an_unregistered_backend,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\n\
     [[backend]]\nname = \"github\"\n[[backend]]\nname = \"jira\"\nregistered = false\n\
     [[event]]\nat = \"5s\"\naction = \"registry_change_url\"\nbackend = \"jira\"\n\
     url = \"http://github:8080/mcp\"\n",
    "t.toml:10:1: registry_change_url at 5s: backend \"jira\" is not registered then (see its `registered` flag and the earlier registry events)"
);
rejects!(
    adding_a_registered_backend,
    hb("[[event]]\nat = \"5s\"\naction = \"registry_add\"\nbackend = \"github\"\n"),
    "t.toml:9:1: registry_add at 5s: backend \"github\" is already registered then (see its `registered` flag and the earlier registry events)"
);
rejects!(
    a_url_on_a_port_the_pods_do_not_listen_on,
    hb(
        "[[event]]\nat = \"5s\"\naction = \"registry_change_url\"\nbackend = \"jira\"\nurl = \"http://github/mcp\"\n"
    ),
    "t.toml:13:7: url \"http://github/mcp\" names port 80, but the pods of \"github\" listen on port 8080"
);

// ----- on = "state" / "reports", message, url, per-URL and per-pod counters ---------------------

rejects!(
    invalid_on,
    hb(
        "[[expect]]\nkind = \"never\"\non = \"trace\"\nbackend = \"github\"\nstatus = \"unhealthy\"\n"
    ),
    "t.toml:11:6: invalid on \"trace\": expected one of \"reports\" (published status reports, \
     the default) or \"state\" (the monitor's state as it changes)"
);

rejects!(
    phase_on_state,
    hb(
        "[[expect]]\nkind = \"never\"\non = \"state\"\nbackend = \"github\"\nstatus = \"unhealthy\"\nphase = \"Failed\"\n"
    ),
    "t.toml:14:1: condition `phase` is a property of published reports, not of the monitor's \
     state: use on = \"reports\" (the default)"
);

rejects!(
    url_on_state,
    hb(
        "[[expect]]\nkind = \"never\"\non = \"state\"\nbackend = \"github\"\nurl = \"http://github:8080/mcp\"\n"
    ),
    "t.toml:13:1: condition `url` is a property of published reports, not of the monitor's \
     state: use on = \"reports\" (the default)"
);

rejects!(
    on_for_count,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"reports\"\nmin = 1\non = \"state\"\n"),
    "t.toml:13:1: key `on` is not used by kind `count`"
);

rejects!(
    unregistered_url,
    hb("[[expect]]\nkind = \"always\"\nbackend = \"github\"\nurl = \"http://github/mcp\"\n"),
    "t.toml:12:7: url \"http://github/mcp\" is never registered in this scenario: expected one \
     of http://github:8080/mcp, http://jira:8080/mcp"
);

rejects!(
    empty_message,
    hb("[[expect]]\nkind = \"always\"\nbackend = \"github\"\nmessage = \"\"\n"),
    "t.toml:12:11: message must not be empty"
);

rejects!(
    pod_of_another_backend,
    hb(
        "[[expect]]\nkind = \"count\"\ncounter = \"connections\"\nbackend = \"github\"\npod = \"jira-pod-1\"\nequals = 1\n"
    ),
    "t.toml:13:7: pod \"jira-pod-1\" is not a pod of backend \"github\": it has 1 in this run \
     (github-pod-1 .. github-pod-1, one more per replace_pod)"
);

rejects!(
    pod_filter_on_probes,
    hb(
        "[[expect]]\nkind = \"count\"\ncounter = \"probes\"\nbackend = \"github\"\npod = \"github-pod-1\"\nequals = 1\n"
    ),
    "t.toml:13:1: key `pod` is not used by counter `probes` (a probe is not sent to one pod: \
     count `connections` per pod, or probes per `url`)"
);

rejects!(
    url_filter_on_connections,
    hb(
        "[[expect]]\nkind = \"count\"\ncounter = \"connections\"\nbackend = \"github\"\nurl = \"http://github:8080/mcp\"\nequals = 1\n"
    ),
    "t.toml:13:1: key `url` is not used by counter `connections` (connections are counted per \
     pod: use `pod`)"
);

// ---------------------------------------------------------------------------------------------
// `count` groups, the shared pod host, and the cost guard rails

rejects!(
    count_zero,
    hb("[[backend]]\nname = \"tool\"\ncount = 0\n"),
    "t.toml:11:9: count (0) must be between 1 and 10000"
);

rejects!(
    count_too_large,
    hb("[[backend]]\nname = \"tool\"\ncount = 10001\n"),
    "t.toml:11:9: count (10001) must be between 1 and 10000"
);

rejects!(
    count_with_own_host,
    hb("[[backend]]\nname = \"tool\"\ncount = 3\nshared_host = false\n"),
    "t.toml:12:1: a `count` group always runs in the shared pod host: drop `shared_host = false`, \
     or declare the backends one by one to give each a host of its own"
);

rejects!(
    group_name_clashes_with_a_backend,
    hb("[[backend]]\nname = \"github\"\ncount = 2\n"),
    "t.toml:10:8: duplicate backend name \"github\" (first declared at 6:8)"
);

rejects!(
    group_member_clashes_with_a_backend,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\n\
     [[backend]]\nname = \"tool-2\"\n[[backend]]\nname = \"tool\"\ncount = 3\n",
    "t.toml:8:8: duplicate backend name \"tool-2\" (first declared at 6:8)"
);

rejects!(
    group_member_names_too_long,
    hb(&format!(
        "[[backend]]\nname = \"{}\"\ncount = 100\n",
        "a".repeat(61)
    )),
    format!(
        "t.toml:10:8: group \"{0}\" with count = 100 gives member names like \"{0}-001\", which \
         are not valid backend names: keep the name at most 59 characters and not ending in `-pod`",
        "a".repeat(61)
    )
);

rejects!(
    host_fault_on_a_group,
    hb("[[backend]]\nname = \"tool\"\ncount = 3\n\
        [[event]]\nat = \"1s\"\naction = \"crash_pod\"\nbackend = \"tool\"\n"),
    "t.toml:15:11: action `crash_pod` needs a backend with a pod host of its own, but \"tool\" runs \
     in the shared pod host (`count` or `shared_host = true`): declare it as its own [[backend]]"
);

rejects!(
    link_fault_on_a_shared_backend,
    hb("[[backend]]\nname = \"one\"\nshared_host = true\n\
        [[event]]\nat = \"1s\"\naction = \"partition\"\nbackend = \"one\"\n"),
    "t.toml:15:11: action `partition` needs a backend with a pod host of its own, but \"one\" runs \
     in the shared pod host (`count` or `shared_host = true`): declare it as its own [[backend]]"
);

rejects!(
    too_many_backends,
    hb("[[backend]]\nname = \"a\"\ncount = 6000\n[[backend]]\nname = \"b\"\ncount = 5000\n"),
    "t.toml:13:8: too many backends: at most 10000 per scenario (the simulation's memory grows \
     with backends × duration)"
);

rejects!(
    too_many_own_hosts,
    {
        let mut text =
            "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\n".to_owned();
        for i in 0..40 {
            text.push_str(&format!("[[backend]]\nname = \"b{i}\"\n"));
        }
        text
    },
    // vmcp + 40 own hosts = 41: the 40th backend (b39, lines 83-84) is the first past the limit.
    "t.toml:83:1: this scenario needs 41 simulated hosts (vmcp, 40 backends with a pod host of \
     their own, 0 replacement pods), at most 40: the simulator's cost per step grows with the \
     cube of the host count. Put backends into the shared pod host (`count = <n>` or \
     `shared_host = true`)"
);

rejects!(
    too_many_probes,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"10h\"\n\
     [vmcp]\nhealth_check_interval = \"1s\"\nhealth_check_timeout = \"500ms\"\n\
     connect_timeout = \"500ms\"\n[[backend]]\nname = \"tool\"\ncount = 100\n",
    "t.toml:4:12: 100 backends probed every 1s for 10h make 3600100 probes, at most 2000000: \
     shorten the run, probe less often or use fewer backends"
);

rejects!(
    too_many_reported_entries,
    "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"1h\"\n\
     [vmcp]\nregistry_poll_interval = \"1s\"\n[[backend]]\nname = \"tool\"\ncount = 2000\n",
    "t.toml:4:12: 2000 backends in up to 3722 reports (one per registry_poll_interval 1s and \
     status_reporting_interval 30s over 1h) make 7444000 reported entries, at most 5000000 \
     (every report is kept for the expectations): shorten the run, lengthen the intervals or use \
     fewer backends"
);

#[test]
fn a_scenario_with_invalid_utf8_names_line_column_and_offset() {
    let dir = std::env::temp_dir().join(format!("vmcp-sim-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, b"name = \"x\"\n# caf\xe9\n").unwrap();
    let err = Scenario::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:2:6: invalid UTF-8 (byte offset 16); scenario files are UTF-8",
            path.display()
        )
    );
    // A FIFO is refused without being opened (opening it would block until a writer came).
    let fifo = dir.join("fifo.toml");
    let _ = std::fs::remove_file(&fifo);
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let err = Scenario::load(&fifo).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{} is a FIFO, not a regular file", fifo.display())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Clients, the front end's [server] / [aggregation], backend tools, auth events, client expectations

rejects!(
    client_name_invalid,
    hb("[[client]]\nname = \"Alice\"\n"),
    "t.toml:10:8: invalid client name \"Alice\": its host is `client-<name>`, so use 1 to 56 lowercase letters, digits and `-`, starting and ending with a letter or digit"
);

rejects!(
    client_name_duplicate,
    hb("[[client]]\nname = \"a\"\n[[client]]\nname = \"a\"\n"),
    "t.toml:12:8: duplicate client name \"a\" (first declared at 10:8)"
);

rejects!(
    client_unknown_key,
    hb("[[client]]\nname = \"a\"\nstrem = true\n"),
    "t.toml:11:1: unknown field `strem`, expected one of `name`, `start`, `stream`, `list_tools`, `relist_on_change`, `call_timeout`, `call`"
);

rejects!(
    client_start_after_end,
    hb("[[client]]\nname = \"a\"\nstart = \"3m\"\n"),
    "t.toml:11:9: start (3m) is at or after the end of the run (duration = 3m)"
);

rejects!(
    client_list_before_start,
    hb("[[client]]\nname = \"a\"\nstart = \"10s\"\nlist_tools = [\"5s\"]\n"),
    "t.toml:12:15: list_tools at 5s is before the client starts (start = 10s)"
);

rejects!(
    client_call_timeout_too_small,
    hb("[[client]]\nname = \"a\"\ncall_timeout = \"1ms\"\n"),
    "t.toml:11:16: call_timeout (1ms) must be at least 10ms"
);

rejects!(
    call_needs_schedule,
    hb("[[client]]\nname = \"a\"\n[[client.call]]\ntool = \"github_echo\"\n"),
    "t.toml:12:8: a call needs `at` (once) or `every` (periodic, with optional `from`/`to`)"
);

rejects!(
    call_at_and_every,
    hb(
        "[[client]]\nname = \"a\"\n[[client.call]]\ntool = \"github_echo\"\nat = \"1s\"\nevery = \"1s\"\n"
    ),
    "t.toml:13:1: a call has either `at` (once) or `every` (with optional `from`/`to`), not both"
);

rejects!(
    call_at_with_from,
    hb(
        "[[client]]\nname = \"a\"\n[[client.call]]\ntool = \"github_echo\"\nat = \"1s\"\nfrom = \"2s\"\n"
    ),
    "t.toml:14:1: key `from` is not used by a one-shot call (`at`); drop it or use `every`"
);

rejects!(
    call_every_too_small,
    hb("[[client]]\nname = \"a\"\n[[client.call]]\ntool = \"github_echo\"\nevery = \"1ms\"\n"),
    "t.toml:13:9: every (1ms) must be at least 10ms"
);

rejects!(
    call_from_after_to,
    hb(
        "[[client]]\nname = \"a\"\n[[client.call]]\ntool = \"github_echo\"\nevery = \"1s\"\nfrom = \"20s\"\nto = \"10s\"\n"
    ),
    "t.toml:14:8: from (20s) must be before to (10s)"
);

rejects!(
    call_empty_tool,
    hb("[[client]]\nname = \"a\"\n[[client.call]]\ntool = \"\"\nat = \"1s\"\n"),
    "t.toml:12:8: tool must not be empty"
);

rejects!(
    server_without_clients,
    hb("[server]\ncall_timeout = \"2s\"\n"),
    "t.toml:9:2: the front end runs only when the scenario has clients: [server] and [aggregation] need at least one [[client]]"
);

rejects!(
    server_unknown_key,
    hb("[server]\ncall_timout = \"2s\"\n[[client]]\nname = \"a\"\n"),
    "t.toml:10:1: unknown field `call_timout`, expected one of `listen`, `callTimeout`, `call_timeout`, `maxConcurrentCalls`, `max_concurrent_calls`, `sessionIdleTimeout`, `session_idle_timeout`, `maxSessions`, `max_sessions`, `callFailuresTripBreaker`, `call_failures_trip_breaker`, `listPageSize`, `list_page_size`, `maxConnections`, `max_connections`, `headerReadTimeout`, `header_read_timeout`, `writeTimeout`, `write_timeout`, `bodyReadTimeout`, `body_read_timeout`"
);

rejects!(
    server_bad_call_timeout,
    hb("[server]\ncall_timeout = \"1ms\"\n[[client]]\nname = \"a\"\n"),
    "t.toml:9:2: [server]: call_timeout (1ms) must be at least 10ms"
);

rejects!(
    aggregation_unknown_priority,
    hb(
        "[aggregation]\nconflict_resolution = \"priority\"\npriority = [\"nope\"]\n[[client]]\nname = \"a\"\n"
    ),
    "t.toml:9:2: aggregation.priority[0] (\"nope\") is not a configured backend"
);

rejects!(
    backend_tools_empty,
    hb("[[backend]]\nname = \"x\"\ntools = []\n"),
    "t.toml:11:9: tools must not be empty (leave the key out for the default tool `echo`)"
);

rejects!(
    backend_tool_invalid,
    hb("[[backend]]\nname = \"x\"\ntools = [\"a b\"]\n"),
    "t.toml:11:10: invalid tool name \"a b\": use 1 to 64 ASCII letters, digits, `_`, `-` or `.`"
);

rejects!(
    backend_tool_duplicate,
    hb("[[backend]]\nname = \"x\"\ntools = [\"a\", \"a\"]\n"),
    "t.toml:11:15: duplicate tool \"a\""
);

rejects!(
    backend_unknown_session_status,
    hb("[[backend]]\nname = \"x\"\nunknown_session_status = 410\n"),
    "t.toml:11:26: unknown_session_status (410) must be 404 (the spec) or 400 (what some SDKs answer)"
);

rejects!(
    event_auth_on_other_action,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"crash_pod\"\nbackend = \"github\"\nauth = { type = \"bearer\", token = \"t\" }\n"
    ),
    "t.toml:13:1: key `auth` is not used by action `crash_pod`"
);

rejects!(
    event_registry_change_auth_bad_type,
    hb(
        "[[event]]\nat = \"1s\"\naction = \"registry_change_auth\"\nbackend = \"github\"\nauth = { type = \"basic\", token = \"t\" }\n"
    ),
    "t.toml:13:17: invalid auth type \"basic\": expected one of bearer, header"
);

rejects!(
    expect_calls_without_clients,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"calls\"\nmin = 1\n"),
    "t.toml:10:8: client calls need a [[client]]: this scenario declares none"
);

rejects!(
    expect_calls_unknown_client,
    hb(
        "[[client]]\nname = \"a\"\n[[expect]]\nkind = \"count\"\ncounter = \"calls\"\nclient = \"b\"\nmin = 1\n"
    ),
    "t.toml:14:10: undeclared client \"b\" (declared: a)"
);

rejects!(
    expect_calls_bad_outcome,
    hb(
        "[[client]]\nname = \"a\"\n[[expect]]\nkind = \"count\"\ncounter = \"calls\"\noutcome = \"great\"\nmin = 1\n"
    ),
    "t.toml:14:11: invalid outcome \"great\": expected one of ok, tool_error, rpc_error, timeout, transport_error"
);

rejects!(
    expect_pod_requests_without_clients,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"pod_requests\"\nbackend = \"github\"\nmin = 1\n"),
    "t.toml:11:11: counter `pod_requests` needs a run with clients (pod requests are logged only then): add a [[client]]"
);

rejects!(
    expect_pod_requests_with_client_key,
    hb(
        "[[client]]\nname = \"a\"\n[[expect]]\nkind = \"count\"\ncounter = \"pod_requests\"\nbackend = \"github\"\nclient = \"a\"\nmin = 1\n"
    ),
    "t.toml:15:1: key `client` is not used by counter `pod_requests`"
);

rejects!(
    expect_list_changed_with_backend,
    hb(
        "[[client]]\nname = \"a\"\n[[expect]]\nkind = \"count\"\ncounter = \"list_changed\"\nbackend = \"github\"\nmin = 1\n"
    ),
    "t.toml:14:1: key `backend` is not used by counter `list_changed` (it is per client)"
);

rejects!(
    expect_tools_needs_lists,
    hb("[[client]]\nname = \"a\"\n[[expect]]\nkind = \"tools\"\nclient = \"a\"\nat = \"5s\"\n"),
    "t.toml:12:8: kind `tools` needs `contains`, `excludes` or `equals` (lists of tool names)"
);

rejects!(
    expect_tools_equals_number,
    hb(
        "[[client]]\nname = \"a\"\n[[expect]]\nkind = \"tools\"\nclient = \"a\"\nat = \"5s\"\nequals = 3\n"
    ),
    "t.toml:15:10: kind `tools` takes `equals = [\"name\", ...]` (the listed names), not a number"
);

rejects!(
    expect_tools_contains_and_excludes,
    hb(
        "[[client]]\nname = \"a\"\n[[expect]]\nkind = \"tools\"\nclient = \"a\"\nat = \"5s\"\ncontains = [\"x\"]\nexcludes = [\"x\"]\n"
    ),
    "t.toml:12:8: tool \"x\" is in both `contains` and `excludes`"
);

rejects!(
    expect_count_equals_list,
    hb("[[expect]]\nkind = \"count\"\ncounter = \"reports\"\nequals = [\"x\"]\n"),
    "t.toml:12:10: kind `count` takes `equals = <number>`"
);

rejects!(
    expect_call_latency_needs_max,
    hb("[[client]]\nname = \"a\"\n[[expect]]\nkind = \"call_latency\"\n"),
    "t.toml:12:8: kind `call_latency` needs `max_latency`"
);

rejects!(
    expect_notified_needs_trigger,
    hb(
        "[[client]]\nname = \"a\"\n[[expect]]\nkind = \"notified\"\nclient = \"a\"\nwithin = \"2s\"\n"
    ),
    "t.toml:12:8: kind `notified` needs a trigger: `after = \"<event id>\"`, or `backend` with a condition on its state (status, circuit, ...)"
);

rejects!(
    expect_notified_both_triggers,
    hb(
        "[[client]]\nname = \"a\"\n[[event]]\nat = \"1s\"\nid = \"x\"\naction = \"crash_vmcp\"\n[[expect]]\nkind = \"notified\"\nclient = \"a\"\nafter = \"x\"\nbackend = \"github\"\nstatus = \"healthy\"\nwithin = \"2s\"\n"
    ),
    "t.toml:18:1: kind `notified` is triggered by `after = \"<event id>\"` or by a state change (`backend` and a condition), not both"
);

#[test]
fn too_many_client_calls() {
    let mut text = hb("[[client]]\nname = \"a\"\n");
    for _ in 0..12 {
        text.push_str("[[client.call]]\ntool = \"t\"\nevery = \"10ms\"\n");
    }
    assert_eq!(
        error(&text),
        "t.toml:10:8: the clients make 216000 calls or more, at most 200000 per scenario: call \
         less often or shorten the schedules"
    );
}
