//! The command line, as clap types: global connection and output flags,
//! then one subcommand.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// `sls`: shards, consumer groups, lag and checkpoint resets, tail and
/// put, on Alibaba Cloud Log Service (LogHub); and a local fake.
///
/// Credentials come from ALIBABA_CLOUD_ACCESS_KEY_ID,
/// ALIBABA_CLOUD_ACCESS_KEY_SECRET and, for STS keys,
/// ALIBABA_CLOUD_SECURITY_TOKEN. Exit codes: 0 success, 1 a service or
/// network error (or a refused reset), 2 bad usage or input.
#[derive(Debug, Parser)]
#[command(name = "sls", version, propagate_version = true)]
pub(crate) struct Cli {
    /// Connection and output flags, accepted before or after the command.
    #[command(flatten)]
    pub(crate) global: Global,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The flags every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Connection and output")]
pub(crate) struct Global {
    /// The service endpoint, such as `https://cn-hangzhou.log.aliyuncs.com`
    #[arg(long, env = "SLS_ENDPOINT", global = true, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// The project
    #[arg(long, env = "SLS_PROJECT", global = true)]
    pub(crate) project: Option<String>,
    /// The logstore
    #[arg(long, env = "SLS_LOGSTORE", global = true)]
    pub(crate) logstore: Option<String>,
    /// Request signature version; v4 needs --region
    #[arg(
        long,
        env = "SLS_SIGNATURE_VERSION",
        global = true,
        value_enum,
        default_value_t = SignatureVersionArg::V1
    )]
    pub(crate) signature_version: SignatureVersionArg,
    /// The endpoint's region, such as cn-hangzhou (for v4 signatures)
    #[arg(long, env = "SLS_REGION", global = true)]
    pub(crate) region: Option<String>,
    /// Output format: aligned columns, or one JSON document
    #[arg(long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub(crate) output: Output,
}

/// `--signature-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SignatureVersionArg {
    /// HMAC-SHA1 (the default)
    V1,
    /// SLS4-HMAC-SHA256, scoped to --region
    V4,
}

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Aligned columns for people
    Table,
    /// One JSON document for scripts (field names are stable)
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the logstore's shards: id, status, and the receive time at
    /// their begin and end cursors
    Shards,
    /// See and steer consumer groups
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Print a logstore's logs as they arrive, or from a time up to a
    /// time, as a member of a consumer group
    #[command(after_help = TAIL_HELP)]
    Tail(TailArgs),
    /// Write logs read from stdin, one JSON object a line, with PutLogs
    #[command(after_help = PUT_HELP)]
    Put(PutArgs),
    /// Run a fake LogHub (sls-testkit) on loopback until Ctrl-C, for a
    /// local demo or tests: prints `listening on http://ADDR`; the
    /// project and logstore are --project and --logstore (default demo
    /// and app)
    #[cfg(feature = "fake")]
    Fake(FakeArgs),
    /// Print a shell completion script: `sls completions bash >
    /// /etc/bash_completion.d/sls`, `sls completions zsh > ~/.zfunc/_sls`,
    /// `sls completions fish > ~/.config/fish/completions/sls.fish`
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: Shell,
    },
}

/// `sls completions SHELL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Shell {
    /// Bash
    Bash,
    /// Zsh
    Zsh,
    /// Fish
    Fish,
}

/// `sls groups ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum GroupsCommand {
    /// List the logstore's consumer groups: name, timeout, in-order flag
    List,
    /// Per shard: checkpoint and its time, shard end time, lag, owner,
    /// and when the checkpoint was last updated; then a summary
    Describe(DescribeArgs),
    /// Move a group's checkpoints: prints the plan and changes nothing
    /// unless --execute is given
    Reset(ResetArgs),
    /// Create a consumer group
    Create(CreateArgs),
    /// Change a consumer group's timeout or in-order flag
    Update(UpdateArgs),
    /// Delete a consumer group and its checkpoints (needs --yes)
    Delete(DeleteArgs),
}

/// `sls groups create`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// The consumer group
    pub(crate) group: String,
    /// Seconds without a heartbeat after which a consumer is dropped
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) timeout: u32,
    /// Children shards wait until their parents are consumed
    #[arg(long)]
    pub(crate) in_order: bool,
}

/// `sls groups update`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("change").required(true).multiple(true).args(["timeout", "in_order"])
))]
pub(crate) struct UpdateArgs {
    /// The consumer group
    pub(crate) group: String,
    /// The new timeout, in seconds
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) timeout: Option<u32>,
    /// The new in-order flag
    #[arg(long, value_name = "BOOL")]
    pub(crate) in_order: Option<bool>,
}

/// `sls groups delete`.
#[derive(Debug, Args)]
pub(crate) struct DeleteArgs {
    /// The consumer group
    pub(crate) group: String,
    /// Yes, delete it: its checkpoints go with it
    #[arg(long)]
    pub(crate) yes: bool,
}

/// `sls groups describe`.
#[derive(Debug, Args)]
pub(crate) struct DescribeArgs {
    /// The consumer group
    pub(crate) group: String,
    /// Redraw every SECS seconds (default 2) until Ctrl-C, like `top`. Not
    /// on a terminal, frames follow one another, each under a header line
    /// with the time; with `-o json`, one JSON document per line per frame
    #[arg(
        long,
        value_name = "SECS",
        num_args = 0..=1,
        default_missing_value = "2",
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub(crate) watch: Option<u64>,
    /// With --watch: stop after N frames (for scripts and tests; people
    /// stop a watch with Ctrl-C)
    #[arg(long, value_name = "N", requires = "watch", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) watch_count: Option<u64>,
}

