//! One task per held shard, in named stages:
//!
//! 1. **find start** (`start.rs`): the group's checkpoint, else the start
//!    position; a checkpoint into dropped data goes through
//!    [`OnExpiredCursor`](crate::OnExpiredCursor); ordered groups wait for
//!    parents; bounded replay finds its end.
//! 2. **pull** (`pull.rs`): sized to a byte target within the memory
//!    budget (`sizing.rs`), one batch ahead, paced to the service's read
//!    quota once it refuses one (`pace.rs`); refused pulls are asked again
//!    smaller, expired cursors reset.
//! 3. **process** (`process.rs`): the processor under the
//!    [`ErrorPolicy`](crate::ErrorPolicy), panics caught.
//! 4. **commit** (`commit.rs`): on the interval, on revoke, at a shard's
//!    end and at shutdown, ownership-checked.
//!
//! Every call goes through the consumer's service stack (`crate::calls`),
//! where each error has one fate: retried while transient, recovered by
//! the stage that called, or fatal (the task ends with
//! [`ShardExit::Failed`] and the worker stops with the error).

mod commit;
pub(crate) mod pace;
mod process;
mod pull;
pub(crate) mod sizing;
mod start;

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sls_client::PullLogsResponse;
use sls_proto::Cursor;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use self::process::Outcome;
use self::pull::{Fetched, Pull};
use self::sizing::PullSizer;
use crate::budget::{Budget, Reservation};
use crate::calls::Calls;
pub(crate) use crate::calls::Stop;
use crate::calls::Target;
use crate::checkpoint::Tracker;
use crate::config::ConsumerConfig;
use crate::error::ConsumerError;
use crate::metrics::Registry;
use crate::processor::{Batch, Decision, Processor};

/// How a shard task ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum ShardExit {
    /// Handed over cleanly.
    Revoked,
    /// Lost without committing.
    Lost,
    /// A read-only shard read and committed to its end.
    Ended,
    /// Stopped by the worker's shutdown, after committing.
    Shutdown,
    /// A permanent error (the processor under
    /// [`AfterRetries::Stop`](crate::AfterRetries::Stop), a call no retry
    /// fixes, an expired cursor under
    /// [`OnExpiredCursor::Stop`](crate::OnExpiredCursor::Stop)): the
    /// worker stops with it.
    Failed(ConsumerError),
    /// The task itself died (a bug of this crate, not of the processor,
    /// whose panics are caught): the worker released the shard, logged an
    /// error, and takes the shard again if the service gives it back.
    Died(String),
}

/// What one shard task did.
#[derive(Debug)]
#[non_exhaustive]
pub struct ShardReport {
    /// The shard.
    pub shard: u32,
    /// How it ended.
    pub exit: ShardExit,
    /// Batches processed.
    pub batches: u64,
    /// Logs processed.
    pub logs: u64,
    /// The last checkpoint committed.
    pub committed: Option<Cursor>,
}

/// What every shard task of a worker shares: the configuration, and the
/// worker's runtime state.
#[derive(Debug)]
pub(crate) struct ShardSettings {
    /// The worker's configuration, shared with the coordinator.
    pub(crate) config: Arc<ConsumerConfig>,
    pub(crate) target: Arc<Target>,
    /// The memory budget shared by every shard.
    pub(crate) budget: Arc<Budget>,
    /// Read-only shards, as the heartbeat loop last listed them.
    pub(crate) readonly: RwLock<BTreeSet<u32>>,
    /// Paces every shard's pulls to the project's read quota (`pace.rs`).
    pub(crate) project_pacer: pace::SharedPacer,
    /// Per-shard figures.
    pub(crate) metrics: Arc<Registry>,
}

struct ShardTask<P> {
    shard: u32,
    processor: P,
    settings: Arc<ShardSettings>,
    stop: watch::Receiver<Option<Stop>>,
    calls: Calls,
    tracker: Tracker,
    batches: u64,
    logs: u64,
    sizer: PullSizer,
    /// Bounded replay: the cursor this shard stops at.
    end: Option<Cursor>,
    /// Empty pulls in a row at the shard's end: the wait before the next
    /// pull grows with them ([`idle_wait`]).
    idle_pulls: u32,
    /// Paces pulls to the service's read quota (`pace.rs`).
    pacer: pace::SharedPacer,
}

