//! Text is bytes: GBK, Latin-1 and binary keys, values, tags, topic and
//! source are taken by PutLogs and served by PullLogs byte for byte, read
//! owned and through the view; groups up to the service's 5 MB are taken
//! and served whole, and larger ones refused as the service refuses them.

use http::{HeaderName, HeaderValue, Method};
use sls_client::retry::RetryPolicy;
use sls_client::{Client, ErrorCode, PullLogsRequest, PullLogsResponse, PutLogsRequest};
use sls_client::{MAX_GROUP_BYTES, SlsRequest};
use sls_proto::prost::Message;
use sls_proto::sample::MessyLogs;
use sls_proto::{BStr, ByteSlice, CompressType, LogGroup, LogGroupBytes, LogGroupList};
use sls_testkit::{CallKind, FakeLogHub};

/// "日志" in GBK.
const GBK: &[u8] = b"\xc8\xd5\xd6\xbe";
/// "Zürich" in Latin-1.
const LATIN1: &[u8] = b"Z\xfcrich";
/// Binary, with bytes that look like protobuf keys and lengths.
const BINARY: &[u8] = b"\x00\xff\xfe\x80\x0a\x12\x00";

/// A group with text of every kind in every string position.
fn every_position() -> LogGroup {
    LogGroup::builder()
        .topic(GBK)
        .source(LATIN1)
        .category(BINARY)
        .machine_uuid(GBK)
        .tag(GBK, LATIN1)
        .tag(BINARY, GBK)
        .tag(LATIN1, BINARY)
        .log(
            1_700_000_000,
            [
                (GBK, LATIN1),
                (LATIN1, BINARY),
                (BINARY, GBK),
                ("message".as_bytes(), "日志 ok".as_bytes()),
            ],
        )
        .build()
}

async fn one_shard_hub() -> FakeLogHub {
    FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap()
}

/// Everything in shard 0, pulled from the beginning with `codec`.
async fn pull_all(client: &Client, codec: CompressType) -> PullLogsResponse {
    let begin = crate::begin(client).await;
    client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).accept_encoding(codec))
        .await
        .unwrap()
}

/// The pulled groups are the written ones, byte for byte: each group's
/// encoded bytes, the owned decoding of the body, the view's conversion
/// and its accessors.
fn assert_byte_exact(pulled: &PullLogsResponse, written: &[LogGroup]) {
    assert_eq!(pulled.count, written.len());
    let expected = LogGroupList {
        log_groups: written.to_vec(),
    };
    assert_eq!(pulled.groups.as_bytes()[..], expected.encode_to_vec()[..]);
    assert_eq!(
        LogGroupList::decode(pulled.groups.as_bytes().clone()).unwrap(),
        expected
    );
    assert_eq!(pulled.groups.to_message(), expected);
    for (view, owned) in pulled.groups.groups().zip(written) {
        assert_eq!(view.encoded(), LogGroupBytes::encode(owned).into_bytes());
        let bytes = |s: Option<&BStr>| s.map(|s| s.to_vec());
        assert_eq!(bytes(view.topic()), owned.topic);
        assert_eq!(bytes(view.source()), owned.source);
        assert_eq!(bytes(view.category()), owned.category);
        assert_eq!(bytes(view.machine_uuid()), owned.machine_uuid);
        let tags: Vec<_> = view.tags().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        let owned_tags: Vec<_> = owned
            .log_tags
            .iter()
            .map(|t| (t.key.clone(), t.value.clone()))
            .collect();
        assert_eq!(tags, owned_tags);
        for (log, owned) in view.logs().zip(&owned.logs) {
            let contents: Vec<_> = log
                .contents()
                .map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect();
            let owned_contents: Vec<_> = owned
                .contents
                .iter()
                .map(|c| (c.key.clone(), c.value.clone()))
                .collect();
            assert_eq!(contents, owned_contents);
        }
    }
}

