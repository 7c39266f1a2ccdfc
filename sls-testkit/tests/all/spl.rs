//! SPL on PullLogs: queries and named consume processors are evaluated,
//! out-of-subset statements refused, and zstd is served when accepted.

use sls_client::{Client, ErrorCode, PullLogsRequest, PullLogsResponse, PutLogsRequest};
use sls_proto::{ByteSlice, CompressType, Cursor, LogGroup};
use sls_testkit::{CallKind, FakeLogHub};

const KEY: &str = "00000000000000000000000000000000";

/// Three groups on shard 0: levels per log.
const GROUPS: [&[&str]; 3] = [&["INFO", "INFO"], &["ERROR", "INFO", "ERROR"], &["WARN"]];

async fn hub_with_logs(builder: sls_testkit::FakeLogHubBuilder) -> (FakeLogHub, Client, Cursor) {
    let hub = builder.logstore("demo", "app", 1).start().await.unwrap();
    let client = hub.client();
    let mut n = 0;
    for levels in GROUPS {
        let mut group = LogGroup::builder()
            .topic("web")
            .tag("__client_ip__", "1.2.3.4");
        for level in levels {
            group = group.log(
                1_700_000_000,
                [
                    ("level", level.to_string()),
                    ("n", n.to_string()),
                    ("msg", format!("m{n}")),
                ],
            );
            n += 1;
        }
        client
            .put_logs(PutLogsRequest::from_group("demo", "app", &group.build()).hash_key(KEY))
            .await
            .unwrap();
    }
    let begin = crate::begin(&client).await;
    (hub, client, begin)
}

/// Every log's (key, value) pairs, group by group.
fn contents(pulled: &PullLogsResponse) -> Vec<Vec<Vec<(String, String)>>> {
    pulled
        .groups
        .groups()
        .map(|g| {
            g.logs()
                .map(|l| {
                    l.contents()
                        .map(|(k, v)| {
                            (k.to_str_lossy().into_owned(), v.to_str_lossy().into_owned())
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_query_filters_and_reports_what_it_scanned() {
    let (hub, client, begin) = hub_with_logs(FakeLogHub::builder()).await;
    let all = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin))
        .await
        .unwrap();
    let pulled = client
        .pull_logs(
            PullLogsRequest::new("demo", "app", 0, begin)
                .query("* | where level = 'ERROR' and __topic__ = 'web'"),
        )
        .await
        .unwrap();
    // Only the middle group has errors: the others are omitted.
    let levels: Vec<Vec<String>> = contents(&pulled)
        .into_iter()
        .map(|g| g.into_iter().map(|l| l[0].1.clone()).collect())
        .collect();
    assert_eq!(levels, [["ERROR", "ERROR"]]);
    assert_eq!(pulled.count, 1);
    assert!(pulled.filtered);
    assert_eq!(pulled.group_cursors(), None);
    // The scan covered everything, and the cursor moved past it.
    assert_eq!(pulled.count_before_query, Some(3));
    assert_eq!(pulled.raw_size_before_query, Some(all.raw_size));
    assert_eq!(pulled.lines_before_query, Some(6));
    assert_eq!(pulled.result_lines, Some(2));
    assert_eq!(pulled.next_cursor, all.next_cursor);
    assert!(pulled.end_of_cursor);
    assert!(pulled.raw_size < all.raw_size);
    // The group keeps its topic and tags.
    let group = pulled.groups.groups().next().unwrap();
    assert_eq!(group.topic(), Some("web".into()));
    assert_eq!(
        group.tags().next().map(|(k, _)| k),
        Some("__client_ip__".into())
    );
    // A query matching nothing returns no group, with the cursor advanced.
    let none = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).query("* | where n > 100"))
        .await
        .unwrap();
    assert_eq!((none.count, none.raw_size), (0, 0));
    assert_eq!(none.next_cursor, all.next_cursor);
    assert_eq!(none.count_before_query, Some(3));
    let queries: Vec<Option<String>> = hub
        .requests()
        .into_iter()
        .filter(|r| r.call == Some(CallKind::PullLogs))
        .map(|r| r.query)
        .collect();
    assert_eq!(
        queries,
        [
            None,
            Some("* | where level = 'ERROR' and __topic__ = 'web'".to_owned()),
            Some("* | where n > 100".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_query_projects_and_extends() {
    let (_hub, client, begin) = hub_with_logs(FakeLogHub::builder()).await;
    let pulled = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).query(
            "* | where n >= 4 or \"__tag__:__client_ip__\" != '1.2.3.4' \
                 | project-away msg | extend env = 'prod' | project env, n",
        ))
        .await
        .unwrap();
    assert_eq!(
        contents(&pulled),
        [
            vec![pairs(&[("env", "prod"), ("n", "4")])],
            vec![pairs(&[("env", "prod"), ("n", "5")])],
        ]
    );
    // `*` alone passes everything, byte for byte.
    let star = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).query("*"))
        .await
        .unwrap();
    let all = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin))
        .await
        .unwrap();
    assert_eq!(star.groups.as_bytes(), all.groups.as_bytes());
    assert_eq!(star.count_before_query, Some(3));
    assert_eq!(all.count_before_query, None, "no SPL, no pre-query figures");
}

#[tokio::test]
async fn statements_outside_the_subset_get_400_naming_what_is_missing() {
    let (_hub, client, begin) = hub_with_logs(FakeLogHub::builder()).await;
    for (spl, named) in [
        ("* | parse-json msg", "parse-json"),
        ("* | where level in ('ERROR')", "in ('ERROR')"),
        ("* | stats count(*) by level", "stats"),
        ("level: ERROR", "must start with `*`"),
    ] {
        let err = client
            .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).query(spl))
            .await
            .unwrap_err();
        assert_eq!(err.http_status(), Some(400), "{spl}");
        assert_eq!(
            err.error_code(),
            Some(ErrorCode::ParameterInvalid),
            "{spl}: {err}"
        );
        assert!(err.to_string().contains(named), "{spl}: {err}");
        assert!(
            err.to_string().contains("not supported") || err.to_string().contains("unsupported"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn named_processors_run_their_spl_and_unknown_names_are_refused() {
    let builder = FakeLogHub::builder().consume_processor(
        "demo",
        "errors",
        "* | where level = 'ERROR' | project n",
    );
    let (hub, client, begin) = hub_with_logs(builder).await;
    let pulled = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).processor("errors"))
        .await
        .unwrap();
    assert_eq!(
        contents(&pulled),
        [vec![pairs(&[("n", "2")]), pairs(&[("n", "4")])]]
    );
    assert!(pulled.filtered);
    assert_eq!(pulled.count_before_query, Some(3));

    let err = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).processor("nope"))
        .await
        .unwrap_err();
    assert_eq!(err.http_status(), Some(404));
    assert_eq!(
        err.error_code(),
        Some(ErrorCode::ConsumeProcessorNotExist),
        "{err}"
    );

    let err = client
        .pull_logs(
            PullLogsRequest::new("demo", "app", 0, begin)
                .processor("errors")
                .query("*"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.error_code(), Some(ErrorCode::ParameterInvalid), "{err}");

    let processors: Vec<Option<String>> = hub
        .requests()
        .into_iter()
        .filter(|r| r.call == Some(CallKind::PullLogs))
        .map(|r| r.processor)
        .collect();
    assert_eq!(
        processors,
        [
            Some("errors".into()),
            Some("nope".into()),
            Some("errors".into())
        ]
    );
}

