//! [`Membership`]: the coordinator's state, one method per event.
//!
//! It owns which shards this consumer holds and in what state each is,
//! the stop switch of each shard's task, and the [`Lease`]. It makes no
//! calls and reads no clock (every event says when it happened), so the
//! unit tests below drive every transition without a server or real time.
//!
//! A shard is in one of four states:
//! - **held**: assigned, its task reads it; announced in every heartbeat.
//! - **stopping**: taken away (revoked) or being shut down; its task
//!   finishes the batch and commits; still announced, so the service does
//!   not hand it on before the commit.
//! - **losing**: the lease ran out or the service forgot us; its task ends
//!   without committing; never announced again.
//! - **finished**: a bounded replay read it to its end; announced with no
//!   task, so it does not bounce between consumers.
//!
//! A shard leaves every state when its task ends ([`Membership::on_task_ended`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::lease::Lease;
use crate::calls::fate::{Fate, Recovery};
use crate::calls::{CallError, Stop};
use crate::config::OnGroupDeleted;
use crate::shard::{ShardExit, ShardReport};

/// What the coordinator does after a failed heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterFailure {
    /// Heartbeat again when due (the lease decides what is lost).
    Continue,
    /// The group was deleted: create it again, then heartbeat at once.
    RecreateGroup,
    /// Nothing fixes it: the worker stops with the error.
    Stop,
}

/// What follows a shard task's end ([`Membership::on_task_ended`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskEnd {
    /// The processor's error policy stopped the worker.
    pub(crate) stop_worker: bool,
    /// A revoked shard was committed and let go: heartbeat at once so the
    /// service hands it on.
    pub(crate) heartbeat_now: bool,
}

/// The coordinator's state; see the module docs.
#[derive(Debug)]
pub(crate) struct Membership {
    consumer: String,
    lease: Lease,
    on_group_deleted: OnGroupDeleted,
    /// A bounded replay: shards read to their end are kept as finished.
    replay: bool,
    held: BTreeMap<u32, watch::Sender<Option<Stop>>>,
    stopping: BTreeMap<u32, watch::Sender<Option<Stop>>>,
    losing: BTreeSet<u32>,
    finished: BTreeSet<u32>,
    /// Shutting down: no shard is started any more.
    draining: bool,
    /// The last heartbeat failed.
    heartbeat_failing: bool,
}

impl Membership {
    pub(crate) fn new(
        consumer: &str,
        lease: Lease,
        on_group_deleted: OnGroupDeleted,
        replay: bool,
    ) -> Self {
        Self {
            consumer: consumer.to_owned(),
            lease,
            on_group_deleted,
            replay,
            held: BTreeMap::new(),
            stopping: BTreeMap::new(),
            losing: BTreeSet::new(),
            finished: BTreeSet::new(),
            draining: false,
            heartbeat_failing: false,
        }
    }

    /// The shards the next heartbeat announces: held, stopping and
    /// finished ones (never lost ones).
    pub(crate) fn announced(&self) -> Vec<u32> {
        let mut shards: Vec<u32> = self
            .held
            .keys()
            .chain(self.stopping.keys())
            .chain(&self.finished)
            .copied()
            .collect();
        shards.sort_unstable();
        shards
    }

    /// Whether any shard task may still read under the lease.
    pub(crate) fn holding(&self) -> bool {
        !self.held.is_empty() || !self.stopping.is_empty()
    }

    /// When the lease ends, while a shard is held under it.
    pub(crate) fn lease_end(&self) -> Option<Instant> {
        if self.holding() {
            self.lease.end()
        } else {
            None
        }
    }

    /// The heartbeat interval in force.
    pub(crate) fn interval(&self) -> Duration {
        self.lease.interval()
    }

    /// The group's timeout in force.
    #[cfg(test)]
    pub(crate) fn group_timeout(&self) -> Duration {
        self.lease.timeout()
    }

    /// Whether the last heartbeat failed.
    pub(crate) fn heartbeat_failing(&self) -> bool {
        self.heartbeat_failing
    }

    /// Whether shutting down.
    pub(crate) fn draining(&self) -> bool {
        self.draining
    }

