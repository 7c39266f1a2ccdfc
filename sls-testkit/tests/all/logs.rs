//! PutLogs then PullLogs: what is written is read back, in order, with the
//! cursors and headers the protocol describes.

use std::time::Duration;

use sls_client::{CursorPosition, ErrorCode, PullLogsRequest, PutLogsRequest};
use sls_proto::sample::AccessLogs;
use sls_proto::{CompressType, Cursor, LogGroup};
use sls_testkit::FakeLogHub;

const FIRST_HALF: &str = "00000000000000000000000000000000";
const SECOND_HALF: &str = "80000000000000000000000000000000";

#[tokio::test]
async fn written_groups_are_pulled_back_in_order() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 2)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    let mut logs = AccessLogs::new(1);
    let groups: Vec<LogGroup> = (0..5).map(|_| logs.group(20)).collect();
    for (i, group) in groups.iter().enumerate() {
        let codec = [
            CompressType::Lz4,
            CompressType::Zstd,
            CompressType::Deflate,
            CompressType::None,
        ][i % 4];
        client
            .put_logs(
                PutLogsRequest::from_group("demo", "app", group)
                    .hash_key(FIRST_HALF)
                    .compression(codec),
            )
            .await
            .unwrap();
    }
    assert_eq!(hub.group_count("demo", "app", 0), Some(5));
    assert_eq!(hub.group_count("demo", "app", 1), Some(0));

    let begin = crate::begin(&client).await;
    let first = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).count(3))
        .await
        .unwrap();
    assert_eq!(first.count, 3);
    assert!(!first.end_of_cursor);
    assert_eq!(first.groups.to_message().log_groups, groups[..3]);
    assert_eq!(first.read_last_cursor, begin.checked_add(2));
    assert_eq!(first.next_cursor, begin.checked_add(3).unwrap());
    let cursors = first.group_cursors().unwrap();
    assert_eq!(cursors, [0, 1, 2].map(|i| begin.checked_add(i).unwrap()));

    let rest = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, first.next_cursor))
        .await
        .unwrap();
    assert_eq!(rest.groups.to_message().log_groups, groups[3..]);
    assert!(rest.end_of_cursor);
    let end = client
        .get_cursor("demo", "app", 0, CursorPosition::End)
        .await
        .unwrap();
    assert_eq!(rest.next_cursor, end);
    assert_eq!(hub.end_cursor("demo", "app", 0), Some(end));

    // At the end: nothing, and the same cursor back.
    let empty = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, end))
        .await
        .unwrap();
    assert_eq!((empty.count, empty.next_cursor), (0, end));
    assert_eq!(empty.read_last_cursor, None);

    // end_cursor stops early.
    let bounded = client
        .pull_logs(
            PullLogsRequest::new("demo", "app", 0, begin).end_cursor(begin.checked_add(2).unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(bounded.count, 2);
}

#[tokio::test]
async fn load_balanced_writes_round_robin_and_hash_keys_route() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 2)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    let group = LogGroup::synthetic(1, 1);
    for _ in 0..4 {
        client
            .put_logs(PutLogsRequest::from_group("demo", "app", &group))
            .await
            .unwrap();
    }
    assert_eq!(hub.group_count("demo", "app", 0), Some(2));
    assert_eq!(hub.group_count("demo", "app", 1), Some(2));
    client
        .put_logs(PutLogsRequest::from_group("demo", "app", &group).hash_key(SECOND_HALF))
        .await
        .unwrap();
    assert_eq!(hub.group_count("demo", "app", 1), Some(3));
    // The legacy route, POST /logstores/{ls}, is load-balanced too.
    let body = CompressType::Lz4
        .compress(sls_proto::LogGroupBytes::encode(&group).as_bytes())
        .unwrap();
    let raw_len = sls_proto::LogGroupBytes::encode(&group).as_bytes().len();
    let request = sls_client::SlsRequest::new(http::Method::POST, Some("demo"), "/logstores/app")
        .header(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/x-protobuf"),
        )
        .header(
            http::HeaderName::from_static("x-log-bodyrawsize"),
            raw_len.into(),
        )
        .header(
            http::HeaderName::from_static("x-log-compresstype"),
            http::HeaderValue::from_static("lz4"),
        )
        .body(body);
    client.send(request).await.unwrap();
    assert_eq!(
        hub.group_count("demo", "app", 0).unwrap() + hub.group_count("demo", "app", 1).unwrap(),
        6
    );
}

