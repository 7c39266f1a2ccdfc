//! The throughput quotas over HTTP, on the server's (paused) clock.

use std::time::Duration;

use sls_client::retry::RetryPolicy;
use sls_client::{CursorPosition, PullLogsRequest, PutLogsRequest};
use sls_proto::LogGroup;
use sls_testkit::{FakeLogHub, Quotas};

async fn hub(quotas: Quotas) -> (FakeLogHub, sls_client::Client) {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .quotas(quotas)
        .start()
        .await
        .unwrap();
    let client = hub.client().with_retry_policy(RetryPolicy::never());
    (hub, client)
}

fn group(bytes: usize) -> LogGroup {
    LogGroup::builder()
        .log(1_700_000_000, [("pad", "x".repeat(bytes))])
        .build()
}

#[tokio::test(start_paused = true)]
async fn pulls_past_the_shard_quota_get_403_until_the_bucket_refills() {
    let (hub, client) = hub(Quotas::off().shard_reads(Some(2))).await;
    let cursor = client
        .get_cursor("demo", "app", 0, CursorPosition::Begin)
        .await
        .unwrap();
    let pull = || client.pull_logs(PullLogsRequest::new("demo", "app", 0, cursor));
    pull().await.unwrap();
    pull().await.unwrap();
    let refused = pull().await.unwrap_err();
    assert_eq!(refused.http_status(), Some(403));
    assert_eq!(refused.code(), Some("ShardReadQuotaExceed"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    pull().await.unwrap();
    hub.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn read_bytes_count_the_compressed_body() {
    // 64 bytes a second; a pull of a compressible group of 64 KiB raw.
    let (hub, client) = hub(Quotas::off().shard_read_bytes(Some(64))).await;
    client
        .put_logs(PutLogsRequest::from_group("demo", "app", &group(64 << 10)))
        .await
        .unwrap();
    let cursor = client
        .get_cursor("demo", "app", 0, CursorPosition::Begin)
        .await
        .unwrap();
    let pull = || client.pull_logs(PullLogsRequest::new("demo", "app", 0, cursor));
    let pulled = pull().await.unwrap();
    let wire = pulled.compressed.len() as u64;
    assert!(wire < pulled.raw_size / 10, "{wire} of {}", pulled.raw_size);
    // The debt is the compressed body, less the second's worth held: it
    // is repaid in (wire - 64) / 64 s, not in 1024 s.
    assert!(wire > 64, "{wire}");
    assert!(pull().await.is_err());
    let repaid = Duration::from_secs_f64((wire.saturating_sub(64) as f64 / 64.0) + 0.01);
    tokio::time::sleep(repaid).await;
    pull().await.unwrap();
    hub.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_project_quota_and_the_write_quotas_have_their_codes() {
    let (hub, client) = hub(Quotas::off()
        .project_reads_per_minute(Some(60))
        .shard_writes(Some(1)))
    .await;
    let put = || client.put_logs(PutLogsRequest::from_group("demo", "app", &group(10)));
    put().await.unwrap();
    let refused = put().await.unwrap_err();
    assert_eq!(
        (refused.http_status(), refused.code()),
        (Some(403), Some("ShardWriteQuotaExceed"))
    );
    // The client's own policy retries a write refused for quota, and it
    // goes through once the bucket refills (nothing was stored twice).
    hub.client()
        .put_logs(PutLogsRequest::from_group("demo", "app", &group(10)))
        .await
        .unwrap();
    assert_eq!(hub.group_count("demo", "app", 0), Some(2));
    let cursor = client
        .get_cursor("demo", "app", 0, CursorPosition::Begin)
        .await
        .unwrap();
    let pull = || client.pull_logs(PullLogsRequest::new("demo", "app", 0, cursor));
    pull().await.unwrap();
    let refused = pull().await.unwrap_err();
    assert_eq!(
        (refused.http_status(), refused.code()),
        (Some(403), Some("ReadQuotaExceed"))
    );
    // Off: anything goes.
    hub.set_quotas(Quotas::off());
    for _ in 0..50 {
        pull().await.unwrap();
        put().await.unwrap();
    }
    hub.shutdown().await;
}
