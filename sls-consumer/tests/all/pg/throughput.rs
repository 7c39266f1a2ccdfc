//! Rows per second into PostgreSQL with about 1000 logs a transaction,
//! beside at-least-once processing of the same data by a processor that
//! only counts. A measurement, not a check (ignored by default):
//!
//! ```sh
//! cargo test --release -p sls-consumer --test all -- --ignored --nocapture pg::throughput
//! ```
//!
//! `SLS_PG_THROUGHPUT_LOGS` sets the number of logs (default 1000000).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sls_consumer::exactly_once::ExactlyOnce;
use sls_consumer::{Batch, Processor, Worker, processor_fn};
use sls_testkit::FakeLogHub;

use super::harness::{Durability, PgCluster};
use super::sink::{PgSink, SCHEMA, SinkStats};
use super::{PATIENCE, assert_each_log_once, config, errors, write};
use crate::harness::{LOGSTORE, PROJECT};

const SHARDS: u32 = 4;
/// Logs per group, and groups per pull: about 1000 logs a batch.
const PER_GROUP: u64 = 250;
const GROUPS_PER_BATCH: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run it in release mode with --ignored --nocapture"]
async fn rows_per_second_beside_at_least_once() {
    let Some(durable) = PgCluster::start(Durability::Durable) else {
        return;
    };
    let Some(throwaway) = PgCluster::start(Durability::Throwaway) else {
        return;
    };
    let logs: u64 = std::env::var("SLS_PG_THROUGHPUT_LOGS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let hub = FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, SHARDS)
        // A throughput measure: of us, not of the service's quotas.
        .quotas(sls_testkit::Quotas::off())
        .start()
        .await
        .unwrap();
    let groups = logs.div_ceil(PER_GROUP);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let client = hub.client();
            let range = groups * w / 4..groups * (w + 1) / 4;
            tokio::spawn(async move {
                let count = range.end - range.start;
                write(
                    &client,
                    range.start * PER_GROUP,
                    count,
                    PER_GROUP,
                    Duration::ZERO,
                )
                .await
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let total = groups * PER_GROUP;

    // At least once: a processor that counts.
    let counted = Arc::new(AtomicU64::new(0));
    let seen = counted.clone();
    let counting = measure(&hub, "count", total, &counted, move |_shard| {
        let seen = seen.clone();
        processor_fn(move |batch: Batch| {
            seen.fetch_add(batch.log_count() as u64, Ordering::SeqCst);
            async { Ok(()) }
        })
    })
    .await;
    // At least once: a processor that reads each log's id and payload,
    // as the sink does, and keeps nothing.
    let read = Arc::new(AtomicU64::new(0));
    let seen = read.clone();
    let reading = measure(&hub, "read", total, &read, move |_shard| {
        let seen = seen.clone();
        processor_fn(move |batch: Batch| {
            let mut bytes = 0;
            for group in &batch.groups {
                for log in group.logs() {
                    let id = log
                        .get("id")
                        .and_then(|id| std::str::from_utf8(id).ok()?.parse::<u64>().ok());
                    bytes += id.map_or(0, |_| log.get("payload").map_or(0, |p| p.len()));
                }
            }
            std::hint::black_box(bytes);
            seen.fetch_add(batch.log_count() as u64, Ordering::SeqCst);
            async { Ok(()) }
        })
    })
    .await;
    println!(
        "{total} logs on {SHARDS} shards, {PER_GROUP} logs a group, {GROUPS_PER_BATCH} groups a pull"
    );
    for (name, took) in [("count only", counting), ("read each log", reading)] {
        println!(
            "at least once ({name}): {:.2} s, {:.0} logs/s",
            took.as_secs_f64(),
            total as f64 / took.as_secs_f64()
        );
    }

    // Exactly once into PostgreSQL, durable then not.
    for (name, cluster) in [("durable", &durable), ("fsync off", &throwaway)] {
        let db = cluster.connect().await;
        db.batch_execute(SCHEMA).await.unwrap();
        let stats = Arc::new(SinkStats::default());
        let sinks = stats.clone();
        let config = cluster.config();
        let group = format!("pg-{}", cluster.port());
        let took = measure(&hub, &group, total, &stats.rows, move |_shard| {
            ExactlyOnce::new(PgSink::new(config.clone(), sinks.clone()))
        })
        .await;
        assert_each_log_once(&db, total).await;
        let batches = SinkStats::get(&stats.batches);
        println!(
            "exactly once into PostgreSQL ({name}): {:.2} s, {:.0} rows/s, \
             {batches} transactions of {:.0} rows on average \
             ({:.1}x the time of reading each log at least once)",
            took.as_secs_f64(),
            total as f64 / took.as_secs_f64(),
            total as f64 / batches as f64,
            took.as_secs_f64() / reading.as_secs_f64()
        );
    }
}

/// Runs a worker of `group` from the start until `done` reaches `total`;
/// the time from its start.
async fn measure<P: Processor>(
    hub: &FakeLogHub,
    group: &str,
    total: u64,
    done: &AtomicU64,
    factory: impl Fn(u32) -> P + Send + Sync + 'static,
) -> Duration {
    let config = config(group, "bench")
        .client(hub.client())
        .max_fetch_groups(GROUPS_PER_BATCH)
        .fetch_interval(Duration::from_millis(1))
        .error_policy(errors())
        .build()
        .unwrap();
    let started = Instant::now();
    let worker = Worker::start(config, factory).await.unwrap();
    while done.load(Ordering::SeqCst) < total {
        assert!(started.elapsed() < PATIENCE * 5, "too slow");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = started.elapsed();
    worker.shutdown().await.unwrap();
    took
}
