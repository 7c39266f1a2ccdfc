//! Error paths, with the service's statuses and codes.

use std::time::{Duration, SystemTime};

use http::{HeaderName, HeaderValue, Method};
use sls_client::retry::RetryPolicy;
use sls_client::{Credentials, CursorPosition, ErrorCode, PullLogsRequest, SlsRequest};
use sls_proto::{CompressType, Cursor, LogGroup, LogGroupBytes};
use sls_testkit::FakeLogHub;

async fn hub() -> FakeLogHub {
    FakeLogHub::builder()
        .logstore("demo", "app", 2)
        .start()
        .await
        .unwrap()
}

fn no_retries(hub: &FakeLogHub) -> sls_client::Client {
    hub.client_builder()
        .retry_policy(RetryPolicy::never())
        .build()
        .unwrap()
}

#[tokio::test]
async fn unknown_project_logstore_and_shard() {
    let hub = hub().await;
    let client = hub.client();
    for (result, status, code) in [
        (
            client.list_shards("nope", "app").await,
            404,
            ErrorCode::ProjectNotExist,
        ),
        (
            client.list_shards("demo", "nope").await,
            404,
            ErrorCode::LogStoreNotExist,
        ),
        (
            client
                .split_shard("demo", "app", 9, "40000000000000000000000000000000")
                .await,
            404,
            ErrorCode::ShardNotExist,
        ),
    ] {
        let err = result.unwrap_err();
        assert_eq!(err.http_status(), Some(status), "{err}");
        assert_eq!(err.error_code(), Some(code), "{err}");
        assert!(err.request_id().is_some_and(|id| id.starts_with("FAKE")));
    }
    let err = client
        .get_cursor("demo", "app", 7, CursorPosition::Begin)
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::ShardNotExist), "{err}");
}

#[tokio::test]
async fn bad_cursors_are_refused() {
    let hub = hub().await;
    let client = hub.client();
    let other_shard = client
        .get_cursor("demo", "app", 1, CursorPosition::Begin)
        .await
        .unwrap();
    for cursor in [
        other_shard,
        Cursor::from_sequence(0),
        Cursor::from_sequence(i64::MAX),
    ] {
        let err = client
            .pull_logs(PullLogsRequest::new("demo", "app", 0, cursor))
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), Some(400));
        assert_eq!(err.error_code(), Some(ErrorCode::InvalidCursor), "{err}");
    }
    // Not even a cursor.
    let request = SlsRequest::new(Method::GET, Some("demo"), "/logstores/app/shards/0")
        .query("type", "log")
        .query("cursor", "%%%")
        .query("count", "10");
    let err = client.send(request).await.unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::InvalidCursor), "{err}");
}

#[tokio::test]
async fn wrong_secret_and_unknown_key_are_refused() {
    let hub = hub().await;
    let wrong_secret = hub
        .client_builder()
        .credentials(Credentials::new(
            sls_testkit::DEFAULT_ACCESS_KEY_ID,
            "wrong",
        ))
        .build()
        .unwrap();
    let err = wrong_secret.list_shards("demo", "app").await.unwrap_err();
    assert_eq!(err.http_status(), Some(401));
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::SignatureNotMatch),
        "{err}"
    );
    let unknown = hub
        .client_builder()
        .credentials(Credentials::new("someone-else", "x"))
        .build()
        .unwrap();
    assert_eq!(
        unknown
            .list_shards("demo", "app")
            .await
            .unwrap_err()
            .error_code(),
        Some(ErrorCode::InvalidAccessKeyId)
    );
}

#[tokio::test]
async fn v4_signatures_are_checked_too() {
    let hub = hub().await;
    let v4 = |secret: &str| {
        hub.client_builder()
            .credentials(Credentials::new(sls_testkit::DEFAULT_ACCESS_KEY_ID, secret))
            .signature_version(sls_client::signing::SignatureVersion::V4 {
                region: "cn-hangzhou".into(),
            })
            .build()
            .unwrap()
    };
    assert_eq!(
        v4(sls_testkit::DEFAULT_ACCESS_KEY_SECRET)
            .list_shards("demo", "app")
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        v4("wrong")
            .list_shards("demo", "app")
            .await
            .unwrap_err()
            .error_code(),
        Some(ErrorCode::SignatureNotMatch)
    );
}

#[tokio::test]
async fn expired_dates_are_refused() {
    let hub = hub().await;
    let server_now = hub.clock().now();
    for skew in [Duration::from_secs(16 * 60), Duration::from_secs(3600)] {
        let late = hub
            .client_builder()
            .clock(move || server_now - skew)
            .build()
            .unwrap();
        let err = late.list_shards("demo", "app").await.unwrap_err();
        assert_eq!(err.http_status(), Some(400));
        assert_eq!(
            err.error_code(),
            Some(ErrorCode::RequestTimeExpired),
            "{err}"
        );
    }
    // Within 15 minutes is fine.
    let close = hub
        .client_builder()
        .clock(move || server_now + Duration::from_secs(10 * 60))
        .build()
        .unwrap();
    close.list_shards("demo", "app").await.unwrap();
    let _ = SystemTime::UNIX_EPOCH;
}

