//! Back-off delays: exponential, capped, with full jitter.

use std::time::Duration;

/// Exponential back-off with full jitter: before retry `n` (1-based) the
/// delay is uniform in `[0, min(cap, base * 2^(n-1))]`. Jitter can be
/// turned off or seeded for deterministic tests.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    jitter: Jitter,
}

#[derive(Debug, Clone)]
enum Jitter {
    Full(fastrand::Rng),
    None,
}

impl Backoff {
    /// Delays starting at `base` and doubling up to `cap`, with full jitter.
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            jitter: Jitter::Full(fastrand::Rng::new()),
        }
    }

    /// Uses exactly the exponential delay, with no randomness.
    pub fn without_jitter(mut self) -> Self {
        self.jitter = Jitter::None;
        self
    }

    /// Draws jitter from a seeded generator: the same seed gives the same
    /// delays.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.jitter = Jitter::Full(fastrand::Rng::with_seed(seed));
        self
    }

    /// The first delay, before jitter.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The longest delay.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The delay before retry number `retry` (1 for the first retry).
    pub fn delay(&mut self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1).min(31);
        let ceiling = self
            .base
            .checked_mul(1u32 << exponent)
            .unwrap_or(self.cap)
            .min(self.cap);
        match &mut self.jitter {
            Jitter::None => ceiling,
            Jitter::Full(rng) => ceiling.mul_f64(rng.f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b =
            Backoff::new(Duration::from_millis(100), Duration::from_secs(1)).without_jitter();
        let delays: Vec<u128> = (1..=6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_stays_under_the_ceiling_and_is_seedable() {
        let mut a = Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).with_seed(7);
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5)).with_seed(7);
        for n in 1..20 {
            let d = a.delay(n);
            assert_eq!(d, b.delay(n));
            assert!(d <= Duration::from_millis(100 << (n - 1).min(6)).min(Duration::from_secs(5)));
        }
    }
}
