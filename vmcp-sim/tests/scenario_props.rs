//! Property tests: no input makes the scenario parser panic, and every error it returns points
//! inside the text it was given.

use proptest::prelude::*;
use vmcp_sim::scenario::{Scenario, ScenarioError};

const FULL: &str = include_str!("fixtures/scenarios/full.toml");

/// Parse `text`; on error, check the position is a real position of `text`.
fn check(text: &str) -> Result<(), TestCaseError> {
    match Scenario::from_toml_str(text, "p.toml") {
        Ok(scenario) => {
            // Whatever parsed must satisfy the model's invariants.
            for event in &scenario.events {
                prop_assert!(event.at < scenario.duration);
            }
            for pair in scenario.events.windows(2) {
                prop_assert!(pair[0].at <= pair[1].at);
            }
            for expect in &scenario.expects {
                let window = expect.kind.window();
                prop_assert!(window.from <= window.to && window.to <= scenario.duration);
            }
        }
        Err(ScenarioError::Invalid {
            file, line, column, ..
        }) => {
            prop_assert_eq!(file, "p.toml");
            let lines: Vec<&str> = text.split('\n').collect();
            prop_assert!(
                line >= 1 && line <= lines.len(),
                "line {} of {}",
                line,
                lines.len()
            );
            let width = lines[line - 1].chars().count();
            prop_assert!(
                column >= 1 && column <= width + 1,
                "column {} of {}",
                column,
                width
            );
        }
        Err(other) => prop_assert!(false, "unexpected error kind: {other:?}"),
    }
    Ok(())
}

/// One edit of a text, applied on characters so the result stays valid UTF-8.
#[derive(Clone, Debug)]
enum Edit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    Replace { at: usize, text: String },
    DuplicateLine { line: usize },
    DropLine { line: usize },
    SwapLines { a: usize, b: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    // Fragments that are likely to reach deeper rules than random characters would.
    let fragment = prop_oneof![
        ".{0,8}",
        Just("\"".to_owned()),
        Just("0s".to_owned()),
        Just("3m".to_owned()),
        Just("-1".to_owned()),
        Just("[[event]]\n".to_owned()),
        Just("[[expect]]\n".to_owned()),
        Just("[[backend]]\n".to_owned()),
        Just("{ status = 200 }".to_owned()),
        Just("present = false\n".to_owned()),
        Just("backend = \"nope\"\n".to_owned()),
        Just("99999999999999999999h".to_owned()),
        Just("[vmcp]\n".to_owned()),
        Just("\u{b5}s".to_owned()),
        Just("\r\n".to_owned()),
    ];
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        (any::<usize>(), fragment.clone()).prop_map(|(at, text)| Edit::Insert { at, text }),
        (any::<usize>(), fragment).prop_map(|(at, text)| Edit::Replace { at, text }),
        any::<usize>().prop_map(|line| Edit::DuplicateLine { line }),
        any::<usize>().prop_map(|line| Edit::DropLine { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
    ]
}

fn apply(text: &str, edit: &Edit) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let n = chars.len().max(1);
    match edit {
        Edit::Delete { at, len } => {
            let start = at % n;
            let end = (start + len).min(chars.len());
            chars.drain(start.min(chars.len())..end);
            chars.into_iter().collect()
        }
        Edit::Insert { at, text } => {
            let at = at % (chars.len() + 1);
            chars.splice(at..at, text.chars());
            chars.into_iter().collect()
        }
        Edit::Replace { at, text } => {
            let start = (at % n).min(chars.len());
            let end = (start + text.chars().count()).min(chars.len());
            chars.splice(start..end, text.chars());
            chars.into_iter().collect()
        }
        Edit::DuplicateLine { line } => {
            let i = line % lines.len();
            let copy = lines[i].clone();
            lines.insert(i, copy);
            lines.join("\n")
        }
        Edit::DropLine { line } => {
            let i = line % lines.len();
            lines.remove(i);
            lines.join("\n")
        }
        Edit::SwapLines { a, b } => {
            let (a, b) = (a % lines.len(), b % lines.len());
            lines.swap(a, b);
            lines.join("\n")
        }
    }
}

