//! One task per held shard: find the start, pull one batch ahead, process
//! in order, track and commit checkpoints, and stop as told.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sls_client::retry::Backoff;
use sls_client::{CursorPosition, PullLogsRequest, PullLogsResponse};
use sls_proto::Cursor;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::budget::{Budget, Reservation};
use crate::checkpoint::{Checkpoint, CommitError, Target, Tracker};
use crate::config::StartPosition;
use crate::error::ConsumerError;
use crate::metrics::Registry;
use crate::processor::{AfterRetries, Batch, Decision, ErrorPolicy, Processor};

/// What the worker tells a shard task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Moving to another consumer: finish the batch, commit, exit.
    Revoke,
    /// Lost: exit at once, commit nothing.
    Lose,
    /// The worker stops: finish the batch, commit, exit.
    Shutdown,
}

/// How a shard task ended.
#[derive(Debug)]
pub enum ShardExit {
    /// Handed over cleanly.
    Revoked,
    /// Lost without committing.
    Lost,
    /// A read-only shard read and committed to its end.
    Ended,
    /// Stopped by the worker's shutdown, after committing.
    Shutdown,
    /// The processor failed and the policy said stop.
    Failed(ConsumerError),
}

/// What one shard task did.
#[derive(Debug)]
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

/// What every shard task of a worker shares.
#[derive(Debug)]
pub(crate) struct ShardSettings {
    pub(crate) target: Target,
    pub(crate) start: StartPosition,
    pub(crate) fetch_interval: Duration,
    pub(crate) max_fetch_groups: u32,
    pub(crate) compression: sls_proto::CompressType,
    /// The SPL query every pull carries, if any.
    pub(crate) query: Option<String>,
    /// Bounded replay: stop at the data received at this Unix time.
    pub(crate) end_time: Option<i64>,
    /// Children only after their parents.
    pub(crate) ordered: bool,
    pub(crate) auto_commit: Option<Duration>,
    pub(crate) errors: ErrorPolicy,
    /// The memory budget shared by every shard.
    pub(crate) budget: Arc<Budget>,
    /// Read-only shards, as the heartbeat loop last listed them.
    pub(crate) readonly: RwLock<BTreeSet<u32>>,
    /// Per-shard figures.
    pub(crate) metrics: Registry,
}

/// A pull in flight, with the budget reserved for its data.
struct Pull {
    task: JoinHandle<Result<PullLogsResponse, sls_client::Error>>,
    reservation: Reservation,
}

impl Pull {
    fn abort(self) {
        self.task.abort();
    }
}

/// The first guess at a batch's size, before a shard has pulled one.
const FIRST_ESTIMATE: u64 = 256 << 10;

