//! Pacing a shard's pulls to the service's read quota.
//!
//! The service limits each shard's reads (bytes and pulls a second) and
//! each project's (pulls a minute), and answers a pull past them with 403
//! `ShardReadQuotaExceed` or `ReadQuotaExceed`. It does not say which
//! limit was met, nor how much is left. A shard that backs off
//! exponentially on those answers drains a backlog at a fraction of what
//! the quota allows; one that ignores them wastes a request each time.
//!
//! So each shard paces itself on two rates at once (bytes and pulls a
//! second), set from what the service accepted and probed upward slowly:
//! - Until the first refusal the shard is not paced at all.
//! - A refusal means the service's bucket is empty: it admits a pull
//!   while the bucket is not, and a pull's bytes may overdraw it, so an
//!   empty bucket holds between minus one pull and nothing. What was
//!   accepted between two refusals, over the time between them, is then
//!   the quota give or take a pull ([`Span`]). Before the first refusal the
//!   bucket may have held a second's worth, which the estimate allows for.
//!   After refusals in a row, or an answer refused for size (the service
//!   charged a body the client never read), the bucket is in a debt of
//!   unknown depth: a span that begins there shows nothing, and sets no
//!   rate.
//! - A refusal sets the rates to [`BELOW`] of that estimate, so the bucket
//!   refills. A later refusal cuts to no more than [`CUT`] of the rates
//!   refused (they were too fast) and no less than [`DEEPEST_CUT`] (a span
//!   in which the shard pulled less than it could reads low). Cuts come at
//!   most once per [`CUT_SPACING`]: the refusals that follow one are the
//!   same congestion, not news. The next try waits one pull's time at the
//!   rates, doubled with each refusal in a row (a bucket deep in debt), up
//!   to 2 s.
//! - Each accepted pull grows both rates by [`GROWTH`] of the rate set at
//!   the last cut per second since the last growth: from just below the
//!   quota the shard meets it again after ten seconds or so, and drains
//!   the refilled bucket for as long again before the next refusal. One
//!   refusal in 20 s or so is a small share of the pulls whatever their
//!   size (at the service's 20 MB/s, a 8 MiB pull is 0.4 s of quota).
//! - A pull starts no earlier than the last one's start plus its cost at
//!   the rates: its bytes over the byte rate, or one over the pull rate,
//!   whichever is longer, and never more than 5 s: a rate set too low
//!   costs refusals, never a stall.
//! - After [`RELEASE_AFTER`] without a refusal the shard lets go of its
//!   rates and pulls unpaced again: whatever held the quota may be gone,
//!   and additive growth is slow. If the quota still binds, the next
//!   refusal sets the rates again, no lower than a cut of those let go.
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

/// How far back the typical pull's size is measured.
pub(crate) const WINDOW: Duration = Duration::from_secs(2);
/// What a refusal sets the rates to, as a fraction of the quota it
/// estimates: a little below it, so the service's bucket refills.
pub(crate) const BELOW: f64 = 0.95;
/// What the first refusal sets the rates to: its estimate reads low when
/// the bucket was not full at the start, and the pull that met the quota
/// overdrew the bucket by half itself or so.
pub(crate) const FIRST_BELOW: f64 = 0.975;
/// A later refusal cuts the rates to at most this fraction of themselves:
/// they were refused.
pub(crate) const CUT: f64 = 0.95;
/// ... and to no less than this fraction, whatever the estimate (which
/// reads low when the shard pulled less than it could).
pub(crate) const DEEPEST_CUT: f64 = 0.8;
/// The fewest pulls a span between two refusals needs for its estimate to
/// set a cut: its error is about one pull's overdraft, a twentieth of it.
pub(crate) const RELIABLE_SPAN: u64 = 20;
/// The growth of each rate, a second, as a fraction of the rate set at the
/// last cut: from [`BELOW`] the quota, the rates meet it again in about
/// ten seconds.
pub(crate) const GROWTH: f64 = 0.005;
/// At most one cut this often.
pub(crate) const CUT_SPACING: Duration = Duration::from_secs(1);
/// The rates never go below these: a pull every 10 s, 1 KiB/s.
const MIN_PULLS: f64 = 0.1;
const MIN_BYTES: f64 = 1024.0;
/// A pacer not refused for this long lets go of its rates.
pub(crate) const RELEASE_AFTER: Duration = Duration::from_secs(60);
/// The longest a pull is spaced from the one before: a rate set too low
/// costs refusals, never a stall.
const MAX_PACED_WAIT: Duration = Duration::from_secs(5);
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

