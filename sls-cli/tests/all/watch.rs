//! `sls groups describe GROUP --watch`: frames until a count or Ctrl-C.

use serde_json::Value;

use crate::harness::{GROUP, Hub, Live};

/// One shard with a group at +0 and +100 s, never committed.
async fn hub() -> Hub {
    let hub = Hub::start(1, 3_600).await;
    hub.write(0, 0, 0).await;
    hub.write(0, 100, 1).await;
    hub.to_present();
    hub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counted_watch_prints_that_many_frames() {
    let hub = hub().await;
    let json = hub
        .ok(&[
            "groups",
            "describe",
            GROUP,
            "--watch",
            "1",
            "--watch-count",
            "2",
            "-o",
            "json",
        ])
        .await;
    let frames: Vec<Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}")))
        .collect();
    assert_eq!(frames.len(), 2, "{json}");
    for frame in &frames {
        assert_eq!(frame["group"], GROUP);
        assert_eq!(frame["shards"][0]["end_time_unix"], hub.start + 100);
    }

    // Not a terminal: no ANSI, each frame under a header, a blank line
    // between frames.
    let table = hub
        .ok(&[
            "groups",
            "describe",
            GROUP,
            "--watch",
            "1",
            "--watch-count",
            "3",
        ])
        .await;
    assert!(!table.contains('\x1b'), "{table}");
    let header = format!("every 1s: sls groups describe {GROUP}  (");
    let headers: Vec<&str> = table.lines().filter(|l| l.starts_with(&header)).collect();
    assert_eq!(headers.len(), 3, "{table}");
    assert_eq!(table.matches("\n\nevery 1s:").count(), 2, "{table}");
    assert_eq!(table.matches("SHARD  STATUS").count(), 3, "{table}");

    // --watch-count without --watch is a usage error; so is --watch 0.
    let alone = hub
        .sls(&["groups", "describe", GROUP, "--watch-count", "2"])
        .await;
    assert_eq!(alone.code, 2, "{alone:?}");
    let zero = hub
        .sls(&["groups", "describe", GROUP, "--watch", "0"])
        .await;
    assert_eq!(zero.code, 2, "{zero:?}");
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_shows_changes_and_stops_on_ctrl_c() {
    let hub = hub().await;
    let mut live =
        Live::spawn(hub.command(&["groups", "describe", GROUP, "--watch", "1", "-o", "json"]));
    let first: Value = serde_json::from_str(&live.line().await.unwrap()).unwrap();
    assert_eq!(first["shards"][0]["checkpoint"], Value::Null);

    // A commit between frames shows in a later frame.
    let cursor = hub.cursor_at(0, 100).await;
    hub.commit("c1", 0, cursor).await;
    let mut seen = None;
    for _ in 0..30 {
        let frame: Value = serde_json::from_str(&live.line().await.unwrap()).unwrap();
        if frame["shards"][0]["checkpoint"] != Value::Null {
            seen = Some(frame);
            break;
        }
    }
    let frame = seen.expect("the commit shows within 30 frames");
    assert_eq!(
        frame["shards"][0]["checkpoint"],
        cursor.to_string().as_str()
    );
    assert_eq!(frame["shards"][0]["lag_seconds"], 0);
    assert_eq!(live.interrupt().await, 0);
    hub.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_of_an_unknown_group_fails_at_once() {
    let hub = hub().await;
    let run = hub
        .sls(&["groups", "describe", "nope", "--watch", "1"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("ConsumerGroupNotExist"), "{run:?}");
    hub.hub.shutdown().await;
}

/// On a terminal (a pseudo-terminal from util-linux `script`): a watch
/// clears the screen before each frame, and `put` shows its progress on
/// stderr. Skipped where `script` is not installed.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_gets_redraws_and_progress() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: no `script` to make a terminal");
        return;
    }
    let hub = hub().await;
    let sls = env!("CARGO_BIN_EXE_sls");
    let on_terminal = |line: String| {
        let command = hub.command(&[]);
        let mut script = std::process::Command::new("script");
        script.args(["-qec", &line, "/dev/null"]);
        for (key, value) in command.get_envs() {
            match value {
                Some(value) => script.env(key, value),
                None => script.env_remove(key),
            };
        }
        script
    };
    let watch = crate::harness::run(on_terminal(format!(
        "{sls} groups describe {GROUP} --watch 1 --watch-count 2"
    )))
    .await;
    assert_eq!(watch.code, 0, "{watch:?}");
    assert_eq!(
        watch
            .stdout
            .matches("\x1b[H\x1b[2Jevery 1s: sls groups describe")
            .count(),
        2,
        "{watch:?}"
    );
    let put = crate::harness::run(on_terminal(format!("echo '{{\"n\": 1}}' | {sls} put"))).await;
    assert_eq!(put.code, 0, "{put:?}");
    // `script` merges stderr into its output.
    assert!(
        put.stdout.contains("\rsls put: 1 log, 1 request"),
        "{put:?}"
    );
    assert!(put.stdout.contains("put 1 log in 1 request ("), "{put:?}");
    hub.hub.shutdown().await;
}
