//! How requests are routed: the spellings official clients send, paths
//! the service lacks, bad shard ids, and what the request log records of
//! each call.

use http::Method;
use sls_client::retry::RetryPolicy;
use sls_client::{CheckpointUpdate, Client, ErrorCode, PutLogsRequest, SlsRequest};
use sls_proto::{CompressType, Cursor, LogGroup, LogGroupBytes};
use sls_testkit::{CallKind, FakeLogHub};

/// A hub with `demo`/`app` (2 shards, three groups in shard 0) and the
/// consumer group `etl`, and a client that does not retry.
async fn hub() -> (FakeLogHub, Client) {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 2)
        .consumer_group("demo", "app", "etl", 60, false)
        .start()
        .await
        .unwrap();
    let client = hub
        .client_builder()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    for n in 1..=3 {
        client
            .put_logs(
                PutLogsRequest::from_group("demo", "app", &LogGroup::synthetic(n, 1))
                    .hash_key("00000000000000000000000000000000"),
            )
            .await
            .unwrap();
    }
    (hub, client)
}

fn get(path: &str, query: &[(&str, String)]) -> SlsRequest {
    query.iter().fold(
        SlsRequest::new(Method::GET, Some("demo"), path),
        |request, (key, value)| request.query(*key, value.clone()),
    )
}

/// The `x-log-count` of a pull.
async fn pulled_groups(client: &Client, query: &[(&str, String)]) -> u64 {
    let response = client
        .send(get("/logstores/app/shards/0", query))
        .await
        .unwrap();
    response.headers()["x-log-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn pulls_take_both_spellings_of_type_and_end_cursor() {
    let (_hub, client) = hub().await;
    let begin = crate::begin(&client).await;
    let second = Cursor::from_sequence(begin.sequence() + 2);
    for kind in ["log", "logs"] {
        let query = [
            ("type", kind.to_owned()),
            ("count", "10".to_owned()),
            ("cursor", begin.to_string()),
        ];
        assert_eq!(pulled_groups(&client, &query).await, 3, "type={kind}");
        for end in ["end_cursor", "endCursor"] {
            let mut bounded = query.to_vec();
            bounded.push((end, second.to_string()));
            assert_eq!(pulled_groups(&client, &bounded).await, 2, "{end}");
        }
    }
}

#[tokio::test]
async fn force_success_is_read_in_any_case() {
    let (_hub, client) = hub().await;
    for consumer in ["a", "b"] {
        client
            .heartbeat("demo", "app", "etl", consumer, &[])
            .await
            .unwrap();
    }
    let begin = crate::begin(&client).await;
    let body = serde_json::json!({"shard": 0, "checkpoint": begin.to_string()});
    let checkpoint = |force: &str| {
        SlsRequest::new(
            Method::POST,
            Some("demo"),
            "/logstores/app/consumergroups/etl",
        )
        .query("type", "checkpoint")
        .query("consumer", "b")
        .query("forceSuccess", force)
        .header(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        )
        .body(serde_json::to_vec(&body).unwrap())
    };
    let err = client.send(checkpoint("false")).await.unwrap_err();
    assert!(
        err.error_code() == Some(ErrorCode::ConsumerNotMatch),
        "{err}"
    );
    for force in ["true", "True", "TRUE"] {
        client.send(checkpoint(force)).await.unwrap();
    }
}

#[tokio::test]
async fn paths_the_service_lacks_and_bad_shard_ids() {
    let (hub, client) = hub().await;
    let cursor = [("type", "cursor".to_owned()), ("from", "begin".to_owned())];
    for path in [
        "/logstores/app/shards/x",
        "/logstores/app/shards/-1",
        "/logstores/app/shards/4294967296",
        "/logstores/app/shards/0/more",
        "/nothing",
    ] {
        let err = client.send(get(path, &cursor)).await.unwrap_err();
        assert_eq!(err.http_status(), Some(404), "{path}: {err}");
        assert!(
            err.error_code() == Some(ErrorCode::InvalidRequestURI),
            "{path}: {err}"
        );
    }
    let err = client
        .send(get("/logstores/app/shards/0", &[("type", "nope".into())]))
        .await
        .unwrap_err();
    assert!(
        err.error_code() == Some(ErrorCode::InvalidRequestURI),
        "{err}"
    );
    // A shard in GetCheckPoint's query is checked by the handler.
    let err = client
        .send(get(
            "/logstores/app/consumergroups/etl",
            &[("shard", "x".into())],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(400), "{err}");
    assert!(
        err.error_code() == Some(ErrorCode::ParameterInvalid),
        "{err}"
    );
    let records = hub.requests();
    let last = records.last().unwrap();
    assert_eq!(
        (last.call, last.shard, last.status),
        (Some(CallKind::GetCheckpoints), None, Some(400))
    );
}

#[tokio::test]
async fn the_log_records_the_shard_and_consumer_of_each_call() {
    let (hub, client) = hub().await;
    let begin = crate::begin(&client).await;
    client
        .heartbeat("demo", "app", "etl", "a", &[])
        .await
        .unwrap();
    client
        .update_checkpoint("demo", "app", "etl", "a", CheckpointUpdate::new(0, begin))
        .await
        .unwrap();
    client
        .get_checkpoints("demo", "app", "etl", Some(1))
        .await
        .unwrap();
    client
        .split_shard("demo", "app", 1, "c0000000000000000000000000000000")
        .await
        .unwrap();
    let seen: Vec<_> = hub
        .requests()
        .into_iter()
        .skip(3)
        .map(|r| (r.call.unwrap(), r.shard, r.consumer))
        .collect();
    assert_eq!(
        seen,
        [
            (CallKind::GetCursor, Some(0), None),
            (CallKind::Heartbeat, None, Some("a".to_owned())),
            (CallKind::UpdateCheckpoint, Some(0), Some("a".to_owned())),
            (CallKind::GetCheckpoints, Some(1), None),
            (CallKind::SplitShard, Some(1), None),
        ]
    );
}

#[tokio::test]
async fn put_logs_takes_all_three_routes_whatever_the_logstore_is_called() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "route", 2)
        .start()
        .await
        .unwrap();
    let client = hub
        .client_builder()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let raw = LogGroupBytes::encode(&LogGroup::synthetic(1, 1));
    let put = |path: &str| {
        SlsRequest::new(Method::POST, Some("demo"), path)
            .header(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/x-protobuf"),
            )
            .header(
                http::HeaderName::from_static("x-log-bodyrawsize"),
                raw.as_bytes().len().into(),
            )
            .header(
                http::HeaderName::from_static("x-log-compresstype"),
                http::HeaderValue::from_static("lz4"),
            )
            .body(CompressType::Lz4.compress(raw.as_bytes()).unwrap())
    };
    client.send(put("/logstores/route")).await.unwrap();
    client
        .send(put("/logstores/route/shards/lb"))
        .await
        .unwrap();
    let err = client
        .send(put("/logstores/route/shards/route"))
        .await
        .unwrap_err();
    assert!(
        err.error_code() == Some(ErrorCode::ParameterInvalid),
        "{err}"
    );
    client
        .send(put("/logstores/route/shards/route").query("key", "f0000000000000000000000000000000"))
        .await
        .unwrap();
    let stored = |shard| hub.group_count("demo", "route", shard).unwrap();
    assert_eq!(stored(0) + stored(1), 3);
    assert_eq!(hub.count(CallKind::PutLogs), 4);
}
