//! The memory budget under a backlog on many shards and a slow processor.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_client::PutLogsRequest;
use sls_consumer::{
    Batch, Checkpoint, ConsumerConfig, Decision, ProcessError, Processor, StartPosition, Worker,
};
use sls_proto::LogGroup;

use crate::harness::{self, GROUP, INTERVAL, LOGSTORE, Log, PROJECT, Seen};

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
        let mut seen = self.log.0.lock().unwrap();
        for group in &batch.groups {
            for log in group.logs() {
                let id = log
                    .get("id")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(u64::MAX);
                seen.push(Seen {
                    consumer: "slow".into(),
                    shard: batch.shard,
                    id,
                });
            }
        }
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
        peaks.lock().unwrap().push(worker.memory().buffered);
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
