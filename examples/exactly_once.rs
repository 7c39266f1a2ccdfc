//! Exactly-once effects into SQLite: consumers crash and restart while
//! logs stream in, and every log ends up in the database once.
//!
//! Consumption is at least once; the effects are exactly once because the
//! sink ([`SqliteSink`], in `examples/sqlite_sink.rs`) stores each shard's
//! position in the same SQLite transaction as the shard's rows, and the
//! worker starts each shard where the sink says
//! ([`ExactlyOnce`], [`Processor::seek`](sls_consumer::Processor::seek)).
//! A write whose expected position is not the stored one (a batch written
//! already) is refused and writes nothing.
//!
//! It starts a fake LogHub with 4 shards, writes numbered logs (a quarter
//! of them with GBK text, a quarter Latin-1: not UTF-8) while consumers
//! read them into a SQLite file; three times a consumer crashes (its
//! `Worker` is dropped, as a kill would) and a new one starts, under the
//! same name or another. Auto-commit is every 60 s, so the group's
//! checkpoints stay far behind: a plain at-least-once consumer would read
//! everything again after each crash. To show the compare-and-set at work
//! too, every 25th write loses its answer after committing (what a
//! networked database does when the connection drops after `COMMIT`); the
//! worker offers the batch again and the sink refuses it. The last line is
//! `duplicates in the sink: 0`, and it exits 0 only if every log is in
//! the sink exactly once, byte for byte.
//!
//! Run: `cargo run --release --example exactly_once`
//! (`SLS_EXAMPLE_SHORT=1` runs it in a few seconds, as CI does).
//!
//! Throughput (`exactly_once/bench.rs`): `cargo run --release --example
//! exactly_once -- --bench [--logs N]` (or `SLS_EXACTLY_ONCE_BENCH=1`)
//! reads a backlog of 200,000 logs on 4 shards in batches of 1,000, first
//! with an at-least-once processor that only counts them, then into
//! SQLite exactly once, both from a cold start, and prints logs/s for each
//! and the ratio.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sls_client::{CursorPosition, PutLogsRequest};
use sls_consumer::exactly_once::{ExactlyOnce, SinkWrite, TransactionalSink};
use sls_consumer::{Batch, ConsumerConfig, ProcessError, StartPosition, Worker};
use sls_examples::sqlite_sink::SqliteSink;
use sls_proto::prost::Message;
use sls_proto::sample::{MessyLogs, TextKind};
use sls_proto::{Cursor, Log, LogContent, LogGroup};
use sls_testkit::FakeLogHub;

const PROJECT: &str = "demo";
const LOGSTORE: &str = "orders";
const GROUP: &str = "orders-to-sqlite";
const SHARDS: u32 = 4;
/// Logs per group the writer sends.
const LOGS_PER_GROUP: u64 = 50;
/// One write in this many loses its answer after committing.
const LOSE_EVERY: u64 = 25;

#[path = "exactly_once/bench.rs"]
mod bench;

type Result<T, E = Box<dyn Error + Send + Sync>> = std::result::Result<T, E>;

fn short() -> bool {
    std::env::var_os("SLS_EXAMPLE_SHORT").is_some()
}

