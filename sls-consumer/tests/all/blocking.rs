//! The blocking adapter in a worker: a processor that blocks its thread
//! does not stall the other shards, on a current-thread runtime or on two
//! workers; panics still become [`ProcessorPanic`]; `seek`, `save` and
//! `shutdown` reach the blocking processor.
//!
//! The stall tests meet at a rendezvous: each shard's first batch waits
//! (blocking its thread, in real time) until every shard's first batch has
//! arrived. With the adapter they all arrive at once; the control runs the
//! same blocking code inside an async processor, where the first waiter
//! holds the runtime's only (or every) worker and the rendezvous times out.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use sls_client::retry::Backoff;
use sls_consumer::{
    AfterRetries, Batch, Blocking, BlockingCheckpoint, BlockingProcessor, Checkpoint,
    ConsumerConfig, ConsumerError, Decision, ErrorPolicy, ProcessError, Processor, ProcessorPanic,
    StartPosition, Worker,
};
use sls_proto::Cursor;
use sls_testkit::FakeLogHub;

use crate::harness::{self, GROUP, INTERVAL, LOGSTORE, PROJECT};

/// Far longer than any run needs: reached only when the runtime stalls.
const PATIENCE: Duration = Duration::from_secs(30);
/// The control's wait, short since it is expected to run out.
const CONTROL_PATIENCE: Duration = Duration::from_secs(1);

/// Every shard's first batch waits here for all the others.
struct Rendezvous {
    arrived: Mutex<usize>,
    all_here: Condvar,
    expected: usize,
    patience: Duration,
    /// First batches that met everyone, and those that gave up waiting.
    met: AtomicUsize,
    missed: AtomicUsize,
}

impl Rendezvous {
    fn new(expected: usize, patience: Duration) -> Arc<Self> {
        Arc::new(Self {
            arrived: Mutex::new(0),
            all_here: Condvar::new(),
            expected,
            patience,
            met: AtomicUsize::new(0),
            missed: AtomicUsize::new(0),
        })
    }

    /// Arrives, then blocks the thread until everyone has arrived or the
    /// patience runs out (real time).
    fn meet(&self) {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all_here.notify_all();
        let (arrived, timeout) = self
            .all_here
            .wait_timeout_while(arrived, self.patience, |n| *n < self.expected)
            .unwrap();
        drop(arrived);
        let outcome = if timeout.timed_out() {
            &self.missed
        } else {
            &self.met
        };
        outcome.fetch_add(1, Ordering::SeqCst);
    }
}

/// A blocking sink: its first batch meets the other shards', then it
/// counts logs.
struct Meeting {
    rendezvous: Arc<Rendezvous>,
    first: bool,
    logs: Arc<AtomicU64>,
}

impl Meeting {
    fn new(rendezvous: &Arc<Rendezvous>, logs: &Arc<AtomicU64>) -> Self {
        Self {
            rendezvous: rendezvous.clone(),
            first: true,
            logs: logs.clone(),
        }
    }

    fn handle(&mut self, batch: &Batch) {
        if std::mem::take(&mut self.first) {
            self.rendezvous.meet();
        }
        self.logs
            .fetch_add(batch.log_count() as u64, Ordering::SeqCst);
    }
}

impl BlockingProcessor for Meeting {
    fn process(
        &mut self,
        batch: &Batch,
        _: &mut BlockingCheckpoint,
    ) -> Result<Decision, ProcessError> {
        self.handle(batch);
        Ok(Decision::Continue)
    }
}

/// The control: the same blocking code called straight from an async
/// processor, which is what the adapter exists to avoid.
struct InlineMeeting(Meeting);

impl Processor for InlineMeeting {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        self.0.handle(batch);
        Ok(Decision::Continue)
    }
}

