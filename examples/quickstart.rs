//! Quickstart: three consumers share a logstore on an in-process fake
//! LogHub, one leaves half-way, and nothing is lost or duplicated.
//!
//! It starts sls-testkit's fake server (real HTTP on 127.0.0.1, real
//! signatures), writes a stream of nginx access logs across 8 shards while
//! it runs, starts three `sls-consumer` workers in this process, prints a
//! live table (per consumer: shards held, logs/s, lag), stops one worker
//! cleanly half-way to show the handoff, and ends with a summary. It exits
//! 0 only if every written log was processed exactly once.
//!
//! Run: `cargo run --release --example quickstart`
//! (`SLS_EXAMPLE_SHORT=1` runs it in a few seconds, as CI does).

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sls_client::PutLogsRequest;
use sls_consumer::{Batch, ConsumerConfig, StartPosition, Worker, processor_fn};
use sls_proto::sample::AccessLogs;
use sls_testkit::FakeLogHub;

const PROJECT: &str = "demo";
const LOGSTORE: &str = "access";
const GROUP: &str = "quickstart";
const SHARDS: u32 = 8;
const NAMES: [&str; 3] = ["alpha", "bravo", "charlie"];

/// What the consumers saw: how many times each log id was processed.
#[derive(Clone, Default)]
struct Seen {
    ids: Arc<Mutex<HashMap<Vec<u8>, u32>>>,
    per_consumer: Arc<[AtomicU64; 3]>,
}

fn short() -> bool {
    std::env::var_os("SLS_EXAMPLE_SHORT").is_some()
}

#[tokio::main]
async fn main() -> ExitCode {
    sls_examples::print_warnings();
    sls_examples::exit_code("quickstart", run().await)
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let (write_for, groups_per_tick, logs_per_group) = if short() {
        (Duration::from_secs(4), 2, 50)
    } else {
        (Duration::from_secs(20), 4, 200)
    };
    let hub = FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, SHARDS)
        .start()
        .await?;
    println!(
        "fake LogHub on http://{} with {SHARDS} shards",
        hub.endpoint()
    );

    // A writer: a few log groups every 50 ms, each log with a unique id.
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let client = hub.client();
        let written = written.clone();
        tokio::spawn(async move {
            let mut logs = AccessLogs::new(2026);
            let started = Instant::now();
            while started.elapsed() < write_for {
                for _ in 0..groups_per_tick {
                    let group = logs.group(logs_per_group);
                    client
                        .put_logs(PutLogsRequest::from_group(PROJECT, LOGSTORE, &group))
                        .await?;
                    written.fetch_add(group.logs.len() as u64, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok::<_, sls_client::Error>(())
        })
    };

    let seen = Seen::default();
    let mut workers: Vec<Option<Worker>> = Vec::new();
    for (index, name) in NAMES.iter().enumerate() {
        workers.push(Some(start_worker(&hub, name, index, &seen).await?));
    }

    let started = Instant::now();
    let mut last_counts = [0u64; 3];
    let mut handoff: Option<Duration> = None;
    let mut stopped_at: Option<Instant> = None;
    let deadline = write_for + Duration::from_secs(25);
    println!(
        "{:>5}  {:>8} {:>8}   {}",
        "t(s)",
        "written",
        "done",
        NAMES
            .iter()
            .map(|n| format!("{n:>8}: shards  logs/s   lag"))
            .collect::<Vec<_>>()
            .join("   ")
    );
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let written_now = written.load(Ordering::Relaxed);
        let done_now = seen.ids.lock().map(|ids| ids.len() as u64).unwrap_or(0);
        let mut cells = Vec::new();
        for (i, worker) in workers.iter().enumerate() {
            let count = seen.per_consumer[i].load(Ordering::Relaxed);
            let rate = count - last_counts[i];
            last_counts[i] = count;
            match worker {
                Some(worker) => {
                    let metrics = worker.metrics();
                    let lag: u64 = metrics.shards.iter().filter_map(|m| m.lag_groups).sum();
                    cells.push(format!(
                        "{:>8}: {:>6} {:>7} {:>5}",
                        NAMES[i],
                        metrics.shards.len(),
                        rate,
                        lag
                    ));
                }
                None => cells.push(format!(
                    "{:>8}: {:>6} {:>7} {:>5}",
                    NAMES[i], "left", rate, "-"
                )),
            }
        }
        println!(
            "{:>5} {:>9} {:>8}   {}",
            started.elapsed().as_secs(),
            written_now,
            done_now,
            cells.join("   ")
        );

        // Half-way, bravo leaves cleanly; time how long until the others
        // are consuming all of its shards (their own tasks run them).
        if stopped_at.is_none() && started.elapsed() >= write_for / 2 {
            if let Some(bravo) = workers[1].take() {
                println!("-- bravo shuts down cleanly --");
                let at = Instant::now();
                bravo.shutdown().await?;
                stopped_at = Some(at);
                while at.elapsed() < Duration::from_secs(10) {
                    let held: usize = workers
                        .iter()
                        .flatten()
                        .map(|w| w.metrics().shards.len())
                        .sum();
                    if held == SHARDS as usize {
                        handoff = Some(at.elapsed());
                        println!(
                            "-- alpha and charlie are consuming all {SHARDS} shards {:.2?} after bravo began to stop --",
                            at.elapsed()
                        );
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        let writing = !writer.is_finished();
        if !writing && done_now >= written_now && handoff.is_some() {
            break;
        }
        if started.elapsed() > deadline {
            println!("-- deadline reached --");
            break;
        }
    }
    writer.await??;
    for worker in workers.into_iter().flatten() {
        worker.shutdown().await?;
    }

    let written = written.load(Ordering::Relaxed);
    let ids = seen.ids.lock().map(|ids| ids.clone()).unwrap_or_default();
    let processed = ids.len() as u64;
    let duplicates: u64 = ids.values().map(|n| u64::from(n - 1)).sum();
    println!();
    println!("logs written:   {written}");
    println!("logs processed: {processed}");
    println!("duplicates:     {duplicates}");
    match handoff {
        Some(handoff) => println!(
            "handoff:        {handoff:.1?} (heartbeat interval 1 s; the official libraries wait for the group timeout)"
        ),
        None => println!("handoff:        not observed"),
    }
    let ok = processed == written && duplicates == 0 && handoff.is_some();
    println!(
        "{}",
        if ok {
            "OK: every log processed exactly once"
        } else {
            "FAILED"
        }
    );
    Ok(ok)
}

async fn start_worker(
    hub: &FakeLogHub,
    name: &str,
    index: usize,
    seen: &Seen,
) -> Result<Worker, Box<dyn std::error::Error>> {
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, name)
        .client(hub.client())
        .start_position(StartPosition::Begin)
        .heartbeat_interval(Duration::from_secs(1))
        .fetch_interval(Duration::from_millis(100))
        .auto_commit_interval(Some(Duration::from_millis(500)))
        .build()?;
    let seen = seen.clone();
    let worker = Worker::start(config, move |_shard| {
        let seen = seen.clone();
        processor_fn(move |batch: Batch| {
            let mut ids = seen.ids.lock().expect("not poisoned");
            for group in &batch.groups {
                for log in group.logs() {
                    if let Some(id) = log.get("request_id") {
                        *ids.entry(id.to_vec()).or_default() += 1;
                    }
                }
            }
            seen.per_consumer[index].fetch_add(batch.log_count() as u64, Ordering::Relaxed);
            std::future::ready(Ok(()))
        })
    })
    .await?;
    Ok(worker)
}
