//! Pacing a shard's pulls to the service's read quota.
//!
//! The service limits each shard's reads (bytes and pulls a second) and
//! each project's (pulls a minute), and answers a pull past them with 403
//! `ShardReadQuotaExceed` or `ReadQuotaExceed`. It does not say which
//! limit was met, nor how much is left. A shard that backs off
//! exponentially on those answers drains a backlog at a fraction of what
//! the quota allows; one that ignores them wastes a request each time.
//!
//! So each shard paces itself, additive increase and multiplicative
//! decrease as TCP does, on two rates at once (bytes and pulls a second):
//! - Until the first refusal the shard is not paced at all.
//! - The first refusal sets both rates to what the service accepted over
//!   the last [`WINDOW`] (at least a second: the service's buckets start
//!   with a second's worth); each later one cuts them to [`CUT`] of
//!   themselves, at most once per [`CUT_SPACING`] (the refusals that
//!   follow a cut are the same congestion, not news). The next try waits
//!   one pull's time at the rates, doubled with each refusal in a row (a
//!   bucket deep in debt), up to 2 s.
//! - Each accepted pull grows both rates by [`GROWTH`] of the rate set at
//!   the last cut per second since the last growth, so a shard probes up
//!   slowly and meets the quota again after several seconds.
//! - A pull starts no earlier than the last one's start plus its cost at
//!   the rates: its bytes over the byte rate, or one over the pull rate,
//!   whichever is longer.
//! - After [`RELEASE_AFTER`] without a refusal the shard lets go of its
//!   rates and pulls unpaced again: whatever held the quota may be gone,
//!   and additive growth from a low rate is slow. If the quota still
//!   binds, the next refusal sets the rates again from what was accepted.
//!
//! A shard's pacer answers `ShardReadQuotaExceed`. `ReadQuotaExceed` is
//! the project's quota, which every shard shares: one pacer of the
//! worker's answers it, on pulls a second only, and every pull takes its
//! place there in turn ([`Pacer::slot`]).
//!
//! Refusals are not failures: they are retried forever (a stop ends them),
//! counted apart ([`ShardMetrics::pulls_refused_for_quota`](crate::ShardMetrics::pulls_refused_for_quota)),
//! and the position keeps moving at the paced rate, so the shard never
//! looks stalled. [`Pacer`] is pure (time is passed in);
//! [`paced_pull`] reads tokio's clock, so paused time drives it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_client::{PullLogsRequest, PullLogsResponse};
use tokio::time::Instant;

use crate::budget::Budget;
use crate::calls::fate::{Fate, Recovery};
use crate::calls::{CallError, Calls};
use crate::metrics::Registry;

/// How far back the accepted rate is measured.
pub(crate) const WINDOW: Duration = Duration::from_secs(2);
/// What a refusal multiplies the rates by.
pub(crate) const CUT: f64 = 0.9;
/// The growth of each rate, a second, as a fraction of the rate set at the
/// last cut.
pub(crate) const GROWTH: f64 = 0.02;
/// At most one cut this often.
pub(crate) const CUT_SPACING: Duration = Duration::from_secs(1);
/// The rates never go below these: a pull every 10 s, 1 KiB/s.
const MIN_PULLS: f64 = 0.1;
const MIN_BYTES: f64 = 1024.0;
/// A pacer not refused for this long lets go of its rates.
pub(crate) const RELEASE_AFTER: Duration = Duration::from_secs(30);
/// The longest wait after refusals in a row.
const MAX_REFUSED_WAIT: Duration = Duration::from_secs(2);
/// The longest one growth step counts: a shard that was idle does not
/// come back with a rate grown for all that time.
const MAX_GROWTH_STEP: Duration = Duration::from_secs(1);

/// The rates a shard is paced to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Rate {
    /// Bytes a second, as received (compressed: what the service counts).
    pub(crate) bytes: f64,
    /// Pulls a second.
    pub(crate) pulls: f64,
}

impl Rate {
    fn floor(self) -> Self {
        Self {
            bytes: self.bytes.max(MIN_BYTES),
            pulls: self.pulls.max(MIN_PULLS),
        }
    }

    /// How long a pull of `bytes` takes at this rate.
    fn cost(self, bytes: u64) -> Duration {
        let seconds = (bytes as f64 / self.bytes).max(1.0 / self.pulls);
        Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
    }
}

