//! Stage 1, find the start: the group's checkpoint (checked against the
//! oldest retained data), else the start position; ordered groups wait
//! for their parents; bounded replay finds its end. Also the cursor check
//! that the pull stage runs when the service refuses a cursor.

use sls_client::{CursorPosition, ShardStatus};
use sls_proto::Cursor;

use super::{Leave, ShardExit, ShardTask};
use crate::calls::{CallError, Calls};
use crate::config::{OnExpiredCursor, StartPosition};
use crate::error::ConsumerError;
use crate::processor::{CursorReset, Processor};

impl<P: Processor> ShardTask<P> {
    /// A call's failure as a way out of the task: a stop, or a fatal
    /// error that stops the worker.
    pub(super) fn call_failed(&self, err: CallError) -> Leave {
        match err {
            CallError::Stopped(stop) => Leave::Stop(stop),
            CallError::Failed { call, error, .. } => {
                tracing::error!(shard = self.shard, call = call.name(), error = %error, "stopping the worker: an error no retry fixes");
                Leave::Exit(ShardExit::Failed(ConsumerError::ShardCall {
                    shard: self.shard,
                    call: call.name(),
                    source: error,
                }))
            }
        }
    }

    /// Where to start: waits for parents (ordered groups), finds the
    /// replay's end (bounded replay), and returns the first cursor.
    pub(super) async fn find_start(&mut self) -> Result<Cursor, Leave> {
        if self.settings.config.ordered {
            self.wait_for_parents().await?;
        }
        let sought = self.hook_seek().await?;
        let committed = self
            .calls
            .checkpoint()
            .await
            .map_err(|e| self.call_failed(e))?;
        if committed.is_some() {
            self.tracker.committed = committed;
        }
        let cursor = match (sought, committed) {
            (Some(sought), _) => {
                tracing::info!(shard = self.shard, %sought, checkpoint = ?committed, "starting where the processor says");
                self.check_sought(sought).await?
            }
            (None, Some(cursor)) => {
                // A group down for longer than the TTL: its checkpoint
                // points into dropped data. Seen here, before any pull,
                // whether the service would refuse it or silently read
                // from the oldest data.
                self.check_cursor(cursor, false).await?
            }
            (None, None) => {
                let position = match self.settings.config.start {
                    StartPosition::Begin => CursorPosition::Begin,
                    StartPosition::End => CursorPosition::End,
                    StartPosition::At(t) => CursorPosition::At(t),
                };
                self.calls
                    .cursor(self.shard, position)
                    .await
                    .map_err(|e| self.call_failed(e))?
            }
        };
        self.tracker.processed = Some(cursor);
        self.tracker.saved = Some(cursor);
        self.settings.metrics.update(self.shard, |m| {
            m.position = Some(cursor);
            m.committed = committed;
        });
        if let Some(end_time) = self.settings.config.end_time {
            let end = self
                .calls
                .cursor(self.shard, CursorPosition::At(end_time))
                .await
                .map_err(|e| self.call_failed(e))?;
            self.end = Some(end);
        }
        Ok(cursor)
    }

    /// Checks a cursor the processor gave ([`Processor::seek`]): past the
    /// shard's end it cannot be this shard's (fatal); before the oldest
    /// data it goes through the expired-cursor policy.
    async fn check_sought(&mut self, sought: Cursor) -> Result<Cursor, Leave> {
        let newest = self
            .calls
            .cursor(self.shard, CursorPosition::End)
            .await
            .map_err(|e| self.call_failed(e))?;
        if sought > newest {
            let oldest = self
                .calls
                .cursor(self.shard, CursorPosition::Begin)
                .await
                .map_err(|e| self.call_failed(e))?;
            tracing::error!(shard = self.shard, %sought, %oldest, %newest, "the processor's start cursor is past the shard's end");
            return Err(Leave::Exit(ShardExit::Failed(
                ConsumerError::CursorRefused {
                    shard: self.shard,
                    cursor: sought,
                    oldest,
                    newest,
                },
            )));
        }
        self.check_cursor(sought, false).await
    }

