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

/// Hands out the buffers it was given, and records what was asked.
#[derive(Debug, Default)]
struct Handed {
    free: std::sync::Mutex<Vec<Vec<u8>>>,
    asked: std::sync::Mutex<Vec<usize>>,
}

impl sls_client::PullBuffers for Handed {
    fn take(&self, len: usize) -> Vec<u8> {
        self.asked.lock().unwrap().push(len);
        let mut free = self.free.lock().unwrap();
        match free.iter().position(|buf| buf.capacity() >= len) {
            Some(i) => free.swap_remove(i),
            None => Vec::new(),
        }
    }
}

#[tokio::test]
async fn a_pull_reads_and_decompresses_into_the_buffers_it_is_handed() {
    // A small answer (decoded in place) and one over `OFFLOAD_RAW_SIZE`
    // (decoded on the blocking pool).
    for (groups, logs) in [(2, 20), (8, 1000)] {
        let server = MockServer::start().await;
        let (template, raw_len) = answer(groups, logs, None);
        Mock::given(method("GET"))
            .and(path("/logstores/app/shards/0"))
            .respond_with(template)
            .mount(&server)
            .await;
        let client = harness::client(server.address());
        let handed = std::sync::Arc::new(Handed::default());
        // Stale bytes in both: each is written over. The first holds the
        // body but not the groups.
        let raw = AccessLogs::new(9).list(groups, logs).encode_to_vec();
        let body_len = CompressType::Lz4.compress(&raw).unwrap().len();
        let body_buf = vec![0xee; body_len];
        let raw_buf = vec![0xee; raw_len as usize + 100];
        let (body_ptr, raw_ptr) = (body_buf.as_ptr(), raw_buf.as_ptr());
        *handed.free.lock().unwrap() = vec![body_buf, raw_buf];
        let pulled = client
            .pull_logs(
                PullLogsRequest::new("proj", "app", 0, Cursor::from_sequence(0))
                    .buffers(handed.clone()),
            )
            .await
            .unwrap();
        let asked = handed.asked.lock().unwrap().clone();
        assert_eq!(asked, [body_len, raw_len as usize]);
        assert_eq!(pulled.compressed.as_ptr(), body_ptr, "the body's buffer");
        assert_eq!(
            pulled.groups.as_bytes().as_ptr(),
            raw_ptr,
            "the groups' buffer"
        );
        assert_eq!(
            pulled.groups.to_message(),
            AccessLogs::new(9).list(groups, logs),
            "{groups} groups"
        );
        assert_eq!(pulled.groups.as_bytes().len() as u64, raw_len);
    }
}