/// No bound.
const UNBOUNDED: Rate = Rate {
    bytes: f64::INFINITY,
    pulls: f64::INFINITY,
};

impl Rate {
    fn times(self, factor: f64) -> Self {
        Self {
            bytes: self.bytes * factor,
            pulls: self.pulls * factor,
        }
    }

    /// Both rates, each combined with the other's by `f`.
    fn zip(self, other: Self, f: impl Fn(f64, f64) -> f64) -> Self {
        Self {
            bytes: f(self.bytes, other.bytes),
            pulls: f(self.pulls, other.pulls),
        }
    }

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

/// What the service's bucket held when a [`Span`] began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Up to a second's worth: at the first pull, and after a release.
    AtMostFull,
    /// Nothing, give or take one pull: a refusal just after an accepted
    /// pull, which overdrew the bucket by at most its own bytes (`debt`).
    Empty {
        /// The bytes of the pull accepted just before.
        debt: u64,
    },
    /// Unknown: a refusal after refusals (the bucket may be deep in debt),
    /// or an answer refused for size (the service charged its whole body,
    /// which the client never read). Such a span shows no quota.
    Unknown,
}

/// What was accepted since the service's bucket was last known.
#[derive(Debug, Clone, Copy)]
struct Span {
    from: Instant,
    start: Start,
    bytes: u64,
    pulls: u64,
    /// The newest accepted pull's bytes.
    newest: u64,
}

impl Span {
    fn new(from: Instant, start: Start) -> Self {
        Self {
            from,
            start,
            bytes: 0,
            pulls: 0,
            newest: 0,
        }
    }

    /// The quota this span shows, refused at `now`: what was accepted
    /// over the time it took, the bucket's second included when it may
    /// have been full.
    ///
    /// A refusal just after an accepted pull means the bucket is empty:
    /// the service admits a pull while the bucket is not, and a pull's
    /// bytes may overdraw it, so it holds between minus that pull and
    /// nothing. Between two such refusals the accepted bytes are the
    /// quota's over the time, less up to the first refusal's pull (the
    /// debt the span began with) and plus up to its newest pull (the debt
    /// it ends with): the middle is counted, or, over fewer than
    /// [`RELIABLE_SPAN`] pulls, the most (a rate too high costs a refusal,
    /// one too low a slow drain). From a full bucket to a refusal they are
    /// a second more, and up to the newest pull's overdraft: half of it is
    /// counted.
    fn quota(&self, now: Instant) -> Option<(Rate, f64)> {
        if self.pulls == 0 {
            return None;
        }
        let took = now.saturating_duration_since(self.from).as_secs_f64();
        let (accepted, newest) = (self.bytes as f64, self.newest as f64);
        let (seconds, bytes, pulls) = match self.start {
            Start::AtMostFull => (took + 1.0, accepted - newest / 2.0, self.pulls as f64),
            Start::Empty { debt } if self.pulls < RELIABLE_SPAN => {
                (took, accepted + debt as f64, self.pulls as f64 + 1.0)
            }
            Start::Empty { debt } => (
                took,
                accepted + (debt as f64 - newest) / 2.0,
                self.pulls as f64,
            ),
            Start::Unknown => return None,
        };
        // A span shorter than a second says little: it is read as a
        // second (low, which the cut's bounds correct).
        let seconds = seconds.max(1.0);
        let quota = Rate {
            bytes: bytes / seconds,
            pulls: pulls / seconds,
        };
        Some((quota, seconds))
    }
}

