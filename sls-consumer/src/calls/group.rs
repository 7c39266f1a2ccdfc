//! [`GroupCalls`]: the coordinator's calls (heartbeats, the group itself,
//! and the lag and shard refreshes), through the same fate table and retry
//! policy as a shard's, each bounded by a deadline or a number of tries.

use std::sync::Arc;
use std::time::Duration;

use sls_client::{Checkpoint as ServerCheckpoint, ConsumerGroup, CursorPosition, Shard};
use sls_proto::Cursor;
use tower::ServiceExt;

use super::fate::{CallKind, Fate, Recovery};
use super::policy::{Bound, FatePolicy};
use super::{AbortOn, CallError, ClientService, Op, Reply, ShardCall, Target, unexpected};

/// Tries of a call made at start, whose caller waits for it.
const START_TRIES: u32 = 5;
/// The back-off cap of calls made at start.
const START_BACKOFF_CAP: Duration = Duration::from_secs(2);

/// The coordinator's calls.
#[derive(Debug, Clone)]
pub(crate) struct GroupCalls {
    target: Arc<Target>,
}

impl GroupCalls {
    pub(crate) fn new(target: Arc<Target>) -> Self {
        Self { target }
    }

    /// Sends `op`, retried as `policy` says, each try bounded by
    /// `attempt_timeout` when set.
    async fn send(
        &self,
        op: Op,
        policy: FatePolicy,
        attempt_timeout: Option<Duration>,
    ) -> Result<Reply, CallError> {
        let call = ShardCall {
            op,
            abort_on: AbortOn::Loss,
        };
        let kind = call.kind();
        let service = tower::retry::Retry::new(
            policy,
            ClientService {
                target: self.target.clone(),
                attempt_timeout,
            },
        );
        service
            .oneshot(call)
            .await
            .map_err(|error| CallError::Failed {
                call: kind,
                fate: super::fate::fate(kind, &error),
                error,
            })
    }

    /// Sends `op` with the policy of a call made at start: a few tries.
    async fn send_at_start(&self, op: Op) -> Result<Reply, CallError> {
        let policy = FatePolicy::for_group(Bound::Tries(START_TRIES), START_BACKOFF_CAP);
        self.send(op, policy, None).await
    }

    /// Sends `op` once: a refresh that the next round repeats anyway.
    async fn send_once(&self, op: Op) -> Result<Reply, CallError> {
        let policy = FatePolicy::for_group(Bound::Tries(1), Duration::ZERO);
        self.send(op, policy, None).await
    }

    /// One heartbeat announcing `held`: transient failures are retried
    /// promptly (back-off capped at `retry_cap`) until `until`, when the
    /// next heartbeat is due; each try is bounded by `attempt_timeout`.
    /// Returns the shards the service assigns.
    pub(crate) async fn heartbeat(
        &self,
        held: Vec<u32>,
        until: tokio::time::Instant,
        retry_cap: Duration,
        attempt_timeout: Duration,
    ) -> Result<Vec<u32>, CallError> {
        let policy = FatePolicy::for_group(Bound::Until(until), retry_cap);
        let op = Op::Heartbeat { held };
        match self.send(op, policy, Some(attempt_timeout)).await? {
            Reply::Assigned(assigned) => Ok(assigned),
            other => Err(unexpected(CallKind::Heartbeat, other)),
        }
    }

    /// A last heartbeat holding nothing, tried once.
    pub(crate) async fn farewell(&self, attempt_timeout: Duration) -> Result<Vec<u32>, CallError> {
        let policy = FatePolicy::for_group(Bound::Tries(1), Duration::ZERO);
        let op = Op::Heartbeat { held: Vec::new() };
        match self.send(op, policy, Some(attempt_timeout)).await? {
            Reply::Assigned(assigned) => Ok(assigned),
            other => Err(unexpected(CallKind::Heartbeat, other)),
        }
    }

    /// Creates the group, or updates an existing one: its order, and its
    /// timeout if ours is longer. Every official consumer writes its own
    /// timeout when it starts; this one only ever raises it, because a
    /// lowered timeout can make the service drop live members before
    /// their lease, computed from the old one, runs out.
    pub(crate) async fn ensure_group(
        &self,
        timeout_s: u32,
        ordered: bool,
    ) -> Result<(), CallError> {
        let group = ConsumerGroup::new(self.target.group.clone(), timeout_s, ordered);
        match self.send_at_start(Op::CreateGroup(group)).await {
            Ok(_) => Ok(()),
            Err(CallError::Failed {
                fate: Fate::Recover(Recovery::GroupExists),
                ..
            }) => {
                // Never lower a live group's timeout: the service would
                // then drop members silent for less than their own lease
                // allows, and hand their shards on while they still read
                // them (the chaos run found it). Raising is safe.
                let existing = self.describe_group(true).await?.map_or(0, |g| g.timeout);
                let timeout_s = timeout_s.max(existing);
                self.send_at_start(Op::UpdateGroup { timeout_s, ordered })
                    .await
                    .map(drop)
            }
            Err(err) => Err(err),
        }
    }

    /// The group as the service describes it now (its timeout may have
    /// been changed by another member), or `None` if it is not listed.
    /// `at_start` tries a few times; otherwise once.
    pub(crate) async fn describe_group(
        &self,
        at_start: bool,
    ) -> Result<Option<ConsumerGroup>, CallError> {
        let reply = if at_start {
            self.send_at_start(Op::ListGroups).await?
        } else {
            self.send_once(Op::ListGroups).await?
        };
        match reply {
            Reply::Groups(groups) => Ok(groups.into_iter().find(|g| g.name == self.target.group)),
            other => Err(unexpected(CallKind::ListConsumerGroups, other)),
        }
    }

    /// The logstore's shards (tried once).
    pub(crate) async fn list_shards(&self) -> Result<Vec<Shard>, CallError> {
        match self.send_once(Op::ListShards).await? {
            Reply::Shards(shards) => Ok(shards),
            other => Err(unexpected(CallKind::ListShards, other)),
        }
    }

    /// A cursor of `shard` (tried once).
    pub(crate) async fn cursor(
        &self,
        shard: u32,
        position: CursorPosition,
    ) -> Result<Cursor, CallError> {
        match self.send_once(Op::Cursor { shard, position }).await? {
            Reply::Cursor(cursor) => Ok(cursor),
            other => Err(unexpected(CallKind::GetCursor, other)),
        }
    }

    /// The receive time of the data at `cursor` (tried once).
    pub(crate) async fn cursor_time(&self, shard: u32, cursor: Cursor) -> Result<i64, CallError> {
        match self.send_once(Op::CursorTime { shard, cursor }).await? {
            Reply::CursorTime(time) => Ok(time),
            other => Err(unexpected(CallKind::GetCursorTime, other)),
        }
    }

    /// Every shard's checkpoint (tried once).
    pub(crate) async fn checkpoints(&self) -> Result<Vec<ServerCheckpoint>, CallError> {
        match self.send_once(Op::Checkpoints { shard: None }).await? {
            Reply::Checkpoints(all) => Ok(all),
            other => Err(unexpected(CallKind::GetCheckpoint, other)),
        }
    }
}
