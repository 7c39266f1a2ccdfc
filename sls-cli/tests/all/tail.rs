//! `sls tail` and `sls put`: what tail prints, byte for byte, and
//! `sls tail -o json | sls put` writing the same bytes.

use serde_json::{Value, json};
use sls_client::PutLogsRequest;
use sls_proto::LogGroup;

use crate::harness::{COPY, GROUP, Hub, LOGSTORE, PROJECT};

/// GBK for 你好: not UTF-8.
const GBK: &[u8] = b"\xc4\xe3\xba\xc3";

/// Two shards. Shard 0: a group with topic, source and a tag, whose log
/// has a GBK value, a GBK key, a field named like the line's own, a
/// repeated key and a space; shard 1: a plain group of two logs, one an
/// error.
async fn hub() -> Hub {
    let hub = Hub::start(2, 3_600).await;
    hub.at(5);
    let t = hub.now() as u32;
    let odd = LogGroup::builder()
        .topic("web")
        .source("10.0.0.7")
        .tag("env", "prod")
        .tag(b"\xff", GBK)
        .log(
            t,
            [
                (&b"msg"[..], &b"hello world"[..]),
                (b"gbk", GBK),
                (GBK, b"key in gbk"),
                (b"__time__", b"a field"),
                (b"dup", b"1"),
                (b"dup", b"2"),
                (b"back\\slash", b"\\xc4 is text"),
                (b"empty", b""),
            ],
        )
        .build();
    let mut odd = odd;
    odd.logs[0].time_ns = Some(123_456_789);
    hub.client()
        .put_logs(
            PutLogsRequest::from_group(PROJECT, LOGSTORE, &odd)
                .hash_key(format!("00{}", "0".repeat(30))),
        )
        .await
        .unwrap();
    hub.at(6);
    let plain = LogGroup::builder()
        .log(t + 1, [("level", "INFO"), ("n", "1")])
        .log(t + 1, [("level", "ERROR"), ("n", "2")])
        .build();
    hub.client()
        .put_logs(
            PutLogsRequest::from_group(PROJECT, LOGSTORE, &plain)
                .hash_key(format!("ff{}", "0".repeat(30))),
        )
        .await
        .unwrap();
    hub.to_present();
    hub
}

