//! `tail`: a small command-line consumer that prints logs as JSON lines,
//! like kcat for Kafka.
//!
//! ```text
//! cargo run --example tail -- --endpoint 127.0.0.1:7878 --project demo --logstore app \
//!     --access-key-id AK --access-key-secret SK --from begin
//! ```
//!
//! Options: `--from begin|end|UNIX_SECONDS`, `--group NAME` (default
//! `tail-<pid>`), `--query SPL` or `--processor NAME` (a consume
//! processor), `--end-time UNIX_SECONDS` (stop once
//! every shard reached it). Without `--endpoint` it uses `SLS_ENDPOINT`,
//! `SLS_PROJECT`, `SLS_LOGSTORE` and the `ALIBABA_CLOUD_*` credential
//! variables. `--demo` starts an in-process fake LogHub with sample data
//! and tails it up to now (what CI runs).
//!
//! JSON strings are Unicode, so text that is not UTF-8 (GBK, Latin-1,
//! binary: the service returns whatever was written) is printed lossily,
//! each invalid sequence as U+FFFD; the logs themselves are not refused.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgAction, Command};
use sls_client::{Client, Credentials, EnvCredentials, PutLogsRequest};
use sls_consumer::{Batch, ConsumerConfig, StartPosition, Worker, processor_fn};
use sls_proto::ByteSlice;
use sls_proto::sample::AccessLogs;
use sls_testkit::FakeLogHub;

fn command() -> Command {
    let opt = |name: &'static str, help: &'static str| Arg::new(name).long(name).help(help);
    Command::new("tail")
        .about("Print a logstore's logs as JSON lines")
        .arg(opt("endpoint", "Endpoint (default $SLS_ENDPOINT)"))
        .arg(opt("project", "Project (default $SLS_PROJECT)"))
        .arg(opt("logstore", "Logstore (default $SLS_LOGSTORE)"))
        .arg(opt(
            "access-key-id",
            "AccessKey id (default $ALIBABA_CLOUD_ACCESS_KEY_ID)",
        ))
        .arg(opt(
            "access-key-secret",
            "AccessKey secret (default $ALIBABA_CLOUD_ACCESS_KEY_SECRET)",
        ))
        .arg(opt("from", "begin, end or a Unix time (default end)"))
        .arg(opt("group", "Consumer group (default tail-<pid>)"))
        .arg(opt("query", "SPL query run on the service"))
        .arg(opt(
            "processor",
            "Consume processor (SPL stored on the service) to pull through",
        ))
        .arg(opt(
            "end-time",
            "Stop once every shard reached this Unix time",
        ))
        .arg(
            Arg::new("demo")
                .long("demo")
                .action(ArgAction::SetTrue)
                .help("Tail an in-process fake LogHub"),
        )
}

fn start_position(from: Option<&str>) -> Result<StartPosition, String> {
    match from.unwrap_or("end") {
        "begin" => Ok(StartPosition::Begin),
        "end" => Ok(StartPosition::End),
        t => t
            .parse()
            .map(StartPosition::At)
            .map_err(|_| format!("--from {t:?}: begin, end or a Unix time")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    sls_examples::print_warnings();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tail: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let m = command().get_matches();
    let arg = |name: &str| m.get_one::<String>(name).cloned();
    let env = |k: &str| std::env::var(k).ok();
    let mut from = start_position(arg("from").as_deref())?;
    let mut end_time: Option<i64> = match arg("end-time") {
        Some(t) => Some(t.parse().map_err(|_| "--end-time takes a Unix time")?),
        None => None,
    };

    let mut hub = None;
    let (client, project, logstore) = if m.get_flag("demo") {
        let fake = FakeLogHub::builder()
            .logstore("demo", "app", 2)
            .start()
            .await?;
        let client = fake.client();
        let mut logs = AccessLogs::new(9);
        for _ in 0..4 {
            client
                .put_logs(PutLogsRequest::from_group("demo", "app", &logs.group(5)))
                .await?;
        }
        from = StartPosition::Begin;
        end_time = Some(fake.clock().unix_seconds() + 1);
        hub = Some(fake);
        (client, "demo".to_owned(), "app".to_owned())
    } else {
        let endpoint = arg("endpoint")
            .or_else(|| env("SLS_ENDPOINT"))
            .ok_or("set --endpoint or SLS_ENDPOINT")?;
        let project = arg("project")
            .or_else(|| env("SLS_PROJECT"))
            .ok_or("set --project or SLS_PROJECT")?;
        let logstore = arg("logstore")
            .or_else(|| env("SLS_LOGSTORE"))
            .ok_or("set --logstore or SLS_LOGSTORE")?;
        let builder = Client::builder(endpoint);
        let builder = match (arg("access-key-id"), arg("access-key-secret")) {
            (Some(id), Some(secret)) => builder.credentials(Credentials::new(id, secret)),
            _ => builder.credentials(EnvCredentials::new()),
        };
        (builder.build()?, project, logstore)
    };

    let group = arg("group").unwrap_or_else(|| format!("tail-{}", std::process::id()));
    let mut config = ConsumerConfig::builder(&project, &logstore, &group, "tail")
        .client(client)
        .start_position(from)
        .heartbeat_interval(Duration::from_secs(if hub.is_some() { 1 } else { 10 }));
    if let Some(query) = arg("query") {
        config = config.query(query);
    }
    if let Some(name) = arg("processor") {
        config = config.processor(name);
    }
    if let Some(t) = end_time {
        config = config.end_time(t);
    }
    let mut worker = Worker::start(config.build()?, |_| {
        processor_fn(|batch: Batch| {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for group in &batch.groups {
                for log in group.logs() {
                    let mut line = serde_json::Map::new();
                    line.insert("__shard__".into(), batch.shard.into());
                    line.insert("__time__".into(), log.time().into());
                    if let Some(topic) = group.topic() {
                        line.insert("__topic__".into(), topic.to_str_lossy().into());
                    }
                    for (key, value) in log.contents() {
                        line.insert(key.to_str_lossy().into(), value.to_str_lossy().into());
                    }
                    let _ = writeln!(out, "{}", serde_json::Value::Object(line));
                }
            }
            std::future::ready(Ok(()))
        })
    })
    .await?;
    if end_time.is_some() {
        tokio::select! {
            () = worker.replay_finished() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    } else {
        let _ = tokio::signal::ctrl_c().await;
    }
    let report = worker.shutdown().await?;
    eprintln!("tail: {} logs", report.logs());
    if hub.is_some() && report.logs() != 20 {
        return Err(format!("demo: expected 20 logs, printed {}", report.logs()).into());
    }
    Ok(())
}
