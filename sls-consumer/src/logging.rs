//! Local debug logging for a consumer process (feature `logging`), as the
//! official libraries offer: the worker's `tracing` events to the console
//! or to a file rotated by size, keeping a number of files, optionally
//! compressing the old ones; text or JSON; a level. Rotation is the
//! `file-rotate` crate's.
//!
//! ```no_run
//! use sls_consumer::logging::LoggingConfig;
//!
//! LoggingConfig::file("/var/log/my-consumer/consumer.log")
//!     .max_bytes(50 << 20)
//!     .max_files(10)
//!     .compress(true)
//!     .json(true)
//!     .level(tracing::Level::INFO)
//!     .init()?;
//! # Ok::<(), sls_consumer::logging::LoggingError>(())
//! ```

use std::path::PathBuf;
use std::sync::Mutex;

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use tracing::Level;
use tracing_subscriber::filter::LevelFilter;

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoggingError {
    /// A setting is out of range.
    #[error("invalid logging config: {0}")]
    Invalid(&'static str),
    /// The log directory could not be created.
    #[error("cannot create the log directory: {0}")]
    Directory(#[from] std::io::Error),
    /// A global subscriber was already installed.
    #[error("a tracing subscriber is already installed")]
    AlreadyInstalled,
}

#[derive(Debug, Clone)]
enum Target {
    Console,
    File {
        path: PathBuf,
        max_bytes: usize,
        max_files: usize,
        compress: bool,
    },
}

/// How to log. Defaults: level `INFO`, text.
#[derive(Debug, Clone)]
#[must_use]
pub struct LoggingConfig {
    target: Target,
    level: Level,
    json: bool,
}

/// The default size at which a log file is rotated.
pub const DEFAULT_MAX_BYTES: usize = 10 << 20;
/// The default number of rotated files kept.
pub const DEFAULT_MAX_FILES: usize = 5;

impl LoggingConfig {
    /// Logs to standard error.
    pub fn console() -> Self {
        Self {
            target: Target::Console,
            level: Level::INFO,
            json: false,
        }
    }

    /// Logs to `path`, rotated at 10 MiB, keeping 5 old files, uncompressed.
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self {
            target: Target::File {
                path: path.into(),
                max_bytes: DEFAULT_MAX_BYTES,
                max_files: DEFAULT_MAX_FILES,
                compress: false,
            },
            level: Level::INFO,
            json: false,
        }
    }

    /// Rotates the file once a write takes it past `bytes` (a line is never
    /// split across files; file logging only).
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        if let Target::File { max_bytes, .. } = &mut self.target {
            *max_bytes = bytes;
        }
        self
    }

    /// Keeps this many rotated files (file logging only).
    pub fn max_files(mut self, files: usize) -> Self {
        if let Target::File { max_files, .. } = &mut self.target {
            *max_files = files;
        }
        self
    }

    /// Gzips rotated files (file logging only).
    pub fn compress(mut self, compress: bool) -> Self {
        if let Target::File { compress: c, .. } = &mut self.target {
            *c = compress;
        }
        self
    }

    /// The most verbose level logged.
    pub fn level(mut self, level: Level) -> Self {
        self.level = level;
        self
    }

    /// One JSON object per line instead of text.
    pub fn json(mut self, json: bool) -> Self {
        self.json = json;
        self
    }

    /// Builds the subscriber without installing it (to scope it with
    /// `tracing::subscriber::with_default`, in tests for example).
    pub fn subscriber(self) -> Result<Box<dyn tracing::Subscriber + Send + Sync>, LoggingError> {
        let filter = LevelFilter::from_level(self.level);
        let builder = tracing_subscriber::fmt().with_max_level(filter);
        Ok(match self.target {
            Target::Console => {
                let builder = builder.with_writer(std::io::stderr);
                if self.json {
                    Box::new(builder.json().finish())
                } else {
                    Box::new(builder.finish())
                }
            }
            Target::File {
                path,
                max_bytes,
                max_files,
                compress,
            } => {
                if max_bytes == 0 {
                    return Err(LoggingError::Invalid("max_bytes must be positive"));
                }
                if max_files == 0 {
                    return Err(LoggingError::Invalid("max_files must be positive"));
                }
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let compression = if compress {
                    // Keep the newest rotated file plain, gzip the rest.
                    Compression::OnRotate(1)
                } else {
                    Compression::None
                };
                let file = Mutex::new(FileRotate::new(
                    path,
                    AppendCount::new(max_files),
                    ContentLimit::BytesSurpassed(max_bytes),
                    compression,
                    None,
                ));
                let builder = builder.with_writer(file).with_ansi(false);
                if self.json {
                    Box::new(builder.json().finish())
                } else {
                    Box::new(builder.finish())
                }
            }
        })
    }

    /// Installs the subscriber for the whole process.
    pub fn init(self) -> Result<(), LoggingError> {
        let subscriber = self.subscriber()?;
        tracing::subscriber::set_global_default(subscriber)
            .map_err(|_| LoggingError::AlreadyInstalled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_rotate_by_size_and_keep_a_number() {
        let dir = std::env::temp_dir().join(format!("sls-consumer-logging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("consumer.log");
        let subscriber = LoggingConfig::file(&path)
            .max_bytes(2_000)
            .max_files(3)
            .compress(true)
            .json(true)
            .level(Level::DEBUG)
            .subscriber()
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            for i in 0..400 {
                tracing::info!(batch = i, "processed a batch of logs for the rotation test");
            }
            tracing::trace!("below the level: not written");
        });
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert!(names.contains(&"consumer.log".to_owned()), "{names:?}");
        assert!(names.len() <= 4, "at most 3 rotated files kept: {names:?}");
        assert!(
            names.iter().any(|n| n.ends_with(".gz")),
            "old files compressed: {names:?}"
        );
        let current = std::fs::read_to_string(&path).unwrap();
        let first = current.lines().next().unwrap();
        assert!(
            first.starts_with('{') && first.contains("\"batch\""),
            "{first}"
        );
        assert!(!current.contains("below the level"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_settings_are_refused() {
        let err = LoggingConfig::file("x.log")
            .max_bytes(0)
            .subscriber()
            .err()
            .unwrap();
        assert!(matches!(err, LoggingError::Invalid(_)));
        let err = LoggingConfig::file("x.log")
            .max_files(0)
            .subscriber()
            .err()
            .unwrap();
        assert!(matches!(err, LoggingError::Invalid(_)));
    }
}
