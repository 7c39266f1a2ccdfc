//! The smallest consumer worth copying: join a consumer group on the real
//! service, print every log, stop cleanly on Ctrl-C or SIGTERM.
//!
//! Run: `SLS_ENDPOINT=https://cn-hangzhou.log.aliyuncs.com SLS_PROJECT=…
//! SLS_LOGSTORE=… SLS_GROUP=printer SLS_CONSUMER=printer-1 cargo run
//! --example consume`, with the keys in `ALIBABA_CLOUD_ACCESS_KEY_ID` and
//! `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (plus `ALIBABA_CLOUD_SECURITY_TOKEN`
//! for STS keys). It exits non-zero if the worker stopped on an error.

use std::process::ExitCode;

use sls_consumer::{Batch, ConsumerConfig, Worker, processor_fn};
use tokio::signal::unix::{SignalKind, signal};

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let (project, logstore) = (env("SLS_PROJECT")?, env("SLS_LOGSTORE")?);
    let config =
        ConsumerConfig::builder(project, logstore, env("SLS_GROUP")?, env("SLS_CONSUMER")?)
            .endpoint(env("SLS_ENDPOINT")?) // keys from the ALIBABA_CLOUD_* variables
            .build()?;
    let mut worker = Worker::start(config, |_shard| {
        processor_fn(|batch: Batch| async move {
            for group in &batch.groups {
                for log in group.logs() {
                    let fields: Vec<String> =
                        log.contents().map(|(k, v)| format!("{k}={v}")).collect();
                    println!("shard {} {} {}", batch.shard, log.time(), fields.join(" "));
                }
            }
            Ok(())
        })
    })
    .await?;

    let mut sigterm = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = sigterm.recv() => {}
        () = worker.stopped() => {} // a fatal error (bad keys, no such logstore)
    }
    let report = worker.shutdown().await?;
    if let Some(err) = report.failure() {
        eprintln!("consume: the worker stopped: {err}");
        return Ok(ExitCode::FAILURE);
    }
    println!("processed {} logs", report.logs());
    Ok(ExitCode::SUCCESS)
}