/// Runs a worker over `shards` shards with one group of 3 logs each until
/// every log is counted; returns the rendezvous.
async fn meet_across_shards(shards: u32, patience: Duration, blocking: bool) -> Arc<Rendezvous> {
    let hub = harness::hub(shards).await;
    let total = harness::write(&hub, 0, u64::from(shards), 3).await;
    let rendezvous = Rendezvous::new(shards as usize, patience);
    let logs = Arc::new(AtomicU64::new(0));
    let config = harness::config(&hub, "c1", StartPosition::Begin);
    let worker = if blocking {
        let (rendezvous, logs) = (rendezvous.clone(), logs.clone());
        Worker::start(config, move |_| {
            Blocking::new(Meeting::new(&rendezvous, &logs))
        })
        .await
        .unwrap()
    } else {
        let (rendezvous, logs) = (rendezvous.clone(), logs.clone());
        Worker::start(config, move |_| {
            InlineMeeting(Meeting::new(&rendezvous, &logs))
        })
        .await
        .unwrap()
    };
    assert!(
        harness::wait_until(Duration::from_secs(60), || logs.load(Ordering::SeqCst)
            >= total)
        .await,
        "{} of {total} logs",
        logs.load(Ordering::SeqCst)
    );
    let report = worker.shutdown().await.unwrap();
    assert_eq!(report.logs(), total);
    rendezvous
}

