//! The `[swarm]` table: every rule with its exact `file:line:column` message, what a valid table
//! gives, that the per-seed choice keeps to it, and the `explore` flags that override it.

use std::path::PathBuf;
use std::process::{Command, Output};

use vmcp_sim::scenario::{Perturbation, Scenario, SwarmSettings};
use vmcp_sim::swarm::catalogue;

/// A valid header (lines 1-4) and one backend (lines 5-6); `[swarm]` goes on line 7.
const HEAD: &str = "name = \"t\"\ndescription = \"d\"\nseed = 1\nduration = \"2m\"\n\
                    [[backend]]\nname = \"a\"\n";

fn with(swarm: &str) -> String {
    format!("{HEAD}[swarm]\n{swarm}")
}

fn error(text: &str) -> String {
    match Scenario::from_toml_str(text, "t.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn settings(text: &str) -> SwarmSettings {
    Scenario::from_toml_str(text, "t.toml").unwrap().swarm
}

const NAMES: &str = "latency_spike, slow_replies, hanging_replies, reset_mid_response, \
                     pod_restart, partition, registry_churn";

#[test]
fn an_unknown_perturbation_name_says_which_exist() {
    assert_eq!(
        error(&with("perturbations = [\"partition\", \"lag\"]\n")),
        format!("t.toml:8:31: unknown perturbation \"lag\" (expected one of {NAMES})")
    );
}

#[test]
fn a_perturbation_listed_twice_or_none_at_all() {
    assert_eq!(
        error(&with("perturbations = [\"partition\", \"partition\"]\n")),
        "t.toml:8:31: perturbation \"partition\" is listed twice"
    );
    assert_eq!(
        error(&with("perturbations = []\n")),
        format!(
            "t.toml:8:17: perturbations must name at least one perturbation (one of {NAMES}); \
             leave the key out to allow all"
        )
    );
}

#[test]
fn rates_outside_zero_one_are_refused() {
    assert_eq!(
        error(&with("min_rate = 1.5\n")),
        "t.toml:8:12: min_rate: rate 1.5 is outside [0, 1] (a probability per backend and time slot)"
    );
    assert_eq!(
        error(&with("max_rate = -0.1\n")),
        "t.toml:8:12: max_rate: rate -0.1 is outside [0, 1] (a probability per backend and time slot)"
    );
    assert_eq!(
        error(&with("rates = { partition = 2 }\n")),
        "t.toml:8:23: rates.partition: rate 2 is outside [0, 1] (a probability per backend and time slot)"
    );
    assert_eq!(
        error(&with("min_rate = nan\n")),
        "t.toml:8:12: min_rate: rate NaN is outside [0, 1] (a probability per backend and time slot)"
    );
    assert_eq!(
        error(&with("min_rate = 0.5\nmax_rate = 0.4\n")),
        "t.toml:8:12: min_rate (0.5) must not be above max_rate (0.4)"
    );
    assert_eq!(
        error(&with("max_rate = 0.01\n")),
        "t.toml:8:12: min_rate (0.05) must not be above max_rate (0.01)"
    );
}

#[test]
fn fixed_rates_name_allowed_perturbations() {
    assert_eq!(
        error(&with("rates = { lag = 0.1 }\n")),
        format!("t.toml:8:11: rates: unknown perturbation \"lag\" (expected one of {NAMES})")
    );
    assert_eq!(
        error(&with(
            "perturbations = [\"pod_restart\"]\n[swarm.rates]\npartition = 0.1\n"
        )),
        "t.toml:10:1: rates: \"partition\" is not among the allowed perturbations (pod_restart)"
    );
}

#[test]
fn unknown_keys_and_wrong_types() {
    let e = error(&with("perturbation = [\"partition\"]\n"));
    assert!(
        e.starts_with("t.toml:8:1: unknown field `perturbation`, expected one of `perturbations`, `min_rate`, `max_rate`, `rates`"),
        "{e}"
    );
    let e = error(&with("min_rate = \"high\"\n"));
    assert!(e.starts_with("t.toml:8:12: "), "{e}");
    assert!(e.contains("a rate: a number in [0, 1]"), "{e}");
    let e = error(&with("perturbations = \"partition\"\n"));
    assert!(e.starts_with("t.toml:8:17: "), "{e}");
}

#[test]
fn a_valid_table_and_the_defaults() {
    assert_eq!(settings(HEAD), SwarmSettings::default());
    let s = settings(&with(
        "perturbations = [\"partition\", \"latency_spike\"]\nmin_rate = 0\nmax_rate = 1\n\
         rates = { partition = 0.25 }\n",
    ));
    assert_eq!(
        s.perturbations,
        vec![Perturbation::LatencySpike, Perturbation::Partition],
        "catalogue order"
    );
    assert_eq!(
        (s.min_rate, s.max_rate),
        (0.0, 1.0),
        "integers are rates too"
    );
    assert_eq!(
        s.fixed_rates.into_iter().collect::<Vec<_>>(),
        vec![(Perturbation::Partition, 0.25)]
    );
}

#[test]
fn every_seed_keeps_to_the_table() {
    let file = |swarm: &str| {
        Scenario::from_toml_str(
            &format!("{HEAD}[[backend]]\nname = \"b\"\n[swarm]\n{swarm}"),
            "t.toml",
        )
        .unwrap()
    };
    let narrowed =
        file("perturbations = [\"partition\", \"pod_restart\"]\nmin_rate = 0.3\nmax_rate = 0.4\n");
    let fixed =
        file("perturbations = [\"partition\", \"pod_restart\"]\nrates = { partition = 0.7 }\n");
    let allowed = [Perturbation::Partition, Perturbation::PodRestart];
    let mut scheduled = 0;
    for seed in 0..100 {
        let choice = catalogue::choose(&narrowed, seed);
        assert!(!choice.enabled.is_empty(), "seed {seed}");
        for (p, rate) in &choice.enabled {
            assert!(allowed.contains(p), "seed {seed}: {p} enabled");
            assert!((0.3..=0.4).contains(rate), "seed {seed}: rate {rate}");
        }
        assert!(choice.scheduled.iter().all(|s| allowed.contains(&s.kind)));
        scheduled += choice.scheduled.len();

        let choice = catalogue::choose(&fixed, seed);
        assert!(
            choice.enabled.contains(&(Perturbation::Partition, 0.7)),
            "seed {seed}: the fixed rate is enabled on every seed: {:?}",
            choice.enabled
        );
        assert!(choice.enabled.iter().all(|(p, _)| allowed.contains(p)));
    }
    assert!(
        scheduled > 0,
        "the narrowed swarm still schedules something"
    );
}

// ----- the `explore` flags ----------------------------------------------------------------------

fn vmcp_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmcp-sim"))
        .args(args)
        .env_remove("VMCP_SIM_SEED")
        .output()
        .expect("run vmcp-sim")
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmcp-sim-swarm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The perturbations each seed enabled, from `explore --json`.
fn enabled(out: &Output) -> Vec<Vec<String>> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("seed").is_some())
        .map(|v| {
            v["perturbations_enabled"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["name"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

#[test]
fn command_line_flags_override_the_file() {
    let path = scratch(
        "narrow.toml",
        &format!("{HEAD}[swarm]\nperturbations = [\"partition\"]\n"),
    );
    let path = path.to_str().unwrap();
    let explore = |extra: &[&str]| {
        let mut args = vec![
            "explore", path, "--swarm", "--seeds", "4", "--json", "--jobs", "1",
        ];
        args.extend_from_slice(extra);
        vmcp_sim(&args)
    };
    let out = explore(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seeds = enabled(&out);
    assert_eq!(seeds.len(), 4);
    assert!(
        seeds.iter().all(|e| e == &["partition".to_owned()]),
        "{seeds:?}"
    );

    let out = explore(&[
        "--perturbations",
        "pod_restart,latency_spike",
        "--rate",
        "pod_restart=0.3",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seeds = enabled(&out);
    assert!(
        seeds.iter().all(|e| e.contains(&"pod_restart".to_owned())
            && e.iter().all(|n| n == "pod_restart" || n == "latency_spike")),
        "{seeds:?}"
    );
}

#[test]
fn bad_flags_exit_2_and_say_what_is_allowed() {
    let path = scratch("plain.toml", HEAD);
    let path = path.to_str().unwrap();
    let fails = |args: &[&str], wanted: &str| {
        let out = vmcp_sim(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(wanted), "{args:?}: {stderr}");
    };
    fails(
        &[
            "explore",
            path,
            "--swarm",
            "--perturbations",
            "partition,lag",
        ],
        &format!("unknown perturbation \"lag\" (expected one of {NAMES})"),
    );
    fails(
        &["explore", path, "--swarm", "--rate", "partition=1.2"],
        "--rate partition: rate 1.2 is outside [0, 1]",
    );
    fails(
        &[
            "explore",
            path,
            "--swarm",
            "--min-rate",
            "0.9",
            "--max-rate",
            "0.2",
        ],
        "explore: --min-rate/--max-rate: the minimum rate (0.9) is above the maximum (0.2)",
    );
    fails(
        &["explore", path, "--swarm", "--max-rate", "7"],
        "explore: --max-rate: rate 7 is outside [0, 1]",
    );
    fails(
        &[
            "explore",
            path,
            "--swarm",
            "--perturbations",
            "partition",
            "--rate",
            "pod_restart=0.1",
        ],
        "explore: --rate pod_restart: not among the allowed perturbations (partition)",
    );
    fails(&["explore", path, "--min-rate", "0.1"], "--swarm");
}
