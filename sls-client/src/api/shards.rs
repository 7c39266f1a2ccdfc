//! Shards and cursors.

use http::Method;
use serde::Deserialize;
use sls_proto::Cursor;

use super::logstore_path;
use crate::client::parse_json;
use crate::request::SlsRequest;
use crate::{Client, Error};

/// Whether a shard takes writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ShardStatus {
    /// Open for reads and writes.
    Readwrite,
    /// Split or merged: readable up to its fixed end, no more writes.
    Readonly,
}

/// One shard of a logstore.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Shard {
    /// The shard id.
    #[serde(rename = "shardID")]
    pub shard_id: u32,
    /// Read-write or read-only.
    pub status: ShardStatus,
    /// The first MD5 key of its range (32 hex digits).
    #[serde(rename = "inclusiveBeginKey")]
    pub inclusive_begin_key: String,
    /// The end of its range, exclusive.
    #[serde(rename = "exclusiveEndKey")]
    pub exclusive_end_key: String,
    /// When it was created, in Unix seconds.
    #[serde(rename = "createTime", default)]
    pub create_time: i64,
}

/// Where to get a cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CursorPosition {
    /// The oldest retained log group.
    Begin,
    /// After the newest log group.
    End,
    /// The first group received at or after this Unix time (seconds).
    At(i64),
}

impl Client {
    /// Lists a logstore's shards.
    pub async fn list_shards(&self, project: &str, logstore: &str) -> Result<Vec<Shard>, Error> {
        let request = SlsRequest::new(
            Method::GET,
            Some(project),
            format!("{}/shards", logstore_path(logstore)),
        );
        parse_json(&self.send(request).await?, "ListShards")
    }

    /// Splits `shard` at the MD5 `key` (32 hex digits); returns the new
    /// shards.
    pub async fn split_shard(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
        key: &str,
    ) -> Result<Vec<Shard>, Error> {
        if key.len() != 32 || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::InvalidArgument(format!(
                "split key must be 32 hex digits, got {key:?}"
            )));
        }
        let request = SlsRequest::new(
            Method::POST,
            Some(project),
            format!("{}/shards/{shard}", logstore_path(logstore)),
        )
        .query("action", "split")
        .query("key", key);
        parse_json(&self.send(request).await?, "SplitShard")
    }

    /// Merges `shard` with its right neighbour; returns the new shards.
    pub async fn merge_shard(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
    ) -> Result<Vec<Shard>, Error> {
        let request = SlsRequest::new(
            Method::POST,
            Some(project),
            format!("{}/shards/{shard}", logstore_path(logstore)),
        )
        .query("action", "merge");
        parse_json(&self.send(request).await?, "MergeShard")
    }

    /// A cursor of `shard` at `position`.
    pub async fn get_cursor(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
        position: CursorPosition,
    ) -> Result<Cursor, Error> {
        #[derive(Deserialize)]
        struct Body {
            cursor: String,
        }
        let from = match position {
            CursorPosition::Begin => "begin".to_owned(),
            CursorPosition::End => "end".to_owned(),
            CursorPosition::At(seconds) => seconds.to_string(),
        };
        let request = SlsRequest::new(
            Method::GET,
            Some(project),
            format!("{}/shards/{shard}", logstore_path(logstore)),
        )
        .query("type", "cursor")
        .query("from", from);
        let body: Body = parse_json(&self.send(request).await?, "GetCursor")?;
        Cursor::parse(&body.cursor)
            .map_err(|err| Error::Response(format!("GetCursor returned a bad cursor: {err}")))
    }

    /// The server receive time (Unix seconds) of the group at `cursor`.
    pub async fn get_cursor_time(
        &self,
        project: &str,
        logstore: &str,
        shard: u32,
        cursor: Cursor,
    ) -> Result<i64, Error> {
        #[derive(Deserialize)]
        struct Body {
            cursor_time: serde_json::Value,
        }
        let request = SlsRequest::new(
            Method::GET,
            Some(project),
            format!("{}/shards/{shard}", logstore_path(logstore)),
        )
        .query("type", "cursor_time")
        .query("cursor", cursor.to_string());
        let body: Body = parse_json(&self.send(request).await?, "GetCursorTime")?;
        // Servers send it as a number or as a decimal string.
        match &body.cursor_time {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or_else(|| {
            Error::Response(format!(
                "GetCursorTime: bad cursor_time {}",
                body.cursor_time
            ))
        })
    }
}
