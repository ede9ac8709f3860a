//! The reference scenario (`fixtures/scenarios/full.toml`, every key, action and expectation
//! kind) parses into exactly the expected model, and the defaults are applied as documented.

use std::time::Duration;

use vmcp_core::config::{CircuitBreakerConfig, FailureHandling, PoolPolicy};
use vmcp_core::health::{CircuitState, CrdStatus, ErrorCategory, HealthReason, HealthStatus};
use vmcp_core::registry::{OutgoingAuth, Secret};
use vmcp_core::status::Phase;
use vmcp_sim::scenario::{
    BackendCondition, BackendSpec, Behaviour, Condition, CountBounds, Counter, EventAction,
    EventSpec, ExpectKind, Expectation, Location, Observed, OldPod, Scenario, SimUrl,
    SwarmSettings, Window,
};

const FULL: &str = "tests/fixtures/scenarios/full.toml";

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn at(line: usize, column: usize) -> Location {
    Location { line, column }
}

fn event(at_: Duration, id: Option<&str>, action: EventAction, line: usize) -> EventSpec {
    EventSpec {
        at: at_,
        id: id.map(str::to_owned),
        action,
        location: at(line, 1),
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

fn backend_condition(condition: BackendCondition) -> Condition {
    Condition {
        backend: Some(condition),
        phase: None,
    }
}

fn expect(kind: ExpectKind, line: usize) -> Expectation {
    Expectation {
        kind,
        on: Observed::Reports,
        description: None,
        location: at(line, 1),
    }
}

fn window(from: Duration, to: Duration) -> Window {
    Window { from, to }
}

fn expected_full() -> Scenario {
    let gh = || "github".to_owned();
    let jira = || "jira".to_owned();
    let slowpoke = || "slowpoke".to_owned();
    let run = s(180);
    Scenario {
        file: FULL.into(),
        name: "full-reference".into(),
        description: "Reference scenario exercising every key of the format".into(),
        seed: 42,
        duration: run,
        tick: Some(Duration::from_millis(2)),
        latency: None,
        reproduces_bug: Some("PR 4290: shared pool keeps stale keep-alive connections".into()),
        fixed_schedule: None,
        swarm: SwarmSettings::default(),
        frontend: Default::default(),
        clients: Vec::new(),
        vmcp: FailureHandling {
            health_check_interval: s(5),
            health_check_timeout: s(2),
            connect_timeout: s(1),
            registry_poll_interval: s(1),
            pool: PoolPolicy::Shared,
            circuit_breaker: CircuitBreakerConfig {
                enabled: true,
                failure_threshold: 3,
                timeout: s(20),
                ..CircuitBreakerConfig::default()
            },
            ..FailureHandling::default()
        },
        backends: vec![
            BackendSpec {
                tools: None,
                unknown_session_status: 404,
                name: gh(),
                port: 8080,
                path: "/mcp".into(),
                behaviour: Behaviour::Healthy,
                registered: true,
                auth: Some(OutgoingAuth::Bearer {
                    token: Secret::new("sim-token"),
                }),
                require_auth: true,
                shared_host: false,
                location: at(22, 1),
            },
            BackendSpec {
                tools: None,
                unknown_session_status: 404,
                name: jira(),
                port: 9090,
                path: "/rpc".into(),
                behaviour: Behaviour::StartingFor(s(20)),
                registered: true,
                auth: Some(OutgoingAuth::Header {
                    name: "X-API-Key".into(),
                    value: Secret::new("k"),
                }),
                require_auth: false,
                shared_host: false,
                location: at(28, 1),
            },
            BackendSpec {
                tools: None,
                unknown_session_status: 404,
                name: "late".into(),
                port: 8080,
                path: "/mcp".into(),
                behaviour: Behaviour::Status {
                    code: 503,
                    only_initialize: true,
                },
                registered: false,
                auth: None,
                require_auth: false,
                shared_host: false,
                location: at(35, 1),
            },
            BackendSpec {
                tools: None,
                unknown_session_status: 404,
                name: slowpoke(),
                port: 8080,
                path: "/mcp".into(),
                behaviour: Behaviour::Slow(s(6)),
                registered: true,
                auth: None,
                require_auth: false,
                shared_host: false,
                location: at(40, 1),
            },
        ],
        // Sorted by `at`; the two events at 10s keep their file order.
        events: vec![
            event(
                s(10),
                None,
                EventAction::SetBehaviour {
                    backend: jira(),
                    behaviour: Behaviour::Hang,
                    for_: Some(s(5)),
                },
                53,
            ),
            event(
                s(10),
                None,
                EventAction::SetBehaviour {
                    backend: slowpoke(),
                    behaviour: Behaviour::Close,
                    for_: None,
                },
                60,
            ),
            event(
                s(30),
                Some("replace"),
                EventAction::ReplacePod {
                    backend: gh(),
                    old_pod: OldPod::Stale(Behaviour::Status {
                        code: 404,
                        only_initialize: false,
                    }),
                    behaviour: Behaviour::Sse,
                },
                44,
            ),
            event(
                s(40),
                None,
                EventAction::ReplacePod {
                    backend: jira(),
                    old_pod: OldPod::Blackhole,
                    behaviour: Behaviour::Healthy,
                },
                66,
            ),
            event(
                s(41),
                None,
                EventAction::ReplacePod {
                    backend: slowpoke(),
                    old_pod: OldPod::Terminate,
                    behaviour: Behaviour::LegacySse,
                },
                72,
            ),
            event(
                s(50),
                Some("crash"),
                EventAction::CrashPod { backend: gh() },
                78,
            ),
            event(s(55), None, EventAction::RestartPod { backend: gh() }, 84),
            event(s(60), None, EventAction::CrashVmcp, 89),
            event(s(65), Some("vmcp-back"), EventAction::RestartVmcp, 93),
            event(s(70), None, EventAction::Partition { backend: jira() }, 98),
            event(s(75), None, EventAction::Repair { backend: jira() }, 103),
            event(s(80), None, EventAction::Hold { backend: gh() }, 108),
            event(s(85), None, EventAction::Release { backend: gh() }, 113),
            event(
                s(90),
                None,
                EventAction::Latency {
                    backend: jira(),
                    latency: Duration::from_millis(200),
                },
                118,
            ),
            event(
                s(95),
                None,
                EventAction::Latency {
                    backend: jira(),
                    latency: Duration::ZERO,
                },
                124,
            ),
            event(
                s(100),
                Some("add_late"),
                EventAction::RegistryAdd {
                    backend: "late".into(),
                },
                130,
            ),
            event(
                s(110),
                None,
                EventAction::RegistryRemove {
                    backend: slowpoke(),
                },
                136,
            ),
            event(
                s(120),
                None,
                EventAction::RegistryChangeUrl {
                    backend: jira(),
                    url: SimUrl {
                        url: "http://late:8080/mcp".into(),
                        host: "late".into(),
                        port: 8080,
                        path: "/mcp".into(),
                    },
                },
                141,
            ),
            event(
                s(121),
                None,
                EventAction::SetBehaviour {
                    backend: gh(),
                    behaviour: Behaviour::ForgetSessions,
                    for_: None,
                },
                147,
            ),
            event(
                s(122),
                None,
                EventAction::SetBehaviour {
                    backend: gh(),
                    behaviour: Behaviour::Refuse,
                    for_: None,
                },
                153,
            ),
        ],
        expects: vec![
            Expectation {
                on: Observed::Reports,
                kind: ExpectKind::Eventually {
                    window: window(Duration::ZERO, s(25)),
                    condition: backend_condition(BackendCondition {
                        present: Some(true),
                        status: Some(HealthStatus::Healthy),
                        crd_status: Some(CrdStatus::Ready),
                        reason: Some(HealthReason::Ok),
                        circuit: Some(CircuitState::Closed),
                        ..on("github")
                    }),
                },
                description: Some("github comes up before the replacement".into()),
                location: at(159, 1),
            },
            expect(
                ExpectKind::Eventually {
                    window: window(s(30), run),
                    condition: Condition {
                        backend: None,
                        phase: Some(Phase::Degraded),
                    },
                },
                170,
            ),
            expect(
                ExpectKind::Always {
                    window: window(s(1), s(29)),
                    condition: backend_condition(BackendCondition {
                        present: Some(true),
                        ..on("jira")
                    }),
                },
                176,
            ),
            expect(
                ExpectKind::Always {
                    window: window(Duration::ZERO, run),
                    condition: backend_condition(BackendCondition {
                        present: Some(true),
                        ..on("github")
                    }),
                },
                183,
            ),
            expect(
                ExpectKind::Never {
                    window: window(s(30), run),
                    condition: backend_condition(BackendCondition {
                        status: Some(HealthStatus::Unauthenticated),
                        category: Some(ErrorCategory::AuthenticationFailed),
                        ..on("github")
                    }),
                },
                188,
            ),
            expect(
                ExpectKind::Within {
                    after: "replace".into(),
                    window: window(s(30), s(32)),
                    condition: backend_condition(BackendCondition {
                        reason: Some(HealthReason::Recovering),
                        circuit: Some(CircuitState::HalfOpen),
                        ..on("github")
                    }),
                },
                195,
            ),
            expect(
                ExpectKind::Within {
                    after: "add_late".into(),
                    window: window(s(100), s(110)),
                    condition: Condition {
                        backend: Some(BackendCondition {
                            present: Some(true),
                            ..on("late")
                        }),
                        phase: Some(Phase::Degraded),
                    },
                },
                203,
            ),
            expect(
                ExpectKind::Eventually {
                    window: window(Duration::ZERO, s(20)),
                    condition: backend_condition(BackendCondition {
                        present: Some(false),
                        ..on("late")
                    }),
                },
                211,
            ),
            expect(
                ExpectKind::Count {
                    counter: Counter::Probes {
                        backend: gh(),
                        url: None,
                    },
                    window: window(Duration::ZERO, run),
                    bounds: CountBounds {
                        min: Some(3),
                        max: Some(40),
                    },
                },
                217,
            ),
            expect(
                ExpectKind::Count {
                    counter: Counter::Skips {
                        backend: jira(),
                        url: None,
                    },
                    window: window(s(70), s(80)),
                    bounds: CountBounds {
                        min: Some(0),
                        max: Some(0),
                    },
                },
                224,
            ),
            expect(
                ExpectKind::Count {
                    counter: Counter::Connections {
                        backend: slowpoke(),
                        pod: None,
                    },
                    window: window(Duration::ZERO, run),
                    bounds: CountBounds {
                        min: None,
                        max: Some(10),
                    },
                },
                232,
            ),
            expect(
                ExpectKind::Count {
                    counter: Counter::Reports,
                    window: window(Duration::ZERO, run),
                    bounds: CountBounds {
                        min: Some(1),
                        max: None,
                    },
                },
                238,
            ),
        ],
    }
}

#[test]
fn the_reference_scenario_parses_into_the_expected_model() {
    let scenario = Scenario::load(FULL).unwrap();
    let expected = expected_full();
    // Field by field first, for a readable diff when one part is wrong.
    assert_eq!(scenario.vmcp, expected.vmcp);
    assert_eq!(scenario.backends, expected.backends);
    for (got, want) in scenario.events.iter().zip(&expected.events) {
        assert_eq!(got, want);
    }
    assert_eq!(scenario.events.len(), expected.events.len());
    for (got, want) in scenario.expects.iter().zip(&expected.expects) {
        assert_eq!(got, want);
    }
    assert_eq!(scenario.expects.len(), expected.expects.len());
    assert_eq!(scenario, expected);
}

#[test]
fn every_action_and_every_kind_is_covered_by_the_reference() {
    let scenario = Scenario::load(FULL).unwrap();
    let mut actions: Vec<&str> = scenario.events.iter().map(|e| e.action.name()).collect();
    actions.sort_unstable();
    actions.dedup();
    assert_eq!(
        actions,
        [
            "crash_pod",
            "crash_vmcp",
            "hold",
            "latency",
            "partition",
            "registry_add",
            "registry_change_url",
            "registry_remove",
            "release",
            "repair",
            "replace_pod",
            "restart_pod",
            "restart_vmcp",
            "set_behaviour"
        ]
    );
    let mut kinds: Vec<&str> = scenario.expects.iter().map(|e| e.kind.name()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    assert_eq!(kinds, ["always", "count", "eventually", "never", "within"]);
    let mut counters: Vec<&str> = scenario
        .expects
        .iter()
        .filter_map(|e| match &e.kind {
            ExpectKind::Count { counter, .. } => Some(counter.name()),
            _ => None,
        })
        .collect();
    counters.sort_unstable();
    assert_eq!(counters, ["connections", "probes", "reports", "skips"]);
}

#[test]
fn helpers_find_backends_events_and_positions() {
    let scenario = Scenario::load(FULL).unwrap();
    let jira = scenario.backend("jira").unwrap();
    assert_eq!(jira.url(), "http://jira:9090/rpc");
    let registry = jira.registry_backend();
    assert_eq!(registry.name, "jira");
    assert_eq!(registry.url, "http://jira:9090/rpc");
    assert_eq!(registry.auth, jira.auth);
    assert!(scenario.backend("nope").is_none());
    assert_eq!(scenario.event("crash").unwrap().at, s(50));
    assert!(scenario.event("nope").is_none());
    assert_eq!(
        scenario.position(scenario.expects[5].location),
        "tests/fixtures/scenarios/full.toml:195:1"
    );
    assert_eq!(scenario.events[2].action.backend(), Some("github"));
    assert_eq!(EventAction::CrashVmcp.backend(), None);
}

#[test]
fn a_minimal_scenario_takes_every_default() {
    let text = "name = \"minimal\"\ndescription = \"d\"\nseed = 0\nduration = \"1m\"\n\
                [[backend]]\nname = \"b\"\n";
    let scenario = Scenario::from_toml_str(text, "minimal.toml").unwrap();
    assert_eq!(scenario.file, "minimal.toml");
    assert_eq!(scenario.tick, None);
    assert_eq!(scenario.reproduces_bug, None);
    assert_eq!(scenario.vmcp, FailureHandling::default());
    assert_eq!(
        scenario.backends,
        [BackendSpec {
            tools: None,
            unknown_session_status: 404,
            name: "b".into(),
            port: 8080,
            path: "/mcp".into(),
            behaviour: Behaviour::Healthy,
            registered: true,
            auth: None,
            require_auth: false,
            shared_host: false,
            location: at(5, 1),
        }]
    );
    assert!(scenario.events.is_empty());
    assert!(scenario.expects.is_empty());
}

#[test]
fn vmcp_keys_accept_toolhive_camel_case_and_url_defaults_apply() {
    let text = "name = \"x\"\ndescription = \"d\"\nseed = 1\nduration = \"1m\"\n\
                [vmcp]\nhealthCheckInterval = \"20s\"\n\
                [[backend]]\nname = \"a\"\n[[backend]]\nname = \"b\"\nport = 80\n\
                [[event]]\nat = \"1s\"\naction = \"registry_change_url\"\nbackend = \"a\"\n\
                url = \"http://b\"\n";
    let scenario = Scenario::from_toml_str(text, "x.toml").unwrap();
    assert_eq!(scenario.vmcp.health_check_interval, s(20));
    assert_eq!(
        scenario.events[0].action,
        EventAction::RegistryChangeUrl {
            backend: "a".into(),
            url: SimUrl {
                url: "http://b".into(),
                host: "b".into(),
                port: 80,
                path: "/".into(),
            },
        }
    );
}

#[test]
fn inline_array_tables_work_like_array_of_tables_headers() {
    let text = "name = \"x\"\ndescription = \"d\"\nseed = 1\nduration = \"1m\"\n\
                backend = [{ name = \"a\" }]\n\
                event = [{ at = \"1s\", action = \"crash_vmcp\" }]\n";
    let scenario = Scenario::from_toml_str(text, "x.toml").unwrap();
    assert_eq!(scenario.backends[0].location, at(5, 12));
    assert_eq!(scenario.events[0].location, at(6, 10));
}

#[test]
fn a_count_group_declares_members_in_the_shared_host_and_expands_references() {
    let text = "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"3m\"\n\
                [[backend]]\nname = \"own\"\n\
                [[backend]]\nname = \"tool\"\ncount = 12\nbehaviour = { status = 503 }\n\
                [[event]]\nat = \"1m\"\nid = \"fix\"\naction = \"set_behaviour\"\nbackend = \"tool\"\n\
                behaviour = \"healthy\"\n\
                [[expect]]\nkind = \"within\"\nafter = \"fix\"\nwithin = \"20s\"\nbackend = \"tool\"\n\
                status = \"healthy\"\n\
                [[expect]]\nkind = \"count\"\ncounter = \"probes\"\nbackend = \"tool\"\nmin = 1\n";
    let s = Scenario::from_toml_str(text, "t.toml").unwrap();
    let names: Vec<&str> = s.backends.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names.len(), 13);
    assert_eq!(&names[..3], ["own", "tool-01", "tool-02"]);
    assert_eq!(names[12], "tool-12");
    assert!(!s.backends[0].shared_host);
    assert!(s.backends[1..].iter().all(|b| b.shared_host));
    assert!(s.backends[1..].iter().all(|b| b.behaviour
        == Behaviour::Status {
            code: 503,
            only_initialize: false
        }));
    // One event and two expectations per member, in member order, at the group's location.
    assert_eq!(s.events.len(), 12);
    assert_eq!(s.events[11].action.backend(), Some("tool-12"));
    assert_eq!(s.events[0].id.as_deref(), Some("fix"));
    assert_eq!(s.expects.len(), 24);
    assert_eq!(s.expects[0].location, s.expects[11].location);
    assert!(matches!(
        &s.expects[23].kind,
        ExpectKind::Count { counter: Counter::Probes { backend, .. }, .. } if backend == "tool-12"
    ));
}
