//! Helpers for the tests that run the `vmcp` binary (and other servers) as real processes on
//! loopback.
//!
//! Ports: every process binds port 0 itself and the test reads the bound address back (from
//! `vmcp`'s "status endpoints listening" log line, from the test server's "listening on" line),
//! so no test picks a port it does not hold: no bind-then-drop race with anything else on the
//! machine. Waits: real processes run in real time, so every wait is bounded by a figure the
//! caller derives from its config ([`Bound`]), times [`SLACK`] for a loaded machine, and a timeout
//! names what was awaited, the bound and how it was derived, and the process's log.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "integration-test helpers: the test binary is its own crate, so `pub` here means \"for the test files\"; not every test file uses every helper"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How much slower than its config a process may be on a loaded 2-core CI machine shared by
/// many jobs before a test calls it stuck.
pub const SLACK: u32 = 5;

/// A process start (exec, runtime, config load, bind) on a loaded machine: not derived from any
/// config, so generous.
pub const PROCESS_START: Duration = Duration::from_secs(30);

/// A wait limit: the figure derived from the config, and how it was derived (for the message).
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// The derived figure, before [`SLACK`].
    pub derived: Duration,
    /// How it was derived, e.g. "registry_poll_interval (500ms) + one probe (1s)".
    pub why: &'static str,
}

impl Bound {
    /// A bound of `derived` (times [`SLACK`]), explained by `why`.
    pub const fn new(derived: Duration, why: &'static str) -> Self {
        Self { derived, why }
    }

    /// The wait limit itself: the derived figure times [`SLACK`].
    pub fn limit(self) -> Duration {
        self.derived * SLACK
    }
}

/// A loopback address no one listens on right now.
///
/// Racy by nature (the port is free only until someone else binds it): for addresses that must
/// *not* answer, never for one a process is meant to bind. Prefer [`any_port`] and reading the
/// bound address back.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A loopback port no one listens on right now (see [`free_addr`] for the caveat).
pub fn free_port() -> u16 {
    free_addr().port()
}

/// `127.0.0.1:0`: let the process pick a free port, then read it back.
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A child process with its stderr (or stdout) in a log file, killed when dropped, so a failing
/// assertion leaves nothing running.
pub struct Proc {
    /// The process.
    pub child: Child,
    /// Where its output goes.
    pub log: PathBuf,
}

