//! Copy a logstore: consume one logstore and write every log group into
//! another with PutLogs, unchanged (the group's bytes are forwarded without
//! re-encoding). Ctrl-C or SIGTERM shuts down gracefully (batches finish,
//! checkpoints are committed).
//!
//! By default it runs against an in-process fake LogHub it fills itself.
//! Against the real service, set `SLS_ENDPOINT`, `SLS_PROJECT`,
//! `SLS_LOGSTORE` (source), `SLS_TARGET_LOGSTORE` and the standard
//! `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (and
//! `ALIBABA_CLOUD_SECURITY_TOKEN` for STS keys).
//!
//! Run: `cargo run --release --example copy_logstore`
//! (`SLS_EXAMPLE_SHORT=1`: a small fake data set, exit once copied).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sls_client::{Client, EnvCredentials, PutLogsRequest};
use sls_consumer::{
    Batch, Checkpoint, ConsumerConfig, Decision, ProcessError, Processor, StartPosition, Worker,
};
use sls_proto::LogGroupBytes;
use sls_proto::sample::AccessLogs;
use sls_testkit::FakeLogHub;

/// Writes each group of a batch to the target logstore.
struct Copier {
    client: Client,
    project: String,
    target: String,
    copied: Arc<AtomicU64>,
}

impl Processor for Copier {
    async fn process(
        &mut self,
        batch: &Batch,
        _: &mut Checkpoint<'_>,
    ) -> Result<Decision, ProcessError> {
        for group in &batch.groups {
            // The group's own bytes, shared with the pulled body: no re-encoding.
            let bytes = LogGroupBytes::from(group);
            let logs = bytes.log_count() as u64;
            self.client
                .put_logs(PutLogsRequest::new(&self.project, &self.target, bytes))
                .await?;
            self.copied.fetch_add(logs, Ordering::Relaxed);
        }
        Ok(Decision::Continue)
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("copy_logstore failed: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let real = std::env::var("SLS_ENDPOINT").ok();
    let (client, project, source, target, _hub, expected) = match real {
        Some(endpoint) => {
            let env = |k: &str| std::env::var(k).map_err(|_| format!("set {k}"));
            let client = Client::builder(endpoint)
                .credentials(EnvCredentials::new())
                .build()?;
            (
                client,
                env("SLS_PROJECT")?,
                env("SLS_LOGSTORE")?,
                env("SLS_TARGET_LOGSTORE")?,
                None,
                None,
            )
        }
        None => {
            let hub = FakeLogHub::builder()
                .logstore("demo", "source", 4)
                .logstore("demo", "copy", 2)
                .start()
                .await?;
            let client = hub.client();
            let groups = if std::env::var_os("SLS_EXAMPLE_SHORT").is_some() {
                20
            } else {
                400
            };
            let mut logs = AccessLogs::new(1);
            for _ in 0..groups {
                client
                    .put_logs(PutLogsRequest::from_group(
                        "demo",
                        "source",
                        &logs.group(100),
                    ))
                    .await?;
            }
            println!(
                "fake LogHub on http://{}: {groups} groups in demo/source",
                hub.endpoint()
            );
            (
                client,
                "demo".into(),
                "source".into(),
                "copy".into(),
                Some(hub),
                Some(groups * 100),
            )
        }
    };

    let copied = Arc::new(AtomicU64::new(0));
    let config = ConsumerConfig::builder(&project, &source, "copy-logstore", "copier-1")
        .client(client.clone())
        .start_position(StartPosition::Begin)
        .heartbeat_interval(Duration::from_secs(5))
        .build()?;
    let (p, t, c) = (project.clone(), target.clone(), copied.clone());
    let mut worker = Worker::start(config, move |_| Copier {
        client: client.clone(),
        project: p.clone(),
        target: t.clone(),
        copied: c.clone(),
    })
    .await?;
    println!("copying {project}/{source} to {project}/{target}; Ctrl-C to stop");

    let done = async {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if expected.is_some_and(|n| copied.load(Ordering::Relaxed) >= n) {
                return;
            }
        }
    };
    tokio::select! {
        () = shutdown_signal() => println!("signal: shutting down"),
        () = done => println!("everything copied"),
        () = worker.stopped() => println!("the worker stopped on its own"),
    }
    let report = worker.shutdown().await?;
    println!(
        "copied {} logs in this run ({} processed)",
        copied.load(Ordering::Relaxed),
        report.logs()
    );
    if let Some(failure) = report.failure() {
        return Err(failure.to_string().into());
    }
    Ok(())
}
