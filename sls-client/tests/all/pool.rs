//! Sequential calls reuse one keep-alive connection.

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
