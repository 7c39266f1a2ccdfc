//! Seek on assignment: a processor that keeps its position with its data
//! says where a shard starts, overriding the group's checkpoint.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_consumer::{
    Batch, Checkpoint, ConsumerConfig, ConsumerConfigBuilder, ConsumerError, CursorReset, Decision,
    ProcessError, Processor, Worker,
};
use sls_proto::{ByteSlice, Cursor};
use sls_testkit::FakeLogHub;

use crate::harness::{self, GROUP, INTERVAL, LOGSTORE, PROJECT};

/// A processor whose "sink" holds the ids it wrote and its position.
#[derive(Clone, Default)]
struct Sink {
    ids: Arc<Mutex<Vec<u64>>>,
    position: Arc<Mutex<Option<Cursor>>>,
    resets: Arc<Mutex<Vec<CursorReset>>>,
    /// Seek fails this many times first.
    seek_failures: Arc<AtomicU32>,
}

impl Processor for Sink {
    async fn seek(&mut self, _shard: u32) -> Result<Option<Cursor>, ProcessError> {
        if self
            .seek_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err("the sink is unreachable".into());
        }
        Ok(*self.position.lock().unwrap())
    }

    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        // Rows and position together, as one transaction would.
        let mut ids = self.ids.lock().unwrap();
        for group in &batch.groups {
            for log in group.logs() {
                let id = log.get("id").and_then(|v| v.to_str().ok()?.parse().ok());
                ids.push(id.unwrap_or(u64::MAX));
            }
        }
        *self.position.lock().unwrap() = Some(batch.next_cursor);
        Ok(Decision::Continue)
    }

    async fn on_cursor_reset(&mut self, reset: &CursorReset) {
        self.resets.lock().unwrap().push(reset.clone());
    }
}

fn config(hub: &FakeLogHub) -> ConsumerConfig {
    builder(hub).build().unwrap()
}

/// [`config`]'s settings, to add more to.
fn builder(hub: &FakeLogHub) -> ConsumerConfigBuilder {
    ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "c")
        .client(hub.client())
        .heartbeat_interval(INTERVAL)
        .fetch_interval(Duration::from_millis(100))
        .max_fetch_groups(1)
        .auto_commit_interval(Some(Duration::from_millis(500)))
}

/// A one-shard hub with 6 groups of one log (ids 0..6) and a group whose
/// checkpoint is at the second group.
async fn hub_with_checkpoint() -> FakeLogHub {
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, 6, 1).await;
    let checkpoint = harness::begin(&hub, 0).await.checked_add(1).unwrap();
    harness::set_checkpoint(&hub, 0, checkpoint).await;
    hub
}

#[tokio::test(start_paused = true)]
async fn the_processors_position_overrides_the_groups_checkpoint() {
    let hub = hub_with_checkpoint().await;
    let sink = Sink::default();
    *sink.position.lock().unwrap() = Some(harness::begin(&hub, 0).await.checked_add(4).unwrap());
    sink.seek_failures.store(2, Ordering::SeqCst);
    let seen = sink.clone();
    let worker = Worker::start(config(&hub), move |_| seen.clone())
        .await
        .unwrap();
    let end = hub.end_cursor(PROJECT, LOGSTORE, 0).unwrap();
    let committed = || harness::checkpoint(&hub, 0);
    assert!(
        harness::wait_until(Duration::from_secs(30), || committed() == Some(end)).await,
        "the group's checkpoint follows: {:?}",
        committed()
    );
    let failures = worker.metrics().shards[0].process_failures;
    worker.shutdown().await.unwrap();
    assert_eq!(
        *sink.ids.lock().unwrap(),
        [4, 5],
        "from the sink's position, not the checkpoint's"
    );
    assert_eq!(failures, 2, "the failing seeks were retried, not skipped");
}

