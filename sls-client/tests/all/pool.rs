//! Sequential calls reuse one keep-alive connection, across clones and
//! clients derived with another retry policy.

use crate::harness::{self, Action, RawServer};

#[tokio::test]
async fn sequential_calls_reuse_one_connection() {
    let server = RawServer::start(|_| Action::Json("[]")).await;
    let client = harness::client(&server.address);
    for _ in 0..20 {
        assert!(client.list_shards("proj", "app").await.unwrap().is_empty());
    }
    assert_eq!(server.requests(), 20);
    assert_eq!(server.connections(), 1);
    // Clones share the pool.
    let clone = client.clone();
    clone.list_shards("proj", "app").await.unwrap();
    assert_eq!(server.connections(), 1);
}

#[tokio::test]
async fn a_client_with_another_retry_policy_shares_the_pool() {
    let server = RawServer::start(|_| Action::Json("[]")).await;
    let client = harness::client(&server.address);
    client.list_shards("proj", "app").await.unwrap();
    let bare = client.with_retry_policy(sls_client::retry::RetryPolicy::never());
    // The derived client outlives the original, and keeps its connection.
    drop(client);
    for _ in 0..3 {
        assert!(bare.list_shards("proj", "app").await.unwrap().is_empty());
    }
    assert_eq!(server.requests(), 4);
    assert_eq!(server.connections(), 1);
}
