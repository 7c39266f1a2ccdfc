//! Each call sends the method, path, query, headers and body the protocol
//! says, and reads the response it documents.

use bytes::Bytes;
use md5::{Digest, Md5};
use serde_json::json;
use sls_client::{
    CheckpointUpdate, ConsumerGroup, CursorPosition, Logstore, PullLogsRequest, PutLogsRequest,
    ShardStatus,
};
use sls_proto::prost::Message;
use sls_proto::sample::AccessLogs;
use sls_proto::{CompressType, Cursor, Decompressor, LogGroup, LogGroupList};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::harness::{self, NOW_HTTP_DATE};

/// Headers every request carries, checked on every received request.
fn check_common_headers(server: &MockServer, request: &Request) {
    let h = |name: &str| {
        request
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(h("x-log-apiversion").as_deref(), Some("0.6.0"));
    assert_eq!(h("x-log-signaturemethod").as_deref(), Some("hmac-sha1"));
    assert_eq!(h("date").as_deref(), Some(NOW_HTTP_DATE));
    assert_eq!(
        h("host"),
        Some(format!("proj.{}", server.address())),
        "the project travels in Host"
    );
    assert!(h("user-agent").unwrap().starts_with("sls-rs/"));
    let auth = h("authorization").unwrap();
    assert!(auth.starts_with("LOG test-key-id:"), "{auth}");
    assert!(h("x-log-bodyrawsize").is_some());
    if request.body.is_empty() {
        assert_eq!(h("content-md5"), None);
    } else {
        let md5 = hex::encode_upper(Md5::digest(&request.body));
        assert_eq!(h("content-md5"), Some(md5));
        assert!(h("content-type").is_some());
    }
}

async fn received_ok(server: &MockServer) {
    let requests = server.received_requests().await.unwrap();
    assert!(!requests.is_empty());
    for request in &requests {
        check_common_headers(server, request);
    }
}

#[tokio::test]
async fn list_split_and_merge_shards() {
    let server = MockServer::start().await;
    let shard = |id: u32, status: &str| {
        json!({"shardID": id, "status": status, "inclusiveBeginKey": "00000000000000000000000000000000",
               "exclusiveEndKey": "ffffffffffffffffffffffffffffffff", "createTime": 1700000000})
    };
    Mock::given(method("GET"))
        .and(path("/logstores/app/shards"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([shard(0, "readwrite"), shard(1, "readonly")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/logstores/app/shards/0"))
        .and(query_param("action", "split"))
        .and(query_param("key", "7f000000000000000000000000000000"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([shard(2, "readwrite"), shard(3, "readwrite")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/logstores/app/shards/2"))
        .and(query_param("action", "merge"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([shard(4, "readwrite")])))
        .expect(1)
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    let shards = client.list_shards("proj", "app").await.unwrap();
    assert_eq!(shards.len(), 2);
    assert_eq!(shards[1].status, ShardStatus::Readonly);
    let split = client
        .split_shard("proj", "app", 0, "7f000000000000000000000000000000")
        .await
        .unwrap();
    assert_eq!(split.iter().map(|s| s.shard_id).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(
        client.merge_shard("proj", "app", 2).await.unwrap()[0].shard_id,
        4
    );
    assert!(
        client
            .split_shard("proj", "app", 0, "not-hex")
            .await
            .is_err()
    );
    received_ok(&server).await;
}

#[tokio::test]
async fn cursors_and_cursor_time() {
    let server = MockServer::start().await;
    let cursor = Cursor::from_sequence(42);
    for (from, seq) in [("begin", 1), ("end", 99), ("1700000000", 42)] {
        Mock::given(method("GET"))
            .and(path("/logstores/app/shards/3"))
            .and(query_param("type", "cursor"))
            .and(query_param("from", from))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"cursor": Cursor::from_sequence(seq).to_string()})),
            )
            .mount(&server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path("/logstores/app/shards/3"))
        .and(query_param("type", "cursor_time"))
        .and(query_param("cursor", cursor.to_string()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"cursor_time": "1700000001"})),
        )
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    let get = |p| client.get_cursor("proj", "app", 3, p);
    assert_eq!(get(CursorPosition::Begin).await.unwrap().sequence(), 1);
    assert_eq!(get(CursorPosition::End).await.unwrap().sequence(), 99);
    assert_eq!(
        get(CursorPosition::At(1_700_000_000)).await.unwrap(),
        cursor
    );
    assert_eq!(
        client
            .get_cursor_time("proj", "app", 3, cursor)
            .await
            .unwrap(),
        1_700_000_001
    );
    received_ok(&server).await;
}

fn pulled_body(groups: usize) -> (LogGroupList, Vec<u8>, Vec<u8>) {
    let list = AccessLogs::new(5).list(groups, 10);
    let raw = list.encode_to_vec();
    let lz4 = CompressType::Lz4.compress(&raw).unwrap();
    (list, raw, lz4)
}

#[tokio::test]
async fn pull_logs_reads_headers_and_decodes_the_body() {
    let server = MockServer::start().await;
    let (list, raw, lz4) = pulled_body(3);
    let start = Cursor::from_sequence(100);
    Mock::given(method("GET"))
        .and(path("/logstores/app/shards/1"))
        .and(query_param("type", "log"))
        .and(query_param("cursor", start.to_string()))
        .and(query_param("count", "3"))
        .and(query_param(
            "end_cursor",
            Cursor::from_sequence(200).to_string(),
        ))
        .and(header("accept", "application/x-protobuf"))
        .and(header("accept-encoding", "lz4"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "x-log-cursor",
                    Cursor::from_sequence(103).to_string().as_str(),
                )
                .insert_header("x-log-count", "3")
                .insert_header("x-log-bodyrawsize", raw.len().to_string().as_str())
                .insert_header("x-log-compresstype", "lz4")
                .insert_header("x-log-read-last-cursor", "102")
                .insert_header("x-log-end-of-cursor", "1")
                .insert_header("x-log-cursor-time", "1700000123")
                .insert_header("x-log-requestid", "req-pull")
                .set_body_bytes(lz4.clone()),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    let pulled = client
        .pull_logs(
            PullLogsRequest::new("proj", "app", 1, start)
                .count(3)
                .end_cursor(Cursor::from_sequence(200)),
        )
        .await
        .unwrap();
    assert_eq!(pulled.next_cursor.sequence(), 103);
    assert_eq!(pulled.count, 3);
    assert_eq!(pulled.raw_size, raw.len() as u64);
    assert_eq!(pulled.read_last_cursor, Some(Cursor::from_sequence(102)));
    assert!(pulled.end_of_cursor);
    assert_eq!(pulled.cursor_time, Some(1_700_000_123));
    assert_eq!(pulled.compressed, Bytes::from(lz4));
    assert_eq!(pulled.groups.to_message(), list);
    let cursors: Vec<i64> = pulled
        .group_cursors()
        .unwrap()
        .iter()
        .map(|c| c.sequence())
        .collect();
    assert_eq!(cursors, [100, 101, 102]);
    received_ok(&server).await;
}

#[tokio::test]
async fn pull_logs_with_spl_sends_the_query_and_scan_mode() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(query_param("query", "* | where status = '500'"))
        .and(query_param("pullMode", "scan_on_stream"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "x-log-cursor",
                    Cursor::from_sequence(9).to_string().as_str(),
                )
                .insert_header("x-log-count", "0")
                .insert_header("x-log-bodyrawsize", "0")
                .insert_header("x-log-rawdatasize", "123456")
                .insert_header("x-log-rawdatacount", "7"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    let pulled = client
        .pull_logs(
            PullLogsRequest::new("proj", "app", 0, Cursor::from_sequence(2))
                .query("* | where status = '500'"),
        )
        .await
        .unwrap();
    assert!(pulled.groups.is_empty());
    assert!(pulled.filtered);
    assert_eq!(pulled.group_cursors(), None);
    assert_eq!(pulled.raw_size_before_query, Some(123_456));
    assert_eq!(pulled.count_before_query, Some(7));
}

#[tokio::test]
async fn pull_logs_with_a_processor_sends_its_name_alone_and_accepts_zstd() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(query_param("processor", "errors-only"))
        .and(header("accept-encoding", "zstd"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "x-log-cursor",
                    Cursor::from_sequence(9).to_string().as_str(),
                )
                .insert_header("x-log-count", "0")
                .insert_header("x-log-bodyrawsize", "0")
                .insert_header("x-log-rawdatacount", "7")
                .insert_header("x-log-rawdatalines", "70")
                .insert_header("x-log-resultlines", "0"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    let pulled = client
        .pull_logs(
            PullLogsRequest::new("proj", "app", 0, Cursor::from_sequence(2))
                .processor("errors-only")
                .accept_encoding(CompressType::Zstd),
        )
        .await
        .unwrap();
    assert!(pulled.filtered);
    assert_eq!(pulled.count_before_query, Some(7));
    assert_eq!(pulled.lines_before_query, Some(70));
    assert_eq!(pulled.result_lines, Some(0));
    let requests = server.received_requests().await.unwrap();
    let params: Vec<String> = requests[0]
        .url
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    // As the Go, Python and Java SDKs send it: no query, no pullMode.
    assert!(
        !params.iter().any(|k| k == "query" || k == "pullMode"),
        "{params:?}"
    );
}

#[tokio::test]
async fn put_logs_compresses_and_routes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/logstores/app/shards/lb"))
        .and(header("content-type", "application/x-protobuf"))
        .and(header("x-log-compresstype", "lz4"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/logstores/app/shards/route"))
        .and(query_param("key", "0123456789abcdef0123456789abcdef"))
        .and(header("x-log-compresstype", "zstd"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    let group = AccessLogs::new(2).group(50);
    client
        .put_logs(PutLogsRequest::from_group("proj", "app", &group))
        .await
        .unwrap();
    client
        .put_logs(
            PutLogsRequest::from_group("proj", "app", &group)
                .compression(CompressType::Zstd)
                .hash_key("0123456789abcdef0123456789abcdef"),
        )
        .await
        .unwrap();
    // Each body decompresses, per its headers, to the group.
    for request in server.received_requests().await.unwrap() {
        let h = |n: &str| request.headers.get(n).unwrap().to_str().unwrap().to_owned();
        let codec = CompressType::from_header(&h("x-log-compresstype")).unwrap();
        let raw = Decompressor::default()
            .decompress(
                codec,
                Bytes::from(request.body.clone()),
                h("x-log-bodyrawsize").parse().unwrap(),
            )
            .unwrap();
        assert_eq!(LogGroup::decode(&raw[..]).unwrap(), group);
    }
    received_ok(&server).await;
    // Oversized groups are refused before anything is sent.
    let huge = LogGroup::synthetic(4097, 1);
    assert!(
        client
            .put_logs(PutLogsRequest::from_group("proj", "app", &huge))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn logstore_calls() {
    let server = MockServer::start().await;
    let store = Logstore::new("app", 7, 4);
    Mock::given(method("POST"))
        .and(path("/logstores"))
        .and(body_json(
            json!({"logstoreName": "app", "ttl": 7, "shardCount": 4}),
        ))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/logstores/app"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"logstoreName": "app", "ttl": 7, "shardCount": 4, "other": true}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/logstores"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"count": 2, "total": 2, "logstores": ["app", "web"]})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/logstores/app"))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    client.create_logstore("proj", &store).await.unwrap();
    assert_eq!(client.get_logstore("proj", "app").await.unwrap(), store);
    assert_eq!(client.list_logstores("proj").await.unwrap(), ["app", "web"]);
    client.delete_logstore("proj", "app").await.unwrap();
    received_ok(&server).await;
}

#[tokio::test]
async fn consumer_group_calls() {
    let server = MockServer::start().await;
    let base = "/logstores/app/consumergroups";
    Mock::given(method("POST"))
        .and(path(base))
        .and(body_json(
            json!({"consumerGroup": "etl", "timeout": 60, "order": true}),
        ))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path(format!("{base}/etl")))
        .and(body_json(json!({"timeout": 30})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(base))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([{"name": "etl", "timeout": 30, "order": true}])),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{base}/etl")))
        .and(query_param("type", "heartbeat"))
        .and(query_param("consumer", "c-1"))
        .and(body_json(json!([0, 2])))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([0, 1])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{base}/etl")))
        .and(query_param("type", "checkpoint"))
        .and(query_param("consumer", "c-1"))
        .and(query_param("forceSuccess", "true"))
        .and(body_json(
            json!({"shard": 1, "checkpoint": Cursor::from_sequence(77).to_string()}),
        ))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/etl")))
        .and(query_param("shard", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"shard": 1, "checkpoint": Cursor::from_sequence(77).to_string(), "updateTime": 1700000000000000i64, "consumer": "c-1"}
        ])))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{base}/etl")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"shard": 0, "checkpoint": "", "updateTime": 0, "consumer": ""}
        ])))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .and(path(format!("{base}/etl")))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&server)
        .await;
    let client = harness::client(server.address());
    let group = ConsumerGroup::new("etl", 60, true);
    client
        .create_consumer_group("proj", "app", &group)
        .await
        .unwrap();
    client
        .update_consumer_group("proj", "app", "etl", Some(30), None)
        .await
        .unwrap();
    let groups = client.list_consumer_groups("proj", "app").await.unwrap();
    assert_eq!(groups[0].name, "etl");
    assert_eq!(
        client
            .heartbeat("proj", "app", "etl", "c-1", &[0, 2])
            .await
            .unwrap(),
        [0, 1]
    );
    client
        .update_checkpoint(
            "proj",
            "app",
            "etl",
            "c-1",
            CheckpointUpdate::new(1, Cursor::from_sequence(77)).force(true),
        )
        .await
        .unwrap();
    let one = client
        .get_checkpoints("proj", "app", "etl", Some(1))
        .await
        .unwrap();
    assert_eq!(one[0].cursor, Some(Cursor::from_sequence(77)));
    assert_eq!(one[0].consumer, "c-1");
    let never = client
        .get_checkpoints("proj", "app", "etl", None)
        .await
        .unwrap();
    assert_eq!(
        never[0].cursor, None,
        "an empty checkpoint means never committed"
    );
    client
        .delete_consumer_group("proj", "app", "etl")
        .await
        .unwrap();
    received_ok(&server).await;
}

#[tokio::test]
async fn v4_signing_sends_its_headers() {
    use sls_client::signing::SignatureVersion;
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&server)
        .await;
    let client = sls_client::Client::builder(server.address().to_string())
        .credentials(harness::credentials())
        .signature_version(SignatureVersion::V4 {
            region: "cn-hangzhou".into(),
        })
        .clock(|| std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(harness::NOW))
        .build()
        .unwrap();
    client.list_shards("proj", "app").await.unwrap();
    let request = &server.received_requests().await.unwrap()[0];
    let h = |n: &str| {
        request
            .headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(h("x-log-date").as_deref(), Some("20240102T030405Z"));
    assert_eq!(
        h("x-log-content-sha256").as_deref(),
        Some("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    );
    let auth = h("authorization").unwrap();
    assert!(
        auth.starts_with("SLS4-HMAC-SHA256 Credential=test-key-id/20240102/cn-hangzhou/sls/aliyun_v4_request,Signature="),
        "{auth}"
    );
}

#[tokio::test]
async fn pulls_can_ask_for_zstd() {
    let server = MockServer::start().await;
    let (list, raw, _) = pulled_body(1);
    let zstd = CompressType::Zstd.compress(&raw).unwrap();
    Mock::given(method("GET"))
        .and(header("accept-encoding", "zstd"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header(
                    "x-log-cursor",
                    Cursor::from_sequence(1).to_string().as_str(),
                )
                .insert_header("x-log-count", "1")
                .insert_header("x-log-bodyrawsize", raw.len().to_string().as_str())
                .insert_header("x-log-compresstype", "zstd")
                .set_body_bytes(zstd),
        )
        .expect(1)
        .mount(&server)
        .await;
    let pulled = harness::client(server.address())
        .pull_logs(
            PullLogsRequest::new("proj", "app", 0, Cursor::from_sequence(0))
                .accept_encoding(CompressType::Zstd),
        )
        .await
        .unwrap();
    assert_eq!(pulled.compress_type, CompressType::Zstd);
    assert_eq!(pulled.groups.to_message(), list);
}