#[tokio::test]
async fn a_processor_outside_the_subset_stops_the_server_from_starting() {
    let err = FakeLogHub::builder()
        .consume_processor("demo", "bad", "* | parse-regexp msg, 'm(\\d+)' as d")
        .start()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("parse-regexp"), "{err}");
}

#[tokio::test]
async fn pulls_that_accept_zstd_get_zstd() {
    let (_hub, client, begin) = hub_with_logs(FakeLogHub::builder()).await;
    let lz4 = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin))
        .await
        .unwrap();
    assert_eq!(lz4.compress_type, CompressType::Lz4);
    for codec in [CompressType::Zstd, CompressType::Deflate] {
        let pulled = client
            .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).accept_encoding(codec))
            .await
            .unwrap();
        assert_eq!(pulled.compress_type, codec);
        assert_eq!(pulled.groups.as_bytes(), lz4.groups.as_bytes());
        assert_eq!(pulled.raw_size, lz4.raw_size);
        let filtered = client
            .pull_logs(
                PullLogsRequest::new("demo", "app", 0, begin)
                    .accept_encoding(codec)
                    .query("* | where level = 'WARN'"),
            )
            .await
            .unwrap();
        assert_eq!(filtered.compress_type, codec);
        assert_eq!(filtered.groups.log_count(), 1);
    }
    // zstd bodies are zstd frames: the magic number leads.
    let zstd = client
        .pull_logs(
            PullLogsRequest::new("demo", "app", 0, begin).accept_encoding(CompressType::Zstd),
        )
        .await
        .unwrap();
    assert_eq!(&zstd.compressed[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
}

#[tokio::test]
async fn non_utf8_values_are_compared_as_bytes_and_kept_as_sent() {
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 1)
        .start()
        .await
        .unwrap();
    let client = hub.client();
    let gbk: &[u8] = b"\xba\xbc\xd6\xdd";
    let group = LogGroup::builder()
        .log(1, [(&b"v"[..], &b"\xff\xfe"[..])])
        .log(2, [(&b"v"[..], gbk)])
        .log(3, [(&b"v"[..], &b"abc"[..])])
        .build();
    client
        .put_logs(PutLogsRequest::from_group("demo", "app", &group).hash_key(KEY))
        .await
        .unwrap();
    let begin = crate::begin(&client).await;
    let values = |pulled: &PullLogsResponse| -> Vec<Vec<u8>> {
        pulled
            .groups
            .groups()
            .flat_map(|g| {
                g.logs()
                    .map(|l| l.get("v").unwrap().to_vec())
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let not_abc = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).query("* | where v != 'abc'"))
        .await
        .unwrap();
    assert_eq!(values(&not_abc), [b"\xff\xfe".to_vec(), gbk.to_vec()]);
    let two_units = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).query("* | where v like '__'"))
        .await
        .unwrap();
    assert_eq!(
        values(&two_units),
        [b"\xff\xfe".to_vec()],
        "bytes when not UTF-8"
    );
    let above = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).query("* | where v > 'z'"))
        .await
        .unwrap();
    assert_eq!(
        values(&above),
        [b"\xff\xfe".to_vec(), gbk.to_vec()],
        "byte order"
    );
}
