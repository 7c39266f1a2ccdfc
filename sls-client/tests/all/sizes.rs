//! Pull size limits: an answer larger than the caller allows is refused
//! from its headers, once, with a typed error; large bodies still decode
//! (on the blocking pool).

use sls_client::{Error, PullLogsRequest};
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{CompressType, Cursor};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness;

/// A PullLogs answer of `groups` access-log groups of `logs` logs each,
/// declaring `declared` raw bytes (the truth when `None`).
fn answer(groups: usize, logs: usize, declared: Option<u64>) -> (ResponseTemplate, u64) {
    let raw = AccessLogs::new(9).list(groups, logs).encode_to_vec();
    let lz4 = CompressType::Lz4.compress(&raw).unwrap();
    let declared = declared.unwrap_or(raw.len() as u64);
    let template = ResponseTemplate::new(200)
        .insert_header(
            "x-log-cursor",
            Cursor::from_sequence(groups as i64).to_string().as_str(),
        )
        .insert_header("x-log-count", groups.to_string().as_str())
        .insert_header("x-log-bodyrawsize", declared.to_string().as_str())
        .insert_header("x-log-compresstype", "lz4")
        .set_body_bytes(lz4);
    (template, raw.len() as u64)
}

#[tokio::test]
async fn an_answer_over_the_callers_limit_is_refused_once_with_its_sizes() {
    let server = MockServer::start().await;
    let (template, raw_len) = answer(4, 50, None);
    Mock::given(method("GET"))
        .and(path("/logstores/app/shards/0"))
        .respond_with(template)
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    let limit = raw_len - 1;
    let err = client
        .pull_logs(
            PullLogsRequest::new("proj", "app", 0, Cursor::from_sequence(0)).max_raw_size(limit),
        )
        .await
        .unwrap_err();
    match err {
        Error::TooLarge {
            declared,
            limit: refused_at,
            groups,
        } => {
            assert_eq!(declared, raw_len);
            assert_eq!(refused_at, limit);
            assert_eq!(groups, Some(4));
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(err_retry_kind(limit, raw_len), None);
    // Not retried: the same request would get the same answer.
    assert_eq!(server.received_requests().await.unwrap().len(), 1);

    // At the limit exactly, it is accepted.
    let pulled = client
        .pull_logs(
            PullLogsRequest::new("proj", "app", 0, Cursor::from_sequence(0)).max_raw_size(raw_len),
        )
        .await
        .unwrap();
    assert_eq!(pulled.groups.len(), 4);
}

fn err_retry_kind(limit: u64, declared: u64) -> Option<sls_client::RetryKind> {
    Error::TooLarge {
        declared,
        limit,
        groups: None,
    }
    .retry_kind()
}

#[tokio::test]
async fn a_declared_size_over_the_decompressor_cap_is_too_large_not_garbled() {
    let server = MockServer::start().await;
    // A small body claiming 200 MiB: over the default 64 MiB cap.
    let (template, _) = answer(1, 5, Some(200 << 20));
    Mock::given(method("GET"))
        .respond_with(template)
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    let err = client
        .pull_logs(PullLogsRequest::new(
            "proj",
            "app",
            0,
            Cursor::from_sequence(0),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooLarge { declared, limit, .. } if declared == 200 << 20 && limit == 64 << 20),
        "{err:?}"
    );
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert!(err.to_string().contains("ask for fewer groups"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_offload_size_decodes_through_the_blocking_pool() {
    let server = MockServer::start().await;
    let (template, raw_len) = answer(8, 1024, None);
    assert!(raw_len >= sls_client::OFFLOAD_RAW_SIZE);
    Mock::given(method("GET"))
        .respond_with(template)
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    let pulled = client
        .pull_logs(PullLogsRequest::new(
            "proj",
            "app",
            0,
            Cursor::from_sequence(0),
        ))
        .await
        .unwrap();
    assert_eq!(pulled.raw_size, raw_len);
    assert_eq!(pulled.groups.log_count(), 8 * 1024);
}
