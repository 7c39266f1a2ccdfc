//! Ordered consumption across split and merge: per hash key, logs are
//! processed in the order written, parents before children — whether the
//! service holds children back or (client-side guard) hands them out early.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_consumer::{
    Batch, Checkpoint, ConsumerConfig, Decision, ProcessError, Processor, StartPosition, Worker,
};

use crate::harness::{self, GROUP, INTERVAL, LOGSTORE, PROJECT, keyed};

/// (key, sequence) in processing order.
type Seen = Arc<Mutex<Vec<(u32, u64)>>>;

struct Keyed {
    seen: Seen,
}

impl Processor for Keyed {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut seen = self.seen.lock().unwrap();
        for group in &batch.groups {
            seen.extend(group.logs().map(|log| keyed::read(&log)));
        }
        Ok(Decision::Continue)
    }
}

async fn write_round(hub: &sls_testkit::FakeLogHub, seqs: &mut BTreeMap<u32, u64>) {
    let client = hub.client();
    for key in 0..keyed::KEYS {
        keyed::write(&client, key, seqs).await.unwrap();
    }
}

async fn run(service_orders: bool) {
    let hub = harness::hub(2).await;
    let mut seqs = BTreeMap::new();
    for _ in 0..6 {
        write_round(&hub, &mut seqs).await;
    }
    let seen: Seen = Arc::default();
    let config = |name: &str| {
        ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, name)
            .client(hub.client())
            .heartbeat_interval(INTERVAL)
            .max_fetch_groups(2)
            .ordered(true)
            .start_position(StartPosition::Begin)
            .build()
            .unwrap()
    };
    let s = seen.clone();
    let a = Worker::start(config("a"), move |_| Keyed { seen: s.clone() })
        .await
        .unwrap();
    let s = seen.clone();
    let b = Worker::start(config("b"), move |_| Keyed { seen: s.clone() })
        .await
        .unwrap();
    if !service_orders {
        // The service now hands children out at once: only the consumer's
        // own guard keeps the order.
        hub.client()
            .update_consumer_group(PROJECT, LOGSTORE, GROUP, None, Some(false))
            .await
            .unwrap();
    }
    let client = hub.client();
    tokio::time::sleep(INTERVAL / 2).await;
    // Split shard 0 mid-stream, write; split shard 1, write; merge two
    // children, write.
    client
        .split_shard(PROJECT, LOGSTORE, 0, "40000000000000000000000000000000")
        .await
        .unwrap();
    for _ in 0..4 {
        write_round(&hub, &mut seqs).await;
    }
    client
        .split_shard(PROJECT, LOGSTORE, 1, "c0000000000000000000000000000000")
        .await
        .unwrap();
    for _ in 0..4 {
        write_round(&hub, &mut seqs).await;
    }
    client.merge_shard(PROJECT, LOGSTORE, 2).await.unwrap();
    for _ in 0..4 {
        write_round(&hub, &mut seqs).await;
    }
    let total: u64 = seqs.values().sum();
    let done = harness::wait_until(Duration::from_secs(300), || {
        seen.lock().unwrap().len() as u64 >= total
    })
    .await;
    assert!(done, "{} of {total}", seen.lock().unwrap().len());
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    for (key, seq) in seen.lock().unwrap().iter() {
        if let Some(previous) = last.insert(*key, *seq) {
            assert!(
                *seq > previous,
                "key {key}: {seq} after {previous} (service orders: {service_orders})"
            );
        }
    }
    assert_eq!(seen.lock().unwrap().len() as u64, total, "no duplicates");
}

#[tokio::test(start_paused = true)]
async fn ordered_by_the_service() {
    run(true).await;
}

#[tokio::test(start_paused = true)]
async fn ordered_by_the_consumer_when_the_service_does_not() {
    run(false).await;
}
