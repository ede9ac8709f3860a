//! Helpers for the tests that run the `vmcp` binary as a real process on loopback.
#![allow(
    dead_code,
    unreachable_pub,
    reason = "integration-test helpers: the test binary is its own crate, so `pub` here means \"for the test files\"; not every test file uses every helper"
)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// A loopback address no one listens on right now.
pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A loopback port no one listens on right now.
pub fn free_port() -> u16 {
    free_addr().port()
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

/// Poll `check` every 50 ms until it yields a value; panic naming `what` after `bound`.
/// Real processes run in real time, so every wait is bounded by a figure the caller derives.
#[allow(
    clippy::disallowed_methods,
    reason = "waits on a real process, which runs in real time, not tokio's"
)]
pub fn wait_for<T>(bound: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            start.elapsed() < bound,
            "timed out after {bound:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
