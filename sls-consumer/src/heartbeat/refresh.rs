//! [`Refresher`]: a task beside the coordinator that reads, once per
//! heartbeat interval, what the service says about the group and the
//! logstore: the group's timeout (another member may change it), each
//! held shard's end (for lag), which shards are read-only, and whether a
//! bounded replay is complete. Its calls may be slow or fail; running
//! apart, they never delay a heartbeat or a lease expiry.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use sls_client::{CursorPosition, Shard, ShardStatus};
use sls_proto::Cursor;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::calls::GroupCalls;
use crate::shard::ShardSettings;

/// How often, at most, the group's timeout is read (and at least once per
/// heartbeat interval): another member may lower it at any time, and the
/// service then drops us if we are silent that long. A lowered timeout
/// longer than this plus the new interval is followed before the service
/// can drop us. At 5 s, one ListConsumerGroup call per 5 s per worker
/// (with the default 20 s heartbeat); every second would cost an idle
/// worker of few shards nearly as much as its pulls (measured with
/// `examples/idle_cost.rs`: 0.016 requests/s per shard at 64 shards).
const GROUP_POLL: Duration = Duration::from_secs(5);

/// The refresher's inputs and outputs.
#[derive(Debug)]
pub(crate) struct Refresher {
    pub(crate) calls: GroupCalls,
    pub(crate) settings: Arc<ShardSettings>,
    pub(crate) interval: Duration,
    /// Bounded replay: the Unix time it stops at.
    pub(crate) end_time: Option<i64>,
    /// Turns true when a bounded replay is complete.
    pub(crate) replay_done: watch::Sender<bool>,
    /// The group's timeout as last read.
    pub(crate) group_timeout: watch::Sender<Duration>,
}

impl Refresher {
    /// Refreshes until dropped (the coordinator aborts it): the group's
    /// timeout every [`GROUP_POLL`] (or interval, if shorter), the rest
    /// every interval.
    pub(crate) async fn run(self) {
        tokio::join!(self.watch_group(), self.refresh());
    }

    /// Reads the group's timeout, and tells the coordinator when it
    /// changed.
    async fn watch_group(&self) {
        let period = GROUP_POLL.min(self.interval);
        loop {
            let next = Instant::now() + period;
            if let Ok(Ok(Some(group))) =
                tokio::time::timeout_at(next, self.calls.describe_group(false)).await
            {
                let timeout = Duration::from_secs(u64::from(group.timeout));
                self.group_timeout.send_if_modified(|now| {
                    let changed = *now != timeout;
                    *now = timeout;
                    changed
                });
            }
            tokio::time::sleep_until(next).await;
        }
    }

    /// Lag, read-only shards and replay, every interval.
    async fn refresh(&self) {
        // Bounded replay: each shard's end cursor, once looked up.
        let mut replay_ends: BTreeMap<u32, Cursor> = BTreeMap::new();
        let mut next = Instant::now();
        loop {
            tokio::time::sleep_until(next).await;
            next = Instant::now() + self.interval;
            let round = self.round(&mut replay_ends);
            // What does not finish within the interval waits for the next
            // round.
            let _ = tokio::time::timeout_at(next, round).await;
        }
    }

    async fn round(&self, replay_ends: &mut BTreeMap<u32, Cursor>) {
        self.refresh_ends().await;
        if let Ok(shards) = self.calls.list_shards().await {
            if let Some(end_time) = self.end_time {
                if self.replay_complete(end_time, &shards, replay_ends).await {
                    let _ = self.replay_done.send(true);
                }
            }
            let readonly: BTreeSet<u32> = shards
                .iter()
                .filter(|s| s.status == ShardStatus::Readonly)
                .map(|s| s.shard_id)
                .collect();
            if let Ok(mut set) = self.settings.readonly.write() {
                *set = readonly;
            }
        }
    }

    /// Each held shard's end, for its lag, unless a pull found it since
    /// the last round (a caught-up shard's pulls say where the end is:
    /// asking again would double an idle shard's cost).
    async fn refresh_ends(&self) {
        let metrics = &self.settings.metrics;
        for shard in metrics.held() {
            if metrics.end_seen_within(shard, self.interval) {
                continue;
            }
            let Ok(end) = self.calls.cursor(shard, CursorPosition::End).await else {
                continue;
            };
            let newest = self.calls.cursor_time(shard, end).await.ok();
            metrics.update(shard, |m| {
                m.end = Some(end);
                if newest.is_some() {
                    m.newest_time = newest;
                }
            });
        }
    }

    /// Whether every shard of the logstore has its checkpoint at or past
    /// the replay's end (ends are looked up once per shard).
    async fn replay_complete(
        &self,
        end_time: i64,
        shards: &[Shard],
        ends: &mut BTreeMap<u32, Cursor>,
    ) -> bool {
        for shard in shards {
            if ends.contains_key(&shard.shard_id) {
                continue;
            }
            match self
                .calls
                .cursor(shard.shard_id, CursorPosition::At(end_time))
                .await
            {
                Ok(end) => {
                    ends.insert(shard.shard_id, end);
                }
                Err(_) => return false,
            }
        }
        let Ok(checkpoints) = self.calls.checkpoints().await else {
            return false;
        };
        shards.iter().all(|shard| {
            let end = ends.get(&shard.shard_id);
            checkpoints
                .iter()
                .find(|cp| cp.shard == shard.shard_id)
                .and_then(|cp| cp.cursor)
                .is_some_and(|cp| end.is_some_and(|end| cp >= *end))
        })
    }
}
