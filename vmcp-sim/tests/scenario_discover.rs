//! `discover` (paths → scenario files) and `Scenario::load` on the file system.

use std::fs;
use std::path::{Path, PathBuf};

use vmcp_sim::scenario::{Scenario, ScenarioError, discover};

/// A fresh, empty directory under the system temp dir, unique per test.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmcp-sim-{}-{test}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn touch(path: &Path) {
    fs::write(path, "").unwrap();
}

#[test]
fn directories_contribute_their_toml_files_sorted_and_deduplicated() {
    let root = scratch("discover");
    let dir = root.join("scenarios");
    fs::create_dir_all(dir.join("nested")).unwrap();
    touch(&dir.join("b.toml"));
    touch(&dir.join("a.toml"));
    touch(&dir.join("README.md"));
    touch(&dir.join("nested/c.toml")); // not recursive
    fs::create_dir_all(dir.join("dir.toml")).unwrap(); // a directory, not a file
    let other = root.join("other.scenario");
    touch(&other);

    let found = discover(&[dir.clone(), other.clone(), dir.join("a.toml"), dir.clone()]).unwrap();
    assert_eq!(found, [other, dir.join("a.toml"), dir.join("b.toml")]);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn the_same_file_through_different_spellings_appears_once() {
    let root = scratch("spellings");
    touch(&root.join("a.toml"));
    let dotted = root.join(".").join("a.toml");
    let found = discover(&[root.join("a.toml"), dotted]).unwrap();
    assert_eq!(found, [root.join("a.toml")]);
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_missing_path_is_an_error() {
    let root = scratch("missing");
    let missing = root.join("nope.toml");
    let err = discover(&[root.clone(), missing.clone()]);
    // `root` is empty, which is reported first.
    assert!(
        matches!(err, Err(ScenarioError::EmptyDirectory { .. })),
        "{err:?}"
    );
    touch(&root.join("a.toml"));
    let err = discover(&[root.clone(), missing.clone()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{}: no such file or directory", missing.display())
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn a_directory_without_scenarios_is_an_error() {
    let root = scratch("empty");
    touch(&root.join("notes.md"));
    let err = discover(std::slice::from_ref(&root)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: directory contains no *.toml scenario files",
            root.display()
        )
    );
    fs::remove_dir_all(&root).unwrap();
}

#[test]
fn no_paths_means_no_files() {
    assert_eq!(discover(&[]).unwrap(), Vec::<PathBuf>::new());
}

#[test]
fn load_reads_files_and_labels_errors_with_the_path() {
    let root = scratch("load");
    let path = root.join("bad.toml");
    fs::write(
        &path,
        "name = \"bad\"\ndescription = \"d\"\nseed = 1\nduration = \"0s\"\n",
    )
    .unwrap();
    let err = Scenario::load(&path).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4:12: duration (0s) must be greater than 0",
            path.display()
        )
    );
    assert_eq!(err.location().map(|l| (l.line, l.column)), Some((4, 12)));

    let missing = root.join("missing.toml");
    assert!(matches!(
        Scenario::load(&missing),
        Err(ScenarioError::Missing { path }) if path == missing
    ));

    fs::write(&path, [0xff, 0xfe, b'\n']).unwrap();
    let err = Scenario::load(&path).unwrap_err();
    // Invalid UTF-8 is a problem inside the file: `file:line:column` and the byte offset.
    assert!(matches!(err, ScenarioError::Invalid { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:1:1: invalid UTF-8 (byte offset 0); scenario files are UTF-8",
            path.display()
        )
    );
    fs::remove_dir_all(&root).unwrap();
}
