//! Exactly-once effects in a transactional sink: the sink keeps each
//! shard's position in the same transaction as the rows it writes, and
//! the worker starts each shard where the sink says ([`Processor::seek`]).
//!
//! Consumption itself stays at least once (a crash re-delivers what came
//! after the group's last checkpoint); the sink absorbs the re-deliveries:
//! a batch is written only if the sink's stored position for the shard is
//! where the batch starts, so a batch already written (its commit's answer
//! lost, or re-delivered after a crash) and the late write of a consumer
//! that lost the shard are both refused by the sink itself, atomically.
//!
//! What a sink must provide ([`TransactionalSink`]):
//! 1. [`position`](TransactionalSink::position): the stored position of a
//!    shard (`None` if it never wrote one).
//! 2. [`write`](TransactionalSink::write): in one transaction, check that
//!    the stored position is `expected` (compare and set), write the rows,
//!    and store the batch's [`Batch::next_cursor`] as the new position;
//!    or, if the stored position is not `expected`, write nothing and say
//!    [`SinkWrite::Stale`].
//!
//! Wrap it in [`ExactlyOnce`] to get a [`Processor`].
//!
//! Positions a sink can store: a batch's [`Batch::next_cursor`] (what the
//! compare-and-set uses), and, without an SPL query, each group's cursor
//! ([`Batch::group_cursors`]), which with a log's index in its group is a
//! key for the log that stays the same however pulls are cut. With an SPL
//! query per-group cursors are not available (a filtered pull skips
//! groups): key rows by the batch cursor and the log's index in the batch,
//! and rely on the position's compare-and-set alone, which is enough.
//!
//! What it guarantees: every log of the shards this worker reads lands in
//! the sink exactly once, whatever crashes (of the consumer, between the
//! sink's commit and its answer), partitions and hand-overs happen, as
//! long as the sink's transaction is atomic and its compare-and-set is
//! checked inside it. Logs dropped by retention before they were read are
//! not in the sink ([`Processor::on_cursor_reset`] says which range).
//! The group's checkpoint still moves (at least once, for lag and for
//! other tools); it may lag the sink's position, and leads it only across
//! a retention gap the worker reported (the sink keeps the position
//! before the gap unless its [`on_gap`](TransactionalSink::on_gap) moves
//! it): the next holder, started at the sink's position, meets the same
//! gap and is told of it again.
//!
//! Error policies: a batch the worker skips under
//! [`AfterRetries::Skip`](crate::AfterRetries::Skip) is not skipped in the
//! sink: [`ExactlyOnce`] reads it again from the sink's position, so a
//! failing sink is retried as under `KeepRetrying`. Only a retention gap
//! the worker reports moves the sink past data it did not write.

use std::future::Future;

use sls_proto::Cursor;

use crate::checkpoint::Checkpoint;
use crate::error::ProcessError;
use crate::processor::{Batch, Decision, Processor};

/// What a [`TransactionalSink::write`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkWrite {
    /// The rows and the new position were committed together.
    Written,
    /// The stored position was not the expected one: nothing was written.
    /// `stored` is what the sink holds (the batch's own end when it was
    /// already written; a later cursor when another consumer moved on).
    Stale {
        /// The position the sink holds for the shard.
        stored: Option<Cursor>,
    },
}

/// A store that commits rows and a shard's position in one transaction;
/// see the [module docs](self) for the contract.
pub trait TransactionalSink: Send + 'static {
    /// The position stored for `shard`, if any.
    fn position(
        &mut self,
        shard: u32,
    ) -> impl Future<Output = Result<Option<Cursor>, ProcessError>> + Send;

    /// Writes `batch`'s rows and stores `batch.next_cursor` as
    /// `batch.shard`'s position, in one transaction, if and only if the
    /// stored position is `expected` (`None`: no position stored yet).
    fn write(
        &mut self,
        batch: &Batch,
        expected: Option<Cursor>,
    ) -> impl Future<Output = Result<SinkWrite, ProcessError>> + Send;

    /// Retention dropped the logs between `reset.dead` and
    /// `reset.resumed` before they were read: they will never be in the
    /// sink. Record the gap here if the job must know (default: nothing).
    fn on_gap(&mut self, reset: &crate::processor::CursorReset) -> impl Future<Output = ()> + Send {
        let _ = reset;
        async {}
    }
}

