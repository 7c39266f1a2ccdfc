//! [`Worker`]: start, run, shut down; and its report.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use sls_client::ConsumerGroup;
use sls_proto::Cursor;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::budget::Budget;
use crate::checkpoint::Target;
use crate::config::ConsumerConfig;
use crate::error::ConsumerError;
use crate::health::Health;
use crate::heartbeat::HeartbeatLoop;
use crate::metrics::{Registry, WorkerMetrics};
use crate::processor::{ErrorPolicy, Processor};
use crate::shard::{ShardExit, ShardReport, ShardSettings};

/// Creates the consumer group, or updates its timeout and order if it
/// exists.
pub(crate) async fn ensure_group(c: &ConsumerConfig) -> Result<(), sls_client::Error> {
    let timeout_s = u32::try_from(c.timeout.as_secs())
        .unwrap_or(u32::MAX)
        .max(1);
    let group = ConsumerGroup::new(c.group.clone(), timeout_s, c.ordered);
    match c
        .client
        .create_consumer_group(&c.project, &c.logstore, &group)
        .await
    {
        Ok(()) => Ok(()),
        Err(err) if err.is_code("ConsumerGroupAlreadyExist") => {
            c.client
                .update_consumer_group(
                    &c.project,
                    &c.logstore,
                    &c.group,
                    Some(timeout_s),
                    Some(c.ordered),
                )
                .await
        }
        Err(err) => Err(err),
    }
}

/// Per shard, what a worker did over its life.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShardSummary {
    /// Batches processed.
    pub batches: u64,
    /// Logs processed.
    pub logs: u64,
    /// The last checkpoint this worker committed.
    pub committed: Option<Cursor>,
    /// How the shard's last task ended.
    pub last_exit: Option<ShardExit>,
}

/// What a worker did, per shard, and why it stopped if not asked to.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Per shard.
    pub shards: BTreeMap<u32, ShardSummary>,
    /// The service error that stopped the worker (bad keys, a missing
    /// logstore or group), if any.
    pub fatal: Option<ConsumerError>,
}

impl WorkerReport {
    pub(crate) fn record(&mut self, report: ShardReport) {
        let summary = self.shards.entry(report.shard).or_default();
        summary.batches += report.batches;
        summary.logs += report.logs;
        if report.committed.is_some() {
            summary.committed = report.committed;
        }
        summary.last_exit = Some(report.exit);
    }

    /// Logs processed in all shards.
    pub fn logs(&self) -> u64 {
        self.shards.values().map(|s| s.logs).sum()
    }

    /// What stopped the worker without being asked: a service error, or a
    /// processor failure under [`AfterRetries::Stop`](crate::AfterRetries::Stop).
    pub fn failure(&self) -> Option<&ConsumerError> {
        self.fatal.as_ref().or_else(|| {
            self.shards.values().find_map(|s| match &s.last_exit {
                Some(ShardExit::Failed(err)) => Some(err),
                _ => None,
            })
        })
    }
}

/// A running consumer: one member of a consumer group.
///
/// Stop it with [`Worker::shutdown`]: shards finish their batch, commit,
/// and are released at once. Dropping it instead is a crash: nothing is
/// committed and the service reassigns its shards after the group timeout.
#[derive(Debug)]
pub struct Worker {
    shutdown: watch::Sender<bool>,
    /// Turns true when the heartbeat loop has ended.
    done: watch::Receiver<bool>,
    task: Option<JoinHandle<WorkerReport>>,
    budget: Arc<Budget>,
    settings: Arc<ShardSettings>,
    /// Turns true when a bounded replay is complete.
    replay: watch::Receiver<bool>,
    /// Set by the heartbeat loop every round.
    health: watch::Receiver<Health>,
}

/// The memory budget's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryStats {
    /// The budget, in bytes.
    pub budget: u64,
    /// Bytes of fetched, unprocessed data now.
    pub buffered: u64,
    /// The most ever buffered at once.
    pub peak: u64,
}

impl Worker {
    /// Joins the group (creating it, or updating its timeout and order if
    /// it exists) and starts heartbeating and consuming. `factory` makes
    /// one processor per shard this worker is given.
    pub async fn start<P, F>(config: ConsumerConfig, factory: F) -> Result<Self, ConsumerError>
    where
        P: Processor,
        F: Fn(u32) -> P + Send + Sync + 'static,
    {
        Self::start_with(config, ErrorPolicy::default(), factory).await
    }

