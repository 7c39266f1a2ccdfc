//! Every status family and every malformed response gives a typed error.

use serde_json::json;
use sls_client::{Error, ErrorCode, PullLogsRequest, RetryKind};
use sls_proto::Cursor;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::harness;

async fn server_answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

fn error_body(code: &str) -> serde_json::Value {
    json!({"errorCode": code, "errorMessage": format!("{code} happened")})
}

#[tokio::test]
async fn client_errors_carry_status_code_message_and_request_id() {
    for (status, code) in [
        (400, "ParameterInvalid"),
        (401, "SignatureNotMatch"),
        (404, "LogStoreNotExist"),
        (413, "PostBodyTooLarge"),
    ] {
        let server = server_answering(
            ResponseTemplate::new(status)
                .insert_header("x-log-requestid", "req-42")
                .set_body_json(error_body(code)),
        )
        .await;
        let err = harness::client(server.address())
            .list_shards("proj", "app")
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), Some(status), "{err}");
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.request_id(), Some("req-42"));
        assert_eq!(err.retry_kind(), None);
        assert!(err.to_string().contains(&format!("{code} happened")));
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            1,
            "{code} is not retried"
        );
    }
}

#[tokio::test]
async fn old_misspelled_codes_match() {
    let server =
        server_answering(ResponseTemplate::new(404).set_body_json(error_body("ConsumerNotExsit")))
            .await;
    let err = harness::client(server.address())
        .list_shards("proj", "app")
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::ConsumerNotExist));
    assert_eq!(err.code(), Some("ConsumerNotExsit"), "the text as sent");
}

#[tokio::test]
async fn server_errors_are_retried_then_reported() {
    for (status, body, kind) in [
        (500, "<html>oops</html>".to_owned(), RetryKind::Server),
        (503, error_body("ServerBusy").to_string(), RetryKind::Server),
        (
            403,
            error_body("ReadQuotaExceed").to_string(),
            RetryKind::Throttling,
        ),
    ] {
        let server = server_answering(ResponseTemplate::new(status).set_body_string(body)).await;
        let err = harness::client(server.address())
            .list_shards("proj", "app")
            .await
            .unwrap_err();
        assert_eq!(err.retry_kind(), Some(kind), "{err}");
        assert_eq!(
            server.received_requests().await.unwrap().len(),
            4,
            "4 attempts for {status}"
        );
    }
}

#[tokio::test]
async fn malformed_json_is_a_response_error() {
    let server = server_answering(ResponseTemplate::new(200).set_body_string("{not json")).await;
    let err = harness::client(server.address())
        .list_shards("proj", "app")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Response(m) if m.contains("ListShards")),
        "{err}"
    );
}

fn pull(
    server: &MockServer,
) -> impl std::future::Future<Output = Result<sls_client::PullLogsResponse, Error>> {
    let client = harness::client(server.address());
    async move {
        client
            .pull_logs(PullLogsRequest::new(
                "proj",
                "app",
                0,
                Cursor::from_sequence(1),
            ))
            .await
    }
}

#[tokio::test]
async fn pull_responses_missing_or_lying_headers_are_named() {
    let next = Cursor::from_sequence(2).to_string();
    let cases: Vec<(ResponseTemplate, &str)> = vec![
        (
            ResponseTemplate::new(200)
                .insert_header("x-log-count", "0")
                .insert_header("x-log-bodyrawsize", "0"),
            "x-log-cursor",
        ),
        (
            ResponseTemplate::new(200)
                .insert_header("x-log-cursor", next.as_str())
                .insert_header("x-log-bodyrawsize", "0"),
            "x-log-count",
        ),
        (
            ResponseTemplate::new(200)
                .insert_header("x-log-cursor", "%%%")
                .insert_header("x-log-count", "0")
                .insert_header("x-log-bodyrawsize", "0"),
            "x-log-cursor",
        ),
        (
            ResponseTemplate::new(200)
                .insert_header("x-log-cursor", next.as_str())
                .insert_header("x-log-count", "3")
                .insert_header("x-log-bodyrawsize", "0"),
            "x-log-count says 3",
        ),
        (
            ResponseTemplate::new(200)
                .insert_header("x-log-cursor", next.as_str())
                .insert_header("x-log-count", "0")
                .insert_header("x-log-bodyrawsize", "zero"),
            "x-log-bodyrawsize",
        ),
    ];
    for (template, named) in cases {
        let server = server_answering(template).await;
        let err = pull(&server).await.unwrap_err();
        assert!(
            matches!(&err, Error::Response(m) if m.contains(named)),
            "{named}: {err}"
        );
    }
}

#[tokio::test]
async fn a_lying_raw_size_is_refused_without_allocating_it() {
    let server = server_answering(
        ResponseTemplate::new(200)
            .insert_header(
                "x-log-cursor",
                Cursor::from_sequence(2).to_string().as_str(),
            )
            .insert_header("x-log-count", "1")
            .insert_header("x-log-compresstype", "lz4")
            .insert_header("x-log-bodyrawsize", "4294967296")
            .set_body_bytes(vec![0u8; 10]),
    )
    .await;
    let err = pull(&server).await.unwrap_err();
    // Refused from the headers, before the body is read: a typed size
    // error, not retried.
    assert!(
        matches!(
            err,
            Error::TooLarge {
                declared: 4_294_967_296,
                limit,
                groups: Some(1),
            } if limit == sls_proto::DEFAULT_MAX_RAW_SIZE as u64
        ),
        "{err}"
    );
    assert_eq!(err.retry_kind(), None);
}