#[tokio::test]
async fn every_encoding_in_every_position_comes_back_byte_for_byte() {
    let hub = one_shard_hub().await;
    let client = hub.client();
    let mut written = vec![every_position()];
    written.extend(MessyLogs::new(5).list(8, 40).log_groups);
    // Sanity: the data does hold what the test is about.
    assert!(
        written
            .iter()
            .flat_map(|g| &g.logs)
            .flat_map(|l| &l.contents)
            .any(|c| { c.key.to_str().is_err() && c.value.contains(&0x00) })
    );
    for (i, group) in written.iter().enumerate() {
        let codec = CompressType::ALL[i % CompressType::ALL.len()];
        client
            .put_logs(PutLogsRequest::from_group("demo", "app", group).compression(codec))
            .await
            .unwrap();
    }
    for codec in CompressType::ALL {
        let pulled = pull_all(&client, codec).await;
        assert_byte_exact(&pulled, &written);
    }

    // The view's own access to the first group's text.
    let pulled = pull_all(&client, CompressType::Lz4).await;
    let group = pulled.groups.groups().next().unwrap();
    assert_eq!(group.topic().unwrap(), GBK);
    assert!(group.topic().unwrap().to_str().is_err());
    assert!(group.topic().unwrap().to_str_lossy().contains('\u{fffd}'));
    let log = group.logs().next().unwrap();
    assert_eq!(log.get(GBK).unwrap(), LATIN1);
    assert_eq!(log.get(LATIN1).unwrap(), BINARY);
    assert_eq!(log.get(BINARY).unwrap(), GBK);
    assert_eq!(log.get("message").unwrap(), "日志 ok");
    assert_eq!(log.get("message").unwrap().to_str(), Ok("日志 ok"));
    hub.shutdown().await;
}

/// A PutLogs request with `body` sent as is (no client-side checks).
fn raw_put(body: Vec<u8>, raw_size: usize) -> SlsRequest {
    SlsRequest::new(Method::POST, Some("demo"), "/logstores/app/shards/lb")
        .header(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        )
        .header(
            HeaderName::from_static("x-log-compresstype"),
            HeaderValue::from_static("lz4"),
        )
        .header(
            HeaderName::from_static("x-log-bodyrawsize"),
            raw_size.into(),
        )
        .body(body)
}

#[tokio::test]
async fn groups_of_one_to_five_megabytes_are_taken_and_served_whole() {
    let hub = one_shard_hub().await;
    let client = hub.client();
    let sizes = [1 << 20, 3 << 20, MAX_GROUP_BYTES - (64 << 10)];
    let written: Vec<LogGroup> = sizes
        .iter()
        .enumerate()
        .map(|(seed, &size)| MessyLogs::new(seed as u64).group_of_size(size))
        .collect();
    for (group, size) in written.iter().zip(sizes) {
        let len = group.encoded_len();
        assert!((size..=MAX_GROUP_BYTES).contains(&len), "{size}: {len}");
        assert!(group.logs.len() <= 4096);
        client
            .put_logs(PutLogsRequest::from_group("demo", "app", group))
            .await
            .unwrap();
    }
    let pulled = pull_all(&client, CompressType::Lz4).await;
    assert!(pulled.raw_size >= sizes.iter().sum::<usize>() as u64);
    assert_byte_exact(&pulled, &written);
    hub.shutdown().await;
}

#[tokio::test]
async fn groups_over_the_limits_are_refused_whole() {
    let hub = one_shard_hub().await;
    let client = hub
        .client_builder()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap();
    let too_big = MessyLogs::new(1).group_of_size(MAX_GROUP_BYTES + 1);
    let raw = too_big.encode_to_vec();
    assert!(raw.len() > MAX_GROUP_BYTES && too_big.logs.len() <= 4096);

    // Our client refuses it before sending.
    let err = client
        .put_logs(PutLogsRequest::from_group("demo", "app", &too_big))
        .await
        .unwrap_err();
    assert!(
        matches!(err, sls_client::Error::InvalidArgument(_)),
        "{err}"
    );
    assert_eq!(hub.count(CallKind::PutLogs), 0);

    // Sent anyway, the server refuses it as the service does.
    let body = CompressType::Lz4.compress(&raw).unwrap();
    let err = client.send(raw_put(body, raw.len())).await.unwrap_err();
    assert_eq!(err.http_status(), Some(400), "{err}");
    assert_eq!(err.error_code(), Some(ErrorCode::PostBodyTooLarge), "{err}");

    // 4097 small logs: the count limit, same answer.
    let many = MessyLogs::new(2).value_len(4).group(4097);
    let raw = many.encode_to_vec();
    assert!(raw.len() < MAX_GROUP_BYTES);
    let body = CompressType::Lz4.compress(&raw).unwrap();
    let err = client.send(raw_put(body, raw.len())).await.unwrap_err();
    assert_eq!(err.http_status(), Some(400), "{err}");
    assert_eq!(err.error_code(), Some(ErrorCode::PostBodyTooLarge), "{err}");

    // A body over 10 MB as sent: 413.
    let mut noise = vec![0u8; (10 << 20) + 1];
    fastrand::Rng::with_seed(3).fill(&mut noise);
    let err = client.send(raw_put(noise, 1)).await.unwrap_err();
    assert_eq!(err.http_status(), Some(413), "{err}");
    assert_eq!(err.error_code(), Some(ErrorCode::PostBodyTooLarge), "{err}");

    assert_eq!(hub.group_count("demo", "app", 0), Some(0));
    hub.shutdown().await;
}
