//! The request log stays bounded; its counts stay exact.

use sls_client::CursorPosition;
use sls_testkit::{CallKind, FakeLogHub, Fault, FaultPlan, FaultRule};

#[tokio::test]
async fn the_log_keeps_the_last_requests_and_counts_them_all() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .request_log_capacity(4)
        .faults(
            FaultPlan::new().rule(
                FaultRule::new(Fault::error(500, "InternalServerError"))
                    .call(CallKind::ListShards)
                    .next(1),
            ),
        )
        .start()
        .await
        .unwrap();
    let client = hub.client();
    for _ in 0..10 {
        client
            .get_cursor("demo", "app", 0, CursorPosition::End)
            .await
            .unwrap();
    }
    // The first ListShards fails (injected) and is retried.
    client.list_shards("demo", "app").await.unwrap();
    client.list_shards("demo", "nope").await.unwrap_err();

    let kept = hub.requests();
    assert_eq!(kept.len(), 4);
    let calls: Vec<_> = kept.iter().map(|r| (r.call, r.status)).collect();
    assert_eq!(
        calls,
        [
            (Some(CallKind::GetCursor), Some(200)),
            (Some(CallKind::ListShards), Some(500)),
            (Some(CallKind::ListShards), Some(200)),
            (Some(CallKind::ListShards), Some(404)),
        ]
    );
    let counts = hub.request_counts();
    assert_eq!(counts.total, 13);
    assert_eq!(counts.call(CallKind::GetCursor), 10);
    assert_eq!(hub.count(CallKind::GetCursor), 10);
    assert_eq!(counts.call(CallKind::ListShards), 3);
    assert_eq!(counts.faults, 1);
    assert_eq!(counts.evicted, 9);
    assert_eq!(counts.by_status.get(&200), Some(&11));
    assert_eq!(counts.errors(), 2);
}
