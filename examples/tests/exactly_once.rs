//! The exactly-once example's SQLite sink (`examples/sqlite_sink.rs`):
//! its compare-and-set, and consumers crashing over it against the fake
//! LogHub on tokio's paused clock.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sls_client::{CursorPosition, PutLogsRequest};
use sls_consumer::exactly_once::{ExactlyOnce, SinkWrite, TransactionalSink};
use sls_consumer::{Batch, ConsumerConfig, StartPosition, Worker};
use sls_examples::sqlite_sink::SqliteSink;
use sls_proto::prost::Message;
use sls_proto::{Cursor, Log, LogGroup, LogGroupBytes, LogGroupListView};
use sls_testkit::FakeLogHub;

const PROJECT: &str = "demo";
const LOGSTORE: &str = "orders";
const GROUP: &str = "to-sqlite";

/// Log `id`'s message: "订单已支付" in GBK (not UTF-8) and the id for
/// every third log.
fn message(id: u64) -> Vec<u8> {
    if id % 3 == 0 {
        let mut text = b"\xb6\xa9\xb5\xa5\xd2\xd1\xd6\xa7\xb8\xb6 ".to_vec();
        text.extend_from_slice(id.to_string().as_bytes());
        text
    } else {
        format!("order {id}").into_bytes()
    }
}

fn log(id: u64) -> Log {
    Log::new(
        1_700_000_000,
        [
            ("id", id.to_string().into_bytes()),
            ("message", message(id)),
        ],
    )
}

/// A batch of one group holding logs `ids`, from `from` to `from + 1`.
fn batch(shard: u32, from: i64, ids: std::ops::Range<u64>) -> Batch {
    let group = ids
        .fold(LogGroup::builder(), |g, id| g.push(log(id)))
        .build();
    let bytes = LogGroupBytes::encode(&group);
    let cursor = Cursor::from_sequence(from);
    let groups = LogGroupListView::from_groups([&bytes]);
    Batch::new(shard, cursor, Cursor::from_sequence(from + 1), groups)
        .with_group_cursors(vec![cursor])
}

