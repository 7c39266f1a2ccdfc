//! Reproducible log data for tests, examples and benchmarks. The same seed
//! gives the same logs.
//!
//! - [`AccessLogs`]: realistic, clean web access logs (ASCII), for volume
//!   and throughput.
//! - [`MessyLogs`]: logs whose keys, values, tags, topic and source mix the
//!   encodings that production logs really hold (GBK, Latin-1, binary, UTF-8
//!   Chinese, ASCII), for every path that must carry bytes unchanged.
//!
//! # Layout
//! - `access`: [`AccessLogs`].
//! - `messy`: [`MessyLogs`] and [`TextKind`].

mod access;
mod messy;

pub use self::access::AccessLogs;
pub use self::messy::{MessyLogs, TextKind};