/// The JSON lines of `stdout`, parsed.
fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_prints_every_log_byte_for_byte_and_put_writes_them_back() {
    let hub = hub().await;
    let run = hub
        .sls(&["tail", "--from", "begin", "--to", "now", "-o", "json"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let logs = lines(&run.stdout);
    assert_eq!(logs.len(), 3, "{}", run.stdout);
    let odd = logs.iter().find(|l| l["__shard__"] == 0).unwrap();
    // Member order is the log's: check the raw line.
    let raw = run
        .stdout
        .lines()
        .find(|l| l.contains("hello world"))
        .unwrap();
    assert!(
        raw.starts_with(&format!(
            r#"{{"__time__":{},"__time_ns__":123456789,"__topic__":"web","__source__":"10.0.0.7","__shard__":0,"__tag__:env":"prod","__tag__:__base64__:/w==":{{"base64":"xOO6ww=="}},"msg":"hello world","gbk":{{"base64":"xOO6ww=="}},"__base64__:xOO6ww==":"key in gbk","__field__:__time__":"a field","dup":"1","dup":"2","#,
            hub.start + 5
        )),
        "{raw}"
    );
    assert_eq!(odd["back\\slash"], "\\xc4 is text");
    assert_eq!(odd["empty"], "");
    let plain: Vec<&Value> = logs.iter().filter(|l| l["__shard__"] == 1).collect();
    assert_eq!(plain.len(), 2);
    assert_eq!(plain[0]["__topic__"], Value::Null);
    assert_eq!(plain[0]["__source__"], Value::Null);
    assert_eq!(plain[0]["level"], "INFO");
    assert_eq!(plain[1]["__time__"], hub.start + 6);

    // The throwaway group is gone.
    let groups = hub.json(&["groups", "list"]).await;
    assert_eq!(groups["groups"].as_array().unwrap().len(), 1, "{groups}");

    // Round trip: the same bytes in another logstore.
    let put = hub
        .sls_with_input(&["put", "--logstore", COPY], run.stdout.as_bytes())
        .await;
    assert_eq!(put.code, 0, "{put:?}");
    // Two groups: the odd one and the plain one (no topic, source, tags).
    assert!(
        put.stdout.starts_with("put 3 logs in 2 requests ("),
        "{put:?}"
    );
    let original = hub.logs(LOGSTORE).await;
    assert_eq!(original.len(), 3);
    assert_eq!(hub.logs(COPY).await, original);
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_text_escapes_reversibly() {
    let hub = hub().await;
    let text = hub
        .ok(&["tail", "--from", "begin", "--to", "now", "--format", "text"])
        .await;
    let odd = text.lines().find(|l| l.contains("hello")).unwrap();
    let time = hub.start + 5;
    let expected = format!(
        "{} shard:0 __topic__=web __source__=10.0.0.7 __tag__:env=prod __tag__:\\xff=\\xc4\\xe3\\xba\\xc3 \
         msg=\"hello world\" gbk=\\xc4\\xe3\\xba\\xc3 \\xc4\\xe3\\xba\\xc3=\"key in gbk\" __time__=\"a field\" \
         dup=1 dup=2 back\\\\slash=\"\\\\xc4 is text\" empty=\"\"",
        time_text(time)
    );
    assert_eq!(odd, expected);
    assert_eq!(text.lines().count(), 3, "{text}");
    hub.hub.shutdown().await;
}

/// Unix seconds as RFC 3339, as the CLI prints them.
fn time_text(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_with_a_query_and_as_a_group_member() {
    let hub = hub().await;
    let errors = hub
        .ok(&[
            "tail",
            "--from",
            "begin",
            "--to",
            "now",
            "-o",
            "json",
            "--query",
            "* | where level = 'ERROR'",
        ])
        .await;
    let errors = lines(&errors);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["n"], "2");
    let processed = hub
        .ok(&[
            "tail",
            "--from",
            "begin",
            "--to",
            "now",
            "--format",
            "json",
            "--processor",
            "errors",
        ])
        .await;
    assert_eq!(lines(&processed), errors);

    // As a member of GROUP: it commits each shard's end, and the group
    // stays.
    let before = hub.cursors().await;
    assert!(before.iter().all(|(_, c)| c.is_none()), "{before:?}");
    hub.ok(&["groups", "update", GROUP, "--in-order", "true"])
        .await;
    let all = hub
        .ok(&[
            "tail", "--group", GROUP, "--from", "begin", "--to", "now", "-o", "json",
        ])
        .await;
    assert_eq!(lines(&all).len(), 3);
    let mut ends = Vec::new();
    for shard in 0..2 {
        ends.push((
            shard,
            Some(
                hub.client()
                    .get_cursor(PROJECT, LOGSTORE, shard, sls_client::CursorPosition::End)
                    .await
                    .unwrap(),
            ),
        ));
    }
    assert_eq!(hub.cursors().await, ends);
    // Joining kept the group's settings.
    let groups = hub.json(&["groups", "list"]).await;
    assert_eq!(
        groups["groups"],
        json!([{"name": GROUP, "timeout_seconds": 3600, "in_order": true}])
    );
    // Again from the checkpoints: nothing new.
    let again = hub
        .ok(&["tail", "--group", GROUP, "--from", "begin", "--to", "now"])
        .await;
    assert_eq!(again, "");
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_stops_on_ctrl_c() {
    let hub = hub().await;
    let mut live =
        crate::harness::Live::spawn(hub.command(&["tail", "--from", "begin", "--format", "json"]));
    let mut seen = 0;
    while seen < 3 {
        let line = live.line().await.expect("three logs");
        let _: Value = serde_json::from_str(&line).unwrap();
        seen += 1;
    }
    assert_eq!(live.interrupt().await, 0);
    // Its group went with it.
    let groups = hub.json(&["groups", "list"]).await;
    assert_eq!(
        groups["groups"],
        json!([{"name": GROUP, "timeout_seconds": 3600, "in_order": false}])
    );
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_batches_by_topic_and_refuses_bad_lines() {
    let hub = Hub::start(2, 60).await;
    hub.to_present();
    let mut input = String::new();
    for i in 0..20 {
        let topic = if i % 2 == 0 { "even" } else { "odd" };
        input.push_str(&format!(
            "{{\"__time__\": {}, \"__topic__\": \"{topic}\", \"i\": {i}, \"ok\": true}}\n",
            1_700_000_000 + i
        ));
        if i == 10 {
            input.push('\n');
        }
    }
    let put = hub
        .sls_with_input(&["put", "-o", "json"], input.as_bytes())
        .await;
    assert_eq!(put.code, 0, "{put:?}");
    let summary: Value = serde_json::from_str(&put.stdout).unwrap();
    assert_eq!(summary["logs"], 20);
    assert_eq!(summary["requests"], 2);
    let logs = hub.logs(LOGSTORE).await;
    assert_eq!(logs.len(), 20);
    for (topic, _, tags, time, _, fields) in &logs {
        let i = time - 1_700_000_000;
        let want: &[u8] = if i % 2 == 0 { b"even" } else { b"odd" };
        assert_eq!(topic.as_deref(), Some(want));
        assert!(tags.is_empty());
        assert_eq!(
            fields,
            &vec![
                (b"i".to_vec(), i.to_string().into_bytes()),
                (b"ok".to_vec(), b"true".to_vec())
            ]
        );
    }

    // A bad line: exit 2 naming it, and nothing written.
    let bad = hub
        .sls_with_input(
            &["put", "--logstore", COPY],
            b"{\"a\": \"1\"}\n\n{\"a\": {\"nested\": 1}}\n",
        )
        .await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stdout.is_empty(), "{bad:?}");
    assert_eq!(bad.stderr.lines().count(), 1, "{bad:?}");
    assert!(
        bad.stderr
            .starts_with("sls: bad input line 3: field \"a\": an object"),
        "{bad:?}"
    );
    assert!(hub.logs(COPY).await.is_empty());
    let not_json = hub
        .sls_with_input(&["put", "--logstore", COPY], b"{\"a\": \"1\"}\nnope\n")
        .await;
    assert_eq!(not_json.code, 2, "{not_json:?}");
    assert!(not_json.stderr.contains("bad input line 2"), "{not_json:?}");

    // A service error: exit 1.
    let missing = hub
        .sls_with_input(&["put", "--logstore", "nope"], b"{\"a\": \"1\"}\n")
        .await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert!(
        missing.stderr.starts_with("sls: PutLogs failed: "),
        "{missing:?}"
    );
    assert!(
        !missing
            .stderr
            .contains(sls_testkit::DEFAULT_ACCESS_KEY_SECRET),
        "{missing:?}"
    );

    // --hash-key: every log in the shard whose range holds it.
    let keyed = hub
        .sls_with_input(
            &[
                "put",
                "--logstore",
                COPY,
                "--hash-key",
                &format!("ff{}", "0".repeat(30)),
            ],
            input.as_bytes(),
        )
        .await;
    assert_eq!(keyed.code, 0, "{keyed:?}");
    let shards = hub.json(&["shards", "--logstore", COPY]).await;
    assert_eq!(
        shards["shards"][0]["begin_time_unix"],
        shards["shards"][0]["end_time_unix"]
    );
    let bad_key = hub
        .sls_with_input(&["put", "--hash-key", "zz"], b"{}\n")
        .await;
    assert_eq!(bad_key.code, 2, "{bad_key:?}");
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_refuses_a_log_larger_than_a_group() {
    let hub = Hub::start(1, 60).await;
    let big = format!(
        "{{\"ok\": \"1\"}}\n{{\"a\": \"{}\"}}\n",
        "x".repeat(6 << 20)
    );
    let run = hub.sls_with_input(&["put"], big.as_bytes()).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("sls: bad input line 2: the log is ")
            && run.stderr.contains("a log group holds at most 5242880"),
        "{}",
        run.stderr
    );
    let endless = vec![b' '; (10 << 20) + 10];
    let run = hub.sls_with_input(&["put"], &endless).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr
            .starts_with("sls: bad input line 1: longer than 10485760 bytes"),
        "{}",
        run.stderr
    );
    assert!(hub.logs(LOGSTORE).await.is_empty());
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_errors_are_one_line_and_an_exit_code() {
    let hub = Hub::start(1, 60).await;
    hub.write(0, 0, 0).await;
    hub.to_present();
    let missing = hub
        .sls(&["tail", "--logstore", "nope", "--to", "now"])
        .await;
    assert_eq!(missing.code, 1, "{missing:?}");
    assert_eq!(missing.stderr.lines().count(), 1, "{missing:?}");
    assert!(
        missing
            .stderr
            .starts_with("sls: the consumer stopped: LogStoreNotExist (HTTP 404)"),
        "{missing:?}"
    );
    let processor = hub
        .sls(&[
            "tail",
            "--processor",
            "nope",
            "--from",
            "begin",
            "--to",
            "now",
        ])
        .await;
    assert_eq!(processor.code, 1, "{processor:?}");
    assert!(
        processor.stderr.starts_with(
            "sls: the consumer stopped: shard 0: PullLogs failed: ConsumeProcessorNotExist (HTTP 404)"
        ),
        "{processor:?}"
    );
    for args in [
        &["tail", "--from", "yesterday"][..],
        &["tail", "--to", "soon"],
        &["tail", "--from", "2000", "--to", "1000"],
        &["tail", "--query", "*", "--processor", "errors"],
        &["tail", "--format", "xml"],
    ] {
        let run = hub.sls(args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{run:?}");
    }
    hub.hub.shutdown().await;
}
