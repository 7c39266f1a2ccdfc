//! What the worker reports about itself: per held shard, progress, lag and
//! errors; and the memory budget.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use sls_proto::Cursor;
use tokio::time::Instant;

use crate::export::{Series, ShardSeries, Totals};

/// A call that keeps failing, as [`ShardMetrics::retrying`](crate::ShardMetrics::retrying)
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retrying {
    /// The call, as the API reference names it (`PullLogs`, ...).
    pub call: &'static str,
    /// The last error.
    pub error: String,
    /// Retries so far.
    pub attempts: u32,
}

/// The memory budget's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryStats {
    /// The budget, in bytes.
    pub budget: u64,
    /// Bytes of fetched, unprocessed data now.
    pub buffered: u64,
    /// The most ever buffered at once.
    pub peak: u64,
    /// Bytes of the buffers of processed pulls, kept for the next pulls
    /// (a backlog is read without allocating afresh). They count against
    /// the budget as buffered data does (`buffered + pooled` never exceeds
    /// `budget`), give way to any pull that needs the room, and are freed
    /// after a few seconds unused.
    pub pooled: u64,
}

/// One held shard's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShardMetrics {
    /// The shard.
    pub shard: u32,
    /// How long this worker has held it.
    pub held_for: Duration,
    /// Logs pulled.
    pub fetched_logs: u64,
    /// Decompressed bytes pulled.
    pub fetched_bytes: u64,
    /// Bytes pulled as they came over the network (the compressed
    /// bodies).
    pub fetched_wire_bytes: u64,
    /// Logs processed.
    pub processed_logs: u64,
    /// Decompressed bytes processed.
    pub processed_bytes: u64,
    /// Batches processed.
    pub batches: u64,
    /// Where the next batch starts.
    pub position: Option<Cursor>,
    /// The last checkpoint committed.
    pub committed: Option<Cursor>,
    /// The newest end of the shard this worker knows of.
    pub end: Option<Cursor>,
    /// Log groups between the position and the end, when the end is known.
    pub lag_groups: Option<u64>,
    /// Seconds between the newest write and the data at the position (by
    /// the service's receive times), when both are known; 0 when caught up.
    pub lag_seconds: Option<i64>,
    /// Receive time (Unix s) of the data at the last pull's start.
    pub position_time: Option<i64>,
    /// Receive time (Unix s) of the newest data of the shard.
    pub newest_time: Option<i64>,
    /// Pulls that failed and were tried again.
    pub fetch_retries: u64,
    /// `process` calls that failed.
    pub process_failures: u64,
    /// How long the last `process` call took.
    pub last_process_time: Option<Duration>,
    /// Calls retried after a transient error (pulls included).
    pub call_retries: u64,
    /// The call failing right now and being retried, if any: what keeps
    /// the shard from moving during an outage.
    pub retrying: Option<Retrying>,
    /// How long the running `process` call has been running, if one is.
    pub processing_for: Option<Duration>,
    /// Panics caught in the processor (in `process` or a hook).
    pub panics: u64,
    /// Batches skipped under [`AfterRetries::Skip`](crate::AfterRetries::Skip).
    pub batches_skipped: u64,
    /// Positions reset because they pointed into data dropped by
    /// retention ([`OnExpiredCursor`](crate::OnExpiredCursor)).
    pub cursor_resets: u64,
    /// Log groups those resets passed over (dropped by retention, or
    /// skipped under [`OnExpiredCursor::Newest`](crate::OnExpiredCursor::Newest)).
    pub groups_lost: u64,
    /// Pulls refused for size (from their headers) and asked again with
    /// fewer groups.
    pub pulls_refused_for_size: u64,
    /// Pulls the service refused for its read quota (403
    /// `ShardReadQuotaExceed` or `ReadQuotaExceed`): each was paced and
    /// sent again; not failures, not counted in
    /// [`fetch_retries`](Self::fetch_retries).
    pub pulls_refused_for_quota: u64,
    /// The compressed bytes a second the shard's pulls are paced to, once
    /// the service refused one for quota; `None` while unpaced.
    pub paced_bytes_per_second: Option<u64>,
    /// The pulls a minute the shard is paced to, likewise.
    pub paced_pulls_per_minute: Option<u64>,
    /// `process` (or [`Processor::seek`](crate::Processor::seek)) calls
    /// that failed in a row, up to now; 0 after one succeeds. Past the
    /// error policy's retries, [`Problem::ProcessorFailing`](crate::Problem::ProcessorFailing).
    pub failures_in_a_row: u32,
    /// Logs delivered again (at least once) that an exactly-once sink
    /// already held and did not write twice
    /// ([`ExactlyOnce`](crate::exactly_once::ExactlyOnce)).
    pub absorbed: u64,
    /// Stalled: no progress for several heartbeat intervals although data
    /// is waiting, or a `process` call running longer than
    /// [`process_stall_after`](crate::ConsumerConfigBuilder::process_stall_after).
    /// [`Worker::health`](crate::Worker::health) says which.
    pub stalled: bool,
}