struct ShardTask<P> {
    shard: u32,
    processor: P,
    settings: Arc<ShardSettings>,
    stop: watch::Receiver<Option<Stop>>,
    tracker: Tracker,
    batches: u64,
    logs: u64,
    /// The size the next batch is expected to have.
    estimate: u64,
    /// Groups per pull now: halved when a batch does not fit the budget.
    count: u32,
    /// Bounded replay: the cursor this shard stops at.
    end: Option<Cursor>,
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
    let settings_count = settings.max_fetch_groups;
    let mut task = ShardTask {
        shard,
        processor,
        settings,
        stop,
        tracker: Tracker::default(),
        batches: 0,
        logs: 0,
        estimate: FIRST_ESTIMATE,
        count: settings_count,
        end: None,
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

    /// Starts a pull holding `reservation`; it waits for a fetch slot.
    fn spawn_pull(&self, cursor: Cursor, reservation: Reservation) -> Pull {
        let target = &self.settings.target;
        let client = target.client.clone();
        let budget = self.settings.budget.clone();
        let mut pull = PullLogsRequest::new(&target.project, &target.logstore, self.shard, cursor)
            .count(self.count)
            .accept_encoding(self.settings.compression);
        if let Some(end) = self.end {
            pull = pull.end_cursor(end);
        }
        if let Some(query) = &self.settings.query {
            pull = pull.query(query.clone());
        }
        let task = tokio::spawn(async move {
            let _slot = budget.fetch_slot().await;
            client.pull_logs(pull).await
        });
        Pull { task, reservation }
    }

    /// Starts a pull once its budget is free, unless a stop comes first.
    async fn pull_when_budgeted(&mut self, cursor: Cursor) -> Result<Pull, Stop> {
        let budget = self.settings.budget.clone();
        let reservation = tokio::select! {
            reservation = budget.reserve(self.estimate) => reservation,
            stop = stopped(&mut self.stop) => return Err(stop),
        };
        Ok(self.spawn_pull(cursor, reservation))
    }

    /// The cursor to start from: the group's checkpoint, else the start
    /// position. Retries until it has one or is stopped.
    async fn start_cursor(&mut self) -> Result<Cursor, Stop> {
        let target = self.settings.target.clone();
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut attempt = 0;
        loop {
            let found = async {
                let checkpoints = target
                    .client
                    .get_checkpoints(
                        &target.project,
                        &target.logstore,
                        &target.group,
                        Some(self.shard),
                    )
                    .await?;
                if let Some(cursor) = checkpoints
                    .iter()
                    .find(|c| c.shard == self.shard)
                    .and_then(|c| c.cursor)
                {
                    return Ok::<_, sls_client::Error>((cursor, true));
                }
                let position = match self.settings.start {
                    StartPosition::Begin => CursorPosition::Begin,
                    StartPosition::End => CursorPosition::End,
                    StartPosition::At(t) => CursorPosition::At(t),
                };
                let cursor = target
                    .client
                    .get_cursor(&target.project, &target.logstore, self.shard, position)
                    .await?;
                Ok((cursor, false))
            }
            .await;
            match found {
                Ok((cursor, committed)) => {
                    if committed {
                        self.tracker.committed = Some(cursor);
                    }
                    self.tracker.processed = Some(cursor);
                    self.tracker.saved = Some(cursor);
                    self.settings.metrics.update(self.shard, |m| {
                        m.position = Some(cursor);
                        m.committed = self.tracker.committed;
                    });
                    return Ok(cursor);
                }
                Err(err) => {
                    attempt += 1;
                    tracing::warn!(shard = self.shard, error = %err, "cannot find where to start; retrying");
                    if let Some(stop) = self.pause(backoff.delay(attempt)).await {
                        return Err(stop);
                    }
                }
            }
        }
    }

    /// Commits what is due. `Err` means the shard was lost.
    async fn commit(&mut self, cursor: Option<Cursor>) -> Result<(), ()> {
        let Some(cursor) = cursor else { return Ok(()) };
        match self.settings.target.commit(self.shard, cursor).await {
            Ok(()) => {
                self.tracker.committed = Some(cursor);
                self.settings
                    .metrics
                    .update(self.shard, |m| m.committed = Some(cursor));
                Ok(())
            }
            Err(CommitError::Lost) => Err(()),
            Err(CommitError::Failed(err)) => {
                // Retried by the client already; the next commit point
                // tries again with a later cursor.
                tracing::warn!(shard = self.shard, error = %err, "checkpoint commit failed");
                Ok(())
            }
        }
    }

    /// Ends the task for a stop.
    async fn finish(&mut self, stop: Stop, prefetch: Option<Pull>) -> ShardExit {
        if let Some(pull) = prefetch {
            pull.abort();
        }
        let auto = self.settings.auto_commit.is_some();
        match stop {
            Stop::Lose => {
                self.processor.on_lost(self.shard).await;
                ShardExit::Lost
            }
            Stop::Revoke | Stop::Shutdown => {
                if stop == Stop::Revoke {
                    self.processor.on_revoked(self.shard).await;
                }
                if self.commit(self.tracker.to_commit(auto)).await.is_err() {
                    self.processor.on_lost(self.shard).await;
                    return ShardExit::Lost;
                }
                if stop == Stop::Shutdown {
                    self.processor.shutdown().await;
                    ShardExit::Shutdown
                } else {
                    ShardExit::Revoked
                }
            }
        }
    }

    /// Bounded replay: the cursor at the replay's end time, retried until
    /// found or stopped.
    async fn replay_end(&mut self, end_time: i64) -> Result<Cursor, Stop> {
        let target = self.settings.target.clone();
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(30));
        let mut attempt = 0;
        loop {
            match target
                .client
                .get_cursor(
                    &target.project,
                    &target.logstore,
                    self.shard,
                    CursorPosition::At(end_time),
                )
                .await
            {
                Ok(end) => return Ok(end),
                Err(err) => {
                    attempt += 1;
                    tracing::warn!(shard = self.shard, error = %err, "cannot find the replay's end; retrying");
                    if let Some(stop) = self.pause(backoff.delay(attempt)).await {
                        return Err(stop);
                    }
                }
            }
        }
    }

