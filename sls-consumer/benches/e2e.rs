//! End-to-end consumption from an in-process fake LogHub over loopback,
//! beside decode-only on the same data in the same run.
//!
//! Writes 8 shards x 96 log groups x 1024 nginx access logs (12 fields;
//! about 300 MB raw; each shard several pulls deep, so that the steady
//! state of a backlog dominates) to sls-testkit's server, then:
//! - decode-only: lz4 decompression, validation and a visit of every field
//!   of the same groups, in one thread, in lists of 24 groups (the size
//!   of a pull);
//! - end to end: a `Worker` (default settings but 100 groups a pull) whose
//!   processor visits every field, until every log is processed.
//!
//! It prints logs/s, MB/s (uncompressed), the ratio, the CPU time per GB
//! of each (user and system, from getrusage), the page faults per pull,
//! and peak RSS: the whole process's, and the end-to-end phase's alone
//! (the high-water mark is reset before it).
//!
//! The fake server runs on a runtime of its own, one thread, so that its
//! CPU time (that thread's getrusage) can be told apart from the
//! consumer's: the consumer's share is the process's less the server's.
//!
//! Run: `cargo bench -p sls-consumer --bench e2e` (five runs of each
//! phase; `E2E_RUNS=50` for a profile).

use std::ops::Sub;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use nix::sys::resource::{UsageWho, getrusage};
use sls_client::PutLogsRequest;
use sls_consumer::{Batch, ConsumerConfig, StartPosition, Worker, processor_fn};
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{CompressType, Decompressor, LogGroup, LogGroupList, LogGroupListView};
use sls_testkit::FakeLogHub;

const SHARDS: u32 = 8;
const GROUPS_PER_SHARD: usize = 96;
/// Groups in one decode-only list: about one pull's worth (8 MiB).
const GROUPS_PER_LIST: usize = 24;
const LOGS_PER_GROUP: usize = 1024;
/// Data pulls an end-to-end run makes, about: each shard's data in pulls
/// of about 24 groups (8 MiB).
const PULLS: u64 = (SHARDS as usize * GROUPS_PER_SHARD / GROUPS_PER_LIST) as u64;

/// Runs of each phase, unless `E2E_RUNS` says otherwise (a profile wants
/// more).
const RUNS: usize = 5;

fn runs() -> usize {
    std::env::var("E2E_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(RUNS)
        .max(1)
}

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

/// Resets the peak RSS to the current RSS (Linux: `clear_refs`); `false`
/// where that is not allowed.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// CPU time spent, in user space and in the kernel, and page faults.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    user: Duration,
    system: Duration,
    minor_faults: u64,
}

impl Cpu {
    fn of(who: UsageWho) -> Self {
        let usage = getrusage(who).expect("getrusage");
        let time = |t: nix::sys::time::TimeVal| {
            Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000)
        };
        Self {
            user: time(usage.user_time()),
            system: time(usage.system_time()),
            minor_faults: usage.minor_page_faults().max(0) as u64,
        }
    }

    /// The whole process so far.
    fn process() -> Self {
        Self::of(UsageWho::RUSAGE_SELF)
    }

    /// The calling thread so far.
    fn thread() -> Self {
        Self::of(UsageWho::RUSAGE_THREAD)
    }

    fn total(self) -> Duration {
        self.user + self.system
    }

    /// CPU-seconds per GB of `bytes`, total, user and system.
    fn per_gb(self, bytes: u64) -> String {
        let gb = bytes as f64 / 1e9;
        format!(
            "{:5.3} CPU-s/GB (user {:5.3}, system {:5.3}, {:2.0}% in the kernel)",
            self.total().as_secs_f64() / gb,
            self.user.as_secs_f64() / gb,
            self.system.as_secs_f64() / gb,
            100.0 * self.system.as_secs_f64() / self.total().as_secs_f64().max(1e-9),
        )
    }
}

impl Sub for Cpu {
    type Output = Cpu;

    fn sub(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
            minor_faults: self.minor_faults.saturating_sub(earlier.minor_faults),
        }
    }
}

/// What one end-to-end run took.
#[derive(Debug, Clone, Copy)]
struct Run {
    elapsed: Duration,
    /// The whole process.
    process: Cpu,
    /// The fake server's thread.
    server: Cpu,
}

