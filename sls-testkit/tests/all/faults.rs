//! Fault plans through a real client: errors, resets, truncated and
//! corrupted bodies, latency, hangs and throttling, each deterministic.

use std::time::{Duration, SystemTime};

use sls_client::retry::{Backoff, RetryPolicy};
use sls_client::{Error, ErrorCode, PullLogsRequest, PutLogsRequest, Sent};
use sls_proto::{Cursor, LogGroup};
use sls_testkit::{CallKind, Clock, FakeLogHub, Fault, FaultPlan, FaultRule};

fn fast_retries() -> RetryPolicy {
    RetryPolicy::new()
        .backoff(Backoff::new(Duration::from_millis(1), Duration::from_millis(2)).without_jitter())
        .budget(None)
}

async fn hub_with_data() -> (FakeLogHub, Cursor) {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    for _ in 0..3 {
        client
            .put_logs(PutLogsRequest::from_group(
                "demo",
                "app",
                &LogGroup::synthetic(10, 3),
            ))
            .await
            .unwrap();
    }
    let begin = client
        .get_cursor("demo", "app", 0, sls_client::CursorPosition::Begin)
        .await
        .unwrap();
    (hub, begin)
}

fn pull(begin: Cursor) -> PullLogsRequest {
    PullLogsRequest::new("demo", "app", 0, begin)
}

#[tokio::test]
async fn injected_errors_are_retried_and_logged() {
    let (hub, begin) = hub_with_data().await;
    hub.set_faults(
        FaultPlan::new().rule(
            FaultRule::new(Fault::error(503, "ServerBusy"))
                .call(CallKind::PullLogs)
                .next(2),
        ),
    );
    let client = hub
        .client_builder()
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    assert_eq!(client.pull_logs(pull(begin)).await.unwrap().count, 3);
    let pulls: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.call == Some(CallKind::PullLogs))
        .collect();
    assert_eq!(pulls.len(), 3);
    assert_eq!(
        pulls.iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(503), Some(503), Some(200)]
    );
    assert!(pulls[0].fault.is_some() && pulls[2].fault.is_none());
}

#[tokio::test]
async fn a_reset_put_is_not_stored_nor_blindly_retried() {
    let (hub, _) = hub_with_data().await;
    hub.set_faults(
        FaultPlan::new().rule(FaultRule::new(Fault::Reset).call(CallKind::PutLogs).next(1)),
    );
    let client = hub
        .client_builder()
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    let err = client
        .put_logs(PutLogsRequest::from_group(
            "demo",
            "app",
            &LogGroup::synthetic(1, 1),
        ))
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
    assert_eq!(hub.group_count("demo", "app", 0), Some(3));
    assert_eq!(hub.count(CallKind::PutLogs), 3 + 1);
}

#[tokio::test]
async fn truncated_and_corrupted_bodies_are_typed_errors_then_retried() {
    let (hub, begin) = hub_with_data().await;
    let never = hub
        .client_builder()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    hub.set_faults(
        FaultPlan::new().rule(
            FaultRule::new(Fault::TruncateBody)
                .call(CallKind::PullLogs)
                .next(1),
        ),
    );
    let err = never.pull_logs(pull(begin)).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    hub.set_faults(
        FaultPlan::new().rule(
            FaultRule::new(Fault::CorruptBody)
                .call(CallKind::PullLogs)
                .next(1),
        ),
    );
    let err = never.pull_logs(pull(begin)).await.unwrap_err();
    assert!(matches!(err, Error::Codec(_) | Error::Decode(_)), "{err}");
    // With retries, both heal.
    let client = hub
        .client_builder()
        .retry_policy(fast_retries())
        .build()
        .unwrap();
    hub.set_faults(
        FaultPlan::new()
            .rule(
                FaultRule::new(Fault::TruncateBody)
                    .call(CallKind::PullLogs)
                    .next(1),
            )
            .rule(
                FaultRule::new(Fault::CorruptBody)
                    .call(CallKind::PullLogs)
                    .next(1),
            ),
    );
    assert_eq!(client.pull_logs(pull(begin)).await.unwrap().count, 3);
}

