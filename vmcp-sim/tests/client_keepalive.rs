//! A simulated client never sends a call on a keep-alive connection the front end is closing.
//!
//! Found by a seed sweep of `client-three-callers-100ms`: on seeds 78, 79 and 107 one call of
//! 1710 ended in a transport error. A burst at the start left a client's third pooled
//! connection idle; the front end closes a connection that waits 10 s for its next request (its
//! header read timeout), and the client's pool (hyper-util's default idle timeout, 90 s) handed
//! that connection out at the same instant, so the written request was lost
//! (`IncompleteMessage`). The clients' pools now expire idle connections after 5 s, as httpx does.

use std::path::Path;

use vmcp_sim::runner::run;
use vmcp_sim::scenario::Scenario;

#[test]
fn three_callers_lose_no_call_on_the_seeds_that_raced_an_idle_close() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/client-three-callers-100ms.toml");
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    for seed in [78, 79, 107] {
        let outcome = run(&scenario, seed).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert!(outcome.passed(), "seed {seed}: {:#?}", outcome.failures);
    }
}
