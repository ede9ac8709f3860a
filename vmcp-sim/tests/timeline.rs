//! The timeline picture (DESIGN §4.7): a hand-built trace checked structurally (parsed as XML:
//! lanes, spans, marks, faults, reports and the failed expectation's window where the axis says),
//! compact lanes and bounded output for big runs, determinism, and snapshots of the SVG of two
//! library scenarios.

use std::path::Path;
use std::time::Duration;

use roxmltree::{Document, Node};
use vmcp_core::clock::Timestamp;
use vmcp_core::health::{CircuitState, ErrorCategory, HealthReason, HealthStatus};
use vmcp_core::status::{DiscoveredBackend, Phase, StatusReport};
use vmcp_sim::runner::{self, ExpectationFailure};
use vmcp_sim::scenario::Scenario;
use vmcp_sim::timeline::{FULL_LANES_UP_TO, Picture, render_html, render_svg};
use vmcp_sim::trace::{TimedReport, Trace, TraceEntry, TraceEvent};

fn at(ms: u64, event: TraceEvent) -> TraceEntry {
    TraceEntry { at_ms: ms, event }
}

fn status(
    backend: &str,
    from: (HealthStatus, HealthReason),
    to: (HealthStatus, HealthReason),
) -> TraceEvent {
    TraceEvent::Status {
        backend: backend.into(),
        from: from.0,
        from_reason: from.1,
        to: to.0,
        to_reason: to.1,
    }
}

fn probe(
    backend: &str,
    start: u64,
    latency: u64,
    failed: Option<ErrorCategory>,
) -> [TraceEntry; 2] {
    [
        at(
            start,
            TraceEvent::ProbeStarted {
                backend: backend.into(),
                generation: 0,
            },
        ),
        at(
            start + latency,
            TraceEvent::ProbeFinished {
                backend: backend.into(),
                ok: failed.is_none(),
                latency_ms: latency,
                category: failed,
                message: failed.map(|_| "initialize: backend unavailable: HTTP 503".into()),
                failure: failed.map(|_| vmcp_core::health::FailureStatus::Unhealthy),
                latency: Duration::from_millis(latency),
            },
        ),
    ]
}

fn connection(backend: &str, ms: u64, pod: Option<&str>, outcome: &str) -> TraceEntry {
    at(
        ms,
        TraceEvent::Connection {
            service: backend.into(),
            pod: pod.map(Into::into),
            outcome: outcome.into(),
        },
    )
}

const HEALTHY: (HealthStatus, HealthReason) = (HealthStatus::Healthy, HealthReason::Ok);
const PENDING: (HealthStatus, HealthReason) = (HealthStatus::Unknown, HealthReason::Pending);
const OPEN: (HealthStatus, HealthReason) = (HealthStatus::Unhealthy, HealthReason::CircuitOpen);
const HALF_OPEN: (HealthStatus, HealthReason) = (HealthStatus::Degraded, HealthReason::HalfOpen);

