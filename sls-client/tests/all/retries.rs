//! The retry layer in the real stack: what is retried, how long it waits,
//! that a write which may have arrived is not repeated by default, and a
//! client derived with another policy.

use std::time::{Duration, Instant};

use serde_json::json;
use sls_client::retry::RetryPolicy;
use sls_client::{Error, ErrorCode, PutLogsRequest, Sent};
use sls_proto::LogGroup;
use sls_testkit::{CallKind, FakeLogHub, Fault, FaultPlan, FaultRule};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness::{self, Action, RawServer};

/// A server that fails the first two GETs with `status`/`code`, then
/// answers `[]`.
async fn failing_twice(status: u16, code: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_json(json!({"errorCode": code, "errorMessage": ""})),
        )
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn transient_failures_then_success() {
    let server = failing_twice(503, "ServerBusy").await;
    let client = harness::client(server.address());
    assert!(client.list_shards("proj", "app").await.unwrap().is_empty());
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
    // Every attempt is signed afresh: each carries its own Authorization.
    for request in server.received_requests().await.unwrap() {
        assert!(request.headers.contains_key("authorization"));
    }
}

#[tokio::test]
async fn throttling_backs_off_longer_than_server_errors() {
    // The harness policy: server errors wait 1 then 2 ms, throttling 20
    // then 40 ms (no jitter). Sleeps never end early, so the lower bound
    // is certain.
    let server = failing_twice(403, "ShardReadQuotaExceed").await;
    let started = Instant::now();
    harness::client(server.address())
        .list_shards("proj", "app")
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(60),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_put_that_may_have_arrived_is_not_retried_by_default() {
    let server = RawServer::start(|_| Action::Close).await;
    let client = harness::client(&server.address);
    let group = LogGroup::synthetic(3, 2);
    let err = client
        .put_logs(PutLogsRequest::from_group("proj", "app", &group))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                sent: Sent::Maybe,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(server.requests(), 1);

    // Opting in to duplicates retries it.
    let err = client
        .put_logs(PutLogsRequest::from_group("proj", "app", &group).retry_may_duplicate(true))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    assert_eq!(server.requests(), 1 + 4);
}

#[tokio::test]
async fn reads_are_retried_after_a_dropped_connection() {
    let server = RawServer::start(|n| {
        if n == 0 {
            Action::Close
        } else {
            Action::Json("[]")
        }
    })
    .await;
    let client = harness::client(&server.address);
    assert!(client.list_shards("proj", "app").await.unwrap().is_empty());
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn a_refused_connection_is_known_unsent() {
    // A port that was free a moment ago: nothing listens there now.
    let address = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let group = LogGroup::synthetic(1, 1);
    let err = harness::client(&address)
        .put_logs(PutLogsRequest::from_group("proj", "app", &group))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Transport { sent: Sent::No, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_client_without_retries_sends_one_request_where_the_default_sends_five() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .faults(FaultPlan::new().rule(
            FaultRule::new(Fault::error(500, "InternalServerError")).call(CallKind::ListShards),
        ))
        .start()
        .await
        .unwrap();
    // The default policy: 5 attempts.
    let client = hub.client();
    let err = client.list_shards("demo", "app").await.unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::InternalServerError));
    assert_eq!(hub.count(CallKind::ListShards), 5);

    let bare = client.with_retry_policy(RetryPolicy::never());
    let err = bare.list_shards("demo", "app").await.unwrap_err();
    assert_eq!(err.http_status(), Some(500), "{err}");
    assert_eq!(hub.count(CallKind::ListShards), 5 + 1);

    // And back: a policy of 4 attempts on the client without retries.
    let again = bare.with_retry_policy(harness::fast_retries());
    again.list_shards("demo", "app").await.unwrap_err();
    assert_eq!(hub.count(CallKind::ListShards), 5 + 1 + 4);

    // The derived clients sign as the original does (the fake checks
    // signatures, dates and keys), even with the original gone.
    drop(client);
    hub.set_faults(FaultPlan::new());
    assert_eq!(bare.list_shards("demo", "app").await.unwrap().len(), 1);
    assert_eq!(again.list_shards("demo", "app").await.unwrap().len(), 1);
    hub.shutdown().await;
}