/// The wait after `idle_pulls` empty pulls in a row: the fetch interval,
/// doubled with each further empty pull, up to `max` (and never below
/// `fetch`).
fn idle_wait(fetch: Duration, max: Duration, idle_pulls: u32) -> Duration {
    let doubled = fetch.saturating_mul(1u32 << idle_pulls.min(16));
    doubled.min(max).max(fetch)
}

/// Waits until a stop arrives (or the worker is gone, which is a loss).
async fn stopped(stop: &mut watch::Receiver<Option<Stop>>) -> Stop {
    match stop.wait_for(Option::is_some).await {
        Ok(value) => value.unwrap_or(Stop::Lose),
        Err(_) => Stop::Lose,
    }
}

/// Runs a shard until it is stopped, lost, ends or fails.
pub(crate) async fn run<P: Processor>(
    shard: u32,
    processor: P,
    settings: Arc<ShardSettings>,
    stop: watch::Receiver<Option<Stop>>,
) -> ShardReport {
    let calls = Calls::new(
        settings.target.clone(),
        shard,
        stop.clone(),
        settings.metrics.clone(),
    );
    let sizer = PullSizer::new(
        settings.config.max_pull_bytes,
        settings.config.max_fetch_groups,
        settings.budget.total(),
    );
    let mut task = ShardTask {
        shard,
        processor,
        settings,
        stop,
        calls,
        tracker: Tracker::default(),
        batches: 0,
        logs: 0,
        sizer,
        end: None,
        idle_pulls: 0,
        pacer: pace::SharedPacer::default(),
    };
    task.settings.metrics.start(shard);
    let exit = task.consume().await;
    task.settings.metrics.stop(shard);
    ShardReport {
        shard,
        exit,
        batches: task.batches,
        logs: task.logs,
        committed: task.tracker.committed,
    }
}

/// How a stage ended when it did not simply go on.
pub(crate) enum Leave {
    /// A stop arrived.
    Stop(Stop),
    /// The task is over (failed, or ended).
    Exit(ShardExit),
}

impl From<Stop> for Leave {
    fn from(stop: Stop) -> Self {
        Self::Stop(stop)
    }
}

impl<P: Processor> ShardTask<P> {
    fn pending_stop(&self) -> Option<Stop> {
        *self.stop.borrow()
    }

    /// Sleeps, unless a stop comes first.
    async fn pause(&mut self, delay: Duration) -> Option<Stop> {
        tokio::select! {
            () = tokio::time::sleep(delay) => None,
            stop = stopped(&mut self.stop) => Some(stop),
        }
    }

    /// Leaves the task: a stop finishes (commits unless lost), an exit is
    /// final.
    async fn leave(&mut self, leave: Leave, prefetch: Option<Pull>) -> ShardExit {
        match leave {
            Leave::Stop(stop) => self.finish(stop, prefetch).await,
            Leave::Exit(exit) => {
                if let Some(pull) = prefetch {
                    pull.abort();
                }
                exit
            }
        }
    }

    /// Moves the position to `cursor` (data before it is done or skipped).
    fn position(&mut self, cursor: Cursor) {
        self.settings
            .metrics
            .update(self.shard, |m| m.position = Some(cursor));
    }