#[tokio::test(start_paused = true)]
async fn a_blocked_shard_does_not_stall_the_others_on_a_current_thread_runtime() {
    let rendezvous = meet_across_shards(2, PATIENCE, true).await;
    assert_eq!(rendezvous.met.load(Ordering::SeqCst), 2);
    assert_eq!(rendezvous.missed.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn control_the_same_code_inline_stalls_a_current_thread_runtime() {
    let rendezvous = meet_across_shards(2, CONTROL_PATIENCE, false).await;
    assert_eq!(
        rendezvous.missed.load(Ordering::SeqCst),
        1,
        "the first shard waited alone: the second could not run"
    );
}

// Real time: tokio pauses time only on a current-thread runtime. The
// outcome does not depend on timing, only the run's length does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_blocked_shards_do_not_stall_two_workers() {
    let rendezvous = meet_across_shards(3, PATIENCE, true).await;
    assert_eq!(rendezvous.met.load(Ordering::SeqCst), 3);
    assert_eq!(rendezvous.missed.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_three_shards_blocking_inline_stall_two_workers() {
    let rendezvous = meet_across_shards(3, CONTROL_PATIENCE, false).await;
    assert!(
        rendezvous.missed.load(Ordering::SeqCst) >= 1,
        "two waiters held both workers: the third could not run"
    );
}

/// Panics on its first `panics` batches (a count kept in the processor
/// itself), then counts logs.
struct Fragile {
    panics: u32,
    calls: u32,
    logs: Arc<AtomicU64>,
    /// The processor's own call count when it first succeeded.
    first_success_at: Arc<Mutex<Option<u32>>>,
}

impl BlockingProcessor for Fragile {
    fn process(
        &mut self,
        batch: &Batch,
        _: &mut BlockingCheckpoint,
    ) -> Result<Decision, ProcessError> {
        self.calls += 1;
        if self.calls <= self.panics {
            panic!("sink exploded at {}", batch.cursor);
        }
        self.first_success_at
            .lock()
            .unwrap()
            .get_or_insert(self.calls);
        self.logs
            .fetch_add(batch.log_count() as u64, Ordering::SeqCst);
        Ok(Decision::Continue)
    }
}

fn policy(then: AfterRetries, retries: u32) -> ErrorPolicy {
    ErrorPolicy::new(
        retries,
        Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
        then,
    )
}

async fn fragile(
    hub: &FakeLogHub,
    panics: u32,
    policy: ErrorPolicy,
) -> (Worker, Arc<AtomicU64>, Arc<Mutex<Option<u32>>>) {
    let logs = Arc::new(AtomicU64::new(0));
    let first_success_at = Arc::new(Mutex::new(None));
    let (l, f) = (logs.clone(), first_success_at.clone());
    let config = harness::builder(hub, "c1", StartPosition::Begin)
        .error_policy(policy)
        .build()
        .unwrap();
    let worker = Worker::start(config, move |_| {
        Blocking::new(Fragile {
            panics,
            calls: 0,
            logs: l.clone(),
            first_success_at: f.clone(),
        })
    })
    .await
    .unwrap();
    (worker, logs, first_success_at)
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_a_blocking_processor_is_a_processor_panic() {
    // Retried: the same processor (its own call count says so) is offered
    // the batch again and every log is delivered.
    let hub = harness::hub(1).await;
    let total = harness::write(&hub, 0, 2, 3).await;
    let (worker, logs, first_success_at) =
        fragile(&hub, 1, policy(AfterRetries::KeepRetrying, 2)).await;
    assert!(
        harness::wait_until(Duration::from_secs(60), || logs.load(Ordering::SeqCst)
            >= total)
        .await
    );
    assert_eq!(worker.metrics().shards[0].panics, 1);
    assert_eq!(*first_success_at.lock().unwrap(), Some(2));
    assert!(worker.shutdown().await.unwrap().failure().is_none());

    // Under Stop the worker stops with the panic as the error.
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, 1, 3).await;
    let (mut worker, _, _) = fragile(&hub, u32::MAX, policy(AfterRetries::Stop, 0)).await;
    tokio::time::timeout(INTERVAL * 10, worker.stopped())
        .await
        .expect("stops");
    // A worker that stopped on its own says why from `shutdown`.
    let failure = worker
        .shutdown()
        .await
        .expect_err("stopped by the processor");
    let ConsumerError::Processor { shard: 0, source } = &failure else {
        panic!("{failure:?}");
    };
    let panic = source
        .downcast_ref::<ProcessorPanic>()
        .expect("the panic is the error");
    assert!(panic.message().starts_with("sink exploded at"), "{panic}");
}

/// A blocking sink with its own position: `seek` reads it, `process`
/// stores it with the rows and saves the checkpoint by hand.
#[derive(Clone, Default)]
struct PositionedSink {
    position: Arc<Mutex<Option<Cursor>>>,
    logs: Arc<AtomicU64>,
    shutdowns: Arc<AtomicUsize>,
}

impl BlockingProcessor for PositionedSink {
    fn seek(&mut self, _shard: u32) -> Result<Option<Cursor>, ProcessError> {
        Ok(*self.position.lock().unwrap())
    }

    fn process(
        &mut self,
        batch: &Batch,
        checkpoint: &mut BlockingCheckpoint,
    ) -> Result<Decision, ProcessError> {
        self.logs
            .fetch_add(batch.log_count() as u64, Ordering::SeqCst);
        *self.position.lock().unwrap() = Some(batch.next_cursor);
        checkpoint.save();
        Ok(Decision::Continue)
    }

    fn shutdown(&mut self) {
        self.shutdowns.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test(start_paused = true)]
async fn seek_save_and_shutdown_reach_the_blocking_processor() {
    let hub = harness::hub(1).await;
    let old = harness::write(&hub, 0, 2, 3).await;
    // The sink already holds everything written so far.
    let sink = PositionedSink::default();
    *sink.position.lock().unwrap() = hub.end_cursor(PROJECT, LOGSTORE, 0);
    let total = harness::write(&hub, old, 1, 4).await;
    // Without auto-commit, only the processor's save() moves the
    // group's checkpoint.
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "c1")
        .client(hub.client())
        .start_position(StartPosition::Begin)
        .heartbeat_interval(INTERVAL)
        .heartbeat_timeout(INTERVAL * 3)
        .fetch_interval(Duration::from_millis(100))
        .auto_commit_interval(None)
        .build()
        .unwrap();
    let seen = sink.clone();
    let worker = Worker::start(config, move |_| Blocking::new(seen.clone()))
        .await
        .unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(60), || sink.logs.load(Ordering::SeqCst)
            >= total - old)
        .await
    );
    let report = worker.shutdown().await.unwrap();
    assert_eq!(
        sink.logs.load(Ordering::SeqCst),
        total - old,
        "only what the sink's position leaves"
    );
    assert_eq!(
        report.shards[&0].committed,
        hub.end_cursor(PROJECT, LOGSTORE, 0),
        "save() committed at shutdown"
    );
    assert_eq!(sink.shutdowns.load(Ordering::SeqCst), 1);
}