impl ShardMetrics {
    /// The figures of a shard just taken.
    pub(crate) fn empty(shard: u32) -> Self {
        Self {
            shard,
            held_for: Duration::ZERO,
            fetched_logs: 0,
            fetched_bytes: 0,
            fetched_wire_bytes: 0,
            processed_logs: 0,
            processed_bytes: 0,
            batches: 0,
            position: None,
            committed: None,
            end: None,
            lag_groups: None,
            lag_seconds: None,
            position_time: None,
            newest_time: None,
            fetch_retries: 0,
            process_failures: 0,
            last_process_time: None,
            call_retries: 0,
            retrying: None,
            processing_for: None,
            panics: 0,
            batches_skipped: 0,
            cursor_resets: 0,
            groups_lost: 0,
            pulls_refused_for_size: 0,
            pulls_refused_for_quota: 0,
            paced_bytes_per_second: None,
            paced_pulls_per_minute: None,
            failures_in_a_row: 0,
            absorbed: 0,
            stalled: false,
        }
    }
}

/// A snapshot of a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Per held shard.
    pub shards: Vec<ShardMetrics>,
    /// The memory budget.
    pub memory: MemoryStats,
}

#[derive(Debug)]
struct Entry {
    since: Instant,
    /// When the running `process` call started.
    processing_since: Option<Instant>,
    /// When a pull last found the shard's end (so the heartbeat need not
    /// ask the service for it).
    end_seen: Option<Instant>,
    metrics: ShardMetrics,
    /// Its series through the `metrics` facade.
    series: ShardSeries,
}

/// The registry shard tasks update and `Worker::metrics` reads; it feeds
/// the `metrics` facade too ([`Series`]).
#[derive(Debug, Default)]
pub(crate) struct Registry {
    shards: Mutex<BTreeMap<u32, Entry>>,
    /// The worker's series.
    pub(crate) series: Series,
}

impl Registry {
    /// A registry publishing through `series`.
    pub(crate) fn new(series: Series) -> Self {
        Self {
            shards: Mutex::default(),
            series,
        }
    }

    pub(crate) fn start(&self, shard: u32) {
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards.insert(
            shard,
            Entry {
                since: Instant::now(),
                processing_since: None,
                end_seen: None,
                metrics: ShardMetrics::empty(shard),
                series: self.series.shard(shard),
            },
        );
    }

    pub(crate) fn stop(&self, shard: u32) {
        self.shards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&shard);
    }

    /// Updates a shard's figures (and recomputes its lag).
    pub(crate) fn update(&self, shard: u32, f: impl FnOnce(&mut ShardMetrics)) {
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = shards.get_mut(&shard) {
            let before = Totals::of(&entry.metrics);
            f(&mut entry.metrics);
            entry.series.advanced(&before, &entry.metrics);
            let m = &mut entry.metrics;
            m.lag_groups = match (m.position, m.end) {
                (Some(position), Some(end)) => {
                    Some(position.distance_to(end).unwrap_or(0).max(0) as u64)
                }
                _ => None,
            };
            m.lag_seconds = match (m.lag_groups, m.newest_time, m.position_time) {
                (Some(0), _, _) => Some(0),
                (Some(_), Some(newest), Some(at)) => Some(newest.saturating_sub(at).max(0)),
                _ => None,
            };
        }
    }

    /// A pull found the shard's end: `end` is known without asking.
    pub(crate) fn saw_end(&self, shard: u32) {
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = shards.get_mut(&shard) {
            entry.end_seen = Some(Instant::now());
        }
    }

    /// Whether a pull found the shard's end within `within`.
    pub(crate) fn end_seen_within(&self, shard: u32, within: std::time::Duration) -> bool {
        let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards
            .get(&shard)
            .and_then(|entry| entry.end_seen)
            .is_some_and(|seen| seen.elapsed() <= within)
    }

    /// A `process` call starts (`true`) or returns (`false`).
    pub(crate) fn processing(&self, shard: u32, running: bool) {
        let mut shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = shards.get_mut(&shard) {
            if let (false, Some(since)) = (running, entry.processing_since) {
                self.series.processed_in(since.elapsed());
            }
            entry.processing_since = running.then(Instant::now);
        }
    }

    /// The shards held now.
    pub(crate) fn held(&self) -> Vec<u32> {
        self.shards
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// Publishes the heartbeat round through the `metrics` facade: every
    /// held shard's series, and the worker's.
    #[cfg(feature = "metrics")]
    pub(crate) fn publish(
        &self,
        memory: MemoryStats,
        health: &crate::Health,
        last_heartbeat: Option<std::time::SystemTime>,
    ) {
        let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        let held: Vec<(&ShardSeries, ShardMetrics)> = shards
            .values()
            .map(|entry| (&entry.series, entry.metrics.clone()))
            .collect();
        self.series.publish(&crate::export::Round {
            shards: &held,
            memory,
            health,
            last_heartbeat,
        });
    }

    pub(crate) fn snapshot(&self) -> Vec<ShardMetrics> {
        let shards = self.shards.lock().unwrap_or_else(|e| e.into_inner());
        shards
            .values()
            .map(|entry| ShardMetrics {
                held_for: entry.since.elapsed(),
                processing_for: entry.processing_since.map(|since| since.elapsed()),
                ..entry.metrics.clone()
            })
            .collect()
    }
}
