//! The cost of waiting, measured: how many requests an idle shard costs
//! (all calls counted, at the fake server), and how soon a trickle of
//! writes is processed (put to process), with a consumer's defaults and,
//! in the same run, with pulls at a fixed 200 ms pace (the defaults before
//! the idle back-off: `max_idle_interval` = `fetch_interval`).
//!
//! 1. Idle: 64 empty shards, one consumer. After a warm-up (every shard
//!    held, its start found), the requests the fake receives over a window
//!    of two heartbeat intervals, per shard per second, by call.
//! 2. Trickle: 8 shards, one consumer, 10 logs a second, each log its own
//!    PutLogs to a random shard; the time from the put's answer to the
//!    processor seeing the log, p50, p99 and max.
//!
//! Run: `cargo run --release --example idle_cost` (about 3 minutes;
//! `SLS_EXAMPLE_SHORT=1` for a quick look of about 10 s, as CI runs it,
//! whose windows are too short for the figures to mean much). It
//! exits non-zero when the defaults miss the bars: at most 1.1 requests/s
//! per idle shard, p50 at most 1 s and p99 at most 2 s.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sls_client::PutLogsRequest;
use sls_consumer::{Batch, ConsumerConfig, ConsumerConfigBuilder, Worker, processor_fn};
use sls_proto::{ByteSlice, LogGroup};
use sls_testkit::FakeLogHub;

const PROJECT: &str = "demo";
const LOGSTORE: &str = "idle";
const GROUP: &str = "idle-cost";
const IDLE_SHARDS: u32 = 64;
const TRICKLE_SHARDS: u32 = 8;
/// Logs a second in the trickle.
const TRICKLE_RATE: u32 = 10;

fn short() -> bool {
    std::env::var_os("SLS_EXAMPLE_SHORT").is_some()
}

/// `full` seconds, or `short_ms` milliseconds in the short mode.
fn secs(full: u64, short_ms: u64) -> Duration {
    if short() {
        Duration::from_millis(short_ms)
    } else {
        Duration::from_secs(full)
    }
}

/// The two ways of waiting compared.
#[derive(Clone, Copy)]
enum Pace {
    /// A pull every `fetch_interval` (200 ms) while caught up.
    Fixed,
    /// The defaults: the wait grows to `max_idle_interval` (1 s).
    Defaults,
}

impl Pace {
    fn name(self) -> &'static str {
        match self {
            Self::Fixed => "fixed 200 ms",
            Self::Defaults => "defaults",
        }
    }

    fn apply(self, builder: ConsumerConfigBuilder) -> ConsumerConfigBuilder {
        match self {
            Self::Fixed => builder.max_idle_interval(Duration::ZERO),
            Self::Defaults => builder,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    sls_examples::print_warnings();
    sls_examples::exit_code("idle_cost", run().await)
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let mut ok = true;
    println!("idle: {IDLE_SHARDS} empty shards, one consumer (heartbeat 20 s)");
    println!(
        "{:<14} {:>14}  by call (per shard per second)",
        "pace", "requests/s/shard"
    );
    for pace in [Pace::Fixed, Pace::Defaults] {
        let (per_shard, by_call) = idle(pace).await?;
        let calls: Vec<String> = by_call
            .iter()
            .map(|(call, rate)| format!("{call} {rate:.3}"))
            .collect();
        println!(
            "{:<14} {:>16.3}  {}",
            pace.name(),
            per_shard,
            calls.join(", ")
        );
        if matches!(pace, Pace::Defaults) && per_shard > 1.1 {
            ok = false;
        }
    }
    println!();
    println!("trickle: {TRICKLE_RATE} logs/s over {TRICKLE_SHARDS} shards, one consumer");
    println!(
        "{:<14} {:>6} {:>9} {:>9} {:>9}",
        "pace", "logs", "p50", "p99", "max"
    );
    for pace in [Pace::Fixed, Pace::Defaults] {
        let mut latencies = trickle(pace).await?;
        latencies.sort();
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
        let (p50, p99, max) = (at(0.5), at(0.99), at(1.0));
        println!(
            "{:<14} {:>6} {:>9.3?} {:>9.3?} {:>9.3?}",
            pace.name(),
            latencies.len(),
            p50,
            p99,
            max
        );
        if matches!(pace, Pace::Defaults)
            && (p50 > Duration::from_secs(1) || p99 > Duration::from_secs(2))
        {
            ok = false;
        }
    }
    if short() {
        println!("(short run: rough figures, bars not checked)");
        return Ok(true);
    }
    println!(
        "{}",
        if ok {
            "OK: the defaults meet the bars (<= 1.1 requests/s per idle shard, p50 <= 1 s, p99 <= 2 s)"
        } else {
            "FAILED: the defaults miss a bar"
        }
    );
    Ok(ok)
}

fn config(hub: &FakeLogHub, pace: Pace) -> Result<ConsumerConfig, sls_consumer::ConfigError> {
    pace.apply(ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "solo").client(hub.client()))
        .build()
}