/// Two backends over 60 s. `a`: healthy at 0.1 s; fails from 20 s (fault), circuit open and
/// unhealthy at 30.05 s, one skip at 40 s, half-open at 45 s, healthy again at 50.1 s; its
/// connections move from pod 1 to pod 2 at 50 s, one connection attempt finds no endpoint.
/// `b`: healthy throughout.
fn known_trace() -> Trace {
    let unavailable = Some(ErrorCategory::BackendUnavailable);
    let mut entries = vec![
        at(0, TraceEvent::VmcpStarted),
        at(
            0,
            TraceEvent::BackendAdded {
                backend: "a".into(),
            },
        ),
        at(
            0,
            TraceEvent::BackendAdded {
                backend: "b".into(),
            },
        ),
    ];
    entries.extend(probe("a", 0, 100, None));
    entries.push(connection("a", 20, Some("a-pod-1"), "opened"));
    entries.push(at(100, status("a", PENDING, HEALTHY)));
    entries.extend(probe("b", 0, 120, None));
    entries.push(at(120, status("b", PENDING, HEALTHY)));
    entries.push(at(
        20_000,
        TraceEvent::Fault {
            action: "set_behaviour".into(),
            detail: "a: a-pod-1 status 503".into(),
        },
    ));
    entries.extend(probe("a", 20_000, 50, unavailable));
    entries.extend(probe("a", 25_000, 50, unavailable));
    entries.extend(probe("a", 30_000, 50, unavailable));
    entries.push(at(
        30_050,
        TraceEvent::Circuit {
            backend: "a".into(),
            from: CircuitState::Closed,
            to: CircuitState::Open,
        },
    ));
    entries.push(at(30_050, status("a", HEALTHY, OPEN)));
    entries.push(connection("a", 35_000, None, "no_endpoints"));
    entries.push(at(
        40_000,
        TraceEvent::ProbeSkipped {
            backend: "a".into(),
            circuit: CircuitState::Open,
        },
    ));
    entries.push(at(
        45_000,
        TraceEvent::Circuit {
            backend: "a".into(),
            from: CircuitState::Open,
            to: CircuitState::HalfOpen,
        },
    ));
    entries.push(at(45_000, status("a", OPEN, HALF_OPEN)));
    entries.push(at(
        50_000,
        TraceEvent::Fault {
            action: "replace_pod".into(),
            detail: "a: a-pod-1 -> a-pod-2".into(),
        },
    ));
    entries.extend(probe("a", 50_000, 100, None));
    entries.push(connection("a", 50_020, Some("a-pod-2"), "opened"));
    entries.push(at(
        50_100,
        TraceEvent::Circuit {
            backend: "a".into(),
            from: CircuitState::HalfOpen,
            to: CircuitState::Closed,
        },
    ));
    entries.push(at(50_100, status("a", HALF_OPEN, HEALTHY)));
    entries.sort_by_key(|e| e.at_ms);
    Trace { entries }
}

fn line(
    name: &str,
    (health, reason): (HealthStatus, HealthReason),
    circuit: CircuitState,
) -> DiscoveredBackend {
    DiscoveredBackend {
        name: name.into(),
        url: format!("http://{name}:8080/mcp"),
        status: health.crd(),
        health,
        reason,
        message: String::new(),
        last_health_check: None,
        consecutive_failures: 0,
        circuit_breaker_state: circuit,
        circuit_last_changed: None,
        error_category: (health != HealthStatus::Healthy)
            .then_some(ErrorCategory::BackendUnavailable),
    }
}

fn report(ms: u64, phase: Phase, backends: Vec<DiscoveredBackend>) -> TimedReport {
    TimedReport {
        at: Duration::from_millis(ms),
        report: StatusReport {
            phase,
            message: format!("{phase} at {ms}"),
            observed_at: Timestamp::from_unix_millis(ms),
            backend_count: 0,
            conditions: Vec::new(),
            discovered_backends: backends,
        },
    }
}

fn known_reports() -> Vec<TimedReport> {
    vec![
        report(
            200,
            Phase::Ready,
            vec![
                line("a", HEALTHY, CircuitState::Closed),
                line("b", HEALTHY, CircuitState::Closed),
            ],
        ),
        report(
            31_050,
            Phase::Degraded,
            vec![
                line("a", OPEN, CircuitState::Open),
                line("b", HEALTHY, CircuitState::Closed),
            ],
        ),
        report(
            51_100,
            Phase::Ready,
            vec![
                line("a", HEALTHY, CircuitState::Closed),
                line("b", HEALTHY, CircuitState::Closed),
            ],
        ),
    ]
}

fn known_failures() -> Vec<ExpectationFailure> {
    vec![ExpectationFailure {
        location: "t.toml:9:1".into(),
        kind: "always",
        description: Some("a stays healthy through the fault".into()),
        message: "expected always in [30s, 40s]: backend = \"a\", status = \"healthy\"; broken"
            .into(),
        window_ms: (30_000, 40_000),
        backend: Some("a".into()),
    }]
}

fn picture<'a>(
    trace: &'a Trace,
    reports: &'a [TimedReport],
    failures: &'a [ExpectationFailure],
) -> Picture<'a> {
    Picture {
        scenario: "known",
        file: "t.toml",
        seed: 7,
        end_ms: 60_000,
        trace,
        reports,
        failures,
        reproduce: "vmcp-sim run t.toml --seed 7".into(),
    }
}

fn has_class(node: &Node<'_, '_>, class: &str) -> bool {
    node.attribute("class")
        .is_some_and(|c| c.split_whitespace().any(|c| c == class))
}

