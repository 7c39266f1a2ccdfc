//! The service's limits on names and counts, with its codes and statuses.

use sls_client::retry::RetryPolicy;
use sls_client::{ConsumerGroup, ErrorCode, Logstore};
use sls_testkit::FakeLogHub;

async fn hub() -> (FakeLogHub, sls_client::Client) {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 2)
        .start()
        .await
        .unwrap();
    let client = hub
        .client_builder()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    (hub, client)
}

fn group(name: &str) -> ConsumerGroup {
    ConsumerGroup::new(name, 30, false)
}

fn assert_refused(err: &sls_client::Error, status: u16, code: ErrorCode) {
    assert_eq!(err.error_code(), Some(code), "{err}");
    assert_eq!(err.http_status(), Some(status), "{err}");
}

#[tokio::test]
async fn consumer_group_names_the_service_refuses_are_refused() {
    let (hub, client) = hub().await;
    for name in ["bad name/?", "g", "", "a/b", "grüppe", &"g".repeat(129)] {
        let err = client
            .create_consumer_group("demo", "app", &group(name))
            .await
            .unwrap_err();
        assert_refused(&err, 400, ErrorCode::ParameterInvalid);
    }
    assert_eq!(hub.group_consumers("demo", "app", "bad name/?"), None);
    // What the official SDKs' docs and examples use is taken.
    for name in ["consumerGroupX", "syc_data", "consumer-group-1", "cg"] {
        client
            .create_consumer_group("demo", "app", &group(name))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn the_31st_consumer_group_is_refused() {
    let (_hub, client) = hub().await;
    for i in 0..30 {
        client
            .create_consumer_group("demo", "app", &group(&format!("group-{i}")))
            .await
            .unwrap();
    }
    let err = client
        .create_consumer_group("demo", "app", &group("group-30"))
        .await
        .unwrap_err();
    assert_refused(&err, 403, ErrorCode::ConsumerGroupQuotaExceed);
    // An existing name is still answered as existing, and room made by a
    // delete is usable again.
    let err = client
        .create_consumer_group("demo", "app", &group("group-0"))
        .await
        .unwrap_err();
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::ConsumerGroupAlreadyExist),
        "{err}"
    );
    client
        .delete_consumer_group("demo", "app", "group-0")
        .await
        .unwrap();
    client
        .create_consumer_group("demo", "app", &group("group-30"))
        .await
        .unwrap();
    assert_eq!(
        client
            .list_consumer_groups("demo", "app")
            .await
            .unwrap()
            .len(),
        30
    );
}

#[tokio::test]
async fn logstore_names_and_ttls_the_service_refuses_are_refused() {
    let (_hub, client) = hub().await;
    for name in ["ab", "App", "my.store", "_store", "store-", &"s".repeat(64)] {
        let err = client
            .create_logstore("demo", &Logstore::new(name, 1, 1))
            .await
            .unwrap_err();
        assert_refused(&err, 400, ErrorCode::ParameterInvalid);
    }
    for ttl in [0, 3651] {
        let err = client
            .create_logstore("demo", &Logstore::new("web", ttl, 1))
            .await
            .unwrap_err();
        assert_refused(&err, 400, ErrorCode::ParameterInvalid);
    }
    client
        .create_logstore("demo", &Logstore::new("access_log-2", 3650, 1))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_project_holds_at_most_200_logstores_and_400_shards() {
    let (_hub, client) = hub().await;
    // "app" has 2 shards: 199 more logstores of 2 fill both quotas.
    for i in 0..199 {
        client
            .create_logstore("demo", &Logstore::new(format!("store-{i}"), 1, 2))
            .await
            .unwrap();
    }
    let err = client
        .create_logstore("demo", &Logstore::new("one-more", 1, 1))
        .await
        .unwrap_err();
    assert_refused(&err, 403, ErrorCode::ProjectQuotaExceed);
    client.delete_logstore("demo", "store-0").await.unwrap();
    // 398 read-write shards left: 3 more do not fit, 1 does, and then
    // one split (a net one more) fits and a second does not.
    let err = client
        .create_logstore("demo", &Logstore::new("wide", 1, 3))
        .await
        .unwrap_err();
    assert_refused(&err, 403, ErrorCode::ProjectQuotaExceed);
    client
        .create_logstore("demo", &Logstore::new("wide", 1, 1))
        .await
        .unwrap();
    let split = client
        .split_shard("demo", "wide", 0, "7fffffffffffffffffffffffffffffff")
        .await
        .unwrap();
    let err = client
        .split_shard(
            "demo",
            "wide",
            split[1].shard_id,
            "3fffffffffffffffffffffffffffffff",
        )
        .await
        .unwrap_err();
    assert_refused(&err, 403, ErrorCode::ProjectQuotaExceed);
}

#[tokio::test]
async fn consumer_names_with_control_characters_are_refused() {
    let (_hub, client) = hub().await;
    client
        .create_consumer_group("demo", "app", &group("etl"))
        .await
        .unwrap();
    let err = client
        .heartbeat("demo", "app", "etl", "bad\nconsumer", &[])
        .await
        .unwrap_err();
    assert_refused(&err, 400, ErrorCode::ParameterInvalid);
    client
        .heartbeat("demo", "app", "etl", "host.example.com-4242", &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn the_builder_refuses_names_the_service_would() {
    for builder in [
        FakeLogHub::builder().project("p"),
        FakeLogHub::builder().logstore("demo", "Bad", 1),
        FakeLogHub::builder()
            .logstore("demo", "app", 1)
            .consumer_group("demo", "app", "bad name/?", 30, false),
    ] {
        let err = builder.start().await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    }
}
