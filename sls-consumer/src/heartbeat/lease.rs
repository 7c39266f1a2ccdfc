//! [`Lease`]: how long this consumer may go on reading its shards after its
//! last answered heartbeat.
//!
//! The service drops a consumer it has not heard from for the group's
//! timeout and gives its shards to others. Every official consumer writes
//! its own timeout into the group when it starts (the Python consumer's is
//! two heartbeat intervals: aliyun-log-python-sdk `aliyun/log/consumer/
//! config.py` sets `consumer_group_time_out` to twice `heartbeat_interval`),
//! so the timeout in
//! force is whatever the last member to start chose. The lease therefore
//! follows the group's timeout as read back from the service, not our own
//! setting, and the heartbeat interval in force shrinks to half of it when
//! another member lowered it below two of our intervals.
//!
//! The lease is counted from when the last answered heartbeat was *sent*
//! (the service received it later), and ends a margin of a quarter
//! interval before the service's timeout: at two intervals, a heartbeat
//! renews it with three quarters of an interval to spare, time in which a
//! failed heartbeat is retried.

use std::time::Duration;

use tokio::time::Instant;

/// The shortest interval in force, whatever the group's timeout.
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The local lease on every shard this consumer holds.
#[derive(Debug, Clone)]
pub(crate) struct Lease {
    /// The configured heartbeat interval.
    interval: Duration,
    /// The group's timeout, as last read from the service (our own until
    /// then).
    timeout: Duration,
    /// When the last answered heartbeat was sent.
    renewed: Option<Instant>,
}

impl Lease {
    /// A lease for heartbeats every `interval` in a group whose timeout is
    /// `timeout`; not yet renewed.
    pub(crate) fn new(interval: Duration, timeout: Duration) -> Self {
        Self {
            interval,
            timeout,
            renewed: None,
        }
    }

    /// The heartbeat interval in force: the configured one, or half the
    /// group's timeout when that is shorter.
    pub(crate) fn interval(&self) -> Duration {
        self.interval.min(self.timeout / 2).max(MIN_INTERVAL)
    }

    /// The group's timeout in force.
    #[cfg(test)]
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How much earlier than the service's timeout the lease ends.
    fn margin(&self) -> Duration {
        self.interval() / 4
    }

    /// How long the lease lasts from a heartbeat's sending.
    pub(crate) fn length(&self) -> Duration {
        self.timeout.saturating_sub(self.margin())
    }

    /// A heartbeat sent at `sent_at` was answered.
    pub(crate) fn renew(&mut self, sent_at: Instant) {
        self.renewed = Some(self.renewed.map_or(sent_at, |last| last.max(sent_at)));
    }

    /// When the lease ends; `None` before the first answered heartbeat.
    pub(crate) fn end(&self) -> Option<Instant> {
        self.renewed.map(|sent| sent + self.length())
    }

    /// Whether the lease has run out at `now` (or never began).
    pub(crate) fn expired(&self, now: Instant) -> bool {
        self.end().is_none_or(|end| now >= end)
    }

    /// Whether a heartbeat sent at `sent_at` and answered at `now` still
    /// grants a lease: an answer that took longer than the lease is stale.
    pub(crate) fn grants(&self, sent_at: Instant, now: Instant) -> bool {
        now < sent_at + self.length()
    }

    /// Follows the group's timeout as the service now reports it. Returns
    /// the timeout it replaces when it changed.
    pub(crate) fn follow(&mut self, timeout: Duration) -> Option<Duration> {
        let old = self.timeout;
        (timeout != old && !timeout.is_zero()).then(|| {
            self.timeout = timeout;
            old
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn at_two_intervals_each_heartbeat_renews_before_the_lease_ends() {
        let t0 = Instant::now();
        let mut lease = Lease::new(S, 2 * S);
        assert!(lease.expired(t0), "no lease before a heartbeat");
        lease.renew(t0);
        assert_eq!(lease.end(), Some(t0 + Duration::from_millis(1750)));
        // The next heartbeat is due at t0 + 1 s, well inside the lease.
        assert!(!lease.expired(t0 + lease.interval()));
        assert!(lease.expired(t0 + Duration::from_millis(1750)));
    }

    #[test]
    fn every_ratio_from_two_leaves_time_to_retry() {
        for ratio in 2..=10u32 {
            let lease = Lease::new(S, ratio * S);
            let slack = lease.length() - lease.interval();
            assert!(
                slack >= lease.interval() * 3 / 4,
                "ratio {ratio}: {slack:?}"
            );
            assert!(lease.length() < lease.timeout(), "ratio {ratio}");
        }
    }

    #[test]
    fn a_lowered_group_timeout_shortens_the_lease_and_the_interval() {
        let t0 = Instant::now();
        let mut lease = Lease::new(3 * S, 9 * S);
        lease.renew(t0);
        assert_eq!(lease.interval(), 3 * S);
        // A Python member starts with 1 s heartbeats and a 2 s timeout.
        assert_eq!(lease.follow(2 * S), Some(9 * S));
        assert_eq!(lease.interval(), S);
        assert_eq!(lease.end(), Some(t0 + Duration::from_millis(1750)));
        assert_eq!(lease.follow(2 * S), None, "no change, nothing to say");
        // Raised again: the lease follows up too.
        assert_eq!(lease.follow(60 * S), Some(2 * S));
        assert_eq!(lease.interval(), 3 * S);
    }

    #[test]
    fn renewals_never_move_the_lease_back() {
        let t0 = Instant::now();
        let mut lease = Lease::new(S, 2 * S);
        lease.renew(t0 + S);
        lease.renew(t0);
        assert_eq!(lease.end(), Some(t0 + S + lease.length()));
    }

    #[test]
    fn a_late_answer_grants_nothing() {
        let t0 = Instant::now();
        let lease = Lease::new(S, 2 * S);
        assert!(lease.grants(t0, t0 + S));
        assert!(!lease.grants(t0, t0 + 2 * S));
    }
}