fn with_class<'a, 'i>(root: Node<'a, 'i>, class: &str) -> Vec<Node<'a, 'i>> {
    root.descendants().filter(|n| has_class(n, class)).collect()
}

fn num(node: &Node<'_, '_>, attribute: &str) -> f64 {
    node.attribute(attribute)
        .unwrap_or_else(|| panic!("no {attribute} on {node:?}"))
        .parse()
        .unwrap_or_else(|e| panic!("{attribute} on {node:?}: {e}"))
}

fn title(node: &Node<'_, '_>) -> String {
    node.children()
        .find(|c| c.has_tag_name("title"))
        .and_then(|t| t.text())
        .unwrap_or_default()
        .to_owned()
}

/// The x of the axis tick labelled `label` (e.g. `30s`).
fn tick_x(doc: &Document<'_>, label: &str) -> f64 {
    let axis = with_class(doc.root(), "axis").remove(0);
    let text = axis
        .descendants()
        .find(|n| n.has_tag_name("text") && n.text() == Some(label))
        .unwrap_or_else(|| panic!("no tick {label}"));
    num(&text, "x")
}

#[test]
fn the_known_trace_has_its_lanes_spans_marks_and_failed_window() {
    let (trace, reports, failures) = (known_trace(), known_reports(), known_failures());
    let svg = render_svg(&picture(&trace, &reports, &failures));
    let doc = Document::parse(&svg).expect("the SVG is well-formed XML");
    let root = doc.root();

    let lanes = with_class(root, "backend-lane");
    let names: Vec<_> = lanes
        .iter()
        .map(|l| l.attribute("data-backend").unwrap())
        .collect();
    assert_eq!(names, ["a", "b"], "one lane per backend, sorted");
    let a = lanes[0];

    // Status spans of `a`, in order, with their times.
    let spans: Vec<(String, u64, u64)> = with_class(a, "status")
        .iter()
        .map(|s| {
            (
                s.attribute("class").unwrap().to_owned(),
                num(s, "data-from-ms") as u64,
                num(s, "data-to-ms") as u64,
            )
        })
        .collect();
    assert_eq!(
        spans,
        [
            ("status s-unknown".to_owned(), 0, 100),
            ("status s-healthy".to_owned(), 100, 30_050),
            ("status s-unhealthy".to_owned(), 30_050, 45_000),
            ("status s-degraded".to_owned(), 45_000, 50_100),
            ("status s-healthy".to_owned(), 50_100, 60_000),
        ]
    );
    let circuit: Vec<(String, u64)> = with_class(a, "circuit")
        .iter()
        .map(|s| {
            (
                s.attribute("class").unwrap().to_owned(),
                num(s, "data-from-ms") as u64,
            )
        })
        .collect();
    assert_eq!(
        circuit,
        [
            ("circuit c-closed".to_owned(), 0),
            ("circuit c-open".to_owned(), 30_050),
            ("circuit c-half-open".to_owned(), 45_000),
            ("circuit c-closed".to_owned(), 50_100),
        ]
    );
    // Spans sit where the axis says.
    let open = with_class(a, "c-open")[0];
    assert!((num(&open, "x") - tick_x(&doc, "30s")).abs() < 1.0);

    // Probe marks: 2 ok, 3 failed (coloured by category), 1 skipped.
    assert_eq!(with_class(a, "ok").len(), 2);
    let failed = with_class(a, "failed");
    assert_eq!(failed.len(), 3);
    assert!(
        failed
            .iter()
            .all(|f| has_class(f, "cat-backend_unavailable"))
    );
    assert!(
        title(&failed[0]).contains("HTTP 503"),
        "{}",
        title(&failed[0])
    );
    assert_eq!(with_class(a, "skipped").len(), 1);
    assert_eq!(with_class(lanes[1], "probe").len(), 1);

    // Connections: which pod, and the one that did not open.
    let pods: Vec<_> = with_class(a, "opened")
        .iter()
        .map(|c| c.attribute("data-pod").unwrap())
        .collect();
    assert_eq!(pods, ["a-pod-1", "a-pod-2"]);
    let refused = with_class(a, "not-opened");
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].attribute("data-outcome"), Some("no_endpoints"));

    // The backend's status as each report published it.
    let reported: Vec<_> = with_class(a, "reported")
        .iter()
        .map(|r| r.attribute("data-health").unwrap())
        .collect();
    assert_eq!(reported, ["healthy", "unhealthy", "healthy"]);

    // Faults: labelled vertical markers at their instants.
    let faults = with_class(root, "fault");
    let actions: Vec<_> = faults
        .iter()
        .map(|f| f.attribute("data-action").unwrap())
        .collect();
    assert_eq!(actions, ["set_behaviour", "replace_pod"]);
    let line = faults[0]
        .children()
        .find(|c| c.has_tag_name("line"))
        .unwrap();
    assert!((num(&line, "x1") - tick_x(&doc, "20s")).abs() < 1.0);
    let label = faults[0]
        .children()
        .find(|c| c.has_tag_name("text"))
        .unwrap();
    assert!(
        label
            .text()
            .unwrap()
            .starts_with("set_behaviour a: a-pod-1")
    );

    // Reports: one dot each on the report lane, the phase and every backend's status on hover.
    let dots = with_class(root, "report");
    assert_eq!(dots.len(), 3);
    let phases: Vec<_> = dots
        .iter()
        .map(|d| d.attribute("data-phase").unwrap())
        .collect();
    assert_eq!(phases, ["Ready", "Degraded", "Ready"]);
    let hover = title(&dots[1]);
    assert!(hover.contains("phase Degraded"), "{hover}");
    assert!(
        hover.contains("a: unhealthy/circuit_open (unavailable), circuit open"),
        "{hover}"
    );
    assert!(
        hover.contains("b: healthy (ready), circuit closed"),
        "{hover}"
    );

    // The failed expectation: its window highlighted where the axis puts 30 s and 40 s, its
    // backend's lane outlined, description and file:line in the picture.
    let windows = with_class(root, "failure-window");
    assert_eq!(windows.len(), 1);
    let w = windows[0];
    assert_eq!(w.attribute("data-location"), Some("t.toml:9:1"));
    let band = with_class(w, "failure-band")[0];
    assert!((num(&band, "x") - tick_x(&doc, "30s")).abs() < 1.0);
    assert!((num(&band, "x") + num(&band, "width") - tick_x(&doc, "40s")).abs() < 1.0);
    assert_eq!(with_class(w, "failure-lane").len(), 1);
    assert!(title(&w).contains("a stays healthy through the fault"));
    let list: String = with_class(root, "failure-list")[0]
        .descendants()
        .filter_map(|n| n.text())
        .collect();
    assert!(list.contains("t.toml:9:1"), "{list}");
    assert!(list.contains("a stays healthy through the fault"), "{list}");
}

