//! Write a few logs into a logstore with PutLogs: something for
//! `consume` to read. It takes the same settings as `consume`:
//! `SLS_ENDPOINT`, `SLS_PROJECT`, `SLS_LOGSTORE` and the keys in
//! `ALIBABA_CLOUD_ACCESS_KEY_ID` and `ALIBABA_CLOUD_ACCESS_KEY_SECRET`
//! (plus `ALIBABA_CLOUD_SECURITY_TOKEN` for STS keys); `SLS_LOGS` says how
//! many logs (default 20), written in groups of 10, each with a `level`
//! and a `message`.
//!
//! Run against `sls-fake` (see the guide's Getting started):
//! `SLS_ENDPOINT=127.0.0.1:7878 SLS_PROJECT=demo SLS_LOGSTORE=app
//! ALIBABA_CLOUD_ACCESS_KEY_ID=AK ALIBABA_CLOUD_ACCESS_KEY_SECRET=SK
//! cargo run --example produce`.
//!
//! Without `SLS_ENDPOINT` it writes into an in-process fake LogHub and
//! exits non-zero unless every log can be read back (what CI runs).

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use sls_client::{Client, CursorPosition, EnvCredentials, PullLogsRequest, PutLogsRequest};
use sls_proto::LogGroup;
use sls_testkit::FakeLogHub;

/// Logs per PutLogs call.
const PER_GROUP: usize = 10;

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    sls_examples::print_warnings();
    sls_examples::exit_code("produce", run().await)
}

async fn run() -> Result<bool, Box<dyn std::error::Error>> {
    let logs = match std::env::var("SLS_LOGS") {
        Ok(n) => n
            .parse()
            .map_err(|_| format!("SLS_LOGS={n:?} is not a number"))?,
        Err(_) => 20,
    };
    if let Ok(endpoint) = std::env::var("SLS_ENDPOINT") {
        let (project, logstore) = (env("SLS_PROJECT")?, env("SLS_LOGSTORE")?);
        let client = Client::builder(endpoint)
            .credentials(EnvCredentials::new())
            .build()?;
        write(&client, &project, &logstore, logs).await?;
        println!("wrote {logs} logs to {project}/{logstore}");
        return Ok(true);
    }
    let hub = FakeLogHub::builder()
        .logstore("demo", "app", 2)
        .start()
        .await?;
    let client = hub.client();
    write(&client, "demo", "app", logs).await?;
    let read = count(&client, "demo", "app").await?;
    println!("wrote {logs} logs to an in-process fake LogHub, read back {read}");
    hub.shutdown().await;
    Ok(read == logs)
}

/// Writes `logs` logs in groups of [`PER_GROUP`].
async fn write(
    client: &Client,
    project: &str,
    logstore: &str,
    logs: usize,
) -> Result<(), sls_client::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let now = u32::try_from(now).unwrap_or(u32::MAX);
    let mut written = 0;
    while written < logs {
        let mut group = LogGroup::builder().topic("produce");
        for i in written..logs.min(written + PER_GROUP) {
            let level = if i % 10 == 9 { "WARN" } else { "INFO" };
            let message = format!("hello {i}");
            group = group.log(now, [("level", level), ("message", message.as_str())]);
        }
        let request = PutLogsRequest::from_group(project, logstore, &group.build());
        client.put_logs(request).await?;
        written = logs.min(written + PER_GROUP);
    }
    Ok(())
}

/// Counts every log of a logstore, reading each shard from its beginning.
async fn count(client: &Client, project: &str, logstore: &str) -> Result<usize, sls_client::Error> {
    let mut logs = 0;
    for shard in client.list_shards(project, logstore).await? {
        let id = shard.shard_id;
        let mut cursor = client
            .get_cursor(project, logstore, id, CursorPosition::Begin)
            .await?;
        loop {
            let pulled = client
                .pull_logs(PullLogsRequest::new(project, logstore, id, cursor))
                .await?;
            logs += pulled.groups.log_count();
            if pulled.count == 0 || pulled.end_of_cursor {
                break;
            }
            cursor = pulled.next_cursor;
        }
    }
    Ok(logs)
}