    /// A heartbeat sent at `sent_at` was answered at `now` with
    /// `assigned`. Renews the lease, revokes what was taken away, and
    /// returns the shards to start (register each with [`Membership::start`]).
    pub(crate) fn on_heartbeat_answered(
        &mut self,
        sent_at: Instant,
        now: Instant,
        assigned: &[u32],
    ) -> Vec<u32> {
        if !self.lease.grants(sent_at, now) {
            // Answered after the lease it would grant: what it says is
            // stale, and the next heartbeat asks again.
            tracing::debug!(consumer = %self.consumer, "heartbeat answered too late to count");
            self.heartbeat_failing = true;
            return Vec::new();
        }
        self.heartbeat_failing = false;
        self.lease.renew(sent_at);
        let assigned: BTreeSet<u32> = assigned.iter().copied().collect();
        let revoked: Vec<u32> = self
            .held
            .keys()
            .copied()
            .filter(|s| !assigned.contains(s))
            .collect();
        for shard in revoked {
            if let Some(stop) = self.held.remove(&shard) {
                let _ = stop.send(Some(Stop::Revoke));
                self.stopping.insert(shard, stop);
            }
        }
        self.finished.retain(|s| assigned.contains(s));
        if self.draining {
            return Vec::new();
        }
        assigned
            .into_iter()
            .filter(|s| {
                !self.held.contains_key(s)
                    && !self.stopping.contains_key(s)
                    && !self.losing.contains(s)
                    && !self.finished.contains(s)
            })
            .collect()
    }

    /// Registers a task for `shard` (one [`Membership::on_heartbeat_answered`]
    /// returned) and gives it its stop signal.
    pub(crate) fn start(&mut self, shard: u32) -> watch::Receiver<Option<Stop>> {
        let (stop, stopped) = watch::channel(None);
        self.held.insert(shard, stop);
        stopped
    }

    /// A heartbeat failed for good (transient failures were retried until
    /// the next was due). Says what the coordinator does next.
    pub(crate) fn on_heartbeat_failed(&mut self, error: &CallError) -> AfterFailure {
        self.heartbeat_failing = true;
        let fate = match error {
            CallError::Failed { fate, .. } => *fate,
            CallError::Stopped(_) => return AfterFailure::Continue,
        };
        match fate {
            Fate::Retry(_) | Fate::Wait => AfterFailure::Continue,
            Fate::Recover(Recovery::Forgotten) => {
                // The service dropped us: what we hold is not ours.
                self.lose_all("the group forgot this consumer");
                AfterFailure::Continue
            }
            Fate::Recover(Recovery::GroupGone)
                if self.on_group_deleted == OnGroupDeleted::Recreate =>
            {
                AfterFailure::RecreateGroup
            }
            Fate::Recover(_) | Fate::Fatal => AfterFailure::Stop,
        }
    }

    /// The lease timer fired at `now`: if the lease has run out, every
    /// shard held or stopping is lost. Returns whether any was.
    pub(crate) fn on_lease_expired(&mut self, now: Instant) -> bool {
        if !self.holding() || !self.lease.expired(now) {
            return false;
        }
        self.lose_all("heartbeat lease expired");
        true
    }

    /// The service reports the group's timeout as `timeout` (another
    /// member may have changed it). The lease and the interval follow it.
    pub(crate) fn on_group_timeout(&mut self, timeout: Duration) {
        let Some(old) = self.lease.follow(timeout) else {
            return;
        };
        if timeout < old {
            tracing::warn!(
                consumer = %self.consumer,
                old_s = old.as_secs(),
                new_s = timeout.as_secs(),
                interval_ms = self.lease.interval().as_millis() as u64,
                "another member lowered the group's timeout; following it"
            );
        } else {
            tracing::info!(consumer = %self.consumer, old_s = old.as_secs(), new_s = timeout.as_secs(), "the group's timeout changed; following it");
        }
    }

    /// A shard's task ended. Says whether the worker must stop and
    /// whether to heartbeat at once.
    pub(crate) fn on_task_ended(&mut self, report: &ShardReport) -> TaskEnd {
        let shard = report.shard;
        self.held.remove(&shard);
        let revoked = self.stopping.remove(&shard).is_some();
        self.losing.remove(&shard);
        if self.replay && matches!(report.exit, ShardExit::Ended) {
            // Replayed to its end: keep it (announced, no task) so it does
            // not bounce between consumers.
            self.finished.insert(shard);
        }
        TaskEnd {
            stop_worker: matches!(report.exit, ShardExit::Failed(_)),
            // The service moves a revoked shard to its next owner when our
            // heartbeat no longer announces it; saying so now rather than
            // at the next heartbeat saves the new owner up to an interval.
            // A shutdown's farewell announces the releases instead.
            heartbeat_now: revoked && !self.draining,
        }
    }