#[tokio::test(start_paused = true)]
async fn without_a_position_the_groups_checkpoint_is_used() {
    let hub = hub_with_checkpoint().await;
    let sink = Sink::default();
    let seen = sink.clone();
    let worker = Worker::start(config(&hub), move |_| seen.clone())
        .await
        .unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(30), || sink.ids.lock().unwrap().len()
            >= 5)
        .await
    );
    worker.shutdown().await.unwrap();
    assert_eq!(*sink.ids.lock().unwrap(), [1, 2, 3, 4, 5]);
}

#[tokio::test(start_paused = true)]
async fn a_position_past_the_end_stops_the_worker() {
    let hub = hub_with_checkpoint().await;
    let sink = Sink::default();
    let past = hub
        .end_cursor(PROJECT, LOGSTORE, 0)
        .unwrap()
        .checked_add(10)
        .unwrap();
    *sink.position.lock().unwrap() = Some(past);
    let seen = sink.clone();
    let mut worker = Worker::start(config(&hub), move |_| seen.clone())
        .await
        .unwrap();
    tokio::time::timeout(INTERVAL * 10, worker.stopped())
        .await
        .expect("stops");
    let failure = worker
        .shutdown()
        .await
        .expect_err("stopped on the refused cursor");
    assert!(
        matches!(&failure, ConsumerError::CursorRefused { cursor, .. } if *cursor == past),
        "{failure:?}"
    );
    assert!(sink.ids.lock().unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn an_expired_position_goes_through_the_policy() {
    let hub = hub_with_checkpoint().await;
    let sink = Sink::default();
    let stored = harness::begin(&hub, 0).await.checked_add(2).unwrap();
    *sink.position.lock().unwrap() = Some(stored);
    assert_eq!(hub.drop_oldest(PROJECT, LOGSTORE, 0, 3), Some(3));
    let seen = sink.clone();
    let worker = Worker::start(config(&hub), move |_| seen.clone())
        .await
        .unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(30), || sink.ids.lock().unwrap().len()
            >= 3)
        .await
    );
    worker.shutdown().await.unwrap();
    assert_eq!(*sink.ids.lock().unwrap(), [3, 4, 5]);
    let resets = sink.resets.lock().unwrap().clone();
    assert_eq!(resets.len(), 1);
    assert_eq!(resets[0].dead, stored);
}

/// A processor that cannot say where to start is retried (its position is
/// never replaced by another) and, past the error policy's retries, shows
/// in the health signal: nothing else would, since the shard has no
/// position yet and so no lag to stall on.
#[tokio::test(start_paused = true)]
async fn a_seek_that_keeps_failing_shows_in_health() {
    let hub = hub_with_checkpoint().await;
    let sink = Sink::default();
    sink.seek_failures.store(u32::MAX, Ordering::SeqCst);
    let seen = sink.clone();
    let policy = sls_consumer::ErrorPolicy::new(
        2,
        sls_client::retry::Backoff::new(Duration::from_millis(100), Duration::from_secs(1)),
        sls_consumer::AfterRetries::Skip,
    );
    let config = builder(&hub).error_policy(policy).build().unwrap();
    let mut worker = Worker::start(config, move |_| seen.clone()).await.unwrap();
    let failing = sls_consumer::Problem::ProcessorFailing { shard: 0 };
    tokio::time::timeout(INTERVAL * 20, async {
        while !worker.health_changed().await.problems().contains(&failing) {}
    })
    .await
    .unwrap_or_else(|_| panic!("never reported: {:?}", worker.health()));
    assert!(worker.metrics().shards[0].failures_in_a_row > 2);
    // It recovers when the sink answers.
    sink.seek_failures.store(0, Ordering::SeqCst);
    tokio::time::timeout(INTERVAL * 20, async {
        while !worker.health_changed().await.is_healthy() {}
    })
    .await
    .unwrap_or_else(|_| panic!("never recovered: {:?}", worker.health()));
    assert_eq!(worker.metrics().shards[0].failures_in_a_row, 0);
    worker.shutdown().await.unwrap();
    assert_eq!(*sink.ids.lock().unwrap(), [1, 2, 3, 4, 5]);
}