/// The keys of each table kind with candidate values (valid and invalid ones), for building
/// structurally valid TOML that reaches the semantic rules (references, windows, unused keys)
/// far more often than random text would.
type Pool = &'static [(&'static str, &'static [&'static str])];

const HEADER_KEYS: Pool = &[
    (
        "tick",
        &["\"1ms\"", "\"1ms\"", "\"1ms\"", "\"0s\"", "\"2m\""],
    ),
    ("reproduces_bug", &["\"bug\"", "\"bug\"", "\"bug\"", "\"\""]),
];

const BACKEND_KEYS: Pool = &[
    (
        "name",
        &["\"a\"", "\"b\"", "\"a\"", "\"vmcp\"", "\"a-pod-1\"", "\"\""],
    ),
    ("port", &["8080", "0", "1"]),
    ("path", &["\"/mcp\"", "\"mcp\""]),
    ("behaviour", BEHAVIOURS),
    ("registered", &["true", "false"]),
    ("require_auth", &["true", "false"]),
    (
        "auth",
        &[
            "{ type = \"bearer\", token = \"t\" }",
            "{ type = \"header\", name = \"X\", value = \"v\" }",
            "{ type = \"bearer\" }",
        ],
    ),
];

const BEHAVIOURS: &[&str] = &[
    "\"hang\"",
    "\"healthy\"",
    "\"close\"",
    "{ starting_for = \"10s\" }",
    "\"sse\"",
    "{ status = 404 }",
    "{ status = 503, only_initialize = true }",
    "{ slow = \"1s\" }",
    "{ starting_for = \"0s\" }",
];

const EVENT_KEYS: Pool = &[
    ("at", &["\"0s\"", "\"1s\"", "\"30s\"", "\"1m\"", "\"2m\""]),
    (
        "action",
        &[
            "\"replace_pod\"",
            "\"set_behaviour\"",
            "\"crash_pod\"",
            "\"restart_pod\"",
            "\"crash_vmcp\"",
            "\"restart_vmcp\"",
            "\"partition\"",
            "\"repair\"",
            "\"hold\"",
            "\"release\"",
            "\"latency\"",
            "\"registry_add\"",
            "\"registry_remove\"",
            "\"registry_change_url\"",
            "\"nope\"",
        ],
    ),
    ("backend", &["\"a\"", "\"b\"", "\"c\""]),
    (
        "old_pod",
        &["\"terminate\"", "\"stale\"", "\"blackhole\"", "\"zombie\""],
    ),
    ("stale_behaviour", BEHAVIOURS),
    ("behaviour", BEHAVIOURS),
    ("for", &["\"5s\"", "\"0s\""]),
    ("latency", &["\"10ms\"", "\"0s\""]),
    (
        "url",
        &[
            "\"http://a:8080/mcp\"",
            "\"http://b\"",
            "\"http://z/\"",
            "\"ftp://a\"",
            "\"http://a:0\"",
        ],
    ),
];

const EXPECT_KEYS: Pool = &[
    (
        "kind",
        &[
            "\"eventually\"",
            "\"always\"",
            "\"never\"",
            "\"within\"",
            "\"count\"",
            "\"maybe\"",
        ],
    ),
    ("description", &["\"why\"", "\"\""]),
    ("from", &["\"0s\"", "\"10s\"", "\"1m\""]),
    ("to", &["\"10s\"", "\"1m\"", "\"2m\""]),
    ("by", &["\"10s\"", "\"1m\"", "\"2m\""]),
    ("after", &["\"x\"", "\"y\"", "\"z\""]),
    ("within", &["\"0s\"", "\"10s\"", "\"2m\""]),
    (
        "counter",
        &[
            "\"probes\"",
            "\"skips\"",
            "\"connections\"",
            "\"reports\"",
            "\"bytes\"",
        ],
    ),
    ("min", &["0", "1", "4"]),
    ("max", &["0", "2", "9"]),
    ("equals", &["0", "3"]),
    ("backend", &["\"a\"", "\"b\"", "\"c\""]),
    ("status", &["\"healthy\"", "\"unknown\"", "\"bogus\""]),
    ("crd_status", &["\"ready\"", "\"healthy\""]),
    ("reason", &["\"ok\"", "\"half_open\""]),
    ("circuit", &["\"half-open\"", "\"closed\""]),
    ("category", &["\"timeout\""]),
    ("phase", &["\"Ready\"", "\"ready\""]),
    ("present", &["true", "false"]),
];