    /// The stages in a loop (commit when due, pull, process) until the
    /// task leaves.
    async fn consume(&mut self) -> ShardExit {
        if let Err(leave) = self.hook_assigned().await {
            return self.leave(leave, None).await;
        }
        let mut cursor = match self.find_start().await {
            Ok(cursor) => cursor,
            Err(leave) => return self.leave(leave, None).await,
        };
        let mut last_commit = Instant::now();
        let mut prefetch: Option<Pull> = None;
        loop {
            if let Some(stop) = self.pending_stop() {
                return self.finish(stop, prefetch).await;
            }
            // Commit: on the interval, whether or not data is flowing, so
            // a caught-up shard's last batches do not wait for the next
            // one to be committed.
            if let Some(interval) = self.settings.config.auto_commit_interval {
                if last_commit.elapsed() >= interval {
                    last_commit = Instant::now();
                    if let Err(leave) = self.commit_due().await {
                        return self.leave(leave, prefetch).await;
                    }
                }
            }
            if self.end.is_some_and(|end| cursor >= end) {
                match self.replay_done(cursor, &mut prefetch).await {
                    Ok(()) => continue,
                    Err(leave) => return self.leave(leave, prefetch).await,
                }
            }

            // Pull.
            let (pulled, reservation, asked) = match self.fetch(cursor, prefetch.take()).await {
                Fetched::Data(pulled, reservation, asked) => (pulled, reservation, asked),
                Fetched::Again => continue,
                Fetched::Moved(to) => {
                    cursor = to;
                    continue;
                }
                Fetched::Leave(leave) => return self.leave(leave, None).await,
            };
            if pulled.count > 0 {
                self.idle_pulls = 0;
            }
            if pulled.count == 0 {
                match self.nothing_pulled(cursor, &pulled).await {
                    Ok(next) => {
                        cursor = next;
                        continue;
                    }
                    Err(leave) => return self.leave(leave, None).await,
                }
            }
            prefetch = self.prefetch(&pulled, asked);

            // Process.
            match self
                .process_pulled(pulled, reservation, &mut prefetch)
                .await
            {
                Ok(next) => cursor = next,
                Err(leave) => return self.leave(leave, prefetch).await,
            }
            if prefetch.is_none() {
                if let Some(stop) = self.pause(self.settings.config.fetch_interval).await {
                    return self.finish(stop, None).await;
                }
            }
        }
    }

    /// Processes a pulled batch, then gives its budget back: returns where
    /// to pull next (the batch's end, or where the processor rolled back
    /// to, dropping the pull started ahead).
    async fn process_pulled(
        &mut self,
        pulled: PullLogsResponse,
        reservation: Reservation,
        prefetch: &mut Option<Pull>,
    ) -> Result<Cursor, Leave> {
        let batch = Batch {
            shard: self.shard,
            cursor: pulled.cursor,
            next_cursor: pulled.next_cursor,
            group_cursors: pulled.group_cursors(),
            raw_size: pulled.raw_size,
            groups: pulled.groups,
        };
        let body = pulled.compressed;
        let started = Instant::now();
        let span = tracing::debug_span!(
            "batch",
            cursor = %batch.cursor,
            logs = batch.log_count(),
            bytes = batch.raw_size
        );
        let outcome = self.process(&batch).instrument(span).await;
        let took = started.elapsed();
        let (logs, next, bytes) = (batch.log_count() as u64, batch.next_cursor, batch.raw_size);
        // The batch is processed or dropped: its budget goes back, and
        // its buffers are kept for the next pulls (unless the processor
        // still holds them).
        drop(reservation);
        let budget = &self.settings.budget;
        budget.recycle(body);
        budget.recycle(batch.groups.into_bytes());
        match outcome {
            Outcome::Done(Decision::Continue) => {
                self.batches += 1;
                self.logs += logs;
                self.tracker.processed = Some(next);
                self.settings.metrics.update(self.shard, |m| {
                    m.batches += 1;
                    m.processed_logs += logs;
                    m.processed_bytes += bytes;
                    m.position = Some(next);
                    m.last_process_time = Some(took);
                });
                Ok(next)
            }
            Outcome::Done(Decision::RollBack(to)) => {
                if let Some(pull) = prefetch.take() {
                    pull.abort();
                }
                self.tracker.processed = Some(to);
                if self.tracker.saved.is_some_and(|s| s > to) {
                    self.tracker.saved = Some(to);
                }
                self.position(to);
                Ok(to)
            }
            Outcome::Leave(leave) => Err(leave),
        }
    }