#[test]
fn the_page_is_self_contained_and_embeds_the_svg() {
    let (trace, reports, failures) = (known_trace(), known_reports(), known_failures());
    let p = picture(&trace, &reports, &failures);
    let html = render_html(&p);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(
        html.contains(&render_svg(&p)),
        "the SVG is inline, unchanged"
    );
    for external in ["src=", "href=", "url(", "@import", "<link", "@font-face"] {
        assert!(
            !html.contains(external),
            "the page references something: {external}"
        );
    }
    assert!(
        html.contains("vmcp-sim run t.toml --seed 7"),
        "the reproduction command"
    );
    assert!(html.contains("a stays healthy through the fault"));
}

#[test]
fn rendering_is_deterministic() {
    let (trace, reports, failures) = (known_trace(), known_reports(), known_failures());
    let first = render_html(&picture(&trace, &reports, &failures));
    let again = render_html(&picture(
        &known_trace(),
        &known_reports(),
        &known_failures(),
    ));
    assert_eq!(first, again);
    // And through a real run: same scenario, same seed → byte-identical page.
    let scenario = library("breaker-lifecycle.toml");
    let one = runner::run(&scenario, 5).expect("run");
    let two = runner::run(&scenario, 5).expect("run");
    assert_eq!(
        render_html(&Picture::of(&one)),
        render_html(&Picture::of(&two))
    );
}

