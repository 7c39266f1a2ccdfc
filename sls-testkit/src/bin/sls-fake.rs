//! `sls-fake`: the fake LogHub as a standalone server, for SDKs in any
//! language.
//!
//! ```text
//! cargo run -p sls-testkit --bin sls-fake -- --listen 127.0.0.1:7878 \
//!     --project demo --logstore app --shards 4 \
//!     --access-key-id AK --access-key-secret SK \
//!     --consume-processor "errors=* | where level = 'ERROR'"
//! ```
//!
//! The service's throughput quotas are enforced by default (20 MiB/s and
//! 100 pulls a second a shard, 600,000 pulls a minute a project; 5 MiB/s
//! raw and 500 writes a second a shard, 600,000 writes a minute a
//! project): `--no-quotas` turns them all off, and `--shard-read-bytes`,
//! `--shard-reads`, `--project-reads-per-minute`, `--shard-write-bytes`,
//! `--shard-writes`, `--project-writes-per-minute` set one each (0 turns
//! it off).
//!
//! `--consume-processor NAME=SPL` (repeatable) registers a consume
//! processor in the project, for pulls that name it (`processor=NAME`); its
//! SPL must be in the subset the fake evaluates, or the server does not
//! start.
//!
//! Once ready it prints exactly one line, `listening on http://ADDR`, to
//! stdout; with `-v` it logs every request to stderr. It exits cleanly on
//! SIGINT or SIGTERM.

// Not in Cargo.toml: a crate inheriting `[lints] workspace = true` cannot
// add its own there. The default threshold, 100 lines.
#![warn(clippy::too_many_lines)]

use std::io::Write;
use std::process::ExitCode;

use clap::{Arg, ArgAction, Command, value_parser};
use sls_client::Credentials;
use sls_testkit::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_REQUEST_LOG_CAPACITY, FakeLogHub,
    Quotas,
};

/// The quota flags: each overrides one figure of the documented quotas;
/// 0 turns it off.
const QUOTA_FLAGS: [(&str, &str); 6] = [
    (
        "shard-read-bytes",
        "Bytes a shard sends a second, compressed (default 20 MiB; 0: unlimited)",
    ),
    (
        "shard-reads",
        "Pulls a shard answers a second (default 100; 0: unlimited)",
    ),
    (
        "project-reads-per-minute",
        "Pulls a project answers a minute (default 600000; 0: unlimited)",
    ),
    (
        "shard-write-bytes",
        "Raw bytes a shard takes a second (default 5 MiB; 0: unlimited)",
    ),
    (
        "shard-writes",
        "PutLogs a shard takes a second (default 500; 0: unlimited)",
    ),
    (
        "project-writes-per-minute",
        "PutLogs a project takes a minute (default 600000; 0: unlimited)",
    ),
];

/// The quotas the flags ask for.
fn quotas(matches: &clap::ArgMatches) -> Quotas {
    let mut quotas = if matches.get_flag("no-quotas") {
        Quotas::off()
    } else {
        Quotas::documented()
    };
    let flag = |name: &str| matches.get_one::<u64>(name).map(|&n| (n > 0).then_some(n));
    let count = |n: Option<u64>| n.map(|n| u32::try_from(n).unwrap_or(u32::MAX));
    if let Some(n) = flag("shard-read-bytes") {
        quotas = quotas.shard_read_bytes(n);
    }
    if let Some(n) = flag("shard-reads") {
        quotas = quotas.shard_reads(count(n));
    }
    if let Some(n) = flag("project-reads-per-minute") {
        quotas = quotas.project_reads_per_minute(count(n));
    }
    if let Some(n) = flag("shard-write-bytes") {
        quotas = quotas.shard_write_bytes(n);
    }
    if let Some(n) = flag("shard-writes") {
        quotas = quotas.shard_writes(count(n));
    }
    if let Some(n) = flag("project-writes-per-minute") {
        quotas = quotas.project_writes_per_minute(count(n));
    }
    quotas
}