/// Requests per idle shard per second over the window, in all and by call.
async fn idle(pace: Pace) -> Result<(f64, BTreeMap<String, f64>), Box<dyn std::error::Error>> {
    let hub = FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, IDLE_SHARDS)
        .start()
        .await?;
    let worker = Worker::start(config(&hub, pace)?, |_| {
        processor_fn(|_: Batch| std::future::ready(Ok(())))
    })
    .await?;
    let held = Instant::now();
    while worker.metrics().shards.len() < IDLE_SHARDS as usize {
        if held.elapsed() > Duration::from_secs(30) {
            return Err("the consumer never held every shard".into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Warm-up: each shard found its start and pulled a few times.
    tokio::time::sleep(secs(5, 1000)).await;
    // Two heartbeat intervals (20 s each) in the full run, so per-round
    // calls count fully.
    let window = secs(40, 1500);
    let before = hub.request_counts();
    tokio::time::sleep(window).await;
    let after = hub.request_counts();
    worker.shutdown().await?;
    let per = |n: u64| n as f64 / window.as_secs_f64() / f64::from(IDLE_SHARDS);
    let by_call = after
        .by_call
        .iter()
        .map(|(call, n)| (format!("{call:?}"), per(n - before.call(*call))))
        .filter(|(_, rate)| *rate > 0.0)
        .collect();
    Ok((per(after.total - before.total), by_call))
}

/// Put-to-process latencies of a trickle.
async fn trickle(pace: Pace) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let hub = FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, TRICKLE_SHARDS)
        .start()
        .await?;
    let epoch = Instant::now();
    // When each log's put was answered, and when it was processed.
    let put: Arc<Mutex<BTreeMap<u64, Duration>>> = Arc::default();
    let done: Arc<Mutex<BTreeMap<u64, Duration>>> = Arc::default();
    let seen = done.clone();
    let worker = Worker::start(config(&hub, pace)?, move |_| {
        let seen = seen.clone();
        processor_fn(move |batch: Batch| {
            let now = epoch.elapsed();
            let mut seen = seen.lock().expect("not poisoned");
            for group in &batch.groups {
                for log in group.logs() {
                    if let Some(id) = log.get("id").and_then(|v| v.to_str().ok()?.parse().ok()) {
                        seen.entry(id).or_insert(now);
                    }
                }
            }
            std::future::ready(Ok(()))
        })
    })
    .await?;
    // Let every shard be held and idle first.
    tokio::time::sleep(secs(5, 1000)).await;
    let run_for = secs(40, 1500);
    let client = hub.client();
    let mut tick = tokio::time::interval(Duration::from_secs(1) / TRICKLE_RATE);
    let started = Instant::now();
    let mut id = 0u64;
    while started.elapsed() < run_for {
        tick.tick().await;
        let group = LogGroup::builder().log(0, [("id", id.to_string())]).build();
        client
            .put_logs(PutLogsRequest::from_group(PROJECT, LOGSTORE, &group))
            .await?;
        put.lock()
            .expect("not poisoned")
            .insert(id, epoch.elapsed());
        id += 1;
    }
    let waited = Instant::now();
    while done.lock().expect("not poisoned").len() < id as usize {
        if waited.elapsed() > Duration::from_secs(10) {
            return Err("the trickle was not all processed".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.shutdown().await?;
    let put = put.lock().expect("not poisoned");
    let done = done.lock().expect("not poisoned");
    Ok(put
        .iter()
        .map(|(id, at)| done[id].saturating_sub(*at))
        .collect())
}