    /// The worker shuts down: every shard finishes its batch and commits
    /// (`fatal`: after a fatal error no commit can succeed, so every shard
    /// is given up as lost). No shard starts any more.
    pub(crate) fn on_shutdown(&mut self, fatal: bool) {
        self.draining = true;
        if fatal {
            self.lose_all("stopping on a fatal error");
            return;
        }
        let held = std::mem::take(&mut self.held);
        for (shard, stop) in held {
            let _ = stop.send(Some(Stop::Shutdown));
            self.stopping.insert(shard, stop);
        }
        for stop in self.stopping.values() {
            // A revoked shard finishing already commits as a shutdown does.
            stop.send_if_modified(|now| {
                let unset = now.is_none();
                if unset {
                    *now = Some(Stop::Shutdown);
                }
                unset
            });
        }
    }

    /// The shutdown timeout passed: what has not finished is abandoned
    /// uncommitted, as in a crash.
    pub(crate) fn on_shutdown_timeout(&mut self) {
        self.lose_all("shutdown timeout: abandoning unfinished shards uncommitted");
    }

    /// Every shard held or stopping is lost: its task ends without a
    /// commit, and it is never announced again.
    fn lose_all(&mut self, why: &str) {
        if !self.holding() {
            return;
        }
        tracing::warn!(consumer = %self.consumer, shards = ?self.held.keys().chain(self.stopping.keys()).collect::<Vec<_>>(), "{why}; dropping every shard");
        let held = std::mem::take(&mut self.held);
        let stopping = std::mem::take(&mut self.stopping);
        for (shard, stop) in held.into_iter().chain(stopping) {
            let _ = stop.send(Some(Stop::Lose));
            self.losing.insert(shard);
        }
    }
}

#[cfg(test)]
mod tests {
    use sls_client::{RetryKind, ServerError};

    use super::*;
    use crate::calls::fate::CallKind;

    const S: Duration = Duration::from_secs(1);

    fn membership(interval: Duration, timeout: Duration) -> Membership {
        Membership::new(
            "c1",
            Lease::new(interval, timeout),
            OnGroupDeleted::Recreate,
            false,
        )
    }

    /// Answers a heartbeat sent at `at` at once, and starts what it says.
    fn answer(
        m: &mut Membership,
        at: Instant,
        assigned: &[u32],
    ) -> BTreeMap<u32, watch::Receiver<Option<Stop>>> {
        m.on_heartbeat_answered(at, at, assigned)
            .into_iter()
            .map(|shard| (shard, m.start(shard)))
            .collect()
    }

    fn failed(fate: Fate) -> CallError {
        CallError::Failed {
            call: CallKind::Heartbeat,
            fate,
            error: sls_client::Error::from(ServerError::new(500, "InternalServerError", "", None)),
        }
    }

    fn ended(shard: u32, exit: ShardExit) -> ShardReport {
        ShardReport {
            shard,
            exit,
            batches: 0,
            logs: 0,
            committed: None,
        }
    }

    #[test]
    fn assigned_shards_start_once_and_are_announced() {
        let t0 = Instant::now();
        let mut m = membership(S, 3 * S);
        let started = answer(&mut m, t0, &[0, 1]);
        assert_eq!(started.keys().copied().collect::<Vec<_>>(), [0, 1]);
        assert!(answer(&mut m, t0 + S, &[0, 1]).is_empty(), "no second task");
        assert_eq!(m.announced(), [0, 1]);
    }

    #[test]
    fn at_two_intervals_heartbeats_every_interval_never_lose_a_shard() {
        // The Python consumer's ratio: before this type, the lease was
        // timeout - interval = one interval, and every tick found it
        // expired.
        let t0 = Instant::now();
        let mut m = membership(S, 2 * S);
        let tasks = answer(&mut m, t0, &[0, 1, 2, 3]);
        for tick in 1..=120u32 {
            let now = t0 + m.interval() * tick;
            assert!(!m.on_lease_expired(now), "lost at tick {tick}");
            answer(&mut m, now, &[0, 1, 2, 3]);
        }
        assert!(tasks.values().all(|stop| stop.borrow().is_none()));
        assert_eq!(m.announced(), [0, 1, 2, 3]);
    }

