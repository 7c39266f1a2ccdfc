//! [`WorkerReport`]: what a worker did, per shard, and why it stopped if
//! not asked to.

use std::collections::BTreeMap;

use sls_proto::Cursor;

use crate::error::ConsumerError;
use crate::shard::{ShardExit, ShardReport};

/// Per shard, what a worker did over its life.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShardSummary {
    /// Batches processed.
    pub batches: u64,
    /// Logs processed.
    pub logs: u64,
    /// The last checkpoint this worker committed.
    pub committed: Option<Cursor>,
    /// How the shard's last task ended.
    pub last_exit: Option<ShardExit>,
}

/// What a worker did, per shard, and why it stopped if not asked to.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Per shard.
    pub shards: BTreeMap<u32, ShardSummary>,
    /// The service error that stopped the worker (bad keys, a missing
    /// logstore or group), if any.
    pub fatal: Option<ConsumerError>,
}

impl WorkerReport {
    pub(crate) fn record(&mut self, report: ShardReport) {
        let summary = self.shards.entry(report.shard).or_default();
        summary.batches += report.batches;
        summary.logs += report.logs;
        if report.committed.is_some() {
            summary.committed = report.committed;
        }
        summary.last_exit = Some(report.exit);
    }

    /// The report, or the error that stopped the worker without being
    /// asked ([`WorkerReport::failure`]).
    pub(crate) fn into_result(mut self) -> Result<Self, ConsumerError> {
        if let Some(fatal) = self.fatal.take() {
            return Err(fatal);
        }
        let failed = self
            .shards
            .values_mut()
            .find_map(|s| match s.last_exit.take() {
                Some(ShardExit::Failed(err)) => Some(err),
                other => {
                    s.last_exit = other;
                    None
                }
            });
        match failed {
            Some(err) => Err(err),
            None => Ok(self),
        }
    }

    /// Logs processed in all shards.
    pub fn logs(&self) -> u64 {
        self.shards.values().map(|s| s.logs).sum()
    }

    /// What stopped the worker without being asked: a service error, or a
    /// processor failure under [`AfterRetries::Stop`](crate::AfterRetries::Stop).
    pub fn failure(&self) -> Option<&ConsumerError> {
        self.fatal.as_ref().or_else(|| {
            self.shards.values().find_map(|s| match &s.last_exit {
                Some(ShardExit::Failed(err)) => Some(err),
                _ => None,
            })
        })
    }
}
