//! The `service` example as the process a Deployment runs: the binary
//! that `cargo test` builds beside this test (`target/<profile>/examples/
//! service`), configured from the environment only, against sls-testkit on
//! 127.0.0.1.
//!
//! - SIGTERM drains and exits 0: every log processed, the checkpoints at
//!   the end, the shards released at once.
//! - A worker that cannot start (a wrong secret, a missing logstore) exits
//!   1 with one line on stderr that never shows the secret; bad settings
//!   exit 2.
//!
//! `kill(1)` (procps, which `.ci/run` installs) sends the signal: the
//! workspace forbids `unsafe`, and `std` cannot send SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use sls_client::{Credentials, PutLogsRequest};
use sls_examples::operate;
use sls_proto::sample::AccessLogs;
use sls_testkit::FakeLogHub;

const LOGS: usize = 300;
const SECRET: &str = "do-not-print-this-secret";

/// The `service` example binary built beside this test binary.
fn service_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps/<test>");
    let path = profile_dir.join("examples").join("service");
    assert!(
        path.exists(),
        "{} is missing: run this test through `cargo test -p sls-examples`, which builds the examples",
        path.display()
    );
    path
}

/// A fake LogHub with `LOGS` access logs in `demo/access` (2 shards), and
/// keys the service must present.
async fn hub() -> FakeLogHub {
    let hub = FakeLogHub::builder()
        .credentials(Credentials::new("svc-key", SECRET))
        .logstore("demo", "access", 2)
        .start()
        .await
        .unwrap();
    let mut logs = AccessLogs::new(11);
    for _ in 0..LOGS / 50 {
        let group = logs.group(50);
        hub.client()
            .put_logs(PutLogsRequest::from_group("demo", "access", &group))
            .await
            .unwrap();
    }
    hub
}

/// The service's command with the connection settings of `hub` and the
/// given secret and logstore.
fn command(hub: &FakeLogHub, secret: &str, logstore: &str) -> Command {
    let mut command = Command::new(service_binary());
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SLS_ENDPOINT", hub.endpoint())
        .env("SLS_PROJECT", "demo")
        .env("SLS_LOGSTORE", logstore)
        .env("SLS_CONSUMER_GROUP", "svc")
        .env("SLS_CONSUMER_NAME", "pod-1")
        .env("SLS_HTTP_ADDR", "127.0.0.1:0")
        .env("SLS_HEARTBEAT_SECS", "1")
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", "svc-key")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", secret)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Waits for `child` to exit, up to `limit`; kills it and fails after.
async fn exit_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the service") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the service did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The sum of a metric's samples in Prometheus text.
fn sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with('{'))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_commits_and_exits_zero() {
    let hub = hub().await;
    let mut child = command(&hub, SECRET, "access")
        .spawn()
        .expect("starting the service");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr: SocketAddr = line
        .trim()
        .rsplit_once("http://")
        .and_then(|(_, a)| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));

    // Ready, and every log processed (as its own /metrics says).
    let started = Instant::now();
    loop {
        let ready = operate::get(addr, "/readyz").await.map(|(c, _)| c).ok() == Some(200);
        let processed = match operate::get(addr, "/metrics").await {
            Ok((200, body)) => sum(&body, "sls_consumer_processed_logs_total"),
            _ => 0.0,
        };
        if ready && processed == LOGS as f64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "ready {ready}, processed {processed}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        hub.group_consumers("demo", "access", "svc"),
        Some(vec!["pod-1".to_owned()])
    );

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill(1), from procps");
    assert!(killed.success());
    // Well within the shutdown timeout (30 s): nothing is in flight.
    let status = exit_within(&mut child, Duration::from_secs(10)).await;
    assert_eq!(status.code(), Some(0), "{status}");
    let rest: Vec<String> = stdout.lines().map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l == "shutting down"), "{rest:?}");
    assert!(
        rest.iter().any(|l| l == &format!("processed {LOGS} logs")),
        "{rest:?}"
    );

    // The checkpoints are at the end of each shard, and the shards were
    // released at once rather than when the group's timeout passes.
    let client = hub.client();
    let checkpoints = client
        .get_checkpoints("demo", "access", "svc", None)
        .await
        .unwrap();
    assert_eq!(checkpoints.len(), 2);
    for checkpoint in checkpoints {
        let end = hub.end_cursor("demo", "access", checkpoint.shard).unwrap();
        assert_eq!(checkpoint.cursor, Some(end), "shard {}", checkpoint.shard);
    }
    let assignments = hub.group_assignments("demo", "access", "svc").unwrap();
    assert_eq!(assignments.len(), 2);
    assert!(
        assignments.iter().all(|a| a.owner.is_none()),
        "{assignments:?}"
    );
    hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_start_exits_one_and_bad_settings_exit_two() {
    let hub = hub().await;
    for (secret, logstore, code) in [
        ("a-wrong-secret", "access", 1),
        (SECRET, "no-such-logstore", 1),
    ] {
        let mut child = command(&hub, secret, logstore).spawn().unwrap();
        let status = exit_within(&mut child, Duration::from_secs(20)).await;
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(status.code(), Some(code), "{logstore}: {stderr}");
        assert!(stderr.contains("service:"), "{stderr}");
        assert!(!stderr.contains(SECRET) && !stderr.contains("a-wrong-secret"));
    }
    let output = command(&hub, SECRET, "access")
        .env("SLS_HTTP_ADDR", "not-an-address")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("SLS_HTTP_ADDR"), "{stderr}");
    hub.shutdown().await;
}
