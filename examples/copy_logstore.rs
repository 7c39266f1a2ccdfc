//! Copy a logstore: consume one logstore and write every log group into
//! another with PutLogs, unchanged (the group's bytes are forwarded without
//! re-encoding). Ctrl-C or SIGTERM shuts down gracefully (batches finish,
//! checkpoints are committed).
//!
//! By default it runs against an in-process fake LogHub it fills itself,
//! half with access logs and half with messy logs whose keys, values, tags,
//! topic and source are GBK, Latin-1, binary and UTF-8 (as production logs
//! are: the service stores text unchecked); once everything is copied it
//! reads both logstores back and exits non-zero unless the target holds
//! exactly the source's groups, byte for byte.
//!
//! Against the real service, set `SLS_ENDPOINT`, `SLS_PROJECT`,
//! `SLS_LOGSTORE` (source), `SLS_TARGET_LOGSTORE` and the standard
//! `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (and
//! `ALIBABA_CLOUD_SECURITY_TOKEN` for STS keys); it then copies until
//! stopped, without the final comparison (the target may hold other data).
//!
//! Run: `cargo run --release --example copy_logstore`
//! (`SLS_EXAMPLE_SHORT=1`: a small fake data set, exit once copied).

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use sls_client::{Client, CursorPosition, EnvCredentials, PullLogsRequest, PutLogsRequest};
use sls_consumer::{
    Batch, Checkpoint, ConsumerConfig, Decision, ProcessError, Processor, StartPosition, Worker,
};
use sls_proto::sample::{AccessLogs, MessyLogs};
use sls_proto::{ByteSlice, LogGroupBytes};
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
            // The group's own bytes, shared with the pulled body: no
            // re-encoding, so text in any encoding is copied as it is.
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
    sls_examples::print_warnings();
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
            let (mut access, mut messy) = (AccessLogs::new(1), MessyLogs::new(1));
            for i in 0..groups {
                let group = if i % 2 == 0 {
                    access.group(100)
                } else {
                    messy.group(100)
                };
                client
                    .put_logs(PutLogsRequest::from_group("demo", "source", &group))
                    .await?;
            }
            println!(
                "fake LogHub on http://{}: {groups} groups in demo/source, half of them \
                 with GBK, Latin-1 and binary text",
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
    let (p, t, c, w) = (
        project.clone(),
        target.clone(),
        copied.clone(),
        client.clone(),
    );
    let mut worker = Worker::start(config, move |_| Copier {
        client: w.clone(),
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
    if expected.is_some() {
        verify_byte_identical(&client, &project, &source, &target).await?;
    }
    Ok(())
}

/// Checks that `target` holds exactly the groups of `source`, byte for
/// byte (in any order: groups are spread over shards differently).
async fn verify_byte_identical(
    client: &Client,
    project: &str,
    source: &str,
    target: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let from = all_groups(client, project, source).await?;
    let to = all_groups(client, project, target).await?;
    let not_utf8 = from
        .iter()
        .filter(|group| {
            let list = LogGroupBytes::decode((*group).clone());
            list.is_ok_and(|g| {
                g.view()
                    .logs()
                    .flat_map(|log| log.contents())
                    .any(|(k, v)| k.to_str().is_err() || v.to_str().is_err())
            })
        })
        .count();
    if from != to {
        let missing = from.iter().filter(|g| !to.contains(g)).count();
        let extra = to.iter().filter(|g| !from.contains(g)).count();
        return Err(format!(
            "the copy differs: source {} groups, target {} ({missing} not copied byte for \
             byte, {extra} unexpected)",
            from.len(),
            to.len()
        )
        .into());
    }
    println!(
        "verified: {target} holds the {} groups of {source} byte for byte \
         ({not_utf8} of them with text that is not UTF-8)",
        from.len()
    );
    if not_utf8 == 0 {
        return Err("the data set held no text that is not UTF-8".into());
    }
    Ok(())
}

/// Every group of a logstore, as encoded bytes, sorted.
async fn all_groups(
    client: &Client,
    project: &str,
    logstore: &str,
) -> Result<Vec<Bytes>, Box<dyn std::error::Error>> {
    let mut groups = Vec::new();
    for shard in client.list_shards(project, logstore).await? {
        let id = shard.shard_id;
        let mut cursor = client
            .get_cursor(project, logstore, id, CursorPosition::Begin)
            .await?;
        loop {
            let pulled = client
                .pull_logs(PullLogsRequest::new(project, logstore, id, cursor))
                .await?;
            groups.extend(pulled.groups.groups().map(|g| g.encoded()));
            if pulled.count == 0 || pulled.end_of_cursor {
                break;
            }
            cursor = pulled.next_cursor;
        }
    }
    groups.sort();
    Ok(groups)
}
