//! What users implement: a [`Processor`] per shard, fed [`Batch`]es.

use std::future::Future;
use std::time::Duration;

use sls_client::retry::Backoff;
use sls_proto::{Cursor, LogGroupListView};

use crate::checkpoint::Checkpoint;
use crate::error::ProcessError;

/// One pull's worth of log groups from a shard.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Batch {
    /// The shard.
    pub shard: u32,
    /// Where the batch starts.
    pub cursor: Cursor,
    /// Where the next batch starts: the checkpoint once this one is done.
    pub next_cursor: Cursor,
    /// The groups, read in place.
    pub groups: LogGroupListView,
    /// Each group's cursor, oldest first, when it can be derived: from the
    /// service's `x-log-read-last-cursor` and the group count, as the
    /// official Go SDK does. A group's cursor identifies it in its shard for
    /// as long as the shard lives, so `(shard, group cursor, index of the
    /// log in the group)` is an idempotency key for a log. `None` with SPL
    /// (`query` or `processor`): filtered pulls skip groups, so only the batch's
    /// [`Batch::cursor`] and [`Batch::next_cursor`] are positions; a sink
    /// then keys on `(shard, batch cursor, index in the batch)` and keeps
    /// its position per batch.
    pub group_cursors: Option<Vec<Cursor>>,
    /// The decompressed size.
    pub raw_size: u64,
}

impl Batch {
    /// A batch of `groups` read from `shard` between `cursor` and
    /// `next_cursor`, without group cursors ([`Batch::with_group_cursors`]
    /// adds them) and with [`Batch::raw_size`] the size of `groups`' bytes.
    /// The worker makes batches itself; this is for testing a processor
    /// without one.
    ///
    /// ```
    /// use sls_consumer::Batch;
    /// use sls_proto::{Cursor, LogGroup, LogGroupBytes, LogGroupListView};
    ///
    /// let group = LogGroup::builder().log(1_700_000_000, [("level", "info")]).build();
    /// let groups = LogGroupListView::from_groups([&LogGroupBytes::encode(&group)]);
    /// let batch = Batch::new(0, Cursor::from_sequence(7), Cursor::from_sequence(8), groups)
    ///     .with_group_cursors(vec![Cursor::from_sequence(7)]);
    /// assert_eq!(batch.log_count(), 1);
    /// ```
    pub fn new(shard: u32, cursor: Cursor, next_cursor: Cursor, groups: LogGroupListView) -> Self {
        let raw_size = groups.as_bytes().len() as u64;
        Self {
            shard,
            cursor,
            next_cursor,
            groups,
            group_cursors: None,
            raw_size,
        }
    }

    /// The same batch with each group's cursor, oldest first (see
    /// [`Batch::group_cursors`]).
    pub fn with_group_cursors(mut self, cursors: Vec<Cursor>) -> Self {
        self.group_cursors = Some(cursors);
        self
    }

    /// The number of logs.
    pub fn log_count(&self) -> usize {
        self.groups.log_count()
    }
}

/// What to do after a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Done: the batch's `next_cursor` becomes the processed position.
    Continue,
    /// Read on from this cursor: back (earlier data is delivered again),
    /// or forward (to a position the processor's own store already holds,
    /// as [`ExactlyOnce`](crate::exactly_once::ExactlyOnce) does). The
    /// processed position moves to it on purpose.
    RollBack(Cursor),
}