/// `n` backends over 30 min, probed every 10 s; backend `k` fails for a minute at `k` s when
/// `k % 10 == 0`, the rest are healthy throughout.
fn fleet(n: usize) -> Trace {
    let mut entries = Vec::new();
    for k in 0..n {
        let name = format!("backend-{k:04}");
        entries.push(at(
            0,
            TraceEvent::BackendAdded {
                backend: name.clone(),
            },
        ));
        entries.push(at(5, status(&name, PENDING, HEALTHY)));
        for tick in 0..180_u64 {
            let start = tick * 10_000;
            let bad = k % 10 == 0 && (600_000..660_000).contains(&start);
            entries.extend(probe(
                &name,
                start,
                5,
                bad.then_some(ErrorCategory::Timeout),
            ));
        }
        if k % 10 == 0 {
            entries.push(at(
                620_005,
                status(
                    &name,
                    HEALTHY,
                    (HealthStatus::Unhealthy, HealthReason::ProbeFailed),
                ),
            ));
            entries.push(at(
                670_005,
                status(
                    &name,
                    (HealthStatus::Unhealthy, HealthReason::ProbeFailed),
                    HEALTHY,
                ),
            ));
        }
    }
    entries.sort_by_key(|e| e.at_ms);
    Trace { entries }
}

#[test]
fn many_backends_get_compact_lanes_and_the_uneventful_fold_into_one() {
    let n = FULL_LANES_UP_TO + 60;
    let trace = fleet(n);
    let p = Picture {
        end_ms: 1_800_000,
        ..picture(&trace, &[], &[])
    };
    let svg = render_svg(&p);
    let doc = Document::parse(&svg).unwrap();
    let lanes = with_class(doc.root(), "backend-lane");
    assert_eq!(
        lanes.len(),
        n.div_ceil(10),
        "only the backends that failed keep a lane"
    );
    assert!(
        lanes
            .iter()
            .all(|l| with_class(*l, "s-unhealthy").len() == 1)
    );
    assert!(
        with_class(doc.root(), "probe").is_empty(),
        "compact lanes carry no probe marks"
    );
    let folded = with_class(doc.root(), "folded-lane");
    assert_eq!(folded.len(), 1);
    assert_eq!(
        folded[0].attribute("data-backends"),
        Some((n - n.div_ceil(10)).to_string().as_str())
    );
    // Up to the threshold every backend has a full lane with its probes.
    let trace = fleet(FULL_LANES_UP_TO);
    let svg = render_svg(&Picture {
        end_ms: 1_800_000,
        ..picture(&trace, &[], &[])
    });
    let doc = Document::parse(&svg).unwrap();
    assert_eq!(
        with_class(doc.root(), "backend-lane").len(),
        FULL_LANES_UP_TO
    );
    assert!(!with_class(doc.root(), "probe").is_empty());
}

#[test]
fn a_flapping_backend_over_30_minutes_stays_bounded_and_shows_its_worst() {
    // Status flips every 100 ms for 30 min (18 000 transitions) and a probe every 100 ms.
    let mut entries = vec![at(
        0,
        TraceEvent::BackendAdded {
            backend: "f".into(),
        },
    )];
    let mut up = true;
    for i in 1..18_000_u64 {
        let (from, to) = if up { (HEALTHY, OPEN) } else { (OPEN, HEALTHY) };
        entries.push(at(i * 100, status("f", from, to)));
        entries.extend(probe(
            "f",
            i * 100,
            10,
            (!up).then_some(ErrorCategory::ConnectionFailed),
        ));
        up = !up;
    }
    let trace = Trace { entries };
    let svg = render_svg(&Picture {
        end_ms: 1_800_000,
        ..picture(&trace, &[], &[])
    });
    assert!(
        svg.len() < 1_500_000,
        "{} bytes for 18 000 transitions",
        svg.len()
    );
    let doc = Document::parse(&svg).unwrap();
    let lane = with_class(doc.root(), "backend-lane")[0];
    assert!(
        with_class(lane, "status").len() <= 2_400,
        "at most one span per pixel column"
    );
    assert!(
        !with_class(lane, "s-unhealthy").is_empty(),
        "the bad state is not lost"
    );
    assert!(
        with_class(lane, "probe").len() <= 2_400 / 3 + 1,
        "probe marks merged per 3 px"
    );
    assert!(!with_class(lane, "failed").is_empty());
}

