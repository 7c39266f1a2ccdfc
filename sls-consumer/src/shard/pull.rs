//! Stage 2, pull: one batch ahead, sized by [`PullSizer`](super::sizing::PullSizer)
//! within the memory budget; a pull refused for size is asked again
//! smaller, a refused cursor is checked against retention.

use sls_client::{PullLogsRequest, PullLogsResponse};
use sls_proto::Cursor;
use tokio::task::JoinHandle;

use super::{Leave, ShardExit, ShardTask, Stop, stopped};
use crate::budget::Reservation;
use crate::calls::CallError;
use crate::calls::fate::{Fate, Recovery};
use crate::error::ConsumerError;
use crate::processor::Processor;

/// A pull in flight, with the budget reserved for its answer: the whole
/// limit it was sent with, so whatever the client accepts fits.
pub(super) struct Pull {
    task: JoinHandle<Result<PullLogsResponse, CallError>>,
    reservation: Reservation,
    /// The groups it asked for.
    asked: u32,
}

impl Pull {
    pub(super) fn abort(self) {
        self.task.abort();
    }
}

/// What the pull stage found.
pub(super) enum Fetched {
    /// Data (maybe no groups), with its reservation and the groups the
    /// pull asked for.
    Data(PullLogsResponse, Reservation, u32),
    /// Refused for size: pull again (the sizer asks for fewer groups).
    Again,
    /// The position moved (an expired cursor was reset): pull from here.
    Moved(Cursor),
    /// Stop, or a fatal error.
    Leave(Leave),
}

impl<P: Processor> ShardTask<P> {
    /// Starts a pull holding `reservation` (which covers the sizer's
    /// limit); it waits for a fetch slot.
    fn spawn_pull(&self, cursor: Cursor, reservation: Reservation) -> Pull {
        let settings = &self.settings;
        let target = &settings.target;
        let calls = self.calls.clone();
        let budget = settings.budget.clone();
        let asked = self.sizer.count();
        let mut pull = PullLogsRequest::new(&target.project, &target.logstore, self.shard, cursor)
            .count(asked)
            .max_raw_size(self.sizer.limit())
            .accept_encoding(settings.config.compression)
            .buffers(budget.clone());
        if let Some(end) = self.end {
            pull = pull.end_cursor(end);
        }
        if let Some(query) = &settings.config.query {
            pull = pull.query(query.clone());
        }
        if let Some(name) = &settings.config.processor {
            pull = pull.processor(name.clone());
        }
        let (pacer, project) = (self.pacer.clone(), settings.project_pacer.clone());
        let (metrics, shard) = (settings.metrics.clone(), self.shard);
        let task = tokio::spawn(async move {
            super::pace::paced_pull(&pacer, &project, &budget, &calls, &metrics, shard, pull).await
        });
        Pull {
            task,
            reservation,
            asked,
        }
    }

    /// Starts the next pull early, while this batch is processed, when
    /// there is a backlog and budget is free now (waiting for budget here,
    /// while holding this batch, could deadlock shards against each
    /// other). A small batch means the shard is nearly caught up: the next
    /// pull waits the fetch interval instead.
    pub(super) fn prefetch(&self, pulled: &PullLogsResponse, asked: u32) -> Option<Pull> {
        // With SPL (a query or processor), pace by what the server scanned, not by what
        // survived the filter. Against what this pull asked for: the sizer
        // may ask for more next time, which says nothing of the backlog.
        let scanned = pulled.count_before_query.unwrap_or(pulled.count as u64);
        let backlog = scanned.saturating_mul(2) >= u64::from(asked);
        if !backlog {
            return None;
        }
        let reservation = self.settings.budget.try_reserve(self.sizer.limit())?;
        Some(self.spawn_pull(pulled.next_cursor, reservation))
    }

    /// Pulls from `cursor` (or takes the prefetched pull), and deals with
    /// what comes back.
    pub(super) async fn fetch(&mut self, cursor: Cursor, prefetch: Option<Pull>) -> Fetched {
        let pull = match prefetch {
            Some(pull) => pull,
            None => match self.start_pull(cursor).await {
                Ok(pull) => pull,
                Err(stop) => return Fetched::Leave(stop.into()),
            },
        };
        let Pull {
            task,
            reservation,
            asked,
        } = pull;
        let answer = match self.answer(task).await {
            Ok(answer) => answer,
            Err(stop) => return Fetched::Leave(stop.into()),
        };
        match answer {
            Ok(pulled) => self.received(cursor, pulled, reservation, asked).await,
            Err(CallError::Failed {
                fate: Fate::Recover(Recovery::SmallerPull),
                error:
                    sls_client::Error::TooLarge {
                        declared, groups, ..
                    },
                ..
            }) => {
                drop(reservation);
                self.refused_for_size(cursor, declared, groups)
            }
            Err(CallError::Failed {
                fate: Fate::Recover(Recovery::CheckCursor),
                ..
            }) => {
                drop(reservation);
                match self.check_cursor(cursor, true).await {
                    Ok(moved) => Fetched::Moved(moved),
                    Err(leave) => Fetched::Leave(leave),
                }
            }
            Err(err) => Fetched::Leave(self.call_failed(err)),
        }
    }

    /// Waits for the budget of a pull of the sizer's limit (unless a stop
    /// comes first), then starts it.
    async fn start_pull(&mut self, cursor: Cursor) -> Result<Pull, Stop> {
        let budget = self.settings.budget.clone();
        let limit = self.sizer.limit();
        let reservation = tokio::select! {
            reservation = budget.reserve(limit) => reservation,
            stop = stopped(&mut self.stop) => return Err(stop),
        };
        Ok(self.spawn_pull(cursor, reservation))
    }

