//! One consumer: start positions, exactly-once in a clean run, per-shard
//! order.

use std::time::Duration;

use sls_consumer::StartPosition;

use crate::harness::{self, Log};

#[tokio::test(start_paused = true)]
async fn from_begin_every_log_once_in_shard_order() {
    let hub = harness::hub(4).await;
    let total = harness::write(&hub, 0, 40, 10).await;
    let log = Log::default();
    let worker = harness::start(&hub, &log, "c1", StartPosition::Begin).await;
    assert!(
        harness::wait_until(Duration::from_secs(60), || log.len() >= total as usize).await,
        "{} of {total}",
        log.len()
    );
    let report = worker.shutdown().await.unwrap();
    assert_eq!(report.logs(), total);
    let counts = log.counts();
    assert_eq!(counts.len(), total as usize);
    assert!(counts.values().all(|&n| n == 1), "duplicates: {counts:?}");
    // Within a shard, ids were written in increasing order.
    for shard in 0..4 {
        let ids: Vec<u64> = log
            .all()
            .iter()
            .filter(|s| s.shard == shard)
            .map(|s| s.id)
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "shard {shard} out of order"
        );
    }
    // The clean stop committed every shard to its end.
    for shard in 0..4 {
        let summary = &report.shards[&shard];
        assert_eq!(
            summary.committed,
            hub.end_cursor("demo", "app", shard),
            "shard {shard}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn from_end_only_new_logs() {
    let hub = harness::hub(2).await;
    let next = harness::write(&hub, 0, 10, 5).await;
    let log = Log::default();
    let worker = harness::start(&hub, &log, "c1", StartPosition::End).await;
    // Let it take its shards and find the end first.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let total = harness::write(&hub, next, 6, 5).await;
    assert!(
        harness::wait_until(Duration::from_secs(30), || log.len()
            >= (total - next) as usize)
        .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    worker.shutdown().await.unwrap();
    let ids: Vec<u64> = log.all().iter().map(|s| s.id).collect();
    assert_eq!(ids.len() as u64, total - next);
    assert!(ids.iter().all(|&id| id >= next), "old logs delivered");
}

#[tokio::test(start_paused = true)]
async fn from_a_time() {
    let hub = harness::hub(1).await;
    let next = harness::write(&hub, 0, 4, 5).await;
    tokio::time::sleep(Duration::from_secs(100)).await;
    let t = hub.clock().unix_seconds();
    let total = harness::write(&hub, next, 3, 5).await;
    let log = Log::default();
    let worker = harness::start(&hub, &log, "c1", StartPosition::At(t)).await;
    assert!(
        harness::wait_until(Duration::from_secs(30), || log.len()
            >= (total - next) as usize)
        .await
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    worker.shutdown().await.unwrap();
    let ids: Vec<u64> = log.all().iter().map(|s| s.id).collect();
    assert_eq!(ids, (next..total).collect::<Vec<_>>());
}

#[tokio::test(start_paused = true)]
async fn a_restart_resumes_from_the_checkpoint() {
    let hub = harness::hub(2).await;
    let total = harness::write(&hub, 0, 10, 4).await;
    let log = Log::default();
    let worker = harness::start(&hub, &log, "c1", StartPosition::Begin).await;
    assert!(harness::wait_until(Duration::from_secs(30), || log.len() >= total as usize).await);
    worker.shutdown().await.unwrap();
    let more = harness::write(&hub, total, 5, 4).await;
    let worker = harness::start(&hub, &log, "c1", StartPosition::Begin).await;
    assert!(harness::wait_until(Duration::from_secs(30), || log.len() >= more as usize).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    worker.shutdown().await.unwrap();
    assert!(
        log.counts().values().all(|&n| n == 1),
        "a clean restart re-delivers nothing"
    );
    assert_eq!(log.len() as u64, more);
}
