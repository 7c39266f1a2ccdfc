//! The coordinator: the worker's one loop. It waits for the next event and
//! hands it to [`Membership`], which holds the state and decides; the loop
//! carries the decisions out (starts shard tasks, sends heartbeats) and
//! judges health once per heartbeat.
//!
//! Events: a heartbeat is due, a heartbeat answered or failed, the lease
//! ran out, a shard task ended, the group's timeout changed (read by the
//! [`Refresher`](refresh::Refresher) beside the loop), shutdown asked, the
//! shutdown timeout passed.
//!
//! Heartbeats keep going while a shutdown drains, so shards that finish
//! their batch and commit keep their lease however long that takes (up to
//! the shutdown timeout); then a last heartbeat holding nothing releases
//! everything at once.
//!
//! # Layout
//! - `lease`: [`Lease`](lease::Lease), the local lease and the interval in
//!   force.
//! - `membership`: [`Membership`], the state machine.
//! - `refresh`: the group timeout, lag, read-only and replay reads.

mod lease;
mod membership;
mod refresh;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tracing::Instrument;

pub(crate) use self::lease::Lease;
use self::membership::{AfterFailure, Membership};
use self::refresh::Refresher;
use crate::calls::{CallError, GroupCalls};
use crate::config::ConsumerConfig;
use crate::error::ConsumerError;
use crate::health::{self, Health, Progress};
use crate::processor::Processor;
use crate::report::WorkerReport;
use crate::shard::{self, ShardExit, ShardReport, ShardSettings};

/// Empty heartbeats a shutdown sends at most, until the service gives it
/// nothing.
const FAREWELLS: u32 = 3;

/// How long shard tasks told to give up at the shutdown timeout have to
/// end (their hooks run) before they are aborted.
const ABANDON_GRACE: Duration = Duration::from_secs(1);

/// A heartbeat in flight: when it was sent, and its answer.
type Beat = Pin<Box<dyn Future<Output = (Instant, Result<Vec<u32>, CallError>)> + Send>>;

/// What the coordinator needs, set up by [`Worker`](crate::Worker).
pub(crate) struct Coordinator<F> {
    pub(crate) config: Arc<ConsumerConfig>,
    pub(crate) factory: Arc<F>,
    pub(crate) settings: Arc<ShardSettings>,
    pub(crate) calls: GroupCalls,
    /// The group's timeout as read back at start.
    pub(crate) group_timeout: Duration,
    /// Turns true when a bounded replay has reached its end everywhere.
    pub(crate) replay_done: watch::Sender<bool>,
    /// The worker's health, set every heartbeat.
    pub(crate) health: watch::Sender<Health>,
}

/// One thing that happened.
enum Event {
    BeatDue,
    Beat(Instant, Result<Vec<u32>, CallError>),
    LeaseEnd,
    TaskEnded(Result<(tokio::task::Id, ShardReport), JoinError>),
    GroupTimeout(Duration),
    Shutdown,
    DrainDeadline,
}

/// The loop's state besides the membership.
struct Run {
    membership: Membership,
    tasks: JoinSet<ShardReport>,
    /// Which shard each task reads, to release it if the task dies.
    task_shards: BTreeMap<tokio::task::Id, u32>,
    report: WorkerReport,
    progress: Progress,
    beat: Option<Beat>,
    /// When the last heartbeat went out, and when the next is due.
    last_beat: Option<Instant>,
    next_beat: Instant,
    /// The group was deleted: the next heartbeat creates it first.
    recreate: bool,
    /// Shutting down: when unfinished shards are abandoned.
    drain_until: Option<Instant>,
    abandoned: bool,
    /// The worker stopped on its own: health says so and stays.
    stopped: bool,
    /// When the service last answered a heartbeat (for the figures).
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    last_answer: Option<std::time::SystemTime>,
}

