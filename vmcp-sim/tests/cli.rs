//! The `vmcp-sim` command line: exit codes, `file:line:column` errors, failure reports with the
//! reproduction command, `--json` lines, seed precedence.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vmcp_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmcp-sim"))
        .args(args)
        .env_remove("VMCP_SIM_SEED")
        .output()
        .expect("run vmcp-sim")
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmcp-sim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn library(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(file)
        .display()
        .to_string()
}

const HEADER: &str = "name = \"t\"\ndescription = \"d\"\nseed = 3\nduration = \"40s\"\n";

#[test]
fn an_unknown_key_exits_2_with_file_line_column() {
    let path = scratch(
        "unknown.toml",
        &format!("{HEADER}[[backend]]\nname = \"a\"\ncolour = \"red\"\n"),
    );
    for command in ["run", "check"] {
        let out = vmcp_sim(&[command, path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{command}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("{}:7:1:", path.display())),
            "{command}: {stderr}"
        );
        assert!(stderr.contains("colour"), "{stderr}");
    }
}

#[test]
fn an_undeclared_backend_exits_2_with_file_line_column() {
    let path = scratch(
        "undeclared.toml",
        &format!(
            "{HEADER}[[backend]]\nname = \"a\"\n[[event]]\nat = \"5s\"\naction = \"crash_pod\"\nbackend = \"b\"\n"
        ),
    );
    let out = vmcp_sim(&["run", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:10:", path.display())),
        "{stderr}"
    );
}

#[test]
fn a_failed_expectation_exits_1_with_seed_timeline_and_reproduction() {
    let path = scratch(
        "fails.toml",
        &format!(
            "{HEADER}[vmcp]\nhealth_check_interval = \"5s\"\nhealth_check_timeout = \"1s\"\nconnect_timeout = \"1s\"\n\
             [[backend]]\nname = \"a\"\nbehaviour = {{ status = 503 }}\n\
             [[expect]]\nkind = \"eventually\"\nby = \"30s\"\nbackend = \"a\"\nstatus = \"healthy\"\n"
        ),
    );
    let out = vmcp_sim(&["run", path.to_str().unwrap(), "--seed", "77"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FAILED t"), "{stderr}");
    assert!(stderr.contains("with seed 77"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:12:1: eventually expectation failed",
            path.display()
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("probe failed"),
        "the timeline slice is shown: {stderr}"
    );
    assert!(
        stderr.contains(&format!("run {} --seed 77 --trace", path.display())),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("FAIL"), "{stdout}");
}

#[test]
fn json_lines_are_stable_across_runs_and_the_seed_flag_wins() {
    let file = library("healthy-three-backends.toml");
    let run = |seed: &str| {
        let out = vmcp_sim(&["run", &file, "--seed", seed, "--json"]);
        assert_eq!(out.status.code(), Some(0));
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
        line
    };
    let (a, b) = (run("5"), run("5"));
    assert_eq!(a["seed"], 5);
    assert_eq!(a["passed"], true);
    assert_eq!(a["trace_hash"], b["trace_hash"]);
    assert_eq!(a["final_report"], b["final_report"]);
    for key in [
        "scenario",
        "file",
        "failures",
        "sim_elapsed_ms",
        "wall_ms",
        "final_report",
    ] {
        assert!(a.get(key).is_some(), "missing {key}");
    }
    let env = Command::new(env!("CARGO_BIN_EXE_vmcp-sim"))
        .args(["run", &file, "--json"])
        .env("VMCP_SIM_SEED", "5")
        .output()
        .unwrap();
    let from_env: serde_json::Value = serde_json::from_slice(&env.stdout).unwrap();
    assert_eq!(
        from_env["seed"], 5,
        "VMCP_SIM_SEED overrides the file's seed"
    );
    assert_eq!(from_env["trace_hash"], a["trace_hash"]);
}

#[test]
fn explore_reports_failing_seeds_with_reproduction_commands() {
    let path = scratch(
        "explore.toml",
        &format!(
            "{HEADER}[[backend]]\nname = \"a\"\nbehaviour = \"hang\"\n\
             [[expect]]\nkind = \"eventually\"\nby = \"30s\"\nbackend = \"a\"\nstatus = \"healthy\"\n"
        ),
    );
    let out = vmcp_sim(&[
        "explore",
        path.to_str().unwrap(),
        "--seeds",
        "4",
        "--start",
        "10",
        "--shard",
        "2/2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("seed 11 FAILED"), "{stdout}");
    assert!(stdout.contains("seed 13 FAILED"), "{stdout}");
    assert!(
        !stdout.contains("seed 10 "),
        "shard 2/2 takes odd offsets only: {stdout}"
    );
    assert!(stdout.contains("--seed 13 --trace"), "{stdout}");
    assert!(
        stdout.contains("2 seeds explored (shard 2/2), 2 failing"),
        "{stdout}"
    );
}