#[tokio::test]
async fn a_truncated_empty_answer_is_a_done_call_with_its_answer_lost() {
    let (hub, _) = hub_with_data().await;
    let never = hub
        .client_builder()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    hub.set_faults(
        FaultPlan::new().rule(
            FaultRule::new(Fault::TruncateBody)
                .call(CallKind::CreateConsumerGroup)
                .next(1),
        ),
    );
    let group = sls_client::ConsumerGroup::new("etl", 60, false);
    let err = never
        .create_consumer_group("demo", "app", &group)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err}");
    // The group was created all the same.
    let again = never
        .create_consumer_group("demo", "app", &group)
        .await
        .unwrap_err();
    assert_eq!(
        again.error_code(),
        Some(ErrorCode::ConsumerGroupAlreadyExist),
        "{again}"
    );
}

#[tokio::test(start_paused = true)]
async fn latency_and_hangs_meet_the_client_timeout() {
    let (hub, begin) = hub_with_data().await;
    let client = hub
        .client_builder()
        .retry_policy(RetryPolicy::never())
        .attempt_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    hub.set_faults(
        FaultPlan::new().rule(FaultRule::new(Fault::Latency(Duration::from_secs(1))).next(1)),
    );
    assert_eq!(client.pull_logs(pull(begin)).await.unwrap().count, 3);
    hub.set_faults(
        FaultPlan::new().rule(FaultRule::new(Fault::Latency(Duration::from_secs(5))).next(1)),
    );
    assert!(matches!(
        client.pull_logs(pull(begin)).await.unwrap_err(),
        Error::Timeout(_)
    ));
    hub.set_faults(FaultPlan::new().rule(FaultRule::new(Fault::Hang).call(CallKind::PullLogs)));
    assert!(matches!(
        client.pull_logs(pull(begin)).await.unwrap_err(),
        Error::Timeout(_)
    ));
    // A hung request does not keep the server from stopping.
    hub.shutdown().await;
}

#[tokio::test]
async fn throttling_follows_the_server_clock() {
    let clock = Clock::manual(SystemTime::now());
    let hub = FakeLogHub::builder()
        .clock(clock.clone())
        .logstore("demo", "app", 1)
        .faults(
            FaultPlan::new()
                .rule(FaultRule::new(Fault::Throttle { per_second: 2 }).call(CallKind::PutLogs)),
        )
        .start()
        .await
        .unwrap();
    let client = hub
        .client_builder()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let put = || {
        client.put_logs(PutLogsRequest::from_group(
            "demo",
            "app",
            &LogGroup::synthetic(1, 1),
        ))
    };
    put().await.unwrap();
    put().await.unwrap();
    let err = put().await.unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::WriteQuotaExceed), "{err}");
    assert_eq!(err.retry_kind(), Some(sls_client::RetryKind::Throttling));
    clock.advance(Duration::from_secs(1));
    put().await.unwrap();
}

#[tokio::test]
async fn rules_can_target_one_consumer() {
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
    client
        .create_consumer_group(
            "demo",
            "app",
            &sls_client::ConsumerGroup::new("cg", 30, false),
        )
        .await
        .unwrap();
    hub.set_faults(
        FaultPlan::new().rule(
            FaultRule::new(Fault::error(500, "InternalServerError"))
                .call(CallKind::Heartbeat)
                .consumer("a"),
        ),
    );
    assert!(
        client
            .heartbeat("demo", "app", "cg", "a", &[])
            .await
            .is_err()
    );
    assert_eq!(
        client
            .heartbeat("demo", "app", "cg", "b", &[])
            .await
            .unwrap(),
        [0, 1]
    );
}
