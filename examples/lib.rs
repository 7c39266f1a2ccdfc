#![doc = include_str!("../README.md")]

pub mod operate;
pub mod sqlite_sink;

// The guide's chapters (`docs/`), compiled and run as doctests of this
// crate, as the README is through the crate docs above: a code block that
// no longer builds fails `cargo test`. The guide is not shipped with any
// published crate, so it is tested here, in the one that is not published.

/// `docs/getting-started.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/getting-started.md")]
pub struct GuideGettingStarted;

/// `docs/concepts.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/concepts.md")]
pub struct GuideConcepts;

/// `docs/processors.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/processors.md")]
pub struct GuideProcessors;

/// `docs/configuration.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/configuration.md")]
pub struct GuideConfiguration;

/// `docs/operating.md` (its logging example needs the `logging` feature
/// of sls-consumer, which this crate's `logging` feature turns on; the
/// README's test command, with `--all-features`, does).
#[cfg(all(doctest, feature = "logging"))]
#[doc = include_str!("../docs/operating.md")]
pub struct GuideOperating;

/// `docs/testing.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/testing.md")]
pub struct GuideTesting;

/// `docs/reliability.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/reliability.md")]
pub struct GuideReliability;

/// `docs/performance.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/performance.md")]
pub struct GuidePerformance;

/// `docs/client.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/client.md")]
pub struct GuideClient;

/// `docs/comparison.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/comparison.md")]
pub struct GuideComparison;

/// `docs/architecture.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/architecture.md")]
pub struct GuideArchitecture;

/// `docs/versioning.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/versioning.md")]
pub struct GuideVersioning;

/// `docs/protocol.md`.
#[cfg(doctest)]
#[doc = include_str!("../docs/protocol.md")]
pub struct GuideProtocol;

/// `docs/README.md`, the guide's table of contents.
#[cfg(doctest)]
#[doc = include_str!("../docs/README.md")]
pub struct GuideContents;

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
