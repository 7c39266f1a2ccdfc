//! The one clock the fake server reads.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The server's notion of now. [`Clock::tokio`] follows tokio's clock, so
/// `tokio::time::pause()` and `advance()` move it in tests; a
/// [`Clock::manual`] one moves only when told.
#[derive(Clone)]
pub struct Clock(Source);

#[derive(Clone)]
enum Source {
    Tokio {
        origin: SystemTime,
        start: tokio::time::Instant,
    },
    Manual(Arc<Mutex<SystemTime>>),
}

impl Clock {
    /// Wall-clock time now, rounded down to a whole second (so per-second
    /// windows such as throttling fall the same way in every run), advancing
    /// with tokio's clock from here on.
    pub fn tokio() -> Self {
        // The one place the fake server reads the system clock.
        let now = SystemTime::now();
        let seconds = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Self::tokio_from(SystemTime::UNIX_EPOCH + Duration::from_secs(seconds))
    }

    /// Starts at `origin` and advances with tokio's clock.
    pub fn tokio_from(origin: SystemTime) -> Self {
        Self(Source::Tokio {
            origin,
            start: tokio::time::Instant::now(),
        })
    }

    /// A clock stopped at `at` until [`Clock::advance`].
    pub fn manual(at: SystemTime) -> Self {
        Self(Source::Manual(Arc::new(Mutex::new(at))))
    }

    /// Now.
    pub fn now(&self) -> SystemTime {
        match &self.0 {
            Source::Tokio { origin, start } => *origin + start.elapsed(),
            Source::Manual(at) => *at.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Now, in whole seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> i64 {
        unix_seconds(self.now())
    }

    /// Moves a manual clock forward; a tokio clock moves with
    /// `tokio::time::advance` instead, and this does nothing to it.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(at) = &self.0 {
            let mut at = at.lock().unwrap_or_else(|e| e.into_inner());
            *at += by;
        }
    }
}

/// Seconds since the Unix epoch (negative before it).
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => after.as_secs() as i64,
        Err(before) => -(before.duration().as_secs() as i64),
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            Source::Tokio { .. } => "tokio",
            Source::Manual(_) => "manual",
        };
        f.debug_struct("Clock")
            .field("kind", &kind)
            .field("now", &self.now())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn tokio_clock_follows_paused_time() {
        let origin = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let clock = Clock::tokio_from(origin);
        assert_eq!(clock.unix_seconds(), 1_000);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(clock.unix_seconds(), 1_090);
    }

    #[test]
    fn manual_clock_moves_when_told() {
        let clock = Clock::manual(SystemTime::UNIX_EPOCH);
        clock.advance(Duration::from_secs(5));
        assert_eq!(clock.unix_seconds(), 5);
    }
}
