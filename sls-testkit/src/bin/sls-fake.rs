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

use std::process::ExitCode;

use clap::Parser;
use sls_testkit::standalone::{ServeArgs, serve};

/// A fake Alibaba Cloud Log Service (LogHub) server on loopback, for tests
#[derive(Debug, Parser)]
#[command(name = "sls-fake")]
struct Cli {
    /// Project to create
    #[arg(long, default_value = "demo")]
    project: String,
    /// Logstore to create in the project (repeatable; default app)
    #[arg(long)]
    logstore: Vec<String>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let logstores = if cli.logstore.is_empty() {
        vec!["app".to_owned()]
    } else {
        cli.logstore
    };
    serve("sls-fake", &cli.project, &logstores, &cli.serve, |_| {}).await
}
