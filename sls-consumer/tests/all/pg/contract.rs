//! The sink's contract on a real server, without a worker: of writers
//! racing with the same expected position exactly one commits, and a
//! write from a stale position changes nothing.

use std::sync::Arc;

use sls_consumer::Batch;
use sls_consumer::exactly_once::{SinkWrite, TransactionalSink};
use sls_proto::{Cursor, LogGroupBytes, LogGroupListView};

use super::harness::{Durability, PgCluster};
use super::sink::{PgSink, SCHEMA, SinkStats};
use super::{assert_each_log_once, group, rows};

/// Shard 0's batch of 2 groups of 3 logs, numbered from `first`, from
/// sequence `at`.
fn batch(first: u64, at: i64) -> Batch {
    let groups = [
        LogGroupBytes::encode(&group(first, 3)),
        LogGroupBytes::encode(&group(first + 3, 3)),
    ];
    let groups = LogGroupListView::from_groups(&groups);
    Batch::new(
        0,
        Cursor::from_sequence(at),
        Cursor::from_sequence(at + 2),
        groups,
    )
    .with_group_cursors(vec![
        Cursor::from_sequence(at),
        Cursor::from_sequence(at + 1),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_of_racing_writers_commits_and_stale_ones_change_nothing() {
    let Some(cluster) = PgCluster::start(Durability::Throwaway) else {
        return;
    };
    let db = cluster.connect().await;
    db.batch_execute(SCHEMA).await.unwrap();
    let stats = Arc::new(SinkStats::default());
    let sink = || PgSink::new(cluster.config(), stats.clone());

    let mut first = sink();
    assert_eq!(first.position(0).await.unwrap(), None);

    // Eight writers with the same batch, each on its own connection:
    // first with no position stored (the INSERT path), then from the
    // position the winner stored (the UPDATE path).
    for (round, expected) in [(0u64, None), (1, Some(Cursor::from_sequence(2)))] {
        let at = 2 * i64::try_from(round).unwrap();
        let writers = (0..8).map(|_| {
            let mut sink = sink();
            tokio::spawn(async move { sink.write(&batch(6 * round, at), expected).await })
        });
        let mut written = 0;
        for writer in writers.collect::<Vec<_>>() {
            match writer.await.unwrap().unwrap() {
                SinkWrite::Written => written += 1,
                SinkWrite::Stale { stored } => {
                    assert_eq!(stored, Some(Cursor::from_sequence(at + 2)));
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(written, 1, "round {round}: exactly one writer commits");
    }
    assert_eq!(rows(&db).await, 12);
    assert_eq!(
        first.position(0).await.unwrap(),
        Some(Cursor::from_sequence(4))
    );

    // A late writer (it expects a position the shard has left, or none)
    // and a retried write whose commit had landed: nothing changes.
    for expected in [
        None,
        Some(Cursor::from_sequence(0)),
        Some(Cursor::from_sequence(2)),
    ] {
        assert_eq!(
            first.write(&batch(0, 0), expected).await.unwrap(),
            SinkWrite::Stale {
                stored: Some(Cursor::from_sequence(4))
            }
        );
    }
    assert_each_log_once(&db, 12).await;
    // Each log's group cursor, and the bytes as they came.
    let cursors: Vec<(i64, String)> = db
        .query(
            "SELECT id, cursor FROM logs WHERE id IN (0, 3) ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        cursors,
        [
            (0, Cursor::from_sequence(0).to_string()),
            (3, Cursor::from_sequence(1).to_string())
        ]
    );
    assert_eq!(SinkStats::get(&stats.batches), 2);
    assert_eq!(SinkStats::get(&stats.stale_batches), 14 + 3);
}
