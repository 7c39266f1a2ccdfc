//! The transactional-sink pattern: crashes and lost commit answers leave
//! every log in the sink exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_consumer::exactly_once::{ExactlyOnce, SinkWrite, TransactionalSink};
use sls_consumer::{Batch, ConsumerConfig, ProcessError, Worker};
use sls_proto::{ByteSlice, Cursor};
use sls_testkit::FakeLogHub;

use crate::harness::{self, GROUP, INTERVAL, LOGSTORE, PROJECT};

/// An in-memory "database": rows and positions change together under one
/// lock, as in a transaction.
#[derive(Default)]
struct Db {
    rows: Vec<u64>,
    positions: BTreeMap<u32, Cursor>,
}

#[derive(Clone, Default)]
struct MemorySink {
    db: Arc<Mutex<Db>>,
    /// This many writes commit, then fail as if the answer was lost.
    lost_answers: Arc<AtomicU32>,
}

impl TransactionalSink for MemorySink {
    async fn position(&mut self, shard: u32) -> Result<Option<Cursor>, ProcessError> {
        Ok(self.db.lock().unwrap().positions.get(&shard).copied())
    }

    async fn write(
        &mut self,
        batch: &Batch,
        expected: Option<Cursor>,
    ) -> Result<SinkWrite, ProcessError> {
        let mut db = self.db.lock().unwrap();
        let stored = db.positions.get(&batch.shard).copied();
        if stored != expected {
            return Ok(SinkWrite::Stale { stored });
        }
        for group in &batch.groups {
            for log in group.logs() {
                let id = log.get("id").and_then(|v| v.to_str().ok()?.parse().ok());
                db.rows.push(id.unwrap_or(u64::MAX));
            }
        }
        db.positions.insert(batch.shard, batch.next_cursor);
        drop(db);
        if self
            .lost_answers
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err("the commit's answer was lost".into());
        }
        Ok(SinkWrite::Written)
    }
}

/// `groups` per pull: consumers that cut pulls differently overlap each
/// other's batches, so the sink must write only the new part of one.
fn config(hub: &FakeLogHub, consumer: &str, groups: u32) -> ConsumerConfig {
    ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, consumer)
        .client(hub.client())
        .heartbeat_interval(INTERVAL)
        .heartbeat_timeout(INTERVAL * 3)
        .fetch_interval(Duration::from_millis(100))
        .max_fetch_groups(groups)
        // Rarely: a crash then re-delivers a lot, which the sink absorbs.
        .auto_commit_interval(Some(Duration::from_secs(60)))
        .build()
        .unwrap()
}

fn duplicates(rows: &[u64]) -> usize {
    rows.len() - rows.iter().collect::<BTreeSet<_>>().len()
}

#[tokio::test(start_paused = true)]
async fn crashes_and_lost_answers_leave_each_log_once() {
    let hub = harness::hub(2).await;
    let total = harness::write(&hub, 0, 20, 2).await;
    let sink = MemorySink::default();
    sink.lost_answers.store(2, Ordering::SeqCst);
    let rows = || sink.db.lock().unwrap().rows.len() as u64;

    // A reads part of the data, then crashes (dropped: nothing committed
    // to the group, which still points at the start).
    let a_sink = sink.clone();
    let a = Worker::start(config(&hub, "a", 2), move |_| {
        ExactlyOnce::new(a_sink.clone())
    })
    .await
    .unwrap();
    assert!(harness::wait_until(Duration::from_secs(30), || rows() >= total / 2).await);
    // Both lost answers were A's first writes: each batch, offered again,
    // was found in the sink and counted in the worker's metrics.
    let absorbed: u64 = a.metrics().shards.iter().map(|m| m.absorbed).sum();
    assert!(
        (2..=8).contains(&absorbed),
        "two batches of 1 or 2 groups of 2 logs: {absorbed}"
    );
    drop(a);
    let more = harness::write(&hub, total, 10, 2).await;

    // B takes over after the group timeout, from the sink's positions.
    let b_sink = sink.clone();
    let b = Worker::start(config(&hub, "b", 3), move |_| {
        ExactlyOnce::new(b_sink.clone())
    })
    .await
    .unwrap();
    assert!(
        harness::wait_until(Duration::from_secs(60), || rows() >= more).await,
        "{} of {more}",
        rows()
    );
    b.shutdown().await.unwrap();
    assert_eq!(
        sink.lost_answers.load(Ordering::SeqCst),
        0,
        "both lost answers happened (each then retried and refused as stale)"
    );
    let db = sink.db.lock().unwrap();
    assert_eq!(duplicates(&db.rows), 0, "duplicates in the sink");
    assert_eq!(db.rows.len() as u64, more);
    assert_eq!(
        db.rows.iter().copied().collect::<BTreeSet<_>>(),
        (0..more).collect::<BTreeSet<_>>()
    );
}

/// Without auto-commit the pattern saves each batch it holds, so the
/// group's checkpoint follows and a bounded replay ends.
#[tokio::test(start_paused = true)]
async fn without_auto_commit_a_bounded_replay_ends() {
    let hub = harness::hub(2).await;
    let total = harness::write(&hub, 0, 5, 2).await;
    let end_time = hub.clock().unix_seconds() + 1;
    let sink = MemorySink::default();
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, "a")
        .client(hub.client())
        .heartbeat_interval(INTERVAL)
        .auto_commit_interval(None)
        .end_time(end_time)
        .build()
        .unwrap();
    let shared = sink.clone();
    let mut worker = Worker::start(config, move |_| ExactlyOnce::new(shared.clone()))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), worker.replay_finished())
        .await
        .expect("the replay ends");
    worker.shutdown().await.unwrap();
    let db = sink.db.lock().unwrap();
    assert_eq!(db.rows.len() as u64, total);
    assert_eq!(duplicates(&db.rows), 0);
}