#[tokio::test]
async fn a_corrupt_body_is_a_decode_error() {
    let server = server_answering(
        ResponseTemplate::new(200)
            .insert_header(
                "x-log-cursor",
                Cursor::from_sequence(2).to_string().as_str(),
            )
            .insert_header("x-log-count", "1")
            .insert_header("x-log-bodyrawsize", "3")
            .set_body_bytes(vec![0x0a, 0x05, 0x00]),
    )
    .await;
    assert!(matches!(pull(&server).await.unwrap_err(), Error::Decode(_)));
}

#[tokio::test]
async fn https_endpoints_use_tls_and_fail_against_a_plain_server() {
    use tokio::io::AsyncWriteExt;
    // A plain-HTTP server that answers at once, before any request.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n[]")
                .await;
        }
    });
    let client = sls_client::Client::builder(format!("https://{address}"))
        .credentials(harness::credentials())
        .retry_policy(sls_client::retry::RetryPolicy::never())
        .attempt_timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    let err = client.list_shards("proj", "app").await.unwrap_err();
    // rustls refuses the plain answer as a handshake: the call fails on the
    // connection instead of reading "[]".
    assert!(matches!(err, Error::Transport { .. }), "{err}");
}

/// A server whose first pull answer is corrupted in transit (lz4 that does
/// not decompress) and whose later ones are good; and the logs they hold.
async fn corrupted_once() -> (MockServer, sls_proto::LogGroupList) {
    use sls_proto::prost::Message;
    let list = sls_proto::sample::AccessLogs::new(1).list(1, 5);
    let raw = list.encode_to_vec();
    let good = sls_proto::CompressType::Lz4.compress(&raw).unwrap();
    let mut bad = good.clone();
    for byte in bad.iter_mut().step_by(3) {
        *byte ^= 0x55;
    }
    let server = MockServer::start().await;
    let reply = |body: Vec<u8>| {
        ResponseTemplate::new(200)
            .insert_header(
                "x-log-cursor",
                Cursor::from_sequence(2).to_string().as_str(),
            )
            .insert_header("x-log-count", "1")
            .insert_header("x-log-compresstype", "lz4")
            .insert_header("x-log-bodyrawsize", raw.len().to_string().as_str())
            .set_body_bytes(body)
    };
    Mock::given(method("GET"))
        .respond_with(reply(bad))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(reply(good))
        .mount(&server)
        .await;
    (server, list)
}

#[tokio::test]
async fn a_corrupted_body_is_pulled_again() {
    let (server, list) = corrupted_once().await;
    let pulled = pull(&server).await.unwrap();
    assert_eq!(pulled.groups.to_message(), list);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn without_retries_a_corrupted_body_is_not_pulled_again() {
    // The pull's own re-fetch of a corrupted body follows the retry
    // policy of the client it is called on.
    let (server, _) = corrupted_once().await;
    let client = harness::client(server.address())
        .with_retry_policy(sls_client::retry::RetryPolicy::never());
    let err = client
        .pull_logs(PullLogsRequest::new(
            "proj",
            "app",
            0,
            Cursor::from_sequence(1),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Codec(_)), "{err}");
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[test]
fn bad_builder_values_are_refused_naming_the_setting() {
    use std::time::Duration;
    let base = || sls_client::Client::builder("127.0.0.1:1").credentials(harness::credentials());
    let cases = [
        (base().connect_timeout(Duration::ZERO), "connect_timeout"),
        (base().attempt_timeout(Duration::ZERO), "attempt_timeout"),
        (base().max_response_size(0), "max_response_size"),
        (
            base().max_response_size(sls_client::MIN_RESPONSE_SIZE - 1),
            "max_response_size",
        ),
        (base().user_agent("bad\nagent"), "user_agent"),
        (sls_client::Client::builder("ftp://host"), "endpoint"),
        (sls_client::Client::builder(""), "endpoint"),
    ];
    for (builder, setting) in cases {
        let err = builder.build().unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        let text = err.to_string();
        assert!(text.contains(setting), "{text}");
    }
    // The boundary itself is fine.
    base()
        .max_response_size(sls_client::MIN_RESPONSE_SIZE)
        .build()
        .unwrap();
}

#[test]
fn huge_error_fields_are_bounded() {
    use sls_client::ServerError;
    // Found by the `responses` fuzz target: serde reads a JSON array as the
    // error object, and its long strings used to be echoed whole.
    let found = include_bytes!("../fixtures/fuzz-responses-04c4a45e.bin");
    let err = ServerError::from_response(400 + u16::from(found[0]), None, found);
    assert!(err.to_string().len() < 3000, "{}", err.to_string().len());
    // The same with an object: a megabyte of code and message, a long
    // request id.
    let big = "x".repeat(1 << 20);
    let body = serde_json::to_vec(&json!({"errorCode": big, "errorMessage": big})).unwrap();
    let err = ServerError::from_response(500, Some("r".repeat(10_000)), &body);
    assert!(err.to_string().len() < 1500, "{}", err.to_string().len());
    assert!(err.message().ends_with('…') && err.code().ends_with('…'));
    // Cut on a character boundary; short fields are kept as they are.
    let body =
        serde_json::to_vec(&json!({"errorCode": "é".repeat(100), "errorMessage": "日本"})).unwrap();
    let err = ServerError::from_response(500, Some("id-1".into()), &body);
    assert_eq!(err.code().chars().filter(|c| *c == 'é').count(), 64);
    assert_eq!(err.message(), "日本");
    assert_eq!(err.request_id(), Some("id-1"));
    // Newlines and terminal escapes cannot forge log lines.
    let body =
        serde_json::to_vec(&json!({"errorCode": "E\n", "errorMessage": "a\nb\u{1b}[31m"})).unwrap();
    let shown = ServerError::from_response(500, None, &body).to_string();
    assert!(
        !shown.contains('\n') && !shown.contains('\u{1b}'),
        "{shown}"
    );
    assert!(shown.contains("a\\nb"), "{shown}");
}