    #[test]
    fn a_blip_shorter_than_the_lease_loses_nothing() {
        let t0 = Instant::now();
        let mut m = membership(S, 2 * S);
        let tasks = answer(&mut m, t0, &[0, 1]);
        // The heartbeat due at t0 + 1 s fails; its prompt retry at
        // t0 + 1.5 s is answered.
        assert_eq!(
            m.on_heartbeat_failed(&failed(Fate::Retry(RetryKind::Server))),
            AfterFailure::Continue
        );
        assert!(m.heartbeat_failing());
        assert!(!m.on_lease_expired(t0 + Duration::from_millis(1500)));
        answer(&mut m, t0 + Duration::from_millis(1500), &[0, 1]);
        assert!(!m.heartbeat_failing());
        assert!(!m.on_lease_expired(t0 + Duration::from_millis(3000)));
        assert!(tasks.values().all(|stop| stop.borrow().is_none()));
    }

    #[test]
    fn an_outage_past_the_lease_loses_every_shard_before_the_service_moves_them() {
        let t0 = Instant::now();
        let mut m = membership(S, 2 * S);
        let tasks = answer(&mut m, t0, &[0, 1]);
        let end = m.lease_end().unwrap();
        assert!(
            end < t0 + 2 * S,
            "the lease ends before the service's timeout"
        );
        assert!(!m.on_lease_expired(end - Duration::from_millis(1)));
        assert!(m.on_lease_expired(end));
        assert!(
            tasks
                .values()
                .all(|stop| *stop.borrow() == Some(Stop::Lose))
        );
        assert!(m.announced().is_empty(), "lost shards are never announced");
        assert!(!m.holding());
        // The service gives them back after the outage: they restart once
        // their old tasks have ended.
        let later = end + S;
        assert!(
            answer(&mut m, later, &[0, 1]).is_empty(),
            "old tasks still ending"
        );
        let end = m.on_task_ended(&ended(0, ShardExit::Lost));
        assert!(!end.heartbeat_now, "a lost shard is not announced early");
        assert_eq!(
            answer(&mut m, later, &[0, 1])
                .keys()
                .copied()
                .collect::<Vec<_>>(),
            [0]
        );
    }

    #[test]
    fn a_lowered_group_timeout_is_followed_at_once() {
        let t0 = Instant::now();
        let mut m = membership(3 * S, 9 * S);
        let tasks = answer(&mut m, t0, &[0]);
        // Four seconds on, another member lowers the timeout to 2 s: the
        // service would drop us 2 s after our last heartbeat, so the lease
        // is already over.
        m.on_group_timeout(2 * S);
        assert_eq!(m.group_timeout(), 2 * S);
        assert_eq!(m.interval(), S, "heartbeats speed up to half the timeout");
        assert!(m.on_lease_expired(t0 + 4 * S));
        assert_eq!(*tasks[&0].borrow(), Some(Stop::Lose));
    }

    #[test]
    fn a_lowered_group_timeout_within_the_lease_keeps_the_shards() {
        let t0 = Instant::now();
        let mut m = membership(3 * S, 9 * S);
        let tasks = answer(&mut m, t0, &[0]);
        m.on_group_timeout(2 * S);
        // At the new interval heartbeats renew in time.
        for tick in 1..=30u32 {
            let now = t0 + m.interval() * tick;
            assert!(!m.on_lease_expired(now), "tick {tick}");
            answer(&mut m, now, &[0]);
        }
        assert!(tasks[&0].borrow().is_none());
    }

    #[test]
    fn a_revoked_shard_stays_announced_until_its_task_ends() {
        let t0 = Instant::now();
        let mut m = membership(S, 3 * S);
        let tasks = answer(&mut m, t0, &[0, 1]);
        answer(&mut m, t0 + S, &[0]);
        assert_eq!(*tasks[&1].borrow(), Some(Stop::Revoke));
        assert_eq!(m.announced(), [0, 1]);
        let end = m.on_task_ended(&ended(1, ShardExit::Revoked));
        assert_eq!(
            end,
            TaskEnd {
                stop_worker: false,
                heartbeat_now: true
            }
        );
        assert_eq!(m.announced(), [0]);
    }

