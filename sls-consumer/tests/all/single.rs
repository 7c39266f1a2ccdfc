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

/// Commits by hand: `save_now` on every other batch, nothing otherwise.
struct Manual {
    batches: u32,
}

impl sls_consumer::Processor for Manual {
    async fn process(
        &mut self,
        _batch: &sls_consumer::Batch,
        checkpoint: &mut sls_consumer::Checkpoint<'_>,
    ) -> Result<sls_consumer::Decision, sls_consumer::ProcessError> {
        self.batches += 1;
        if self.batches % 2 == 1 {
            checkpoint.save_now().await?;
        }
        Ok(sls_consumer::Decision::Continue)
    }
}

fn manual_config(hub: &sls_testkit::FakeLogHub) -> sls_consumer::ConsumerConfig {
    sls_consumer::ConsumerConfig::builder(harness::PROJECT, harness::LOGSTORE, harness::GROUP, "m")
        .client(hub.client())
        .heartbeat_interval(harness::INTERVAL)
        .max_fetch_groups(5)
        .auto_commit_interval(None)
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn without_auto_commit_only_saved_batches_are_committed() {
    let hub = harness::hub(1).await;
    // 3 batches of 5 groups: batches 1 and 3 are saved, 2 is not.
    harness::write(&hub, 0, 15, 1).await;
    let config = manual_config(&hub);
    let worker = sls_consumer::Worker::start(config, |_| Manual { batches: 0 })
        .await
        .unwrap();
    tokio::time::sleep(harness::INTERVAL * 3).await;
    let report = worker.shutdown().await.unwrap();
    let end = hub
        .end_cursor(harness::PROJECT, harness::LOGSTORE, 0)
        .unwrap();
    assert_eq!(report.shards[&0].committed, Some(end));
    // One more batch, not saved: the checkpoint stays where it was.
    harness::write(&hub, 100, 5, 1).await;
    let config = manual_config(&hub);
    let worker = sls_consumer::Worker::start(config, |_| Manual { batches: 1 })
        .await
        .unwrap();
    tokio::time::sleep(harness::INTERVAL * 3).await;
    worker.shutdown().await.unwrap();
    let checkpoints = hub
        .client()
        .get_checkpoints(harness::PROJECT, harness::LOGSTORE, harness::GROUP, Some(0))
        .await
        .unwrap();
    assert_eq!(
        checkpoints[0].cursor,
        Some(end),
        "an unsaved batch is not committed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_bounded_replay_ends_commits_and_releases() {
    let hub = harness::hub(3).await;
    let before = harness::write(&hub, 0, 12, 5).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let end_time = hub.clock().unix_seconds();
    let after = harness::write(&hub, before, 6, 5).await;
    let config = sls_consumer::ConsumerConfig::builder(
        harness::PROJECT,
        harness::LOGSTORE,
        harness::GROUP,
        "r",
    )
    .client(hub.client())
    .heartbeat_interval(harness::INTERVAL)
    .end_time(end_time)
    .build()
    .unwrap();
    let log = Log::default();
    let mut worker = sls_consumer::Worker::start(config, harness::recorder(&log, "r"))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), worker.replay_finished())
        .await
        .expect("the replay finished");
    let ids: Vec<u64> = log.all().iter().map(|s| s.id).collect();
    assert_eq!(
        ids.len() as u64,
        before,
        "only data from before the end time"
    );
    assert!(ids.iter().all(|&id| id < before));
    worker.shutdown().await.unwrap();
    // Every shard committed at its end, and nobody holds any.
    let client = hub.client();
    for shard in 0..3 {
        let end = client
            .get_cursor(
                harness::PROJECT,
                harness::LOGSTORE,
                shard,
                sls_client::CursorPosition::At(end_time),
            )
            .await
            .unwrap();
        let checkpoint = client
            .get_checkpoints(
                harness::PROJECT,
                harness::LOGSTORE,
                harness::GROUP,
                Some(shard),
            )
            .await
            .unwrap();
        assert_eq!(checkpoint[0].cursor, Some(end), "shard {shard}");
    }
    assert!(
        harness::owners(&hub).values().all(Option::is_none),
        "{:?}",
        harness::owners(&hub)
    );
    let _ = after;
}
