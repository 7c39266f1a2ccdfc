#![doc = include_str!("../README.md")]

pub mod operate;
pub mod sqlite_sink;

/// Prints the libraries' warnings and errors (a shard that stalls, a pull
/// retried, a cursor reset, a worker stopping) to stderr, so that what
/// goes wrong in an example shows on the console. Set `RUST_LOG`-style
/// levels in your own program with `tracing-subscriber`, or use
/// `sls_consumer::logging` (feature `logging`).
pub fn print_warnings() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// The exit code of an example whose run says whether its check held:
/// success only for `Ok(true)`; an error is printed as `{name} failed: …`.
pub fn exit_code(
    name: &str,
    outcome: Result<bool, Box<dyn std::error::Error>>,
) -> std::process::ExitCode {
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(err) => {
            eprintln!("{name} failed: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
