//! What can go wrong, as one line each, and the exit code it gives.

use std::fmt;

use sls_client::Error;
use sls_consumer::ConsumerError;

/// A failed command.
#[derive(Debug)]
pub(crate) enum CliError {
    /// Bad usage or input: a missing flag or variable, a bad duration,
    /// time or CSV file, an unknown shard. Exit code 2.
    Usage(String),
    /// A call to the service failed: it answered with an error, or could
    /// not be reached. Exit code 1 (2 when the client refused the input
    /// or found no credentials).
    Call {
        /// The API called, such as `GetCheckPoint`.
        call: &'static str,
        /// What went wrong.
        error: Error,
    },
    /// Something the command refuses to do as things stand (a reset while
    /// a consumer is live), or a local file that could not be written.
    /// Exit code 1.
    Refused(String),
    /// `sls tail`'s consumer could not join the group or stopped on an
    /// error no retry fixes. Exit code 1.
    Consumer(ConsumerError),
}

impl CliError {
    /// The process exit code.
    pub(crate) fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::Call {
                error: Error::Credentials(_) | Error::InvalidArgument(_),
                ..
            } => 2,
            Self::Call { .. } | Self::Refused(_) | Self::Consumer(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(text) | Self::Refused(text) => f.write_str(text),
            Self::Call { call, error } => {
                write!(f, "{call} failed: ")?;
                describe(error, f)
            }
            Self::Consumer(error) => {
                f.write_str("the consumer stopped: ")?;
                match error {
                    ConsumerError::Service(error) => describe(error, f),
                    ConsumerError::ShardCall {
                        shard,
                        call,
                        source,
                    } => {
                        write!(f, "shard {shard}: {call} failed: ")?;
                        describe(source, f)
                    }
                    other => f.write_str(&one_line(&other.to_string())),
                }
            }
        }
    }
}

/// One line for a client error: the service's error code first when
/// there is one; for a transport error, each cause in turn.
fn describe(error: &Error, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match error {
        Error::Server(server) => {
            let code = if server.code().is_empty() {
                "no error code"
            } else {
                server.code()
            };
            write!(f, "{code} (HTTP {})", server.status())?;
            if !server.message().is_empty() {
                write!(f, ": {}", one_line(server.message()))?;
            }
            if let Some(id) = server.request_id() {
                write!(f, " (request id {id})")?;
            }
            Ok(())
        }
        Error::Transport { source, .. } => {
            f.write_str("network error")?;
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
            let mut last = String::new();
            while let Some(err) = cause {
                let text = one_line(&err.to_string());
                // hyper repeats its cause in its own text at times.
                if !text.is_empty() && !last.contains(&text) {
                    write!(f, ": {text}")?;
                }
                last = text;
                cause = err.source();
            }
            Ok(())
        }
        other => f.write_str(&one_line(&other.to_string())),
    }
}

/// `text` on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Names the call a client error came from.
pub(crate) trait CallContext<T> {
    /// Tags the error with `call`.
    fn call(self, call: &'static str) -> Result<T, CliError>;
}

impl<T> CallContext<T> for Result<T, Error> {
    fn call(self, call: &'static str) -> Result<T, CliError> {
        self.map_err(|error| CliError::Call { call, error })
    }
}