    /// Waits for a pull's answer, unless a stop comes first.
    async fn answer(
        &mut self,
        mut task: JoinHandle<Result<PullLogsResponse, CallError>>,
    ) -> Result<Result<PullLogsResponse, CallError>, Stop> {
        tokio::select! {
            joined = &mut task => Ok(joined.unwrap_or_else(|err| Err(CallError::Failed {
                call: crate::calls::fate::CallKind::PullLogs,
                fate: Fate::Fatal,
                error: sls_client::Error::Response(format!("the pull task failed: {err}")),
            }))),
            stop = stopped(&mut self.stop) => {
                // Dropping the handle would only detach the pull: it would
                // go on holding a fetch slot and decoding data whose
                // reservation is gone.
                task.abort();
                Err(stop)
            }
        }
    }

    /// An answer that fit its limit: a gap at its start goes through the
    /// expired-cursor policy, then the sizer and the figures learn from it.
    async fn received(
        &mut self,
        cursor: Cursor,
        mut pulled: PullLogsResponse,
        mut reservation: Reservation,
        asked: u32,
    ) -> Fetched {
        // The answer fit the limit; keep only what it holds.
        reservation.try_grow(pulled.raw_size);
        if let Some(first) = first_cursor(&pulled).filter(|first| *first > cursor) {
            match self.check_cursor(cursor, false).await {
                Ok(resumed) if resumed == cursor => {
                    tracing::warn!(shard = self.shard, requested = %cursor, first = %first, "the service skipped retained groups");
                }
                Ok(resumed) if resumed == first => {}
                Ok(resumed) => return Fetched::Moved(resumed),
                Err(leave) => return Fetched::Leave(leave),
            }
            pulled.cursor = first;
        }
        let largest = pulled
            .groups
            .groups()
            .map(|group| group.encoded().len() as u64)
            .max()
            .unwrap_or(0);
        // With a query, the groups the service read, not those that
        // survived it.
        let scanned = pulled.count_before_query.unwrap_or(pulled.count as u64);
        self.sizer
            .observed(scanned, pulled.groups.len(), pulled.raw_size, largest);
        self.record_pulled(cursor, &pulled);
        Fetched::Data(pulled, reservation, asked)
    }

    /// Counts what a pull from `cursor` fetched, and where the shard ends
    /// if the pull found its end.
    fn record_pulled(&self, cursor: Cursor, pulled: &PullLogsResponse) {
        // The shard's end, from the pull itself (`x-log-end-of-cursor`,
        // or an unfiltered pull that found nothing and stayed put):
        // the heartbeat then skips its GetCursor and GetCursorTime
        // calls for this shard, so an idle shard costs only its pulls.
        let empty_at_end = pulled.count == 0 && !pulled.filtered && pulled.next_cursor == cursor;
        let at_end = pulled.end_of_cursor || empty_at_end;
        self.settings.metrics.update(self.shard, |m| {
            m.fetched_logs += pulled.groups.log_count() as u64;
            m.fetched_bytes += pulled.raw_size;
            m.fetched_wire_bytes += pulled.compressed.len() as u64;
            if at_end {
                m.end = Some(pulled.next_cursor);
                if pulled.count == 0 && pulled.cursor_time.is_some() {
                    // The receive time at the end: the newest data's.
                    m.newest_time = pulled.cursor_time;
                }
            }
            if pulled.cursor_time.is_some() {
                m.position_time = pulled.cursor_time;
            }
        });
        if at_end {
            self.settings.metrics.saw_end(self.shard);
        }
    }

    /// A pull from `cursor` refused for size (`declared` bytes in `groups`
    /// groups): ask again for fewer groups, unless one group is over the
    /// whole budget.
    fn refused_for_size(&mut self, cursor: Cursor, declared: u64, groups: Option<u32>) -> Fetched {
        let asked = self.sizer.count();
        self.settings
            .metrics
            .update(self.shard, |m| m.pulls_refused_for_size += 1);
        match self.sizer.refused(declared, groups) {
            Ok(()) => {
                tracing::debug!(
                    shard = self.shard,
                    declared,
                    asked,
                    next = self.sizer.count(),
                    limit = self.sizer.limit(),
                    "pull too large; asking for fewer groups"
                );
                Fetched::Again
            }
            Err(over) => {
                tracing::error!(shard = self.shard, %cursor, declared = over.declared, budget = over.budget, "a single log group is larger than the whole memory budget");
                Fetched::Leave(Leave::Exit(ShardExit::Failed(
                    ConsumerError::GroupOverBudget {
                        shard: self.shard,
                        cursor,
                        declared: over.declared,
                        budget: over.budget,
                    },
                )))
            }
        }
    }
}

/// The cursor of an answer's first group, where the data it read starts.
/// A service that reads an expired cursor from the oldest data (as the
/// PullData reference documents) returns groups that start after it: the
/// gap shows in the first group's cursor. An unfiltered answer with no
/// groups whose next cursor moved on jumped over dropped data the same way.
fn first_cursor(pulled: &PullLogsResponse) -> Option<Cursor> {
    if pulled.count > 0 {
        // The first group's cursor alone (the batch collects them all
        // later).
        Cursor::group_cursors(
            pulled.cursor,
            pulled.read_last_cursor,
            pulled.groups.len(),
            pulled.filtered,
        )
        .and_then(|mut cursors| cursors.next())
    } else if !pulled.filtered {
        Some(pulled.next_cursor)
    } else {
        None
    }
}
