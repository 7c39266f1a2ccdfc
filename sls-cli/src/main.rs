//! `sls`: the command line for Alibaba Cloud Log Service (LogHub):
//! shards, consumer groups, lag, and checkpoint resets with a dry run by
//! default; logs printed (`tail`) and written (`put`) byte for byte; a
//! local fake (`fake`). See the crate README and `docs/cli.md`.
//!
//! Every failure is one line on stderr, `sls: ...`, naming the call and
//! the service's error code; exit code 1 for a service or network error,
//! 2 for bad usage or input.

mod admin;
mod cli;
mod conn;
mod error;
#[cfg(feature = "fake")]
mod fake;
mod groups;
mod logline;
mod output;
mod put;
mod reset;
mod shards;
mod table;
mod tail;
mod timefmt;
mod watch;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use clap_complete::{generate, shells};

use crate::cli::{Cli, Command, GroupsCommand, Output, Shell};
use crate::conn::Target;
use crate::error::CliError;

fn main() -> ExitCode {
    // A bug must still be one line, without a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("sls: internal error{location}; please report it");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print to stdout and exit 0; usage errors
        // exit 2.
        Err(err) => err.exit(),
    };
    #[cfg(feature = "fake")]
    if let Command::Fake(args) = &cli.command {
        return fake::run(&cli.global, args);
    }
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(run(&cli)) {
        Ok(text) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`sls ... | head`) is not an error.
            match stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
            {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("sls: cannot write the output: {err}");
                    ExitCode::from(1)
                }
            }
        }
        Err(err) => {
            eprintln!("sls: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// Runs the command; the text to print.
async fn run(cli: &Cli) -> Result<String, CliError> {
    let json = cli.global.output == Output::Json;
    if let Command::Completions { shell } = &cli.command {
        return Ok(completions(*shell));
    }
    let target = Target::from_flags(&cli.global)?;
    match &cli.command {
        Command::Shards => shards::run(&target, json).await,
        Command::Groups(GroupsCommand::List) => groups::list(&target, json).await,
        Command::Groups(GroupsCommand::Describe(args)) => match args.watch {
            Some(every) => watch::run(&target, &args.group, json, every, args.watch_count).await,
            None => groups::describe(&target, &args.group, json).await,
        },
        Command::Groups(GroupsCommand::Reset(args)) => reset::run(&target, args, json).await,
        Command::Groups(GroupsCommand::Create(args)) => admin::create(&target, args, json).await,
        Command::Groups(GroupsCommand::Update(args)) => admin::update(&target, args, json).await,
        Command::Groups(GroupsCommand::Delete(args)) => admin::delete(&target, args, json).await,
        Command::Tail(args) => tail::run(&target, args, json).await,
        Command::Put(args) => put::run(&target, args, json).await,
        Command::Completions { .. } => unreachable!("handled above"),
        #[cfg(feature = "fake")]
        Command::Fake(_) => unreachable!("handled in main"),
    }
}

/// The completion script for `shell`.
/// The one-thread runtime a command runs on; exit code 1, with a line
/// on stderr, if the system refuses one.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("sls: cannot start: {err}");
            ExitCode::from(1)
        })
}

fn completions(shell: Shell) -> String {
    let mut script = Vec::new();
    let mut command = Cli::command();
    match shell {
        Shell::Bash => generate(shells::Bash, &mut command, "sls", &mut script),
        Shell::Zsh => generate(shells::Zsh, &mut command, "sls", &mut script),
        Shell::Fish => generate(shells::Fish, &mut command, "sls", &mut script),
    }
    String::from_utf8_lossy(&script).into_owned()
}
