//! Manual checkpoints: a processor that writes each batch to its own sink
//! and commits the checkpoint only once the write is durable; when the
//! sink fails, it rolls back and reads the batch again. Auto-commit is off,
//! so a checkpoint never gets ahead of the sink.
//!
//! Runs against an in-process fake LogHub; the sink fails every fifth
//! write. At the end every log is in the sink exactly once.
//!
//! Run: `cargo run --release --example manual_checkpoint`
//! (`SLS_EXAMPLE_SHORT=1` for a smaller data set).

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_client::PutLogsRequest;
use sls_consumer::{
    Batch, Checkpoint, ConsumerConfig, Decision, ProcessError, Processor, StartPosition, Worker,
};
use sls_proto::sample::AccessLogs;
use sls_testkit::FakeLogHub;

/// A stand-in for a database: writes are all-or-nothing, and every fifth
/// one fails.
#[derive(Clone, Default)]
struct Sink {
    rows: Arc<Mutex<Vec<Vec<u8>>>>,
    writes: Arc<Mutex<u64>>,
}

impl Sink {
    async fn write(&self, rows: Vec<Vec<u8>>) -> Result<(), &'static str> {
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut writes = self.writes.lock().expect("not poisoned");
        *writes += 1;
        if *writes % 5 == 0 {
            return Err("sink unavailable");
        }
        self.rows.lock().expect("not poisoned").extend(rows);
        Ok(())
    }
}

struct Durable {
    sink: Sink,
    rollbacks: Arc<Mutex<u64>>,
}

impl Processor for Durable {
    async fn process(
        &mut self,
        batch: &Batch,
        checkpoint: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        let rows: Vec<Vec<u8>> = batch
            .groups
            .groups()
            .flat_map(|g| {
                g.logs()
                    .filter_map(|l| l.get("request_id").map(|id| id.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        match self.sink.write(rows).await {
            Ok(()) => {
                // Durable: now the checkpoint may move past this batch.
                checkpoint.save_now().await?;
                Ok(Decision::Continue)
            }
            Err(reason) => {
                *self.rollbacks.lock().expect("not poisoned") += 1;
                eprintln!("shard {}: {reason}; reading the batch again", batch.shard);
                Ok(Decision::RollBack(batch.cursor))
            }
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    sls_examples::print_warnings();
    sls_examples::exit_code("manual_checkpoint", run().await)
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let hub = FakeLogHub::builder()
        .logstore("demo", "orders", 2)
        .start()
        .await?;
    let client = hub.client();
    let groups = if std::env::var_os("SLS_EXAMPLE_SHORT").is_some() {
        20
    } else {
        200
    };
    let mut logs = AccessLogs::new(5);
    for _ in 0..groups {
        client
            .put_logs(PutLogsRequest::from_group(
                "demo",
                "orders",
                &logs.group(50),
            ))
            .await?;
    }
    let written = groups * 50;
    let config = ConsumerConfig::builder("demo", "orders", "sink-writer", "writer-1")
        .client(hub.client())
        .start_position(StartPosition::Begin)
        .heartbeat_interval(Duration::from_secs(1))
        .max_fetch_groups(2)
        .auto_commit_interval(None)
        .build()?;
    let sink = Sink::default();
    let rollbacks = Arc::new(Mutex::new(0));
    let (s, r) = (sink.clone(), rollbacks.clone());
    let worker = Worker::start(config, move |_| Durable {
        sink: s.clone(),
        rollbacks: r.clone(),
    })
    .await?;
    while sink.rows.lock().map(|rows| rows.len()).unwrap_or(0) < written {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let report = worker.shutdown().await?;
    let rows = sink
        .rows
        .lock()
        .map(|rows| rows.clone())
        .unwrap_or_default();
    let distinct: HashSet<&Vec<u8>> = rows.iter().collect();
    println!("logs written:   {written}");
    println!(
        "rows in sink:   {} ({} distinct)",
        rows.len(),
        distinct.len()
    );
    println!(
        "rollbacks:      {}",
        rollbacks.lock().map(|r| *r).unwrap_or(0)
    );
    for (shard, summary) in &report.shards {
        println!(
            "shard {shard}: committed {:?} = end {:?}",
            summary.committed,
            hub.end_cursor("demo", "orders", *shard)
        );
    }
    let ok = rows.len() == written && distinct.len() == written;
    println!(
        "{}",
        if ok {
            "OK: every log in the sink exactly once"
        } else {
            "FAILED"
        }
    );
    Ok(ok)
}
