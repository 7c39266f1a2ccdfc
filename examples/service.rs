//! A consumer to deploy: a worker of a consumer group with Prometheus
//! metrics (`GET /metrics`), a liveness probe (`GET /livez`: 200 while the
//! worker's loop runs) and a readiness probe (`GET /readyz`: 200 while
//! heartbeats succeed, 503 while they fail or after the worker stopped).
//!
//! Configured from the environment:
//!
//! | variable | default |
//! |---|---|
//! | `SLS_ENDPOINT` | none: an embedded fake LogHub with demo data |
//! | `SLS_PROJECT`, `SLS_LOGSTORE`, `SLS_CONSUMER_GROUP` | required with `SLS_ENDPOINT`; `demo`, `access`, `service` otherwise |
//! | `SLS_CONSUMER_NAME` | the host name (a pod's name) |
//! | `ALIBABA_CLOUD_ACCESS_KEY_ID`, `ALIBABA_CLOUD_ACCESS_KEY_SECRET`, `ALIBABA_CLOUD_SECURITY_TOKEN` | the keys, as sls-client reads them |
//! | `SLS_HTTP_ADDR` | `0.0.0.0:9464` |
//! | `SLS_HEARTBEAT_SECS` | the library's (20 s; the group timeout is 3 intervals) |
//!
//! SIGTERM or Ctrl-C shuts down cleanly: in-flight batches finish and are
//! committed, and the shards are released at once (within the worker's
//! shutdown timeout, 30 s by default). The exit code is 1 when the worker
//! stopped on a fatal error (bad keys, a missing logstore), 2 for bad
//! settings.
//!
//! Run: `cargo run --release --example service`, then
//! `curl localhost:9464/metrics`. `SLS_EXAMPLE_SHORT=1` (CI) runs a few
//! seconds on the fake, scrapes itself once, and exits 0.

use std::process::ExitCode;
use std::time::Duration;

use sls_examples::operate::{self, Settings};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

#[tokio::main]
async fn main() -> ExitCode {
    sls_examples::print_warnings();
    let short = std::env::var_os("SLS_EXAMPLE_SHORT").is_some();
    let mut settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("service: {err}");
            return ExitCode::from(2);
        }
    };
    if short {
        // CI: a free port on loopback, a short heartbeat.
        if std::env::var_os("SLS_HTTP_ADDR").is_none() {
            settings.http_addr = "127.0.0.1:0".parse().expect("an address");
        }
        settings.heartbeat.get_or_insert(Duration::from_secs(1));
    }
    match run(settings, short).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("service: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: Settings, short: bool) -> Result<ExitCode, operate::BoxError> {
    let heartbeat = settings
        .heartbeat
        .unwrap_or(sls_consumer::defaults::HEARTBEAT_INTERVAL);
    let metrics = operate::install_recorder(heartbeat)?;
    let listener = TcpListener::bind(settings.http_addr).await?;
    let addr = listener.local_addr()?;
    println!("serving /metrics, /livez and /readyz on http://{addr}");
    let mut sigterm = signal(SignalKind::terminate())?;
    let (scraped_tx, scraped) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        if short {
            // Run a few seconds, then scrape ourselves once.
            tokio::time::sleep(Duration::from_secs(4)).await;
            let _ = scraped_tx.send(operate::get(addr, "/metrics").await);
            return;
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = sigterm.recv() => {}
        }
        println!("shutting down");
    };
    let report = operate::run(settings, listener, metrics, shutdown).await?;
    let report = match report {
        Ok(report) => report,
        Err(err) => {
            eprintln!("service: the worker stopped: {err}");
            return Ok(ExitCode::FAILURE);
        }
    };
    println!("processed {} logs", report.logs());
    if short {
        let (code, body) = scraped.await??;
        let processed = body
            .lines()
            .any(|l| l.starts_with("sls_consumer_processed_logs_total{"));
        println!("GET /metrics: {code}, {} lines", body.lines().count());
        if code != 200 || !processed || report.logs() == 0 {
            eprintln!("service: the self-scrape did not show processed logs");
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}
