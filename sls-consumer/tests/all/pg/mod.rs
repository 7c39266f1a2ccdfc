//! Exactly once into PostgreSQL: [`sink::PgSink`] against a real server
//! that each test starts for itself ([`harness::PgCluster`]; skipped with
//! a message where PostgreSQL is not installed, failing instead under
//! `CI=true`).
//!
//! These tests run on real time, not tokio's paused clock: while a test
//! waits for the database's answer, a paused runtime is idle and jumps
//! its clock to the next timer, so heartbeats would time out during every
//! query. Intervals are short instead (200 ms heartbeats, a 1 s group
//! timeout), and the assertions wait for conditions, with generous limits.
//!
//! - `contract`: the sink's compare-and-set against concurrent writers.
//! - `crashes`: workers in this process crash and restart while a writer
//!   writes, and commit answers get lost.
//! - `processes`: consumer processes killed with SIGKILL and restarted.
//! - `throughput`: rows per second beside at-least-once (ignored).

mod contract;
mod crashes;
mod harness;
mod processes;
mod sink;
mod throughput;

use std::time::Duration;

use sls_client::PutLogsRequest;
use sls_client::retry::Backoff;
use sls_consumer::{AfterRetries, ConsumerConfig, ConsumerConfigBuilder, ErrorPolicy};
use sls_proto::LogGroup;
use tokio_postgres::Client;

use crate::harness::{LOGSTORE, PROJECT};

/// The heartbeat interval of these tests' workers.
const HEARTBEAT: Duration = Duration::from_millis(200);

/// How long a test waits for anything at most: far above what it needs.
const PATIENCE: Duration = Duration::from_secs(60);

/// Log `id`'s payload: bytes that are not UTF-8 (GBK "中文", a stray
/// 0xff), which the sink must store as they are.
/// A throwaway cluster with the sink's schema, a connection to it, and a
/// fake LogHub with `shards` shards; `None` where PostgreSQL is missing
/// (outside CI: the harness said how to install it).
async fn cluster_and_hub(
    shards: u32,
) -> Option<(harness::PgCluster, Client, sls_testkit::FakeLogHub)> {
    let cluster = harness::PgCluster::start(harness::Durability::Throwaway)?;
    let db = cluster.connect().await;
    db.batch_execute(sink::SCHEMA).await.unwrap();
    let hub = sls_testkit::FakeLogHub::builder()
        .logstore(PROJECT, LOGSTORE, shards)
        .start()
        .await
        .unwrap();
    Some((cluster, db, hub))
}

fn payload(id: u64) -> Vec<u8> {
    let mut bytes = vec![0xd6, 0xd0, 0xce, 0xc4, b' ', 0xff, b' '];
    bytes.extend_from_slice(id.to_string().as_bytes());
    bytes
}

/// A group of `per_group` logs numbered from `first`.
fn group(first: u64, per_group: u64) -> LogGroup {
    let mut builder = LogGroup::builder().topic("pg");
    for id in first..first + per_group {
        builder = builder.log(
            1_700_000_000,
            [
                ("id", id.to_string().into_bytes()),
                ("payload", payload(id)),
            ],
        );
    }
    builder.build()
}

/// Writes `groups` groups of `per_group` logs numbered from `first`
/// (load-balanced over the shards), `pause` apart; returns the next
/// number.
async fn write(
    client: &sls_client::Client,
    first: u64,
    groups: u64,
    per_group: u64,
    pause: Duration,
) -> u64 {
    let mut id = first;
    for _ in 0..groups {
        let group = group(id, per_group);
        client
            .put_logs(PutLogsRequest::from_group(PROJECT, LOGSTORE, &group))
            .await
            .expect("the fake LogHub takes the write");
        id += per_group;
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
    }
    id
}

/// A consumer of the tests' logstore, with short intervals; the group's
/// checkpoint is committed rarely, so that what the group alone would
/// re-deliver after a crash is much (the sink's position decides).
fn config(group: &str, consumer: &str) -> ConsumerConfigBuilder {
    ConsumerConfig::builder(PROJECT, LOGSTORE, group, consumer)
        .heartbeat_interval(HEARTBEAT)
        .heartbeat_timeout(Duration::from_secs(1))
        .fetch_interval(Duration::from_millis(20))
        .auto_commit_interval(Some(Duration::from_secs(60)))
}

/// Failed writes retried soon, and never skipped (a skipped batch would
/// be lost to the sink).
fn errors() -> ErrorPolicy {
    ErrorPolicy::new(
        3,
        Backoff::new(Duration::from_millis(20), Duration::from_millis(500)),
        AfterRetries::KeepRetrying,
    )
}

/// The number of rows in `logs`.
async fn rows(db: &Client) -> u64 {
    let count: i64 = db
        .query_one("SELECT count(*) FROM logs", &[])
        .await
        .expect("counting rows")
        .get(0);
    u64::try_from(count).expect("a count")
}

/// Waits until `logs` holds at least `total` rows; false after `limit`.
async fn wait_for_rows(db: &Client, total: u64, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while rows(db).await < total {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    true
}

/// Every log numbered `0..total` is in `logs` exactly once, with its
/// payload's bytes unchanged.
async fn assert_each_log_once(db: &Client, total: u64) {
    let row = db
        .query_one(
            "SELECT count(*), count(DISTINCT id), count(*) FILTER (WHERE id IS NULL), \
             coalesce(min(id), -1), coalesce(max(id), -1) FROM logs",
            &[],
        )
        .await
        .expect("summing up logs");
    let (count, distinct, no_id, min, max): (i64, i64, i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    let total = i64::try_from(total).expect("a small total");
    assert_eq!(no_id, 0, "rows without an id");
    assert_eq!(
        count - distinct,
        0,
        "duplicates: {count} rows, {distinct} ids"
    );
    assert_eq!(
        (count, min, max),
        (total, 0, total - 1),
        "rows, min id, max id"
    );
    let mut mismatches = 0;
    for row in db
        .query("SELECT id, payload FROM logs", &[])
        .await
        .expect("reading logs")
    {
        let (id, stored): (i64, Vec<u8>) = (row.get(0), row.get(1));
        if stored != payload(u64::try_from(id).expect("ids are positive")) {
            mismatches += 1;
        }
    }
    assert_eq!(
        mismatches, 0,
        "payloads stored differently from what was sent"
    );
}
