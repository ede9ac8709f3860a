//! The `vmcp` status listener's limits as a real process: `max_connections` (one more is closed
//! at once, and the slot is free again when a connection ends) and `header_read_timeout`
//! (slowloris and idle keep-alive connections are closed at the deadline). Bounds come from the
//! config below.

mod process;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use process::{Bound, Proc, get, start_vmcp};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vmcp-limits-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn start(name: &str, status_block: &str) -> (Proc, SocketAddr) {
    let dir = scratch(name);
    let config = dir.join("vmcp.yaml");
    std::fs::write(&config, format!("backends: []\nstatus:\n{status_block}")).unwrap();
    start_vmcp(&config, &[], &[], Stdio::null(), &dir.join("vmcp.log"))
}

/// Whether the server closed `stream` (EOF or reset) within `wait`; `false` if it is still open.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // e.g. a 408 before the close
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn connections_over_max_connections_are_closed_at_once_and_a_freed_slot_serves_again() {
    let (mut vmcp, addr) = start("max", "  max_connections: 3\n  header_read_timeout: 60s\n");
    // /health answers before the slots are taken (and its connection ends).
    assert_eq!(get(addr, "/health").map(|(c, _)| c), Some(200));
    let mut idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Accepted in order: the fourth finds no slot and is closed while the three stay open
    // (their header_read_timeout is a minute away).
    let mut fourth = TcpStream::connect(addr).unwrap();
    assert!(
        closed_within(&mut fourth, Duration::from_secs(5)),
        "the connection over the limit was not closed"
    );
    for stream in &mut idle {
        assert!(
            !closed_within(stream, Duration::from_millis(50)),
            "an idle slot was closed"
        );
    }
    assert_eq!(get(addr, "/health"), None, "no slot: no answer");
    // One ends: its slot serves again.
    drop(idle.pop());
    let answered = vmcp.wait_for(
        Bound::new(
            Duration::from_secs(1),
            "the server noticing a closed connection",
        ),
        "/health to answer on the freed slot",
        || get(addr, "/health").filter(|(c, _)| *c == 200),
    );
    assert_eq!(answered.0, 200);
    assert!(
        vmcp.log().contains("connection limit reached"),
        "{}",
        vmcp.log()
    );
}

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "measures a real process in real time"
)]
fn slowloris_and_idle_connections_are_closed_at_header_read_timeout() {
    let (_vmcp, addr) = start(
        "slowloris",
        "  max_connections: 2\n  header_read_timeout: 500ms\n",
    );
    let bound = Bound::new(Duration::from_millis(500), "header_read_timeout (500ms)");
    // A request head trickled a byte every 50 ms never completes: closed at the deadline, not
    // before (each byte is progress, but the deadline is for the whole head).
    let start = std::time::Instant::now();
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let head = b"GET /health HTTP/1.1\r\nHost: vmcp\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed_at = None;
    'trickle: for byte in head.iter().cycle() {
        if slow.write_all(&[*byte]).is_err() {
            closed_at = Some(start.elapsed());
            break;
        }
        let mut buf = [0u8; 256];
        match slow.read(&mut buf) {
            Ok(_) => {
                closed_at = Some(start.elapsed());
                break 'trickle;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed_at = Some(start.elapsed());
                break;
            }
        }
        if start.elapsed() > bound.limit() {
            break;
        }
    }
    let closed_at = closed_at.unwrap_or_else(|| {
        panic!(
            "a trickled head was not closed within {:?} ({})",
            bound.limit(),
            bound.why
        )
    });
    assert!(
        closed_at >= Duration::from_millis(450),
        "closed after {closed_at:?}, before header_read_timeout (500ms)"
    );
    // An idle keep-alive connection after a full exchange is closed at the deadline too.
    let mut keep = TcpStream::connect(addr).unwrap();
    write!(keep, "GET /health HTTP/1.1\r\nHost: vmcp\r\n\r\n").unwrap();
    let mut buf = [0u8; 512];
    keep.set_read_timeout(Some(bound.limit())).unwrap();
    let n = keep.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    assert!(
        closed_within(&mut keep, bound.limit()),
        "an idle keep-alive connection stayed open past {:?}",
        bound.limit()
    );
    // Both slots are free again.
    assert_eq!(get(addr, "/health").map(|(c, _)| c), Some(200));
}