fn library(file: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(file);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// The SVG of a library scenario, with the file path made machine-independent. Other changes to
/// the scenario or the simulation change these snapshots: review and re-accept them.
fn library_svg(file: &str) -> String {
    let scenario = library(file);
    let outcome = runner::run(&scenario, scenario.seed).expect("run");
    let shown = format!("scenarios/{file}");
    render_svg(&Picture {
        file: &shown,
        ..Picture::of(&outcome)
    })
}

#[test]
fn snapshot_breaker_lifecycle() {
    insta::assert_snapshot!(
        "breaker_lifecycle_svg",
        library_svg("breaker-lifecycle.toml")
    );
}

#[test]
fn snapshot_stale_keepalive_default_pool() {
    insta::assert_snapshot!(
        "stale_keepalive_default_pool_svg",
        library_svg("stale-keepalive-default-pool.toml")
    );
}

#[test]
fn a_vmcp_crash_leaves_a_gap_until_the_restarted_monitor_adds_the_backend() {
    let mut entries = vec![
        at(0, TraceEvent::VmcpStarted),
        at(
            0,
            TraceEvent::BackendAdded {
                backend: "a".into(),
            },
        ),
        at(100, status("a", PENDING, HEALTHY)),
        at(
            30_000,
            TraceEvent::Fault {
                action: "crash_vmcp".into(),
                detail: "vmcp".into(),
            },
        ),
        at(40_000, TraceEvent::VmcpStarted),
        at(
            40_000,
            TraceEvent::BackendAdded {
                backend: "a".into(),
            },
        ),
    ];
    entries.push(at(40_100, status("a", PENDING, HEALTHY)));
    let trace = Trace { entries };
    let svg = render_svg(&picture(&trace, &[], &[]));
    let doc = Document::parse(&svg).unwrap();
    let spans: Vec<(String, u64, u64)> = with_class(doc.root(), "status")
        .iter()
        .map(|s| {
            (
                s.attribute("class").unwrap().to_owned(),
                num(s, "data-from-ms") as u64,
                num(s, "data-to-ms") as u64,
            )
        })
        .collect();
    assert_eq!(
        spans,
        [
            ("status s-unknown".to_owned(), 0, 100),
            ("status s-healthy".to_owned(), 100, 30_000),
            ("status s-unknown".to_owned(), 40_000, 40_100),
            ("status s-healthy".to_owned(), 40_100, 60_000),
        ]
    );
}

fn call(ms: u64, outcome: vmcp_sim::trace::CallOutcome) -> TraceEntry {
    at(
        ms,
        TraceEvent::CallFinished {
            client: "alice".into(),
            tool: "github_echo".into(),
            call: ms,
            backend: Some("github".into()),
            pod: None,
            outcome,
            latency_ms: 40,
        },
    )
}

#[test]
fn client_calls_get_their_own_lane_coloured_by_outcome() {
    use vmcp_sim::trace::CallOutcome;
    let mut trace = known_trace();
    trace.entries.push(call(5_000, CallOutcome::Ok));
    trace.entries.push(call(30_000, CallOutcome::ToolError));
    trace.entries.push(call(30_010, CallOutcome::Ok));
    trace.entries.sort_by_key(|e| e.at_ms);
    let (reports, failures) = (known_reports(), known_failures());
    let svg = render_svg(&picture(&trace, &reports, &failures));
    let doc = Document::parse(&svg).expect("valid SVG");
    let lanes = with_class(doc.root_element(), "calls-lane");
    assert_eq!(lanes.len(), 1);
    let marks = with_class(lanes[0], "call");
    // The two calls 10 ms apart share a pixel bucket: one mark, the worst outcome.
    assert_eq!(marks.len(), 2, "{svg}");
    assert_eq!(marks[0].attribute("data-outcome"), Some("ok"));
    assert_eq!(marks[1].attribute("data-outcome"), Some("tool_error"));
    assert!(
        title(&marks[1]).contains("2 calls from 30.000s"),
        "{}",
        title(&marks[1])
    );
    // Without client calls there is no such lane.
    let plain = render_svg(&picture(&known_trace(), &reports, &failures));
    let doc = Document::parse(&plain).expect("valid SVG");
    assert!(with_class(doc.root_element(), "calls-lane").is_empty());
}