#[tokio::test(start_paused = true)]
async fn cursors_by_time_follow_the_server_clock() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    let t0 = hub.clock().unix_seconds();
    let group = LogGroup::synthetic(1, 1);
    for _ in 0..3 {
        client
            .put_logs(PutLogsRequest::from_group("demo", "app", &group))
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(60)).await;
    }
    let begin = crate::begin(&client).await;
    let at = |t| client.get_cursor("demo", "app", 0, CursorPosition::At(t));
    assert_eq!(at(t0).await.unwrap(), begin);
    assert_eq!(at(t0 + 1).await.unwrap(), begin.checked_add(1).unwrap());
    assert_eq!(at(t0 + 120).await.unwrap(), begin.checked_add(2).unwrap());
    assert_eq!(
        at(t0 + 10_000).await.unwrap(),
        begin.checked_add(3).unwrap()
    );
    assert_eq!(
        client
            .get_cursor_time("demo", "app", 0, begin.checked_add(1).unwrap())
            .await
            .unwrap(),
        t0 + 60
    );
    let pulled = client
        .pull_logs(PullLogsRequest::new(
            "demo",
            "app",
            0,
            begin.checked_add(2).unwrap(),
        ))
        .await
        .unwrap();
    assert_eq!(pulled.cursor_time, Some(t0 + 120));
}

#[tokio::test]
async fn a_pull_serves_many_stored_groups_as_one_valid_lz4_body() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    let mut logs = AccessLogs::new(3);
    let groups: Vec<LogGroup> = (0..40).map(|i| logs.group(1 + i * 7)).collect();
    for group in &groups {
        client
            .put_logs(PutLogsRequest::from_group("demo", "app", group))
            .await
            .unwrap();
    }
    let begin = crate::begin(&client).await;
    let pulled = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin))
        .await
        .unwrap();
    assert_eq!(pulled.compress_type, CompressType::Lz4);
    assert_eq!(pulled.groups.to_message().log_groups, groups);
    assert!(
        pulled.compressed.len() * 2 < pulled.raw_size as usize,
        "served compressed"
    );
    let _ = Cursor::from_sequence(0);
}

#[tokio::test]
async fn logstores_are_created_listed_read_and_deleted() {
    let hub = FakeLogHub::builder().project("demo").start().await.unwrap();
    let client = hub.client();
    let store = sls_client::Logstore::new("web", 7, 3);
    client.create_logstore("demo", &store).await.unwrap();
    let err = client.create_logstore("demo", &store).await.unwrap_err();
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::LogStoreAlreadyExist),
        "{err}"
    );
    assert_eq!(client.get_logstore("demo", "web").await.unwrap(), store);
    assert_eq!(client.list_logstores("demo").await.unwrap(), ["web"]);
    assert_eq!(client.list_shards("demo", "web").await.unwrap().len(), 3);
    client.delete_logstore("demo", "web").await.unwrap();
    let err = client.get_logstore("demo", "web").await.unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::LogStoreNotExist), "{err}");
}

#[tokio::test]
async fn retention_drops_old_groups_by_the_server_clock() {
    let clock = sls_testkit::Clock::manual(std::time::SystemTime::now());
    let hub = FakeLogHub::builder()
        .clock(clock.clone())
        .project("demo")
        .start()
        .await
        .unwrap();
    let client = hub.client();
    client
        .create_logstore("demo", &sls_client::Logstore::new("short", 1, 1))
        .await
        .unwrap();
    let put = || {
        client.put_logs(PutLogsRequest::from_group(
            "demo",
            "short",
            &LogGroup::synthetic(1, 1),
        ))
    };
    put().await.unwrap();
    let old = client
        .get_cursor("demo", "short", 0, CursorPosition::Begin)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(86_400 - 10));
    put().await.unwrap();
    clock.advance(Duration::from_secs(20));
    // The first group is now older than a day.
    let begin = client
        .get_cursor("demo", "short", 0, CursorPosition::Begin)
        .await
        .unwrap();
    assert_eq!(begin, old.checked_add(1).unwrap());
    let err = client
        .pull_logs(PullLogsRequest::new("demo", "short", 0, old))
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::InvalidCursor), "{err}");
    assert_eq!(
        client
            .pull_logs(PullLogsRequest::new("demo", "short", 0, begin))
            .await
            .unwrap()
            .count,
        1
    );
}