/// One table: a header, the first `required` keys of `pool`, and more keys picked (without
/// repetition) from the rest.
fn table(header: &'static str, pool: Pool, required: usize) -> impl Strategy<Value = String> {
    let picks = (any::<prop::sample::Index>(), any::<prop::sample::Index>());
    (
        prop::collection::vec(any::<prop::sample::Index>(), required),
        prop::collection::vec(picks, 0..8),
    )
        .prop_map(move |(required_values, picks)| {
            let mut seen = Vec::new();
            let mut text = format!("{header}\n");
            let required_picks = required_values.into_iter().enumerate();
            let optional_picks = picks
                .into_iter()
                .map(|(key, value)| (key.index(pool.len()), value));
            for (key, value) in required_picks.chain(optional_picks) {
                let (key, values) = pool[key];
                if !seen.contains(&key) {
                    seen.push(key);
                    text.push_str(&format!("{key} = {}\n", values[value.index(values.len())]));
                }
            }
            text
        })
}

fn plausible_file() -> impl Strategy<Value = String> {
    let header = table(
        "name = \"p\"\ndescription = \"d\"\nseed = 7\nduration = \"2m\"",
        HEADER_KEYS,
        0,
    );
    let vmcp = prop_oneof![
        Just(String::new()),
        Just("[vmcp]\npool = \"shared\"\nhealth_check_interval = \"5s\"\nhealth_check_timeout = \"2s\"\nconnect_timeout = \"1s\"\n".to_owned()),
        Just("[vmcp.circuit_breaker]\nenabled = true\n".to_owned()),
    ];
    let tables = prop::collection::vec(
        prop_oneof![
            2 => table("[[backend]]", BACKEND_KEYS, 1),
            3 => table("[[event]]", EVENT_KEYS, 2),
            3 => table("[[expect]]", EXPECT_KEYS, 1),
        ],
        0..10,
    );
    (header, vmcp, tables)
        .prop_map(|(header, vmcp, tables)| format!("{header}{vmcp}{}", tables.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text)?;
    }

    #[test]
    fn arbitrary_bytes_as_lossy_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn mutations_of_the_reference_never_panic(edits in prop::collection::vec(edit(), 1..6)) {
        let text = edits.iter().fold(FULL.to_owned(), |text, e| apply(&text, e));
        check(&text)?;
    }

    #[test]
    fn plausible_files_never_panic(text in plausible_file()) {
        check(&text)?;
    }
}

// ----- valid by construction ---------------------------------------------------------------

/// Behaviours that are valid everywhere a behaviour is.
const VALID_BEHAVIOURS: &[&str] = &[
    "\"healthy\"",
    "\"hang\"",
    "\"close\"",
    "\"sse\"",
    "\"refuse\"",
    "{ starting_for = \"10s\" }",
    "{ status = 404 }",
    "{ status = 503, only_initialize = true }",
    "{ slow = \"1s\" }",
];

/// One generated backend: its name and the port its pods listen on.
#[derive(Clone, Debug)]
struct GenBackend {
    name: String,
    port: u16,
    text: String,
}

/// One generated event: when, its id (if any) and its TOML table.
#[derive(Clone, Debug)]
struct GenEvent {
    at: u64,
    id: Option<String>,
    text: String,
}

/// A generated scenario file and what it declares, to compare with what the parser made of it.
#[derive(Clone, Debug)]
struct GenFile {
    text: String,
    duration: u64,
    backends: Vec<String>,
    events: Vec<GenEvent>,
    expects: usize,
}

fn behaviour() -> impl Strategy<Value = &'static str> {
    prop::sample::select(VALID_BEHAVIOURS)
}