    /// Ordered consumption, enforced here as well as by the service: while
    /// an older read-only shard overlapping this one's key range (a parent,
    /// or an ancestor) is not committed to its end, wait.
    async fn wait_for_parents(&mut self) -> Result<(), Stop> {
        let wait = self.settings.fetch_interval.max(Duration::from_secs(1));
        loop {
            match unfinished_parent(&self.settings, self.shard).await {
                Ok(None) => return Ok(()),
                Ok(Some(parent)) => {
                    tracing::debug!(
                        shard = self.shard,
                        parent,
                        "waiting for a parent shard to be consumed"
                    );
                }
                Err(err) => {
                    tracing::warn!(shard = self.shard, error = %err, "cannot check parent shards; retrying");
                }
            }
            if let Some(stop) = self.pause(wait).await {
                return Err(stop);
            }
        }
    }

    async fn consume(&mut self) -> ShardExit {
        self.processor.on_assigned(self.shard).await;
        if self.settings.ordered {
            if let Err(stop) = self.wait_for_parents().await {
                return self.finish(stop, None).await;
            }
        }
        let mut cursor = match self.start_cursor().await {
            Ok(cursor) => cursor,
            Err(stop) => return self.finish(stop, None).await,
        };
        if let Some(end_time) = self.settings.end_time {
            match self.replay_end(end_time).await {
                Ok(end) => self.end = Some(end),
                Err(stop) => return self.finish(stop, None).await,
            }
        }
        let auto = self.settings.auto_commit;
        let mut last_commit = Instant::now();
        let mut prefetch: Option<Pull> = None;
        let mut fetch_errors = 0u32;
        let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(30));
        loop {
            if let Some(stop) = self.pending_stop() {
                return self.finish(stop, prefetch).await;
            }
            if self.end.is_some_and(|end| cursor >= end) {
                // Bounded replay: this shard is done once its end is
                // processed (saved, without auto-commit) and committed.
                let drained = match self.settings.auto_commit {
                    Some(_) => self.tracker.processed.is_some_and(|p| p >= cursor),
                    None => self.tracker.saved.is_some_and(|s| s >= cursor),
                };
                if drained {
                    if let Some(pull) = prefetch.take() {
                        pull.abort();
                    }
                    if self
                        .commit(self.tracker.to_commit(self.settings.auto_commit.is_some()))
                        .await
                        .is_err()
                    {
                        return self.finish(Stop::Lose, None).await;
                    }
                    self.processor.on_shard_end(self.shard).await;
                    return ShardExit::Ended;
                }
                if let Some(stop) = self.pause(self.settings.fetch_interval).await {
                    return self.finish(stop, prefetch).await;
                }
                continue;
            }
            let pull = match prefetch.take() {
                Some(pull) => pull,
                None => match self.pull_when_budgeted(cursor).await {
                    Ok(pull) => pull,
                    Err(stop) => return self.finish(stop, None).await,
                },
            };
            let Pull {
                mut task,
                mut reservation,
            } = pull;
            let pulled = tokio::select! {
                joined = &mut task => joined.unwrap_or_else(|_| Err(sls_client::Error::Response("pull task failed".into()))),
                stop = stopped(&mut self.stop) => {
                    // Dropping the handle would only detach the pull: it
                    // would go on holding a fetch slot and decoding data
                    // whose reservation is gone.
                    task.abort();
                    return self.finish(stop, None).await;
                }
            };
            let pulled = match pulled {
                Ok(pulled) if !reservation.try_grow(pulled.raw_size) => {
                    // Larger than reserved and the rest is taken: drop it,
                    // and pull again with fewer groups once the whole size
                    // is free (fair: first come, first served).
                    drop(reservation);
                    self.estimate = pulled.raw_size;
                    self.count = (self.count / 2).max(1);
                    continue;
                }
                Ok(pulled) => {
                    fetch_errors = 0;
                    self.settings.metrics.update(self.shard, |m| {
                        m.fetched_logs += pulled.groups.log_count() as u64;
                        m.fetched_bytes += pulled.raw_size;
                        if pulled.end_of_cursor {
                            m.end = Some(pulled.next_cursor);
                        }
                        if pulled.cursor_time.is_some() {
                            m.position_time = pulled.cursor_time;
                        }
                    });
                    pulled
                }
                Err(err) => {
                    fetch_errors += 1;
                    self.settings
                        .metrics
                        .update(self.shard, |m| m.fetch_retries += 1);
                    tracing::warn!(shard = self.shard, error = %err, "pull failed; backing off");
                    if let Some(stop) = self.pause(backoff.delay(fetch_errors)).await {
                        return self.finish(stop, None).await;
                    }
                    continue;
                }
            };
            if pulled.count == 0 && pulled.next_cursor != cursor {
                // An SPL query filtered the whole range out: nothing to
                // process, so move on (keeping processed/saved positions
                // that were current, so nothing unsaved is skipped).
                let next = pulled.next_cursor;
                if self.tracker.processed == Some(cursor) {
                    self.tracker.processed = Some(next);
                }
                if self.tracker.saved == Some(cursor) {
                    self.tracker.saved = Some(next);
                }
                cursor = next;
                self.settings
                    .metrics
                    .update(self.shard, |m| m.position = Some(next));
                continue;
            }
            if pulled.count == 0 {
                let readonly = self
                    .settings
                    .readonly
                    .read()
                    .map(|set| set.contains(&self.shard))
                    .unwrap_or(false);
                let drained = match self.settings.auto_commit {
                    Some(_) => self.tracker.processed == Some(cursor),
                    None => self.tracker.saved == Some(cursor),
                };
                if readonly && pulled.next_cursor == cursor && drained {
                    if self.commit(Some(cursor)).await.is_err() {
                        return self.finish(Stop::Lose, None).await;
                    }
                    self.processor.on_shard_end(self.shard).await;
                    return ShardExit::Ended;
                }
                if let Some(stop) = self.pause(self.settings.fetch_interval).await {
                    return self.finish(stop, None).await;
                }
                continue;
            }
            // A full-ish batch means a backlog: the next pull runs while this
            // one is processed (one batch ahead). A small one means the shard
            // is nearly caught up: wait the fetch interval before pulling
            // again rather than chase it with tiny pulls.
            // With an SPL query, pace by what the server scanned, not by what
            // survived the filter.
            let scanned = pulled.count_before_query.unwrap_or(pulled.count as u64);
            let backlog = scanned * 2 >= u64::from(self.count);
            self.estimate = pulled.raw_size.max(1);
            self.count = (self.count.saturating_mul(2)).min(self.settings.max_fetch_groups);
            if backlog {
                // Only with budget free now: waiting here while holding this
                // batch could deadlock shards against each other.
                if let Some(reserved) = self.settings.budget.try_reserve(self.estimate) {
                    prefetch = Some(self.spawn_pull(pulled.next_cursor, reserved));
                }
            }
            let batch = Batch {
                shard: self.shard,
                cursor: pulled.cursor,
                next_cursor: pulled.next_cursor,
                group_cursors: pulled.group_cursors(),
                raw_size: pulled.raw_size,
                groups: pulled.groups,
            };
            let started = Instant::now();
            let span = tracing::debug_span!(
                "batch",
                cursor = %batch.cursor,
                logs = batch.log_count(),
                bytes = batch.raw_size
            );
            let outcome = self.process(&batch).instrument(span).await;
            let took = started.elapsed();
            let (batch_logs, batch_next, batch_bytes) =
                (batch.log_count() as u64, batch.next_cursor, batch.raw_size);
            // The batch is processed or dropped: its budget goes back.
            drop(batch);
            drop(reservation);
            match outcome {
                Outcome::Done(Decision::Continue) => {
                    self.batches += 1;
                    self.logs += batch_logs;
                    self.tracker.processed = Some(batch_next);
                    cursor = batch_next;
                    self.settings.metrics.update(self.shard, |m| {
                        m.batches += 1;
                        m.processed_logs += batch_logs;
                        m.processed_bytes += batch_bytes;
                        m.position = Some(batch_next);
                        m.last_process_time = Some(took);
                    });
                }
                Outcome::Done(Decision::RollBack(to)) => {
                    if let Some(pull) = prefetch.take() {
                        pull.abort();
                    }
                    self.tracker.processed = Some(to);
                    self.settings
                        .metrics
                        .update(self.shard, |m| m.position = Some(to));
                    if self.tracker.saved.is_some_and(|s| s > to) {
                        self.tracker.saved = Some(to);
                    }
                    cursor = to;
                }
                Outcome::Lost => return self.finish(Stop::Lose, prefetch).await,
                Outcome::Stop(source) => {
                    if let Some(pull) = prefetch {
                        pull.abort();
                    }
                    return ShardExit::Failed(ConsumerError::Processor {
                        shard: self.shard,
                        source,
                    });
                }
            }
            if prefetch.is_none() {
                if let Some(stop) = self.pause(self.settings.fetch_interval).await {
                    return self.finish(stop, None).await;
                }
            }
            if let Some(interval) = auto {
                if last_commit.elapsed() >= interval {
                    last_commit = Instant::now();
                    if self.commit(self.tracker.to_commit(true)).await.is_err() {
                        return self.finish(Stop::Lose, prefetch).await;
                    }
                }
            }
        }
    }

    /// Processes a batch under the error policy: retries wait with
    /// back-off; only a loss interrupts (a revoke or shutdown lets the
    /// batch finish).
    async fn process(&mut self, batch: &Batch) -> Outcome {
        let mut policy: ErrorPolicy = self.settings.errors.clone();
        let mut failures = 0u32;
        loop {
            let settings = self.settings.clone();
            let mut checkpoint = Checkpoint {
                shard: self.shard,
                batch_next: batch.next_cursor,
                tracker: &mut self.tracker,
                target: &settings.target,
            };
            let mut lose = self.stop.clone();
            let result = tokio::select! {
                result = self.processor.process(batch, &mut checkpoint) => result,
                () = lost(&mut lose) => return Outcome::Lost,
            };
            match result {
                Ok(decision) => return Outcome::Done(decision),
                Err(err) => {
                    failures += 1;
                    self.settings
                        .metrics
                        .update(self.shard, |m| m.process_failures += 1);
                    tracing::warn!(shard = self.shard, error = %err, failures, "processor failed");
                    if failures > policy.retries {
                        match policy.then {
                            AfterRetries::Skip => {
                                tracing::warn!(shard = self.shard, cursor = %batch.cursor, "skipping the batch");
                                return Outcome::Done(Decision::Continue);
                            }
                            AfterRetries::Stop => return Outcome::Stop(err),
                            AfterRetries::KeepRetrying => {}
                        }
                    }
                    let delay = policy.backoff.delay(failures);
                    let mut lose = self.stop.clone();
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = lost(&mut lose) => return Outcome::Lost,
                    }
                }
            }
        }
    }
}