/// Waits for the heartbeat in flight, if any (never resolves otherwise).
async fn in_flight(beat: &mut Option<Beat>) -> (Instant, Result<Vec<u32>, CallError>) {
    match beat {
        Some(beat) => beat.await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`, if set (never resolves otherwise).
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl<P, F> Coordinator<F>
where
    P: Processor,
    F: Fn(u32) -> P + Send + Sync + 'static,
{
    /// Runs until `shutdown` turns true (or the worker stops on its own),
    /// drains, releases every shard, and reports.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) -> WorkerReport {
        let c = &self.config;
        let lease = Lease::new(c.heartbeat_interval, self.group_timeout);
        let (timeout_tx, mut group_timeout) = watch::channel(self.group_timeout);
        let refresher = tokio::spawn(
            Refresher {
                calls: self.calls.clone(),
                settings: self.settings.clone(),
                interval: c.heartbeat_interval,
                end_time: c.end_time,
                replay_done: self.replay_done.clone(),
                group_timeout: timeout_tx,
            }
            .run(),
        );
        let mut run = Run {
            membership: Membership::new(
                &c.consumer,
                lease,
                c.on_group_deleted,
                c.end_time.is_some(),
            ),
            tasks: JoinSet::new(),
            task_shards: BTreeMap::new(),
            report: WorkerReport::default(),
            progress: Progress::default(),
            beat: None,
            last_beat: None,
            next_beat: Instant::now(),
            recreate: false,
            drain_until: None,
            abandoned: false,
            stopped: false,
            last_answer: None,
        };
        while !(run.membership.draining() && run.tasks.is_empty()) {
            let event = Self::next_event(&mut run, &mut shutdown, &mut group_timeout).await;
            self.dispatch(&mut run, event);
        }
        refresher.abort();
        run.beat = None;
        self.farewell(&run.membership).await;
        run.report
    }

    /// Waits for the next event.
    async fn next_event(
        run: &mut Run,
        shutdown: &mut watch::Receiver<bool>,
        group_timeout: &mut watch::Receiver<Duration>,
    ) -> Event {
        let draining = run.membership.draining();
        let idle = run.beat.is_none();
        tokio::select! {
            (sent_at, answer) = in_flight(&mut run.beat) => Event::Beat(sent_at, answer),
            () = tokio::time::sleep_until(run.next_beat), if idle => Event::BeatDue,
            () = until(run.membership.lease_end()) => Event::LeaseEnd,
            Some(done) = run.tasks.join_next_with_id(), if !run.tasks.is_empty() => Event::TaskEnded(done),
            Ok(()) = group_timeout.changed() => Event::GroupTimeout(*group_timeout.borrow_and_update()),
            _ = shutdown.wait_for(|stop| *stop), if !draining => Event::Shutdown,
            () = until(run.drain_until) => Event::DrainDeadline,
        }
    }

    /// Hands `event` to the membership and carries out what it decides.
    fn dispatch(&self, run: &mut Run, event: Event) {
        let now = Instant::now();
        match event {
            Event::BeatDue => self.send_heartbeat(run, now),
            Event::Beat(sent_at, Ok(assigned)) => {
                run.beat = None;
                run.last_answer = Some(std::time::SystemTime::now());
                for shard in run
                    .membership
                    .on_heartbeat_answered(sent_at, now, &assigned)
                {
                    self.start_shard(run, shard);
                }
                self.judge_health(run);
            }
            Event::Beat(_, Err(err)) => {
                run.beat = None;
                self.settings.metrics.series.heartbeat_failed();
                self.on_heartbeat_failed(run, err, now);
                self.judge_health(run);
            }
            Event::LeaseEnd => {
                if run.membership.on_lease_expired(now) && run.beat.is_some() {
                    // The heartbeat in flight announces shards now lost:
                    // send a fresh one.
                    run.beat = None;
                    run.next_beat = now;
                }
            }
            Event::TaskEnded(done) => self.on_task_ended(run, done),
            Event::GroupTimeout(timeout) => {
                run.membership.on_group_timeout(timeout);
                // A shorter interval in force applies from the last
                // heartbeat: the service may already be counting.
                let due = run
                    .last_beat
                    .map_or(now, |last| last + run.membership.interval());
                run.next_beat = run.next_beat.min(due);
            }
            Event::Shutdown => self.begin_shutdown(run, false, now),
            Event::DrainDeadline if run.abandoned => {
                run.tasks.abort_all();
                run.drain_until = None;
            }
            Event::DrainDeadline => {
                run.membership.on_shutdown_timeout();
                run.abandoned = true;
                run.drain_until = Some(now + ABANDON_GRACE);
            }
        }
    }

    /// Sends the heartbeat that is due: it announces what the membership
    /// holds, and retries promptly until the next one is due.
    fn send_heartbeat(&self, run: &mut Run, now: Instant) {
        let interval = run.membership.interval();
        run.last_beat = Some(now);
        run.next_beat = now + interval;
        let held = run.membership.announced();
        let calls = self.calls.clone();
        let recreate = std::mem::take(&mut run.recreate).then(|| {
            let timeout_s = u32::try_from(self.config.timeout.as_secs()).unwrap_or(u32::MAX);
            (timeout_s, self.config.ordered)
        });
        let consumer = self.config.consumer.clone();
        run.beat = Some(Box::pin(async move {
            if let Some((timeout_s, ordered)) = recreate {
                tracing::warn!(consumer = %consumer, "the consumer group was deleted; creating it again");
                if let Err(err) = calls.ensure_group(timeout_s, ordered).await {
                    tracing::warn!(consumer = %consumer, error = ?err, "recreating the group failed; will retry");
                }
            }
            let sent_at = Instant::now();
            let answer = calls
                .heartbeat(held, sent_at + interval, interval / 4, interval / 2)
                .await;
            (sent_at, answer)
        }));
    }

    /// A heartbeat failed for good: the membership says what follows.
    fn on_heartbeat_failed(&self, run: &mut Run, err: CallError, now: Instant) {
        match run.membership.on_heartbeat_failed(&err) {
            AfterFailure::Continue => {
                tracing::warn!(consumer = %self.config.consumer, error = ?err, "heartbeat failed");
            }
            AfterFailure::RecreateGroup => {
                run.recreate = true;
                run.next_beat = now;
            }
            AfterFailure::Stop => {
                tracing::error!(consumer = %self.config.consumer, error = ?err, "stopping: the service refuses this consumer");
                let error = match err {
                    CallError::Failed { error, .. } => ConsumerError::Service(error),
                    CallError::Stopped(_) => ConsumerError::Stopped,
                };
                self.health.send_replace(Health::Stopped(error.to_string()));
                run.report.fatal = Some(error);
                run.stopped = true;
                self.begin_shutdown(run, true, now);
            }
        }
    }

    /// Starts a task for `shard`.
    fn start_shard(&self, run: &mut Run, shard: u32) {
        let stopped = run.membership.start(shard);
        let processor = (self.factory)(shard);
        let span = tracing::info_span!("shard", consumer = %self.config.consumer, shard);
        let task = shard::run(shard, processor, self.settings.clone(), stopped).instrument(span);
        let handle = run.tasks.spawn(task);
        run.task_shards.insert(handle.id(), shard);
    }

    /// A shard task ended (or died outside the processor, whose panics are
    /// caught: the shard is released rather than announced with nobody
    /// reading it).
    fn on_task_ended(
        &self,
        run: &mut Run,
        done: Result<(tokio::task::Id, ShardReport), JoinError>,
    ) {
        let report = match done {
            Ok((id, report)) => {
                run.task_shards.remove(&id);
                report
            }
            Err(err) => {
                let Some(shard) = run.task_shards.remove(&err.id()) else {
                    return;
                };
                tracing::error!(consumer = %self.config.consumer, shard, error = %err, "shard task died; releasing the shard");
                ShardReport {
                    shard,
                    exit: ShardExit::Died(err.to_string()),
                    batches: 0,
                    logs: 0,
                    committed: None,
                }
            }
        };
        let end = run.membership.on_task_ended(&report);
        if end.heartbeat_now {
            run.next_beat = run.next_beat.min(Instant::now());
        }
        let failed = end.stop_worker;
        if let ShardExit::Failed(err) = &report.exit {
            self.health.send_replace(Health::Stopped(err.to_string()));
        }
        run.report.record(report);
        if failed && !run.membership.draining() {
            run.stopped = true;
            self.begin_shutdown(run, false, Instant::now());
        }
    }

    /// Starts draining: every shard finishes (commits, unless `fatal`)
    /// within the shutdown timeout.
    fn begin_shutdown(&self, run: &mut Run, fatal: bool, now: Instant) {
        run.membership.on_shutdown(fatal);
        if run.drain_until.is_none() {
            run.drain_until = Some(now + self.config.shutdown_timeout);
        }
    }

    /// Judges health from this round's figures and publishes them.
    fn judge_health(&self, run: &mut Run) {
        let metrics = &self.settings.metrics;
        let shards = metrics.snapshot();
        let still = run.progress.observe(&shards);
        let (health, stalled) = health::assess(&health::Snapshot {
            heartbeat_failing: run.membership.heartbeat_failing(),
            shards: &shards,
            still_rounds: &still,
            process_stall_after: self.config.process_stall_after,
            processor_retries: self.config.error_policy.retries,
        });
        for m in &shards {
            let now_stalled = stalled.contains(&m.shard);
            if now_stalled && !m.stalled {
                tracing::warn!(consumer = %self.config.consumer, shard = m.shard, position = ?m.position, lag_groups = ?m.lag_groups, processing_s = ?m.processing_for.map(|d| d.as_secs()), "shard stalled: no progress while data waits, or a process call running past process_stall_after");
            }
            metrics.update(m.shard, |x| x.stalled = now_stalled);
        }
        if !run.stopped {
            self.health.send_if_modified(|now| {
                let changed = *now != health;
                *now = health;
                changed
            });
        }
        #[cfg(feature = "metrics")]
        metrics.publish(
            crate::metrics::MemoryStats {
                budget: self.settings.budget.total(),
                buffered: self.settings.budget.in_use(),
                peak: self.settings.budget.peak(),
                pooled: self.settings.budget.pooled(),
            },
            &self.health.borrow(),
            run.last_answer,
        );
    }

    /// Tells the service we hold nothing, so it reassigns at once. If it
    /// answers with shards (ones it had promised us, which we never
    /// started), says no again.
    async fn farewell(&self, membership: &Membership) {
        let attempt = membership.interval();
        for _ in 0..FAREWELLS {
            match self.calls.farewell(attempt).await {
                Ok(assigned) if assigned.is_empty() => break,
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!(consumer = %self.config.consumer, error = ?err, "final heartbeat failed");
                    break;
                }
            }
        }
    }
}