impl Run {
    /// The process less the fake server: the consumer, its client and
    /// the runtime they run on.
    fn consumer(&self) -> Cpu {
        self.process - self.server
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // The fake server's own runtime: one thread, whose CPU time is the
    // server's.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sls-fake")
        .enable_all()
        .build()
        .expect("server runtime");
    let hub = server_runtime.block_on(async {
        FakeLogHub::builder()
            .logstore("bench", "app", SHARDS)
            // A benchmark measures us, not the service's quotas.
            .quotas(sls_testkit::Quotas::off())
            .start()
            .await
            .expect("hub")
    });
    // Written a list at a time; the decode-only phase reads the same
    // lists, lz4-compressed.
    let mut logs = AccessLogs::new(7);
    let lists: Vec<(Bytes, u64)> = runtime.block_on(async {
        let client = hub.client();
        let mut lists = Vec::new();
        for _ in 0..SHARDS as usize * GROUPS_PER_SHARD / GROUPS_PER_LIST {
            let groups: Vec<LogGroup> = (0..GROUPS_PER_LIST)
                .map(|_| logs.group(LOGS_PER_GROUP))
                .collect();
            for group in &groups {
                client
                    .put_logs(PutLogsRequest::from_group("bench", "app", group))
                    .await
                    .expect("put");
            }
            let raw = LogGroupList { log_groups: groups }.encode_to_vec();
            let lz4 = CompressType::Lz4.compress(&raw).expect("lz4");
            lists.push((Bytes::from(lz4), raw.len() as u64));
        }
        lists
    });
    let total_logs = (SHARDS as usize * GROUPS_PER_SHARD * LOGS_PER_GROUP) as u64;

    let raw_bytes: u64 = lists.iter().map(|(_, n)| n).sum();
    let decoder = Decompressor::default();
    let decode_runs: Vec<(Duration, Cpu)> = (0..runs())
        .map(|_| {
            let cpu = Cpu::process();
            let started = Instant::now();
            for (body, raw) in &lists {
                let raw = decoder
                    .decompress(CompressType::Lz4, body.clone(), *raw)
                    .expect("lz4");
                let view = LogGroupListView::decode(raw).expect("view");
                std::hint::black_box(visit(&view));
            }
            (started.elapsed(), Cpu::process() - cpu)
        })
        .collect();
    let decode_best = decode_runs.iter().map(|(t, _)| *t).min().expect("runs");
    let decode_cpu = decode_runs
        .iter()
        .map(|(_, cpu)| *cpu)
        .min_by_key(|cpu| cpu.total())
        .expect("runs");

    let before_e2e_kib = peak_rss_kib();
    let e2e_peak_measured = reset_peak_rss();
    // Each run a new consumer group reading everything from the
    // beginning; the best is reported, as for decode-only.
    let server = server_runtime.handle().clone();
    let runs: Vec<Run> = (0..runs() as u32)
        .map(|run| runtime.block_on(consume(&hub, &server, run, total_logs)))
        .collect();
    let e2e_peak_kib = peak_rss_kib().filter(|_| e2e_peak_measured);
    server_runtime.block_on(hub.shutdown());
    drop(server_runtime);

    let mb = raw_bytes as f64 / 1e6;
    let decode_mbs = mb / decode_best.as_secs_f64();
    println!(
        "data: {SHARDS} shards x {GROUPS_PER_SHARD} groups x {LOGS_PER_GROUP} logs = {total_logs} logs, {mb:.1} MB raw"
    );
    println!(
        "decode only (lz4 + view + visit, 1 thread): {decode_mbs:6.0} MB/s {:10.0} logs/s",
        total_logs as f64 / decode_best.as_secs_f64()
    );
    for (i, run) in runs.iter().enumerate() {
        println!(
            "end to end, run {}: {:6.0} MB/s in {:.2?}; process {}; fake server {:.3} CPU-s/GB; page faults a pull: {} consumer, {} server",
            i + 1,
            mb / run.elapsed.as_secs_f64(),
            run.elapsed,
            run.process.per_gb(raw_bytes),
            run.server.total().as_secs_f64() / (raw_bytes as f64 / 1e9),
            run.consumer().minor_faults / PULLS,
            run.server.minor_faults / PULLS,
        );
    }
    let elapsed = runs.iter().map(|r| r.elapsed).min().expect("runs");
    let e2e_mbs = mb / elapsed.as_secs_f64();
    println!(
        "end to end (fake server, loopback):         {e2e_mbs:6.0} MB/s {:10.0} logs/s in {elapsed:.2?} (from worker start, group join included)",
        total_logs as f64 / elapsed.as_secs_f64()
    );
    println!("end to end / decode only: {:.2}", e2e_mbs / decode_mbs);

    // CPU per byte: the run that cost the consumer least, as the fastest
    // decode-only run is the floor.
    let best = runs
        .iter()
        .min_by_key(|run| run.consumer().total())
        .expect("runs");
    let floor = decode_cpu.total().as_secs_f64();
    println!("CPU per GB (raw):");
    println!(
        "  decode only (the one-core floor):  {}",
        decode_cpu.per_gb(raw_bytes)
    );
    println!(
        "  end to end, whole process:         {} = {:.2}x the floor",
        best.process.per_gb(raw_bytes),
        best.process.total().as_secs_f64() / floor
    );
    println!(
        "    of which the fake server:        {}",
        best.server.per_gb(raw_bytes)
    );
    println!(
        "    the rest (consumer and client):  {} = {:.2}x the floor",
        best.consumer().per_gb(raw_bytes),
        best.consumer().total().as_secs_f64() / floor
    );
    let mib = |kib: u64| kib as f64 / 1024.0;
    if let (Some(before), Some(phase)) = (before_e2e_kib, e2e_peak_kib) {
        println!(
            "peak RSS: {:.0} MiB before the end-to-end phase (data generation, the server's copy), {:.0} MiB during it",
            mib(before),
            mib(phase)
        );
    }
    if let Some(kib) = peak_rss_kib() {
        println!(
            "peak RSS: {:.0} MiB, the whole process (it also holds the server's copy of the data)",
            mib(kib)
        );
    }
}

/// The fake server thread's CPU time so far.
async fn server_cpu(server: &tokio::runtime::Handle) -> Cpu {
    server
        .spawn(async { Cpu::thread() })
        .await
        .expect("server thread")
}

/// Consumes the whole logstore with a new group; returns the time and the
/// CPU it took.
async fn consume(
    hub: &FakeLogHub,
    server: &tokio::runtime::Handle,
    run: u32,
    total_logs: u64,
) -> Run {
    let processed = Arc::new(AtomicU64::new(0));
    let counter = processed.clone();
    let config = ConsumerConfig::builder("bench", "app", format!("bench-{run}"), "worker-1")
        .client(hub.client())
        .max_fetch_groups(100)
        .start_position(StartPosition::Begin)
        .build()
        .expect("config");
    let server_before = server_cpu(server).await;
    let process_before = Cpu::process();
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
    let process = Cpu::process() - process_before;
    let server = server_cpu(server).await - server_before;
    worker.shutdown().await.expect("shutdown");
    Run {
        elapsed,
        process,
        server,
    }
}
