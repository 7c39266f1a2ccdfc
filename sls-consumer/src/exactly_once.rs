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
//! other tools); it may lag the sink's position, never lead it.
//!
//! Status: the pattern and the seek are in place; the SQLite and
//! PostgreSQL sinks, the chaos run's sink mode and the throughput figures
//! are not done yet (issue 13).

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
}

/// The [`Processor`] that feeds a [`TransactionalSink`] exactly once: it
/// starts each shard at the sink's position and writes each batch with a
/// compare-and-set on it.
#[derive(Debug)]
pub struct ExactlyOnce<S> {
    sink: S,
    /// The position the sink holds for this processor's shard, as last
    /// read or written.
    position: Option<Cursor>,
    /// Batches the sink refused as already written or overtaken.
    stale: u64,
}

impl<S: TransactionalSink> ExactlyOnce<S> {
    /// Wraps `sink`; make one per shard (the worker's factory).
    pub fn new(sink: S) -> Self {
        Self {
            sink,
            position: None,
            stale: 0,
        }
    }

    /// The sink.
    pub fn sink(&self) -> &S {
        &self.sink
    }

    /// Batches the sink refused (re-deliveries it absorbed).
    pub fn stale(&self) -> u64 {
        self.stale
    }
}

impl<S: TransactionalSink> Processor for ExactlyOnce<S> {
    async fn seek(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
        self.position = self.sink.position(shard).await?;
        Ok(self.position)
    }

    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        // Without a stored position the first batch may start anywhere the
        // worker chose (the group's checkpoint or the start position);
        // after that, each batch must start where the sink's position is.
        // One that starts before it (the sink moved on: a retried write
        // that had landed, or another consumer's) is not written: reading
        // goes on from the sink's position. One that starts after it
        // follows a retention gap the worker reported
        // (`on_cursor_reset`).
        let expected = self.position;
        if let Some(position) = expected.filter(|p| batch.cursor < *p) {
            self.stale += 1;
            return Ok(Decision::RollBack(position));
        }
        match self.sink.write(batch, expected).await? {
            SinkWrite::Written => self.position = Some(batch.next_cursor),
            SinkWrite::Stale { stored } => {
                self.stale += 1;
                tracing::warn!(shard = batch.shard, cursor = %batch.cursor, ?expected, ?stored, "the sink already holds this batch or has moved on; nothing written");
                self.position = stored;
                if let Some(position) = stored.filter(|p| *p != batch.next_cursor) {
                    // Read on from where the sink is.
                    return Ok(Decision::RollBack(position));
                }
            }
        }
        Ok(Decision::Continue)
    }
}
