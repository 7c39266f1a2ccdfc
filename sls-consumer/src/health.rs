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

/// Heartbeat rounds without progress (while data waits) that make a shard
/// stalled.
pub(crate) const STALL_ROUNDS: u32 = 3;

/// What the worker's health is judged from: one round's figures.
#[derive(Debug)]
pub(crate) struct Snapshot<'a> {
    /// The last heartbeat failed.
    pub(crate) heartbeat_failing: bool,
    /// Every held shard's figures.
    pub(crate) shards: &'a [crate::metrics::ShardMetrics],
    /// Per shard, rounds its position has not moved while data waited
    /// ([`Progress`]).
    pub(crate) still_rounds: &'a std::collections::BTreeMap<u32, u32>,
    /// A `process` call running this long is stuck.
    pub(crate) process_stall_after: std::time::Duration,
    /// Failures in a row past which a processor is failing.
    pub(crate) processor_retries: u32,
}

/// The worker's health in `snapshot`, and which shards are stalled (no
/// progress, or a stuck processor).
pub(crate) fn assess(snapshot: &Snapshot<'_>) -> (Health, Vec<u32>) {
    let mut problems = Vec::new();
    let mut stalled = Vec::new();
    if snapshot.heartbeat_failing {
        problems.push(Problem::HeartbeatFailing);
    }
    for m in snapshot.shards {
        let still = snapshot.still_rounds.get(&m.shard).copied().unwrap_or(0);
        let no_progress = still >= STALL_ROUNDS;
        let stuck = m
            .processing_for
            .is_some_and(|running| running >= snapshot.process_stall_after);
        if stuck {
            problems.push(Problem::ProcessorStuck { shard: m.shard });
        } else if no_progress {
            problems.push(Problem::NoProgress {
                shard: m.shard,
                position: m.position,
            });
        }
        if stuck || no_progress {
            stalled.push(m.shard);
        }
        if m.failures_in_a_row > snapshot.processor_retries {
            problems.push(Problem::ProcessorFailing { shard: m.shard });
        }
        if let Some(retrying) = &m.retrying {
            if retrying.attempts >= STALL_ROUNDS {
                problems.push(Problem::CallFailing {
                    shard: m.shard,
                    call: retrying.call,
                });
            }
        }
    }
    let health = if problems.is_empty() {
        Health::Healthy
    } else {
        Health::Degraded(problems)
    };
    (health, stalled)
}

/// Per held shard, the last position seen, how many rounds it has not
/// moved while data was waiting, and its pulls refused for quota so far.
/// A refusal for the service's read quota starts the count again: the
/// shard is paced by the service, not stuck (the refusals show in their
/// own counter).
#[derive(Debug, Default)]
pub(crate) struct Progress {
    seen: std::collections::BTreeMap<u32, (Option<Cursor>, u32, u64)>,
}

impl Progress {
    /// Records one round's figures (shards not in them are forgotten) and
    /// returns, per shard, the rounds without progress.
    pub(crate) fn observe(
        &mut self,
        shards: &[crate::metrics::ShardMetrics],
    ) -> std::collections::BTreeMap<u32, u32> {
        self.seen
            .retain(|shard, _| shards.iter().any(|m| m.shard == *shard));
        shards
            .iter()
            .map(|m| {
                let refused = m.pulls_refused_for_quota;
                let entry = self.seen.entry(m.shard).or_insert((m.position, 0, refused));
                let paced = refused > entry.2;
                entry.2 = refused;
                if m.lag_groups.unwrap_or(0) > 0 && entry.0 == m.position {
                    // Refused since the last round: paced, not stuck (a
                    // paced retry waits at most 2 s, so rounds of a
                    // second or more see one every other round at least).
                    entry.1 = if paced { 0 } else { entry.1 + 1 };
                } else {
                    *entry = (m.position, 0, refused);
                }
                (m.shard, entry.1)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::metrics::ShardMetrics;

    fn snapshot<'a>(
        shards: &'a [ShardMetrics],
        still: &'a BTreeMap<u32, u32>,
        heartbeat_failing: bool,
    ) -> Snapshot<'a> {
        Snapshot {
            heartbeat_failing,
            shards,
            still_rounds: still,
            process_stall_after: Duration::from_secs(60),
            processor_retries: 3,
        }
    }

    #[test]
    fn healthy_unless_something_is_wrong() {
        let shards = [ShardMetrics::empty(0)];
        let still = BTreeMap::new();
        assert_eq!(assess(&snapshot(&shards, &still, false)).0, Health::Healthy);
        let (health, _) = assess(&snapshot(&shards, &still, true));
        assert_eq!(health.problems(), [Problem::HeartbeatFailing]);
    }

    #[test]
    fn a_shard_that_waits_with_data_for_three_rounds_is_stalled() {
        let mut shard = ShardMetrics::empty(7);
        shard.lag_groups = Some(10);
        let shards = [shard];
        let mut progress = Progress::default();
        let mut verdicts = Vec::new();
        for _ in 0..4 {
            let still = progress.observe(&shards);
            verdicts.push(assess(&snapshot(&shards, &still, false)).1);
        }
        assert_eq!(verdicts, [vec![], vec![], vec![7], vec![7]]);
        // Progress resets it.
        let mut moved = shards[0].clone();
        moved.position = Some(sls_proto::Cursor::from_sequence(5));
        let still = progress.observe(&[moved.clone()]);
        assert!(assess(&snapshot(&[moved], &still, false)).1.is_empty());
    }

    #[test]
    fn rounds_of_quota_refusals_are_not_rounds_without_progress() {
        let mut shard = ShardMetrics::empty(7);
        shard.lag_groups = Some(10);
        let mut progress = Progress::default();
        let mut verdicts = Vec::new();
        for round in 0..6 {
            if round < 5 {
                shard.pulls_refused_for_quota += 1;
            }
            let shards = [shard.clone()];
            let still = progress.observe(&shards);
            verdicts.push(assess(&snapshot(&shards, &still, false)).1);
        }
        // Refused each round: never stalled; then still like any shard.
        assert!(verdicts.iter().all(Vec::is_empty), "{verdicts:?}");
        let shards = [shard];
        progress.observe(&shards);
        let still = progress.observe(&shards);
        assert_eq!(assess(&snapshot(&shards, &still, false)).1, [7]);
    }

    #[test]
    fn a_stuck_processor_and_a_failing_one_are_told_apart() {
        let mut stuck = ShardMetrics::empty(1);
        stuck.processing_for = Some(Duration::from_secs(61));
        let mut failing = ShardMetrics::empty(2);
        failing.failures_in_a_row = 4;
        let shards = [stuck, failing];
        let still = BTreeMap::new();
        let (health, stalled) = assess(&snapshot(&shards, &still, false));
        assert_eq!(
            health.problems(),
            [
                Problem::ProcessorStuck { shard: 1 },
                Problem::ProcessorFailing { shard: 2 }
            ]
        );
        assert_eq!(stalled, [1]);
    }
}
