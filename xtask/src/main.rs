//! Repository chores, run as `cargo xtask <command>`.
//!
//! # Layout
//! - `codegen`: regenerates the committed prost types of `sls-proto` from
//!   `sls-proto/proto/log.proto`, or with `--check` fails when they are stale.
//! - `ci`: `cargo xtask ci` runs CI's steps, which are listed there and
//!   nowhere else (`.ci/run` installs what a fresh machine lacks, then runs
//!   it; `cargo xtask deny-version` and `cargo xtask lychee-version` print
//!   the cargo-deny and lychee releases it installs); `cargo xtask links`
//!   runs CI's link check alone; `cargo xtask bench`
//!   runs every benchmark and prints one summary table;
//!   `cargo xtask chaos [--sink[=memory]] --seeds N` runs the consumer's
//!   chaos test over N seeds (with `--sink`, every batch
//!   also goes through the exactly-once pattern into SQLite;
//!   `--sink=memory`, into a sink in memory).

mod ci;
mod codegen;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask codegen [--check] | ci | links | deny-version | lychee-version | bench | chaos [--sink[=memory]] [--seeds N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["codegen"] => codegen::run(codegen::Mode::Write),
        ["codegen", "--check"] => codegen::run(codegen::Mode::Check),
        ["ci"] => ci::ci(),
        ["deny-version"] => {
            println!("{}", ci::CARGO_DENY_VERSION);
            Ok(())
        }
        ["links"] => ci::links(),
        ["lychee-version"] => {
            println!("{}", ci::LYCHEE_VERSION);
            Ok(())
        }
        ["bench"] => ci::bench(),
        ["chaos"] => ci::chaos("100", "0"),
        ["chaos", "--seeds", n] if n.parse::<u64>().is_ok() => ci::chaos(n, "0"),
        ["chaos", sink @ ("--sink" | "--sink=memory")] => ci::chaos("100", sink_kind(sink)),
        ["chaos", sink @ ("--sink" | "--sink=memory"), "--seeds", n]
            if n.parse::<u64>().is_ok() =>
        {
            ci::chaos(n, sink_kind(sink))
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// `SLS_CHAOS_SINK` for a `--sink` flag.
fn sink_kind(flag: &str) -> &'static str {
    if flag == "--sink=memory" {
        "memory"
    } else {
        "sqlite"
    }
}
