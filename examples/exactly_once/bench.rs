//! `--bench`: rows/s into SQLite exactly once, beside at-least-once
//! processing of the same backlog, both from a cold start in one run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sls_client::PutLogsRequest;
use sls_consumer::exactly_once::ExactlyOnce;
use sls_consumer::{Batch, ConsumerConfig, StartPosition, Worker, processor_fn};
use sls_examples::sqlite_sink::SqliteSink;
use sls_proto::sample::AccessLogs;
use sls_proto::{LogContent, LogGroup};
use sls_testkit::FakeLogHub;

use super::{DbFile, LOGSTORE, PROJECT, Result, SHARDS};

/// `--bench`: the same backlog read twice from a cold start, by an
/// at-least-once processor that only counts logs, then into SQLite
/// exactly once.
pub(crate) async fn run(total: u64) -> Result<bool> {
    const PER_GROUP: u64 = 100;
    const GROUPS_PER_BATCH: u32 = 10;
    let total = total.div_ceil(PER_GROUP) * PER_GROUP;
    let hub = FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, SHARDS)
        // A benchmark measures us, not the service's quotas.
        .quotas(sls_testkit::Quotas::off())
        .start()
        .await?;
    let client = hub.client();
    let mut logs = AccessLogs::new(2026);
    let mut id = 0u64;
    let writing = Instant::now();
    while id < total {
        let mut group = LogGroup::builder().topic("access");
        for _ in 0..PER_GROUP {
            let mut log = logs.next_log();
            log.contents.push(LogContent {
                key: b"id".to_vec(),
                value: id.to_string().into_bytes(),
            });
            group = group.push(log);
            id += 1;
        }
        client
            .put_logs(PutLogsRequest::from_group(
                PROJECT,
                LOGSTORE,
                &group.build(),
            ))
            .await?;
    }
    println!(
        "backlog: {total} access logs (13 fields, with an id) on {SHARDS} shards in groups of {PER_GROUP}, written in {:.1?}; batches of {GROUPS_PER_BATCH} groups ({} logs)",
        writing.elapsed(),
        PER_GROUP * u64::from(GROUPS_PER_BATCH)
    );
    println!("load average before reading: {}", load_average());
    let bench_config = |group: &str| -> Result<ConsumerConfig> {
        Ok(ConsumerConfig::builder(PROJECT, LOGSTORE, group, "bench")
            .client(hub.client())
            .start_position(StartPosition::Begin)
            .heartbeat_interval(Duration::from_secs(1))
            .max_fetch_groups(GROUPS_PER_BATCH)
            .build()?)
    };

    // (a) At least once, counting logs.
    let counted = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let worker = {
        let counted = counted.clone();
        Worker::start(bench_config("count")?, move |_shard| {
            let counted = counted.clone();
            processor_fn(move |batch: Batch| {
                let logs: usize = batch.groups.groups().map(|g| g.logs().count()).sum();
                counted.fetch_add(logs as u64, Ordering::Relaxed);
                std::future::ready(Ok(()))
            })
        })
        .await?
    };
    let count = wait_for(started, total, || counted.load(Ordering::Relaxed)).await;
    worker.shutdown().await?;

    // (b) Exactly once into SQLite, in a fresh database.
    let db = DbFile::new("bench");
    let sink = SqliteSink::open(&db.0)?;
    let started = Instant::now();
    let worker = {
        let sink = sink.clone();
        Worker::start(bench_config("sqlite")?, move |_shard| {
            ExactlyOnce::new(sink.clone())
        })
        .await?
    };
    let sqlite = wait_for(started, total, || sink.counts().logs).await;
    worker.shutdown().await?;
    let counts = sink.counts();
    let table = sink.table_counts().await?;

    let line = |what: &str, timing: &Timing| {
        println!(
            "{what:<34} {:>8} logs in {:>7.3} s = {:>9.0} logs/s from a cold start ({:>9.0} logs/s from the first batch, {:.0} ms to the first)",
            timing.done,
            timing.total.as_secs_f64(),
            timing.rate(),
            timing.steady_rate(),
            timing.first.as_secs_f64() * 1000.0
        );
    };
    line("at least once, counting:", &count);
    line("exactly once into SQLite:", &sqlite);
    println!(
        "SQLite: {} transactions of {:.0} logs on average (WAL, synchronous = FULL), {} stale",
        counts.batches,
        counts.logs as f64 / counts.batches.max(1) as f64,
        counts.stale
    );
    println!(
        "ratio, exactly once into SQLite / at least once: {:.3} from a cold start, {:.3} from the first batch",
        sqlite.rate() / count.rate(),
        sqlite.steady_rate() / count.steady_rate()
    );
    println!("load average after: {}", load_average());
    println!(
        "rows in the sink: {}, distinct ids: {}",
        table.rows, table.distinct_ids
    );
    let ok = count.done == total && table.rows == total && table.duplicates() == 0;
    if !ok {
        println!("FAILED: not every log read, or not exactly once");
    }
    println!("duplicates in the sink: {}", table.duplicates());
    Ok(ok)
}

/// How long a run took.
struct Timing {
    done: u64,
    /// From the worker's start to the last log.
    total: Duration,
    /// From the worker's start to the first log.
    first: Duration,
}

impl Timing {
    fn rate(&self) -> f64 {
        self.done as f64 / self.total.as_secs_f64()
    }

    fn steady_rate(&self) -> f64 {
        self.done as f64 / (self.total - self.first).as_secs_f64()
    }
}

/// Polls `done` every millisecond until it reaches `total` (or a minute
/// passed).
async fn wait_for(started: Instant, total: u64, done: impl Fn() -> u64) -> Timing {
    let mut first = None;
    loop {
        let now = done();
        if now > 0 && first.is_none() {
            first = Some(started.elapsed());
        }
        if now >= total || started.elapsed() > Duration::from_secs(60) {
            return Timing {
                done: now,
                total: started.elapsed(),
                first: first.unwrap_or_default(),
            };
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// The 1, 5 and 15 minute load averages (Linux), for the figures' context.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}