/// A consumer of one shard. The worker makes one per held shard (from a
/// factory) and calls it from that shard's task only, so it needs no locks.
///
/// Every hook but [`Processor::process`] has a no-op default.
pub trait Processor: Send + 'static {
    /// Handles a batch. Returning an error applies the
    /// [`ErrorPolicy`]; the batch is then offered again or skipped. A panic
    /// is caught and treated as an error
    /// ([`ProcessorPanic`](crate::ProcessorPanic)); the same processor is
    /// then offered the batch again (as the official Go library does), so
    /// keep its state consistent across a panic or make it panic-free.
    fn process(
        &mut self,
        batch: &Batch,
        checkpoint: &mut Checkpoint<'_>,
    ) -> impl Future<Output = Result<Decision, ProcessError>> + Send;

    /// The shard was assigned and is about to be read.
    fn on_assigned(&mut self, shard: u32) -> impl Future<Output = ()> + Send {
        let _ = shard;
        async {}
    }

    /// Where to start reading `shard`, overriding the group's checkpoint:
    /// a cursor the processor stored itself, in the same transaction as
    /// the data it wrote (a batch's [`Batch::next_cursor`]), so that the
    /// sink and its position never disagree. `Ok(None)` (the default)
    /// starts from the group's checkpoint, or the start position.
    ///
    /// Called after [`Processor::on_assigned`], each time the shard is
    /// assigned. The worker checks the cursor: one before the oldest
    /// retained data goes through [`OnExpiredCursor`](crate::OnExpiredCursor),
    /// one past the shard's end stops the worker
    /// ([`ConsumerError::CursorRefused`](crate::ConsumerError::CursorRefused)).
    /// The group's checkpoint is still committed as the shard is read, for
    /// lag and for other tools; it follows the processor's position, back
    /// too if that is behind it (as after a [`Decision::RollBack`]). An
    /// error (the sink unreachable, say) is
    /// retried with the [`ErrorPolicy`]'s back-off: the shard never starts
    /// elsewhere than where the sink says; under
    /// [`AfterRetries::Stop`] the worker stops.
    fn seek(
        &mut self,
        shard: u32,
    ) -> impl Future<Output = Result<Option<Cursor>, ProcessError>> + Send {
        let _ = shard;
        async { Ok(None) }
    }

    /// The shard is moving to another consumer; the worker commits the
    /// processed position right after this returns.
    fn on_revoked(&mut self, shard: u32) -> impl Future<Output = ()> + Send {
        let _ = shard;
        async {}
    }

    /// The shard was lost (no heartbeat for the lease, or the service says
    /// another consumer owns it). Nothing is committed: the shard may be
    /// someone else's already.
    fn on_lost(&mut self, shard: u32) -> impl Future<Output = ()> + Send {
        let _ = shard;
        async {}
    }

    /// A read-only (split or merged) shard was read to its end and its end
    /// committed.
    fn on_shard_end(&mut self, shard: u32) -> impl Future<Output = ()> + Send {
        let _ = shard;
        async {}
    }

    /// The shard's position pointed into data dropped by retention and was
    /// moved as [`OnExpiredCursor`](crate::OnExpiredCursor) says: the logs
    /// between `reset.dead` and `reset.resumed` will not be delivered
    /// (`Oldest`: retention dropped them; `Newest`: skipped on purpose).
    /// Record the gap here if the job must know.
    fn on_cursor_reset(&mut self, reset: &CursorReset) -> impl Future<Output = ()> + Send {
        let _ = reset;
        async {}
    }

    /// The worker is shutting down; called after the last commit.
    fn shutdown(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A shard's position moved past data that will not be delivered; see
/// [`Processor::on_cursor_reset`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CursorReset {
    /// The shard.
    pub shard: u32,
    /// The dead position (into dropped data).
    pub dead: Cursor,
    /// Where reading resumes.
    pub resumed: Cursor,
    /// The oldest data the shard retains.
    pub oldest: Cursor,
    /// The policy that chose `resumed`.
    pub policy: crate::OnExpiredCursor,
}

/// A [`Processor`] from an async closure over owned batches, for the
/// simple case: every `Ok(())` continues.
pub fn processor_fn<F, Fut>(f: F) -> FnProcessor<F>
where
    F: FnMut(Batch) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), ProcessError>> + Send,
{
    FnProcessor(f)
}

/// See [`processor_fn`].
#[derive(Debug, Clone)]
pub struct FnProcessor<F>(F);

impl<F, Fut> Processor for FnProcessor<F>
where
    F: FnMut(Batch) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), ProcessError>> + Send,
{
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        (self.0)(batch.clone()).await.map(|()| Decision::Continue)
    }
}

/// What to do when [`Processor::process`] keeps failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AfterRetries {
    /// Keep retrying (with the capped back-off), never skipping data.
    KeepRetrying,
    /// Skip the batch (its data is treated as processed).
    Skip,
    /// Stop the worker with the error.
    Stop,
}

/// How a failing batch is retried: with back-off (never a tight loop), a
/// number of times, then [`AfterRetries`]. Set it with
/// [`ConsumerConfigBuilder::error_policy`](crate::ConsumerConfigBuilder::error_policy).
#[derive(Debug, Clone)]
pub struct ErrorPolicy {
    pub(crate) retries: u32,
    pub(crate) backoff: Backoff,
    pub(crate) then: AfterRetries,
}

impl Default for ErrorPolicy {
    /// 5 retries from 1 s up to 30 s, then keep retrying.
    fn default() -> Self {
        Self {
            retries: 5,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
            then: AfterRetries::KeepRetrying,
        }
    }
}

impl ErrorPolicy {
    /// `retries` retries with `backoff`, then `then`.
    pub fn new(retries: u32, backoff: Backoff, then: AfterRetries) -> Self {
        Self {
            retries,
            backoff,
            then,
        }
    }
}