    #[test]
    fn a_shard_released_while_draining_waits_for_the_farewell() {
        let t0 = Instant::now();
        let mut m = membership(S, 3 * S);
        answer(&mut m, t0, &[0, 1]);
        answer(&mut m, t0 + S, &[0]);
        m.on_shutdown(false);
        let end = m.on_task_ended(&ended(1, ShardExit::Revoked));
        assert!(!end.heartbeat_now && !end.stop_worker);
        assert_eq!(m.announced(), [0]);
    }

    #[test]
    fn a_late_answer_neither_renews_nor_starts() {
        let t0 = Instant::now();
        let mut m = membership(S, 2 * S);
        answer(&mut m, t0, &[0]);
        let sent = t0 + S;
        assert!(
            m.on_heartbeat_answered(sent, sent + 2 * S, &[0, 1])
                .is_empty()
        );
        assert_eq!(m.lease_end(), Some(t0 + Duration::from_millis(1750)));
    }

    #[test]
    fn a_forgotten_consumer_loses_everything_and_a_deleted_group_is_recreated() {
        let t0 = Instant::now();
        let mut m = membership(S, 3 * S);
        let tasks = answer(&mut m, t0, &[0]);
        assert_eq!(
            m.on_heartbeat_failed(&failed(Fate::Recover(Recovery::GroupGone))),
            AfterFailure::RecreateGroup
        );
        assert!(tasks[&0].borrow().is_none());
        assert_eq!(
            m.on_heartbeat_failed(&failed(Fate::Recover(Recovery::Forgotten))),
            AfterFailure::Continue
        );
        assert_eq!(*tasks[&0].borrow(), Some(Stop::Lose));
        assert_eq!(
            m.on_heartbeat_failed(&failed(Fate::Fatal)),
            AfterFailure::Stop
        );
        let mut stopping = Membership::new("c1", Lease::new(S, 3 * S), OnGroupDeleted::Stop, false);
        assert_eq!(
            stopping.on_heartbeat_failed(&failed(Fate::Recover(Recovery::GroupGone))),
            AfterFailure::Stop
        );
    }

    #[test]
    fn shutdown_stops_every_shard_and_starts_none() {
        let t0 = Instant::now();
        let mut m = membership(S, 3 * S);
        let tasks = answer(&mut m, t0, &[0, 1]);
        answer(&mut m, t0 + S, &[0]);
        m.on_shutdown(false);
        assert_eq!(*tasks[&0].borrow(), Some(Stop::Shutdown));
        assert_eq!(
            *tasks[&1].borrow(),
            Some(Stop::Revoke),
            "a revoke commits anyway"
        );
        assert!(answer(&mut m, t0 + 2 * S, &[0, 1, 2]).is_empty());
        assert_eq!(m.announced(), [0, 1], "announced until committed");
        m.on_shutdown_timeout();
        assert!(
            tasks
                .values()
                .all(|stop| *stop.borrow() == Some(Stop::Lose))
        );
        assert!(m.announced().is_empty());
    }

    #[test]
    fn a_fatal_stop_loses_every_shard() {
        let t0 = Instant::now();
        let mut m = membership(S, 3 * S);
        let tasks = answer(&mut m, t0, &[0]);
        m.on_shutdown(true);
        assert_eq!(*tasks[&0].borrow(), Some(Stop::Lose));
    }

    #[test]
    fn a_replayed_shard_is_kept_without_a_task() {
        let t0 = Instant::now();
        let mut m = Membership::new("c1", Lease::new(S, 3 * S), OnGroupDeleted::Recreate, true);
        answer(&mut m, t0, &[0]);
        m.on_task_ended(&ended(0, ShardExit::Ended));
        assert_eq!(m.announced(), [0]);
        assert!(answer(&mut m, t0 + S, &[0]).is_empty(), "no new task");
        assert!(!m.holding(), "no task reads under the lease");
        answer(&mut m, t0 + 2 * S, &[]);
        assert!(m.announced().is_empty());
    }

    #[test]
    fn a_failed_task_stops_the_worker() {
        let t0 = Instant::now();
        let mut m = membership(S, 3 * S);
        answer(&mut m, t0, &[0]);
        let failure = ShardExit::Failed(crate::ConsumerError::Stopped);
        assert!(m.on_task_ended(&ended(0, failure)).stop_worker);
    }
}