/// Every row's (shard, cursor, id, fields).
async fn rows(sink: &SqliteSink) -> Vec<(u32, String, Vec<u8>, Vec<u8>)> {
    sink.with_db(|conn| {
        let mut query =
            conn.prepare("SELECT shard, cursor, id, fields FROM logs ORDER BY rowid")?;
        let rows = query.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        rows.collect()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_write_from_the_wrong_position_writes_nothing() {
    let mut sink = SqliteSink::in_memory().unwrap();
    assert_eq!(sink.position(0).await.unwrap(), None);
    let first = batch(0, 100, 0..3);
    assert_eq!(sink.write(&first, None).await.unwrap(), SinkWrite::Written);
    let at = Some(Cursor::from_sequence(101));
    assert_eq!(sink.position(0).await.unwrap(), at);
    assert_eq!(
        sink.position(1).await.unwrap(),
        None,
        "positions are per shard"
    );

    // The same batch again (a re-delivery), and a batch whose writer
    // expected an older position: refused, with the stored position.
    assert_eq!(
        sink.write(&first, None).await.unwrap(),
        SinkWrite::Stale { stored: at }
    );
    let next = batch(0, 101, 3..5);
    assert_eq!(
        sink.write(&next, Some(Cursor::from_sequence(100)))
            .await
            .unwrap(),
        SinkWrite::Stale { stored: at }
    );
    assert_eq!(sink.counts().stale, 2);
    assert_eq!(
        sink.table_counts().await.unwrap().rows,
        3,
        "nothing written"
    );

    assert_eq!(sink.write(&next, at).await.unwrap(), SinkWrite::Written);
    assert_eq!(
        sink.position(0).await.unwrap(),
        Some(Cursor::from_sequence(102))
    );
    let counts = sink.counts();
    assert_eq!((counts.batches, counts.logs, counts.stale), (2, 5, 2));

    // Stored byte for byte, the group's cursor beside each log.
    let rows = rows(&sink).await;
    assert_eq!(rows.len(), 5);
    for (i, (shard, cursor, id, fields)) in rows.into_iter().enumerate() {
        let i = i as u64;
        assert_eq!(shard, 0);
        let group = if i < 3 { 100 } else { 101 };
        assert_eq!(cursor, Cursor::from_sequence(group).to_string());
        assert_eq!(id, i.to_string().into_bytes());
        assert_eq!(Log::decode(fields.as_slice()).unwrap(), log(i));
    }
    assert!(std::str::from_utf8(&message(0)).is_err(), "GBK is stored");
}

fn config(hub: &FakeLogHub, consumer: &str) -> ConsumerConfig {
    ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, consumer)
        .client(hub.client())
        .start_position(StartPosition::Begin)
        .heartbeat_interval(Duration::from_secs(1))
        .heartbeat_timeout(Duration::from_secs(3))
        .fetch_interval(Duration::from_millis(100))
        .max_fetch_groups(2)
        // The group's checkpoints stay behind the sink: a crash would
        // re-deliver everything read since the start.
        .auto_commit_interval(Some(Duration::from_secs(60)))
        .build()
        .unwrap()
}

async fn start(hub: &FakeLogHub, consumer: &str, sink: &SqliteSink) -> Worker {
    let sink = sink.clone();
    Worker::start(config(hub, consumer), move |_shard| {
        ExactlyOnce::new(sink.clone())
    })
    .await
    .unwrap()
}

/// Writes a group of 5 logs numbered from `first`.
async fn write(client: &sls_client::Client, first: u64) {
    let group = (first..first + 5)
        .fold(LogGroup::builder(), |g, id| g.push(log(id)))
        .build();
    client
        .put_logs(PutLogsRequest::from_group(PROJECT, LOGSTORE, &group))
        .await
        .unwrap();
}

/// Waits (in virtual time) until the sink holds `logs` logs.
async fn wait_for_logs(sink: &SqliteSink, logs: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while sink.counts().logs < logs {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {logs} logs in the sink",
            sink.counts().logs
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Once every shard is held again, drops the worker holding the most (a
/// crash: nothing committed to the group) and returns its name; asserts
/// that on those shards the group's checkpoints are behind the sink, so
/// that a consumer starting from them would write logs again.
async fn crash(workers: &mut Vec<(String, Worker)>, hub: &FakeLogHub, sink: &SqliteSink) -> String {
    let held = |workers: &Vec<(String, Worker)>| -> usize {
        workers.iter().map(|(_, w)| w.metrics().shards.len()).sum()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while held(workers) < 4 {
        assert!(tokio::time::Instant::now() < deadline, "shards not taken");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let index = (0..workers.len())
        .max_by_key(|i| workers[*i].1.metrics().shards.len())
        .unwrap();
    let (name, worker) = workers.remove(index);
    let held: Vec<u32> = worker.metrics().shards.iter().map(|m| m.shard).collect();
    drop(worker);
    assert!(!held.is_empty(), "{name} held shards");
    // Let a transaction in flight on the blocking pool land.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let checkpoints: BTreeMap<u32, Option<Cursor>> = hub
        .group_assignments(PROJECT, LOGSTORE, GROUP)
        .unwrap()
        .into_iter()
        .map(|a| (a.shard, a.checkpoint))
        .collect();
    let positions: BTreeMap<u32, Cursor> = sink.positions().await.unwrap().into_iter().collect();
    let mut behind = 0;
    for shard in held {
        let begin = hub
            .client()
            .get_cursor(PROJECT, LOGSTORE, shard, CursorPosition::Begin)
            .await
            .unwrap();
        let checkpoint = checkpoints[&shard].unwrap_or(begin);
        if let Some(position) = positions.get(&shard) {
            behind += checkpoint.distance_to(*position).unwrap();
        }
    }
    assert!(
        behind > 0,
        "the group's checkpoints are behind the sink by {behind} groups"
    );
    name
}

#[tokio::test(start_paused = true)]
async fn crashes_leave_every_log_in_sqlite_once() {
    let hub = FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, 4)
        .start()
        .await
        .unwrap();
    let sink = SqliteSink::in_memory().unwrap();
    // The writer: a group of 5 logs every 100 ms for 20 s.
    let writer = {
        let client = hub.client();
        tokio::spawn(async move {
            let mut next = 0;
            for _ in 0..200 {
                write(&client, next).await;
                next += 5;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            next
        })
    };
    let mut workers = vec![
        ("a".to_owned(), start(&hub, "a", &sink).await),
        ("b".to_owned(), start(&hub, "b", &sink).await),
    ];
    let started = tokio::time::Instant::now();

    // Crashes mid-stream: restarted at once under the same name, replaced
    // by another consumer (shards move after the group's timeout), and
    // restarted under the same name again.
    for (at, then) in [(5, None), (10, Some("c")), (15, None)] {
        tokio::time::sleep_until(started + Duration::from_secs(at)).await;
        let before = sink.counts().logs;
        let name = crash(&mut workers, &hub, &sink).await;
        let then = then.unwrap_or(&name).to_owned();
        workers.push((then.clone(), start(&hub, &then, &sink).await));
        assert!(before > 0 && !writer.is_finished(), "mid-stream");
    }
    let total = writer.await.unwrap();
    wait_for_logs(&sink, total).await;
    for (_, worker) in workers {
        worker.shutdown().await.unwrap();
    }

    let table = sink.table_counts().await.unwrap();
    assert_eq!(table.duplicates(), 0, "duplicates in the sink");
    assert_eq!(table.rows, total);
    let rows = rows(&sink).await;
    let ids: BTreeSet<u64> = rows
        .iter()
        .map(|(_, _, id, _)| std::str::from_utf8(id).unwrap().parse().unwrap())
        .collect();
    assert_eq!(ids, (0..total).collect::<BTreeSet<_>>(), "every log");
    for (_, _, id, fields) in &rows {
        let id = std::str::from_utf8(id).unwrap().parse().unwrap();
        assert_eq!(Log::decode(fields.as_slice()).unwrap(), log(id));
    }
    let positions = sink.positions().await.unwrap();
    assert_eq!(positions.len(), 4);
    for (shard, position) in positions {
        assert_eq!(hub.end_cursor(PROJECT, LOGSTORE, shard), Some(position));
    }
}