/// The span the last cut was set from, whose pulls may still be answered:
/// a pull sent before a refusal took its place in the service's bucket
/// before it, though its answer comes after (pulls overlap: a shard's
/// next is sent ahead, and the project's pacer serves every shard).
#[derive(Debug, Clone, Copy)]
struct Revision {
    /// The refusal that ended the span.
    at: Instant,
    /// The span's length as the estimate counted it.
    seconds: f64,
    /// The most the revised rates may be: the cut's bound.
    most: Rate,
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
    /// Accepted since the bucket was last known (`None` before any pull).
    span: Option<Span>,
    /// The span the rates were last set from.
    revision: Option<Revision>,
    /// The rates let go of after a quiet while: the next refusal sets
    /// them no lower than [`CUT`] of these (the bucket may not have been
    /// full when they were let go, so the span since reads low).
    released: Option<Rate>,
    /// Refusals since the last accepted pull: the wait before the next
    /// try doubles with each (the service's bucket is deeper in debt than
    /// one pull).
    refusals_in_a_row: u32,
    /// An answer was refused for size since the last accepted pull.
    oversized: bool,
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
        self.span.get_or_insert(Span::new(now, Start::AtMostFull));
    }

    /// A pull started at `started` was answered at `now` with `bytes`:
    /// the next one starts no earlier than its cost after it.
    /// Returns whether the pacer let go ([`Pacer::counted`]).
    pub(crate) fn accepted(&mut self, started: Instant, now: Instant, bytes: u64) -> bool {
        let released = self.counted(started, now, bytes);
        if let Some(rate) = self.rate {
            let from = self.next.map_or(started, |next| next.max(started));
            self.next = Some(from + rate.cost(bytes).min(MAX_PACED_WAIT));
        }
        released
    }

    /// Records an accepted pull and grows the rates, without scheduling
    /// the next (a shared pacer schedules with [`Pacer::slot`]). Returns
    /// whether the pacer let go: no refusal for [`RELEASE_AFTER`].
    pub(crate) fn counted(&mut self, started: Instant, now: Instant, bytes: u64) -> bool {
        self.refusals_in_a_row = 0;
        self.oversized = false;
        self.recent.push_back((now, bytes));
        self.forget(now);
        let quiet = self
            .last_refusal
            .is_some_and(|last| now.saturating_duration_since(last) >= RELEASE_AFTER);
        let released = quiet && self.rate.is_some();
        if released {
            // Whatever held the quota (another consumer, a burst) may be
            // gone, and growth from a low rate is slow: start unpaced
            // again; if the quota still binds, the next refusal says so.
            // The bucket had time to fill while the rates held below it.
            self.released = self.rate.take();
            self.cut_to = None;
            self.revision = None;
            self.next = None;
            self.span = Some(Span::new(started, Start::AtMostFull));
        }
        if let Some(revision) = self.revision.filter(|r| started <= r.at) {
            // Answered late: it counts toward the span the rates were set
            // from, which shows the quota as a little higher.
            let grow = |rate: &mut Rate| {
                let bytes = rate.bytes + bytes as f64 / revision.seconds * BELOW;
                let pulls = rate.pulls + BELOW / revision.seconds;
                rate.bytes = bytes.min(revision.most.bytes).max(rate.bytes);
                rate.pulls = pulls.min(revision.most.pulls).max(rate.pulls);
            };
            self.rate.as_mut().map(grow);
            self.cut_to.as_mut().map(grow);
            return false;
        }
        let span = self
            .span
            .get_or_insert(Span::new(started, Start::AtMostFull));
        span.bytes += bytes;
        span.pulls += 1;
        span.newest = bytes;
        if released {
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

    /// A pull's answer was refused for size from its headers at `now`: the
    /// service charged its whole body to the quota, of a size the client
    /// never read, so what the bucket holds is unknown until the next
    /// refusal.
    pub(crate) fn oversized(&mut self, now: Instant) {
        self.oversized = true;
        self.span = Some(Span::new(now, Start::Unknown));
    }

    /// A pull was refused for quota at `now`.
    pub(crate) fn refused(&mut self, now: Instant) {
        self.last_refusal = Some(now);
        self.forget(now);
        let may_cut = self
            .last_cut
            .is_none_or(|last| now.saturating_duration_since(last) >= CUT_SPACING);
        let quota = self.span.and_then(|span| span.quota(now));
        // The debt the bucket may be in: up to the pull accepted just
        // before (none known after refusals in a row).
        let debt = self.span.map_or(0, |span| span.newest);
        let span_pulls = self.span.map_or(0, |span| span.pulls);
        // The bucket is empty now (or in debt, after refusals in a row):
        // the next span starts here.
        let start = if self.refusals_in_a_row == 0 && !self.oversized {
            Start::Empty {
                debt: self.span.map_or(0, |span| span.newest),
            }
        } else {
            Start::Unknown
        };
        self.span = Some(Span::new(now, start));
        if may_cut {
            let (cut, revisable_up_to) = match (self.rate, quota) {
                // Below the quota the span shows, and below the rate that
                // was refused, but not far below it: a span in which the
                // shard pulled less than it could reads low.
                (Some(rate), Some((quota, _))) if span_pulls >= RELIABLE_SPAN => {
                    let most = rate.times(CUT);
                    let cut = quota
                        .times(BELOW)
                        .zip(rate.times(DEEPEST_CUT), f64::max)
                        .zip(most, f64::min);
                    (Some(cut), Some(most))
                }
                // Too few pulls to tell the quota from one pull's
                // overdraft: the shallowest cut.
                (Some(rate), _) => (Some(rate.times(CUT)), None),
                // The first refusal, or the first since the rates were let
                // go of: no lower than a cut of those.
                (None, _) => {
                    let below = quota.map(|(quota, _)| quota.times(FIRST_BELOW));
                    let was = self.released.take().map(|was| was.times(CUT));
                    match (below, was) {
                        (Some(below), Some(was)) => {
                            (Some(below.zip(was, f64::max)), Some(UNBOUNDED))
                        }
                        (Some(below), None) => (Some(below), Some(UNBOUNDED)),
                        (None, was) => (was, None),
                    }
                }
            };
            if let Some(cut) = cut.map(Rate::floor) {
                self.rate = Some(cut);
                self.cut_to = Some(cut);
                self.last_cut = Some(now);
                self.last_growth = Some(now);
                self.revision = revisable_up_to
                    .zip(quota)
                    .map(|(most, (_, seconds))| Revision {
                        at: now,
                        seconds,
                        most,
                    });
            }
        }
        // The next try: the time the rates take to repay the debt, and at
        // least one typical pull's (a second when nothing was accepted yet
        // to learn them from), doubled with each refusal in a row, up to
        // the cap.
        let wait = match self.rate {
            Some(rate) => rate.cost(self.typical_pull().max(debt)),
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
            Err(CallError::Failed {
                fate: Fate::Recover(Recovery::SmallerPull),
                ..
            }) => {
                // The service sent (and charged) a body the client did
                // not read: a pull for the project, unknown bytes for the
                // shard.
                lock(project).counted(now, now, 0);
                lock(pacer).oversized(now);
                None
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

    /// What a simulated drain showed.
    struct Drained {
        seconds: f64,
        /// Pulls, and pulls refused, once paced: from the first pull
        /// accepted after the first refusal.
        paced: u64,
        refused: u64,
    }

    /// Drains `backlog` bytes in pulls of up to `size` as fast as the
    /// pacer lets it, each answered `latency` after it starts.
    fn drain(service: &mut Service, size: u64, backlog: u64, latency: Duration) -> Drained {
        let start = service.at;
        let mut pacer = Pacer::default();
        let mut now = start;
        let (mut left, mut paced, mut refused) = (backlog, 0, 0);
        let mut seen_refusal = false;
        while left > 0 {
            now += pacer.wait(now);
            let started = now;
            pacer.sent(started);
            let n = size.min(left);
            let ok = service.pull(started, n);
            now += latency;
            if ok {
                pacer.accepted(started, now, n);
                left -= n;
            } else {
                pacer.refused(now);
            }
            if seen_refusal && (ok || paced > 0) {
                paced += 1;
                refused += u64::from(!ok);
            }
            seen_refusal |= !ok;
        }
        Drained {
            seconds: now.duration_since(start).as_secs_f64(),
            paced,
            refused,
        }
    }

    /// Backlogs drained against a shard's byte quota, pulls from a tenth to
    /// more than a second's worth of it, answered at once or late: at 90%
    /// of the quota or more (the bucket's first second not counted), with
    /// at most 5% refused once paced.
    #[test]
    fn every_pull_size_drains_near_the_byte_quota_with_few_refusals() {
        const MIB: u64 = 1 << 20;
        // quota MiB/s, pull, backlog MiB, latency ms, least share.
        let cases = [
            (20, 256 << 10, 200, 5, 0.9),
            (20, 2 * MIB, 200, 0, 0.9),
            (20, 2 * MIB, 2000, 20, 0.9),
            (20, 8 * MIB, 200, 0, 0.9),
            (20, 8 * MIB, 2000, 0, 0.9),
            (20, 8 * MIB, 2000, 50, 0.9),
            (20, 16 * MIB, 2000, 100, 0.9),
            (2, 256 << 10, 20, 0, 0.9),
            // A pull larger than the bucket: coarse, still most of it.
            (5, 8 * MIB, 500, 0, 0.8),
        ];
        for (quota, size, backlog, latency, least) in cases {
            let quota = (quota * MIB) as f64;
            let mut service = Service::new(quota, 100.0, Instant::now());
            let d = drain(
                &mut service,
                size,
                backlog * MIB,
                Duration::from_millis(latency),
            );
            let share = ((backlog * MIB) as f64 - quota) / d.seconds / quota;
            let refused = d.refused as f64 / d.paced.max(1) as f64;
            let case = format!(
                "{} MiB/s, pulls of {size}, {backlog} MiB, {latency} ms: {:.1}% of the quota, {} of {} refused once paced",
                quota / MIB as f64,
                share * 100.0,
                d.refused,
                d.paced
            );
            assert!(d.paced > 0, "never paced: {case}");
            assert!((least..=1.05).contains(&share), "{case}");
            assert!(refused <= 0.05, "{case}");
        }
        // Pulls of 0.8 s of the quota on a short backlog: about a dozen
        // pulls, and the estimate, within a pull's overdraft, is coarse: a
        // refusal or two (8-16%), the drain still near the quota.
        let mut service = Service::new((20 * MIB) as f64, 100.0, Instant::now());
        let d = drain(&mut service, 16 * MIB, 200 * MIB, Duration::ZERO);
        let share = (180.0 / d.seconds) / 20.0;
        assert!(share >= 0.9, "{:.1}%", share * 100.0);
        assert!(d.refused <= 2, "{} refused", d.refused);
    }

    #[test]
    fn small_pulls_meet_the_pull_quota_instead() {
        // 100 pulls a second of 10 KiB: the byte quota is far.
        let mut service = Service::new(20.0 * 1048576.0, 100.0, Instant::now());
        let d = drain(
            &mut service,
            10 << 10,
            12_000 * (10 << 10),
            Duration::from_millis(1),
        );
        // The bucket's first second not counted.
        let pulls = (12_000.0 - 100.0) / d.seconds;
        assert!(pulls >= 90.0, "{pulls:.1} pulls a second");
        let refused = d.refused as f64 / d.paced as f64;
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
        // 10 pulls of 1,000 bytes in a second, from a bucket that may have
        // held a second's worth, the newest maybe half overdrawn: a quota
        // of 4,750 bytes and 5 pulls a second, paced a little below.
        assert!((cut.bytes - 4_750.0 * FIRST_BELOW).abs() < 1.0, "{cut:?}");
        assert!((cut.pulls - 5.0 * FIRST_BELOW).abs() < 0.01, "{cut:?}");
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
        assert!((pulls - 5.0 * FIRST_BELOW).abs() < 0.01, "{pulls}");
        // After the refusal's wait, one place a pull's time apart, in turn.
        let now = t0 + ms(1000);
        let first = project.slot(now);
        let second = project.slot(now);
        let third = project.slot(now);
        assert!(first > Duration::ZERO);
        assert_eq!(second - first, third - second);
        assert!(((second - first).as_secs_f64() - 1.0 / pulls).abs() < 1e-6);
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
        let quiet = t0 + s(1) + RELEASE_AFTER;
        assert!(!pacer.accepted(quiet - s(1), quiet - s(1), 1000));
        let was = pacer.rate().unwrap();
        assert!(pacer.accepted(quiet, quiet, 1000));
        assert_eq!(pacer.rate(), None);
        assert_eq!(pacer.wait(quiet), Duration::ZERO);
        // Refused at once (the bucket was not full when it let go): the
        // rates come back no lower than a cut of those it let go of.
        pacer.refused(quiet);
        let back = pacer.rate().unwrap();
        assert!(back.bytes >= was.bytes * CUT - 1.0, "{back:?} {was:?}");
    }

    /// A pacer refused once (at 97,500 B/s), then fed pulls of `size`
    /// bytes ten times a second for 10 s until refused again: the rate it
    /// was refused at, and the cut.
    fn cut_after_a_span(size: u64) -> (f64, f64) {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut pacer = Pacer::default();
        // A full bucket's second: 105,000 bytes, half of the newest pull
        // maybe overdrawn.
        pacer.accepted(t0, t0, 95_000);
        pacer.accepted(t0, t0, 10_000);
        pacer.refused(t0);
        assert!((pacer.rate().unwrap().bytes - 100_000.0 * FIRST_BELOW).abs() < 1.0);
        for i in 1..=100 {
            pacer.counted(t0 + ms(i * 100), t0 + ms(i * 100), size);
        }
        let refused_at = pacer.rate().unwrap().bytes;
        pacer.refused(t0 + ms(10_000));
        (refused_at, pacer.rate().unwrap().bytes)
    }

    #[test]
    fn between_two_refusals_the_accepted_bytes_are_the_quota() {
        // Ten seconds of growth from 97,500 B/s.
        let (rate, cut) = cut_after_a_span(9_800);
        assert!(
            (rate - 97_500.0 * (1.0 + GROWTH * 10.0)).abs() < 1.0,
            "{rate}"
        );
        // The span shows 98,010 B/s (the middle of what its bucket may
        // have held at either end, 10,000 and 9,800 bytes of debt): a
        // little below it.
        assert!((cut - 98_010.0 * BELOW).abs() < 1.0, "{cut}");
        // A span faster than the rate refused (the bucket was deep):
        // the shallowest cut.
        let (rate, cut) = cut_after_a_span(20_000);
        assert!((cut - rate * CUT).abs() < 1.0, "{cut}");
        // A span far slower (the shard pulled less than it could): the
        // deepest cut, no further.
        let (rate, cut) = cut_after_a_span(1_000);
        assert!((cut - rate * DEEPEST_CUT).abs() < 1.0, "{cut}");
    }

    #[test]
    fn a_span_that_began_in_debt_sets_no_rate() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut pacer = Pacer::default();
        pacer.sent(t0);
        // An answer refused for size: the service charged a body the
        // client never read. Then refusals in a row while that debt lasts,
        // one small pull, and a refusal: 348 bytes in 2 s says nothing of
        // the quota.
        pacer.oversized(t0);
        pacer.refused(t0 + s(1));
        pacer.refused(t0 + s(3));
        pacer.accepted(t0 + s(5), t0 + s(5), 348);
        pacer.refused(t0 + s(5));
        assert_eq!(pacer.rate(), None);
        // The next span begins just after an accepted pull: it counts.
        for i in 0..30 {
            pacer.accepted(t0 + s(6) + s(i) / 10, t0 + s(6) + s(i) / 10, 10_000);
        }
        pacer.refused(t0 + s(9));
        let rate = pacer.rate().unwrap();
        // 300,000 bytes in 4 s, from a debt of up to 348 bytes to one of up
        // to 10,000: the middle.
        let quota = (300_000.0 + (348.0 - 10_000.0) / 2.0) / 4.0;
        assert!((rate.bytes - quota * FIRST_BELOW).abs() < 1.0, "{rate:?}");
    }

    #[test]
    fn a_rate_set_too_low_never_spaces_pulls_beyond_the_cap() {
        let t0 = Instant::now();
        let mut pacer = Pacer::default();
        pacer.accepted(t0, t0, 2_000);
        pacer.refused(t0);
        assert!(pacer.rate().unwrap().bytes < 2_000.0);
        // A pull of 1 MiB at about 1 KiB/s would wait 17 minutes.
        let later = t0 + Duration::from_secs(10);
        pacer.accepted(later, later, 1 << 20);
        assert_eq!(pacer.wait(later), MAX_PACED_WAIT);
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
