//! Reading an input file (the config, a credential file, a scenario) without trusting it.
//!
//! A path may name anything: a FIFO (opening it blocks until someone writes), a device
//! (`/dev/zero` never ends), a directory, a file of gigabytes, bytes that are not UTF-8. So:
//!
//! * only regular files: the type is checked from the path's metadata **before** the file is
//!   opened (so a FIFO is never opened), and again on the open file (in case it was swapped);
//! * at most [`MAX_FILE_BYTES`] (1 MiB): checked from the metadata, and the read itself is a
//!   `take` of one byte more, so a file that grows while being read cannot grow memory;
//! * UTF-8 only, and an error names the byte offset and `line:column` of the first bad byte.
//!
//! Every error names the path. Reading is still blocking I/O: the `vmcp` binary calls this off its
//! runtime thread, with a deadline.

use std::fs::{File, FileType};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// The largest input file accepted: far above any config, credential or scenario file.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Why an input file was refused.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file system refused (missing file, no permission, ...).
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Not a regular file.
    #[error("{} is {kind}, not a regular file", path.display())]
    NotRegular {
        /// The file.
        path: PathBuf,
        /// What it is instead (`a FIFO`, `a character device`, ...).
        kind: &'static str,
    },
    /// Over [`MAX_FILE_BYTES`].
    #[error("{} is larger than 1 MiB (the limit for input files)", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// Not UTF-8 text.
    #[error("{}:{line}:{column}: invalid UTF-8 (byte offset {offset})", path.display())]
    InvalidUtf8 {
        /// The file.
        path: PathBuf,
        /// 0-based offset of the first invalid byte.
        offset: usize,
        /// 1-based line of that byte.
        line: usize,
        /// 1-based column (in characters) of that byte.
        column: usize,
    },
}

impl FileError {
    /// The underlying I/O error kind, when the file system refused.
    pub fn io_kind(&self) -> Option<io::ErrorKind> {
        match self {
            FileError::Io { source, .. } => Some(source.kind()),
            _ => None,
        }
    }
}

/// Read `path` as bytes under the rules of this module (regular file, at most
/// [`MAX_FILE_BYTES`]), for inputs that are not text (a PEM bundle is checked by its parser).
pub fn read_file_bytes(path: &Path) -> Result<Vec<u8>, FileError> {
    let io_error = |source| FileError::Io {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(io_error)?;
    check_regular(path, metadata.file_type())?;
    if metadata.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
        });
    }
    let file = File::open(path).map_err(io_error)?;
    // The path may have been replaced between the check and the open.
    check_regular(path, file.metadata().map_err(io_error)?.file_type())?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(bytes)
}

/// Read `path` as UTF-8 text under the rules of this module.
pub fn read_text_file(path: &Path) -> Result<String, FileError> {
    let bytes = read_file_bytes(path)?;
    String::from_utf8(bytes).map_err(|err| {
        let offset = err.utf8_error().valid_up_to();
        let (line, column) = line_column(&err.as_bytes()[..offset]);
        FileError::InvalidUtf8 {
            path: path.to_owned(),
            offset,
            line,
            column,
        }
    })
}

fn check_regular(path: &Path, file_type: FileType) -> Result<(), FileError> {
    if file_type.is_file() {
        return Ok(());
    }
    Err(FileError::NotRegular {
        path: path.to_owned(),
        kind: describe(file_type),
    })
}

#[cfg(unix)]
fn describe(file_type: FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

#[cfg(not(unix))]
fn describe(file_type: FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// 1-based line and column (in characters) just after `valid`, which is valid UTF-8.
fn line_column(valid: &[u8]) -> (usize, usize) {
    let line_start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = std::str::from_utf8(&valid[line_start..])
        .map_or(valid.len() - line_start, |s| s.chars().count())
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vmcp-file-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_regular_utf8_file_is_read() {
        let path = scratch("ok").join("f.yaml");
        std::fs::write(&path, "a: é\n").unwrap();
        assert_eq!(read_text_file(&path).unwrap(), "a: é\n");
    }

    #[test]
    fn a_fifo_is_refused_without_being_opened() {
        let path = scratch("fifo").join("token");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        // Opening a FIFO for reading would block this test forever: the check comes first.
        let err = read_text_file(&path).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{} is a FIFO, not a regular file", path.display())
        );
    }

    #[test]
    fn devices_and_directories_are_refused() {
        let err = read_text_file(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/dev/zero is a character device, not a regular file"
        );
        let dir = scratch("dir");
        let err = read_text_file(&dir).unwrap_err();
        assert!(matches!(
            err,
            FileError::NotRegular {
                kind: "a directory",
                ..
            }
        ));
    }

    #[test]
    fn a_file_over_1_mib_is_refused_and_one_at_the_limit_is_read() {
        let dir = scratch("big");
        let at_limit = dir.join("at.yaml");
        std::fs::write(&at_limit, vec![b'#'; MAX_FILE_BYTES as usize]).unwrap();
        assert_eq!(read_text_file(&at_limit).unwrap().len(), 1024 * 1024);
        let over = dir.join("over.yaml");
        std::fs::write(&over, vec![b'#'; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = read_text_file(&over).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is larger than 1 MiB (the limit for input files)",
                over.display()
            )
        );
    }

    #[test]
    fn invalid_utf8_names_offset_line_and_column() {
        let path = scratch("utf8").join("f.yaml");
        std::fs::write(&path, b"a: 1\nb: \xc3\xa9\xff\n").unwrap();
        let err = read_text_file(&path).unwrap_err();
        // Line 2: `b: é` is four characters, the bad byte is the fifth; offset 5 + 3 + 2 = 10.
        assert_eq!(
            err.to_string(),
            format!("{}:2:5: invalid UTF-8 (byte offset 10)", path.display())
        );
    }

    #[test]
    fn a_missing_file_is_an_io_error_naming_the_path() {
        let path = scratch("missing").join("nope.yaml");
        let err = read_text_file(&path).unwrap_err();
        assert_eq!(err.io_kind(), Some(io::ErrorKind::NotFound));
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read {}: ", path.display()))
        );
    }
}
