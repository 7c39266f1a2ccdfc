//! The fake as a standalone server on a socket, until SIGINT or SIGTERM:
//! the options and run loop of the `sls-fake` binary, shared with the
//! `sls fake` command of sls-cli so both take the same flags and print
//! the same line.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use sls_client::Credentials;

use crate::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_REQUEST_LOG_CAPACITY, FakeLogHub,
    Quotas,
};

/// The server's options, as `sls-fake` and `sls fake` take them (the
/// project and logstores apart: `sls fake` has its own flags for those).
///
/// `Debug` shows the secret as redacted.
#[derive(Clone, Args)]
pub struct ServeArgs {
    /// Address to bind
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// Shards of each logstore
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub shards: u32,
    /// The AccessKey id requests must be signed with
    #[arg(long, default_value = DEFAULT_ACCESS_KEY_ID)]
    pub access_key_id: String,
    /// The AccessKey secret requests must be signed with
    #[arg(long, default_value = DEFAULT_ACCESS_KEY_SECRET)]
    pub access_key_secret: String,
    /// Require this STS token
    #[arg(long)]
    pub security_token: Option<String>,
    /// Register a consume processor in the project (repeatable)
    #[arg(long, value_name = "NAME=SPL")]
    pub consume_processor: Vec<String>,
    /// Requests the in-memory request log keeps (the most recent; counts stay exact)
    #[arg(long)]
    pub request_log: Option<usize>,
    /// Log every request to stderr
    #[arg(short, long)]
    pub verbose: bool,
    /// Enforce no throughput quota (for benchmarks); the quota flags then
    /// add only theirs
    #[arg(long)]
    pub no_quotas: bool,
    /// Bytes a shard sends a second, compressed (default 20 MiB; 0: unlimited)
    #[arg(long, value_name = "N")]
    pub shard_read_bytes: Option<u64>,
    /// Pulls a shard answers a second (default 100; 0: unlimited)
    #[arg(long, value_name = "N")]
    pub shard_reads: Option<u64>,
    /// Pulls a project answers a minute (default 600000; 0: unlimited)
    #[arg(long, value_name = "N")]
    pub project_reads_per_minute: Option<u64>,
    /// Raw bytes a shard takes a second (default 5 MiB; 0: unlimited)
    #[arg(long, value_name = "N")]
    pub shard_write_bytes: Option<u64>,
    /// PutLogs a shard takes a second (default 500; 0: unlimited)
    #[arg(long, value_name = "N")]
    pub shard_writes: Option<u64>,
    /// PutLogs a project takes a minute (default 600000; 0: unlimited)
    #[arg(long, value_name = "N")]
    pub project_writes_per_minute: Option<u64>,
}

impl fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeArgs")
            .field("listen", &self.listen)
            .field("shards", &self.shards)
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("consume_processor", &self.consume_processor)
            .field("request_log", &self.request_log)
            .field("verbose", &self.verbose)
            .field("quotas", &self.quotas())
            .finish()
    }
}

impl ServeArgs {
    /// The quotas the flags ask for: the documented ones (or none, with
    /// `--no-quotas`), each flag overriding one figure (0: unlimited).
    pub fn quotas(&self) -> Quotas {
        let mut quotas = if self.no_quotas {
            Quotas::off()
        } else {
            Quotas::documented()
        };
        let limit = |flag: Option<u64>| flag.map(|n| (n > 0).then_some(n));
        let count = |flag: Option<u64>| {
            limit(flag).map(|n| n.map(|n| u32::try_from(n).unwrap_or(u32::MAX)))
        };
        if let Some(n) = limit(self.shard_read_bytes) {
            quotas = quotas.shard_read_bytes(n);
        }
        if let Some(n) = count(self.shard_reads) {
            quotas = quotas.shard_reads(n);
        }
        if let Some(n) = count(self.project_reads_per_minute) {
            quotas = quotas.project_reads_per_minute(n);
        }
        if let Some(n) = limit(self.shard_write_bytes) {
            quotas = quotas.shard_write_bytes(n);
        }
        if let Some(n) = count(self.shard_writes) {
            quotas = quotas.shard_writes(n);
        }
        if let Some(n) = count(self.project_writes_per_minute) {
            quotas = quotas.project_writes_per_minute(n);
        }
        quotas
    }

