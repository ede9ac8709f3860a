//! Where timeline pictures go and writing them (the drawing is [`vmcp_sim::timeline`]).
//!
//! * `run FILE --html OUT.html`: one scenario → exactly `OUT.html`. Several scenarios (or `OUT`
//!   an existing directory, or ending in `/`) → `OUT` is a directory, created if missing, with
//!   one `<file stem>.html` per scenario (`-2`, `-3`, … appended if two files share a stem).
//! * `explore FILE`: `<dir>/<file stem>-seed-<seed>.html` for every failing seed, `<dir>` from
//!   `--html-dir`, else [`default_explore_dir`].
//! * A shrunk scenario (swarm): [`shrunk_path`], next to the shrunk file (`--out-dir`), drawn
//!   from the shrunk file's own run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use vmcp_sim::runner::RunOutcome;
use vmcp_sim::timeline::{Picture, render_html};

use super::repro_command;

/// Where `run --html` writes: a single file, or a directory of one file per scenario.
pub(crate) enum RunTarget {
    /// Exactly this file.
    File(PathBuf),
    /// One `<stem>.html` per scenario in this directory; `used` avoids two scenarios sharing
    /// one file.
    Dir {
        /// The directory.
        dir: PathBuf,
        /// File names handed out so far.
        used: BTreeSet<String>,
    },
}

impl RunTarget {
    /// The target for `--html OUT` with `scenarios` scenarios to run.
    pub(crate) fn new(out: &Path, scenarios: usize) -> Self {
        let looks_like_dir = out.is_dir() || out.as_os_str().to_string_lossy().ends_with('/');
        if scenarios > 1 || looks_like_dir {
            RunTarget::Dir {
                dir: out.to_path_buf(),
                used: BTreeSet::new(),
            }
        } else {
            RunTarget::File(out.to_path_buf())
        }
    }

    /// The path for the picture of `scenario_file`.
    pub(crate) fn path_for(&mut self, scenario_file: &str) -> PathBuf {
        match self {
            RunTarget::File(path) => path.clone(),
            RunTarget::Dir { dir, used } => {
                let stem = stem(scenario_file);
                let mut name = format!("{stem}.html");
                let mut n = 2;
                while used.contains(&name) {
                    name = format!("{stem}-{n}.html");
                    n += 1;
                }
                used.insert(name.clone());
                dir.join(name)
            }
        }
    }
}

/// A scenario file's name without directory and `.toml`.
fn stem(scenario_file: &str) -> String {
    Path::new(scenario_file).file_stem().map_or_else(
        || "scenario".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// Where `explore` writes when `--html-dir` is not given: `<temp dir>/vmcp-sim-explore`.
pub(crate) fn default_explore_dir() -> PathBuf {
    std::env::temp_dir().join("vmcp-sim-explore")
}

/// The picture of one failing seed of `explore`.
pub(crate) fn seed_path(dir: &Path, scenario_file: &str, seed: u64) -> PathBuf {
    dir.join(format!("{}-seed-{seed}.html", stem(scenario_file)))
}

/// The picture of the shrunk scenario of a failing swarm seed: `explore --swarm` runs the
/// shrunk file, [`write`]s its outcome here (`dir` is the shrunk file's directory, `--out-dir`)
/// and prints the path under the shrunk file's replay command.
pub(crate) fn shrunk_path(dir: &Path, scenario_file: &str, seed: u64) -> PathBuf {
    dir.join(format!("{}-seed-{seed}-shrunk.html", stem(scenario_file)))
}

/// Render `outcome` and write it to `path` (parent directories created).
pub(crate) fn write(path: &Path, outcome: &RunOutcome) -> Result<(), String> {
    let picture = Picture {
        reproduce: repro_command(&outcome.file, outcome.seed),
        ..Picture::of(outcome)
    };
    if let Some(parent) = path.parent()
        && !parent.as_os_str().is_empty()
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(path, render_html(&picture))
        .map_err(|e| format!("cannot write the timeline picture {}: {e}", path.display()))
}

/// The line printed under a failure: the picture written, or how to get one.
pub(crate) fn note(written: Option<&Path>) -> String {
    match written {
        Some(path) => format!("  timeline picture: {}", path.display()),
        None => "  timeline picture: add --html OUT.html to draw one".to_owned(),
    }
}