#[tokio::test]
async fn sts_tokens_are_required_when_configured() {
    let credentials = Credentials::new("sts-id", "sts-secret").with_security_token("token-1");
    let hub = FakeLogHub::builder()
        .credentials(credentials.clone())
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap();
    hub.client().list_shards("demo", "app").await.unwrap();
    let without = hub
        .client_builder()
        .credentials(Credentials::new("sts-id", "sts-secret"))
        .build()
        .unwrap();
    assert_eq!(
        without
            .list_shards("demo", "app")
            .await
            .unwrap_err()
            .error_code(),
        Some(ErrorCode::SecurityTokenExpired)
    );
    let wrong = hub
        .client_builder()
        .credentials(Credentials::new("sts-id", "sts-secret").with_security_token("token-2"))
        .build()
        .unwrap();
    assert_eq!(
        wrong
            .list_shards("demo", "app")
            .await
            .unwrap_err()
            .http_status(),
        Some(401)
    );
}

/// A PutLogs request built by hand, so its headers can lie.
fn put(body: Vec<u8>, raw_size: Option<usize>, codec: &'static str) -> SlsRequest {
    let mut request = SlsRequest::new(Method::POST, Some("demo"), "/logstores/app/shards/lb")
        .header(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        )
        .header(
            HeaderName::from_static("x-log-compresstype"),
            HeaderValue::from_static(codec),
        )
        .body(body);
    if let Some(size) = raw_size {
        request = request.header(HeaderName::from_static("x-log-bodyrawsize"), size.into());
    }
    request
}

#[tokio::test]
async fn bad_put_bodies_are_refused_with_their_codes() {
    let hub = hub().await;
    let client = no_retries(&hub);
    let group = LogGroupBytes::encode(&LogGroup::synthetic(3, 3));
    let raw = group.as_bytes().to_vec();
    let lz4 = CompressType::Lz4.compress(&raw).unwrap();
    let cases: Vec<(SlsRequest, u16, Option<ErrorCode>)> = vec![
        (put(lz4.clone(), Some(raw.len()), "lz4"), 200, None),
        (
            put(lz4.clone(), Some(raw.len()), "snappy"),
            400,
            Some(ErrorCode::InvalidCompressType),
        ),
        (
            put(lz4.clone(), Some(raw.len() + 1), "lz4"),
            400,
            Some(ErrorCode::PostBodyUncompressError),
        ),
        (
            put(vec![1, 2, 3], Some(3), "lz4"),
            400,
            Some(ErrorCode::PostBodyUncompressError),
        ),
        (
            put(vec![0x0a, 0x05], Some(2), ""),
            400,
            Some(ErrorCode::ParameterInvalid),
        ),
        (
            put(vec![0; 11 << 20], Some(10), ""),
            413,
            Some(ErrorCode::PostBodyTooLarge),
        ),
        // A group over 5 MB raw: 400, as the PutLogs reference gives it.
        (
            put(lz4.clone(), Some(6 << 20), "lz4"),
            400,
            Some(ErrorCode::PostBodyTooLarge),
        ),
    ];
    for (request, status, code) in cases {
        let result = client.send(request).await;
        if status == 200 {
            result.unwrap();
            continue;
        }
        let err = result.unwrap_err();
        assert_eq!(err.http_status(), Some(status), "{code:?}: {err}");
        assert_eq!(err.error_code(), code, "{err}");
    }
    // x-log-bodyrawsize is required (the client always sends one, so remove it).
    let mut request = put(lz4, None, "lz4");
    request = request.header(
        HeaderName::from_static("x-log-bodyrawsize"),
        HeaderValue::from_static("nan"),
    );
    assert_eq!(
        client.send(request).await.unwrap_err().error_code(),
        Some(ErrorCode::InvalidBodyRawSize)
    );
    // Too many logs in a group: the same answer as too many bytes.
    let big = LogGroupBytes::encode(&LogGroup::synthetic(4097, 1));
    let body = CompressType::Lz4.compress(big.as_bytes()).unwrap();
    let err = client
        .send(put(body, Some(big.as_bytes().len()), "lz4"))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(400), "{err}");
    assert_eq!(err.error_code(), Some(ErrorCode::PostBodyTooLarge), "{err}");
    // Nothing of the refused groups was stored.
    assert_eq!(
        hub.group_count("demo", "app", 0).unwrap() + hub.group_count("demo", "app", 1).unwrap(),
        1
    );
}

#[tokio::test]
async fn refused_credentials_are_refreshed_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let hub = hub().await;
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    // The first keys fetched are stale; the second are right.
    let provider = sls_client::RefreshingCredentials::new(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        async move {
            let secret = if n == 0 {
                "rotated-away"
            } else {
                sls_testkit::DEFAULT_ACCESS_KEY_SECRET
            };
            Ok(Credentials::new(sls_testkit::DEFAULT_ACCESS_KEY_ID, secret)
                .with_expiry(SystemTime::now() + Duration::from_secs(3600)))
        }
    });
    let client = hub.client_builder().credentials(provider).build().unwrap();
    assert_eq!(client.list_shards("demo", "app").await.unwrap().len(), 2);
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    // Keys that stay wrong fail after one refresh.
    let wrong = sls_client::RefreshingCredentials::new(|| async {
        Ok(
            Credentials::new(sls_testkit::DEFAULT_ACCESS_KEY_ID, "wrong")
                .with_expiry(SystemTime::now() + Duration::from_secs(3600)),
        )
    });
    let client = hub.client_builder().credentials(wrong).build().unwrap();
    let err = client.list_shards("demo", "app").await.unwrap_err();
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::SignatureNotMatch),
        "{err}"
    );
}
