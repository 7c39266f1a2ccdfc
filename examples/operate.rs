//! The pieces of the `service` example (`examples/service.rs`): its
//! settings from the environment, its HTTP endpoints (`/metrics`,
//! `/livez`, `/readyz`) and its run from start to clean shutdown. They
//! live in the library so that `examples/tests/service.rs` runs the same
//! code against sls-testkit.
//!
//! Choices, for an operator used to Kafka consumers:
//! - `/livez` answers 200 while the worker's loop runs (through a
//!   shutdown's drain too) and 503 once it ended: a probe that restarts
//!   the pod only when the process is of no use.
//! - `/readyz` answers 200 while heartbeats succeed and 503 while
//!   [`Health`] says they fail ([`Problem::HeartbeatFailing`]) or the
//!   worker stopped. A stalled shard leaves it ready: restarting does not
//!   unstick a processor, and `sls_consumer_stalled` and the logs say
//!   which shard.
//! - `/metrics` is metrics-exporter-prometheus's text, with series idle
//!   for [`sls_consumer::export::idle_timeout`] dropped (a released
//!   shard's) and `_seconds` histograms as Prometheus histograms.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;
use sls_client::{Client, PutLogsRequest};
use sls_consumer::{
    Batch, ConsumerConfig, ConsumerError, Health, Problem, Worker, WorkerReport, processor_fn,
};
use sls_proto::sample::AccessLogs;
use sls_testkit::FakeLogHub;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An error of the service's setup.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often the probes' view of the worker's health is refreshed.
const HEALTH_POLL: Duration = Duration::from_millis(250);

/// Where the logs come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The service at this endpoint, with keys from the `ALIBABA_CLOUD_*`
    /// variables.
    Endpoint(String),
    /// A client already set up (a test's fake LogHub).
    Client(Client),
    /// No `SLS_ENDPOINT`: an embedded fake LogHub with demo data written
    /// while the service runs.
    Demo,
}

/// The service's settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the logs come from.
    pub source: Source,
    /// `SLS_PROJECT`.
    pub project: String,
    /// `SLS_LOGSTORE`.
    pub logstore: String,
    /// `SLS_CONSUMER_GROUP`.
    pub group: String,
    /// `SLS_CONSUMER_NAME`; the host name by default.
    pub consumer: String,
    /// `SLS_HTTP_ADDR`, `0.0.0.0:9464` by default.
    pub http_addr: SocketAddr,
    /// `SLS_HEARTBEAT_SECS`: the heartbeat interval (the group timeout is
    /// three of them); the library's default (20 s) when unset.
    pub heartbeat: Option<Duration>,
}

/// The default of `SLS_HTTP_ADDR` (9464: the port commonly used by
/// Prometheus exporters of this kind).
pub const DEFAULT_HTTP_ADDR: &str = "0.0.0.0:9464";

impl Settings {
    /// Reads the settings from the environment. Without `SLS_ENDPOINT` the
    /// source is [`Source::Demo`] and the project, logstore and group
    /// default to the demo's.
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let endpoint = var("SLS_ENDPOINT");
        let demo = endpoint.is_none();
        let required = |name: &str, demo_value: &str| match var(name) {
            Some(value) => Ok(value),
            None if demo => Ok(demo_value.to_owned()),
            None => Err(format!("set {name} (or unset SLS_ENDPOINT for the demo)")),
        };
        let http_addr = var("SLS_HTTP_ADDR")
            .unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_owned())
            .parse()
            .map_err(|e| format!("SLS_HTTP_ADDR: {e}"))?;
        let heartbeat = match var("SLS_HEARTBEAT_SECS") {
            Some(secs) => Some(Duration::from_secs(
                secs.parse()
                    .map_err(|e| format!("SLS_HEARTBEAT_SECS: {e}"))?,
            )),
            None => None,
        };
        Ok(Self {
            source: endpoint.map_or(Source::Demo, Source::Endpoint),
            project: required("SLS_PROJECT", "demo")?,
            logstore: required("SLS_LOGSTORE", "access")?,
            group: required("SLS_CONSUMER_GROUP", "service")?,
            consumer: var("SLS_CONSUMER_NAME").unwrap_or_else(host_name),
            http_addr,
            heartbeat,
        })
    }
}

/// The host name (`HOSTNAME`, else the kernel's), as a pod's name is.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "sls-service".to_owned())
}

/// Installs the Prometheus recorder as the global one: series idle for
/// [`sls_consumer::export::idle_timeout`] of a worker heartbeating every
/// `heartbeat` go (a released shard's), `_seconds` figures are
/// histograms. Returns the handle that renders the text.
pub fn install_recorder(heartbeat: Duration) -> Result<PrometheusHandle, BoxError> {
    let recorder = PrometheusBuilder::new()
        .idle_timeout(
            MetricKindMask::COUNTER | MetricKindMask::GAUGE,
            Some(heartbeat.saturating_mul(3)),
        )
        .set_buckets_for_metric(
            Matcher::Suffix("_seconds".into()),
            &[
                0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
            ],
        )?
        .build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder)?;
    // Without the exporter's own runtime, its upkeep (draining histogram
    // samples) is ours to run.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    Ok(handle)
}

