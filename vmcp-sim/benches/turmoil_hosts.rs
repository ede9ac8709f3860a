//! turmoil 0.7.2 alone: the cost of one simulation step against the number of hosts, with no
//! traffic at all (every host's software just waits). Shows the limit the shared pod host works
//! around: turmoil keeps a link per pair of hosts and walks all of them once per host on every
//! step (`Topology::deliver_messages`), so an idle step costs O(hosts³).
//!
//! ```sh
//! cargo bench -p vmcp-sim --bench turmoil_hosts
//! ```

#![allow(
    clippy::disallowed_methods,
    reason = "a benchmark measures real elapsed time (Instant::now), outside any simulation"
)]

use std::time::{Duration, Instant};

/// The allocator the `vmcp-sim` binary runs with (vmcp-sim/src/main.rs says why), so the bench
/// measures what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn step_cost(hosts: usize, steps: u32) -> Duration {
    let mut sim = turmoil::Builder::new()
        .tick_duration(Duration::from_millis(20))
        .simulation_duration(Duration::from_secs(3600))
        .build();
    for i in 0..hosts {
        sim.host(format!("h{i}"), || async {
            std::future::pending::<()>().await;
            Ok(())
        });
    }
    let started = Instant::now();
    for _ in 0..steps {
        sim.step().expect("step");
    }
    started.elapsed() / steps
}

fn main() {
    println!("| hosts | links | idle step (median of 3) | per host |");
    println!("|---:|---:|---:|---:|");
    for hosts in [10, 20, 40, 80, 160] {
        let steps = if hosts > 80 { 50 } else { 500 };
        let mut runs: Vec<Duration> = (0..3).map(|_| step_cost(hosts, steps)).collect();
        runs.sort();
        let step = runs[1];
        println!(
            "| {hosts} | {} | {:.1} µs | {:.2} µs |",
            hosts * (hosts - 1) / 2,
            step.as_secs_f64() * 1e6,
            step.as_secs_f64() * 1e6 / hosts as f64
        );
    }
}
