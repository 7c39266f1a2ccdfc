//! The heartbeat loop: the worker's one coordinator. It tells the service
//! which shards this consumer holds (held ones and ones still stopping),
//! starts tasks for shards it is given, revokes shards taken away, keeps a
//! local lease, and refreshes which shards are read-only.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use sls_client::ShardStatus;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use crate::config::{ConsumerConfig, OnGroupDeleted};
use crate::health::{Health, Problem};
use crate::processor::Processor;
use crate::shard::{self, ShardExit, ShardReport, ShardSettings, Stop};
use crate::worker::WorkerReport;

/// Empty heartbeats a shutdown sends at most, until the service gives it
/// nothing.
const FAREWELLS: u32 = 3;

/// How long shard tasks told to give up at the shutdown timeout have to
/// end (their hooks run) before they are aborted.
const ABANDON_GRACE: Duration = Duration::from_secs(1);

/// Heartbeat intervals without progress (while data waits) that make a
/// shard stalled.
const STALL_INTERVALS: u32 = 3;

/// The loop's state.
pub(crate) struct HeartbeatLoop<P, F> {
    pub(crate) config: ConsumerConfig,
    pub(crate) factory: Arc<F>,
    pub(crate) settings: Arc<ShardSettings>,
    /// Turns true when a bounded replay has reached its end everywhere.
    pub(crate) replay_done: watch::Sender<bool>,
    /// The worker's health, set every round.
    pub(crate) health: watch::Sender<Health>,
    pub(crate) _processor: std::marker::PhantomData<fn() -> P>,
}

/// A running shard task's stop switch.
struct Running {
    stop: watch::Sender<Option<Stop>>,
}

/// The lease ran out: every shard held or finishing is stopped without a
/// commit and never announced again.
fn expire(
    consumer: &str,
    held: &mut BTreeMap<u32, Running>,
    stopping: &mut BTreeMap<u32, Running>,
    losing: &mut BTreeSet<u32>,
) {
    if held.is_empty() && stopping.is_empty() {
        return;
    }
    tracing::warn!(consumer = %consumer, "heartbeat lease expired; dropping every shard");
    for (shard, running) in std::mem::take(held)
        .into_iter()
        .chain(std::mem::take(stopping))
    {
        let _ = running.stop.send(Some(Stop::Lose));
        losing.insert(shard);
    }
}

