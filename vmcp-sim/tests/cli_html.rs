//! `--html` on the command line: `run` writes the picture (a file for one scenario, a directory
//! for several), prints its path under a failure or suggests the flag; `explore` writes one per
//! failing seed next to its reproduction command.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn vmcp_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vmcp-sim"))
        .args(args)
        .env_remove("VMCP_SIM_SEED")
        .output()
        .expect("run vmcp-sim")
}

/// A fresh directory for one test.
fn scratch_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmcp-sim-html-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A 10 s scenario whose only expectation cannot hold (a healthy backend is never unhealthy).
fn failing(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        "name = \"t\"\ndescription = \"d\"\nseed = 3\nduration = \"10s\"\n\
         [[backend]]\nname = \"a\"\n\
         [[expect]]\nkind = \"eventually\"\nby = \"5s\"\nbackend = \"a\"\nstatus = \"unhealthy\"\n\
         description = \"cannot hold\"\n",
    )
    .unwrap();
    path
}

fn passing(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        "name = \"p\"\ndescription = \"d\"\nseed = 3\nduration = \"10s\"\n[[backend]]\nname = \"a\"\n\
         [[expect]]\nkind = \"eventually\"\nby = \"5s\"\nbackend = \"a\"\nstatus = \"healthy\"\n",
    )
    .unwrap();
    path
}

#[test]
fn a_failing_run_writes_the_picture_and_prints_its_path() {
    let dir = scratch_dir("run");
    let file = failing(&dir, "failing.toml");
    let out_file = dir.join("out/picture.html");
    let out = vmcp_sim(&[
        "run",
        file.to_str().unwrap(),
        "--html",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("timeline picture: {}", out_file.display())),
        "{stderr}"
    );
    let html = std::fs::read_to_string(&out_file).expect("the picture was written");
    assert!(html.contains("<svg"));
    assert!(
        html.contains(&format!("{}:7:1", file.display())),
        "the failed expectation's file:line"
    );
    assert!(html.contains("cannot hold"));
    assert!(html.contains("class=\"failure-window\""));

    // Without --html, the failure suggests it.
    let out = vmcp_sim(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("timeline picture: add --html"), "{stderr}");
}

#[test]
fn several_scenarios_write_one_picture_each_into_a_directory() {
    let dir = scratch_dir("several");
    let a = failing(&dir, "one.toml");
    let b = passing(&dir, "two.toml");
    let pictures = dir.join("pictures");
    let out = vmcp_sim(&[
        "run",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--html",
        pictures.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let mut written: Vec<String> = std::fs::read_dir(&pictures)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["one.html", "two.html"]);
    let two = std::fs::read_to_string(pictures.join("two.html")).unwrap();
    assert!(two.contains("all expectations held"));
}

#[test]
fn an_unwritable_picture_is_an_error_not_a_pass() {
    let dir = scratch_dir("unwritable");
    let file = passing(&dir, "p.toml");
    // A regular file where the directory should be.
    let blocker = dir.join("blocker");
    std::fs::write(&blocker, "x").unwrap();
    let target = blocker.join("p.html");
    let out = vmcp_sim(&[
        "run",
        file.to_str().unwrap(),
        "--html",
        target.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot"));
}

#[test]
fn explore_writes_a_picture_for_every_failing_seed() {
    let dir = scratch_dir("explore");
    let file = failing(&dir, "sweep.toml");
    let pictures = dir.join("seeds");
    let out = vmcp_sim(&[
        "explore",
        file.to_str().unwrap(),
        "--seeds",
        "3",
        "--start",
        "10",
        "--jobs",
        "1",
        "--html-dir",
        pictures.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for seed in 10..13 {
        let path = pictures.join(format!("sweep-seed-{seed}.html"));
        let html = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert!(html.contains(&format!("seed {seed}")));
        assert!(
            stdout.contains(&format!("  timeline picture: {}", path.display())),
            "{stdout}"
        );
    }
}

/// A backend that is always `degraded/slow` (every probe takes longer than a 1 ms
/// `degraded_threshold`), so the liveness phase of every swarm seed fails.
fn never_healthy(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        "name = \"slow\"\ndescription = \"d\"\nseed = 3\nduration = \"20s\"\n\
         [vmcp]\ndegraded_threshold = \"1ms\"\n[[backend]]\nname = \"a\"\n",
    )
    .unwrap();
    path
}

#[test]
fn swarm_shrinking_draws_the_shrunk_file_next_to_it() {
    let dir = scratch_dir("shrunk");
    let file = never_healthy(&dir, "slow.toml");
    let (out_dir, pictures) = (dir.join("failures"), dir.join("seeds"));
    let out = vmcp_sim(&[
        "explore",
        file.to_str().unwrap(),
        "--swarm",
        "--seeds",
        "1",
        "--start",
        "4",
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--html-dir",
        pictures.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let shrunk = out_dir.join("slow-swarm-seed-4.toml");
    assert!(shrunk.exists(), "{stdout}");
    let picture = out_dir.join("slow-seed-4-shrunk.html");
    let html = std::fs::read_to_string(&picture).unwrap_or_else(|e| panic!("{picture:?}: {e}"));
    assert!(html.contains("seed 4"));
    // Drawn from the shrunk file's own run: it names that file, not the swept one.
    assert!(
        html.contains("slow-swarm-seed-4.toml"),
        "the shrunk file's run"
    );
    let replay = stdout
        .lines()
        .position(|l| l.starts_with("  replay:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_eq!(
        stdout.lines().nth(replay + 1),
        Some(format!("  timeline picture: {}", picture.display()).as_str()),
        "{stdout}"
    );
    // The failing seed's own picture is in the sweep's directory as before.
    assert!(pictures.join("slow-seed-4.html").exists());
}
