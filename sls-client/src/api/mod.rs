//! The typed calls of the LogHub API (one page each in the SLS API
//! reference), as methods of [`Client`](crate::Client).
//!
//! # Layout
//! - `shards`: list, split and merge shards; cursors and cursor times.
//! - `logs`: PullLogs and PutLogs.
//! - `logstores`: create, get, list and delete logstores.
//! - `groups`: consumer groups, heartbeats and checkpoints.

pub(crate) mod buffers;
pub(crate) mod groups;
pub(crate) mod logs;
pub(crate) mod logstores;
pub(crate) mod shards;

/// The path of a logstore.
fn logstore_path(logstore: &str) -> String {
    format!("/logstores/{logstore}")
}