impl Proc {
    /// Kill the process and reap it (no-op if it has exited).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panic with the log if the process has exited: a dead process never answers, so waiting
    /// out the bound would only hide why.
    pub fn assert_running(&mut self, what: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the process exited ({status}) while waiting for {what}; its log ({}):\n{}",
                self.log.display(),
                self.log()
            );
        }
    }

    /// Wait for `check`, bounded by `bound`; on timeout, or if the process exits, panic with
    /// `what`, the bound and the log.
    pub fn wait_for<T>(
        &mut self,
        bound: Bound,
        what: &str,
        mut check: impl FnMut() -> Option<T>,
    ) -> T {
        let log = self.log.clone();
        poll(bound, what, || {
            self.assert_running(what);
            check()
        })
        .unwrap_or_else(|| {
            panic!(
                "timed out after {:?} waiting for {what} (bound: {} = {:?}, times {SLACK} for a \
                 loaded machine); the process log ({}):\n{}",
                bound.limit(),
                bound.why,
                bound.derived,
                log.display(),
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        })
    }

    /// The address from the first log line containing `marker`, followed somewhere by
    /// `addr=<socket address>` (tracing's field syntax, as `vmcp` logs it) or by
    /// `<marker> <socket address>` (the test servers' plain line).
    pub fn logged_addr(&mut self, marker: &str, bound: Bound) -> SocketAddr {
        let what = format!("the log line `{marker} …` with the bound address");
        let log = self.log.clone();
        self.wait_for(bound, &what, || {
            let text = std::fs::read_to_string(&log).ok()?;
            text.lines()
                .find_map(|line| parse_logged_addr(line, marker))
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// See [`Proc::logged_addr`].
fn parse_logged_addr(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let token = match rest.find("addr=") {
        Some(i) => &rest[i + "addr=".len()..],
        None => rest.trim_start(),
    };
    token.split_whitespace().next()?.parse().ok()
}

/// Start `cmd` with its stderr in `log` (stdout as `cmd` has it set, or discarded).
pub fn spawn_logged(cmd: Command, log: &Path) -> Proc {
    let file = std::fs::File::create(log).expect("create the process log");
    spawn_logged_to(cmd, file, log)
}

/// Start `cmd` with its stderr in `file`, already open on `log`.
pub fn spawn_logged_to(mut cmd: Command, file: std::fs::File, log: &Path) -> Proc {
    let child = cmd.stderr(file).spawn().expect("start the process");
    Proc {
        child,
        log: log.to_owned(),
    }
}

/// Start the `vmcp` binary with `--config config --listen 127.0.0.1:0` plus `args`, logging to
/// `log` (its own log at `info` for the `vmcp` target, `warn` elsewhere, unless `VMCP_LOG` is
/// in `envs`), and return it with the address its status endpoints are bound to.
pub fn start_vmcp(
    config: &Path,
    args: &[&str],
    envs: &[(&str, &str)],
    stdout: Stdio,
    log: &Path,
) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vmcp"));
    cmd.arg("--config")
        .arg(config)
        .arg("--listen")
        .arg(any_port().to_string())
        .args(args)
        .env("VMCP_LOG", "warn,vmcp=info")
        .envs(envs.iter().copied())
        .stdout(stdout);
    let mut vmcp = spawn_logged(cmd, log);
    let addr = vmcp.logged_addr(
        "status endpoints listening",
        Bound::new(PROCESS_START / SLACK, "a process start on a loaded machine"),
    );
    (vmcp, addr)
}

/// A minimal HTTP/1.0 GET; returns (status code, body), or `None` if nothing answered.
pub fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: vmcp\r\n\r\n").ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, body) = raw.split_once("\r\n\r\n")?;
    Some((
        head.split_whitespace().nth(1)?.parse().ok()?,
        body.to_owned(),
    ))
}

/// `/status` as JSON, or `None` while nothing answers 200.
pub fn status(addr: SocketAddr) -> Option<serde_json::Value> {
    let (code, body) = get(addr, "/status")?;
    (code == 200).then(|| serde_json::from_str(&body).expect("/status is JSON"))
}

/// The entry of backend `name` in a `/status` report (panics, naming the report, if absent).
pub fn backend<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["discoveredBackends"]
        .as_array()
        .and_then(|list| list.iter().find(|b| b["name"] == name))
        .unwrap_or_else(|| panic!("backend {name} not in report {report}"))
}

/// Poll `check` every 50 ms until it yields a value, at most `bound.limit()`; `None` on timeout.
#[allow(
    clippy::disallowed_methods,
    reason = "waits on a real process, which runs in real time, not tokio's"
)]
fn poll<T>(bound: Bound, _what: &str, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() >= bound.limit() {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Poll `check` every 50 ms until it yields a value; panic naming `what` after `bound`.
/// Real processes run in real time, so every wait is bounded by a figure the caller derives.
/// (Prefer [`Proc::wait_for`], which also fails at once if the process died and shows its log.)
pub fn wait_for<T>(bound: Duration, what: &str, check: impl FnMut() -> Option<T>) -> T {
    poll(
        Bound::new(bound / SLACK, "given by the caller"),
        what,
        check,
    )
    .unwrap_or_else(|| panic!("timed out after {bound:?} waiting for {what}"))
}

#[test]
fn logged_addresses_are_read_back_from_both_line_forms() {
    let tracing_line = "2026-12-01T09:00:00.000Z  INFO vmcp: status endpoints listening \
                        addr=127.0.0.1:40123";
    assert_eq!(
        parse_logged_addr(tracing_line, "status endpoints listening"),
        Some(SocketAddr::from(([127, 0, 0, 1], 40123)))
    );
    assert_eq!(
        parse_logged_addr("listening on 127.0.0.1:8081", "listening on"),
        Some(SocketAddr::from(([127, 0, 0, 1], 8081)))
    );
    assert_eq!(
        parse_logged_addr("listening on nothing", "listening on"),
        None
    );
    assert_eq!(parse_logged_addr("other line", "listening on"), None);
}

#[test]
#[should_panic(
    expected = "the process exited (exit status: 3) while waiting for an answer; its log"
)]
fn a_dead_process_fails_the_wait_at_once_with_its_log() {
    let dir = std::env::temp_dir().join(format!("vmcp-process-helper-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo boom >&2; exit 3"]);
    let mut proc = spawn_logged(cmd, &dir.join("dead.log"));
    // A bound far longer than the test may take: the exit must end the wait, not the bound.
    proc.wait_for(
        Bound::new(Duration::from_secs(600), "never reached"),
        "an answer",
        || None::<()>,
    );
}

#[test]
#[should_panic(expected = "timed out after 250ms waiting for a line (bound: the test's own = 50ms")]
fn a_wait_past_its_bound_names_the_bound_and_its_derivation() {
    let dir = std::env::temp_dir().join(format!("vmcp-process-bound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("sleep");
    cmd.arg("5");
    let mut proc = spawn_logged(cmd, &dir.join("sleep.log"));
    proc.wait_for(
        Bound::new(Duration::from_millis(50), "the test's own"),
        "a line",
        || None::<()>,
    );
}

/// The Python with the MCP SDK that `test` needs (`VMCP_TEST_PYTHON`). Without it the test is
/// skipped loudly, except under `CI=true`, where a missing Python is a failure (CI must run it;
/// `ci/run` sources `ci/setup-python`).
pub fn test_python(test: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("VMCP_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !in_ci,
        "CI=true but VMCP_TEST_PYTHON is not set: {test} must run in CI \
         (ci/run sources ci/setup-python)"
    );
    eprintln!(
        "\n!!! SKIPPING {test}: VMCP_TEST_PYTHON is not set.\n\
         !!! Run `source ci/setup-python` (a venv with the Python MCP SDK) to enable it.\n"
    );
    None
}
