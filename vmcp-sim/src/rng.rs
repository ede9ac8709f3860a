//! [`SimRng`]: the harness's own seeded random source, and [`Fingerprint`], the fingerprint of
//! the final state of every seeded stream of a run (FoundationDB's "unseed" check).
//!
//! The seeded streams that drive a run's schedule (DESIGN §4.5), and what the fingerprint reads
//! from each:
//!
//! * the harness's stream ([`SimRng`], the seed of each restarted vMCP): draws and next value;
//! * the world's stream, which seeds the pods and the vmcp host (`World`'s own ChaCha8), the
//!   vmcp host's start-delay stream, and every pod's stream (session ids, response jitter, start
//!   offsets): each one's seed and position (ChaCha's word position: every value drawn moves it,
//!   whatever its width);
//! * the seeds handed to the core (`RuntimeParts::rng_seed` of every vMCP start, which seed its
//!   breakers' and monitor's ChaCha8 streams): the values, in order. The core's streams
//!   themselves are private to `vmcp-core`; what they draw shows in the trace hash.
//!
//! Two runs of one seed that consumed any of these differently (a different number of restarts,
//! a pod answering one more request, a source drawing in another order) differ in their
//! fingerprint even when their traces happen to agree; `explore --check-determinism` compares
//! both. turmoil's own RNG (latencies, host order) is not reachable from outside turmoil; its
//! effect is in the trace hash.

use std::sync::{Arc, Mutex, MutexGuard};

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::world::World;

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
        let mut fingerprint = Fingerprint::new();
        self.fold_into(&mut fingerprint);
        fingerprint.hex()
    }

    /// Folds the draw count and the next value into `fingerprint`.
    pub fn fold_into(&self, fingerprint: &mut Fingerprint) {
        let state = self.lock();
        let next = state.rng.clone().next_u64();
        fingerprint.add(state.draws);
        fingerprint.add(next);
    }
}

/// The seeds handed to the core, one per vMCP start, in order (shared with the vmcp host's
/// software, which pushes one per start).
pub(crate) type CoreSeeds = Arc<Mutex<Vec<u64>>>;

/// The run's `rng_fingerprint`: the harness's stream, the world's streams (its own, the vmcp
/// host's, every pod's) and the seeds the core was given.
pub(crate) fn run_fingerprint(harness: &SimRng, world: &World, core_seeds: &CoreSeeds) -> String {
    let mut fingerprint = Fingerprint::new();
    harness.fold_into(&mut fingerprint);
    world.fold_rng_state(&mut fingerprint);
    fold_core_seeds(
        &mut fingerprint,
        &core_seeds.lock().unwrap_or_else(|p| p.into_inner()),
    );
    fingerprint.hex()
}

fn fold_core_seeds(fingerprint: &mut Fingerprint, seeds: &[u64]) {
    fingerprint.add(seeds.len() as u64);
    for seed in seeds {
        fingerprint.add(*seed);
    }
}

/// FNV-1a over the state of several streams, in a fixed order: the run's `rng_fingerprint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    hash: u64,
}

impl Default for Fingerprint {
    fn default() -> Self {
        Self::new()
    }
}

impl Fingerprint {
    /// The empty fingerprint.
    pub fn new() -> Self {
        Self {
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    /// Folds in one value.
    pub fn add(&mut self, value: u64) {
        for byte in value.to_le_bytes() {
            self.hash ^= u64::from(byte);
            self.hash = self.hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Folds in a ChaCha8 stream's seed and position (how far it has been drawn).
    pub fn add_stream(&mut self, rng: &ChaCha8Rng) {
        for chunk in rng.get_seed().chunks(8) {
            let mut bytes = [0_u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(bytes));
        }
        let position = rng.get_word_pos();
        self.add(position as u64);
        self.add((position >> 64) as u64);
    }

    /// 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.hash)
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

    #[test]
    fn the_run_fingerprint_covers_the_harness_and_the_core_seeds() {
        let world = World::new(crate::world::WorldConfig::default());
        let run = |harness: &SimRng, seeds: &[u64]| {
            run_fingerprint(harness, &world, &Arc::new(Mutex::new(seeds.to_vec())))
        };
        let (a, b) = (SimRng::new(1), SimRng::new(1));
        assert_eq!(run(&a, &[1]), run(&b, &[1]));
        assert_ne!(run(&a, &[1]), run(&b, &[2]), "another core seed");
        assert_ne!(run(&a, &[1]), run(&b, &[1, 1]), "one more vMCP start");
        let _ = a.next_u64();
        assert_ne!(run(&a, &[1]), run(&b, &[1]), "one more harness draw");
    }

    #[test]
    fn a_stream_fingerprint_follows_its_position_and_seed() {
        use rand::Rng;
        let stream = |seed| ChaCha8Rng::seed_from_u64(seed);
        let of = |rng: &ChaCha8Rng| {
            let mut f = Fingerprint::new();
            f.add_stream(rng);
            f.hex()
        };
        let (mut a, b) = (stream(1), stream(1));
        assert_eq!(of(&a), of(&b));
        let _: u32 = a.random();
        assert_ne!(of(&a), of(&b), "one 32-bit draw moves the position");
        assert_ne!(of(&stream(2)), of(&b), "another seed");
    }
}
