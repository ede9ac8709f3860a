//! [`discover`]: turn the paths given to `vmcp-sim run|check` into the scenario files to use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::ScenarioError;

/// The scenario files named by `paths`: a file is taken as is, a directory contributes its
/// `*.toml` files (not recursive, so helper directories such as fixtures are not picked up by
/// accident). The result is sorted and without duplicates (the same file reached twice, e.g. as
/// `scenarios/a.toml` and through `scenarios/`, appears once), so runs are reproducible.
///
/// A missing path, an unreadable directory, or a directory without any `*.toml` file is an
/// error: running nothing must not look like success.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ScenarioError> {
    // Keyed by the canonical path for de-duplication; the value is the path as the user wrote it.
    let mut found: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ScenarioError::Missing { path: path.clone() }
            } else {
                ScenarioError::Read {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        if metadata.is_dir() {
            let files = toml_files(path)?;
            if files.is_empty() {
                return Err(ScenarioError::EmptyDirectory { path: path.clone() });
            }
            for file in files {
                insert(&mut found, file);
            }
        } else {
            insert(&mut found, path.clone());
        }
    }
    let mut files: Vec<PathBuf> = found.into_values().collect();
    files.sort();
    Ok(files)
}

fn insert(found: &mut BTreeMap<PathBuf, PathBuf>, path: PathBuf) {
    let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    found.entry(key).or_insert(path);
}

/// The `*.toml` regular files directly inside `dir`.
fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    let read_error = |source| ScenarioError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let path = entry.path();
        let is_toml = path.extension().is_some_and(|ext| ext == "toml");
        if is_toml && path.is_file() {
            files.push(path);
        }
    }
    Ok(files)
}