/// One shard's pacing state.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    /// `None` until the first refusal.
    rate: Option<Rate>,
    /// The rate set at the last cut: growth is a fraction of it.
    cut_to: Option<Rate>,
    last_cut: Option<Instant>,
    last_growth: Option<Instant>,
    /// The earliest start of the next pull.
    next: Option<Instant>,
    /// Accepted pulls within [`WINDOW`]: when answered, and their bytes.
    recent: VecDeque<(Instant, u64)>,
    /// When the first pull started: the window is shorter before.
    first: Option<Instant>,
    /// Refusals since the last accepted pull: the wait before the next
    /// try doubles with each (the service's bucket is deeper in debt than
    /// one pull).
    refusals_in_a_row: u32,
    last_refusal: Option<Instant>,
}

impl Pacer {
    /// The rates the shard is paced to (`None`: not paced).
    pub(crate) fn rate(&self) -> Option<Rate> {
        self.rate
    }

    /// How long to wait at `now` before the next pull may start.
    pub(crate) fn wait(&self, now: Instant) -> Duration {
        self.next
            .map_or(Duration::ZERO, |next| next.saturating_duration_since(now))
    }

    /// A pull is sent at `now`.
    pub(crate) fn sent(&mut self, now: Instant) {
        self.first.get_or_insert(now);
    }

    /// A pull started at `started` was answered at `now` with `bytes`:
    /// the next one starts no earlier than its cost after it.
    /// Returns whether the pacer let go ([`Pacer::counted`]).
    pub(crate) fn accepted(&mut self, started: Instant, now: Instant, bytes: u64) -> bool {
        let released = self.counted(started, now, bytes);
        if let Some(rate) = self.rate {
            let from = self.next.map_or(started, |next| next.max(started));
            self.next = Some(from + rate.cost(bytes));
        }
        released
    }

    /// Records an accepted pull and grows the rates, without scheduling
    /// the next (a shared pacer schedules with [`Pacer::slot`]). Returns
    /// whether the pacer let go: no refusal for [`RELEASE_AFTER`].
    pub(crate) fn counted(&mut self, started: Instant, now: Instant, bytes: u64) -> bool {
        self.first.get_or_insert(started);
        self.refusals_in_a_row = 0;
        self.recent.push_back((now, bytes));
        self.forget(now);
        let quiet = self
            .last_refusal
            .is_some_and(|last| now.saturating_duration_since(last) >= RELEASE_AFTER);
        if quiet && self.rate.is_some() {
            // Whatever held the quota (another consumer, a burst) may be
            // gone, and growth from a low rate is slow: start unpaced
            // again; if the quota still binds, the next refusal says so.
            self.rate = None;
            self.cut_to = None;
            self.next = None;
            return true;
        }
        let (Some(rate), Some(cut_to)) = (self.rate.as_mut(), self.cut_to) else {
            return false;
        };
        let step = self
            .last_growth
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last))
            .min(MAX_GROWTH_STEP)
            .as_secs_f64();
        rate.bytes += GROWTH * cut_to.bytes * step;
        rate.pulls += GROWTH * cut_to.pulls * step;
        self.last_growth = Some(now);
        false
    }

    /// For a pacer several shards share (the project's): reserves the next
    /// pull's place at the pull rate and returns how long to wait for it.
    pub(crate) fn slot(&mut self, now: Instant) -> Duration {
        let Some(rate) = self.rate else {
            return self.wait(now);
        };
        let at = self.next.map_or(now, |next| next.max(now));
        self.next = Some(at + rate.cost(0));
        at.saturating_duration_since(now)
    }

    /// A pull was refused for quota at `now`.
    pub(crate) fn refused(&mut self, now: Instant) {
        self.last_refusal = Some(now);
        self.forget(now);
        let may_cut = self
            .last_cut
            .is_none_or(|last| now.saturating_duration_since(last) >= CUT_SPACING);
        if may_cut {
            // The first cut starts from what the service accepted; later
            // ones from the rate itself (what a shard was accepted while
            // others shared the quota says little about the quota).
            let cut = match self.rate {
                Some(rate) => Some(Rate {
                    bytes: rate.bytes * CUT,
                    pulls: rate.pulls * CUT,
                }),
                // What the service let through while it refused is the
                // quota, as closely as it can be told: no cut below it.
                None => self.observed(now),
            };
            if let Some(cut) = cut.map(Rate::floor) {
                self.rate = Some(cut);
                self.cut_to = Some(cut);
                self.last_cut = Some(now);
                self.last_growth = Some(now);
            }
        }
        // The next try: one typical pull's time at the rates (a second
        // when nothing was accepted yet to learn them from), doubled with
        // each refusal in a row, up to the cap.
        let wait = match self.rate {
            Some(rate) => rate.cost(self.typical_pull()),
            None => Duration::from_secs(1),
        };
        let doubled = wait.saturating_mul(1 << self.refusals_in_a_row.min(16));
        self.refusals_in_a_row = self.refusals_in_a_row.saturating_add(1);
        // Never earlier than places already handed out ([`Pacer::slot`]).
        let at = now
            + doubled
                .min(MAX_REFUSED_WAIT)
                .max(wait.min(MAX_REFUSED_WAIT));
        self.next = Some(self.next.map_or(at, |next| next.max(at)));
    }

    /// The rates accepted over the recent window, if any pull was.
    fn observed(&self, now: Instant) -> Option<Rate> {
        if self.recent.is_empty() {
            return None;
        }
        let since = self
            .first
            .map_or(WINDOW, |first| now.saturating_duration_since(first));
        // At least a second: the service's buckets start with a second's
        // worth, which a shorter span would take for the rate.
        let span = since.clamp(Duration::from_secs(1), WINDOW).as_secs_f64();
        let bytes: u64 = self.recent.iter().map(|(_, b)| b).sum();
        Some(
            Rate {
                bytes: bytes as f64 / span,
                pulls: self.recent.len() as f64 / span,
            }
            .floor(),
        )
    }

    /// The mean bytes of the pulls in the window.
    fn typical_pull(&self) -> u64 {
        let n = self.recent.len().max(1) as u64;
        self.recent.iter().map(|(_, b)| b).sum::<u64>() / n
    }

    fn forget(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > WINDOW)
        {
            self.recent.pop_front();
        }
    }
}