fn gen_backend(i: usize) -> impl Strategy<Value = GenBackend> {
    (
        prop_oneof![Just(8080u16), Just(9090)],
        behaviour(),
        prop::option::of(prop_oneof![
            Just("{ type = \"bearer\", token = \"t\" }"),
            Just("{ type = \"header\", name = \"X-Key\", value = \"v\" }"),
        ]),
        any::<bool>(),
    )
        .prop_map(move |(port, behaviour, auth, require_auth)| {
            let name = format!("b{i}");
            let mut text =
                format!("[[backend]]\nname = \"{name}\"\nport = {port}\nbehaviour = {behaviour}\n");
            if let Some(auth) = auth {
                text.push_str(&format!("auth = {auth}\n"));
            }
            if require_auth {
                text.push_str("require_auth = true\n");
            }
            GenBackend { name, port, text }
        })
}

/// An event at `at` on one of `backends`, with every key its action needs and only those.
fn gen_event(backends: Vec<GenBackend>, duration: u64) -> impl Strategy<Value = GenEvent> {
    let n = backends.len();
    (
        0..duration,
        0..n,
        0..n,
        0usize..13,
        behaviour(),
        behaviour(),
        0usize..3,
        any::<bool>(),
        prop::option::of(0u32..1000),
    )
        .prop_map(
            move |(at, b, other, action, behaviour, stale, old_pod, flag, id)| {
                let backend = &backends[b].name;
                let on = |action: &str| format!("action = \"{action}\"\nbackend = \"{backend}\"\n");
                let body = match action {
                    0 => {
                        let mut t = on("set_behaviour") + &format!("behaviour = {behaviour}\n");
                        if flag {
                            t.push_str("for = \"5s\"\n");
                        }
                        t
                    }
                    1 => {
                        let mut t = on("replace_pod");
                        match old_pod {
                            0 => t.push_str("old_pod = \"terminate\"\n"),
                            1 => t.push_str("old_pod = \"blackhole\"\n"),
                            _ => t.push_str(&format!(
                                "old_pod = \"stale\"\nstale_behaviour = {stale}\n"
                            )),
                        }
                        if flag {
                            t.push_str(&format!("behaviour = {behaviour}\n"));
                        }
                        t
                    }
                    2 => on("crash_pod"),
                    3 => on("restart_pod"),
                    4 => on("partition"),
                    5 => on("repair"),
                    6 => on("hold"),
                    7 => on("release"),
                    8 => {
                        on("latency")
                            + if flag {
                                "latency = \"10ms\"\n"
                            } else {
                                "latency = \"0s\"\n"
                            }
                    }
                    9 => "action = \"crash_vmcp\"\n".to_owned(),
                    10 => "action = \"restart_vmcp\"\n".to_owned(),
                    _ => {
                        let target = &backends[other];
                        on("registry_change_url")
                            + &format!("url = \"http://{}:{}/mcp\"\n", target.name, target.port)
                    }
                };
                let id = id.map(|k| format!("e{k}"));
                let mut text = format!("[[event]]\nat = \"{at}s\"\n");
                if let Some(id) = &id {
                    text.push_str(&format!("id = \"{id}\"\n"));
                }
                text.push_str(&body);
                GenEvent { at, id, text }
            },
        )
}

/// An expectation over `backends` and the ids of `events`, its window inside the run.
fn gen_expect(
    backends: Vec<String>,
    events: Vec<GenEvent>,
    duration: u64,
) -> impl Strategy<Value = String> {
    let n = backends.len();
    (0usize..5, 0..n, 1..=duration, 1..=duration, 0u32..5, 0u32..5, any::<prop::sample::Index>())
        .prop_map(move |(kind, b, x, y, lo, hi, pick)| {
            let backend = &backends[b];
            let (from, to) = (x.min(y) - 1, x.max(y));
            let with_id: Vec<&GenEvent> = events.iter().filter(|e| e.id.is_some()).collect();
            match kind {
                0 => format!(
                    "[[expect]]\nkind = \"eventually\"\nby = \"{to}s\"\nbackend = \"{backend}\"\nstatus = \"healthy\"\n"
                ),
                1 => format!(
                    "[[expect]]\nkind = \"always\"\nfrom = \"{from}s\"\nto = \"{to}s\"\nbackend = \"{backend}\"\npresent = true\n"
                ),
                2 => format!(
                    "[[expect]]\nkind = \"never\"\nbackend = \"{backend}\"\nstatus = \"unauthenticated\"\n"
                ),
                3 if !with_id.is_empty() => {
                    let event = with_id[pick.index(with_id.len())];
                    let within = (duration - event.at).clamp(1, 10);
                    format!(
                        "[[expect]]\nkind = \"within\"\nafter = \"{}\"\nwithin = \"{within}s\"\nbackend = \"{backend}\"\nreason = \"ok\"\n",
                        event.id.as_deref().unwrap_or_default()
                    )
                }
                _ => format!(
                    "[[expect]]\nkind = \"count\"\ncounter = \"probes\"\nbackend = \"{backend}\"\nmin = {}\nmax = {}\n",
                    lo.min(hi),
                    lo.max(hi)
                ),
            }
        })
}

