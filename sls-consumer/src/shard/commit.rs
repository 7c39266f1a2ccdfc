//! Stage 4, commit: what is due, ownership-checked. A refusal by
//! ownership means the shard was lost; transient failures are retried by
//! the call stack while the shard runs.

use sls_client::CursorPosition;
use sls_proto::Cursor;

use super::{Leave, ShardTask, Stop};
use crate::calls::fate::{Fate, Recovery};
use crate::calls::{AbortOn, CallError};
use crate::processor::Processor;

impl<P: Processor> ShardTask<P> {
    async fn commit(&mut self, cursor: Cursor, abort_on: AbortOn) -> Result<(), Leave> {
        match self.calls.commit(cursor, abort_on).await {
            Ok(()) => {
                self.tracker.committed = Some(cursor);
                self.settings
                    .metrics
                    .update(self.shard, |m| m.committed = Some(cursor));
                Ok(())
            }
            Err(CallError::Failed {
                fate: Fate::Recover(Recovery::NotOwner),
                ..
            }) => {
                tracing::warn!(shard = self.shard, %cursor, "commit refused: another consumer owns the shard");
                Err(Leave::Stop(Stop::Lose))
            }
            Err(
                err @ CallError::Failed {
                    fate: Fate::Recover(Recovery::CheckCommit),
                    ..
                },
            ) => {
                // Retention dropped the data under the position since it
                // was processed: the position no longer exists and cannot
                // be committed. Nothing is lost by not committing it (what
                // lies between it and the oldest data is gone); the next
                // pull from it is reset through the policy, with its hook.
                let oldest = self
                    .calls
                    .cursor(self.shard, CursorPosition::Begin)
                    .await
                    .map_err(|e| self.call_failed(e))?;
                if cursor < oldest {
                    tracing::warn!(shard = self.shard, %cursor, %oldest, "not committing a position retention has dropped");
                    return Ok(());
                }
                Err(self.call_failed(err))
            }
            Err(err) => Err(self.call_failed(err)),
        }
    }

    /// The periodic commit (auto-commit): what was processed, if it moved.
    pub(super) async fn commit_due(&mut self) -> Result<(), Leave> {
        match self
            .tracker
            .to_commit(self.settings.config.auto_commit_interval.is_some())
        {
            Some(cursor) => self.commit(cursor, AbortOn::AnyStop).await,
            None => Ok(()),
        }
    }

    /// The commit of a revoke or shutdown: it goes on through those stops
    /// (bounded by the shutdown timeout), not through a loss.
    pub(super) async fn commit_closing(&mut self) -> Result<(), Leave> {
        match self
            .tracker
            .to_commit(self.settings.config.auto_commit_interval.is_some())
        {
            Some(cursor) => match self.commit(cursor, AbortOn::Loss).await {
                // A closing commit is only ever abandoned for a loss.
                Err(Leave::Stop(_)) => Err(Leave::Stop(Stop::Lose)),
                other => other,
            },
            None => Ok(()),
        }
    }

    /// The commit at a read-only shard's end, or a bounded replay's.
    pub(super) async fn commit_at_end(&mut self, cursor: Cursor) -> Result<(), Leave> {
        if self.tracker.committed == Some(cursor) {
            return Ok(());
        }
        self.commit(cursor, AbortOn::Loss).await
    }
}
