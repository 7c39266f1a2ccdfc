//! Commands that print as they go (`--watch`, `tail`, `fake`): writing to
//! stdout a piece at a time, and stopping on Ctrl-C.

use std::io::Write;

use crate::error::CliError;

/// Writes `bytes` to stdout and flushes. `Ok(false)` when the reader has
/// gone (`sls ... | head`): the command then stops quietly, as a closed
/// pipe is not an error.
pub(crate) fn print(bytes: &[u8]) -> Result<bool, CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(CliError::Refused(format!("cannot write the output: {err}"))),
    }
}

/// SIGINT (Ctrl-C), caught from the moment this is made: a Ctrl-C that
/// comes before the command waits for it still ends it cleanly, with
/// exit code 0.
#[derive(Debug)]
pub(crate) struct Interrupt {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

impl Interrupt {
    /// Starts catching SIGINT.
    pub(crate) fn catch() -> Result<Self, CliError> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::interrupt())
                .map_err(|err| CliError::Refused(format!("cannot catch Ctrl-C: {err}")))?;
            Ok(Self { signal })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {})
        }
    }

    /// Resolves on the next SIGINT.
    pub(crate) async fn wait(&mut self) {
        #[cfg(unix)]
        {
            let _ = self.signal.recv().await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