    /// A pull returned no groups: SPL (a query or processor) filtered a range out (move
    /// on), the end of a read-only shard (commit it and end), or the shard
    /// is caught up (wait the fetch interval).
    async fn nothing_pulled(
        &mut self,
        cursor: Cursor,
        pulled: &sls_client::PullLogsResponse,
    ) -> Result<Cursor, Leave> {
        if pulled.next_cursor != cursor {
            // Not idle: an SPL query filtered this range out.
            self.idle_pulls = 0;
            // Keep processed/saved positions that were current, so nothing
            // unsaved is skipped.
            let next = pulled.next_cursor;
            if self.tracker.processed == Some(cursor) {
                self.tracker.processed = Some(next);
            }
            if self.tracker.saved == Some(cursor) {
                self.tracker.saved = Some(next);
            }
            self.position(next);
            return Ok(next);
        }
        let readonly = self
            .settings
            .readonly
            .read()
            .map(|set| set.contains(&self.shard))
            .unwrap_or(false);
        let drained = match self.settings.config.auto_commit_interval {
            Some(_) => self.tracker.processed == Some(cursor),
            None => self.tracker.saved == Some(cursor),
        };
        if readonly && drained {
            self.commit_at_end(cursor).await?;
            self.hook_shard_end().await?;
            return Err(Leave::Exit(ShardExit::Ended));
        }
        // Caught up: wait longer with each empty pull in a row, so an idle
        // shard costs about one request a second (requests are billed and
        // count against the shard's read quota); data ends it at once.
        let wait = idle_wait(
            self.settings.config.fetch_interval,
            self.settings.config.max_idle_interval,
            self.idle_pulls,
        );
        self.idle_pulls = self.idle_pulls.saturating_add(1);
        match self.pause(wait).await {
            Some(stop) => Err(stop.into()),
            None => Ok(cursor),
        }
    }

    /// Bounded replay: this shard is done once its end is processed
    /// (saved, without auto-commit) and committed.
    async fn replay_done(
        &mut self,
        cursor: Cursor,
        prefetch: &mut Option<Pull>,
    ) -> Result<(), Leave> {
        let drained = match self.settings.config.auto_commit_interval {
            Some(_) => self.tracker.processed.is_some_and(|p| p >= cursor),
            None => self.tracker.saved.is_some_and(|s| s >= cursor),
        };
        if drained {
            if let Some(pull) = prefetch.take() {
                pull.abort();
            }
            let due = self
                .tracker
                .to_commit(self.settings.config.auto_commit_interval.is_some());
            if let Some(due) = due {
                self.commit_at_end(due).await?;
            }
            self.hook_shard_end().await?;
            return Err(Leave::Exit(ShardExit::Ended));
        }
        match self.pause(self.settings.config.fetch_interval).await {
            Some(stop) => Err(stop.into()),
            None => Ok(()),
        }
    }

    /// Ends the task for a stop.
    async fn finish(&mut self, stop: Stop, prefetch: Option<Pull>) -> ShardExit {
        if let Some(pull) = prefetch {
            pull.abort();
        }
        match stop {
            Stop::Lose => {
                self.hook_lost().await;
                ShardExit::Lost
            }
            Stop::Revoke | Stop::Shutdown => {
                if stop == Stop::Revoke {
                    self.hook_revoked().await;
                }
                match self.commit_closing().await {
                    Ok(()) => {}
                    Err(Leave::Stop(_)) => {
                        self.hook_lost().await;
                        return ShardExit::Lost;
                    }
                    Err(Leave::Exit(exit)) => return exit,
                }
                if stop == Stop::Shutdown {
                    self.hook_shutdown().await;
                    ShardExit::Shutdown
                } else {
                    ShardExit::Revoked
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::idle_wait;

    #[test]
    fn an_idle_shard_waits_longer_up_to_the_cap() {
        let ms = Duration::from_millis;
        let waits: Vec<_> = (0..6).map(|n| idle_wait(ms(200), ms(1000), n)).collect();
        assert_eq!(
            waits,
            [ms(200), ms(400), ms(800), ms(1000), ms(1000), ms(1000)]
        );
        // Far past the cap, and a cap below the fetch interval.
        assert_eq!(idle_wait(ms(200), ms(1000), u32::MAX), ms(1000));
        assert_eq!(idle_wait(ms(200), ms(100), 3), ms(200));
        assert_eq!(idle_wait(Duration::MAX, Duration::MAX, 40), Duration::MAX);
    }
}