    /// Checks `cursor` against the shard's retained data. Before the
    /// oldest retained data, it is reset as the [`OnExpiredCursor`] policy
    /// says (returning the new cursor). Within it, it is returned as it is
    /// unless the service `refused` it, which no reset can fix: fatal.
    pub(super) async fn check_cursor(
        &mut self,
        cursor: Cursor,
        refused: bool,
    ) -> Result<Cursor, Leave> {
        let oldest = self
            .calls
            .cursor(self.shard, CursorPosition::Begin)
            .await
            .map_err(|e| self.call_failed(e))?;
        if cursor >= oldest {
            if !refused {
                return Ok(cursor);
            }
            let newest = self
                .calls
                .cursor(self.shard, CursorPosition::End)
                .await
                .map_err(|e| self.call_failed(e))?;
            tracing::error!(shard = self.shard, %cursor, %oldest, %newest, "the service refuses a cursor within the retained data");
            return Err(Leave::Exit(ShardExit::Failed(
                ConsumerError::CursorRefused {
                    shard: self.shard,
                    cursor,
                    oldest,
                    newest,
                },
            )));
        }
        let policy = self.settings.config.on_expired_cursor;
        let resumed = match policy {
            OnExpiredCursor::Stop => {
                tracing::error!(shard = self.shard, dead = %cursor, %oldest, "the position points into data dropped by retention; stopping as configured");
                return Err(Leave::Exit(ShardExit::Failed(
                    ConsumerError::CursorExpired {
                        shard: self.shard,
                        cursor,
                        oldest,
                    },
                )));
            }
            OnExpiredCursor::Newest => self
                .calls
                .cursor(self.shard, CursorPosition::End)
                .await
                .map_err(|e| self.call_failed(e))?,
            OnExpiredCursor::Oldest => oldest,
        };
        let lost = cursor.distance_to(resumed).unwrap_or(0).max(0) as u64;
        tracing::warn!(
            shard = self.shard,
            dead = %cursor,
            resumed = %resumed,
            groups_lost = lost,
            policy = ?policy,
            "the position points into data dropped by retention; reset"
        );
        self.settings.metrics.update(self.shard, |m| {
            m.cursor_resets += 1;
            m.groups_lost += lost;
            m.position = Some(resumed);
        });
        // Nothing before `resumed` can be read any more: the next commit
        // moves past it.
        self.tracker.processed = Some(resumed);
        self.tracker.saved = Some(resumed);
        let reset = CursorReset {
            shard: self.shard,
            dead: cursor,
            resumed,
            oldest,
            policy,
        };
        self.hook_cursor_reset(&reset).await?;
        Ok(resumed)
    }

    /// Ordered consumption, enforced here as well as by the service: while
    /// an older read-only shard overlapping this one's key range (a parent,
    /// or an ancestor) is not committed to its end, wait.
    async fn wait_for_parents(&mut self) -> Result<(), Leave> {
        let wait = self
            .settings
            .config
            .fetch_interval
            .max(std::time::Duration::from_secs(1));
        loop {
            match unfinished_parent(&self.calls, self.shard).await {
                Ok(None) => return Ok(()),
                Ok(Some(parent)) => {
                    tracing::debug!(
                        shard = self.shard,
                        parent,
                        "waiting for a parent shard to be consumed"
                    );
                }
                Err(err) => return Err(self.call_failed(err)),
            }
            if let Some(stop) = self.pause(wait).await {
                return Err(stop.into());
            }
        }
    }
}

/// An older read-only shard overlapping this one that is not
/// committed to its end, if any.
async fn unfinished_parent(calls: &Calls, shard: u32) -> Result<Option<u32>, CallError> {
    let shards = calls.list_shards().await?;
    let key = |k: &str| k.to_ascii_lowercase();
    let Some(me) = shards.iter().find(|s| s.shard_id == shard) else {
        return Ok(None);
    };
    let (begin, end) = (key(&me.inclusive_begin_key), key(&me.exclusive_end_key));
    let parents: Vec<u32> = shards
        .iter()
        .filter(|s| {
            s.shard_id < shard
                && s.status == ShardStatus::Readonly
                && key(&s.inclusive_begin_key) < end
                && begin < key(&s.exclusive_end_key)
        })
        .map(|s| s.shard_id)
        .collect();
    if parents.is_empty() {
        return Ok(None);
    }
    let checkpoints = calls.checkpoints().await?;
    for parent in parents {
        let end = calls.cursor(parent, CursorPosition::End).await?;
        let committed = checkpoints
            .iter()
            .find(|c| c.shard == parent)
            .and_then(|c| c.cursor);
        if committed != Some(end) {
            return Ok(Some(parent));
        }
    }
    Ok(None)
}