    /// Whether requests are signed with the built-in test keys
    /// ([`DEFAULT_ACCESS_KEY_ID`], [`DEFAULT_ACCESS_KEY_SECRET`]), which
    /// are public and may be printed.
    pub fn default_keys(&self) -> bool {
        self.access_key_id == DEFAULT_ACCESS_KEY_ID
            && self.access_key_secret == DEFAULT_ACCESS_KEY_SECRET
            && self.security_token.is_none()
    }
}

/// Serves `project` with `logstores` as `args` say until SIGINT or
/// SIGTERM. Once ready it prints exactly one line to stdout, `listening
/// on http://ADDR`, then calls `ready`. A failure to start is one line on
/// stderr, `NAME: ...`, and exit code 1.
pub async fn serve(
    name: &str,
    project: &str,
    logstores: &[String],
    args: &ServeArgs,
    ready: impl FnOnce(&FakeLogHub),
) -> ExitCode {
    if args.verbose {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .init();
    }
    let mut credentials = Credentials::new(&args.access_key_id, &args.access_key_secret);
    if let Some(token) = &args.security_token {
        credentials = credentials.with_security_token(token.clone());
    }
    let listener = match tokio::net::TcpListener::bind(&args.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("{name}: cannot listen on {}: {err}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let mut builder = FakeLogHub::builder()
        .credentials(credentials)
        .request_log_capacity(args.request_log.unwrap_or(DEFAULT_REQUEST_LOG_CAPACITY))
        .quotas(args.quotas())
        .project(project);
    for logstore in logstores {
        builder = builder.logstore(project, logstore, args.shards);
    }
    for processor in &args.consume_processor {
        let Some((processor, spl)) = processor.split_once('=') else {
            eprintln!("{name}: --consume-processor takes NAME=SPL, got {processor:?}");
            return ExitCode::FAILURE;
        };
        builder = builder.consume_processor(project, processor.trim(), spl);
    }
    let hub = match builder.serve(listener) {
        Ok(hub) => hub,
        Err(err) => {
            eprintln!("{name}: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://{}", hub.address());
    let _ = std::io::stdout().flush();
    ready(&hub);

    wait_for_signal().await;
    hub.shutdown().await;
    ExitCode::SUCCESS
}

/// Resolves on SIGINT or SIGTERM (Ctrl-C elsewhere).
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut interrupt), Ok(mut terminate)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn parsed(args: &[&str]) -> Quotas {
        Cli::try_parse_from(std::iter::once("sls-fake").chain(args.iter().copied()))
            .expect("valid flags")
            .serve
            .quotas()
    }

    #[test]
    fn quotas_are_on_by_default_and_each_flag_sets_or_clears_one() {
        assert_eq!(parsed(&[]), Quotas::documented());
        assert_eq!(parsed(&["--no-quotas"]), Quotas::off());
        assert_eq!(
            parsed(&["--shard-read-bytes", "2097152", "--shard-reads", "0"]),
            Quotas::documented()
                .shard_read_bytes(Some(2 << 20))
                .shard_reads(None)
        );
        assert_eq!(
            parsed(&["--no-quotas", "--project-reads-per-minute", "600"]),
            Quotas::off().project_reads_per_minute(Some(600))
        );
        assert_eq!(
            parsed(&[
                "--shard-write-bytes",
                "0",
                "--shard-writes",
                "0",
                "--project-writes-per-minute",
                "0"
            ]),
            Quotas::documented()
                .shard_write_bytes(None)
                .shard_writes(None)
                .project_writes_per_minute(None)
        );
    }
}