/// An older read-only shard overlapping this one that is not committed
/// to its end, if any.
async fn unfinished_parent(
    settings: &ShardSettings,
    shard: u32,
) -> Result<Option<u32>, sls_client::Error> {
    let t = &settings.target;
    let shards = t.client.list_shards(&t.project, &t.logstore).await?;
    let key = |k: &str| k.to_ascii_lowercase();
    let Some(me) = shards.iter().find(|s| s.shard_id == shard) else {
        return Ok(None);
    };
    let (begin, end) = (key(&me.inclusive_begin_key), key(&me.exclusive_end_key));
    let parents: Vec<u32> = shards
        .iter()
        .filter(|s| {
            s.shard_id < shard
                && s.status == sls_client::ShardStatus::Readonly
                && key(&s.inclusive_begin_key) < end
                && begin < key(&s.exclusive_end_key)
        })
        .map(|s| s.shard_id)
        .collect();
    if parents.is_empty() {
        return Ok(None);
    }
    let checkpoints = t
        .client
        .get_checkpoints(&t.project, &t.logstore, &t.group, None)
        .await?;
    for parent in parents {
        let end = t
            .client
            .get_cursor(&t.project, &t.logstore, parent, CursorPosition::End)
            .await?;
        let committed = checkpoints
            .iter()
            .find(|c| c.shard == parent)
            .and_then(|c| c.cursor);
        if committed != Some(end) {
            return Ok(Some(parent));
        }
    }
    Ok(None)
}

/// How processing a batch ended.
enum Outcome {
    Done(Decision),
    Lost,
    Stop(crate::error::ProcessError),
}

/// Waits until the shard is lost.
async fn lost(stop: &mut watch::Receiver<Option<Stop>>) {
    if stop.wait_for(|s| *s == Some(Stop::Lose)).await.is_err() {
        // The worker is gone: treat as lost.
    }
}
