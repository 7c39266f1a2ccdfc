//! `sls groups reset`: dry run, execute, refusal, export and undo, and a
//! consumer resuming where the reset put it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sls_consumer::{Batch, ConsumerConfig, ProcessError, StartPosition, Worker, processor_fn};
use sls_proto::ByteSlice;

use crate::harness::{GROUP, Hub, LOGSTORE, PROJECT};

/// One shard with groups (ids 0, 1, 2) at +0, +100 and +200 s, committed
/// at +0 by `c1` long ago (past the group's 60 s timeout).
async fn hub() -> Hub {
    let hub = Hub::start(1, 60).await;
    hub.write(0, 0, 0).await;
    hub.write(0, 100, 1).await;
    hub.write(0, 200, 2).await;
    let cursor = hub.cursor_at(0, 0).await;
    hub.commit("c1", 0, cursor).await;
    hub.to_present();
    hub
}

/// A consumer of [`GROUP`] recording the ids it is given, in order.
async fn consumer(hub: &Hub, name: &str, ids: &Arc<Mutex<Vec<u64>>>) -> Worker {
    let config = ConsumerConfig::builder(PROJECT, LOGSTORE, GROUP, name)
        .client(hub.client())
        // Were the checkpoint ignored, nothing would be read.
        .start_position(StartPosition::End)
        .heartbeat_interval(Duration::from_millis(500))
        // Live is judged on this machine's clock against checkpoint times
        // on the hub's (moved by hand, so behind by however long the test
        // has run): a long timeout keeps a running consumer live however
        // slow the machine.
        .heartbeat_timeout(Duration::from_secs(60))
        .fetch_interval(Duration::from_millis(50))
        .auto_commit_interval(Some(Duration::from_millis(100)))
        .build()
        .unwrap();
    let ids = ids.clone();
    Worker::start(config, move |_shard| {
        let ids = ids.clone();
        processor_fn(move |batch: Batch| {
            let ids = ids.clone();
            async move {
                let mut ids = ids.lock().unwrap();
                for group in &batch.groups {
                    for log in group.logs() {
                        let id = log.get("id").and_then(|v| v.to_str().ok()?.parse().ok());
                        ids.push(id.unwrap_or(u64::MAX));
                    }
                }
                Ok::<(), ProcessError>(())
            }
        })
    })
    .await
    .unwrap()
}

/// Waits (bounded) until `done` holds.
async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    for _ in 0..600 {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_changes_nothing() {
    let hub = hub().await;
    let before = hub.checkpoints().await;
    let run = hub.sls(&["groups", "reset", GROUP, "--to-latest"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("dry run: nothing changed"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.starts_with("SHARD  CURRENT"), "{}", run.stdout);
    let doc = hub
        .json(&["groups", "reset", GROUP, "--by-duration", "1h"])
        .await;
    assert_eq!(doc["executed"], false);
    assert_eq!(doc["after"], serde_json::Value::Null);
    assert_eq!(doc["plan"][0]["current_time_unix"], hub.start);
    assert_eq!(hub.checkpoints().await, before);
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_moves_the_checkpoint_and_a_consumer_resumes_there() {
    let hub = hub().await;
    let at = (hub.start + 100).to_string();
    let doc = hub
        .json(&["groups", "reset", GROUP, "--to-datetime", &at, "--execute"])
        .await;
    assert_eq!(doc["executed"], true);
    assert_eq!(doc["plan"][0]["current_time_unix"], hub.start);
    assert_eq!(doc["plan"][0]["new_time_unix"], hub.start + 100);
    let moved = hub.cursor_at(0, 100).await;
    assert_eq!(doc["after"][0]["checkpoint"], moved.to_string().as_str());
    assert_eq!(doc["after"][0]["checkpoint_time_unix"], hub.start + 100);
    assert_eq!(hub.cursors().await, vec![(0, Some(moved))]);

    // Written by sls-cli: no owner, so describe shows none.
    let described = hub.json(&["groups", "describe", GROUP]).await;
    assert_eq!(described["shards"][0]["owned"], false);
    assert_eq!(described["shards"][0]["lag_seconds"], 100);

    let ids = Arc::new(Mutex::new(Vec::new()));
    let worker = consumer(&hub, "w1", &ids).await;
    until("the consumer to read both groups", async || {
        ids.lock().unwrap().len() >= 2
    })
    .await;
    worker.shutdown().await.unwrap();
    // The first log it read is the one received at the reset time.
    assert_eq!(*ids.lock().unwrap(), vec![1, 2]);
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execute_is_refused_while_a_consumer_is_live() {
    let hub = Hub::start(1, 3_600).await;
    hub.write(0, 0, 0).await;
    hub.to_present();
    let ids = Arc::new(Mutex::new(Vec::new()));
    let cursor = hub.cursor_at(0, 0).await;
    hub.commit("seed", 0, cursor).await;
    let worker = consumer(&hub, "w1", &ids).await;
    until("the consumer to commit", async || {
        hub.checkpoints().await[0].consumer == "w1"
    })
    .await;
    let before = hub.cursors().await;
    let run = hub
        .sls(&["groups", "reset", GROUP, "--to-earliest", "--execute"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("sls: refusing to reset group etl: consumer w1 is live on shard 0"),
        "{}",
        run.stderr
    );
    assert_eq!(hub.cursors().await, before);
    // The dry run says so too.
    let run = hub.sls(&["groups", "reset", GROUP, "--to-earliest"]).await;
    assert_eq!(run.code, 0);
    assert!(
        run.stdout.contains("consumer w1 is live on shard 0"),
        "{}",
        run.stdout
    );
    // --force overrides.
    let run = hub
        .sls(&[
            "groups",
            "reset",
            GROUP,
            "--to-earliest",
            "--execute",
            "--force",
        ])
        .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    worker.shutdown().await.unwrap();
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_from_file_restores_the_exact_cursors() {
    let hub = Hub::start(2, 60).await;
    hub.write(0, 0, 0).await;
    hub.write(1, 5, 1).await;
    hub.write(0, 100, 2).await;
    hub.write(1, 105, 3).await;
    let c0 = hub.cursor_at(0, 100).await;
    let c1 = hub.cursor_at(1, 0).await;
    hub.commit("c1", 0, c0).await;
    hub.commit("c1", 1, c1).await;
    hub.to_present();
    let original = hub.cursors().await;
    assert_eq!(original, vec![(0, Some(c0)), (1, Some(c1))]);

    let dir = std::env::temp_dir().join(format!("sls-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("etl.csv");
    let path = file.to_str().unwrap();
    hub.ok(&[
        "groups",
        "reset",
        GROUP,
        "--to-latest",
        "--execute",
        "--export",
        path,
    ])
    .await;
    assert_ne!(hub.cursors().await, original);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("shard,cursor,time\n0,"), "{text}");

    // One shard alone first, then all.
    hub.ok(&[
        "groups",
        "reset",
        GROUP,
        "--from-file",
        path,
        "--shard",
        "1",
        "--execute",
    ])
    .await;
    assert_eq!(hub.cursors().await[1], (1, Some(c1)));
    assert_ne!(hub.cursors().await[0], (0, Some(c0)));
    hub.ok(&["groups", "reset", GROUP, "--from-file", path, "--execute"])
        .await;
    assert_eq!(hub.cursors().await, original);
    std::fs::remove_dir_all(&dir).unwrap();
    hub.hub.shutdown().await;
}