#[tokio::main]
async fn main() -> ExitCode {
    sls_examples::print_warnings();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench")
        || std::env::var_os("SLS_EXACTLY_ONCE_BENCH").is_some_and(|v| v != "0");
    let result = if bench {
        let logs = match args.iter().position(|a| a == "--logs") {
            Some(i) => match args.get(i + 1).and_then(|n| n.parse().ok()) {
                Some(n) => n,
                None => {
                    eprintln!("--logs takes a number of logs");
                    return ExitCode::FAILURE;
                }
            },
            None if short() => 20_000,
            None => 200_000,
        };
        bench::run(logs).await
    } else {
        crashes().await
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("exactly_once failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A database file in the temporary directory, removed (with its WAL)
/// when dropped.
struct DbFile(PathBuf);

impl DbFile {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "sls-exactly-once-{name}-{}.sqlite",
            std::process::id()
        ));
        let file = Self(path);
        file.remove();
        file
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for DbFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Stands in for a failure SQLite in this process never has but a
/// networked database does: every `every`-th write commits and then
/// reports an error, as when the connection drops after `COMMIT` was sent.
/// The worker offers the batch again, and the compare-and-set refuses it.
#[derive(Debug, Clone)]
struct LostAnswers<S> {
    sink: S,
    every: u64,
    writes: Arc<AtomicU64>,
    lost: Arc<AtomicU64>,
}

impl<S: TransactionalSink + Sync> TransactionalSink for LostAnswers<S> {
    async fn position(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
        self.sink.position(shard).await
    }

    async fn write(
        &mut self,
        batch: &Batch,
        expected: Option<Cursor>,
    ) -> Result<SinkWrite, ProcessError> {
        let written = self.sink.write(batch, expected).await?;
        if written == SinkWrite::Written
            && (self.writes.fetch_add(1, Ordering::Relaxed) + 1) % self.every == 0
        {
            self.lost.fetch_add(1, Ordering::Relaxed);
            return Err("the commit's answer was lost (simulated)".into());
        }
        Ok(written)
    }
}

fn config(hub: &FakeLogHub, group: &str, consumer: &str) -> Result<ConsumerConfig> {
    Ok(ConsumerConfig::builder(PROJECT, LOGSTORE, group, consumer)
        .client(hub.client())
        .start_position(StartPosition::Begin)
        // Quick takeovers after a crash: the group times a consumer out
        // after 3 s without a heartbeat.
        .heartbeat_interval(Duration::from_secs(1))
        .heartbeat_timeout(Duration::from_secs(3))
        .fetch_interval(Duration::from_millis(100))
        .max_fetch_groups(10)
        // The group's checkpoint lags far behind the sink: after a crash
        // only the sink's positions keep logs from being written twice.
        .auto_commit_interval(Some(Duration::from_secs(60)))
        .build()?)
}

/// What the writer sent.
#[derive(Debug, Default)]
struct Written {
    logs: AtomicU64,
    not_utf8: AtomicU64,
}

/// The writer's log `id`: numbered from 0, a quarter of the messages in
/// GBK and a quarter in Latin-1.
fn order_log(id: u64, text: &mut MessyLogs) -> (Log, bool) {
    let (message, not_utf8) = match id % 4 {
        0 => (text.text(TextKind::GbkChinese, 24), true),
        1 => (text.text(TextKind::Latin1, 24), true),
        _ => (format!("order {id} shipped").into_bytes(), false),
    };
    let log = Log::new(
        1_700_000_000 + (id / 1000) as u32,
        [
            ("id", id.to_string().into_bytes()),
            ("level", b"info".to_vec()),
            ("message", message),
        ],
    );
    (log, not_utf8)
}

/// One scripted crash: the consumer holding the most shards is dropped,
/// then `then` starts (`None`: the same name again).
struct Crash {
    /// When, as a fraction of the writing time.
    at: f64,
    then: Option<&'static str>,
}

const CRASHES: [Crash; 3] = [
    // Restarted at once under the same name, as a supervisor would.
    Crash {
        at: 0.25,
        then: None,
    },
    Crash {
        at: 0.5,
        then: None,
    },
    // Replaced by another consumer: its shards move after the timeout.
    Crash {
        at: 0.75,
        then: Some("charlie"),
    },
];

async fn crashes() -> Result<bool> {
    let (write_for, groups_per_tick) = if short() {
        (Duration::from_secs(5), 2)
    } else {
        (Duration::from_secs(20), 4)
    };
    let hub = FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, SHARDS)
        .start()
        .await?;
    let db = DbFile::new("crashes");
    let sink = SqliteSink::open(&db.0)?;
    println!(
        "fake LogHub on http://{} with {SHARDS} shards; sink {}",
        hub.endpoint(),
        db.0.display()
    );
    let flaky = LostAnswers {
        sink: sink.clone(),
        every: LOSE_EVERY,
        writes: Arc::default(),
        lost: Arc::default(),
    };

    // The writer: a few groups every 50 ms, each log with a unique id.
    let written = Arc::new(Written::default());
    let writer = {
        let client = hub.client();
        let written = written.clone();
        tokio::spawn(async move {
            let mut text = MessyLogs::new(13);
            let mut id = 0;
            let started = Instant::now();
            while started.elapsed() < write_for {
                for _ in 0..groups_per_tick {
                    let mut group = LogGroup::builder().topic("orders");
                    let mut not_utf8 = 0;
                    for _ in 0..LOGS_PER_GROUP {
                        let (log, odd) = order_log(id, &mut text);
                        group = group.push(log);
                        not_utf8 += u64::from(odd);
                        id += 1;
                    }
                    let request = PutLogsRequest::from_group(PROJECT, LOGSTORE, &group.build());
                    client.put_logs(request).await?;
                    written.logs.fetch_add(LOGS_PER_GROUP, Ordering::Relaxed);
                    written.not_utf8.fetch_add(not_utf8, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok::<_, sls_client::Error>(())
        })
    };

    let start = |name: &'static str| {
        let hub = &hub;
        let flaky = flaky.clone();
        async move {
            let config = config(hub, GROUP, name)?;
            let worker =
                Worker::start(config, move |_shard| ExactlyOnce::new(flaky.clone())).await?;
            Ok::<_, Box<dyn Error + Send + Sync>>((name, worker))
        }
    };
    let mut workers = vec![start("alpha").await?, start("bravo").await?];
    let mut crashes = CRASHES.iter().peekable();
    let mut would_repeat = 0u64;
    let started = Instant::now();
    let deadline = write_for + Duration::from_secs(40);
    let mut next_line = Duration::ZERO;
    println!(
        "{:>5} {:>8} {:>8} {:>6}   shards held",
        "t(s)", "written", "in sink", "stale"
    );
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let elapsed = started.elapsed();
        if elapsed >= next_line {
            next_line += Duration::from_secs(1);
            let held: Vec<String> = workers
                .iter()
                .map(|(name, w)| {
                    let shards: Vec<String> = w
                        .metrics()
                        .shards
                        .iter()
                        .map(|m| m.shard.to_string())
                        .collect();
                    format!("{name}: [{}]", shards.join(","))
                })
                .collect();
            let counts = sink.counts();
            println!(
                "{:>5} {:>8} {:>8} {:>6}   {}",
                elapsed.as_secs(),
                written.logs.load(Ordering::Relaxed),
                counts.logs,
                counts.stale,
                held.join("  ")
            );
        }
        // A crash is due at its time, once someone holds shards again.
        let holding = workers.iter().any(|(_, w)| !w.metrics().shards.is_empty());
        if let Some(crash) = crashes.next_if(|c| holding && elapsed >= write_for.mul_f64(c.at)) {
            let index = (0..workers.len())
                .max_by_key(|i| workers[*i].1.metrics().shards.len())
                .ok_or("no consumer left")?;
            let (name, worker) = workers.remove(index);
            let then = crash.then.unwrap_or(name);
            let held: Vec<u32> = worker.metrics().shards.iter().map(|m| m.shard).collect();
            // The crash: no shutdown, nothing committed to the group.
            drop(worker);
            // Let a transaction in flight on the blocking pool land.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let behind = lag_of_checkpoints(&hub, &sink, &held).await?;
            would_repeat += behind;
            println!(
                "-- {name} crashes holding shards {held:?}; the group's checkpoints there are {behind} logs behind the sink; {then} starts --"
            );
            workers.push(start(then).await?);
        }
        if writer.is_finished()
            && crashes.peek().is_none()
            && sink.counts().logs >= written.logs.load(Ordering::Relaxed)
            && sink.table_counts().await?.distinct_ids >= written.logs.load(Ordering::Relaxed)
        {
            break;
        }
        if elapsed > deadline {
            println!("-- deadline reached --");
            break;
        }
    }
    writer.await??;
    for (_, worker) in workers {
        worker.shutdown().await?;
    }

    let written_logs = written.logs.load(Ordering::Relaxed);
    let not_utf8 = written.not_utf8.load(Ordering::Relaxed);
    let table = sink.table_counts().await?;
    let check = check_rows(&sink, written_logs).await?;
    let positions_at_end = positions_at_end(&hub, &sink).await?;
    let counts = sink.counts();
    println!();
    println!("logs written:          {written_logs} ({not_utf8} with text that is not UTF-8)");
    println!("rows in the sink:      {}", table.rows);
    println!("distinct ids:          {}", table.distinct_ids);
    println!(
        "ids missing:           {} (ids 0..{written_logs} expected)",
        check.missing
    );
    println!(
        "not UTF-8, stored:     {} (byte for byte: {})",
        check.not_utf8, check.bytes_exact
    );
    println!(
        "transactions:          {} ({:.0} logs each on average)",
        counts.batches,
        counts.logs as f64 / counts.batches.max(1) as f64
    );
    println!(
        "re-deliveries avoided: {would_repeat} logs, summed over the {} crashes (at each, the group's checkpoints were that far behind the sink; the next owners started at the sink's positions)",
        CRASHES.len()
    );
    println!(
        "re-deliveries refused: {} stale writes, nothing written ({} commit answers lost)",
        counts.stale,
        flaky.lost.load(Ordering::Relaxed)
    );
    println!(
        "positions at the end:  {}",
        if positions_at_end {
            "every shard's end"
        } else {
            "NOT at the shards' ends"
        }
    );
    let ok = table.rows == written_logs
        && table.duplicates() == 0
        && check.missing == 0
        && check.not_utf8 == not_utf8
        && check.bytes_exact
        && positions_at_end;
    if !ok {
        println!("FAILED: not every log is in the sink exactly once");
    }
    println!("duplicates in the sink: {}", table.duplicates());
    Ok(ok)
}

/// For the shards a crashed consumer held: how many logs lie between the
/// group's checkpoint (or the shard's start) and the sink's position,
/// i.e. what a consumer starting from the checkpoint would read again.
async fn lag_of_checkpoints(hub: &FakeLogHub, sink: &SqliteSink, shards: &[u32]) -> Result<u64> {
    let client = hub.client();
    let checkpoints: BTreeMap<u32, Option<Cursor>> = hub
        .group_assignments(PROJECT, LOGSTORE, GROUP)
        .unwrap_or_default()
        .into_iter()
        .map(|a| (a.shard, a.checkpoint))
        .collect();
    let positions: BTreeMap<u32, Cursor> = sink.positions().await?.into_iter().collect();
    let mut logs = 0;
    for shard in shards {
        let Some(position) = positions.get(shard) else {
            continue;
        };
        let from = match checkpoints.get(shard).copied().flatten() {
            Some(checkpoint) => checkpoint,
            None => {
                client
                    .get_cursor(PROJECT, LOGSTORE, *shard, CursorPosition::Begin)
                    .await?
            }
        };
        let groups = from.distance_to(*position).unwrap_or(0).max(0) as u64;
        logs += groups * LOGS_PER_GROUP;
    }
    Ok(logs)
}

/// Whether every shard's stored position is the shard's end.
async fn positions_at_end(hub: &FakeLogHub, sink: &SqliteSink) -> Result<bool> {
    let positions = sink.positions().await?;
    let at_end = positions.len() == SHARDS as usize
        && positions
            .iter()
            .all(|(shard, cursor)| hub.end_cursor(PROJECT, LOGSTORE, *shard) == Some(*cursor));
    Ok(at_end)
}

/// What the rows hold, read back.
struct RowCheck {
    /// Ids in `0..written` with no row.
    missing: u64,
    /// Rows whose message is not UTF-8.
    not_utf8: u64,
    /// Whether each row's message is the one written for its id.
    bytes_exact: bool,
}

/// Reads every row back: ids, and messages compared byte for byte with
/// what the writer generated for that id.
async fn check_rows(sink: &SqliteSink, written: u64) -> Result<RowCheck> {
    let rows: Vec<(Vec<u8>, Vec<u8>)> = sink
        .with_db(|conn| {
            let mut query = conn.prepare("SELECT id, fields FROM logs")?;
            let rows = query.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            rows.collect()
        })
        .await?;
    // The writer's messages again, from the same seed.
    let mut text = MessyLogs::new(13);
    let expected: Vec<Vec<u8>> = (0..written)
        .map(|id| message(&order_log(id, &mut text).0).to_vec())
        .collect();
    let mut seen = BTreeSet::new();
    let mut not_utf8 = 0;
    let mut bytes_exact = true;
    for (id, fields) in rows {
        let log = Log::decode(fields.as_slice())?;
        let message = message(&log);
        not_utf8 += u64::from(std::str::from_utf8(message).is_err());
        let id: Option<u64> = std::str::from_utf8(&id).ok().and_then(|s| s.parse().ok());
        match id.and_then(|id| Some((id, expected.get(usize::try_from(id).ok()?)?))) {
            Some((id, want)) => {
                bytes_exact &= want.as_slice() == message;
                seen.insert(id);
            }
            None => bytes_exact = false,
        }
    }
    Ok(RowCheck {
        missing: written - seen.len() as u64,
        not_utf8,
        bytes_exact,
    })
}

fn message(log: &Log) -> &[u8] {
    log.contents
        .iter()
        .find(|c: &&LogContent| c.key == b"message")
        .map_or(&[][..], |c| c.value.as_slice())
}