impl<P, F> HeartbeatLoop<P, F>
where
    P: Processor,
    F: Fn(u32) -> P + Send + Sync + 'static,
{
    /// The local lease: a consumer stops its shards once this long has
    /// passed since its last successful heartbeat was sent, before the
    /// service (which waits the full timeout) can give them to another.
    fn lease(&self) -> Duration {
        self.config
            .timeout
            .saturating_sub(self.config.heartbeat_interval)
    }

    /// Whether every shard of the logstore has its checkpoint at or past
    /// the replay's end (ends are looked up once per shard).
    async fn replay_complete(
        &self,
        end_time: i64,
        shards: &[sls_client::Shard],
        ends: &mut BTreeMap<u32, sls_proto::Cursor>,
    ) -> bool {
        let c = &self.config;
        for shard in shards {
            if ends.contains_key(&shard.shard_id) {
                continue;
            }
            match c
                .client
                .get_cursor(
                    &c.project,
                    &c.logstore,
                    shard.shard_id,
                    sls_client::CursorPosition::At(end_time),
                )
                .await
            {
                Ok(end) => {
                    ends.insert(shard.shard_id, end);
                }
                Err(_) => return false,
            }
        }
        let Ok(checkpoints) = c
            .client
            .get_checkpoints(&c.project, &c.logstore, &c.group, None)
            .await
        else {
            return false;
        };
        shards.iter().all(|shard| {
            let end = ends.get(&shard.shard_id);
            checkpoints
                .iter()
                .find(|cp| cp.shard == shard.shard_id)
                .and_then(|cp| cp.cursor)
                .is_some_and(|cp| end.is_some_and(|end| cp >= *end))
        })
    }

    /// Runs until `shutdown` turns true (or a processor asks the worker to
    /// stop), then shuts down cleanly and reports.
    pub(crate) async fn run(self, mut shutdown: watch::Receiver<bool>) -> WorkerReport {
        let mut report = WorkerReport::default();
        let mut tasks: JoinSet<ShardReport> = JoinSet::new();
        // Which shard each task reads, to release it if the task dies.
        let mut task_shards: BTreeMap<tokio::task::Id, u32> = BTreeMap::new();
        let mut held: BTreeMap<u32, Running> = BTreeMap::new();
        // Revoked, still finishing: announced until their task ends.
        let mut stopping: BTreeMap<u32, Running> = BTreeMap::new();
        // Lost: never announced again; their tasks end without committing.
        let mut losing: BTreeSet<u32> = BTreeSet::new();
        // Bounded replay: shards read to their end, held without a task.
        let mut finished: BTreeSet<u32> = BTreeSet::new();
        // Stall detection: per shard, the last position seen and how many
        // intervals it has not moved.
        let mut progress: BTreeMap<u32, (Option<sls_proto::Cursor>, u32)> = BTreeMap::new();
        // Bounded replay: each shard's end cursor, once looked up.
        let mut replay_ends: BTreeMap<u32, sls_proto::Cursor> = BTreeMap::new();
        let mut last_ok = Instant::now();
        let mut ticker = tokio::time::interval(self.config.heartbeat_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let c = &self.config;

        loop {
            // The lease is kept by a timer, not only between heartbeats: a
            // heartbeat call retrying through an outage must not let shards
            // run past it.
            let holding = !held.is_empty() || !stopping.is_empty();
            let lease_end = last_ok + self.lease();
            tokio::select! {
                _ = ticker.tick() => {}
                () = tokio::time::sleep_until(lease_end), if holding => {
                    expire(&c.consumer, &mut held, &mut stopping, &mut losing);
                }
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    let shard_report = match done {
                        Ok((id, shard_report)) => {
                            task_shards.remove(&id);
                            shard_report
                        }
                        Err(err) => {
                            // The task died outside the processor (whose
                            // panics are caught): release the shard rather
                            // than announce it with nobody reading it. The
                            // service may give it back; a new task starts.
                            let Some(shard) = task_shards.remove(&err.id()) else { continue };
                            tracing::error!(consumer = %c.consumer, shard, error = %err, "shard task died; releasing the shard");
                            ShardReport {
                                shard,
                                exit: ShardExit::Died(err.to_string()),
                                batches: 0,
                                logs: 0,
                                committed: None,
                            }
                        }
                    };
                    {
                        let shard = shard_report.shard;
                        held.remove(&shard);
                        stopping.remove(&shard);
                        losing.remove(&shard);
                        let failed = matches!(shard_report.exit, ShardExit::Failed(_));
                        if c.end_time.is_some() && matches!(shard_report.exit, ShardExit::Ended) {
                            // Replayed to its end: keep it (announced, no
                            // task) so it does not bounce between consumers.
                            finished.insert(shard);
                        }
                        if let ShardExit::Failed(err) = &shard_report.exit {
                            self.health.send_replace(Health::Stopped(err.to_string()));
                        }
                        report.record(shard_report);
                        if failed {
                            break;
                        }
                    }
                    continue;
                }
                _ = shutdown.wait_for(|stop| *stop) => break,
            }

            // The lease: no successful heartbeat for too long means the
            // service may hand our shards out; stop them without committing.
            if Instant::now() >= last_ok + self.lease() {
                expire(&c.consumer, &mut held, &mut stopping, &mut losing);
            }

            let announced: Vec<u32> = held
                .keys()
                .chain(stopping.keys())
                .chain(finished.iter())
                .copied()
                .collect();
            let sent_at = Instant::now();
            let call =
                c.client
                    .heartbeat(&c.project, &c.logstore, &c.group, &c.consumer, &announced);
            tokio::pin!(call);
            let holding = !held.is_empty() || !stopping.is_empty();
            let answer = tokio::select! {
                answer = &mut call => answer,
                () = tokio::time::sleep_until(last_ok + self.lease()), if holding => {
                    expire(&c.consumer, &mut held, &mut stopping, &mut losing);
                    call.await
                }
            };
            let heartbeat_failing = answer.is_err();
            match answer {
                Ok(assigned) => {
                    last_ok = sent_at;
                    let assigned: BTreeSet<u32> = assigned.into_iter().collect();
                    // Taken away: finish the batch, commit, then stop
                    // announcing it.
                    let revoked: Vec<u32> = held
                        .keys()
                        .copied()
                        .filter(|s| !assigned.contains(s))
                        .collect();
                    finished.retain(|s| assigned.contains(s));
                    for shard in revoked {
                        if let Some(running) = held.remove(&shard) {
                            let _ = running.stop.send(Some(Stop::Revoke));
                            stopping.insert(shard, running);
                        }
                    }
                    for shard in assigned {
                        if held.contains_key(&shard)
                            || stopping.contains_key(&shard)
                            || losing.contains(&shard)
                            || finished.contains(&shard)
                        {
                            continue;
                        }
                        let (stop, stopped) = watch::channel(None);
                        let processor = (self.factory)(shard);
                        let span = tracing::info_span!("shard", consumer = %c.consumer, shard);
                        let handle = tasks.spawn(
                            shard::run(shard, processor, self.settings.clone(), stopped)
                                .instrument(span),
                        );
                        task_shards.insert(handle.id(), shard);
                        held.insert(shard, Running { stop });
                    }
                }
                Err(err) if err.is_code("NotExistConsumerWithBody") => {
                    // The service dropped us: what we hold is not ours.
                    tracing::warn!(consumer = %c.consumer, "the group forgot this consumer; dropping every shard");
                    for (shard, running) in std::mem::take(&mut held)
                        .into_iter()
                        .chain(std::mem::take(&mut stopping))
                    {
                        let _ = running.stop.send(Some(Stop::Lose));
                        losing.insert(shard);
                    }
                }
                Err(err)
                    if err.is_code("ConsumerGroupNotExist")
                        && c.on_group_deleted == OnGroupDeleted::Recreate =>
                {
                    tracing::warn!(consumer = %c.consumer, group = %c.group, "the consumer group was deleted; creating it again");
                    if let Err(err) = crate::worker::ensure_group(c).await {
                        tracing::warn!(consumer = %c.consumer, error = %err, "recreating the group failed; will retry");
                    }
                    ticker.reset_immediately();
                }
                Err(err) if crate::calls::fate::is_fatal_for_heartbeat(&err) => {
                    tracing::error!(consumer = %c.consumer, error = %err, "stopping: the service refuses this consumer");
                    self.health.send_replace(Health::Stopped(err.to_string()));
                    report.fatal = Some(err.into());
                    break;
                }
                Err(err) => {
                    tracing::warn!(consumer = %c.consumer, error = %err, "heartbeat failed");
                }
            }

            // Stalls: a held shard with data waiting whose position has not
            // moved for several intervals, a processor call running too
            // long, a call failing over and over. In the metrics and the
            // health signal, not only in a log line.
            let mut problems = Vec::new();
            if heartbeat_failing {
                problems.push(Problem::HeartbeatFailing);
            }
            for m in self.settings.metrics.snapshot() {
                let entry = progress.entry(m.shard).or_insert((m.position, 0));
                if m.lag_groups.unwrap_or(0) > 0 && entry.0 == m.position {
                    entry.1 += 1;
                } else {
                    *entry = (m.position, 0);
                }
                let no_progress = entry.1 >= STALL_INTERVALS;
                if no_progress && entry.1 == STALL_INTERVALS {
                    tracing::warn!(consumer = %c.consumer, shard = m.shard, position = ?m.position, lag_groups = ?m.lag_groups, "shard stalled: no progress for {STALL_INTERVALS} heartbeat intervals while data is waiting");
                }
                let stuck = m
                    .processing_for
                    .is_some_and(|running| running >= c.process_stall_after);
                if stuck {
                    tracing::warn!(consumer = %c.consumer, shard = m.shard, running_s = m.processing_for.unwrap_or_default().as_secs(), "processor has not returned for longer than process_stall_after");
                    problems.push(Problem::ProcessorStuck { shard: m.shard });
                } else if no_progress {
                    problems.push(Problem::NoProgress {
                        shard: m.shard,
                        position: m.position,
                    });
                }
                if m.failures_in_a_row > self.settings.errors.retries {
                    problems.push(Problem::ProcessorFailing { shard: m.shard });
                }
                if let Some(retrying) = &m.retrying {
                    if retrying.attempts >= STALL_INTERVALS {
                        problems.push(Problem::CallFailing {
                            shard: m.shard,
                            call: retrying.call,
                        });
                    }
                }
                self.settings
                    .metrics
                    .update(m.shard, |metrics| metrics.stalled = no_progress || stuck);
            }
            let health = if problems.is_empty() {
                Health::Healthy
            } else {
                Health::Degraded(problems)
            };
            self.health.send_if_modified(|now| {
                let changed = *now != health;
                *now = health;
                changed
            });
            progress.retain(|shard, _| held.contains_key(shard));
            #[cfg(feature = "metrics")]
            crate::export::publish(
                &c.consumer,
                &crate::metrics::WorkerMetrics {
                    shards: self.settings.metrics.snapshot(),
                    memory: crate::worker::MemoryStats {
                        budget: self.settings.budget.total(),
                        buffered: self.settings.budget.in_use(),
                        peak: self.settings.budget.peak(),
                    },
                },
            );

            // Lag, read-only shards and replay progress: a few calls that
            // may be slow or retrying. Bounded by one interval (and by the
            // lease), so they can delay neither the next heartbeat nor a
            // lease expiry; what does not finish waits for the next round.
            let mut refresh_until = Instant::now() + c.heartbeat_interval;
            if !held.is_empty() || !stopping.is_empty() {
                refresh_until = refresh_until.min(last_ok + self.lease());
            }
            let refresh = async {
                // Each held shard's end, for its lag, unless a pull found it
                // since the last round (a caught-up shard's pulls say where
                // the end is: asking again would double an idle shard's
                // cost).
                for shard in self.settings.metrics.held() {
                    if self
                        .settings
                        .metrics
                        .end_seen_within(shard, c.heartbeat_interval)
                    {
                        continue;
                    }
                    if let Ok(end) = c
                        .client
                        .get_cursor(
                            &c.project,
                            &c.logstore,
                            shard,
                            sls_client::CursorPosition::End,
                        )
                        .await
                    {
                        let newest = c
                            .client
                            .get_cursor_time(&c.project, &c.logstore, shard, end)
                            .await
                            .ok();
                        self.settings.metrics.update(shard, |m| {
                            m.end = Some(end);
                            if newest.is_some() {
                                m.newest_time = newest;
                            }
                        });
                    }
                }
                if let Ok(shards) = c.client.list_shards(&c.project, &c.logstore).await {
                    if let Some(end_time) = c.end_time {
                        if self
                            .replay_complete(end_time, &shards, &mut replay_ends)
                            .await
                        {
                            let _ = self.replay_done.send(true);
                        }
                    }
                    let readonly = shards
                        .iter()
                        .filter(|s| s.status == ShardStatus::Readonly)
                        .map(|s| s.shard_id)
                        .collect();
                    if let Ok(mut set) = self.settings.readonly.write() {
                        *set = readonly;
                    }
                }
            };
            let _ = tokio::time::timeout_at(refresh_until, refresh).await;
        }

        // Clean shutdown: stop every shard (each finishes its batch and
        // commits), wait for them within the timeout, then tell the service
        // we hold nothing so it reassigns at once.
        // After a fatal service error (bad keys, the group or logstore
        // gone) no commit can succeed: the shards are given up as lost.
        let stop = if report.fatal.is_some() {
            Stop::Lose
        } else {
            Stop::Shutdown
        };
        for running in held.values().chain(stopping.values()) {
            let _ = running.stop.send(Some(stop));
        }
        // No heartbeat goes out while shards finish: past the lease the
        // service may give them to others, so the wait ends there too
        // (what has not finished is abandoned as lost, never held by two).
        let deadline = tokio::time::sleep_until(
            (Instant::now() + self.config.shutdown_timeout).min(last_ok + self.lease()),
        );
        tokio::pin!(deadline);
        let mut abandoned = false;
        loop {
            tokio::select! {
                done = tasks.join_next() => match done {
                    Some(Ok(shard_report)) => report.record(shard_report),
                    Some(Err(_)) => {}
                    None => break,
                },
                () = &mut deadline => {
                    if abandoned {
                        tasks.abort_all();
                        break;
                    }
                    // Unfinished shards are abandoned uncommitted, as in a
                    // crash; told as a loss, each task still ends with its
                    // report (a commit retrying against a gone service
                    // gives up, a stuck processor is interrupted).
                    tracing::warn!(consumer = %c.consumer, "shutdown timeout: abandoning unfinished shards uncommitted");
                    for running in held.values().chain(stopping.values()) {
                        let _ = running.stop.send(Some(Stop::Lose));
                    }
                    abandoned = true;
                    deadline.as_mut().reset(Instant::now() + ABANDON_GRACE);
                }
            }
        }
        // If the service answers the empty heartbeat with shards (ones it
        // had promised us, which we never started), say no again: the next
        // empty heartbeat lets go of those too.
        for _ in 0..FAREWELLS {
            match c
                .client
                .heartbeat(&c.project, &c.logstore, &c.group, &c.consumer, &[])
                .await
            {
                Ok(assigned) if assigned.is_empty() => break,
                Ok(_) => continue,
                Err(err) => {
                    tracing::warn!(consumer = %c.consumer, error = %err, "final heartbeat failed");
                    break;
                }
            }
        }
        report
    }
}
