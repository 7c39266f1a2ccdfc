//! Workers of this process crash (dropped without shutdown) and restart
//! while a writer writes and the answers of some commits are lost: every
//! log lands in PostgreSQL exactly once.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use sls_consumer::Worker;
use sls_consumer::exactly_once::ExactlyOnce;

use super::sink::{PgSink, SinkStats};
use super::{PATIENCE, assert_each_log_once, config, errors, rows, wait_for_rows, write};
use crate::harness::{GROUP, LOGSTORE, PROJECT};

const SHARDS: u32 = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashes_restarts_and_lost_answers_leave_each_log_once() {
    let began = Instant::now();
    let Some((cluster, db, hub)) = super::cluster_and_hub(SHARDS).await else {
        return;
    };
    let writer = {
        let client = hub.client();
        tokio::spawn(async move { write(&client, 0, 300, 5, Duration::from_millis(10)).await })
    };

    let stats = Arc::new(SinkStats::default());
    let commits = Arc::new(AtomicU64::new(0));
    let start = |name: String| {
        let (db, stats, commits) = (cluster.config(), stats.clone(), commits.clone());
        let config = config(GROUP, &name)
            .client(hub.client())
            .max_fetch_groups(3)
            .error_policy(errors())
            .build()
            .unwrap();
        Worker::start(config, move |_shard| {
            ExactlyOnce::new(
                PgSink::new(db.clone(), stats.clone()).losing_answers(7, commits.clone()),
            )
        })
    };

    // Two to three workers at a time; at seeded random moments one of
    // them crashes (most often) or stops cleanly, and another starts.
    let mut rng = fastrand::Rng::with_seed(13);
    let mut workers = Vec::new();
    let (mut crashes, mut shutdowns) = (0, 0);
    for round in 0..10 {
        workers.push(start(format!("c{round}")).await.unwrap());
        tokio::time::sleep(Duration::from_millis(rng.u64(200..800))).await;
        if workers.len() > 2 || rng.bool() {
            let worker = workers.swap_remove(rng.usize(..workers.len()));
            if rng.u8(..4) == 0 {
                worker.shutdown().await.unwrap();
                shutdowns += 1;
            } else {
                drop(worker);
                crashes += 1;
            }
        }
    }
    let total = writer.await.unwrap();
    workers.push(start("last".into()).await.unwrap());
    assert!(
        wait_for_rows(&db, total, PATIENCE).await,
        "{} of {total} rows",
        rows(&db).await
    );
    for worker in workers {
        worker.shutdown().await.unwrap();
    }
    assert_each_log_once(&db, total).await;
    for shard in 0..SHARDS {
        let stored: String = db
            .query_one(
                "SELECT cursor FROM positions WHERE shard = $1",
                &[&i64::from(shard)],
            )
            .await
            .unwrap()
            .get(0);
        let end = hub.end_cursor(PROJECT, LOGSTORE, shard).unwrap();
        assert_eq!(
            stored,
            end.to_string(),
            "shard {shard}'s position is its end"
        );
    }
    let lost = SinkStats::get(&stats.lost_answers);
    let stale = SinkStats::get(&stats.stale_batches);
    eprintln!(
        "{total} logs exactly once in {:.1?}: {crashes} crashes, {shutdowns} clean stops; \
         {} transactions; {lost} commit answers lost; {stale} re-delivered batches \
         ({} logs) refused by the compare-and-set",
        began.elapsed(),
        SinkStats::get(&stats.batches),
        SinkStats::get(&stats.stale_rows),
    );
    assert!(crashes >= 3, "the schedule crashes workers ({crashes})");
    assert!(lost > 0, "answers were lost");
    // A lost answer's retry is refused as stale, unless its worker
    // crashed before it retried.
    assert!(stale > 0, "re-deliveries were absorbed");
}