/// The [`Processor`] that feeds a [`TransactionalSink`] exactly once: it
/// starts each shard at the sink's position and writes each batch with a
/// compare-and-set on it.
///
/// A batch that starts before the sink's position (a re-delivery: the
/// previous holder wrote it and crashed before the group's checkpoint
/// moved, or a write whose answer was lost) is not written again: wholly
/// behind the position it is skipped; across it, only its groups from the
/// position on are written (from the per-group cursors; with an SPL query,
/// which has none, the shard is read again from the position with
/// [`Decision::RollBack`]). Either way the logs skipped are counted
/// ([`ExactlyOnce::absorbed`], and in the worker's metrics:
/// [`ShardMetrics::absorbed`](crate::ShardMetrics::absorbed)).
#[derive(Debug)]
pub struct ExactlyOnce<S> {
    sink: S,
    /// The position the sink holds for this processor's shard, as last
    /// read or written.
    position: Option<Cursor>,
    /// Logs delivered again that the sink already held.
    absorbed: u64,
    /// Where reading resumed after the worker reported a retention gap
    /// (`on_cursor_reset`): the one place a batch may start past the
    /// sink's position.
    gap_to: Option<Cursor>,
}

/// Compare-and-set attempts on one batch before giving up (the error
/// policy then retries the batch): each failed one means another writer
/// moved the position in between.
const ATTEMPTS: u32 = 3;

impl<S: TransactionalSink> ExactlyOnce<S> {
    /// Wraps `sink`; make one per shard (the worker's factory).
    pub fn new(sink: S) -> Self {
        Self {
            sink,
            position: None,
            absorbed: 0,
            gap_to: None,
        }
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Logs delivered again (at least once) that the sink already held, and
    /// so were not written twice.
    pub fn absorbed(&self) -> u64 {
        self.absorbed
    }
}

/// The part of `batch` from the group at cursor `from` on, when per-group
/// cursors say where that is.
fn suffix(batch: &Batch, from: Cursor) -> Result<Option<(Batch, u64)>, ProcessError> {
    let Some(cursors) = &batch.group_cursors else {
        return Ok(None);
    };
    let Some(skip) = cursors.iter().position(|c| *c == from) else {
        return Ok(None);
    };
    let mut kept = Vec::with_capacity(cursors.len() - skip);
    let mut skipped_logs = 0u64;
    for (i, group) in batch.groups.groups().enumerate() {
        if i < skip {
            skipped_logs += group.log_count() as u64;
        } else {
            kept.push(sls_proto::LogGroupBytes::decode(group.encoded())?);
        }
    }
    let groups = sls_proto::LogGroupListView::from_groups(&kept);
    let part = Batch {
        shard: batch.shard,
        cursor: from,
        next_cursor: batch.next_cursor,
        raw_size: groups.as_bytes().len() as u64,
        group_cursors: Some(cursors[skip..].to_vec()),
        groups,
    };
    Ok(Some((part, skipped_logs)))
}

impl<S: TransactionalSink> Processor for ExactlyOnce<S> {
    async fn seek(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
        self.position = self.sink.position(shard).await?;
        Ok(self.position)
    }

    async fn on_cursor_reset(&mut self, reset: &crate::processor::CursorReset) {
        // The logs between are gone from the shard: the next batch may
        // start past the sink's position, there and only there.
        self.gap_to = Some(reset.resumed);
        self.sink.on_gap(reset).await;
    }

