//! [`Health`]: what a supervisor polls ([`Worker::health`](crate::Worker::health))
//! or awaits ([`Worker::health_changed`](crate::Worker::health_changed)):
//! whether every held shard is making progress, and if not, which and why.
//! A stall shows here and in [`Worker::metrics`](crate::Worker::metrics),
//! not only in a log line.

use sls_proto::Cursor;

/// The worker's health, as of its last heartbeat round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Health {
    /// Every held shard is making progress (or has nothing to read).
    #[default]
    Healthy,
    /// The worker runs, but something keeps shards from moving.
    Degraded(Vec<Problem>),
    /// The worker stopped on its own; the text is the error
    /// ([`Worker::shutdown`](crate::Worker::shutdown) returns it whole in
    /// the report).
    Stopped(String),
}

impl Health {
    /// Whether nothing is wrong.
    pub fn is_healthy(&self) -> bool {
        *self == Self::Healthy
    }

    /// The problems, when degraded.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Degraded(problems) => problems,
            _ => &[],
        }
    }
}

/// One thing that keeps a worker from making progress. Each stays the same
/// while the problem lasts (durations and error texts are in the metrics),
/// so a change of [`Health`] is a real change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// Data is waiting but the shard's position has not moved for several
    /// heartbeat intervals.
    NoProgress {
        /// The shard.
        shard: u32,
        /// Where it is stuck.
        position: Option<Cursor>,
    },
    /// A `process` call has been running longer than
    /// [`process_stall_after`](crate::ConsumerConfigBuilder::process_stall_after).
    ProcessorStuck {
        /// The shard.
        shard: u32,
    },
    /// A call keeps failing with a transient error and is being retried
    /// (the error is in [`ShardMetrics::retrying`](crate::ShardMetrics::retrying)).
    CallFailing {
        /// The shard.
        shard: u32,
        /// The call, as the API reference names it.
        call: &'static str,
    },
    /// The processor keeps failing: `process` (or
    /// [`Processor::seek`](crate::Processor::seek), which is never skipped)
    /// failed more times in a row than the error policy's retries, and is
    /// being retried (`KeepRetrying`, or `seek` under `Skip`). The count is
    /// [`ShardMetrics::failures_in_a_row`](crate::ShardMetrics::failures_in_a_row);
    /// the errors are in the WARN events.
    ProcessorFailing {
        /// The shard.
        shard: u32,
    },
    /// Heartbeats fail: past the lease, every shard is dropped.
    HeartbeatFailing,
}
