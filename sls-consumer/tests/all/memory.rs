//! The memory budget under a backlog on many shards and a slow processor.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_client::PutLogsRequest;
use sls_consumer::{
    Batch, Checkpoint, ConsumerConfig, Decision, ProcessError, Processor, StartPosition, Worker,
};
use sls_proto::LogGroup;

use crate::harness::{self, GROUP, INTERVAL, LOGSTORE, Log, PROJECT};

/// Takes 200 ms (virtual) per batch, and records ids.
struct Slow {
    log: Log,
}

impl Processor for Slow {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.log.record("slow", batch);
        Ok(Decision::Continue)
    }
}

#[tokio::test(start_paused = true)]
async fn a_32_shard_backlog_stays_within_the_budget() {
    const BUDGET: u64 = 8 << 20;
    let hub = harness::hub(32).await;
    let client = hub.client();
    // 32 shards x 8 groups x 100 logs of ~1 KB: about 26 MB raw, over 3x
    // the budget.
    let pad = "x".repeat(1000);
    let mut id = 0u64;
    for _ in 0..256 {
        let mut builder = LogGroup::builder();
        for _ in 0..100 {
            builder = builder.log(
                1_700_000_000,
                [("id", id.to_string()), ("pad", pad.clone())],
            );
            id += 1;
        }
        client
            .put_logs(PutLogsRequest::from_group(
                PROJECT,
                LOGSTORE,
                &builder.build(),
            ))
            .await
            .unwrap();
    }
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "slow")
        .client(hub.client())
        .heartbeat_interval(INTERVAL * 5)
        .max_fetch_groups(4)
        .max_buffered_bytes(BUDGET)
        .max_concurrent_fetches(8)
        .start_position(StartPosition::Begin)
        .build()
        .unwrap();
    let log = Log::default();
    let processor_log = log.clone();
    let worker = Worker::start(config, move |_| Slow {
        log: processor_log.clone(),
    })
    .await
    .unwrap();
    let peaks = Arc::new(Mutex::new(Vec::new()));
    let done = harness::wait_until(Duration::from_secs(600), || {
        let memory = worker.memory();
        assert!(
            memory.buffered + memory.pooled <= BUDGET,
            "data and kept buffers within the budget: {memory:?}"
        );
        peaks.lock().unwrap().push(memory.buffered);
        log.counts().len() as u64 >= id
    })
    .await;
    assert!(done, "{} of {id}", log.counts().len());
    let memory = worker.memory();
    assert_eq!(memory.budget, BUDGET);
    assert!(
        memory.peak <= BUDGET,
        "peak {} over the budget",
        memory.peak
    );
    assert!(
        memory.peak > BUDGET / 2,
        "the backlog did use the budget ({})",
        memory.peak
    );
    assert!(peaks.lock().unwrap().iter().all(|&b| b <= BUDGET));
    worker.shutdown().await.unwrap();
    assert!(log.counts().values().all(|&n| n == 1));
}

/// Counts logs and keeps nothing.
struct Count(Log);

impl Processor for Count {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        self.0.record("count", batch);
        Ok(Decision::Continue)
    }
}

#[tokio::test(start_paused = true)]
async fn processed_pulls_buffers_are_kept_then_freed_once_caught_up() {
    let hub = harness::hub(2).await;
    let total = harness::write(&hub, 0, 40, 200).await;
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "kept")
        .client(hub.client())
        .heartbeat_interval(INTERVAL)
        .max_fetch_groups(4)
        .build()
        .unwrap();
    let log = Log::default();
    let processor_log = log.clone();
    let worker = Worker::start(config, move |_| Count(processor_log.clone()))
        .await
        .unwrap();
    assert!(harness::wait_until(Duration::from_secs(60), || log.len() as u64 >= total).await);
    let caught_up = worker.memory();
    assert!(caught_up.pooled > 0, "{caught_up:?}");
    assert!(caught_up.buffered + caught_up.pooled <= caught_up.budget);
    // Caught up, the shards' empty pulls free what waited too long.
    tokio::time::sleep(Duration::from_secs(15)).await;
    assert_eq!(worker.memory().pooled, 0);
    worker.shutdown().await.unwrap();
    assert!(log.counts().values().all(|&n| n == 1));
}

#[tokio::test(start_paused = true)]
async fn metrics_show_progress_and_lag_going_to_zero() {
    let hub = harness::hub(2).await;
    // Half the data, then the other half 30 s later (server time).
    let half = harness::write(&hub, 0, 20, 5).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let total = harness::write(&hub, half, 20, 5).await;
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "m")
        .client(hub.client())
        .heartbeat_interval(INTERVAL)
        .max_fetch_groups(2)
        .build()
        .unwrap();
    let log = Log::default();
    let processor_log = log.clone();
    let worker = Worker::start(config, move |_| Slow {
        log: processor_log.clone(),
    })
    .await
    .unwrap();
    // Part-way: the end is known and the lag is positive.
    tokio::time::sleep(INTERVAL * 2).await;
    let early = worker.metrics();
    assert_eq!(early.shards.len(), 2);
    assert!(
        early
            .shards
            .iter()
            .any(|m| m.lag_groups.is_some_and(|l| l > 0)),
        "{early:?}"
    );
    assert!(harness::wait_until(Duration::from_secs(120), || log.len() as u64 >= total).await);
    tokio::time::sleep(INTERVAL * 2).await;
    let caught_up = worker.metrics();
    for m in &caught_up.shards {
        assert_eq!(m.lag_groups, Some(0), "{m:?}");
        assert_eq!(m.lag_seconds, Some(0), "{m:?}");
        assert_eq!(m.position, m.end);
        assert!(m.processed_logs > 0 && m.processed_bytes > 0 && m.batches > 0);
        assert_eq!(m.fetched_logs, m.processed_logs);
        assert!(m.last_process_time >= Some(Duration::from_millis(200)));
        assert!(m.held_for >= INTERVAL * 2);
    }
    assert_eq!(
        caught_up
            .shards
            .iter()
            .map(|m| m.processed_logs)
            .sum::<u64>(),
        total
    );
    worker.shutdown().await.unwrap();
}

/// Never finishes its first batch.
struct Stuck;

impl Processor for Stuck {
    async fn process(
        &mut self,
        _: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        std::future::pending::<()>().await;
        Ok(Decision::Continue)
    }
}

#[tokio::test(start_paused = true)]
async fn a_stuck_shard_is_reported_stalled() {
    let hub = harness::hub(1).await;
    harness::write(&hub, 0, 10, 2).await;
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "s")
        .client(hub.client())
        .heartbeat_interval(INTERVAL)
        .max_fetch_groups(2)
        .shutdown_timeout(INTERVAL)
        .build()
        .unwrap();
    let worker = Worker::start(config, |_| Stuck).await.unwrap();
    tokio::time::sleep(INTERVAL * 2).await;
    assert!(
        worker.metrics().shards.iter().all(|m| !m.stalled),
        "not yet"
    );
    tokio::time::sleep(INTERVAL * 4).await;
    let metrics = worker.metrics();
    assert_eq!(metrics.shards.len(), 1);
    assert!(metrics.shards[0].stalled, "{metrics:?}");
    worker.shutdown().await.unwrap();
}
