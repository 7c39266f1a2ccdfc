//! Checkpoints: what was processed, what is committed, and the handle a
//! processor uses to commit early.

use sls_client::{CheckpointUpdate, Client};
use sls_proto::Cursor;

/// Where a group's checkpoint lives on the service.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) client: Client,
    pub(crate) project: String,
    pub(crate) logstore: String,
    pub(crate) group: String,
    pub(crate) consumer: String,
}

/// Why a commit did not happen.
#[derive(Debug)]
pub(crate) enum CommitError {
    /// The service says the shard is not ours any more.
    Lost,
    /// Any other failure (after the client's retries).
    Failed(sls_client::Error),
}

impl Target {
    /// Saves `cursor` for `shard`, checked against ownership.
    pub(crate) async fn commit(&self, shard: u32, cursor: Cursor) -> Result<(), CommitError> {
        let update = CheckpointUpdate::new(shard, cursor);
        match self
            .client
            .update_checkpoint(
                &self.project,
                &self.logstore,
                &self.group,
                &self.consumer,
                update,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(err) if err.is_code("ConsumerNotMatch") || err.is_code("ConsumerNotExist") => {
                Err(CommitError::Lost)
            }
            Err(err) => Err(CommitError::Failed(err)),
        }
    }
}

/// One shard's positions.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tracker {
    /// Processed through here (the next batch starts here).
    pub(crate) processed: Option<Cursor>,
    /// What the processor asked to save (manual mode).
    pub(crate) saved: Option<Cursor>,
    /// Last committed on the service.
    pub(crate) committed: Option<Cursor>,
}

impl Tracker {
    /// What a commit now would write: everything processed with
    /// auto-commit, what was saved without.
    pub(crate) fn to_commit(&self, auto: bool) -> Option<Cursor> {
        let target = if auto { self.processed } else { self.saved };
        target.filter(|t| Some(*t) != self.committed)
    }
}

/// The handle a [`Processor`](crate::Processor) gets with each batch.
#[derive(Debug)]
pub struct Checkpoint<'a> {
    pub(crate) shard: u32,
    pub(crate) batch_next: Cursor,
    pub(crate) tracker: &'a mut Tracker,
    pub(crate) target: &'a Target,
    /// Logs of this batch an exactly-once sink already held
    /// ([`ShardMetrics::absorbed`](crate::ShardMetrics::absorbed)).
    pub(crate) absorbed: u64,
}

impl Checkpoint<'_> {
    /// The last committed cursor of the shard.
    pub fn committed(&self) -> Option<Cursor> {
        self.tracker.committed
    }

    /// Marks this batch as done, to be committed at the next commit point
    /// (auto-commit, revoke, shard end or shutdown).
    pub fn save(&mut self) {
        self.tracker.saved = Some(self.batch_next);
    }

    /// Marks this batch as done and commits it now. An error means the
    /// commit did not happen (the shard may have been lost).
    pub async fn save_now(&mut self) -> Result<(), sls_client::Error> {
        self.save();
        match self.target.commit(self.shard, self.batch_next).await {
            Ok(()) => {
                self.tracker.committed = Some(self.batch_next);
                Ok(())
            }
            Err(CommitError::Failed(err)) => Err(err),
            Err(CommitError::Lost) => Err(sls_client::Error::InvalidArgument(format!(
                "shard {} is no longer held by this consumer",
                self.shard
            ))),
        }
    }
}

#[cfg(test)]
impl Target {
    /// A target whose commits go nowhere (port 9): for processors tested
    /// without a worker.
    pub(crate) fn unreachable() -> Self {
        Self {
            client: Client::builder("http://127.0.0.1:9")
                .build()
                .expect("a valid endpoint"),
            project: "p".into(),
            logstore: "l".into(),
            group: "g".into(),
            consumer: "c".into(),
        }
    }
}

#[cfg(test)]
impl<'a> Checkpoint<'a> {
    /// The handle a worker would give with a batch ending at `batch_next`.
    pub(crate) fn new(
        shard: u32,
        batch_next: Cursor,
        tracker: &'a mut Tracker,
        target: &'a Target,
    ) -> Self {
        Self {
            shard,
            batch_next,
            tracker,
            target,
            absorbed: 0,
        }
    }
}