/// What the probes read: whether the worker's loop runs, and its health.
#[derive(Debug, Default)]
pub struct Status {
    live: AtomicBool,
    health: Mutex<Health>,
}

impl Status {
    /// Whether the worker's loop runs.
    pub fn live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    /// Whether heartbeats succeed and the worker runs.
    pub fn ready(&self) -> bool {
        let health = self.health.lock().unwrap_or_else(|e| e.into_inner());
        self.live()
            && !matches!(*health, Health::Stopped(_))
            && !health.problems().contains(&Problem::HeartbeatFailing)
    }

    fn set_health(&self, health: Health) {
        *self.health.lock().unwrap_or_else(|e| e.into_inner()) = health;
    }
}

/// Serves `/metrics`, `/livez` and `/readyz` on `listener` until the task
/// is dropped.
pub async fn serve(listener: TcpListener, status: Arc<Status>, metrics: PrometheusHandle) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (status, metrics) = (status.clone(), metrics.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let answer = answer(req.uri().path(), &status, &metrics);
                async move { Ok::<_, std::convert::Infallible>(answer) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

/// The answer to `GET path`.
fn answer(path: &str, status: &Status, metrics: &PrometheusHandle) -> Response<Full<Bytes>> {
    let (code, kind, body) = match path {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics.render(),
        ),
        "/livez" if status.live() => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/livez" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "the worker's loop has ended\n".to_owned(),
        ),
        "/readyz" if status.ready() => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        "/readyz" => {
            let health = status.health.lock().unwrap_or_else(|e| e.into_inner());
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("{health:?}\n"),
            )
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    Response::builder()
        .status(code)
        .header("content-type", kind)
        .body(Full::new(Bytes::from(body)))
        .expect("a valid response")
}

/// `GET path` on `addr` over HTTP/1.0: the status code and the body (for
/// the short mode's self-scrape and the tests).
pub async fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    let code = answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {answer:.80}")))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((code, body))
}

/// The demo: a fake LogHub with 4 shards and a writer of access logs (a
/// few groups a second, for as long as the service runs).
async fn demo(settings: &Settings) -> Result<(FakeLogHub, Client), BoxError> {
    let hub = FakeLogHub::builder()
        .logstore(&settings.project, &settings.logstore, 4)
        .start()
        .await?;
    let client = hub.client();
    let (writer, project, logstore) = (
        client.clone(),
        settings.project.clone(),
        settings.logstore.clone(),
    );
    tokio::spawn(async move {
        let mut logs = AccessLogs::new(2026);
        loop {
            let group = logs.group(50);
            let put = PutLogsRequest::from_group(&project, &logstore, &group);
            if writer.put_logs(put).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    println!(
        "no SLS_ENDPOINT: reading demo data from a fake LogHub on http://{}",
        hub.endpoint()
    );
    Ok((hub, client))
}

/// Runs the service: the HTTP endpoints on `listener`, the worker until
/// `shutdown` resolves (or the worker stops on its own), then a clean
/// shutdown. Returns the worker's report, or its fatal error.
pub async fn run(
    settings: Settings,
    listener: TcpListener,
    metrics: PrometheusHandle,
    shutdown: impl Future<Output = ()>,
) -> Result<Result<WorkerReport, ConsumerError>, BoxError> {
    let status = Arc::new(Status::default());
    let server = tokio::spawn(serve(listener, status.clone(), metrics));
    let mut builder = ConsumerConfig::builder(
        &settings.project,
        &settings.logstore,
        &settings.group,
        &settings.consumer,
    );
    if let Some(interval) = settings.heartbeat {
        builder = builder
            .heartbeat_interval(interval)
            .heartbeat_timeout(interval * 3);
    }
    let _demo = match &settings.source {
        Source::Endpoint(endpoint) => {
            builder = builder.endpoint(endpoint); // keys from ALIBABA_CLOUD_*
            None
        }
        Source::Client(client) => {
            builder = builder.client(client.clone());
            None
        }
        Source::Demo => {
            let (hub, client) = demo(&settings).await?;
            builder = builder.client(client);
            Some(hub)
        }
    };
    let config = builder.build()?;
    let mut worker = Worker::start(config, |_shard| {
        // Your processing goes here; this one only counts (the figures
        // show it as sls_consumer_processed_logs_total).
        processor_fn(|batch: Batch| async move {
            tracing::debug!(shard = batch.shard, logs = batch.log_count(), "batch");
            Ok(())
        })
    })
    .await?;
    status.live.store(true, Ordering::SeqCst);
    status.set_health(worker.health());
    println!(
        "consumer {} of group {} is running",
        settings.consumer, settings.group
    );
    tokio::pin!(shutdown);
    loop {
        // The probes read the health as of the last quarter second.
        let stopped = tokio::select! {
            biased;
            () = &mut shutdown => None,
            waited = tokio::time::timeout(HEALTH_POLL, worker.stopped()) => Some(waited.is_ok()),
        };
        status.set_health(worker.health());
        if stopped != Some(false) {
            break;
        }
    }
    let report = worker.shutdown().await;
    status.live.store(false, Ordering::SeqCst);
    server.abort();
    Ok(report)
}
