//! [`SimRng`]: the harness's own seeded random source, and the fingerprint of its final state
//! (FoundationDB's "unseed" check).
//!
//! Randomness the harness adds to a run (today: the seed each restarted vMCP process gets; any
//! further seeded source of the world should draw here too) comes from one ChaCha8 stream seeded
//! with the run's seed. At the end of the run the outcome records a fingerprint of the stream's
//! final state: the number of draws and the next value. Two runs of one seed that consumed the
//! stream differently (a different number of restarts, a source drawing in another order)
//! differ in their fingerprint even when their traces happen to agree; `explore
//! --check-determinism` compares both.

use std::sync::{Arc, Mutex, MutexGuard};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct State {
    rng: ChaCha8Rng,
    draws: u64,
}

/// A shared, seeded random stream; clones share it.
#[derive(Clone)]
pub struct SimRng {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for SimRng {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimRng")
            .field("draws", &self.lock().draws)
            .finish()
    }
}

impl SimRng {
    /// The stream of `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0x756e_7365_6564_2121),
                draws: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next value.
    pub fn next_u64(&self) -> u64 {
        let mut state = self.lock();
        state.draws += 1;
        state.rng.next_u64()
    }

    /// How many values were drawn.
    pub fn draws(&self) -> u64 {
        self.lock().draws
    }

    /// 16 hex digits: FNV-1a of the draw count and the value the stream would give next (read
    /// from a copy, so taking the fingerprint does not advance the stream).
    pub fn fingerprint(&self) -> String {
        let state = self.lock();
        let next = state.rng.clone().next_u64();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in state
            .draws
            .to_le_bytes()
            .into_iter()
            .chain(next.to_le_bytes())
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_follows_the_draws_and_the_seed() {
        let (a, b) = (SimRng::new(7), SimRng::new(7));
        assert_eq!(a.fingerprint(), b.fingerprint());
        let _ = a.next_u64();
        assert_ne!(a.fingerprint(), b.fingerprint(), "one more draw");
        let _ = b.next_u64();
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), a.fingerprint(), "reading does not draw");
        assert_ne!(SimRng::new(8).fingerprint(), SimRng::new(7).fingerprint());
        assert_eq!(a.draws(), 1);
    }
}
