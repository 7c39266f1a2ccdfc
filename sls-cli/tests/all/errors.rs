//! Bad input and failures: one line on stderr, exit code 2 or 1, never a
//! panic, a backtrace or a secret.

use sls_testkit::DEFAULT_ACCESS_KEY_SECRET;

use crate::harness::{GROUP, Hub, run};

/// Checks a failed run: `code`, one `sls: ` line containing `needle`.
fn expect_failure(run: &crate::harness::Run, code: i32, needle: &str) {
    assert_eq!(run.code, code, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{run:?}");
    assert!(lines[0].starts_with("sls: "), "{run:?}");
    assert!(lines[0].contains(needle), "{run:?}");
    assert!(!run.stderr.contains("panicked"), "{run:?}");
    assert!(!run.stderr.contains(DEFAULT_ACCESS_KEY_SECRET), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_one_line_and_an_exit_code() {
    let hub = Hub::start(1, 60).await;
    hub.write(0, 0, 0).await;
    hub.to_present();

    let unknown = hub.sls(&["groups", "describe", "nope"]).await;
    expect_failure(
        &unknown,
        1,
        "GetCheckPoint failed: ConsumerGroupNotExist (HTTP 404)",
    );

    let duration = hub
        .sls(&["groups", "reset", GROUP, "--by-duration", "90"])
        .await;
    expect_failure(&duration, 2, "bad duration \"90\"");

    let dir = std::env::temp_dir().join(format!("sls-cli-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("bad.csv");
    std::fs::write(&csv, "shard,cursor,time\n0,not a cursor!,\n").unwrap();
    let bad_csv = hub
        .sls(&[
            "groups",
            "reset",
            GROUP,
            "--from-file",
            csv.to_str().unwrap(),
        ])
        .await;
    expect_failure(&bad_csv, 2, "line 2: cursor");
    std::fs::write(&csv, "0\n").unwrap();
    let short = hub
        .sls(&[
            "groups",
            "reset",
            GROUP,
            "--from-file",
            csv.to_str().unwrap(),
        ])
        .await;
    expect_failure(&short, 2, "line 1: expected shard,cursor[,time]");
    std::fs::remove_dir_all(&dir).unwrap();

    let time = hub
        .sls(&["groups", "reset", GROUP, "--to-datetime", "yesterday"])
        .await;
    expect_failure(&time, 2, "bad time");

    let shard = hub
        .sls(&["groups", "reset", GROUP, "--to-latest", "--shard", "7"])
        .await;
    expect_failure(&shard, 2, "no shard 7");

    let mut command = hub.command(&["shards"]);
    command.env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID");
    expect_failure(&run(command).await, 2, "ALIBABA_CLOUD_ACCESS_KEY_ID");

    let mut command = hub.command(&["shards"]);
    command.env_remove("SLS_PROJECT");
    expect_failure(&run(command).await, 2, "--project");

    let v4 = hub.sls(&["shards", "--signature-version", "v4"]).await;
    expect_failure(&v4, 2, "--region");

    let mut command = hub.command(&["shards"]);
    command.env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "wrong-secret");
    expect_failure(
        &run(command).await,
        1,
        "ListShards failed: SignatureNotMatch",
    );

    // Port 1 on loopback: nothing listens there.
    let mut command = hub.command(&["groups", "list"]);
    command.env("SLS_ENDPOINT", "http://127.0.0.1:1");
    expect_failure(
        &run(command).await,
        1,
        "ListConsumerGroup failed: network error",
    );
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_errors_exit_2_and_help_exits_0() {
    let hub = Hub::start(1, 60).await;
    // No target, and two targets.
    let none = hub.sls(&["groups", "reset", GROUP]).await;
    assert_eq!(none.code, 2, "{none:?}");
    let two = hub
        .sls(&["groups", "reset", GROUP, "--to-latest", "--to-earliest"])
        .await;
    assert_eq!(two.code, 2, "{two:?}");
    let force = hub
        .sls(&["groups", "reset", GROUP, "--to-latest", "--force"])
        .await;
    assert_eq!(force.code, 2, "{force:?}");
    for args in [
        &["--help"][..],
        &["shards", "--help"],
        &["groups", "--help"],
        &["groups", "describe", "--help"],
        &["groups", "reset", "--help"],
    ] {
        let help = hub.sls(args).await;
        assert_eq!(help.code, 0, "{help:?}");
        assert!(help.stdout.contains("Usage: sls"), "{help:?}");
    }
    hub.hub.shutdown().await;
}