/// The front end's listener (`server.listen`) has its own limits, from the `server` block:
/// `max_connections` (one more is closed at once) and `body_read_timeout` (a `/mcp` POST whose
/// body trickles gets 408 and its connection is closed at the deadline, freeing its slot).
#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "measures a real process in real time"
)]
fn the_front_end_listener_has_a_connection_limit_and_a_body_deadline() {
    let dir = scratch("server");
    let config = dir.join("vmcp.yaml");
    std::fs::write(
        &config,
        "backends: []\nserver:\n  listen: 127.0.0.1:0\n  max_connections: 2\n  \
         header_read_timeout: 60s\n  body_read_timeout: 500ms\n",
    )
    .unwrap();
    let (mut vmcp, _status) = start_vmcp(&config, &[], &[], Stdio::null(), &dir.join("vmcp.log"));
    let front = vmcp.logged_addr(
        "MCP front end listening",
        Bound::new(
            Duration::from_secs(2),
            "the front end starting after the status listener",
        ),
    );
    let bound = Bound::new(Duration::from_millis(500), "body_read_timeout (500ms)");
    // Two slots: one holds an idle connection, one a trickled body; a third is closed at once.
    let _idle = TcpStream::connect(front).unwrap();
    let start = std::time::Instant::now();
    let mut slow = TcpStream::connect(front).unwrap();
    write!(
        slow,
        "POST /mcp HTTP/1.1\r\nHost: vmcp\r\nContent-Type: application/json\r\n\
         Content-Length: 1000\r\n\r\n{{"
    )
    .unwrap();
    let mut third = TcpStream::connect(front).unwrap();
    assert!(
        closed_within(&mut third, Duration::from_secs(5)),
        "the connection over server.max_connections was not closed"
    );
    // The trickler: a byte every 50 ms until the server answers or closes.
    slow.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut reply = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        match slow.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
        if slow.write_all(b" ").is_err() && !reply.is_empty() {
            break;
        }
        assert!(
            start.elapsed() <= bound.limit(),
            "a trickled body was not refused within {:?} ({})",
            bound.limit(),
            bound.why
        );
    }
    let elapsed = start.elapsed();
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("body_read_timeout (500ms)"), "{reply}");
    assert!(
        elapsed >= Duration::from_millis(450),
        "refused after {elapsed:?}, before body_read_timeout (500ms)"
    );
    // Its slot is free again: a new connection is served.
    drop(slow);
    let answered = vmcp.wait_for(
        Bound::new(
            Duration::from_secs(1),
            "the server noticing a closed connection",
        ),
        "/health to answer on the freed slot",
        || get(front, "/health").filter(|(c, _)| *c == 200),
    );
    assert_eq!(answered.0, 200);
}

/// The status endpoints never read a request body: hyper then closes the connection after the
/// answer instead of waiting for the rest, so a trickled body cannot hold a status slot either.
#[test]
fn a_body_the_status_endpoints_never_read_cannot_hold_a_connection() {
    let (_vmcp, addr) = start("body", "  max_connections: 1\n  header_read_timeout: 60s\n");
    let mut slow = TcpStream::connect(addr).unwrap();
    write!(
        slow,
        "POST /status HTTP/1.1\r\nHost: vmcp\r\nContent-Length: 1000\r\n\r\nx"
    )
    .unwrap();
    let mut head = [0u8; 64];
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let n = slow.read(&mut head).unwrap();
    assert!(
        String::from_utf8_lossy(&head[..n]).starts_with("HTTP/1.1 405"),
        "{}",
        String::from_utf8_lossy(&head[..n])
    );
    assert!(
        closed_within(&mut slow, Duration::from_secs(2)),
        "the connection waited for the rest of a body nobody reads"
    );
    assert_eq!(
        get(addr, "/health").map(|(c, _)| c),
        Some(200),
        "the slot is free"
    );
}