/// Whole scenario files that are valid by construction: 1–4 backends, up to 8 events (ids unique)
/// and up to 6 expectations referring only to what the file declares, every time inside the run.
fn valid_file() -> impl Strategy<Value = GenFile> {
    (60u64..=600, 1usize..=4, any::<u64>(), prop::option::of(prop::sample::select(&["1ms", "10ms", "20ms"][..])))
        .prop_flat_map(|(duration, n, seed, tick)| {
            let backends: Vec<_> = (0..n).map(gen_backend).collect();
            (Just(duration), Just(seed), Just(tick), backends)
        })
        .prop_flat_map(|(duration, seed, tick, backends)| {
            let events = prop::collection::vec(gen_event(backends.clone(), duration), 0..8)
                .prop_map(|mut events| {
                    // Event ids must be unique: keep the first of each.
                    let mut seen = Vec::new();
                    for e in &mut events {
                        if let Some(id) = e.id.clone() {
                            if seen.contains(&id) {
                                e.text = e.text.replace(&format!("id = \"{id}\"\n"), "");
                                e.id = None;
                            } else {
                                seen.push(id);
                            }
                        }
                    }
                    events
                });
            (Just(duration), Just(seed), Just(tick), Just(backends), events)
        })
        .prop_flat_map(|(duration, seed, tick, backends, events)| {
            let names: Vec<String> = backends.iter().map(|b| b.name.clone()).collect();
            let expects =
                prop::collection::vec(gen_expect(names.clone(), events.clone(), duration), 0..6);
            (Just(duration), Just(seed), Just(tick), Just(backends), Just(events), expects)
        })
        .prop_map(|(duration, seed, tick, backends, events, expects)| {
            let mut text = format!(
                "name = \"generated\"\ndescription = \"valid by construction\"\nseed = {seed}\nduration = \"{duration}s\"\n"
            );
            if let Some(tick) = tick {
                text.push_str(&format!("tick = \"{tick}\"\n"));
            }
            for b in &backends {
                text.push_str(&b.text);
            }
            for e in &events {
                text.push_str(&e.text);
            }
            text.push_str(&expects.concat());
            GenFile {
                text,
                duration,
                backends: backends.into_iter().map(|b| b.name).collect(),
                events,
                expects: expects.len(),
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The generator's valid pieces form valid scenarios: every generated file parses, into
    /// exactly what it declares (backends in order, events sorted by time keeping their ids,
    /// every expectation). Without this the never-panic properties could pass while only ever
    /// exercising error paths.
    #[test]
    fn plausible_pieces_can_form_a_valid_scenario(file in valid_file()) {
        let scenario = match Scenario::from_toml_str(&file.text, "p.toml") {
            Ok(s) => s,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n--- file:\n{}", file.text))),
        };
        prop_assert_eq!(scenario.duration, std::time::Duration::from_secs(file.duration));
        let names: Vec<&str> = scenario.backends.iter().map(|b| b.name.as_str()).collect();
        prop_assert_eq!(names, file.backends.iter().map(String::as_str).collect::<Vec<_>>());
        let mut want: Vec<(u64, Option<String>)> =
            file.events.iter().map(|e| (e.at, e.id.clone())).collect();
        want.sort_by_key(|(at, _)| *at);
        let got: Vec<(u64, Option<String>)> = scenario
            .events
            .iter()
            .map(|e| (e.at.as_secs(), e.id.clone()))
            .collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(scenario.expects.len(), file.expects);
        check(&file.text)?;
    }
}
