//! How fast the simulation runs: one full run of the stale keep-alive scenario (default pool),
//! of the baseline, and of three clients calling every 100 ms. Simulated seconds per wall second = the scenario's `duration` divided by
//! the time per run; `docs/BENCHMARKS.md` records the figures and how they were produced.

use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use vmcp_sim::runner;
use vmcp_sim::scenario::Scenario;

/// The allocator the `vmcp-sim` binary runs with (vmcp-sim/src/main.rs says why), so the bench
/// measures what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn load(file: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios")
        .join(file);
    Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn scenario_runs(c: &mut Criterion) {
    let mut group = c.benchmark_group("scenario_run");
    group.sample_size(20);
    for file in [
        "stale-keepalive-default-pool.toml",
        "healthy-three-backends.toml",
        // Three MCP clients calling every 100 ms through the front end (issue 13: ≥ 500×).
        "client-three-callers-100ms.toml",
    ] {
        let scenario = load(file);
        let mut seed = 0_u64;
        group.bench_function(scenario.name.clone(), |b| {
            b.iter(|| {
                seed += 1;
                let outcome = runner::run(&scenario, seed).expect("run");
                assert!(outcome.passed());
                outcome.trace.entries.len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, scenario_runs);
criterion_main!(benches);