/// A shard's pacer, shared by its pull and the one started ahead; or the
/// project's, shared by every shard of the worker (pulls only).
pub(crate) type SharedPacer = Arc<Mutex<Pacer>>;

fn lock(pacer: &SharedPacer) -> std::sync::MutexGuard<'_, Pacer> {
    pacer.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sends `pull` when the pacer allows, holding a fetch slot only while it
/// is in flight; a refusal for quota is paced and sent again, until it is
/// answered otherwise (a stop ends it through the calls' own stop).
pub(crate) async fn paced_pull(
    pacer: &SharedPacer,
    project: &SharedPacer,
    budget: &Budget,
    calls: &Calls,
    metrics: &Registry,
    shard: u32,
    pull: PullLogsRequest,
) -> Result<PullLogsResponse, CallError> {
    loop {
        let wait = lock(pacer).wait(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let wait = lock(project).slot(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let answer = {
            let _slot = budget.fetch_slot().await;
            let started = Instant::now();
            lock(pacer).sent(started);
            calls
                .pull(pull.clone())
                .await
                .map(|pulled| (started, pulled))
        };
        let now = Instant::now();
        // What to show: `None` leaves the figures as they are.
        let shown = match &answer {
            Ok((started, pulled)) => {
                let released = lock(project).counted(*started, now, 0)
                    | lock(pacer).accepted(*started, now, pulled.compressed.len() as u64);
                let shown = (lock(pacer).rate(), lock(project).rate());
                (released || shown != (None, None)).then_some(shown)
            }
            Err(CallError::Failed {
                fate: Fate::Recover(Recovery::Pace),
                error,
                ..
            }) => {
                // The project's quota is shared by every shard: one pacer
                // for all of them, or each would cut only its own share
                // and refusals would grow with the shard count.
                if error.error_code() == Some(sls_client::ErrorCode::ReadQuotaExceed) {
                    lock(project).refused(now);
                } else {
                    lock(pacer).refused(now);
                }
                let shown = (lock(pacer).rate(), lock(project).rate());
                tracing::debug!(shard, %error, paced = ?shown, "pull refused for quota; pacing");
                metrics.update(shard, |m| m.pulls_refused_for_quota += 1);
                Some(shown)
            }
            Err(_) => None,
        };
        if let Some((own, project)) = shown {
            let pulls = match (own, project) {
                (Some(a), Some(b)) => Some(a.pulls.min(b.pulls)),
                (a, b) => a.or(b).map(|r| r.pulls),
            };
            metrics.update(shard, |m| {
                m.paced_bytes_per_second = own.map(|r| r.bytes as u64);
                m.paced_pulls_per_minute = pulls.map(|p| (p * 60.0) as u64);
            });
        }
        match answer {
            Ok((_, pulled)) => return Ok(pulled),
            Err(CallError::Failed {
                fate: Fate::Recover(Recovery::Pace),
                ..
            }) => continue,
            Err(err) => return Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service's shard quota as the fake models it: token buckets
    /// holding a second's worth; a pull is admitted while the byte bucket
    /// is not empty and a pull token is left, and its bytes may overdraw.
    struct Service {
        bytes_rate: f64,
        pulls_rate: f64,
        bytes: f64,
        pulls: f64,
        at: Instant,
    }

    impl Service {
        fn new(bytes_rate: f64, pulls_rate: f64, at: Instant) -> Self {
            Self {
                bytes_rate,
                pulls_rate,
                bytes: bytes_rate,
                pulls: pulls_rate,
                at,
            }
        }

        fn pull(&mut self, now: Instant, size: u64) -> bool {
            let dt = now.saturating_duration_since(self.at).as_secs_f64();
            self.at = now;
            self.bytes = (self.bytes + dt * self.bytes_rate).min(self.bytes_rate);
            self.pulls = (self.pulls + dt * self.pulls_rate).min(self.pulls_rate);
            if self.bytes <= 0.0 || self.pulls < 1.0 {
                return false;
            }
            self.pulls -= 1.0;
            self.bytes -= size as f64;
            true
        }
    }

    /// Drains as fast as the pacer lets it (a pull answered `latency`
    /// after it starts) for `seconds`; returns bytes accepted a second
    /// after the first `settle` seconds, and the refused share of the pulls
    /// after them.
    fn drain(
        service: &mut Service,
        size: u64,
        latency: Duration,
        seconds: u64,
        settle: u64,
    ) -> (f64, f64) {
        let start = service.at;
        let settled = start + Duration::from_secs(settle);
        let end = start + Duration::from_secs(seconds);
        let mut pacer = Pacer::default();
        let mut now = start;
        let (mut bytes, mut pulls, mut refused) = (0u64, 0u64, 0u64);
        while now < end {
            now += pacer.wait(now);
            let started = now;
            pacer.sent(started);
            let ok = service.pull(started, size);
            now += latency;
            if ok {
                pacer.accepted(started, now, size);
            } else {
                pacer.refused(now);
            }
            if started >= settled {
                pulls += 1;
                if ok {
                    bytes += size;
                } else {
                    refused += 1;
                }
            }
        }
        let seconds = (seconds - settle) as f64;
        (bytes as f64 / seconds, refused as f64 / pulls as f64)
    }

    #[test]
    fn a_backlog_drains_near_the_byte_quota_with_few_refusals() {
        let start = Instant::now();
        // 20 MiB/s, pulls of 1 MiB answered in 5 ms.
        let quota = 20.0 * 1048576.0;
        let mut service = Service::new(quota, 100.0, start);
        let (rate, refused) = drain(&mut service, 1 << 20, Duration::from_millis(5), 120, 10);
        assert!(
            rate >= 0.9 * quota,
            "{:.1}% of the quota",
            rate / quota * 100.0
        );
        assert!(refused <= 0.05, "{:.1}% refused", refused * 100.0);
    }

    #[test]
    fn small_pulls_meet_the_pull_quota_instead() {
        let start = Instant::now();
        // 100 pulls a second of 10 KiB: the byte quota is far.
        let mut service = Service::new(20.0 * 1048576.0, 100.0, start);
        let (rate, refused) = drain(&mut service, 10 << 10, Duration::from_millis(1), 120, 10);
        let pulls = rate / f64::from(10 << 10);
        assert!(pulls >= 90.0, "{pulls:.1} pulls a second");
        assert!(refused <= 0.05, "{:.1}% refused", refused * 100.0);
    }

    #[test]
    fn unpaced_until_refused_then_cut_once_a_second() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut pacer = Pacer::default();
        for i in 0..10 {
            pacer.accepted(t0 + ms(i * 100), t0 + ms(i * 100 + 10), 1000);
            assert_eq!(pacer.wait(t0 + ms(i * 100 + 10)), Duration::ZERO);
        }
        assert_eq!(pacer.rate(), None);
        pacer.refused(t0 + ms(1000));
        let cut = pacer.rate().unwrap();
        // 10 pulls of 1,000 bytes in the last second.
        assert!((cut.bytes - 10_000.0).abs() < 1.0, "{cut:?}");
        assert!((cut.pulls - 10.0).abs() < 0.01, "{cut:?}");
        assert!(pacer.wait(t0 + ms(1000)) > Duration::ZERO);
        // A second refusal within the spacing does not cut again.
        pacer.refused(t0 + ms(1100));
        assert_eq!(pacer.rate(), Some(cut));
        pacer.refused(t0 + ms(2100));
        assert!(pacer.rate().unwrap().bytes < cut.bytes);
    }

    #[test]
    fn accepted_pulls_grow_the_rate_and_space_the_next() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut pacer = Pacer::default();
        pacer.accepted(t0, t0, 10_000);
        pacer.refused(t0 + s(1));
        let cut = pacer.rate().unwrap();
        pacer.accepted(t0 + s(2), t0 + s(2), 1000);
        let grown = pacer.rate().unwrap();
        assert!(grown.bytes > cut.bytes && grown.pulls > cut.pulls);
        // One growth step counts a second at most.
        pacer.accepted(t0 + s(20), t0 + s(20), 1000);
        let step = pacer.rate().unwrap().bytes - grown.bytes;
        assert!((step - GROWTH * cut.bytes).abs() < 1.0, "{step}");
        // The next pull waits for this one's cost.
        assert!(pacer.wait(t0 + s(20)) > Duration::ZERO);
    }

    #[test]
    fn a_shared_pacer_hands_out_places_at_the_pull_rate() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut project = Pacer::default();
        // Unpaced: everyone goes at once.
        assert_eq!(project.slot(t0), Duration::ZERO);
        assert_eq!(project.slot(t0), Duration::ZERO);
        for i in 0..10 {
            project.counted(t0 + ms(i * 100), t0 + ms(i * 100), 0);
        }
        project.refused(t0 + ms(1000));
        let pulls = project.rate().unwrap().pulls;
        assert!((pulls - 10.0).abs() < 0.01, "{pulls}");
        // After the refusal's wait, one place every 1/10 s, in turn.
        let now = t0 + ms(1000);
        let first = project.slot(now);
        let second = project.slot(now);
        let third = project.slot(now);
        assert!(first > Duration::ZERO);
        assert_eq!(second - first, third - second);
        assert!((second - first).as_secs_f64() - 1.0 / 10.0 < 1e-6);
    }

    #[test]
    fn refusals_in_a_row_wait_longer_up_to_the_cap() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut pacer = Pacer::default();
        for i in 0..10 {
            pacer.accepted(t0 + ms(i * 100), t0 + ms(i * 100), 1000);
        }
        let mut waits = Vec::new();
        let mut now = t0 + ms(1000);
        for _ in 0..8 {
            pacer.refused(now);
            let wait = pacer.wait(now);
            waits.push(wait);
            now += wait;
        }
        assert!(waits.windows(2).all(|w| w[1] >= w[0]), "{waits:?}");
        assert_eq!(*waits.last().unwrap(), MAX_REFUSED_WAIT);
        // An accepted pull ends the run.
        pacer.accepted(now, now, 1000);
        pacer.refused(now);
        assert!(pacer.wait(now) < MAX_REFUSED_WAIT);
    }

    #[test]
    fn a_quiet_while_lets_go_of_the_rates() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut pacer = Pacer::default();
        pacer.accepted(t0, t0, 1000);
        pacer.refused(t0 + s(1));
        assert!(pacer.rate().is_some());
        assert!(!pacer.accepted(t0 + s(20), t0 + s(20), 1000));
        assert!(pacer.rate().is_some());
        assert!(pacer.accepted(t0 + s(31), t0 + s(31), 1000));
        assert_eq!(pacer.rate(), None);
        assert_eq!(pacer.wait(t0 + s(31)), Duration::ZERO);
    }

    #[test]
    fn a_refusal_before_any_answer_waits_a_second_unpaced() {
        let t0 = Instant::now();
        let mut pacer = Pacer::default();
        pacer.sent(t0);
        pacer.refused(t0);
        assert_eq!(pacer.rate(), None);
        assert_eq!(pacer.wait(t0), Duration::from_secs(1));
    }
}