    async fn process(
        &mut self,
        batch: &Batch,
        checkpoint: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        let before = self.absorbed;
        let decision = self.write_batch(batch).await?;
        checkpoint.absorbed += self.absorbed - before;
        if decision == Decision::Continue {
            // The batch is in the sink (written now or before): without
            // auto-commit, this is what lets the group's checkpoint follow
            // (and read-only shards and bounded replays end).
            checkpoint.save();
        }
        Ok(decision)
    }
}

impl<S: TransactionalSink> ExactlyOnce<S> {
    /// Writes `batch` (or its new part) with the compare-and-set.
    async fn write_batch(&mut self, batch: &Batch) -> Result<Decision, ProcessError> {
        let mut reread = false;
        // One more round for a re-read of a stale position.
        for _ in 0..=ATTEMPTS {
            // Without a stored position the first batch may start anywhere
            // the worker chose (the group's checkpoint or the start
            // position). A batch may start after the position only where
            // the worker reported a retention gap (`on_cursor_reset`); any
            // other gap (a batch skipped under `AfterRetries::Skip`, say)
            // is read again from the sink's position: nothing is skipped
            // in the sink, so `Skip` retries as `KeepRetrying` would.
            let expected = self.position;
            if let Some(position) = expected.filter(|p| batch.cursor > *p) {
                if self.gap_to != Some(batch.cursor) && !reread {
                    // The position this processor read may be stale: the
                    // shard's previous holder, cut off but not yet aware
                    // of it, can still finish a write (and even commit the
                    // group's checkpoint) after this one read the sink's
                    // position. Ask the sink again before reading again.
                    reread = true;
                    self.position = self.sink.position(batch.shard).await?;
                    continue;
                }
                if self.gap_to != Some(batch.cursor) {
                    tracing::warn!(shard = batch.shard, cursor = %batch.cursor, %position, "a batch past the sink's position with no retention gap reported; reading again from the position");
                    return Ok(Decision::RollBack(position));
                }
            }
            let part;
            let (to_write, skipped) = match expected {
                Some(position) if batch.next_cursor <= position => {
                    self.absorbed += batch.log_count() as u64;
                    return Ok(Decision::Continue);
                }
                Some(position) if batch.cursor < position => match suffix(batch, position)? {
                    Some((rest, skipped)) => {
                        part = rest;
                        (&part, skipped)
                    }
                    None => {
                        tracing::debug!(shard = batch.shard, cursor = %batch.cursor, %position, "re-reading from the sink's position");
                        return Ok(Decision::RollBack(position));
                    }
                },
                _ => (batch, 0),
            };
            match self.sink.write(to_write, expected).await? {
                SinkWrite::Written => {
                    self.absorbed += skipped;
                    self.position = Some(batch.next_cursor);
                    self.gap_to = None;
                    return Ok(Decision::Continue);
                }
                SinkWrite::Stale { stored } => {
                    tracing::debug!(shard = batch.shard, cursor = %batch.cursor, ?expected, ?stored, "the sink's position moved; comparing again");
                    if stored.is_some_and(|s| s < batch.cursor) {
                        // The sink is behind this batch (restored from a
                        // backup, say): read again from where it is.
                        self.position = stored;
                        return Ok(Decision::RollBack(stored.unwrap_or(batch.cursor)));
                    }
                    self.position = stored;
                }
            }
        }
        Err(format!(
            "shard {}: the sink's position kept moving under this batch",
            batch.shard
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use sls_proto::prost::Message;
    use sls_proto::{LogGroup, LogGroupList, LogGroupListView};

    use super::*;
    use crate::calls::Calls;
    use crate::checkpoint::Tracker;

    /// Rows (the time of each log) and positions under one lock.
    #[derive(Clone, Default)]
    struct Memory(Arc<Mutex<(Vec<u32>, Option<Cursor>)>>);

    impl TransactionalSink for Memory {
        async fn position(&mut self, _: u32) -> Result<Option<Cursor>, ProcessError> {
            Ok(self.0.lock().unwrap().1)
        }

        async fn write(
            &mut self,
            batch: &Batch,
            expected: Option<Cursor>,
        ) -> Result<SinkWrite, ProcessError> {
            let mut db = self.0.lock().unwrap();
            if db.1 != expected {
                return Ok(SinkWrite::Stale { stored: db.1 });
            }
            for group in &batch.groups {
                db.0.extend(group.logs().map(|log| log.time()));
            }
            db.1 = Some(batch.next_cursor);
            Ok(SinkWrite::Written)
        }
    }

    /// Groups `from..to` of a shard whose group `n` holds one log of time
    /// `n`, with their cursors, as a pull returns them.
    fn batch(from: u32, to: u32) -> Batch {
        let list = LogGroupList {
            log_groups: (from..to)
                .map(|n| LogGroup::builder().log(n, [("n", n.to_string())]).build())
                .collect(),
        };
        let groups = LogGroupListView::decode(Bytes::from(list.encode_to_vec())).unwrap();
        let at = |n: u32| Cursor::from_sequence(i64::from(n));
        Batch {
            shard: 0,
            cursor: at(from),
            next_cursor: at(to),
            group_cursors: Some((from..to).map(at).collect()),
            raw_size: groups.as_bytes().len() as u64,
            groups,
        }
    }

    async fn process(processor: &mut ExactlyOnce<Memory>, batch: &Batch) -> Decision {
        let calls = Calls::unreachable();
        let mut tracker = Tracker::default();
        let mut checkpoint = Checkpoint::new(0, batch.next_cursor, &mut tracker, &calls);
        processor.process(batch, &mut checkpoint).await.unwrap()
    }

    #[tokio::test]
    async fn re_deliveries_are_absorbed_whole_or_in_part() {
        let memory = Memory::default();
        let mut first = ExactlyOnce::new(memory.clone());
        assert_eq!(first.seek(0).await.unwrap(), None);
        assert_eq!(process(&mut first, &batch(0, 3)).await, Decision::Continue);

        // The next holder was given an older position (the group's
        // checkpoint lagged) and cuts its pulls differently.
        let mut next = ExactlyOnce::new(memory.clone());
        next.seek(0).await.unwrap();
        assert_eq!(process(&mut next, &batch(0, 2)).await, Decision::Continue);
        assert_eq!(process(&mut next, &batch(2, 5)).await, Decision::Continue);
        assert_eq!(process(&mut next, &batch(5, 6)).await, Decision::Continue);
        assert_eq!(next.absorbed(), 3, "groups 0, 1 and 2 again");
        assert_eq!(memory.0.lock().unwrap().0, [0, 1, 2, 3, 4, 5]);

        // A batch past the position with no reported gap (one skipped by
        // the error policy) is read again from the position.
        assert_eq!(
            process(&mut next, &batch(7, 8)).await,
            Decision::RollBack(Cursor::from_sequence(6))
        );
        // A reported retention gap is the one way past the position.
        next.on_cursor_reset(&crate::processor::CursorReset {
            shard: 0,
            dead: Cursor::from_sequence(6),
            resumed: Cursor::from_sequence(7),
            oldest: Cursor::from_sequence(7),
            policy: crate::OnExpiredCursor::Oldest,
        })
        .await;
        assert_eq!(process(&mut next, &batch(7, 8)).await, Decision::Continue);
        assert_eq!(memory.0.lock().unwrap().0, [0, 1, 2, 3, 4, 5, 7]);

        // Without per-group cursors (SPL) a batch across the position is
        // read again from the position.
        let mut filtered = batch(6, 9);
        filtered.group_cursors = None;
        assert_eq!(
            process(&mut next, &filtered).await,
            Decision::RollBack(Cursor::from_sequence(8))
        );
        assert_eq!(memory.0.lock().unwrap().0.len(), 7);
    }

    #[tokio::test]
    async fn a_write_whose_answer_was_lost_is_not_written_again() {
        let memory = Memory::default();
        let mut processor = ExactlyOnce::new(memory.clone());
        processor.seek(0).await.unwrap();
        // Another writer (or this one, before its answer was lost) got
        // there first.
        memory.0.lock().unwrap().1 = Some(Cursor::from_sequence(3));
        memory.0.lock().unwrap().0.extend([0, 1, 2]);
        assert_eq!(
            process(&mut processor, &batch(0, 3)).await,
            Decision::Continue
        );
        assert_eq!(processor.absorbed(), 3);
        assert_eq!(memory.0.lock().unwrap().0, [0, 1, 2]);
    }

    /// The chaos run into SQLite found this: the previous holder, cut off
    /// but not yet aware of it, finished a write (and committed the
    /// group's checkpoint) after the new holder read the sink's position;
    /// the new holder then started at that checkpoint, past the position
    /// it had read, and asked to read again from there forever.
    #[tokio::test]
    async fn a_position_moved_by_the_previous_holder_after_seek_is_read_again() {
        let memory = Memory::default();
        let mut old = ExactlyOnce::new(memory.clone());
        old.seek(0).await.unwrap();
        assert_eq!(process(&mut old, &batch(0, 2)).await, Decision::Continue);

        let mut new = ExactlyOnce::new(memory.clone());
        assert_eq!(new.seek(0).await.unwrap(), Some(Cursor::from_sequence(2)));
        // The old holder's late write.
        assert_eq!(process(&mut old, &batch(2, 4)).await, Decision::Continue);
        // The new holder starts where the old one's checkpoint got to.
        assert_eq!(process(&mut new, &batch(4, 6)).await, Decision::Continue);
        assert_eq!(memory.0.lock().unwrap().0, [0, 1, 2, 3, 4, 5]);
        assert_eq!(new.absorbed(), 0);
        // A real gap is still read again, after one look at the sink.
        assert_eq!(
            process(&mut new, &batch(7, 8)).await,
            Decision::RollBack(Cursor::from_sequence(6))
        );
    }
}
