//! Checkpoints: what was processed, what is committed, and the handle a
//! processor uses to commit early.

use sls_proto::Cursor;

use crate::calls::fate::{Fate, Recovery};
use crate::calls::{AbortOn, CallError, Calls};

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
    pub(crate) calls: &'a Calls,
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
        // Through the shard's calls: the fate table decides, transient
        // failures are retried until they work or the shard is lost.
        match self.calls.commit(self.batch_next, AbortOn::Loss).await {
            Ok(()) => {
                self.tracker.committed = Some(self.batch_next);
                Ok(())
            }
            Err(CallError::Failed {
                fate: Fate::Recover(Recovery::NotOwner),
                ..
            })
            | Err(CallError::Stopped(_)) => Err(sls_client::Error::InvalidArgument(format!(
                "shard {} is no longer held by this consumer",
                self.shard
            ))),
            Err(CallError::Failed { error, .. }) => Err(error),
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
        calls: &'a Calls,
    ) -> Self {
        Self {
            shard,
            batch_next,
            tracker,
            calls,
            absorbed: 0,
        }
    }
}
