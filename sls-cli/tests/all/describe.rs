//! `sls shards`, `sls groups list` and `sls groups describe`.

use crate::harness::{GROUP, Hub};

/// Shard 0: groups at +0, +72 and +192 s, checkpoint at the second (lag
/// 120 s). Shard 1: one group at +10 s, never committed.
async fn lagging_hub() -> Hub {
    let hub = Hub::start(2, 3_600).await;
    hub.write(0, 0, 0).await;
    hub.write(1, 10, 1).await;
    hub.write(0, 72, 2).await;
    hub.write(0, 192, 3).await;
    hub.to_present();
    let cursor = hub.cursor_at(0, 72).await;
    hub.commit("c1", 0, cursor).await;
    hub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn describe_lag_is_end_time_minus_checkpoint_time() {
    let hub = lagging_hub().await;
    let doc = hub.json(&["groups", "describe", GROUP]).await;
    assert_eq!(doc["group"], GROUP);
    assert_eq!(doc["timeout_seconds"], 3_600);
    let s0 = &doc["shards"][0];
    assert_eq!(s0["shard"], 0);
    assert_eq!(s0["status"], "readwrite");
    assert_eq!(s0["checkpoint_time_unix"], hub.start + 72);
    assert_eq!(s0["end_time_unix"], hub.start + 192);
    assert_eq!(s0["lag_seconds"], 120);
    assert_eq!(s0["consumer"], "c1");
    assert_eq!(s0["owned"], true);
    assert!(s0["updated_ago_seconds"].as_i64().unwrap() >= 0);
    assert_eq!(
        s0["checkpoint"],
        hub.cursor_at(0, 72).await.to_string().as_str()
    );
    let s1 = &doc["shards"][1];
    assert_eq!(s1["checkpoint"], serde_json::Value::Null);
    assert_eq!(s1["lag_seconds"], serde_json::Value::Null);
    assert_eq!(s1["owned"], false);
    assert_eq!(s1["updated_at"], serde_json::Value::Null);
    assert_eq!(doc["summary"]["max_lag_seconds"], 120);
    assert_eq!(doc["summary"]["max_lag_shard"], 0);
    assert_eq!(doc["summary"]["unowned_shards"], serde_json::json!([1]));
    assert_eq!(doc["summary"]["consumers"], serde_json::json!(["c1"]));

    let table = hub.ok(&["groups", "describe", GROUP]).await;
    assert!(table.contains("2m behind"), "{table}");
    assert!(table.contains("(unowned)"), "{table}");
    assert!(table.contains("max lag: 2m behind (shard 0)"), "{table}");
    assert!(table.contains("unowned shards: 1 (1)"), "{table}");
    assert!(table.contains("consumers seen: 1 (c1)"), "{table}");
    let header = table.lines().next().unwrap();
    assert!(header.starts_with("SHARD  STATUS"), "{table}");
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_owner_is_marked() {
    // Committed at +192 s, ~10,000 s ago: past the 60 s timeout.
    let hub = Hub::start(1, 60).await;
    hub.write(0, 0, 0).await;
    hub.write(0, 192, 1).await;
    let cursor = hub.cursor_at(0, 0).await;
    hub.commit("c1", 0, cursor).await;
    let doc = hub.json(&["groups", "describe", GROUP]).await;
    assert_eq!(doc["shards"][0]["owned"], false);
    assert_eq!(doc["shards"][0]["consumer"], "c1");
    assert_eq!(doc["summary"]["consumers"], serde_json::json!([]));
    let table = hub.ok(&["groups", "describe", GROUP]).await;
    assert!(table.contains("(unowned; last c1)"), "{table}");
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_and_groups_list() {
    let hub = lagging_hub().await;
    let doc = hub.json(&["shards"]).await;
    let shards = doc["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 2);
    assert_eq!(shards[0]["begin_time_unix"], hub.start);
    assert_eq!(shards[0]["end_time_unix"], hub.start + 192);
    assert_eq!(shards[1]["begin_time_unix"], hub.start + 10);
    assert_eq!(shards[1]["status"], "readwrite");
    let rfc = shards[0]["begin_time"].as_str().unwrap();
    assert!(rfc.ends_with('Z') && rfc.contains('T'), "{rfc}");
    let table = hub.ok(&["shards"]).await;
    assert!(table.starts_with("SHARD  STATUS"), "{table}");

    let doc = hub.json(&["groups", "list"]).await;
    assert_eq!(
        doc["groups"],
        serde_json::json!([{"name": GROUP, "timeout_seconds": 3600, "in_order": false}])
    );
    let table = hub.ok(&["groups", "list"]).await;
    assert!(table.contains("etl    1h       no"), "{table}");
    hub.hub.shutdown().await;
}