fn command() -> Command {
    Command::new("sls-fake")
        .about("A fake Alibaba Cloud Log Service (LogHub) server on loopback, for tests")
        .arg(
            Arg::new("listen")
                .long("listen")
                .default_value("127.0.0.1:0")
                .help("Address to bind"),
        )
        .arg(
            Arg::new("project")
                .long("project")
                .default_value("demo")
                .help("Project to create"),
        )
        .arg(
            Arg::new("logstore")
                .long("logstore")
                .action(ArgAction::Append)
                .help("Logstore to create in the project (repeatable; default app)"),
        )
        .arg(
            Arg::new("shards")
                .long("shards")
                .default_value("2")
                .value_parser(value_parser!(u32).range(1..=256))
                .help("Shards of each logstore"),
        )
        .arg(
            Arg::new("access-key-id")
                .long("access-key-id")
                .default_value(DEFAULT_ACCESS_KEY_ID),
        )
        .arg(
            Arg::new("access-key-secret")
                .long("access-key-secret")
                .default_value(DEFAULT_ACCESS_KEY_SECRET),
        )
        .arg(
            Arg::new("security-token")
                .long("security-token")
                .help("Require this STS token"),
        )
        .arg(
            Arg::new("consume-processor")
                .long("consume-processor")
                .action(ArgAction::Append)
                .value_name("NAME=SPL")
                .help("Register a consume processor in the project (repeatable)"),
        )
        .arg(
            Arg::new("request-log")
                .long("request-log")
                .value_parser(value_parser!(usize))
                .help(
                    "Requests the in-memory request log keeps (the most recent; counts stay exact)",
                ),
        )
        .arg(
            Arg::new("no-quotas")
                .long("no-quotas")
                .action(ArgAction::SetTrue)
                .help("Enforce no throughput quota (for benchmarks); the flags below then add only theirs"),
        )
        .args(QUOTA_FLAGS.iter().map(|(name, help)| {
            Arg::new(*name)
                .long(*name)
                .value_name("N")
                .value_parser(value_parser!(u64))
                .help(*help)
        }))
        .arg(
            Arg::new("verbose")
                .short('v')
                .long("verbose")
                .action(ArgAction::SetTrue)
                .help("Log every request to stderr"),
        )
}

#[tokio::main]
async fn main() -> ExitCode {
    let matches = command().get_matches();
    let text = |name: &str| matches.get_one::<String>(name).cloned().unwrap_or_default();
    if matches.get_flag("verbose") {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(tracing::Level::DEBUG)
            .init();
    }
    let project = text("project");
    let logstores: Vec<String> = matches
        .get_many::<String>("logstore")
        .map(|values| values.cloned().collect())
        .unwrap_or_else(|| vec!["app".to_owned()]);
    let shards = matches.get_one::<u32>("shards").copied().unwrap_or(2);
    let mut credentials = Credentials::new(text("access-key-id"), text("access-key-secret"));
    if let Some(token) = matches.get_one::<String>("security-token") {
        credentials = credentials.with_security_token(token.clone());
    }

    let listener = match tokio::net::TcpListener::bind(text("listen")).await {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("sls-fake: cannot listen on {}: {err}", text("listen"));
            return ExitCode::FAILURE;
        }
    };
    let request_log = matches
        .get_one::<usize>("request-log")
        .copied()
        .unwrap_or(DEFAULT_REQUEST_LOG_CAPACITY);
    let mut builder = FakeLogHub::builder()
        .credentials(credentials)
        .request_log_capacity(request_log)
        .quotas(quotas(&matches))
        .project(&project);
    for logstore in &logstores {
        builder = builder.logstore(&project, logstore, shards);
    }
    for processor in matches
        .get_many::<String>("consume-processor")
        .into_iter()
        .flatten()
    {
        let Some((name, spl)) = processor.split_once('=') else {
            eprintln!("sls-fake: --consume-processor takes NAME=SPL, got {processor:?}");
            return ExitCode::FAILURE;
        };
        builder = builder.consume_processor(&project, name.trim(), spl);
    }
    let hub = match builder.serve(listener) {
        Ok(hub) => hub,
        Err(err) => {
            eprintln!("sls-fake: {err}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening on http://{}", hub.address());
    let _ = std::io::stdout().flush();

    wait_for_signal().await;
    hub.shutdown().await;
    ExitCode::SUCCESS
}

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
    use super::*;

    fn parsed(args: &[&str]) -> Quotas {
        let matches = command()
            .try_get_matches_from(std::iter::once("sls-fake").chain(args.iter().copied()))
            .expect("valid flags");
        quotas(&matches)
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
