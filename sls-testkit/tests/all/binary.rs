//! The `sls-fake` binary: one ready line, real service, clean exit on
//! SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use sls_client::{Client, Credentials, CursorPosition, ErrorCode, PullLogsRequest, PutLogsRequest};

#[tokio::test]
async fn sls_fake_serves_and_exits_cleanly_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sls-fake"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--project",
            "demo",
            "--logstore",
            "app",
            "--logstore",
            "web",
            "--shards",
            "3",
            "--access-key-id",
            "AK",
            "--access-key-secret",
            "SK",
            "--consume-processor",
            "errors=* | where level = 'ERROR'",
            "--request-log",
            "10",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let client = Client::builder(address)
        .credentials(Credentials::new("AK", "SK"))
        .build()
        .unwrap();
    assert_eq!(client.list_shards("demo", "app").await.unwrap().len(), 3);
    assert_eq!(client.list_logstores("demo").await.unwrap(), ["app", "web"]);
    let group = sls_proto::LogGroup::builder()
        .log(1, [("level", "ERROR")])
        .log(2, [("level", "INFO")])
        .build();
    client
        .put_logs(
            PutLogsRequest::from_group("demo", "app", &group)
                .hash_key("00000000000000000000000000000000"),
        )
        .await
        .unwrap();
    let begin = client
        .get_cursor("demo", "app", 0, CursorPosition::Begin)
        .await
        .unwrap();
    let pulled = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).processor("errors"))
        .await
        .unwrap();
    assert_eq!(pulled.groups.log_count(), 1, "the processor filtered");
    let unknown = client
        .pull_logs(PullLogsRequest::new("demo", "app", 0, begin).processor("nope"))
        .await
        .unwrap_err();
    assert_eq!(
        unknown.error_code(),
        Some(ErrorCode::ConsumeProcessorNotExist),
        "{unknown}"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Runs `sls-fake` with `args`, which it must refuse before it is ready;
/// returns what it printed to stderr.
fn refused_to_start(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sls-fake"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "never ready");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn sls_fake_refuses_a_processor_outside_the_spl_subset() {
    let stderr = refused_to_start(&[
        "--listen",
        "127.0.0.1:0",
        "--consume-processor",
        "bad=* | parse-json content",
    ]);
    assert!(stderr.contains("parse-json"), "{stderr}");
}

#[test]
fn sls_fake_refuses_a_name_the_service_would() {
    let stderr = refused_to_start(&["--listen", "127.0.0.1:0", "--project", "Bad_Project"]);
    assert!(stderr.contains("project name"), "{stderr}");
}
