//! [`Worker`]: start, run, shut down.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::budget::Budget;
use crate::calls::{CallError, GroupCalls, Target};
use crate::config::ConsumerConfig;
use crate::error::ConsumerError;
use crate::health::Health;
use crate::heartbeat::Coordinator;
use crate::metrics::{MemoryStats, WorkerMetrics};
use crate::processor::Processor;
use crate::report::WorkerReport;
use crate::shard::ShardSettings;

/// A call at start that failed: the service's error.
fn at_start(err: CallError) -> ConsumerError {
    match err {
        CallError::Failed { error, .. } => ConsumerError::Service(error),
        CallError::Stopped(_) => ConsumerError::Stopped,
    }
}

/// Joins the group: creates it, or updates its order and raises its
/// timeout (never lowers it); then reads back the timeout in force
/// (another member may have written its own since).
async fn join_group(calls: &GroupCalls, c: &ConsumerConfig) -> Result<Duration, ConsumerError> {
    let timeout_s = u32::try_from(c.timeout.as_secs()).unwrap_or(u32::MAX);
    calls
        .ensure_group(timeout_s, c.ordered)
        .await
        .map_err(at_start)?;
    let group = calls.describe_group(true).await.map_err(at_start)?;
    Ok(group.map_or(c.timeout, |g| Duration::from_secs(u64::from(g.timeout))))
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

impl Worker {
    /// Joins the group (creating it, or updating its order and raising its
    /// timeout to this worker's if it exists) and starts heartbeating and consuming. `factory` makes
    /// one processor per shard this worker is given; failing batches go
    /// through the configuration's
    /// [`error_policy`](crate::ConsumerConfigBuilder::error_policy).
    pub async fn start<P, F>(config: ConsumerConfig, factory: F) -> Result<Self, ConsumerError>
    where
        P: Processor,
        F: Fn(u32) -> P + Send + Sync + 'static,
    {
        let config = Arc::new(config);
        let c = &config;
        let target = Arc::new(Target::new(
            c.client(),
            &c.project,
            &c.logstore,
            &c.group,
            &c.consumer,
        ));
        let calls = GroupCalls::new(target.clone());
        let group_timeout = join_group(&calls, c).await?;
        let budget = Budget::new(
            c.max_buffered_bytes,
            c.max_concurrent_fetches,
            c.max_pull_bytes,
        );
        let settings = Arc::new(ShardSettings {
            config: config.clone(),
            target: target.clone(),
            budget: budget.clone(),
            readonly: RwLock::default(),
            project_pacer: Default::default(),
            metrics: target.metrics.clone(),
        });
        let shared_settings = settings.clone();
        let (replay_done, replay) = watch::channel(false);
        let (health_tx, health) = watch::channel(Health::Healthy);
        let heartbeat = Coordinator {
            health: health_tx,
            config,
            factory: Arc::new(factory),
            settings,
            calls,
            group_timeout,
            replay_done,
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
            pooled: self.budget.pooled(),
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
    /// Returns the report, or the error if the worker had stopped on its
    /// own: a fatal service error (bad keys, a missing logstore) or a
    /// processor failure under [`AfterRetries::Stop`](crate::AfterRetries::Stop).
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
        let report = task.await.map_err(|_| ConsumerError::Stopped)?;
        report.into_result()
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