    /// [`Worker::start`] with a policy for failing batches.
    pub async fn start_with<P, F>(
        config: ConsumerConfig,
        errors: ErrorPolicy,
        factory: F,
    ) -> Result<Self, ConsumerError>
    where
        P: Processor,
        F: Fn(u32) -> P + Send + Sync + 'static,
    {
        let c = &config;
        ensure_group(c).await?;
        let budget = Budget::new(c.max_buffered_bytes, c.max_concurrent_fetches);
        let settings = Arc::new(ShardSettings {
            target: Arc::new(Target {
                client: c.client.clone(),
                project: c.project.clone(),
                logstore: c.logstore.clone(),
                group: c.group.clone(),
                consumer: c.consumer.clone(),
            }),
            start: c.start,
            fetch_interval: c.fetch_interval,
            max_idle_interval: c.max_idle_interval,
            max_fetch_groups: c.max_fetch_groups,
            max_pull_bytes: c.max_pull_bytes,
            on_expired: c.on_expired_cursor,
            compression: c.compression,
            query: c.query.clone(),
            processor: c.processor.clone(),
            end_time: c.end_time,
            ordered: c.ordered,
            budget: budget.clone(),
            auto_commit: c.auto_commit_interval,
            errors,
            readonly: RwLock::default(),
            metrics: Arc::new(Registry::default()),
        });
        let shared_settings = settings.clone();
        let (replay_done, replay) = watch::channel(false);
        let (health_tx, health) = watch::channel(Health::Healthy);
        let heartbeat = HeartbeatLoop {
            health: health_tx,
            config,
            factory: Arc::new(factory),
            settings,
            replay_done,
            _processor: std::marker::PhantomData,
        };
        let (shutdown, stopping) = watch::channel(false);
        let (finished, done) = watch::channel(false);
        let task = tokio::spawn(async move {
            let report = heartbeat.run(stopping).await;
            let _ = finished.send(true);
            report
        });
        Ok(Self {
            shutdown,
            done,
            task: Some(task),
            budget,
            settings: shared_settings,
            replay,
            health,
        })
    }

    /// Bounded replay ([`ConsumerConfigBuilder::end_time`](crate::ConsumerConfigBuilder::end_time)):
    /// resolves once every shard of the logstore is committed at or past
    /// its end (checked on the service each heartbeat, so it covers shards
    /// other workers read), or when the worker stops. Without an end time it
    /// only resolves when the worker stops.
    pub async fn replay_finished(&mut self) {
        let _ = self.replay.wait_for(|done| *done).await;
    }

    /// A snapshot of every held shard's progress and lag, and the memory
    /// budget.
    pub fn metrics(&self) -> WorkerMetrics {
        WorkerMetrics {
            shards: self.settings.metrics.snapshot(),
            memory: self.memory(),
        }
    }

    /// The worker's health as of its last heartbeat round: healthy, or
    /// which shards are stuck and why, or stopped. For a supervisor to
    /// poll; [`Worker::health_changed`] to await.
    pub fn health(&self) -> Health {
        self.health.borrow().clone()
    }

    /// Waits until the health changes (a shard stalls or recovers, the
    /// worker stops) and returns the new state. Returns the current state
    /// at once if the worker has ended.
    pub async fn health_changed(&mut self) -> Health {
        let _ = self.health.changed().await;
        self.health.borrow_and_update().clone()
    }

    /// The memory budget: its size, what is buffered now, and the peak.
    pub fn memory(&self) -> MemoryStats {
        MemoryStats {
            budget: self.budget.total(),
            buffered: self.budget.in_use(),
            peak: self.budget.peak(),
        }
    }

    /// Resolves when the worker stopped on its own (a fatal service error
    /// or a processor failure); [`Worker::shutdown`] then collects the
    /// report. Never resolves while the worker runs normally.
    pub async fn stopped(&mut self) {
        let _ = self.done.wait_for(|done| *done).await;
    }

    /// Runs until `signal` resolves (Ctrl-C, SIGTERM, a test's trigger) or
    /// the worker stops on its own, then shuts down cleanly.
    pub async fn shutdown_on(
        mut self,
        signal: impl std::future::Future<Output = ()>,
    ) -> Result<WorkerReport, ConsumerError> {
        tokio::select! {
            () = signal => {}
            () = self.stopped() => {}
        }
        self.shutdown().await
    }

    /// Stops cleanly: in-flight batches finish (within the shutdown
    /// timeout), checkpoints are committed, and a last heartbeat releases
    /// every shard so others take them at once.
    ///
    /// It takes the worker, so nothing can be called on it afterwards:
    ///
    /// ```no_run
    /// # async fn f(worker: sls_consumer::Worker) {
    /// let memory = worker.memory();
    /// let report = worker.shutdown().await;
    /// # }
    /// ```
    ///
    /// ```compile_fail
    /// # async fn f(worker: sls_consumer::Worker) {
    /// let report = worker.shutdown().await;
    /// let memory = worker.memory(); // error: use of moved value
    /// # }
    /// ```
    pub async fn shutdown(mut self) -> Result<WorkerReport, ConsumerError> {
        let _ = self.shutdown.send(true);
        let task = self.task.take().ok_or(ConsumerError::Stopped)?;
        task.await.map_err(|_| ConsumerError::Stopped)
    }
}

impl Drop for Worker {
    /// Like a crash: tasks are aborted, nothing is committed.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
