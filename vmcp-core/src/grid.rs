//! Fixed schedules (`origin + k × step`): the probe grid of a backend and the periodic report.
//!
//! Why a module of its own: both loops skip the points they missed (a late wake-up does not make
//! up the probes or reports it missed, like `MissedTickBehavior::Skip`), and both must compute
//! the next point in one step: adding the step in a loop until it passes `now` spins when the
//! step is tiny, and capping the step count makes the schedule fall into the past.

use std::time::Duration;

use tokio::time::Instant;

/// The first point of the grid `origin + k × step` (k ≥ 0) strictly after `now`.
///
/// A zero step, or a point too far away to represent, yields `now + step` (or `now`): never
/// a point in the past, never a panic.
pub(crate) fn next_after(origin: Instant, step: Duration, now: Instant) -> Instant {
    if now < origin {
        return origin;
    }
    let step_nanos = step.as_nanos();
    if step_nanos == 0 {
        return now;
    }
    let elapsed = (now - origin).as_nanos();
    let steps = elapsed / step_nanos + 1;
    let offset = steps.saturating_mul(step_nanos);
    let secs = u64::try_from(offset / 1_000_000_000).unwrap_or(u64::MAX);
    // `offset % 1e9` is below 1e9, so it fits in a u32.
    let nanos = u32::try_from(offset % 1_000_000_000).unwrap_or(0);
    origin
        .checked_add(Duration::new(secs, nanos))
        .unwrap_or_else(|| now.checked_add(step).unwrap_or(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn next_point_is_strictly_after_now_and_on_the_grid() {
        let o = crate::clock::monotonic_now();
        assert_eq!(next_after(o, 10 * MS, o - MS), o);
        assert_eq!(next_after(o, 10 * MS, o), o + 10 * MS);
        assert_eq!(next_after(o, 10 * MS, o + 9 * MS), o + 10 * MS);
        assert_eq!(next_after(o, 10 * MS, o + 10 * MS), o + 20 * MS);
        assert_eq!(next_after(o, 10 * MS, o + 25 * MS), o + 30 * MS);
    }

    #[test]
    fn many_steps_do_not_fall_into_the_past() {
        // 2^33 steps of 1 ns: more than a u32 step count can hold.
        let o = crate::clock::monotonic_now();
        let now = o + Duration::from_nanos(1 << 33);
        let next = next_after(o, Duration::from_nanos(1), now);
        assert_eq!(next, now + Duration::from_nanos(1));
    }

    #[test]
    fn a_zero_step_never_goes_back() {
        let o = crate::clock::monotonic_now();
        assert_eq!(next_after(o, Duration::ZERO, o + MS), o + MS);
    }
}