/// `sls groups reset`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("target")
        .required(true)
        .multiple(false)
        .args(["to_earliest", "to_latest", "to_datetime", "by_duration", "from_file"])
))]
pub(crate) struct ResetArgs {
    /// The consumer group
    pub(crate) group: String,
    /// To the oldest data each shard retains
    #[arg(long)]
    pub(crate) to_earliest: bool,
    /// To the end of each shard (skip everything not yet consumed)
    #[arg(long)]
    pub(crate) to_latest: bool,
    /// To the first data received at or after TIME (RFC 3339, such as
    /// 2024-05-01T09:00:00+08:00, or Unix seconds)
    #[arg(long, value_name = "TIME")]
    pub(crate) to_datetime: Option<String>,
    /// To DUR before now, such as 1h30m, 15m, 2d or 90s
    #[arg(long, value_name = "DUR")]
    pub(crate) by_duration: Option<String>,
    /// To the cursors of a CSV file of `shard,cursor` rows (a third `time` column is optional), as
    /// --export writes
    #[arg(long, value_name = "CSV")]
    pub(crate) from_file: Option<PathBuf>,
    /// Only this shard (repeatable; default every shard)
    #[arg(long = "shard", value_name = "N")]
    pub(crate) shards: Vec<u32>,
    /// Write the checkpoints (not a dry run)
    #[arg(long)]
    pub(crate) execute: bool,
    /// With --execute: reset even while a consumer is live
    #[arg(long, requires = "execute")]
    pub(crate) force: bool,
    /// First write the current checkpoints to CSV (shard,cursor,time), so
    /// that --from-file CSV undoes the reset
    #[arg(long, value_name = "CSV")]
    pub(crate) export: Option<PathBuf>,
}

/// The output rules `sls tail --help` ends with.
const TAIL_HELP: &str = "\
Output, one line a log (docs/cli.md has the details):
  json: a JSON object: __time__ (Unix seconds), __time_ns__ (when set),
    __topic__ and __source__ (null when absent), __shard__, each tag as
    __tag__:KEY, then the log's fields in order. A value that is not valid
    UTF-8 is {\"base64\": \"...\"} of its bytes; a key that is not is
    named __base64__:BASE64; a field whose key is one of the names above or
    starts with __tag__:, __base64__: or __field__: is named __field__:KEY.
    `sls put` reads these lines back to the same bytes.
  text: TIME shard:N, then __topic__=, __source__=, __tag__:KEY= when
    set, then key=value. In keys and values a byte that is not part of
    valid UTF-8 or a control character is \\xNN (\\n, \\r, \\t), a
    backslash \\\\ and a quote \\\"; a key or value that is empty or has a
    space or = is in double quotes.

Without --group the tail reads as group tail-PID, deleted when it ends.
--from applies only to shards the group has no checkpoint for.";

/// The input rules `sls put --help` ends with.
const PUT_HELP: &str = "\
Input: one flat JSON object a line (blank lines are skipped). Values are
strings, numbers or booleans (written as their JSON text), or
{\"base64\": \"...\"} for bytes that are not UTF-8; null, arrays and other
objects are refused with the line number (exit 2). __time__ (Unix seconds,
a number or a string; default now), __time_ns__, __topic__, __source__
and __tag__:KEY set the log's time and its group's topic, source and tags;
__shard__ is ignored; names are read as `sls tail -o json` writes them.
Logs with the same topic, source and tags are sent together, up to 4096
logs and 5 MiB a request.";

/// `--format` of `sls tail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum TailFormat {
    /// `key=value` lines for people
    Text,
    /// JSON lines, byte for byte (what `sls put` reads)
    Json,
}

/// `sls tail`.
#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// Where to start: begin, end, now, or TIME (RFC 3339 or Unix seconds)
    #[arg(long, value_name = "WHERE", default_value = "end")]
    pub(crate) from: String,
    /// Stop once every shard reached TIME (RFC 3339, Unix seconds, or now);
    /// without it, run until Ctrl-C
    #[arg(long, value_name = "TIME")]
    pub(crate) to: Option<String>,
    /// An SPL statement the service runs on the logs
    #[arg(long, value_name = "SPL", conflicts_with = "processor")]
    pub(crate) query: Option<String>,
    /// A consume processor (SPL stored on the service) to read through
    #[arg(long, value_name = "NAME")]
    pub(crate) processor: Option<String>,
    /// Read as a member of this consumer group, committing checkpoints
    #[arg(long, value_name = "NAME")]
    pub(crate) group: Option<String>,
    /// Output: text, or JSON lines (default: json with -o json, else text)
    #[arg(long, value_enum)]
    pub(crate) format: Option<TailFormat>,
}

/// `sls put`.
#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// Send every log to the shard whose range holds KEY (32 hex digits)
    /// instead of spreading them
    #[arg(long, value_name = "KEY")]
    pub(crate) hash_key: Option<String>,
}

/// `sls fake`.
#[cfg(feature = "fake")]
#[derive(Debug, Args)]
pub(crate) struct FakeArgs {
    /// The server's options
    #[command(flatten)]
    pub(crate) serve: sls_testkit::standalone::ServeArgs,
}
