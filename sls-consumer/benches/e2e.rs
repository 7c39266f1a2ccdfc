//! End-to-end consumption from an in-process fake LogHub over loopback,
//! beside decode-only on the same data in the same run.
//!
//! Writes 8 shards x 24 log groups x 1024 nginx access logs (12 fields;
//! about 75 MB raw) to sls-testkit's server, then:
//! - decode-only: lz4 decompression, validation and a visit of every field
//!   of the same groups, in one thread;
//! - end to end: a `Worker` (default settings but 100 groups a pull) whose
//!   processor visits every field, until every log is processed.
//!
//! It prints logs/s, MB/s (uncompressed), the ratio, and peak RSS.
//!
//! Run: `cargo bench -p sls-consumer --bench e2e`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sls_client::PutLogsRequest;
use sls_consumer::{Batch, ConsumerConfig, StartPosition, Worker, processor_fn};
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{CompressType, Decompressor, LogGroup, LogGroupList, LogGroupListView};
use sls_testkit::FakeLogHub;

const SHARDS: u32 = 8;
const GROUPS_PER_SHARD: usize = 24;
const LOGS_PER_GROUP: usize = 1024;

fn visit(view: &LogGroupListView) -> usize {
    let mut n = 0;
    for group in view {
        for log in group.logs() {
            n += log.time() as usize & 1;
            for (k, v) in log.contents() {
                n += k.len() + v.len();
            }
        }
    }
    n
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut logs = AccessLogs::new(7);
    let groups: Vec<LogGroup> = (0..SHARDS as usize * GROUPS_PER_SHARD)
        .map(|_| logs.group(LOGS_PER_GROUP))
        .collect();
    let total_logs = (groups.len() * LOGS_PER_GROUP) as u64;

    // Decode-only baseline on the same groups, one lz4 list per shard.
    let lists: Vec<(Bytes, u64)> = groups
        .chunks(GROUPS_PER_SHARD)
        .map(|chunk| {
            let raw = LogGroupList {
                log_groups: chunk.to_vec(),
            }
            .encode_to_vec();
            let lz4 = CompressType::Lz4.compress(&raw).expect("lz4");
            (Bytes::from(lz4), raw.len() as u64)
        })
        .collect();
    let raw_bytes: u64 = lists.iter().map(|(_, n)| n).sum();
    let decoder = Decompressor::default();
    let decode_best = (0..3)
        .map(|_| {
            let started = Instant::now();
            for (body, raw) in &lists {
                let raw = decoder
                    .decompress(CompressType::Lz4, body.clone(), *raw)
                    .expect("lz4");
                let view = LogGroupListView::decode(raw).expect("view");
                std::hint::black_box(visit(&view));
            }
            started.elapsed()
        })
        .min()
        .expect("three runs");

    let hub = runtime.block_on(async {
        let hub = FakeLogHub::builder()
            .logstore("bench", "app", SHARDS)
            // A benchmark measures us, not the service's quotas.
            .quotas(sls_testkit::Quotas::off())
            .start()
            .await
            .expect("hub");
        let client = hub.client();
        for group in &groups {
            client
                .put_logs(PutLogsRequest::from_group("bench", "app", group))
                .await
                .expect("put");
        }
        hub
    });
    drop(groups);
    // Three runs, each a new consumer group reading everything from the
    // beginning; the best is reported, as for decode-only.
    let elapsed = (0..3)
        .map(|run| runtime.block_on(consume(&hub, run, total_logs)))
        .min()
        .expect("three runs");
    drop(hub);

    let mb = raw_bytes as f64 / 1e6;
    let e2e_mbs = mb / elapsed.as_secs_f64();
    let decode_mbs = mb / decode_best.as_secs_f64();
    println!(
        "data: {SHARDS} shards x {GROUPS_PER_SHARD} groups x {LOGS_PER_GROUP} logs = {total_logs} logs, {mb:.1} MB raw"
    );
    println!(
        "decode only (lz4 + view + visit, 1 thread): {decode_mbs:6.0} MB/s {:10.0} logs/s",
        total_logs as f64 / decode_best.as_secs_f64()
    );
    println!(
        "end to end (fake server, loopback):         {e2e_mbs:6.0} MB/s {:10.0} logs/s in {elapsed:.2?} (from worker start, group join included)",
        total_logs as f64 / elapsed.as_secs_f64()
    );
    println!("end to end / decode only: {:.2}", e2e_mbs / decode_mbs);
    if let Some(kib) = peak_rss_kib() {
        println!(
            "peak RSS: {:.0} MiB (the process also holds the server's copy of the data)",
            kib as f64 / 1024.0
        );
    }
}

/// Consumes the whole logstore with a new group; returns the time taken.
async fn consume(hub: &FakeLogHub, run: u32, total_logs: u64) -> Duration {
    let processed = Arc::new(AtomicU64::new(0));
    let counter = processed.clone();
    let config = ConsumerConfig::builder("bench", "app", format!("bench-{run}"), "worker-1")
        .client(hub.client())
        .max_fetch_groups(100)
        .start_position(StartPosition::Begin)
        .build()
        .expect("config");
    let started = Instant::now();
    let worker = Worker::start(config, move |_| {
        let counter = counter.clone();
        processor_fn(move |batch: Batch| {
            std::hint::black_box(visit(&batch.groups));
            counter.fetch_add(batch.log_count() as u64, Ordering::Relaxed);
            std::future::ready(Ok(()))
        })
    })
    .await
    .expect("worker");
    while processed.load(Ordering::Relaxed) < total_logs {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let elapsed = started.elapsed();
    worker.shutdown().await.expect("shutdown");
    elapsed
}
